//! Guest path resolution for a task: its cwd, dirfds, and the walk through the VFS.

use std::os::fd::AsFd;

use super::Kernel;
use crate::fs::file::FileKind;
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
        let look = |rel: &[String]| crate::fs::proc::lookup(self, tid, rel);
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
        match &f.kind {
            FileKind::Host { dir: true, .. } | FileKind::SynthDir(_) => Ok(f.path.clone()),
            FileKind::Host { fd, .. } if f.flags & libc::O_PATH != 0 => {
                let st = crate::fs::host_sys::fstat(fd.as_fd())?;
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    Ok(f.path.clone())
                } else {
                    Err(libc::ENOTDIR)
                }
            }
            _ => Err(libc::ENOTDIR),
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
