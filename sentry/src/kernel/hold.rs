//! The parent runs first after clone.
//!
//! On Linux, fork returns to the parent without a reschedule: the parent goes on running
//! its next instructions while the child waits to be scheduled. Programs rely on it without
//! knowing: CRIU's zdtm test library records "I am the parent" in a variable only after
//! fork returned, then sleeps on a futex until its SIGCHLD handler, which reads that
//! variable, tells it the child died early. Under ptrace the parent is a host thread that
//! must be scheduled again after its fork call is served, and its first writes after fork
//! take copy-on-write stops; a child let run at once can run to its exit, and the parent's
//! SIGCHLD handler run, before the parent's first store after fork.
//!
//! So a new child is held (not resumed) until the task that made it has made progress: its
//! next system call, a fault it gets as a signal, or its exit. A copy-on-write fault is no
//! progress (the faulting write is still to be done), nor is an interrupt (it may find the
//! parent where it was resumed). A parent that makes none of those in `HOLD_NS` is
//! interrupted to look where it is: one that moved since it was resumed (it computes) lets
//! the child go; one that did not (its host thread was not scheduled: a loaded host) keeps
//! it, and is looked at again, at most `MAX_PROBES` times.

use super::task::RunState;
use super::Kernel;

/// How long a new child waits for its parent to make progress before the kernel looks.
const HOLD_NS: u64 = 20_000_000;
/// Looks after which a held child runs anyway.
const MAX_PROBES: u32 = 50;

/// A child waiting for the task that cloned it to make progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    child: i32,
    /// When to look at the parent (guest monotonic ns).
    deadline: u64,
    probes: u32,
    /// The parent was interrupted to look where it is.
    probing: bool,
}

impl Kernel {
    /// Holds the new task `child` of `tid` (which is about to return from clone).
    pub(crate) fn hold(&mut self, tid: i32, child: i32) {
        self.release_held(tid);
        let deadline = self.clocks.mono() + HOLD_NS;
        self.held.insert(
            tid,
            Held {
                child,
                deadline,
                probes: 0,
                probing: false,
            },
        );
    }

    /// Lets the child task `tid` holds (if any) run.
    pub(crate) fn release_held(&mut self, tid: i32) {
        if let Some(h) = self.held.remove(&tid) {
            if self
                .tasks
                .get(&h.child)
                .is_some_and(|t| t.state == RunState::Stopped)
            {
                self.deliver_and_resume(h.child);
            }
        }
    }

    /// Task `tid`, which holds a child, stopped at an interrupt: if the kernel was looking
    /// and it is still at `resumed_rip`, it has not run since it was resumed, and keeps
    /// holding; otherwise its child may run.
    pub(crate) fn interrupted_holding(&mut self, tid: i32, resumed_rip: u64) {
        let rip = self.tasks[&tid].regs.rip;
        let Some(h) = self.held.get_mut(&tid) else {
            return;
        };
        if std::mem::take(&mut h.probing) && rip != resumed_rip {
            self.release_held(tid);
        }
    }

    /// Looks at the parents whose held child has waited `HOLD_NS`: a parent still running
    /// is interrupted (its stop tells whether it moved); one that is not (paused, stopped)
    /// lets its child go, as does one looked at `MAX_PROBES` times.
    pub(crate) fn probe_holding(&mut self, now: u64) {
        let due: Vec<i32> = self
            .held
            .iter()
            .filter(|(_, h)| h.deadline <= now)
            .map(|(&p, _)| p)
            .collect();
        for p in due {
            let running = self
                .tasks
                .get(&p)
                .is_some_and(|t| t.state == RunState::Running);
            let h = self.held.get_mut(&p).expect("held");
            if !running || h.probes >= MAX_PROBES {
                self.release_held(p);
                continue;
            }
            h.probes += 1;
            h.deadline = now + HOLD_NS;
            h.probing = true;
            let t = self.tasks.get_mut(&p).expect("task");
            if !t.interrupting {
                t.interrupting = true;
                let host = t.host_tid;
                let _ = self.plat.interrupt(host);
            }
        }
    }

    /// The earliest deadline of a held child.
    pub(crate) fn held_deadline(&self) -> Option<u64> {
        self.held.values().map(|h| h.deadline).min()
    }
}
