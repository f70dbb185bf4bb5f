//! Time calls: clocks, sleeps, alarm and interval timers.

use super::ret;
use crate::kernel::cputime::is_cpu_clock;
use crate::kernel::task::{Park, WaitKey};
use crate::kernel::time::{ns_to_ts, ts_to_ns};
use crate::kernel::{err, Sys, SysCtx};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

/// A `struct timeval` at `addr`, in ns.
fn read_tv(c: &SysCtx, addr: u64) -> Result<u64, i32> {
    let b = c.read_mem(addr, 16)?;
    let s = i64::from_le_bytes(b[..8].try_into().expect("8"));
    let us = i64::from_le_bytes(b[8..].try_into().expect("8"));
    if !(0..1_000_000).contains(&us) {
        return Err(libc::EINVAL);
    }
    ts_to_ns(s, us * 1000).ok_or(libc::EINVAL)
}

fn tv_bytes(ns: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
    b[8..].copy_from_slice(&((ns % 1_000_000_000) / 1000).to_le_bytes());
    b
}

/// The reading of `clock`: a CPU-time clock's from the kernel's accounting.
fn read_clock(c: &SysCtx, clock: i32) -> Result<u64, i32> {
    if is_cpu_clock(clock) {
        return c.cpu_clock_read(clock);
    }
    c.clocks().read(clock).ok_or(libc::EINVAL)
}

pub(super) fn clock_gettime(c: &mut SysCtx) -> Sys {
    let ns = tryk!(read_clock(c, c.arg(0) as i32));
    ret(c.write_mem(c.arg(1), &ns_to_ts(ns)).map(|_| 0))
}

pub(super) fn clock_getres(c: &mut SysCtx) -> Sys {
    tryk!(read_clock(c, c.arg(0) as i32));
    if c.arg(1) == 0 {
        return Sys::Ret(0);
    }
    ret(c.write_mem(c.arg(1), &ns_to_ts(1)).map(|_| 0))
}

pub(super) fn gettimeofday(c: &mut SysCtx) -> Sys {
    let [tv, tz, ..] = c.args();
    if tv != 0 {
        let now = c.clocks().realtime();
        tryk!(c.write_mem(tv, &tv_bytes(now)));
    }
    if tz != 0 {
        tryk!(c.write_mem(tz, &[0u8; 8]));
    }
    Sys::Ret(0)
}

pub(super) fn time(c: &mut SysCtx) -> Sys {
    let s = c.clocks().realtime() / 1_000_000_000;
    if c.arg(0) != 0 {
        tryk!(c.write_u64(c.arg(0), s));
    }
    Sys::Ret(s as i64)
}

fn sleep_until(c: &SysCtx, deadline: u64) -> Sys {
    if c.now() >= deadline {
        return Sys::Ret(0);
    }
    Sys::Park(Park {
        keys: vec![WaitKey::Nothing],
        deadline: Some(deadline),
    })
}

pub(super) fn nanosleep(c: &mut SysCtx) -> Sys {
    let ns = tryk!(c.read_timespec(c.arg(0)));
    let d = c.deadline(ns);
    sleep_until(c, d)
}

pub(super) fn clock_nanosleep(c: &mut SysCtx) -> Sys {
    let (clock, flags, req) = (c.arg(0) as i32, c.arg(1) as i32, c.arg(2));
    if c.clocks().read(clock).is_none() || clock == libc::CLOCK_THREAD_CPUTIME_ID {
        return err(libc::EINVAL);
    }
    let ns = tryk!(c.read_timespec(req));
    let d = if flags & libc::TIMER_ABSTIME != 0 {
        let d = c.clocks().to_mono_deadline(clock, ns);
        c.deadline_at(d)
    } else {
        c.deadline(ns)
    };
    sleep_until(c, d)
}

pub(super) fn alarm(c: &mut SysCtx) -> Sys {
    let now = c.now();
    let old = c
        .itimer_real()
        .map(|(d, _)| d.saturating_sub(now).div_ceil(1_000_000_000))
        .unwrap_or(0);
    let secs = c.arg(0);
    c.set_itimer_real(if secs == 0 {
        None
    } else {
        Some((now + secs * 1_000_000_000, 0))
    });
    Sys::Ret(old as i64)
}

/// An itimerval of (interval, value) in ns.
fn itimerval_bytes(interval: u64, value: u64) -> Vec<u8> {
    let mut b = tv_bytes(interval).to_vec();
    b.extend_from_slice(&tv_bytes(value));
    b
}

/// The process's ITIMER_REAL: (left, interval).
fn itimer_real_left(c: &SysCtx) -> (u64, u64) {
    let now = c.now();
    match c.itimer_real() {
        Some((d, i)) => (d.saturating_sub(now).max(1), i),
        None => (0, 0),
    }
}

/// Which CPU-time interval timer `which` is (ITIMER_VIRTUAL 0, ITIMER_PROF 1), None for
/// ITIMER_REAL; EINVAL for another.
fn cpu_which(which: u64) -> Result<Option<usize>, i32> {
    match which as i32 {
        libc::ITIMER_REAL => Ok(None),
        libc::ITIMER_VIRTUAL => Ok(Some(0)),
        libc::ITIMER_PROF => Ok(Some(1)),
        _ => Err(libc::EINVAL),
    }
}

pub(super) fn setitimer(c: &mut SysCtx) -> Sys {
    let [which, new, old, ..] = c.args();
    let cpu = tryk!(cpu_which(which));
    let new = if new != 0 {
        let interval = tryk!(read_tv(c, new));
        let value = tryk!(read_tv(c, new + 16));
        Some((value, interval))
    } else {
        None
    };
    let (left, interval) = match cpu {
        Some(w) => c.itimer_cpu(w, new),
        None => {
            let was = itimer_real_left(c);
            if let Some((value, interval)) = new {
                let now = c.now();
                c.set_itimer_real((value > 0).then(|| (now + value, interval)));
            }
            was
        }
    };
    if old != 0 {
        tryk!(c.write_mem(old, &itimerval_bytes(interval, left)));
    }
    Sys::Ret(0)
}

pub(super) fn getitimer(c: &mut SysCtx) -> Sys {
    let (left, interval) = match tryk!(cpu_which(c.arg(0))) {
        Some(w) => c.itimer_cpu(w, None),
        None => itimer_real_left(c),
    };
    ret(c
        .write_mem(c.arg(1), &itimerval_bytes(interval, left))
        .map(|_| 0))
}

/// A sleep cut short by a signal reports the time left.
pub(super) fn nanosleep_interrupted(c: &mut SysCtx) {
    let r = *c.regs();
    let (rem, abs) = if r.orig_rax == libc::SYS_nanosleep as u64 {
        (r.rsi, false)
    } else {
        (r.r10, r.rsi as i32 & libc::TIMER_ABSTIME != 0)
    };
    let Some(d) = c.sys_deadline() else {
        return;
    };
    if rem != 0 && !abs {
        let left = d.saturating_sub(c.now());
        let _ = c.write_mem(rem, &ns_to_ts(left));
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::Kernel;
    use crate::testing::{kernel, SCRATCH};

    fn ts(k: &mut Kernel, t: i32, addr: u64, sec: i64, nsec: i64) {
        let mut b = sec.to_le_bytes().to_vec();
        b.extend_from_slice(&nsec.to_le_bytes());
        k.put(t, addr, &b);
    }

    #[test]
    fn clocks_and_sleeps() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let mono = libc::CLOCK_MONOTONIC as u64;
        let read = |k: &mut Kernel| {
            assert_eq!(
                k.call(t, libc::SYS_clock_gettime, [mono, SCRATCH, 0, 0, 0, 0]),
                Some(0)
            );
            let b = k.get(t, SCRATCH, 16);
            let s = u64::from_le_bytes(b[..8].try_into().unwrap());
            let n = u64::from_le_bytes(b[8..].try_into().unwrap());
            assert!(n < 1_000_000_000);
            s * 1_000_000_000 + n
        };
        let a = read(&mut k);
        assert!(read(&mut k) >= a);
        assert_eq!(
            k.call(t, libc::SYS_clock_gettime, [99, SCRATCH, 0, 0, 0, 0]),
            Some(-(libc::EINVAL as i64))
        );
        // A zero sleep returns at once; a second's sleep parks; a bad timespec is EINVAL.
        ts(&mut k, t, SCRATCH + 32, 0, 0);
        assert_eq!(
            k.call(t, libc::SYS_nanosleep, [SCRATCH + 32, 0, 0, 0, 0, 0]),
            Some(0)
        );
        ts(&mut k, t, SCRATCH + 32, 1, 0);
        assert_eq!(
            k.call(t, libc::SYS_nanosleep, [SCRATCH + 32, 0, 0, 0, 0, 0]),
            None
        );
        k.task_mut(t).sys_deadline = None; // the parked sleep is abandoned
        ts(&mut k, t, SCRATCH + 32, 0, 1_000_000_000);
        assert_eq!(
            k.call(t, libc::SYS_nanosleep, [SCRATCH + 32, 0, 0, 0, 0, 0]),
            Some(-(libc::EINVAL as i64))
        );
        assert_eq!(
            k.call(t, libc::SYS_nanosleep, [8, 0, 0, 0, 0, 0]),
            Some(-(libc::EFAULT as i64))
        );
    }

    #[test]
    fn alarm_reports_what_was_left() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        assert_eq!(k.call(t, libc::SYS_alarm, [100, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(k.call(t, libc::SYS_alarm, [0, 0, 0, 0, 0, 0]), Some(100));
        assert_eq!(k.call(t, libc::SYS_alarm, [0, 0, 0, 0, 0, 0]), Some(0));
    }
}
