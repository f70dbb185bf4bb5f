//! Guest path resolution for a task: its cwd, dirfds, and the walk through the VFS.

use super::Kernel;
use crate::mm::Errno;

impl Kernel {
    // ---- paths ----

    /// Resolves a guest path for `tid` (relative to its cwd).
    pub fn resolve(
        &self,
        tid: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let cwd = self.tasks[&tid].fs.borrow().cwd.clone();
        self.resolve_at(tid, &cwd, path, follow)
    }

    pub fn resolve_at(
        &self,
        tid: i32,
        dir: &str,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
        let creds = &self.tg_of(tid).creds;
        self.vfs.resolve(&look, creds, dir, path, follow)
    }

    /// The guest directory a `*at` call's dirfd names.
    pub fn dirfd_path(&self, tid: i32, dirfd: i32, path: &[u8]) -> Result<String, Errno> {
        if path.first() == Some(&b'/') || dirfd == libc::AT_FDCWD {
            return Ok(self.tasks[&tid].fs.borrow().cwd.clone());
        }
        let f = self.tasks[&tid]
            .files
            .borrow()
            .get(dirfd)
            .ok_or(libc::EBADF)?;
        let f = f.borrow();
        if f.imp.is_dir() {
            Ok(f.path.clone())
        } else {
            Err(libc::ENOTDIR)
        }
    }

    pub fn resolve_dirfd(
        &self,
        tid: i32,
        dirfd: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let dir = self.dirfd_path(tid, dirfd, path)?;
        self.resolve_at(tid, &dir, path, follow)
    }
}
