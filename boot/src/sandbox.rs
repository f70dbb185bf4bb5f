//! The sandbox process (`runsc boot`): started by `runsc create` in the container's
//! namespaces (and a pid namespace of its own) and cgroup, it confines itself before
//! anything else (a root of its own holding nothing of the host, capabilities dropped,
//! `no_new_privs`, its seccomp filter: `confine.rs`, `seccomp.rs`), then builds the
//! kernel, serves the control socket, waits for `start` (or `restore`) and runs the guest
//! (or rebuilds it from a checkpoint image and runs it). Its exit status is the guest
//! init's.
//!
//! It never writes to its stdout or stderr: those are the container's. Until it is ready,
//! failures go back to `runsc create` over the ready pipe (fd 3: `error: ` and the error
//! as data, its kind and chain); after that, to the log.

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex};

use serde::{Deserialize, Serialize};

use sentry::control::{
    Error as ControlFailure, ErrorKind, ExecProcess, RemoteError, Request as KernelRequest,
    RequestError, Response,
};

use crate::bundle::Bundle;
use crate::control::{self, Request};

/// The fd on which `runsc boot` finds the ready pipe.
pub const READY_FD: RawFd = 3;
/// Name of the exit record in the container's state directory.
pub const EXIT_FILE: &str = "exit";

/// What the sandbox left behind when it ended: the guest init's status, and the error that
/// ended the sandbox, if one did (its kind and whole chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub status: i32,
    #[serde(default)]
    pub error: Option<RemoteError>,
}

/// Reads the exit record a sandbox left in `state_dir` (none while it is empty: the
/// sandbox creates it empty when it starts).
pub fn read_exit(state_dir: &Path) -> Option<ExitRecord> {
    serde_json::from_slice(&std::fs::read(state_dir.join(EXIT_FILE)).ok()?).ok()
}

/// Where the sandbox leaves its exit record: `ROOT/ID/exit`, opened (and emptied) when it
/// starts, before it gives up its view of the host; written through this fd alone, so
/// the confined sandbox holds no fd of a host directory (and cannot touch the rest of
/// its state directory, `state.json` included).
struct ExitFile(Option<std::fs::File>);

impl ExitFile {
    fn open(state_dir: &Path) -> ExitFile {
        let path = state_dir.join(EXIT_FILE);
        match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
        {
            Ok(f) => ExitFile(Some(f)),
            Err(e) => {
                log::warn!(
                    "opening {}: {e}: no exit record will be left",
                    path.display()
                );
                ExitFile(None)
            }
        }
    }

    /// Replaces the record: one positioned write of the whole (small) record. Readers
    /// wait for the sandbox to be gone before they read it (the page cache is the same
    /// for them). It is not synced to disk: a record outlives its sandbox, never the
    /// host (runc keeps its state in /run), and a sync costs every sandbox's end a
    /// journal commit (50 ms here when the disk is busy, as after a checkpoint, whose
    /// caller waits for the sandbox to be gone).
    fn record(&self, status: i32, error: Option<RemoteError>) {
        use std::os::unix::fs::FileExt;
        let Some(f) = &self.0 else { return };
        let rec = ExitRecord { status, error };
        let bytes = serde_json::to_vec(&rec).expect("exit record serialises");
        let written = f.set_len(0).and_then(|()| f.write_all_at(&bytes, 0));
        if let Err(e) = written {
            log::warn!("recording the exit status: {e}");
        }
    }
}

/// The arguments of `runsc boot`.
#[derive(Debug, Clone)]
pub struct BootOptions {
    pub id: String,
    pub bundle: PathBuf,
    /// `ROOT/ID`: the control socket and the exit record go here.
    pub state_dir: PathBuf,
    pub seccomp: bool,
}

/// What the control thread tells the main thread before the guest runs.
enum Event {
    Start,
    /// Restore the guest from this image (an open `checkpoint.img`) instead of starting
    /// the config's process.
    Restore(std::fs::File, bool),
    /// A signal arrived before start: the sandbox ends as if the init died of it.
    Kill(i32),
}

/// State shared between the main thread and the control threads.
struct Shared {
    started: Mutex<bool>,
    events: Mutex<mpsc::Sender<Event>>,
    /// How the guest ended (set once, when the sandbox is about to end).
    exit: Mutex<Option<ExitRecord>>,
    exited: Condvar,
    handle: sentry::ControlHandle,
    /// Host pids of the sandbox (its own and its master stub's) before the guest runs,
    /// as this process sees them.
    pids: Vec<i32>,
    /// Answers the sandbox's end is still to send (to every connection accepted, until
    /// its request is answered; exec'd processes' statuses to their proxies): it does not
    /// end before they are sent (or a few seconds have passed).
    answers_due: std::sync::atomic::AtomicUsize,
}

/// An answer the sandbox's end waits for, from its creation until it is dropped (after
/// the answer is sent).
struct AnswerDue(Arc<Shared>);

impl AnswerDue {
    fn new(shared: &Arc<Shared>) -> AnswerDue {
        shared
            .answers_due
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        AnswerDue(shared.clone())
    }
}

impl Drop for AnswerDue {
    fn drop(&mut self) {
        self.0
            .answers_due
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Signals whose default action does not end a process: before start they change nothing.
fn harmless(signo: i32) -> bool {
    signo == 0 || [libc::SIGCHLD, libc::SIGCONT, libc::SIGURG, libc::SIGWINCH].contains(&signo)
}

/// Reports readiness (or a failure) to `runsc create` over the ready pipe.
struct Ready(Option<std::fs::File>);

impl Ready {
    fn say(&mut self, text: &str) {
        if let Some(mut f) = self.0.take() {
            let _ = std::io::Write::write_all(&mut f, text.as_bytes());
        }
    }
}

/// The body of `runsc boot`; returns the exit status of the sandbox process.
pub fn boot(opts: &BootOptions) -> i32 {
    // SAFETY: `runsc create` put the write end of the ready pipe at fd 3 of this process
    // and nothing else in this process owns it.
    let ready = unsafe { crate::sys::take_fd(READY_FD) };
    let mut ready = Ready(ready.map(std::fs::File::from));
    let exit = ExitFile::open(&opts.state_dir);
    match setup(opts, &mut ready, &exit) {
        Ok(code) => code,
        Err(e) => {
            let error = RemoteError::new(ErrorKind::Sandbox, &*e);
            // Before it was ready, `runsc create` reports the failure (once: Podman reads
            // the log of a failed create as one JSON object); after, only the log can.
            if ready.0.is_some() {
                let json = serde_json::to_string(&error).expect("an error serialises");
                ready.say(&format!("error: {json}\n"));
            } else {
                log::error!("sandbox {}: {error:#}", opts.id);
            }
            exit.record(128 + libc::SIGKILL, Some(error));
            1
        }
    }
}

/// Failures of the sandbox process itself.
#[derive(Debug, thiserror::Error)]
enum SandboxError {
    #[error("the control thread ended")]
    ControlThread,
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// This process's stdio, each reopened as a description of its own (the sentry makes
/// them non-blocking). Needs the host's `/proc`: before the confinement.
fn own_stdio() -> std::io::Result<[OwnedFd; 3]> {
    Ok([
        std::io::stdin().as_fd().try_clone_to_owned()?,
        std::io::stdout().as_fd().try_clone_to_owned()?,
        std::io::stderr().as_fd().try_clone_to_owned()?,
    ]
    .map(sentry::host::reopen_stdio))
}

fn setup(opts: &BootOptions, ready: &mut Ready, exit: &ExitFile) -> Result<i32, BoxError> {
    let bundle = Bundle::load(&opts.bundle)?;
    let plan = bundle.sandbox_plan(&opts.id)?;
    log::debug!("sandbox {}: {:?}", opts.id, plan.config);
    // What needs the host's view, before it is given up.
    let stdio = own_stdio()?;
    sentry::host::capture();
    let listener = control::listen(&opts.state_dir)?;
    let config = crate::confine::enter_root(&crate::confine::RootPlan {
        config: plan.config,
        recursive: plan.recursive,
        fresh_mount_namespace: bundle.new_mount_namespace(),
    })?;
    // Capabilities are per thread, and the filter goes on every thread: both before any
    // other thread, and before the master stub is forked, which inherits them.
    crate::confine::drop_privileges(crate::capabilities::SANDBOX_KEEPS)?;
    if opts.seccomp {
        crate::seccomp::install()?;
    }
    // Built before any thread exists: `new` forks the master stub.
    let sandbox = sentry::Sandbox::new(config)?;
    let (handle, receiver) = sentry::control::channel()?;
    let (tx, rx) = mpsc::channel();
    let shared = Arc::new(Shared {
        started: Mutex::new(false),
        events: Mutex::new(tx),
        exit: Mutex::new(None),
        exited: Condvar::new(),
        handle,
        pids: sandbox.host_pids(),
        answers_due: Default::default(),
    });
    {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || serve(listener, shared))?;
    }
    ready.say("ok\n");
    let event = rx.recv();
    let restoring = matches!(event, Ok(Event::Restore(..)));
    let result = match event {
        Ok(Event::Start) => {
            log::debug!("sandbox {}: running", opts.id);
            sandbox
                .run(stdio, Some(receiver))
                .map_err(|e| RemoteError::new(ErrorKind::Sandbox, &e))
        }
        Ok(Event::Restore(image, on_demand)) => {
            log::debug!("sandbox {}: restoring", opts.id);
            sandbox
                .restore_and_run(image, stdio, Some(receiver), on_demand)
                .map_err(|e| RemoteError::new(ErrorKind::Restore, &e))
        }
        Ok(Event::Kill(signo)) => Ok(128 + signo),
        Err(_) => Err(RemoteError::new(
            ErrorKind::Sandbox,
            &SandboxError::ControlThread,
        )),
    };
    let (status, error) = match result {
        Ok(status) => (status, None),
        Err(e) => {
            // A failed restore is reported by `runsc restore`, which waits for the answer
            // (Podman reads the log of a failed restore as one JSON object).
            if restoring {
                log::debug!("sandbox {}: {e:#}", opts.id);
            } else {
                log::error!("sandbox {}: {e:#}", opts.id);
            }
            (128 + libc::SIGKILL, Some(e))
        }
    };
    exit.record(status, error.clone());
    *shared.exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(ExitRecord { status, error });
    shared.exited.notify_all();
    // Answers still on their way (`runsc wait`, an exec'd process's status to its proxy,
    // whose thread may not have run yet on a loaded machine) go out before the process
    // ends, for at most a few seconds. Nothing else holds the end back: `runsc
    // checkpoint` waits for it (a fixed 50 ms pause here was a fifth of a 256 MiB
    // checkpoint).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while shared.answers_due.load(std::sync::atomic::Ordering::SeqCst) > 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(status)
}

fn serve(listener: UnixListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        // Counted from here: an answer to a request that ends the guest (a kill, a
        // checkpoint) goes out before the sandbox does.
        let due = AnswerDue::new(&shared);
        let spawned = std::thread::Builder::new()
            .name("control-conn".into())
            .spawn(move || {
                if let Err(e) = serve_one(&conn, due) {
                    log::debug!("control connection: {e}");
                }
            });
        if let Err(e) = spawned {
            log::warn!("control connection: {e}");
        }
    }
}

/// Serves one connection's request; `due` is dropped once it is answered.
fn serve_one(conn: &UnixStream, due: AnswerDue) -> Result<(), control::ControlError> {
    let shared = &due.0.clone();
    let (request, fds) = control::recv::<Request>(conn)?;
    let started = *shared.started.lock().unwrap_or_else(|e| e.into_inner());
    let response = match request {
        Request::Start => start(shared),
        Request::Restore { on_demand } => restore(shared, fds, on_demand),
        Request::Wait => Response::Exited {
            status: wait_exit(shared).status,
        },
        Request::Kernel(KernelRequest::Exec(p)) if started => {
            return exec(conn, shared, p, fds, due);
        }
        Request::Kernel(r) if started => kernel(shared, r, fds),
        Request::Kernel(r) => before_start(shared, r),
    };
    control::send(conn, &response, &[])
}

/// Marks the sandbox started; false if it was already.
fn mark_started(shared: &Shared) -> bool {
    let mut s = shared.started.lock().unwrap_or_else(|e| e.into_inner());
    !std::mem::replace(&mut *s, true)
}

fn send_event(shared: &Shared, event: Event) {
    let _ = shared
        .events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(event);
}

fn failed(e: impl Into<ControlFailure>) -> Response {
    Response::Error(e.into())
}

fn start(shared: &Shared) -> Response {
    if !mark_started(shared) {
        return failed(RequestError::AlreadyStarted);
    }
    send_event(shared, Event::Start);
    Response::Ok
}

fn restore(shared: &Shared, mut fds: Vec<OwnedFd>, on_demand: bool) -> Response {
    if fds.len() != 1 {
        return failed(RequestError::Fds {
            request: "restore",
            needs: "the image's fd",
            got: fds.len(),
        });
    }
    if !mark_started(shared) {
        return failed(RequestError::AlreadyStarted);
    }
    send_event(
        shared,
        Event::Restore(std::fs::File::from(fds.remove(0)), on_demand),
    );
    restored(shared)
}

/// A kernel request before the guest runs: the sandbox answers what it can itself.
fn before_start(shared: &Shared, request: KernelRequest) -> Response {
    match request {
        // A signal that would end the init ends the sandbox as if it had.
        KernelRequest::Signal { signo, all: _ } => {
            if !harmless(signo) {
                send_event(shared, Event::Kill(signo));
            }
            Response::Ok
        }
        KernelRequest::HostPids => Response::HostPids(shared.pids.clone()),
        _ => failed(RequestError::NotRunning),
    }
}

/// Passes a request on to the running kernel.
fn kernel(shared: &Shared, request: KernelRequest, fds: Vec<OwnedFd>) -> Response {
    match request {
        // The kernel's whole state is for the sentry's own tests, not for runsc.
        KernelRequest::SaveState => failed(RequestError::NotServed(request.name())),
        KernelRequest::HostPids => match call(shared, KernelRequest::HostPids, fds) {
            Response::HostPids(mut pids) => {
                let me = std::process::id() as i32;
                if !pids.contains(&me) {
                    pids.insert(0, me);
                }
                Response::HostPids(pids)
            }
            other => other,
        },
        request => call(shared, request, fds),
    }
}

/// The kernel's answer; once it has ended, the guest is not running.
fn call(shared: &Shared, request: KernelRequest, fds: Vec<OwnedFd>) -> Response {
    shared
        .handle
        .call(request, fds)
        .unwrap_or_else(|| failed(RequestError::NotRunning))
}

/// Waits until the guest has ended; returns how.
fn wait_exit(shared: &Shared) -> ExitRecord {
    let mut exit = shared.exit.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(rec) = &*exit {
            return rec.clone();
        }
        exit = shared.exited.wait(exit).unwrap_or_else(|e| e.into_inner());
    }
}

/// The answer to `Restore`, once the main thread has been told to restore: `Ok` as soon
/// as the restored kernel serves requests (its event loop only runs once the whole guest
/// is rebuilt), or the error that ended the sandbox.
fn restored(shared: &Shared) -> Response {
    if shared
        .handle
        .call(KernelRequest::HostPids, Vec::new())
        .is_some()
    {
        return Response::Ok;
    }
    // The kernel went away without answering: either the restore failed, or the restored
    // guest ended at once (which is a successful restore).
    match wait_exit(shared).error {
        None => Response::Ok,
        Some(e) => failed(e),
    }
}

/// Starts a guest process for an exec proxy, then keeps the connection: when the proxy
/// goes away first, the guest process is killed.
fn exec(
    conn: &UnixStream,
    shared: &Arc<Shared>,
    p: ExecProcess,
    fds: Vec<OwnedFd>,
    due: AnswerDue,
) -> Result<(), control::ControlError> {
    let response = call(shared, KernelRequest::Exec(p), fds);
    control::send(conn, &response, &[])?;
    // The proxy may keep the connection after the sandbox has ended: the exit status
    // below is the answer still due.
    drop(due);
    let Response::Started { pid } = response else {
        return Ok(());
    };
    // The guest process's exit status goes back to the proxy when it comes.
    let exited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Ok(out) = conn.try_clone() {
        let handle = shared.handle.clone();
        let exited = exited.clone();
        let due = AnswerDue::new(shared);
        std::thread::spawn(move || {
            let _due = due;
            let response = handle
                .call(KernelRequest::WaitPid { pid }, Vec::new())
                .unwrap_or_else(|| failed(RequestError::NotRunning));
            exited.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = control::send(&out, &response, &[]);
        });
    }
    // The proxy sends nothing more: end-of-file means it is gone, and the guest process
    // goes with it (the shim kills an exec by killing its proxy).
    let mut buf = [0u8; 64];
    loop {
        match std::io::Read::read(&mut &*conn, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    if !exited.load(std::sync::atomic::Ordering::SeqCst) {
        log::debug!("exec proxy of guest process {pid} went away: killing it");
        let _ = shared.handle.call(
            KernelRequest::SignalProcess {
                pid,
                signo: libc::SIGKILL,
            },
            Vec::new(),
        );
    }
    Ok(())
}
