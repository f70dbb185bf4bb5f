//! Signal calls: rt_sigaction, rt_sigprocmask, rt_sigreturn, kill/tkill/tgkill,
//! sigaltstack, rt_sigsuspend, rt_sigtimedwait, rt_sigpending, rt_sigqueueinfo.

use super::ret;
use crate::kernel::signal::{SigAction, SigInfo, SI_TKILL, UNBLOCKABLE};
use crate::kernel::task::{Park, WaitKey};
use crate::kernel::{err, Sys, SysCtx};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

fn valid(sig: i32) -> bool {
    (1..=64).contains(&sig)
}

pub(super) fn rt_sigaction(c: &mut SysCtx) -> Sys {
    let [sig, act, old, size, ..] = c.args();
    let sig = sig as i32;
    if size != 8 || !valid(sig) {
        return err(libc::EINVAL);
    }
    let new = if act != 0 {
        let b = tryk!(c.read_mem(act, 32));
        Some(SigAction::from_bytes(&b.try_into().expect("32")))
    } else {
        None
    };
    if new.is_some() && (sig == libc::SIGKILL || sig == libc::SIGSTOP) {
        return err(libc::EINVAL);
    }
    let prev = c.sigaction(sig);
    if old != 0 {
        tryk!(c.write_mem(old, &prev.to_bytes()));
    }
    if let Some(n) = new {
        c.set_sigaction(sig, n);
    }
    Sys::Ret(0)
}

pub(super) fn rt_sigprocmask(c: &mut SysCtx) -> Sys {
    let [how, set, old, size, ..] = c.args();
    if size != 8 {
        return err(libc::EINVAL);
    }
    let cur = c.sigmask();
    let new = if set != 0 {
        let s = tryk!(c.read_u64(set));
        Some(match how as i32 {
            libc::SIG_BLOCK => cur | s,
            libc::SIG_UNBLOCK => cur & !s,
            libc::SIG_SETMASK => s,
            _ => return err(libc::EINVAL),
        })
    } else {
        None
    };
    if old != 0 {
        tryk!(c.write_u64(old, cur));
    }
    if let Some(n) = new {
        c.set_sigmask(n);
    }
    Sys::Ret(0)
}

pub(super) fn kill(c: &mut SysCtx) -> Sys {
    let (pid, sig) = (c.arg(0) as i32, c.arg(1) as i32);
    if sig != 0 && !valid(sig) {
        return err(libc::EINVAL);
    }
    ret(c.kill(pid, sig).map(|_| 0))
}

pub(super) fn tkill(c: &mut SysCtx) -> Sys {
    send_to_thread(c, -1, c.arg(0) as i32, c.arg(1) as i32)
}

pub(super) fn tgkill(c: &mut SysCtx) -> Sys {
    send_to_thread(c, c.arg(0) as i32, c.arg(1) as i32, c.arg(2) as i32)
}

/// tgkill, and tkill with `tgid` -1.
fn send_to_thread(c: &mut SysCtx, tgid: i32, target: i32, sig: i32) -> Sys {
    if (sig != 0 && !valid(sig)) || target <= 0 || (tgid != -1 && tgid <= 0) {
        return err(libc::EINVAL);
    }
    ret(c.tgkill(tgid, target, sig).map(|_| 0))
}

pub(super) fn sigaltstack(c: &mut SysCtx) -> Sys {
    let [ss, old, ..] = c.args();
    let (sp, flags, size) = c.altstack();
    let rsp = c.regs().rsp;
    let on = flags != libc::SS_DISABLE && rsp > sp && rsp <= sp + size;
    if old != 0 {
        let mut b = sp.to_le_bytes().to_vec();
        let f = if on { libc::SS_ONSTACK } else { flags };
        b.extend_from_slice(&f.to_le_bytes());
        b.extend_from_slice(&[0u8; 4]);
        b.extend_from_slice(&size.to_le_bytes());
        tryk!(c.write_mem(old, &b));
    }
    if ss != 0 {
        if on {
            return err(libc::EPERM);
        }
        let b = tryk!(c.read_mem(ss, 24));
        let nsp = u64::from_le_bytes(b[0..8].try_into().expect("8"));
        let nflags = i32::from_le_bytes(b[8..12].try_into().expect("4"));
        let nsize = u64::from_le_bytes(b[16..24].try_into().expect("8"));
        if nflags & !(libc::SS_DISABLE | (1 << 31)) != 0 {
            return err(libc::EINVAL);
        }
        if nflags & libc::SS_DISABLE != 0 {
            c.set_altstack((0, libc::SS_DISABLE, 0));
        } else {
            if nsize < 2048 {
                return err(libc::ENOMEM);
            }
            c.set_altstack((nsp, 0, nsize));
        }
    }
    Sys::Ret(0)
}

pub(super) fn rt_sigsuspend(c: &mut SysCtx) -> Sys {
    if c.arg(1) != 8 {
        return err(libc::EINVAL);
    }
    if !c.temp_mask_active() {
        let m = tryk!(c.read_u64(c.arg(0)));
        c.set_temp_mask(m);
    }
    Sys::Park(Park {
        keys: vec![WaitKey::Nothing],
        deadline: None,
    })
}

pub(super) fn rt_sigtimedwait(c: &mut SysCtx) -> Sys {
    let [set, info, timeout, size, ..] = c.args();
    if size != 8 {
        return err(libc::EINVAL);
    }
    let set = tryk!(c.read_u64(set)) & !UNBLOCKABLE;
    if let Some(s) = c.dequeue_signal(set) {
        if info != 0 {
            tryk!(c.write_mem(info, &s.to_bytes()));
        }
        return Sys::Ret(s.signo as i64);
    }
    let deadline = if timeout != 0 {
        let ns = tryk!(c.read_timespec(timeout));
        let d = c.deadline(ns);
        if c.now() >= d {
            return err(libc::EAGAIN);
        }
        Some(d)
    } else {
        None
    };
    Sys::Park(Park {
        keys: vec![WaitKey::Nothing],
        deadline,
    })
}

pub(super) fn rt_sigpending(c: &mut SysCtx) -> Sys {
    let set = c.pending_signals() & c.sigmask();
    ret(c.write_u64(c.arg(0), set).map(|_| 0))
}

/// rt_sigqueueinfo (`nr`) and rt_tgsigqueueinfo.
pub(super) fn rt_sigqueueinfo(c: &mut SysCtx, nr: i64) -> Sys {
    let a = c.args();
    let (target, sig, infop) = if nr == libc::SYS_rt_sigqueueinfo {
        (a[0] as i32, a[1] as i32, a[2])
    } else {
        (a[1] as i32, a[2] as i32, a[3])
    };
    if !valid(sig) {
        return err(libc::EINVAL);
    }
    let b = tryk!(c.read_mem(infop, 128));
    let code = i32::from_le_bytes(b[8..12].try_into().expect("4"));
    if code >= 0 || code == SI_TKILL {
        return err(libc::EPERM);
    }
    let mut info = SigInfo::new(sig, code);
    info.fields = b[16..].to_vec();
    let r = if nr == libc::SYS_rt_sigqueueinfo {
        c.sigqueue_process(target, info)
    } else {
        c.sigqueue_thread(target, info)
    };
    ret(r.map(|_| 0))
}

/// signalfd4, and signalfd with no flags: a new signalfd for the signals of the mask at
/// `mask` (when `fd` is -1), or a new mask for the signalfd `fd`.
pub(super) fn signalfd4(c: &mut SysCtx, fd: u64, mask: u64, size: u64, flags: u64) -> Sys {
    use crate::fs::file::OpenFile;
    use crate::ipc::signalfd::SignalFd;
    let flags = flags as i32;
    if flags & !(libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) != 0 || size != 8 {
        return err(libc::EINVAL);
    }
    let mask = match c.read_u64(mask) {
        Ok(m) => m,
        Err(e) => return err(e),
    };
    if fd as i32 != -1 {
        let f = match c.file(fd) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let mut fb = f.borrow_mut();
        return match fb
            .io()
            .ok()
            .and_then(|imp| imp.as_any_mut().downcast_mut::<SignalFd>())
        {
            Some(s) => {
                s.set_mask(mask);
                Sys::Ret(fd as i64)
            }
            None => err(libc::EINVAL),
        };
    }
    let id = c.new_obj_id();
    let f = OpenFile::new(
        Box::new(SignalFd::new(id, mask)),
        libc::O_RDWR | (flags & libc::O_NONBLOCK),
        "anon_inode:[signalfd]",
    );
    ret(c
        .install(f, flags & libc::SFD_CLOEXEC != 0)
        .map(|fd| fd as i64))
}

#[cfg(test)]
mod tests {
    use crate::testing::{kernel, SCRATCH};

    #[test]
    fn sigaction_round_trips_and_kill_and_stop_cannot_be_caught() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let mut act = Vec::new();
        for v in [
            0x40_1000u64,
            crate::kernel::signal::SA_RESTART,
            0x40_2000,
            1 << 9,
        ] {
            act.extend_from_slice(&v.to_le_bytes());
        }
        k.put(t, SCRATCH, &act);
        let usr1 = libc::SIGUSR1 as u64;
        assert_eq!(
            k.call(t, libc::SYS_rt_sigaction, [usr1, SCRATCH, 0, 8, 0, 0]),
            Some(0)
        );
        assert_eq!(
            k.call(t, libc::SYS_rt_sigaction, [usr1, 0, SCRATCH + 64, 8, 0, 0]),
            Some(0)
        );
        assert_eq!(k.get(t, SCRATCH + 64, 32), act);
        let einval = Some(-(libc::EINVAL as i64));
        for sig in [libc::SIGKILL, libc::SIGSTOP] {
            let r = k.call(t, libc::SYS_rt_sigaction, [sig as u64, SCRATCH, 0, 8, 0, 0]);
            assert_eq!(r, einval);
        }
        assert_eq!(
            k.call(t, libc::SYS_rt_sigaction, [65, 0, 0, 8, 0, 0]),
            einval
        );
        assert_eq!(
            k.call(t, libc::SYS_rt_sigaction, [usr1, 0, 0, 4, 0, 0]),
            einval
        );
    }

    #[test]
    fn sigkill_cannot_be_blocked_and_a_blocked_signal_stays_pending() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        k.put(t, SCRATCH, &u64::MAX.to_le_bytes());
        let block = libc::SIG_BLOCK as u64;
        assert_eq!(
            k.call(
                t,
                libc::SYS_rt_sigprocmask,
                [block, SCRATCH, SCRATCH + 8, 8, 0, 0]
            ),
            Some(0)
        );
        assert_eq!(
            k.call(
                t,
                libc::SYS_rt_sigprocmask,
                [block, 0, SCRATCH + 8, 8, 0, 0]
            ),
            Some(0)
        );
        let mask = u64::from_le_bytes(k.get(t, SCRATCH + 8, 8).try_into().unwrap());
        let bit = |s: i32| 1u64 << (s - 1);
        assert_eq!(mask & (bit(libc::SIGKILL) | bit(libc::SIGSTOP)), 0);
        assert_eq!(mask & bit(libc::SIGUSR2), bit(libc::SIGUSR2));
        assert_eq!(
            k.call(
                t,
                libc::SYS_kill,
                [t as u64, libc::SIGUSR2 as u64, 0, 0, 0, 0]
            ),
            Some(0)
        );
        assert_eq!(
            k.call(t, libc::SYS_rt_sigpending, [SCRATCH + 16, 8, 0, 0, 0, 0]),
            Some(0)
        );
        let pending = u64::from_le_bytes(k.get(t, SCRATCH + 16, 8).try_into().unwrap());
        assert_eq!(pending, bit(libc::SIGUSR2));
    }

    #[test]
    fn kill_checks_the_sender() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let root_pid = k.test_process(0, 0);
        let user = k.test_process(1000, 1000);
        let other = k.test_process(1001, 1001);
        let kill = |k: &mut crate::kernel::Kernel, from: i32, to: i32, sig: i32| {
            k.call(from, libc::SYS_kill, [to as u64, sig as u64, 0, 0, 0, 0])
        };
        let eperm = Some(-(libc::EPERM as i64));
        assert_eq!(kill(&mut k, user, root_pid, 0), eperm);
        assert_eq!(kill(&mut k, user, other, libc::SIGTERM), eperm);
        assert_eq!(kill(&mut k, user, user, 0), Some(0));
        assert_eq!(kill(&mut k, root_pid, user, 0), Some(0));
        assert_eq!(
            kill(&mut k, user, 4_000_000, 0),
            Some(-(libc::ESRCH as i64))
        );
        assert_eq!(
            k.call(
                user,
                libc::SYS_tgkill,
                [other as u64, other as u64, 15, 0, 0, 0]
            ),
            eperm
        );
    }
}
