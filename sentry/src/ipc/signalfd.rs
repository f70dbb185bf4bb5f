//! signalfd: the signals of a mask, read as records from an open file (signalfd(2)). What
//! a read takes and what poll reports are the pending signals of the task that reads or
//! polls (its own and its process's), as Linux has it: the file holds only the mask, and
//! the calls that read or poll it ask the kernel for the caller's signals
//! (`SysCtx::readiness`, `crate::syscalls::file`).
//!
//! Saved: the mask (the signals themselves are saved with the tasks and processes that
//! have them pending).

use serde::{Deserialize, Serialize};

use crate::checks::Invalid;
use crate::fs::file::FileImpl;
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::kernel::signal::{SigInfo, SigSet, UNBLOCKABLE};
use crate::wait::WaitKey;

/// Size of `struct signalfd_siginfo`.
pub(crate) const SIGINFO_SIZE: usize = 128;

#[derive(Debug)]
pub struct SignalFd {
    /// Kernel object id.
    id: u64,
    /// The signals it reads (never SIGKILL or SIGSTOP).
    mask: SigSet,
}

impl SignalFd {
    pub(crate) fn new(id: u64, mask: SigSet) -> Self {
        SignalFd {
            id,
            mask: mask & !UNBLOCKABLE,
        }
    }

    /// signalfd on an existing one: a new mask.
    pub(crate) fn set_mask(&mut self, mask: SigSet) {
        self.mask = mask & !UNBLOCKABLE;
    }
}

impl FileImpl for SignalFd {
    // read and poll are served by the caller's signals (`signal_mask`).

    fn readiness(&self, _events: i16) -> (i16, Vec<WaitKey>) {
        // Seen without a reading task (an epoll set inside an epoll set): never ready.
        (0, vec![WaitKey::Object(self.id)])
    }

    fn signal_mask(&self) -> Option<SigSet> {
        Some(self.mask)
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn link_text(&self, _path: &str) -> String {
        "anon_inode:[signalfd]".into()
    }
}

/// The `struct signalfd_siginfo` of a signal taken from a signalfd: the fields of its
/// siginfo as Linux copies them for its kind (kill, timer, poll, fault, child, queued).
pub(crate) fn record(info: &SigInfo) -> [u8; SIGINFO_SIZE] {
    let mut b = [0u8; SIGINFO_SIZE];
    let f = &info.fields;
    let u32_at = |o: usize| u32::from_le_bytes(f[o..o + 4].try_into().expect("4"));
    let u64_at = |o: usize| u64::from_le_bytes(f[o..o + 8].try_into().expect("8"));
    let put32 = |b: &mut [u8; SIGINFO_SIZE], off: usize, v: u32| {
        b[off..off + 4].copy_from_slice(&v.to_le_bytes())
    };
    put32(&mut b, 0, info.signo as u32);
    put32(&mut b, 8, info.code as u32);
    let put64 = |b: &mut [u8; SIGINFO_SIZE], off: usize, v: u64| {
        b[off..off + 8].copy_from_slice(&v.to_le_bytes())
    };
    const SI_TIMER: i32 = -2;
    const SI_SIGIO: i32 = -5;
    let kernel_code = info.code > 0 && info.code < 0x80;
    let fault = matches!(
        info.signo,
        libc::SIGILL | libc::SIGFPE | libc::SIGSEGV | libc::SIGBUS | libc::SIGTRAP
    );
    if kernel_code && fault {
        put64(&mut b, 72, u64_at(0)); // ssi_addr
    } else if kernel_code && info.signo == libc::SIGCHLD {
        put32(&mut b, 12, u32_at(0)); // ssi_pid
        put32(&mut b, 16, u32_at(4)); // ssi_uid
        put32(&mut b, 40, u32_at(8)); // ssi_status
        put64(&mut b, 56, u64_at(16)); // ssi_utime
        put64(&mut b, 64, u64_at(24)); // ssi_stime
    } else if kernel_code || info.code == SI_SIGIO {
        put32(&mut b, 28, u32_at(0)); // ssi_band
        put32(&mut b, 20, u32_at(8)); // ssi_fd
    } else if info.code == SI_TIMER {
        put32(&mut b, 24, u32_at(0)); // ssi_tid
        put32(&mut b, 32, u32_at(4)); // ssi_overrun
        put32(&mut b, 44, u32_at(8)); // ssi_int
        put64(&mut b, 48, u64_at(8)); // ssi_ptr
    } else {
        put32(&mut b, 12, u32_at(0)); // ssi_pid
        put32(&mut b, 16, u32_at(4)); // ssi_uid
        if info.code < 0 {
            put32(&mut b, 44, u32_at(8)); // ssi_int
            put64(&mut b, 48, u64_at(8)); // ssi_ptr
        }
    }
    b
}

/// A saved signalfd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalFdState {
    pub id: u64,
    pub mask: u64,
}

impl Persist for SignalFd {
    type State = SignalFdState;

    fn save(&self, _: &mut SaveCtx) -> SignalFdState {
        let SignalFd { id, mask } = self;
        SignalFdState {
            id: *id,
            mask: *mask,
        }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &SignalFdState) -> Result<Self, KindError> {
        cx.object_id(s.id);
        Ok(SignalFd::new(s.id, s.mask))
    }

    fn check(cx: &CheckCtx, s: &SignalFdState) -> Result<(), Invalid> {
        if s.mask & UNBLOCKABLE != 0 {
            return Err(cx.bad("signalfd mask", "holds SIGKILL or SIGSTOP"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::signal::bit;

    #[test]
    fn the_mask_never_holds_sigkill_or_sigstop() {
        let mut s = SignalFd::new(1, u64::MAX);
        assert_eq!(s.signal_mask(), Some(!UNBLOCKABLE));
        s.set_mask(bit(libc::SIGUSR1) | bit(libc::SIGKILL));
        assert_eq!(s.signal_mask(), Some(bit(libc::SIGUSR1)));
        let vfs = crate::persist::testing::no_mounts();
        let st = s.save(&mut SaveCtx::new(&vfs, 0));
        assert_eq!(st.mask, bit(libc::SIGUSR1));
        let meta = FileMeta {
            id: 1,
            flags: 0,
            pos: 0,
            path: "anon_inode:[signalfd]",
        };
        let files = Default::default();
        let shared = Default::default();
        let cx = CheckCtx::new(meta, &files, &shared);
        assert!(SignalFd::check(&cx, &st).is_ok());
        let bad = SignalFdState {
            mask: bit(libc::SIGSTOP),
            ..st
        };
        assert!(SignalFd::check(&cx, &bad).is_err());
    }

    #[test]
    fn records_carry_the_fields_of_each_kind_of_signal() {
        let kill = SigInfo::from_process(libc::SIGUSR1, 0, 42, 1000);
        let r = record(&kill);
        assert_eq!(r[0..4], (libc::SIGUSR1 as u32).to_le_bytes());
        assert_eq!(r[12..16], 42u32.to_le_bytes());
        assert_eq!(r[16..20], 1000u32.to_le_bytes());
        let mut queued = SigInfo::from_process(40, -1, 7, 0);
        queued.fields[8..16].copy_from_slice(&0x1234_5678_9abcu64.to_le_bytes());
        let r = record(&queued);
        assert_eq!(r[44..48], 0x5678_9abcu32.to_le_bytes());
        assert_eq!(r[48..56], 0x1234_5678_9abcu64.to_le_bytes());
        let child = SigInfo::child(9, 0, libc::CLD_EXITED, 3);
        let r = record(&child);
        assert_eq!(r[12..16], 9u32.to_le_bytes());
        assert_eq!(r[40..44], 3u32.to_le_bytes());
        let fault = SigInfo::fault(libc::SIGSEGV, 1, 0xdead);
        assert_eq!(record(&fault)[72..80], 0xdeadu64.to_le_bytes());
    }
}
