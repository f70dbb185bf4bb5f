//! Clocks. The guest's monotonic clock is the host's plus an offset fixed at restore, so it
//! never goes backwards across a checkpoint.

pub(crate) fn host_clock(clock: libc::clockid_t) -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::from_raw(clock))
        .unwrap_or(nix::sys::time::TimeSpec::new(0, 0));
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// The sandbox's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clocks {
    /// Added to the host monotonic clock.
    pub mono_offset: i64,
}

impl Clocks {
    /// Guest monotonic time in ns.
    pub(crate) fn mono(&self) -> u64 {
        (host_clock(libc::CLOCK_MONOTONIC) as i64 + self.mono_offset) as u64
    }

    pub(crate) fn realtime(&self) -> u64 {
        host_clock(libc::CLOCK_REALTIME)
    }

    /// The guest's reading of `clock`, or None for an unknown clock.
    pub(crate) fn read(&self, clock: i32) -> Option<u64> {
        match clock {
            libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_TAI => {
                Some(self.realtime())
            }
            libc::CLOCK_MONOTONIC
            | libc::CLOCK_MONOTONIC_COARSE
            | libc::CLOCK_MONOTONIC_RAW
            | libc::CLOCK_BOOTTIME => Some(self.mono()),
            libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => {
                Some(host_clock(libc::CLOCK_PROCESS_CPUTIME_ID))
            }
            _ => None,
        }
    }

    /// Converts an absolute time on `clock` to the monotonic deadline.
    pub(crate) fn to_mono_deadline(self, clock: i32, abs: u64) -> u64 {
        let now = self.read(clock).unwrap_or(0);
        self.mono() + abs.saturating_sub(now)
    }
}

pub(crate) fn ts_to_ns(sec: i64, nsec: i64) -> Option<u64> {
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return None;
    }
    Some(
        (sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(nsec as u64),
    )
}

pub(crate) fn ns_to_ts(ns: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
    b[8..].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
    b
}
