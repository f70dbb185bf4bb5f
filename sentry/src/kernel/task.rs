//! Tasks (guest threads) and thread groups (guest processes).

use std::cell::RefCell;
use std::rc::Rc;

use crate::fs::file::FdTable;
use crate::kernel::signal::{SigAction, SigInfo, SigSet};
use crate::platform::Regs;

/// Where a task is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RunState {
    /// Running guest code on its host thread.
    Running,
    /// Stopped by us and not yet resumed (being served, or waiting to be resumed).
    Stopped,
    /// Parked in a blocking system call (a continuation: its registers hold the call).
    Parked(Park),
    /// Stopped by a stop signal (group stop) or a pause of the whole sandbox.
    GroupStopped,
    /// Waiting for a vfork child to exec or exit.
    VforkWait(i32),
}

/// What a parked system call waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum WaitKey {
    /// A kernel object (pipe end, etc.), by id.
    Object(u64),
    /// A child of this thread group changed state.
    Child(i32),
    /// A futex.
    Futex(crate::kernel::futex::FutexKey),
    /// A host fd becoming readable (POLLIN) or writable (POLLOUT).
    HostFd(i32, i16),
    /// Only a signal or the deadline ends this wait.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Park {
    pub keys: Vec<WaitKey>,
    /// Absolute deadline on the monotonic clock, in ns.
    pub deadline: Option<u64>,
}

/// Filesystem context (CLONE_FS shares it).
#[derive(Debug, Clone)]
pub struct FsContext {
    /// Guest absolute path of the working directory.
    pub cwd: String,
    pub umask: u32,
}

/// Signal handlers (CLONE_SIGHAND shares them).
pub type SigHand = Rc<RefCell<[SigAction; 64]>>;

pub struct Task {
    pub tid: i32,
    pub tgid: i32,
    pub host_tid: i32,
    pub mm: u64,
    pub regs: Regs,
    pub state: RunState,
    pub files: Rc<RefCell<FdTable>>,
    pub fs: Rc<RefCell<FsContext>>,
    pub sighand: SigHand,
    pub sigmask: SigSet,
    /// Mask to restore after rt_sigsuspend / pselect / ppoll.
    pub saved_mask: Option<SigSet>,
    pub pending: Vec<SigInfo>,
    pub altstack: (u64, i32, u64),
    pub clear_child_tid: u64,
    pub robust_list: u64,
    /// The deadline of the system call being served, kept across re-runs of a parked call.
    pub sys_deadline: Option<u64>,
    /// Bytes already transferred by a parked write.
    pub sys_progress: usize,
    /// We asked the host thread to stop (an `Interrupted` event is due).
    pub interrupting: bool,
    /// The task is exiting: destroy it when it next stops.
    pub dying: bool,
    /// vfork parent to release on exec or exit.
    pub vfork_parent: Option<i32>,
    pub comm: String,
}

/// Exit or stop status of a thread group, as wait reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WaitStatus {
    Exited(i32),
    Signaled(i32, bool),
}

impl WaitStatus {
    /// The raw wait status word.
    pub fn raw(self) -> i32 {
        match self {
            WaitStatus::Exited(c) => (c & 0xff) << 8,
            WaitStatus::Signaled(s, core) => s | if core { 0x80 } else { 0 },
        }
    }

    /// The code a shell would show: exit code or 128 + signal.
    pub fn shell_code(self) -> i32 {
        match self {
            WaitStatus::Exited(c) => c & 0xff,
            WaitStatus::Signaled(s, _) => 128 + s,
        }
    }
}

pub struct ThreadGroup {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub threads: Vec<i32>,
    pub children: Vec<i32>,
    pub exit_signal: i32,
    /// Set once every thread has exited.
    pub zombie: Option<WaitStatus>,
    /// Exit status chosen by exit_group or a fatal signal, applied as threads die.
    pub exiting: Option<WaitStatus>,
    pub shared_pending: Vec<SigInfo>,
    /// Stopped by a signal: (signo, reported to the parent yet).
    pub stopped: Option<(i32, bool)>,
    /// Continued and not yet reported to the parent.
    pub continued: bool,
    /// ITIMER_REAL: (next expiry ns on the monotonic clock, interval ns).
    pub itimer_real: Option<(u64, u64)>,
    pub rlimits: Vec<(u64, u64)>,
    pub creds: crate::kernel::creds::Creds,
    pub exe: String,
    /// Accumulated CPU times of reaped children (utime, stime) in clock ticks.
    pub start_ns: u64,
}
