//! The command line: global flags and one file per subcommand. Each subcommand maps its
//! arguments onto `boot` and returns the process exit status.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

mod boot_;
mod create;
mod delete;
mod do_;
mod features;
mod kill;
mod list;
mod run;
mod spec;
mod start;
mod state;
mod wait;

/// Flags accepted before (or after) any subcommand, as runc defines them.
#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Directory holding the state of containers.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/var/run/runsc"
    )]
    pub root: PathBuf,
    /// Append log records (and the final error) to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of the log file.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug records too.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Treat linux.cgroupsPath as systemd's "slice:prefix:name".
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Path of CRIU (accepted for compatibility; the sentry checkpoints without CRIU).
    #[arg(long, global = true, value_name = "PATH")]
    pub criu: Option<PathBuf>,
    /// Rootless mode: true, false or auto (accepted; runsc runs as root).
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub rootless: Option<String>,
}

#[derive(Parser, Debug)]
#[command(
    name = "runsc",
    disable_version_flag = true,
    args_override_self = true,
    about = "An OCI runtime whose containers run on a userspace kernel, the sentry"
)]
pub struct Cli {
    /// Print the version and exit.
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    #[command(hide = true)]
    Boot(boot_::Boot),
    Create(create::Create),
    Delete(delete::Delete),
    Do(do_::Do),
    Features(features::Features),
    Kill(kill::Kill),
    List(list::List),
    Run(run::Run),
    Spec(spec::Spec),
    Start(start::Start),
    State(state::State),
    Wait(wait::Wait),
}

/// What every subcommand gets besides its own arguments.
pub struct Context {
    pub global: Global,
    /// The log file's raw fd, for reports that cannot allocate (refused syscalls).
    pub log_fd: Option<i32>,
}

impl Context {
    /// The container state directory (`--root`).
    pub fn store(&self) -> boot::state::Store {
        boot::state::Store::new(&self.global.root)
    }

    /// The container runtime, with the global flags `runsc boot` must be given.
    pub fn runtime(&self) -> boot::container::Runtime {
        let g = &self.global;
        let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut boot_args: Vec<std::ffi::OsString> = vec!["--root".into(), abs(&g.root).into()];
        if let Some(log) = &g.log {
            boot_args.extend(["--log".into(), abs(log).into()]);
        }
        let format = match g.log_format {
            LogFormat::Json => "json",
            LogFormat::Text => "text",
        };
        boot_args.extend(["--log-format".into(), format.into()]);
        if g.debug {
            boot_args.push("--debug".into());
        }
        boot::container::Runtime {
            store: self.store(),
            boot_args,
            systemd_cgroup: g.systemd_cgroup,
        }
    }
}

impl Command {
    /// Runs the subcommand; returns the exit status of runsc.
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        match self {
            Command::Boot(c) => c.run(ctx),
            Command::Create(c) => c.run(ctx),
            Command::Delete(c) => c.run(ctx),
            Command::Do(c) => c.run(ctx),
            Command::Features(c) => c.run(ctx),
            Command::Kill(c) => c.run(ctx),
            Command::List(c) => c.run(ctx),
            Command::Run(c) => c.run(ctx),
            Command::Spec(c) => c.run(ctx),
            Command::Start(c) => c.run(ctx),
            Command::State(c) => c.run(ctx),
            Command::Wait(c) => c.run(ctx),
        }
    }
}
