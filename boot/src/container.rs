//! The container lifecycle as runsc's commands drive it: create, start, kill, delete,
//! wait, pause, resume, ps, checkpoint, restore. Each operation works on the state
//! directory and talks to the sandbox process over its control socket; runsc only maps its
//! arguments.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::bundle::{Bundle, BundleError};
use crate::cgroup::{self, CgroupError};
use crate::console::{self, ConsoleError};
use sentry::control::{Error as ControlFailure, ErrorKind, Request as KernelRequest, Response};

use crate::control::{Client, ControlError, Request};
use crate::hooks::{self, HookError};
use crate::sandbox::{self, ExitRecord, READY_FD};
use crate::spec::Spec;
use crate::state::{self, Container, StateError, Status, Store};

/// How long `create` waits for the sandbox process to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGKILL through the sandbox may take before the sandbox process itself is
/// killed.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `checkpoint` (without `--leave-running`) waits for the sandbox to end.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The file `checkpoint` writes beside `checkpoint.img`: a small JSON marker. Podman
/// refuses to restore from a directory without it (CRIU's images have one); runsc itself
/// does not need it to restore.
pub const INVENTORY_FILE: &str = "inventory.img";

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("container not running")]
    NotRunning,
    #[error("container not paused")]
    NotPaused,
    #[error("cannot start container \"{id}\": it is {status}, not created")]
    NotCreated { id: String, status: Status },
    #[error("cannot delete container \"{id}\" that is not stopped: {status}")]
    NotStopped { id: String, status: Status },
    /// The sandbox answered a request with an error.
    #[error(transparent)]
    Sandbox(ControlFailure),
    #[error("unexpected answer from the sandbox: {0}")]
    Unexpected(String),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error("config.json has process.terminal true: --console-socket is required")]
    NoConsoleSocket,
    #[error("starting the sandbox process")]
    Spawn(#[source] std::io::Error),
    #[error("opening namespace {path}")]
    Namespace {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox process failed: {0}")]
    NotReady(String),
    /// The sandbox process reported why it could not get ready.
    #[error("the sandbox process failed")]
    SandboxFailed(#[source] sentry::control::RemoteError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("exit status of container \"{0}\" is unknown: its sandbox process was killed")]
    ExitUnknown(String),
    #[error("reading the checkpoint image {path}")]
    Image {
        path: PathBuf,
        #[source]
        source: statefile::Error,
    },
    /// The sandbox could not rebuild the guest from the image.
    #[error("restoring from {}", image.display())]
    Restore {
        image: PathBuf,
        #[source]
        source: ControlFailure,
    },
    #[error("--user {0:?}: expected UID or UID:GID")]
    BadUser(String),
    #[error("cannot exec in a paused container")]
    ExecPaused,
    #[error("parsing {}", path.display())]
    ProcessFile {
        path: PathBuf,
        #[source]
        source: crate::spec::ParseError,
    },
    #[error("no command given")]
    NoCommand,
    #[error(transparent)]
    Lookup(#[from] crate::lookup::LookupError),
    /// A detached exec's proxy failed before the process started: its error, as it
    /// reported it.
    #[error(transparent)]
    Proxy(sentry::control::RemoteError),
    #[error("the exec proxy ended before the process started")]
    ProxyEnded,
}

impl ContainerError {
    /// The kind of the sandbox's error, when the sandbox gave one.
    pub fn control_kind(&self) -> Option<ErrorKind> {
        match self {
            ContainerError::Sandbox(e) | ContainerError::Restore { source: e, .. } => {
                Some(e.kind())
            }
            ContainerError::Proxy(e) | ContainerError::SandboxFailed(e) => Some(e.kind()),
            _ => None,
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
    let what = what.into();
    move |source| ContainerError::Io { what, source }
}

/// Where containers live and how sandbox processes are started.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub store: Store,
    /// Global flags `runsc boot` is given (`--root`, `--log`, `--log-format`, `--debug`).
    pub boot_args: Vec<OsString>,
    /// Treat linux.cgroupsPath as systemd's `slice:prefix:name`.
    pub systemd_cgroup: bool,
}

/// The arguments of `create` (and of `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Off only for debugging (`--no-seccomp`).
    pub seccomp: bool,
    /// `runc run` without `--detach`: a terminal uses runsc's own stdio.
    pub foreground: bool,
}

/// The OCI state of `c` as hooks receive it (status given).
fn hook_state(c: &Container, status: Status) -> Vec<u8> {
    let mut s = c.oci_state();
    s.status = status;
    s.pid = c.pid;
    serde_json::to_vec(&s).expect("state serialises")
}

fn spec_hooks(spec: &Spec) -> crate::spec::Hooks {
    spec.hooks.clone().unwrap_or_default()
}

/// `CLONE_NEW*` of a runtime-spec namespace type.
fn clone_flag(kind: &str) -> libc::c_int {
    match kind {
        "pid" => libc::CLONE_NEWPID,
        "network" => libc::CLONE_NEWNET,
        "mount" => libc::CLONE_NEWNS,
        "ipc" => libc::CLONE_NEWIPC,
        "uts" => libc::CLONE_NEWUTS,
        "user" => libc::CLONE_NEWUSER,
        "cgroup" => libc::CLONE_NEWCGROUP,
        _ => 0,
    }
}

/// An fd that is open in this process, or /dev/null in its place.
fn stdio_or_null(fd: RawFd, keep: &mut Vec<OwnedFd>) -> Result<RawFd, ContainerError> {
    if nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok() {
        return Ok(fd);
    }
    let null: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(io_err("opening /dev/null"))?
        .into();
    let raw = null.as_raw_fd();
    keep.push(null);
    Ok(raw)
}

/// A sandbox process started but not yet accepted: killed, reaped and cleaned up if
/// `create` fails before the end.
struct Pending<'a> {
    rt: &'a Runtime,
    id: String,
    pid: Option<i32>,
    cgroups: Vec<PathBuf>,
    done: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(pid) = self.pid {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        cgroup::remove(&self.cgroups);
        let _ = self.rt.store.remove(&self.id);
    }
}

/// Reads the ready pipe until `ok`, an error line, or end-of-file.
fn wait_ready(fd: &OwnedFd, pid: i32) -> Result<(), ContainerError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut text = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ContainerError::NotReady(format!(
                "not ready after {}s",
                READY_TIMEOUT.as_secs()
            )));
        }
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let ms =
            PollTimeout::try_from(left.as_millis().min(10_000) as i32).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, ms) {
            Ok(0) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io_err("waiting for the sandbox")(e.into())),
            Ok(_) => {}
        }
        let mut buf = [0u8; 4096];
        let n = match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io_err("reading the ready pipe")(e.into())),
        };
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
        if text.ends_with(b"\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&text).trim().to_string();
    if text == "ok" {
        return Ok(());
    }
    if let Some(msg) = text.strip_prefix("error: ") {
        // The sandbox's error as data, or the bare message of a child that failed before
        // it ran runsc (`sys::spawn` cannot allocate there).
        return Err(match serde_json::from_str(msg) {
            Ok(e) => ContainerError::SandboxFailed(e),
            Err(_) => ContainerError::NotReady(msg.to_string()),
        });
    }
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None)
        .map(|s| format!("{s:?}"))
        .unwrap_or_else(|e| e.to_string());
    Err(ContainerError::NotReady(format!(
        "it ended before it was ready ({status})"
    )))
}

fn write_id_maps(
    pid: i32,
    file: &str,
    maps: &[crate::spec::IdMapping],
) -> Result<(), ContainerError> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect();
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, text).map_err(io_err(format!("writing {path}")))
}

impl Runtime {
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.store.dir(id)
    }

    /// `create`: starts the sandbox process for the bundle, in its namespaces and cgroup,
    /// and returns once it is ready and the createRuntime and prestart hooks have run.
    /// Returns the sandbox process's pid (a child of this process).
    pub fn create(&self, opts: &CreateOptions) -> Result<i32, ContainerError> {
        let bundle = Bundle::load(&opts.bundle)?;
        // Refuse here, with a clear error, what the sandbox would refuse later.
        bundle.sandbox_config(&opts.id)?;
        let spec = bundle.spec.clone();
        let process = spec.process.clone().unwrap_or_default();
        let use_pty = process.terminal && !opts.foreground;
        if use_pty && opts.console_socket.is_none() {
            return Err(ContainerError::NoConsoleSocket);
        }
        let lock = self.store.create(&opts.id)?;
        let mut pending = Pending {
            rt: self,
            id: opts.id.clone(),
            pid: None,
            cgroups: Vec::new(),
            done: false,
        };
        let mut c = Container {
            id: opts.id.clone(),
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: crate::time::rfc3339_nano(SystemTime::now()),
            owner: state::owner(),
            phase: Status::Creating,
            pid: 0,
            start_time: 0,
            spec: spec.clone(),
            cgroups: Vec::new(),
            creator: {
                let me = std::process::id() as i32;
                state::start_time(me).map(|t| (me, t))
            },
        };
        self.store.save(&c)?;

        // The guest's stdio: the pty slave, or ours.
        let mut keep = Vec::new();
        let pty = if use_pty {
            let pty = console::open_pty(process.console_size)?;
            let socket = opts.console_socket.as_deref().unwrap_or(Path::new(""));
            console::send_master(socket, &pty.name, &pty.master)?;
            Some(pty)
        } else {
            None
        };
        let stdio: [RawFd; 3] = match &pty {
            Some(p) => [p.slave.as_raw_fd(); 3],
            None => [
                stdio_or_null(0, &mut keep)?,
                stdio_or_null(1, &mut keep)?,
                stdio_or_null(2, &mut keep)?,
            ],
        };

        // Namespaces: new ones by clone flags, given ones joined (user first). The sandbox
        // process always gets a pid namespace of its own, whatever the spec says (as
        // gVisor's does): the guest's pids are the sentry's business, and a sandbox that
        // sees only itself and its stubs can signal nothing else on the host. The
        // pid-file and the state still name its host pid (`clone` returns that).
        let mut clone_flags = libc::CLONE_NEWPID;
        let mut join = Vec::new();
        let linux = spec.linux.clone().unwrap_or_default();
        for ns in &linux.namespaces {
            let flag = clone_flag(&ns.kind);
            match ns.path.as_deref().filter(|p| !p.is_empty()) {
                None => clone_flags |= flag,
                Some(path) if flag == libc::CLONE_NEWPID => {
                    log::debug!("pid namespace {path} not joined: the sandbox process has its own");
                }
                Some(path) => {
                    let fd: OwnedFd = std::fs::File::open(path)
                        .map_err(|source| ContainerError::Namespace {
                            path: path.to_string(),
                            source,
                        })?
                        .into();
                    if flag == libc::CLONE_NEWUSER {
                        join.insert(0, (fd, flag));
                    } else {
                        join.push((fd, flag));
                    }
                }
            }
        }

        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| io_err("making the ready pipe")(e.into()))?;
        let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| io_err("making the go pipe")(e.into()))?;
        let exe: OwnedFd = std::fs::File::open("/proc/self/exe")
            .map_err(io_err("opening /proc/self/exe"))?
            .into();
        let mut argv: Vec<OsString> = vec!["runsc".into()];
        argv.extend(self.boot_args.iter().cloned());
        argv.extend([
            "boot".into(),
            "--bundle".into(),
            bundle.dir.clone().into_os_string(),
        ]);
        if !opts.seccomp {
            argv.push("--no-seccomp".into());
        }
        argv.push("--".into());
        argv.push(opts.id.clone().into());
        let cstr = |s: &std::ffi::OsStr| {
            CString::new(s.as_bytes()).map_err(|e| io_err("argument with a NUL byte")(e.into()))
        };
        let argv = argv
            .iter()
            .map(|a| cstr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                cstr(&kv)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let plan = crate::sys::SpawnPlan {
            exe,
            argv,
            envp,
            fds: vec![
                (stdio[0], 0),
                (stdio[1], 1),
                (stdio[2], 2),
                (ready_w.as_raw_fd(), READY_FD),
            ],
            clone_flags,
            join,
            go: go_r,
            report_fd: ready_w.as_raw_fd(),
            close_in_child: vec![go_w.as_raw_fd(), ready_r.as_raw_fd()],
            become_root: clone_flags & libc::CLONE_NEWUSER != 0,
        };
        let pid = crate::sys::spawn(&plan)
            .map_err(ContainerError::Spawn)?
            .as_raw();
        pending.pid = Some(pid);
        drop(plan);
        drop(ready_w);
        drop(pty);
        drop(keep);

        // Before it goes on: its user namespace mappings and its cgroup.
        if clone_flags & libc::CLONE_NEWUSER != 0 {
            write_id_maps(pid, "uid_map", &linux.uid_mappings)?;
            write_id_maps(pid, "gid_map", &linux.gid_mappings)?;
            // Its root must be able to make the control socket and the exit record.
            let host = |maps: &[crate::spec::IdMapping]| {
                maps.iter().find(|m| m.container_id == 0).map(|m| m.host_id)
            };
            let dir = self.state_dir(&opts.id);
            nix::unistd::chown(
                &dir,
                host(&linux.uid_mappings).map(nix::unistd::Uid::from_raw),
                host(&linux.gid_mappings).map(nix::unistd::Gid::from_raw),
            )
            .map_err(|e| io_err(format!("chown {}", dir.display()))(e.into()))?;
        }
        if let Some(path) = linux.cgroups_path.as_deref().filter(|p| !p.is_empty()) {
            let rel = cgroup::relative_path(path, self.systemd_cgroup)?;
            let hierarchy = cgroup::detect(Path::new(cgroup::MOUNT))?;
            pending.cgroups = cgroup::join(&hierarchy, &rel, linux.resources.as_ref(), pid)?;
        }
        nix::unistd::write(&go_w, b"g")
            .map_err(|e| io_err("releasing the sandbox process")(e.into()))?;
        drop(go_w);
        wait_ready(&ready_r, pid)?;

        c.pid = pid;
        c.start_time = state::start_time(pid).unwrap_or(0);
        c.cgroups = pending.cgroups.clone();
        self.store.save(&c)?;
        if let Some(pid_file) = &opts.pid_file {
            state::write_atomic(pid_file, pid.to_string().as_bytes())?;
        }
        let h = spec_hooks(&spec);
        let st = hook_state(&c, Status::Creating);
        hooks::run("createRuntime", &h.create_runtime, &st)?;
        hooks::run("prestart", &h.prestart, &st)?;
        for (kind, list) in [
            ("createContainer", &h.create_container),
            ("startContainer", &h.start_container),
        ] {
            if !list.is_empty() {
                log::warn!("{kind} hooks are not run: they would run inside the guest");
            }
        }
        c.phase = Status::Created;
        self.store.save(&c)?;
        pending.done = true;
        drop(lock);
        Ok(pid)
    }

    /// `start`: runs the guest init of a created container, then the poststart hooks.
    pub fn start(&self, id: &str) -> Result<(), ContainerError> {
        let _lock = self.store.lock(id)?;
        let mut c = self.store.load(id)?;
        let status = c.status();
        if status != Status::Created {
            return Err(ContainerError::NotCreated {
                id: id.to_string(),
                status,
            });
        }
        self.call(&c, &Request::Start)?;
        c.phase = Status::Running;
        self.store.save(&c)?;
        if let Err(e) = hooks::run(
            "poststart",
            &spec_hooks(&c.spec).poststart,
            &hook_state(&c, Status::Running),
        ) {
            log::warn!("{e}");
        }
        Ok(())
    }

    /// `restore`: a container built from the bundle exactly as `create` builds it (sandbox
    /// process, namespaces, cgroup, createRuntime and prestart hooks, as runc runs them on
    /// restore), whose sandbox then rebuilds the guest from the checkpoint image (`image`:
    /// the directory holding `checkpoint.img`, or the file) instead of starting
    /// process.args. Returns once the restored guest runs, with the sandbox process's pid
    /// (a child of this process); the pid-file is written only then. On failure nothing is
    /// left: the sandbox is killed, its cgroup and state directory removed.
    /// `on_demand`: the restored guest runs before its memory is loaded (it is loaded on
    /// first touch and in the background; `runsc restore --background`).
    pub fn restore(
        &self,
        opts: &CreateOptions,
        image: &Path,
        on_demand: bool,
    ) -> Result<i32, ContainerError> {
        let image = image_file(image);
        let image_err = |source| ContainerError::Image {
            path: image.clone(),
            source,
        };
        // Opened here: the sandbox cannot reach the image by name (its root holds nothing
        // of the host); it gets this descriptor. A missing, truncated or malformed image
        // is refused before anything is created (the segments' checksums are checked by
        // the sandbox as it reads them).
        let file = std::fs::File::open(&image).map_err(|source| {
            image_err(statefile::Error::File {
                op: "cannot open",
                source,
            })
        })?;
        statefile::Image::from_file(
            file.try_clone()
                .map_err(io_err("duplicating the image fd"))?,
        )
        .map_err(image_err)?;
        let create = CreateOptions {
            pid_file: None,
            ..opts.clone()
        };
        let pid = self.create(&create)?;
        let restored = self.restore_created(
            &opts.id,
            (&image, file, on_demand),
            pid,
            opts.pid_file.as_deref(),
        );
        if let Err(e) = restored {
            if let Err(d) = self.delete(&opts.id, true) {
                log::warn!("removing container {} after a failed restore: {d}", opts.id);
            }
            self.reap(pid);
            return Err(e);
        }
        Ok(pid)
    }

    fn restore_created(
        &self,
        id: &str,
        (path, image, on_demand): (&Path, std::fs::File, bool),
        pid: i32,
        pid_file: Option<&Path>,
    ) -> Result<(), ContainerError> {
        let _lock = self.store.lock(id)?;
        let mut c = self.store.load(id)?;
        let failed = |source| ContainerError::Restore {
            image: path.to_path_buf(),
            source,
        };
        match self.call_with(&c, &Request::Restore { on_demand }, &[image.as_raw_fd()]) {
            Ok(_) => {}
            Err(ContainerError::Sandbox(e)) => return Err(failed(e)),
            Err(e) => {
                // The sandbox died: its exit record may say why.
                return Err(match self.exit_record(id).and_then(|r| r.error) {
                    Some(reason) => failed(reason.into()),
                    None => e,
                });
            }
        }
        c.phase = Status::Running;
        self.store.save(&c)?;
        if let Some(pid_file) = pid_file {
            state::write_atomic(pid_file, pid.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Sends a request to a container's sandbox and checks the reply.
    fn call(&self, c: &Container, request: &Request) -> Result<Response, ContainerError> {
        self.call_with(c, request, &[])
    }

    /// `call`, with host fds sent along.
    fn call_with(
        &self,
        c: &Container,
        request: &Request,
        fds: &[RawFd],
    ) -> Result<Response, ContainerError> {
        let client = match Client::connect(&self.state_dir(&c.id)) {
            Ok(client) => client,
            Err(_) if !c.sandbox_alive() => return Err(ContainerError::NotRunning),
            Err(e) => return Err(e.into()),
        };
        if matches!(
            request,
            Request::Kernel(KernelRequest::Signal {
                signo: libc::SIGKILL,
                ..
            })
        ) {
            client.set_timeout(Some(KILL_TIMEOUT))?;
        }
        match client.call(request, fds) {
            Ok(Response::Error(e)) => Err(ContainerError::Sandbox(e)),
            Ok(r) => Ok(r),
            Err(ControlError::Closed) if !c.sandbox_alive() => Err(ContainerError::NotRunning),
            Err(e) => Err(e.into()),
        }
    }

    fn live(&self, id: &str) -> Result<Container, ContainerError> {
        let c = self.store.load(id)?;
        match c.status() {
            Status::Stopped => Err(ContainerError::NotRunning),
            _ => Ok(c),
        }
    }

    /// `kill`: sends `signo` to the init (or every process with `all`). A SIGKILL that the
    /// sandbox does not carry out in time kills the sandbox process itself.
    pub fn kill(&self, id: &str, signo: i32, all: bool) -> Result<(), ContainerError> {
        let c = self.live(id)?;
        match self.call(&c, &KernelRequest::Signal { signo, all }.into()) {
            Err(ContainerError::Control(e)) if signo == libc::SIGKILL => {
                log::warn!("sandbox of {id} did not carry out SIGKILL ({e}): killing it");
                kill_sandbox(&c);
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }

    /// `kill --pid`: sends `signo` to guest process `pid` (as the sandbox numbers its
    /// processes).
    pub fn kill_process(&self, id: &str, pid: i32, signo: i32) -> Result<(), ContainerError> {
        let c = self.live(id)?;
        self.call(&c, &KernelRequest::SignalProcess { pid, signo }.into())
            .map(drop)
    }

    /// `delete`: removes a stopped or created container (any with `force`), after killing
    /// its sandbox and running the poststop hooks.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), ContainerError> {
        let _lock = self.store.lock(id)?;
        let c = self.store.load(id)?;
        let status = c.status();
        match status {
            Status::Stopped => {}
            Status::Created => kill_sandbox(&c),
            _ if force => kill_sandbox(&c),
            _ => {
                return Err(ContainerError::NotStopped {
                    id: id.to_string(),
                    status,
                })
            }
        }
        if let Err(e) = hooks::run(
            "poststop",
            &spec_hooks(&c.spec).poststop,
            &hook_state(&c, Status::Stopped),
        ) {
            log::warn!("{e}");
        }
        cgroup::remove(&c.cgroups);
        self.store.remove(id)?;
        Ok(())
    }

    /// `wait`: the guest init's exit status, once it has exited.
    pub fn wait(&self, id: &str) -> Result<i32, ContainerError> {
        let c = self.store.load(id)?;
        let dir = self.state_dir(id);
        if c.status() != Status::Stopped {
            if let Ok(client) = Client::connect(&dir) {
                if let Ok(Response::Exited { status }) = client.call(&Request::Wait, &[]) {
                    return Ok(status);
                }
            }
            // The sandbox went away without answering: wait until it is gone.
            while !c.wait_gone(Duration::from_secs(3600)) {}
        }
        match sandbox::read_exit(&dir) {
            Some(ExitRecord { status, .. }) => Ok(status),
            None => Err(ContainerError::ExitUnknown(id.to_string())),
        }
    }

    /// For `run` in the foreground: from now on, the signals a terminal or a supervisor
    /// sends to runsc (INT, TERM, HUP, QUIT, USR1, USR2, WINCH) go to the container's init
    /// instead. Call it before any thread exists and after the sandbox process is started
    /// (it would inherit the blocked mask).
    pub fn forward_signals_to_init(&self, id: &str) -> Result<(), ContainerError> {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGWINCH,
        ] {
            set.add(s);
        }
        set.thread_block()
            .map_err(|e| io_err("blocking signals")(e.into()))?;
        let rt = self.clone();
        let id = id.to_string();
        std::thread::spawn(move || {
            while let Ok(sig) = set.wait() {
                if let Err(e) = rt.kill(&id, sig as i32, false) {
                    log::warn!("forwarding {sig} to container {id}: {e}");
                }
            }
        });
        Ok(())
    }

    /// Reaps a sandbox process that is this process's child (`run` in the foreground), so
    /// that it does not linger as a zombie.
    pub fn reap(&self, pid: i32) {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    }

    /// Why a container restored from `image` (as `restore` was given it) ended, when its
    /// sandbox ended with an error: a segment of the image found bad after the guest
    /// started, reported as a failed restore is.
    pub fn restore_failure(&self, id: &str, image: &Path) -> Option<ContainerError> {
        let reason = self.exit_record(id)?.error?;
        Some(ContainerError::Restore {
            image: image_file(image),
            source: reason.into(),
        })
    }

    /// The exit record of a stopped container's sandbox, if it left one.
    pub fn exit_record(&self, id: &str) -> Option<ExitRecord> {
        sandbox::read_exit(&self.state_dir(id))
    }

    /// The exit record of a container whose init `wait` saw exit, once its sandbox has
    /// written it: the sandbox answers waiters first and writes the record as it ends, so
    /// this waits for the sandbox process to be gone (a zombie counts as gone).
    pub fn final_exit_record(&self, id: &str) -> Option<ExitRecord> {
        let c = self.store.load(id).ok()?;
        while !c.wait_gone(Duration::from_secs(3600)) {}
        self.exit_record(id)
    }

    /// `pause`.
    pub fn pause(&self, id: &str) -> Result<(), ContainerError> {
        let _lock = self.store.lock(id)?;
        let mut c = self.store.load(id)?;
        if c.status() != Status::Running {
            return Err(ContainerError::NotRunning);
        }
        self.call(&c, &KernelRequest::Pause.into())?;
        c.phase = Status::Paused;
        Ok(self.store.save(&c)?)
    }

    /// `resume`.
    pub fn resume(&self, id: &str) -> Result<(), ContainerError> {
        let _lock = self.store.lock(id)?;
        let mut c = self.store.load(id)?;
        match c.status() {
            Status::Paused => {}
            Status::Stopped => return Err(ContainerError::NotRunning),
            _ => return Err(ContainerError::NotPaused),
        }
        self.call(&c, &KernelRequest::Resume.into())?;
        c.phase = Status::Running;
        Ok(self.store.save(&c)?)
    }

    /// `ps`: host pids of the sandbox (its process and its stubs).
    pub fn host_pids(&self, id: &str) -> Result<Vec<i32>, ContainerError> {
        let c = self.live(id)?;
        match self.call(&c, &KernelRequest::HostPids.into())? {
            Response::HostPids(p) => Ok(p),
            other => Err(ContainerError::Unexpected(format!("{other:?}"))),
        }
    }

    /// `checkpoint`: writes the sandbox to `image_dir/checkpoint.img`, and
    /// `image_dir/inventory.img` beside it; returns what it took. Unless `opts.leave_running`, the sandbox ends
    /// and this returns once it is gone (the container is then `stopped`). A paused
    /// container can be checkpointed (containerd and Docker pause first).
    pub fn checkpoint(
        &self,
        id: &str,
        image_dir: &Path,
        opts: &CheckpointOptions,
    ) -> Result<sentry::control::CheckpointStats, ContainerError> {
        let CheckpointOptions {
            leave_running,
            ghost_limit,
            compression,
        } = *opts;
        let _lock = self.store.lock(id)?;
        let c = self.store.load(id)?;
        if !matches!(c.status(), Status::Running | Status::Paused) {
            return Err(ContainerError::NotRunning);
        }
        std::fs::create_dir_all(image_dir)
            .map_err(io_err(format!("creating {}", image_dir.display())))?;
        let image_dir =
            std::fs::canonicalize(image_dir).unwrap_or_else(|_| image_dir.to_path_buf());
        // The sandbox writes into a temporary file made here (it cannot reach the
        // directory); the image appears as checkpoint.img only once complete and on disk.
        let tmp = ImageTemp::create(&image_dir)?;
        let request = KernelRequest::Checkpoint {
            leave_running,
            image: tmp.image().display().to_string(),
            ghost_limit,
            compression,
        };
        let stats = match self.call_with(&c, &request.into(), &[tmp.file.as_raw_fd()])? {
            Response::Checkpointed(stats) => stats,
            other => return Err(ContainerError::Unexpected(format!("{other:?}"))),
        };
        tmp.commit()?;
        write_inventory(&image_dir, id)?;
        if !leave_running && !c.wait_gone(STOP_TIMEOUT) {
            log::warn!("sandbox of {id} still runs after its checkpoint: killing it");
            kill_sandbox(&c);
        }
        Ok(stats)
    }

    /// `update`: new limits for the container's cgroups.
    pub fn update(&self, id: &str, res: &crate::spec::Resources) -> Result<(), ContainerError> {
        let _lock = self.store.lock(id)?;
        let mut c = self.live(id)?;
        cgroup::update(&c.cgroups, res)?;
        // Remember them, as runc does, for a later `update` or `events`.
        let linux = c.spec.linux.get_or_insert_with(Default::default);
        let mut merged = linux.resources.clone().unwrap_or_default();
        if res.memory.is_some() {
            merged.memory = res.memory.clone();
        }
        if res.cpu.is_some() {
            merged.cpu = res.cpu.clone();
        }
        if res.pids.is_some() {
            merged.pids = res.pids;
        }
        linux.resources = Some(merged);
        Ok(self.store.save(&c)?)
    }

    /// Resource usage of a container's cgroups.
    pub fn stats(&self, id: &str) -> Result<cgroup::Stats, ContainerError> {
        let c = self.live(id)?;
        Ok(cgroup::stats(&c.cgroups))
    }
}

/// How `checkpoint` writes its image.
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    /// Keep the container running afterwards.
    pub leave_running: bool,
    /// Most bytes of data a file deleted while open brings into the image.
    pub ghost_limit: u64,
    /// How the image stores the state and memory.
    pub compression: statefile::Compression,
}

/// The image file `restore` reads: `checkpoint.img` in `image` when it is a directory (or
/// does not exist), else `image` itself; absolute, for error messages.
fn image_file(image: &Path) -> PathBuf {
    let image = std::path::absolute(image).unwrap_or_else(|_| image.to_path_buf());
    if image.is_file() {
        image
    } else {
        image.join(statefile::IMAGE_FILE_NAME)
    }
}

/// The temporary file a checkpoint is written into, in the image directory: removed
/// unless committed.
struct ImageTemp {
    dir: PathBuf,
    path: PathBuf,
    file: std::fs::File,
    committed: bool,
}

impl ImageTemp {
    fn create(dir: &Path) -> Result<ImageTemp, ContainerError> {
        use std::os::unix::fs::OpenOptionsExt;
        let nanos = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = dir.join(format!(
            ".{}.tmp.{}.{nanos}",
            statefile::IMAGE_FILE_NAME,
            std::process::id()
        ));
        // Guest memory: readable by the owner only.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(format!("creating {}", path.display())))?;
        Ok(ImageTemp {
            dir: dir.to_path_buf(),
            path,
            file,
            committed: false,
        })
    }

    /// The name the image takes when committed.
    fn image(&self) -> PathBuf {
        self.dir.join(statefile::IMAGE_FILE_NAME)
    }

    /// Renames the written file to `checkpoint.img` and fsyncs the directory.
    fn commit(mut self) -> Result<(), ContainerError> {
        let image = self.image();
        std::fs::rename(&self.path, &image)
            .map_err(io_err(format!("renaming the image to {}", image.display())))?;
        self.committed = true;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(format!("fsync of {}", self.dir.display())))
    }
}

impl Drop for ImageTemp {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `DIR/inventory.img`: a JSON marker naming the image file. Podman checks that the
/// file exists before it restores; runsc reads only `checkpoint.img`.
fn write_inventory(dir: &Path, id: &str) -> Result<(), ContainerError> {
    let inventory = serde_json::json!({
        "format": "runsc-checkpoint",
        "image": statefile::IMAGE_FILE_NAME,
        "runtime": concat!("runsc ", env!("CARGO_PKG_VERSION")),
        "container": id,
        "created": crate::time::rfc3339_nano(SystemTime::now()),
    });
    let mut bytes = serde_json::to_vec_pretty(&inventory).expect("inventory serialises");
    bytes.push(b'\n');
    Ok(state::write_atomic(&dir.join(INVENTORY_FILE), &bytes)?)
}

/// Kills a container's sandbox process (SIGKILL) and waits until it is gone. It is the
/// init of a pid namespace of its own: its stubs die with it.
fn kill_sandbox(c: &Container) {
    if !c.sandbox_alive() {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(c.pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    // Our child (as in `run`)? Then reap it; otherwise wait until it is a zombie or gone.
    let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    c.wait_gone(Duration::from_secs(10));
}
