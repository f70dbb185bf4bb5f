//! NETLINK_ROUTE requests (rtnetlink(7)) of the sandbox's netlink sockets: the dumps of the
//! socket's network namespace's interfaces (RTM_GETLINK), addresses (RTM_GETADDR) and
//! routes (RTM_GETROUTE), a link asked for by index or name, and the errors and
//! acknowledgements around them, as Linux answers a process without CAP_NET_ADMIN in
//! that namespace: a change (RTM_NEWADDR, RTM_DELROUTE …) is EPERM, a request Linux has
//! no handler for, or that the sentry does not serve (a route lookup, RTM_GETNEIGH …), is
//! EOPNOTSUPP.
//!
//! In a namespace a task made (`ns.rs`), a task with CAP_NET_ADMIN over it may bring `lo`
//! up or down (RTM_NEWLINK with IFF_UP in ifi_change, `lo` by index or name) and add
//! 127.0.0.1/8 to it (RTM_NEWADDR, as bubblewrap does before bringing it up); other
//! changes are EOPNOTSUPP there (the sentry has `lo` alone to change).
//!
//! The sandbox's initial namespace:
//! the sentry learns the namespace's state at each request: it asks the host kernel
//! through a NETLINK_ROUTE socket of its own in that namespace (the sandbox process is in
//! it), with a request it builds from the values it took from the guest's (the message
//! type, the family, the link attribute mask); the guest's bytes never reach the host. The
//! host's answers are framed again, under the guest's sequence number and port.

use std::os::fd::AsFd;

use crate::mm::Errno;
use crate::net::host_sys;

/// sizeof(struct nlmsghdr).
pub(crate) const HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Types below it are control messages, not requests.
const NLMSG_MIN_TYPE: u16 = 16;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_GETADDR: u16 = 22;
const RTM_GETROUTE: u16 = 26;
const RTM_BASE: u16 = 16;
/// The last rtnetlink message type (Linux 6.x: RTM_GETTUNNEL's group).
const RTM_MAX: u16 = 123;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_MULTI: u16 = 2;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP_FILTERED: u16 = 0x20;
/// NLM_F_ROOT | NLM_F_MATCH.
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CAPPED: u16 = 0x100;
const IFLA_IFNAME: u16 = 3;
const IFLA_EXT_MASK: u16 = 29;
const IFLA_ALT_IFNAME: u16 = 53;
/// The RTEXT_FILTER_* bits a link dump passes on (VF … MST).
const EXT_MASK_KNOWN: u32 = 0xff;
/// Without the NLA_F_NESTED and NLA_F_NET_BYTEORDER bits.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// Most messages one host dump may have (a namespace has far fewer interfaces, addresses
/// and routes; past this the dump is refused with ENOBUFS rather than held).
const DUMP_MAX: usize = 1 << 16;

/// The length of `n` bytes padded to netlink's 4-byte alignment.
pub(crate) fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4"))
}

/// A netlink message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hdr {
    pub(crate) len: u32,
    pub(crate) ty: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    pub(crate) pid: u32,
}

impl Hdr {
    fn bytes(&self) -> [u8; HDRLEN] {
        let mut b = [0u8; HDRLEN];
        b[0..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..6].copy_from_slice(&self.ty.to_le_bytes());
        b[6..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..12].copy_from_slice(&self.seq.to_le_bytes());
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        b
    }
}

/// The messages of a buffer, each as its header, payload and whole bytes, as Linux walks
/// them: it stops at a header shorter than itself or longer than what is left.
pub(crate) fn messages(mut b: &[u8]) -> Vec<(Hdr, &[u8], &[u8])> {
    let mut out = Vec::new();
    while b.len() >= HDRLEN {
        let len = u32_at(b, 0) as usize;
        if len < HDRLEN || len > b.len() {
            break;
        }
        let h = Hdr {
            len: len as u32,
            ty: u16_at(b, 4),
            flags: u16_at(b, 6),
            seq: u32_at(b, 8),
            pid: u32_at(b, 12),
        };
        out.push((h, &b[HDRLEN..len], &b[..len]));
        b = &b[align(len).min(b.len())..];
    }
    out
}

/// The attributes (type, value) of a buffer of `struct nlattr`s; stops at a malformed one.
pub(crate) fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16_at(b, 0) as usize;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((u16_at(b, 2) & NLA_TYPE_MASK, &b[4..len]));
        b = &b[align(len).min(b.len())..];
    }
    out
}

/// One message's bytes, padded to the alignment.
pub(crate) fn message(ty: u16, flags: u16, seq: u32, pid: u32, payload: &[u8]) -> Vec<u8> {
    let len = HDRLEN + payload.len();
    let h = Hdr {
        len: len as u32,
        ty,
        flags,
        seq,
        pid,
    };
    let mut b = h.bytes().to_vec();
    b.extend_from_slice(payload);
    b.resize(align(len), 0);
    b
}

/// A message of the host's dump: its type, flags and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostMsg {
    pub(crate) ty: u16,
    pub(crate) flags: u16,
    pub(crate) payload: Vec<u8>,
}

/// The socket address of the kernel (`struct sockaddr_nl` with port 0).
pub(crate) fn kernel_addr() -> Vec<u8> {
    let mut a = vec![0u8; 12];
    a[0..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_le_bytes());
    a
}

/// A dump of message type `ty` (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE) of `family`
/// (AF_UNSPEC, AF_INET or AF_INET6) from the network namespace the sandbox is in; a link
/// dump with the RTEXT_FILTER_* bits `ext_mask`.
pub(crate) fn host_dump(ty: u16, family: u8, ext_mask: u32) -> Result<Vec<HostMsg>, Errno> {
    const SEQ: u32 = 1;
    let fixed = match ty {
        RTM_GETLINK => 16, // struct ifinfomsg
        RTM_GETADDR => 8,  // struct ifaddrmsg
        _ => 12,           // struct rtmsg
    };
    let mut payload = vec![0u8; fixed];
    payload[0] = family;
    if ty == RTM_GETLINK && ext_mask != 0 {
        payload.extend_from_slice(&8u16.to_le_bytes());
        payload.extend_from_slice(&IFLA_EXT_MASK.to_le_bytes());
        payload.extend_from_slice(&ext_mask.to_le_bytes());
    }
    let req = message(ty, NLM_F_REQUEST | NLM_F_DUMP, SEQ, 0, &payload);
    let fd = host_sys::netlink_route()?;
    host_sys::send(fd.as_fd(), &req, Some(&kernel_addr()))?;
    let mut out = Vec::new();
    loop {
        // The kernel makes each part of a dump as the previous one is read: a
        // non-blocking read that finds nothing means something went wrong.
        let r = host_sys::recv(fd.as_fd(), 1 << 16, false, true).map_err(|e| match e {
            libc::EAGAIN => libc::EIO,
            e => e,
        })?;
        if r.full_len > r.data.len() {
            return Err(libc::EIO);
        }
        for (h, p, _) in messages(&r.data) {
            if h.seq != SEQ {
                continue;
            }
            match h.ty {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let e = if p.len() >= 4 {
                        -(u32_at(p, 0) as i32)
                    } else {
                        libc::EIO
                    };
                    return Err(if e > 0 { e } else { libc::EIO });
                }
                _ if out.len() >= DUMP_MAX => return Err(libc::ENOBUFS),
                ty => out.push(HostMsg {
                    ty,
                    flags: h.flags,
                    payload: p.to_vec(),
                }),
            }
        }
    }
}

/// What a socket's request asks of it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// A message to queue now, as a datagram of its own.
    Now(Vec<u8>),
    /// A dump: its messages, the last NLMSG_DONE, given out as the reader reads.
    Dump(Vec<Vec<u8>>),
}

/// The socket's settings a request's answer depends on.
pub(crate) struct Asker<'a> {
    /// Its port (the replies' nlmsg_pid).
    pub(crate) port: u32,
    /// NETLINK_CAP_ACK: errors without the request's payload.
    pub(crate) cap_ack: bool,
    /// NETLINK_GET_STRICT_CHK: dumps filtered by the request's header.
    pub(crate) strict: bool,
    /// A dump is being read (another one is EBUSY).
    pub(crate) dumping: bool,
    /// The socket's network namespace.
    pub(crate) net: &'a crate::net::ns::NetNs,
    /// The sender has CAP_NET_ADMIN over it (and it is not the sandbox's initial one).
    pub(crate) admin: bool,
}

/// The family a dump asks the host for: AF_INET and AF_INET6 as asked, every other
/// family as AF_UNSPEC (Linux falls back to the all-families handler).
fn dump_family(f: u8) -> u8 {
    match i32::from(f) {
        libc::AF_INET | libc::AF_INET6 => f,
        _ => libc::AF_UNSPEC as u8,
    }
}

/// The RTEXT_FILTER_* bits of a link request's IFLA_EXT_MASK.
fn ext_mask(payload: &[u8]) -> u32 {
    if payload.len() < 16 {
        return 0;
    }
    attrs(&payload[16..])
        .into_iter()
        .find(|(t, v)| *t == IFLA_EXT_MASK && v.len() >= 4)
        .map_or(0, |(_, v)| u32_at(v, 0) & EXT_MASK_KNOWN)
}

/// The interface name of a link message's IFLA_IFNAME (without its NUL).
pub(crate) fn link_name(payload: &[u8]) -> Option<&[u8]> {
    let (_, v) = attrs(payload.get(16..)?)
        .into_iter()
        .find(|(t, _)| *t == IFLA_IFNAME)?;
    Some(v.split(|&c| c == 0).next().unwrap_or(v))
}

/// A link message's interface index.
pub(crate) fn link_index(payload: &[u8]) -> Option<i32> {
    Some(u32_at(payload.get(..8)?, 4) as i32)
}

/// The answers to the messages of one send, in order.
pub(crate) fn answer(buf: &[u8], a: &mut Asker) -> Vec<Reply> {
    let mut out = Vec::new();
    for (h, payload, raw) in messages(buf) {
        let err = if h.ty < NLMSG_MIN_TYPE || h.flags & NLM_F_REQUEST == 0 {
            0
        } else {
            match request(&h, payload, a, &mut out) {
                // A dump started: its NLMSG_DONE answers it.
                Ok(true) => continue,
                Ok(false) => 0,
                Err(e) => e,
            }
        };
        if err != 0 || h.flags & NLM_F_ACK != 0 {
            out.push(Reply::Now(error_msg(&h, raw, err, a)));
        }
    }
    out
}

/// An NLMSG_ERROR answering `h` (an acknowledgement when `err` is 0).
fn error_msg(h: &Hdr, raw: &[u8], err: Errno, a: &Asker) -> Vec<u8> {
    let mut p = (-err).to_le_bytes().to_vec();
    let mut flags = 0;
    if err != 0 && !a.cap_ack {
        p.extend_from_slice(raw);
    } else {
        p.extend_from_slice(&raw[..HDRLEN]);
        flags |= NLM_F_CAPPED;
    }
    message(NLMSG_ERROR, flags, h.seq, a.port, &p)
}

/// One request: Ok(true) when it started a dump, Ok(false) when answered (or ignored, as
/// Linux ignores a message without even a family byte).
fn request(h: &Hdr, payload: &[u8], a: &mut Asker, out: &mut Vec<Reply>) -> Result<bool, Errno> {
    if h.ty > RTM_MAX {
        return Err(libc::EOPNOTSUPP);
    }
    let Some(&family) = payload.first() else {
        return Ok(false);
    };
    // The kinds of rtnetlink types go NEW, DEL, GET, SET: all but GET need CAP_NET_ADMIN,
    // which the sandbox does not have in its initial namespace.
    if (h.ty - RTM_BASE) & 3 != 2 {
        if !a.admin {
            return Err(libc::EPERM);
        }
        return change(h, payload, a.net).map(|()| false);
    }
    if h.flags & NLM_F_DUMP == 0 {
        if h.ty != RTM_GETLINK {
            return Err(libc::EOPNOTSUPP);
        }
        out.push(Reply::Now(get_link(h, payload, a)?));
        return Ok(false);
    }
    if !matches!(h.ty, RTM_GETLINK | RTM_GETADDR | RTM_GETROUTE) {
        return Err(libc::EOPNOTSUPP);
    }
    if a.dumping {
        return Err(libc::EBUSY);
    }
    let mask = if h.ty == RTM_GETLINK {
        ext_mask(payload)
    } else {
        0
    };
    let family = if h.ty == RTM_GETLINK {
        libc::AF_UNSPEC as u8
    } else {
        dump_family(family)
    };
    let mut msgs = a.net.dump(h.ty, family, mask)?;
    let mut filtered = 0;
    // A strict address dump for one interface gets only its addresses.
    if h.ty == RTM_GETADDR && a.strict && payload.len() >= 8 {
        let index = u32_at(payload, 4);
        if index != 0 {
            msgs.retain(|m| m.payload.len() >= 8 && u32_at(&m.payload, 4) == index);
            filtered = NLM_F_DUMP_FILTERED;
        }
    }
    let mut dump: Vec<Vec<u8>> = msgs
        .iter()
        .map(|m| {
            let flags = NLM_F_MULTI | filtered | (m.flags & NLM_F_DUMP_INTR);
            message(m.ty, flags, h.seq, a.port, &m.payload)
        })
        .collect();
    dump.push(message(
        NLMSG_DONE,
        NLM_F_MULTI,
        h.seq,
        a.port,
        &0i32.to_le_bytes(),
    ));
    out.push(Reply::Dump(dump));
    a.dumping = true;
    Ok(true)
}

/// The index and the name (IFLA_IFNAME or IFLA_ALT_IFNAME, without its NUL) a link
/// request asks for; EINVAL when shorter than a `struct ifinfomsg`.
fn asked_link(payload: &[u8]) -> Result<(i32, Option<Vec<u8>>), Errno> {
    if payload.len() < 16 {
        return Err(libc::EINVAL);
    }
    let name = attrs(&payload[16..])
        .into_iter()
        .find(|(t, _)| *t == IFLA_IFNAME || *t == IFLA_ALT_IFNAME)
        .map(|(_, v)| v.split(|&c| c == 0).next().unwrap_or(v).to_vec());
    Ok((u32_at(payload, 4) as i32, name))
}

/// RTM_GETLINK without NLM_F_DUMP: the link of the request's index, or else of its name.
fn get_link(h: &Hdr, payload: &[u8], a: &Asker) -> Result<Vec<u8>, Errno> {
    let (index, name) = asked_link(payload)?;
    if index <= 0 && name.is_none() {
        return Err(libc::EINVAL);
    }
    let links = a
        .net
        .dump(RTM_GETLINK, libc::AF_UNSPEC as u8, ext_mask(payload))?;
    let found = links.iter().find(|m| {
        if index > 0 {
            link_index(&m.payload) == Some(index)
        } else {
            link_name(&m.payload) == name.as_deref()
        }
    });
    let m = found.ok_or(libc::ENODEV)?;
    Ok(message(m.ty, 0, h.seq, a.port, &m.payload))
}

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const NLM_F_EXCL: u16 = 0x200;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// A change asked by a task with CAP_NET_ADMIN over a namespace a task made: `lo` up or
/// down, 127.0.0.1/8 added to it; ENODEV for another interface, EOPNOTSUPP for what the
/// sentry does not model.
fn change(h: &Hdr, payload: &[u8], net: &crate::net::ns::NetNs) -> Result<(), Errno> {
    use crate::net::ns::LO_INDEX;
    match h.ty {
        RTM_NEWLINK => {
            let (index, named) = asked_link(payload)?;
            let lo = if index != 0 {
                index == LO_INDEX
            } else {
                named.as_deref() == Some(b"lo")
            };
            if !lo {
                return Err(libc::ENODEV);
            }
            net.set_lo_flags(u32_at(payload, 8), u32_at(payload, 12));
            Ok(())
        }
        RTM_NEWADDR => {
            if payload.len() < 8 {
                return Err(libc::EINVAL);
            }
            if u32_at(payload, 4) as i32 != LO_INDEX {
                return Err(libc::ENODEV);
            }
            let addr = attrs(&payload[8..])
                .into_iter()
                .find(|(t, _)| *t == IFA_LOCAL || *t == IFA_ADDRESS)
                .map(|(_, v)| v.to_vec());
            let lo4 = i32::from(payload[0]) == libc::AF_INET
                && payload[1] == 8
                && addr.as_deref() == Some(&[127, 0, 0, 1][..]);
            if !lo4 {
                return Err(libc::EOPNOTSUPP);
            }
            // Already there: EEXIST when asked to be the one who made it.
            if net.lo() != crate::net::ns::Lo::Fresh && h.flags & NLM_F_EXCL != 0 {
                return Err(libc::EEXIST);
            }
            net.add_lo_v4();
            Ok(())
        }
        _ => Err(libc::EOPNOTSUPP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asker<'a>() -> Asker<'a> {
        let net: &'static crate::net::ns::NetRef =
            Box::leak(Box::new(crate::net::ns::NetNs::initial()));
        Asker {
            port: 77,
            cap_ack: false,
            strict: false,
            dumping: false,
            net,
            admin: false,
        }
    }

    fn req(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        message(ty, flags | NLM_F_REQUEST, seq, 0, payload)
    }

    fn errno_of(r: &Reply) -> i32 {
        let Reply::Now(b) = r else { panic!("{r:?}") };
        let m = messages(b);
        assert_eq!(m[0].0.ty, NLMSG_ERROR);
        -(u32_at(m[0].1, 0) as i32)
    }

    #[test]
    fn a_link_dump_lists_the_namespace_links_under_the_guests_seq_and_port() {
        let r = answer(&req(RTM_GETLINK, NLM_F_DUMP, 9, &[0; 16]), &mut asker());
        let [Reply::Dump(d)] = &r[..] else {
            panic!("{r:?}")
        };
        let all: Vec<u8> = d.concat();
        let m = messages(&all);
        assert!(m.len() >= 2, "{m:?}");
        assert!(m.iter().all(|(h, _, _)| h.seq == 9 && h.pid == 77));
        assert_eq!(m.last().unwrap().0.ty, NLMSG_DONE);
        // Every namespace has lo.
        assert!(m
            .iter()
            .any(|(h, p, _)| h.ty == 16 && link_name(p) == Some(&b"lo"[..])));
    }

    #[test]
    fn in_a_namespace_a_task_made_an_admin_changes_lo_alone() {
        use crate::net::ns::{Lo, NetNs};
        let net = NetNs::new(crate::creds::UserNsRef::init());
        let mut a = asker();
        a.net = &net;
        let ask = |a: &mut Asker, ty: u16, flags: u16, p: &[u8]| {
            let r = answer(&req(ty, flags | NLM_F_ACK, 1, p), a);
            errno_of(&r[0])
        };
        let link = |index: u32, flags: u32, change: u32| {
            let mut p = vec![0u8; 16];
            p[4..8].copy_from_slice(&index.to_le_bytes());
            p[8..12].copy_from_slice(&flags.to_le_bytes());
            p[12..16].copy_from_slice(&change.to_le_bytes());
            p
        };
        let up = libc::IFF_UP as u32;
        // Without CAP_NET_ADMIN over it: EPERM, lo as it was.
        assert_eq!(ask(&mut a, RTM_NEWLINK, 0, &link(1, up, up)), libc::EPERM);
        assert_eq!(net.lo(), Lo::Fresh);
        a.admin = true;
        // Hostile or foreign requests: a short header, another interface, an address
        // other than lo's, a deletion.
        assert_eq!(ask(&mut a, RTM_NEWLINK, 0, &[0; 8]), libc::EINVAL);
        assert_eq!(ask(&mut a, RTM_NEWLINK, 0, &link(9, up, up)), libc::ENODEV);
        let addr = |ip: [u8; 4]| {
            let mut p = vec![2, 8, 0x80, 254, 1, 0, 0, 0];
            p.extend_from_slice(&[8, 0, 2, 0]);
            p.extend_from_slice(&ip);
            p
        };
        assert_eq!(
            ask(&mut a, RTM_NEWADDR, 0, &addr([10, 0, 0, 1])),
            libc::EOPNOTSUPP
        );
        assert_eq!(ask(&mut a, RTM_NEWADDR, 0, &[2, 8, 0, 0]), libc::EINVAL);
        assert_eq!(
            ask(&mut a, 17, 0, &link(1, 0, 0)),
            libc::EOPNOTSUPP,
            "RTM_DELLINK"
        );
        // bubblewrap's: 127.0.0.1/8 (EEXIST the second time with NLM_F_EXCL), then up.
        assert_eq!(
            ask(&mut a, RTM_NEWADDR, NLM_F_EXCL, &addr([127, 0, 0, 1])),
            0
        );
        assert_eq!(net.lo(), Lo::Down);
        let again = ask(&mut a, RTM_NEWADDR, NLM_F_EXCL, &addr([127, 0, 0, 1]));
        assert_eq!(again, libc::EEXIST);
        assert_eq!(
            ask(&mut a, RTM_NEWLINK, 0, &link(1, up, 0)),
            0,
            "no change asked"
        );
        assert_eq!(net.lo(), Lo::Down);
        assert_eq!(ask(&mut a, RTM_NEWLINK, 0, &link(1, up, up)), 0);
        assert_eq!(net.lo(), Lo::Up);
    }

    #[test]
    fn changes_are_eperm_and_unknown_requests_eopnotsupp_with_the_request_echoed() {
        let new_addr = req(20, NLM_F_ACK, 3, &[2, 24, 0, 0, 1, 0, 0, 0]);
        let r = answer(&new_addr, &mut asker());
        assert_eq!(r.len(), 1);
        assert_eq!(errno_of(&r[0]), libc::EPERM);
        let Reply::Now(b) = &r[0] else { panic!() };
        // The error carries the request whole (NETLINK_CAP_ACK off).
        assert_eq!(&b[20..20 + new_addr.len()], &new_addr[..]);
        let mut capped = asker();
        capped.cap_ack = true;
        let r = answer(&new_addr, &mut capped);
        let Reply::Now(b) = &r[0] else { panic!() };
        assert_eq!(b.len(), 36);
        for (ty, flags) in [(RTM_GETROUTE, 0), (30, NLM_F_DUMP), (RTM_MAX + 1, 0)] {
            let r = answer(&req(ty, flags, 1, &[0; 12]), &mut asker());
            assert_eq!(errno_of(&r[0]), libc::EOPNOTSUPP, "type {ty}");
        }
    }

    #[test]
    fn a_second_dump_while_one_is_read_is_ebusy_and_acks_are_given_when_asked() {
        let mut a = asker();
        let two = [
            req(RTM_GETADDR, NLM_F_DUMP, 1, &[0; 8]),
            req(RTM_GETROUTE, NLM_F_DUMP, 2, &[0; 12]),
        ]
        .concat();
        let r = answer(&two, &mut a);
        assert!(matches!(r[0], Reply::Dump(_)));
        assert_eq!(errno_of(&r[1]), libc::EBUSY);
        // A control message with NLM_F_ACK gets an acknowledgement; without a family
        // byte, a request is ignored.
        let r = answer(&message(1, NLM_F_ACK, 4, 0, &[]), &mut asker());
        assert_eq!(errno_of(&r[0]), 0);
        assert!(answer(&req(RTM_GETLINK, 0, 4, &[]), &mut asker()).is_empty());
    }

    #[test]
    fn a_link_by_name_or_index_and_enodev_for_none() {
        let mut p = vec![0u8; 16];
        p.extend_from_slice(&7u16.to_le_bytes());
        p.extend_from_slice(&IFLA_IFNAME.to_le_bytes());
        p.extend_from_slice(b"lo\0\0");
        let r = answer(&req(RTM_GETLINK, 0, 5, &p), &mut asker());
        let Reply::Now(b) = &r[0] else { panic!() };
        let m = messages(b);
        assert_eq!(link_name(m[0].1), Some(&b"lo"[..]));
        let lo = link_index(m[0].1).unwrap();
        let mut q = vec![0u8; 16];
        q[4..8].copy_from_slice(&lo.to_le_bytes());
        let r = answer(&req(RTM_GETLINK, 0, 6, &q), &mut asker());
        let Reply::Now(b) = &r[0] else { panic!() };
        assert_eq!(link_name(messages(b)[0].1), Some(&b"lo"[..]));
        q[4..8].copy_from_slice(&i32::MAX.to_le_bytes());
        let r = answer(&req(RTM_GETLINK, 0, 6, &q), &mut asker());
        assert_eq!(errno_of(&r[0]), libc::ENODEV);
        let r = answer(&req(RTM_GETLINK, 0, 6, &[0; 8]), &mut asker());
        assert_eq!(errno_of(&r[0]), libc::EINVAL);
    }

    #[test]
    fn hostile_framing_stops_the_walk_without_a_panic() {
        let mut b = req(RTM_GETLINK, NLM_F_DUMP, 1, &[0; 16]);
        b[0..4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(messages(&b).is_empty());
        b[0..4].copy_from_slice(&3u32.to_le_bytes());
        assert!(messages(&b).is_empty());
        assert!(attrs(&[5, 0, 1, 0]).is_empty());
        assert!(attrs(&[0xff, 0xff, 1, 0, 0]).is_empty());
        assert_eq!(ext_mask(&[0; 18]), 0);
    }
}
