//! A guest's unix stream or seqpacket connection to a socket file of a host mount (a
//! daemon's socket bind-mounted into the container), as runc gives: when no socket of the
//! sandbox is bound to the file, `connect` reaches whatever listens on it on the host.
//!
//! The file is found as any guest path is (the guest's symlinks are the guest's, within
//! its root), then opened `O_PATH` beneath its mount with the host file code's rules
//! (`Vfs::host_open`: no symlink, no `..` out of the mount) and checked to be a socket.
//! The sentry then connects a non-blocking host socket of the same type to that file's
//! path in the sandbox process's own root (`/mounts/N/...`, which holds nothing of the
//! host but the container's mounts; there is no `/proc` there to connect through the
//! `O_PATH` fd). The guest never sees the host fd: the sentry sends and receives for it,
//! and the host socket is watched by the event loop under the endpoint's id.
//!
//! Files cannot cross such a connection: SCM_RIGHTS to it is refused (EOPNOTSUPP: a
//! guest's files are the sentry's objects, not host fds), and files the host side passes
//! are closed by the host kernel on receipt (no control buffer is given), so they never
//! reach the sentry or the guest. SCM_CREDENTIALS the guest passes are not forwarded (the
//! host side sees the sandbox process's). A datagram socket does not reach host socket
//! files (connect and sendto say ECONNREFUSED, as for an unbound file).
//!
//! Checkpoint/restore: the connection cannot be carried over. It is saved as reset (the
//! guest path it went to is kept for getpeername): after a restore a read says
//! ECONNRESET once, then end of file, and a write EPIPE.

use std::os::fd::{AsFd, OwnedFd};

use super::{Endpoint, UnixAddr, UnixSocket, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK};
use crate::fs::file::IoErr;
use crate::fs::MountFs;
use crate::mm::Errno;
use crate::net::host_sys;
use crate::net::{RecvMsg, SendMsg, SocketCtx, Ucred};
use crate::wait::{wake_later, WaitKey};

/// An endpoint's connection to a host socket.
pub(crate) struct HostConn {
    /// The host socket; None once reset (after a restore).
    pub(super) fd: Option<OwnedFd>,
    /// The guest path connected to (its getpeername).
    pub(super) path: Vec<u8>,
}

/// The path, in the sandbox process's root, of the socket file guest path `p` names,
/// when it is a socket file of a host mount; ECONNREFUSED otherwise (a file of another
/// kind of mount, not a socket, or gone).
fn host_socket_path(c: &mut dyn SocketCtx, p: &[u8]) -> Result<Vec<u8>, Errno> {
    let r = c.resolve(p, true)?;
    if !r.exists || r.file.is_some() {
        return Err(libc::ECONNREFUSED);
    }
    let vfs = c.vfs();
    let MountFs::Host { host_path, .. } = &vfs.mounts[r.mount].fs else {
        return Err(libc::ECONNREFUSED);
    };
    // Beneath the mount, no symlink followed on the host.
    let fd = vfs.host_open(&r, libc::O_PATH, 0)?;
    let st = crate::fs::host_sys::fstat(fd.as_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(libc::ECONNREFUSED);
    }
    use std::os::unix::ffi::OsStrExt;
    let mut path = host_path.as_os_str().as_bytes().to_vec();
    for comp in &r.rel {
        path.push(b'/');
        path.extend_from_slice(comp.as_bytes());
    }
    Ok(path)
}

/// A `struct sockaddr_un` of `path` (ENAMETOOLONG past sun_path).
fn sockaddr_un(path: &[u8]) -> Result<Vec<u8>, Errno> {
    if path.len() >= super::PATH_MAX || path.contains(&0) {
        return Err(libc::ENAMETOOLONG);
    }
    let mut b = (libc::AF_UNIX as u16).to_le_bytes().to_vec();
    b.extend_from_slice(path);
    b.push(0);
    Ok(b)
}

fn io(e: i32, id: u64) -> IoErr {
    match e {
        libc::EAGAIN => IoErr::Block(WaitKey::Object(id)),
        libc::EPIPE => IoErr::Pipe,
        e => IoErr::Errno(e),
    }
}

impl Endpoint {
    /// Its live host socket, if it is connected to one.
    pub(super) fn host_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.host.as_ref()?.fd.as_ref().map(|f| f.as_fd())
    }

    /// Ends a host connection (a restore): what the guest then sees of it.
    pub(super) fn host_reset(&mut self) {
        if let Some(h) = &mut self.host {
            h.fd = None;
            self.shutdown = SHUTDOWN_MASK;
        }
    }
}

impl UnixSocket {
    /// connect(2) of a stream or seqpacket socket to guest path `p`, which no socket of
    /// the sandbox is bound to: a connection to the host socket file there, if it is one
    /// (ECONNREFUSED otherwise).
    pub(super) fn host_connect(&mut self, c: &mut dyn SocketCtx, p: &[u8]) -> Result<(), IoErr> {
        let path = host_socket_path(c, p)?;
        let addr = sockaddr_un(&path)?;
        let (ty, id) = {
            let e = self.ep.borrow();
            (e.ty.raw(), e.id)
        };
        let fd = host_sys::unix_socket(ty)?;
        // A full backlog says EAGAIN (blocking or not: the host gives no wake-up for it).
        host_sys::connect(fd.as_fd(), &addr).map_err(IoErr::Errno)?;
        crate::wait::watch_host(fd.as_fd(), id)?;
        // The host side's pid means nothing in the sandbox: 0, as for a process of
        // another pid namespace.
        let peercred = host_sys::peercred(fd.as_fd())
            .map(|(_, uid, gid)| Ucred { pid: 0, uid, gid })
            .ok();
        let mut e = self.ep.borrow_mut();
        e.peercred = peercred;
        e.host = Some(HostConn {
            fd: Some(fd),
            path: p.to_vec(),
        });
        wake_later(id);
        Ok(())
    }

    pub(super) fn host_send(&mut self, m: SendMsg) -> Result<usize, IoErr> {
        let e = self.ep.borrow();
        if e.shutdown & SEND_SHUTDOWN != 0 {
            return Err(IoErr::Pipe);
        }
        if !m.rights.is_empty() {
            return Err(IoErr::Errno(libc::EOPNOTSUPP));
        }
        let Some(fd) = e.host_fd() else {
            return Err(IoErr::Pipe);
        };
        host_sys::send(fd, &m.data, None).map_err(|err| io(err, e.id))
    }

    pub(super) fn host_recv(&mut self, len: usize, peek: bool) -> Result<RecvMsg, IoErr> {
        let mut e = self.ep.borrow_mut();
        if e.err != 0 {
            let err = std::mem::take(&mut e.err);
            return Err(IoErr::Errno(err));
        }
        let stream = e.ty == super::SockType::Stream;
        let Some(fd) = e.host_fd() else {
            return Ok(RecvMsg {
                eof: true,
                ..RecvMsg::default()
            });
        };
        let r = host_sys::recv(fd, len, peek, !stream).map_err(|err| io(err, e.id))?;
        Ok(RecvMsg {
            eof: r.full_len == 0 && (len > 0 || !stream),
            full_len: r.full_len,
            data: r.data,
            ..RecvMsg::default()
        })
    }

    /// A receive of a host stream straight into `bufs` (guest memory).
    pub(super) fn host_recv_in_place(
        &mut self,
        bufs: &mut [std::io::IoSliceMut<'_>],
    ) -> Result<usize, IoErr> {
        let mut e = self.ep.borrow_mut();
        if e.err != 0 {
            let err = std::mem::take(&mut e.err);
            return Err(IoErr::Errno(err));
        }
        let Some(fd) = e.host_fd() else {
            return Ok(0);
        };
        host_sys::recv_into(fd, bufs).map_err(|err| io(err, e.id))
    }

    pub(super) fn host_shutdown(&mut self, how: i32, bits: u8) -> Result<(), Errno> {
        let mut e = self.ep.borrow_mut();
        if let Some(fd) = e.host_fd() {
            host_sys::shutdown(fd, how)?;
        }
        e.shutdown |= bits;
        wake_later(e.id);
        Ok(())
    }

    /// Readiness of a host connection.
    pub(super) fn host_readiness(e: &Endpoint, events: i16) -> i16 {
        let all = events | libc::POLLERR | libc::POLLHUP;
        let mut r = match e.host_fd() {
            Some(fd) => host_sys::poll_now(fd, all | libc::POLLRDHUP),
            // Reset: readable (the error, then the end), writable (EPIPE), hung up.
            None => libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT | libc::POLLHUP,
        };
        if e.err != 0 {
            r |= libc::POLLERR;
        }
        if e.shutdown & RCV_SHUTDOWN != 0 {
            r |= libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP;
        }
        r & all
    }

    /// SO_ERROR of a host connection: its own pending error, else the host socket's.
    pub(super) fn host_error(e: &mut Endpoint) -> i32 {
        let own = std::mem::take(&mut e.err);
        if own != 0 {
            return own;
        }
        e.host_fd()
            .and_then(|fd| host_sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR).ok())
            .unwrap_or(0)
    }

    /// The address of the other end: the guest path connected to.
    pub(super) fn host_peername(e: &Endpoint) -> Option<Vec<u8>> {
        let h = e.host.as_ref()?;
        Some(UnixAddr::Path(h.path.clone()).bytes())
    }

    /// An int ioctl of the host socket (FIONREAD, TIOCOUTQ): 0 once reset.
    pub(super) fn host_ioctl_int(e: &Endpoint, req: libc::c_ulong) -> usize {
        e.host_fd()
            .and_then(|fd| host_sys::ioctl_int(fd, req).ok())
            .map_or(0, |n| n.max(0) as usize)
    }
}
