//! Path calls: open, stat, mkdir, unlink, rename, links, chmod/chown, chdir, getcwd.

use std::os::fd::AsFd;

use super::ret;
use crate::creds::{Creds, Inode, CAP_CHOWN, MAY_EXEC, MAY_READ, MAY_WRITE};
use crate::fs::dev::DevFile;
use crate::fs::file::{FileImpl, OpenFile};
use crate::fs::host::HostFile;
use crate::fs::synthetic::{SynthDir, SynthFile};
use crate::fs::{MountFs, Resolved, SynthNode};
use crate::kernel::{err, Kernel, Sys};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

impl Kernel {
    pub fn read_path(&self, tid: i32, addr: u64) -> Result<Vec<u8>, i32> {
        let p = self.read_cstr(tid, addr, 4096)?;
        if p.len() >= 4096 {
            return Err(libc::ENAMETOOLONG);
        }
        Ok(p)
    }

    pub fn creds(&self, tid: i32) -> &Creds {
        &self.tg_of(tid).creds
    }

    /// The directory that holds `r` (which is not a mount root).
    fn parent_inode(&self, tid: i32, r: &Resolved) -> Result<Inode, i32> {
        let comps = crate::fs::split(&r.path);
        let parent = &comps[..comps.len().saturating_sub(1)];
        let (m, rel) = self.vfs.mount_for(parent);
        let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
        self.vfs.lstat(&look, m, &rel).map(|(st, _)| (&st).into())
    }

    /// Creating `r` needs write and search permission on its directory; returns it.
    fn may_create(&self, tid: i32, r: &Resolved) -> Result<Inode, i32> {
        let dir = self.parent_inode(tid, r)?;
        self.creds(tid).may(&dir, MAY_WRITE | MAY_EXEC)?;
        Ok(dir)
    }

    /// Removing (or renaming away) the existing `r`: write and search permission on its
    /// directory, and the sticky-directory rule.
    fn may_delete(&self, tid: i32, r: &Resolved) -> Result<(), i32> {
        let dir = self.may_create(tid, r)?;
        let victim: Inode = (&self.lstat_resolved(tid, r)?).into();
        self.creds(tid).may_delete_from(&dir, &victim)
    }

    /// Gives a node the guest just created (through the sentry, as host root) to its
    /// creator: its fs uid, and its fs gid unless the directory is set-group-ID (then the
    /// host already gave it the directory's group). chown clears set-ID bits, which `mode`
    /// (when given) puts back.
    fn give_to_creator(
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

    fn lstat_resolved(&self, tid: i32, r: &Resolved) -> Result<libc::stat, i32> {
        if !r.exists {
            return Err(libc::ENOENT);
        }
        let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
        self.vfs.lstat(&look, r.mount, &r.rel).map(|(st, _)| st)
    }

    /// Opens guest `path` and returns the open file (not yet in the fd table), with the
    /// permission checks open(2) makes.
    pub fn open_path(
        &mut self,
        tid: i32,
        dirfd: i32,
        path: &[u8],
        flags: i32,
        mode: u32,
    ) -> Result<crate::fs::file::FileRef, i32> {
        self.open_checked(tid, dirfd, path, flags, mode, true)
    }

    /// `open_path`; with `check` false the file's own mode is not checked against the
    /// access mode (execve checks execute permission instead of read).
    pub fn open_checked(
        &mut self,
        tid: i32,
        dirfd: i32,
        path: &[u8],
        flags: i32,
        mode: u32,
        check: bool,
    ) -> Result<crate::fs::file::FileRef, i32> {
        if flags & libc::O_TMPFILE == libc::O_TMPFILE {
            return Err(libc::EOPNOTSUPP);
        }
        let creat = flags & libc::O_CREAT != 0;
        let excl = creat && flags & libc::O_EXCL != 0;
        let follow = flags & libc::O_NOFOLLOW == 0 && !excl;
        let r = self.resolve_dirfd(tid, dirfd, path, follow)?;
        let acc = flags & libc::O_ACCMODE;
        let wants_write = acc != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if r.exists && excl {
            return Err(libc::EEXIST);
        }
        let mut created_in = None;
        if r.exists && check && flags & libc::O_PATH == 0 {
            let ino: Inode = (&self.lstat_resolved(tid, &r)?).into();
            let mut mask = 0;
            if acc != libc::O_WRONLY {
                mask |= MAY_READ;
            }
            if wants_write {
                mask |= MAY_WRITE;
            }
            self.creds(tid).may(&ino, mask)?;
        } else if !r.exists && creat {
            created_in = Some(self.may_create(tid, &r)?);
        }
        let umask = self.tasks[&tid].fs.borrow().umask;
        let keep = libc::O_ACCMODE
            | libc::O_APPEND
            | libc::O_NONBLOCK
            | libc::O_PATH
            | libc::O_DIRECT
            | libc::O_NOATIME
            | libc::O_SYNC
            | libc::O_DSYNC;
        let gflags = (flags & keep) | libc::O_LARGEFILE;
        match &self.vfs.mounts[r.mount].fs {
            MountFs::Host { .. } => {
                if !r.exists && !creat {
                    return Err(libc::ENOENT);
                }
                if (wants_write && flags & libc::O_PATH == 0 || (!r.exists && creat))
                    && self.vfs.mounts[r.mount].readonly
                {
                    return Err(libc::EROFS);
                }
                let hostflags = (flags
                    & (libc::O_ACCMODE
                        | libc::O_APPEND
                        | libc::O_TRUNC
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_DIRECTORY
                        | libc::O_PATH
                        | libc::O_SYNC
                        | libc::O_DSYNC))
                    | libc::O_NONBLOCK
                    | libc::O_NOCTTY;
                let fd = self.vfs.host_open(&r, hostflags, mode & 0o7777 & !umask)?;
                if let Some(dir) = created_in {
                    self.give_to_creator(tid, &r, &dir, Some(mode & 0o7777 & !umask))?;
                }
                let st = crate::fs::host_sys::fstat(fd.as_fd())?;
                let fmt = st.st_mode & libc::S_IFMT;
                let dir = fmt == libc::S_IFDIR;
                if fmt == libc::S_IFIFO || fmt == libc::S_IFCHR || fmt == libc::S_IFSOCK {
                    // Device and FIFO nodes on a host mount are not opened through.
                    if flags & libc::O_PATH == 0 {
                        return Err(libc::EACCES);
                    }
                }
                if flags & libc::O_PATH == 0 {
                    let fl = nix::fcntl::OFlag::from_bits_truncate(flags & libc::O_APPEND);
                    let _ = nix::fcntl::fcntl(
                        std::os::fd::AsRawFd::as_raw_fd(&fd),
                        nix::fcntl::FcntlArg::F_SETFL(fl),
                    );
                }
                Ok(OpenFile::new(
                    Box::new(HostFile::new(fd, dir)),
                    gflags,
                    r.path,
                ))
            }
            _ => {
                if !r.exists {
                    return Err(if creat { libc::EACCES } else { libc::ENOENT });
                }
                let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
                let node = self.vfs.synth(&look, r.mount, &r.rel)?;
                let kind: Box<dyn FileImpl> = match node {
                    SynthNode::Dir(entries) => {
                        if wants_write {
                            return Err(libc::EISDIR);
                        }
                        Box::new(SynthDir::new(entries))
                    }
                    SynthNode::File(d) => {
                        if flags & libc::O_DIRECTORY != 0 {
                            return Err(libc::ENOTDIR);
                        }
                        if wants_write {
                            return Err(libc::EACCES);
                        }
                        Box::new(SynthFile::new(d))
                    }
                    SynthNode::Dev(d) => Box::new(DevFile::new(d)),
                    SynthNode::Symlink(_) => return Err(libc::ELOOP),
                };
                if flags & libc::O_DIRECTORY != 0 && !kind.is_dir() {
                    return Err(libc::ENOTDIR);
                }
                Ok(OpenFile::new(kind, gflags, r.path))
            }
        }
    }

    pub fn sys_openat(&mut self, tid: i32, dirfd: u64, path: u64, flags: u64, mode: u64) -> Sys {
        let p = tryk!(self.read_path(tid, path));
        let flags = flags as i32;
        let f = tryk!(self.open_path(tid, dirfd as i32, &p, flags, mode as u32));
        ret(self.tasks[&tid]
            .files
            .borrow_mut()
            .add(f, flags & libc::O_CLOEXEC != 0, 0)
            .map(|fd| fd as i64))
    }

    pub fn sys_fstatat(&mut self, tid: i32, dirfd: u64, path: u64, buf: u64, flags: u64) -> Sys {
        let st = tryk!(self.stat_at(tid, dirfd, path, flags));
        ret(self
            .write_mem(tid, buf, &crate::fs::stat_bytes(&st))
            .map(|_| 0))
    }

    fn stat_at(&mut self, tid: i32, dirfd: u64, path: u64, flags: u64) -> Result<libc::stat, i32> {
        let p = self.read_path(tid, path)?;
        let flags = flags as i32;
        if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
            let f = if dirfd as i32 == libc::AT_FDCWD {
                let cwd = self.tasks[&tid].fs.borrow().cwd.clone();
                let r = self.resolve(tid, cwd.as_bytes(), true)?;
                return self.lstat_resolved(tid, &r);
            } else {
                self.file(tid, dirfd)?
            };
            return f.borrow().imp.stat();
        }
        let r = self.resolve_dirfd(
            tid,
            dirfd as i32,
            &p,
            flags & libc::AT_SYMLINK_NOFOLLOW == 0,
        )?;
        self.lstat_resolved(tid, &r)
    }

    pub fn sys_statx(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let st = tryk!(self.stat_at(
            tid,
            a[0],
            a[1],
            a[2] & (libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) as u64
        ));
        let mut b = vec![0u8; 256];
        let put = |b: &mut Vec<u8>, off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(&mut b, 0, &0x7ffu32.to_le_bytes());
        put(&mut b, 4, &(st.st_blksize as u32).to_le_bytes());
        put(&mut b, 16, &(st.st_nlink as u32).to_le_bytes());
        put(&mut b, 20, &st.st_uid.to_le_bytes());
        put(&mut b, 24, &st.st_gid.to_le_bytes());
        put(&mut b, 28, &(st.st_mode as u16).to_le_bytes());
        put(&mut b, 32, &st.st_ino.to_le_bytes());
        put(&mut b, 40, &(st.st_size as u64).to_le_bytes());
        put(&mut b, 48, &(st.st_blocks as u64).to_le_bytes());
        for (off, s, ns) in [
            (0x40, st.st_atime, st.st_atime_nsec),
            (0x60, st.st_ctime, st.st_ctime_nsec),
            (0x70, st.st_mtime, st.st_mtime_nsec),
        ] {
            put(&mut b, off, &s.to_le_bytes());
            put(&mut b, off + 8, &(ns as u32).to_le_bytes());
        }
        put(&mut b, 0x80, &libc::major(st.st_rdev).to_le_bytes());
        put(&mut b, 0x84, &libc::minor(st.st_rdev).to_le_bytes());
        put(&mut b, 0x88, &libc::major(st.st_dev).to_le_bytes());
        put(&mut b, 0x8c, &libc::minor(st.st_dev).to_le_bytes());
        ret(self.write_mem(tid, a[4], &b).map(|_| 0))
    }

    /// access/faccessat/faccessat2: checked with the real ids (and a real root's
    /// capabilities) unless AT_EACCESS asks for the effective ones.
    pub fn sys_faccessat(&mut self, tid: i32, dirfd: u64, path: u64, mode: u64, flags: u64) -> Sys {
        let flags = flags as i32;
        if mode & !7 != 0
            || flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0
        {
            return err(libc::EINVAL);
        }
        let p = tryk!(self.read_path(tid, path));
        let real = self.creds(tid).for_access();
        let creds = if flags & libc::AT_EACCESS != 0 {
            self.creds(tid).clone()
        } else {
            real
        };
        // The walk itself is checked with the same credentials.
        let saved = std::mem::replace(&mut self.tg_of_mut(tid).creds, creds.clone());
        let r = self.resolve_dirfd(
            tid,
            dirfd as i32,
            &p,
            flags & libc::AT_SYMLINK_NOFOLLOW == 0,
        );
        self.tg_of_mut(tid).creds = saved;
        let r = tryk!(r);
        let st = tryk!(self.lstat_resolved(tid, &r));
        if mode & 2 != 0 && self.vfs.readonly(&r) && st.st_mode & libc::S_IFMT != libc::S_IFCHR {
            return err(libc::EROFS);
        }
        ret(creds.may(&(&st).into(), mode as u32).map(|_| 0))
    }

    pub fn sys_mkdirat(&mut self, tid: i32, dirfd: u64, path: u64, mode: u64) -> Sys {
        let p = tryk!(self.read_path(tid, path));
        let r = tryk!(self.resolve_dirfd(tid, dirfd as i32, &p, false));
        if r.exists {
            return err(libc::EEXIST);
        }
        let dir = tryk!(self.may_create(tid, &r));
        let umask = self.tasks[&tid].fs.borrow().umask;
        let mode = mode as u32 & 0o7777 & !umask;
        tryk!(self.vfs.mkdir(&r, mode));
        ret(self.give_to_creator(tid, &r, &dir, None).map(|_| 0))
    }

    pub fn sys_unlinkat(&mut self, tid: i32, dirfd: u64, path: u64, flags: u64) -> Sys {
        let p = tryk!(self.read_path(tid, path));
        let r = tryk!(self.resolve_dirfd(tid, dirfd as i32, &p, false));
        if !r.exists {
            return err(libc::ENOENT);
        }
        if !r.rel.is_empty() {
            tryk!(self.may_delete(tid, &r));
        }
        ret(self
            .vfs
            .unlink(&r, flags as i32 & libc::AT_REMOVEDIR != 0)
            .map(|_| 0))
    }

    pub fn sys_renameat(
        &mut self,
        tid: i32,
        od: u64,
        op: u64,
        nd: u64,
        np: u64,
        flags: u64,
    ) -> Sys {
        let op = tryk!(self.read_path(tid, op));
        let np = tryk!(self.read_path(tid, np));
        let from = tryk!(self.resolve_dirfd(tid, od as i32, &op, false));
        let to = tryk!(self.resolve_dirfd(tid, nd as i32, &np, false));
        if !from.exists {
            return err(libc::ENOENT);
        }
        if !from.rel.is_empty() && !to.rel.is_empty() {
            tryk!(self.may_delete(tid, &from));
            if to.exists {
                tryk!(self.may_delete(tid, &to));
            } else {
                tryk!(self.may_create(tid, &to));
            }
            // A directory moving to another directory rewrites its "..": it must be writable.
            let st = tryk!(self.lstat_resolved(tid, &from));
            let parent = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_string());
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR && parent(&from.path) != parent(&to.path)
            {
                tryk!(self.creds(tid).may(&(&st).into(), MAY_WRITE));
            }
        }
        ret(self.vfs.rename(&from, &to, flags as u32).map(|_| 0))
    }

    pub fn sys_linkat(&mut self, tid: i32, od: u64, op: u64, nd: u64, np: u64, flags: u64) -> Sys {
        let op = tryk!(self.read_path(tid, op));
        let np = tryk!(self.read_path(tid, np));
        let from = tryk!(self.resolve_dirfd(
            tid,
            od as i32,
            &op,
            flags as i32 & libc::AT_SYMLINK_FOLLOW != 0
        ));
        let to = tryk!(self.resolve_dirfd(tid, nd as i32, &np, false));
        if !from.exists {
            return err(libc::ENOENT);
        }
        if to.exists {
            return err(libc::EEXIST);
        }
        tryk!(self.may_create(tid, &to));
        // fs.protected_hardlinks: linking someone else's file needs read and write on it.
        let st = tryk!(self.lstat_resolved(tid, &from));
        let ino: Inode = (&st).into();
        let c = self.creds(tid);
        if !c.owns(&ino)
            && (st.st_mode & libc::S_IFMT != libc::S_IFREG
                || st.st_mode & libc::S_ISUID != 0
                || c.may(&ino, MAY_READ | MAY_WRITE).is_err())
        {
            return err(libc::EPERM);
        }
        ret(self.vfs.link(&from, &to).map(|_| 0))
    }

    pub fn sys_symlinkat(&mut self, tid: i32, target: u64, dirfd: u64, path: u64) -> Sys {
        let t = tryk!(self.read_path(tid, target));
        if t.is_empty() {
            return err(libc::ENOENT);
        }
        let p = tryk!(self.read_path(tid, path));
        let at = tryk!(self.resolve_dirfd(tid, dirfd as i32, &p, false));
        if at.exists {
            return err(libc::EEXIST);
        }
        let dir = tryk!(self.may_create(tid, &at));
        tryk!(self.vfs.symlink(&String::from_utf8_lossy(&t), &at));
        ret(self.give_to_creator(tid, &at, &dir, None).map(|_| 0))
    }

    pub fn sys_readlinkat(&mut self, tid: i32, dirfd: u64, path: u64, buf: u64, size: u64) -> Sys {
        if (size as i64) <= 0 {
            return err(libc::EINVAL);
        }
        let p = tryk!(self.read_path(tid, path));
        let r = tryk!(self.resolve_dirfd(tid, dirfd as i32, &p, false));
        if !r.exists {
            return err(libc::ENOENT);
        }
        let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
        let (_, target) = tryk!(self.vfs.lstat(&look, r.mount, &r.rel));
        let Some(t) = target else {
            return err(libc::EINVAL);
        };
        let n = t.len().min(size as usize);
        ret(self
            .write_mem(tid, buf, &t.as_bytes()[..n])
            .map(|_| n as i64))
    }

    pub fn sys_fchmodat(&mut self, tid: i32, dirfd: u64, path: u64, mode: u64) -> Sys {
        let p = tryk!(self.read_path(tid, path));
        let r = tryk!(self.resolve_dirfd(tid, dirfd as i32, &p, true));
        if !r.exists {
            return err(libc::ENOENT);
        }
        let ino: Inode = (&tryk!(self.lstat_resolved(tid, &r))).into();
        let mode = tryk!(self.chmod_allowed(tid, &ino, mode as u32 & 0o7777));
        ret(self.vfs.chmod(&r, mode).map(|_| 0))
    }

    /// chmod is for the owner (or CAP_FOWNER); returns the mode it may set.
    fn chmod_allowed(&self, tid: i32, ino: &Inode, mode: u32) -> Result<u32, i32> {
        let c = self.creds(tid);
        if !c.owns(ino) {
            return Err(libc::EPERM);
        }
        Ok(c.chmod_mode(ino, mode))
    }

    /// chown: changing the owner needs CAP_CHOWN; the owner may change the group to one
    /// of its own groups. `u32::MAX` leaves an id as it is.
    fn chown_allowed(&self, tid: i32, ino: &Inode, uid: u32, gid: u32) -> Result<(), i32> {
        let c = self.creds(tid);
        if c.has(CAP_CHOWN) {
            return Ok(());
        }
        if uid != u32::MAX && uid != ino.uid {
            return Err(libc::EPERM);
        }
        if gid != u32::MAX && gid != ino.gid && (c.fsuid != ino.uid || !c.in_group(gid)) {
            return Err(libc::EPERM);
        }
        if (uid != u32::MAX || gid != u32::MAX) && c.fsuid != ino.uid {
            return Err(libc::EPERM);
        }
        Ok(())
    }

    pub fn sys_fchmod(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = tryk!(self.file(tid, a[0]));
        let mode = a[1] as u32 & 0o7777;
        let r = f
            .borrow_mut()
            .imp
            .chmod(&|st| self.chmod_allowed(tid, &st.into(), mode));
        ret(r.map(|_| 0))
    }

    pub fn sys_fchownat(
        &mut self,
        tid: i32,
        dirfd: u64,
        path: u64,
        uid: u64,
        gid: u64,
        flags: u64,
    ) -> Sys {
        let p = tryk!(self.read_path(tid, path));
        let r = tryk!(self.resolve_dirfd(
            tid,
            dirfd as i32,
            &p,
            flags as i32 & libc::AT_SYMLINK_NOFOLLOW == 0
        ));
        if !r.exists {
            return err(libc::ENOENT);
        }
        let ino: Inode = (&tryk!(self.lstat_resolved(tid, &r))).into();
        tryk!(self.chown_allowed(tid, &ino, uid as u32, gid as u32));
        ret(self.vfs.chown(&r, uid as u32, gid as u32).map(|_| 0))
    }

    pub fn sys_fchown(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = tryk!(self.file(tid, a[0]));
        let (uid, gid) = (a[1] as u32, a[2] as u32);
        let r = f.borrow_mut().imp.chown(
            (uid != u32::MAX).then_some(uid),
            (gid != u32::MAX).then_some(gid),
            &|st| self.chown_allowed(tid, &st.into(), uid, gid),
        );
        ret(r.map(|_| 0))
    }

    pub fn sys_utimensat(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (dirfd, path, times, flags) = (a[0], a[1], a[2], a[3] as i32);
        let ts = |k: &Kernel, i: u64| -> Result<nix::sys::time::TimeSpec, i32> {
            if times == 0 {
                return Ok(nix::sys::time::TimeSpec::new(0, libc::UTIME_NOW));
            }
            let b = k.read_mem(tid, times + i * 16, 16)?;
            let s = i64::from_le_bytes(b[..8].try_into().expect("8"));
            let ns = i64::from_le_bytes(b[8..].try_into().expect("8"));
            Ok(nix::sys::time::TimeSpec::new(s, ns))
        };
        let at = tryk!(ts(self, 0));
        let mt = tryk!(ts(self, 1));
        // Explicit times are for the owner (or CAP_FOWNER); "now" also for a writer.
        let omit_or_now = |t: &nix::sys::time::TimeSpec| {
            t.tv_nsec() == libc::UTIME_NOW || t.tv_nsec() == libc::UTIME_OMIT
        };
        let just_now = omit_or_now(&at) && omit_or_now(&mt);
        let allowed = |k: &Kernel, st: &libc::stat| -> Result<(), i32> {
            let ino: Inode = st.into();
            let c = k.creds(tid);
            if c.owns(&ino) || (just_now && c.may(&ino, MAY_WRITE).is_ok()) {
                Ok(())
            } else if just_now {
                Err(libc::EACCES)
            } else {
                Err(libc::EPERM)
            }
        };
        if path == 0 {
            let f = tryk!(self.file(tid, dirfd));
            let r = f
                .borrow_mut()
                .imp
                .set_times(&at, &mt, &|st| allowed(self, st));
            return ret(r.map(|_| 0));
        }
        let p = tryk!(self.read_path(tid, path));
        let r = tryk!(self.resolve_dirfd(
            tid,
            dirfd as i32,
            &p,
            flags & libc::AT_SYMLINK_NOFOLLOW == 0
        ));
        if !r.exists {
            return err(libc::ENOENT);
        }
        if !matches!(self.vfs.mounts[r.mount].fs, MountFs::Host { .. }) {
            return Sys::Ret(0);
        }
        if self.vfs.readonly(&r) {
            return err(libc::EROFS);
        }
        tryk!(allowed(self, &tryk!(self.lstat_resolved(tid, &r))));
        let (dir, name) = tryk!(self.vfs.host_parent(r.mount, &r.rel));
        ret(nix::sys::stat::utimensat(
            Some(std::os::fd::AsRawFd::as_raw_fd(&dir)),
            name,
            &at,
            &mt,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map(|_| 0)
        .map_err(|e| e as i32))
    }

    pub fn sys_truncate(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let p = tryk!(self.read_path(tid, a[0]));
        if (a[1] as i64) < 0 {
            return err(libc::EINVAL);
        }
        let f = tryk!(self.open_path(tid, libc::AT_FDCWD, &p, libc::O_WRONLY, 0));
        let r = f.borrow_mut().truncate(a[1]);
        ret(r.map(|_| 0))
    }

    pub fn sys_chdir(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let p = tryk!(self.read_path(tid, a[0]));
        let r = tryk!(self.resolve(tid, &p, true));
        let st = tryk!(self.lstat_resolved(tid, &r));
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return err(libc::ENOTDIR);
        }
        tryk!(self.creds(tid).may(&(&st).into(), MAY_EXEC));
        self.tasks[&tid].fs.borrow_mut().cwd = r.path;
        Sys::Ret(0)
    }

    pub fn sys_fchdir(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let dir = tryk!(self.dirfd_path(tid, a[0] as i32, b"x"));
        self.tasks[&tid].fs.borrow_mut().cwd = dir;
        Sys::Ret(0)
    }

    pub fn sys_getcwd(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let mut cwd = self.tasks[&tid].fs.borrow().cwd.clone().into_bytes();
        cwd.push(0);
        if (a[1] as usize) < cwd.len() {
            return err(libc::ERANGE);
        }
        ret(self.write_mem(tid, a[0], &cwd).map(|_| cwd.len() as i64))
    }

    pub fn sys_umask(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let fs = self.tasks[&tid].fs.clone();
        let old = fs.borrow().umask;
        fs.borrow_mut().umask = a[0] as u32 & 0o777;
        Sys::Ret(old as i64)
    }

    pub fn sys_statfs(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        // struct statfs: type, bsize, blocks, bfree, bavail, files, ffree, fsid, namelen, frsize, flags, spare.
        let mut b = Vec::with_capacity(120);
        for v in [
            0x0102_1994u64,
            4096,
            1 << 20,
            1 << 19,
            1 << 19,
            1 << 20,
            1 << 19,
            0,
            255,
            4096,
            0,
            0,
            0,
            0,
            0,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        ret(self.write_mem(tid, a[1], &b).map(|_| 0))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use crate::kernel::Kernel;
    use crate::testing::{kernel, SCRATCH};

    /// A root with /etc (0755 root) holding secret (0600 root) and /pub (0777).
    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let mode = |p: &std::path::Path, m| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        mode(d.path(), 0o755);
        std::fs::create_dir(d.path().join("etc")).unwrap();
        mode(&d.path().join("etc"), 0o755);
        std::fs::write(d.path().join("etc/secret"), "s").unwrap();
        mode(&d.path().join("etc/secret"), 0o600);
        std::fs::create_dir(d.path().join("pub")).unwrap();
        mode(&d.path().join("pub"), 0o777);
        d
    }

    fn open(k: &mut Kernel, t: i32, path: &str, flags: i32) -> i64 {
        let p = k.put_str(t, SCRATCH, path);
        let at = libc::AT_FDCWD as u64;
        k.call(t, libc::SYS_openat, [at, p, flags as u64, 0o644, 0, 0])
            .unwrap()
    }

    fn root_can_chown() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn open_and_create_check_permissions_and_set_the_owner() {
        if !root_can_chown() {
            return; // the checks need files of several owners
        }
        let d = tree();
        let mut k = kernel(d.path());
        let u = k.test_process(1000, 1000);
        let eacces = -(libc::EACCES as i64);
        assert_eq!(open(&mut k, u, "/etc/secret", libc::O_RDONLY), eacces);
        assert_eq!(
            open(&mut k, u, "/etc/new", libc::O_CREAT | libc::O_WRONLY),
            eacces
        );
        assert!(open(&mut k, u, "/pub/mine", libc::O_CREAT | libc::O_WRONLY) >= 0);
        let md = std::fs::metadata(d.path().join("pub/mine")).unwrap();
        assert_eq!((md.uid(), md.gid(), md.mode() & 0o777), (1000, 1000, 0o644));
        assert!(!d.path().join("etc/new").exists());
        let r = k.test_process(0, 0);
        assert!(open(&mut k, r, "/etc/secret", libc::O_RDONLY) >= 0);
    }

    #[test]
    fn chmod_is_for_the_owner_and_mkdir_applies_the_umask() {
        if !root_can_chown() {
            return;
        }
        let d = tree();
        let mut k = kernel(d.path());
        let u = k.test_process(1000, 1000);
        let at = libc::AT_FDCWD as u64;
        let p = k.put_str(u, SCRATCH, "/etc/secret");
        assert_eq!(
            k.call(u, libc::SYS_fchmodat, [at, p, 0o777, 0, 0, 0]),
            Some(-(libc::EPERM as i64))
        );
        assert_eq!(
            k.call(u, libc::SYS_umask, [0o077, 0, 0, 0, 0, 0]),
            Some(0o022)
        );
        let p = k.put_str(u, SCRATCH, "/pub/dir");
        assert_eq!(
            k.call(u, libc::SYS_mkdirat, [at, p, 0o777, 0, 0, 0]),
            Some(0)
        );
        let md = std::fs::metadata(d.path().join("pub/dir")).unwrap();
        assert_eq!((md.uid(), md.mode() & 0o777), (1000, 0o700));
        let p = k.put_str(u, SCRATCH, "/pub/dir");
        assert_eq!(
            k.call(u, libc::SYS_fchmodat, [at, p, 0o755, 0, 0, 0]),
            Some(0)
        );
    }

    #[test]
    fn search_permission_is_checked_on_every_directory() {
        if !root_can_chown() {
            return;
        }
        let d = tree();
        std::fs::set_permissions(d.path().join("etc"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::fs::write(d.path().join("etc/open"), "o").unwrap();
        std::fs::set_permissions(
            d.path().join("etc/open"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let mut k = kernel(d.path());
        let u = k.test_process(1000, 1000);
        assert_eq!(
            open(&mut k, u, "/etc/open", libc::O_RDONLY),
            -(libc::EACCES as i64)
        );
        let p = k.put_str(u, SCRATCH, "/etc");
        assert_eq!(
            k.call(u, libc::SYS_chdir, [p, 0, 0, 0, 0, 0]),
            Some(-(libc::EACCES as i64))
        );
    }
}
