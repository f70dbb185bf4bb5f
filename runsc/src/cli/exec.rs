//! `runsc exec [--process FILE | COMMAND ARGS...] [--detach] [--pid-file F] [--tty]
//! [--console-socket S] ID`: a new process in a running container. This process stays as
//! its host-side proxy; its exit status is the guest process's.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context as _;
use boot::control::{ErrorKind, RemoteError};

use super::Context;

/// Run a new process in a running container.
#[derive(clap::Args, Debug, Clone)]
pub struct Exec {
    /// A JSON file with the runtime-spec `process` to run.
    #[arg(long, short = 'p', value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Unix socket to send the pty master to (with --tty).
    #[arg(long, value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs (the proxy stays in the background).
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the proxy's pid to FILE.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Working directory of the process.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Environment variable K=V (repeatable).
    #[arg(long, short = 'e', value_name = "K=V")]
    pub env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(long, short = 'u', value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Accepted for compatibility.
    #[arg(long, short = 'g', value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Accepted for compatibility.
    #[arg(long, value_name = "LABEL")]
    pub process_label: Option<String>,
    /// Accepted for compatibility.
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Accepted for compatibility.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Accepted for compatibility.
    #[arg(long, short = 'c', value_name = "CAP")]
    pub cap: Vec<String>,
    /// Accepted for compatibility: extra fds are not passed to the guest.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for compatibility.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container.
    #[arg(long)]
    pub ignore_paused: bool,
    /// Internal: the fd on which a detached proxy reports that the process runs.
    #[arg(long, hide = true, value_name = "FD")]
    pub internal_ready_fd: Option<i32>,
    pub id: String,
    /// The command and its arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

impl Exec {
    /// The argv of the proxy a detached exec starts: this exec, without --detach.
    fn proxy_argv(&self, ctx: &Context, fd: i32) -> Vec<OsString> {
        let mut a: Vec<OsString> = ctx.boot_args();
        a.push("exec".into());
        let mut opt = |flag: &str, v: Option<OsString>| {
            if let Some(v) = v {
                a.push(flag.into());
                a.push(v);
            }
        };
        opt("--process", self.process.clone().map(Into::into));
        opt(
            "--console-socket",
            self.console_socket.clone().map(Into::into),
        );
        opt(
            "--pid-file",
            self.pid_file
                .clone()
                .map(|p| std::path::absolute(&p).unwrap_or(p).into()),
        );
        opt("--cwd", self.cwd.clone().map(Into::into));
        opt("--user", self.user.clone().map(Into::into));
        for e in &self.env {
            opt("--env", Some(e.into()));
        }
        opt("--internal-ready-fd", Some(fd.to_string().into()));
        if self.tty {
            a.push("--tty".into());
        }
        if self.ignore_paused {
            a.push("--ignore-paused".into());
        }
        a.push(self.id.clone().into());
        a.extend(self.args.iter().map(Into::into));
        a
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        if self.detach {
            // The proxy's report names the container. A console socket means a terminal:
            // the guest does not use our stdio.
            let quiet = self.console_socket.is_some();
            boot::exec::detach(quiet, |fd| self.proxy_argv(ctx, fd))?;
            return Ok(0);
        }
        let opts = boot::exec::ExecOptions {
            id: self.id,
            process: self.process,
            args: self.args,
            env: self.env,
            cwd: self.cwd,
            user: self.user,
            tty: self.tty,
            console_socket: self.console_socket,
            pid_file: self.pid_file,
            ignore_paused: self.ignore_paused,
        };
        let mut ready = boot::exec::Ready::new(self.internal_ready_fd);
        let id = opts.id.clone();
        match ctx.runtime().exec(&opts, &mut ready) {
            // Before the process started, a detached parent waits: it reports the error.
            Err(e) if ready.pending() => {
                let kind = e.control_kind().unwrap_or(ErrorKind::Other);
                let e = anyhow::Error::from(e).context(format!("exec in container {id}"));
                ready.fail(&RemoteError::new(kind, e.as_ref()));
                Ok(1)
            }
            result => result.with_context(|| format!("exec in container {id}")),
        }
    }
}
