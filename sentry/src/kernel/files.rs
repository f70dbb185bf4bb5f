//! The tasks' fd tables: what the kernel itself does to them (closing wakes the other
//! ends of what a table drops).

use std::rc::Rc;

use super::Kernel;
use crate::fs::file::FileRef;
use crate::mm::Errno;
use crate::wait::WaitKey;

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

    /// Closes `fd` of task `tid`, waking whoever waits on a pipe end it drops. The
    /// process's record locks on the file go, and the locks of the description if this
    /// was its last reference.
    pub(crate) fn close_fd(&mut self, tid: i32, fd: i32) -> Result<(), Errno> {
        let f = self.tasks[&tid]
            .files
            .borrow_mut()
            .remove(fd)
            .ok_or(libc::EBADF)?;
        let key = f.borrow().notify_key();
        let pid = self.tasks[&tid].tgid;
        if self.locks.has_process_locks(pid) {
            if let Ok(file) = crate::fs::lock::file_key(&f) {
                if let Some(id) = self.locks.close(pid, file) {
                    self.notify(&WaitKey::Object(id));
                }
            }
        }
        let file = Rc::downgrade(&f);
        drop(f);
        if let Some(key) = key {
            self.notify_closed(&key, &file);
        }
        self.release_dropped_locks();
        Ok(())
    }

    /// Drops the locks of descriptions that are gone and wakes their waiters.
    pub(crate) fn release_dropped_locks(&mut self) {
        for id in self.locks.purge() {
            self.notify(&WaitKey::Object(id));
        }
    }

    /// Process `pid` is gone: its record locks go.
    pub(crate) fn release_process_locks(&mut self, pid: i32) {
        for id in self.locks.exit(pid) {
            self.notify(&WaitKey::Object(id));
        }
    }

    /// The sandbox's file locks.
    pub(crate) fn locks(&mut self) -> &mut crate::fs::lock::LockTable {
        &mut self.locks
    }

    /// Puts back a saved lock on file `key`, held through the restored description `file`.
    pub(crate) fn restore_lock(
        &mut self,
        key: crate::fs::lock::FileKey,
        lock: &crate::fs::lock::LockSaved,
        file: &FileRef,
    ) {
        let next = &mut self.next_obj;
        self.locks.restore(key, lock, file, &mut || {
            *next += 1;
            *next
        });
    }

    /// Sets or removes a file lock; a file's first lock gets a new wait key.
    pub(crate) fn set_lock(
        &mut self,
        key: crate::fs::lock::FileKey,
        req: crate::fs::lock::Request,
    ) -> Result<Result<Option<u64>, crate::fs::lock::Blocked>, Errno> {
        let next = &mut self.next_obj;
        self.locks.set(key, req, &mut || {
            *next += 1;
            *next
        })
    }
}
