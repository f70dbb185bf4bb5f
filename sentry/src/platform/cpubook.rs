//! The CPU time of guest threads on the ptrace platform, from their stubs' process CPU
//! clocks.
//!
//! The confined sandbox has no /proc, and Linux lets a process read another process's CPU
//! clock (`clock_gettime` of `MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)`) but not a thread
//! clock of another thread group. A stub is one process whose threads run one address
//! space's guest threads, so its clock is exactly what they used together (plus its
//! leader's injected calls, made for them: Linux's system time). The book reads that clock
//! whenever one of its threads stops (and before one starts while another runs) and
//! counts what it grew by since the last reading to the threads that ran guest code in
//! between, in equal shares: a single-threaded process's time is exact, a process's total
//! always is, and only the split between threads running at the same time is estimated.
//! (Linux updates a running thread's count at each scheduler tick, so a reading while one
//! runs may trail by a tick; a stop brings it up to date.)

use std::collections::HashMap;

#[derive(Debug, Default)]
struct StubBook {
    /// The stub's process CPU clock at the last reading, in ns.
    clock: u64,
    /// Its guest threads, in the order they were made.
    threads: Vec<i32>,
}

#[derive(Debug, Default)]
struct ThreadBook {
    stub: i32,
    /// CPU time counted to it so far, in ns.
    used: u64,
    /// Whether it runs guest code (resumed and not yet seen stopped).
    running: bool,
}

/// What each guest thread of each stub has used.
#[derive(Debug, Default)]
pub(super) struct CpuBook {
    stubs: HashMap<i32, StubBook>,
    threads: HashMap<i32, ThreadBook>,
}

impl CpuBook {
    /// A new stub, its clock reading `clock`.
    pub(super) fn add_stub(&mut self, stub: i32, clock: u64) {
        self.stubs.insert(
            stub,
            StubBook {
                clock,
                threads: Vec::new(),
            },
        );
    }

    /// Forgets a stub and its threads.
    pub(super) fn remove_stub(&mut self, stub: i32) {
        if let Some(s) = self.stubs.remove(&stub) {
            for t in s.threads {
                self.threads.remove(&t);
            }
        }
    }

    /// A new, stopped guest thread of `stub`.
    pub(super) fn add_thread(&mut self, stub: i32, tid: i32) {
        if let Some(s) = self.stubs.get_mut(&stub) {
            s.threads.push(tid);
            self.threads.insert(
                tid,
                ThreadBook {
                    stub,
                    ..ThreadBook::default()
                },
            );
        }
    }

    /// Forgets a thread.
    pub(super) fn remove_thread(&mut self, tid: i32) {
        if let Some(t) = self.threads.remove(&tid) {
            if let Some(s) = self.stubs.get_mut(&t.stub) {
                s.threads.retain(|&x| x != tid);
            }
        }
    }

    /// The stub of thread `tid`, if known.
    pub(super) fn stub_of(&self, tid: i32) -> Option<i32> {
        self.threads.get(&tid).map(|t| t.stub)
    }

    /// Whether a thread of `tid`'s stub other than `tid` runs guest code.
    pub(super) fn others_running(&self, tid: i32) -> bool {
        let Some(s) = self.stub_of(tid).and_then(|s| self.stubs.get(&s)) else {
            return false;
        };
        s.threads
            .iter()
            .any(|&t| t != tid && self.threads.get(&t).is_some_and(|b| b.running))
    }

    /// Counts what `stub` used since its last reading (its clock now reads `clock`) to the
    /// threads running guest code, in equal shares (the first ones get the remainder's
    /// nanoseconds). With none running, it was its leader's work between their runs: no
    /// one's.
    pub(super) fn sample(&mut self, stub: i32, clock: u64) {
        let Some(s) = self.stubs.get_mut(&stub) else {
            return;
        };
        let grew = clock.saturating_sub(s.clock);
        s.clock = s.clock.max(clock);
        let running: Vec<i32> = s
            .threads
            .iter()
            .copied()
            .filter(|t| self.threads.get(t).is_some_and(|b| b.running))
            .collect();
        let Ok(n) = u64::try_from(running.len()) else {
            return;
        };
        if n == 0 {
            return;
        }
        let (share, rest) = (grew / n, grew % n);
        for (i, t) in (0u64..).zip(running) {
            if let Some(b) = self.threads.get_mut(&t) {
                b.used = b.used.saturating_add(share + u64::from(i < rest));
            }
        }
    }

    /// Marks `tid` as running guest code or stopped.
    pub(super) fn set_running(&mut self, tid: i32, running: bool) {
        if let Some(b) = self.threads.get_mut(&tid) {
            b.running = running;
        }
    }

    /// CPU time counted to `tid` (0 for an unknown thread).
    pub(super) fn used(&self, tid: i32) -> u64 {
        self.threads.get(&tid).map_or(0, |b| b.used)
    }
}

#[cfg(test)]
mod tests {
    use super::CpuBook;

    #[test]
    fn a_lone_thread_gets_all_its_stub_used_while_it_ran_and_nothing_else() {
        let mut b = CpuBook::default();
        b.add_stub(10, 1_000);
        b.add_thread(10, 11);
        // The leader's work before the thread first runs is no one's.
        b.sample(10, 1_500);
        assert_eq!(b.used(11), 0);
        b.set_running(11, true);
        b.sample(10, 4_500);
        b.set_running(11, false);
        assert_eq!(b.used(11), 3_000);
        // A clock that reads lower (it never does) counts nothing and does not go back.
        b.sample(10, 4_000);
        b.set_running(11, true);
        b.sample(10, 4_600);
        assert_eq!(b.used(11), 3_100);
    }

    #[test]
    fn threads_running_together_share_equally_and_the_total_is_exact() {
        let mut b = CpuBook::default();
        b.add_stub(10, 0);
        for t in [11, 12, 13] {
            b.add_thread(10, t);
        }
        b.set_running(11, true);
        assert!(!b.others_running(11));
        assert!(b.others_running(12));
        b.sample(10, 1_000); // 11 alone
        b.set_running(12, true);
        b.set_running(13, true);
        b.sample(10, 1_007); // the three together: 3, 2, 2
        b.set_running(11, false);
        assert_eq!((b.used(11), b.used(12), b.used(13)), (1_003, 2, 2));
        assert_eq!(b.used(11) + b.used(12) + b.used(13), 1_007);
        // A thread forgotten takes its count with it; its stub's others go on.
        b.remove_thread(12);
        b.sample(10, 1_017);
        assert_eq!((b.used(12), b.used(13)), (0, 12));
        // A stub forgotten takes its threads.
        b.remove_stub(10);
        assert_eq!(b.used(13), 0);
        assert_eq!(b.stub_of(13), None);
        b.sample(10, 2_000);
        b.add_thread(10, 14);
        assert_eq!(b.stub_of(14), None);
    }
}
