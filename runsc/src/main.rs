#![forbid(unsafe_code)]
//! `runsc`: the OCI runtime command line. Thin: argv is normalised (Go-style flags), parsed
//! by clap, and each subcommand maps onto `boot`.

mod argv;
mod cli;
mod logging;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// The version lines Docker and Podman parse: "runsc version X" then "spec: 1.0.2".
fn version_text() -> String {
    format!("runsc version {}\nspec: 1.0.2\n", env!("CARGO_PKG_VERSION"))
}

fn main() -> ExitCode {
    let command = cli::Cli::command();
    let args = argv::normalise(&command, std::env::args_os().collect());
    let matches = match command.try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => e.exit(),
    };
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if cli.version {
        print!("{}", version_text());
        return ExitCode::SUCCESS;
    }
    let g = cli.global;
    let quiet = matches!(cli.command, Some(cli::Command::Boot(_)));
    let sink = logging::init(g.log.as_deref(), g.log_format, g.debug, quiet);
    let Some(command) = cli.command else {
        let _ = cli::Cli::command().print_help();
        return ExitCode::from(2);
    };
    let ctx = cli::Context {
        log_fd: sink.raw_fd(),
        global: g,
    };
    match command.run(&ctx) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            sink.error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}
