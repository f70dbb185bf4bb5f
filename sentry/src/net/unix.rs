//! AF_UNIX sockets (unix(7)), entirely in the sentry: stream, datagram and seqpacket;
//! socketpair; path names (a socket file in the guest's file system, found again by its
//! inode) and abstract names; SCM_RIGHTS and SCM_CREDENTIALS; shutdown; readiness.
//!
//! A socket is an [`Endpoint`], shared by the open file that holds it ([`UnixSocket`]) and
//! by the endpoints that name it: its peer, and a listener whose queue holds it until it
//! is accepted. An endpoint's receive queue holds the messages sent to it, with the open
//! files passed along. Waiting: a receiver parks on its own endpoint's id, a sender on the
//! id of the endpoint it sends to; every change wakes the ids it concerns
//! ([`wake_later`]).
//!
//! Saved: each endpoint once, in the image's shared table under its id, with its peer
//! and pending connections as ids in that table and the files in flight as open-file ids;
//! each socket file as the id of its endpoint. The name table is not saved: the restored
//! kernel registers the bound endpoints of the restored files again
//! ([`Names::register`]). A set of sockets that only reach each other through files in
//! flight (a socket sent over itself) is not collected before the sandbox ends, where
//! Linux's garbage collector would free it.

mod host;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::{Rc, Weak};

use serde::{Deserialize, Serialize};

use super::ns::{restored_net, NetRef};
use super::{int_opt, timeval_bytes, timeval_opt, RecvMsg, SendMsg, Socket, SocketCtx, Ucred};
use crate::checks::{bad, Invalid};
use crate::fs::file::{anon_stat, FileImpl, FileRef, IoErr, IoctlCaller};
use crate::fs::persist::{
    CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx, SharedPersist,
};
use crate::mm::Errno;
use crate::wait::{wake_later, WaitKey};

/// sizeof(sun_path).
pub(crate) const PATH_MAX: usize = 108;
/// Most files one SCM_RIGHTS message passes (SCM_MAX_FD).
pub(crate) const MAX_RIGHTS: usize = 253;
/// Default and most send and receive buffer sizes (net.core.wmem_default, twice
/// net.core.wmem_max as SO_SNDBUF doubles).
const BUF_DEFAULT: usize = 212_992;
const BUF_MAX: usize = 2 * 212_992;
const SNDBUF_MIN: usize = 4608;
const RCVBUF_MIN: usize = 2304;
/// Datagrams a receiver queues before senders wait (net.unix.max_dgram_qlen).
const DGRAM_QLEN: usize = 10;
/// Boolean SOL_SOCKET options that are kept and reported, and change nothing else here.
const FLAGS_KEPT: [i32; 8] = [
    libc::SO_REUSEADDR,
    libc::SO_REUSEPORT,
    libc::SO_KEEPALIVE,
    libc::SO_BROADCAST,
    libc::SO_OOBINLINE,
    libc::SO_DONTROUTE,
    libc::SO_TIMESTAMP,
    libc::SO_PASSSEC,
];
/// sk_shutdown bits: no more receiving, no more sending.
const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_MASK: u8 = 3;

/// A socket's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SockType {
    Stream,
    Dgram,
    Seqpacket,
}

impl SockType {
    /// The type socket(2) asks for (without its flags); ESOCKTNOSUPPORT for the other
    /// types Linux knows, EINVAL for the rest.
    pub(crate) fn from_raw(t: i32) -> Result<SockType, Errno> {
        match t {
            libc::SOCK_STREAM => Ok(SockType::Stream),
            // As Linux: a raw unix socket is a datagram socket.
            libc::SOCK_DGRAM | libc::SOCK_RAW => Ok(SockType::Dgram),
            libc::SOCK_SEQPACKET => Ok(SockType::Seqpacket),
            libc::SOCK_RDM | 10 /* SOCK_PACKET */ => Err(libc::ESOCKTNOSUPPORT),
            _ => Err(libc::EINVAL),
        }
    }

    pub(crate) fn raw(self) -> i32 {
        match self {
            SockType::Stream => libc::SOCK_STREAM,
            SockType::Dgram => libc::SOCK_DGRAM,
            SockType::Seqpacket => libc::SOCK_SEQPACKET,
        }
    }

    /// Stream and seqpacket sockets connect; datagram sockets only name a default peer.
    fn connection(self) -> bool {
        self != SockType::Dgram
    }
}

/// A unix socket address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnixAddr {
    Unnamed,
    /// A file system path, as given (without the NUL).
    Path(Vec<u8>),
    /// An abstract name (the bytes after the leading NUL).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// Decodes a `struct sockaddr_un` of the length the guest gave (EINVAL when it is
    /// not one). Two bytes (the family alone) are the unnamed address.
    pub(crate) fn parse(raw: &[u8]) -> Result<UnixAddr, Errno> {
        if raw.len() < 2 || raw.len() > 2 + PATH_MAX {
            return Err(libc::EINVAL);
        }
        if u16::from_le_bytes([raw[0], raw[1]]) != libc::AF_UNIX as u16 {
            return Err(libc::EINVAL);
        }
        let path = &raw[2..];
        Ok(match path.first() {
            None => UnixAddr::Unnamed,
            Some(0) => UnixAddr::Abstract(path[1..].to_vec()),
            Some(_) => {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                UnixAddr::Path(path[..end].to_vec())
            }
        })
    }

    /// Its `struct sockaddr_un` bytes, as long as Linux reports it.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut b = (libc::AF_UNIX as u16).to_le_bytes().to_vec();
        match self {
            UnixAddr::Unnamed => {}
            UnixAddr::Path(p) => {
                b.extend_from_slice(p);
                b.push(0);
            }
            UnixAddr::Abstract(n) => {
                b.push(0);
                b.extend_from_slice(n);
            }
        }
        b
    }

    /// Its bytes as a received message's sender address (none when unnamed).
    fn raw(&self) -> Option<Vec<u8>> {
        (*self != UnixAddr::Unnamed).then(|| self.bytes())
    }

    fn check(&self, object: &str) -> Result<(), Invalid> {
        match self {
            UnixAddr::Unnamed => Ok(()),
            UnixAddr::Path(p) if p.is_empty() || p.len() > PATH_MAX || p.contains(&0) => {
                Err(bad(object, "name", "is not a socket path"))
            }
            UnixAddr::Abstract(n) if n.len() >= PATH_MAX => {
                Err(bad(object, "name", "is too long for an abstract name"))
            }
            _ => Ok(()),
        }
    }
}

type EpRef = Rc<RefCell<Endpoint>>;

/// The socket files bound in a kernel, by (device, inode): reached from every network
/// namespace, as the file system is.
#[derive(Default)]
pub(crate) struct Names {
    nodes: HashMap<(u64, u64), Weak<RefCell<Endpoint>>>,
}

/// The abstract names bound in a network namespace.
#[derive(Default)]
pub(crate) struct Abstract {
    names: HashMap<Vec<u8>, Weak<RefCell<Endpoint>>>,
    next_auto: u32,
}

/// The endpoint behind a name, if it is still open.
fn live(w: &Weak<RefCell<Endpoint>>) -> Option<EpRef> {
    // An endpoint borrowed now is the caller's own, open.
    w.upgrade()
        .filter(|e| e.try_borrow().map_or(true, |e| e.open))
}

impl Abstract {
    fn find(&self, name: &[u8]) -> Option<EpRef> {
        self.names.get(name).and_then(live)
    }

    /// A free abstract name of five hex digits, as autobind picks.
    fn auto_name(&mut self) -> Result<Vec<u8>, Errno> {
        for _ in 0..0x10_0000 {
            let n = format!("{:05x}", self.next_auto & 0xf_ffff).into_bytes();
            self.next_auto = self.next_auto.wrapping_add(1);
            if self.find(&n).is_none() {
                return Ok(n);
            }
        }
        Err(libc::ENOSPC)
    }
}

impl Names {
    fn find_node(&self, node: (u64, u64)) -> Option<EpRef> {
        self.nodes.get(&node).and_then(live)
    }

    /// Registers a restored endpoint's name: an abstract name (in its namespace), or the
    /// socket file at `node` (its device and inode in the restored file system).
    pub(crate) fn register(&mut self, ep: &EpRef, node: Option<(u64, u64)>) {
        let e = ep.borrow();
        if !e.open {
            return;
        }
        if let UnixAddr::Abstract(n) = &e.name {
            e.net
                .unix
                .borrow_mut()
                .names
                .insert(n.clone(), Rc::downgrade(ep));
        }
        if let Some(node) = node {
            self.nodes.insert(node, Rc::downgrade(ep));
        }
    }
}

/// A message in a receive queue.
pub(crate) struct Msg {
    data: Vec<u8>,
    rights: Vec<FileRef>,
    /// Credentials, when the sender passed them or either side had SO_PASSCRED.
    cred: Option<Ucred>,
    from: UnixAddr,
}

/// What a receiver with SO_PASSCRED sees for a message sent without credentials.
const NO_CRED: Ucred = Ucred {
    pid: 0,
    uid: 65534,
    gid: 65534,
};

/// Credentials a message carries: those passed, else the sender's when either side has
/// SO_PASSCRED.
fn msg_cred(m: &SendMsg, sender_pass: bool, receiver_pass: bool) -> Option<Ucred> {
    m.creds
        .or_else(|| (sender_pass || receiver_pass).then_some(m.sender))
}

struct Listen {
    backlog: usize,
    /// Connections not yet accepted: the server ends, each connected to its client.
    queue: VecDeque<EpRef>,
}

/// One unix socket.
pub struct Endpoint {
    pub(crate) id: u64,
    ty: SockType,
    /// Its own address.
    name: UnixAddr,
    /// The guest path of the socket file it made (bound to a path).
    node: Option<String>,
    listen: Option<Listen>,
    /// A connected socket's peer; a datagram socket's default destination.
    peer: Option<EpRef>,
    /// The peer's credentials when they connected (SO_PEERCRED).
    peercred: Option<Ucred>,
    recv: VecDeque<Msg>,
    recv_bytes: usize,
    /// RCV_SHUTDOWN | SEND_SHUTDOWN.
    shutdown: u8,
    /// The pending error SO_ERROR reports (ECONNRESET).
    err: i32,
    passcred: bool,
    sndbuf: usize,
    rcvbuf: usize,
    rcvtimeo: u64,
    sndtimeo: u64,
    /// Other SOL_SOCKET options, kept and reported (SO_REUSEADDR, SO_KEEPALIVE, ...).
    opts: BTreeMap<i32, i32>,
    /// Its creator's credentials (a listener's are its peers' SO_PEERCRED).
    cred: Ucred,
    /// Whether an open file or a listener's queue still holds it.
    open: bool,
    /// A connection to a socket file of a host mount (`host.rs`), instead of a peer.
    host: Option<host::HostConn>,
    /// The network namespace it was made in (its abstract names' and its ioctls').
    net: NetRef,
}

impl Endpoint {
    fn new(id: u64, ty: SockType, cred: Ucred, net: NetRef) -> Endpoint {
        Endpoint {
            net,
            id,
            ty,
            name: UnixAddr::Unnamed,
            node: None,
            listen: None,
            peer: None,
            peercred: None,
            recv: VecDeque::new(),
            recv_bytes: 0,
            shutdown: 0,
            err: 0,
            passcred: false,
            sndbuf: BUF_DEFAULT,
            rcvbuf: BUF_DEFAULT,
            rcvtimeo: 0,
            sndtimeo: 0,
            opts: BTreeMap::new(),
            cred,
            open: true,
            host: None,
        }
    }

    fn push(&mut self, m: Msg) {
        self.recv_bytes += m.data.len();
        self.recv.push_back(m);
    }
}

/// Ends an endpoint: its peer sees the connection closed (reset, when data it sent was
/// never read or the connection was never accepted), pending connections are refused,
/// and what was in flight to it is dropped.
fn close(ep: &EpRef, embryo: bool) {
    let (peer, pending, recv, had_data, ty, id) = {
        let mut e = ep.borrow_mut();
        if !e.open {
            return;
        }
        e.open = false;
        e.shutdown = SHUTDOWN_MASK;
        let recv = std::mem::take(&mut e.recv);
        e.recv_bytes = 0;
        let pending = e.listen.take().map(|l| l.queue).unwrap_or_default();
        let had_data = !recv.is_empty();
        // The host side sees the end of file.
        e.host = None;
        (e.peer.take(), pending, recv, had_data, e.ty, e.id)
    };
    wake_later(id);
    if let Some(p) = peer {
        if ty.connection() && !Rc::ptr_eq(&p, ep) {
            let mut pb = p.borrow_mut();
            pb.shutdown = SHUTDOWN_MASK;
            if had_data || embryo {
                pb.err = libc::ECONNRESET;
            }
        }
        wake_later(p.borrow().id);
    }
    for c in pending {
        close(&c, true);
    }
    // The files in flight go last, with no endpoint borrowed: one may be a socket whose
    // end closes another.
    drop(recv);
}

/// Registers the names of the restored sockets among `files` in the restored kernel's
/// table: abstract names, and socket files found again by their guest path (made again,
/// mode 0755, where the restored file system lacks them: a tmpfs is not in the image).
pub(super) fn register_restored(
    names: &mut Names,
    vfs: &crate::fs::Vfs,
    files: impl Iterator<Item = FileRef>,
) {
    let root = crate::creds::Creds::new(0, 0, vec![], crate::creds::CapSets::default_for(0), false);
    let no_proc = |_: &[String]| Err(libc::ENOENT);
    for f in files {
        let Some(ep) = f.borrow().kind::<UnixSocket>().map(|s| s.ep.clone()) else {
            continue;
        };
        let path = ep.borrow().node.clone();
        let node = path.and_then(|p| {
            let mut r = vfs
                .resolve(&no_proc, &root, "/", p.as_bytes(), false)
                .ok()?;
            if !r.exists {
                vfs.mknod_socket(&r, 0o755).ok()?;
                r.exists = true;
            }
            let (st, _) = vfs.lstat(&no_proc, r.mount, &r.rel).ok()?;
            (st.st_mode & libc::S_IFMT == libc::S_IFSOCK).then_some((st.st_dev, st.st_ino))
        });
        names.register(&ep, node);
    }
}

/// Makes a socket file for endpoint `ep`.
fn file_of(ep: EpRef, nonblock: bool) -> FileRef {
    let id = ep.borrow().id;
    super::socket_file(Box::new(UnixSocket { ep }), id, nonblock)
}

/// A new socket of type `ty` for `cred` in namespace `net`, as socket(2) makes it.
pub(crate) fn socket(id: u64, ty: SockType, cred: Ucred, net: NetRef, nonblock: bool) -> FileRef {
    file_of(
        Rc::new(RefCell::new(Endpoint::new(id, ty, cred, net))),
        nonblock,
    )
}

/// A connected pair, as socketpair(2) makes it.
pub(crate) fn pair(
    ids: (u64, u64),
    ty: SockType,
    cred: Ucred,
    net: NetRef,
    nonblock: bool,
) -> (FileRef, FileRef) {
    let a = Rc::new(RefCell::new(Endpoint::new(ids.0, ty, cred, net.clone())));
    let b = Rc::new(RefCell::new(Endpoint::new(ids.1, ty, cred, net)));
    {
        let (mut ab, mut bb) = (a.borrow_mut(), b.borrow_mut());
        ab.peer = Some(b.clone());
        ab.peercred = Some(cred);
        bb.peer = Some(a.clone());
        bb.peercred = Some(cred);
    }
    (file_of(a, nonblock), file_of(b, nonblock))
}

/// An open unix socket.
pub struct UnixSocket {
    ep: EpRef,
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        close(&self.ep, false);
    }
}

impl UnixSocket {
    fn id(&self) -> u64 {
        self.ep.borrow().id
    }

    /// The endpoint a name leads to, for connect and sendto.
    /// An abstract name finds only a socket of the caller's type (ECONNREFUSED), a path
    /// finds its socket whatever the type (EPROTOTYPE), as Linux does.
    fn lookup(&self, c: &mut dyn SocketCtx, addr: &UnixAddr) -> Result<EpRef, Errno> {
        let ty = self.ep.borrow().ty;
        let same = |e: &EpRef| Rc::ptr_eq(e, &self.ep) || e.borrow().ty == ty;
        match addr {
            UnixAddr::Unnamed => Err(libc::EINVAL),
            UnixAddr::Abstract(n) => {
                let net = self.ep.borrow().net.clone();
                let found = net.unix.borrow().find(n);
                found.filter(same).ok_or(libc::ECONNREFUSED)
            }
            UnixAddr::Path(p) => {
                let r = c.resolve(p, true)?;
                if !r.exists {
                    return Err(libc::ENOENT);
                }
                let st = c.lstat(&r)?;
                c.creds().may(&(&st).into(), crate::creds::MAY_WRITE)?;
                if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                    return Err(libc::ECONNREFUSED);
                }
                let e = c
                    .bindings()
                    .unix
                    .find_node((st.st_dev, st.st_ino))
                    .ok_or(libc::ECONNREFUSED)?;
                if !same(&e) {
                    return Err(libc::EPROTOTYPE);
                }
                Ok(e)
            }
        }
    }

    fn send_connected(&mut self, m: SendMsg) -> Result<usize, IoErr> {
        if self.ep.borrow().host.is_some() {
            return self.host_send(m);
        }
        let (peer, sndbuf, ty, shut, pass) = {
            let e = self.ep.borrow();
            (e.peer.clone(), e.sndbuf, e.ty, e.shutdown, e.passcred)
        };
        if shut & SEND_SHUTDOWN != 0 {
            return Err(IoErr::Pipe);
        }
        let Some(peer) = peer else {
            return Err(IoErr::Errno(libc::ENOTCONN));
        };
        let from = self.ep.borrow().name.clone();
        let mut p = peer.borrow_mut();
        if !p.open || p.shutdown & RCV_SHUTDOWN != 0 {
            return Err(IoErr::Pipe);
        }
        if ty == SockType::Seqpacket && m.data.len() > sndbuf {
            return Err(IoErr::Errno(libc::EMSGSIZE));
        }
        if ty == SockType::Stream && m.data.is_empty() && m.rights.is_empty() {
            return Ok(0);
        }
        let space = sndbuf.saturating_sub(p.recv_bytes);
        let n = match ty {
            SockType::Stream if space == 0 => return Err(IoErr::Block(WaitKey::Object(p.id))),
            SockType::Stream => m.data.len().min(space),
            _ if space < m.data.len() && !p.recv.is_empty() => {
                return Err(IoErr::Block(WaitKey::Object(p.id)))
            }
            _ => m.data.len(),
        };
        let cred = msg_cred(&m, pass, p.passcred);
        let mut data = m.data;
        data.truncate(n);
        p.push(Msg {
            data,
            rights: m.rights,
            cred,
            from,
        });
        wake_later(p.id);
        Ok(n)
    }

    /// Sends a datagram to `to`, or to the peer.
    fn send_dgram(&mut self, to: Option<EpRef>, m: SendMsg) -> Result<usize, IoErr> {
        let (target, from, sndbuf, pass) = {
            let e = self.ep.borrow();
            // A datagram socket says EPIPE without SIGPIPE.
            if e.shutdown & SEND_SHUTDOWN != 0 {
                return Err(IoErr::Errno(libc::EPIPE));
            }
            let target = match to.or_else(|| e.peer.clone()) {
                Some(t) => t,
                None => return Err(IoErr::Errno(libc::ENOTCONN)),
            };
            (target, e.name.clone(), e.sndbuf, e.passcred)
        };
        if m.data.len() > sndbuf.saturating_sub(32) {
            return Err(IoErr::Errno(libc::EMSGSIZE));
        }
        let me = &self.ep;
        let self_target = Rc::ptr_eq(&target, me);
        let mut t = if self_target {
            me.borrow_mut()
        } else {
            target.borrow_mut()
        };
        if !t.open {
            drop(t);
            let mut e = me.borrow_mut();
            if e.peer.as_ref().is_some_and(|p| Rc::ptr_eq(p, &target)) {
                e.peer = None;
            }
            return Err(IoErr::Errno(libc::ECONNREFUSED));
        }
        if t.ty != SockType::Dgram {
            return Err(IoErr::Errno(libc::EPROTOTYPE));
        }
        if t.peer.as_ref().is_some_and(|p| !Rc::ptr_eq(p, me)) {
            return Err(IoErr::Errno(libc::EPERM));
        }
        if t.shutdown & RCV_SHUTDOWN != 0 {
            return Err(IoErr::Errno(libc::EPIPE));
        }
        if t.recv.len() >= DGRAM_QLEN {
            return Err(IoErr::Block(WaitKey::Object(t.id)));
        }
        let n = m.data.len();
        let cred = msg_cred(&m, pass, t.passcred);
        t.push(Msg {
            data: m.data,
            rights: m.rights,
            cred,
            from,
        });
        wake_later(t.id);
        Ok(n)
    }

    /// Receives as recvmsg(2) does, without the addresses and control data being copied
    /// out (the socket calls do that).
    fn recv(&mut self, len: usize, flags: i32) -> Result<RecvMsg, IoErr> {
        let peek = flags & libc::MSG_PEEK != 0;
        if self.ep.borrow().host.is_some() {
            return self.host_recv(len, peek);
        }
        let mut e = self.ep.borrow_mut();
        match e.ty {
            SockType::Stream if e.peer.is_none() => return Err(IoErr::Errno(libc::EINVAL)),
            SockType::Seqpacket if e.peer.is_none() => return Err(IoErr::Errno(libc::ENOTCONN)),
            _ => {}
        }
        if e.recv.is_empty() {
            if e.err != 0 {
                let err = std::mem::take(&mut e.err);
                return Err(IoErr::Errno(err));
            }
            if e.shutdown & RCV_SHUTDOWN != 0 && e.ty.connection() {
                return Ok(RecvMsg {
                    eof: true,
                    ..RecvMsg::default()
                });
            }
            if e.shutdown & RCV_SHUTDOWN != 0 {
                return Ok(RecvMsg::default());
            }
            return Err(IoErr::Block(WaitKey::Object(e.id)));
        }
        let passcred = e.passcred;
        let mut out = RecvMsg::default();
        if e.ty == SockType::Stream {
            let mut i = 0;
            let mut first_cred = None;
            // A zero-length read still takes the first message's files.
            while (i == 0 || out.data.len() < len) && i < e.recv.len() {
                let m = &e.recv[i];
                if i > 0 && passcred && first_cred != m.cred {
                    break;
                }
                if i == 0 {
                    out.addr = m.from.raw();
                    first_cred = m.cred;
                    out.creds = Some(m.cred.unwrap_or(NO_CRED));
                }
                let n = (len - out.data.len()).min(m.data.len());
                out.data.extend_from_slice(&m.data[..n]);
                let rights = !m.rights.is_empty();
                if rights {
                    out.rights = m.rights.clone();
                }
                if !peek {
                    let m = &mut e.recv[i];
                    m.rights.clear();
                    m.data.drain(..n);
                    if m.data.is_empty() {
                        e.recv.remove(i);
                    } else {
                        i += 1;
                    }
                    e.recv_bytes -= n;
                } else {
                    i += 1;
                }
                if rights {
                    break;
                }
            }
            out.full_len = out.data.len();
        } else {
            let m = if peek {
                let m = &e.recv[0];
                Msg {
                    data: m.data.clone(),
                    rights: m.rights.clone(),
                    cred: m.cred,
                    from: m.from.clone(),
                }
            } else {
                let m = e.recv.pop_front().expect("not empty");
                e.recv_bytes -= m.data.len();
                m
            };
            out.full_len = m.data.len();
            out.data = m.data;
            out.data.truncate(len);
            out.rights = m.rights;
            out.addr = m.from.raw();
            out.creds = Some(m.cred.unwrap_or(NO_CRED));
        }
        if !passcred {
            out.creds = None;
        }
        if !peek {
            wake_later(e.id);
        }
        Ok(out)
    }
}

impl Socket for UnixSocket {
    fn net(&self) -> NetRef {
        self.ep.borrow().net.clone()
    }

    fn sock_type(&self) -> i32 {
        self.ep.borrow().ty.raw()
    }

    fn bind(&mut self, c: &mut dyn SocketCtx, raw: &[u8]) -> Result<(), Errno> {
        let addr = UnixAddr::parse(raw)?;
        if self.ep.borrow().name != UnixAddr::Unnamed {
            return Err(libc::EINVAL);
        }
        match &addr {
            UnixAddr::Unnamed => {
                let net = self.ep.borrow().net.clone();
                let mut names = net.unix.borrow_mut();
                let n = names.auto_name()?;
                names.names.insert(n.clone(), Rc::downgrade(&self.ep));
                self.ep.borrow_mut().name = UnixAddr::Abstract(n);
            }
            UnixAddr::Abstract(n) => {
                let net = self.ep.borrow().net.clone();
                let mut names = net.unix.borrow_mut();
                if names.find(n).is_some() {
                    return Err(libc::EADDRINUSE);
                }
                names.names.insert(n.clone(), Rc::downgrade(&self.ep));
                self.ep.borrow_mut().name = addr;
            }
            UnixAddr::Path(p) => {
                let mut r = c.resolve(p, false)?;
                if r.exists {
                    return Err(libc::EADDRINUSE);
                }
                let dir = c.may_create(&r)?;
                let mode = 0o777 & !c.umask();
                c.vfs().mknod_socket(&r, mode).map_err(|e| match e {
                    libc::EEXIST => libc::EADDRINUSE,
                    e => e,
                })?;
                r.exists = true;
                c.give_to_creator(&r, &dir, None)?;
                let st = c.lstat(&r)?;
                c.bindings()
                    .unix
                    .nodes
                    .insert((st.st_dev, st.st_ino), Rc::downgrade(&self.ep));
                let mut e = self.ep.borrow_mut();
                e.name = addr;
                e.node = Some(r.path);
            }
        }
        Ok(())
    }

    fn listen(&mut self, backlog: i32) -> Result<(), Errno> {
        let mut e = self.ep.borrow_mut();
        if !e.ty.connection() {
            return Err(libc::EOPNOTSUPP);
        }
        if e.peer.is_some() || e.host.is_some() || e.name == UnixAddr::Unnamed {
            return Err(libc::EINVAL);
        }
        // As Linux: a negative backlog or one above somaxconn is somaxconn.
        let backlog = if !(0..=4096).contains(&backlog) {
            4096
        } else {
            backlog as usize
        };
        // As Linux: a listener's own SO_PEERCRED is its credentials.
        e.peercred = Some(e.cred);
        match &mut e.listen {
            Some(l) => l.backlog = backlog,
            None => {
                e.listen = Some(Listen {
                    backlog,
                    queue: VecDeque::new(),
                })
            }
        }
        Ok(())
    }

    fn accept(&mut self, _: &mut dyn SocketCtx) -> Result<(Box<dyn FileImpl>, Vec<u8>), IoErr> {
        let mut e = self.ep.borrow_mut();
        let id = e.id;
        let Some(l) = &mut e.listen else {
            return Err(IoErr::Errno(libc::EINVAL));
        };
        let Some(srv) = l.queue.pop_front() else {
            return Err(IoErr::Block(WaitKey::Object(id)));
        };
        drop(e);
        wake_later(id);
        let addr = {
            let s = srv.borrow();
            s.peer
                .as_ref()
                .map_or(UnixAddr::Unnamed, |p| p.borrow().name.clone())
        };
        Ok((Box::new(UnixSocket { ep: srv }), addr.bytes()))
    }

    fn connect(&mut self, c: &mut dyn SocketCtx, raw: &[u8], _nonblock: bool) -> Result<(), IoErr> {
        let ty = self.ep.borrow().ty;
        if ty == SockType::Dgram {
            if raw.len() >= 2 && u16::from_le_bytes([raw[0], raw[1]]) == libc::AF_UNSPEC as u16 {
                self.ep.borrow_mut().peer = None;
                return Ok(());
            }
            let target = self.lookup(c, &UnixAddr::parse(raw)?)?;
            if !Rc::ptr_eq(&target, &self.ep) {
                let t = target.borrow();
                if t.ty != SockType::Dgram {
                    return Err(IoErr::Errno(libc::EPROTOTYPE));
                }
                if t.peer.as_ref().is_some_and(|p| !Rc::ptr_eq(p, &self.ep)) {
                    return Err(IoErr::Errno(libc::EPERM));
                }
            }
            let mut e = self.ep.borrow_mut();
            e.peer = Some(target);
            return Ok(());
        }
        let addr = UnixAddr::parse(raw)?;
        {
            let e = self.ep.borrow();
            if e.listen.is_some() {
                return Err(IoErr::Errno(libc::EINVAL));
            }
            if e.peer.is_some() || e.host.is_some() {
                return Err(IoErr::Errno(libc::EISCONN));
            }
        }
        let target = match (self.lookup(c, &addr), &addr) {
            // No socket of the sandbox there: a host socket file, perhaps.
            (Err(libc::ECONNREFUSED), UnixAddr::Path(p)) => return self.host_connect(c, p),
            (r, _) => r?,
        };
        if Rc::ptr_eq(&target, &self.ep) {
            return Err(IoErr::Errno(libc::ECONNREFUSED));
        }
        let srv_id = c.new_obj_id();
        let me_cred = Ucred {
            pid: c.tgid(),
            uid: c.creds().euid,
            gid: c.creds().egid,
        };
        let mut t = target.borrow_mut();
        if t.ty != ty {
            return Err(IoErr::Errno(libc::EPROTOTYPE));
        }
        let (tid, tname, tcred, tsndbuf, tpass, tnet) = (
            t.id,
            t.name.clone(),
            t.cred,
            t.sndbuf,
            t.passcred,
            t.net.clone(),
        );
        let Some(l) = &mut t.listen else {
            return Err(IoErr::Errno(libc::ECONNREFUSED));
        };
        if l.queue.len() > l.backlog {
            return Err(IoErr::Block(WaitKey::Object(tid)));
        }
        let mut srv = Endpoint::new(srv_id, ty, tcred, tnet);
        srv.name = tname;
        srv.peer = Some(self.ep.clone());
        srv.peercred = Some(me_cred);
        srv.sndbuf = tsndbuf;
        srv.passcred = tpass;
        let srv = Rc::new(RefCell::new(srv));
        l.queue.push_back(srv.clone());
        drop(t);
        let mut e = self.ep.borrow_mut();
        e.peer = Some(srv);
        e.peercred = Some(tcred);
        wake_later(tid);
        Ok(())
    }

    fn sendmsg(&mut self, c: &mut dyn SocketCtx, m: SendMsg) -> Result<usize, IoErr> {
        let ty = self.ep.borrow().ty;
        if ty == SockType::Dgram {
            let to = match &m.addr {
                Some(raw) => Some(self.lookup(c, &UnixAddr::parse(raw)?)?),
                None => None,
            };
            return self.send_dgram(to, m);
        }
        if m.addr.is_some() && ty == SockType::Stream {
            // Linux refuses an address on a stream; a seqpacket socket ignores it.
            let connected = self.ep.borrow().peer.is_some();
            return Err(IoErr::Errno(if connected {
                libc::EISCONN
            } else {
                libc::EOPNOTSUPP
            }));
        }
        self.send_connected(m)
    }

    fn recvmsg(&mut self, len: usize, flags: i32) -> Result<RecvMsg, IoErr> {
        self.recv(len, flags)
    }

    fn receives_in_place(&self) -> bool {
        let e = self.ep.borrow();
        e.ty == SockType::Stream && e.host_fd().is_some()
    }

    fn recv_in_place(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> Result<usize, IoErr> {
        self.host_recv_in_place(bufs)
    }

    fn shutdown(&mut self, how: i32) -> Result<(), Errno> {
        let bits = match how {
            libc::SHUT_RD => RCV_SHUTDOWN,
            libc::SHUT_WR => SEND_SHUTDOWN,
            libc::SHUT_RDWR => SHUTDOWN_MASK,
            _ => return Err(libc::EINVAL),
        };
        if self.ep.borrow().host.is_some() {
            return self.host_shutdown(how, bits);
        }
        let mut e = self.ep.borrow_mut();
        e.shutdown |= bits;
        wake_later(e.id);
        if let (true, Some(p)) = (e.ty.connection(), e.peer.clone()) {
            drop(e);
            let mut pb = p.borrow_mut();
            if bits & RCV_SHUTDOWN != 0 {
                pb.shutdown |= SEND_SHUTDOWN;
            }
            if bits & SEND_SHUTDOWN != 0 {
                pb.shutdown |= RCV_SHUTDOWN;
            }
            wake_later(pb.id);
        }
        Ok(())
    }

    fn sockname(&self) -> Vec<u8> {
        self.ep.borrow().name.bytes()
    }

    fn peername(&self) -> Result<Vec<u8>, Errno> {
        let e = self.ep.borrow();
        if let Some(name) = Self::host_peername(&e) {
            return Ok(name);
        }
        let p = e.peer.as_ref().ok_or(libc::ENOTCONN)?;
        if Rc::ptr_eq(p, &self.ep) {
            return Ok(e.name.bytes());
        }
        let name = p.borrow().name.bytes();
        Ok(name)
    }

    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level != libc::SOL_SOCKET {
            return Err(libc::EOPNOTSUPP);
        }
        let mut e = self.ep.borrow_mut();
        let int = |v: i32| Ok(v.to_le_bytes().to_vec());
        match name {
            libc::SO_TYPE => int(e.ty.raw()),
            libc::SO_DOMAIN => int(libc::AF_UNIX),
            libc::SO_PROTOCOL => int(0),
            libc::SO_ACCEPTCONN => int(i32::from(e.listen.is_some())),
            libc::SO_ERROR if e.host.is_some() => int(Self::host_error(&mut e)),
            libc::SO_ERROR => int(std::mem::take(&mut e.err)),
            libc::SO_SNDBUF => int(e.sndbuf as i32),
            libc::SO_RCVBUF => int(e.rcvbuf as i32),
            libc::SO_PASSCRED => int(i32::from(e.passcred)),
            libc::SO_RCVTIMEO => Ok(timeval_bytes(e.rcvtimeo)),
            libc::SO_SNDTIMEO => Ok(timeval_bytes(e.sndtimeo)),
            libc::SO_PEERCRED => Ok(e
                .peercred
                .unwrap_or(Ucred {
                    pid: 0,
                    uid: u32::MAX,
                    gid: u32::MAX,
                })
                .bytes()),
            libc::SO_LINGER => {
                let on = e.opts.get(&libc::SO_LINGER).copied().unwrap_or(0);
                let secs = e.opts.get(&-libc::SO_LINGER).copied().unwrap_or(0);
                let mut b = on.to_le_bytes().to_vec();
                b.extend_from_slice(&secs.to_le_bytes());
                Ok(b)
            }
            n if FLAGS_KEPT.contains(&n) || n == libc::SO_PRIORITY || n == libc::SO_SNDLOWAT => {
                int(e.opts.get(&name).copied().unwrap_or(0))
            }
            libc::SO_RCVLOWAT => int(e.opts.get(&name).copied().unwrap_or(1)),
            _ => Err(libc::ENOPROTOOPT),
        }
    }

    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        if level != libc::SOL_SOCKET {
            return Err(libc::EOPNOTSUPP);
        }
        let mut e = self.ep.borrow_mut();
        match name {
            libc::SO_SNDBUF => {
                let v = int_opt(val)?.max(0) as usize;
                e.sndbuf = (v.min(BUF_MAX / 2) * 2).max(SNDBUF_MIN);
            }
            libc::SO_RCVBUF => {
                let v = int_opt(val)?.max(0) as usize;
                e.rcvbuf = (v.min(BUF_MAX / 2) * 2).max(RCVBUF_MIN);
            }
            libc::SO_PASSCRED => e.passcred = int_opt(val)? != 0,
            libc::SO_RCVTIMEO => e.rcvtimeo = timeval_opt(val)?,
            libc::SO_SNDTIMEO => e.sndtimeo = timeval_opt(val)?,
            libc::SO_LINGER => {
                if val.len() < 8 {
                    return Err(libc::EINVAL);
                }
                let on = int_opt(val)?;
                let secs = int_opt(&val[4..])?;
                e.opts.insert(libc::SO_LINGER, i32::from(on != 0));
                e.opts.insert(-libc::SO_LINGER, secs);
            }
            n if FLAGS_KEPT.contains(&n) => {
                let v = int_opt(val)?;
                e.opts.insert(name, i32::from(v != 0));
            }
            libc::SO_PRIORITY | libc::SO_SNDLOWAT => {
                let v = int_opt(val)?;
                e.opts.insert(name, v);
            }
            libc::SO_RCVLOWAT => {
                let v = int_opt(val)?;
                e.opts.insert(name, v.max(1));
            }
            libc::SO_TYPE
            | libc::SO_DOMAIN
            | libc::SO_PROTOCOL
            | libc::SO_ACCEPTCONN
            | libc::SO_ERROR
            | libc::SO_PEERCRED => return Err(libc::ENOPROTOOPT),
            _ => return Err(libc::ENOPROTOOPT),
        }
        Ok(())
    }

    fn timeouts(&self) -> (u64, u64) {
        let e = self.ep.borrow();
        (e.rcvtimeo, e.sndtimeo)
    }

    fn queued(&self) -> usize {
        let e = self.ep.borrow();
        if e.host.is_some() {
            return Self::host_ioctl_int(&e, libc::FIONREAD);
        }
        match e.ty {
            SockType::Stream | SockType::Seqpacket => e.recv_bytes,
            _ => e.recv.front().map_or(0, |m| m.data.len()),
        }
    }
}

impl FileImpl for UnixSocket {
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
        let (ty, cred) = {
            let e = self.ep.borrow();
            (e.ty, e.cred)
        };
        let m = SendMsg {
            data: data.to_vec(),
            addr: None,
            rights: Vec::new(),
            creds: None,
            sender: cred,
        };
        if ty == SockType::Dgram {
            return self.send_dgram(None, m);
        }
        self.send_connected(m)
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let e = self.ep.borrow();
        let mut r = 0;
        let mut keys = vec![WaitKey::Object(e.id)];
        if e.host.is_some() {
            return (Self::host_readiness(&e, events), keys);
        }
        if e.err != 0 {
            r |= libc::POLLERR;
        }
        if e.shutdown == SHUTDOWN_MASK {
            r |= libc::POLLHUP;
        }
        if e.shutdown & RCV_SHUTDOWN != 0 {
            r |= libc::POLLRDHUP | libc::POLLIN | libc::POLLRDNORM;
        }
        if !e.recv.is_empty() || e.listen.as_ref().is_some_and(|l| !l.queue.is_empty()) {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if e.ty.connection() && e.peer.is_none() && e.listen.is_none() {
            r |= libc::POLLHUP;
        }
        // As Linux: whether there is room, whatever the shutdown state.
        let writable = match &e.peer {
            _ if e.listen.is_some() => false,
            None => e.ty == SockType::Dgram || e.ty.connection(),
            Some(p) if Rc::ptr_eq(p, &self.ep) => e.recv.len() < DGRAM_QLEN,
            Some(p) => {
                let p = p.borrow();
                keys.push(WaitKey::Object(p.id));
                match e.ty {
                    SockType::Dgram => p.recv.len() < DGRAM_QLEN || !p.open,
                    _ => p.recv_bytes < e.sndbuf || !p.open,
                }
            }
        };
        if writable {
            r |= libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
        }
        (r & (events | libc::POLLERR | libc::POLLHUP), keys)
    }

    fn notify_key(&self) -> Option<WaitKey> {
        Some(WaitKey::Object(self.id()))
    }

    fn ioctl(&mut self, caller: &mut dyn IoctlCaller, req: u64, arg: u64) -> Result<i64, Errno> {
        match req as libc::c_ulong {
            libc::TIOCOUTQ => {
                let e = self.ep.borrow();
                let n = match (&e.peer, e.ty) {
                    _ if e.host.is_some() => Self::host_ioctl_int(&e, libc::TIOCOUTQ),
                    (Some(p), SockType::Stream) if !Rc::ptr_eq(p, &self.ep) => {
                        p.borrow().recv_bytes
                    }
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

// ---- saved form ----

/// A saved message in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MsgState {
    pub data: Vec<u8>,
    /// The open files passed along, by id in the image.
    pub rights: Vec<u64>,
    pub cred: Option<Ucred>,
    pub from: UnixAddr,
}

/// A saved listening socket's queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenState {
    pub backlog: u64,
    /// Pending connections: their server ends, by id in the shared table.
    pub queue: Vec<u64>,
}

/// A saved endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointState {
    pub ty: SockType,
    pub name: UnixAddr,
    pub node: Option<String>,
    pub listen: Option<ListenState>,
    /// Its peer, by id in the shared table.
    pub peer: Option<u64>,
    pub peercred: Option<Ucred>,
    pub recv: Vec<MsgState>,
    pub shutdown: u8,
    pub err: i32,
    pub passcred: bool,
    pub sndbuf: u64,
    pub rcvbuf: u64,
    pub rcvtimeo: u64,
    pub sndtimeo: u64,
    pub opts: Vec<(i32, i32)>,
    pub cred: Ucred,
    pub open: bool,
    /// A connection to a host socket file: the guest path it went to. It is reset at
    /// restore.
    pub host: Option<Vec<u8>>,
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
    type State = EndpointState;
    const WHAT: &'static str = "unix socket";

    fn save(&self, cx: &mut SaveCtx) -> EndpointState {
        let Endpoint {
            id: _, // the key of the shared table
            ty,
            name,
            node,
            listen,
            peer,
            peercred,
            recv,
            recv_bytes: _, // the sum of the queue's messages
            shutdown,
            err,
            passcred,
            sndbuf,
            rcvbuf,
            rcvtimeo,
            sndtimeo,
            opts,
            cred,
            open,
            host,
            net,
        } = self;
        // A live host connection is saved as the restore will find it: reset.
        let live = host.as_ref().is_some_and(|h| h.fd.is_some());
        EndpointState {
            ty: *ty,
            name: name.clone(),
            node: node.clone(),
            listen: listen.as_ref().map(|l| ListenState {
                backlog: l.backlog as u64,
                queue: l.queue.iter().map(|c| share(c, cx)).collect(),
            }),
            peer: peer.as_ref().map(|p| share(p, cx)),
            peercred: *peercred,
            recv: recv
                .iter()
                .map(|m| MsgState {
                    data: m.data.clone(),
                    rights: m.rights.iter().map(|f| cx.file_id(f)).collect(),
                    cred: m.cred,
                    from: m.from.clone(),
                })
                .collect(),
            shutdown: if live { SHUTDOWN_MASK } else { *shutdown },
            err: if live { libc::ECONNRESET } else { *err },
            passcred: *passcred,
            sndbuf: *sndbuf as u64,
            rcvbuf: *rcvbuf as u64,
            rcvtimeo: *rcvtimeo,
            sndtimeo: *sndtimeo,
            opts: opts.iter().map(|(&k, &v)| (k, v)).collect(),
            cred: *cred,
            open: *open,
            host: host.as_ref().map(|h| h.path.clone()),
            netns: net.ino,
        }
    }

    fn restore(id: u64, s: &EndpointState) -> Endpoint {
        let mut e = Endpoint::new(id, s.ty, s.cred, restored_net(s.netns));
        e.name = s.name.clone();
        e.node = s.node.clone();
        e.listen = s.listen.as_ref().map(|l| Listen {
            backlog: l.backlog as usize,
            queue: VecDeque::new(), // relinked
        });
        e.peercred = s.peercred;
        for m in &s.recv {
            e.push(Msg {
                data: m.data.clone(),
                rights: Vec::new(), // relinked once every file is restored
                cred: m.cred,
                from: m.from.clone(),
            });
        }
        e.shutdown = s.shutdown;
        e.err = s.err;
        e.passcred = s.passcred;
        e.sndbuf = s.sndbuf as usize;
        e.rcvbuf = s.rcvbuf as usize;
        e.rcvtimeo = s.rcvtimeo;
        e.sndtimeo = s.sndtimeo;
        e.opts = s.opts.iter().copied().collect();
        e.open = s.open;
        if let Some(path) = &s.host {
            e.host = Some(host::HostConn {
                fd: None,
                path: path.clone(),
            });
            e.host_reset();
            // Its waiters (an epoll set watching it) see the reset once parked again.
            crate::wait::host_gone(id);
        }
        e
    }

    fn relink(this: &EpRef, s: &EndpointState, cx: &mut RestoreCtx) -> Result<(), KindError> {
        let peer = s.peer.map(|p| cx.shared::<Endpoint>(p)).transpose()?;
        let mut queue = VecDeque::new();
        for &c in s.listen.iter().flat_map(|l| &l.queue) {
            queue.push_back(cx.shared::<Endpoint>(c)?);
        }
        {
            let mut e = this.borrow_mut();
            e.peer = peer;
            if let Some(l) = &mut e.listen {
                l.queue = queue;
            }
        }
        let rights: Vec<Vec<u64>> = s.recv.iter().map(|m| m.rights.clone()).collect();
        if rights.iter().any(|r| !r.is_empty()) {
            let this = this.clone();
            cx.link(move |files| {
                let mut e = this.borrow_mut();
                for (m, ids) in e.recv.iter_mut().zip(rights) {
                    for id in ids {
                        let f = files.get(&id).ok_or(KindError::Missing {
                            what: "open file",
                            id,
                        })?;
                        m.rights.push(f.clone());
                    }
                }
                Ok(())
            });
        }
        Ok(())
    }

    fn check(object: &str, s: &EndpointState) -> Result<(), Invalid> {
        s.name.check(object)?;
        if let Some(n) = &s.node {
            crate::checks::path_ok(object, "node", n, true)?;
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
            if !(RCVBUF_MIN as u64..=BUF_MAX as u64).contains(&b) {
                return Err(bad(object, what, format!("{b} is out of range")));
            }
        }
        if let Some(h) = &s.host {
            if h.is_empty() || h.len() > PATH_MAX || h.contains(&0) {
                return Err(bad(object, "host peer", "is not a socket path"));
            }
            if s.ty == SockType::Dgram || s.listen.is_some() || s.peer.is_some() {
                return Err(bad(
                    object,
                    "host peer",
                    "only a connected stream or seqpacket socket has one",
                ));
            }
        }
        if let Some(l) = &s.listen {
            if l.backlog > 4096 || l.queue.len() as u64 > l.backlog + 1 {
                return Err(bad(object, "listen queue", "is longer than its backlog"));
            }
            if s.peer.is_some() {
                return Err(bad(object, "peer", "a listening socket has none"));
            }
        }
        let bytes: u64 = s.recv.iter().map(|m| m.data.len() as u64).sum();
        if bytes > 4 * BUF_MAX as u64 {
            return Err(bad(object, "receive queue", "holds more than a socket can"));
        }
        for m in &s.recv {
            if m.rights.len() > MAX_RIGHTS {
                return Err(bad(object, "rights", "more files than one message passes"));
            }
            m.from.check(object)?;
        }
        Ok(())
    }
}

/// A saved socket file: the id of its endpoint in the shared table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnixSocketState {
    pub endpoint: u64,
}

impl Persist for UnixSocket {
    type State = UnixSocketState;

    fn save(&self, cx: &mut SaveCtx) -> UnixSocketState {
        let UnixSocket { ep } = self;
        UnixSocketState {
            endpoint: share(ep, cx),
        }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &UnixSocketState) -> Result<Self, KindError> {
        Ok(UnixSocket {
            ep: cx.shared::<Endpoint>(s.endpoint)?,
        })
    }

    fn check(cx: &CheckCtx, s: &UnixSocketState) -> Result<(), Invalid> {
        super::check_endpoint::<Endpoint>(cx, s.endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{FileKindState, SharedState};
    use crate::persist::testing::{no_mounts, null_stdio};
    use crate::persist::{check, restore, FileState, SharedEntry};

    fn endpoint() -> EndpointState {
        EndpointState {
            netns: crate::net::ns::INIT_INO,
            ty: SockType::Stream,
            name: UnixAddr::Unnamed,
            node: None,
            listen: None,
            peer: None,
            peercred: None,
            recv: Vec::new(),
            shutdown: 0,
            err: 0,
            passcred: false,
            sndbuf: BUF_DEFAULT as u64,
            rcvbuf: BUF_DEFAULT as u64,
            rcvtimeo: 0,
            sndtimeo: 0,
            opts: Vec::new(),
            cred: Ucred {
                pid: 1,
                uid: 0,
                gid: 0,
            },
            open: true,
            host: None,
        }
    }

    fn image(ep: EndpointState) -> (Vec<SharedEntry>, Vec<FileState>) {
        let shared = vec![SharedEntry {
            id: 5,
            object: SharedState::UnixEndpoint(ep),
        }];
        let files = vec![FileState {
            id: 1,
            kind: FileKindState::Unix(UnixSocketState { endpoint: 5 }),
            flags: libc::O_RDWR,
            pos: 0,
            path: "socket:[5]".into(),
            async_io: Default::default(),
            opener: None,
        }];
        (shared, files)
    }

    #[test]
    fn hostile_saved_sockets_are_refused_by_name() {
        type Spoil = Box<dyn Fn(&mut EndpointState)>;
        let cases: Vec<(&str, Spoil)> = vec![
            (
                "name",
                Box::new(|e| e.name = UnixAddr::Path(b"a\0b".to_vec())),
            ),
            (
                "name",
                Box::new(|e| e.name = UnixAddr::Abstract(vec![1; 200])),
            ),
            ("shutdown", Box::new(|e| e.shutdown = 9)),
            ("error", Box::new(|e| e.err = -1)),
            ("send buffer", Box::new(|e| e.sndbuf = u64::MAX)),
            ("receive buffer", Box::new(|e| e.rcvbuf = 0)),
            ("node", Box::new(|e| e.node = Some("relative/../x".into()))),
            ("host peer", Box::new(|e| e.host = Some(b"/a\0b".to_vec()))),
            ("host peer", Box::new(|e| e.host = Some(vec![b'a'; 200]))),
            (
                "host peer",
                Box::new(|e| {
                    e.ty = SockType::Dgram;
                    e.host = Some(b"/mnt/s.sock".to_vec())
                }),
            ),
            (
                "listen queue",
                Box::new(|e| {
                    e.listen = Some(ListenState {
                        backlog: 1,
                        queue: vec![1, 2, 3],
                    })
                }),
            ),
            (
                "rights",
                Box::new(|e| {
                    e.recv.push(MsgState {
                        data: vec![],
                        rights: vec![1; MAX_RIGHTS + 1],
                        cred: None,
                        from: UnixAddr::Unnamed,
                    })
                }),
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

    #[test]
    fn a_peer_or_a_file_in_flight_missing_from_the_image_fails_the_restore() {
        for spoil in [
            (|e: &mut EndpointState| e.peer = Some(77)) as fn(&mut EndpointState),
            |e| {
                e.recv.push(MsgState {
                    data: b"x".to_vec(),
                    rights: vec![42],
                    cred: None,
                    from: UnixAddr::Unnamed,
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
    fn a_host_connection_restores_reset() {
        // As saved from a live connection (unix/host.rs): reset, with its peer's path.
        let mut ep = endpoint();
        ep.host = Some(b"/mnt/s.sock".to_vec());
        ep.shutdown = SHUTDOWN_MASK;
        ep.err = libc::ECONNRESET;
        ep.peercred = Some(Ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        });
        let (shared, files) = image(ep);
        check(&shared, &files, &[]).unwrap();
        let r = restore(&no_mounts(), null_stdio(), &shared, &files, &[]).unwrap();
        let f = r.files[&1].clone();
        let mut fb = f.borrow_mut();
        let s = fb.imp.as_any_mut().downcast_mut::<UnixSocket>().unwrap();
        assert!(!s.receives_in_place(), "no host socket any more");
        assert!(matches!(
            s.recvmsg(16, 0),
            Err(IoErr::Errno(libc::ECONNRESET))
        ));
        assert!(s.recvmsg(16, 0).unwrap().eof, "then the end of file");
        let m = SendMsg {
            data: b"x".to_vec(),
            addr: None,
            rights: Vec::new(),
            creds: None,
            sender: Ucred {
                pid: 1,
                uid: 0,
                gid: 0,
            },
        };
        assert!(matches!(s.send_connected(m), Err(IoErr::Pipe)));
        assert_eq!(
            s.peername().unwrap(),
            UnixAddr::Path(b"/mnt/s.sock".to_vec()).bytes()
        );
        let (ready, _) = s.readiness(libc::POLLIN | libc::POLLOUT);
        assert_eq!(ready, libc::POLLIN | libc::POLLOUT | libc::POLLHUP);
        // A connected socket: no second connect, no listen.
        assert_eq!(s.listen(1), Err(libc::EINVAL));
    }
}
