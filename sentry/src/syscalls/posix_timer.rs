//! timer_create, timer_settime, timer_gettime, timer_getoverrun, timer_delete: the timers
//! themselves are `crate::kernel::posix_timer`.

use super::ret;
use super::timerfd::{itimerspec_bytes, read_itimerspec};
use crate::kernel::{err, Sys, SysCtx};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

/// Size of `struct sigevent`.
const SIGEVENT_SIZE: usize = 64;

pub(super) fn timer_create(c: &mut SysCtx) -> Sys {
    let [clock, sev, out, ..] = c.args();
    let sigevent = match sev {
        0 => None,
        a => Some(tryk!(c.read_mem(a, SIGEVENT_SIZE))),
    };
    ret(c.timer_create(clock as i32, sigevent, out).map(|_| 0))
}

pub(super) fn timer_settime(c: &mut SysCtx) -> Sys {
    let [id, flags, new, old, ..] = c.args();
    if new == 0 {
        return err(libc::EINVAL);
    }
    let (interval, value) = tryk!(read_itimerspec(c, new));
    // Linux looks at TIMER_ABSTIME only.
    let abs = flags as i32 & libc::TIMER_ABSTIME != 0;
    let (was_left, was_interval) = tryk!(c.timer_settime(id as i32, abs, value, interval));
    if old != 0 {
        tryk!(c.write_mem(old, &itimerspec_bytes(was_interval, was_left)));
    }
    Sys::Ret(0)
}

pub(super) fn timer_gettime(c: &mut SysCtx) -> Sys {
    let [id, cur, ..] = c.args();
    let (left, interval) = tryk!(c.timer_gettime(id as i32));
    ret(c
        .write_mem(cur, &itimerspec_bytes(interval, left))
        .map(|_| 0))
}

pub(super) fn timer_getoverrun(c: &mut SysCtx) -> Sys {
    ret(c.timer_getoverrun(c.arg(0) as i32).map(i64::from))
}

pub(super) fn timer_delete(c: &mut SysCtx) -> Sys {
    ret(c.timer_delete(c.arg(0) as i32).map(|_| 0))
}
