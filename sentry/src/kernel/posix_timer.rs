//! POSIX per-process timers (timer_create(2), timer_settime(2), timer_getoverrun(2)).
//!
//! A timer belongs to a process (not inherited by fork, deleted by exec and exit) and runs
//! on the kernel's timer machinery as ITIMER_REAL does: its next expiry is a deadline on
//! the guest's monotonic clock, which `Kernel::next_deadline` sleeps to and
//! `Kernel::expire_timers` fires (an absolute time on CLOCK_REALTIME is turned into such a
//! deadline when the timer is set). On expiry it queues one signal (SI_TIMER, with its id
//! and value) to its process or to its thread; as in Linux, a periodic timer whose signal
//! is still queued does not queue another: it stops, and when the signal is taken the
//! periods gone by since are its overruns (the signal's si_overrun, then what
//! timer_getoverrun says) and it goes on from the next period. Setting or deleting a timer
//! withdraws its queued signal (Linux 6.13 and later drop such a stale signal).
//!
//! Saved: beside its process, each timer with its clock, notification, next expiry on the
//! guest monotonic clock (which restore continues from the checkpoint, so the time left is
//! kept), interval, whether its signal is queued (the queued siginfo itself is saved with
//! the pending signals, marked as the timer's) and the last overrun count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cputime::{is_cpu_clock, CpuClock};
use super::signal::{SigInfo, SI_TIMER};
use super::Kernel;
use crate::checks::{bad, Invalid};
use crate::mm::Errno;

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;
const SIGEV_THREAD_ID: i32 = 4;
/// The largest overrun count reported (Linux's DELAYTIMER_MAX).
const DELAYTIMER_MAX: u64 = i32::MAX as u64;
/// The largest time a timer may be set to or saved with (Linux's KTIME_MAX, ns).
const KTIME_MAX: u64 = i64::MAX as u64;

/// What a timer does when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notify {
    /// SIGEV_NONE: nothing; its time is only read.
    None,
    /// SIGEV_SIGNAL (also SIGEV_THREAD, which the C library builds on it) to the process,
    /// or SIGEV_THREAD_ID to `thread`.
    Signal {
        signo: i32,
        value: u64,
        thread: Option<i32>,
    },
}

impl Notify {
    /// Reads a `struct sigevent` (value, signo, notify, thread id) for process `tgid`,
    /// whose threads `is_thread` recognises. None: the sigevent is not valid (EINVAL).
    pub(crate) fn parse(b: &[u8], is_thread: impl Fn(i32) -> bool) -> Option<Notify> {
        let value = u64::from_le_bytes(b[0..8].try_into().expect("8"));
        let signo = i32::from_le_bytes(b[8..12].try_into().expect("4"));
        let notify = i32::from_le_bytes(b[12..16].try_into().expect("4"));
        let tid = i32::from_le_bytes(b[16..20].try_into().expect("4"));
        let sig_ok = (1..=64).contains(&signo);
        match notify {
            SIGEV_NONE => Some(Notify::None),
            SIGEV_SIGNAL | SIGEV_THREAD if sig_ok => Some(Notify::Signal {
                signo,
                value,
                thread: None,
            }),
            SIGEV_THREAD_ID if sig_ok && is_thread(tid) => Some(Notify::Signal {
                signo,
                value,
                thread: Some(tid),
            }),
            _ => None,
        }
    }
}

/// One POSIX timer of a process. Plain data: it is its own saved form (in
/// [`PosixTimersState`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosixTimer {
    /// The guest clock it was created on.
    pub clock: i32,
    /// For a CPU-time clock, the task or process it measures; its times are then on that
    /// clock, not the monotonic one.
    pub cpu: Option<CpuClock>,
    pub notify: Notify,
    /// Next expiry on the guest monotonic clock, in ns; while its signal is queued, the
    /// expiry that queued it (a periodic timer goes on from there when it is taken).
    pub next: Option<u64>,
    /// Period in ns; 0 for a one-shot timer.
    pub interval: u64,
    /// Its signal is queued and not yet taken.
    pub queued: bool,
    /// The overruns counted when its signal was last taken (timer_getoverrun).
    pub overrun_last: i32,
}

impl PosixTimer {
    /// The first expiry after `now` of a periodic timer due at `next`, with the periods
    /// gone by from `next` to it (not counting `next` itself).
    fn forward(next: u64, interval: u64, now: u64) -> (u64, u64) {
        if now < next || interval == 0 {
            return (next, 0);
        }
        let periods = (now - next) / interval;
        let at = next.saturating_add(periods.saturating_add(1).saturating_mul(interval));
        (at, periods)
    }

    /// When it fires on its clock: armed, with a signal to send and none queued.
    fn armed(&self) -> Option<u64> {
        match self.notify {
            Notify::Signal { .. } if !self.queued => self.next,
            _ => None,
        }
    }

    /// Whether the kernel must wake for it at a time on the monotonic clock.
    fn armed_deadline(&self) -> Option<u64> {
        self.armed().filter(|_| self.cpu.is_none())
    }

    /// timer_gettime at `now`: (time left, interval), in ns. A timer due but not yet
    /// fired shows 1 ns left; one whose periodic signal is queued (or a SIGEV_NONE timer)
    /// shows the time to its next period.
    pub(crate) fn get(&self, now: u64) -> (u64, u64) {
        let Some(next) = self.next else {
            return (0, self.interval);
        };
        let silent = self.notify == Notify::None;
        if (self.queued || silent) && self.interval > 0 {
            let (at, _) = Self::forward(next, self.interval, now);
            return (at.saturating_sub(now).max(1), self.interval);
        }
        if next <= now {
            return (if silent { 0 } else { 1 }, self.interval);
        }
        (next - now, self.interval)
    }
}

/// A process's timers, by id, and the id the next one is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PosixTimers {
    pub timers: BTreeMap<i32, PosixTimer>,
    pub next_id: i32,
}

impl PosixTimers {
    /// Takes the next free id (ids go up and wrap at INT_MAX, as Linux's do).
    fn alloc_id(&mut self) -> Result<i32, Errno> {
        for _ in 0..=self.timers.len() {
            let id = self.next_id;
            self.next_id = if id == i32::MAX { 0 } else { id + 1 };
            if !self.timers.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(libc::EAGAIN)
    }

    /// Whether a timer on a CPU-time clock is armed (the kernel ticks for it).
    pub(crate) fn cpu_armed(&self) -> bool {
        self.timers
            .values()
            .any(|t| t.cpu.is_some() && t.armed().is_some())
    }

    /// Next deadline the kernel must wake for.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.timers
            .values()
            .filter_map(PosixTimer::armed_deadline)
            .min()
    }
}

/// Whether timer_create accepts `clock` (else its errno): the real-time, monotonic and
/// boot-time clocks, CLOCK_TAI and the CPU-time clocks (resolved by the kernel). The alarm
/// clocks answer EOPNOTSUPP, as on a host without a wake-up RTC, after taking an id; clocks
/// that have no timers (raw, coarse) answer EOPNOTSUPP before.
fn timer_clock(clock: i32) -> Result<(), (Errno, bool)> {
    match clock {
        c if is_cpu_clock(c) => Ok(()),
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI => {
            Ok(())
        }
        libc::CLOCK_REALTIME_ALARM | libc::CLOCK_BOOTTIME_ALARM => Err((libc::EOPNOTSUPP, true)),
        libc::CLOCK_MONOTONIC_RAW | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE => {
            Err((libc::EOPNOTSUPP, false))
        }
        _ => Err((libc::EINVAL, false)),
    }
}

/// What timer_create was asked for: the clock and the sigevent's bytes (None: no sigevent).
pub(crate) struct CreateArgs {
    pub clock: i32,
    pub sigevent: Option<Vec<u8>>,
}

impl Kernel {
    fn timers_of(&mut self, tid: i32) -> &mut PosixTimers {
        let tgid = self.tasks[&tid].tgid;
        &mut self.tgs.get_mut(&tgid).expect("tg").posix_timers
    }

    /// How many timers the processes of `uid` hold (each holds a signal queue entry
    /// counted against RLIMIT_SIGPENDING, as in Linux).
    fn timers_of_user(&self, uid: u32) -> usize {
        self.tgs
            .values()
            .filter(|g| g.creds.uid == uid)
            .map(|g| g.posix_timers.timers.len())
            .sum()
    }

    /// timer_create by task `tid`. `write_id` writes the new id out to the guest; when it
    /// fails the timer is not made (EFAULT).
    pub(crate) fn timer_create(
        &mut self,
        tid: i32,
        a: CreateArgs,
        write_id: impl FnOnce(&mut Kernel, i32) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        let consumes = match timer_clock(a.clock) {
            Ok(()) => None,
            Err((e, false)) => return Err(e),
            Err((e, true)) => Some(e),
        };
        let tgid = self.tasks[&tid].tgid;
        let g = &self.tgs[&tgid];
        let limit = g.rlimits[libc::RLIMIT_SIGPENDING as usize].0;
        if self.timers_of_user(g.creds.uid) as u64 >= limit {
            return Err(libc::EAGAIN);
        }
        let id = self.timers_of(tid).alloc_id()?;
        if let Some(e) = consumes {
            return Err(e);
        }
        let cpu = if is_cpu_clock(a.clock) {
            Some(self.cpu_clock(tid, a.clock, false)?)
        } else {
            None
        };
        let notify = match &a.sigevent {
            None => Notify::Signal {
                signo: libc::SIGALRM,
                value: id as u64,
                thread: None,
            },
            Some(b) => {
                let tasks = &self.tasks;
                Notify::parse(b, |t| tasks.get(&t).is_some_and(|t| t.tgid == tgid))
                    .ok_or(libc::EINVAL)?
            }
        };
        write_id(self, id)?;
        self.timers_of(tid).timers.insert(
            id,
            PosixTimer {
                clock: a.clock,
                cpu,
                notify,
                next: None,
                interval: 0,
                queued: false,
                overrun_last: 0,
            },
        );
        Ok(())
    }

    /// Runs `f` on timer `id` of task `tid`'s process; EINVAL when there is none.
    pub(crate) fn with_posix_timer<R>(
        &mut self,
        tid: i32,
        id: i32,
        f: impl FnOnce(&mut PosixTimer, u64) -> R,
    ) -> Result<R, Errno> {
        let cpu = self.timers_of(tid).timers.get(&id).ok_or(libc::EINVAL)?.cpu;
        let now = self.timer_now(cpu);
        let t = self.timers_of(tid).timers.get_mut(&id).expect("timer");
        Ok(f(t, now))
    }

    /// Now on the clock of a timer whose CPU clock is `cpu` (None: the monotonic clock).
    fn timer_now(&self, cpu: Option<CpuClock>) -> u64 {
        match cpu {
            // What it measures is gone: its clock stands still.
            Some(c) => self.cpu_clock_now(c).unwrap_or(0),
            None => self.clocks.mono(),
        }
    }

    /// timer_settime: arms timer `id` to expire at `value` ns (from now, or on its clock
    /// when `abs`; 0 disarms), then every `interval` ns. Returns (left, interval) as they
    /// were.
    pub(crate) fn timer_settime(
        &mut self,
        tid: i32,
        id: i32,
        abs: bool,
        value: u64,
        interval: u64,
    ) -> Result<(u64, u64), Errno> {
        let clocks = self.clocks;
        // Times saturate at KTIME_MAX, as Linux's ktime does.
        let (value, interval) = (value.min(KTIME_MAX), interval.min(KTIME_MAX));
        let old = self.with_posix_timer(tid, id, |t, now| {
            let old = t.get(now);
            t.next = match value {
                0 => None,
                v if abs && t.cpu.is_some() => Some(v),
                v if abs => Some(clocks.to_mono_deadline(t.clock, v)),
                v => Some(now.saturating_add(v)),
            }
            .map(|n| n.min(KTIME_MAX));
            t.interval = if value == 0 { 0 } else { interval };
            t.overrun_last = 0;
            old
        })?;
        self.withdraw_timer_signal(tid, id);
        Ok(old)
    }

    /// timer_delete.
    pub(crate) fn timer_delete(&mut self, tid: i32, id: i32) -> Result<(), Errno> {
        self.withdraw_timer_signal(tid, id);
        self.timers_of(tid)
            .timers
            .remove(&id)
            .map(|_| ())
            .ok_or(libc::EINVAL)
    }

    /// Takes timer `id`'s queued signal back out of the queues of task `tid`'s process.
    fn withdraw_timer_signal(&mut self, tid: i32, id: i32) {
        let tgid = self.tasks[&tid].tgid;
        let Some(t) = self.tgs[&tgid].posix_timers.timers.get(&id) else {
            return;
        };
        if !t.queued {
            return;
        }
        let mine = |s: &SigInfo| s.timer && s.code == SI_TIMER && s.timer_id() == id;
        let g = self.tgs.get_mut(&tgid).expect("tg");
        g.shared_pending.retain(|s| !mine(s));
        let threads = g.threads.clone();
        if let Some(t) = g.posix_timers.timers.get_mut(&id) {
            t.queued = false;
        }
        for th in threads {
            self.task_mut(th).pending.retain(|s| !mine(s));
        }
    }

    /// Deletes every timer of process `tgid` (exec, exit), with their queued signals.
    pub(crate) fn clear_posix_timers(&mut self, tgid: i32) {
        let g = self.tgs.get_mut(&tgid).expect("tg");
        g.posix_timers.timers.clear();
        g.shared_pending.retain(|s| !s.timer);
        for th in g.threads.clone() {
            self.task_mut(th).pending.retain(|s| !s.timer);
        }
    }

    /// Fires the timers of every process that are due at `now` (guest monotonic) or,
    /// for those on a CPU-time clock, at that clock's reading.
    pub(crate) fn fire_posix_timers(&mut self, now: u64) {
        let mut due = Vec::new();
        for (&pid, g) in self.tgs.iter().filter(|(_, g)| g.zombie.is_none()) {
            for (&id, t) in &g.posix_timers.timers {
                let Some(at) = t.armed() else { continue };
                let now = if t.cpu.is_some() {
                    self.timer_now(t.cpu)
                } else {
                    now
                };
                if at <= now {
                    due.push((pid, id, now));
                }
            }
        }
        for (pid, id, now) in due {
            self.fire_posix_timer(pid, id, now);
        }
    }

    fn fire_posix_timer(&mut self, pid: i32, id: i32, now: u64) {
        let t = &self.tgs[&pid].posix_timers.timers[&id];
        let Notify::Signal {
            signo,
            value,
            thread,
        } = t.notify
        else {
            return;
        };
        let mut info = SigInfo::new(signo, SI_TIMER);
        info.fields[0..4].copy_from_slice(&id.to_le_bytes());
        info.fields[8..16].copy_from_slice(&value.to_le_bytes());
        info.timer = true;
        let queued = self.queue_timer_signal(pid, thread, info);
        let t = self
            .tgs
            .get_mut(&pid)
            .expect("tg")
            .posix_timers
            .timers
            .get_mut(&id)
            .expect("timer");
        let next = t.next.expect("due");
        if queued {
            t.queued = true;
            if t.interval == 0 {
                t.next = None;
            }
        } else if t.interval > 0 {
            // Ignored (or its thread is gone): it goes on, nothing counted.
            t.next = Some(PosixTimer::forward(next, t.interval, now).0);
        } else {
            t.next = None;
        }
    }

    /// A timer's signal was taken from a queue of task `tid` (delivered, sigtimedwait,
    /// signalfd): it carries the overruns counted since it was queued, and a periodic
    /// timer goes on.
    pub(crate) fn timer_signal_taken(&mut self, tid: i32, info: &mut SigInfo) {
        if !info.timer {
            return;
        }
        let Some(tgid) = self.tasks.get(&tid).map(|t| t.tgid) else {
            return;
        };
        let Some(cpu) = self
            .tgs
            .get(&tgid)
            .and_then(|g| g.posix_timers.timers.get(&info.timer_id()))
            .map(|t| t.cpu)
        else {
            return;
        };
        let now = self.timer_now(cpu);
        let Some(t) = self
            .tgs
            .get_mut(&tgid)
            .and_then(|g| g.posix_timers.timers.get_mut(&info.timer_id()))
        else {
            return;
        };
        if !t.queued {
            return;
        }
        t.queued = false;
        let mut overrun = 0;
        if let (Some(next), true) = (t.next, t.interval > 0) {
            let (at, periods) = PosixTimer::forward(next, t.interval, now);
            t.next = Some(at);
            overrun = periods;
        }
        t.overrun_last = overrun.min(DELAYTIMER_MAX) as i32;
        info.fields[4..8].copy_from_slice(&t.overrun_last.to_le_bytes());
    }
}

// ---- saved form ----

/// A process's saved timers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PosixTimersState {
    /// (id, timer). A timer's next expiry is on the guest monotonic clock, which restore
    /// continues from the checkpoint: the time left is what it was.
    pub timers: Vec<(i32, PosixTimer)>,
    pub next_id: i32,
}

impl PosixTimers {
    pub(crate) fn save(&self) -> PosixTimersState {
        let PosixTimers { timers, next_id } = self;
        PosixTimersState {
            timers: timers.iter().map(|(&id, t)| (id, t.clone())).collect(),
            next_id: *next_id,
        }
    }

    /// Restores checked timers (see [`check`]).
    pub(crate) fn restore(s: &PosixTimersState) -> PosixTimers {
        PosixTimers {
            timers: s.timers.iter().cloned().collect(),
            next_id: s.next_id,
        }
    }
}

/// Checks process `obj`'s saved timers: ids unique and not negative, clocks that have
/// timers, signals in range, thread targets among `threads`, times within KTIME_MAX, and
/// a timer marked queued only when `queued` (its timer-marked pending signals) names it
/// once, and every such signal a timer of it.
pub(crate) fn check(
    obj: &str,
    s: &PosixTimersState,
    threads: &[i32],
    queued: &[i32],
) -> Result<(), Invalid> {
    if s.next_id < 0 {
        return Err(bad(
            obj,
            "next timer id",
            format!("{} is negative", s.next_id),
        ));
    }
    if s.timers.len() > crate::checks::SIGQUEUE_MAX {
        return Err(bad(obj, "timers", "are too many"));
    }
    crate::checks::unique("timer", s.timers.iter().map(|(id, _)| *id))
        .map_err(|e| bad(obj, "timers", e.to_string()))?;
    for (id, t) in &s.timers {
        let what = format!("{obj} timer {id}");
        if *id < 0 {
            return Err(bad(&what, "id", "is negative"));
        }
        if timer_clock(t.clock).is_err() {
            return Err(bad(&what, "clock", format!("{} has no timers", t.clock)));
        }
        match t.cpu {
            Some(c) if !(1..crate::checks::PID_MAX).contains(&c.id) => {
                return Err(bad(&what, "CPU clock", format!("names {}", c.id)));
            }
            c if c.is_some() != is_cpu_clock(t.clock) => {
                return Err(bad(&what, "CPU clock", "does not match its clock"));
            }
            _ => {}
        }
        if let Notify::Signal { signo, thread, .. } = t.notify {
            if !(1..=64).contains(&signo) {
                return Err(bad(&what, "signal", format!("{signo} is not a signal")));
            }
            if let Some(th) = thread.filter(|th| !threads.contains(th)) {
                return Err(bad(&what, "thread", format!("{th} is not a thread of it")));
            }
        } else if t.queued {
            return Err(bad(&what, "queued", "is set, yet it sends no signal"));
        }
        if t.next.is_some_and(|n| n > KTIME_MAX) || t.interval > KTIME_MAX {
            return Err(bad(&what, "time", "is beyond the clock's range"));
        }
        if t.overrun_last < 0 {
            return Err(bad(&what, "overrun", "is negative"));
        }
        let signals = queued.iter().filter(|&q| q == id).count();
        if signals != usize::from(t.queued) {
            return Err(bad(
                &what,
                "queued",
                format!("is {} but {signals} of its signals are pending", t.queued),
            ));
        }
    }
    if let Some(q) = queued
        .iter()
        .find(|q| !s.timers.iter().any(|(id, _)| id == *q))
    {
        return Err(bad(
            obj,
            "pending signal",
            format!("is of timer {q}, which it does not have"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(notify: Notify) -> PosixTimer {
        PosixTimer {
            clock: libc::CLOCK_MONOTONIC,
            cpu: None,
            notify,
            next: None,
            interval: 0,
            queued: false,
            overrun_last: 0,
        }
    }

    const SIG: Notify = Notify::Signal {
        signo: libc::SIGALRM,
        value: 0,
        thread: None,
    };

    #[test]
    fn gettime_shows_the_time_to_the_next_period() {
        let mut t = timer(SIG);
        assert_eq!(t.get(100), (0, 0), "disarmed");
        t.next = Some(150);
        assert_eq!(t.get(100), (50, 0));
        assert_eq!(t.get(150), (1, 0), "due, not yet fired");
        t.interval = 30;
        t.queued = true;
        // Queued at 150: periods at 180, 210; at 200 the next is 210.
        assert_eq!(t.get(200), (10, 30));
        let mut n = timer(Notify::None);
        n.next = Some(150);
        assert_eq!(n.get(160), (0, 0), "a silent one-shot timer past its time");
        n.interval = 30;
        assert_eq!(n.get(160), (20, 30));
        assert_eq!(PosixTimer::forward(150, 30, 240), (270, 3));
        assert_eq!(
            PosixTimer::forward(u64::MAX - 5, 30, u64::MAX),
            (u64::MAX, 0)
        );
    }

    #[test]
    fn sigevents_are_checked_as_linux_does() {
        let ev = |value: u64, signo: i32, notify: i32, tid: i32| {
            let mut b = value.to_le_bytes().to_vec();
            b.extend_from_slice(&signo.to_le_bytes());
            b.extend_from_slice(&notify.to_le_bytes());
            b.extend_from_slice(&tid.to_le_bytes());
            b.resize(64, 0);
            b
        };
        let mine = |t: i32| t == 7;
        assert_eq!(
            Notify::parse(&ev(0, 0, SIGEV_NONE, 0), mine),
            Some(Notify::None)
        );
        assert_eq!(
            Notify::parse(&ev(9, 10, SIGEV_THREAD, 0), mine),
            Some(Notify::Signal {
                signo: 10,
                value: 9,
                thread: None
            })
        );
        assert_eq!(Notify::parse(&ev(0, 0, SIGEV_SIGNAL, 0), mine), None);
        assert_eq!(Notify::parse(&ev(0, 65, SIGEV_SIGNAL, 0), mine), None);
        assert_eq!(Notify::parse(&ev(0, 10, 7, 0), mine), None);
        assert_eq!(Notify::parse(&ev(0, 10, SIGEV_THREAD_ID, 8), mine), None);
        assert_eq!(
            Notify::parse(&ev(0, 10, SIGEV_THREAD_ID | SIGEV_NONE, 7), mine),
            None
        );
        assert!(Notify::parse(&ev(0, 10, SIGEV_THREAD_ID, 7), mine).is_some());
    }

    #[test]
    fn hostile_saved_timers_are_refused() {
        let good = PosixTimer {
            clock: libc::CLOCK_MONOTONIC,
            cpu: None,
            notify: Notify::Signal {
                signo: 10,
                value: 0,
                thread: Some(5),
            },
            next: Some(1000),
            interval: 10,
            queued: true,
            overrun_last: 0,
        };
        let ok = PosixTimersState {
            timers: vec![(3, good.clone())],
            next_id: 4,
        };
        assert_eq!(check("p", &ok, &[5], &[3]), Ok(()));
        let refused = |timers: Vec<(i32, PosixTimer)>, next_id: i32, queued: &[i32]| {
            check("p", &PosixTimersState { timers, next_id }, &[5], queued)
                .unwrap_err()
                .to_string()
        };
        let with = |f: &dyn Fn(&mut PosixTimer)| {
            let mut t = good.clone();
            f(&mut t);
            vec![(3, t)]
        };
        let e = refused(vec![(3, good.clone()), (3, good.clone())], 4, &[3]);
        assert!(e.contains("appears twice"), "{e}");
        let e = refused(vec![(-1, good.clone())], 4, &[-1]);
        assert!(e.contains("negative"), "{e}");
        assert!(refused(vec![(3, good.clone())], -3, &[3]).contains("next timer id"));
        let e = refused(with(&|t| t.clock = 99), 4, &[3]);
        assert!(e.contains("has no timers"), "{e}");
        let e = refused(with(&|t| t.next = Some(u64::MAX)), 4, &[3]);
        assert!(e.contains("beyond"), "{e}");
        let e = refused(with(&|t| t.interval = u64::MAX), 4, &[3]);
        assert!(e.contains("beyond"), "{e}");
        let e = refused(with(&|t| t.overrun_last = -5), 4, &[3]);
        assert!(e.contains("overrun"), "{e}");
        let e = refused(
            with(&|t| {
                t.notify = Notify::Signal {
                    signo: 10,
                    value: 0,
                    thread: Some(6),
                }
            }),
            4,
            &[3],
        );
        assert!(e.contains("not a thread"), "{e}");
        let e = refused(
            with(&|t| {
                t.notify = Notify::Signal {
                    signo: 0,
                    value: 0,
                    thread: None,
                }
            }),
            4,
            &[3],
        );
        assert!(e.contains("not a signal"), "{e}");
        let e = refused(with(&|t| t.notify = Notify::None), 4, &[3]);
        assert!(e.contains("sends no signal"), "{e}");
        let e = refused(vec![(3, good.clone())], 4, &[]);
        assert!(e.contains("queued"), "{e}");
        let e = refused(vec![(3, good.clone())], 4, &[3, 3]);
        assert!(e.contains("queued"), "{e}");
        let e = refused(vec![(3, good)], 4, &[3, 9]);
        assert!(e.contains("timer 9"), "{e}");
    }

    use crate::kernel::Kernel;
    use crate::testing::{errno, kernel, SCRATCH};

    const SEV: u64 = SCRATCH;
    const ID: u64 = SCRATCH + 0x100;
    const ITS: u64 = SCRATCH + 0x200;
    const OLD: u64 = SCRATCH + 0x300;
    const INFO: u64 = SCRATCH + 0x400;
    const SET: u64 = SCRATCH + 0x600;
    const ZERO_TS: u64 = SCRATCH + 0x700;

    fn put_sev(k: &mut Kernel, t: i32, value: u64, signo: i32, notify: i32, tid: i32) {
        let mut b = value.to_le_bytes().to_vec();
        b.extend_from_slice(&signo.to_le_bytes());
        b.extend_from_slice(&notify.to_le_bytes());
        b.extend_from_slice(&tid.to_le_bytes());
        b.resize(64, 0);
        k.put(t, SEV, &b);
    }

    fn put_its(k: &mut Kernel, t: i32, interval: (i64, i64), value: (i64, i64)) {
        let mut b = Vec::new();
        for v in [interval.0, interval.1, value.0, value.1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        k.put(t, ITS, &b);
    }

    fn create(k: &mut Kernel, t: i32, clock: i32, sev: u64) -> Option<i64> {
        k.call(t, libc::SYS_timer_create, [clock as u64, sev, ID, 0, 0, 0])
    }

    fn created_id(k: &Kernel, t: i32) -> u64 {
        u32::from_le_bytes(k.get(t, ID, 4).try_into().unwrap()) as u64
    }

    #[test]
    fn bad_arguments_get_linux_errnos() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        assert_eq!(create(&mut k, t, 99, 0), errno(libc::EINVAL));
        assert_eq!(
            create(&mut k, t, libc::CLOCK_MONOTONIC_RAW, 0),
            errno(libc::EOPNOTSUPP)
        );
        assert_eq!(
            create(&mut k, t, libc::CLOCK_MONOTONIC, 8),
            errno(libc::EFAULT)
        );
        assert_eq!(create(&mut k, t, libc::CLOCK_MONOTONIC, 0), Some(0));
        assert_eq!(created_id(&k, t), 0, "ids start at 0");
        // The alarm clocks, a bad sigevent and a bad id pointer use up an id, as in Linux.
        assert_eq!(
            create(&mut k, t, libc::CLOCK_REALTIME_ALARM, 0),
            errno(libc::EOPNOTSUPP)
        );
        put_sev(&mut k, t, 0, 0, SIGEV_SIGNAL, 0);
        assert_eq!(
            create(&mut k, t, libc::CLOCK_REALTIME, SEV),
            errno(libc::EINVAL)
        );
        put_sev(&mut k, t, 0, 10, SIGEV_THREAD_ID, t + 1);
        assert_eq!(
            create(&mut k, t, libc::CLOCK_REALTIME, SEV),
            errno(libc::EINVAL)
        );
        assert_eq!(
            k.call(t, libc::SYS_timer_create, [1, 0, 8, 0, 0, 0]),
            errno(libc::EFAULT)
        );
        put_sev(&mut k, t, 0, 0, SIGEV_NONE, 0);
        assert_eq!(create(&mut k, t, libc::CLOCK_BOOTTIME, SEV), Some(0));
        let id = created_id(&k, t);
        assert_eq!(id, 5);
        let set = |k: &mut Kernel, id: u64, its: u64, old: u64| {
            k.call(t, libc::SYS_timer_settime, [id, 0, its, old, 0, 0])
        };
        put_its(&mut k, t, (0, 0), (0, 0));
        assert_eq!(set(&mut k, id, 0, 0), errno(libc::EINVAL), "no new value");
        assert_eq!(
            set(&mut k, 99, ITS, 0),
            errno(libc::EINVAL),
            "no such timer"
        );
        assert_eq!(set(&mut k, 99, 8, 0), errno(libc::EFAULT), "read first");
        put_its(&mut k, t, (0, 0), (0, -1));
        assert_eq!(set(&mut k, id, ITS, 0), errno(libc::EINVAL));
        put_its(&mut k, t, (-1, 0), (1, 0));
        assert_eq!(set(&mut k, id, ITS, 0), errno(libc::EINVAL));
        put_its(&mut k, t, (0, 0), (1, 0));
        assert_eq!(set(&mut k, id, ITS, 8), errno(libc::EFAULT));
        // ... the timer is set all the same.
        let get = |k: &mut Kernel, id: u64, at: u64| {
            k.call(t, libc::SYS_timer_gettime, [id, at, 0, 0, 0, 0])
        };
        assert_eq!(get(&mut k, id, OLD), Some(0));
        let left = u64::from_le_bytes(k.get(t, OLD + 24, 8).try_into().unwrap());
        assert!(left > 0 && left < 1_000_000_000, "{left}");
        assert_eq!(get(&mut k, id, 8), errno(libc::EFAULT));
        assert_eq!(get(&mut k, 77, OLD), errno(libc::EINVAL));
        let r = |k: &mut Kernel, nr: i64, id: u64| k.call(t, nr, [id, 0, 0, 0, 0, 0]);
        assert_eq!(r(&mut k, libc::SYS_timer_getoverrun, id), Some(0));
        assert_eq!(
            r(&mut k, libc::SYS_timer_getoverrun, 77),
            errno(libc::EINVAL)
        );
        assert_eq!(r(&mut k, libc::SYS_timer_delete, id), Some(0));
        assert_eq!(r(&mut k, libc::SYS_timer_delete, id), errno(libc::EINVAL));
        assert_eq!(
            r(&mut k, libc::SYS_timer_delete, u32::MAX as u64),
            errno(libc::EINVAL)
        );
        assert_eq!(create(&mut k, t, libc::CLOCK_TAI, 0), Some(0));
        assert_eq!(created_id(&k, t), 6, "ids are not reused at once");
    }

    /// Makes timer `id` of process `pid` due at `at` and lets the kernel fire it.
    fn due_at(k: &mut Kernel, pid: i32, id: i32, at: u64) {
        let g = k.tgs.get_mut(&pid).unwrap();
        g.posix_timers.timers.get_mut(&id).unwrap().next = Some(at);
        k.expire_timers();
    }

    #[test]
    fn a_blocked_periodic_signal_is_queued_once_and_counts_overruns() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let sig = libc::SIGRTMIN();
        k.task_mut(t).sigmask = crate::kernel::signal::bit(sig);
        put_sev(&mut k, t, 42, sig, SIGEV_THREAD_ID, t);
        assert_eq!(create(&mut k, t, libc::CLOCK_MONOTONIC, SEV), Some(0));
        let id = created_id(&k, t) as i32;
        put_its(&mut k, t, (1, 0), (1, 0));
        assert_eq!(
            k.call(t, libc::SYS_timer_settime, [id as u64, 0, ITS, 0, 0, 0]),
            Some(0)
        );
        // Due 3.5 periods ago: it fires once, and stays queued however often it is looked at.
        let now = k.clocks.mono();
        due_at(&mut k, t, id, now - 3_500_000_000);
        k.expire_timers();
        assert_eq!(k.task(t).pending.len(), 1);
        assert!(
            k.tgs[&t].posix_timers.next_deadline().is_none(),
            "stopped while queued"
        );
        k.put(t, SET, &crate::kernel::signal::bit(sig).to_le_bytes());
        k.put(t, ZERO_TS, &[0; 16]);
        let wait =
            |k: &mut Kernel| k.call(t, libc::SYS_rt_sigtimedwait, [SET, INFO, ZERO_TS, 8, 0, 0]);
        assert_eq!(wait(&mut k), Some(sig as i64));
        let info = k.get(t, INFO, 128);
        let i32_at = |o: usize| i32::from_le_bytes(info[o..o + 4].try_into().unwrap());
        assert_eq!(i32_at(8), SI_TIMER);
        assert_eq!(i32_at(16), id, "si_timerid");
        assert_eq!(
            i32_at(20),
            3,
            "si_overrun: the periods gone by after the first"
        );
        assert_eq!(i32_at(24), 42, "si_value");
        assert_eq!(
            k.call(t, libc::SYS_timer_getoverrun, [id as u64, 0, 0, 0, 0, 0]),
            Some(3)
        );
        // It goes on from the next period, half a period from now.
        let next = k.tgs[&t].posix_timers.next_deadline().unwrap();
        assert!(next > now && next <= now + 500_000_000, "{} {}", next, now);
        // Re-set while its signal is queued: the stale signal is withdrawn.
        due_at(&mut k, t, id, 0);
        assert_eq!(k.task(t).pending.len(), 1);
        assert_eq!(
            k.call(t, libc::SYS_timer_settime, [id as u64, 0, ITS, 0, 0, 0]),
            Some(0)
        );
        assert!(k.task(t).pending.is_empty());
        assert_eq!(wait(&mut k), errno(libc::EAGAIN));
        // A signal of that number queued by another sender does not hold the timer's back,
        // and deleting the timer withdraws its own.
        k.signal_task(t, crate::kernel::signal::SigInfo::new(sig, 0));
        due_at(&mut k, t, id, 0);
        assert_eq!(k.task(t).pending.len(), 2);
        assert_eq!(
            k.call(t, libc::SYS_timer_delete, [id as u64, 0, 0, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(k.task(t).pending.len(), 1);
        assert!(!k.task(t).pending[0].timer);
    }

    #[test]
    fn a_default_timer_sends_sigalrm_with_its_id_to_the_process() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        k.task_mut(t).sigmask = crate::kernel::signal::bit(libc::SIGALRM);
        assert_eq!(create(&mut k, t, libc::CLOCK_REALTIME, 0), Some(0));
        assert_eq!(create(&mut k, t, libc::CLOCK_REALTIME, 0), Some(0));
        let id = created_id(&k, t);
        // Absolute, on the real-time clock, in the past: due at once.
        put_its(&mut k, t, (0, 0), (1, 0));
        assert_eq!(
            k.call(
                t,
                libc::SYS_timer_settime,
                [id, libc::TIMER_ABSTIME as u64, ITS, 0, 0, 0]
            ),
            Some(0)
        );
        k.expire_timers();
        let g = &k.tgs[&t];
        assert_eq!(g.shared_pending.len(), 1);
        let s = &g.shared_pending[0];
        assert_eq!(
            (s.signo, s.code, s.timer_id()),
            (libc::SIGALRM, SI_TIMER, 1)
        );
        assert_eq!(&s.fields[8..16], &1u64.to_le_bytes(), "si_value is the id");
        assert_eq!(
            g.posix_timers.timers[&1].get(k.clocks.mono()),
            (0, 0),
            "one-shot"
        );
        // exec deletes the timers with their queued signal.
        k.clear_posix_timers(t);
        assert!(k.tgs[&t].shared_pending.is_empty());
        assert!(k.tgs[&t].posix_timers.timers.is_empty());
    }
}
