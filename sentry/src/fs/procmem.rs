//! `/proc/PID/mem`: a process's memory as a file, the offset being the address. The
//! description holds the address space the process had when it was opened (after an
//! exec or the exit it reads end of file, as on Linux); reads and writes are served by the
//! system call layer, which reaches address spaces (`syscalls::file`), through
//! [`OpenFile::kind`](crate::fs::file::OpenFile::kind).
//!
//! Saved as the address space's id: a restored description reads the same memory, or end
//! of file when that address space is gone.

use serde::{Deserialize, Serialize};

use crate::checks::Invalid;
use crate::fs::file::{anon_stat, seek_without_end, FileImpl, IoErr};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::mm::Errno;

/// An open `/proc/PID/mem`.
pub struct ProcMem {
    /// The id of the address space it reads (0: none, a process with no memory).
    pub(crate) mm: u64,
}

impl FileImpl for ProcMem {
    /// Reached only where the system call layer does not serve the file (sendfile,
    /// splice): an I/O error, as a read of memory that cannot be read.
    fn read(&mut self, _pos: &mut u64, _len: usize, _off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        Err(IoErr::Errno(libc::EIO))
    }

    fn write(&mut self, _pos: &mut u64, _data: &[u8], _off: Option<u64>) -> Result<usize, IoErr> {
        Err(IoErr::Errno(libc::EIO))
    }

    /// From the start or the position only: memory has no end to seek from.
    fn seek(&mut self, pos: &mut u64, off: i64, whence: i32) -> Result<i64, Errno> {
        seek_without_end(pos, off, whence)
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        Ok(anon_stat(libc::S_IFREG | 0o600))
    }

    fn epoll_watchable(&self) -> bool {
        false
    }
}

/// A saved `/proc/PID/mem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcMemState {
    pub mm: u64,
}

impl Persist for ProcMem {
    type State = ProcMemState;

    fn save(&self, _: &mut SaveCtx) -> ProcMemState {
        let ProcMem { mm } = self;
        ProcMemState { mm: *mm }
    }

    fn restore(_: &mut RestoreCtx, _: &FileMeta, s: &ProcMemState) -> Result<Self, KindError> {
        Ok(ProcMem { mm: s.mm })
    }

    /// Any id: one that names no address space reads end of file.
    fn check(_: &CheckCtx, _: &ProcMemState) -> Result<(), Invalid> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeks_are_addresses_and_there_is_no_end() {
        let mut f = ProcMem { mm: 1 };
        let mut pos = 0;
        assert_eq!(
            f.seek(&mut pos, 0x7000_0000, libc::SEEK_SET),
            Ok(0x7000_0000)
        );
        assert_eq!(f.seek(&mut pos, 16, libc::SEEK_CUR), Ok(0x7000_0010));
        assert_eq!(f.seek(&mut pos, 0, libc::SEEK_END), Err(libc::EINVAL));
        assert!(matches!(
            f.read(&mut pos, 1, None),
            Err(IoErr::Errno(libc::EIO))
        ));
    }
}
