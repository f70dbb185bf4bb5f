//! timerfd_create, timerfd_settime, timerfd_gettime: the timer itself is
//! `crate::ipc::timerfd`.

use super::ret;
use crate::fs::file::OpenFile;
use crate::ipc::timerfd::{clock_ok, TimerFd};
use crate::kernel::time::ns_to_ts;
use crate::kernel::{err, Sys, SysCtx};
use crate::mm::Errno;

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

pub(super) fn timerfd_create(c: &mut SysCtx) -> Sys {
    let [clock, flags, ..] = c.args();
    let (clock, flags) = (clock as i32, flags as i32);
    if !clock_ok(clock) || flags & !(libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) != 0 {
        return err(libc::EINVAL);
    }
    let id = c.new_obj_id();
    let f = OpenFile::new(
        Box::new(TimerFd::new(id, clock)),
        libc::O_RDWR | (flags & libc::O_NONBLOCK),
        "anon_inode:[timerfd]",
    );
    ret(c
        .install(f, flags & libc::TFD_CLOEXEC != 0)
        .map(|fd| fd as i64))
}

/// An itimerspec: (interval, value) as its two timespecs in ns, out of the guest (EFAULT
/// when unreadable, then EINVAL when not valid).
pub(super) fn read_itimerspec(c: &SysCtx, addr: u64) -> Result<(u64, u64), Errno> {
    c.read_mem(addr, 32)?;
    Ok((c.read_timespec(addr)?, c.read_timespec(addr + 16)?))
}

/// An itimerspec of (interval, value) in ns.
pub(super) fn itimerspec_bytes(interval: u64, value: u64) -> Vec<u8> {
    let mut b = ns_to_ts(interval).to_vec();
    b.extend_from_slice(&ns_to_ts(value));
    b
}

/// Runs `f` on the timerfd `fd` names: EBADF for no file, EINVAL for another kind.
fn with_timer<R>(c: &SysCtx, fd: u64, f: impl FnOnce(&mut TimerFd) -> R) -> Result<R, Errno> {
    let file = c.file(fd)?;
    let mut fb = file.borrow_mut();
    let t = fb
        .io()
        .ok()
        .and_then(|imp| imp.as_any_mut().downcast_mut::<TimerFd>())
        .ok_or(libc::EINVAL)?;
    Ok(f(t))
}

pub(super) fn timerfd_settime(c: &mut SysCtx) -> Sys {
    let [fd, flags, new, old, ..] = c.args();
    let flags = flags as i32;
    if flags & !(libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET) != 0 {
        return err(libc::EINVAL);
    }
    let (interval, value) = tryk!(read_itimerspec(c, new));
    let clock = tryk!(with_timer(c, fd, |t| t.clock()));
    // An absolute time is on the guest's clock: the time to it (negative when past: an
    // interval timer then has expired every interval since).
    let first = match value {
        0 => None,
        v if flags & libc::TFD_TIMER_ABSTIME != 0 => {
            let now = c.clocks().read(clock).unwrap_or(0);
            Some((v as i128 - now as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64)
        }
        v => Some(v.min(i64::MAX as u64) as i64),
    };
    let (was_left, was_interval) = tryk!(with_timer(c, fd, |t| t.set(first, interval)));
    if old != 0 {
        tryk!(c.write_mem(old, &itimerspec_bytes(was_interval, was_left)));
    }
    Sys::Ret(0)
}

pub(super) fn timerfd_gettime(c: &mut SysCtx) -> Sys {
    let [fd, cur, ..] = c.args();
    let (left, interval) = tryk!(with_timer(c, fd, |t| t.get()));
    ret(c
        .write_mem(cur, &itimerspec_bytes(interval, left))
        .map(|_| 0))
}

#[cfg(test)]
mod tests {
    use crate::testing::{kernel, SCRATCH};

    #[test]
    fn timerfd_calls_check_their_arguments() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let e = |errno: i32| Some(-(errno as i64));
        let mono = libc::CLOCK_MONOTONIC as u64;
        assert_eq!(
            k.call(t, libc::SYS_timerfd_create, [99, 0, 0, 0, 0, 0]),
            e(libc::EINVAL)
        );
        assert_eq!(
            k.call(t, libc::SYS_timerfd_create, [mono, 0x10, 0, 0, 0, 0]),
            e(libc::EINVAL)
        );
        let nb = libc::TFD_NONBLOCK as u64;
        let fd = k
            .call(t, libc::SYS_timerfd_create, [mono, nb, 0, 0, 0, 0])
            .unwrap() as u64;
        // A timer a minute away, every second.
        let mut its = Vec::new();
        for v in [1i64, 0, 60, 0] {
            its.extend_from_slice(&v.to_le_bytes());
        }
        k.put(t, SCRATCH, &its);
        let set = |k: &mut crate::kernel::Kernel, fd: u64, flags: u64| {
            k.call(
                t,
                libc::SYS_timerfd_settime,
                [fd, flags, SCRATCH, SCRATCH + 64, 0, 0],
            )
        };
        assert_eq!(set(&mut k, fd, 0), Some(0));
        assert_eq!(set(&mut k, fd, 8), e(libc::EINVAL), "unknown flag");
        assert_eq!(set(&mut k, 77, 0), e(libc::EBADF));
        let efd = k.call(t, libc::SYS_eventfd2, [0, 0, 0, 0, 0, 0]).unwrap() as u64;
        assert_eq!(set(&mut k, efd, 0), e(libc::EINVAL), "not a timerfd");
        assert_eq!(
            k.call(t, libc::SYS_timerfd_settime, [fd, 0, 8, 0, 0, 0]),
            e(libc::EFAULT)
        );
        // The old value came back: a minute left (less what passed), every second.
        assert_eq!(set(&mut k, fd, 0), Some(0));
        let old = k.get(t, SCRATCH + 64, 32);
        assert_eq!(i64::from_le_bytes(old[0..8].try_into().unwrap()), 1);
        let left = i64::from_le_bytes(old[16..24].try_into().unwrap());
        assert!((58..=59).contains(&left), "{left}");
        // Not expired: a non-blocking read is EAGAIN, and a bad timespec is refused.
        assert_eq!(
            k.call(t, libc::SYS_read, [fd, SCRATCH + 128, 8, 0, 0, 0]),
            e(libc::EAGAIN)
        );
        k.put(t, SCRATCH + 8, &2_000_000_000i64.to_le_bytes());
        assert_eq!(set(&mut k, fd, 0), e(libc::EINVAL));
        // An absolute time in the past expires at once.
        let mut past = vec![0u8; 24];
        past.extend_from_slice(&1i64.to_le_bytes());
        k.put(t, SCRATCH, &past);
        let abs = libc::TFD_TIMER_ABSTIME as u64;
        assert_eq!(set(&mut k, fd, abs), Some(0));
        assert_eq!(
            k.call(t, libc::SYS_read, [fd, SCRATCH + 128, 8, 0, 0, 0]),
            Some(8)
        );
        assert_eq!(k.get(t, SCRATCH + 128, 8), 1u64.to_le_bytes());
        assert_eq!(
            k.call(
                t,
                libc::SYS_timerfd_gettime,
                [fd, SCRATCH + 160, 0, 0, 0, 0]
            ),
            Some(0)
        );
        assert_eq!(k.get(t, SCRATCH + 160, 32), vec![0u8; 32], "disarmed");
    }
}
