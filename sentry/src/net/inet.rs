//! AF_INET and AF_INET6 sockets, TCP and UDP, between the sandbox's own processes over a
//! loopback address (127.0.0.0/8, ::1, IPv4-mapped loopback): sentry objects like a unix
//! stream pair, so a connection is saved with its bytes in flight.
//!
//! Every other address is reached through a host socket of the container's network
//! namespace (`host.rs`): binding an address the namespace does not have is EADDRNOTAVAIL,
//! as the host says. That is for sockets of the sandbox's initial network namespace; a
//! socket of a namespace a task made (`ns.rs`) has that namespace's ports and loopback
//! alone, and never a host socket: every other address is unreachable from it.
//!
//! A socket is an [`Endpoint`] shared by the open file that holds it ([`InetSocket`]), by
//! its TCP peer and by a listener whose accept queue holds it. [`Ports`] is the kernel's
//! table of bound ports, the one place connect and sendto find their target. A TCP
//! connection is two endpoints linked as peers, each with the bytes sent to it; connect
//! makes the server end at once and queues it on the listener (the handshake of loopback
//! is immediate), or, when the accept queue is full, waits on the listener's list until an
//! accept makes room (Linux's client retries its SYN). A UDP endpoint holds the datagrams
//! sent to it with their source; one that finds no room drops them as Linux does.
//!
//! Waiting: as unix sockets, a receiver parks on its own endpoint's id and a sender on its
//! peer's; every change wakes the ids it concerns ([`wake_later`]).
//!
//! Not modelled: TIME_WAIT (a port is free again as soon as its last socket closes), urgent
//! data, and TCP's segments (a read takes whatever bytes are there).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::rc::{Rc, Weak};

use serde::{Deserialize, Serialize};

use super::ns::{restored_net, NetRef};
use super::{host_sys, int_opt, timeval_bytes, timeval_opt, RecvMsg, SendMsg, Socket, SocketCtx};
use crate::checks::{bad, Invalid};
use crate::fs::file::{anon_stat, FileImpl, FileRef, IoErr, IoctlCaller};
use crate::fs::persist::{
    CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx, SharedPersist,
};
use crate::mm::Errno;
use crate::wait::{wake_later, WaitKey};

/// sizeof(struct sockaddr_in), sizeof(struct sockaddr_in6), and the shortest
/// sockaddr_in6 Linux takes (SIN6_LEN_RFC2133, without sin6_scope_id).
const SIN_LEN: usize = 16;
const SIN6_LEN: usize = 28;
const SIN6_LEN_RFC2133: usize = 24;
/// The ephemeral port range (net.ipv4.ip_local_port_range).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;
/// Ports below this need CAP_NET_BIND_SERVICE (net.ipv4.ip_unprivileged_port_start).
const PRIVILEGED: u16 = 1024;
/// Most connections a listener queues (net.core.somaxconn).
const SOMAXCONN: usize = 4096;
/// SO_SNDBUF and SO_RCVBUF as Linux reports them before they are set: tcp_wmem[1],
/// tcp_rmem[1], and net.core.{w,r}mem_default for UDP.
const TCP_SNDBUF: usize = 16_384;
const TCP_RCVBUF: usize = 131_072;
const UDP_BUF: usize = 212_992;
/// The most SO_SNDBUF and SO_RCVBUF take (net.core.{w,r}mem_max), before doubling, and
/// the least they give.
const BUF_SET_MAX: usize = 212_992;
const SNDBUF_MIN: usize = 4608;
const RCVBUF_MIN: usize = 2304;
/// What a TCP receive buffer not sized by SO_RCVBUF holds (Linux's autotuning grows it to
/// tcp_rmem[2], 6 MiB).
const TCP_AUTO_BUF: usize = 4 << 20;
/// The most a receive queue holds whatever SO_RCVBUFFORCE asked (the sentry's memory is
/// the host's).
const QUEUE_MAX: usize = 16 << 20;
/// The most SO_SNDBUFFORCE and SO_RCVBUFFORCE give (INT_MAX / 2, doubled).
const BUF_FORCE_MAX: usize = (i32::MAX as usize / 2) * 2;
/// The longest UDP payload over IPv4 and IPv6.
const UDP_MAX_V4: usize = 65_507;
const UDP_MAX_V6: usize = 65_527;
/// sk_shutdown bits.
const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_MASK: u8 = 3;
/// CAP_NET_BIND_SERVICE.
const CAP_NET_BIND_SERVICE: u32 = 10;

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Proto {
    Tcp,
    Udp,
}

/// An address: the IPv6 form of its IP (an IPv4 address IPv4-mapped) and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Addr {
    pub ip: [u8; 16],
    pub port: u16,
}

const V4_PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const ANY6: [u8; 16] = [0; 16];
const LOOP6: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

fn mapped(v4: [u8; 4]) -> [u8; 16] {
    let mut ip = [0u8; 16];
    ip[..12].copy_from_slice(&V4_PREFIX);
    ip[12..].copy_from_slice(&v4);
    ip
}

fn is_v4(ip: &[u8; 16]) -> bool {
    ip[..12] == V4_PREFIX
}

fn is_any(ip: &[u8; 16]) -> bool {
    *ip == ANY6 || *ip == mapped([0; 4])
}

fn is_loopback(ip: &[u8; 16]) -> bool {
    *ip == LOOP6 || (is_v4(ip) && ip[12] == 127)
}

/// The source address loopback gives for a destination (lo's 127.0.0.1, or ::1).
fn source_for(dest: &[u8; 16]) -> [u8; 16] {
    if is_v4(dest) {
        mapped([127, 0, 0, 1])
    } else {
        LOOP6
    }
}

/// The family in the first two bytes of an address.
fn family(raw: &[u8]) -> Option<i32> {
    (raw.len() >= 2).then(|| u16::from_le_bytes([raw[0], raw[1]]) as i32)
}

/// Decodes a `struct sockaddr_in` (`v6` false) or `struct sockaddr_in6` of the length the
/// guest gave: EINVAL when too short, EAFNOSUPPORT when of another family.
fn parse(v6: bool, raw: &[u8]) -> Result<Addr, Errno> {
    let port = |raw: &[u8]| u16::from_be_bytes([raw[2], raw[3]]);
    if !v6 {
        if raw.len() < SIN_LEN {
            return Err(libc::EINVAL);
        }
        if family(raw) != Some(libc::AF_INET) {
            return Err(libc::EAFNOSUPPORT);
        }
        let ip = mapped(raw[4..8].try_into().expect("4"));
        return Ok(Addr {
            ip,
            port: port(raw),
        });
    }
    if raw.len() < SIN6_LEN_RFC2133 {
        return Err(libc::EINVAL);
    }
    if family(raw) != Some(libc::AF_INET6) {
        return Err(libc::EAFNOSUPPORT);
    }
    Ok(Addr {
        ip: raw[8..24].try_into().expect("16"),
        port: port(raw),
    })
}

/// Decodes a datagram destination: an IPv6 socket also takes a `sockaddr_in` (unless
/// IPV6_V6ONLY: `only_err`), as Linux's UDPv6 does.
fn parse_dgram(v6: bool, v6only: bool, raw: &[u8], only_err: Errno) -> Result<Addr, Errno> {
    if v6 && family(raw) == Some(libc::AF_INET) {
        if v6only {
            return Err(only_err);
        }
        return parse(false, raw);
    }
    parse(v6, raw)
}

/// An address as the guest's sockaddr of the socket's family (an IPv4 one IPv4-mapped in
/// an IPv6 socket's).
fn sockaddr(v6: bool, a: &Addr) -> Vec<u8> {
    let mut b;
    if v6 {
        b = vec![0u8; SIN6_LEN];
        b[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_le_bytes());
        b[8..24].copy_from_slice(&a.ip);
    } else {
        b = vec![0u8; SIN_LEN];
        b[..2].copy_from_slice(&(libc::AF_INET as u16).to_le_bytes());
        b[4..8].copy_from_slice(&a.ip[12..]);
    }
    b[2..4].copy_from_slice(&a.port.to_be_bytes());
    b
}

/// The addresses a socket bound to one IP receives: none, all of a family, or one.
#[derive(PartialEq)]
enum Cover {
    Nothing,
    All,
    One([u8; 16]),
}

impl Cover {
    fn overlaps(&self, o: &Cover) -> bool {
        match (self, o) {
            (Cover::Nothing, _) | (_, Cover::Nothing) => false,
            (Cover::All, _) | (_, Cover::All) => true,
            (Cover::One(a), Cover::One(b)) => a == b,
        }
    }

    fn has(&self, ip: &[u8; 16]) -> bool {
        match self {
            Cover::Nothing => false,
            Cover::All => true,
            Cover::One(a) => a == ip,
        }
    }
}

/// What a socket bound to `ip` receives: (IPv4 addresses, IPv6 addresses). `::` covers
/// IPv4 too unless IPV6_V6ONLY.
fn covers(v6: bool, v6only: bool, ip: &[u8; 16]) -> (Cover, Cover) {
    if v6 && *ip == ANY6 {
        return (if v6only { Cover::Nothing } else { Cover::All }, Cover::All);
    }
    if !v6 || is_v4(ip) {
        let c = if is_any(ip) {
            Cover::All
        } else {
            Cover::One(*ip)
        };
        return (c, Cover::Nothing);
    }
    (Cover::Nothing, Cover::One(*ip))
}

/// How well a socket bound to `ip` matches a destination: 2 exactly, 1 as a wildcard,
/// 0 not at all.
fn matches(v6: bool, v6only: bool, ip: &[u8; 16], dest: &[u8; 16]) -> u8 {
    let (c4, c6) = covers(v6, v6only, ip);
    let c = if is_v4(dest) { c4 } else { c6 };
    match c {
        Cover::One(_) if c.has(dest) => 2,
        Cover::All => 1,
        _ => 0,
    }
}

type EpRef = Rc<RefCell<Endpoint>>;

/// A bound socket as a bind conflict sees it.
struct BindInfo {
    v6: bool,
    v6only: bool,
    ip: [u8; 16],
    reuseaddr: bool,
    reuseport: bool,
    listening: bool,
}

impl BindInfo {
    /// Whether binding `self` clashes with `other`, bound to the same port: their
    /// addresses overlap, and neither SO_REUSEPORT on both nor SO_REUSEADDR on both
    /// (with `other` not listening, for TCP) lets them share it.
    fn clashes(&self, other: &BindInfo, proto: Proto) -> bool {
        let (a4, a6) = covers(self.v6, self.v6only, &self.ip);
        let (b4, b6) = covers(other.v6, other.v6only, &other.ip);
        if !(a4.overlaps(&b4) || a6.overlaps(&b6)) {
            return false;
        }
        if self.reuseport && other.reuseport {
            return false;
        }
        let reuse = self.reuseaddr && other.reuseaddr;
        match proto {
            Proto::Tcp => !reuse || other.listening,
            Proto::Udp => !reuse,
        }
    }
}

/// The kernel's table of bound ports, shared by its sockets (each endpoint holds it, so
/// write(2) on a connected UDP socket finds its receiver).
pub(crate) type PortsRef = Rc<RefCell<Ports>>;

/// The ports bound in a kernel, by protocol: the sockets on each (a listener, the
/// connections it accepted, clients, UDP sockets).
#[derive(Default)]
pub(crate) struct Ports {
    bound: HashMap<(Proto, u16), Vec<Weak<RefCell<Endpoint>>>>,
    next: u32,
}

impl Ports {
    /// The open endpoints bound to `port`, other than `except`.
    fn on(&mut self, proto: Proto, port: u16, except: Option<&EpRef>) -> Vec<EpRef> {
        let Some(list) = self.bound.get_mut(&(proto, port)) else {
            return Vec::new();
        };
        list.retain(|w| {
            w.upgrade().is_some_and(|e| {
                e.try_borrow()
                    .map_or(true, |e| e.open && e.local.is_some_and(|l| l.port == port))
            })
        });
        let live: Vec<EpRef> = list
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|e| except.is_none_or(|x| !Rc::ptr_eq(e, x)))
            .collect();
        if list.is_empty() {
            self.bound.remove(&(proto, port));
        }
        live
    }

    fn add(&mut self, proto: Proto, port: u16, ep: &EpRef) {
        self.bound
            .entry((proto, port))
            .or_default()
            .push(Rc::downgrade(ep));
    }

    /// Whether `me` (not borrowed) may hold `port` as `info` says.
    fn conflict(&mut self, proto: Proto, port: u16, me: &EpRef, info: &BindInfo) -> bool {
        self.on(proto, port, Some(me))
            .iter()
            .any(|o| info.clashes(&o.borrow().bind_info(), proto))
    }

    /// A free ephemeral port.
    fn ephemeral(&mut self, proto: Proto) -> Option<u16> {
        let (lo, hi) = (*EPHEMERAL.start() as u32, *EPHEMERAL.end() as u32);
        let n = hi - lo + 1;
        for _ in 0..n {
            let port = (lo + self.next % n) as u16;
            self.next = self.next.wrapping_add(1);
            if self.on(proto, port, None).is_empty() {
                return Some(port);
            }
        }
        None
    }

    /// The listener a connection to `dest` reaches: the one bound to its address rather
    /// than to a wildcard.
    fn listener(&mut self, dest: &Addr) -> Option<EpRef> {
        self.best(Proto::Tcp, dest, |e| e.state == TcpState::Listen)
    }

    /// The UDP socket a datagram from `src` to `dest` reaches: one bound to the address
    /// rather than to a wildcard, connected to `src` or to nothing.
    fn receiver(&mut self, dest: &Addr, src: &Addr) -> Option<EpRef> {
        self.best(Proto::Udp, dest, |e| e.remote.is_none_or(|r| r == *src))
    }

    fn best(&mut self, proto: Proto, dest: &Addr, ok: impl Fn(&Endpoint) -> bool) -> Option<EpRef> {
        let mut best: Option<(u8, EpRef)> = None;
        for e in self.on(proto, dest.port, None) {
            let score = {
                let b = e.borrow();
                match b.local {
                    Some(l) if ok(&b) => matches(b.v6, b.v6only(), &l.ip, &dest.ip),
                    _ => 0,
                }
            };
            // On a tie the socket bound last wins (as Linux gives a SO_REUSEADDR
            // group's datagrams to its newest member).
            if score > 0 && score >= best.as_ref().map_or(0, |b| b.0) {
                best = Some((score, e));
            }
        }
        best.map(|b| b.1)
    }

    /// Registers a restored endpoint's port.
    pub(crate) fn register(&mut self, ep: &EpRef) {
        let (open, local, proto) = {
            let e = ep.borrow();
            (e.open, e.local, e.proto)
        };
        if let (true, Some(l)) = (open, local) {
            let known = self
                .on(proto, l.port, None)
                .iter()
                .any(|e| Rc::ptr_eq(e, ep));
            if !known {
                self.add(proto, l.port, ep);
            }
        }
    }
}

/// TCP's states as the sentry tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TcpState {
    /// Not connected: new, refused, reset, or disconnected.
    Closed,
    Listen,
    /// Waiting for room in a full accept queue.
    SynSent,
    /// Connected (also after the peer closed: CLOSE_WAIT).
    Established,
}

/// A UDP datagram in a receive queue.
struct Dgram {
    from: Addr,
    data: Vec<u8>,
}

struct Listen {
    backlog: usize,
    /// Connections not yet accepted: their server ends, each connected to its client.
    queue: VecDeque<EpRef>,
    /// Clients whose connect waits for room in the queue.
    waiting: VecDeque<EpRef>,
}

mod host;

/// One AF_INET or AF_INET6 socket.
pub struct Endpoint {
    pub(crate) id: u64,
    /// The network namespace it was made in, whose ports table it is in.
    net: NetRef,
    proto: Proto,
    /// AF_INET6 (addresses reported as sockaddr_in6).
    v6: bool,
    state: TcpState,
    /// Its address: set by bind, or picked by connect, listen or a send.
    local: Option<Addr>,
    /// Bound by bind(2) (a disconnect keeps it), not picked.
    user_bound: bool,
    /// The peer's address (TCP), the default destination (UDP).
    remote: Option<Addr>,
    /// connect said EINPROGRESS, and no call has reported the outcome yet.
    connecting: bool,
    listen: Option<Listen>,
    /// The other end of a TCP connection.
    peer: Option<EpRef>,
    /// TCP: the bytes received.
    bytes: VecDeque<u8>,
    /// UDP: the datagrams received, and their bytes.
    dgrams: VecDeque<Dgram>,
    dgram_bytes: usize,
    /// The peer sent its FIN: reads end at end of file whatever came after.
    fin: bool,
    /// RCV_SHUTDOWN | SEND_SHUTDOWN.
    shutdown: u8,
    /// The pending error SO_ERROR reports.
    err: i32,
    sndbuf: usize,
    rcvbuf: usize,
    /// SO_RCVBUF sized the receive buffer (else a TCP one holds TCP_AUTO_BUF).
    rcvbuf_set: bool,
    rcvtimeo: u64,
    sndtimeo: u64,
    /// Other options, kept and reported, by (level, name).
    opts: BTreeMap<(i32, i32), i32>,
    /// Whether an open file or a listener's queue still holds it.
    open: bool,
    /// Its host socket, for what goes to or comes from outside the sandbox (`host.rs`).
    host: Option<OwnedFd>,
}

impl Endpoint {
    fn new(id: u64, net: NetRef, proto: Proto, v6: bool) -> Endpoint {
        let (sndbuf, rcvbuf) = match proto {
            Proto::Tcp => (TCP_SNDBUF, TCP_RCVBUF),
            Proto::Udp => (UDP_BUF, UDP_BUF),
        };
        Endpoint {
            id,
            net,
            proto,
            v6,
            state: TcpState::Closed,
            local: None,
            user_bound: false,
            remote: None,
            connecting: false,
            listen: None,
            peer: None,
            bytes: VecDeque::new(),
            dgrams: VecDeque::new(),
            dgram_bytes: 0,
            fin: false,
            shutdown: 0,
            err: 0,
            sndbuf,
            rcvbuf,
            rcvbuf_set: false,
            rcvtimeo: 0,
            sndtimeo: 0,
            opts: BTreeMap::new(),
            open: true,
            host: None,
        }
    }

    fn opt(&self, level: i32, name: i32) -> i32 {
        self.opts.get(&(level, name)).copied().unwrap_or(0)
    }

    fn v6only(&self) -> bool {
        self.v6 && self.opt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) != 0
    }

    fn bind_info(&self) -> BindInfo {
        BindInfo {
            v6: self.v6,
            v6only: self.v6only(),
            ip: self.local.map_or(ANY6, |l| l.ip),
            reuseaddr: self.opt(libc::SOL_SOCKET, libc::SO_REUSEADDR) != 0,
            reuseport: self.opt(libc::SOL_SOCKET, libc::SO_REUSEPORT) != 0,
            listening: self.state == TcpState::Listen,
        }
    }

    /// The bytes its receive queue holds before senders wait (TCP) or datagrams drop.
    fn capacity(&self) -> usize {
        if self.proto == Proto::Tcp && !self.rcvbuf_set {
            TCP_AUTO_BUF
        } else {
            self.rcvbuf.min(QUEUE_MAX)
        }
    }

    /// The wildcard of its family.
    fn any(&self) -> [u8; 16] {
        if self.v6 {
            ANY6
        } else {
            mapped([0; 4])
        }
    }
}

/// Ends an endpoint: its peer sees end of file, or a reset when data it sent was never
/// read, SO_LINGER with no time asked one, or `reset` (a connection never accepted);
/// pending connections are reset and waiting ones refused.
fn close(ep: &EpRef, reset: bool) {
    let (peer, listen, unread, id) = {
        let mut e = ep.borrow_mut();
        if !e.open {
            return;
        }
        e.open = false;
        e.shutdown = SHUTDOWN_MASK;
        e.host = None;
        let unread = !e.bytes.is_empty();
        let linger0 = e.opt(libc::SOL_SOCKET, libc::SO_LINGER) != 0
            && e.opt(libc::SOL_SOCKET, -libc::SO_LINGER) == 0;
        e.bytes.clear();
        e.dgrams.clear();
        e.dgram_bytes = 0;
        (
            e.peer.take(),
            e.listen.take(),
            unread || linger0 || reset,
            e.id,
        )
    };
    wake_later(id);
    if let Some(p) = peer {
        let mut pb = p.borrow_mut();
        if pb.open {
            if unread {
                reset_conn(&mut pb, libc::ECONNRESET);
            } else {
                pb.fin = true;
                pb.shutdown |= RCV_SHUTDOWN;
            }
            wake_later(pb.id);
        }
    }
    if let Some(l) = listen {
        for c in l.queue {
            close(&c, true);
        }
        for w in l.waiting {
            let mut wb = w.borrow_mut();
            if wb.state == TcpState::SynSent {
                reset_conn(&mut wb, libc::ECONNREFUSED);
                wake_later(wb.id);
            }
        }
    }
}

/// A connection reset (or refused): the error to report, nothing more to send or read.
fn reset_conn(e: &mut Endpoint, err: i32) {
    e.err = err;
    e.shutdown = SHUTDOWN_MASK;
    e.state = TcpState::Closed;
    e.peer = None;
}

/// Makes a file for endpoint `ep`.
fn file_of(ep: EpRef, nonblock: bool) -> FileRef {
    let id = ep.borrow().id;
    super::socket_file(Box::new(InetSocket { ep }), id, nonblock)
}

/// The protocol of socket(2)'s `ty` (without flags) and `protocol` for AF_INET and
/// AF_INET6: ESOCKTNOSUPPORT for types without one, EPROTONOSUPPORT for a protocol that
/// does not go with the type.
pub(crate) fn protocol(ty: i32, protocol: i32) -> Result<Proto, Errno> {
    match (ty, protocol) {
        (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => Ok(Proto::Tcp),
        (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => Ok(Proto::Udp),
        (libc::SOCK_STREAM | libc::SOCK_DGRAM, _) => Err(libc::EPROTONOSUPPORT),
        (libc::SOCK_RAW, _) => Err(libc::EPROTONOSUPPORT),
        (libc::SOCK_SEQPACKET | libc::SOCK_RDM, _) => Err(libc::ESOCKTNOSUPPORT),
        _ => Err(libc::EINVAL),
    }
}

/// A new socket of namespace `net`, as socket(2) makes it.
pub(crate) fn socket(net: NetRef, id: u64, v6: bool, proto: Proto, nonblock: bool) -> FileRef {
    file_of(
        Rc::new(RefCell::new(Endpoint::new(id, net, proto, v6))),
        nonblock,
    )
}

/// An open AF_INET or AF_INET6 socket.
pub struct InetSocket {
    ep: EpRef,
}

impl Drop for InetSocket {
    fn drop(&mut self) {
        close(&self.ep, false);
    }
}

impl InetSocket {
    fn id(&self) -> u64 {
        self.ep.borrow().id
    }

    fn proto(&self) -> Proto {
        self.ep.borrow().proto
    }

    fn ports(&self) -> PortsRef {
        self.ep.borrow().net.inet.clone()
    }

    /// Binds the socket to `addr` (port 0: an ephemeral one) and registers it.
    fn bind_to(&mut self, ports: &mut Ports, addr: Addr) -> Result<(), Errno> {
        let (proto, mut info) = {
            let e = self.ep.borrow();
            (e.proto, e.bind_info())
        };
        info.ip = addr.ip;
        let port = if addr.port == 0 {
            let p = ports.ephemeral(proto).ok_or(libc::EADDRINUSE)?;
            // An ephemeral port has no other socket, so no conflict.
            p
        } else {
            if ports.conflict(proto, addr.port, &self.ep, &info) {
                return Err(libc::EADDRINUSE);
            }
            addr.port
        };
        ports.add(proto, port, &self.ep);
        self.ep.borrow_mut().local = Some(Addr { ip: addr.ip, port });
        Ok(())
    }

    /// Binds an unbound socket to the wildcard and an ephemeral port (connect, listen and
    /// sends do), or fails with EAGAIN when none is free.
    fn autobind(&mut self, ports: &mut Ports) -> Result<(), Errno> {
        if self.ep.borrow().local.is_some() {
            return Ok(());
        }
        let any = self.ep.borrow().any();
        self.bind_to(ports, Addr { ip: any, port: 0 })
            .map_err(|_| libc::EAGAIN)
    }

    /// The destination of a connect or send: the wildcard means this host; an address
    /// outside is reached through the host (not from a socket bound to loopback).
    fn destination(&self, mut dest: Addr) -> Result<Addr, Errno> {
        if is_any(&dest.ip) {
            dest.ip = if is_v4(&dest.ip) {
                mapped([127, 0, 0, 1])
            } else {
                LOOP6
            };
        }
        let e = self.ep.borrow();
        if is_v4(&dest.ip) && e.v6only() {
            return Err(libc::ENETUNREACH);
        }
        // A socket bound to an address of one family has no route to the other.
        if let Some(l) = &e.local {
            if !is_any(&l.ip) && is_v4(&l.ip) != is_v4(&dest.ip) {
                return Err(libc::ENETUNREACH);
            }
        }
        if !is_loopback(&dest.ip) && e.local.is_some_and(|l| is_loopback(&l.ip)) {
            return Err(libc::EINVAL);
        }
        // A namespace a task made reaches its own loopback alone, and only while up.
        if !e.net.is_initial() {
            e.net.reach(is_v4(&dest.ip), is_loopback(&dest.ip))?;
        }
        Ok(dest)
    }

    /// After an autobind, the local address a connection to `dest` uses.
    fn set_source(&mut self, dest: &Addr) {
        let mut e = self.ep.borrow_mut();
        if let Some(l) = &mut e.local {
            if is_any(&l.ip) {
                l.ip = source_for(&dest.ip);
            }
        }
    }

    fn connect_tcp(
        &mut self,
        c: &mut dyn SocketCtx,
        raw: &[u8],
        nonblock: bool,
    ) -> Result<(), IoErr> {
        if family(raw) == Some(libc::AF_UNSPEC) {
            self.disconnect();
            return Ok(());
        }
        {
            let mut e = self.ep.borrow_mut();
            e.host_progress();
            match e.state {
                TcpState::Established if e.connecting => {
                    e.connecting = false;
                    return Ok(());
                }
                TcpState::Established | TcpState::Listen => {
                    return Err(IoErr::Errno(libc::EISCONN))
                }
                TcpState::SynSent if nonblock => return Err(IoErr::Errno(libc::EALREADY)),
                TcpState::SynSent => return Err(IoErr::Block(WaitKey::Object(e.id))),
                TcpState::Closed if e.connecting => {
                    e.connecting = false;
                    let err = std::mem::take(&mut e.err);
                    return Err(IoErr::Errno(if err != 0 {
                        err
                    } else {
                        libc::ECONNABORTED
                    }));
                }
                TcpState::Closed => {}
            }
            if e.shutdown != 0 && e.local.is_some() {
                // A socket that was connected once does not connect again.
                return Err(IoErr::Errno(libc::EISCONN));
            }
        }
        let v6 = self.ep.borrow().v6;
        let dest = self.destination(parse(v6, raw)?)?;
        if host::outside(&dest.ip) {
            return self.host_connect(dest, nonblock);
        }
        let ports = self.ports();
        let mut ports = ports.borrow_mut();
        self.autobind(&mut ports)?;
        self.set_source(&dest);
        self.ep.borrow_mut().remote = Some(dest);
        let Some(l) = ports.listener(&dest) else {
            let mut e = self.ep.borrow_mut();
            e.remote = None;
            if nonblock {
                // The reset comes after the call: SO_ERROR and poll tell it.
                e.err = libc::ECONNREFUSED;
                e.shutdown = SHUTDOWN_MASK;
                e.connecting = true;
                return Err(IoErr::Errno(libc::EINPROGRESS));
            }
            return Err(IoErr::Errno(libc::ECONNREFUSED));
        };
        let full = {
            let lb = l.borrow();
            let q = lb.listen.as_ref().expect("a listener");
            q.queue.len() > q.backlog
        };
        if full {
            {
                let mut lb = l.borrow_mut();
                let q = lb.listen.as_mut().expect("a listener");
                q.waiting.push_back(self.ep.clone());
            }
            let mut e = self.ep.borrow_mut();
            e.state = TcpState::SynSent;
            if nonblock {
                e.connecting = true;
                return Err(IoErr::Errno(libc::EINPROGRESS));
            }
            return Err(IoErr::Block(WaitKey::Object(e.id)));
        }
        establish(&mut ports, &l, &self.ep, c.new_obj_id());
        if nonblock {
            self.ep.borrow_mut().connecting = true;
            return Err(IoErr::Errno(libc::EINPROGRESS));
        }
        Ok(())
    }

    /// connect(2) with AF_UNSPEC: a connection is reset, a listener stops, a UDP socket
    /// forgets its destination (and an address it did not bind).
    fn disconnect(&mut self) {
        let (peer, listen) = {
            let mut e = self.ep.borrow_mut();
            e.remote = None;
            e.connecting = false;
            if !e.user_bound {
                e.local = None;
            }
            if e.proto == Proto::Udp {
                if let Some(fd) = e.host_fd() {
                    let _ = host_sys::connect(fd, &[]);
                }
                return;
            }
            e.host = None;
            e.state = TcpState::Closed;
            e.shutdown = 0;
            e.fin = false;
            e.bytes.clear();
            (e.peer.take(), e.listen.take())
        };
        if let Some(p) = peer {
            let mut pb = p.borrow_mut();
            if pb.open {
                reset_conn(&mut pb, libc::ECONNRESET);
                wake_later(pb.id);
            }
        }
        if let Some(l) = listen {
            for c in l.queue {
                close(&c, true);
            }
            for w in l.waiting {
                reset_conn(&mut w.borrow_mut(), libc::ECONNREFUSED);
                wake_later(w.borrow().id);
            }
        }
    }

    fn connect_udp(&mut self, raw: &[u8]) -> Result<(), Errno> {
        if family(raw) == Some(libc::AF_UNSPEC) {
            self.disconnect();
            return Ok(());
        }
        let (v6, v6only) = {
            let e = self.ep.borrow();
            (e.v6, e.v6only())
        };
        let dest = self.destination(parse_dgram(v6, v6only, raw, libc::EAFNOSUPPORT)?)?;
        if host::outside(&dest.ip) {
            self.host_udp(&mut self.ports().borrow_mut())?;
            let mut e = self.ep.borrow_mut();
            let fd = e.host_fd().expect("made above");
            host_sys::connect(fd, &sockaddr(v6, &dest))?;
            if let Some(l) = e.host_name(false) {
                e.local = Some(l);
            }
            e.remote = Some(dest);
            return Ok(());
        }
        self.autobind(&mut self.ports().borrow_mut())?;
        self.set_source(&dest);
        self.ep.borrow_mut().remote = Some(dest);
        Ok(())
    }

    fn send_stream(&mut self, data: &[u8]) -> Result<usize, IoErr> {
        if self.host_stream() {
            return self.host_send_stream(data);
        }
        let peer = {
            let mut e = self.ep.borrow_mut();
            if e.err != 0 {
                let err = std::mem::take(&mut e.err);
                return Err(if err == libc::EPIPE {
                    IoErr::Pipe
                } else {
                    IoErr::Errno(err)
                });
            }
            if e.shutdown & SEND_SHUTDOWN != 0 {
                return Err(IoErr::Pipe);
            }
            match e.state {
                TcpState::Established => {}
                TcpState::SynSent => return Err(IoErr::Block(WaitKey::Object(e.id))),
                TcpState::Closed | TcpState::Listen => return Err(IoErr::Pipe),
            }
            e.peer.clone()
        };
        let Some(peer) = peer else {
            return Err(IoErr::Pipe);
        };
        let mut p = peer.borrow_mut();
        if !p.open {
            // The peer closed: what is sent is answered by a reset, and the next send is
            // EPIPE.
            drop(p);
            let mut e = self.ep.borrow_mut();
            reset_conn(&mut e, libc::EPIPE);
            e.state = TcpState::Established;
            return Ok(data.len());
        }
        if data.is_empty() {
            return Ok(0);
        }
        let space = p.capacity().saturating_sub(p.bytes.len());
        if space == 0 {
            return Err(IoErr::Block(WaitKey::Object(p.id)));
        }
        let n = data.len().min(space);
        p.bytes.extend(&data[..n]);
        wake_later(p.id);
        Ok(n)
    }

    /// Whether a loopback connection has bytes to read (true) or is at its end (false);
    /// else the error or the wait a read meets.
    fn loop_readable(e: &mut Endpoint) -> Result<bool, IoErr> {
        if e.state == TcpState::Listen {
            return Err(IoErr::Errno(libc::ENOTCONN));
        }
        // As Linux: even a zero-length read waits for data.
        if !e.bytes.is_empty() {
            return Ok(true);
        }
        if e.fin {
            return Ok(false);
        }
        if e.err != 0 {
            let err = std::mem::take(&mut e.err);
            return Err(IoErr::Errno(err));
        }
        if e.shutdown & RCV_SHUTDOWN != 0 {
            return Ok(false);
        }
        match e.state {
            TcpState::Closed => Err(IoErr::Errno(libc::ENOTCONN)),
            _ => Err(IoErr::Block(WaitKey::Object(e.id))),
        }
    }

    /// Takes what fits of a loopback connection's bytes into `bufs` (guest memory), as
    /// `recv_stream` without MSG_PEEK does, with no buffer between.
    fn loop_recv_in_place(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> Result<usize, IoErr> {
        let mut e = self.ep.borrow_mut();
        if !Self::loop_readable(&mut e)? {
            return Ok(0);
        }
        let mut n = 0;
        for buf in bufs.iter_mut() {
            if e.bytes.is_empty() {
                break;
            }
            let k = buf.len().min(e.bytes.len());
            let (a, b) = e.bytes.as_slices();
            let from_a = k.min(a.len());
            buf[..from_a].copy_from_slice(&a[..from_a]);
            buf[from_a..k].copy_from_slice(&b[..k - from_a]);
            e.bytes.drain(..k);
            n += k;
        }
        if n > 0 && e.bytes.len() <= e.capacity() / 2 {
            wake_later(e.id);
        }
        Ok(n)
    }

    fn recv_stream(&mut self, len: usize, peek: bool) -> Result<RecvMsg, IoErr> {
        if self.host_stream() {
            return self.host_recv_stream(len, peek);
        }
        let mut e = self.ep.borrow_mut();
        if !Self::loop_readable(&mut e)? {
            return Ok(RecvMsg {
                eof: true,
                ..RecvMsg::default()
            });
        }
        let n = len.min(e.bytes.len());
        let mut data = Vec::with_capacity(n);
        let (a, b) = e.bytes.as_slices();
        let from_a = n.min(a.len());
        data.extend_from_slice(&a[..from_a]);
        data.extend_from_slice(&b[..n - from_a]);
        if !peek {
            e.bytes.drain(..n);
            // Senders wait for half the buffer to be free (as Linux's write space
            // wakeup), so a bulk transfer moves in large steps.
            if e.bytes.len() <= e.capacity() / 2 {
                wake_later(e.id);
            }
        }
        Ok(RecvMsg {
            full_len: data.len(),
            addr: None,
            data,
            ..RecvMsg::default()
        })
    }

    /// Sends a datagram to `to`, or to the destination connect set.
    fn send_dgram(&mut self, to: Option<Addr>, data: Vec<u8>) -> Result<usize, IoErr> {
        let (dest, v6) = {
            let mut e = self.ep.borrow_mut();
            if e.err != 0 {
                let err = std::mem::take(&mut e.err);
                return Err(IoErr::Errno(err));
            }
            if e.shutdown & SEND_SHUTDOWN != 0 {
                return Err(IoErr::Errno(libc::EPIPE));
            }
            let dest = match to.or(e.remote) {
                Some(d) => d,
                None => return Err(IoErr::Errno(libc::EDESTADDRREQ)),
            };
            (dest, e.v6)
        };
        if dest.port == 0 {
            return Err(IoErr::Errno(libc::EINVAL));
        }
        let dest = self.destination(dest)?;
        let max = if v6 && !is_v4(&dest.ip) {
            UDP_MAX_V6
        } else {
            UDP_MAX_V4
        };
        if data.len() > max {
            return Err(IoErr::Errno(libc::EMSGSIZE));
        }
        if host::outside(&dest.ip) {
            return self.host_send_dgram(&dest, &data);
        }
        let ports = self.ports();
        let mut ports = ports.borrow_mut();
        self.autobind(&mut ports)?;
        let mut src = self.ep.borrow().local.expect("bound");
        if is_any(&src.ip) {
            src.ip = source_for(&dest.ip);
        }
        let n = data.len();
        match ports.receiver(&dest, &src) {
            Some(r) => {
                let same = Rc::ptr_eq(&r, &self.ep);
                let mut rb = if same {
                    self.ep.borrow_mut()
                } else {
                    r.borrow_mut()
                };
                // A receiver without room drops the datagram, as Linux does.
                if rb.dgram_bytes + n <= rb.capacity() && rb.shutdown & RCV_SHUTDOWN == 0 {
                    rb.dgram_bytes += n;
                    rb.dgrams.push_back(Dgram { from: src, data });
                    wake_later(rb.id);
                }
            }
            None => {
                // The port unreachable that comes back is an error for a connected socket.
                let mut e = self.ep.borrow_mut();
                if e.remote.is_some() {
                    e.err = libc::ECONNREFUSED;
                }
            }
        }
        Ok(n)
    }

    fn recv_dgram(&mut self, len: usize, peek: bool) -> Result<RecvMsg, IoErr> {
        if self.ep.borrow().dgrams.is_empty() {
            // The outside's datagrams, when loopback has none.
            match self.host_recv_dgram(len, peek) {
                None | Some(Err(IoErr::Block(_))) => {}
                Some(r) => return r,
            }
        }
        let mut e = self.ep.borrow_mut();
        if e.dgrams.is_empty() {
            if e.err != 0 {
                let err = std::mem::take(&mut e.err);
                return Err(IoErr::Errno(err));
            }
            if e.shutdown & RCV_SHUTDOWN != 0 {
                return Ok(RecvMsg::default());
            }
            return Err(IoErr::Block(WaitKey::Object(e.id)));
        }
        let v6 = e.v6;
        let d = if peek {
            let d = &e.dgrams[0];
            Dgram {
                from: d.from,
                data: d.data.clone(),
            }
        } else {
            let d = e.dgrams.pop_front().expect("not empty");
            e.dgram_bytes -= d.data.len();
            d
        };
        let mut data = d.data;
        let full_len = data.len();
        data.truncate(len);
        Ok(RecvMsg {
            data,
            full_len,
            addr: Some(sockaddr(v6, &d.from)),
            ..RecvMsg::default()
        })
    }

    fn recv(&mut self, len: usize, flags: i32) -> Result<RecvMsg, IoErr> {
        let peek = flags & libc::MSG_PEEK != 0;
        match self.proto() {
            Proto::Tcp => self.recv_stream(len, peek),
            Proto::Udp => self.recv_dgram(len, peek),
        }
    }
}

/// Connects client `cl` to listener `l`: a server end with id `id`, connected to the
/// client and queued for accept.
fn establish(ports: &mut Ports, l: &EpRef, cl: &EpRef, id: u64) {
    let (local, remote) = {
        let c = cl.borrow();
        (c.remote.expect("a destination"), c.local.expect("bound"))
    };
    let srv = {
        let lb = l.borrow();
        let mut s = Endpoint::new(id, lb.net.clone(), Proto::Tcp, lb.v6);
        s.local = Some(local);
        s.remote = Some(remote);
        s.state = TcpState::Established;
        s.peer = Some(cl.clone());
        s.opts = lb.opts.clone();
        s.sndbuf = lb.sndbuf;
        s.rcvbuf = lb.rcvbuf;
        s.rcvbuf_set = lb.rcvbuf_set;
        Rc::new(RefCell::new(s))
    };
    ports.add(Proto::Tcp, local.port, &srv);
    {
        let mut c = cl.borrow_mut();
        c.peer = Some(srv.clone());
        c.state = TcpState::Established;
        wake_later(c.id);
    }
    let mut lb = l.borrow_mut();
    lb.listen.as_mut().expect("a listener").queue.push_back(srv);
    wake_later(lb.id);
}

/// An option kept and reported: (level, name, default, the values it takes: a boolean
/// (`None`) or a range).
type Kept = (i32, i32, i32, Option<(i32, i32)>);

/// The options kept and reported.
const KEPT: &[Kept] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR, 0, None),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT, 0, None),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 0, None),
    (libc::SOL_SOCKET, libc::SO_BROADCAST, 0, None),
    (libc::SOL_SOCKET, libc::SO_OOBINLINE, 0, None),
    (libc::SOL_SOCKET, libc::SO_DONTROUTE, 0, None),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMP, 0, None),
    (libc::SOL_SOCKET, libc::SO_NO_CHECK, 0, None),
    // Kept, meaning nothing, as Linux before 6.16 did for an inet socket.
    (libc::SOL_SOCKET, libc::SO_PASSCRED, 0, None),
    (libc::SOL_SOCKET, libc::SO_PRIORITY, 0, Some((0, 6))),
    (libc::SOL_SOCKET, libc::SO_RCVLOWAT, 1, Some((0, i32::MAX))),
    (libc::SOL_SOCKET, libc::SO_SNDLOWAT, 1, Some((1, i32::MAX))),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY, 0, None),
    (libc::IPPROTO_TCP, libc::TCP_CORK, 0, None),
    (libc::IPPROTO_TCP, libc::TCP_QUICKACK, 1, None),
    (
        libc::IPPROTO_TCP,
        libc::TCP_KEEPIDLE,
        7200,
        Some((1, 32767)),
    ),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 75, Some((1, 32767))),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 9, Some((1, 127))),
    (libc::IPPROTO_TCP, libc::TCP_SYNCNT, 6, Some((1, 127))),
    (
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        0,
        Some((0, i32::MAX)),
    ),
    (
        libc::IPPROTO_TCP,
        libc::TCP_LINGER2,
        60,
        Some((i32::MIN, i32::MAX)),
    ),
    (
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        0,
        Some((i32::MIN, i32::MAX)),
    ),
    (libc::IPPROTO_IP, libc::IP_TOS, 0, Some((0, 255))),
    (libc::IPPROTO_IP, libc::IP_TTL, 64, Some((1, 255))),
    (libc::IPPROTO_IP, libc::IP_RECVERR, 0, None),
    (libc::IPPROTO_IP, libc::IP_PKTINFO, 0, None),
    (libc::IPPROTO_IP, libc::IP_RECVTOS, 0, None),
    (libc::IPPROTO_IP, libc::IP_RECVTTL, 0, None),
    (libc::IPPROTO_IP, libc::IP_FREEBIND, 0, None),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, 1, Some((0, 255))),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, 1, None),
    (libc::IPPROTO_IP, libc::IP_RECVORIGDSTADDR, 0, None),
    (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0, None),
    (libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0, Some((0, 255))),
    (
        libc::IPPROTO_IPV6,
        libc::IPV6_UNICAST_HOPS,
        64,
        Some((0, 255)),
    ),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 0, None),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 0, None),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, 0, None),
    (
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_HOPS,
        1,
        Some((0, 255)),
    ),
    (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, 1, None),
];

fn kept(level: i32, name: i32) -> Option<&'static Kept> {
    KEPT.iter().find(|k| k.0 == level && k.1 == name)
}

/// Whether option `level` exists for a socket of this protocol and family. As Linux's
/// ip_getsockopt and ip_setsockopt: EOPNOTSUPP for getsockopt, ENOPROTOOPT for setsockopt.
fn level_ok(e: &Endpoint, level: i32, set: bool) -> Result<(), Errno> {
    match level {
        libc::SOL_SOCKET | libc::IPPROTO_IP => Ok(()),
        libc::IPPROTO_TCP if e.proto == Proto::Tcp => Ok(()),
        libc::IPPROTO_UDP if e.proto == Proto::Udp => Ok(()),
        libc::IPPROTO_IPV6 if e.v6 => Ok(()),
        _ if set => Err(libc::ENOPROTOOPT),
        _ => Err(libc::EOPNOTSUPP),
    }
}

impl Socket for InetSocket {
    fn net(&self) -> NetRef {
        self.ep.borrow().net.clone()
    }

    fn sock_type(&self) -> i32 {
        match self.proto() {
            Proto::Tcp => libc::SOCK_STREAM,
            Proto::Udp => libc::SOCK_DGRAM,
        }
    }

    fn bind(&mut self, c: &mut dyn SocketCtx, raw: &[u8]) -> Result<(), Errno> {
        let (v6, v6only) = {
            let e = self.ep.borrow();
            (e.v6, e.v6only())
        };
        let addr = if !v6
            && raw.len() >= SIN_LEN
            && family(raw) == Some(libc::AF_UNSPEC)
            && raw[4..8] == [0; 4]
        {
            // As Linux: AF_UNSPEC with INADDR_ANY is taken as AF_INET.
            Addr {
                ip: mapped([0; 4]),
                port: u16::from_be_bytes([raw[2], raw[3]]),
            }
        } else {
            parse(v6, raw)?
        };
        if v6 && is_v4(&addr.ip) && v6only {
            return Err(libc::EINVAL);
        }
        let net = self.net();
        if !net.is_initial() {
            net.may_bind(is_v4(&addr.ip), is_any(&addr.ip), is_loopback(&addr.ip))?;
        }
        // CAP_NET_BIND_SERVICE over the namespace (its owner's).
        let privileged = addr.port != 0 && addr.port < PRIVILEGED;
        if privileged && !c.creds().capable_in(&net.owner, CAP_NET_BIND_SERVICE) {
            return Err(libc::EACCES);
        }
        if self.ep.borrow().local.is_some() {
            return Err(libc::EINVAL);
        }
        if !net.is_initial() {
            // No host socket: the address is the namespace's own, reached from nowhere
            // else.
            self.bind_to(&mut net.inet.borrow_mut(), addr)?;
        } else if host::outside(&addr.ip) {
            self.host_bind_outside(&mut self.ports().borrow_mut(), addr)?;
        } else {
            self.bind_to(&mut self.ports().borrow_mut(), addr)?;
            if self.proto() == Proto::Udp {
                if let Err(err) = self.host_shadow() {
                    self.ep.borrow_mut().local = None;
                    return Err(err);
                }
            }
        }
        self.ep.borrow_mut().user_bound = true;
        Ok(())
    }

    fn listen(&mut self, backlog: i32) -> Result<(), Errno> {
        if self.proto() == Proto::Udp {
            return Err(libc::EOPNOTSUPP);
        }
        let backlog = if backlog < 0 || backlog as usize > SOMAXCONN {
            SOMAXCONN
        } else {
            backlog as usize
        };
        {
            let mut e = self.ep.borrow_mut();
            match e.state {
                TcpState::Listen => {
                    e.listen.as_mut().expect("a listener").backlog = backlog;
                    if let Some(fd) = e.host_fd() {
                        host_sys::listen(fd, backlog as i32)?;
                    }
                    return Ok(());
                }
                TcpState::Closed if e.shutdown == 0 && !e.connecting => {}
                _ => return Err(libc::EINVAL),
            }
        }
        let ports = self.ports();
        let mut ports = ports.borrow_mut();
        self.autobind(&mut ports).map_err(|_| libc::EADDRINUSE)?;
        let (port, mut info) = {
            let e = self.ep.borrow();
            (e.local.expect("bound").port, e.bind_info())
        };
        info.listening = true;
        if ports.conflict(Proto::Tcp, port, &self.ep, &info) {
            return Err(libc::EADDRINUSE);
        }
        drop(ports);
        self.host_listen(backlog)?;
        let mut e = self.ep.borrow_mut();
        e.state = TcpState::Listen;
        e.listen = Some(Listen {
            backlog,
            queue: VecDeque::new(),
            waiting: VecDeque::new(),
        });
        Ok(())
    }

    fn accept(&mut self, c: &mut dyn SocketCtx) -> Result<(Box<dyn FileImpl>, Vec<u8>), IoErr> {
        let (srv, waiting) = {
            let mut e = self.ep.borrow_mut();
            let id = e.id;
            if e.proto == Proto::Udp {
                return Err(IoErr::Errno(libc::EOPNOTSUPP));
            }
            if e.host.is_some() && e.listen.as_ref().is_some_and(|l| l.queue.is_empty()) {
                // Loopback's connections first, then the outside's.
                drop(e);
                return self.host_accept(c);
            }
            let Some(l) = &mut e.listen else {
                return Err(IoErr::Errno(libc::EINVAL));
            };
            let Some(srv) = l.queue.pop_front() else {
                return Err(IoErr::Block(WaitKey::Object(id)));
            };
            // The first client still waiting for room gets it.
            let mut waiting = None;
            while let Some(w) = l.waiting.pop_front() {
                let ok = {
                    let wb = w.borrow();
                    // (A restored image may name anything here.)
                    wb.open
                        && wb.state == TcpState::SynSent
                        && wb.proto == Proto::Tcp
                        && wb.local.is_some()
                        && wb.remote.is_some()
                };
                if ok {
                    waiting = Some(w);
                    break;
                }
            }
            (srv, waiting)
        };
        if let Some(w) = waiting {
            establish(&mut self.ports().borrow_mut(), &self.ep, &w, c.new_obj_id());
        }
        wake_later(self.id());
        let addr = {
            let s = srv.borrow();
            let any = Addr {
                ip: s.any(),
                port: 0,
            };
            sockaddr(s.v6, &s.remote.unwrap_or(any))
        };
        Ok((Box::new(InetSocket { ep: srv }), addr))
    }

    fn connect(&mut self, c: &mut dyn SocketCtx, raw: &[u8], nonblock: bool) -> Result<(), IoErr> {
        if raw.len() < 2 {
            return Err(IoErr::Errno(libc::EINVAL));
        }
        match self.proto() {
            Proto::Tcp => self.connect_tcp(c, raw, nonblock),
            Proto::Udp => Ok(self.connect_udp(raw)?),
        }
    }

    fn sendmsg(&mut self, _: &mut dyn SocketCtx, m: SendMsg) -> Result<usize, IoErr> {
        // As Linux: SCM_RIGHTS and SCM_CREDENTIALS are unix sockets' and ignored here.
        match self.proto() {
            // TCP ignores a destination.
            Proto::Tcp => self.send_stream(&m.data),
            Proto::Udp => {
                let to = match &m.addr {
                    Some(raw) => {
                        let (v6, v6only) = {
                            let e = self.ep.borrow();
                            (e.v6, e.v6only())
                        };
                        Some(parse_dgram(v6, v6only, raw, libc::ENETUNREACH)?)
                    }
                    None => None,
                };
                self.send_dgram(to, m.data)
            }
        }
    }

    fn recvmsg(&mut self, len: usize, flags: i32) -> Result<RecvMsg, IoErr> {
        self.recv(len, flags)
    }

    fn receives_in_place(&self) -> bool {
        self.proto() == Proto::Tcp
    }

    fn recv_in_place(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> Result<usize, IoErr> {
        match self.proto() {
            Proto::Udp => Err(IoErr::Errno(libc::EOPNOTSUPP)),
            Proto::Tcp if self.host_stream() => self.host_recv_in_place(bufs),
            Proto::Tcp => self.loop_recv_in_place(bufs),
        }
    }

    fn shutdown(&mut self, how: i32) -> Result<(), Errno> {
        let bits = match how {
            libc::SHUT_RD => RCV_SHUTDOWN,
            libc::SHUT_WR => SEND_SHUTDOWN,
            libc::SHUT_RDWR => SHUTDOWN_MASK,
            _ => return Err(libc::EINVAL),
        };
        if self.host_stream() {
            return self.host_shutdown(how, bits);
        }
        let mut e = self.ep.borrow_mut();
        let id = e.id;
        wake_later(id);
        match (e.proto, e.state) {
            (Proto::Tcp, TcpState::Listen) => {
                if bits & RCV_SHUTDOWN != 0 {
                    drop(e);
                    self.disconnect();
                }
                Ok(())
            }
            (Proto::Tcp, TcpState::Established) => {
                e.shutdown |= bits;
                if bits & SEND_SHUTDOWN != 0 {
                    if let Some(p) = e.peer.clone() {
                        drop(e);
                        let mut pb = p.borrow_mut();
                        pb.fin = true;
                        pb.shutdown |= RCV_SHUTDOWN;
                        wake_later(pb.id);
                    }
                }
                Ok(())
            }
            (Proto::Tcp, TcpState::SynSent) => {
                drop(e);
                self.disconnect();
                Ok(())
            }
            (Proto::Udp, _) if e.remote.is_some() => {
                e.shutdown |= bits;
                Ok(())
            }
            _ => {
                // As Linux: not connected, but the bits are set (a poller sees POLLHUP).
                e.shutdown |= bits;
                Err(libc::ENOTCONN)
            }
        }
    }

    fn sockname(&self) -> Vec<u8> {
        let e = self.ep.borrow();
        let a = e.local.unwrap_or(Addr {
            ip: e.any(),
            port: 0,
        });
        sockaddr(e.v6, &a)
    }

    fn peername(&self) -> Result<Vec<u8>, Errno> {
        let e = self.ep.borrow();
        let connected = match e.proto {
            Proto::Tcp => e.state == TcpState::Established,
            Proto::Udp => e.remote.is_some(),
        };
        match e.remote {
            Some(r) if connected => Ok(sockaddr(e.v6, &r)),
            _ => Err(libc::ENOTCONN),
        }
    }

    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        let mut e = self.ep.borrow_mut();
        level_ok(&e, level, false)?;
        let int = |v: i32| Ok(v.to_le_bytes().to_vec());
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => int(match e.proto {
                Proto::Tcp => libc::SOCK_STREAM,
                Proto::Udp => libc::SOCK_DGRAM,
            }),
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => {
                int(if e.v6 { libc::AF_INET6 } else { libc::AF_INET })
            }
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(match e.proto {
                Proto::Tcp => libc::IPPROTO_TCP,
                Proto::Udp => libc::IPPROTO_UDP,
            }),
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => int(i32::from(e.state == TcpState::Listen)),
            (libc::SOL_SOCKET, libc::SO_ERROR) => {
                e.host_progress();
                let mut v = std::mem::take(&mut e.err);
                if let (0, Some(fd)) = (v, e.host_fd()) {
                    v = host_sys::getsockopt_int(fd, level, name).unwrap_or(0);
                }
                int(v)
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => int(e.sndbuf as i32),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => int(e.rcvbuf as i32),
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => Ok(timeval_bytes(e.rcvtimeo)),
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => Ok(timeval_bytes(e.sndtimeo)),
            (libc::SOL_SOCKET, libc::SO_PEERCRED) => {
                // Credentials go over unix sockets only.
                let mut b = 0i32.to_le_bytes().to_vec();
                b.extend_from_slice(&u32::MAX.to_le_bytes());
                b.extend_from_slice(&u32::MAX.to_le_bytes());
                Ok(b)
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let mut b = e.opt(level, name).to_le_bytes().to_vec();
                b.extend_from_slice(&e.opt(level, -name).to_le_bytes());
                Ok(b)
            }
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => int(if e.state == TcpState::Established {
                65_483
            } else {
                536
            }),
            _ => match kept(level, name) {
                Some(&(_, _, default, _)) => {
                    int(e.opts.get(&(level, name)).copied().unwrap_or(default))
                }
                None => Err(libc::ENOPROTOOPT),
            },
        }
    }

    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        let mut e = self.ep.borrow_mut();
        level_ok(&e, level, true)?;
        let buf = |v: i32, min: usize| (((v as u32) as usize).min(BUF_SET_MAX) * 2).max(min);
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => e.sndbuf = buf(int_opt(val)?, SNDBUF_MIN),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
                e.rcvbuf = buf(int_opt(val)?, RCVBUF_MIN);
                e.rcvbuf_set = true;
            }
            // The socket calls checked CAP_NET_ADMIN.
            (libc::SOL_SOCKET, libc::SO_SNDBUFFORCE) => {
                e.sndbuf = (int_opt(val)?.max(0) as usize * 2).clamp(SNDBUF_MIN, BUF_FORCE_MAX)
            }
            (libc::SOL_SOCKET, libc::SO_RCVBUFFORCE) => {
                e.rcvbuf = (int_opt(val)?.max(0) as usize * 2).clamp(RCVBUF_MIN, BUF_FORCE_MAX);
                e.rcvbuf_set = true;
            }
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => e.rcvtimeo = timeval_opt(val)?,
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => e.sndtimeo = timeval_opt(val)?,
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                if val.len() < 8 {
                    return Err(libc::EINVAL);
                }
                let on = int_opt(val)?;
                let secs = int_opt(&val[4..])?;
                e.opts.insert((level, name), i32::from(on != 0));
                e.opts.insert((level, -name), secs.max(0));
            }
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
                let v = int_opt(val)?;
                if v != 0 && !(88..=65535).contains(&v) {
                    return Err(libc::EINVAL);
                }
            }
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) if e.local.is_some() => {
                return Err(libc::EINVAL)
            }
            _ => {
                let Some(&(_, _, default, range)) = kept(level, name) else {
                    return Err(libc::ENOPROTOOPT);
                };
                // As Linux: an IP option may come as a char.
                let v = match val.len() {
                    1..=3 if level == libc::IPPROTO_IP => i32::from(val[0]),
                    _ => int_opt(val)?,
                };
                let v = match range {
                    None => i32::from(v != 0),
                    // As Linux: -1 asks for the default TTL, hop limit or class.
                    Some(_)
                        if v == -1
                            && matches!(
                                (level, name),
                                (libc::IPPROTO_IP, libc::IP_TTL | libc::IP_MULTICAST_TTL)
                                    | (
                                        libc::IPPROTO_IPV6,
                                        libc::IPV6_UNICAST_HOPS
                                            | libc::IPV6_MULTICAST_HOPS
                                            | libc::IPV6_TCLASS
                                    )
                            ) =>
                    {
                        default
                    }
                    Some((lo, hi)) if !(lo..=hi).contains(&v) => return Err(libc::EINVAL),
                    Some(_) if level == libc::IPPROTO_IP && name == libc::IP_TOS => {
                        // TCP keeps the ECN bits for itself.
                        if e.proto == Proto::Tcp {
                            v & !3
                        } else {
                            v
                        }
                    }
                    Some(_) => v,
                };
                e.opts.insert((level, name), v);
            }
        }
        if let (true, Some(fd)) = (host::passed(level, name), e.host_fd()) {
            if let Err(err) = host_sys::setsockopt(fd, level, name, val) {
                log::debug!("host socket option ({level}, {name}): errno {err}");
            }
        }
        Ok(())
    }

    fn timeouts(&self) -> (u64, u64) {
        let e = self.ep.borrow();
        (e.rcvtimeo, e.sndtimeo)
    }

    fn queued(&self) -> usize {
        if self.host_stream() {
            return self.host_ioctl_int(libc::FIONREAD).max(0) as usize;
        }
        let e = self.ep.borrow();
        match e.proto {
            Proto::Tcp => e.bytes.len(),
            Proto::Udp => match e.dgrams.front() {
                Some(d) => d.data.len(),
                None => {
                    drop(e);
                    self.host_ioctl_int(libc::FIONREAD).max(0) as usize
                }
            },
        }
    }
}

impl FileImpl for InetSocket {
    fn signals_io(&self) -> bool {
        true
    }

    fn bytes_ready(&self) -> Option<usize> {
        Some(self.queued())
    }

    fn read(&mut self, _pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        super::read(self, len, off)
    }

    fn write(&mut self, _pos: &mut u64, data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        if off.is_some() {
            return Err(IoErr::Errno(libc::ESPIPE));
        }
        match self.proto() {
            Proto::Tcp => self.send_stream(data),
            Proto::Udp => self.send_dgram(None, data.to_vec()),
        }
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        if self.host_stream() {
            return (
                self.host_readiness(events),
                vec![WaitKey::Object(self.id())],
            );
        }
        let e = self.ep.borrow();
        let mut keys = vec![WaitKey::Object(e.id)];
        let mut r = 0;
        if e.proto == Proto::Tcp {
            match e.state {
                TcpState::Listen => {
                    if e.listen.as_ref().is_some_and(|l| !l.queue.is_empty())
                        || e.host_events(libc::POLLIN) & libc::POLLIN != 0
                    {
                        r |= libc::POLLIN | libc::POLLRDNORM;
                    }
                    return (r & events, keys);
                }
                TcpState::SynSent => return (0, keys),
                _ => {}
            }
        }
        if e.err != 0 {
            r |= libc::POLLERR;
        }
        let closed = e.proto == Proto::Tcp && e.state == TcpState::Closed;
        if e.shutdown == SHUTDOWN_MASK || closed {
            r |= libc::POLLHUP;
        }
        if e.shutdown & RCV_SHUTDOWN != 0 {
            r |= libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP;
        }
        if !e.bytes.is_empty() || !e.dgrams.is_empty() {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if e.proto == Proto::Udp {
            let h = e.host_events(libc::POLLIN | libc::POLLERR);
            if h & libc::POLLIN != 0 {
                r |= libc::POLLIN | libc::POLLRDNORM;
            }
            r |= h & libc::POLLERR;
        }
        let writable = match (&e.peer, e.proto) {
            (_, Proto::Udp) => true,
            _ if e.shutdown & SEND_SHUTDOWN != 0 => true,
            (Some(p), Proto::Tcp) => {
                let p = p.borrow();
                keys.push(WaitKey::Object(p.id));
                !p.open || p.bytes.len() <= p.capacity() / 2
            }
            (None, Proto::Tcp) => true,
        };
        if writable {
            r |= libc::POLLOUT | libc::POLLWRNORM;
            if e.proto == Proto::Udp {
                r |= libc::POLLWRBAND;
            }
        }
        (r & (events | libc::POLLERR | libc::POLLHUP), keys)
    }

    fn notify_key(&self) -> Option<WaitKey> {
        Some(WaitKey::Object(self.id()))
    }

    fn ioctl(&mut self, caller: &mut dyn IoctlCaller, req: u64, arg: u64) -> Result<i64, Errno> {
        match req as libc::c_ulong {
            libc::TIOCOUTQ if self.host_stream() => {
                let n = self.host_ioctl_int(libc::TIOCOUTQ);
                caller.copy_out(arg, &n.to_le_bytes())?;
                Ok(0)
            }
            libc::TIOCOUTQ => {
                // SIOCOUTQ: bytes sent and not yet read by the peer.
                let e = self.ep.borrow();
                let n = match (&e.peer, e.proto) {
                    (Some(p), Proto::Tcp) => p.borrow().bytes.len(),
                    _ => 0,
                };
                caller.copy_out(arg, &(n as i32).to_le_bytes())?;
                Ok(0)
            }
            _ => Err(libc::ENOTTY),
        }
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        let mut st = anon_stat(libc::S_IFSOCK | 0o777);
        st.st_ino = self.id();
        st.st_dev = 0x8;
        Ok(st)
    }

    fn epoll_watchable(&self) -> bool {
        true
    }
}

/// Registers the restored sockets among `files` (and the connections they reach: peers,
/// pending and waiting ones) in the ports table of their namespace.
pub(crate) fn register_restored(files: impl Iterator<Item = FileRef>) {
    let mut todo: Vec<EpRef> = files
        .filter_map(|f| f.borrow().kind::<InetSocket>().map(|s| s.ep.clone()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(ep) = todo.pop() {
        if !seen.insert(Rc::as_ptr(&ep)) {
            continue;
        }
        let ports = {
            let e = ep.borrow();
            todo.extend(e.peer.clone());
            if let Some(l) = &e.listen {
                todo.extend(l.queue.iter().cloned());
                todo.extend(l.waiting.iter().cloned());
            }
            e.net.inet.clone()
        };
        ports.borrow_mut().register(&ep);
    }
}

// ---- saved form ----

/// A saved listening socket's queues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InetListenState {
    pub backlog: u64,
    /// Pending connections (their server ends) and clients waiting for room, by id in
    /// the shared table.
    pub queue: Vec<u64>,
    pub waiting: Vec<u64>,
}

/// A saved datagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DgramState {
    pub from: Addr,
    pub data: Vec<u8>,
}

/// A saved AF_INET or AF_INET6 endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InetEndpointState {
    pub proto: Proto,
    pub v6: bool,
    pub state: TcpState,
    pub local: Option<Addr>,
    pub user_bound: bool,
    pub remote: Option<Addr>,
    pub connecting: bool,
    pub listen: Option<InetListenState>,
    /// Its TCP peer, by id in the shared table.
    pub peer: Option<u64>,
    pub bytes: Vec<u8>,
    pub dgrams: Vec<DgramState>,
    pub fin: bool,
    pub shutdown: u8,
    pub err: i32,
    pub sndbuf: u64,
    pub rcvbuf: u64,
    pub rcvbuf_set: bool,
    pub rcvtimeo: u64,
    pub sndtimeo: u64,
    pub opts: Vec<(i32, i32, i32)>,
    pub open: bool,
    /// It had a host socket (`host.rs`): a listener or a UDP socket gets one again, bound
    /// to `local`; a connection is reset.
    pub host: bool,
    /// The inode number of its network namespace (checked by the kernel against the
    /// saved namespaces).
    pub netns: u64,
}

fn share(ep: &EpRef, cx: &mut SaveCtx) -> u64 {
    let e = ep.borrow();
    cx.share(e.id, &*e);
    e.id
}

impl SharedPersist for Endpoint {
    type State = InetEndpointState;
    const WHAT: &'static str = "inet socket";

    fn save(&self, cx: &mut SaveCtx) -> InetEndpointState {
        let Endpoint {
            id: _, // the key of the shared table
            net,
            proto,
            v6,
            state,
            local,
            user_bound,
            remote,
            connecting,
            listen,
            peer,
            bytes,
            dgrams,
            dgram_bytes: _, // the sum of the datagrams'
            fin,
            shutdown,
            err,
            sndbuf,
            rcvbuf,
            rcvbuf_set,
            rcvtimeo,
            sndtimeo,
            opts,
            open,
            host,
        } = self;
        InetEndpointState {
            proto: *proto,
            v6: *v6,
            state: *state,
            local: *local,
            user_bound: *user_bound,
            remote: *remote,
            connecting: *connecting,
            listen: listen.as_ref().map(|l| InetListenState {
                backlog: l.backlog as u64,
                queue: l.queue.iter().map(|c| share(c, cx)).collect(),
                waiting: l.waiting.iter().map(|c| share(c, cx)).collect(),
            }),
            peer: peer.as_ref().map(|p| share(p, cx)),
            bytes: bytes.iter().copied().collect(),
            dgrams: dgrams
                .iter()
                .map(|d| DgramState {
                    from: d.from,
                    data: d.data.clone(),
                })
                .collect(),
            fin: *fin,
            shutdown: *shutdown,
            err: *err,
            sndbuf: *sndbuf as u64,
            rcvbuf: *rcvbuf as u64,
            rcvbuf_set: *rcvbuf_set,
            rcvtimeo: *rcvtimeo,
            sndtimeo: *sndtimeo,
            opts: opts.iter().map(|(&(l, n), &v)| (l, n, v)).collect(),
            open: *open,
            host: host.is_some(),
            netns: net.ino,
        }
    }

    fn restore(id: u64, s: &InetEndpointState) -> Endpoint {
        // Registered in its namespace's ports table by register_restored.
        let mut e = Endpoint::new(id, restored_net(s.netns), s.proto, s.v6);
        e.state = s.state;
        e.local = s.local;
        e.user_bound = s.user_bound;
        e.remote = s.remote;
        e.connecting = s.connecting;
        e.listen = s.listen.as_ref().map(|l| Listen {
            backlog: l.backlog as usize,
            queue: VecDeque::new(),   // relinked
            waiting: VecDeque::new(), // relinked
        });
        e.bytes = s.bytes.iter().copied().collect();
        for d in &s.dgrams {
            e.dgram_bytes += d.data.len();
            e.dgrams.push_back(Dgram {
                from: d.from,
                data: d.data.clone(),
            });
        }
        e.fin = s.fin;
        e.shutdown = s.shutdown;
        e.err = s.err;
        e.sndbuf = s.sndbuf as usize;
        e.rcvbuf = s.rcvbuf as usize;
        e.rcvbuf_set = s.rcvbuf_set;
        e.rcvtimeo = s.rcvtimeo;
        e.sndtimeo = s.sndtimeo;
        e.opts = s.opts.iter().map(|&(l, n, v)| ((l, n), v)).collect();
        e.open = s.open;
        e
    }

    fn relink(this: &EpRef, s: &InetEndpointState, cx: &mut RestoreCtx) -> Result<(), KindError> {
        let peer = s.peer.map(|p| cx.shared::<Endpoint>(p)).transpose()?;
        let mut queue = VecDeque::new();
        let mut waiting = VecDeque::new();
        if let Some(l) = &s.listen {
            for &c in &l.queue {
                queue.push_back(cx.shared::<Endpoint>(c)?);
            }
            for &c in &l.waiting {
                waiting.push_back(cx.shared::<Endpoint>(c)?);
            }
        }
        let mut e = this.borrow_mut();
        e.peer = peer;
        if let Some(l) = &mut e.listen {
            l.queue = queue;
            l.waiting = waiting;
        }
        if s.host && s.open {
            let backlog = s.listen.as_ref().map(|l| l.backlog as usize);
            e.host_restore(backlog)?;
        }
        Ok(())
    }

    fn check(object: &str, s: &InetEndpointState) -> Result<(), Invalid> {
        let family_ok = |a: &Addr| s.v6 || is_v4(&a.ip);
        let initial = s.netns == super::ns::INIT_INO;
        if s.host && !initial {
            return Err(bad(
                object,
                "host socket",
                "in a network namespace a task made",
            ));
        }
        // Only a socket that had a host socket reaches beyond loopback (one of a namespace
        // a task made may be bound to any address, as Linux lets it before lo is up).
        let reach = |ip: &[u8; 16]| s.host || is_loopback(ip);
        let bound_ok = |ip: &[u8; 16]| reach(ip) || (!initial && s.remote.is_none());
        if let Some(l) = &s.local {
            if l.port == 0 {
                return Err(bad(object, "local address", "has port 0"));
            }
            if !family_ok(l) || !(is_any(&l.ip) || bound_ok(&l.ip)) {
                return Err(bad(object, "local address", "is not a loopback address"));
            }
        }
        if s.host && s.local.is_none() && (s.proto == Proto::Udp || s.state == TcpState::Listen) {
            return Err(bad(object, "local address", "is missing on a host socket"));
        }
        if let Some(r) = &s.remote {
            if r.port == 0 && s.proto == Proto::Udp {
                return Err(bad(object, "remote address", "has port 0"));
            }
            if !family_ok(r) || !reach(&r.ip) {
                return Err(bad(object, "remote address", "is not a loopback address"));
            }
            if s.local.is_none() {
                return Err(bad(
                    object,
                    "local address",
                    "is missing on a connected socket",
                ));
            }
        }
        if s.shutdown > SHUTDOWN_MASK {
            return Err(bad(
                object,
                "shutdown",
                format!("{} is not a mask", s.shutdown),
            ));
        }
        if !(0..4096).contains(&s.err) {
            return Err(bad(object, "error", format!("{} is not an errno", s.err)));
        }
        for (b, what) in [(s.sndbuf, "send buffer"), (s.rcvbuf, "receive buffer")] {
            if !(RCVBUF_MIN as u64..=BUF_FORCE_MAX as u64).contains(&b) {
                return Err(bad(object, what, format!("{b} is out of range")));
            }
        }
        let tcp_only = s.proto == Proto::Udp
            && (s.state != TcpState::Closed
                || s.listen.is_some()
                || s.peer.is_some()
                || !s.bytes.is_empty());
        let udp_only = s.proto == Proto::Tcp && !s.dgrams.is_empty();
        if tcp_only || udp_only {
            return Err(bad(object, "state", "does not fit the protocol"));
        }
        match (s.state, &s.listen) {
            (TcpState::Listen, Some(l)) => {
                if l.backlog > SOMAXCONN as u64 || l.queue.len() as u64 > l.backlog + 1 {
                    return Err(bad(object, "listen queue", "is longer than its backlog"));
                }
                if s.local.is_none() || s.peer.is_some() {
                    return Err(bad(
                        object,
                        "listen queue",
                        "on a socket that cannot listen",
                    ));
                }
            }
            (TcpState::Listen, None) => {
                return Err(bad(object, "listen queue", "is missing on a listener"))
            }
            (_, None) => {}
            _ => {
                return Err(bad(
                    object,
                    "listen queue",
                    "on a socket that is not listening",
                ))
            }
        }
        if s.state == TcpState::Established && s.remote.is_none() {
            return Err(bad(object, "remote address", "is missing on a connection"));
        }
        let cap = QUEUE_MAX as u64;
        let bytes =
            s.bytes.len() as u64 + s.dgrams.iter().map(|d| d.data.len() as u64).sum::<u64>();
        if bytes > cap {
            return Err(bad(object, "receive queue", "holds more than a socket can"));
        }
        for d in &s.dgrams {
            if d.data.len() > UDP_MAX_V6 || !family_ok(&d.from) || !reach(&d.from.ip) {
                return Err(bad(object, "datagram", "is not one loopback carries"));
            }
        }
        for &(level, name, v) in &s.opts {
            let known = kept(level, name).is_some()
                || (level, name.abs()) == (libc::SOL_SOCKET, libc::SO_LINGER);
            if !known {
                return Err(bad(
                    object,
                    "options",
                    format!("({level}, {name}) is not kept"),
                ));
            }
            if let Some(&(_, _, _, Some((lo, hi)))) = kept(level, name) {
                if !(lo..=hi).contains(&v) {
                    return Err(bad(object, "options", format!("{v} is out of range")));
                }
            }
        }
        Ok(())
    }
}

/// A saved socket file: the id of its endpoint in the shared table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InetSocketState {
    pub endpoint: u64,
}

impl Persist for InetSocket {
    type State = InetSocketState;

    fn save(&self, cx: &mut SaveCtx) -> InetSocketState {
        let InetSocket { ep } = self;
        InetSocketState {
            endpoint: share(ep, cx),
        }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &InetSocketState) -> Result<Self, KindError> {
        Ok(InetSocket {
            ep: cx.shared::<Endpoint>(s.endpoint)?,
        })
    }

    fn check(cx: &CheckCtx, s: &InetSocketState) -> Result<(), Invalid> {
        super::check_endpoint::<Endpoint>(cx, s.endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{FileKindState, SharedState};
    use crate::persist::testing::{no_mounts, null_stdio};
    use crate::persist::{check, restore, FileState, SharedEntry};

    fn lo(port: u16) -> Addr {
        Addr {
            ip: mapped([127, 0, 0, 1]),
            port,
        }
    }

    fn endpoint() -> InetEndpointState {
        InetEndpointState {
            proto: Proto::Tcp,
            v6: false,
            state: TcpState::Established,
            local: Some(lo(40000)),
            user_bound: false,
            remote: Some(lo(8080)),
            connecting: false,
            listen: None,
            peer: None,
            bytes: b"in flight".to_vec(),
            dgrams: Vec::new(),
            fin: false,
            shutdown: 0,
            err: 0,
            sndbuf: TCP_SNDBUF as u64,
            rcvbuf: TCP_RCVBUF as u64,
            rcvbuf_set: false,
            rcvtimeo: 0,
            sndtimeo: 0,
            opts: vec![(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)],
            open: true,
            host: false,
            netns: crate::net::ns::INIT_INO,
        }
    }

    fn image(ep: InetEndpointState) -> (Vec<SharedEntry>, Vec<FileState>) {
        let shared = vec![SharedEntry {
            id: 5,
            object: SharedState::InetEndpoint(ep),
        }];
        let files = vec![FileState {
            id: 1,
            kind: FileKindState::Inet(InetSocketState { endpoint: 5 }),
            flags: libc::O_RDWR,
            pos: 0,
            path: "socket:[5]".into(),
            async_io: Default::default(),
            opener: None,
        }];
        (shared, files)
    }

    #[test]
    fn the_good_image_passes() {
        let (shared, files) = image(endpoint());
        check(&shared, &files, &[]).unwrap();
        restore(&no_mounts(), null_stdio(), &shared, &files, &[]).unwrap();
    }

    #[test]
    fn hostile_saved_sockets_are_refused_by_name() {
        type Spoil = Box<dyn Fn(&mut InetEndpointState)>;
        let far = Addr {
            ip: mapped([8, 8, 8, 8]),
            port: 53,
        };
        let cases: Vec<(&str, Spoil)> = vec![
            ("local address", Box::new(|e| e.local = Some(lo(0)))),
            ("local address", Box::new(move |e| e.local = Some(far))),
            (
                "local address",
                Box::new(|e| e.local = Some(Addr { ip: LOOP6, port: 1 })),
            ),
            ("remote address", Box::new(move |e| e.remote = Some(far))),
            ("local address", Box::new(|e| e.local = None)),
            ("remote address", Box::new(|e| e.remote = None)),
            ("shutdown", Box::new(|e| e.shutdown = 4)),
            ("error", Box::new(|e| e.err = 99_999)),
            ("send buffer", Box::new(|e| e.sndbuf = u64::MAX)),
            ("receive buffer", Box::new(|e| e.rcvbuf = 1)),
            ("receive queue", Box::new(|e| e.bytes = vec![0; 17 << 20])),
            ("state", Box::new(|e| e.proto = Proto::Udp)),
            (
                "datagram",
                Box::new(move |e| {
                    e.proto = Proto::Udp;
                    e.state = TcpState::Closed;
                    e.bytes.clear();
                    e.dgrams.push(DgramState {
                        from: far,
                        data: vec![1],
                    })
                }),
            ),
            (
                "listen queue",
                Box::new(|e| {
                    e.listen = Some(InetListenState {
                        backlog: 1,
                        queue: vec![],
                        waiting: vec![],
                    })
                }),
            ),
            (
                "listen queue",
                Box::new(|e| {
                    e.state = TcpState::Listen;
                    e.remote = None;
                    e.listen = Some(InetListenState {
                        backlog: 1,
                        queue: vec![1, 2, 3],
                        waiting: vec![],
                    })
                }),
            ),
            (
                "options",
                Box::new(|e| e.opts.push((libc::SOL_SOCKET, 4242, 1))),
            ),
            (
                "listen queue",
                Box::new(|e| {
                    e.state = TcpState::Listen;
                    e.remote = None;
                }),
            ),
            (
                "options",
                Box::new(|e| e.opts.push((libc::IPPROTO_IP, libc::IP_TTL, 1000))),
            ),
        ];
        for (field, spoil) in cases {
            let mut ep = endpoint();
            spoil(&mut ep);
            let (shared, files) = image(ep);
            let e = check(&shared, &files, &[]).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
        // A file naming an endpoint that is not there.
        let (_, files) = image(endpoint());
        let e = check(&[], &files, &[]).unwrap_err().to_string();
        assert!(e.contains("endpoint"), "{e}");
    }

    /// The only file of a restored image (which holds its endpoint open) and its endpoint.
    fn restored_endpoint(shared: &[SharedEntry], files: &[FileState]) -> (FileRef, EpRef) {
        let r = restore(&no_mounts(), null_stdio(), shared, files, &[]).unwrap();
        let f = r.files[&1].clone();
        let ep = f
            .borrow()
            .kind::<InetSocket>()
            .expect("an inet socket")
            .ep
            .clone();
        (f, ep)
    }

    #[test]
    fn a_host_backed_socket_reaches_beyond_loopback_and_only_it() {
        let far = Addr {
            ip: mapped([203, 0, 113, 9]),
            port: 443,
        };
        // A connection to the outside is checked and comes back reset.
        let mut ep = endpoint();
        ep.remote = Some(far);
        ep.host = true;
        let (shared, files) = image(ep.clone());
        check(&shared, &files, &[]).unwrap();
        let (_file, e) = restored_endpoint(&shared, &files);
        let e = e.borrow();
        assert_eq!(
            (e.state, e.err, e.host.is_none()),
            (TcpState::Closed, libc::ECONNRESET, true)
        );
        assert!(e.bytes.is_empty());
        // Without a host socket, the same image is refused.
        ep.host = false;
        let (shared, files) = image(ep);
        let err = check(&shared, &files, &[]).unwrap_err().to_string();
        assert!(err.contains("remote address"), "{err}");
        // A host listener or UDP socket without an address to bind again is refused.
        for proto in [Proto::Tcp, Proto::Udp] {
            let mut ep = endpoint();
            ep.proto = proto;
            ep.host = true;
            ep.local = None;
            ep.remote = None;
            ep.bytes.clear();
            if proto == Proto::Tcp {
                ep.state = TcpState::Listen;
                ep.listen = Some(InetListenState {
                    backlog: 4,
                    queue: vec![],
                    waiting: vec![],
                });
            } else {
                ep.state = TcpState::Closed;
            }
            let (shared, files) = image(ep);
            let err = check(&shared, &files, &[]).unwrap_err().to_string();
            assert!(err.contains("missing on a host socket"), "{err}");
        }
    }

    /// A saved host-backed listener on `ip`:`port`.
    fn host_listener(ip: [u8; 16], port: u16) -> InetEndpointState {
        let mut ep = endpoint();
        ep.host = true;
        ep.state = TcpState::Listen;
        ep.local = Some(Addr { ip, port });
        ep.remote = None;
        ep.bytes.clear();
        ep.listen = Some(InetListenState {
            backlog: 4,
            queue: vec![],
            waiting: vec![],
        });
        ep
    }

    #[test]
    fn a_host_listener_whose_address_is_gone_fails_the_restore_by_name() {
        // An address this network namespace does not have (TEST-NET-3): the host refuses
        // the bind, and the restore says which socket it could not make again.
        let (shared, files) = image(host_listener(mapped([203, 0, 113, 9]), 8080));
        check(&shared, &files, &[]).unwrap();
        let err = match restore(&no_mounts(), null_stdio(), &shared, &files, &[]) {
            Ok(_) => panic!("restored a listener on an address the host lacks"),
            Err(e) => e,
        };
        let chain = format!("{err:?}");
        assert!(
            chain.contains("HostSocket") && chain.contains("inet socket 5"),
            "{chain}"
        );
    }

    #[test]
    fn a_host_listener_is_bound_and_listening_again_after_restore() {
        // On loopback's wildcard, port picked free now: the restored host socket listens.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let (shared, files) = image(host_listener(mapped([0; 4]), port));
        check(&shared, &files, &[]).unwrap();
        let (_file, e) = restored_endpoint(&shared, &files);
        assert!(e.borrow().host.is_some());
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("the host socket listens");
    }

    #[test]
    fn a_peer_or_a_pending_connection_missing_from_the_image_fails_the_restore() {
        for spoil in [
            (|e: &mut InetEndpointState| e.peer = Some(77)) as fn(&mut InetEndpointState),
            |e| {
                e.state = TcpState::Listen;
                e.remote = None;
                e.bytes.clear();
                e.listen = Some(InetListenState {
                    backlog: 4,
                    queue: vec![78],
                    waiting: vec![],
                })
            },
            |e| {
                e.state = TcpState::Listen;
                e.remote = None;
                e.bytes.clear();
                e.listen = Some(InetListenState {
                    backlog: 4,
                    queue: vec![],
                    waiting: vec![79],
                })
            },
        ] {
            let mut ep = endpoint();
            spoil(&mut ep);
            let (shared, files) = image(ep);
            check(&shared, &files, &[]).unwrap();
            let r = restore(&no_mounts(), null_stdio(), &shared, &files, &[]);
            assert!(r.is_err(), "restored with a dangling reference");
        }
    }

    #[test]
    fn bind_conflicts_follow_linux() {
        let info = |v6, v6only, ip, reuseaddr, listening| BindInfo {
            v6,
            v6only,
            ip,
            reuseaddr,
            reuseport: false,
            listening,
        };
        let any4 = mapped([0; 4]);
        let lo4 = mapped([127, 0, 0, 1]);
        // A dual-stack wildcard clashes with an IPv4 one; a v6-only one does not.
        assert!(info(true, false, ANY6, false, false)
            .clashes(&info(false, false, any4, false, false), Proto::Tcp));
        assert!(!info(true, true, ANY6, false, false)
            .clashes(&info(false, false, any4, false, false), Proto::Tcp));
        assert!(!info(true, false, LOOP6, false, false)
            .clashes(&info(false, false, lo4, false, false), Proto::Tcp));
        // SO_REUSEADDR on both: TCP only while the other is not listening; UDP always.
        let a = info(false, false, lo4, true, false);
        assert!(!a.clashes(&info(false, false, lo4, true, false), Proto::Tcp));
        assert!(a.clashes(&info(false, false, lo4, true, true), Proto::Tcp));
        assert!(!a.clashes(&info(false, false, lo4, true, true), Proto::Udp));
    }
}
