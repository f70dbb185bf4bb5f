//! Files and directories of a host passthrough mount: each holds the host fd the sentry
//! opened beneath the mount (never followed a link to get it), and the host fd's offset is
//! the file's.
//!
//! Saved as what to reopen: the description's guest path and flags, and the offset; a
//! restore reopens it by guest path in the new sandbox's mounts.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::checks::{path_ok, Invalid};
use crate::fs::file::{Allowed, FileImpl, IoErr, Mappable};
use crate::fs::host_sys;
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::fs::Vfs;
use crate::mm::Errno;

pub struct HostFile {
    fd: OwnedFd,
    dir: bool,
    /// The host fd is a dup shared with another description (a file reopened through
    /// /proc/PID/fd after no path reached it any more), so this description keeps its
    /// own position (the `pos` of the calls) and reads and writes at it.
    own_offset: bool,
}

impl HostFile {
    /// A host file or directory opened by the sentry.
    pub fn new(fd: OwnedFd, dir: bool) -> Self {
        HostFile {
            fd,
            dir,
            own_offset: false,
        }
    }
}

fn host_err(e: nix::Error) -> Errno {
    e as i32
}

impl FileImpl for HostFile {
    fn read(&mut self, pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        if self.dir {
            return Err(IoErr::Errno(libc::EISDIR));
        }
        let mut buf = vec![0u8; len];
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
        Ok(buf)
    }

    fn write(&mut self, pos: &mut u64, data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        if self.dir {
            return Err(IoErr::Errno(libc::EISDIR));
        }
        let n = match (off, self.own_offset) {
            (Some(o), _) => nix::sys::uio::pwrite(self.fd.as_fd(), data, o as i64),
            (None, true) => nix::sys::uio::pwrite(self.fd.as_fd(), data, *pos as i64),
            (None, false) => nix::unistd::write(self.fd.as_fd(), data),
        }
        .map_err(host_err)?;
        if off.is_none() && self.own_offset {
            *pos += n as u64;
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
        host_sys::fstat(self.fd.as_fd())
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
        nix::unistd::fsync(self.fd.as_raw_fd()).map_err(host_err)
    }

    fn truncate(&mut self, len: u64) -> Result<(), Errno> {
        if self.dir {
            return Err(libc::EISDIR);
        }
        nix::unistd::ftruncate(self.fd.as_fd(), len as i64).map_err(host_err)
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
        Ok(())
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
        }))
    }

    fn set_status_flags(&mut self, flags: i32) {
        // Only O_APPEND matters to the host fd (it stays non-blocking for the sentry).
        let fl = nix::fcntl::OFlag::from_bits_truncate(flags & libc::O_APPEND);
        let _ = nix::fcntl::fcntl(self.fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(fl));
    }
}

/// A saved host file: reopened by the description's guest path and flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostFileState {
    pub dir: bool,
    /// The host fd's offset.
    pub offset: u64,
}

impl Persist for HostFile {
    type State = HostFileState;

    fn save(&self, cx: &mut SaveCtx) -> HostFileState {
        let HostFile {
            fd,
            dir,
            own_offset,
        } = self;
        // The host fd itself is not saved: its offset is (the description's own when it
        // keeps one), and the file is reopened with an fd of its own.
        let offset = if *own_offset {
            cx.pos() as i64
        } else {
            nix::unistd::lseek(fd.as_raw_fd(), 0, nix::unistd::Whence::SeekCur).unwrap_or(0)
        };
        HostFileState {
            dir: *dir,
            offset: offset as u64,
        }
    }

    fn restore(cx: &mut RestoreCtx, f: &FileMeta, s: &HostFileState) -> Result<Self, KindError> {
        let fd = reopen(cx.vfs(), f.path, f.flags, s.dir)?;
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
        })
    }

    fn check(cx: &CheckCtx, _: &HostFileState) -> Result<(), Invalid> {
        path_ok(&cx.object, "path", cx.file.path, true)
    }
}

/// Reopens a host file of the guest by its guest path, with the access mode and the flags
/// that matter of `flags`. Walks as the kernel (no permission checks: the guest had the
/// file open) and follows no final symlink.
fn reopen(vfs: &Vfs, path: &str, flags: i32, dir: bool) -> Result<OwnedFd, KindError> {
    let fail = |e: i32| KindError::Reopen {
        path: path.to_string(),
        source: std::io::Error::from_raw_os_error(e),
    };
    let look = |_: &[String]| Err(libc::ENOENT);
    let r = vfs
        .resolve(
            &look,
            &crate::creds::Creds::kernel(),
            "/",
            path.as_bytes(),
            false,
        )
        .map_err(fail)?;
    if !r.exists {
        return Err(fail(libc::ENOENT));
    }
    // An image cannot open for writing what the new container mounts read-only.
    if flags & libc::O_ACCMODE != libc::O_RDONLY && flags & libc::O_PATH == 0 && vfs.readonly(&r) {
        return Err(fail(libc::EROFS));
    }
    let keep = libc::O_ACCMODE | libc::O_APPEND | libc::O_PATH | libc::O_DIRECTORY;
    let mut f = (flags & keep) | libc::O_NONBLOCK | libc::O_NOCTTY;
    if dir {
        f |= libc::O_DIRECTORY;
    }
    vfs.host_open(&r, f, 0).map_err(fail)
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, OwnedFd};

    use super::*;
    use crate::fs::file::{FileRef, OpenFile};
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
            }],
            scratch: Vec::new(),
        };
        (vfs, dir)
    }

    fn open(vfs: &Vfs, path: &str, flags: i32, dir: bool) -> FileRef {
        let fd = reopen(vfs, path, flags, dir).unwrap();
        OpenFile::new(Box::new(HostFile::new(fd, dir)), flags, path)
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
                offset: 6
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
        let (saved, _) = save([&table(&[&f])]);
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
        assert_eq!(d.borrow_mut().truncate(0), Err(libc::EISDIR));
        assert_eq!(host_sys::fstat(fb_fd(&fb)).unwrap().st_size, 5);
        drop(fb);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn fb_fd(f: &OpenFile) -> std::os::fd::BorrowedFd<'_> {
        f.kind::<HostFile>().unwrap().fd.as_fd()
    }
}
