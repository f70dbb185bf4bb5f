//! signalfd: the signals of a mask, read as records from an open file (signalfd(2)). What
//! a read takes and what poll reports are the pending signals of the task that reads or
//! polls (its own and its process's), as Linux has it: the file holds only the mask, and
//! the calls that read or poll it ask the kernel for the caller's signals
//! (`SysCtx::readiness`, `crate::syscalls::file`) and turn them into records
//! (`SigInfo::signalfd_record`).
//!
//! Saved: the mask (the signals themselves are saved with the tasks and processes that
//! have them pending).

use serde::{Deserialize, Serialize};

use crate::checks::Invalid;
use crate::fs::file::FileImpl;
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::wait::WaitKey;

/// SIGKILL and SIGSTOP, which no signalfd reads.
const UNREADABLE: u64 = 1 << (libc::SIGKILL - 1) | 1 << (libc::SIGSTOP - 1);

#[derive(Debug)]
pub struct SignalFd {
    /// Kernel object id.
    id: u64,
    /// The signals it reads (never SIGKILL or SIGSTOP).
    mask: u64,
}

impl SignalFd {
    pub(crate) fn new(id: u64, mask: u64) -> Self {
        SignalFd {
            id,
            mask: mask & !UNREADABLE,
        }
    }

    /// signalfd on an existing one: a new mask.
    pub(crate) fn set_mask(&mut self, mask: u64) {
        self.mask = mask & !UNREADABLE;
    }
}

impl FileImpl for SignalFd {
    // read and poll are served by the caller's signals (`signal_mask`).

    fn readiness(&self, _events: i16) -> (i16, Vec<WaitKey>) {
        // Seen without a reading task (an epoll set inside an epoll set): never ready.
        (0, vec![WaitKey::Object(self.id)])
    }

    fn signal_mask(&self) -> Option<u64> {
        Some(self.mask)
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn link_text(&self, _path: &str) -> String {
        "anon_inode:[signalfd]".into()
    }
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
        if s.mask & UNREADABLE != 0 {
            return Err(cx.bad("signalfd mask", "holds SIGKILL or SIGSTOP"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn bit(sig: i32) -> u64 {
        1 << (sig - 1)
    }

    #[test]
    fn the_mask_never_holds_sigkill_or_sigstop() {
        let mut s = SignalFd::new(1, u64::MAX);
        assert_eq!(s.signal_mask(), Some(!UNREADABLE));
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
            async_io: Default::default(),
            opener: None,
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
}
