//! The host socket calls of host-backed inet sockets (`inet.rs`): AF_INET and AF_INET6
//! sockets, TCP and UDP, that the sentry makes in the container's network namespace; of
//! a guest's unix stream or seqpacket connection to a socket file of a host mount
//! (`unix/host.rs`); and
//! of the NETLINK_ROUTE socket through which the sentry reads that namespace's interfaces
//! (`netlink/route.rs`). Every
//! address passed here is one the sentry built (`inet::sockaddr`, a unix path the sentry
//! resolved in a host mount), never the guest's bytes, and every buffer is the sentry's
//! (the socket calls copy the guest's data in and out) or, for `recv_into`, guest pages
//! the memory manager checked and made the address space's own. Every fd is non-blocking and close-on-exec: a call that would wait says EAGAIN
//! and the task parks on the socket's readiness (`wait::watch_host`).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn check(r: libc::c_int) -> Result<(), i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// A new non-blocking TCP (`stream`) or UDP socket of AF_INET6 (`v6`) or AF_INET.
pub(crate) fn socket(v6: bool, stream: bool) -> Result<OwnedFd, i32> {
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    let ty = if stream {
        libc::SOCK_STREAM
    } else {
        libc::SOCK_DGRAM
    };
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new non-blocking AF_UNIX socket of type `ty` (SOCK_STREAM, SOCK_SEQPACKET), for a
/// guest's connection to a socket file of a host mount (`unix/host.rs`).
pub(crate) fn unix_socket(ty: i32) -> Result<OwnedFd, i32> {
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The peer's credentials of a connected AF_UNIX socket (SO_PEERCRED): pid, uid, gid.
pub(crate) fn peercred(fd: BorrowedFd) -> Result<(i32, u32, u32), i32> {
    // SAFETY: ucred is plain data; all-zero is valid.
    let mut c: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `c` is a writable ucred of `len` bytes.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut c as *mut libc::ucred).cast(),
            &mut len,
        )
    })?;
    Ok((c.pid, c.uid, c.gid))
}

/// A new non-blocking NETLINK_ROUTE socket, for the sentry's own requests of the
/// namespace's interfaces, addresses and routes (`netlink/route.rs`): never a guest's bytes.
pub(crate) fn netlink_route() -> Result<OwnedFd, i32> {
    let ty = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, ty, libc::NETLINK_ROUTE) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn bind(fd: BorrowedFd, addr: &[u8]) -> Result<(), i32> {
    // SAFETY: `addr` is a sockaddr the sentry built, of addr.len() bytes.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    })
}

pub(crate) fn listen(fd: BorrowedFd, backlog: i32) -> Result<(), i32> {
    // SAFETY: listen(2) takes no pointers.
    check(unsafe { libc::listen(fd.as_raw_fd(), backlog) })
}

/// Takes a pending connection (non-blocking, close-on-exec).
pub(crate) fn accept(fd: BorrowedFd) -> Result<OwnedFd, i32> {
    // SAFETY: null address and length: the peer's address is not asked for.
    let r = unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(errno());
    }
    // SAFETY: `r` was just returned by accept4(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// connect(2) of `addr`, or with AF_UNSPEC when `addr` is empty (a dissolve).
pub(crate) fn connect(fd: BorrowedFd, addr: &[u8]) -> Result<(), i32> {
    let unspec = (libc::AF_UNSPEC as u16).to_le_bytes();
    let a: &[u8] = if addr.is_empty() { &unspec } else { addr };
    // SAFETY: `a` is a sockaddr the sentry built, of a.len() bytes.
    check(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            a.as_ptr().cast(),
            a.len() as libc::socklen_t,
        )
    })
}

/// Sends `data` (to `to`, or the connected peer), without waiting and without SIGPIPE.
pub(crate) fn send(fd: BorrowedFd, data: &[u8], to: Option<&[u8]>) -> Result<usize, i32> {
    let (ptr, len) = match to {
        Some(a) => (a.as_ptr(), a.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: `data` is readable for data.len() bytes; the address, if any, is a sockaddr
    // the sentry built.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            ptr.cast(),
            len as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(errno());
    }
    Ok(r as usize)
}

/// A message received: its bytes (at most the length asked), its full length (a
/// datagram's before truncation), and the sender's address.
pub(crate) struct Received {
    pub(crate) data: Vec<u8>,
    pub(crate) full_len: usize,
    pub(crate) from: Vec<u8>,
}

/// Receives up to `len` bytes without waiting; `peek` leaves them queued. For a datagram
/// (`dgram`) the full length is its length before truncation.
pub(crate) fn recv(fd: BorrowedFd, len: usize, peek: bool, dgram: bool) -> Result<Received, i32> {
    let mut data = vec![0u8; len];
    // SAFETY: sockaddr_storage is plain bytes; all-zero is valid.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut from_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // (MSG_TRUNC on a TCP socket would drop the bytes.)
    let trunc = if dgram { libc::MSG_TRUNC } else { 0 };
    let flags = libc::MSG_DONTWAIT | trunc | if peek { libc::MSG_PEEK } else { 0 };
    // SAFETY: `data` is writable for len bytes, `from` for from_len bytes.
    let r = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            data.as_mut_ptr().cast(),
            len,
            flags,
            (&mut from as *mut libc::sockaddr_storage).cast(),
            &mut from_len,
        )
    };
    if r < 0 {
        return Err(errno());
    }
    let full_len = r as usize;
    data.truncate(full_len.min(len));
    let from_len = (from_len as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `from` is a sockaddr_storage, from_len bytes of which recvfrom filled.
    let from = unsafe {
        std::slice::from_raw_parts(
            (&from as *const libc::sockaddr_storage).cast::<u8>(),
            from_len,
        )
    }
    .to_vec();
    Ok(Received {
        data,
        full_len,
        from,
    })
}

/// Receives a stream's bytes into `bufs` (the guest's memory, through the sentry's
/// mapping of it) without waiting; 0 is the end of file.
pub(crate) fn recv_into(
    fd: BorrowedFd,
    bufs: &mut [std::io::IoSliceMut<'_>],
) -> Result<usize, i32> {
    // SAFETY: msghdr is plain data; all-zero is valid (no name, no control).
    let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSliceMut is ABI-compatible with iovec.
    m.msg_iov = bufs.as_mut_ptr().cast();
    m.msg_iovlen = bufs.len() as _;
    // SAFETY: the iovecs are writable for their lengths (borrowed mutably here).
    let r = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut m, libc::MSG_DONTWAIT) };
    if r < 0 {
        return Err(errno());
    }
    Ok(r as usize)
}

/// getsockname(2) (`peer` false) or getpeername(2), as raw bytes.
pub(crate) fn name(fd: BorrowedFd, peer: bool) -> Result<Vec<u8>, i32> {
    // SAFETY: sockaddr_storage is plain bytes; all-zero is valid.
    let mut a: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let p = (&mut a as *mut libc::sockaddr_storage).cast();
    // SAFETY: `a` is writable for `len` bytes.
    check(unsafe {
        if peer {
            libc::getpeername(fd.as_raw_fd(), p, &mut len)
        } else {
            libc::getsockname(fd.as_raw_fd(), p, &mut len)
        }
    })?;
    let len = (len as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `a` holds `len` bytes the call filled.
    Ok(unsafe {
        std::slice::from_raw_parts((&a as *const libc::sockaddr_storage).cast::<u8>(), len)
    }
    .to_vec())
}

pub(crate) fn setsockopt(fd: BorrowedFd, level: i32, name: i32, val: &[u8]) -> Result<(), i32> {
    // SAFETY: `val` is readable for val.len() bytes.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            val.as_ptr().cast(),
            val.len() as libc::socklen_t,
        )
    })
}

/// An int option.
pub(crate) fn getsockopt_int(fd: BorrowedFd, level: i32, name: i32) -> Result<i32, i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` is a writable int of `len` bytes.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

pub(crate) fn shutdown(fd: BorrowedFd, how: i32) -> Result<(), i32> {
    // SAFETY: shutdown(2) takes no pointers.
    check(unsafe { libc::shutdown(fd.as_raw_fd(), how) })
}

/// An ioctl whose argument is an int the call fills (FIONREAD, TIOCOUTQ).
pub(crate) fn ioctl_int(fd: BorrowedFd, req: libc::c_ulong) -> Result<i32, i32> {
    let mut v: libc::c_int = 0;
    // SAFETY: the requests the callers pass write one int to the pointer.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), req, &mut v as *mut libc::c_int) })?;
    Ok(v)
}

/// The poll events of `fd` now, among `events`.
pub(crate) fn poll_now(fd: BorrowedFd, events: i16) -> i16 {
    let mut p = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }];
    crate::platform::sys::poll(&mut p, 0);
    p[0].revents
}
