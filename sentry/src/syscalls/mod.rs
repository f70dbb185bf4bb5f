//! System calls: the table (`table.rs`, number -> name, handler, restart rule, status) and
//! one file per area. A call without a handler fails as its entry says: refused by design,
//! or not implemented (ENOSYS, logged once by name).

pub(crate) mod creds;
#[cfg(test)]
mod doc;
pub(crate) mod epoll;
pub(crate) mod file;
pub(crate) mod fs;
pub(crate) mod futex;
pub(crate) mod inotify;
pub(crate) mod lock;
mod memfd;
pub(crate) mod mm;
mod mount;
pub(crate) mod poll;
pub(crate) mod posix_timer;
pub(crate) mod process;
mod sched;
mod sigio;
pub(crate) mod signal;
pub(crate) mod socket;
mod splice;
pub(crate) mod table;
pub(crate) mod time;
pub(crate) mod timerfd;
mod xattr;

use crate::kernel::{err, RestartRule, Sys, SysCtx, SyscallTable};

/// The system calls the sentry serves, as the kernel reaches them.
pub(crate) struct Syscalls;

/// The one instance the crate root hands to every kernel.
pub(crate) static SYSCALLS: Syscalls = Syscalls;

impl SyscallTable for Syscalls {
    #[inline]
    fn dispatch(&self, c: &mut SysCtx, nr: u64) -> Sys {
        match table::handler(nr) {
            Some(h) => h(c),
            None => table::unserved(c, nr),
        }
    }

    fn name(&self, nr: u64) -> &'static str {
        name(nr)
    }

    fn restart(&self, nr: u64) -> RestartRule {
        restart(nr)
    }

    fn interrupted(&self, c: &mut SysCtx, nr: u64) {
        if restart(nr) == RestartRule::TimeLeft {
            time::nanosleep_interrupted(c);
        }
        if [libc::SYS_open, libc::SYS_openat, libc::SYS_creat].contains(&(nr as i64)) {
            c.cancel_fifo_open();
        }
        if [libc::SYS_fcntl, libc::SYS_flock].contains(&(nr as i64)) {
            // A lock wait ends: it no longer takes part in deadlock detection.
            let tid = c.tid();
            c.locks().stop_waiting(tid);
        }
    }
}

/// The name of system call `nr` ("unknown" for a number Linux does not define).
pub(crate) fn name(nr: u64) -> &'static str {
    table::get(nr).map_or("unknown", |s| s.name)
}

/// What a signal handler does to call `nr` when it interrupts it blocked.
pub(crate) fn restart(nr: u64) -> RestartRule {
    table::get(nr).map_or(RestartRule::SaRestart, |s| s.restart)
}

/// Calls that SA_RESTART restarts after a handler (the rest fail with EINTR).
#[cfg(test)]
pub(crate) fn restartable(nr: u64) -> bool {
    restart(nr) == RestartRule::SaRestart
}

/// Return value of a call that succeeded with `v`, or failed with an errno.
pub(crate) fn ret(r: Result<i64, i32>) -> Sys {
    match r {
        Ok(v) => Sys::Ret(v),
        Err(e) => err(e),
    }
}

/// posix_fadvise: advice only; checks the fd and the advice as Linux does.
fn fadvise(c: &mut SysCtx) -> Sys {
    let f = match c.file(c.arg(0)) {
        Ok(f) => f,
        Err(x) => return err(x),
    };
    if crate::ipc::pipe::of(&*f.borrow().imp).is_some() {
        return err(libc::ESPIPE);
    }
    if c.arg(3) > 5 || (c.arg(2) as i64) < 0 {
        return err(libc::EINVAL);
    }
    Sys::Ret(0)
}
