//! Host streams given to the sandbox: a container's stdio (pipes, a terminal, a file).
//! The host fd is non-blocking, so that the event loop never waits on it: a read or write
//! that would block parks the task on the host fd's readiness. A terminal passes the
//! terminal ioctls through to the host.
//!
//! Saved as "stdio N": a restore binds it to the new container's stdio N.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::checks::Invalid;
use crate::fs::file::{FileImpl, IoErr, IoctlCaller};
use crate::fs::host_sys;
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::mm::Errno;
use crate::wait::WaitKey;

/// Makes a host stdio fd non-blocking for the sandbox's event loop. The caller hands over
/// a description the sandbox owns alone (`crate::host::reopen_stdio` makes one), or one
/// it does not mind becoming non-blocking: O_NONBLOCK is a property of the open file
/// description, shared with every other holder. A regular file is left as it is: it
/// never blocks.
pub(crate) fn nonblocking(fd: OwnedFd) -> OwnedFd {
    let is_file = host_sys::fstat(fd.as_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
        .unwrap_or(false);
    if is_file {
        return fd;
    }
    if let Ok(fl) = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL) {
        let fl = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
        let _ = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(fl));
    }
    fd
}

/// One of the sandbox's stdio streams.
pub struct HostStream {
    /// Shared by every description of the same stdio after a restore.
    fd: Rc<OwnedFd>,
    tty: bool,
    /// Which stdio it is (0, 1 or 2).
    index: u8,
}

impl HostStream {
    /// Stdio `index` of a new guest process: `fd` becomes non-blocking.
    pub fn new(fd: OwnedFd, index: u8) -> Self {
        let tty = nix::unistd::isatty(fd.as_raw_fd()).unwrap_or(false);
        HostStream {
            fd: Rc::new(nonblocking(fd)),
            tty,
            index,
        }
    }

    /// Whether it is a terminal.
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

impl FileImpl for HostStream {
    fn read(&mut self, _pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        if off.is_some() {
            return Err(IoErr::Errno(libc::ESPIPE));
        }
        let mut buf = vec![0u8; len];
        match nix::unistd::read(self.raw(), &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                Ok(buf)
            }
            Err(nix::Error::EAGAIN) => Err(IoErr::Block(WaitKey::HostFd(self.raw(), libc::POLLIN))),
            Err(e) => Err(IoErr::Errno(e as i32)),
        }
    }

    /// A write ignores a pwrite offset, as the stream has none.
    fn write(&mut self, _pos: &mut u64, data: &[u8], _off: Option<u64>) -> Result<usize, IoErr> {
        match nix::unistd::write(self.fd.as_fd(), data) {
            Ok(n) => Ok(n),
            Err(nix::Error::EAGAIN) => {
                Err(IoErr::Block(WaitKey::HostFd(self.raw(), libc::POLLOUT)))
            }
            Err(nix::Error::EPIPE) => Err(IoErr::Pipe),
            Err(e) => Err(IoErr::Errno(e as i32)),
        }
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let raw = self.raw();
        let mut pfd = [libc::pollfd {
            fd: raw,
            events,
            revents: 0,
        }];
        crate::platform::sys::poll(&mut pfd, 0);
        let mut keys = Vec::new();
        if events & libc::POLLIN != 0 {
            keys.push(WaitKey::HostFd(raw, libc::POLLIN));
        }
        if events & libc::POLLOUT != 0 {
            keys.push(WaitKey::HostFd(raw, libc::POLLOUT));
        }
        (pfd[0].revents, keys)
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        host_sys::fstat(self.fd.as_fd())
    }

    /// A pipe, socket or terminal (a log file given as stdio has a position).
    fn is_stream(&self) -> bool {
        host_sys::fstat(self.fd.as_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT != libc::S_IFREG)
    }

    fn statfs(&self) -> Option<Result<libc::statfs, Errno>> {
        Some(host_sys::fstatfs(self.fd.as_fd()))
    }

    /// Another description of the same stream (`cat /dev/stdin`, `echo > /dev/stderr`).
    fn reopen(&self, _flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
        let HostStream { fd, tty, index } = self;
        Ok(Box::new(HostStream {
            fd: fd.clone(),
            tty: *tty,
            index: *index,
        }))
    }

    /// What the stream is on the host, as Linux names it: a pipe, a socket, a terminal.
    fn link_text(&self, path: &str) -> String {
        let Ok(st) = host_sys::fstat(self.fd.as_fd()) else {
            return path.to_string();
        };
        let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
        match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => format!("pipe:[{}]", st.st_ino),
            libc::S_IFSOCK => format!("socket:[{}]", st.st_ino),
            libc::S_IFCHR if (136..=143).contains(&major) => {
                format!("/dev/pts/{}", (major - 136) * 256 + minor)
            }
            libc::S_IFCHR if (major, minor) == (1, 3) => "/dev/null".into(),
            _ => path.to_string(),
        }
    }

    /// The terminal requests: passed through to the host terminal with copied arguments;
    /// process-group and session requests answer with the caller's own.
    fn ioctl(&mut self, caller: &mut dyn IoctlCaller, req: u64, arg: u64) -> Result<i64, Errno> {
        if !self.tty {
            return Err(libc::ENOTTY);
        }
        let size = match req as libc::c_ulong {
            libc::TCGETS | libc::TCSETS | libc::TCSETSW | libc::TCSETSF => 60,
            libc::TIOCGWINSZ | libc::TIOCSWINSZ => 8,
            libc::TIOCGPGRP => {
                let pg = caller.pgid() as u32;
                return caller.copy_out(arg, &pg.to_le_bytes()).map(|_| 0);
            }
            libc::TIOCSPGRP | libc::TIOCSCTTY | libc::TIOCNOTTY => return Ok(0),
            libc::TIOCGSID => {
                let s = caller.sid() as u32;
                return caller.copy_out(arg, &s.to_le_bytes()).map(|_| 0);
            }
            libc::TCFLSH | libc::TCXONC | libc::TCSBRK => return Ok(0),
            _ => return Err(libc::ENOTTY),
        };
        let mut buf = caller.copy_in(arg, size)?;
        let v = host_sys::ioctl_buf(self.fd.as_fd(), req, &mut buf)?;
        caller.copy_out(arg, &buf).map(|_| v)
    }
}

/// A saved stdio stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StdioState {
    /// Which stdio (0, 1 or 2).
    pub index: u8,
    /// Whether it was a terminal (the new stdio is asked again).
    pub tty: bool,
}

impl Persist for HostStream {
    type State = StdioState;

    fn save(&self, _: &mut SaveCtx) -> StdioState {
        // The host fd is not saved: the new container's stdio replaces it.
        let HostStream { fd: _, tty, index } = self;
        StdioState {
            index: *index,
            tty: *tty,
        }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &StdioState) -> Result<Self, KindError> {
        let fd = cx.stdio(s.index as usize);
        let tty = nix::unistd::isatty(fd.as_raw_fd()).unwrap_or(false);
        Ok(HostStream {
            fd,
            tty,
            index: s.index.min(2),
        })
    }

    fn check(cx: &CheckCtx, s: &StdioState) -> Result<(), Invalid> {
        if s.index > 2 {
            return Err(cx.bad("stdio index", format!("{} is not 0, 1 or 2", s.index)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::file::OpenFile;
    use crate::persist::testing::{at, no_mounts, round_trip_with, table};

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe().unwrap()
    }

    #[test]
    fn every_description_of_a_stdio_is_bound_to_the_new_one() {
        let (_r1, w1) = pipe();
        let (_r2, w2) = pipe();
        let (_r3, w3) = pipe();
        let out = |fd, i: u8| {
            OpenFile::new(
                Box::new(HostStream::new(fd, i)),
                libc::O_RDWR,
                format!("stdio:{i}"),
            )
        };
        // The init's stdout and an exec'd process's stdout, and a stderr.
        let (a, b, c) = (out(w1, 1), out(w2, 1), out(w3, 2));
        let (new_in, _keep) = pipe();
        let (new_out_r, new_out) = pipe();
        let (new_err_r, new_err) = pipe();
        let (_, back) = round_trip_with(
            &no_mounts(),
            [new_in, new_out, new_err],
            &[&table(&[&a, &b, &c])],
        );
        let (a2, b2, c2) = (at(&back[0], 0), at(&back[0], 1), at(&back[0], 2));
        assert!(!Rc::ptr_eq(&a2, &b2), "each keeps its own description");
        assert_eq!(a2.borrow_mut().write(b"one ", None), Ok(4));
        assert_eq!(b2.borrow_mut().write(b"two", None), Ok(3));
        assert_eq!(c2.borrow_mut().write(b"err", None), Ok(3));
        let mut buf = [0u8; 16];
        let n = nix::unistd::read(new_out_r.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"one two");
        let n = nix::unistd::read(new_err_r.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"err");
        let s = a2.borrow();
        let fl = nix::fcntl::fcntl(
            s.kind::<HostStream>().unwrap().raw(),
            nix::fcntl::FcntlArg::F_GETFL,
        )
        .unwrap();
        assert!(fl & libc::O_NONBLOCK != 0, "the new stdio is non-blocking");
    }

    #[test]
    fn a_full_stream_parks_on_the_host_fd() {
        let (r, w) = pipe();
        let mut s = HostStream::new(w, 1);
        let raw = s.raw();
        let big = vec![0u8; 1 << 20];
        let mut pos = 0;
        let n = s.write(&mut pos, &big, None).unwrap();
        assert!(n < big.len());
        assert_eq!(
            s.write(&mut pos, &big, None),
            Err(IoErr::Block(WaitKey::HostFd(raw, libc::POLLOUT)))
        );
        assert_eq!(s.readiness(libc::POLLOUT).0, 0);
        drop(r);
        assert_eq!(s.write(&mut pos, b"x", None), Err(IoErr::Pipe));
        assert_eq!(s.ioctl(&mut NoCaller, libc::TCGETS, 0), Err(libc::ENOTTY));
    }

    struct NoCaller;

    impl IoctlCaller for NoCaller {
        fn copy_in(&self, _: u64, _: usize) -> Result<Vec<u8>, Errno> {
            Err(libc::EFAULT)
        }
        fn copy_out(&mut self, _: u64, _: &[u8]) -> Result<(), Errno> {
            Err(libc::EFAULT)
        }
        fn pgid(&self) -> i32 {
            1
        }
        fn sid(&self) -> i32 {
            1
        }
        fn tgid(&self) -> i32 {
            1
        }
        fn group_session(&self, _: i32) -> Option<i32> {
            None
        }
        fn capable(&self, _: u32) -> bool {
            false
        }
    }
}
