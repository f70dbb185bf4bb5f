//! AF_NETLINK sockets of protocol NETLINK_ROUTE (netlink(7), rtnetlink(7)), SOCK_RAW or
//! SOCK_DGRAM: what glibc's getifaddrs() and getaddrinfo(AI_ADDRCONFIG) and iproute2's
//! `ip addr`, `ip link` and `ip route` ask. The requests are answered by `route.rs` from
//! the socket's network namespace: the container namespace's own state for the sandbox's
//! initial one, `lo` for one a task made (`ns.rs`), whose `lo` a task with CAP_NET_ADMIN
//! over it brings up or down (RTM_NEWLINK, as `ip link set lo up` and bubblewrap do). This
//! file is the socket: its port (`nl_pid`, unique in its namespace, the caller's tgid when
//! free as Linux picks it), its
//! queue of datagrams, and a dump being read, given out a part at a time as Linux does
//! (each part as large as the largest read so far, at least NLMSG_GOODSIZE).
//!
//! Multicast groups may be joined (bind's nl_groups, NETLINK_ADD_MEMBERSHIP) and read back,
//! but no notification is ever sent to them: the sandbox cannot change the namespace, and
//! changes made from outside are not watched. Sending to another port or to a group is
//! EPERM, as for a process without CAP_NET_ADMIN.
//!
//! Saved: the whole socket (its port, groups, options, queued datagrams and the rest of a
//! dump); the restored kernel registers the ports again.

pub(crate) mod route;

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::ns::{restored_net, NetRef};
use super::{int_opt, timeval_bytes, timeval_opt, RecvMsg, SendMsg, Socket, SocketCtx, Ucred};
use crate::checks::Invalid;
use crate::fs::file::{anon_stat, FileImpl, FileRef, IoErr};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::mm::Errno;
use crate::wait::{wake_later, WaitKey};

/// SOL_NETLINK options.
const SOL_NETLINK: i32 = 270;
const NETLINK_ADD_MEMBERSHIP: i32 = 1;
const NETLINK_DROP_MEMBERSHIP: i32 = 2;
const NETLINK_PKTINFO: i32 = 3;
const NETLINK_BROADCAST_ERROR: i32 = 4;
const NETLINK_NO_ENOBUFS: i32 = 5;
const NETLINK_LISTEN_ALL_NSID: i32 = 8;
const NETLINK_LIST_MEMBERSHIPS: i32 = 9;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;
const NETLINK_GET_STRICT_CHK: i32 = 12;
/// The boolean options kept (bit `1 << option` of `flags`).
const FLAG_OPTS: [i32; 7] = [
    NETLINK_PKTINFO,
    NETLINK_BROADCAST_ERROR,
    NETLINK_NO_ENOBUFS,
    NETLINK_LISTEN_ALL_NSID,
    NETLINK_CAP_ACK,
    NETLINK_EXT_ACK,
    NETLINK_GET_STRICT_CHK,
];
/// RTNLGRP_MAX: the groups of NETLINK_ROUTE are 1 to 32 in nl_groups, more by option.
const GROUPS_MAX: u32 = 64;
/// sizeof(struct sockaddr_nl).
const ADDR_LEN: usize = 12;
/// SKB_WITH_OVERHEAD(PAGE_SIZE): the least part of a dump.
const GOODSIZE: usize = 3776;
/// SKB_WITH_OVERHEAD(32768): the largest part of a dump.
const PART_MAX: usize = 32448;
/// net.core.rmem_default / wmem_default, and the limits of SO_RCVBUF and SO_SNDBUF.
const BUF_DEFAULT: u32 = 212_992;
const BUF_MAX: u32 = 2 * 212_992;
const SNDBUF_MIN: u32 = 4608;
const RCVBUF_MIN: u32 = 2304;
/// The first port of those Linux gives when the tgid is taken (counting down).
const PORT_ROVER: i32 = -4096;
/// Most datagrams queued, and most bytes in one, in a saved socket.
const SAVED_QUEUE_MAX: usize = 1 << 16;
const SAVED_DATAGRAM_MAX: usize = 1 << 20;

/// The ports bound in a sandbox, by port: the id of the socket holding it.
#[derive(Default)]
pub(crate) struct Ports {
    by_port: BTreeMap<u32, u64>,
    rover: i32,
}

pub(crate) type PortsRef = Rc<RefCell<Ports>>;

impl Ports {
    /// A free port for a socket of a process `tgid` binding without one.
    fn pick(&mut self, tgid: i32) -> u32 {
        if tgid > 0 && !self.by_port.contains_key(&(tgid as u32)) {
            return tgid as u32;
        }
        loop {
            if self.rover >= PORT_ROVER {
                self.rover = PORT_ROVER;
            }
            let p = self.rover as u32;
            self.rover -= 1;
            if !self.by_port.contains_key(&p) {
                return p;
            }
        }
    }

    fn release(&mut self, port: u32, id: u64) {
        if self.by_port.get(&port) == Some(&id) {
            self.by_port.remove(&port);
        }
    }
}

/// An open NETLINK_ROUTE socket.
pub struct NetlinkSocket {
    id: u64,
    /// The network namespace it was made in (what it answers from; its ports table).
    net: NetRef,
    /// SOCK_RAW or SOCK_DGRAM.
    ty: i32,
    /// The process that made it.
    tgid: i32,
    /// Its port; 0 until bound (by bind, or by its first send or connect).
    port: u32,
    /// The multicast groups joined (bit n-1: group n).
    groups: u64,
    /// The datagrams to be read.
    queue: VecDeque<Vec<u8>>,
    /// The messages of a dump not yet queued.
    dump: VecDeque<Vec<u8>>,
    /// The longest read so far (the size of a dump's next part).
    max_read: usize,
    sndbuf: u32,
    rcvbuf: u32,
    passcred: bool,
    rcvtimeo: u64,
    sndtimeo: u64,
    /// The SOL_NETLINK boolean options set, as bits `1 << option`.
    flags: u32,
    /// Its opener had CAP_NET_ADMIN over its namespace, one a task made: its requests may
    /// change `lo` (Linux checks the opener's credentials, netlink_net_capable).
    admin: bool,
}

impl Drop for NetlinkSocket {
    fn drop(&mut self) {
        if self.port != 0 {
            self.net.netlink.borrow_mut().release(self.port, self.id);
        }
    }
}

/// Checks socket(2)'s type (without flags) and protocol for AF_NETLINK.
pub(crate) fn check_args(ty: i32, protocol: i32) -> Result<(), Errno> {
    if ty != libc::SOCK_RAW && ty != libc::SOCK_DGRAM {
        return Err(libc::ESOCKTNOSUPPORT);
    }
    if protocol != libc::NETLINK_ROUTE {
        return Err(libc::EPROTONOSUPPORT);
    }
    Ok(())
}

/// A new socket, as socket(2) makes it (its arguments checked by [`check_args`]).
/// `admin`: the opener has CAP_NET_ADMIN over `net`.
pub(crate) fn socket(
    net: NetRef,
    admin: bool,
    id: u64,
    ty: i32,
    tgid: i32,
    nonblock: bool,
) -> FileRef {
    let s = NetlinkSocket {
        admin: admin && !net.is_initial(),
        id,
        net,
        ty,
        tgid,
        port: 0,
        groups: 0,
        queue: VecDeque::new(),
        dump: VecDeque::new(),
        max_read: 0,
        sndbuf: BUF_DEFAULT,
        rcvbuf: BUF_DEFAULT,
        passcred: false,
        rcvtimeo: 0,
        sndtimeo: 0,
        flags: 0,
    };
    super::socket_file(Box::new(s), id, nonblock)
}

/// A `struct sockaddr_nl`.
fn sockaddr(port: u32, groups: u32) -> Vec<u8> {
    let mut a = route::kernel_addr();
    a[4..8].copy_from_slice(&port.to_le_bytes());
    a[8..12].copy_from_slice(&groups.to_le_bytes());
    a
}

/// A `struct sockaddr_nl` the guest gave: (port, groups); EINVAL when short or of another
/// family.
fn parse_addr(raw: &[u8]) -> Result<(u32, u32), Errno> {
    if raw.len() < ADDR_LEN || u16::from_le_bytes([raw[0], raw[1]]) != libc::AF_NETLINK as u16 {
        return Err(libc::EINVAL);
    }
    let at = |o: usize| u32::from_le_bytes(raw[o..o + 4].try_into().expect("4"));
    Ok((at(4), at(8)))
}

impl NetlinkSocket {
    fn flag(&self, opt: i32) -> bool {
        self.flags & (1 << opt) != 0
    }

    /// Binds it to a port Linux would pick for process `tgid`, if it has none.
    fn autobind(&mut self, tgid: i32) {
        if self.port != 0 {
            return;
        }
        let mut ports = self.net.netlink.borrow_mut();
        let p = ports.pick(tgid);
        ports.by_port.insert(p, self.id);
        self.port = p;
    }

    /// Queues the next part of the dump being read, if any.
    fn next_part(&mut self) {
        let size = self.max_read.clamp(GOODSIZE, PART_MAX);
        let mut part = Vec::new();
        while let Some(m) = self.dump.front() {
            if !part.is_empty() && part.len() + m.len() > size {
                break;
            }
            part.extend_from_slice(&self.dump.pop_front().expect("front"));
        }
        if !part.is_empty() {
            self.queue.push_back(part);
            wake_later(self.id);
        }
    }

    fn recv(&mut self, len: usize, flags: i32) -> Result<RecvMsg, IoErr> {
        self.max_read = self.max_read.max(len).min(PART_MAX);
        let peek = flags & libc::MSG_PEEK != 0;
        let Some(d) = self.queue.front() else {
            return Err(IoErr::Block(WaitKey::Object(self.id)));
        };
        let full_len = d.len();
        let data = d[..len.min(full_len)].to_vec();
        if !peek {
            self.queue.pop_front();
            if self.queue.is_empty() {
                self.next_part();
            }
        }
        Ok(RecvMsg {
            data,
            full_len,
            addr: Some(sockaddr(0, 0)),
            creds: self.passcred.then_some(Ucred {
                pid: 0,
                uid: 0,
                gid: 0,
            }),
            ..RecvMsg::default()
        })
    }

    /// A request from the guest: its answers are queued.
    fn request(&mut self, data: &[u8]) {
        let net = self.net.clone();
        let mut a = route::Asker {
            port: self.port,
            cap_ack: self.flag(NETLINK_CAP_ACK),
            strict: self.flag(NETLINK_GET_STRICT_CHK),
            dumping: !self.dump.is_empty(),
            net: &net,
            admin: self.admin,
        };
        for r in route::answer(data, &mut a) {
            match r {
                route::Reply::Now(m) => {
                    self.queue.push_back(m);
                    wake_later(self.id);
                }
                route::Reply::Dump(msgs) => {
                    self.dump.extend(msgs);
                    self.next_part();
                }
            }
        }
    }
}

impl Socket for NetlinkSocket {
    fn net(&self) -> NetRef {
        self.net.clone()
    }

    fn sock_type(&self) -> i32 {
        self.ty
    }

    fn bind(&mut self, c: &mut dyn SocketCtx, raw: &[u8]) -> Result<(), Errno> {
        let (port, groups) = parse_addr(raw)?;
        if port != 0 && self.port != 0 && port != self.port {
            return Err(libc::EINVAL);
        }
        if port != 0 && self.port == 0 {
            let mut ports = self.net.netlink.borrow_mut();
            if ports.by_port.contains_key(&port) {
                return Err(libc::EADDRINUSE);
            }
            ports.by_port.insert(port, self.id);
            self.port = port;
        }
        self.autobind(c.tgid());
        // Linux replaces the first 32 groups with those of the address.
        self.groups = (self.groups & !0xffff_ffff) | u64::from(groups);
        Ok(())
    }

    fn listen(&mut self, _backlog: i32) -> Result<(), Errno> {
        Err(libc::EOPNOTSUPP)
    }

    fn accept(&mut self, _: &mut dyn SocketCtx) -> Result<(Box<dyn FileImpl>, Vec<u8>), IoErr> {
        Err(IoErr::Errno(libc::EOPNOTSUPP))
    }

    fn connect(&mut self, c: &mut dyn SocketCtx, raw: &[u8], _nonblock: bool) -> Result<(), IoErr> {
        if raw.len() >= 2 && u16::from_le_bytes([raw[0], raw[1]]) == libc::AF_UNSPEC as u16 {
            return Ok(());
        }
        let (port, groups) = parse_addr(raw)?;
        if port != 0 || groups != 0 {
            // Only the kernel may be a NETLINK_ROUTE peer without CAP_NET_ADMIN.
            return Err(IoErr::Errno(libc::EPERM));
        }
        self.autobind(c.tgid());
        Ok(())
    }

    fn sendmsg(&mut self, c: &mut dyn SocketCtx, m: SendMsg) -> Result<usize, IoErr> {
        if let Some(raw) = &m.addr {
            let (port, groups) = parse_addr(raw)?;
            if port != 0 || groups != 0 {
                return Err(IoErr::Errno(libc::EPERM));
            }
        }
        if m.data.len() > self.sndbuf.saturating_sub(32) as usize {
            return Err(IoErr::Errno(libc::EMSGSIZE));
        }
        self.autobind(c.tgid());
        self.request(&m.data);
        Ok(m.data.len())
    }

    fn recvmsg(&mut self, len: usize, flags: i32) -> Result<RecvMsg, IoErr> {
        self.recv(len, flags)
    }

    fn shutdown(&mut self, _how: i32) -> Result<(), Errno> {
        Err(libc::EOPNOTSUPP)
    }

    fn sockname(&self) -> Vec<u8> {
        sockaddr(self.port, self.groups as u32)
    }

    fn peername(&self) -> Result<Vec<u8>, Errno> {
        Ok(sockaddr(0, 0))
    }

    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        let int = |v: i32| Ok(v.to_le_bytes().to_vec());
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => int(self.ty),
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => int(libc::AF_NETLINK),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(libc::NETLINK_ROUTE),
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN | libc::SO_ERROR) => int(0),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => int(self.sndbuf as i32),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => int(self.rcvbuf as i32),
            (libc::SOL_SOCKET, libc::SO_PASSCRED) => int(i32::from(self.passcred)),
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => Ok(timeval_bytes(self.rcvtimeo)),
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => Ok(timeval_bytes(self.sndtimeo)),
            (libc::SOL_SOCKET, _) => Err(libc::ENOPROTOOPT),
            (SOL_NETLINK, n) if FLAG_OPTS.contains(&n) => int(i32::from(self.flag(n))),
            (SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS) => {
                let mut b = (self.groups as u32).to_le_bytes().to_vec();
                b.extend_from_slice(&((self.groups >> 32) as u32).to_le_bytes());
                Ok(b)
            }
            (SOL_NETLINK, _) => Err(libc::ENOPROTOOPT),
            _ => Err(libc::EOPNOTSUPP),
        }
    }

    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_SNDBUF | libc::SO_SNDBUFFORCE) => {
                let v = int_opt(val)?.max(0) as u32;
                self.sndbuf = (v.min(BUF_MAX / 2) * 2).max(SNDBUF_MIN);
            }
            (libc::SOL_SOCKET, libc::SO_RCVBUF | libc::SO_RCVBUFFORCE) => {
                let v = int_opt(val)?.max(0) as u32;
                self.rcvbuf = (v.min(BUF_MAX / 2) * 2).max(RCVBUF_MIN);
            }
            (libc::SOL_SOCKET, libc::SO_PASSCRED) => self.passcred = int_opt(val)? != 0,
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => self.rcvtimeo = timeval_opt(val)?,
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => self.sndtimeo = timeval_opt(val)?,
            (libc::SOL_SOCKET, _) => return Err(libc::ENOPROTOOPT),
            (SOL_NETLINK, n) if FLAG_OPTS.contains(&n) => {
                if int_opt(val)? != 0 {
                    self.flags |= 1 << n;
                } else {
                    self.flags &= !(1 << n);
                }
            }
            (SOL_NETLINK, NETLINK_ADD_MEMBERSHIP | NETLINK_DROP_MEMBERSHIP) => {
                let g = int_opt(val)? as u32;
                if g == 0 || g > GROUPS_MAX {
                    return Err(libc::EINVAL);
                }
                if name == NETLINK_ADD_MEMBERSHIP {
                    self.groups |= 1 << (g - 1);
                } else {
                    self.groups &= !(1 << (g - 1));
                }
            }
            (SOL_NETLINK, _) => return Err(libc::ENOPROTOOPT),
            _ => return Err(libc::EOPNOTSUPP),
        }
        Ok(())
    }

    fn timeouts(&self) -> (u64, u64) {
        (self.rcvtimeo, self.sndtimeo)
    }

    fn queued(&self) -> usize {
        self.queue.front().map_or(0, Vec::len)
    }
}

impl FileImpl for NetlinkSocket {
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
        if data.len() > self.sndbuf.saturating_sub(32) as usize {
            return Err(IoErr::Errno(libc::EMSGSIZE));
        }
        // A write(2) binds as a send does (with the tgid of the socket's maker: a write
        // does not say who calls it).
        self.autobind(self.tgid);
        self.request(data);
        Ok(data.len())
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let mut r = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
        if !self.queue.is_empty() {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        (
            r & (events | libc::POLLERR | libc::POLLHUP),
            vec![WaitKey::Object(self.id)],
        )
    }

    fn notify_key(&self) -> Option<WaitKey> {
        Some(WaitKey::Object(self.id))
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        let mut st = anon_stat(libc::S_IFSOCK | 0o777);
        st.st_ino = self.id;
        st.st_dev = 0x8;
        Ok(st)
    }

    fn epoll_watchable(&self) -> bool {
        true
    }
}

/// Registers the ports of the restored sockets among `files` in their namespace's
/// table. Of two restored sockets with one port (a hostile image), the first keeps it in
/// the table; both keep working.
pub(crate) fn register_restored(files: impl Iterator<Item = FileRef>) {
    for f in files {
        let mut fb = f.borrow_mut();
        let Some(s) = fb.imp.as_any_mut().downcast_mut::<NetlinkSocket>() else {
            continue;
        };
        if s.port != 0 {
            s.net
                .netlink
                .borrow_mut()
                .by_port
                .entry(s.port)
                .or_insert(s.id);
        }
    }
}

// ---- saved form ----

/// A saved netlink socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetlinkSocketState {
    pub id: u64,
    pub ty: i32,
    pub tgid: i32,
    pub port: u32,
    pub groups: u64,
    /// The datagrams to be read, whole.
    pub queue: Vec<Vec<u8>>,
    /// The messages of a dump not yet queued.
    pub dump: Vec<Vec<u8>>,
    pub max_read: u64,
    pub sndbuf: u32,
    pub rcvbuf: u32,
    pub passcred: bool,
    pub rcvtimeo: u64,
    pub sndtimeo: u64,
    pub flags: u32,
    /// The inode number of its network namespace (checked by the kernel against the
    /// saved namespaces).
    pub netns: u64,
    /// Its opener had CAP_NET_ADMIN over that namespace (not the initial one).
    pub admin: bool,
}

impl NetlinkSocket {
    /// The socket a checked saved state describes.
    fn from_state(s: &NetlinkSocketState) -> NetlinkSocket {
        NetlinkSocket {
            id: s.id,
            net: restored_net(s.netns),
            admin: s.admin,
            ty: s.ty,
            tgid: s.tgid,
            port: s.port,
            groups: s.groups,
            queue: s.queue.iter().cloned().collect(),
            dump: s.dump.iter().cloned().collect(),
            max_read: s.max_read as usize,
            sndbuf: s.sndbuf,
            rcvbuf: s.rcvbuf,
            passcred: s.passcred,
            rcvtimeo: s.rcvtimeo,
            sndtimeo: s.sndtimeo,
            flags: s.flags,
        }
    }
}

impl Persist for NetlinkSocket {
    type State = NetlinkSocketState;

    fn save(&self, _: &mut SaveCtx) -> NetlinkSocketState {
        let NetlinkSocket {
            id,
            net,
            ty,
            tgid,
            port,
            groups,
            queue,
            dump,
            max_read,
            sndbuf,
            rcvbuf,
            passcred,
            rcvtimeo,
            sndtimeo,
            flags,
            admin,
        } = self;
        NetlinkSocketState {
            id: *id,
            ty: *ty,
            tgid: *tgid,
            port: *port,
            groups: *groups,
            queue: queue.iter().cloned().collect(),
            dump: dump.iter().cloned().collect(),
            max_read: *max_read as u64,
            sndbuf: *sndbuf,
            rcvbuf: *rcvbuf,
            passcred: *passcred,
            rcvtimeo: *rcvtimeo,
            sndtimeo: *sndtimeo,
            flags: *flags,
            netns: net.ino,
            admin: *admin,
        }
    }

    fn restore(
        _: &mut RestoreCtx,
        _: &FileMeta,
        s: &NetlinkSocketState,
    ) -> Result<Self, KindError> {
        Ok(NetlinkSocket::from_state(s))
    }

    fn check(cx: &CheckCtx, s: &NetlinkSocketState) -> Result<(), Invalid> {
        check_args(s.ty, libc::NETLINK_ROUTE).map_err(|_| cx.bad("ty", s.ty.to_string()))?;
        if s.admin && s.netns == crate::net::ns::INIT_INO {
            return Err(cx.bad("admin", "in the sandbox's initial network namespace"));
        }
        if s.queue.len() + s.dump.len() > SAVED_QUEUE_MAX {
            return Err(cx.bad("queue", "too many datagrams"));
        }
        if s.queue
            .iter()
            .chain(&s.dump)
            .any(|d| d.is_empty() || d.len() > SAVED_DATAGRAM_MAX)
        {
            return Err(cx.bad("queue", "a datagram empty or too long"));
        }
        if s.max_read > PART_MAX as u64 {
            return Err(cx.bad("max_read", s.max_read.to_string()));
        }
        if !(SNDBUF_MIN..=BUF_MAX).contains(&s.sndbuf) {
            return Err(cx.bad("sndbuf", s.sndbuf.to_string()));
        }
        if !(RCVBUF_MIN..=BUF_MAX).contains(&s.rcvbuf) {
            return Err(cx.bad("rcvbuf", s.rcvbuf.to_string()));
        }
        let known = FLAG_OPTS.iter().fold(0u32, |m, o| m | 1 << o);
        if s.flags & !known != 0 {
            return Err(cx.bad("flags", format!("{:#x}", s.flags)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::FileKindState;
    use crate::persist::testing::{no_mounts, null_stdio};
    use crate::persist::{check, restore, FileState};

    fn state() -> NetlinkSocketState {
        NetlinkSocketState {
            id: 9,
            ty: libc::SOCK_RAW,
            tgid: 1,
            port: 1,
            groups: 0,
            queue: vec![route::message(16, 2, 5, 1, &[0; 16])],
            dump: vec![
                route::message(16, 2, 5, 1, &[1; 16]),
                route::message(3, 2, 5, 1, &[0; 4]),
            ],
            max_read: 0,
            sndbuf: BUF_DEFAULT,
            rcvbuf: BUF_DEFAULT,
            passcred: false,
            rcvtimeo: 0,
            sndtimeo: 0,
            flags: 1 << NETLINK_EXT_ACK,
            netns: crate::net::ns::INIT_INO,
            admin: false,
        }
    }

    fn image(s: NetlinkSocketState) -> Vec<FileState> {
        vec![FileState {
            id: 1,
            kind: FileKindState::Netlink(s),
            flags: libc::O_RDWR,
            pos: 0,
            path: "socket:[9]".into(),
            async_io: Default::default(),
            opener: None,
        }]
    }

    #[test]
    fn a_restored_socket_gives_its_queue_then_the_rest_of_its_dump() {
        let s = state();
        let files = image(s.clone());
        check(&[], &files, &[]).unwrap();
        let r = restore(&no_mounts(), null_stdio(), &[], &files, &[]).unwrap();
        let f = r.files[&1].clone();
        drop(r);
        register_restored(std::iter::once(f.clone()));
        let ports = {
            let mut fb = f.borrow_mut();
            let sock = fb.imp.as_any_mut().downcast_mut::<NetlinkSocket>().unwrap();
            sock.net.netlink.clone()
        };
        assert_eq!(ports.borrow().by_port.get(&1), Some(&9));
        {
            let mut fb = f.borrow_mut();
            let sock = fb.imp.as_any_mut().downcast_mut::<NetlinkSocket>().unwrap();
            assert_eq!(sock.recv(4096, 0).unwrap().data, s.queue[0]);
            // The rest of the dump comes as one part (it fits).
            assert_eq!(sock.recv(4096, 0).unwrap().data, s.dump.concat());
            assert!(matches!(sock.recv(4096, 0), Err(IoErr::Block(_))));
        }
        drop(f);
        assert!(
            ports.borrow().by_port.is_empty(),
            "the port is freed on close"
        );
    }

    #[test]
    fn hostile_saved_netlink_sockets_are_refused_by_name() {
        type Spoil = Box<dyn Fn(&mut NetlinkSocketState)>;
        let cases: Vec<(&str, Spoil)> = vec![
            ("ty", Box::new(|s| s.ty = libc::SOCK_STREAM)),
            ("queue", Box::new(|s| s.queue.push(Vec::new()))),
            ("queue", Box::new(|s| s.dump.push(vec![0; (1 << 20) + 1]))),
            (
                "queue",
                Box::new(|s| s.queue = vec![vec![1]; (1 << 16) + 1]),
            ),
            ("max_read", Box::new(|s| s.max_read = u64::MAX)),
            ("sndbuf", Box::new(|s| s.sndbuf = 0)),
            ("rcvbuf", Box::new(|s| s.rcvbuf = u32::MAX)),
            ("flags", Box::new(|s| s.flags = 1 << 31)),
        ];
        for (field, spoil) in cases {
            let mut s = state();
            spoil(&mut s);
            let e = check(&[], &image(s), &[]).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn a_dump_is_given_in_parts_as_large_as_the_largest_read() {
        let mut s = NetlinkSocket::from_state(&state());
        s.queue.clear();
        s.dump = (0..100)
            .map(|i| route::message(16, 2, 5, 1, &[i as u8; 184]))
            .collect();
        s.next_part();
        // At least NLMSG_GOODSIZE, no more while reads are small.
        let first = s.recv(200, libc::MSG_PEEK).unwrap();
        assert_eq!(first.full_len, 3600);
        assert_eq!(first.data.len(), 200);
        s.recv(200, 0).unwrap();
        let second = s.recv(20_000, 0).unwrap();
        assert_eq!(second.full_len, 3600, "made when the first was read");
        // The rest in one part, made after a read of 20,000 bytes.
        let third = s.recv(20_000, 0).unwrap();
        assert_eq!(third.full_len, (100 - 36) * 200);
    }
}
