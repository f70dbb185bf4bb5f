//! Exit and reaping: ending tasks and thread groups, releasing address spaces, zombies,
//! reparenting, vfork release, and wait.

use std::rc::Rc;

use super::signal::{self};
use super::task::{RunState, WaitKey, WaitStatus};
use super::Kernel;
use crate::mm::{Errno, MmCtx};

/// A child's state change, as wait reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildEvent {
    pub pid: i32,
    /// The wait status word (wait4).
    pub status: i32,
    /// si_code and si_status (waitid).
    pub code: i32,
    pub si_status: i32,
    /// The child's real uid.
    pub uid: u32,
}

impl Kernel {
    /// exit(2) by task `tid`: the thread ends; the last one ends its process with `code`.
    pub(crate) fn exit_thread(&mut self, tid: i32, code: i32) {
        let g = self.tg_of_mut(tid);
        if g.threads.len() == 1 {
            g.exiting.get_or_insert(WaitStatus::Exited(code & 0xff));
        }
        self.exit_task(tid, false);
    }

    /// exit_group(2) by task `tid`: its process ends with `code`.
    pub(crate) fn exit_group(&mut self, tid: i32, code: i32) {
        let tgid = self.tasks[&tid].tgid;
        self.kill_group(tgid, WaitStatus::Exited(code & 0xff));
    }

    /// Ends a whole thread group with `status`.
    pub(crate) fn kill_group(&mut self, pid: i32, status: WaitStatus) {
        let Some(g) = self.tgs.get_mut(&pid) else {
            return;
        };
        if g.zombie.is_some() {
            return;
        }
        g.exiting.get_or_insert(status);
        let threads = g.threads.clone();
        for t in threads {
            let Some(task) = self.tasks.get(&t) else {
                continue;
            };
            match task.state {
                RunState::Running => {
                    // If nothing else uses its address space, ending the space ends it too.
                    if self.mm_private_to_group(task.mm, pid) {
                        self.exit_task(t, true);
                    } else {
                        self.task_mut(t).dying = true;
                        self.kick(t);
                    }
                }
                _ => self.exit_task(t, false),
            }
        }
    }

    pub(crate) fn mm_private_to_group(&self, mm: u64, pid: i32) -> bool {
        self.tasks.values().all(|t| t.mm != mm || t.tgid == pid)
    }

    /// Drops a task's use of its address space; ends the space when it was the last.
    pub(crate) fn release_mm(&mut self, tid: i32, host_gone: bool) {
        let t = &self.tasks[&tid];
        let (mm_id, host) = (t.mm, t.host_tid);
        self.host2tid.remove(&host);
        let e = self.mms.get_mut(&mm_id).expect("mm");
        e.users -= 1;
        if e.users == 0 {
            let mut e = self.mms.remove(&mm_id).expect("mm");
            let mut cx = MmCtx {
                mf: &self.mf,
                plat: &mut *self.plat,
            };
            e.mm.destroy(&mut cx);
        } else if !host_gone {
            let id = e.mm.id;
            self.plat.destroy_thread(id, host);
        }
    }

    /// Removes one task. `host_gone`: its host thread no longer exists or is running
    /// (ending the address space ends it).
    pub(crate) fn exit_task(&mut self, tid: i32, host_gone: bool) {
        self.release_held(tid);
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        let tgid = t.tgid;
        let ctid = t.clear_child_tid;
        let mm_id = t.mm;
        self.exit_robust_list(tid);
        if ctid != 0
            && self.mms.get(&mm_id).is_some_and(|e| e.users > 1)
            && self.write_u32(tid, ctid, 0).is_ok()
        {
            // A shared futex, as Linux's: joiners wait without FUTEX_PRIVATE_FLAG.
            let key = self.futex_key(tid, ctid, false);
            self.futex_wake(key, 1, u32::MAX);
        }
        if let Some(p) = self.tasks[&tid].vfork_parent {
            self.release_vfork(p);
        }
        // What it used joins its process's exited threads' CPU time.
        let used = self.task_cpu(tid);
        if let Some(g) = self.tgs.get_mut(&tgid) {
            g.cpu_exited = g.cpu_exited.saturating_add(used);
        }
        // A private address space dies with its group; take the siblings with it.
        self.release_mm(tid, host_gone);
        self.cancel_fifo_open(tid);
        let t = self.tasks.remove(&tid).expect("task");
        self.futex_waiters.retain(|w| w.tid != tid);
        self.ready.retain(|&r| r != tid);
        // Dropping the last use of the fd table closes its files: wake the other ends.
        let keys: Vec<_> = if Rc::strong_count(&t.files) == 1 {
            t.files
                .borrow()
                .fds
                .values()
                .filter_map(|e| Some((e.file.borrow().notify_key()?, Rc::downgrade(&e.file))))
                .collect()
        } else {
            Vec::new()
        };
        drop(t);
        for (key, file) in keys {
            self.notify_closed(&key, &file);
        }
        self.locks().stop_waiting(tid);
        self.release_dropped_locks();
        let g = self.tgs.get_mut(&tgid).expect("tg");
        g.threads.retain(|&x| x != tid);
        let heir = g.threads.first().copied();
        if g.threads.is_empty() {
            self.group_exited(tgid);
        }
        self.parent_thread_exited(tid, heir);
    }

    /// Thread `tid` is gone: the processes it created get their death signal
    /// (PR_SET_PDEATHSIG) and another thread of its process for parent (`heir`; none: the
    /// reaper that adopted them, which `group_exited` made their parent).
    fn parent_thread_exited(&mut self, tid: i32, heir: Option<i32>) {
        let orphans: Vec<i32> = self
            .tgs
            .values()
            .filter(|g| g.prctl.parent_tid == tid && g.zombie.is_none())
            .map(|g| g.pid)
            .collect();
        for pid in orphans {
            let ppid = self.tgs[&pid].ppid;
            let adopter = heir
                .or_else(|| self.tgs.get(&ppid).and_then(|p| p.threads.first().copied()))
                .unwrap_or(0);
            let g = self.tgs.get_mut(&pid).expect("tg");
            g.prctl.parent_tid = adopter;
            let sig = g.prctl.pdeathsig;
            if sig != 0 {
                let info = crate::kernel::signal::SigInfo::new(sig, crate::kernel::signal::SI_USER);
                self.signal_group(pid, info);
            }
        }
    }

    pub(crate) fn release_vfork(&mut self, parent: i32) {
        if let Some(p) = self.tasks.get(&parent) {
            if matches!(p.state, RunState::VforkWait(_)) {
                self.task_mut(parent).state = RunState::Stopped;
                self.deliver_and_resume(parent);
            }
        }
    }

    /// The last thread of a group is gone: make it a zombie, reparent its children and
    /// tell the parent.
    pub(crate) fn group_exited(&mut self, pid: i32) {
        let g = self.tgs.get_mut(&pid).expect("tg");
        let status = g.exiting.unwrap_or(WaitStatus::Exited(0));
        g.zombie = Some(status);
        g.itimer_real = None;
        g.posix_timers.timers.clear();
        let children = std::mem::take(&mut g.children);
        let ppid = g.ppid;
        let leads_session = g.sid == pid;
        self.release_process_locks(pid);
        if leads_session {
            // Its session loses its controlling terminal; the foreground group hangs up.
            self.vfs.devpts.session_ended(pid);
            self.send_tty_signals();
        }
        if pid == 1 {
            // The init is gone: everything else goes with it.
            self.init_status = Some(status);
            let all: Vec<i32> = self.tgs.keys().copied().filter(|&p| p != 1).collect();
            for p in all {
                self.kill_group(p, WaitStatus::Signaled(libc::SIGKILL, false));
            }
            // Zombies go, but for those a runtime exec started (no parent in the sandbox):
            // their statuses are left for the exec callers when the kernel ends.
            self.tgs
                .retain(|_, g| g.zombie.is_none() || g.pid == 1 || g.ppid == 0);
            return;
        }
        // Orphans go to the nearest live ancestor that is a child subreaper, else init.
        let mut reaper = ppid;
        while reaper > 1
            && !self
                .tgs
                .get(&reaper)
                .is_some_and(|r| r.prctl.subreaper && r.zombie.is_none())
        {
            reaper = self.tgs.get(&reaper).map_or(1, |r| r.ppid);
        }
        let reaper = reaper.max(1);
        for c in children {
            if let Some(cg) = self.tgs.get_mut(&c) {
                cg.ppid = reaper;
                let z = cg.zombie.is_some();
                if let Some(i) = self.tgs.get_mut(&reaper) {
                    i.children.push(c)
                }
                if z {
                    self.notify(&WaitKey::Child(reaper));
                }
            }
        }
        let (code, st) = match status {
            WaitStatus::Exited(c) => (libc::CLD_EXITED, c),
            WaitStatus::Signaled(s, true) => (libc::CLD_DUMPED, s),
            WaitStatus::Signaled(s, false) => (libc::CLD_KILLED, s),
        };
        // A parent that ignores SIGCHLD reaps its children at once.
        let autoreap = self
            .tgs
            .get(&ppid)
            .and_then(|pg| pg.threads.first().copied())
            .is_some_and(|pt| {
                let act = self.tasks[&pt].sighand.borrow()[(libc::SIGCHLD - 1) as usize];
                act.handler == signal::SIG_IGN || act.flags & signal::SA_NOCLDWAIT != 0
            });
        if autoreap {
            self.tgs.remove(&pid);
            if let Some(pg) = self.tgs.get_mut(&ppid) {
                pg.children.retain(|&c| c != pid);
            }
            self.notify(&WaitKey::Child(ppid));
        } else {
            self.notify_parent(pid, code, st);
        }
    }

    // ---- wait ----

    /// Children of `me` selected by a wait pid argument.
    fn wait_candidates(&self, me: i32, pid: i64) -> Vec<i32> {
        let my_pgid = self.tgs[&me].pgid;
        self.tgs[&me]
            .children
            .iter()
            .copied()
            .filter(|c| {
                let Some(g) = self.tgs.get(c) else {
                    return false;
                };
                match pid {
                    -1 => true,
                    0 => g.pgid == my_pgid,
                    p if p > 0 => *c as i64 == p,
                    p => g.pgid as i64 == -p,
                }
            })
            .collect()
    }

    /// wait4/waitid by task `tid`: finds a state change of a child its process waits
    /// for (`pid` as wait4 takes it, `options` the WEXITED/WUNTRACED/WCONTINUED kinds);
    /// reaps a zombie unless `peek`. ECHILD when no child is selected.
    pub(crate) fn wait_child(
        &mut self,
        tid: i32,
        pid: i64,
        options: i32,
        peek: bool,
    ) -> Result<Option<ChildEvent>, Errno> {
        let me = self.tasks[&tid].tgid;
        let kids = self.wait_candidates(me, pid);
        if kids.is_empty() {
            return Err(libc::ECHILD);
        }
        for c in kids {
            let g = &self.tgs[&c];
            let uid = g.creds.uid;
            if let Some(st) = g.zombie {
                if options & libc::WEXITED != 0 {
                    let (code, sst) = match st {
                        WaitStatus::Exited(x) => (libc::CLD_EXITED, x),
                        WaitStatus::Signaled(s, true) => (libc::CLD_DUMPED, s),
                        WaitStatus::Signaled(s, false) => (libc::CLD_KILLED, s),
                    };
                    if !peek {
                        self.tgs.remove(&c);
                        self.tgs
                            .get_mut(&me)
                            .expect("me")
                            .children
                            .retain(|&x| x != c);
                    }
                    return Ok(Some(ChildEvent {
                        pid: c,
                        status: st.raw(),
                        code,
                        si_status: sst,
                        uid,
                    }));
                }
                continue;
            }
            if options & libc::WUNTRACED != 0 {
                if let Some((sig, false)) = g.stopped {
                    if !peek {
                        self.tgs.get_mut(&c).expect("c").stopped = Some((sig, true));
                    }
                    return Ok(Some(ChildEvent {
                        pid: c,
                        status: (sig << 8) | 0x7f,
                        code: libc::CLD_STOPPED,
                        si_status: sig,
                        uid,
                    }));
                }
            }
            if options & libc::WCONTINUED != 0 && g.continued {
                if !peek {
                    self.tgs.get_mut(&c).expect("c").continued = false;
                }
                return Ok(Some(ChildEvent {
                    pid: c,
                    status: 0xffff,
                    code: libc::CLD_CONTINUED,
                    si_status: libc::SIGCONT,
                    uid,
                }));
            }
        }
        Ok(None)
    }
}
