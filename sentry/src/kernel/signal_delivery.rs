//! Signal delivery: queueing, effects at queue time, interrupting parked calls,
//! handlers with their frames, default actions, group stop.

use super::signal::{self, bit, default_action, SigAction, SigInfo, SigSet, UNBLOCKABLE};
use super::task::{RunState, WaitKey, WaitStatus};
use super::{Kernel, Sys};
use crate::mm::Errno;

/// Order of delivery: synchronous faults first, then by number.
fn sig_rank(sig: i32) -> i32 {
    match sig {
        libc::SIGSEGV
        | libc::SIGBUS
        | libc::SIGILL
        | libc::SIGTRAP
        | libc::SIGFPE
        | libc::SIGSYS => sig - 100,
        libc::SIGKILL | libc::SIGSTOP => sig - 200,
        _ => sig,
    }
}

impl Kernel {
    // ---- signals ----

    pub(crate) fn blocked(&self, tid: i32) -> SigSet {
        self.tasks[&tid].sigmask & !UNBLOCKABLE
    }

    /// True if a signal is pending that the task would act on now.
    pub(crate) fn has_deliverable(&self, tid: i32) -> bool {
        let t = &self.tasks[&tid];
        let b = self.blocked(tid);
        let g = &self.tgs[&t.tgid];
        t.pending
            .iter()
            .chain(g.shared_pending.iter())
            .any(|s| bit(s.signo) & b == 0)
    }

    /// Removes and returns the next deliverable signal.
    pub(crate) fn dequeue(&mut self, tid: i32) -> Option<SigInfo> {
        let b = self.blocked(tid);
        let t = self.tasks.get_mut(&tid)?;
        let pick = |q: &Vec<SigInfo>| {
            q.iter()
                .enumerate()
                .filter(|(_, s)| bit(s.signo) & b == 0)
                .min_by_key(|(i, s)| (sig_rank(s.signo), *i))
                .map(|(i, _)| i)
        };
        let mut info = match pick(&t.pending) {
            Some(i) => t.pending.remove(i),
            None => {
                let g = self.tgs.get_mut(&t.tgid)?;
                pick(&g.shared_pending).map(|i| g.shared_pending.remove(i))?
            }
        };
        self.timer_signal_taken(tid, &mut info);
        Some(info)
    }

    /// A fault of task `tid` (the host's SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP: a
    /// single step's among them) is delivered whatever its mask: blocked or ignored, it
    /// is unblocked and its action set back to the default (Linux's force_sig_info).
    pub(crate) fn force_signal(&mut self, tid: i32, info: SigInfo) {
        let sig = info.signo;
        let t = self.task_mut(tid);
        let blocked = t.sigmask & bit(sig) != 0;
        let mut acts = t.sighand.borrow_mut();
        let act = &mut acts[(sig - 1) as usize];
        if blocked || act.handler == signal::SIG_IGN {
            act.handler = signal::SIG_DFL;
        }
        drop(acts);
        t.sigmask &= !bit(sig);
        t.pending.push(info);
    }

    /// Dequeues a pending signal in `set` (for sigtimedwait and signalfd).
    pub(crate) fn dequeue_in(&mut self, tid: i32, set: SigSet) -> Option<SigInfo> {
        let t = self.tasks.get_mut(&tid)?;
        let mut info = match t.pending.iter().position(|s| bit(s.signo) & set != 0) {
            Some(i) => t.pending.remove(i),
            None => {
                let g = self.tgs.get_mut(&t.tgid)?;
                g.shared_pending
                    .iter()
                    .position(|s| bit(s.signo) & set != 0)
                    .map(|i| g.shared_pending.remove(i))?
            }
        };
        self.timer_signal_taken(tid, &mut info);
        Some(info)
    }

    /// Makes a stopped or parked task notice a new signal.
    pub(crate) fn kick(&mut self, tid: i32) {
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        match t.state {
            RunState::Running if !t.interrupting => {
                let h = t.host_tid;
                self.task_mut(tid).interrupting = true;
                let _ = self.plat.interrupt(h);
            }
            RunState::Parked(_) => self.wake(tid),
            _ => {}
        }
    }

    /// Sends a signal to one thread.
    pub(crate) fn signal_task(&mut self, tid: i32, info: SigInfo) {
        self.queue_to_task(tid, info, true);
    }

    /// Queues `info` for thread `tid` unless its effects at queue time consume it or,
    /// when `merge`, a signal of that number below SIGRTMIN is queued already. Returns
    /// whether it was queued.
    fn queue_to_task(&mut self, tid: i32, info: SigInfo, merge: bool) -> bool {
        let Some(t) = self.tasks.get(&tid) else {
            return false;
        };
        let tgid = t.tgid;
        if self.pre_queue(tgid, &info) {
            return false;
        }
        let t = self.task_mut(tid);
        if merge && info.signo < 32 && t.pending.iter().any(|s| s.signo == info.signo) {
            return false;
        }
        t.pending.push(info);
        self.kick(tid);
        self.notify(&crate::wait::signals_of(tgid));
        true
    }

    /// Sends the signals the terminals raised (an interrupt character's, a window size
    /// change's, a hangup's) to the groups and session leaders they name.
    pub(crate) fn send_tty_signals(&mut self) {
        for s in self.vfs.devpts.take_signals() {
            let (pids, sig): (Vec<i32>, i32) = match s {
                crate::fs::devpts::TtySignal::Group(pgid, sig) => (
                    self.tgs
                        .values()
                        .filter(|g| g.zombie.is_none() && g.pgid == pgid)
                        .map(|g| g.pid)
                        .collect(),
                    sig,
                ),
                crate::fs::devpts::TtySignal::Leader(sid, sig) => (vec![sid], sig),
            };
            for pid in pids {
                self.signal_group(pid, SigInfo::new(sig, signal::SI_KERNEL));
            }
        }
    }

    /// Sends a signal to a thread group.
    pub(crate) fn signal_group(&mut self, pid: i32, info: SigInfo) {
        self.queue_to_group(pid, info, true);
    }

    /// As [`Kernel::queue_to_task`], for thread group `pid`.
    fn queue_to_group(&mut self, pid: i32, info: SigInfo, merge: bool) -> bool {
        let Some(g) = self.tgs.get(&pid) else {
            return false;
        };
        if g.zombie.is_some() || g.threads.is_empty() {
            return false;
        }
        if self.pre_queue(pid, &info) {
            return false;
        }
        let g = self.tgs.get_mut(&pid).expect("tg");
        if merge && info.signo < 32 && g.shared_pending.iter().any(|s| s.signo == info.signo) {
            return false;
        }
        let signo = info.signo;
        g.shared_pending.push(info);
        // Wake a thread that does not block it.
        let threads = g.threads.clone();
        let target = threads
            .iter()
            .copied()
            .find(|&t| self.tasks[&t].sigmask & bit(signo) == 0)
            .unwrap_or(threads[0]);
        self.kick(target);
        self.notify(&crate::wait::signals_of(pid));
        true
    }

    /// Queues a POSIX timer's signal of process `pid` to it or to its thread `thread`.
    /// As in Linux, it is queued even beside a pending signal of the same number (a timer
    /// has its own queue entry). Returns false when it was not queued: ignored, or the
    /// thread is gone.
    pub(crate) fn queue_timer_signal(
        &mut self,
        pid: i32,
        thread: Option<i32>,
        info: SigInfo,
    ) -> bool {
        match thread {
            Some(t) if self.tasks.get(&t).is_some_and(|t| t.tgid == pid) => {
                self.queue_to_task(t, info, false)
            }
            Some(_) => false,
            None => self.queue_to_group(pid, info, false),
        }
    }

    /// Effects at queue time: SIGKILL kills, SIGCONT continues, ignored signals are
    /// dropped. Returns true when the signal is consumed.
    pub(crate) fn pre_queue(&mut self, pid: i32, info: &SigInfo) -> bool {
        let sig = info.signo;
        if sig == libc::SIGKILL {
            if pid == 1 && !info.forced {
                return true;
            }
            self.kill_group(pid, WaitStatus::Signaled(libc::SIGKILL, false));
            return true;
        }
        let g = self.tgs.get_mut(&pid).expect("tg");
        if sig == libc::SIGCONT {
            g.shared_pending.retain(|s| {
                !matches!(
                    s.signo,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                )
            });
            if g.stopped.take().is_some() {
                g.continued = true;
                let threads = g.threads.clone();
                for t in threads {
                    if self.tasks[&t].state == RunState::GroupStopped {
                        self.deliver_and_resume(t);
                    }
                }
                self.notify_parent(pid, libc::CLD_CONTINUED, libc::SIGCONT);
            }
            // Its listening tracees (PTRACE_LISTEN) trap again.
            self.ptrace_continued(pid);
        } else if matches!(
            sig,
            libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
        ) {
            g.shared_pending.retain(|s| s.signo != libc::SIGCONT);
        }
        let tid = self.tgs[&pid].threads.first().copied();
        let Some(tid) = tid else { return true };
        let act = self.tasks[&tid].sighand.borrow()[(sig - 1) as usize];
        let ignored = act.handler == signal::SIG_IGN
            || (act.handler == signal::SIG_DFL
                && matches!(default_action(sig), signal::Default::Ignore));
        // Blocked signals stay queued even when ignored (sigtimedwait may take them); a
        // tracee's stop it for its tracer to see.
        ignored && self.tasks[&tid].sigmask & bit(sig) == 0 && !self.group_traced(pid)
    }

    /// A parked call meets a signal: restart it after the handler when SA_RESTART allows,
    /// else fail it with EINTR. Signals that run no handler leave it parked.
    pub(crate) fn interrupt_parked(&mut self, tid: i32) {
        // Peek at what would be delivered.
        let b = self.blocked(tid);
        let t = &self.tasks[&tid];
        let g = &self.tgs[&t.tgid];
        let Some(sig) = t
            .pending
            .iter()
            .chain(g.shared_pending.iter())
            .filter(|s| bit(s.signo) & b == 0)
            .map(|s| s.signo)
            .min_by_key(|&s| sig_rank(s))
        else {
            return;
        };
        let act = t.sighand.borrow()[(sig - 1) as usize];
        let has_handler = act.handler != signal::SIG_DFL && act.handler != signal::SIG_IGN;
        if !has_handler {
            let d = default_action(sig);
            if matches!(d, signal::Default::Ignore | signal::Default::Continue)
                || act.handler == signal::SIG_IGN
            {
                // Consume it; the call stays parked.
                let _ = self.dequeue(tid);
                return;
            }

            // Fatal or stop: deliver handles it; a stop leaves the call to restart.
            self.task_mut(tid).state = RunState::Stopped;
            if !self.ptrace_interrupted_exit(tid, true) {
                let t = self.task_mut(tid);
                t.regs.rip -= 2;
                t.regs.rax = t.regs.orig_rax;
                self.deliver_and_resume(tid);
            }
            return;
        }
        let nr = self.tasks[&tid].regs.orig_rax;
        let restart = act.flags & signal::SA_RESTART != 0
            && self.table.restart(nr) == super::RestartRule::SaRestart;
        if !restart {
            self.interrupted(tid, nr);
        }
        let progress = self.tasks[&tid].sys_progress;
        self.futex_waiters.retain(|w| w.tid != tid);
        let t = self.task_mut(tid);
        t.state = RunState::Stopped;
        t.end_call();
        if progress > 0 {
            // A write that moved some bytes returns that count.
            t.regs.rax = progress as u64;
        } else if restart {
            if self.ptrace_interrupted_exit(tid, true) {
                return;
            }
            let t = self.task_mut(tid);
            t.regs.rip -= 2;
            t.regs.rax = t.regs.orig_rax;
        } else {
            t.regs.rax = (-libc::EINTR) as i64 as u64;
        }
        if !self.ptrace_interrupted_exit(tid, false) {
            self.deliver_and_resume(tid);
        }
    }

    /// Delivers pending signals (running handlers, or default actions), then resumes.
    pub(crate) fn deliver_and_resume(&mut self, tid: i32) {
        loop {
            let Some(t) = self.tasks.get(&tid) else {
                return;
            };
            let tgid = t.tgid;
            if self.paused {
                self.task_mut(tid).state = RunState::GroupStopped;
                return;
            }
            if let Some((sig, _)) = self.tgs[&tgid].stopped {
                // A tracee's group stop is a ptrace-stop its tracer sees.
                if !self.ptrace_group_stop(tid, sig) {
                    self.task_mut(tid).state = RunState::GroupStopped;
                }
                return;
            }
            if self.ptrace_event_stop(tid, false) {
                return;
            }
            // The signal its tracer chose is delivered as it is; any other stops a tracee
            // first (signal-delivery-stop).
            let info = match self.take_injected(tid) {
                Some(info) => info,
                None => {
                    let Some(info) = self.dequeue(tid) else { break };
                    if self.ptrace_signal_stop(tid, &info) {
                        return;
                    }
                    info
                }
            };
            let sig = info.signo;
            let act = self.tasks[&tid].sighand.borrow()[(sig - 1) as usize];
            if act.handler == signal::SIG_IGN {
                continue;
            }
            if act.handler == signal::SIG_DFL {
                let init = tgid == 1 && !info.forced;
                match default_action(sig) {
                    signal::Default::Ignore | signal::Default::Continue => continue,
                    _ if init => continue,
                    signal::Default::Stop => {
                        self.group_stop(tgid, sig);
                        return;
                    }
                    signal::Default::Terminate => {
                        self.kill_group(tgid, WaitStatus::Signaled(sig, false));
                        return;
                    }
                    signal::Default::Core => {
                        self.kill_group(tgid, WaitStatus::Signaled(sig, true));
                        return;
                    }
                }
            }
            if self.setup_frame(tid, &info, act).is_err() {
                self.kill_group(tgid, WaitStatus::Signaled(libc::SIGSEGV, true));
                return;
            }
            if act.flags & signal::SA_RESETHAND != 0 {
                self.tasks[&tid].sighand.borrow_mut()[(sig - 1) as usize] = SigAction::default();
            }
        }
        self.resume(tid);
    }

    pub(crate) fn setup_frame(
        &mut self,
        tid: i32,
        info: &SigInfo,
        act: SigAction,
    ) -> Result<(), Errno> {
        let t = &self.tasks[&tid];
        let regs = t.regs;
        let (ss_sp, ss_flags, ss_size) = t.altstack;
        let on_alt =
            ss_flags != libc::SS_DISABLE && regs.rsp > ss_sp && regs.rsp <= ss_sp + ss_size;
        let sp = if act.flags & signal::SA_ONSTACK != 0 && ss_flags != libc::SS_DISABLE && !on_alt {
            ss_sp + ss_size
        } else {
            regs.rsp - 128
        };
        let fpu = self.plat.get_fpu(t.host_tid).map_err(|_| libc::EFAULT)?;
        let old_mask = t.saved_mask.unwrap_or(t.sigmask);
        let alt = (
            ss_sp,
            if on_alt { libc::SS_ONSTACK } else { ss_flags },
            ss_size,
        );
        let frame = signal::build_frame(sp, &regs, &fpu, info, &act, old_mask, alt);
        // A frame that would run off the alternate stack the task is on is not written
        // (Linux's get_sigframe): the signal is forced, the task killed by SIGSEGV.
        if on_alt && !(frame.addr > ss_sp && frame.addr <= ss_sp + ss_size) {
            return Err(libc::EFAULT);
        }
        self.write_mem(tid, frame.addr, &frame.bytes)?;
        let t = self.task_mut(tid);
        t.saved_mask = None;
        t.regs.rip = act.handler;
        t.regs.rsp = frame.addr;
        t.regs.rdi = info.signo as u64;
        t.regs.rsi = frame.info_addr;
        t.regs.rdx = frame.uc_addr;
        t.regs.rax = 0;
        t.regs.eflags &= !(0x400 | 0x100);
        let mut mask = t.sigmask | act.mask;
        if act.flags & signal::SA_NODEFER == 0 {
            mask |= bit(info.signo);
        }
        t.sigmask = mask & !UNBLOCKABLE;
        Ok(())
    }

    /// Stops every thread of a group (SIGSTOP and friends) and tells the parent.
    pub(crate) fn group_stop(&mut self, pid: i32, sig: i32) {
        let g = self.tgs.get_mut(&pid).expect("tg");
        g.stopped = Some((sig, false));
        let threads = g.threads.clone();
        for t in threads {
            let state = self.tasks[&t].state.clone();
            match state {
                RunState::Running => self.kick(t),
                // A tracee's group stop is a ptrace-stop its tracer sees.
                RunState::Stopped if !self.ptrace_group_stop(t, sig) => {
                    self.task_mut(t).state = RunState::GroupStopped;
                }
                _ => {}
            }
        }
        self.notify_parent(pid, libc::CLD_STOPPED, sig);
    }

    /// SIGCHLD to the parent (unless it asked not to) and a wake of its waiters.
    pub(crate) fn notify_parent(&mut self, pid: i32, code: i32, status: i32) {
        let g = &self.tgs[&pid];
        let (ppid, uid) = (g.ppid, g.creds.uid);
        if ppid == 0 || !self.tgs.contains_key(&ppid) {
            return;
        }
        let ptid = self.tgs[&ppid].threads.first().copied();
        if let Some(pt) = ptid {
            let act = self.tasks[&pt].sighand.borrow()[(libc::SIGCHLD - 1) as usize];
            let quiet = code != libc::CLD_EXITED
                && code != libc::CLD_KILLED
                && code != libc::CLD_DUMPED
                && act.flags & signal::SA_NOCLDSTOP != 0;
            // An exit is told with the child's exit signal (none for 0); a stop or a
            // continue always with SIGCHLD.
            let exited = matches!(code, libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED);
            let sig = if exited {
                self.tgs[&pid].exit_signal
            } else {
                libc::SIGCHLD
            };
            if !quiet && (1..=64).contains(&sig) {
                let mut info = SigInfo::child(pid, uid, code, status);
                info.signo = sig;
                self.signal_group(ppid, info);
            }
        }
        self.notify(&WaitKey::Child(ppid));
    }

    // ---- sending signals (kill, tgkill, rt_sigqueueinfo) ----

    /// Whether task `from` (with its own credentials) may send `sig` to process `to`.
    fn may_signal(&self, from: i32, to: i32, sig: i32) -> bool {
        let (f, t) = (self.tg_of(from), &self.tgs[&to]);
        f.pid == to
            || self.creds(from).may_signal(&t.creds)
            || (sig == libc::SIGCONT && f.sid == t.sid)
    }

    /// The siginfo of a signal task `tid` sends.
    pub(crate) fn sender(&self, tid: i32, sig: i32, code: i32) -> SigInfo {
        let g = self.tg_of(tid);
        SigInfo::from_process(sig, code, g.pid, self.creds(tid).uid)
    }

    /// kill(2) by task `tid`: `sig` (0 only checks) to the processes `pid` selects, as
    /// Linux selects them: a positive pid names a process or any of its threads (a
    /// thread's id signals its process); zombies not yet reaped are selected too (the
    /// signal does nothing to them, and is no error). ESRCH when it selects none, EPERM
    /// when the sender may signal none of them.
    pub(crate) fn kill(&mut self, tid: i32, pid: i32, sig: i32) -> Result<(), Errno> {
        let me = self.tasks[&tid].tgid;
        let my_pgid = self.tgs[&me].pgid;
        let targets: Vec<i32> = if pid > 0 {
            let owner = if self.tgs.contains_key(&pid) {
                Some(pid)
            } else {
                self.tasks.get(&pid).map(|t| t.tgid)
            };
            owner.into_iter().collect()
        } else {
            self.tgs
                .values()
                .filter(|g| match pid {
                    0 => g.pgid == my_pgid,
                    -1 => g.pid != 1 && g.pid != me,
                    p => g.pgid == -p,
                })
                .map(|g| g.pid)
                .collect()
        };
        if targets.is_empty() {
            return Err(libc::ESRCH);
        }
        let allowed: Vec<i32> = targets
            .into_iter()
            .filter(|&p| self.may_signal(tid, p, sig))
            .collect();
        if allowed.is_empty() {
            return Err(libc::EPERM);
        }
        if sig == 0 {
            return Ok(());
        }
        let info = self.sender(tid, sig, signal::SI_USER);
        for p in allowed {
            self.signal_group(p, info.clone());
        }
        Ok(())
    }

    /// tgkill(2) (and tkill, with `tgid` -1) by task `tid`: `sig` (0 only checks) to
    /// thread `target` of process `tgid`.
    pub(crate) fn tgkill(
        &mut self,
        tid: i32,
        tgid: i32,
        target: i32,
        sig: i32,
    ) -> Result<(), Errno> {
        let target_group = match self.tasks.get(&target) {
            Some(t) if tgid == -1 || t.tgid == tgid => t.tgid,
            _ => return Err(libc::ESRCH),
        };
        if !self.may_signal(tid, target_group, sig) {
            return Err(libc::EPERM);
        }
        if sig == 0 {
            return Ok(());
        }
        let info = self.sender(tid, sig, signal::SI_TKILL);
        self.signal_task(target, info);
        Ok(())
    }

    /// rt_sigqueueinfo(2) by task `tid`: `info` to process `pid`.
    pub(crate) fn sigqueue_process(
        &mut self,
        tid: i32,
        pid: i32,
        info: SigInfo,
    ) -> Result<(), Errno> {
        if !self.tgs.contains_key(&pid) {
            return Err(libc::ESRCH);
        }
        if !self.may_signal(tid, pid, info.signo) {
            return Err(libc::EPERM);
        }
        self.signal_group(pid, info);
        Ok(())
    }

    /// rt_tgsigqueueinfo(2) by task `tid`: `info` to thread `target`.
    pub(crate) fn sigqueue_thread(
        &mut self,
        tid: i32,
        target: i32,
        info: SigInfo,
    ) -> Result<(), Errno> {
        let Some(group) = self.tasks.get(&target).map(|t| t.tgid) else {
            return Err(libc::ESRCH);
        };
        if !self.may_signal(tid, group, info.signo) {
            return Err(libc::EPERM);
        }
        self.signal_task(target, info);
        Ok(())
    }

    // ---- the caller's own signal state ----

    /// Sets the action for `sig` in task `tid`'s handler table. Ignoring a signal
    /// discards it where it is pending in the process.
    pub(crate) fn set_sigaction(&mut self, tid: i32, sig: i32, mut act: SigAction) {
        act.mask &= !UNBLOCKABLE;
        self.tasks[&tid].sighand.borrow_mut()[(sig - 1) as usize] = act;
        if act.handler == signal::SIG_IGN {
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

    /// Signals pending for task `tid`, its own and its process's.
    pub(crate) fn pending_set(&self, tid: i32) -> SigSet {
        let t = &self.tasks[&tid];
        let g = &self.tgs[&t.tgid];
        t.pending
            .iter()
            .chain(g.shared_pending.iter())
            .fold(0u64, |m, s| m | bit(s.signo))
    }

    /// rt_sigreturn: the task's registers, mask and FPU state come back from the signal
    /// frame its handler returned through. A frame that cannot be read kills the process
    /// (SIGSEGV).
    pub(crate) fn sigreturn(&mut self, tid: i32) -> Sys {
        let rsp = self.tasks[&tid].regs.rsp;
        // The handler's `ret` popped pretcode: the ucontext starts at rsp.
        let uc = match self.read_mem(tid, rsp, signal::UCONTEXT_LEN) {
            Ok(b) => b,
            Err(_) => {
                let tgid = self.tasks[&tid].tgid;
                self.kill_group(tgid, WaitStatus::Signaled(libc::SIGSEGV, true));
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
}
