//! Reading, writing and polling open files.

use std::os::fd::AsFd;

use crate::fs::dev::{random_bytes, DevNode};
use crate::fs::file::{FileKind, FileRef};
use crate::fs::host_sys;
use crate::kernel::task::WaitKey;
use crate::mm::Errno;

/// Why an I/O call did not complete.
#[derive(Debug)]
pub enum IoErr {
    Errno(Errno),
    /// Would block: park on this key (unless the file is non-blocking).
    Block(WaitKey),
    /// Writing to a pipe with no readers: EPIPE and SIGPIPE.
    Pipe,
}

impl From<Errno> for IoErr {
    fn from(e: Errno) -> Self {
        IoErr::Errno(e)
    }
}

fn host_err(e: nix::Error) -> IoErr {
    IoErr::Errno(e as i32)
}

/// Reads up to `len` bytes (at `off` for pread).
pub fn read(f: &FileRef, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
    let mut f = f.borrow_mut();
    if !f.readable() {
        return Err(IoErr::Errno(libc::EBADF));
    }
    let nonblock = f.flags & libc::O_NONBLOCK != 0;
    let len = len.min(1 << 24);
    let pos = f.pos;
    match &mut f.kind {
        FileKind::Host { fd, dir } => {
            if *dir {
                return Err(IoErr::Errno(libc::EISDIR));
            }
            let mut buf = vec![0u8; len];
            let n = match off {
                Some(o) => nix::sys::uio::pread(fd.as_fd(), &mut buf, o as i64),
                None => nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(fd), &mut buf),
            }
            .map_err(host_err)?;
            buf.truncate(n);
            Ok(buf)
        }
        FileKind::Stream { fd, .. } => {
            if off.is_some() {
                return Err(IoErr::Errno(libc::ESPIPE));
            }
            let mut buf = vec![0u8; len];
            match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(fd), &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    Ok(buf)
                }
                Err(nix::Error::EAGAIN) if !nonblock => Err(IoErr::Block(WaitKey::HostFd(
                    std::os::fd::AsRawFd::as_raw_fd(fd),
                    libc::POLLIN,
                ))),
                Err(e) => Err(host_err(e)),
            }
        }
        FileKind::PipeRead(p) => {
            if off.is_some() {
                return Err(IoErr::Errno(libc::ESPIPE));
            }
            let mut p = p.borrow_mut();
            if p.buf.is_empty() {
                if p.writers == 0 || len == 0 {
                    return Ok(Vec::new());
                }
                if nonblock {
                    return Err(IoErr::Errno(libc::EAGAIN));
                }
                return Err(IoErr::Block(WaitKey::Object(p.id)));
            }
            let n = len.min(p.buf.len());
            Ok(p.buf.drain(..n).collect())
        }
        FileKind::PipeWrite(_) => Err(IoErr::Errno(libc::EBADF)),
        FileKind::Dev(d) => match d {
            DevNode::Null | DevNode::Full if *d == DevNode::Null => Ok(Vec::new()),
            DevNode::Zero | DevNode::Full => Ok(vec![0u8; len]),
            _ => {
                let mut b = vec![0u8; len];
                random_bytes(&mut b);
                Ok(b)
            }
        },
        FileKind::Synthetic(data) => {
            let at = off.unwrap_or(pos) as usize;
            let out = data.get(at..).unwrap_or_default();
            let out = out[..out.len().min(len)].to_vec();
            if off.is_none() {
                f.pos += out.len() as u64;
            }
            Ok(out)
        }
        FileKind::SynthDir(_) => Err(IoErr::Errno(libc::EISDIR)),
        FileKind::EventFd(e) => {
            if len < 8 {
                return Err(IoErr::Errno(libc::EINVAL));
            }
            let mut e = e.borrow_mut();
            if e.count == 0 {
                if nonblock {
                    return Err(IoErr::Errno(libc::EAGAIN));
                }
                return Err(IoErr::Block(WaitKey::Object(e.id)));
            }
            let v = if e.semaphore { 1 } else { e.count };
            e.count -= v;
            Ok(v.to_le_bytes().to_vec())
        }
        FileKind::Epoll(_) => Err(IoErr::Errno(libc::EINVAL)),
    }
}

/// Writes `data` (at `off` for pwrite). Returns bytes written.
pub fn write(f: &FileRef, data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
    let f = f.borrow_mut();
    if !f.writable() {
        return Err(IoErr::Errno(libc::EBADF));
    }
    let nonblock = f.flags & libc::O_NONBLOCK != 0;
    match &f.kind {
        FileKind::Host { fd, dir } => {
            if *dir {
                return Err(IoErr::Errno(libc::EISDIR));
            }
            match off {
                Some(o) => nix::sys::uio::pwrite(fd.as_fd(), data, o as i64),
                None => nix::unistd::write(fd.as_fd(), data),
            }
            .map_err(host_err)
        }
        FileKind::Stream { fd, .. } => match nix::unistd::write(fd.as_fd(), data) {
            Ok(n) => Ok(n),
            Err(nix::Error::EAGAIN) if !nonblock => Err(IoErr::Block(WaitKey::HostFd(
                std::os::fd::AsRawFd::as_raw_fd(fd),
                libc::POLLOUT,
            ))),
            Err(nix::Error::EPIPE) => Err(IoErr::Pipe),
            Err(e) => Err(host_err(e)),
        },
        FileKind::PipeWrite(p) => {
            if off.is_some() {
                return Err(IoErr::Errno(libc::ESPIPE));
            }
            let mut p = p.borrow_mut();
            if p.readers == 0 {
                return Err(IoErr::Pipe);
            }
            let space = p.space();
            // Writes up to PIPE_BUF are atomic: all or nothing.
            if space == 0 || (data.len() <= crate::ipc::pipe::PIPE_BUF && space < data.len()) {
                if nonblock {
                    return Err(IoErr::Errno(libc::EAGAIN));
                }
                return Err(IoErr::Block(WaitKey::Object(p.id)));
            }
            let n = data.len().min(space);
            p.buf.extend(&data[..n]);
            Ok(n)
        }
        FileKind::PipeRead(_) => Err(IoErr::Errno(libc::EBADF)),
        FileKind::Dev(DevNode::Full) => Err(IoErr::Errno(libc::ENOSPC)),
        FileKind::Dev(_) => Ok(data.len()),
        FileKind::Synthetic(_) | FileKind::SynthDir(_) => Err(IoErr::Errno(libc::EACCES)),
        FileKind::EventFd(e) => {
            let Some(v) = data
                .get(..8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
            else {
                return Err(IoErr::Errno(libc::EINVAL));
            };
            if v == u64::MAX {
                return Err(IoErr::Errno(libc::EINVAL));
            }
            let mut e = e.borrow_mut();
            if e.count
                .checked_add(v)
                .is_none_or(|n| n > crate::ipc::epoll::EVENTFD_MAX)
            {
                if nonblock {
                    return Err(IoErr::Errno(libc::EAGAIN));
                }
                return Err(IoErr::Block(WaitKey::Object(e.id)));
            }
            e.count += v;
            Ok(8)
        }
        FileKind::Epoll(_) => Err(IoErr::Errno(libc::EINVAL)),
    }
}

/// The id of the pipe behind a file, for waking its other end.
pub fn pipe_id(f: &FileRef) -> Option<u64> {
    match &f.borrow().kind {
        FileKind::PipeRead(p) | FileKind::PipeWrite(p) => Some(p.borrow().id),
        FileKind::EventFd(e) => Some(e.borrow().id),
        _ => None,
    }
}

/// Poll readiness of a file for `events`; returns (revents, what to wait on).
pub fn poll(f: &FileRef, events: i16) -> (i16, Vec<WaitKey>) {
    let f = f.borrow();
    match &f.kind {
        FileKind::PipeRead(p) => {
            let p = p.borrow();
            let mut r = 0;
            if !p.buf.is_empty() {
                r |= libc::POLLIN;
            }
            if p.writers == 0 {
                r |= libc::POLLHUP;
            }
            (r & (events | libc::POLLHUP), vec![WaitKey::Object(p.id)])
        }
        FileKind::PipeWrite(p) => {
            let p = p.borrow();
            let mut r = 0;
            if p.readers == 0 {
                r |= libc::POLLERR;
            } else if p.writable() {
                r |= libc::POLLOUT;
            }
            (r & (events | libc::POLLERR), vec![WaitKey::Object(p.id)])
        }
        FileKind::EventFd(e) => {
            let e = e.borrow();
            let mut r = 0;
            if e.count > 0 {
                r |= libc::POLLIN;
            }
            if e.count < crate::ipc::epoll::EVENTFD_MAX {
                r |= libc::POLLOUT;
            }
            (r & events, vec![WaitKey::Object(e.id)])
        }
        FileKind::Stream { fd, .. } => {
            let raw = std::os::fd::AsRawFd::as_raw_fd(fd);
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
        _ => (
            events & (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM),
            vec![],
        ),
    }
}

/// Reads directory entries as linux_dirent64 records, at most `len` bytes.
pub fn getdents(f: &FileRef, len: usize) -> Result<Vec<u8>, Errno> {
    let mut f = f.borrow_mut();
    let pos = f.pos as usize;
    match &f.kind {
        FileKind::Host { fd, dir: true } => {
            let mut buf = vec![0u8; len.min(1 << 20)];
            let n = host_sys::getdents64(fd.as_fd(), &mut buf)?;
            buf.truncate(n);
            Ok(buf)
        }
        FileKind::SynthDir(entries) => {
            let mut out = Vec::new();
            let mut all: Vec<(String, u8)> =
                vec![(".".into(), libc::DT_DIR), ("..".into(), libc::DT_DIR)];
            all.extend(entries.iter().cloned());
            let mut i = pos;
            while i < all.len() {
                let (name, ty) = &all[i];
                let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
                if out.len() + reclen > len {
                    break;
                }
                let start = out.len();
                out.extend_from_slice(&(1000 + i as u64).to_le_bytes());
                out.extend_from_slice(&((i + 1) as u64).to_le_bytes());
                out.extend_from_slice(&(reclen as u16).to_le_bytes());
                out.push(*ty);
                out.extend_from_slice(name.as_bytes());
                out.resize(start + reclen, 0);
                i += 1;
            }
            if out.is_empty() && i < all.len() {
                return Err(libc::EINVAL);
            }
            f.pos = i as u64;
            Ok(out)
        }
        FileKind::Host { .. } | FileKind::Synthetic(_) | FileKind::Dev(_) => Err(libc::ENOTDIR),
        _ => Err(libc::ENOTDIR),
    }
}
