//! `/proc/PID/comm` and `/proc/PID/task/TID/comm`: a thread's name, read as it was at
//! open and written by the threads of its own process (a write from another process is
//! EINVAL, as Linux's comm_write says). Writes are served by the system call layer, which
//! reaches threads (`syscalls::file`), through
//! [`OpenFile::kind`](crate::fs::file::OpenFile::kind).
//!
//! Saved as the thread id and the text read at open.

use serde::{Deserialize, Serialize};

use crate::checks::{bad, Invalid};
use crate::fs::file::{anon_stat, read_held, seek_in, FileImpl, IoErr};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::mm::Errno;

/// The longest name a thread has (TASK_COMM_LEN without its NUL).
pub(crate) const COMM_MAX: usize = 15;

/// An open comm file.
pub struct ProcComm {
    /// The thread it names.
    pub(crate) tid: i32,
    /// Its text as of open ("name\n").
    data: Vec<u8>,
}

impl ProcComm {
    pub(crate) fn new(tid: i32, data: Vec<u8>) -> Self {
        ProcComm { tid, data }
    }

    /// Its text as the thread's name is now.
    pub(crate) fn refill(&mut self, data: Vec<u8>) {
        self.data = data;
    }
}

/// The name a write of `raw` gives a thread: at most 15 bytes, up to a NUL.
pub(crate) fn name_written(raw: &[u8]) -> String {
    let raw = &raw[..raw.len().min(COMM_MAX)];
    let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(raw).into_owned()
}

impl FileImpl for ProcComm {
    fn read(&mut self, pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        Ok(read_held(&self.data, pos, len, off))
    }

    /// Reached only where the system call layer does not serve the file (sendfile).
    fn write(&mut self, _pos: &mut u64, _data: &[u8], _off: Option<u64>) -> Result<usize, IoErr> {
        Err(IoErr::Errno(libc::EINVAL))
    }

    fn seek(&mut self, pos: &mut u64, off: i64, whence: i32) -> Result<i64, Errno> {
        seek_in(pos, self.data.len() as i64, off, whence)
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        Ok(anon_stat(libc::S_IFREG | 0o644))
    }

    fn epoll_watchable(&self) -> bool {
        false
    }
}

/// A saved comm file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcCommState {
    pub tid: i32,
    pub data: Vec<u8>,
}

impl Persist for ProcComm {
    type State = ProcCommState;

    fn save(&self, _: &mut SaveCtx) -> ProcCommState {
        let ProcComm { tid, data } = self;
        ProcCommState {
            tid: *tid,
            data: data.clone(),
        }
    }

    fn restore(_: &mut RestoreCtx, _: &FileMeta, s: &ProcCommState) -> Result<Self, KindError> {
        Ok(ProcComm::new(s.tid, s.data.clone()))
    }

    /// A thread id that names no thread is harmless (a write finds nobody: EINVAL); the
    /// text is a name and its newline.
    fn check(_: &CheckCtx, s: &ProcCommState) -> Result<(), Invalid> {
        if s.data.len() > COMM_MAX + 1 {
            return Err(bad("a comm file", "data", "is longer than a thread's name"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_names_are_cut_at_fifteen_bytes_or_a_nul() {
        assert_eq!(name_written(b"0123456789abcdeXYZ"), "0123456789abcde");
        assert_eq!(name_written(b"ab\0cd"), "ab");
        assert_eq!(name_written(b""), "");
        let mut f = ProcComm::new(1, b"name\n".to_vec());
        let mut pos = 0;
        assert_eq!(f.read(&mut pos, 100, None).unwrap(), b"name\n");
        assert!(matches!(
            f.write(&mut pos, b"x", None),
            Err(IoErr::Errno(libc::EINVAL))
        ));
    }
}
