//! poll, ppoll, select, pselect6.

use crate::kernel::task::{Park, WaitKey};
use crate::kernel::time::ts_to_ns;
use crate::kernel::{err, Sys, SysCtx};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

/// Installs a temporary signal mask for ppoll/pselect (restored when the call ends).
fn set_temp_mask(c: &mut SysCtx, maskp: u64) -> Result<(), i32> {
    if maskp != 0 && !c.temp_mask_active() {
        let m = c.read_u64(maskp)?;
        c.set_temp_mask(m);
    }
    Ok(())
}

/// Ends a poll-like call: restores the mask, or parks until ready or the deadline.
fn poll_end(c: &mut SysCtx, ready: i64, keys: Vec<WaitKey>, deadline: Option<u64>) -> Option<Sys> {
    if ready > 0 || deadline.is_some_and(|d| c.now() >= d) {
        c.restore_temp_mask();
        return None;
    }
    let mut keys = keys;
    if keys.is_empty() {
        keys.push(WaitKey::Nothing);
    }
    Some(Sys::Park(Park { keys, deadline }))
}

/// `timeout_ns`: None waits forever.
/// poll, and ppoll with `timeout_ns` given.
pub(super) fn poll(
    c: &mut SysCtx,
    fds: u64,
    nfds: u64,
    timeout_ms: i64,
    timeout_ns: Option<Option<u64>>,
) -> Sys {
    if nfds > c.fds().borrow().limit as u64 || nfds > 65536 {
        return err(libc::EINVAL);
    }
    let raw = tryk!(c.read_mem(fds, nfds as usize * 8));
    let rel = match timeout_ns {
        Some(t) => t,
        None if timeout_ms < 0 => None,
        None => Some(timeout_ms as u64 * 1_000_000),
    };
    let deadline = rel.map(|ns| c.deadline(ns));
    let mut out = raw.clone();
    let mut ready = 0;
    let mut keys = Vec::new();
    for i in 0..nfds as usize {
        let fd = i32::from_le_bytes(raw[i * 8..i * 8 + 4].try_into().expect("4"));
        let events = i16::from_le_bytes(raw[i * 8 + 4..i * 8 + 6].try_into().expect("2"));
        let rev = if fd < 0 {
            0
        } else {
            match c.file(fd as u64) {
                Ok(f) => {
                    let (r, k) = c.readiness(&f, events | libc::POLLERR | libc::POLLHUP);
                    keys.extend(k);
                    r
                }
                Err(_) => libc::POLLNVAL,
            }
        };
        out[i * 8 + 6..i * 8 + 8].copy_from_slice(&rev.to_le_bytes());
        if rev != 0 {
            ready += 1;
        }
    }
    if let Some(park) = poll_end(c, ready, keys, deadline) {
        return park;
    }
    tryk!(c.write_mem(fds, &out));
    Sys::Ret(ready)
}

pub(super) fn ppoll(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let timeout = if a[2] != 0 {
        Some(tryk!(c.read_timespec(a[2])))
    } else {
        None
    };
    if a[3] != 0 && a[4] != 8 {
        return err(libc::EINVAL);
    }
    tryk!(set_temp_mask(c, a[3]));
    let out = poll(c, a[0], a[1], -1, Some(timeout));
    if let (Sys::Ret(n), true) = (&out, a[2] != 0) {
        // ppoll writes back the time left, as Linux.
        if *n >= 0 {
            let _ = c.write_mem(a[2], &time_left(c, false));
        }
    }
    out
}

/// What is left of the call's timeout, as a timespec (or a timeval for `usec`).
fn time_left(c: &SysCtx, usec: bool) -> Vec<u8> {
    let left = c.sys_deadline().map_or(0, |d| d.saturating_sub(c.now()));
    let sub = left % 1_000_000_000;
    let mut b = (left / 1_000_000_000).to_le_bytes().to_vec();
    b.extend_from_slice(&(if usec { sub / 1000 } else { sub }).to_le_bytes());
    b
}

/// select, and pselect6 when `pselect`.
pub(super) fn select(c: &mut SysCtx, pselect: bool) -> Sys {
    let a = c.args();
    let nfds = a[0] as i32;
    if nfds < 0 || nfds > c.fds().borrow().limit.max(1024) {
        return err(libc::EINVAL);
    }
    let words = (nfds as usize).div_ceil(64);
    let read_set = |c: &SysCtx, p: u64| -> Result<Vec<u64>, i32> {
        if p == 0 {
            return Ok(vec![0; words]);
        }
        let b = c.read_mem(p, words * 8)?;
        Ok(b.chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
            .collect())
    };
    let sets = [
        tryk!(read_set(c, a[1])),
        tryk!(read_set(c, a[2])),
        tryk!(read_set(c, a[3])),
    ];
    let rel = if a[4] != 0 {
        let b = tryk!(c.read_mem(a[4], 16));
        let s = i64::from_le_bytes(b[..8].try_into().expect("8"));
        let sub = i64::from_le_bytes(b[8..].try_into().expect("8"));
        let ns = if pselect {
            ts_to_ns(s, sub)
        } else if (0..1_000_000).contains(&sub) {
            ts_to_ns(s, sub * 1000)
        } else {
            None
        };
        match ns {
            Some(n) => Some(n),
            None => return err(libc::EINVAL),
        }
    } else {
        None
    };
    if pselect && a[5] != 0 {
        let b = tryk!(c.read_mem(a[5], 16));
        let maskp = u64::from_le_bytes(b[..8].try_into().expect("8"));
        tryk!(set_temp_mask(c, maskp));
    }
    let deadline = rel.map(|ns| c.deadline(ns));
    let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    let mut ready = 0;
    let mut keys = Vec::new();
    for fd in 0..nfds as usize {
        let (w, b) = (fd / 64, 1u64 << (fd % 64));
        let want = [
            sets[0][w] & b != 0,
            sets[1][w] & b != 0,
            sets[2][w] & b != 0,
        ];
        if !want.iter().any(|&x| x) {
            continue;
        }
        let f = match c.file(fd as u64) {
            Ok(f) => f,
            Err(e) => {
                c.restore_temp_mask();
                return err(e);
            }
        };
        let mut ev = 0;
        if want[0] {
            ev |= libc::POLLIN;
        }
        if want[1] {
            ev |= libc::POLLOUT;
        }
        if want[2] {
            ev |= libc::POLLPRI;
        }
        let (r, k) = c.readiness(&f, ev);
        keys.extend(k);
        if want[0] && r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            out[0][w] |= b;
            ready += 1;
        }
        if want[1] && r & (libc::POLLOUT | libc::POLLERR) != 0 {
            out[1][w] |= b;
            ready += 1;
        }
        if want[2] && r & libc::POLLPRI != 0 {
            out[2][w] |= b;
            ready += 1;
        }
    }
    if let Some(park) = poll_end(c, ready, keys, deadline) {
        return park;
    }
    for (i, p) in [a[1], a[2], a[3]].into_iter().enumerate() {
        if p != 0 {
            let bytes: Vec<u8> = out[i].iter().flat_map(|w| w.to_le_bytes()).collect();
            tryk!(c.write_mem(p, &bytes));
        }
    }
    if a[4] != 0 {
        // Both write back the time left (select a timeval, pselect6 a timespec: glibc's
        // select is pselect6).
        let _ = c.write_mem(a[4], &time_left(c, !pselect));
    }
    Sys::Ret(ready)
}
