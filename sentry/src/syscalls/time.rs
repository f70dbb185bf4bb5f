//! Time calls: clocks, sleeps, alarm and interval timers.

use super::ret;
use crate::kernel::task::{Park, WaitKey};
use crate::kernel::time::{ns_to_ts, ts_to_ns};
use crate::kernel::{err, Kernel, Sys};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

impl Kernel {
    fn read_ts(&self, tid: i32, addr: u64) -> Result<u64, i32> {
        let b = self.read_mem(tid, addr, 16)?;
        ts_to_ns(
            i64::from_le_bytes(b[..8].try_into().expect("8")),
            i64::from_le_bytes(b[8..].try_into().expect("8")),
        )
        .ok_or(libc::EINVAL)
    }

    fn read_tv(&self, tid: i32, addr: u64) -> Result<u64, i32> {
        let b = self.read_mem(tid, addr, 16)?;
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

    pub fn sys_clock_gettime(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let Some(ns) = self.clocks.read(a[0] as i32) else {
            return err(libc::EINVAL);
        };
        ret(self.write_mem(tid, a[1], &ns_to_ts(ns)).map(|_| 0))
    }

    pub fn sys_clock_getres(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if self.clocks.read(a[0] as i32).is_none() {
            return err(libc::EINVAL);
        }
        if a[1] == 0 {
            return Sys::Ret(0);
        }
        ret(self.write_mem(tid, a[1], &ns_to_ts(1)).map(|_| 0))
    }

    pub fn sys_gettimeofday(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if a[0] != 0 {
            let now = self.clocks.realtime();
            tryk!(self.write_mem(tid, a[0], &Self::tv_bytes(now)));
        }
        if a[1] != 0 {
            tryk!(self.write_mem(tid, a[1], &[0u8; 8]));
        }
        Sys::Ret(0)
    }

    pub fn sys_time(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let s = self.clocks.realtime() / 1_000_000_000;
        if a[0] != 0 {
            tryk!(self.write_u64(tid, a[0], s));
        }
        Sys::Ret(s as i64)
    }

    fn sleep_until(&mut self, deadline: u64) -> Sys {
        if self.clocks.mono() >= deadline {
            return Sys::Ret(0);
        }
        Sys::Park(Park {
            keys: vec![WaitKey::Nothing],
            deadline: Some(deadline),
        })
    }

    pub fn sys_nanosleep(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let ns = tryk!(self.read_ts(tid, a[0]));
        let d = self.deadline(tid, ns);
        self.sleep_until(d)
    }

    pub fn sys_clock_nanosleep(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (clock, flags, req) = (a[0] as i32, a[1] as i32, a[2]);
        if self.clocks.read(clock).is_none() || clock == libc::CLOCK_THREAD_CPUTIME_ID {
            return err(libc::EINVAL);
        }
        let ns = tryk!(self.read_ts(tid, req));
        let d = if flags & libc::TIMER_ABSTIME != 0 {
            let d = self.clocks.to_mono_deadline(clock, ns);
            *self.task_mut(tid).sys_deadline.get_or_insert(d)
        } else {
            self.deadline(tid, ns)
        };
        self.sleep_until(d)
    }

    pub fn sys_alarm(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let now = self.clocks.mono();
        let g = self.tg_of_mut(tid);
        let old = g
            .itimer_real
            .map(|(d, _)| d.saturating_sub(now).div_ceil(1_000_000_000))
            .unwrap_or(0);
        g.itimer_real = if a[0] == 0 {
            None
        } else {
            Some((now + a[0] * 1_000_000_000, 0))
        };
        Sys::Ret(old as i64)
    }

    fn itimer_bytes(&self, tid: i32) -> Vec<u8> {
        let now = self.clocks.mono();
        let (value, interval) = match self.tg_of(tid).itimer_real {
            Some((d, i)) => (d.saturating_sub(now).max(1), i),
            None => (0, 0),
        };
        let mut b = Self::tv_bytes(interval).to_vec();
        b.extend_from_slice(&Self::tv_bytes(value));
        b
    }

    pub fn sys_setitimer(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if a[0] as i32 != libc::ITIMER_REAL {
            // ITIMER_VIRTUAL and ITIMER_PROF need per-thread CPU accounting, not modelled.
            self.log_unimplemented(libc::SYS_setitimer as u64);
            return err(libc::EINVAL);
        }
        if a[2] != 0 {
            let old = self.itimer_bytes(tid);
            tryk!(self.write_mem(tid, a[2], &old));
        }
        if a[1] != 0 {
            let interval = tryk!(self.read_tv(tid, a[1]));
            let value = tryk!(self.read_tv(tid, a[1] + 16));
            let now = self.clocks.mono();
            self.tg_of_mut(tid).itimer_real = if value == 0 {
                None
            } else {
                Some((now + value, interval))
            };
        }
        Sys::Ret(0)
    }

    pub fn sys_getitimer(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if a[0] as i32 != libc::ITIMER_REAL {
            return err(libc::EINVAL);
        }
        let b = self.itimer_bytes(tid);
        ret(self.write_mem(tid, a[1], &b).map(|_| 0))
    }
}

/// A sleep cut short by a signal reports the time left.
pub fn nanosleep_interrupted(k: &mut Kernel, tid: i32) {
    let r = k.task(tid).regs;
    let (rem, abs) = if r.orig_rax == libc::SYS_nanosleep as u64 {
        (r.rsi, false)
    } else {
        (r.r10, r.rsi as i32 & libc::TIMER_ABSTIME != 0)
    };
    let Some(d) = k.task(tid).sys_deadline else {
        return;
    };
    if rem != 0 && !abs {
        let left = d.saturating_sub(k.clocks.mono());
        let _ = k.write_mem(tid, rem, &ns_to_ts(left));
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
