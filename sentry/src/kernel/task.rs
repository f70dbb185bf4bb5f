//! Tasks (guest threads) and thread groups (guest processes).

use std::cell::RefCell;
use std::rc::Rc;

use crate::fs::file::{FdTable, FileRef};
use crate::kernel::sched::Sched;
use crate::kernel::signal::{SigAction, SigInfo, SigSet};
use crate::platform::Regs;
pub(crate) use crate::wait::{WaitKey, WaitKeyState};

/// Where a task is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RunState {
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
    /// In a ptrace-stop, until its tracer resumes it (`kernel::ptrace`).
    TraceStopped,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Park {
    pub keys: Vec<WaitKey>,
    /// Absolute deadline on the monotonic clock, in ns.
    pub deadline: Option<u64>,
}

/// Filesystem context (CLONE_FS shares it).
#[derive(Debug, Clone)]
pub(crate) struct FsContext {
    /// Guest absolute path of the working directory.
    pub cwd: String,
    pub umask: u32,
}

/// Signal handlers (CLONE_SIGHAND shares them).
pub(crate) type SigHand = Rc<RefCell<[SigAction; 64]>>;

pub(crate) struct Task {
    pub tid: i32,
    pub tgid: i32,
    pub host_tid: i32,
    pub mm: u64,
    pub regs: Regs,
    pub state: RunState,
    pub files: Rc<RefCell<FdTable>>,
    pub fs: Rc<RefCell<FsContext>>,
    pub sighand: SigHand,
    /// Its UTS namespace (saved by the kernel: `kernel::uts`).
    pub uts: crate::kernel::uts::UtsRef,
    /// Its network namespace (saved by inode number; the kernel saves the namespaces).
    pub net: crate::net::ns::NetRef,
    /// Its mount namespace's inode number (`fs::mounts`).
    pub mnt: u64,
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
    /// The open files (by fd) the call being served has looked up: a parked call goes on
    /// with them when re-run, as a blocked Linux call holds its file — a read blocked on a
    /// pipe still reads what is written after another thread closed the fd.
    pub sys_files: RefCell<Vec<(u64, FileRef)>>,
    /// We asked the host thread to stop (an `Interrupted` event is due).
    pub interrupting: bool,
    /// The address of an access fault this task was resumed to retry once instead of
    /// having it delivered (see `Kernel::handle_event`): a fault queued before another thread
    /// opened the memory it touched.
    pub fault_retry: Option<u64>,
    /// The task is exiting: destroy it when it next stops.
    pub dying: bool,
    /// vfork parent to release on exec or exit.
    pub vfork_parent: Option<i32>,
    pub comm: String,
    /// CPU time used on the host threads that ran it before the current one (exec and
    /// restore give it a new one), in ns.
    pub cpu_base: u64,
    /// Its scheduling attributes.
    pub sched: Sched,
    /// Its credentials: a thread's own, as in Linux (a raw setuid changes only the
    /// calling thread's; glibc's wrappers make every thread call it). Its process's
    /// `creds` are its leader's (what others see of the process).
    pub creds: crate::creds::Creds,
    /// The identity of its credentials, as Linux's `struct cred` has one (its address):
    /// a thread shares its creator's; a fork, an execve and a call that commits new
    /// credentials (`SysCtx::commit_creds`) give a new one. An open file remembers the
    /// one it was opened with ([`Opener`](crate::fs::file::Opener)).
    pub creds_id: u64,
    /// Its I/O accounting (/proc/PID/task/TID/io).
    pub io: IoAcct,
}

/// I/O accounting, as /proc/PID/io shows it: bytes the read and write family of calls
/// moved (`rchar`, `wchar`) and how many such calls were made (`syscr`, `syscw`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IoAcct {
    pub rchar: u64,
    pub wchar: u64,
    pub syscr: u64,
    pub syscw: u64,
}

impl IoAcct {
    pub(crate) fn add(&mut self, o: &IoAcct) {
        self.rchar = self.rchar.saturating_add(o.rchar);
        self.wchar = self.wchar.saturating_add(o.wchar);
        self.syscr = self.syscr.saturating_add(o.syscr);
        self.syscw = self.syscw.saturating_add(o.syscw);
    }

    /// Counts system call `nr` that returned `ret`, as Linux's vfs_read and vfs_write
    /// do: a call of the read family (of the write family) counts in `syscr` (`syscw`)
    /// unless its fd was bad, the bytes it moved in `rchar` (`wchar`); sendfile and
    /// copy_file_range count on both sides.
    pub(crate) fn account(&mut self, nr: u64, ret: i64) {
        let (read, write) = match nr as i64 {
            libc::SYS_read
            | libc::SYS_pread64
            | libc::SYS_readv
            | libc::SYS_preadv
            | libc::SYS_preadv2 => (true, false),
            libc::SYS_write
            | libc::SYS_pwrite64
            | libc::SYS_writev
            | libc::SYS_pwritev
            | libc::SYS_pwritev2 => (false, true),
            libc::SYS_sendfile | libc::SYS_copy_file_range => (true, true),
            _ => return,
        };
        if ret == -(libc::EBADF as i64) {
            return;
        }
        let moved = ret.max(0) as u64;
        if read {
            self.syscr = self.syscr.saturating_add(1);
            self.rchar = self.rchar.saturating_add(moved);
        }
        if write {
            self.syscw = self.syscw.saturating_add(1);
            self.wchar = self.wchar.saturating_add(moved);
        }
    }
}

/// Exit or stop status of a thread group, as wait reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitStatus {
    Exited(i32),
    Signaled(i32, bool),
}

impl WaitStatus {
    /// The raw wait status word.
    pub(crate) fn raw(self) -> i32 {
        match self {
            WaitStatus::Exited(c) => (c & 0xff) << 8,
            WaitStatus::Signaled(s, core) => s | if core { 0x80 } else { 0 },
        }
    }

    /// The code a shell would show: exit code or 128 + signal.
    pub(crate) fn shell_code(self) -> i32 {
        match self {
            WaitStatus::Exited(c) => c & 0xff,
            WaitStatus::Signaled(s, _) => 128 + s,
        }
    }
}

pub(crate) struct ThreadGroup {
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
    /// ITIMER_VIRTUAL and ITIMER_PROF: (next expiry on its CPU time, interval), in ns.
    pub itimer_cpu: [Option<(u64, u64)>; 2],
    /// CPU time used by its threads that have exited, in ns.
    pub cpu_exited: u64,
    /// The I/O accounting of its threads that have exited.
    pub io_exited: IoAcct,
    /// CPU time used by its children it has reaped with wait (with what their own
    /// reaped children used), in ns: getrusage's RUSAGE_CHILDREN.
    pub cpu_children: u64,
    /// It has called execve since fork (setpgid on it by its parent is then EACCES).
    pub did_exec: bool,
    /// Its POSIX timers (timer_create).
    pub posix_timers: crate::kernel::posix_timer::PosixTimers,
    pub rlimits: Vec<(u64, u64)>,
    pub creds: crate::creds::Creds,
    pub exe: String,
    /// When it started, on the guest monotonic clock.
    pub start_ns: u64,
    /// What prctl set for it and who made it (plain data, saved as it is).
    pub prctl: ProcessPrctl,
}

/// A process's prctl settings, and the thread that created it (whose exit sends
/// `pdeathsig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ProcessPrctl {
    /// PR_SET_CHILD_SUBREAPER: orphans below it are reparented to it, not to init.
    pub subreaper: bool,
    /// PR_SET_DUMPABLE 0 (execve sets it back).
    pub not_dumpable: bool,
    /// PR_SET_PDEATHSIG: the signal it gets when `parent_tid` exits (0: none).
    pub pdeathsig: i32,
    /// The thread that created it, or the one that adopted it since.
    pub parent_tid: i32,
}

// ---- saved form ----
//
// Each object's `save` destructures it, so a field added to the live struct does not
// compile until it is saved or named here as not saved, with the reason.

use crate::creds::CredsState;
use crate::kernel::posix_timer::{PosixTimers, PosixTimersState};
use crate::kernel::signal::{SigActionState, SigInfoState};

/// The saved form of where a task is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RunStateState {
    Running,
    Stopped,
    /// Parked in a system call: what it waited for (for inspection: restore serves the
    /// call again, and it parks on fresh keys) and its deadline.
    Parked {
        keys: Vec<WaitKeyState>,
        deadline: Option<u64>,
    },
    GroupStopped,
    VforkWait(i32),
    /// In a ptrace-stop: stays there after restore, for its tracer to resume.
    TraceStopped,
}

impl RunState {
    pub(crate) fn save(&self) -> RunStateState {
        match self {
            RunState::Running => RunStateState::Running,
            RunState::Stopped => RunStateState::Stopped,
            RunState::Parked(Park { keys, deadline }) => RunStateState::Parked {
                keys: keys.iter().map(WaitKey::save).collect(),
                deadline: *deadline,
            },
            RunState::GroupStopped => RunStateState::GroupStopped,
            RunState::VforkWait(c) => RunStateState::VforkWait(*c),
            RunState::TraceStopped => RunStateState::TraceStopped,
        }
    }

    /// The state a restored task starts in: a thread that ran or was being served is
    /// stopped (it runs on); a parked call keeps its deadline and will be served again,
    /// parking on fresh keys (the saved ones are not trusted or reused).
    pub(crate) fn restore(s: &RunStateState) -> RunState {
        match s {
            RunStateState::Running | RunStateState::Stopped => RunState::Stopped,
            RunStateState::Parked { deadline, .. } => RunState::Parked(Park {
                keys: Vec::new(),
                deadline: *deadline,
            }),
            RunStateState::GroupStopped => RunState::GroupStopped,
            RunStateState::VforkWait(c) => RunState::VforkWait(*c),
            RunStateState::TraceStopped => RunState::TraceStopped,
        }
    }
}

/// The saved form of an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WaitStatusState {
    Exited(i32),
    /// (signal, core dumped)
    Signaled(i32, bool),
}

impl WaitStatus {
    pub(crate) fn save(&self) -> WaitStatusState {
        match *self {
            WaitStatus::Exited(c) => WaitStatusState::Exited(c),
            WaitStatus::Signaled(s, c) => WaitStatusState::Signaled(s, c),
        }
    }

    pub(crate) fn restore(s: &WaitStatusState) -> WaitStatus {
        match *s {
            WaitStatusState::Exited(c) => WaitStatus::Exited(c),
            WaitStatusState::Signaled(s, c) => WaitStatus::Signaled(s, c),
        }
    }
}

/// The saved form of a filesystem context (shared by CLONE_FS, so saved once by id).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FsState {
    pub id: u64,
    pub cwd: String,
    pub umask: u32,
}

impl FsContext {
    pub(crate) fn save(&self, id: u64) -> FsState {
        let FsContext { cwd, umask } = self;
        FsState {
            id,
            cwd: cwd.clone(),
            umask: *umask,
        }
    }

    pub(crate) fn restore(s: &FsState) -> FsContext {
        FsContext {
            cwd: s.cwd.clone(),
            umask: s.umask & 0o777,
        }
    }
}

/// The saved form of a signal handler table (shared by CLONE_SIGHAND, saved once by id).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SigHandState {
    pub id: u64,
    /// 64 actions, for signals 1..=64.
    pub actions: Vec<SigActionState>,
}

pub(crate) fn save_sighand(h: &[SigAction; 64], id: u64) -> SigHandState {
    SigHandState {
        id,
        actions: h.iter().map(SigAction::save).collect(),
    }
}

/// A checked table (`validate` refuses one without 64 actions).
pub(crate) fn restore_sighand(s: &SigHandState) -> [SigAction; 64] {
    let mut acts = [SigAction::default(); 64];
    for (a, st) in acts.iter_mut().zip(&s.actions) {
        *a = SigAction::restore(st);
    }
    acts
}

/// The x86-64 user registers in `user_regs_struct` order.
pub type RegsState = [u64; 27];

pub(crate) fn regs_to_state(r: &Regs) -> RegsState {
    [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
        r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base, r.gs_base, r.ds,
        r.es, r.fs, r.gs,
    ]
}

/// Loads saved registers into `r` (a fresh thread's): segment selectors stay the host's;
/// only general registers, flags, stack and TLS bases come back.
pub(crate) fn regs_from_state(s: &RegsState, r: &mut Regs) {
    [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
        r.rsi, r.rdi, r.orig_rax, r.rip,
    ] = s[..17].try_into().expect("17");
    r.eflags = s[18];
    r.rsp = s[19];
    r.fs_base = s[21];
    r.gs_base = s[22];
}

/// The saved form of a task (a guest thread). Shared parts are named by id.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskState {
    pub tid: i32,
    pub tgid: i32,
    /// Address space id.
    pub mm: u64,
    pub regs: RegsState,
    /// The whole XSAVE area.
    pub fpu: Vec<u8>,
    pub state: RunStateState,
    /// Fd table, fs context and signal table ids.
    pub files: u64,
    pub fs: u64,
    pub sighand: u64,
    pub sigmask: SigSet,
    pub saved_mask: Option<SigSet>,
    pub pending: Vec<SigInfoState>,
    /// (sp, flags, size)
    pub altstack: (u64, i32, u64),
    pub clear_child_tid: u64,
    pub robust_list: u64,
    pub sys_deadline: Option<u64>,
    pub sys_progress: u64,
    pub vfork_parent: Option<i32>,
    pub comm: String,
    /// CPU time it has used, in ns.
    pub cpu_ns: u64,
    pub sched: Sched,
    /// The thread's own credentials.
    pub creds: CredsState,
    /// Their identity (`Task::creds_id`).
    pub creds_id: u64,
    /// Its I/O accounting.
    pub io: IoAcct,
    /// Its mount namespace's inode number.
    pub mnt: u64,
    /// Its network namespace's inode number (one of `KernelState::net_namespaces`).
    pub net: u64,
}

/// Ids of the shared objects a task uses, as the saved state names them.
pub(crate) struct TaskRefs {
    pub files: u64,
    pub fs: u64,
    pub sighand: u64,
}

/// What a restored task is made of besides its saved form.
pub(crate) struct TaskParts {
    pub host_tid: i32,
    pub regs: Regs,
    pub files: Rc<RefCell<FdTable>>,
    pub fs: Rc<RefCell<FsContext>>,
    pub sighand: SigHand,
    pub uts: crate::kernel::uts::UtsRef,
    pub net: crate::net::ns::NetRef,
}

impl Task {
    /// The system call being served has ended (returned, or interrupted): what it kept
    /// across re-runs goes.
    pub(crate) fn end_call(&mut self) {
        self.sys_deadline = None;
        self.sys_progress = 0;
        self.sys_files.get_mut().clear();
    }

    /// The saved form, with `fpu` read from the platform and `refs` the ids of its shared
    /// parts.
    /// `cpu_ns` the CPU time it has used.
    pub(crate) fn save(&self, refs: TaskRefs, fpu: Vec<u8>, cpu_ns: u64) -> TaskState {
        let Task {
            tid,
            tgid,
            host_tid: _, // not saved: a new host thread runs it after restore
            mm,
            regs,
            state,
            files: _, // saved by id (refs)
            fs: _,
            sighand: _,
            uts: _, // saved by the kernel with its namespace (kernel::uts)
            net,
            mnt,
            sigmask,
            saved_mask,
            pending,
            altstack,
            clear_child_tid,
            robust_list,
            sys_deadline,
            sys_progress,
            // Not saved: a parked call re-run after a restore looks its fds up again (one
            // whose fd was closed while it waited then fails with EBADF).
            sys_files: _,
            interrupting: _, // not saved: the world is stopped, no interrupt is due
            fault_retry: _,  // not saved: a retried fault faults again if it was real
            dying: _,        // not saved: a dying task is gone before the state is taken
            vfork_parent,
            comm,
            cpu_base: _, // saved as the whole of what it used (`cpu_ns`)
            sched,
            creds,
            creds_id,
            io,
        } = self;
        TaskState {
            tid: *tid,
            tgid: *tgid,
            mm: *mm,
            regs: regs_to_state(regs),
            fpu,
            state: state.save(),
            files: refs.files,
            fs: refs.fs,
            sighand: refs.sighand,
            sigmask: *sigmask,
            saved_mask: *saved_mask,
            pending: pending.iter().map(SigInfo::save).collect(),
            altstack: *altstack,
            clear_child_tid: *clear_child_tid,
            robust_list: *robust_list,
            sys_deadline: *sys_deadline,
            sys_progress: *sys_progress as u64,
            vfork_parent: *vfork_parent,
            comm: comm.clone(),
            cpu_ns,
            sched: *sched,
            creds: CredsState::save(creds),
            creds_id: *creds_id,
            io: *io,
            mnt: *mnt,
            net: net.ino,
        }
    }

    pub(crate) fn restore(s: &TaskState, parts: TaskParts) -> Task {
        let mut regs = parts.regs;
        regs_from_state(&s.regs, &mut regs);
        Task {
            tid: s.tid,
            tgid: s.tgid,
            host_tid: parts.host_tid,
            mm: s.mm,
            regs,
            state: RunState::restore(&s.state),
            files: parts.files,
            fs: parts.fs,
            sighand: parts.sighand,
            uts: parts.uts,
            net: parts.net,
            mnt: s.mnt,
            sigmask: s.sigmask & !crate::kernel::signal::UNBLOCKABLE,
            saved_mask: s.saved_mask,
            pending: s.pending.iter().map(SigInfo::restore).collect(),
            altstack: s.altstack,
            clear_child_tid: s.clear_child_tid,
            robust_list: s.robust_list,
            sys_deadline: s.sys_deadline,
            sys_progress: s.sys_progress as usize,
            sys_files: Default::default(),
            interrupting: false,
            fault_retry: None,
            dying: false,
            vfork_parent: s.vfork_parent,
            comm: s.comm.clone(),
            cpu_base: s.cpu_ns,
            sched: s.sched,
            creds: s.creds.restore(),
            creds_id: s.creds_id,
            io: s.io,
        }
    }
}

/// The saved form of a thread group (a guest process).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThreadGroupState {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub threads: Vec<i32>,
    pub children: Vec<i32>,
    pub exit_signal: i32,
    pub zombie: Option<WaitStatusState>,
    pub exiting: Option<WaitStatusState>,
    pub shared_pending: Vec<SigInfoState>,
    pub stopped: Option<(i32, bool)>,
    pub continued: bool,
    pub itimer_real: Option<(u64, u64)>,
    /// ITIMER_VIRTUAL and ITIMER_PROF on its CPU time (`cpu_ns` of its tasks plus
    /// `cpu_exited`).
    pub itimer_cpu: [Option<(u64, u64)>; 2],
    pub cpu_exited: u64,
    /// I/O accounting of its threads that have exited.
    pub io_exited: IoAcct,
    /// CPU time of its reaped children (RUSAGE_CHILDREN).
    pub cpu_children: u64,
    pub did_exec: bool,
    pub posix_timers: PosixTimersState,
    pub rlimits: Vec<(u64, u64)>,
    pub creds: CredsState,
    pub exe: String,
    pub start_ns: u64,
    pub prctl: ProcessPrctl,
}

impl ThreadGroup {
    pub(crate) fn save(&self) -> ThreadGroupState {
        let ThreadGroup {
            pid,
            ppid,
            pgid,
            sid,
            threads,
            children,
            exit_signal,
            zombie,
            exiting,
            shared_pending,
            stopped,
            continued,
            itimer_real,
            itimer_cpu,
            cpu_exited,
            io_exited,
            cpu_children,
            did_exec,
            posix_timers,
            rlimits,
            creds,
            exe,
            start_ns,
            prctl,
        } = self;
        ThreadGroupState {
            pid: *pid,
            ppid: *ppid,
            pgid: *pgid,
            sid: *sid,
            threads: threads.clone(),
            children: children.clone(),
            exit_signal: *exit_signal,
            zombie: zombie.as_ref().map(WaitStatus::save),
            exiting: exiting.as_ref().map(WaitStatus::save),
            shared_pending: shared_pending.iter().map(SigInfo::save).collect(),
            stopped: *stopped,
            continued: *continued,
            itimer_real: *itimer_real,
            itimer_cpu: *itimer_cpu,
            cpu_exited: *cpu_exited,
            io_exited: *io_exited,
            cpu_children: *cpu_children,
            did_exec: *did_exec,
            posix_timers: posix_timers.save(),
            rlimits: rlimits.clone(),
            creds: CredsState::save(creds),
            exe: exe.clone(),
            start_ns: *start_ns,
            prctl: *prctl,
        }
    }

    pub(crate) fn restore(s: &ThreadGroupState) -> ThreadGroup {
        ThreadGroup {
            pid: s.pid,
            ppid: s.ppid,
            pgid: s.pgid,
            sid: s.sid,
            threads: s.threads.clone(),
            children: s.children.clone(),
            exit_signal: s.exit_signal,
            zombie: s.zombie.as_ref().map(WaitStatus::restore),
            exiting: s.exiting.as_ref().map(WaitStatus::restore),
            shared_pending: s.shared_pending.iter().map(SigInfo::restore).collect(),
            stopped: s.stopped,
            continued: s.continued,
            itimer_real: s.itimer_real,
            itimer_cpu: s.itimer_cpu,
            cpu_exited: s.cpu_exited,
            io_exited: s.io_exited,
            cpu_children: s.cpu_children,
            did_exec: s.did_exec,
            posix_timers: PosixTimers::restore(&s.posix_timers),
            rlimits: s.rlimits.clone(),
            creds: s.creds.restore(),
            exe: s.exe.clone(),
            start_ns: s.start_ns,
            prctl: s.prctl,
        }
    }
}
