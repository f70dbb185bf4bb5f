//! Guest path resolution for a task: its cwd, dirfds, the walk through the VFS, and the
//! permission checks on what the walk finds (creating, deleting, giving a new node to its
//! creator).

use super::Kernel;
use crate::creds::{Creds, Inode, MAY_EXEC, MAY_WRITE};
use crate::fs::Resolved;
use crate::mm::Errno;

impl Kernel {
    // ---- paths ----

    /// Resolves a guest path for `tid` (relative to its cwd).
    pub(crate) fn resolve(
        &self,
        tid: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let cwd = self.tasks[&tid].fs.borrow().cwd.clone();
        self.resolve_at(tid, &cwd, path, follow)
    }

    pub(crate) fn resolve_at(
        &self,
        tid: i32,
        dir: &str,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
        self.vfs.resolve(&look, self.creds(tid), dir, path, follow)
    }

    /// The guest directory a `*at` call's dirfd names.
    /// An empty path names nothing (ENOENT) whatever dirfd is: the calls that take
    /// AT_EMPTY_PATH handle it before.
    pub(crate) fn dirfd_path(&self, tid: i32, dirfd: i32, path: &[u8]) -> Result<String, Errno> {
        if path.is_empty() {
            return Err(libc::ENOENT);
        }
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
            if crate::kernel::procfs::dir_of_gone_process(self, &f.path) {
                return Err(libc::ESRCH);
            }
            Ok(f.path.clone())
        } else {
            Err(libc::ENOTDIR)
        }
    }

    pub(crate) fn resolve_dirfd(
        &self,
        tid: i32,
        dirfd: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let dir = self.dirfd_path(tid, dirfd, path)?;
        self.resolve_at(tid, &dir, path, follow)
    }

    /// As `resolve_dirfd`, walking with `creds` instead of the task's credentials
    /// (access(2) checks with the real ids).
    pub(crate) fn resolve_dirfd_as(
        &mut self,
        tid: i32,
        creds: Creds,
        dirfd: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let saved = std::mem::replace(&mut self.task_mut(tid).creds, creds);
        let r = self.resolve_dirfd(tid, dirfd, path, follow);
        self.task_mut(tid).creds = saved;
        r
    }

    /// The target of the symlink `r` names (None when it is not a symlink).
    pub(crate) fn readlink(&self, tid: i32, r: &Resolved) -> Result<Option<String>, Errno> {
        let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
        self.vfs
            .lstat(&look, r.mount, &r.rel)
            .map(|(_, target)| target)
    }

    /// inotify: what `r` names, looked up before an operation on it, when anything is
    /// watched (None otherwise, without a lookup).
    pub(crate) fn notify_target(&self, r: &Resolved) -> Option<crate::fs::inotify::Target> {
        (crate::fs::inotify::watching() && r.file.is_none())
            .then(|| self.vfs.notify_target(&r.path, None, true))
    }

    // ---- permissions on the walk's result ----

    /// The directory that holds `r` (which is not a mount root).
    pub(crate) fn parent_inode(&self, tid: i32, r: &Resolved) -> Result<Inode, i32> {
        let comps = crate::fs::split(&r.path);
        let parent = &comps[..comps.len().saturating_sub(1)];
        let (m, rel) = self.vfs.mount_for(parent);
        let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
        self.vfs.lstat(&look, m, &rel).map(|(st, _)| (&st).into())
    }

    /// Creating `r` needs write and search permission on its directory; returns it.
    pub(crate) fn may_create(&self, tid: i32, r: &Resolved) -> Result<Inode, i32> {
        let dir = self.parent_inode(tid, r)?;
        self.creds(tid).may(&dir, MAY_WRITE | MAY_EXEC)?;
        Ok(dir)
    }

    /// Removing (or renaming away) the existing `r`: write and search permission on its
    /// directory, and the sticky-directory rule.
    pub(crate) fn may_delete(&self, tid: i32, r: &Resolved) -> Result<(), i32> {
        let dir = self.may_create(tid, r)?;
        let victim: Inode = (&self.lstat_resolved(tid, r)?).into();
        self.creds(tid).may_delete_from(&dir, &victim)
    }

    /// Gives a node the guest just created (through the sentry, as host root) to its
    /// creator: its fs uid, and its fs gid unless the directory is set-group-ID (then the
    /// host already gave it the directory's group). chown clears set-ID bits, which `mode`
    /// (when given) puts back.
    pub(crate) fn give_to_creator(
        &self,
        tid: i32,
        r: &Resolved,
        dir: &Inode,
        mode: Option<u32>,
    ) -> Result<(), i32> {
        let (uid, gid, _) = self.creds(tid).new_file_owner(dir);
        let gid = if dir.mode & libc::S_ISGID != 0 {
            dir.gid
        } else {
            gid
        };
        if (uid, gid) == (0, 0) {
            return Ok(());
        }
        let (d, name) = self.vfs.host_parent(r.mount, &r.rel)?;
        nix::unistd::fchownat(
            Some(std::os::fd::AsRawFd::as_raw_fd(&d)),
            name,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| e as i32)?;
        if let Some(m) = mode.filter(|m| m & 0o6000 != 0) {
            nix::sys::stat::fchmodat(
                Some(std::os::fd::AsRawFd::as_raw_fd(&d)),
                name,
                nix::sys::stat::Mode::from_bits_truncate(m),
                nix::sys::stat::FchmodatFlags::NoFollowSymlink,
            )
            .map_err(|e| e as i32)?;
        }
        Ok(())
    }

    pub(crate) fn lstat_resolved(&self, tid: i32, r: &Resolved) -> Result<libc::stat, i32> {
        if !r.exists {
            return Err(libc::ENOENT);
        }
        if let Some(f) = &r.file {
            return f.borrow().imp.stat();
        }
        let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
        let mut st = self.vfs.stat_node(&look, r.mount, &r.rel)?;
        // A process's id map files belong to it (its effective ids), as Linux's.
        if let Some((pid, _)) = crate::kernel::procfs::id_map_file(&r.rel) {
            if matches!(self.vfs.mounts[r.mount].fs, crate::fs::MountFs::Proc) {
                if let Some(g) = self.tasks.get(&pid).map(|t| &self.tgs[&t.tgid]) {
                    (st.st_uid, st.st_gid) = (g.creds.euid, g.creds.egid);
                }
            }
        }
        Ok(st)
    }
}
