#![forbid(unsafe_code)]
//! `runsc`: the OCI runtime command line.

use clap::Parser;

/// The version lines Docker and Podman parse: "runsc version X" then "spec: 1.0.2".
fn version_text() -> String {
    format!("runsc version {}\nspec: 1.0.2\n", env!("CARGO_PKG_VERSION"))
}

#[derive(Parser)]
#[command(
    name = "runsc",
    disable_version_flag = true,
    about = "An OCI runtime whose containers run on a userspace kernel, the sentry"
)]
struct Cli {
    /// Print the version and exit.
    #[arg(long)]
    version: bool,
}

fn main() {
    let cli = Cli::parse();
    if cli.version {
        print!("{}", version_text());
    }
}
