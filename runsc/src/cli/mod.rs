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
mod statefile;
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
    Statefile(statefile::Statefile),
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
            Command::Statefile(c) => c.run(ctx),
            Command::Update(c) => c.run(ctx),
            Command::Wait(c) => c.run(ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::{Cli, Command};

    /// Normalises and parses a command line as runsc would.
    fn parse(line: &str) -> Result<Cli, String> {
        let mut args: Vec<std::ffi::OsString> = vec!["runsc".into()];
        args.extend(line.split_whitespace().map(Into::into));
        let args = crate::argv::normalise(&Cli::command(), args);
        let m = Cli::command()
            .try_get_matches_from(args)
            .map_err(|e| e.to_string())?;
        Cli::from_arg_matches(&m).map_err(|e| e.to_string())
    }

    /// Command lines as go-runc (containerd, Docker), conmon (Podman) and the shim build
    /// them (OCI-CLI.md).
    const SENT: &[&str] = &[
        "--root /run/containerd/runc/k8s.io --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid --console-socket /tmp/pty.sock --no-pivot --no-new-keyring --preserve-fds 2 abc",
        "--root /var/run/docker/runtime-runc/moby --log /b/log.json --log-format json --systemd-cgroup start abc",
        "--root R --log L --log-format json kill --all abc 9",
        "--root R kill abc SIGTERM",
        "--root R kill abc TERM",
        "--root R delete --force abc",
        "--root R delete abc",
        "--root R exec --process /tmp/runc-process123 --console-socket /s --detach --pid-file /p.pid --tty abc",
        "--root R exec --process /tmp/runc-process123 --detach --pid-file /p.pid abc",
        "--root R ps --format json abc",
        "--root R ps --format=json abc",
        "--root R update --resources - abc",
        "--root R events --stats abc",
        "--root R events --interval=5s abc",
        "--root R state abc",
        "state abc",
        "--root R list --format=json",
        "--root R list",
        "--root R pause abc",
        "--root R resume abc",
        "--root R checkpoint --image-path /i --work-path /w --leave-running --leave-running --tcp-established --ext-unix-sk --shell-job --file-locks --manage-cgroups-mode soft --empty-ns network --lazy-pages --status-fd 3 --page-server 127.0.0.1:5 --parent-path ../p abc",
        "--root R checkpoint --pre-dump --image-path /i abc",
        "--root R restore --image-path /tmp/x --work-path /w --detach --pid-file /p --console-socket /s -no-subreaper --bundle /b abc",
        "--root R restore --bundle /b --pid-file /p --detach --image-path /b/checkpoint --work-path /b --tcp-established --lsm-profile x --lsm-mount-context y abc",
        "--rootless=true --root R state abc",
        "--rootless false list",
        "--criu /usr/sbin/criu --root R create --bundle /b abc",
        "--debug --root R run --detach --bundle /b abc",
        "run --bundle /b abc",
        "wait abc",
        "features",
        "spec --bundle /b",
        "do -- ls -l /",
        "do --root-dir /srv ls -l",
        "exec abc sh -c true",
        "exec --env A=1 -e B=2 --cwd /tmp --user 1000:1000 abc env",
    ];

    #[test]
    fn every_command_line_the_clients_send_parses() {
        for line in SENT {
            if let Err(e) = parse(line) {
                panic!("{line}\n{e}");
            }
        }
    }

    #[test]
    fn parsed_values() {
        let cli = parse("--root R kill --all abc 9").unwrap();
        match cli.command {
            Some(Command::Kill(k)) => {
                assert!(k.all);
                assert_eq!((k.id.as_str(), k.signal.as_str()), ("abc", "9"));
            }
            other => panic!("{other:?}"),
        }
        let cli = parse("--root R checkpoint --leave-running --leave-running --image-path /i abc")
            .unwrap();
        match cli.command {
            Some(Command::Checkpoint(c)) => {
                assert!(c.leave_running);
                assert_eq!(
                    c.image.image_path.as_deref(),
                    Some(std::path::Path::new("/i"))
                );
            }
            other => panic!("{other:?}"),
        }
        let cli = parse("restore -no-subreaper --bundle /b abc").unwrap();
        assert!(matches!(cli.command, Some(Command::Restore(r)) if r.no_subreaper));
        let cli = parse("restore --background --bundle /b abc").unwrap();
        assert!(matches!(cli.command, Some(Command::Restore(r)) if r.background));
        let cli = parse("exec abc sh -c -x").unwrap();
        match cli.command {
            Some(Command::Exec(e)) => assert_eq!(e.args, ["sh", "-c", "-x"]),
            other => panic!("{other:?}"),
        }
        let cli = parse("state abc").unwrap();
        assert_eq!(cli.global.root, std::path::Path::new("/var/run/runsc"));
    }

    #[test]
    fn unknown_flags_are_refused() {
        assert!(parse("create --bogus abc").is_err());
        assert!(parse("kill").is_err());
    }
}
