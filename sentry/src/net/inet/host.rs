//! Host-backed inet sockets: what goes to or comes from an address other than the sandbox's
//! loopback goes through a host socket the sentry makes in the container's network
//! namespace (which the sandbox process joined), so a bridge network, port publishing and
//! DNS work as with runc. An [`Endpoint`] gets its host socket when it first needs one:
//!
//! - a TCP connect or a UDP send or connect to a non-loopback address;
//! - a bind to a non-loopback address of the namespace (the host checks that it is one);
//! - a TCP listen, or a UDP bind, on the wildcard: the host socket takes the same port, so
//!   the listener accepts both the sandbox's loopback connections (the sentry's queue) and
//!   the outside's (the host's).
//!
//! The host socket is non-blocking and watched by the event loop's host epoll set under the
//! endpoint's id ([`crate::wait::watch_host`]): a task parks on the endpoint's id as for a
//! loopback socket, and the host's changes wake it and count as edges for edge-triggered
//! epoll. The guest never sees the host fd; the sentry copies the bytes.
//!
//! Only a socket of the sandbox's initial network namespace gets a host socket: one of a
//! namespace a task made never does ([`Endpoint::ensure_host`] refuses it), so nothing it
//! sends leaves that namespace.
//!
//! Checkpoint/restore: a host listener and a bound UDP socket are made again and bound to
//! the same address at restore; a connection to the outside cannot be carried over and is
//! reset (its reader sees ECONNRESET), as gVisor does.

use std::os::fd::{AsFd, BorrowedFd};

use super::{
    is_any, is_loopback, parse, sockaddr, Addr, Endpoint, EpRef, InetSocket, Proto, TcpState,
    SHUTDOWN_MASK,
};
use crate::fs::file::{FileImpl, IoErr};
use crate::fs::persist::KindError;
use crate::mm::Errno;
use crate::net::host_sys;
use crate::net::{RecvMsg, SocketCtx};
use crate::wait::{wake_later, WaitKey};

/// The options passed on to a host socket (the others mean nothing to the host's stack,
/// or are the sentry's alone: timeouts, SO_PASSCRED).
const PASSED: &[(i32, i32)] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    (libc::SOL_SOCKET, libc::SO_BROADCAST),
    (libc::SOL_SOCKET, libc::SO_OOBINLINE),
    (libc::SOL_SOCKET, libc::SO_DONTROUTE),
    (libc::SOL_SOCKET, libc::SO_PRIORITY),
    (libc::SOL_SOCKET, libc::SO_RCVLOWAT),
    (libc::SOL_SOCKET, libc::SO_LINGER),
    (libc::SOL_SOCKET, libc::SO_SNDBUF),
    (libc::SOL_SOCKET, libc::SO_RCVBUF),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY),
    (libc::IPPROTO_TCP, libc::TCP_CORK),
    (libc::IPPROTO_TCP, libc::TCP_QUICKACK),
    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
    (libc::IPPROTO_TCP, libc::TCP_SYNCNT),
    (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
    (libc::IPPROTO_TCP, libc::TCP_LINGER2),
    (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT),
    (libc::IPPROTO_TCP, libc::TCP_MAXSEG),
    (libc::IPPROTO_IP, libc::IP_TOS),
    (libc::IPPROTO_IP, libc::IP_TTL),
    (libc::IPPROTO_IP, libc::IP_FREEBIND),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP),
    (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
    (libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
    (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
    (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS),
    (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP),
];

/// Whether option (`level`, `name`) is passed on to the host socket.
pub(super) fn passed(level: i32, name: i32) -> bool {
    PASSED.contains(&(level, name))
}

/// Whether an address is reached through the host (not the sandbox's loopback).
pub(super) fn outside(ip: &[u8; 16]) -> bool {
    !is_loopback(ip) && !is_any(ip)
}

impl Endpoint {
    pub(super) fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        self.host.as_ref().map(|f| f.as_fd())
    }

    /// Makes its host socket, with the options set so far, watched by the event loop.
    /// Returns whether it was made now (false: it had one).
    pub(super) fn ensure_host(&mut self) -> Result<bool, Errno> {
        if self.host.is_some() {
            return Ok(false);
        }
        // The one gate: a namespace a task made is the sentry's alone.
        if !self.net.is_initial() {
            return Err(libc::ENETUNREACH);
        }
        let fd = host_sys::socket(self.v6, self.proto == Proto::Tcp)?;
        for (&(level, name), &v) in &self.opts {
            if !passed(level, name) {
                continue;
            }
            let val = if (level, name) == (libc::SOL_SOCKET, libc::SO_LINGER) {
                let mut b = v.to_le_bytes().to_vec();
                b.extend_from_slice(&self.opt(level, -name).to_le_bytes());
                b
            } else {
                v.to_le_bytes().to_vec()
            };
            if let Err(e) = host_sys::setsockopt(fd.as_fd(), level, name, &val) {
                log::debug!("host socket option ({level}, {name}): errno {e}");
            }
        }
        if self.rcvbuf_set {
            let half = ((self.rcvbuf / 2) as i32).to_le_bytes();
            let _ = host_sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, &half);
        }
        crate::wait::watch_host(fd.as_fd(), self.id)?;
        self.host = Some(fd);
        Ok(true)
    }

    /// Binds its host socket to `addr`.
    pub(super) fn host_bind(&self, addr: &Addr) -> Result<(), Errno> {
        let fd = self.host_fd().ok_or(libc::EINVAL)?;
        host_sys::bind(fd, &sockaddr(self.v6, addr))
    }

    /// The host socket's own address (`peer` false) or its peer's.
    pub(super) fn host_name(&self, peer: bool) -> Option<Addr> {
        let raw = host_sys::name(self.host_fd()?, peer).ok()?;
        parse(self.v6, &raw).ok()
    }

    /// A host connect in progress that has finished: the connection is established, or
    /// failed with the error SO_ERROR reports from now on.
    pub(super) fn host_progress(&mut self) {
        if self.state != TcpState::SynSent {
            return;
        }
        let Some(fd) = self.host_fd() else { return };
        let r = host_sys::poll_now(fd, libc::POLLOUT);
        if r & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) == 0 {
            return;
        }
        let err = host_sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR).unwrap_or(0);
        if err == 0 {
            self.state = TcpState::Established;
            self.local = self.host_name(false).or(self.local);
        } else {
            self.state = TcpState::Closed;
            self.err = err;
            self.shutdown = SHUTDOWN_MASK;
        }
        wake_later(self.id);
    }

    /// What its host socket has for poll among `events`.
    pub(super) fn host_events(&self, events: i16) -> i16 {
        self.host_fd()
            .map_or(0, |fd| host_sys::poll_now(fd, events))
    }

    /// Makes its host socket again at restore: a listener listens and a UDP socket is bound
    /// (and connected) again; a TCP connection is reset.
    pub(super) fn host_restore(&mut self, backlog: Option<usize>) -> Result<(), KindError> {
        if self.proto == Proto::Tcp && self.state != TcpState::Listen {
            self.state = TcpState::Closed;
            self.err = libc::ECONNRESET;
            self.shutdown = SHUTDOWN_MASK;
            self.connecting = false;
            self.peer = None;
            self.bytes.clear();
            // Its waiters (an epoll set watching it) see the reset once parked again.
            crate::wait::host_gone(self.id);
            return Ok(());
        }
        let what = format!("inet socket {}", self.id);
        let fail = |e: i32| KindError::HostSocket {
            what: what.clone(),
            source: std::io::Error::from_raw_os_error(e),
        };
        let local = self.local.ok_or_else(|| fail(libc::EINVAL))?;
        self.ensure_host().map_err(fail)?;
        self.host_bind(&local).map_err(fail)?;
        let fd = self.host_fd().expect("made above");
        if let Some(b) = backlog {
            host_sys::listen(fd, b as i32).map_err(fail)?;
        }
        if let Some(r) = self.remote.filter(|r| outside(&r.ip)) {
            host_sys::connect(fd, &sockaddr(self.v6, &r)).map_err(fail)?;
        }
        Ok(())
    }
}

fn io(e: i32, id: u64) -> IoErr {
    match e {
        libc::EAGAIN => IoErr::Block(WaitKey::Object(id)),
        libc::EPIPE => IoErr::Pipe,
        e => IoErr::Errno(e),
    }
}

impl InetSocket {
    /// Whether it is a TCP connection (or a connect) through the host.
    pub(super) fn host_stream(&self) -> bool {
        let e = self.ep.borrow();
        e.proto == Proto::Tcp && e.host.is_some() && e.state != TcpState::Listen
    }

    /// connect(2) of a TCP socket to an address outside: a host connect, which says
    /// EINPROGRESS when non-blocking; a blocking one waits for the outcome.
    pub(super) fn host_connect(&mut self, dest: Addr, nonblock: bool) -> Result<(), IoErr> {
        let mut e = self.ep.borrow_mut();
        let made = e.ensure_host()?;
        if made && e.user_bound {
            if let Some(l) = e.local {
                if let Err(err) = e.host_bind(&l) {
                    e.host = None;
                    return Err(IoErr::Errno(err));
                }
            }
        }
        e.remote = Some(dest);
        let fd = e.host_fd().expect("made above");
        match host_sys::connect(fd, &sockaddr(e.v6, &dest)) {
            Ok(()) => {
                e.state = TcpState::Established;
                e.local = e.host_name(false).or(e.local);
                Ok(())
            }
            Err(libc::EINPROGRESS) => {
                e.state = TcpState::SynSent;
                // The outcome is reported once: by this connect when it waits, or by a
                // later connect or SO_ERROR.
                e.connecting = true;
                if nonblock {
                    Err(IoErr::Errno(libc::EINPROGRESS))
                } else {
                    Err(IoErr::Block(WaitKey::Object(e.id)))
                }
            }
            Err(err) => {
                e.remote = None;
                e.host = None;
                Err(IoErr::Errno(err))
            }
        }
    }

    /// A UDP socket's host socket, bound to the socket's port (it was bound in the
    /// sentry, or is now).
    pub(super) fn host_udp(&mut self, ports: &mut super::Ports) -> Result<(), Errno> {
        self.autobind(ports)?;
        let mut e = self.ep.borrow_mut();
        if e.ensure_host()? {
            let mut l = e.local.expect("bound");
            if !outside(&l.ip) {
                l.ip = e.any();
            }
            if let Err(err) = e.host_bind(&l) {
                e.host = None;
                return Err(err);
            }
        }
        Ok(())
    }

    pub(super) fn host_send_stream(&mut self, data: &[u8]) -> Result<usize, IoErr> {
        let mut e = self.ep.borrow_mut();
        e.host_progress();
        if e.err != 0 {
            let err = std::mem::take(&mut e.err);
            return Err(io(err, e.id));
        }
        match e.state {
            TcpState::SynSent => return Err(IoErr::Block(WaitKey::Object(e.id))),
            TcpState::Closed => return Err(IoErr::Pipe),
            _ => {}
        }
        let fd = e.host_fd().expect("a host stream");
        host_sys::send(fd, data, None).map_err(|err| io(err, e.id))
    }

    /// Whether a connection through the host may be read now: not while its connect is
    /// in progress, an error once it failed or was reset.
    fn host_readable(e: &mut Endpoint) -> Result<(), IoErr> {
        e.host_progress();
        match e.state {
            TcpState::SynSent => Err(IoErr::Block(WaitKey::Object(e.id))),
            TcpState::Closed if e.err != 0 => {
                let err = std::mem::take(&mut e.err);
                Err(IoErr::Errno(err))
            }
            TcpState::Closed => Err(IoErr::Errno(libc::ENOTCONN)),
            _ => Ok(()),
        }
    }

    /// A receive of a connection through the host straight into `bufs` (guest memory).
    pub(super) fn host_recv_in_place(
        &mut self,
        bufs: &mut [std::io::IoSliceMut<'_>],
    ) -> Result<usize, IoErr> {
        let mut e = self.ep.borrow_mut();
        Self::host_readable(&mut e)?;
        let fd = e.host_fd().expect("a host stream");
        host_sys::recv_into(fd, bufs).map_err(|err| io(err, e.id))
    }

    pub(super) fn host_recv_stream(&mut self, len: usize, peek: bool) -> Result<RecvMsg, IoErr> {
        let mut e = self.ep.borrow_mut();
        Self::host_readable(&mut e)?;
        let fd = e.host_fd().expect("a host stream");
        let r = host_sys::recv(fd, len, peek, false).map_err(|err| io(err, e.id))?;
        Ok(RecvMsg {
            eof: r.full_len == 0 && len > 0,
            full_len: r.data.len(),
            data: r.data,
            ..RecvMsg::default()
        })
    }

    /// Sends a datagram to `dest` outside through the host.
    pub(super) fn host_send_dgram(&mut self, dest: &Addr, data: &[u8]) -> Result<usize, IoErr> {
        let ports = self.ports();
        self.host_udp(&mut ports.borrow_mut())?;
        let e = self.ep.borrow();
        let fd = e.host_fd().expect("made above");
        host_sys::send(fd, data, Some(&sockaddr(e.v6, dest))).map_err(|err| io(err, e.id))
    }

    /// A datagram from the host socket, if it has one.
    pub(super) fn host_recv_dgram(
        &mut self,
        len: usize,
        peek: bool,
    ) -> Option<Result<RecvMsg, IoErr>> {
        let e = self.ep.borrow();
        let fd = e.host_fd()?;
        Some(match host_sys::recv(fd, len, peek, true) {
            Ok(r) => Ok(RecvMsg {
                data: r.data,
                full_len: r.full_len,
                addr: Some(r.from),
                ..RecvMsg::default()
            }),
            Err(err) => Err(io(err, e.id)),
        })
    }

    /// Takes a connection from the host listener.
    pub(super) fn host_accept(
        &mut self,
        c: &mut dyn SocketCtx,
    ) -> Result<(Box<dyn FileImpl>, Vec<u8>), IoErr> {
        let l = self.ep.borrow();
        let fd =
            host_sys::accept(l.host_fd().expect("a host listener")).map_err(|e| io(e, l.id))?;
        let id = c.new_obj_id();
        crate::wait::watch_host(fd.as_fd(), id)?;
        let mut s = Endpoint::new(id, l.net.clone(), Proto::Tcp, l.v6);
        s.host = Some(fd);
        s.state = TcpState::Established;
        s.local = s.host_name(false);
        s.remote = s.host_name(true);
        s.opts = l.opts.clone();
        s.sndbuf = l.sndbuf;
        s.rcvbuf = l.rcvbuf;
        s.rcvbuf_set = l.rcvbuf_set;
        let addr = sockaddr(
            s.v6,
            &s.remote.unwrap_or(Addr {
                ip: s.any(),
                port: 0,
            }),
        );
        let ep: EpRef = std::rc::Rc::new(std::cell::RefCell::new(s));
        Ok((Box::new(InetSocket { ep }), addr))
    }
}

impl InetSocket {
    /// A host socket beside a socket the sentry bound to the wildcard (a TCP listener, a
    /// UDP socket), on the same port, so the outside reaches it too. When a process of
    /// the host's namespace holds that port, the socket serves the sandbox's loopback
    /// alone, as a socket whose port is taken on the outside would.
    pub(super) fn host_shadow(&mut self) -> Result<(), Errno> {
        let mut e = self.ep.borrow_mut();
        let Some(l) = e.local else { return Ok(()) };
        if !e.net.is_initial() || !is_any(&l.ip) || !e.ensure_host()? {
            return Ok(());
        }
        match e.host_bind(&l) {
            Ok(()) => Ok(()),
            Err(libc::EADDRINUSE) => {
                log::warn!(
                    "port {} is taken in the network namespace: socket {} serves the sandbox's \
                     loopback only",
                    l.port,
                    e.id
                );
                e.host = None;
                Ok(())
            }
            Err(err) => {
                e.host = None;
                Err(err)
            }
        }
    }

    /// A TCP listen, on the host socket too when the socket is bound outside or to the
    /// wildcard.
    pub(super) fn host_listen(&mut self, backlog: usize) -> Result<(), Errno> {
        self.host_shadow()?;
        let mut e = self.ep.borrow_mut();
        if let Some(fd) = e.host_fd() {
            if let Err(err) = host_sys::listen(fd, backlog.min(i32::MAX as usize) as i32) {
                e.host = None;
                return Err(err);
            }
        }
        Ok(())
    }

    /// bind(2) to an address outside: the host binds it (EADDRNOTAVAIL when the network
    /// namespace does not have it; port 0 picks one), then the sentry registers it.
    pub(super) fn host_bind_outside(
        &mut self,
        ports: &mut super::Ports,
        addr: Addr,
    ) -> Result<(), Errno> {
        let port = {
            let mut e = self.ep.borrow_mut();
            e.ensure_host()?;
            if let Err(err) = e.host_bind(&addr) {
                e.host = None;
                return Err(err);
            }
            e.host_name(false).map_or(addr.port, |a| a.port)
        };
        let r = self.bind_to(ports, Addr { ip: addr.ip, port });
        if r.is_err() {
            self.ep.borrow_mut().host = None;
        }
        r
    }

    /// shutdown(2) of a connection through the host.
    pub(super) fn host_shutdown(&mut self, how: i32, bits: u8) -> Result<(), Errno> {
        let mut e = self.ep.borrow_mut();
        e.host_progress();
        if e.state != TcpState::Established {
            return Err(libc::ENOTCONN);
        }
        host_sys::shutdown(e.host_fd().expect("a host stream"), how)?;
        e.shutdown |= bits;
        wake_later(e.id);
        Ok(())
    }

    /// Readiness of a connection through the host.
    pub(super) fn host_readiness(&self, events: i16) -> i16 {
        let mut e = self.ep.borrow_mut();
        e.host_progress();
        if e.state == TcpState::SynSent {
            return 0;
        }
        let mut r = e.host_events(events | libc::POLLERR | libc::POLLHUP);
        if e.err != 0 {
            r |= libc::POLLERR;
        }
        r & (events | libc::POLLERR | libc::POLLHUP)
    }

    /// An int ioctl of the host socket (FIONREAD, TIOCOUTQ), 0 without one.
    pub(super) fn host_ioctl_int(&self, req: libc::c_ulong) -> i32 {
        let e = self.ep.borrow();
        e.host_fd()
            .and_then(|fd| host_sys::ioctl_int(fd, req).ok())
            .unwrap_or(0)
    }
}
