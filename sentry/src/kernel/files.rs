//! The tasks' fd tables: what the kernel itself does to them (closing wakes the other
//! ends of what a table drops).

use super::Kernel;
use crate::fs::file::FileRef;
use crate::mm::Errno;

impl Kernel {
    /// The open file `fd` names in task `tid`'s table (EBADF when none).
    pub(crate) fn file(&self, tid: i32, fd: u64) -> Result<FileRef, Errno> {
        if fd > i32::MAX as u64 {
            return Err(libc::EBADF);
        }
        self.tasks[&tid]
            .files
            .borrow()
            .get(fd as i32)
            .ok_or(libc::EBADF)
    }

    /// Closes `fd` of task `tid`, waking whoever waits on a pipe end it drops.
    pub(crate) fn close_fd(&mut self, tid: i32, fd: i32) -> Result<(), Errno> {
        let f = self.tasks[&tid]
            .files
            .borrow_mut()
            .remove(fd)
            .ok_or(libc::EBADF)?;
        let key = f.borrow().notify_key();
        drop(f);
        if let Some(key) = key {
            self.notify(&key);
        }
        Ok(())
    }
}
