//! The control path into a running kernel: requests from the runtime (signals, pause,
//! exec, checkpoint…), answered in order by the kernel's event loop.
//!
//! `Request` and `Response` are the one vocabulary of that path. `boot` carries them over
//! the sandbox's control socket (JSON, inside its own request type, which wraps
//! `Request` beside the sandbox's lifecycle requests) and hands them to the kernel through
//! the in-process channel below. A failure is a typed `Error` (one enum per area, sources
//! chained); across the socket it travels as data, its kind and the message of every
//! level of its source chain (`RemoteError`), so the runtime prints the same chain and can
//! match on the kind.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::mpsc;

use nix::sys::eventfd::{EfdFlags, EventFd};

mod error;
mod remote;

pub use error::{CheckpointError, Error, ErrorKind, ExecError, RequestError, SignalError};
pub use remote::RemoteError;

pub use crate::fs::ghost::DEFAULT_GHOST_LIMIT;

/// A request to the running kernel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Request {
    /// Send a signal to the init process (`all: false`) or to every guest process.
    Signal {
        signo: i32,
        all: bool,
    },
    /// Stop every guest thread until `Resume`.
    Pause,
    Resume,
    /// Stop the world, write the checkpoint image into the file passed alongside the
    /// request (its only fd), then resume or end the sandbox. `image` is the name the
    /// image is known by (the sandbox cannot reach it), for messages. A file deleted
    /// while open brings at most `ghost_limit` bytes of data into the image; the state and
    /// memory are stored as `compression` says.
    Checkpoint {
        leave_running: bool,
        image: String,
        #[serde(default = "default_ghost_limit")]
        ghost_limit: u64,
        #[serde(default)]
        compression: statefile::Compression,
    },
    /// Start a new guest process in the running sandbox. Its stdio are the 3 host fds
    /// passed alongside the request.
    Exec(ExecProcess),
    /// Host pids of the sandbox (the sentry and its stub processes).
    HostPids,
    /// Stop the world and return the kernel's saved form (for inspection and tests).
    SaveState,
    /// Send a signal to one guest process.
    SignalProcess {
        pid: i32,
        signo: i32,
    },
    /// Wait until guest process `pid` (one started by `Exec`) exits; answered with `Exited`.
    WaitPid {
        pid: i32,
    },
}

fn default_ghost_limit() -> u64 {
    DEFAULT_GHOST_LIMIT
}

impl Request {
    /// The request's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Signal { .. } => "signal",
            Request::Pause => "pause",
            Request::Resume => "resume",
            Request::Checkpoint { .. } => "checkpoint",
            Request::Exec(_) => "exec",
            Request::HostPids => "host-pids",
            Request::SaveState => "save-state",
            Request::SignalProcess { .. } => "signal-process",
            Request::WaitPid { .. } => "wait-pid",
        }
    }
}

/// A process to start in a running sandbox (the runtime-spec `process`, resolved).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecProcess {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub groups: Vec<u32>,
    /// `None`: Linux's default for the uid.
    #[serde(default)]
    pub capabilities: Option<crate::creds::CapSets>,
    #[serde(default)]
    pub no_new_privileges: bool,
}

/// What a checkpoint took, the figures CRIU writes in its `stats-dump` (times in
/// microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CheckpointStats {
    /// From the request to every guest thread stopped (0 for a paused container).
    pub freezing_us: u64,
    /// From every guest thread stopped to its state captured: the guest runs again (or
    /// ends) right after.
    pub frozen_us: u64,
    /// Capturing the kernel's state (deleted files' data included) and the memory file's
    /// copy-on-write snapshot (guest memory is in the sentry's memory file already: there
    /// are no pages to extract).
    pub memdump_us: u64,
    /// Writing the image file from the capture, fsync'd, while the guest runs on.
    pub memwrite_us: u64,
    /// Pages of guest memory allocated, all looked at.
    pub pages_scanned: u64,
    /// Pages written (the others are zero and skipped).
    pub pages_written: u64,
}

/// The kernel's answer (and the sandbox's, over the control socket).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Response {
    Ok,
    /// A checkpoint is written: what it took.
    Checkpointed(CheckpointStats),
    /// `Exec` started guest process `pid`.
    Started {
        pid: i32,
    },
    HostPids(Vec<i32>),
    /// The kernel's saved state as the image holds it (`statefile::codec` bytes of
    /// `kernel::state::KernelState`), for inspection and tests.
    State(Vec<u8>),
    /// A waited-for process exited: its exit code, or 128 + signal.
    Exited {
        status: i32,
    },
    /// The request failed.
    Error(Error),
}

impl Response {
    /// `Err` for an `Error` answer, else the answer.
    pub fn into_result(self) -> Result<Response, Error> {
        match self {
            Response::Error(e) => Err(e),
            r => Ok(r),
        }
    }
}

impl<E: Into<Error>> From<Result<Response, E>> for Response {
    fn from(r: Result<Response, E>) -> Response {
        r.unwrap_or_else(|e| Response::Error(e.into()))
    }
}

/// A request together with the host fds that travel with it (an `Exec`'s stdio, a
/// `Checkpoint`'s image file).
pub struct Envelope {
    pub request: Request,
    pub fds: Vec<OwnedFd>,
    pub reply: mpsc::Sender<Response>,
}

/// The sending side, held by whoever serves the control socket (another thread).
#[derive(Clone)]
pub struct ControlHandle {
    tx: mpsc::Sender<Envelope>,
    wake: std::sync::Arc<EventFd>,
    last: std::sync::Arc<LastExits>,
}

/// What `Exec`'d processes ended with, left by the kernel as it ends: a `WaitPid` that
/// reaches the kernel too late (the container's init ended first, taking the kernel
/// with it) is answered from here.
#[derive(Default)]
struct LastExits(std::sync::Mutex<std::collections::BTreeMap<i32, i32>>);

/// The receiving side, owned by the kernel's event loop: its fd becomes readable when a
/// request waits.
pub struct ControlReceiver {
    rx: mpsc::Receiver<Envelope>,
    wake: std::sync::Arc<EventFd>,
    last: std::sync::Arc<LastExits>,
}

/// Makes a connected control handle and receiver.
pub fn channel() -> std::io::Result<(ControlHandle, ControlReceiver)> {
    let wake = std::sync::Arc::new(
        EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(std::io::Error::from)?,
    );
    let (tx, rx) = mpsc::channel();
    let last = std::sync::Arc::new(LastExits::default());
    Ok((
        ControlHandle {
            tx,
            wake: wake.clone(),
            last: last.clone(),
        },
        ControlReceiver { rx, wake, last },
    ))
}

impl ControlHandle {
    /// Sends a request and waits for the kernel's answer. Returns `None` when the kernel
    /// has ended.
    pub fn call(&self, request: Request, fds: Vec<OwnedFd>) -> Option<Response> {
        let late = match request {
            Request::WaitPid { pid } => Some(pid),
            _ => None,
        };
        let (reply, answer) = mpsc::channel();
        let answered = self
            .tx
            .send(Envelope {
                request,
                fds,
                reply,
            })
            .ok()
            .and_then(|()| self.wake.write(1).ok())
            .and_then(|_| answer.recv().ok());
        // The kernel records its last exits before it drops the receiver (and with it
        // every unanswered request), so a wait it never answered finds them here.
        answered.or_else(|| {
            let last = self.last.0.lock().unwrap_or_else(|e| e.into_inner());
            late.and_then(|pid| last.get(&pid))
                .map(|&status| Response::Exited { status })
        })
    }
}

impl ControlReceiver {
    /// The fd the event loop polls.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    pub fn raw_fd(&self) -> i32 {
        self.wake.as_fd().as_raw_fd()
    }

    /// What another thread wakes the event loop with (a checkpoint's writer, once its
    /// image is on disk and answered).
    pub(crate) fn waker(&self) -> std::sync::Arc<EventFd> {
        self.wake.clone()
    }

    /// Leaves the exit statuses (`pid`, shell code) of `Exec`'d processes that no
    /// `WaitPid` has collected, for waits that arrive after the kernel ended.
    pub(crate) fn leave_last_exits(&self, exits: impl IntoIterator<Item = (i32, i32)>) {
        self.last
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(exits);
    }

    /// Takes every waiting request.
    pub fn drain(&self) -> Vec<Envelope> {
        let _ = self.wake.read();
        self.rx.try_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_that_comes_after_the_kernel_ended_gets_the_status_it_left() {
        let (handle, receiver) = channel().unwrap();
        let waiter = {
            let handle = handle.clone();
            std::thread::spawn(move || handle.call(Request::WaitPid { pid: 7 }, Vec::new()))
        };
        // The kernel ends with the wait still queued (never answered), as when the
        // container's init exits first.
        loop {
            let queued = receiver.drain();
            if !queued.is_empty() {
                receiver.leave_last_exits([(7, 3), (9, 137)]);
                break;
            }
            std::thread::yield_now();
        }
        drop(receiver);
        assert!(matches!(
            waiter.join().unwrap(),
            Some(Response::Exited { status: 3 })
        ));
        // A wait sent after the end, too; a process the kernel left nothing for, and
        // any other request, get no answer.
        assert!(matches!(
            handle.call(Request::WaitPid { pid: 9 }, Vec::new()),
            Some(Response::Exited { status: 137 })
        ));
        assert!(handle
            .call(Request::WaitPid { pid: 8 }, Vec::new())
            .is_none());
        assert!(handle.call(Request::HostPids, Vec::new()).is_none());
    }
}
