//! The scheduling calls: sched_{set,get}{scheduler,param,attr}, sched_get_priority_{max,min},
//! sched_rr_get_interval, {set,get}priority and sched_{set,get}affinity. What they set is
//! kept per thread (`crate::kernel::sched`) and read back; the host schedules the threads.

use super::ret;
use crate::kernel::sched::{
    online_cpus, priority_range, MAX_NICE, MIN_NICE, SCHED_ATTR_SIZE, SCHED_ATTR_SIZE_VER0,
    SCHED_BATCH, SCHED_FLAG_ALL, SCHED_FLAG_RESET_ON_FORK, SCHED_OTHER, SCHED_RESET_ON_FORK,
};
use crate::kernel::{Sys, SysCtx};
use crate::mm::Errno;

/// A struct sched_param (one int) at `addr`: EINVAL for a null pointer, as Linux.
fn read_param(c: &SysCtx, addr: u64) -> Result<u32, Errno> {
    if addr == 0 {
        return Err(libc::EINVAL);
    }
    c.read_u32(addr)
}

pub(super) fn sched_getscheduler(c: &mut SysCtx) -> Sys {
    ret(c
        .sched_target(c.arg(0))
        .map(|t| c.sched(t).policy_word() as i64))
}

pub(super) fn sched_getparam(c: &mut SysCtx) -> Sys {
    let [pid, addr, ..] = c.args();
    let r = (|| {
        if addr == 0 || (pid as i32) < 0 {
            return Err(libc::EINVAL);
        }
        let t = c.sched_target(pid)?;
        let prio = c.sched(t).rt_priority;
        c.write_u32(addr, prio).map(|_| 0)
    })();
    ret(r)
}

pub(super) fn sched_setscheduler(c: &mut SysCtx) -> Sys {
    let [pid, policy, addr, ..] = c.args();
    let r = (|| {
        if (pid as i32) < 0 || (policy as i32) < 0 {
            return Err(libc::EINVAL);
        }
        let prio = read_param(c, addr)?;
        let t = c.sched_target(pid)?;
        let policy = policy as u32;
        let reset = policy & SCHED_RESET_ON_FORK != 0;
        c.set_sched(t, |s, privileged| {
            s.set(policy & !SCHED_RESET_ON_FORK, reset, prio, None, privileged)
        })
        .map(|_| 0)
    })();
    ret(r)
}

pub(super) fn sched_setparam(c: &mut SysCtx) -> Sys {
    let [pid, addr, ..] = c.args();
    let r = (|| {
        if (pid as i32) < 0 {
            return Err(libc::EINVAL);
        }
        let prio = read_param(c, addr)?;
        let t = c.sched_target(pid)?;
        c.set_sched(t, |s, privileged| {
            s.set(s.policy, s.reset_on_fork, prio, None, privileged)
        })
        .map(|_| 0)
    })();
    ret(r)
}

/// sched_setattr(pid, attr, flags): the record is read as Linux's sched_copy_attr reads
/// it — a size of 0 means the first version, a smaller one (or a larger one with non-zero
/// bytes past what we know) is E2BIG with our size written back into it.
pub(super) fn sched_setattr(c: &mut SysCtx) -> Sys {
    let [pid, addr, flags, ..] = c.args();
    let r = (|| {
        if addr == 0 || (pid as i32) < 0 || flags as u32 != 0 {
            return Err(libc::EINVAL);
        }
        let size = match c.read_u32(addr)? as usize {
            0 => SCHED_ATTR_SIZE_VER0,
            n => n,
        };
        if !(SCHED_ATTR_SIZE_VER0..=4096).contains(&size) {
            return Err(too_big(c, addr));
        }
        if size > SCHED_ATTR_SIZE {
            let tail = c.read_mem(addr + SCHED_ATTR_SIZE as u64, size - SCHED_ATTR_SIZE)?;
            if tail.iter().any(|&b| b != 0) {
                return Err(too_big(c, addr));
            }
        }
        let mut a = c.read_mem(addr, size.min(SCHED_ATTR_SIZE))?;
        a.resize(SCHED_ATTR_SIZE, 0);
        let u32_at = |o: usize| u32::from_le_bytes(a[o..o + 4].try_into().expect("4"));
        let policy = u32_at(4);
        let sflags = u64::from_le_bytes(a[8..16].try_into().expect("8"));
        let nice = u32_at(16) as i32;
        let prio = u32_at(20);
        if sflags & !SCHED_FLAG_ALL != 0 || (policy as i32) < 0 {
            return Err(libc::EINVAL);
        }
        let t = c.sched_target(pid)?;
        let reset = sflags & SCHED_FLAG_RESET_ON_FORK != 0;
        // Only the fair policies (SCHED_OTHER, SCHED_BATCH) take the record's nice, clamped
        // to -20..=19 as Linux's sched_copy_attr does; the others keep the thread's.
        let fair = matches!(policy, SCHED_OTHER | SCHED_BATCH);
        let nice = fair.then(|| nice.clamp(MIN_NICE, MAX_NICE));
        c.set_sched(t, |s, privileged| {
            s.set(policy, reset, prio, nice, privileged)
        })
        .map(|_| 0)
    })();
    ret(r)
}

/// Writes our struct size into the caller's record, and answers E2BIG.
fn too_big(c: &mut SysCtx, addr: u64) -> Errno {
    match c.write_u32(addr, SCHED_ATTR_SIZE as u32) {
        Ok(()) => libc::E2BIG,
        Err(e) => e,
    }
}

pub(super) fn sched_getattr(c: &mut SysCtx) -> Sys {
    let [pid, addr, size, flags, ..] = c.args();
    let r = (|| {
        let size = size as u32 as usize;
        if addr == 0
            || (pid as i32) < 0
            || flags as u32 != 0
            || !(SCHED_ATTR_SIZE_VER0..=4096).contains(&size)
        {
            return Err(libc::EINVAL);
        }
        let t = c.sched_target(pid)?;
        let mut rec = c.sched(t).attr_bytes().to_vec();
        let n = size.min(SCHED_ATTR_SIZE);
        rec.truncate(n);
        rec[0..4].copy_from_slice(&(n as u32).to_le_bytes());
        c.write_mem(addr, &rec).map(|_| 0)
    })();
    ret(r)
}

pub(super) fn sched_get_priority_max(c: &mut SysCtx) -> Sys {
    ret(priority_range(c.arg(0) as u32).map(|(_, max)| max as i64))
}

pub(super) fn sched_get_priority_min(c: &mut SysCtx) -> Sys {
    ret(priority_range(c.arg(0) as u32).map(|(min, _)| min as i64))
}

/// sched_rr_get_interval: Linux's round-robin slice (100 ms) for SCHED_RR, 0 for SCHED_FIFO,
/// and the fair scheduler's figure for the others — we answer its default minimum slice.
pub(super) fn sched_rr_get_interval(c: &mut SysCtx) -> Sys {
    let [pid, addr, ..] = c.args();
    let r = (|| {
        let t = c.sched_target(pid)?;
        let ns: u64 = match c.sched(t).policy {
            crate::kernel::sched::SCHED_RR => 100_000_000,
            crate::kernel::sched::SCHED_FIFO => 0,
            _ => 4_000_000,
        };
        let ts = crate::kernel::time::ns_to_ts(ns);
        c.write_mem(addr, &ts).map(|_| 0)
    })();
    ret(r)
}

/// getpriority: 20 minus the lowest nice of the threads selected (so 1..40, never
/// negative, as the raw system call returns it); ESRCH when none.
pub(super) fn getpriority(c: &mut SysCtx) -> Sys {
    let [which, who, ..] = c.args();
    let r = c.priority_targets(which, who).and_then(|ts| {
        ts.iter()
            .map(|&t| 20 - c.sched(t).nice)
            .max()
            .map(i64::from)
            .ok_or(libc::ESRCH)
    });
    ret(r)
}

/// setpriority: the nice value (clamped to -20..=19) for every thread selected; the last
/// refusal (EPERM: not the owner, EACCES: a lower nice without CAP_SYS_NICE) is the answer,
/// ESRCH when none is selected.
pub(super) fn setpriority(c: &mut SysCtx) -> Sys {
    let [which, who, prio, ..] = c.args();
    let nice = (prio as i32).clamp(-20, 19);
    let r = c.priority_targets(which, who).and_then(|ts| {
        if ts.is_empty() {
            return Err(libc::ESRCH);
        }
        let mut out = Ok(0);
        for t in ts {
            if let Err(e) = c.set_sched(t, |s, privileged| s.set_nice(nice, privileged)) {
                out = Err(e);
            }
        }
        out
    });
    ret(r)
}

/// sched_setaffinity: the mask (as long as the caller gives, at least 8 bytes read) limited
/// to the CPUs there are; EINVAL when that leaves none.
pub(super) fn sched_setaffinity(c: &mut SysCtx) -> Sys {
    let [pid, len, addr, ..] = c.args();
    let r = (|| {
        let t = c.sched_target(pid)?;
        let len = (len as usize).min(128);
        if len == 0 {
            return Err(libc::EINVAL);
        }
        let b = c.read_mem(addr, len)?;
        let mut word = [0u8; 8];
        let n = b.len().min(8);
        word[..n].copy_from_slice(&b[..n]);
        let mask = u64::from_le_bytes(word) & online_cpus();
        if mask == 0 {
            return Err(libc::EINVAL);
        }
        c.set_sched(t, |s, _| {
            s.affinity = mask;
            Ok(())
        })
        .map(|_| 0)
    })();
    ret(r)
}

/// sched_getaffinity: the thread's mask, as many bytes as a kernel cpumask has (8 here);
/// EINVAL for a length that is not a multiple of 8 or too short.
pub(super) fn sched_getaffinity(c: &mut SysCtx) -> Sys {
    let [pid, len, addr, ..] = c.args();
    let r = (|| {
        let len = len as usize;
        if len < 8 || !len.is_multiple_of(8) {
            return Err(libc::EINVAL);
        }
        let t = c.sched_target(pid)?;
        let mask = c.sched(t).affinity;
        c.write_mem(addr, &mask.to_le_bytes()).map(|_| 8)
    })();
    ret(r)
}
