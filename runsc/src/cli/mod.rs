//! The command line: global flags and one file per subcommand. Each subcommand maps its
//! arguments onto `boot` and returns the process exit status.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

mod boot_;
mod checkpoint;
mod create;
mod delete;
mod do_;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod restore;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;
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
    Checkpoint(checkpoint::Checkpoint),
    Create(create::Create),
    Delete(delete::Delete),
    Do(do_::Do),
    Events(events::Events),
    Exec(exec::Exec),
    Features(features::Features),
    Kill(kill::Kill),
    List(list::List),
    Pause(pause::Pause),
    Ps(ps::Ps),
    Restore(restore::Restore),
    Resume(resume::Resume),
    Run(run::Run),
    Spec(spec::Spec),
    Start(start::Start),
    State(state::State),
    Update(update::Update),
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

    /// The global flags a runsc started by this one is given (`--root`, `--log`,
    /// `--log-format`, `--debug`), with absolute paths.
    pub fn boot_args(&self) -> Vec<std::ffi::OsString> {
        let g = &self.global;
        let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut args: Vec<std::ffi::OsString> = vec!["--root".into(), abs(&g.root).into()];
        if let Some(log) = &g.log {
            args.extend(["--log".into(), abs(log).into()]);
        }
        let format = match g.log_format {
            LogFormat::Json => "json",
            LogFormat::Text => "text",
        };
        args.extend(["--log-format".into(), format.into()]);
        if g.debug {
            args.push("--debug".into());
        }
        args
    }

    /// The container runtime.
    pub fn runtime(&self) -> boot::container::Runtime {
        boot::container::Runtime {
            store: self.store(),
            boot_args: self.boot_args(),
            systemd_cgroup: self.global.systemd_cgroup,
        }
    }
}

impl Command {
    /// Runs the subcommand; returns the exit status of runsc.
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        match self {
            Command::Boot(c) => c.run(ctx),
            Command::Checkpoint(c) => c.run(ctx),
            Command::Create(c) => c.run(ctx),
            Command::Delete(c) => c.run(ctx),
            Command::Do(c) => c.run(ctx),
            Command::Events(c) => c.run(ctx),
            Command::Exec(c) => c.run(ctx),
            Command::Features(c) => c.run(ctx),
            Command::Kill(c) => c.run(ctx),
            Command::List(c) => c.run(ctx),
            Command::Pause(c) => c.run(ctx),
            Command::Ps(c) => c.run(ctx),
            Command::Restore(c) => c.run(ctx),
            Command::Resume(c) => c.run(ctx),
            Command::Run(c) => c.run(ctx),
            Command::Spec(c) => c.run(ctx),
            Command::Start(c) => c.run(ctx),
            Command::State(c) => c.run(ctx),
            Command::Update(c) => c.run(ctx),
            Command::Wait(c) => c.run(ctx),
        }
    }
}
