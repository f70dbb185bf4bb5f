//! Files and directories of a host passthrough mount: each holds the host fd the sentry
//! opened beneath the mount (never followed a link to get it), and the host fd's offset is
//! the file's.
//!
//! Saved as what to reopen: the description's guest path and flags, and the offset; a
//! restore reopens it by guest path in the new sandbox's mounts, and a regular file must
//! be the one checkpointed (its identity is saved and compared). A regular file its path
//! no longer reaches (deleted while open, or another file now under its name) is saved
//! with its data instead, and recreated unlinked: `crate::fs::ghost`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::checks::{path_ok, Invalid};
use crate::fs::file::{Allowed, FileImpl, IoErr, Mappable};
use crate::fs::ghost::{self, FileIdentity, GhostFile};
use crate::fs::host_sys;
use crate::fs::inodes::InodeNumbers;
use crate::fs::pagecache::{InodeKey, PageCaches};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::fs::Vfs;
use crate::mm::{Errno, MemoryFile};

pub struct HostFile {
    fd: OwnedFd,
    dir: bool,
    /// The host fd is a dup shared with another description (a file reopened through
    /// /proc/PID/fd after no path reached it any more), so this description keeps its
    /// own position (the `pos` of the calls) and reads and writes at it.
    own_offset: bool,
    /// A ghost file restored as an anonymous memory file: it has no name, but its host
    /// link count is 1, so the guest is told 0.
    anon_ghost: bool,
    /// The inode numbers the guest sees (its VFS's).
    inos: Rc<InodeNumbers>,
    /// The page caches of mapped files (its VFS's): reads and writes of a mapped file
    /// go through its cache.
    caches: Rc<PageCaches>,
}

impl HostFile {
    /// A host file or directory opened by the sentry, presented with `inos`.
    pub(crate) fn new(fd: OwnedFd, dir: bool, vfs: &Vfs) -> Self {
        HostFile {
            fd,
            dir,
            own_offset: false,
            anon_ghost: false,
            inos: vfs.inos.clone(),
            caches: vfs.caches.clone(),
        }
    }

    /// The host inode, when a cache of it may exist.
    fn cached_key(&self) -> Option<InodeKey> {
        if self.caches.is_empty() || self.dir {
            return None;
        }
        host_sys::fstat(self.fd.as_fd())
            .ok()
            .map(|st| (st.st_dev, st.st_ino))
    }

    /// The file offset the last read or write of `n` bytes started at.
    fn started_at(&self, pos_before: u64, off: Option<u64>, n: usize) -> u64 {
        match (off, self.own_offset) {
            (Some(o), _) => o,
            (None, true) => pos_before,
            (None, false) => {
                nix::unistd::lseek(self.fd.as_raw_fd(), 0, nix::unistd::Whence::SeekCur)
                    .map_or(0, |p| p as u64)
                    .saturating_sub(n as u64)
            }
        }
    }

    /// The pieces a mapping of `[off, off + len)` of this regular file maps, from its
    /// page cache (made on the first mapping).
    pub(crate) fn map_cached(
        &self,
        mf: &Rc<MemoryFile>,
        path: &str,
        off: u64,
        len: u64,
        shared_write: bool,
    ) -> Result<Vec<(u64, u64)>, Errno> {
        let st = host_sys::fstat(self.fd.as_fd())?;
        if self.dir || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(libc::ENODEV);
        }
        let key = (st.st_dev, st.st_ino);
        Ok(self
            .caches
            .map(mf, &self.fd, key, path, off, len, shared_write)?
            .pieces)
    }

    /// Whether the file has no name left (its link count is 0), as /proc/PID/fd says
    /// with " (deleted)".
    pub(crate) fn deleted(&self) -> bool {
        self.stat().is_ok_and(|st| st.st_nlink == 0)
    }

    /// F_GET_SEALS: the host file's seals (a tmpfs file has F_SEAL_SEAL, a file of a
    /// file system without seals is EINVAL), as the host says.
    pub(crate) fn seals(&self) -> Result<i32, Errno> {
        nix::fcntl::fcntl(self.fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GET_SEALS).map_err(host_err)
    }
}

fn host_err(e: nix::Error) -> Errno {
    e as i32
}

impl FileImpl for HostFile {
    /// A file with no name left is its path with " (deleted)", as Linux says.
    fn link_text(&self, path: &str) -> String {
        if self.deleted() {
            format!("{path} (deleted)")
        } else {
            path.to_string()
        }
    }

    fn read(&mut self, pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        if self.dir {
            return Err(IoErr::Errno(libc::EISDIR));
        }
        let mut buf = vec![0u8; len];
        let before = *pos;
        let n = match (off, self.own_offset) {
            (Some(o), _) => nix::sys::uio::pread(self.fd.as_fd(), &mut buf, o as i64),
            (None, true) => nix::sys::uio::pread(self.fd.as_fd(), &mut buf, *pos as i64),
            (None, false) => nix::unistd::read(self.fd.as_raw_fd(), &mut buf),
        }
        .map_err(host_err)?;
        if off.is_none() && self.own_offset {
            *pos += n as u64;
        }
        buf.truncate(n);
        if let Some(key) = self.cached_key() {
            let at = self.started_at(before, off, n);
            self.caches.overlay(key, at, &mut buf);
        }
        Ok(buf)
    }

    fn write(&mut self, pos: &mut u64, data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        if self.dir {
            return Err(IoErr::Errno(libc::EISDIR));
        }
        let before = *pos;
        let n = match (off, self.own_offset) {
            (Some(o), _) => nix::sys::uio::pwrite(self.fd.as_fd(), data, o as i64),
            (None, true) => nix::sys::uio::pwrite(self.fd.as_fd(), data, *pos as i64),
            (None, false) => nix::unistd::write(self.fd.as_fd(), data),
        }
        .map_err(host_err)?;
        if off.is_none() && self.own_offset {
            *pos += n as u64;
        }
        if let Some(key) = self.cached_key() {
            let at = self.started_at(before, off, n);
            self.caches.written(key, at, &data[..n]);
        }
        Ok(n)
    }

    fn seek(&mut self, pos: &mut u64, off: i64, whence: i32) -> Result<i64, Errno> {
        use nix::unistd::Whence;
        if self.own_offset {
            let size = host_sys::fstat(self.fd.as_fd())?.st_size;
            return crate::fs::file::seek_in(pos, size, off, whence);
        }
        let whence = match whence {
            0 => Whence::SeekSet,
            1 => Whence::SeekCur,
            2 => Whence::SeekEnd,
            3 => Whence::SeekData,
            4 => Whence::SeekHole,
            _ => return Err(libc::EINVAL),
        };
        nix::unistd::lseek(self.fd.as_raw_fd(), off, whence).map_err(host_err)
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        let mut st = host_sys::fstat(self.fd.as_fd())?;
        if self.anon_ghost {
            st.st_nlink = 0;
        }
        self.inos.present(&mut st);
        Ok(st)
    }

    fn statfs(&self) -> Option<Result<libc::statfs, Errno>> {
        Some(host_sys::fstatfs(self.fd.as_fd()))
    }

    fn getdents(&mut self, _pos: &mut u64, len: usize) -> Result<Vec<u8>, Errno> {
        if !self.dir {
            return Err(libc::ENOTDIR);
        }
        let mut buf = vec![0u8; len.min(1 << 20)];
        let n = host_sys::getdents64(self.fd.as_fd(), &mut buf)?;
        buf.truncate(n);
        let dev = host_sys::fstat(self.fd.as_fd())?.st_dev;
        self.inos.present_dirents(dev, &mut buf);
        Ok(buf)
    }

    fn mmap(&self, off: u64, len: u64) -> Result<Mappable, Errno> {
        if self.dir {
            return Err(libc::ENODEV);
        }
        let mut buf = vec![0u8; len.min(1 << 34) as usize];
        let mut done = 0;
        while done < buf.len() {
            match nix::sys::uio::pread(
                self.fd.as_fd(),
                &mut buf[done..],
                (off + done as u64) as i64,
            ) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) => return Err(host_err(e)),
            }
        }
        buf.truncate(done);
        Ok(Mappable {
            bytes: buf,
            shared_writable: false,
        })
    }

    fn is_dir(&self) -> bool {
        self.dir
    }

    fn epoll_watchable(&self) -> bool {
        false
    }

    fn sync(&mut self) -> Result<(), Errno> {
        if let Some(key) = self.cached_key() {
            self.caches.sync(key)?;
        }
        nix::unistd::fsync(self.fd.as_raw_fd()).map_err(host_err)
    }

    fn truncate(&mut self, len: u64) -> Result<(), Errno> {
        if self.dir {
            return Err(libc::EISDIR);
        }
        nix::unistd::ftruncate(self.fd.as_fd(), len as i64).map_err(host_err)?;
        if let Some(key) = self.cached_key() {
            self.caches.truncated(key, len);
        }
        Ok(())
    }

    fn allocate(&mut self, mode: i32, off: i64, len: i64) -> Result<(), Errno> {
        if self.dir {
            return Err(libc::EBADF);
        }
        // SAFETY: plain integer arguments on an fd we own.
        let r = unsafe { libc::fallocate(self.fd.as_raw_fd(), mode, off, len) };
        if r < 0 {
            return Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO));
        }
        if let Some(key) = self.cached_key() {
            // A punched hole or a zeroed range reads zeroes; any other mode may change
            // the size.
            if mode & (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE) != 0 {
                let (o, l) = (off.max(0) as u64, len.max(0) as u64);
                self.caches.zeroed(key, o, o.saturating_add(l));
            } else {
                self.caches.mark_stale();
            }
        }
        Ok(())
    }

    fn xattr_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    fn chmod(&mut self, mode_for: Allowed<u32>) -> Result<(), Errno> {
        let mode = mode_for(&host_sys::fstat(self.fd.as_fd())?)?;
        nix::sys::stat::fchmod(
            self.fd.as_raw_fd(),
            nix::sys::stat::Mode::from_bits_truncate(mode),
        )
        .map_err(host_err)
    }

    fn chown(
        &mut self,
        uid: Option<u32>,
        gid: Option<u32>,
        allowed: Allowed<()>,
    ) -> Result<(), Errno> {
        allowed(&host_sys::fstat(self.fd.as_fd())?)?;
        nix::unistd::fchown(
            self.fd.as_raw_fd(),
            uid.map(nix::unistd::Uid::from_raw),
            gid.map(nix::unistd::Gid::from_raw),
        )
        .map_err(host_err)
    }

    fn set_times(
        &mut self,
        atime: &nix::sys::time::TimeSpec,
        mtime: &nix::sys::time::TimeSpec,
        allowed: Allowed<()>,
    ) -> Result<(), Errno> {
        allowed(&host_sys::fstat(self.fd.as_fd())?)?;
        nix::sys::stat::futimens(self.fd.as_raw_fd(), atime, mtime).map_err(host_err)
    }

    /// A file no path reaches any more (deleted or renamed away): a description that
    /// shares the host fd (so only within its access mode) with a position of its own.
    fn reopen(&self, flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
        let held = nix::fcntl::fcntl(self.fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map_err(host_err)?;
        let (want, have) = (flags & libc::O_ACCMODE, held & libc::O_ACCMODE);
        if held & libc::O_PATH != 0 || (want != have && have != libc::O_RDWR) {
            return Err(libc::EACCES);
        }
        Ok(Box::new(HostFile {
            fd: self
                .fd
                .try_clone()
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EMFILE))?,
            dir: self.dir,
            own_offset: true,
            anon_ghost: self.anon_ghost,
            inos: self.inos.clone(),
            caches: self.caches.clone(),
        }))
    }

    fn set_status_flags(&mut self, flags: i32) {
        // Only O_APPEND matters to the host fd (it stays non-blocking for the sentry).
        let fl = nix::fcntl::OFlag::from_bits_truncate(flags & libc::O_APPEND);
        let _ = nix::fcntl::fcntl(self.fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(fl));
    }
}

/// A saved host file: reopened by the description's guest path and flags, or recreated
/// from its saved data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostFileState {
    pub dir: bool,
    /// The host fd's offset.
    pub offset: u64,
    /// A regular file reopened by path: the file it must be.
    pub identity: Option<FileIdentity>,
    /// A regular file its path no longer reached: its content, to recreate it unlinked.
    pub ghost: Option<GhostFile>,
    /// Such a file, whose content another description saved: that open file's id (the
    /// two stay descriptions of one file).
    pub ghost_of: Option<u64>,
}

impl Persist for HostFile {
    type State = HostFileState;

    fn save(&self, cx: &mut SaveCtx) -> HostFileState {
        let HostFile {
            fd,
            dir,
            own_offset,
            anon_ghost,
            inos,
            // Not saved: the VFS's (the kernel saves the caches).
            caches: _,
        } = self;
        // The host fd itself is not saved: its offset is (the description's own when it
        // keeps one), and the file is reopened (or recreated) with an fd of its own.
        let offset = if *own_offset {
            cx.pos() as i64
        } else {
            nix::unistd::lseek(fd.as_raw_fd(), 0, nix::unistd::Whence::SeekCur).unwrap_or(0)
        };
        let mut state = HostFileState {
            dir: *dir,
            offset: offset as u64,
            identity: None,
            ghost: None,
            ghost_of: None,
        };
        let Ok(st) = host_sys::fstat(fd.as_fd()) else {
            return state;
        };
        if *dir || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return state;
        }
        let named = ghost::at_path(cx.vfs(), cx.path()) == Some((st.st_dev, st.st_ino));
        if named && st.st_nlink > 0 && !*anon_ghost {
            state.identity = Some(FileIdentity::of(&st));
            return state;
        }
        let readable = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .is_ok_and(|fl| fl & libc::O_PATH == 0);
        if readable {
            if let Some(id) = cx.inode_saver((st.st_dev, st.st_ino)) {
                state.ghost_of = Some(id);
                return state;
            }
        }
        let path = cx.path().to_string();
        let ino = inos.guest(st.st_dev, st.st_ino);
        match ghost::save(fd.as_fd(), &st, ino, &path, cx.ghost_limit()) {
            Ok(g) => state.ghost = Some(g),
            Err(e) => cx.fail(e),
        }
        state
    }

    fn restore(cx: &mut RestoreCtx, f: &FileMeta, s: &HostFileState) -> Result<Self, KindError> {
        if let Some(of) = s.ghost_of {
            // Another description of the file open file `of` recreated: it shares that
            // host description, with an offset of its own.
            let (fd, anon_ghost) = cx.inode_saver(of)?;
            let (id, offset) = (f.id, s.offset);
            cx.link(move |files| {
                if let Some(me) = files.get(&id) {
                    me.borrow_mut().pos = offset;
                }
                Ok(())
            });
            return Ok(HostFile {
                fd,
                dir: false,
                own_offset: true,
                anon_ghost,
                inos: cx.vfs().inos.clone(),
                caches: cx.vfs().caches.clone(),
            });
        }
        let (fd, anon_ghost) = match &s.ghost {
            Some(g) => {
                let (fd, anon) =
                    ghost::create(cx.vfs(), f.path, g).map_err(|e| KindError::Recreate {
                        path: f.path.to_string(),
                        source: std::io::Error::from_raw_os_error(e),
                    })?;
                let fl = nix::fcntl::OFlag::from_bits_truncate(f.flags & libc::O_APPEND);
                let _ = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(fl));
                if let Ok(dup) = fd.try_clone() {
                    cx.recreated(dup, anon);
                }
                (fd, anon)
            }
            None => {
                let (fd, rebuilt) = reopen(cx.vfs(), f.path, f.flags, s.dir)?;
                if let (Some(id), false) = (&s.identity, rebuilt) {
                    let st = host_sys::fstat(fd.as_fd()).map_err(|e| KindError::Reopen {
                        path: f.path.to_string(),
                        source: std::io::Error::from_raw_os_error(e),
                    })?;
                    id.matches(&st).map_err(|detail| KindError::Changed {
                        path: f.path.to_string(),
                        detail,
                    })?;
                }
                (fd, false)
            }
        };
        if !s.dir {
            let _ = nix::unistd::lseek(
                fd.as_raw_fd(),
                s.offset as i64,
                nix::unistd::Whence::SeekSet,
            );
        }
        Ok(HostFile {
            fd,
            dir: s.dir,
            own_offset: false,
            anon_ghost,
            inos: cx.vfs().inos.clone(),
            caches: cx.vfs().caches.clone(),
        })
    }

    fn check(cx: &CheckCtx, s: &HostFileState) -> Result<(), Invalid> {
        path_ok(&cx.object, "path", cx.file.path, true)?;
        if s.offset > i64::MAX as u64 {
            return Err(cx.bad("offset", format!("{} is out of range", s.offset)));
        }
        if s.dir && (s.ghost.is_some() || s.identity.is_some() || s.ghost_of.is_some()) {
            return Err(cx.bad("ghost", "a directory has no saved content or identity"));
        }
        if let Some(of) = s.ghost_of {
            if s.ghost.is_some() || s.identity.is_some() {
                return Err(cx.bad(
                    "ghost",
                    "a file shares another's content or has its own, not both",
                ));
            }
            if of == cx.file.id || !cx.has_file(of) {
                return Err(cx.bad(
                    "ghost",
                    format!("its content is open file {of}'s, which is not another open file"),
                ));
            }
        }
        match &s.ghost {
            Some(_) if s.identity.is_some() => {
                Err(cx.bad("ghost", "a file is either reopened or recreated, not both"))
            }
            Some(g) => ghost::check(&cx.object, g),
            None => Ok(()),
        }
    }
}

/// Reopens a host file of the guest by its guest path, with the access mode and the flags
/// that matter of `flags`. Walks as the kernel (no permission checks: the guest had the
/// file open) and follows no final symlink. Also says whether the file is on a tmpfs
/// (rebuilt from the image, so a new inode of the same file).
pub(crate) fn reopen(
    vfs: &Vfs,
    path: &str,
    flags: i32,
    dir: bool,
) -> Result<(OwnedFd, bool), KindError> {
    let fail = |e: i32| KindError::Reopen {
        path: path.to_string(),
        source: std::io::Error::from_raw_os_error(e),
    };
    let r = ghost::resolve_as_kernel(vfs, path, false).map_err(fail)?;
    if !r.exists {
        return Err(fail(libc::ENOENT));
    }
    // An image cannot open for writing what the new container mounts read-only.
    if flags & libc::O_ACCMODE != libc::O_RDONLY && flags & libc::O_PATH == 0 && vfs.readonly(&r) {
        return Err(fail(libc::EROFS));
    }
    let keep = libc::O_ACCMODE | libc::O_APPEND | libc::O_PATH | libc::O_DIRECTORY;
    let mut f = match flags & libc::O_PATH {
        // openat2 takes no other flags with O_PATH.
        0 => (flags & keep) | libc::O_NONBLOCK | libc::O_NOCTTY,
        _ => libc::O_PATH,
    };
    if dir {
        f |= libc::O_DIRECTORY;
    }
    let fd = vfs.host_open(&r, f, 0).map_err(fail)?;
    Ok((fd, vfs.mounts[r.mount].fstype == "tmpfs"))
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, OwnedFd};

    use super::*;
    use crate::fs::file::{FileRef, OpenFile};
    use crate::fs::ghost::DEFAULT_GHOST_LIMIT as GHOST_LIMIT;
    use crate::fs::{Mount, MountFs};
    use crate::persist::testing::{at, null_stdio, round_trip_with, table};
    use crate::persist::{restore, save, RestoreFilesError};

    /// A VFS whose root is a host directory holding `f` ("hello world") and `d/`.
    fn host_root(tag: &str, readonly: bool) -> (Vfs, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("sentry-host-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("f"), b"hello world").unwrap();
        let root = OwnedFd::from(std::fs::File::open(&dir).unwrap());
        let vfs = Vfs {
            mounts: vec![Mount {
                at: Vec::new(),
                fs: MountFs::Host {
                    root,
                    host_path: dir.clone(),
                },
                readonly,
                nosuid: false,
                fstype: "bind".into(),
                flags: crate::fs::mounts::MS_RELATIME,
                seen: vec![crate::fs::mounts::INIT_MNT_NS],
                guest: false,
                copy: false,
            }],
            scratch: Vec::new(),
            inos: Default::default(),
            devpts: Default::default(),
            cpus: 1,
            caches: Default::default(),
            uts_events: Default::default(),
            guest: Default::default(),
        };
        (vfs, dir)
    }

    fn open(vfs: &Vfs, path: &str, flags: i32, dir: bool) -> FileRef {
        let (fd, _) = reopen(vfs, path, flags, dir).unwrap();
        OpenFile::new(Box::new(HostFile::new(fd, dir, vfs)), flags, path)
    }

    #[test]
    fn a_host_file_is_reopened_at_its_offset() {
        let (vfs, dir) = host_root("rt", false);
        let f = open(&vfs, "/f", libc::O_RDWR, false);
        assert_eq!(f.borrow_mut().read(6, None).unwrap(), b"hello ");
        let d = open(&vfs, "/d", libc::O_RDONLY | libc::O_DIRECTORY, true);
        let (saved, back) = round_trip_with(&vfs, null_stdio(), &[&table(&[&f, &d])]);
        assert_eq!(
            saved.files[0].kind,
            crate::kinds::FileKindState::Host(HostFileState {
                dir: false,
                offset: 6,
                identity: Some(FileIdentity::of(
                    &host_sys::fstat(fb_fd(&f.borrow())).unwrap()
                )),
                ghost: None,
                ghost_of: None,
            })
        );
        let (f2, d2) = (at(&back[0], 0), at(&back[0], 1));
        assert_eq!(f2.borrow_mut().read(100, None).unwrap(), b"world");
        assert_eq!(f2.borrow_mut().write(b"!", None), Ok(1));
        assert_eq!(std::fs::read(dir.join("f")).unwrap(), b"hello world!");
        assert!(d2.borrow().imp.is_dir());
        assert!(!d2.borrow_mut().getdents(4096).unwrap().is_empty());
        assert_eq!(
            d2.borrow_mut().read(1, None),
            Err(IoErr::Errno(libc::EISDIR))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_read_only_mount_is_not_reopened_for_writing() {
        let (rw, dir) = host_root("ro", false);
        let f = open(&rw, "/f", libc::O_RDWR, false);
        let (saved, _, _) = save(&rw, GHOST_LIMIT, [&table(&[&f])], &[]).unwrap();
        let (ro, _) = host_root("ro", true);
        let e = restore(
            &ro,
            null_stdio(),
            &saved.shared,
            &saved.files,
            &saved.fd_tables,
        )
        .err()
        .expect("refused");
        assert!(matches!(e, RestoreFilesError::File { id: 1, .. }));
        let source = std::error::Error::source(&e).unwrap();
        assert_eq!(source.to_string(), "reopening /f");
        let errno = std::error::Error::source(source).unwrap();
        assert_eq!(
            errno.to_string(),
            std::io::Error::from_raw_os_error(libc::EROFS).to_string()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passthrough_calls_reach_the_host_file() {
        let (vfs, dir) = host_root("calls", false);
        let f = open(&vfs, "/f", libc::O_RDWR, false);
        let mut fb = f.borrow_mut();
        fb.truncate(5).unwrap();
        assert_eq!(fb.imp.stat().unwrap().st_size, 5);
        assert_eq!(fb.seek(0, libc::SEEK_END), Ok(5));
        fb.imp
            .chmod(&|st| Ok(st.st_mode & 0o7777 & !0o022))
            .unwrap();
        assert_eq!(fb.imp.mmap(1, 4096).unwrap().bytes, b"ello");
        assert!(!fb.imp.epoll_watchable());
        let ro = open(&vfs, "/f", libc::O_RDONLY, false);
        assert_eq!(ro.borrow_mut().truncate(0), Err(libc::EINVAL));
        assert_eq!(ro.borrow_mut().allocate(0, 0, 1), Err(libc::EBADF));
        let d = open(&vfs, "/d", libc::O_RDONLY | libc::O_DIRECTORY, true);
        // ftruncate(2) of a directory is EINVAL, as Linux (open_test, truncate_test).
        assert_eq!(d.borrow_mut().truncate(0), Err(libc::EINVAL));
        assert_eq!(host_sys::fstat(fb_fd(&fb)).unwrap().st_size, 5);
        drop(fb);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The state a table of the one file `f` saves as.
    fn saved_kind(vfs: &Vfs, f: &FileRef, limit: u64) -> Result<HostFileState, String> {
        let (saved, _, _) = save(vfs, limit, [&table(&[f])], &[]).map_err(|e| e.to_string())?;
        match &saved.files[0].kind {
            crate::kinds::FileKindState::Host(h) => Ok(h.clone()),
            k => panic!("saved as {k:?}"),
        }
    }

    fn whole(f: &FileRef) -> Vec<u8> {
        let size = f.borrow().imp.stat().unwrap().st_size as usize;
        f.borrow_mut().imp.mmap(0, size as u64).unwrap().bytes
    }

    #[test]
    fn a_file_unlinked_while_open_is_restored_unlinked_with_its_holes() {
        let (vfs, dir) = host_root("ghost", false);
        let path = dir.join("g");
        {
            use std::os::unix::fs::FileExt;
            let h = std::fs::File::create(&path).unwrap();
            h.write_all_at(b"head", 0).unwrap();
            h.write_all_at(b"tail", 1 << 20).unwrap();
            h.set_len((1 << 20) + 10).unwrap();
        }
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        let f = open(&vfs, "/g", libc::O_RDWR, false);
        assert_eq!(f.borrow_mut().seek(3, libc::SEEK_SET), Ok(3));
        let want = whole(&f);
        std::fs::remove_file(&path).unwrap();
        assert!(f.borrow().kind::<HostFile>().unwrap().deleted());
        let st = saved_kind(&vfs, &f, GHOST_LIMIT).unwrap();
        let g = st.ghost.as_ref().expect("saved as a ghost");
        assert_eq!(
            (g.size, g.mode, st.identity.is_none()),
            ((1 << 20) + 10, 0o640, true)
        );
        // ext4 and tmpfs report the hole: only the two blocks with data are saved.
        let saved: usize = g.extents.iter().map(|e| e.data.len()).sum();
        assert!(saved <= 2 * 4096, "{saved} bytes saved for 8 bytes of data");
        assert_eq!(
            f.borrow_mut().seek(0, libc::SEEK_CUR),
            Ok(3),
            "the offset is kept"
        );
        let (_, back) = round_trip_with(&vfs, null_stdio(), &[&table(&[&f])]);
        let f2 = at(&back[0], 0);
        let st2 = f2.borrow().imp.stat().unwrap();
        assert_eq!(
            (st2.st_nlink, st2.st_size, st2.st_mode & 0o7777),
            (0, (1 << 20) + 10, 0o640)
        );
        {
            let h = f2.borrow();
            let h = h.kind::<HostFile>().unwrap();
            assert!(h.deleted() && !h.anon_ghost, "an O_TMPFILE in the mount");
        }
        assert_eq!(whole(&f2), want);
        assert_eq!(f2.borrow_mut().read(2, None).unwrap(), b"d\0");
        assert_eq!(
            f2.borrow_mut().seek(4096, libc::SEEK_HOLE),
            Ok(4096),
            "a hole"
        );
        assert!(std::fs::read_dir(&dir)
            .unwrap()
            .all(|e| e.unwrap().file_name() != "g"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_in_a_removed_directory_and_a_replaced_file_keep_their_own_data() {
        let (vfs, dir) = host_root("gone", false);
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/x"), b"in sub").unwrap();
        let x = open(&vfs, "/sub/x", libc::O_RDONLY, false);
        let f = open(&vfs, "/f", libc::O_RDONLY, false);
        std::fs::remove_dir_all(dir.join("sub")).unwrap();
        // A new file under the old name: the open file is no longer the one it names.
        std::fs::remove_file(dir.join("f")).unwrap();
        std::fs::write(dir.join("f"), b"new").unwrap();
        // And one renamed away while open (still linked, but not at its path).
        let d = open(&vfs, "/d", libc::O_RDONLY | libc::O_DIRECTORY, true);
        std::fs::write(dir.join("r"), b"renamed").unwrap();
        let r = open(&vfs, "/r", libc::O_RDONLY, false);
        std::fs::rename(dir.join("r"), dir.join("d/r2")).unwrap();
        let (saved, back) = round_trip_with(&vfs, null_stdio(), &[&table(&[&x, &f, &d, &r])]);
        let ghosts: Vec<bool> = saved
            .files
            .iter()
            .map(|s| matches!(&s.kind, crate::kinds::FileKindState::Host(h) if h.ghost.is_some()))
            .collect();
        assert_eq!(ghosts, [true, true, false, true]);
        assert_eq!(whole(&at(&back[0], 0)), b"in sub");
        assert_eq!(whole(&at(&back[0], 1)), b"hello world");
        assert_eq!(whole(&at(&back[0], 3)), b"renamed");
        assert_eq!(
            std::fs::read(dir.join("f")).unwrap(),
            b"new",
            "the new file is untouched"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_changed_under_its_name_after_the_checkpoint_is_refused_by_name() {
        let (vfs, dir) = host_root("changed", false);
        let f = open(&vfs, "/f", libc::O_RDONLY, false);
        let (saved, _, _) = save(&vfs, GHOST_LIMIT, [&table(&[&f])], &[]).unwrap();
        drop(f);
        // The same file again (a copy of the tree keeps size and mtime): restored.
        let restore_it = || {
            restore(
                &vfs,
                null_stdio(),
                &saved.shared,
                &saved.files,
                &saved.fd_tables,
            )
        };
        assert!(restore_it().is_ok());
        let mtime = std::fs::metadata(dir.join("f"))
            .unwrap()
            .modified()
            .unwrap();
        std::fs::remove_file(dir.join("f")).unwrap();
        std::fs::write(dir.join("f"), b"hello world").unwrap();
        std::fs::File::options()
            .write(true)
            .open(dir.join("f"))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert!(restore_it().is_ok(), "a copy of the same size and time");
        std::fs::write(dir.join("f"), b"other").unwrap();
        let e = restore_it().err().expect("refused");
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert!(
            source.starts_with("the file /f changed since the checkpoint: size 5 (was 11)"),
            "{source}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_ghost_above_the_limit_fails_the_checkpoint_by_name() {
        let (vfs, dir) = host_root("limit", false);
        let f = open(&vfs, "/f", libc::O_RDONLY, false);
        std::fs::remove_file(dir.join("f")).unwrap();
        assert_eq!(
            saved_kind(&vfs, &f, 10).unwrap_err(),
            "the deleted file /f holds 11 bytes of data, above the ghost file limit of 10 \
             bytes (raise it with --ghost-limit)"
        );
        assert!(saved_kind(&vfs, &f, 11).is_ok());
        // An O_PATH description cannot read: size and mode only.
        std::fs::write(dir.join("p"), b"path only").unwrap();
        let p = open(&vfs, "/p", libc::O_PATH, false);
        std::fs::remove_file(dir.join("p")).unwrap();
        let g = saved_kind(&vfs, &p, 0).unwrap().ghost.unwrap();
        assert_eq!((g.size, g.extents.len()), (9, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_ghost_on_a_read_only_mount_is_an_anonymous_file_reported_unlinked() {
        let (rw, dir) = host_root("roghost", false);
        let f = open(&rw, "/f", libc::O_RDONLY, false);
        std::fs::remove_file(dir.join("f")).unwrap();
        let (saved, _, _) = save(&rw, GHOST_LIMIT, [&table(&[&f])], &[]).unwrap();
        let (ro, _) = host_root("roghost", true);
        let back = restore(
            &ro,
            null_stdio(),
            &saved.shared,
            &saved.files,
            &saved.fd_tables,
        )
        .unwrap();
        let f2 = back.tables[&1].borrow().get(0).unwrap();
        assert_eq!(whole(&f2), b"hello world");
        assert_eq!(f2.borrow().imp.stat().unwrap().st_nlink, 0);
        assert!(f2.borrow().kind::<HostFile>().unwrap().anon_ghost);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hostile_ghosts_are_refused_by_name() {
        use crate::fs::ghost::GhostExtent;
        use crate::kinds::FileKindState;
        use crate::persist::{check, FileState};
        let ext = |offset, n| GhostExtent {
            offset,
            data: vec![1; n],
        };
        let ghost = |mode, size, extents| HostFileState {
            dir: false,
            offset: 0,
            identity: None,
            ghost: Some(GhostFile {
                ino: 7,
                mode,
                size,
                extents,
            }),
            ghost_of: None,
        };
        let refused = |s: HostFileState| {
            let f = FileState {
                id: 1,
                kind: FileKindState::Host(s),
                flags: libc::O_RDONLY,
                pos: 0,
                path: "/g".into(),
                async_io: Default::default(),
                opener: None,
            };
            check(&[], &[f], &[]).unwrap_err().to_string()
        };
        assert_eq!(
            refused(ghost(0o100644, 1, vec![])),
            "open file 1: ghost mode 0o100644 is not permission bits"
        );
        assert_eq!(
            refused(ghost(0o644, u64::MAX, vec![])),
            format!("open file 1: ghost size {} is out of range", u64::MAX)
        );
        assert_eq!(
            refused(ghost(0o644, 10, vec![ext(8, 4)])),
            "open file 1: ghost extent at 8 of 4 bytes ends past the size 10"
        );
        assert_eq!(
            refused(ghost(0o644, 10, vec![ext(u64::MAX, 4)])),
            format!(
                "open file 1: ghost extent at {} of 4 bytes ends past the size 10",
                u64::MAX
            )
        );
        assert_eq!(
            refused(ghost(0o644, 10, vec![ext(0, 4), ext(2, 4)])),
            "open file 1: ghost extent at 2 overlaps or precedes the one before"
        );
        assert_eq!(
            refused(ghost(0o644, 10, vec![ext(3, 0)])),
            "open file 1: ghost extent at 3 is empty"
        );
        let mut dir = ghost(0o644, 0, vec![]);
        dir.dir = true;
        assert_eq!(
            refused(dir),
            "open file 1: ghost a directory has no saved content or identity"
        );
        let mut both = ghost(0o644, 0, vec![]);
        both.identity = Some(FileIdentity { size: 0, mtime: 0 });
        assert_eq!(
            refused(both),
            "open file 1: ghost a file is either reopened or recreated, not both"
        );
        let mut far = ghost(0o644, 0, vec![]);
        far.offset = u64::MAX;
        assert_eq!(
            refused(far),
            format!("open file 1: offset {} is out of range", u64::MAX)
        );
        let mut no_ino = ghost(0o644, 0, vec![]);
        no_ino.ghost.as_mut().unwrap().ino = 0;
        assert_eq!(
            refused(no_ino),
            "open file 1: ghost inode number 0 is no inode"
        );
        let sharer = |of| HostFileState {
            dir: false,
            offset: 0,
            identity: None,
            ghost: None,
            ghost_of: Some(of),
        };
        assert_eq!(
            refused(sharer(1)),
            "open file 1: ghost its content is open file 1's, which is not another open file"
        );
        assert_eq!(
            refused(sharer(9)),
            "open file 1: ghost its content is open file 9's, which is not another open file"
        );
        let mut both = sharer(2);
        both.ghost = ghost(0o644, 0, vec![]).ghost;
        assert_eq!(
            refused(both),
            "open file 1: ghost a file shares another's content or has its own, not both"
        );
        // A sharer restored before the file it shares (an image out of order): an error.
        let files = [
            FileState {
                id: 1,
                kind: FileKindState::Host(sharer(2)),
                flags: libc::O_RDONLY,
                pos: 0,
                path: "/g".into(),
                async_io: Default::default(),
                opener: None,
            },
            FileState {
                id: 2,
                kind: FileKindState::Host(ghost(0o644, 0, vec![])),
                flags: libc::O_RDONLY,
                pos: 0,
                path: "/g".into(),
                async_io: Default::default(),
                opener: None,
            },
        ];
        check(&[], &files, &[]).unwrap();
        let (vfs, dir) = host_root("sharer-order", false);
        let e = restore(&vfs, null_stdio(), &[], &files, &[]).err().unwrap();
        assert_eq!(
            format!("{e}: {}", std::error::Error::source(&e).unwrap()),
            "open file 1: the recreated file of open file 2 is not in the image"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Two descriptions of one deleted file (two opens, each its own offset) come back as
    /// two descriptions of one recreated file, with the inode number the guest saw.
    #[test]
    fn two_opens_of_a_deleted_file_stay_one_file() {
        let (vfs, dir) = host_root("twice", false);
        let a = open(&vfs, "/f", libc::O_RDWR, false);
        let b = open(&vfs, "/f", libc::O_RDWR, false);
        b.borrow_mut().seek(6, libc::SEEK_SET).unwrap();
        let ino = a.borrow().imp.stat().unwrap().st_ino;
        std::fs::remove_file(dir.join("f")).unwrap();
        let (saved, back) = round_trip_with(&vfs, null_stdio(), &[&table(&[&a, &b])]);
        let crate::kinds::FileKindState::Host(s) = &saved.files[1].kind else {
            panic!("a host file");
        };
        assert_eq!((s.ghost.is_none(), s.ghost_of), (true, Some(1)));
        let (a2, b2) = (at(&back[0], 0), at(&back[0], 1));
        let (sa, sb) = (
            a2.borrow().imp.stat().unwrap(),
            b2.borrow().imp.stat().unwrap(),
        );
        assert_eq!((sa.st_ino, sb.st_ino, sa.st_nlink), (ino, ino, 0));
        assert_eq!(b2.borrow_mut().read(5, None).unwrap(), b"world");
        assert_eq!(a2.borrow_mut().write(b"HELLO", None), Ok(5));
        assert_eq!(b2.borrow_mut().read(100, Some(0)).unwrap(), b"HELLO world");
        assert_eq!(a2.borrow_mut().read(100, None).unwrap(), b" world");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn fb_fd(f: &OpenFile) -> std::os::fd::BorrowedFd<'_> {
        f.kind::<HostFile>().unwrap().fd.as_fd()
    }
}
