//! timerfd: a timer as an open file (timerfd_create(2)). A read returns how many times it
//! expired since the last read or settime (a u64) and blocks while that is 0; poll shows
//! POLLIN once it expired.
//!
//! The timer runs on the host's clock of its kind (CLOCK_MONOTONIC for the monotonic and
//! boot-time clocks, which the guest sees shifted by a constant; CLOCK_REALTIME for the
//! real-time clock, which the guest sees as it is), so its expiries are worked out when
//! asked, not counted by a thread. While armed it is listed with `crate::wait::arm_timer`,
//! so the kernel wakes its waiters (a read, poll, epoll) when it expires.
//!
//! Saved: the clock, the time left to the next expiry (so a restore on another host, or
//! later, keeps what was left, as Linux's CRIU does), the interval and the expiries not
//! yet read.

use serde::{Deserialize, Serialize};

use crate::checks::Invalid;
use crate::fs::file::{FileImpl, IoErr};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::wait::WaitKey;

/// The host's `clock` now, in ns.
fn host_clock(clock: libc::clockid_t) -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::from_raw(clock)).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// The clocks a timerfd may run on.
pub(crate) fn clock_ok(clock: i32) -> bool {
    matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME
    )
}

/// The host clock a guest clock's timer runs on.
fn host_of(clock: i32) -> libc::clockid_t {
    if clock == libc::CLOCK_REALTIME {
        libc::CLOCK_REALTIME
    } else {
        libc::CLOCK_MONOTONIC
    }
}

#[derive(Debug)]
pub struct TimerFd {
    /// Kernel object id: the key its waiters park on.
    id: u64,
    /// The guest clock it was made for (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME).
    clock: i32,
    /// Next expiry on the host clock of its kind, in ns; None when disarmed.
    next: Option<u64>,
    /// Period in ns; 0 for a one-shot timer.
    interval: u64,
    /// Expiries counted and not yet read.
    ticks: u64,
}

impl TimerFd {
    pub(crate) fn new(id: u64, clock: i32) -> Self {
        TimerFd {
            id,
            clock,
            next: None,
            interval: 0,
            ticks: 0,
        }
    }

    fn now(&self) -> u64 {
        host_clock(host_of(self.clock))
    }

    /// (expiries not read, next expiry) at `now`, without counting them in.
    fn at(&self, now: u64) -> (u64, Option<u64>) {
        match self.next {
            Some(next) if now >= next => match (now - next).checked_div(self.interval) {
                // A one-shot timer expires once.
                None => (self.ticks.saturating_add(1), None),
                Some(periods) => {
                    let n = periods + 1;
                    (
                        self.ticks.saturating_add(n),
                        Some(next.saturating_add(n.saturating_mul(self.interval))),
                    )
                }
            },
            next => (self.ticks, next),
        }
    }

    /// Counts in the expiries up to now.
    fn update(&mut self) {
        let (ticks, next) = self.at(self.now());
        self.ticks = ticks;
        self.next = next;
    }

    /// Lists the next expiry for the kernel to wake the waiters at.
    fn arm(&self) {
        match self.next {
            Some(next) => {
                let left = next.saturating_sub(self.now());
                crate::wait::arm_timer(
                    self.id,
                    host_clock(libc::CLOCK_MONOTONIC).saturating_add(left),
                );
            }
            None => crate::wait::disarm_timer(self.id),
        }
    }

    /// timerfd_gettime: (time left to the next expiry, interval), in ns; 0 left when
    /// disarmed.
    pub(crate) fn get(&self) -> (u64, u64) {
        let now = self.now();
        let (_, next) = self.at(now);
        (
            next.map_or(0, |n| n.saturating_sub(now).max(1)),
            self.interval,
        )
    }

    /// timerfd_settime: first expiry `first` ns from now (negative: an absolute time
    /// already past, whose expiries since count at once, as Linux counts them; `None`
    /// disarms), then every `interval` ns. The expiries not read are forgotten. Returns
    /// what `get` said before.
    pub(crate) fn set(&mut self, first: Option<i64>, interval: u64) -> (u64, u64) {
        let old = self.get();
        self.ticks = 0;
        self.interval = interval;
        let now = self.now();
        self.next = first.map(|d| {
            if d >= 0 {
                now.saturating_add(d as u64)
            } else {
                now.saturating_sub(d.unsigned_abs())
            }
        });
        self.arm();
        old
    }

    /// The clock it was made for.
    pub(crate) fn clock(&self) -> i32 {
        self.clock
    }
}

impl Drop for TimerFd {
    fn drop(&mut self) {
        crate::wait::disarm_timer(self.id);
    }
}

impl FileImpl for TimerFd {
    fn read(&mut self, _pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        if off.is_some() {
            return Err(IoErr::Errno(libc::ESPIPE));
        }
        if len < 8 {
            return Err(IoErr::Errno(libc::EINVAL));
        }
        self.update();
        if self.ticks == 0 {
            self.arm();
            return Err(IoErr::Block(WaitKey::Object(self.id)));
        }
        let n = std::mem::take(&mut self.ticks);
        self.arm();
        Ok(n.to_le_bytes().to_vec())
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let (ticks, _) = self.at(self.now());
        let r = if ticks > 0 { libc::POLLIN } else { 0 };
        (r & events, vec![WaitKey::Object(self.id)])
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn link_text(&self, _path: &str) -> String {
        "anon_inode:[timerfd]".into()
    }
}

/// A saved timerfd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerFdState {
    pub id: u64,
    pub clock: i32,
    /// ns from the checkpoint to the next expiry; None when disarmed.
    pub left: Option<u64>,
    pub interval: u64,
    /// Expiries not yet read (counted up to the checkpoint).
    pub ticks: u64,
}

impl Persist for TimerFd {
    type State = TimerFdState;

    /// The time left is counted from the instant the kernel captured the guest's clock
    /// (monotonic timers), so the two agree after a restore.
    fn save(&self, cx: &mut SaveCtx) -> TimerFdState {
        let TimerFd {
            id,
            clock,
            next: _, // saved as the time left
            interval,
            ticks: _, // counted up to now below
        } = self;
        let now = cx
            .host_mono()
            .filter(|_| host_of(*clock) == libc::CLOCK_MONOTONIC)
            .unwrap_or_else(|| self.now());
        let (ticks, next) = self.at(now);
        TimerFdState {
            id: *id,
            clock: *clock,
            left: next.map(|n| n.saturating_sub(now)),
            interval: *interval,
            ticks,
        }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &TimerFdState) -> Result<Self, KindError> {
        cx.object_id(s.id);
        let mut t = TimerFd::new(s.id, s.clock);
        t.interval = s.interval;
        t.ticks = s.ticks;
        let now = cx
            .host_mono()
            .filter(|_| host_of(s.clock) == libc::CLOCK_MONOTONIC)
            .unwrap_or_else(|| t.now());
        t.next = s.left.map(|l| now.saturating_add(l));
        t.arm();
        Ok(t)
    }

    fn check(cx: &CheckCtx, s: &TimerFdState) -> Result<(), Invalid> {
        if !clock_ok(s.clock) {
            return Err(cx.bad("timerfd clock", format!("{} is not a timer clock", s.clock)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_periodic_timer_counts_its_expiries_when_asked() {
        let mut t = TimerFd::new(5, libc::CLOCK_MONOTONIC);
        let now = t.now();
        assert_eq!(t.at(now), (0, None), "initially disarmed");
        t.next = Some(now - 35);
        t.interval = 10;
        // Due at now-35, -25, -15, -5: four, the next at +5.
        assert_eq!(t.at(now), (4, Some(now + 5)));
        t.interval = 0;
        assert_eq!(t.at(now), (1, None), "a one-shot timer expires once");
        assert_eq!(t.read(&mut 0, 4, None), Err(IoErr::Errno(libc::EINVAL)));
        assert_eq!(t.read(&mut 0, 8, None), Ok(1u64.to_le_bytes().to_vec()));
        assert_eq!(
            t.read(&mut 0, 8, None),
            Err(IoErr::Block(WaitKey::Object(5)))
        );
        assert_eq!(t.get(), (0, 0));
    }

    /// An interval timer set to a time already past has expired once per interval since
    /// (Linux's count), and goes on from there.
    #[test]
    fn a_time_already_past_counts_its_expiries_at_once() {
        let mut t = TimerFd::new(7, libc::CLOCK_MONOTONIC);
        t.set(Some(-5_500_000_000), 1_000_000_000);
        let (ticks, next) = t.at(t.now());
        assert_eq!(ticks, 6);
        let left = next.unwrap() - t.now();
        assert!(left > 0 && left <= 500_000_000, "{left}");
        t.set(Some(-1), 0);
        assert_eq!(t.at(t.now()), (1, None), "a one-shot timer expires once");
    }

    #[test]
    fn settime_forgets_the_expiries_and_says_what_was_set() {
        let mut t = TimerFd::new(6, libc::CLOCK_REALTIME);
        t.next = Some(0);
        t.interval = 0;
        assert_eq!(t.readiness(libc::POLLIN).0, libc::POLLIN);
        t.set(Some(3_000_000_000), 1_000_000_000);
        assert_eq!(t.readiness(libc::POLLIN).0, 0);
        let (left, interval) = t.set(None, 0);
        assert!(left > 2_000_000_000 && left <= 3_000_000_000, "{left}");
        assert_eq!(interval, 1_000_000_000);
        assert_eq!(t.get(), (0, 0));
        assert_eq!(crate::wait::next_timer(), None, "disarmed");
    }

    #[test]
    fn the_saved_timer_keeps_its_time_left_and_expiries() {
        let mut t = TimerFd::new(7, libc::CLOCK_BOOTTIME);
        t.set(Some(60_000_000_000), 0);
        t.ticks = 3;
        let vfs = crate::persist::testing::no_mounts();
        let mut cx = SaveCtx::new(&vfs, 0);
        let s = t.save(&mut cx);
        assert_eq!(s.ticks, 3);
        assert!(s
            .left
            .is_some_and(|l| l > 59_000_000_000 && l <= 60_000_000_000));
        let mut rcx = RestoreCtx::new(
            &vfs,
            crate::persist::testing::null_stdio(),
            Default::default(),
        );
        let meta = FileMeta {
            id: 1,
            flags: 0,
            pos: 0,
            path: "anon_inode:[timerfd]",
            async_io: Default::default(),
            opener: None,
        };
        let r = TimerFd::restore(&mut rcx, &meta, &s).unwrap();
        assert_eq!(r.ticks, 3);
        assert!(r.get().0 > 59_000_000_000);
        let files = Default::default();
        let shared = Default::default();
        let bad = TimerFdState { clock: 99, ..s };
        let ccx = CheckCtx::new(meta, &files, &shared);
        assert!(TimerFd::check(&ccx, &bad).is_err());
    }
}
