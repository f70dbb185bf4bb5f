//! Network namespaces (network_namespaces(7)). The sandbox's initial namespace is the
//! container's network: loopback in the sentry, everything else through host sockets of
//! the container's namespace, its interfaces read from the host. A namespace a task makes
//! (clone or unshare with CLONE_NEWNET) is the sentry's alone: a loopback interface `lo`,
//! down when made, its own abstract unix names, inet ports and netlink ports; its sockets
//! never get a host socket, so nothing outside it is reachable from it. Socket files
//! (unix path names) belong to the file system and are reached from every namespace.
//!
//! `lo` of a new namespace, as Linux has it: made down with no address (every IPv4
//! address may then be bound, none reached); brought up (SIOCSIFFLAGS, RTM_NEWLINK by
//! a task with CAP_NET_ADMIN over the namespace), it gets 127.0.0.1/8 and ::1/128;
//! taken down again, it keeps 127.0.0.1 and loses ::1.
//!
//! Every namespace alive is held by its tasks and by its sockets (each keeps the one it
//! was made in); the kernel lists them weakly to save them and to find one by inode
//! number (setns).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::netlink::route::{self, HostMsg};
use crate::creds::UserNsRef;
use crate::mm::Errno;

/// The inode number of the sandbox's initial namespace (Linux's init_net).
pub(crate) const INIT_INO: u64 = 4026531840;

/// The state of an isolated namespace's `lo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lo {
    /// Never up: no address.
    Fresh,
    Up,
    /// Down after being up: 127.0.0.1 stays.
    Down,
}

/// A network namespace.
pub(crate) struct NetNs {
    /// What /proc/PID/ns/net shows.
    pub(crate) ino: u64,
    /// The user namespace that owns it (CAP_NET_ADMIN there changes its `lo`).
    pub(crate) owner: UserNsRef,
    lo: Cell<Lo>,
    /// Its abstract unix names.
    pub(crate) unix: RefCell<super::unix::Abstract>,
    /// Its TCP and UDP ports.
    pub(crate) inet: super::inet::PortsRef,
    /// Its netlink ports.
    pub(crate) netlink: super::netlink::PortsRef,
}

pub(crate) type NetRef = Rc<NetNs>;

impl NetNs {
    /// The sandbox's initial namespace.
    pub(crate) fn initial() -> NetRef {
        Self::with(INIT_INO, UserNsRef::init(), Lo::Up)
    }

    /// A new namespace owned by `owner` (CLONE_NEWNET), with `lo` down.
    pub(crate) fn new(owner: UserNsRef) -> NetRef {
        Self::with(crate::creds::next_ns_ino(), owner, Lo::Fresh)
    }

    /// A namespace as saved.
    pub(crate) fn restored(s: &NetNsState, owner: UserNsRef) -> NetRef {
        crate::creds::note_ns_ino(s.ino);
        Self::with(s.ino, owner, s.lo)
    }

    fn with(ino: u64, owner: UserNsRef, lo: Lo) -> NetRef {
        Rc::new(NetNs {
            ino,
            owner,
            lo: Cell::new(lo),
            unix: Default::default(),
            inet: Default::default(),
            netlink: Default::default(),
        })
    }

    /// Whether it is the sandbox's initial namespace, the container's network.
    pub(crate) fn is_initial(&self) -> bool {
        self.ino == INIT_INO
    }

    pub(crate) fn lo(&self) -> Lo {
        self.lo.get()
    }

    /// Brings `lo` of an isolated namespace up or down.
    pub(crate) fn set_lo_up(&self, up: bool) {
        debug_assert!(!self.is_initial());
        let now = match (self.lo.get(), up) {
            (_, true) => Lo::Up,
            (Lo::Fresh, false) => Lo::Fresh,
            (_, false) => Lo::Down,
        };
        self.lo.set(now);
    }

    /// Adds 127.0.0.1/8 to `lo` of an isolated namespace (RTM_NEWADDR).
    pub(crate) fn add_lo_v4(&self) {
        if self.lo.get() == Lo::Fresh {
            self.lo.set(Lo::Down);
        }
    }

    /// Whether 127.0.0.1/8 is on `lo` (an isolated namespace's).
    fn has_v4(&self) -> bool {
        self.lo.get() != Lo::Fresh
    }

    /// Whether an isolated namespace's loopback carries packets.
    pub(crate) fn lo_up(&self) -> bool {
        self.lo.get() == Lo::Up
    }

    /// Whether a socket of an isolated namespace may bind `ip` (IPv6 form, an IPv4
    /// address mapped; `v4` for an address of IPv4): EADDRNOTAVAIL when not, as Linux
    /// says. Before `lo` ever had an address every IPv4 address may be bound (Linux has no
    /// local table yet); after, the wildcard and 127/8. IPv6: the wildcard, and ::1 while
    /// up.
    pub(crate) fn may_bind(&self, v4: bool, wildcard: bool, loopback: bool) -> Result<(), Errno> {
        let ok = wildcard
            || if v4 {
                !self.has_v4() || loopback
            } else {
                loopback && self.lo_up()
            };
        if ok {
            Ok(())
        } else {
            Err(libc::EADDRNOTAVAIL)
        }
    }

    /// Whether a socket of an isolated namespace reaches `dest` (after the wildcard was
    /// made loopback): loopback while `lo` is up; else ENETUNREACH for IPv4 and
    /// EADDRNOTAVAIL for IPv6 with `lo` down (no source address), ENETUNREACH with it up.
    pub(crate) fn reach(&self, v4: bool, loopback: bool) -> Result<(), Errno> {
        if !self.lo_up() {
            return Err(if v4 {
                libc::ENETUNREACH
            } else {
                libc::EADDRNOTAVAIL
            });
        }
        if loopback {
            Ok(())
        } else {
            Err(libc::ENETUNREACH)
        }
    }

    /// A dump of message type `ty` (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE) of `family`:
    /// the host's for the initial namespace, `lo`'s for another.
    pub(crate) fn dump(&self, ty: u16, family: u8, ext_mask: u32) -> Result<Vec<HostMsg>, Errno> {
        if self.is_initial() {
            return route::host_dump(ty, family, ext_mask);
        }
        let want = |f: i32| family == libc::AF_UNSPEC as u8 || family == f as u8;
        let mut out = Vec::new();
        match ty {
            route::RTM_GETLINK => out.push(self.link_msg()),
            route::RTM_GETADDR => {
                if want(libc::AF_INET) && self.has_v4() {
                    out.push(addr_msg(libc::AF_INET, 8, &[127, 0, 0, 1], true));
                }
                if want(libc::AF_INET6) && self.lo_up() {
                    let mut one = [0u8; 16];
                    one[15] = 1;
                    out.push(addr_msg(libc::AF_INET6, 128, &one, false));
                }
            }
            _ => {
                if want(libc::AF_INET) && self.lo_up() {
                    out.push(route_v4(8, [127, 0, 0, 0], RTN_LOCAL));
                    out.push(route_v4(32, [127, 0, 0, 1], RTN_LOCAL));
                    out.push(route_v4(32, [127, 255, 255, 255], RTN_BROADCAST));
                }
                if want(libc::AF_INET6) && self.lo_up() {
                    out.push(route_v6_lo());
                }
            }
        }
        Ok(out)
    }

    /// The RTM_NEWLINK message of `lo`, as `ip link` reads it.
    fn link_msg(&self) -> HostMsg {
        let up = self.lo_up();
        let flags = libc::IFF_LOOPBACK as u32
            | if up {
                (libc::IFF_UP | libc::IFF_RUNNING) as u32 | IFF_LOWER_UP
            } else {
                0
            };
        let mut p = vec![0u8; 16];
        p[2..4].copy_from_slice(&ARPHRD_LOOPBACK.to_le_bytes());
        p[4..8].copy_from_slice(&LO_INDEX.to_le_bytes());
        p[8..12].copy_from_slice(&flags.to_le_bytes());
        attr(&mut p, IFLA_IFNAME, b"lo\0");
        attr(&mut p, IFLA_TXQLEN, &1000u32.to_le_bytes());
        // IF_OPER_UNKNOWN when up (loopback has no carrier to report), IF_OPER_DOWN.
        attr(&mut p, IFLA_OPERSTATE, &[if up { 0 } else { 2 }]);
        attr(&mut p, IFLA_LINKMODE, &[0]);
        attr(&mut p, IFLA_MTU, &65536u32.to_le_bytes());
        attr(&mut p, IFLA_GROUP, &0u32.to_le_bytes());
        attr(
            &mut p,
            IFLA_QDISC,
            if up { b"noqueue\0" } else { b"noop\0" },
        );
        attr(&mut p, IFLA_ADDRESS, &[0; 6]);
        attr(&mut p, IFLA_BROADCAST, &[0; 6]);
        HostMsg {
            ty: RTM_NEWLINK,
            flags: 0,
            payload: p,
        }
    }

    /// RTM_NEWLINK or SIOCSIFFLAGS on `lo` (index or name already matched): IFF_UP of
    /// `flags` where `change` has it.
    pub(crate) fn set_lo_flags(&self, flags: u32, change: u32) {
        if change & libc::IFF_UP as u32 != 0 {
            self.set_lo_up(flags & libc::IFF_UP as u32 != 0);
        }
    }
}

/// `lo`'s interface index.
pub(crate) const LO_INDEX: i32 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const IFF_LOWER_UP: u32 = 0x10000;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_QDISC: u16 = 6;
const IFLA_TXQLEN: u16 = 13;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_GROUP: u16 = 27;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u8 = 0x80;
const RT_SCOPE_HOST: u8 = 254;
const RT_SCOPE_LINK: u8 = 253;
const RT_TABLE_LOCAL: u8 = 255;
const RTPROT_KERNEL: u8 = 2;
const RTN_LOCAL: u8 = 2;
const RTN_BROADCAST: u8 = 3;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RTA_PREF: u16 = 20;

/// Appends attribute `ty` of `v` to a message payload.
fn attr(p: &mut Vec<u8>, ty: u16, v: &[u8]) {
    p.extend_from_slice(&((4 + v.len()) as u16).to_le_bytes());
    p.extend_from_slice(&ty.to_le_bytes());
    p.extend_from_slice(v);
    p.resize(route::align(p.len()), 0);
}

/// An address of `lo`, permanent, of host scope.
fn addr_msg(family: i32, prefixlen: u8, ip: &[u8], label: bool) -> HostMsg {
    let mut p = vec![family as u8, prefixlen, IFA_F_PERMANENT, RT_SCOPE_HOST];
    p.extend_from_slice(&(LO_INDEX as u32).to_le_bytes());
    attr(&mut p, IFA_ADDRESS, ip);
    if label {
        attr(&mut p, IFA_LOCAL, ip);
        attr(&mut p, IFA_LABEL, b"lo\0");
    }
    attr(&mut p, IFA_FLAGS, &u32::from(IFA_F_PERMANENT).to_le_bytes());
    let mut cache = [0u8; 16];
    cache[..8].copy_from_slice(&[0xff; 8]); // preferred and valid: forever
    attr(&mut p, IFA_CACHEINFO, &cache);
    HostMsg {
        ty: RTM_NEWADDR,
        flags: 0,
        payload: p,
    }
}

/// A route of the local table over `lo` (`ip route show table local`).
fn route_v4(dst_len: u8, dst: [u8; 4], ty: u8) -> HostMsg {
    let scope = if ty == RTN_LOCAL {
        RT_SCOPE_HOST
    } else {
        RT_SCOPE_LINK
    };
    let mut p = vec![
        libc::AF_INET as u8,
        dst_len,
        0,
        0,
        RT_TABLE_LOCAL,
        RTPROT_KERNEL,
        scope,
        ty,
    ];
    p.extend_from_slice(&[0; 4]);
    attr(&mut p, RTA_TABLE, &u32::from(RT_TABLE_LOCAL).to_le_bytes());
    attr(&mut p, RTA_DST, &dst);
    attr(&mut p, RTA_PREFSRC, &[127, 0, 0, 1]);
    attr(&mut p, RTA_OIF, &(LO_INDEX as u32).to_le_bytes());
    HostMsg {
        ty: RTM_NEWROUTE,
        flags: 0,
        payload: p,
    }
}

/// ::1's route of the local table.
fn route_v6_lo() -> HostMsg {
    let mut p = vec![
        libc::AF_INET6 as u8,
        128,
        0,
        0,
        RT_TABLE_LOCAL,
        RTPROT_KERNEL,
        0,
        RTN_LOCAL,
    ];
    p.extend_from_slice(&[0; 4]);
    let mut one = [0u8; 16];
    one[15] = 1;
    attr(&mut p, RTA_TABLE, &u32::from(RT_TABLE_LOCAL).to_le_bytes());
    attr(&mut p, RTA_DST, &one);
    attr(&mut p, RTA_PRIORITY, &0u32.to_le_bytes());
    attr(&mut p, RTA_OIF, &(LO_INDEX as u32).to_le_bytes());
    attr(&mut p, RTA_PREF, &[0]);
    HostMsg {
        ty: RTM_NEWROUTE,
        flags: 0,
        payload: p,
    }
}

// ---- saved form ----

/// A saved namespace: the first of the kernel's list is the initial one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetNsState {
    pub ino: u64,
    /// The inode number of the user namespace that owns it.
    pub owner: u64,
    pub lo: Lo,
}

impl NetNs {
    pub(crate) fn save(&self) -> NetNsState {
        NetNsState {
            ino: self.ino,
            owner: self.owner.ino(),
            lo: self.lo.get(),
        }
    }
}

/// Checks saved namespaces: the initial one first (its `lo` up), the others of distinct
/// inode numbers above Linux's initial ones.
pub(crate) fn validate(saved: &[NetNsState]) -> Result<(), crate::checks::Invalid> {
    use crate::checks::bad;
    match saved.first() {
        Some(s) if s.ino == INIT_INO && s.lo == Lo::Up => {}
        _ => {
            return Err(bad(
                "the kernel",
                "network namespaces",
                "do not start with the initial one",
            ))
        }
    }
    let mut seen = std::collections::HashSet::new();
    for s in saved {
        let obj = format!("network namespace {}", s.ino);
        if !seen.insert(s.ino) {
            return Err(bad(&obj, "inode number", "is saved twice"));
        }
        if s.ino != INIT_INO && s.ino < FIRST_MADE_INO {
            return Err(bad(&obj, "inode number", "is not one a new namespace gets"));
        }
    }
    Ok(())
}

/// The first inode number of a namespace a guest makes (`creds::next_ns_ino`).
const FIRST_MADE_INO: u64 = 4026532000;

thread_local! {
    /// The namespaces of the kernel being restored, by inode number, while its open files
    /// are made (a socket's saved form names its namespace by number).
    static RESTORING: RefCell<Vec<NetRef>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` (the restore of open files) with `nets` to be found by [`restored_net`].
pub(crate) fn while_restoring<T>(nets: &[NetRef], f: impl FnOnce() -> T) -> T {
    RESTORING.with(|r| *r.borrow_mut() = nets.to_vec());
    let out = f();
    RESTORING.with(|r| r.borrow_mut().clear());
    out
}

/// The restored namespace of inode number `ino` (validated: the kernel saved it). Out of a
/// kernel's restore (a unit test restoring files alone) a namespace of that number is made:
/// the initial one, or an isolated one.
pub(crate) fn restored_net(ino: u64) -> NetRef {
    RESTORING
        .with(|r| r.borrow().iter().find(|n| n.ino == ino).cloned())
        .unwrap_or_else(|| {
            if ino == INIT_INO {
                NetNs::initial()
            } else {
                NetNs::with(ino, UserNsRef::init(), Lo::Fresh)
            }
        })
}

/// Whether a saved socket's namespace number `ino` is among `saved`'s.
pub(crate) fn check_socket_ns(
    object: &str,
    ino: u64,
    saved: &[NetNsState],
) -> Result<(), crate::checks::Invalid> {
    if saved.iter().any(|s| s.ino == ino) {
        return Ok(());
    }
    Err(crate::checks::bad(
        object,
        "network namespace",
        format!("{ino} is not saved"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lo_of_a_new_namespace_is_down_then_up_then_keeps_its_ipv4_address() {
        let n = NetNs::new(UserNsRef::init());
        assert!(!n.is_initial() && n.ino >= FIRST_MADE_INO);
        assert_eq!(n.lo(), Lo::Fresh);
        // No address: every IPv4 address may be bound, nothing is reached.
        assert_eq!(n.may_bind(true, false, false), Ok(()));
        assert_eq!(n.may_bind(false, false, true), Err(libc::EADDRNOTAVAIL));
        assert_eq!(n.reach(true, true), Err(libc::ENETUNREACH));
        assert_eq!(n.reach(false, true), Err(libc::EADDRNOTAVAIL));
        let addrs = |n: &NetNs| n.dump(route::RTM_GETADDR, 0, 0).unwrap().len();
        assert_eq!(addrs(&n), 0);
        n.set_lo_flags(libc::IFF_UP as u32, libc::IFF_UP as u32);
        assert_eq!(n.lo(), Lo::Up);
        assert_eq!(addrs(&n), 2);
        assert_eq!(n.reach(true, true), Ok(()));
        assert_eq!(n.reach(true, false), Err(libc::ENETUNREACH));
        assert_eq!(n.may_bind(true, false, false), Err(libc::EADDRNOTAVAIL));
        assert_eq!(n.may_bind(false, false, true), Ok(()));
        // A change without IFF_UP in its mask leaves lo as it is.
        n.set_lo_flags(0, 0);
        assert_eq!(n.lo(), Lo::Up);
        n.set_lo_up(false);
        assert_eq!((n.lo(), addrs(&n)), (Lo::Down, 1));
        let link = n.dump(route::RTM_GETLINK, 0, 0).unwrap();
        let l = crate::net::ifreq::link(&link[0].payload).unwrap();
        assert_eq!((l.index, l.name.as_slice(), l.flags), (1, &b"lo"[..], 8));
    }

    #[test]
    fn hostile_saved_namespaces_are_refused() {
        let s = |ino, lo| NetNsState { ino, owner: 0, lo };
        assert!(validate(&[]).is_err());
        assert!(validate(&[s(INIT_INO, Lo::Fresh)]).is_err());
        assert!(validate(&[s(4026532001, Lo::Up)]).is_err());
        assert!(validate(&[s(INIT_INO, Lo::Up), s(5, Lo::Up)]).is_err());
        let two = [s(INIT_INO, Lo::Up), s(4026532001, Lo::Fresh)];
        assert!(validate(&two).is_ok());
        assert!(validate(&[two[0].clone(), two[1].clone(), two[1].clone()]).is_err());
        assert!(check_socket_ns("socket", 4026532001, &two).is_ok());
        let err = check_socket_ns("socket", 4026532002, &two)
            .unwrap_err()
            .to_string();
        assert!(err.contains("4026532002 is not saved"), "{err}");
    }
}
