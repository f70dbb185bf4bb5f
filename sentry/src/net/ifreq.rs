//! The interface ioctls of sockets (netdevice(7)): SIOCGIFCONF, SIOCGIFNAME, SIOCGIFINDEX,
//! SIOCGIFFLAGS, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFTXQLEN and SIOCGIFMETRIC on a socket of
//! any family, and SIOCGIFADDR, SIOCGIFDSTADDR, SIOCGIFBRDADDR and SIOCGIFNETMASK on an
//! AF_INET one, as Linux answers them. The interfaces and their IPv4 addresses are those of
//! the socket's network namespace, read at each call as the netlink dumps read them
//! (`ns.rs`, `netlink/route.rs`): the container network namespace's for the sandbox's
//! initial one, where the SIOCSIF* changes are EPERM (the sandbox has no CAP_NET_ADMIN
//! there); `lo` alone in a namespace a task made, where a task with CAP_NET_ADMIN over it
//! brings `lo` up or down with SIOCSIFFLAGS (other changes EOPNOTSUPP: the sentry models
//! `lo`'s state and no more).

use super::netlink::route::{self, attrs};
use super::ns::NetNs;
use crate::fs::file::IoctlCaller;
use crate::mm::Errno;

/// sizeof(struct ifreq), and of its name.
const IFREQ: usize = 40;
const IFNAMSIZ: usize = 16;
/// sizeof(struct ifconf).
const IFCONF: usize = 16;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_TXQLEN: u16 = 13;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
/// RTEXT_FILTER_SKIP_STATS.
const SKIP_STATS: u32 = 8;

const SIOCGIFNAME: u64 = 0x8910;
const SIOCGIFCONF: u64 = 0x8912;
const SIOCGIFFLAGS: u64 = 0x8913;
const SIOCGIFADDR: u64 = 0x8915;
const SIOCGIFDSTADDR: u64 = 0x8917;
const SIOCGIFBRDADDR: u64 = 0x8919;
const SIOCGIFNETMASK: u64 = 0x891b;
const SIOCGIFMETRIC: u64 = 0x891d;
const SIOCGIFMTU: u64 = 0x8921;
const SIOCGIFHWADDR: u64 = 0x8927;
const SIOCGIFINDEX: u64 = 0x8933;
const SIOCGIFTXQLEN: u64 = 0x8942;
const SIOCSIFFLAGS: u64 = 0x8914;
/// The changes: SIOCSIFFLAGS … SIOCSIFTXQLEN.
const SETS: [u64; 10] = [
    0x8914, 0x8916, 0x8918, 0x891a, 0x891c, 0x891e, 0x8922, 0x8923, 0x8924, 0x8943,
];

/// Whether `req` is one of these requests.
pub(crate) fn handles(req: u64) -> bool {
    matches!(
        req,
        SIOCGIFNAME
            | SIOCGIFCONF
            | SIOCGIFFLAGS
            | SIOCGIFADDR
            | SIOCGIFDSTADDR
            | SIOCGIFBRDADDR
            | SIOCGIFNETMASK
            | SIOCGIFMETRIC
            | SIOCGIFMTU
            | SIOCGIFHWADDR
            | SIOCGIFINDEX
            | SIOCGIFTXQLEN
    ) || SETS.contains(&req)
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) index: i32,
    pub(crate) name: Vec<u8>,
    /// ARPHRD_*.
    pub(crate) ty: u16,
    pub(crate) flags: u32,
    pub(crate) mtu: u32,
    pub(crate) hwaddr: Vec<u8>,
    pub(crate) txqlen: u32,
}

/// An IPv4 address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Addr4 {
    pub(crate) index: i32,
    pub(crate) prefixlen: u8,
    pub(crate) local: [u8; 4],
    /// The peer of a point-to-point link (the local address otherwise).
    pub(crate) address: [u8; 4],
    pub(crate) broadcast: [u8; 4],
    /// Its label: the interface's name, or an alias ("eth0:1").
    pub(crate) label: Vec<u8>,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4"))
}

fn c_str(v: &[u8]) -> Vec<u8> {
    v.split(|&c| c == 0).next().unwrap_or(v).to_vec()
}

fn ip4(v: &[u8]) -> Option<[u8; 4]> {
    v.get(..4).map(|b| b.try_into().expect("4"))
}

/// Decodes a link message of a dump.
pub(crate) fn link(payload: &[u8]) -> Option<Link> {
    if payload.len() < 16 {
        return None;
    }
    let mut l = Link {
        index: u32_at(payload, 4) as i32,
        name: Vec::new(),
        ty: u16::from_le_bytes([payload[2], payload[3]]),
        flags: u32_at(payload, 8),
        mtu: 0,
        hwaddr: Vec::new(),
        txqlen: 0,
    };
    for (t, v) in attrs(&payload[16..]) {
        match t {
            IFLA_IFNAME => l.name = c_str(v),
            IFLA_ADDRESS => l.hwaddr = v.to_vec(),
            IFLA_MTU if v.len() >= 4 => l.mtu = u32_at(v, 0),
            IFLA_TXQLEN if v.len() >= 4 => l.txqlen = u32_at(v, 0),
            _ => {}
        }
    }
    Some(l)
}

/// Decodes an IPv4 address message of a dump.
pub(crate) fn addr4(payload: &[u8], links: &[Link]) -> Option<Addr4> {
    if payload.len() < 8 || i32::from(payload[0]) != libc::AF_INET {
        return None;
    }
    let index = u32_at(payload, 4) as i32;
    let (mut local, mut address, mut broadcast, mut label) = (None, None, [0; 4], None);
    for (t, v) in attrs(&payload[8..]) {
        match t {
            IFA_LOCAL => local = ip4(v),
            IFA_ADDRESS => address = ip4(v),
            IFA_BROADCAST => broadcast = ip4(v).unwrap_or_default(),
            IFA_LABEL => label = Some(c_str(v)),
            _ => {}
        }
    }
    let local = local.or(address)?;
    let label = label.or_else(|| {
        links
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.clone())
    })?;
    Some(Addr4 {
        index,
        prefixlen: payload[1].min(32),
        local,
        address: address.unwrap_or(local),
        broadcast,
        label,
    })
}

/// The namespace's interfaces, and their IPv4 addresses, in the kernel's order.
pub(crate) fn interfaces(net: &NetNs) -> Result<(Vec<Link>, Vec<Addr4>), Errno> {
    let links: Vec<Link> = net
        .dump(route::RTM_GETLINK, 0, SKIP_STATS)?
        .iter()
        .filter_map(|m| link(&m.payload))
        .collect();
    let addrs = net
        .dump(route::RTM_GETADDR, libc::AF_INET as u8, 0)?
        .iter()
        .filter_map(|m| addr4(&m.payload, &links))
        .collect();
    Ok((links, addrs))
}

/// A `struct sockaddr_in` of `ip`, port 0.
fn sockaddr_in(ip: [u8; 4]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..2].copy_from_slice(&(libc::AF_INET as u16).to_le_bytes());
    a[4..8].copy_from_slice(&ip);
    a
}

/// The netmask of a prefix length.
fn mask(prefixlen: u8) -> [u8; 4] {
    let m = if prefixlen == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefixlen.min(32)))
    };
    m.to_be_bytes()
}

/// Serves interface ioctl `req` (one [`handles`] takes) on a socket of `family` in
/// namespace `net`; `admin`: the caller has CAP_NET_ADMIN over `net`, a namespace a task
/// made.
pub(crate) fn ioctl(
    caller: &mut dyn IoctlCaller,
    req: u64,
    arg: u64,
    family: i32,
    net: &NetNs,
    admin: bool,
) -> Result<i64, Errno> {
    if req == SIOCGIFCONF {
        return ifconf(caller, arg, net);
    }
    let mut ifr = caller.copy_in(arg, IFREQ)?;
    if SETS.contains(&req) {
        if !admin {
            return Err(libc::EPERM);
        }
        if c_str(&ifr[..IFNAMSIZ - 1]) != b"lo" {
            return Err(libc::ENODEV);
        }
        if req != SIOCSIFFLAGS {
            return Err(libc::EOPNOTSUPP);
        }
        let flags = u16::from_le_bytes([ifr[16], ifr[17]]);
        net.set_lo_flags(u32::from(flags), libc::IFF_UP as u32);
        return Ok(0);
    }
    let inet_only = [SIOCGIFADDR, SIOCGIFDSTADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK];
    if inet_only.contains(&req) && family != libc::AF_INET {
        return Err(libc::ENOTTY);
    }
    let (links, addrs) = interfaces(net)?;
    if req == SIOCGIFNAME {
        let index = u32_at(&ifr, 16) as i32;
        let l = links
            .iter()
            .find(|l| l.index == index)
            .ok_or(libc::ENODEV)?;
        let n = l.name.len().min(IFNAMSIZ - 1);
        ifr[..n].copy_from_slice(&l.name[..n]);
        ifr[n] = 0;
        caller.copy_out(arg, &ifr)?;
        return Ok(0);
    }
    // The name, at most IFNAMSIZ-1 bytes; the device is the part before a colon.
    let full = c_str(&ifr[..IFNAMSIZ - 1]);
    let dev = full.split(|&c| c == b':').next().unwrap_or(&full).to_vec();
    let l = links.iter().find(|l| l.name == dev).ok_or(libc::ENODEV)?;
    let hint = (u16::from_le_bytes([ifr[16], ifr[17]]) == libc::AF_INET as u16)
        .then(|| ip4(&ifr[20..24]).expect("4"));
    let mut put = |o: usize, b: &[u8]| ifr[o..o + b.len()].copy_from_slice(b);
    match req {
        SIOCGIFFLAGS => put(16, &(l.flags as u16).to_le_bytes()),
        SIOCGIFMETRIC => put(16, &0i32.to_le_bytes()),
        SIOCGIFMTU => put(16, &l.mtu.to_le_bytes()),
        SIOCGIFINDEX => put(16, &l.index.to_le_bytes()),
        SIOCGIFTXQLEN => put(16, &l.txqlen.to_le_bytes()),
        SIOCGIFHWADDR => {
            put(16, &l.ty.to_le_bytes());
            if l.hwaddr.is_empty() {
                put(18, &[0; 14]);
            } else {
                put(18, &l.hwaddr[..l.hwaddr.len().min(14)]);
            }
        }
        _ => {
            // As Linux: the address of the label asked, the one the guest named if it
            // gave an AF_INET address, else the label's first.

            let of_label = addrs.iter().filter(|a| a.label == full);
            let a = of_label
                .clone()
                .find(|a| Some(a.local) == hint)
                .or_else(|| of_label.clone().next())
                .ok_or(libc::EADDRNOTAVAIL)?;
            let ip = match req {
                SIOCGIFADDR => a.local,
                SIOCGIFDSTADDR => a.address,
                SIOCGIFBRDADDR => a.broadcast,
                _ => mask(a.prefixlen),
            };
            put(16, &sockaddr_in(ip));
        }
    }
    caller.copy_out(arg, &ifr)?;
    Ok(0)
}

/// SIOCGIFCONF: the IPv4 addresses as `struct ifreq`s (label and address) into the
/// guest's buffer, as many as fit; without a buffer, the length they need.
fn ifconf(caller: &mut dyn IoctlCaller, arg: u64, net: &NetNs) -> Result<i64, Errno> {
    let c = caller.copy_in(arg, IFCONF)?;
    let len = u32_at(&c, 0) as i32;
    let buf = u64::from_le_bytes(c[8..16].try_into().expect("8"));
    let (_, addrs) = interfaces(net)?;
    let total = if buf == 0 {
        addrs.len() * IFREQ
    } else {
        let fit = (len.max(0) as usize / IFREQ).min(addrs.len());
        let mut out = Vec::with_capacity(fit * IFREQ);
        for a in &addrs[..fit] {
            let mut r = [0u8; IFREQ];
            let n = a.label.len().min(IFNAMSIZ - 1);
            r[..n].copy_from_slice(&a.label[..n]);
            r[16..32].copy_from_slice(&sockaddr_in(a.local));
            out.extend_from_slice(&r);
        }
        caller.copy_out(buf, &out)?;
        out.len()
    };
    caller.copy_out(arg, &(total as i32).to_le_bytes())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_has_lo_with_its_address_when_up() {
        let (links, addrs) = interfaces(&NetNs::initial()).unwrap();
        let lo = links.iter().find(|l| l.name == b"lo").unwrap();
        assert_eq!(lo.ty, 772, "ARPHRD_LOOPBACK");
        assert!(lo.flags & libc::IFF_LOOPBACK as u32 != 0);
        for a in addrs.iter().filter(|a| a.index == lo.index) {
            assert_eq!(a.label, b"lo");
            assert_eq!(a.local[0], 127);
        }
    }

    #[test]
    fn hostile_messages_decode_to_nothing_or_to_what_they_say() {
        assert_eq!(link(&[0; 15]), None);
        assert_eq!(addr4(&[2, 24, 0, 0, 1, 0, 0, 0], &[]), None, "no address");
        let mut p = vec![2, 40, 0, 0, 1, 0, 0, 0];
        p.extend_from_slice(&[8, 0, 2, 0, 10, 0, 0, 1]);
        p.extend_from_slice(&[8, 0, 3, 0, b'x', 0, 0, 0]);
        let a = addr4(&p, &[]).unwrap();
        assert_eq!(
            (a.prefixlen, a.local, a.label),
            (32, [10, 0, 0, 1], b"x".to_vec())
        );
        assert_eq!(mask(0), [0; 4]);
        assert_eq!(mask(20), [255, 255, 240, 0]);
    }
}
