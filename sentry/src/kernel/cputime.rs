//! CPU time: what each task has used, read from the host thread that runs its guest code
//! (the platform's `cpu_time`: on ptrace, its share of its stub process's CPU clock,
//! platform/cpubook.rs) plus what it used on earlier host threads (exec and restore give it a new one); a
//! process's is its threads' plus what its exited threads used. The CPU-time clocks
//! (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID and the clocks clock_getcpuclockid
//! and pthread_getcpuclockid name), the timers on them and ITIMER_VIRTUAL/ITIMER_PROF read
//! it.
//!
//! The sentry's own CPU time serving a task's stop (a system call, a fault) is added to the
//! task's, as Linux counts system time. One figure serves the three kinds of CPU clock:
//! user time (CPUCLOCK_VIRT, ITIMER_VIRTUAL) is the same as user plus system time
//! (CPUCLOCK_PROF, ITIMER_PROF) and as the scheduler's time (CPUCLOCK_SCHED). Timers on
//! CPU time are checked on the kernel's tick, every [`CPU_TICK_NS`] while any is armed, as
//! Linux checks them on its scheduler tick.

use serde::{Deserialize, Serialize};

use super::signal::SigInfo;
use super::task::RunState;
use super::Kernel;
use crate::mm::Errno;

const RLIMIT_CPU: usize = libc::RLIMIT_CPU as usize;

/// How often armed CPU-time timers are checked, in ns.
pub(crate) const CPU_TICK_NS: u64 = 4_000_000;

/// A CPU-time clock, resolved to the task or process it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuClock {
    /// A thread's clock (else a process's).
    pub thread: bool,
    /// The tid or pid.
    pub id: i32,
}

/// Whether `clock` is a CPU-time clock id (Linux's encoding: CLOCK_PROCESS_CPUTIME_ID,
/// CLOCK_THREAD_CPUTIME_ID, or a negative id naming a pid or tid).
pub(crate) fn is_cpu_clock(clock: i32) -> bool {
    clock < 0 || clock == libc::CLOCK_PROCESS_CPUTIME_ID || clock == libc::CLOCK_THREAD_CPUTIME_ID
}

impl Kernel {
    /// The CPU time task `tid` has used, in ns.
    pub(crate) fn task_cpu(&self, tid: i32) -> u64 {
        self.tasks.get(&tid).map_or(0, |t| {
            t.cpu_base.saturating_add(self.plat.cpu_time(t.host_tid))
        })
    }

    /// Counts the sentry's CPU time since `from` (its thread's clock) as task `tid`'s: the
    /// time it spent serving one of its stops, Linux's system time.
    pub(crate) fn count_served(&mut self, tid: i32, from: u64) {
        let used = super::time::host_clock(libc::CLOCK_THREAD_CPUTIME_ID).saturating_sub(from);
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.cpu_base = t.cpu_base.saturating_add(used);
        }
    }

    /// The CPU time process `pid` has used, in ns.
    pub(crate) fn group_cpu(&self, pid: i32) -> u64 {
        self.tgs.get(&pid).map_or(0, |g| {
            g.threads
                .iter()
                .fold(g.cpu_exited, |a, &t| a.saturating_add(self.task_cpu(t)))
        })
    }

    /// Resolves CPU clock `clock` as task `tid` names it (clock_gettime, timer_create):
    /// EINVAL for an unknown kind, a thread of another process, or a pid that is not a
    /// process (as Linux, a thread's own tid names its process for a read).
    pub(crate) fn cpu_clock(&self, tid: i32, clock: i32, read: bool) -> Result<CpuClock, Errno> {
        let me = &self.tasks[&tid];
        match clock {
            libc::CLOCK_PROCESS_CPUTIME_ID => Ok(CpuClock {
                thread: false,
                id: me.tgid,
            }),
            libc::CLOCK_THREAD_CPUTIME_ID => Ok(CpuClock {
                thread: true,
                id: tid,
            }),
            c if c < 0 => {
                // CPUCLOCK_WHICH: 0 prof, 1 virt, 2 sched; 3 is none.
                if c & 3 == 3 {
                    return Err(libc::EINVAL);
                }
                let thread = c & 4 != 0;
                let pid = !(c >> 3);
                if pid == 0 {
                    let id = if thread { tid } else { me.tgid };
                    return Ok(CpuClock { thread, id });
                }
                if thread {
                    let ok = self.tasks.get(&pid).is_some_and(|t| t.tgid == me.tgid);
                    return ok
                        .then_some(CpuClock { thread, id: pid })
                        .ok_or(libc::EINVAL);
                }
                if read && pid == tid {
                    return Ok(CpuClock {
                        thread: false,
                        id: me.tgid,
                    });
                }
                // A zombie's clock reads until it is reaped (what it used, final); a
                // timer needs a live process.
                let known = self
                    .tgs
                    .get(&pid)
                    .is_some_and(|g| read || g.zombie.is_none());
                known
                    .then_some(CpuClock { thread, id: pid })
                    .ok_or(libc::EINVAL)
            }
            _ => Err(libc::EINVAL),
        }
    }

    /// The reading of a resolved CPU clock; None when what it measures is gone (a
    /// process reaped, a thread exited).
    pub(crate) fn cpu_clock_now(&self, c: CpuClock) -> Option<u64> {
        if c.thread {
            self.tasks.contains_key(&c.id).then(|| self.task_cpu(c.id))
        } else {
            self.tgs.contains_key(&c.id).then(|| self.group_cpu(c.id))
        }
    }

    /// Whether any CPU-time timer is armed or any process has a CPU-time limit (the
    /// kernel then ticks).
    pub(crate) fn cpu_timers_armed(&self) -> bool {
        self.tgs.values().any(|g| {
            g.zombie.is_none()
                && (g.itimer_cpu.iter().any(Option::is_some)
                    || g.posix_timers.cpu_armed()
                    || g.rlimits[RLIMIT_CPU].0 != libc::RLIM_INFINITY)
        })
    }

    /// RLIMIT_CPU, as Linux enforces it on its tick: a process whose CPU time reached its
    /// hard limit (in seconds) gets SIGKILL; one that reached its soft limit gets SIGXCPU,
    /// and its soft limit grows by a second (so SIGXCPU comes again each further second,
    /// and getrlimit shows the new soft limit, as on Linux).
    ///
    /// Linux checks the process the tick interrupts: one whose threads all sleep is not
    /// checked until one of them runs again, so a limit it crossed just before blocking
    /// does not interrupt the blocking call (gVisor's
    /// TimerTest.RlimitCpuInheritedAcrossFork sets a soft limit of 0, then waits in
    /// waitid, which must not end in EINTR). The same here: only a process with a thread
    /// running guest code or being served.
    pub(crate) fn enforce_rlimit_cpu(&mut self) {
        let limited: Vec<(i32, (u64, u64))> = self
            .tgs
            .iter()
            .filter(|(_, g)| g.zombie.is_none() && g.rlimits[RLIMIT_CPU].0 != libc::RLIM_INFINITY)
            .filter(|(_, g)| {
                g.threads.iter().any(|t| {
                    self.tasks
                        .get(t)
                        .is_some_and(|t| matches!(t.state, RunState::Running | RunState::Stopped))
                })
            })
            .map(|(&p, g)| (p, g.rlimits[RLIMIT_CPU]))
            .collect();
        for (pid, (soft, hard)) in limited {
            let secs = self.group_cpu(pid) / 1_000_000_000;
            if hard != libc::RLIM_INFINITY && secs >= hard {
                // The kernel's own SIGKILL: it ends an init too.
                let mut kill = SigInfo::new(libc::SIGKILL, super::signal::SI_KERNEL);
                kill.forced = true;
                self.signal_group(pid, kill);
            } else if secs >= soft {
                self.tgs.get_mut(&pid).expect("tg").rlimits[RLIMIT_CPU].0 = soft + 1;
                self.signal_group(pid, SigInfo::new(libc::SIGXCPU, super::signal::SI_KERNEL));
            }
        }
    }

    /// Fires the due ITIMER_VIRTUAL and ITIMER_PROF timers.
    pub(crate) fn fire_cpu_itimers(&mut self) {
        let armed: Vec<i32> = self
            .tgs
            .iter()
            .filter(|(_, g)| g.zombie.is_none() && g.itimer_cpu.iter().any(Option::is_some))
            .map(|(&p, _)| p)
            .collect();
        for pid in armed {
            let now = self.group_cpu(pid);
            for (which, sig) in [(0, libc::SIGVTALRM), (1, libc::SIGPROF)] {
                let g = self.tgs.get_mut(&pid).expect("tg");
                let Some((next, interval)) = g.itimer_cpu[which] else {
                    continue;
                };
                if next > now {
                    continue;
                }
                g.itimer_cpu[which] = (interval > 0).then(|| {
                    let periods = (now - next) / interval + 1;
                    (
                        next.saturating_add(periods.saturating_mul(interval)),
                        interval,
                    )
                });
                self.signal_group(pid, SigInfo::new(sig, super::signal::SI_KERNEL));
            }
        }
    }

    /// getitimer/setitimer of ITIMER_VIRTUAL (0) or ITIMER_PROF (1) of task `tid`'s
    /// process: sets (value, interval) when `new` (value 0 disarms) and returns the old
    /// (left, interval).
    pub(crate) fn itimer_cpu(
        &mut self,
        tid: i32,
        which: usize,
        new: Option<(u64, u64)>,
    ) -> (u64, u64) {
        let pid = self.tasks[&tid].tgid;
        let now = self.group_cpu(pid);
        let g = self.tgs.get_mut(&pid).expect("tg");
        let old = g.itimer_cpu[which].map_or((0, 0), |(next, interval)| {
            (next.saturating_sub(now).max(1), interval)
        });
        if let Some((value, interval)) = new {
            g.itimer_cpu[which] = (value > 0).then(|| (now.saturating_add(value), interval));
        }
        old
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{errno, kernel, SCRATCH};

    const MS: u64 = 1_000_000;

    #[test]
    fn cpu_clocks_read_the_tasks_accounting() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let other = k.test_process(0, 0);
        k.task_mut(t).cpu_base = 7 * MS;
        k.tgs.get_mut(&t).unwrap().cpu_exited = 3 * MS;
        let read = |k: &mut crate::kernel::Kernel, clock: i32| {
            let r = k.call(
                t,
                libc::SYS_clock_gettime,
                [clock as u64, SCRATCH, 0, 0, 0, 0],
            );
            r.map(|r| {
                if r < 0 {
                    return r;
                }
                let b = k.get(t, SCRATCH, 16);
                let s = u64::from_le_bytes(b[..8].try_into().unwrap());
                let n = u64::from_le_bytes(b[8..].try_into().unwrap());
                (s * 1_000_000_000 + n) as i64
            })
        };
        assert_eq!(
            read(&mut k, libc::CLOCK_THREAD_CPUTIME_ID),
            Some(7 * MS as i64)
        );
        assert_eq!(
            read(&mut k, libc::CLOCK_PROCESS_CPUTIME_ID),
            Some(10 * MS as i64)
        );
        // clock_getcpuclockid's encoding: ~pid << 3, | 4 for a thread, | 2 for sched.
        let process = |pid: i32| (!pid) << 3 | 2;
        let thread = |tid: i32| (!tid) << 3 | 6;
        assert_eq!(read(&mut k, thread(t)), Some(7 * MS as i64));
        assert_eq!(read(&mut k, process(t)), Some(10 * MS as i64));
        assert_eq!(read(&mut k, process(other)), Some(0));
        assert_eq!(
            read(&mut k, thread(other)),
            errno(libc::EINVAL),
            "not its thread"
        );
        assert_eq!(read(&mut k, process(99_999)), errno(libc::EINVAL));
        assert_eq!(
            read(&mut k, (!t) << 3 | 3),
            errno(libc::EINVAL),
            "no such kind"
        );
    }

    #[test]
    fn cpu_timers_fire_on_cpu_time() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        k.task_mut(t).sigmask = !crate::kernel::signal::UNBLOCKABLE;
        // ITIMER_PROF in 5 ms of CPU time, then every 5 ms.
        let mut tv = Vec::new();
        for v in [0u64, 5000, 0, 5000] {
            tv.extend_from_slice(&v.to_le_bytes());
        }
        k.put(t, SCRATCH, &tv);
        let prof = libc::ITIMER_PROF as u64;
        assert_eq!(
            k.call(t, libc::SYS_setitimer, [prof, SCRATCH, 0, 0, 0, 0]),
            Some(0)
        );
        // A POSIX timer on the thread's clock, due in 2 ms of its CPU time.
        let id_at = SCRATCH + 0x100;
        let thread = libc::CLOCK_THREAD_CPUTIME_ID as u64;
        assert_eq!(
            k.call(t, libc::SYS_timer_create, [thread, 0, id_at, 0, 0, 0]),
            Some(0)
        );
        let mut its = vec![0u8; 16];
        its.extend_from_slice(&0u64.to_le_bytes());
        its.extend_from_slice(&(2 * MS).to_le_bytes());
        k.put(t, SCRATCH + 0x200, &its);
        assert_eq!(
            k.call(t, libc::SYS_timer_settime, [0, 0, SCRATCH + 0x200, 0, 0, 0]),
            Some(0)
        );
        assert!(k.cpu_timers_armed());
        k.expire_timers();
        assert!(k.tgs[&t].shared_pending.is_empty(), "no CPU time used yet");
        k.task_mut(t).cpu_base += 3 * MS;
        k.expire_timers();
        let sigs: Vec<i32> = k.tgs[&t].shared_pending.iter().map(|s| s.signo).collect();
        assert_eq!(sigs, [libc::SIGALRM], "the POSIX timer only");
        k.task_mut(t).cpu_base += 3 * MS;
        k.expire_timers();
        let sigs: Vec<i32> = k.tgs[&t].shared_pending.iter().map(|s| s.signo).collect();
        assert_eq!(sigs, [libc::SIGALRM, libc::SIGPROF]);
        // getitimer: the next period, 4 ms of CPU time away.
        assert_eq!(
            k.call(t, libc::SYS_getitimer, [prof, SCRATCH + 0x300, 0, 0, 0, 0]),
            Some(0)
        );
        let b = k.get(t, SCRATCH + 0x300, 32);
        let us = u64::from_le_bytes(b[24..32].try_into().unwrap());
        assert_eq!(
            (u64::from_le_bytes(b[8..16].try_into().unwrap()), us),
            (5000, 4000)
        );
        assert_eq!(
            k.call(t, libc::SYS_setitimer, [9, SCRATCH, 0, 0, 0, 0]),
            errno(libc::EINVAL)
        );
    }

    #[test]
    fn rlimit_cpu_sends_sigxcpu_each_second_past_the_soft_limit_then_sigkill_at_the_hard() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        k.task_mut(t).sigmask = !crate::kernel::signal::UNBLOCKABLE;
        assert!(!k.cpu_timers_armed(), "no limit, no tick");
        let mut lim = 1u64.to_le_bytes().to_vec();
        lim.extend_from_slice(&3u64.to_le_bytes());
        k.put(t, SCRATCH, &lim);
        let cpu = libc::RLIMIT_CPU as u64;
        assert_eq!(
            k.call(t, libc::SYS_prlimit64, [0, cpu, SCRATCH, 0, 0, 0]),
            Some(0)
        );
        assert!(k.cpu_timers_armed());
        let pending = |k: &crate::kernel::Kernel| -> Vec<i32> {
            k.tgs[&t].shared_pending.iter().map(|s| s.signo).collect()
        };
        k.task_mut(t).cpu_base = 999 * MS;
        k.expire_timers();
        assert_eq!(pending(&k), Vec::<i32>::new());
        k.task_mut(t).cpu_base = 1000 * MS;
        // Asleep in a blocking call: not checked (Linux's tick finds it not running).
        let was = std::mem::replace(
            &mut k.task_mut(t).state,
            super::RunState::Parked(crate::kernel::task::Park {
                keys: Vec::new(),
                deadline: None,
            }),
        );
        k.expire_timers();
        assert_eq!(pending(&k), Vec::<i32>::new(), "not while it sleeps");
        k.task_mut(t).state = was;
        k.expire_timers();
        assert_eq!(pending(&k), [libc::SIGXCPU]);
        // The soft limit moved a second on: nothing more until 2 s.
        assert_eq!(k.tgs[&t].rlimits[libc::RLIMIT_CPU as usize], (2, 3));
        k.expire_timers();
        assert_eq!(pending(&k), [libc::SIGXCPU]);
        k.task_mut(t).cpu_base = 3000 * MS;
        k.expire_timers();
        assert!(k.tgs[&t].zombie.is_some(), "killed");
    }
}
