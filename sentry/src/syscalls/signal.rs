//! Signal calls: rt_sigaction, rt_sigprocmask, rt_sigreturn, kill/tkill/tgkill,
//! sigaltstack, rt_sigsuspend, rt_sigtimedwait, rt_sigpending, rt_sigqueueinfo.

use super::ret;
use crate::kernel::signal::{self, bit, SigAction, SigInfo, SI_TKILL, SI_USER, UNBLOCKABLE};
use crate::kernel::task::{Park, WaitKey};
use crate::kernel::{err, Kernel, Sys};

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

impl Kernel {
    pub fn sys_rt_sigaction(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (sig, act, old, size) = (a[0] as i32, a[1], a[2], a[3]);
        if size != 8 || !valid(sig) {
            return err(libc::EINVAL);
        }
        let new = if act != 0 {
            let b = tryk!(self.read_mem(tid, act, 32));
            Some(SigAction::from_bytes(&b.try_into().expect("32")))
        } else {
            None
        };
        if new.is_some() && (sig == libc::SIGKILL || sig == libc::SIGSTOP) {
            return err(libc::EINVAL);
        }
        let sighand = self.tasks[&tid].sighand.clone();
        let prev = sighand.borrow()[(sig - 1) as usize];
        if old != 0 {
            tryk!(self.write_mem(tid, old, &prev.to_bytes()));
        }
        if let Some(mut n) = new {
            n.mask &= !UNBLOCKABLE;
            sighand.borrow_mut()[(sig - 1) as usize] = n;
            if n.handler == signal::SIG_IGN {
                let tgid = self.tasks[&tid].tgid;
                self.tgs
                    .get_mut(&tgid)
                    .expect("tg")
                    .shared_pending
                    .retain(|s| s.signo != sig);
                for t in self.tgs[&tgid].threads.clone() {
                    self.task_mut(t).pending.retain(|s| s.signo != sig);
                }
            }
        }
        Sys::Ret(0)
    }

    pub fn sys_rt_sigprocmask(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (how, set, old, size) = (a[0] as i32, a[1], a[2], a[3]);
        if size != 8 {
            return err(libc::EINVAL);
        }
        let cur = self.tasks[&tid].sigmask;
        let new = if set != 0 {
            let s = tryk!(self.read_u64(tid, set));
            Some(match how {
                libc::SIG_BLOCK => cur | s,
                libc::SIG_UNBLOCK => cur & !s,
                libc::SIG_SETMASK => s,
                _ => return err(libc::EINVAL),
            })
        } else {
            None
        };
        if old != 0 {
            tryk!(self.write_u64(tid, old, cur));
        }
        if let Some(n) = new {
            self.task_mut(tid).sigmask = n & !UNBLOCKABLE;
        }
        Sys::Ret(0)
    }

    pub fn sys_rt_sigreturn(&mut self, tid: i32) -> Sys {
        let rsp = self.tasks[&tid].regs.rsp;
        // The handler's `ret` popped pretcode: the ucontext starts at rsp.
        let uc = match self.read_mem(tid, rsp, signal::UCONTEXT_LEN) {
            Ok(b) => b,
            Err(_) => {
                let tgid = self.tasks[&tid].tgid;
                self.kill_group(
                    tgid,
                    crate::kernel::task::WaitStatus::Signaled(libc::SIGSEGV, true),
                );
                return Sys::Gone;
            }
        };
        let mut regs = self.tasks[&tid].regs;
        let restored = signal::restore_frame(&uc, &mut regs);
        let host = self.tasks[&tid].host_tid;
        if restored.fp_addr != 0 {
            let len = self.plat.get_fpu(host).map(|f| f.len()).unwrap_or(512);
            if let Ok(fp) = self.read_mem(tid, restored.fp_addr, len) {
                // A malformed XSAVE image is refused by the host; the thread keeps its state.
                let _ = self.plat.set_fpu(host, &fp);
            }
        }
        let t = self.task_mut(tid);
        t.regs = regs;
        t.sigmask = restored.mask & !UNBLOCKABLE;
        Sys::Regs
    }

    /// Whether process `from` may send `sig` to process `to`.
    fn may_signal(&self, from: i32, to: i32, sig: i32) -> bool {
        let (f, t) = (&self.tgs[&from], &self.tgs[&to]);
        from == to || f.creds.may_signal(&t.creds) || (sig == libc::SIGCONT && f.sid == t.sid)
    }

    fn sender(&self, tid: i32, sig: i32, code: i32) -> SigInfo {
        let g = self.tg_of(tid);
        SigInfo::from_process(sig, code, g.pid, g.creds.uid)
    }

    pub fn sys_kill(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (pid, sig) = (a[0] as i32, a[1] as i32);
        if sig != 0 && !valid(sig) {
            return err(libc::EINVAL);
        }
        let me = self.tasks[&tid].tgid;
        let my_pgid = self.tgs[&me].pgid;
        let targets: Vec<i32> = self
            .tgs
            .values()
            .filter(|g| g.zombie.is_none())
            .filter(|g| match pid {
                p if p > 0 => g.pid == p,
                0 => g.pgid == my_pgid,
                -1 => g.pid != 1 && g.pid != me,
                p => g.pgid == -p,
            })
            .map(|g| g.pid)
            .collect();
        if targets.is_empty() {
            return err(libc::ESRCH);
        }
        let allowed: Vec<i32> = targets
            .into_iter()
            .filter(|&p| self.may_signal(me, p, sig))
            .collect();
        if allowed.is_empty() {
            return err(libc::EPERM);
        }
        if sig == 0 {
            return Sys::Ret(0);
        }
        let info = self.sender(tid, sig, SI_USER);
        for p in allowed {
            self.signal_group(p, info.clone());
        }
        Sys::Ret(0)
    }

    pub fn sys_tgkill(&mut self, tid: i32, tgid: i32, target: i32, sig: i32) -> Sys {
        if (sig != 0 && !valid(sig)) || target <= 0 || (tgid != -1 && tgid <= 0) {
            return err(libc::EINVAL);
        }
        let target_group = match self.tasks.get(&target) {
            Some(t) if tgid == -1 || t.tgid == tgid => t.tgid,
            _ => return err(libc::ESRCH),
        };
        if !self.may_signal(self.tasks[&tid].tgid, target_group, sig) {
            return err(libc::EPERM);
        }
        if sig == 0 {
            return Sys::Ret(0);
        }
        let info = self.sender(tid, sig, SI_TKILL);
        self.signal_task(target, info);
        Sys::Ret(0)
    }

    pub fn sys_sigaltstack(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (ss, old) = (a[0], a[1]);
        let (sp, flags, size) = self.tasks[&tid].altstack;
        let rsp = self.tasks[&tid].regs.rsp;
        let on = flags != libc::SS_DISABLE && rsp > sp && rsp <= sp + size;
        if old != 0 {
            let mut b = sp.to_le_bytes().to_vec();
            let f = if on { libc::SS_ONSTACK } else { flags };
            b.extend_from_slice(&f.to_le_bytes());
            b.extend_from_slice(&[0u8; 4]);
            b.extend_from_slice(&size.to_le_bytes());
            tryk!(self.write_mem(tid, old, &b));
        }
        if ss != 0 {
            if on {
                return err(libc::EPERM);
            }
            let b = tryk!(self.read_mem(tid, ss, 24));
            let nsp = u64::from_le_bytes(b[0..8].try_into().expect("8"));
            let nflags = i32::from_le_bytes(b[8..12].try_into().expect("4"));
            let nsize = u64::from_le_bytes(b[16..24].try_into().expect("8"));
            if nflags & !(libc::SS_DISABLE | (1 << 31)) != 0 {
                return err(libc::EINVAL);
            }
            if nflags & libc::SS_DISABLE != 0 {
                self.task_mut(tid).altstack = (0, libc::SS_DISABLE, 0);
            } else {
                if nsize < 2048 {
                    return err(libc::ENOMEM);
                }
                self.task_mut(tid).altstack = (nsp, 0, nsize);
            }
        }
        Sys::Ret(0)
    }

    pub fn sys_rt_sigsuspend(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if a[1] != 8 {
            return err(libc::EINVAL);
        }
        if self.tasks[&tid].saved_mask.is_none() {
            let m = tryk!(self.read_u64(tid, a[0]));
            let t = self.task_mut(tid);
            t.saved_mask = Some(t.sigmask);
            t.sigmask = m & !UNBLOCKABLE;
        }
        Sys::Park(Park {
            keys: vec![WaitKey::Nothing],
            deadline: None,
        })
    }

    pub fn sys_rt_sigtimedwait(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (set, info, timeout, size) = (a[0], a[1], a[2], a[3]);
        if size != 8 {
            return err(libc::EINVAL);
        }
        let set = tryk!(self.read_u64(tid, set)) & !UNBLOCKABLE;
        if let Some(s) = self.dequeue_in(tid, set) {
            if info != 0 {
                tryk!(self.write_mem(tid, info, &s.to_bytes()));
            }
            return Sys::Ret(s.signo as i64);
        }
        let deadline = if timeout != 0 {
            let b = tryk!(self.read_mem(tid, timeout, 16));
            let ns = crate::kernel::time::ts_to_ns(
                i64::from_le_bytes(b[..8].try_into().expect("8")),
                i64::from_le_bytes(b[8..].try_into().expect("8")),
            );
            let Some(ns) = ns else {
                return err(libc::EINVAL);
            };
            let d = self.deadline(tid, ns);
            if self.clocks.mono() >= d {
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

    pub fn sys_rt_sigpending(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let t = &self.tasks[&tid];
        let g = &self.tgs[&t.tgid];
        let set = t
            .pending
            .iter()
            .chain(g.shared_pending.iter())
            .fold(0u64, |m, s| m | bit(s.signo))
            & t.sigmask;
        ret(self.write_u64(tid, a[0], set).map(|_| 0))
    }

    pub fn sys_rt_sigqueueinfo(&mut self, tid: i32, nr: i64, a: [u64; 6]) -> Sys {
        let (target, sig, infop) = if nr == libc::SYS_rt_sigqueueinfo {
            (a[0] as i32, a[1] as i32, a[2])
        } else {
            (a[1] as i32, a[2] as i32, a[3])
        };
        if !valid(sig) {
            return err(libc::EINVAL);
        }
        let b = tryk!(self.read_mem(tid, infop, 128));
        let code = i32::from_le_bytes(b[8..12].try_into().expect("4"));
        if code >= 0 || code == SI_TKILL {
            return err(libc::EPERM);
        }
        let mut info = SigInfo::new(sig, code);
        info.fields = b[16..].to_vec();
        let me = self.tasks[&tid].tgid;
        if nr == libc::SYS_rt_sigqueueinfo {
            if !self.tgs.contains_key(&target) {
                return err(libc::ESRCH);
            }
            if !self.may_signal(me, target, sig) {
                return err(libc::EPERM);
            }
            self.signal_group(target, info);
        } else {
            let Some(group) = self.tasks.get(&target).map(|t| t.tgid) else {
                return err(libc::ESRCH);
            };
            if !self.may_signal(me, group, sig) {
                return err(libc::EPERM);
            }
            self.signal_task(target, info);
        }
        Sys::Ret(0)
    }
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
