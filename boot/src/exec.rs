//! `runsc exec`: a new guest process in a running container. The `runsc exec` process
//! stays alive as its proxy on the host: the pid-file names it, its exit status is the guest
//! process's, signals it receives are forwarded, and when it dies the sandbox kills the
//! guest process (it holds a control connection open for exactly that).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use sentry::control::{ErrorKind, RemoteError, Request as KernelRequest, Response};

use crate::container::{ContainerError, Runtime};
use crate::control::{Client, ExecProcess, Request};
use crate::lookup::find_executable;
use crate::spec::{ConsoleSize, Process};
use crate::state::Status;

/// What `runsc exec` was asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub id: String,
    /// `--process FILE`: a runtime-spec `process` object; otherwise the fields below.
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    /// `--env K=V`, added to (or replacing in) the container's environment.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// `--user UID[:GID]`.
    pub user: Option<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    /// Run exec'd processes of a paused container too.
    pub ignore_paused: bool,
}

/// The resolved process and its terminal wishes.
struct Plan {
    process: ExecProcess,
    terminal: bool,
    console_size: Option<ConsoleSize>,
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), ContainerError> {
    let bad = || ContainerError::BadUser(s.to_string());
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = g.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

/// `base` with every `K=V` of `extra` replacing the same K.
fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let mut env: Vec<String> = base.to_vec();
    for kv in extra {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    env
}

impl Runtime {
    fn exec_plan(&self, opts: &ExecOptions) -> Result<(Plan, PathBuf), ContainerError> {
        let c = self.store.load(&opts.id)?;
        match c.status() {
            Status::Running => {}
            Status::Paused if opts.ignore_paused => {}
            Status::Paused => return Err(ContainerError::ExecPaused),
            _ => return Err(ContainerError::NotRunning),
        }
        let base = c.spec.process.clone().unwrap_or_default();
        let p: Process = match &opts.process {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|source| ContainerError::Io {
                    what: format!("reading {}", path.display()),
                    source,
                })?;
                crate::spec::parse(&bytes).map_err(|source| ContainerError::ProcessFile {
                    path: path.clone(),
                    source,
                })?
            }
            None => {
                let mut p = base.clone();
                p.args = opts.args.clone();
                p.env = merge_env(&base.env, &opts.env);
                if let Some(cwd) = &opts.cwd {
                    p.cwd = cwd.clone();
                }
                if let Some(u) = &opts.user {
                    let (uid, gid) = parse_user(u)?;
                    p.user.uid = uid;
                    p.user.gid = gid.unwrap_or(p.user.gid);
                }
                p.terminal = opts.tty;
                p
            }
        };
        if p.args.is_empty() {
            return Err(ContainerError::NoCommand);
        }
        let mut argv = p.args.clone();
        argv[0] = find_executable(&c.rootfs, &argv[0], &p.env, &p.cwd)?;
        let plan = Plan {
            process: ExecProcess {
                argv,
                env: p.env,
                cwd: p.cwd,
                uid: p.user.uid,
                gid: p.user.gid,
                groups: p.user.additional_gids.clone(),
                capabilities: crate::guest_creds::cap_sets(p.capabilities.as_ref()),
                no_new_privileges: p.no_new_privileges,
            },
            terminal: p.terminal || opts.tty,
            console_size: p.console_size,
        };
        Ok((plan, self.state_dir(&opts.id)))
    }

    /// Runs `exec` as the proxy: starts the guest process, writes the pid-file (this
    /// process), tells `ready` (the detached parent's go-ahead), forwards signals, and
    /// returns the guest process's exit status.
    pub fn exec(&self, opts: &ExecOptions, ready: &mut Ready) -> Result<i32, ContainerError> {
        let (plan, dir) = self.exec_plan(opts)?;
        // Signals for the guest are taken by a thread of their own: block them here, before
        // any thread exists, so that every thread inherits the mask.
        let forwarded = forwarded_signals();
        forwarded.thread_block().map_err(|e| ContainerError::Io {
            what: "blocking signals".into(),
            source: e.into(),
        })?;
        let mut keep: Vec<OwnedFd> = Vec::new();
        let stdio: [RawFd; 3] = if plan.terminal && opts.console_socket.is_some() {
            let pty = crate::console::open_pty(plan.console_size)?;
            let socket = opts
                .console_socket
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            crate::console::send_master(socket, &pty.name, &pty.master)?;
            let raw = pty.slave.as_raw_fd();
            keep.push(pty.slave);
            [raw; 3]
        } else {
            // Descriptions of their own (reopened here, where /proc is at hand): the
            // sandbox makes them non-blocking, which must not reach the others holding
            // this process's stdio (the shim, a terminal's shell).
            let own = |fd: std::os::fd::BorrowedFd<'_>| {
                fd.try_clone_to_owned()
                    .map(sentry::host::reopen_stdio)
                    .map_err(|source| ContainerError::Io {
                        what: "duplicating stdio".into(),
                        source,
                    })
            };
            let fds = [
                own(std::io::stdin().as_fd())?,
                own(std::io::stdout().as_fd())?,
                own(std::io::stderr().as_fd())?,
            ];
            let raw = fds.each_ref().map(|f| f.as_raw_fd());
            keep.extend(fds);
            raw
        };
        let client = Client::connect(&dir)?;
        let request = Request::Kernel(KernelRequest::Exec(plan.process));
        let pid = match client.call(&request, &stdio)? {
            Response::Started { pid } => pid,
            Response::Error(e) => return Err(ContainerError::Sandbox(e)),
            other => return Err(ContainerError::Unexpected(format!("{other:?}"))),
        };
        drop(keep);
        log::debug!("exec in {}: guest pid {pid}", opts.id);
        if let Some(f) = &opts.pid_file {
            crate::state::write_atomic(f, std::process::id().to_string().as_bytes())?;
        }
        ready.ok();
        {
            let dir = dir.clone();
            std::thread::spawn(move || forward_signals(forwarded, &dir, pid));
        }
        match client.next_response() {
            Ok(Response::Exited { status }) => Ok(status),
            Ok(Response::Error(e)) => Err(ContainerError::Sandbox(e)),
            Ok(other) => Err(ContainerError::Unexpected(format!("{other:?}"))),
            // The sandbox is gone, and the guest process with it.
            Err(_) => Ok(128 + libc::SIGKILL),
        }
    }
}

/// The signals an exec proxy passes on to its guest process.
fn forwarded_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGCONT,
    ] {
        set.add(s);
    }
    set
}

fn forward_signals(set: nix::sys::signal::SigSet, dir: &std::path::Path, pid: i32) {
    while let Ok(sig) = set.wait() {
        let signo = sig as i32;
        let request = Request::Kernel(KernelRequest::SignalProcess { pid, signo });
        match Client::connect(dir).and_then(|c| c.call(&request, &[])) {
            Ok(Response::Error(e)) => {
                log::warn!("forwarding signal {signo} to guest pid {pid}: {e}")
            }
            Ok(_) => {}
            Err(e) => log::warn!("forwarding signal {signo} to guest pid {pid}: {e}"),
        }
    }
}

/// `exec --detach`: starts this program again with `argv(fd)` (the same exec without
/// `--detach`, told to report on `fd`), waits until that proxy has started the guest
/// process and written the pid-file, and returns. The proxy lives on (reparented to the
/// caller's subreaper) until the guest process exits. With `quiet`, the proxy gets
/// /dev/null as stdio: a guest on a terminal does not need ours, and a caller that
/// captures our output (go-runc does, for a terminal) waits for it to close.
pub fn detach(
    quiet: bool,
    argv: impl FnOnce(RawFd) -> Vec<std::ffi::OsString>,
) -> Result<(), ContainerError> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    use std::process::Stdio;
    let io = |what: &str| {
        let what = what.to_string();
        move |e: nix::Error| ContainerError::Io {
            what,
            source: e.into(),
        }
    };
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io("making a pipe"))?;
    // The write end alone crosses exec.
    fcntl(w.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty())).map_err(io("making a pipe"))?;
    let args = argv(w.as_raw_fd());
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.args(args);
    if quiet {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    }
    let mut child = cmd.spawn().map_err(|source| ContainerError::Io {
        what: "starting the exec proxy".into(),
        source,
    })?;
    drop(w);
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut text);
    let text = text.trim();
    if text == "ok" {
        return Ok(());
    }
    let _ = child.wait();
    match text.strip_prefix("error: ") {
        Some(msg) => Err(ContainerError::Proxy(
            serde_json::from_str(msg).unwrap_or_else(|_| {
                RemoteError::from_messages(ErrorKind::Other, vec![msg.to_string()])
                    .expect("one message")
            }),
        )),
        None => Err(ContainerError::ProxyEnded),
    }
}

/// The proxy side of `detach`: tells the waiting parent that the guest process runs, or
/// why it does not. Without a parent waiting, it does nothing.
pub struct Ready(Option<std::fs::File>);

impl Ready {
    /// Takes the report fd a detached parent handed over, if any.
    pub fn new(fd: Option<RawFd>) -> Ready {
        // SAFETY: the fd was handed to this process by `detach` for this sole purpose.
        Ready(
            fd.and_then(|fd| unsafe { crate::sys::take_fd(fd) })
                .map(std::fs::File::from),
        )
    }

    /// Whether a detached parent still waits for the outcome.
    pub fn pending(&self) -> bool {
        self.0.is_some()
    }

    pub fn ok(&mut self) {
        if let Some(mut f) = self.0.take() {
            let _ = std::io::Write::write_all(&mut f, b"ok\n");
        }
    }

    /// Reports the error that kept the process from starting (the parent prints its
    /// chain as it is).
    pub fn fail(&mut self, error: &RemoteError) {
        if let Some(mut f) = self.0.take() {
            let json = serde_json::to_string(error).expect("an error serialises");
            let _ = std::io::Write::write_all(&mut f, format!("error: {json}\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_env() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1:2").unwrap(), (1, Some(2)));
        assert!(parse_user("root").is_err());
        let env = merge_env(&["A=1".into(), "B=2".into()], &["B=3".into(), "C=4".into()]);
        assert_eq!(env, ["A=1", "B=3", "C=4"]);
    }
}
