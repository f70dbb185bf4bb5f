//! The event loop: guest threads stop (system calls, faults, interrupts), the kernel
//! serves them in order, parks blocking calls and wakes them, expires timers, and answers
//! control requests.

use super::signal::{self, SigInfo};
use super::task::{RunState, WaitKey, WaitStatus};
use super::{Kernel, Sys};
use crate::mm::MmCtx;
use crate::platform::{Event, Stop};

/// Blocks SIGCHLD on this thread and returns a signalfd for it.
impl Kernel {
    // ---- running tasks ----

    /// Writes the task's registers and lets it run guest code.
    pub(crate) fn resume(&mut self, tid: i32) {
        let t = self.tasks.get_mut(&tid).expect("task");
        if self.paused || self.tgs[&t.tgid].stopped.is_some() {
            t.state = RunState::GroupStopped;
            return;
        }
        t.state = RunState::Running;
        let (h, regs) = (t.host_tid, t.regs);
        self.vfs.caches.guest_runs();
        if self.plat.set_regs(h, &regs).is_err() || self.plat.resume(h).is_err() {
            // The host thread is gone; the Gone event will clean up.
            log::warn!("cannot resume task {tid}");
        }
    }

    /// Ends the system call being served with `ret` and resumes the task, delivering
    /// pending signals first.
    pub(crate) fn finish(&mut self, tid: i32, out: Sys) {
        match out {
            Sys::Ret(v) => {
                let t = self.task_mut(tid);
                t.regs.rax = v as u64;
                let nr = t.regs.orig_rax;
                t.io.account(nr, v);
                t.end_call();
                if !self.ptrace_syscall_exit(tid) {
                    self.deliver_and_resume(tid);
                }
            }
            Sys::Regs => {
                self.task_mut(tid).end_call();
                if !self.ptrace_syscall_exit(tid) {
                    self.deliver_and_resume(tid);
                }
            }
            Sys::Park(p) => {
                self.task_mut(tid).state = RunState::Parked(p);
                if self.has_deliverable(tid) {
                    self.interrupt_parked(tid);
                }
            }
            Sys::Gone => {}
        }
    }

    /// Serves the system call the task is stopped at.
    pub(crate) fn serve(&mut self, tid: i32) {
        let r = self.tasks[&tid].regs;
        let args = [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9];
        log::trace!(
            "[{tid}] {}({:#x}, {:#x}, {:#x})",
            self.table.name(r.orig_rax),
            args[0],
            args[1],
            args[2]
        );
        let nr = r.orig_rax;
        let table = self.table;
        let out = self.contained(
            tid,
            || format!("system call {}", table.name(nr)),
            |k| k.dispatch(tid, nr, args),
        );
        self.page_cache_upkeep(nr);
        self.wake_deferred();
        if let Some(out) = out {
            if self.tasks.contains_key(&tid) {
                self.finish(tid, out);
            }
        }
    }

    /// Runs `f`, which serves task `tid`. A panic in it is a sentry bug: it must not take
    /// the sandbox down silently, nor leave the kernel serving a half-done call. The panic
    /// (already logged by the panic hook) is logged again with what was being served, and
    /// the task's process is killed as by SIGKILL; the rest of the sandbox goes on (when
    /// the process is the init, the sandbox ends, with that error in the log).
    pub(crate) fn contained<R>(
        &mut self,
        tid: i32,
        what: impl Fn() -> String,
        f: impl FnOnce(&mut Kernel) -> R,
    ) -> Option<R> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            Ok(r) => Some(r),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let tgid = self.tasks.get(&tid).map(|t| t.tgid);
                log::error!(
                    "sentry bug: {} of task {tid} (process {}) panicked: {msg}; killing the process",
                    what(),
                    tgid.map_or("gone".to_string(), |p| p.to_string())
                );
                if let Some(tgid) = tgid {
                    self.kill_group(tgid, WaitStatus::Signaled(libc::SIGKILL, false));
                }
                None
            }
        }
    }

    pub(crate) fn log_unimplemented(&mut self, nr: u64) {
        if self.logged.insert(nr) {
            log::warn!("unimplemented syscall {} ({nr})", self.table.name(nr));
        }
    }

    /// Handles one platform event.
    pub(crate) fn handle_event(&mut self, ev: Event) {
        log::trace!("event {ev:?}");
        let Some(&tid) = self.host2tid.get(&ev.tid) else {
            return;
        };
        if matches!(ev.stop, Stop::Gone) {
            self.host2tid.remove(&ev.tid);
            if self.tasks.contains_key(&tid) {
                let tgid = self.tasks[&tid].tgid;
                self.tgs
                    .get_mut(&tgid)
                    .expect("tg")
                    .exiting
                    .get_or_insert(WaitStatus::Signaled(libc::SIGKILL, false));
                self.exit_task(tid, true);
            }
            return;
        }
        let regs = match self.plat.get_regs(ev.tid) {
            Ok(r) => r,
            Err(_) => return,
        };
        let resumed_rip = {
            let t = self.task_mut(tid);
            let resumed_rip = t.regs.rip;
            t.regs = regs;
            t.state = RunState::Stopped;
            resumed_rip
        };
        // A thread that ran guest code waits on no futex: an entry left from a wait that a
        // stop signal interrupted (the call restarts, and registers again) must not take a
        // wakeup meant for a thread that does wait.
        if !self.futex_waiters.is_empty() {
            self.futex_waiters.retain(|w| w.tid != tid);
        }
        if self.tasks[&tid].dying {
            self.exit_task(tid, false);
            return;
        }
        // A system call is progress: a child the task holds since clone may run.
        if matches!(ev.stop, Stop::Syscall | Stop::Syscall32) {
            self.release_held(tid);
            // And the access a retried fault made went through.
            self.task_mut(tid).fault_retry = None;
        }
        match ev.stop {
            Stop::Syscall => {
                if !self.ptrace_syscall_enter(tid) {
                    self.serve(tid);
                }
            }
            Stop::Syscall32 => {
                self.task_mut(tid).regs.rax = (-libc::ENOSYS) as i64 as u64;
                self.deliver_and_resume(tid);
            }
            Stop::Signal { signo, code, addr } => {
                if signo == libc::SIGSEGV && code == 2
                /* SEGV_ACCERR */
                {
                    let mm_id = self.tasks[&tid].mm;
                    let e = self.mms.get_mut(&mm_id).expect("mm");
                    let mut cx = MmCtx {
                        mf: &self.mf,
                        plat: &mut *self.plat,
                    };
                    match e.mm.handle_lazy(&mut cx, addr) {
                        Some(Ok(())) => {
                            self.resume(tid);
                            return;
                        }
                        Some(Err(p)) if self.bad_memory_ends_sandbox => {
                            self.end_for_bad_memory(p.segment);
                            return;
                        }
                        Some(Err(_)) => {
                            // The image's bytes there were bad: as a memory error on
                            // Linux, the task gets SIGBUS (BUS_MCEERR_AR).
                            self.release_held(tid);
                            self.task_mut(tid)
                                .pending
                                .push(SigInfo::fault(libc::SIGBUS, 4, addr));
                            self.deliver_and_resume(tid);
                            return;
                        }
                        None => {}
                    }
                    if e.mm.fenced_at(cx.mf, addr) {
                        // A file's page past its end: SIGBUS (BUS_ADRERR), as Linux.
                        self.release_held(tid);
                        self.task_mut(tid)
                            .pending
                            .push(SigInfo::fault(libc::SIGBUS, 2, addr));
                        self.deliver_and_resume(tid);
                        return;
                    }
                    // An instruction fetch from memory mapped without PROT_EXEC is the
                    // guest's own fault, never a copy-on-write one (the page may well be
                    // writable).
                    let fetch = e.mm.mapped_noexec(regs.rip);
                    if !fetch && e.mm.handle_cow(&mut cx, addr) {
                        self.resume(tid);
                        return;
                    }
                    // Another thread of this address space may have opened the memory
                    // (an on-demand restore's window, a copy-on-write page) after this
                    // fault was raised but before it was handled here: retry the access
                    // once. A real fault faults again at the same address and is
                    // delivered then.
                    let t = self.task_mut(tid);
                    if t.fault_retry != Some(addr) {
                        t.fault_retry = Some(addr);
                        self.resume(tid);
                        return;
                    }
                }
                self.task_mut(tid).fault_retry = None;
                let info = if signo == libc::SIGSYS {
                    // A system call from outside the trampoline: a call into the vsyscall page.
                    SigInfo::fault(libc::SIGSEGV, 1 /* SEGV_MAPERR */, regs.rip)
                } else if matches!(
                    signo,
                    libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP
                ) {
                    SigInfo::fault(signo, code, addr)
                } else {
                    // A host signal sent to the stub by someone else: not the guest's business.
                    self.resume(tid);
                    return;
                };
                // A fault the guest sees is progress too.
                self.release_held(tid);
                self.force_signal(tid, info);
                self.deliver_and_resume(tid);
            }
            Stop::Interrupted => {
                self.task_mut(tid).interrupting = false;
                self.interrupted_holding(tid, resumed_rip);
                self.deliver_and_resume(tid);
            }
            Stop::Gone => unreachable!(),
        }
    }

    /// The event loop: serves guest system calls until the init exits. Returns its status.
    pub(crate) fn run_loop(
        &mut self,
        control: Option<&crate::control::ControlReceiver>,
    ) -> WaitStatus {
        loop {
            if self.bad_memory_ends_sandbox && self.bad_segment_after_start.is_none() {
                if let Some(seg) = self.mf.bad_segment() {
                    self.end_for_bad_memory(seg);
                }
            }
            self.reap_checkpoint(false);
            self.reprotect_some();
            self.preprotect_some();
            if let Some(st) = self.init_status {
                if self.tasks.is_empty() {
                    // An image still being written is finished first.
                    self.reap_checkpoint(true);
                    // What mappings wrote reaches the files.
                    if let Err(e) = self.vfs.caches.write_back_all() {
                        log::warn!("writing the page caches back at the end: errno {e}");
                    }
                    if let Some(c) = control {
                        c.leave_last_exits(self.exec_exits());
                    }
                    return st;
                }
            }
            let mut progressed = false;
            while let Some(tid) = self.ready.pop_front() {
                progressed = true;
                if let Some(t) = self.tasks.get(&tid) {
                    if matches!(t.state, RunState::Parked(_)) {
                        self.task_mut(tid).state = RunState::Stopped;
                        self.serve(tid);
                    }
                }
            }
            loop {
                match self.plat.next_event() {
                    Ok(Some(ev)) => {
                        progressed = true;
                        let tid = self.host2tid.get(&ev.tid).copied().unwrap_or(0);
                        let served_from = super::time::host_clock(libc::CLOCK_THREAD_CPUTIME_ID);
                        self.contained(
                            tid,
                            || format!("the stop {:?}", ev.stop),
                            |k| k.handle_event(ev),
                        );
                        // The sentry's time serving the stop is the task's system time.
                        self.count_served(tid, served_from);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        log::error!("platform: {e}");
                        break;
                    }
                }
            }
            self.wake_deferred();
            self.wake_host_changes();
            self.expire_timers();
            self.answer_pid_waiters();
            if !self.deferred.is_empty() && self.ready.is_empty() && self.world_stopped() {
                let reqs = std::mem::take(&mut self.deferred);
                for env in reqs {
                    self.stopped_world_request(env, control.map(|c| c.waker()));
                }
                self.paused = self.user_paused;
                if !self.paused {
                    self.resume_stopped();
                }
                continue;
            }
            if !self.ready.is_empty() {
                continue;
            }
            if progressed {
                continue;
            }
            // Nothing to do: sleep until a stub stops, a host fd is ready, a control
            // request arrives or a deadline passes.
            let now = self.clocks.mono();
            let timeout_ms = self
                .next_deadline()
                .map(|d| (d.saturating_sub(now) / 1_000_000 + 1).min(1000))
                .unwrap_or(1000)
                // A checkpoint writer finishing is noticed soon after; mappings that
                // get their protection back after one go on at once.
                .min(
                    if !self.reprotect.is_empty() || !self.preparing.is_empty() {
                        0
                    } else if self.checkpoint_job.is_some() {
                        5
                    } else if self.bad_memory_ends_sandbox && self.mf.still_loading() {
                        // A bad segment the background loader finds ends the sandbox soon.
                        20
                    } else {
                        1000
                    },
                );
            let wakeups = self.plat.wakeup_fds();
            let mut pfds: Vec<libc::pollfd> = wakeups
                .iter()
                .map(|&fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let control_at = pfds.len();
            if let Some(c) = control {
                pfds.push(libc::pollfd {
                    fd: c.raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            // The host sockets' epoll set: what changed is taken by wake_host_changes.
            if let Some(fd) = crate::wait::host_epoll() {
                pfds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let base = control_at + usize::from(control.is_some());
            let base = base + usize::from(crate::wait::host_epoll().is_some());
            let host_waits = self.host_fd_waits();
            for &(fd, ev) in &host_waits {
                pfds.push(libc::pollfd {
                    fd,
                    events: ev,
                    revents: 0,
                });
            }
            crate::platform::sys::poll(&mut pfds, timeout_ms as i32);
            if pfds[..control_at].iter().any(|p| p.revents != 0) {
                self.plat.clear_wakeups();
            }
            for (i, &(fd, ev)) in host_waits.iter().enumerate() {
                if pfds[base + i].revents != 0 {
                    self.notify(&WaitKey::HostFd(fd, ev));
                }
            }
            if let Some(c) = control {
                if pfds[control_at].revents != 0 {
                    for env in c.drain() {
                        self.control(env);
                    }
                }
            }
        }
    }

    /// A segment of the image this sandbox was restored from was found bad while the
    /// guest ran (a default restore): the sandbox ends, every process killed, before any
    /// of its bytes reached the guest; `bad_segment_after_start` names it.
    pub(crate) fn end_for_bad_memory(&mut self, segment: u64) {
        // Reported as the restore's error (the exit record, `runsc restore`, `runsc wait`).
        log::debug!("segment {segment} of the checkpoint image is bad: ending the sandbox");
        self.bad_segment_after_start = Some(segment);
        self.paused = false;
        self.user_paused = false;
        let groups: Vec<i32> = self.tgs.keys().copied().collect();
        for pid in groups {
            self.kill_group(pid, WaitStatus::Signaled(libc::SIGKILL, false));
        }
    }

    /// Why the segment that ended the sandbox is bad.
    pub(crate) fn bad_memory_error(&self) -> Option<statefile::Error> {
        self.mf.bad_segment_error()
    }

    pub(crate) fn host_fd_waits(&self) -> Vec<(i32, i16)> {
        let mut v = Vec::new();
        for t in self.tasks.values() {
            if let RunState::Parked(p) = &t.state {
                for k in &p.keys {
                    if let WaitKey::HostFd(fd, ev) = k {
                        if !v.contains(&(*fd, *ev)) {
                            v.push((*fd, *ev));
                        }
                    }
                }
            }
        }
        v
    }

    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let parked = self.tasks.values().filter_map(|t| match &t.state {
            RunState::Parked(p) => p.deadline,
            _ => None,
        });
        let timers = self
            .tgs
            .values()
            .filter_map(|g| g.itimer_real.map(|(d, _)| d))
            .chain(
                self.tgs
                    .values()
                    .filter(|g| g.zombie.is_none())
                    .filter_map(|g| g.posix_timers.next_deadline()),
            );
        // Armed timerfds, from the host's monotonic clock to the guest's.
        let objects = crate::wait::next_timer()
            .map(|d| (d as i64).saturating_add(self.clocks.mono_offset).max(0) as u64);
        // Timers on CPU time are looked at on a tick.
        let tick = self.cpu_timers_armed().then(|| {
            self.clocks
                .mono()
                .saturating_add(super::cputime::CPU_TICK_NS)
        });
        parked
            .chain(timers)
            .chain(self.held_deadline())
            .chain(objects)
            .chain(tick)
            .min()
    }

    pub(crate) fn expire_timers(&mut self) {
        let now = self.clocks.mono();
        self.probe_holding(now);
        for id in crate::wait::due_timers(super::time::host_clock(libc::CLOCK_MONOTONIC)) {
            self.notify(&WaitKey::Object(id));
        }
        let due: Vec<i32> = self
            .tasks
            .iter()
            .filter(|(_, t)| matches!(&t.state, RunState::Parked(p) if p.deadline.is_some_and(|d| d <= now)))
            .map(|(&k, _)| k)
            .collect();
        for tid in due {
            if !self.ready.contains(&tid) {
                self.ready.push_back(tid);
            }
        }
        let fired: Vec<i32> = self
            .tgs
            .iter()
            .filter(|(_, g)| g.itimer_real.is_some_and(|(d, _)| d <= now) && g.zombie.is_none())
            .map(|(&k, _)| k)
            .collect();
        for pid in fired {
            let g = self.tgs.get_mut(&pid).expect("tg");
            let (d, interval) = g.itimer_real.expect("due");
            g.itimer_real = if interval > 0 {
                let mut next = d + interval;
                if next <= now {
                    next = now + interval - (now - d) % interval;
                }
                Some((next, interval))
            } else {
                None
            };
            self.signal_group(pid, SigInfo::new(libc::SIGALRM, signal::SI_KERNEL));
        }
        self.fire_posix_timers(now);
        self.fire_cpu_itimers();
        self.enforce_rlimit_cpu();
    }

    /// Wakes the tasks parked on the objects queued with [`crate::wait::wake_later`].
    pub(crate) fn wake_deferred(&mut self) {
        // Descriptions dropped out of the kernel's sight (a message in flight discarded)
        // take their locks with them.
        self.release_dropped_locks();
        for id in crate::wait::take_later() {
            self.notify(&WaitKey::Object(id));
        }
    }

    /// Wakes the tasks parked on the objects whose host sockets changed. Only from the
    /// loop, between calls: a call that parks is parked by then, so none is missed.
    pub(crate) fn wake_host_changes(&mut self) {
        for (id, sides) in crate::wait::take_host_changes() {
            self.notify_side(&WaitKey::Object(id), sides);
        }
    }

    /// Wakes every task parked on `key`: a change of either side (see
    /// [`Kernel::notify_side`]).
    pub(crate) fn notify(&mut self, key: &WaitKey) {
        self.notify_side(key, crate::wait::EDGE_ALL);
    }

    /// Wakes the tasks parked on `key` after an fd of `file` was closed: a change for
    /// edge-triggered interests only if that released the description (another fd of it,
    /// in this process or another, keeps its end open).
    pub(crate) fn notify_closed(
        &mut self,
        key: &WaitKey,
        file: &std::rc::Weak<std::cell::RefCell<crate::fs::file::OpenFile>>,
    ) {
        let sides = if file.strong_count() == 0 {
            crate::wait::EDGE_ALL
        } else {
            0
        };
        self.notify_side(key, sides);
    }

    /// Wakes every task parked on `key`, counting a change of the sides `sides` for the
    /// edge-triggered epoll interests watching it.
    pub(crate) fn notify_side(&mut self, key: &WaitKey, sides: u8) {
        crate::wait::count_edge(key, sides);
        self.signal_io(key, sides);
        for (&tid, t) in &self.tasks {
            if let RunState::Parked(p) = &t.state {
                if p.keys.contains(key) && !self.ready.contains(&tid) {
                    self.ready.push_back(tid);
                }
            }
        }
    }

    /// Wakes a parked task unconditionally (its call re-checks).
    pub(crate) fn wake(&mut self, tid: i32) {
        if let Some(t) = self.tasks.get(&tid) {
            if matches!(t.state, RunState::Parked(_)) && !self.ready.contains(&tid) {
                self.ready.push_back(tid);
            }
        }
    }

    /// Deadline of the call being served: kept across re-runs of a parked call, so a
    /// restart never stretches a timeout.
    pub(crate) fn deadline(&mut self, tid: i32, rel_ns: u64) -> u64 {
        let now = self.clocks.mono();
        *self
            .task_mut(tid)
            .sys_deadline
            .get_or_insert(now.saturating_add(rel_ns))
    }
}
