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
    /// The CPU time the child and its reaped children used, in ns (the rusage wait
    /// reports).
    pub cpu_ns: u64,
}

impl Kernel {
    /// exit(2) by task `tid`: the thread ends; the last one ends its process with `code`.
    pub(crate) fn exit_thread(&mut self, tid: i32, code: i32) {
        let g = self.tg_of_mut(tid);
        if g.threads.len() == 1 {
            g.exiting.get_or_insert(WaitStatus::Exited(code & 0xff));
        }
        self.ptrace_thread_exit_code(tid, code);
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
        if !self.tasks.contains_key(&tid) {
            return;
        }
        self.ptrace_thread_exits(tid);
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
        let io = self.tasks[&tid].io;
        if let Some(g) = self.tgs.get_mut(&tgid) {
            g.cpu_exited = g.cpu_exited.saturating_add(used);
            g.io_exited.add(&io);
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
            if let RunState::VforkWait(child) = p.state {
                self.task_mut(parent).state = RunState::Stopped;
                self.vfork_returns(parent, child);
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
                // An adopted child tells its exit with SIGCHLD (Linux's reparent_leader).
                cg.exit_signal = libc::SIGCHLD;
                let z = cg.zombie.is_some();
                if let Some(i) = self.tgs.get_mut(&reaper) {
                    i.children.push(c)
                }
                if z {
                    self.notify(&WaitKey::Child(reaper));
                }
            }
        }
        let (code, st) = super::ptrace::exit_code(status);
        // A traced process's exit goes to its tracer first.
        if self.ptrace_group_exited(pid) {
            return;
        }
        // A parent that ignores SIGCHLD reaps at once its children that exit with it.
        let sigchld = self.tgs[&pid].exit_signal == libc::SIGCHLD;
        let autoreap = sigchld
            && self
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

    /// Children of task `tid`'s process selected by a wait pid argument and the
    /// `__WALL`/`__WCLONE`/`__WNOTHREAD` options, as Linux's eligible_child: without
    /// `__WALL`, `__WCLONE` selects the children whose exit signal is not SIGCHLD and no
    /// `__WCLONE` the others; `__WNOTHREAD` only those the calling thread created.
    fn wait_candidates(&self, tid: i32, pid: i64, options: i32) -> Vec<i32> {
        let me = self.tasks[&tid].tgid;
        let my_pgid = self.tgs[&me].pgid;
        self.tgs[&me]
            .children
            .iter()
            .copied()
            .filter(|c| {
                let Some(g) = self.tgs.get(c) else {
                    return false;
                };
                let selected = match pid {
                    -1 => true,
                    0 => g.pgid == my_pgid,
                    p if p > 0 => *c as i64 == p,
                    p => g.pgid as i64 == -p,
                };
                // Its tracer's wait reports it (whatever the kind options ask).
                if self.traced_by_process(*c, me) {
                    return false;
                }
                let kind = options & libc::__WALL != 0
                    || (g.exit_signal != libc::SIGCHLD) == (options & libc::__WCLONE != 0);
                let thread = options & libc::__WNOTHREAD == 0 || g.prctl.parent_tid == tid;
                selected && kind && thread
            })
            .collect()
    }

    /// wait4/waitid by task `tid`: finds a state change of a child its process waits
    /// for (`pid` as wait4 takes it, `options` the WEXITED/WUNTRACED/WCONTINUED kinds and
    /// `__WALL`/`__WCLONE`/`__WNOTHREAD`); reaps a zombie unless `peek`, adding the CPU
    /// time it and its reaped children used to the caller's children's. ECHILD when no
    /// child is selected, or only zombies and WEXITED is not asked for (as Linux: such a
    /// child is no child to wait for).
    pub(crate) fn wait_child(
        &mut self,
        tid: i32,
        pid: i64,
        options: i32,
        peek: bool,
    ) -> Result<Option<ChildEvent>, Errno> {
        let me = self.tasks[&tid].tgid;
        // The tracees of its threads first: their stops and exits.
        let (mut waitable, ev) = self.wait_tracees(tid, pid, options, peek);
        if ev.is_some() {
            return Ok(ev);
        }
        let kids = self.wait_candidates(tid, pid, options);
        for c in kids {
            let g = &self.tgs[&c];
            let uid = g.creds.uid;
            if let Some(st) = g.zombie {
                if self.exit_held_by_tracer(c, me) {
                    // Its tracer hears of its exit first.
                    waitable = true;
                    continue;
                }
                if options & libc::WEXITED != 0 {
                    let (code, sst) = super::ptrace::exit_code(st);
                    let cpu_ns = g.cpu_exited.saturating_add(g.cpu_children);
                    if !peek {
                        self.tgs.remove(&c);
                        let mine = self.tgs.get_mut(&me).expect("me");
                        mine.children.retain(|&x| x != c);
                        mine.cpu_children = mine.cpu_children.saturating_add(cpu_ns);
                    }
                    return Ok(Some(ChildEvent {
                        pid: c,
                        status: st.raw(),
                        code,
                        si_status: sst,
                        uid,
                        cpu_ns,
                    }));
                }
                continue;
            }
            waitable = true;
            let cpu_ns = self.group_cpu(c).saturating_add(g.cpu_children);
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
                        cpu_ns,
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
                    cpu_ns,
                }));
            }
        }
        if !waitable {
            return Err(libc::ECHILD);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{errno, kernel, SCRATCH};

    const MS: u64 = 1_000_000;

    fn fork(k: &mut crate::kernel::Kernel, t: i32, flags: i32) -> i32 {
        let c = k.call(t, libc::SYS_clone, [flags as u64, 0, 0, 0, 0, 0]);
        c.expect("clone returns") as i32
    }

    #[test]
    fn wait_selects_children_by_exit_signal_and_thread_and_reports_their_cpu_time() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let plain = fork(&mut k, t, libc::SIGCHLD);
        let quiet = fork(&mut k, t, 0);
        assert!(plain > 0 && quiet > 0);
        k.task_mut(plain).cpu_base = 5 * MS;
        let used = k.task_cpu(plain);
        assert!(used >= 5 * MS);
        k.exit_group(plain, 3);
        k.exit_group(quiet, 4);
        let wait4 = |k: &mut crate::kernel::Kernel, pid: i32, options: i32| {
            let args = [pid as u64, SCRATCH, options as u64, SCRATCH + 64, 0, 0];
            k.call(t, libc::SYS_wait4, args)
        };
        // Without __WCLONE only the child that exits with SIGCHLD is waited for.
        assert_eq!(wait4(&mut k, quiet, 0), errno(libc::ECHILD));
        assert_eq!(
            wait4(&mut k, -1, libc::WNOHANG | libc::__WCLONE),
            Some(quiet as i64)
        );
        // waitid without WEXITED: a zombie is no child to wait for.
        let waitid = [libc::P_ALL as u64, 0, SCRATCH, libc::WSTOPPED as u64, 0, 0];
        assert_eq!(k.call(t, libc::SYS_waitid, waitid), errno(libc::ECHILD));
        let bad = [
            libc::P_ALL as u64,
            0,
            SCRATCH,
            (libc::WEXITED | 0x1000) as u64,
            0,
            0,
        ];
        assert_eq!(k.call(t, libc::SYS_waitid, bad), errno(libc::EINVAL));
        // A zombie can be signalled (nothing happens) until it is reaped.
        assert_eq!(
            k.call(t, libc::SYS_kill, [plain as u64, 9, 0, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(wait4(&mut k, plain, 0), Some(plain as i64));
        let status = u32::from_le_bytes(k.get(t, SCRATCH, 4).try_into().unwrap());
        assert_eq!(status, 3 << 8, "SIGKILL did not change the exit status");
        let ru = k.get(t, SCRATCH + 64, 16);
        let secs = u64::from_le_bytes(ru[..8].try_into().unwrap());
        let usecs = u64::from_le_bytes(ru[8..].try_into().unwrap());
        assert_eq!(
            secs * 1_000_000 + usecs,
            used / 1000,
            "the child's CPU time"
        );
        assert_eq!(
            k.call(t, libc::SYS_kill, [plain as u64, 0, 0, 0, 0, 0]),
            errno(libc::ESRCH)
        );
        // RUSAGE_CHILDREN has what the reaped children used.
        let children = libc::RUSAGE_CHILDREN as u64;
        assert_eq!(
            k.call(
                t,
                libc::SYS_getrusage,
                [children, SCRATCH + 256, 0, 0, 0, 0]
            ),
            Some(0)
        );
        let ru = k.get(t, SCRATCH + 256, 16);
        assert_eq!(u64::from_le_bytes(ru[8..].try_into().unwrap()), used / 1000);
        assert_eq!(
            k.call(t, libc::SYS_getrusage, [7, SCRATCH + 256, 0, 0, 0, 0]),
            errno(libc::EINVAL)
        );
    }

    #[test]
    fn kill_names_a_process_by_any_of_its_threads() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let flags = libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND;
        let thread = fork(&mut k, t, flags);
        let other = k.test_process(0, 0);
        assert_eq!(
            k.call(other, libc::SYS_kill, [thread as u64, 0, 0, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(
            k.call(
                other,
                libc::SYS_kill,
                [thread as u64, libc::SIGUSR1 as u64, 0, 0, 0, 0]
            ),
            Some(0)
        );
        let sigs: Vec<i32> = k.tgs[&t].shared_pending.iter().map(|s| s.signo).collect();
        assert_eq!(sigs, [libc::SIGUSR1], "queued to the process");
        // setpgid: a non-leader thread is no process; a group must exist in the session.
        assert_eq!(
            k.call(t, libc::SYS_setpgid, [thread as u64, 0, 0, 0, 0, 0]),
            errno(libc::EINVAL)
        );
        let child = fork(&mut k, t, libc::SIGCHLD);
        assert_eq!(
            k.call(t, libc::SYS_setpgid, [child as u64, 99_999, 0, 0, 0, 0]),
            errno(libc::EPERM)
        );
        assert_eq!(
            k.call(
                t,
                libc::SYS_setpgid,
                [child as u64, child as u64, 0, 0, 0, 0]
            ),
            Some(0)
        );
        assert_eq!(
            k.call(t, libc::SYS_setpgid, [other as u64, 0, 0, 0, 0, 0]),
            errno(libc::ESRCH),
            "not its child"
        );
        k.tgs.get_mut(&child).unwrap().did_exec = true;
        assert_eq!(
            k.call(t, libc::SYS_setpgid, [child as u64, 0, 0, 0, 0, 0]),
            errno(libc::EACCES)
        );
        // CLONE_SETTLS with a TLS base outside the guest's addresses.
        let settls = (libc::SIGCHLD | libc::CLONE_SETTLS) as u64;
        assert_eq!(
            k.call(t, libc::SYS_clone, [settls, 0, 0, 0, 1 << 63, 0]),
            errno(libc::EPERM)
        );
    }
}
