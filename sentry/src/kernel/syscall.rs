//! The boundary between the kernel and the system call layer: what a handler decided
//! (`Sys`), the context a handler gets (`SysCtx`: the calling task and the parts of the
//! kernel it may use), and how the kernel reaches the table (`SyscallTable`).

use super::exit::ChildEvent;
use super::process::CloneArgs;
use super::sched::Sched;
use super::signal::{SigAction, SigInfo, SigSet, UNBLOCKABLE};
use super::task::{Park, Task, ThreadGroup, WaitKey};
use super::time::{ts_to_ns, Clocks};
use super::Kernel;
use crate::creds::{Creds, Inode, CAP_DAC_READ_SEARCH};
use std::cell::RefCell;
use std::rc::Rc;

use crate::fs::file::{FdTable, FileRef, IoErr, Opener};
use crate::fs::{Resolved, Vfs};
use crate::mm::{Errno, Mm, MmCtx};
use crate::platform::Regs;
use crate::wait::FutexKey;

/// What a system call handler decided.
pub(crate) enum Sys {
    /// Return this value (or -errno) to the guest.
    Ret(i64),
    /// Park the task until one of the keys is notified or the deadline passes; the call
    /// is then served again from its saved registers.
    Park(super::task::Park),
    /// The handler set the task's registers itself (execve, rt_sigreturn).
    Regs,
    /// The task is gone (exit).
    Gone,
}

/// A failed call's result.
pub(crate) fn err(e: Errno) -> Sys {
    Sys::Ret(-(e as i64))
}

/// How the kernel reaches the system call table. The syscalls layer implements it and the
/// crate root hands it to the kernel, so that the kernel does not depend on the layer that
/// serves calls through it.
pub(crate) trait SyscallTable {
    /// Serves call `nr` in the context `c`.
    fn dispatch(&self, c: &mut SysCtx, nr: u64) -> Sys;
    fn name(&self, nr: u64) -> &'static str;
    /// What a signal handler does to call `nr` when it interrupts it blocked.
    fn restart(&self, nr: u64) -> RestartRule;
    /// Call `nr`, made in the context `c`, was interrupted and fails with EINTR: what it
    /// leaves behind (the time left, for a relative sleep).
    fn interrupted(&self, c: &mut SysCtx, nr: u64);
}

/// What a signal handler does to a call it interrupts while the call is blocked (signal(7)).
/// A call that never blocks is never interrupted, and its rule does not matter. A signal
/// that runs no handler (ignored, or a stop then SIGCONT) leaves the call to go on or restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RestartRule {
    /// Restarted when the handler was installed with SA_RESTART, else EINTR (Linux's
    /// -ERESTARTSYS): read, write, wait4, futex and most blocking calls.
    SaRestart,
    /// EINTR even under SA_RESTART (-ERESTARTNOHAND or -EINTR): poll, select, epoll_wait,
    /// pause, sigsuspend, sigtimedwait, the System V IPC waits, io_getevents. (Sockets with a
    /// receive or send timeout join them when sockets come.)
    Never,
    /// As `Never`, and a relative sleep writes the time left back (-ERESTART_RESTARTBLOCK):
    /// nanosleep, clock_nanosleep.
    TimeLeft,
}

/// The context of one system call: the calling task, the call's arguments, and the kernel
/// services a handler may use. A handler gets this instead of the whole kernel.
pub(crate) struct SysCtx<'k> {
    k: &'k mut Kernel,
    tid: i32,
    args: [u64; 6],
    /// The call changed the task's credentials (`creds_mut`).
    creds_written: bool,
    /// The call commits new credentials if it succeeds (`commit_creds`).
    creds_committed: bool,
}

impl Kernel {
    /// Serves system call `nr` of task `tid` with `args` (rdi, rsi, rdx, r10, r8, r9)
    /// through the table.
    pub(crate) fn dispatch(&mut self, tid: i32, nr: u64, args: [u64; 6]) -> Sys {
        let table = self.table;
        let mut c = SysCtx::new(self, tid, args);
        let r = table.dispatch(&mut c, nr);
        let (written, committed) = (c.creds_written, c.creds_committed);
        if committed && matches!(r, Sys::Ret(v) if v >= 0) {
            let id = self.new_creds_id();
            if let Some(t) = self.tasks.get_mut(&tid) {
                t.creds_id = id;
            }
        }
        if written {
            self.creds_changed(tid);
        }
        self.send_tty_signals();
        r
    }

    /// Tells the table that the call task `tid` is parked in fails with EINTR.
    pub(super) fn interrupted(&mut self, tid: i32, nr: u64) {
        let r = self.tasks[&tid].regs;
        let args = [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9];
        let table = self.table;
        table.interrupted(&mut SysCtx::new(self, tid, args), nr);
    }
}

// ---- the call ----

impl<'k> SysCtx<'k> {
    fn new(k: &'k mut Kernel, tid: i32, args: [u64; 6]) -> Self {
        // Paths walk in the caller's mount namespace.
        if let Some(t) = k.tasks.get(&tid) {
            k.vfs.guest.ns.set(t.mnt);
        }
        SysCtx {
            k,
            tid,
            args,
            creds_written: false,
            creds_committed: false,
        }
    }

    /// The calling task's id.
    #[inline]
    pub(crate) fn tid(&self) -> i32 {
        self.tid
    }

    /// A process's procfs file or directory `f`, made anew as the caller sees it now
    /// before a read at `at` or a listing (`procfs::refresh`).
    pub(crate) fn refresh_proc_file(&self, f: &FileRef, at: Option<u64>) -> Result<(), Errno> {
        crate::kernel::procfs::refresh(self.k, self.tid, f, at)
    }

    /// A write of `raw` to tunable `source` (`procfs::write_tunable`).
    pub(crate) fn write_tunable(&mut self, source: &[String], raw: &[u8]) -> Result<(), Errno> {
        if crate::kernel::procfs::id_map_file(source).is_some() {
            return crate::kernel::procfs::write_id_map(self.k, self.tid, source, raw);
        }
        crate::kernel::procfs::write_tunable(self.k, source, raw)
    }

    /// Argument `i` (0..6).
    #[inline]
    pub(crate) fn arg(&self, i: usize) -> u64 {
        self.args[i]
    }

    /// The six argument registers.
    #[inline]
    pub(crate) fn args(&self) -> [u64; 6] {
        self.args
    }

    /// The deadline of this call, `rel_ns` from when it was first served: kept across
    /// re-runs of a parked call, so a restart never stretches a timeout.
    pub(crate) fn deadline(&mut self, rel_ns: u64) -> u64 {
        self.k.deadline(self.tid, rel_ns)
    }

    /// The deadline of this call, `abs` on the monotonic clock unless a first run of the
    /// call set one already.
    pub(crate) fn deadline_at(&mut self, abs: u64) -> u64 {
        *self.task_mut().sys_deadline.get_or_insert(abs)
    }

    /// The deadline an earlier run of this call set, if any.
    pub(crate) fn sys_deadline(&self) -> Option<u64> {
        self.task().sys_deadline
    }

    /// Bytes this call moved in earlier runs (a parked write continues from there).
    pub(crate) fn progress(&self) -> usize {
        self.task().sys_progress
    }

    /// Counts `n` more bytes moved by this call; returns the total.
    pub(crate) fn add_progress(&mut self, n: usize) -> usize {
        let t = self.task_mut();
        t.sys_progress += n;
        t.sys_progress
    }

    /// The sandbox's clocks.
    pub(crate) fn clocks(&self) -> &Clocks {
        &self.k.clocks
    }

    /// The guest's monotonic time in ns.
    pub(crate) fn now(&self) -> u64 {
        self.k.clocks.mono()
    }

    /// Logs, once per call number, that call `nr` (or a form of it) is not implemented.
    pub(crate) fn log_unimplemented(&mut self, nr: u64) {
        self.k.log_unimplemented(nr);
    }

    fn task(&self) -> &Task {
        &self.k.tasks[&self.tid]
    }

    fn task_mut(&mut self) -> &mut Task {
        self.k.task_mut(self.tid)
    }

    fn process(&self) -> &ThreadGroup {
        self.k.tg_of(self.tid)
    }

    fn process_mut(&mut self) -> &mut ThreadGroup {
        self.k.tg_of_mut(self.tid)
    }
}

// ---- the calling task ----

impl SysCtx<'_> {
    /// Its process's prctl settings.
    pub(crate) fn prctl(&mut self) -> &mut crate::kernel::task::ProcessPrctl {
        &mut self.process_mut().prctl
    }

    /// Its registers as they were when it stopped at the call.
    pub(crate) fn regs(&self) -> &Regs {
        &self.task().regs
    }

    pub(crate) fn regs_mut(&mut self) -> &mut Regs {
        &mut self.task_mut().regs
    }

    /// Its working directory (a guest absolute path).
    pub(crate) fn cwd(&self) -> String {
        self.task().fs.borrow().cwd.clone()
    }

    pub(crate) fn set_cwd(&mut self, cwd: String) {
        self.task().fs.borrow_mut().cwd = cwd;
    }

    /// Its file mode creation mask.
    pub(crate) fn umask(&self) -> u32 {
        self.task().fs.borrow().umask
    }

    /// Sets the umask (to `mask & 0o777`); returns the old one.
    pub(crate) fn set_umask(&mut self, mask: u32) -> u32 {
        let mut fs = self.task().fs.borrow_mut();
        std::mem::replace(&mut fs.umask, mask & 0o777)
    }

    /// Where its tid is cleared (and a futex woken) when it exits (set_tid_address).
    pub(crate) fn set_clear_child_tid(&mut self, addr: u64) {
        self.task_mut().clear_child_tid = addr;
    }

    /// Its robust futex list (walked at its exit and execve: `Kernel::exit_robust_list`).
    pub(crate) fn set_robust_list(&mut self, addr: u64) {
        self.task_mut().robust_list = addr;
    }

    /// The robust futex list head of thread `tid`, if there is such a thread.
    pub(crate) fn robust_list_of(&self, tid: i32) -> Option<u64> {
        self.k.tasks.get(&tid).map(|t| t.robust_list)
    }

    /// Its name (comm, at most 15 bytes).
    pub(crate) fn comm(&self) -> &str {
        &self.task().comm
    }

    pub(crate) fn set_comm(&mut self, comm: String) {
        self.task_mut().comm = comm;
    }

    /// Names thread `tid` of the caller's own process (a write of its comm file); false
    /// when there is no such thread in it.
    pub(crate) fn set_comm_of(&mut self, tid: i32, comm: String) -> bool {
        let me = self.task().tgid;
        match self.k.tasks.get_mut(&tid) {
            Some(t) if t.tgid == me => {
                t.comm = comm;
                true
            }
            _ => false,
        }
    }
}

// ---- its signal state ----

impl SysCtx<'_> {
    /// Its signal mask.
    pub(crate) fn sigmask(&self) -> SigSet {
        self.task().sigmask
    }

    /// Sets its signal mask (SIGKILL and SIGSTOP stay unblocked).
    pub(crate) fn set_sigmask(&mut self, mask: SigSet) {
        self.task_mut().sigmask = mask & !UNBLOCKABLE;
    }

    /// Whether a temporary mask (sigsuspend, ppoll, pselect, epoll_pwait) is in place: set
    /// by an earlier run of this call.
    pub(crate) fn temp_mask_active(&self) -> bool {
        self.task().saved_mask.is_some()
    }

    /// Puts `mask` in place until the call ends (`restore_temp_mask`), or until a signal
    /// handler runs (its frame saves the mask from before).
    pub(crate) fn set_temp_mask(&mut self, mask: SigSet) {
        let t = self.task_mut();
        t.saved_mask = Some(t.sigmask);
        t.sigmask = mask & !UNBLOCKABLE;
    }

    /// Puts back the mask a temporary one replaced.
    pub(crate) fn restore_temp_mask(&mut self) {
        let t = self.task_mut();
        if let Some(m) = t.saved_mask.take() {
            t.sigmask = m;
        }
    }

    /// The signals pending for it (its own and its process's), blocked or not.
    pub(crate) fn pending_signals(&self) -> SigSet {
        self.k.pending_set(self.tid)
    }

    /// Takes a pending signal in `set`, its own before its process's.
    pub(crate) fn dequeue_signal(&mut self, set: SigSet) -> Option<SigInfo> {
        self.k.dequeue_in(self.tid, set)
    }

    /// The action for `sig` (1..=64) in its handler table.
    pub(crate) fn sigaction(&self, sig: i32) -> SigAction {
        self.task().sighand.borrow()[(sig - 1) as usize]
    }

    /// Sets the action for `sig`; ignoring a signal discards it where it is pending.
    pub(crate) fn set_sigaction(&mut self, sig: i32, act: SigAction) {
        self.k.set_sigaction(self.tid, sig, act);
    }

    /// Its alternate signal stack: (sp, flags, size).
    pub(crate) fn altstack(&self) -> (u64, i32, u64) {
        self.task().altstack
    }

    pub(crate) fn set_altstack(&mut self, ss: (u64, i32, u64)) {
        self.task_mut().altstack = ss;
    }

    /// Returns from a signal handler: registers, mask and FPU state come back from the
    /// frame (rt_sigreturn).
    pub(crate) fn sigreturn(&mut self) -> Sys {
        self.k.sigreturn(self.tid)
    }
}

// ---- its process ----

impl SysCtx<'_> {
    /// Its process id (the calling task's thread group).
    #[inline]
    pub(crate) fn tgid(&self) -> i32 {
        self.task().tgid
    }

    /// Its parent's process id (0 for a process started from outside the sandbox).
    pub(crate) fn ppid(&self) -> i32 {
        self.process().ppid
    }

    /// Its process group.
    pub(crate) fn pgid(&self) -> i32 {
        self.process().pgid
    }

    /// Its session.
    pub(crate) fn sid(&self) -> i32 {
        self.process().sid
    }

    /// The session of process group `pgid`, if a live process is in it.
    pub(crate) fn group_session(&self, pgid: i32) -> Option<i32> {
        self.k
            .tgs
            .values()
            .find(|g| g.zombie.is_none() && g.pgid == pgid)
            .map(|g| g.sid)
    }

    /// Whether process group `pgid` is orphaned: no process of it has a parent in
    /// another group of the same session (credentials(7)).
    pub(crate) fn group_orphaned(&self, pgid: i32) -> bool {
        let tgs = &self.k.tgs;
        !tgs.values()
            .filter(|g| g.zombie.is_none() && g.pgid == pgid)
            .any(|g| {
                tgs.get(&g.ppid)
                    .is_some_and(|p| p.zombie.is_none() && p.pgid != pgid && p.sid == g.sid)
            })
    }

    /// A new replica of `pty` for it, opened with `flags` (TIOCGPTPEER).
    pub(crate) fn open_replica(
        &self,
        pty: std::rc::Rc<RefCell<crate::fs::devpts::Pty>>,
        flags: i32,
    ) -> crate::fs::devpts::PtyReplica {
        self.k.open_replica(self.tid, pty, flags)
    }

    /// Its credentials (the thread's own).
    pub(crate) fn creds(&self) -> &Creds {
        &self.task().creds
    }

    /// Its credentials, to change (its process is seen with them when it leads it).
    pub(crate) fn creds_mut(&mut self) -> &mut Creds {
        self.creds_written = true;
        &mut self.task_mut().creds
    }

    /// Its credentials, to change as a call that commits new ones does (Linux's
    /// commit_creds, even of the same values): when the call succeeds they get a new
    /// identity (`Task::creds_id`).
    pub(crate) fn commit_creds(&mut self) -> &mut Creds {
        self.creds_committed = true;
        self.creds_mut()
    }

    /// The credentials a description it opens is opened with.
    fn opener(&self) -> Opener {
        Opener {
            creds_id: self.task().creds_id,
            userns: self.creds().userns.clone(),
        }
    }

    /// Whether it may start a lookup at `f` for linkat with AT_EMPTY_PATH (Linux 6.10's
    /// LOOKUP_LINKAT_EMPTY): `f` was opened with its very credentials, or it has
    /// CAP_DAC_READ_SEARCH in the user namespace of those (the initial one for a file
    /// the guest did not open).
    pub(crate) fn may_link_from(&self, f: &FileRef) -> bool {
        let opener = f.borrow().opener.clone();
        match opener {
            Some(o) if o.creds_id == self.task().creds_id => true,
            Some(o) => self.creds().capable_in(&o.userns, CAP_DAC_READ_SEARCH),
            None => self.creds().has_init(CAP_DAC_READ_SEARCH),
        }
    }

    /// Its ITIMER_REAL: (next expiry on the monotonic clock, interval), in ns.
    pub(crate) fn itimer_real(&self) -> Option<(u64, u64)> {
        self.process().itimer_real
    }

    pub(crate) fn set_itimer_real(&mut self, t: Option<(u64, u64)>) {
        self.process_mut().itimer_real = t;
    }
}

// ---- CPU time (kernel/cputime.rs) ----

impl SysCtx<'_> {
    /// The reading of CPU-time clock `clock` as it names it (EINVAL when it names none).
    pub(crate) fn cpu_clock_read(&self, clock: i32) -> Result<u64, Errno> {
        let c = self.k.cpu_clock(self.tid, clock, true)?;
        self.k.cpu_clock_now(c).ok_or(libc::EINVAL)
    }

    /// The CPU time getrusage reports for `who`, in ns: RUSAGE_SELF its process's,
    /// RUSAGE_THREAD its own, RUSAGE_CHILDREN its process's reaped children's; None for
    /// another `who`.
    pub(crate) fn rusage_cpu(&self, who: i32) -> Option<u64> {
        match who {
            libc::RUSAGE_SELF => Some(self.k.group_cpu(self.process().pid)),
            libc::RUSAGE_THREAD => Some(self.k.task_cpu(self.tid)),
            libc::RUSAGE_CHILDREN => Some(self.process().cpu_children),
            _ => None,
        }
    }

    /// ITIMER_VIRTUAL (0) or ITIMER_PROF (1): sets (value, interval) when `new`, returns
    /// the old (left, interval).
    pub(crate) fn itimer_cpu(&mut self, which: usize, new: Option<(u64, u64)>) -> (u64, u64) {
        self.k.itimer_cpu(self.tid, which, new)
    }
}

// ---- its process's POSIX timers (kernel/posix_timer.rs) ----

impl SysCtx<'_> {
    /// timer_create: a timer on `clock` notifying as `sigevent` says (None: SIGALRM to
    /// the process), its id written to `out`.
    pub(crate) fn timer_create(
        &mut self,
        clock: i32,
        sigevent: Option<Vec<u8>>,
        out: u64,
    ) -> Result<(), Errno> {
        let tid = self.tid;
        let a = super::posix_timer::CreateArgs { clock, sigevent };
        self.k
            .timer_create(tid, a, |k, id| k.write_u32(tid, out, id as u32))
    }

    /// timer_settime: returns (left, interval) as they were.
    pub(crate) fn timer_settime(
        &mut self,
        id: i32,
        abs: bool,
        value: u64,
        interval: u64,
    ) -> Result<(u64, u64), Errno> {
        self.k.timer_settime(self.tid, id, abs, value, interval)
    }

    /// timer_gettime: (left, interval).
    pub(crate) fn timer_gettime(&mut self, id: i32) -> Result<(u64, u64), Errno> {
        self.k.with_posix_timer(self.tid, id, |t, now| t.get(now))
    }

    /// timer_getoverrun.
    pub(crate) fn timer_getoverrun(&mut self, id: i32) -> Result<i32, Errno> {
        self.k.with_posix_timer(self.tid, id, |t, _| t.overrun_last)
    }

    pub(crate) fn timer_delete(&mut self, id: i32) -> Result<(), Errno> {
        self.k.timer_delete(self.tid, id)
    }
}

// ---- scheduling attributes (its own and other threads') ----

impl SysCtx<'_> {
    /// The thread a sched_* call names by `pid`: itself for 0; EINVAL for a negative id,
    /// ESRCH when there is no such thread.
    pub(crate) fn sched_target(&self, pid: u64) -> Result<i32, Errno> {
        match pid as i32 {
            p if p < 0 => Err(libc::EINVAL),
            0 => Ok(self.tid),
            p if self.k.tasks.contains_key(&p) => Ok(p),
            _ => Err(libc::ESRCH),
        }
    }

    /// Thread `tid`'s scheduling attributes (`tid` from `sched_target`).
    pub(crate) fn sched(&self, tid: i32) -> Sched {
        self.k.tasks[&tid].sched
    }

    /// Changes thread `tid`'s attributes with `f`, which is told whether the caller has
    /// CAP_SYS_NICE. EPERM, as Linux's check_same_owner, when the caller's effective uid is
    /// neither the thread's real nor effective uid and it lacks CAP_SYS_NICE.
    pub(crate) fn set_sched(
        &mut self,
        tid: i32,
        f: impl FnOnce(&mut Sched, bool) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        let me = self.creds();
        let privileged = me.has_init(crate::creds::CAP_SYS_NICE);
        let target = self.k.creds(tid);
        if !privileged && me.euid != target.uid && me.euid != target.euid {
            return Err(libc::EPERM);
        }
        f(&mut self.k.task_mut(tid).sched, privileged)
    }

    /// The threads getpriority and setpriority select: PRIO_PROCESS a thread (0: itself),
    /// PRIO_PGRP every thread of a process group (0: its own), PRIO_USER every thread of
    /// the processes whose real uid is `who` (0: its own). EINVAL for another `which`.
    pub(crate) fn priority_targets(&self, which: u64, who: u64) -> Result<Vec<i32>, Errno> {
        let who = who as u32;
        // Every thread of the processes `pick` selects.
        let threads_of = |pick: &dyn Fn(&ThreadGroup) -> bool| -> Vec<i32> {
            let tgs = &self.k.tgs;
            self.k
                .tasks
                .iter()
                .filter(|(_, t)| tgs.get(&t.tgid).is_some_and(pick))
                .map(|(&tid, _)| tid)
                .collect()
        };
        let mut v: Vec<i32> = match which {
            0 => {
                let tid = if who == 0 { self.tid } else { who as i32 };
                self.k
                    .tasks
                    .contains_key(&tid)
                    .then_some(tid)
                    .into_iter()
                    .collect()
            }
            1 => {
                let pgid = if who == 0 { self.pgid() } else { who as i32 };
                threads_of(&|g| g.pgid == pgid)
            }
            2 => {
                let uid = if who == 0 { self.creds().uid } else { who };
                threads_of(&|g| g.creds.uid == uid)
            }
            _ => return Err(libc::EINVAL),
        };
        v.sort_unstable();
        Ok(v)
    }
}

// ---- its address space's memory (always through the memory manager) ----

impl SysCtx<'_> {
    /// Copies `len` bytes in from `addr`.
    pub(crate) fn read_mem(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        self.k.read_mem(self.tid, addr, len)
    }

    /// Copies `data` out to `addr`.
    pub(crate) fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        self.k.write_mem(self.tid, addr, data)
    }

    /// How many bytes from `addr` (at most `len`) can be copied without a fault: written
    /// into when `write`, read from otherwise.
    pub(crate) fn accessible(&self, addr: u64, len: usize, write: bool) -> usize {
        let prot = if write {
            libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        self.k.accessible(self.tid, addr, len, prot)
    }

    /// Lets `f` fill the guest ranges (address, length) in place (`Kernel::fill_mem`).
    pub(crate) fn fill_mem<R>(
        &mut self,
        ranges: &[(u64, usize)],
        f: impl FnOnce(&mut [std::io::IoSliceMut<'_>]) -> R,
    ) -> Result<R, Errno> {
        self.k.fill_mem(self.tid, ranges, f)
    }

    pub(crate) fn read_u32(&self, addr: u64) -> Result<u32, Errno> {
        self.k.read_u32(self.tid, addr)
    }

    pub(crate) fn read_u64(&self, addr: u64) -> Result<u64, Errno> {
        self.k.read_u64(self.tid, addr)
    }

    pub(crate) fn write_u32(&mut self, addr: u64, v: u32) -> Result<(), Errno> {
        self.k.write_u32(self.tid, addr, v)
    }

    pub(crate) fn write_u64(&mut self, addr: u64, v: u64) -> Result<(), Errno> {
        self.k.write_u64(self.tid, addr, v)
    }

    /// The caller's mount namespace and the user namespace that owns it.
    pub(crate) fn mount_ns(&self) -> (u64, crate::creds::UserNsRef) {
        let mnt = self.task().mnt;
        let owner = self.k.mnt_owners.get(&mnt).cloned().unwrap_or_default();
        (mnt, owner)
    }

    /// The VFS, to change the caller's mounts.
    pub(crate) fn vfs_mut(&mut self) -> &mut Vfs {
        &mut self.k.vfs
    }

    /// Whether a task's working directory or an open file (by path) lies in the mount at
    /// `at` (umount2's EBUSY).
    pub(crate) fn mount_busy(&self, at: &[String]) -> bool {
        let below = |path: &str| {
            let comps = crate::fs::split(path);
            comps.len() >= at.len() && comps[..at.len()] == at[..]
        };
        self.k.tasks.values().any(|t| {
            below(&t.fs.borrow().cwd)
                || t.files
                    .borrow()
                    .fds
                    .values()
                    .any(|e| e.file.try_borrow().is_ok_and(|f| below(&f.path)))
        })
    }

    /// A path argument at `addr` (ENAMETOOLONG past PATH_MAX).
    pub(crate) fn read_path(&self, addr: u64) -> Result<Vec<u8>, Errno> {
        self.k.read_path(self.tid, addr)
    }

    /// A NUL-terminated string at `addr`, without the NUL, of at most `max` bytes.
    pub(crate) fn read_cstr(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        self.k.read_cstr(self.tid, addr, max)
    }

    /// A NULL-terminated array of string pointers at `addr` (argv, envp).
    pub(crate) fn read_strv(&self, addr: u64) -> Result<Vec<Vec<u8>>, Errno> {
        self.k.read_strv(self.tid, addr)
    }

    /// Runs `f` on the address space itself, with the memory file and the platform it maps
    /// through (brk, mmap and the other calls that change mappings).
    pub(crate) fn with_mm<R>(&mut self, f: impl FnOnce(&mut Mm, &mut MmCtx) -> R) -> R {
        self.k.with_mm(self.tid, f)
    }

    /// `/proc/PID/mem` reads of address space `mm` (`Kernel::peek_mm`).
    pub(crate) fn peek_mm(&self, mm: u64, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        self.k.peek_mm(mm, addr, len)
    }

    /// `/proc/PID/mem` writes into address space `mm` (`Kernel::poke_mm`).
    pub(crate) fn poke_mm(&mut self, mm: u64, addr: u64, data: &[u8]) -> Result<usize, Errno> {
        self.k.poke_mm(mm, addr, data)
    }

    /// The memory file, for the kinds whose bytes live in it (memfds).
    pub(crate) fn memory_file(&self) -> std::rc::Rc<crate::mm::MemoryFile> {
        self.k.mf.clone()
    }

    /// Whether an address space of the sandbox has a shared mapping of memory-file bytes
    /// in `ranges` (offset, length): F_SEAL_WRITE waits until there is none.
    pub(crate) fn shared_mapping_of(&self, ranges: &[(u64, u64)]) -> bool {
        self.k.mms.values().any(|e| {
            e.mm.vmas.iter().any(|(&s, v)| {
                let (a, b) = (v.off, v.off + (v.end - s));
                v.shared && ranges.iter().any(|&(m, l)| a < m + l && m < b)
            })
        })
    }

    /// The futex at `addr`: private ones by address space and address, shared ones by
    /// memory-file offset.
    pub(crate) fn futex_key(&self, addr: u64, private: bool) -> FutexKey {
        self.k.futex_key(self.tid, addr, private)
    }

    /// A `struct timespec` at `addr`, in ns (EINVAL when it is not a valid one).
    pub(crate) fn read_timespec(&self, addr: u64) -> Result<u64, Errno> {
        let b = self.read_mem(addr, 16)?;
        ts_to_ns(
            i64::from_le_bytes(b[..8].try_into().expect("8")),
            i64::from_le_bytes(b[8..].try_into().expect("8")),
        )
        .ok_or(libc::EINVAL)
    }
}

// ---- its fd table and open files ----

impl SysCtx<'_> {
    /// The open file `fd` names (EBADF when none).
    pub(crate) fn file(&self, fd: u64) -> Result<FileRef, Errno> {
        let held = &self.task().sys_files;
        if let Some((_, f)) = held.borrow().iter().find(|(n, _)| *n == fd) {
            return Ok(f.clone());
        }
        let f = self.k.file(self.tid, fd)?;
        held.borrow_mut().push((fd, f.clone()));
        Ok(f)
    }

    /// Its fd table (shared with the tasks it shares it with: CLONE_FILES).
    pub(crate) fn fds(&self) -> &Rc<RefCell<FdTable>> {
        &self.task().files
    }

    /// Puts `file`, a description the call opened, in the fd table at the lowest free fd;
    /// returns the fd. It remembers the credentials it was opened with.
    pub(crate) fn install(&mut self, file: FileRef, cloexec: bool) -> Result<i32, Errno> {
        self.opened(&file);
        self.install_again(file, cloexec)
    }

    /// `file`, a description the call opened, is opened with the caller's credentials.
    pub(crate) fn opened(&self, file: &FileRef) {
        file.borrow_mut().opener = Some(self.opener());
    }

    /// Puts `file`, a description opened before (dup, SCM_RIGHTS), in the fd table at the
    /// lowest free fd; returns the fd.
    pub(crate) fn install_again(&mut self, file: FileRef, cloexec: bool) -> Result<i32, Errno> {
        self.task().files.borrow_mut().add(file, cloexec, 0)
    }

    /// Closes `fd`, waking whoever waits on a pipe end it drops.
    pub(crate) fn close_fd(&mut self, fd: i32) -> Result<(), Errno> {
        self.k.close_fd(self.tid, fd)
    }

    /// A new kernel object id (pipes, eventfds, epoll sets).
    pub(crate) fn new_obj_id(&mut self) -> u64 {
        self.k.new_obj_id()
    }

    /// Poll readiness of `f` for `events` as the calling task sees it: a signalfd is
    /// readable when the task has a signal of its mask pending.
    pub(crate) fn readiness(&self, f: &FileRef, events: i16) -> (i16, Vec<WaitKey>) {
        let fb = f.borrow();
        let Some(mask) = fb.imp.signal_mask() else {
            return fb.readiness(events);
        };
        let r = if self.pending_signals() & mask != 0 {
            libc::POLLIN | libc::POLLRDNORM
        } else {
            0
        };
        (r & events, vec![crate::wait::signals_of(self.tgid())])
    }

    /// The sandbox's file locks.
    pub(crate) fn locks(&mut self) -> &mut crate::fs::lock::LockTable {
        self.k.locks()
    }

    /// Sets or removes a file lock (`LockTable::set`), new wait keys from the kernel's ids.
    pub(crate) fn set_lock(
        &mut self,
        key: crate::fs::lock::FileKey,
        req: crate::fs::lock::Request,
    ) -> Result<Result<Option<u64>, crate::fs::lock::Blocked>, Errno> {
        self.k.set_lock(key, req)
    }

    /// Drops the locks of descriptions that are gone and wakes their waiters.
    pub(crate) fn release_dropped_locks(&mut self) {
        self.k.release_dropped_locks();
    }

    /// Turns an I/O outcome into the call's result: parks on would-block, raises SIGPIPE
    /// on a write to a pipe without readers.
    pub(crate) fn io_result(&mut self, r: Result<usize, IoErr>) -> Sys {
        match r {
            Ok(n) => Sys::Ret(n as i64),
            Err(IoErr::Errno(e)) => err(e),
            Err(IoErr::Block(key)) => Sys::Park(Park {
                keys: vec![key],
                deadline: None,
            }),
            Err(IoErr::Pipe) => {
                self.sigpipe();
                err(libc::EPIPE)
            }
        }
    }

    /// Sends it SIGPIPE (a write found no reader: with EPIPE, or after a partial write).
    pub(crate) fn sigpipe(&mut self) {
        self.raise(libc::SIGPIPE);
    }

    /// Sends it `sig` as Linux's send_sig does for SIGPIPE and SIGXFSZ (si_code SI_USER).
    pub(crate) fn raise(&mut self, sig: i32) {
        let info = self.k.sender(self.tid, sig, 0);
        self.k.signal_task(self.tid, info);
    }
}

// ---- path resolution for it ----

impl SysCtx<'_> {
    /// Walks `path` (relative to its cwd), following a final symlink when `follow`.
    pub(crate) fn resolve(&self, path: &[u8], follow: bool) -> Result<Resolved, Errno> {
        self.k.resolve(self.tid, path, follow)
    }

    /// Walks `path` relative to the directory `dirfd` names (AT_FDCWD: the cwd).
    pub(crate) fn resolve_dirfd(
        &self,
        dirfd: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<Resolved, Errno> {
        self.k.resolve_dirfd(self.tid, dirfd, path, follow)
    }

    /// As `resolve_dirfd`, checking search permission with `creds` instead of its own.
    pub(crate) fn resolve_dirfd_as(
        &mut self,
        creds: Creds,
        dirfd: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<Resolved, Errno> {
        self.k
            .resolve_dirfd_as(self.tid, creds, dirfd, path, follow)
    }

    /// The guest directory a `*at` call's `dirfd` names for `path` (its cwd for an
    /// absolute path or AT_FDCWD).
    pub(crate) fn dirfd_path(&self, dirfd: i32, path: &[u8]) -> Result<String, Errno> {
        self.k.dirfd_path(self.tid, dirfd, path)
    }

    /// lstat of what the walk found (ENOENT when nothing).
    pub(crate) fn lstat(&self, r: &Resolved) -> Result<libc::stat, Errno> {
        self.k.lstat_resolved(self.tid, r)
    }

    /// The target of the symlink the walk found (None when it is not one).
    pub(crate) fn readlink(&self, r: &Resolved) -> Result<Option<String>, Errno> {
        self.k.readlink(self.tid, r)
    }

    /// Checks that it may create `r` (write and search on the directory); returns the
    /// directory.
    pub(crate) fn may_create(&self, r: &Resolved) -> Result<Inode, Errno> {
        self.k.may_create(self.tid, r)
    }

    /// Checks that it may remove or rename away the existing `r` (the sticky-directory
    /// rule included).
    pub(crate) fn may_delete(&self, r: &Resolved) -> Result<(), Errno> {
        self.k.may_delete(self.tid, r)
    }

    /// Gives the node it just created at `r`, in directory `dir`, to it (fs uid, and gid
    /// unless the directory is set-group-ID); `mode` puts back set-ID bits chown cleared.
    pub(crate) fn give_to_creator(
        &self,
        r: &Resolved,
        dir: &Inode,
        mode: Option<u32>,
    ) -> Result<(), Errno> {
        self.k.give_to_creator(self.tid, r, dir, mode)
    }

    /// Opens `path` relative to `dirfd` as open(2) does, permission checks included;
    /// the file is not yet in the fd table.
    pub(crate) fn open(
        &self,
        dirfd: i32,
        path: &[u8],
        flags: i32,
        mode: u32,
    ) -> Result<FileRef, Errno> {
        self.k.open_path(self.tid, dirfd, path, flags, mode, true)
    }

    /// As `open`, for a call that is not an open (truncate): inotify hears of neither
    /// the open nor the close.
    pub(crate) fn open_quiet(&self, path: &[u8], flags: i32) -> Result<FileRef, Errno> {
        self.k
            .open_path_as(self.tid, libc::AT_FDCWD, path, flags, 0, true, false)
    }

    /// inotify: what `r` names, looked up before an operation on it, when anything is
    /// watched.
    pub(crate) fn notify_target(&self, r: &Resolved) -> Option<crate::fs::inotify::Target> {
        self.k.notify_target(r)
    }

    /// The key its FIFO open waits on, if one waits (`OPEN_WAITS`).
    pub(crate) fn fifo_waiting(&self) -> Option<u64> {
        self.k.fifo_waiting(self.tid)
    }

    /// Its waiting FIFO open ends without an fd (EINTR): the end it counted goes.
    pub(crate) fn cancel_fifo_open(&mut self) {
        self.k.cancel_fifo_open(self.tid);
    }

    /// The mounts and the file systems under them.
    pub(crate) fn vfs(&self) -> &Vfs {
        &self.k.vfs
    }
}

// ---- what sockets use (net does not import the kernel) ----

impl crate::net::SocketCtx for SysCtx<'_> {
    fn creds(&self) -> &Creds {
        SysCtx::creds(self)
    }
    fn tgid(&self) -> i32 {
        SysCtx::tgid(self)
    }
    fn umask(&self) -> u32 {
        SysCtx::umask(self)
    }
    fn resolve(&self, path: &[u8], follow: bool) -> Result<Resolved, Errno> {
        SysCtx::resolve(self, path, follow)
    }
    fn lstat(&self, r: &Resolved) -> Result<libc::stat, Errno> {
        SysCtx::lstat(self, r)
    }
    fn may_create(&self, r: &Resolved) -> Result<Inode, Errno> {
        SysCtx::may_create(self, r)
    }
    fn give_to_creator(&self, r: &Resolved, dir: &Inode, mode: Option<u32>) -> Result<(), Errno> {
        SysCtx::give_to_creator(self, r, dir, mode)
    }
    fn new_obj_id(&mut self) -> u64 {
        SysCtx::new_obj_id(self)
    }
    fn vfs(&self) -> &Vfs {
        SysCtx::vfs(self)
    }
    fn bindings(&mut self) -> &mut crate::net::Bindings {
        &mut self.k.bindings
    }
    fn net(&self) -> crate::net::ns::NetRef {
        self.task().net.clone()
    }
}

// ---- waiting ----

impl SysCtx<'_> {
    /// Wakes every task parked on `key`.
    pub(crate) fn notify(&mut self, key: &WaitKey) {
        self.k.notify(key);
    }

    /// Wakes the waiters of a file after a read of it through `actor`: space freed
    /// (EPOLLOUT's edge).
    pub(crate) fn notify_read(&mut self, actor: &FileRef, key: &WaitKey) {
        self.k.io_actor = Some(std::rc::Rc::as_ptr(actor));
        self.k.notify_side(key, crate::wait::EDGE_OUT);
        self.k.io_actor = None;
    }

    /// Wakes the waiters of a file after a write to it through `actor`: data arrived
    /// (EPOLLIN's edge).
    pub(crate) fn notify_written(&mut self, actor: &FileRef, key: &WaitKey) {
        self.k.io_actor = Some(std::rc::Rc::as_ptr(actor));
        self.k.notify_side(key, crate::wait::EDGE_IN);
        self.k.io_actor = None;
    }

    /// Watches `file`, whose `O_ASYNC` was just turned on through `fd`, for
    /// signal-driven I/O.
    pub(crate) fn watch_async(&mut self, file: &FileRef, fd: i32) {
        self.k.watch_async(file, fd);
    }

    /// Whether `id` names a live thread, process or process group, as `kind` says.
    pub(crate) fn owner_exists(&self, kind: crate::fs::file::OwnerKind, id: i32) -> bool {
        self.k.owner_exists(kind, id)
    }

    /// Whether the task waits on a futex (an earlier run of this call queued it).
    pub(crate) fn futex_waiting(&self) -> bool {
        self.k.futex_waiting(self.tid)
    }

    /// Queues the task on futex `key` for wakes whose bitset meets `bitset`.
    pub(crate) fn futex_enqueue(&mut self, key: FutexKey, bitset: u32) {
        self.k.futex_enqueue(self.tid, key, bitset, false);
    }

    /// Queues the task to own PI futex `key` when its owner unlocks it.
    pub(crate) fn futex_enqueue_pi(&mut self, key: FutexKey) {
        self.k.futex_enqueue(self.tid, key, u32::MAX, true);
    }

    /// Tries to own the PI futex at `addr` (`Kernel::futex_lock_pi`).
    pub(crate) fn futex_lock_pi(
        &mut self,
        addr: u64,
        key: FutexKey,
        wait: bool,
    ) -> Result<bool, Errno> {
        self.k.futex_lock_pi(self.tid, addr, key, wait)
    }

    /// Gives up the PI futex at `addr` (`Kernel::futex_unlock_pi`).
    pub(crate) fn futex_unlock_pi(&mut self, addr: u64, key: FutexKey) -> Result<(), Errno> {
        self.k.futex_unlock_pi(self.tid, addr, key)
    }

    /// Takes the task off the futex it waits on.
    pub(crate) fn futex_dequeue(&mut self) {
        self.k.futex_dequeue(self.tid);
    }

    /// Wakes up to `n` waiters on `key` whose bitset meets `bitset` (at least one, as
    /// Linux does). Returns how many.
    pub(crate) fn futex_wake(&mut self, key: FutexKey, n: u32, bitset: u32) -> u32 {
        self.k.futex_wake(key, n, bitset)
    }

    /// Queues the task on futex `key` until a FUTEX_CMP_REQUEUE_PI moves it to PI futex
    /// `target` (FUTEX_WAIT_REQUEUE_PI).
    pub(crate) fn futex_enqueue_requeue_pi(&mut self, key: FutexKey, target: FutexKey) {
        self.k.futex_enqueue_requeue_pi(self.tid, key, target);
    }

    /// Whether a waiter on `key` waits in FUTEX_WAIT_REQUEUE_PI.
    pub(crate) fn futex_has_requeue_pi(&self, key: FutexKey) -> bool {
        self.k.futex_has_requeue_pi(key)
    }

    /// FUTEX_CMP_REQUEUE_PI (`Kernel::futex_cmp_requeue_pi`).
    pub(crate) fn futex_cmp_requeue_pi(
        &mut self,
        from: FutexKey,
        to: FutexKey,
        addr2: u64,
        max: u32,
    ) -> Result<u32, Errno> {
        self.k.futex_cmp_requeue_pi(self.tid, from, to, addr2, max)
    }

    /// Moves up to `max` waiters from futex `from` to `to`. Returns how many.
    pub(crate) fn futex_requeue(&mut self, from: FutexKey, to: FutexKey, max: u32) -> u32 {
        self.k.futex_requeue(from, to, max)
    }
}

// ---- signals to other tasks and processes ----

impl SysCtx<'_> {
    /// kill(2): `sig` (0 only checks) to the processes `pid` selects.
    pub(crate) fn kill(&mut self, pid: i32, sig: i32) -> Result<(), Errno> {
        self.k.kill(self.tid, pid, sig)
    }

    /// tgkill(2): `sig` (0 only checks) to thread `tid` of process `tgid` (-1: any).
    pub(crate) fn tgkill(&mut self, tgid: i32, tid: i32, sig: i32) -> Result<(), Errno> {
        self.k.tgkill(self.tid, tgid, tid, sig)
    }

    /// rt_sigqueueinfo(2): `info` to process `pid`.
    pub(crate) fn sigqueue_process(&mut self, pid: i32, info: SigInfo) -> Result<(), Errno> {
        self.k.sigqueue_process(self.tid, pid, info)
    }

    /// rt_tgsigqueueinfo(2): `info` to thread `tid`.
    pub(crate) fn sigqueue_thread(&mut self, tid: i32, info: SigInfo) -> Result<(), Errno> {
        self.k.sigqueue_thread(self.tid, tid, info)
    }
}

// ---- kernel-wide ----

impl SysCtx<'_> {
    /// clone(2): a new thread or process from the calling task.
    pub(crate) fn clone(&mut self, args: CloneArgs) -> Sys {
        self.k.clone(self.tid, args)
    }

    /// execve(2): replaces its program; on an error the old one goes on. A `#!` script
    /// gets `script_name` (execveat's /dev/fd/N) as its path when given.
    pub(crate) fn exec(
        &mut self,
        path: &[u8],
        script_name: Option<&[u8]>,
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
    ) -> Result<(), Errno> {
        self.k.exec(self.tid, path, script_name, argv, envp)
    }

    /// exit(2): the thread ends (the last one ends the process with `code`).
    pub(crate) fn exit(&mut self, code: i32) -> Sys {
        if !self.k.ptrace_exit_stop(self.tid, code, false) {
            self.k.exit_thread(self.tid, code);
        }
        Sys::Gone
    }

    /// exit_group(2): the process ends with `code`.
    pub(crate) fn exit_group(&mut self, code: i32) -> Sys {
        if !self.k.ptrace_exit_stop(self.tid, code, true) {
            self.k.exit_group(self.tid, code);
        }
        Sys::Gone
    }

    /// wait: a state change of a child of its process that `pid` selects (as wait4 takes
    /// it) and `options` asks for; a zombie is reaped unless `peek`.
    pub(crate) fn wait_child(
        &mut self,
        pid: i64,
        options: i32,
        peek: bool,
    ) -> Result<Option<ChildEvent>, Errno> {
        self.k.wait_child(self.tid, pid, options, peek)
    }

    /// ptrace(2) request `req` on thread `pid` (`kernel::ptrace`).
    pub(crate) fn ptrace(
        &mut self,
        req: i64,
        pid: i32,
        addr: u64,
        data: u64,
    ) -> Result<i64, Errno> {
        self.k.ptrace(self.tid, req, pid, addr, data)
    }

    /// The live process `pid` names (0: its own).
    pub(crate) fn find_process(&self, pid: i32) -> Result<i32, Errno> {
        self.k.find_process(self.tid, pid)
    }

    /// The process group of process `pid` (from `find_process`).
    pub(crate) fn process_pgid(&self, pid: i32) -> i32 {
        self.k.tgs[&pid].pgid
    }

    /// The session of process `pid` (from `find_process`).
    pub(crate) fn process_sid(&self, pid: i32) -> i32 {
        self.k.tgs[&pid].sid
    }

    /// setpgid(2) of process `pid` (0: its own).
    pub(crate) fn setpgid(&mut self, pid: i32, pgid: i32) -> Result<(), Errno> {
        self.k.setpgid(self.tid, pid, pgid)
    }

    /// setsid(2): returns the new session id.
    pub(crate) fn setsid(&mut self) -> Result<i32, Errno> {
        self.k.setsid(self.tid)
    }

    /// Resource limit `res` (below 16) of process `pid`: (soft, hard).
    pub(crate) fn rlimit(&self, pid: i32, res: usize) -> (u64, u64) {
        self.k.tgs[&pid].rlimits[res]
    }

    pub(crate) fn set_rlimit(&mut self, pid: i32, res: usize, lim: (u64, u64)) {
        self.k.set_rlimit(pid, res, lim);
    }

    /// The credentials of thread `tid`, if there is such a thread.
    pub(crate) fn thread_creds(&self, tid: i32) -> Option<&Creds> {
        Some(&self.k.tasks.get(&tid)?.creds)
    }

    /// The calling thread's UTS namespace (host and domain names).
    pub(crate) fn uts(&self) -> crate::kernel::uts::UtsRef {
        self.task().uts.clone()
    }

    /// The network namespace of inode number `ino`, while a task or a socket holds it.
    pub(crate) fn net_namespace(&self, ino: u64) -> Option<crate::net::ns::NetRef> {
        self.k.net_namespaces().into_iter().find(|n| n.ino == ino)
    }

    /// Moves the calling thread to network namespace `net` (setns).
    pub(crate) fn set_net(&mut self, net: crate::net::ns::NetRef) {
        self.task_mut().net = net;
    }

    /// unshare(2) of what a thread may take private copies of: its fd table
    /// (CLONE_FILES), cwd and umask (CLONE_FS), UTS namespace (CLONE_NEWUTS); a new network
    /// namespace (CLONE_NEWNET).
    pub(crate) fn unshare(&mut self, flags: i32, creds: Option<crate::creds::Creds>) {
        use std::{cell::RefCell, rc::Rc};
        if let Some(creds) = creds {
            *self.commit_creds() = creds;
        }
        if flags & libc::CLONE_NEWNS != 0 {
            let tid = self.tid;
            let mnt = self.k.new_mount_namespace(tid);
            self.task_mut().mnt = mnt;
            self.k.vfs.guest.ns.set(mnt);
        }
        let t = self.task_mut();
        if flags & libc::CLONE_FILES != 0 {
            let copy = t.files.borrow().clone();
            t.files = Rc::new(RefCell::new(copy));
        }
        if flags & libc::CLONE_FS != 0 {
            let copy = t.fs.borrow().clone();
            t.fs = Rc::new(RefCell::new(copy));
        }
        if flags & libc::CLONE_NEWUTS != 0 {
            let mut copy = t.uts.borrow().clone();
            copy.owner = t.creds.userns.clone();
            t.uts = Rc::new(RefCell::new(copy));
        }
        if flags & libc::CLONE_NEWNET != 0 {
            let owner = t.creds.userns.clone();
            let net = self.k.new_net_namespace(owner);
            self.task_mut().net = net;
        }
    }

    /// How many threads the caller's process has.
    pub(crate) fn thread_count(&self) -> usize {
        self.k.tgs[&self.task().tgid].threads.len()
    }

    /// How many threads share the caller's address space (its own process's and any
    /// CLONE_VM process's).
    pub(crate) fn mm_users(&self) -> usize {
        let mm = self.task().mm;
        self.k.tasks.values().filter(|t| t.mm == mm).count()
    }

    /// Time since the sandbox booted, in ns.
    pub(crate) fn uptime(&self) -> u64 {
        self.k.clocks.mono().saturating_sub(self.k.boot_ns)
    }

    /// Bytes of the memory file in use.
    pub(crate) fn memory_in_use(&self) -> u64 {
        self.k.mf.allocated()
    }

    /// How many processes there are, zombies included.
    pub(crate) fn process_count(&self) -> usize {
        self.k.tgs.len()
    }
}
