//! The boundary between the kernel and the system call layer: what a handler decided
//! (`Sys`), the context a handler gets (`SysCtx`: the calling task and the parts of the
//! kernel it may use), and how the kernel reaches the table (`SyscallTable`).

use super::Kernel;
use crate::mm::Errno;
use crate::platform::Regs;

/// What a system call handler decided.
pub enum Sys {
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
pub fn err(e: Errno) -> Sys {
    Sys::Ret(-(e as i64))
}

/// How the kernel reaches the system call table. The syscalls layer implements it and the
/// crate root hands it to the kernel, so that the kernel does not depend on the layer that
/// serves calls through it.
pub trait SyscallTable {
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
pub enum RestartRule {
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
pub struct SysCtx<'k> {
    k: &'k mut Kernel,
    tid: i32,
    args: [u64; 6],
}

impl Kernel {
    /// Serves system call `nr` of task `tid` with `args` (rdi, rsi, rdx, r10, r8, r9)
    /// through the table.
    pub(crate) fn dispatch(&mut self, tid: i32, nr: u64, args: [u64; 6]) -> Sys {
        let table = self.table;
        table.dispatch(&mut SysCtx::new(self, tid, args), nr)
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
        SysCtx { k, tid, args }
    }

    /// The calling task's id.
    #[inline]
    pub fn tid(&self) -> i32 {
        self.tid
    }

    /// Argument `i` (0..6).
    #[inline]
    pub fn arg(&self, i: usize) -> u64 {
        self.args[i]
    }

    /// The six argument registers.
    #[inline]
    pub fn args(&self) -> [u64; 6] {
        self.args
    }

    /// The whole kernel, for handlers not yet moved onto the context.
    pub fn kernel(&mut self) -> &mut Kernel {
        self.k
    }

    /// The calling task's registers.
    pub fn regs(&self) -> &Regs {
        &self.k.tasks[&self.tid].regs
    }
}

impl SysCtx<'_> {
    /// Logs, once per call number, that call `nr` (or a form of it) is not implemented.
    pub fn log_unimplemented(&mut self, nr: u64) {
        self.k.log_unimplemented(nr);
    }
}
