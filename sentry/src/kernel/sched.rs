//! A thread's scheduling attributes as Linux keeps them (policy, real-time priority, nice,
//! CPU affinity): set and read by sched_setscheduler/sched_setattr/setpriority/
//! sched_setaffinity and their get forms, inherited by fork, saved with the task. The host
//! schedules the guest's threads; these values are what the guest set and reads back, not
//! an instruction to the host.

use crate::mm::Errno;

pub(crate) const SCHED_OTHER: u32 = 0;
pub(crate) const SCHED_FIFO: u32 = 1;
pub(crate) const SCHED_RR: u32 = 2;
pub(crate) const SCHED_BATCH: u32 = 3;
pub(crate) const SCHED_IDLE: u32 = 5;
pub(crate) const SCHED_DEADLINE: u32 = 6;
/// Or'ed into a policy: children start with the default policy and a nice of 0 or more.
pub(crate) const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;
/// sched_attr.sched_flags Linux knows (SCHED_FLAG_ALL).
pub(crate) const SCHED_FLAG_ALL: u64 = 0x7f;
pub(crate) const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

pub(crate) const MIN_NICE: i32 = -20;
pub(crate) const MAX_NICE: i32 = 19;
pub(crate) const MAX_RT_PRIO: u32 = 99;

/// One thread's scheduling attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sched {
    pub policy: u32,
    pub reset_on_fork: bool,
    /// 1..=99 for SCHED_FIFO and SCHED_RR, 0 otherwise.
    pub rt_priority: u32,
    /// -20..=19.
    pub nice: i32,
    /// CPUs it may run on (bit n: CPU n), never empty.
    pub affinity: u64,
}

impl Sched {
    /// A container process's first thread's: SCHED_OTHER, with `nice`, on every CPU of
    /// `cpus`.
    pub(crate) fn initial(cpus: u64, nice: i32) -> Self {
        Sched {
            policy: SCHED_OTHER,
            reset_on_fork: false,
            rt_priority: 0,
            nice,
            affinity: cpus,
        }
    }

    /// A child's, as fork gives it: the parent's, unless the parent asked to reset them.
    pub(crate) fn forked(&self) -> Self {
        if !self.reset_on_fork {
            return *self;
        }
        Sched {
            policy: if is_rt(self.policy) {
                SCHED_OTHER
            } else {
                self.policy
            },
            reset_on_fork: false,
            rt_priority: 0,
            nice: self.nice.max(0),
            affinity: self.affinity,
        }
    }

    /// sched_getscheduler's answer.
    pub(crate) fn policy_word(&self) -> u32 {
        self.policy
            | if self.reset_on_fork {
                SCHED_RESET_ON_FORK
            } else {
                0
            }
    }

    /// Applies a policy and real-time priority (and, from sched_setattr, a nice value), as
    /// `__sched_setscheduler` checks them: EINVAL for unknown policies, a priority outside
    /// the policy's range or a nice outside -20..=19; EPERM for what needs CAP_SYS_NICE
    /// without it (`privileged`): a real-time policy, a lower nice, leaving SCHED_IDLE, or
    /// dropping reset-on-fork.
    pub(crate) fn set(
        &mut self,
        policy: u32,
        reset_on_fork: bool,
        rt_priority: u32,
        nice: Option<i32>,
        privileged: bool,
    ) -> Result<(), Errno> {
        match policy {
            SCHED_OTHER | SCHED_BATCH | SCHED_IDLE => {
                if rt_priority != 0 {
                    return Err(libc::EINVAL);
                }
            }
            SCHED_FIFO | SCHED_RR => {
                if !(1..=MAX_RT_PRIO).contains(&rt_priority) {
                    return Err(libc::EINVAL);
                }
            }
            // SCHED_DEADLINE needs runtime <= deadline <= period, all set; we do not keep a
            // deadline scheduler's parameters, so it is refused as Linux refuses bad ones.
            _ => return Err(libc::EINVAL),
        }
        if let Some(n) = nice {
            if !(MIN_NICE..=MAX_NICE).contains(&n) {
                return Err(libc::EINVAL);
            }
        }
        if !privileged {
            let lower_nice = nice.is_some_and(|n| n < self.nice);
            let leaves_idle = self.policy == SCHED_IDLE && policy != SCHED_IDLE;
            if is_rt(policy) || lower_nice || leaves_idle || (self.reset_on_fork && !reset_on_fork)
            {
                return Err(libc::EPERM);
            }
        }
        self.policy = policy;
        self.reset_on_fork = reset_on_fork;
        self.rt_priority = rt_priority;
        if let Some(n) = nice {
            self.nice = n;
        }
        Ok(())
    }

    /// setpriority's change of nice (already clamped to -20..=19): EACCES for a lower one
    /// without CAP_SYS_NICE.
    pub(crate) fn set_nice(&mut self, nice: i32, privileged: bool) -> Result<(), Errno> {
        if nice < self.nice && !privileged {
            return Err(libc::EACCES);
        }
        self.nice = nice;
        Ok(())
    }

    /// The sched_attr record sched_getattr gives (its first 56 bytes, SCHED_ATTR_SIZE_VER1).
    pub(crate) fn attr_bytes(&self) -> [u8; SCHED_ATTR_SIZE] {
        let mut b = [0u8; SCHED_ATTR_SIZE];
        b[0..4].copy_from_slice(&(SCHED_ATTR_SIZE as u32).to_le_bytes());
        b[4..8].copy_from_slice(&self.policy.to_le_bytes());
        let flags = if self.reset_on_fork {
            SCHED_FLAG_RESET_ON_FORK
        } else {
            0
        };
        b[8..16].copy_from_slice(&flags.to_le_bytes());
        let nice = if is_rt(self.policy) { 0 } else { self.nice };
        b[16..20].copy_from_slice(&nice.to_le_bytes());
        b[20..24].copy_from_slice(&self.rt_priority.to_le_bytes());
        // sched_util_max: the whole capacity (1024), as Linux reports when not clamped.
        b[52..56].copy_from_slice(&1024u32.to_le_bytes());
        b
    }
}

/// sizeof(struct sched_attr) in Linux 5.3 and later.
pub(crate) const SCHED_ATTR_SIZE: usize = 56;
/// The first version of it (no utilization clamps).
pub(crate) const SCHED_ATTR_SIZE_VER0: usize = 48;

pub(crate) fn is_rt(policy: u32) -> bool {
    matches!(policy, SCHED_FIFO | SCHED_RR)
}

/// What sched_get_priority_max/min answer for `policy` (EINVAL for an unknown one).
pub(crate) fn priority_range(policy: u32) -> Result<(u32, u32), Errno> {
    match policy {
        SCHED_FIFO | SCHED_RR => Ok((1, MAX_RT_PRIO)),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok((0, 0)),
        _ => Err(libc::EINVAL),
    }
}

/// The CPUs the sandbox offers its threads (bit n: CPU n; at most 64).
pub(crate) fn online_cpus() -> u64 {
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(64);
    if n == 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// The nice value the sandbox process runs at on the host: a container's processes start
/// with it, as under runc they inherit the runtime's.
pub(crate) fn host_nice() -> i32 {
    // SAFETY: getpriority takes no pointer; the raw call answers 20 - nice, or -errno.
    let raw = unsafe { libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 0) };
    if raw <= 0 {
        0
    } else {
        (20 - raw as i32).clamp(MIN_NICE, MAX_NICE)
    }
}

/// Checks a saved thread's attributes (values an image brings are hostile).
pub(crate) fn check_saved(s: &Sched) -> Result<(), String> {
    let ok_policy = matches!(s.policy, SCHED_OTHER | SCHED_BATCH | SCHED_IDLE)
        && s.rt_priority == 0
        || is_rt(s.policy) && (1..=MAX_RT_PRIO).contains(&s.rt_priority);
    if !ok_policy || !(MIN_NICE..=MAX_NICE).contains(&s.nice) || s.affinity == 0 {
        return Err(format!("bad scheduling attributes {s:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_priorities_and_nice_are_checked_as_linux_checks_them() {
        let mut s = Sched::initial(1, 0);
        assert_eq!(s.set(SCHED_BATCH, false, 0, Some(5), false), Ok(()));
        assert_eq!((s.policy, s.nice), (SCHED_BATCH, 5));
        assert_eq!(
            s.set(SCHED_OTHER, false, 0, Some(4), false),
            Err(libc::EPERM)
        );
        assert_eq!(s.set(SCHED_FIFO, false, 10, None, false), Err(libc::EPERM));
        assert_eq!(s.set(SCHED_FIFO, false, 0, None, true), Err(libc::EINVAL));
        assert_eq!(s.set(SCHED_FIFO, false, 100, None, true), Err(libc::EINVAL));
        assert_eq!(s.set(SCHED_OTHER, false, 1, None, true), Err(libc::EINVAL));
        assert_eq!(
            s.set(SCHED_DEADLINE, false, 0, None, true),
            Err(libc::EINVAL)
        );
        assert_eq!(s.set(7, false, 0, None, true), Err(libc::EINVAL));
        assert_eq!(
            s.set(SCHED_OTHER, false, 0, Some(20), true),
            Err(libc::EINVAL)
        );
        assert_eq!(s.set(SCHED_RR, true, 50, None, true), Ok(()));
        assert_eq!(s.policy_word(), SCHED_RR | SCHED_RESET_ON_FORK);
        // reset-on-fork: the child is back to SCHED_OTHER, priority 0, nice >= 0.
        s.nice = -3;
        let c = s.forked();
        assert_eq!(
            (c.policy, c.rt_priority, c.nice, c.reset_on_fork),
            (SCHED_OTHER, 0, 0, false)
        );
        assert_eq!(s.set(SCHED_RR, false, 50, None, false), Err(libc::EPERM));
        assert_eq!(s.set_nice(-10, false), Err(libc::EACCES));
        assert_eq!(s.set_nice(10, false), Ok(()));
    }

    #[test]
    fn saved_attributes_out_of_range_are_refused() {
        let good = Sched::initial(3, 0);
        assert!(check_saved(&good).is_ok());
        for bad in [
            Sched { nice: 20, ..good },
            Sched { policy: 9, ..good },
            Sched {
                policy: SCHED_FIFO,
                ..good
            },
            Sched {
                rt_priority: 5,
                ..good
            },
            Sched {
                affinity: 0,
                ..good
            },
        ] {
            assert!(check_saved(&bad).is_err(), "{bad:?}");
        }
    }
}
