//! Socket calls: socket, socketpair, bind, listen, accept, connect, the send and receive
//! calls, shutdown and the socket options. They decode the guest's addresses, iovecs,
//! message headers and control messages, and reach the socket through
//! [`Socket`](crate::net::Socket): AF_UNIX, AF_INET and AF_INET6 (TCP and UDP), and
//! AF_NETLINK (NETLINK_ROUTE); every other family is refused with EAFNOSUPPORT.

use super::file::{install_pair, park_until, read_iovecs, MAX_RW};
use super::ret;
use crate::fs::file::{FileRef, IoErr};
use crate::kernel::{err, Sys, SysCtx};
use crate::mm::Errno;
use crate::net::inet;
use crate::net::unix::{self, SockType, MAX_RIGHTS};
use crate::net::{RecvMsg, SendMsg, Socket, SocketCtx, Ucred};
use crate::wait::WaitKey;

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

/// CAP_NET_ADMIN (SO_SNDBUFFORCE, SO_RCVBUFFORCE).
const CAP_NET_ADMIN: u32 = 12;
/// sizeof(struct sockaddr_storage): the longest address a call takes.
const ADDR_MAX: u64 = 128;
/// Most bytes of control messages a send takes (net.core.optmem_max).
const CONTROL_MAX: u64 = 131_072;
/// Most iovecs and messages in one call (UIO_MAXIOV).
const IOV_MAX: u64 = 1024;
/// sizeof(struct cmsghdr).
const CMSG_HDR: usize = 16;
/// Bytes of data one send of a stream takes from the guest at a time.
const STREAM_CHUNK: usize = 1 << 20;

fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// Runs `f` on the socket `fd` names: EBADF when none, ENOTSOCK when it is not a socket.
fn with_socket<R>(
    c: &SysCtx,
    fd: u64,
    f: impl FnOnce(&mut dyn Socket) -> Result<R, Errno>,
) -> Result<R, Errno> {
    let file = c.file(fd)?;
    let mut fb = file.borrow_mut();
    let s = crate::net::socket_of(&mut *fb.imp).ok_or(libc::ENOTSOCK)?;
    f(s)
}

/// The file `fd` names, checked to be a socket.
fn socket_file(c: &SysCtx, fd: u64) -> Result<FileRef, Errno> {
    let file = c.file(fd)?;
    if crate::net::socket_of(&mut *file.borrow_mut().imp).is_none() {
        return Err(libc::ENOTSOCK);
    }
    Ok(file)
}

/// An address argument: `len` bytes at `addr` (EINVAL past sockaddr_storage).
fn read_addr(c: &SysCtx, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    if len as i32 as i64 != len as i64 || (len as i32) < 0 || len > ADDR_MAX {
        return Err(libc::EINVAL);
    }
    c.read_mem(addr, len as usize)
}

/// Copies address `bytes` out to `addr`, at most as many bytes as the guest's length at
/// `len_ptr` says, and writes the address's full length there (as Linux does).
fn write_addr(c: &mut SysCtx, addr: u64, len_ptr: u64, bytes: &[u8]) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let len = c.read_u32(len_ptr)? as i32;
    if len < 0 {
        return Err(libc::EINVAL);
    }
    let n = (len as usize).min(bytes.len());
    c.write_mem(addr, &bytes[..n])?;
    c.write_u32(len_ptr, bytes.len() as u32)
}

/// What a would-block becomes: EAGAIN for a non-blocking call, else a park on `key`
/// until the timeout (`timeout_ns`, 0: none).
fn park(c: &mut SysCtx, key: WaitKey, nonblock: bool, timeout_ns: u64) -> Sys {
    if nonblock {
        return err(libc::EAGAIN);
    }
    park_until(c, key, timeout_ns)
}

/// The caller's credentials as SCM_CREDENTIALS sends them by default.
fn own_ucred(c: &SysCtx) -> Ucred {
    Ucred {
        pid: c.tgid(),
        uid: c.creds().uid,
        gid: c.creds().gid,
    }
}

/// The family socket(2) and socketpair(2) ask for.
enum Family {
    Unix(SockType),
    Inet {
        v6: bool,
        proto: inet::Proto,
    },
    /// NETLINK_ROUTE, of type SOCK_RAW or SOCK_DGRAM.
    Netlink(i32),
}

/// The arguments of socket(2) and socketpair(2): the family and type, and the type's flags
/// (SOCK_NONBLOCK, SOCK_CLOEXEC). Families other than AF_UNIX, AF_INET, AF_INET6 and
/// AF_NETLINK are EAFNOSUPPORT.
fn socket_args(c: &SysCtx) -> Result<(Family, i32), Errno> {
    let [domain, ty, protocol, ..] = c.args();
    let (domain, ty, protocol) = (domain as i32, ty as i32, protocol as i32);
    let flags = ty & !0xf;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(libc::EINVAL);
    }
    let family = match domain {
        libc::AF_UNIX => {
            let ty = SockType::from_raw(ty & 0xf)?;
            if protocol != 0 && protocol != libc::PF_UNIX {
                return Err(libc::EPROTONOSUPPORT);
            }
            Family::Unix(ty)
        }
        libc::AF_INET | libc::AF_INET6 => Family::Inet {
            v6: domain == libc::AF_INET6,
            proto: inet::protocol(ty & 0xf, protocol)?,
        },
        libc::AF_NETLINK => {
            crate::net::netlink::check_args(ty & 0xf, protocol)?;
            Family::Netlink(ty & 0xf)
        }
        _ => return Err(libc::EAFNOSUPPORT),
    };
    Ok((family, flags))
}

pub(super) fn socket(c: &mut SysCtx) -> Sys {
    let (family, flags) = tryk!(socket_args(c));
    let id = c.new_obj_id();
    let nonblock = flags & libc::SOCK_NONBLOCK != 0;
    // A socket belongs to the namespace of the task that made it, for good.
    let net = SocketCtx::net(c);
    let f = match family {
        Family::Unix(ty) => unix::socket(id, ty, peer_ucred(c), net, nonblock),
        Family::Inet { v6, proto } => inet::socket(net, id, v6, proto, nonblock),
        Family::Netlink(ty) => {
            let tgid = c.tgid();
            let admin = c
                .creds()
                .capable_in(&net.owner, crate::creds::CAP_NET_ADMIN);
            crate::net::netlink::socket(net, admin, id, ty, tgid, nonblock)
        }
    };
    ret(c
        .install(f, flags & libc::SOCK_CLOEXEC != 0)
        .map(|fd| fd as i64))
}

/// The caller's credentials as SO_PEERCRED reports them to its peers.
fn peer_ucred(c: &SysCtx) -> Ucred {
    Ucred {
        pid: c.tgid(),
        uid: c.creds().euid,
        gid: c.creds().egid,
    }
}

pub(super) fn socketpair(c: &mut SysCtx) -> Sys {
    let (family, flags) = tryk!(socket_args(c));
    let Family::Unix(ty) = family else {
        // TCP and UDP have no pairs.
        return err(libc::EOPNOTSUPP);
    };
    let ids = (c.new_obj_id(), c.new_obj_id());
    let cred = peer_ucred(c);
    let net = SocketCtx::net(c);
    let (a, b) = unix::pair(ids, ty, cred, net, flags & libc::SOCK_NONBLOCK != 0);
    install_pair(c, a, b, flags & libc::SOCK_CLOEXEC != 0, c.arg(3))
}

pub(super) fn bind(c: &mut SysCtx) -> Sys {
    let [fd, addr, len, ..] = c.args();
    let file = tryk!(socket_file(c, fd));
    let raw = tryk!(read_addr(c, addr, len));
    let mut fb = file.borrow_mut();
    let s = crate::net::socket_of(&mut *fb.imp).expect("a socket");
    ret(s.bind(c, &raw).map(|_| 0))
}

pub(super) fn listen(c: &mut SysCtx) -> Sys {
    let [fd, backlog, ..] = c.args();
    ret(with_socket(c, fd, |s| s.listen(backlog as i32)).map(|_| 0))
}

pub(super) fn accept(c: &mut SysCtx, flags: u64) -> Sys {
    let [fd, addr, len_ptr, ..] = c.args();
    let flags = flags as i32;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return err(libc::EINVAL);
    }
    let file = tryk!(socket_file(c, fd));
    let r = {
        let mut fb = file.borrow_mut();
        crate::net::socket_of(&mut *fb.imp)
            .expect("a socket")
            .accept(c)
    };
    let (imp, peer) = match r {
        Ok(v) => v,
        Err(IoErr::Block(key)) => {
            let nonblock = file.borrow().flags & libc::O_NONBLOCK != 0;
            let (rcvtimeo, _) = crate::net::socket_of(&mut *file.borrow_mut().imp)
                .expect("a socket")
                .timeouts();
            return park(c, key, nonblock, rcvtimeo);
        }
        Err(e) => return c.io_result(Err(e)),
    };
    let id = imp.stat().map_or(0, |st| st.st_ino);
    let nb = if flags & libc::SOCK_NONBLOCK != 0 {
        libc::O_NONBLOCK
    } else {
        0
    };
    let f = crate::fs::file::OpenFile::new(imp, libc::O_RDWR | nb, format!("socket:[{id}]"));
    let newfd = tryk!(c.install(f, flags & libc::SOCK_CLOEXEC != 0));
    if let Err(e) = write_addr(c, addr, len_ptr, &peer) {
        let _ = c.close_fd(newfd);
        return err(e);
    }
    Sys::Ret(newfd as i64)
}

pub(super) fn connect(c: &mut SysCtx) -> Sys {
    let [fd, addr, len, ..] = c.args();
    let file = tryk!(socket_file(c, fd));
    let raw = tryk!(read_addr(c, addr, len));
    let nonblock = file.borrow().flags & libc::O_NONBLOCK != 0;
    let r = {
        let mut fb = file.borrow_mut();
        crate::net::socket_of(&mut *fb.imp)
            .expect("a socket")
            .connect(c, &raw, nonblock)
    };
    match r {
        Ok(()) => Sys::Ret(0),
        Err(IoErr::Block(key)) => {
            let (_, sndtimeo) = crate::net::socket_of(&mut *file.borrow_mut().imp)
                .expect("a socket")
                .timeouts();
            park(c, key, nonblock, sndtimeo)
        }
        Err(e) => c.io_result(Err(e).map(|()| 0)),
    }
}

/// getsockname (`peer` false) and getpeername.
pub(super) fn getname(c: &mut SysCtx, peer: bool) -> Sys {
    let [fd, addr, len_ptr, ..] = c.args();
    let name = tryk!(with_socket(c, fd, |s| if peer {
        s.peername()
    } else {
        Ok(s.sockname())
    }));
    if addr == 0 {
        return err(libc::EFAULT);
    }
    ret(write_addr(c, addr, len_ptr, &name).map(|_| 0))
}

pub(super) fn shutdown(c: &mut SysCtx) -> Sys {
    let [fd, how, ..] = c.args();
    ret(with_socket(c, fd, |s| s.shutdown(how as i32)).map(|_| 0))
}

pub(super) fn setsockopt(c: &mut SysCtx) -> Sys {
    let [fd, level, name, val, len, ..] = c.args();
    let file = tryk!(socket_file(c, fd));
    if (len as i32) < 0 {
        return err(libc::EINVAL);
    }
    let bytes = tryk!(c.read_mem(val, (len as usize).min(256)));
    let force = [libc::SO_SNDBUFFORCE, libc::SO_RCVBUFFORCE].contains(&(name as i32));
    if level as i32 == libc::SOL_SOCKET && force && !c.creds().has_init(CAP_NET_ADMIN) {
        return err(libc::EPERM);
    }
    let mut fb = file.borrow_mut();
    let s = crate::net::socket_of(&mut *fb.imp).expect("a socket");
    ret(s.setsockopt(level as i32, name as i32, &bytes).map(|_| 0))
}

pub(super) fn getsockopt(c: &mut SysCtx) -> Sys {
    let [fd, level, name, val, len_ptr, ..] = c.args();
    let file = tryk!(socket_file(c, fd));
    let len = tryk!(c.read_u32(len_ptr)) as i32;
    if len < 0 {
        return err(libc::EINVAL);
    }
    let v = {
        let mut fb = file.borrow_mut();
        tryk!(crate::net::socket_of(&mut *fb.imp)
            .expect("a socket")
            .getsockopt(level as i32, name as i32))
    };
    let n = (len as usize).min(v.len());
    tryk!(c.write_mem(val, &v[..n]));
    ret(c.write_u32(len_ptr, n as u32).map(|_| 0))
}

// ---- sending ----

/// A decoded `struct msghdr`.
struct MsgHdr {
    name: u64,
    namelen: u64,
    iov: Vec<(u64, usize)>,
    control: u64,
    controllen: u64,
}

/// Reads the `struct msghdr` at `addr`.
fn read_msghdr(c: &SysCtx, addr: u64) -> Result<MsgHdr, Errno> {
    let b = c.read_mem(addr, 56)?;
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8"));
    let iovlen = u64_at(24);
    if iovlen > IOV_MAX {
        return Err(libc::EMSGSIZE);
    }
    Ok(MsgHdr {
        name: u64_at(0),
        namelen: u32::from_le_bytes(b[8..12].try_into().expect("4")) as u64,
        iov: read_iovecs(c, u64_at(16), iovlen)?,
        control: u64_at(32),
        controllen: u64_at(40),
    })
}

/// Up to `max` bytes of the iovecs' data, from byte `skip` on.
fn gather(c: &SysCtx, iov: &[(u64, usize)], mut skip: usize, max: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    for &(base, len) in iov {
        if out.len() >= max {
            break;
        }
        if skip >= len {
            skip -= len;
            continue;
        }
        let n = (len - skip).min(max - out.len());
        out.extend(c.read_mem(base + skip as u64, n)?);
        skip = 0;
    }
    Ok(out)
}

/// Scatters `data` into the iovecs from byte `skip` on.
fn scatter(
    c: &mut SysCtx,
    iov: &[(u64, usize)],
    mut skip: usize,
    data: &[u8],
) -> Result<(), Errno> {
    let mut done = 0;
    for &(base, len) in iov {
        if done >= data.len() {
            break;
        }
        if skip >= len {
            skip -= len;
            continue;
        }
        let n = (len - skip).min(data.len() - done);
        c.write_mem(base + skip as u64, &data[done..done + n])?;
        done += n;
        skip = 0;
    }
    Ok(())
}

/// The control messages of a send: the files of SCM_RIGHTS and the credentials of
/// SCM_CREDENTIALS.
fn read_control(c: &SysCtx, addr: u64, len: u64) -> Result<(Vec<FileRef>, Option<Ucred>), Errno> {
    if len > CONTROL_MAX {
        return Err(libc::ENOBUFS);
    }
    let (mut rights, mut creds) = (Vec::new(), None);
    if (len as usize) < CMSG_HDR {
        return Ok((rights, creds));
    }
    let b = c.read_mem(addr, len as usize)?;
    let mut off = 0;
    while off + CMSG_HDR <= b.len() {
        let clen = u64::from_le_bytes(b[off..off + 8].try_into().expect("8"));
        let level = i32::from_le_bytes(b[off + 8..off + 12].try_into().expect("4"));
        let ty = i32::from_le_bytes(b[off + 12..off + 16].try_into().expect("4"));
        if clen < CMSG_HDR as u64 || clen > (b.len() - off) as u64 {
            return Err(libc::EINVAL);
        }
        let data = &b[off + CMSG_HDR..off + clen as usize];
        match (level, ty) {
            (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                let n = data.len() / 4;
                if rights.len() + n > MAX_RIGHTS {
                    return Err(libc::EINVAL);
                }
                for fd in data.chunks_exact(4) {
                    let fd = i32::from_le_bytes(fd.try_into().expect("4"));
                    if fd < 0 {
                        return Err(libc::EBADF);
                    }
                    rights.push(c.file(fd as u64)?);
                }
            }
            (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) => {
                if data.len() != 12 {
                    return Err(libc::EINVAL);
                }
                let u = Ucred {
                    pid: i32::from_le_bytes(data[..4].try_into().expect("4")),
                    uid: u32::from_le_bytes(data[4..8].try_into().expect("4")),
                    gid: u32::from_le_bytes(data[8..].try_into().expect("4")),
                };
                let cr = c.creds();
                let pid_ok = u.pid == c.tgid() || cr.has_init(crate::creds::CAP_SYS_ADMIN);
                let uid_ok = [cr.uid, cr.euid, cr.suid].contains(&u.uid)
                    || cr.has_init(crate::creds::CAP_SETUID);
                let gid_ok = [cr.gid, cr.egid, cr.sgid].contains(&u.gid)
                    || cr.has_init(crate::creds::CAP_SETGID);
                if !(pid_ok && uid_ok && gid_ok) {
                    return Err(libc::EPERM);
                }
                if u.pid != c.tgid() && c.thread_creds(u.pid).is_none() {
                    return Err(libc::ESRCH);
                }
                creds = Some(u);
            }
            _ => return Err(libc::EINVAL),
        }
        off += cmsg_align(clen as usize);
    }
    Ok((rights, creds))
}

/// What a send decoded from its arguments.
struct SendArgs {
    iov: Vec<(u64, usize)>,
    addr: Option<Vec<u8>>,
    rights: Vec<FileRef>,
    creds: Option<Ucred>,
    flags: i32,
}

/// Sends on `fd`. A blocking stream send goes on until everything is sent (a parked call
/// continues from its progress, and the files go with the first part); `whole` is false
/// for sendmmsg, which sends what one try takes.
fn send(c: &mut SysCtx, fd: u64, a: SendArgs, whole: bool) -> Result<usize, Sys> {
    let file = socket_file(c, fd).map_err(err)?;
    let nonblock = file.borrow().flags & libc::O_NONBLOCK != 0 || a.flags & libc::MSG_DONTWAIT != 0;
    let total: usize = a
        .iov
        .iter()
        .fold(0usize, |t, v| t.saturating_add(v.1))
        .min(MAX_RW);
    let stream = {
        let mut fb = file.borrow_mut();
        crate::net::socket_of(&mut *fb.imp)
            .expect("a socket")
            .sock_type()
            == libc::SOCK_STREAM
    };
    let sender = own_ucred(c);
    loop {
        let done = if whole { c.progress() } else { 0 };
        let max = if stream {
            STREAM_CHUNK
        } else {
            // A datagram goes whole or not at all; past the largest buffer it is too long.
            if total > 2 * 212_992 {
                return Err(err(libc::EMSGSIZE));
            }
            total
        };
        let data = gather(c, &a.iov, done, max).map_err(err)?;
        let chunk = data.len();
        let m = SendMsg {
            data,
            addr: a.addr.clone(),
            rights: if done == 0 {
                a.rights.clone()
            } else {
                Vec::new()
            },
            creds: a.creds,
            sender,
        };
        let r = {
            let mut fb = file.borrow_mut();
            crate::net::socket_of(&mut *fb.imp)
                .expect("a socket")
                .sendmsg(c, m)
        };
        match r {
            Ok(n) => {
                if !(whole && stream) {
                    return Ok(n);
                }
                let sent = c.add_progress(n);
                if sent >= total || n < chunk && nonblock || n == 0 {
                    return Ok(sent);
                }
            }
            Err(IoErr::Block(_)) if done > 0 && nonblock => return Ok(done),
            Err(IoErr::Block(key)) => {
                let (_, sndtimeo) = crate::net::socket_of(&mut *file.borrow_mut().imp)
                    .expect("a socket")
                    .timeouts();
                let p = park(c, key, nonblock, sndtimeo);
                if done > 0 && matches!(p, Sys::Ret(_)) {
                    return Ok(done);
                }
                return Err(p);
            }
            Err(_) if done > 0 => return Ok(done),
            Err(IoErr::Pipe) if a.flags & libc::MSG_NOSIGNAL != 0 => return Err(err(libc::EPIPE)),
            Err(e) => return Err(c.io_result(Err(e))),
        }
    }
}

fn outcome(r: Result<usize, Sys>) -> Sys {
    match r {
        Ok(n) => Sys::Ret(n as i64),
        Err(s) => s,
    }
}

pub(super) fn sendto(c: &mut SysCtx) -> Sys {
    let [fd, buf, len, flags, addr, alen] = c.args();
    let addr = if addr != 0 {
        Some(tryk!(read_addr(c, addr, alen)))
    } else {
        None
    };
    let a = SendArgs {
        iov: vec![(buf, (len as usize).min(MAX_RW))],
        addr,
        rights: Vec::new(),
        creds: None,
        flags: flags as i32,
    };
    outcome(send(c, fd, a, true))
}

/// Decodes a `struct msghdr` for sending.
fn send_args(c: &SysCtx, hdr: u64, flags: i32) -> Result<SendArgs, Errno> {
    let h = read_msghdr(c, hdr)?;
    let addr = if h.name != 0 && h.namelen != 0 {
        Some(read_addr(c, h.name, h.namelen)?)
    } else {
        None
    };
    let (rights, creds) = if h.control != 0 {
        read_control(c, h.control, h.controllen)?
    } else {
        (Vec::new(), None)
    };
    Ok(SendArgs {
        iov: h.iov,
        addr,
        rights,
        creds,
        flags,
    })
}

pub(super) fn sendmsg(c: &mut SysCtx) -> Sys {
    let [fd, hdr, flags, ..] = c.args();
    tryk!(socket_file(c, fd));
    let a = tryk!(send_args(c, hdr, flags as i32));
    outcome(send(c, fd, a, true))
}

pub(super) fn sendmmsg(c: &mut SysCtx) -> Sys {
    let [fd, vec, vlen, flags, ..] = c.args();
    tryk!(socket_file(c, fd));
    let vlen = vlen.min(IOV_MAX);
    let mut sent = 0;
    for i in 0..vlen {
        let hdr = vec + i * 64;
        let r = send_args(c, hdr, flags as i32)
            .map_err(err)
            .and_then(|a| send(c, fd, a, false));
        match r {
            Ok(n) => {
                if let Err(e) = c.write_u32(hdr + 56, n as u32) {
                    return if sent > 0 { Sys::Ret(sent) } else { err(e) };
                }
                sent += 1;
            }
            Err(s) if sent == 0 => return s,
            Err(_) => break,
        }
    }
    Sys::Ret(sent)
}

// ---- receiving ----

/// Where a receive puts what comes besides the data.
#[derive(Default)]
struct RecvOut {
    /// msg_name and where its length goes.
    name: Option<(u64, u64)>,
    /// msg_control and its length.
    control: Option<(u64, u64)>,
    /// How long to wait (recvmmsg's timeout), instead of SO_RCVTIMEO.
    timeout: Option<u64>,
}

/// What a receive reports besides the byte count: the msghdr's flags and control length.
struct Received {
    ret: usize,
    flags: i32,
    controllen: u64,
    namelen: u64,
}

/// Writes the control messages of `m` (credentials, then files: each installed as an fd)
/// into `len` bytes at `addr`. Returns the bytes used and MSG_CTRUNC when something did
/// not fit (files that do not fit are closed, as Linux does).
fn write_control(
    c: &mut SysCtx,
    addr: u64,
    len: u64,
    m: &mut RecvMsg,
    cloexec: bool,
) -> Result<(u64, i32), Errno> {
    let mut out = Control {
        addr,
        len: len.min(CONTROL_MAX) as usize,
        used: 0,
        flags: 0,
    };
    if let Some(cr) = m.creds {
        out.put(c, libc::SCM_CREDENTIALS, &cr.bytes())?;
    }
    let rights = std::mem::take(&mut m.rights);
    if !rights.is_empty() {
        let room = out.len - out.used;
        let fit = room.saturating_sub(CMSG_HDR) / 4;
        let mut fds = Vec::new();
        for f in rights.iter().take(fit) {
            match c.install_again(f.clone(), cloexec) {
                Ok(fd) => fds.push(fd),
                Err(_) => break,
            }
        }
        if fds.len() < rights.len() {
            out.flags |= libc::MSG_CTRUNC;
        }
        if !fds.is_empty() {
            let data: Vec<u8> = fds.iter().flat_map(|fd| fd.to_le_bytes()).collect();
            out.put(c, libc::SCM_RIGHTS, &data)?;
        }
    }
    drop(rights);
    Ok((out.used as u64, out.flags))
}

/// A receive's control buffer being filled.
struct Control {
    addr: u64,
    len: usize,
    used: usize,
    flags: i32,
}

impl Control {
    /// Appends a SOL_SOCKET control message of type `ty`, truncated (MSG_CTRUNC) to the
    /// room left, as Linux's put_cmsg does.
    fn put(&mut self, c: &mut SysCtx, ty: i32, data: &[u8]) -> Result<(), Errno> {
        let room = self.len - self.used;
        if room < CMSG_HDR {
            self.flags |= libc::MSG_CTRUNC;
            return Ok(());
        }
        let full = CMSG_HDR + data.len();
        // The header says how much of it is there.
        let mut b = (full.min(room) as u64).to_le_bytes().to_vec();
        b.extend_from_slice(&libc::SOL_SOCKET.to_le_bytes());
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(data);
        if full > room {
            self.flags |= libc::MSG_CTRUNC;
        }
        c.write_mem(self.addr + self.used as u64, &b[..full.min(room)])?;
        self.used += cmsg_align(full).min(room);
        Ok(())
    }
}

/// A receive without flags, addresses or control data of socket `f` straight into the
/// guest ranges `iov` (at most `total` bytes), when the socket takes one
/// (`Socket::receives_in_place`: a TCP connection, a unix stream to a host socket); None
/// otherwise. A wait
/// is `IoErr::Block` whatever the file's flags.
pub(super) fn recv_in_place(
    c: &mut SysCtx,
    f: &FileRef,
    iov: &[(u64, usize)],
    total: usize,
) -> Option<Result<usize, IoErr>> {
    {
        let mut fb = f.borrow_mut();
        if !fb.readable() || !crate::net::socket_of(&mut *fb.imp)?.receives_in_place() {
            return None;
        }
    }
    let mut ranges = Vec::with_capacity(iov.len());
    let mut left = total;
    for &(base, len) in iov {
        if left == 0 {
            break;
        }
        let n = len.min(left);
        ranges.push((base, n));
        left -= n;
    }
    let r = c.fill_mem(&ranges, |bufs| {
        let mut fb = f.borrow_mut();
        crate::net::socket_of(&mut *fb.imp)
            .expect("a socket")
            .recv_in_place(bufs)
    });
    Some(r.unwrap_or_else(|e| Err(IoErr::Errno(e))))
}

/// Receives on `fd` into `iov`. A blocking stream receive with MSG_WAITALL goes on until
/// the iovecs are full (a parked call continues from its progress).
fn recv(
    c: &mut SysCtx,
    fd: u64,
    iov: &[(u64, usize)],
    flags: i32,
    out: RecvOut,
) -> Result<Received, Sys> {
    let file = socket_file(c, fd).map_err(err)?;
    if flags & libc::MSG_OOB != 0 {
        return Err(err(libc::EOPNOTSUPP));
    }
    if flags & libc::MSG_ERRQUEUE != 0 {
        // No socket here queues errors (IP_RECVERR is kept, not acted on): the queue is
        // empty.
        return Err(err(libc::EAGAIN));
    }
    let nonblock = file.borrow().flags & libc::O_NONBLOCK != 0 || flags & libc::MSG_DONTWAIT != 0;
    let total: usize = iov
        .iter()
        .fold(0usize, |t, v| t.saturating_add(v.1))
        .min(MAX_RW);
    let (stream, rcvtimeo) = {
        let mut fb = file.borrow_mut();
        let s = crate::net::socket_of(&mut *fb.imp).expect("a socket");
        (s.sock_type() == libc::SOCK_STREAM, s.timeouts().0)
    };
    let rcvtimeo = out.timeout.unwrap_or(rcvtimeo);
    let waitall = stream && flags & libc::MSG_WAITALL != 0 && flags & libc::MSG_PEEK == 0;
    let mut res = Received {
        ret: 0,
        // As Linux: the flags reported start with the MSG_CMSG_CLOEXEC asked for.
        flags: flags & libc::MSG_CMSG_CLOEXEC,
        controllen: 0,
        namelen: 0,
    };
    let plain = flags & (libc::MSG_PEEK | libc::MSG_TRUNC) == 0 && !waitall;
    loop {
        let done = c.progress();
        let in_place = match plain {
            true => recv_in_place(c, &file, iov, total),
            false => None,
        };
        let r = match in_place {
            // Such a stream has no sender address, control data or truncation to
            // report (namelen and controllen stay 0).
            Some(Ok(n)) => {
                res.ret = n;
                return Ok(res);
            }
            Some(Err(e)) => Err(e),
            None => {
                let mut fb = file.borrow_mut();
                crate::net::socket_of(&mut *fb.imp)
                    .expect("a socket")
                    .recvmsg(total - done, flags & (libc::MSG_PEEK | libc::MSG_TRUNC))
            }
        };
        let mut m = match r {
            Ok(m) => m,
            Err(IoErr::Block(_)) if done > 0 && (nonblock || !waitall) => {
                res.ret = done;
                return Ok(res);
            }
            Err(IoErr::Block(key)) => {
                let p = match out.timeout {
                    // A zero timeout has passed already.
                    Some(0) => err(libc::EAGAIN),
                    _ => park(c, key, nonblock, rcvtimeo),
                };
                if done > 0 && matches!(p, Sys::Ret(_)) {
                    res.ret = done;
                    return Ok(res);
                }
                return Err(p);
            }
            Err(_) if done > 0 => {
                res.ret = done;
                return Ok(res);
            }
            Err(e) => return Err(c.io_result(Err(e))),
        };
        scatter(c, iov, done, &m.data).map_err(err)?;
        if let Some((name, len_ptr)) = out.name {
            let bytes = m.addr.clone().unwrap_or_default();
            if name != 0 {
                let len = c.read_u32(len_ptr).map_err(err)? as i32;
                let n = (len.max(0) as usize).min(bytes.len());
                c.write_mem(name, &bytes[..n]).map_err(err)?;
            }
            res.namelen = bytes.len() as u64;
        }
        if let Some((addr, len)) = out.control {
            let cloexec = flags & libc::MSG_CMSG_CLOEXEC != 0;
            let (used, f) = write_control(c, addr, len, &mut m, cloexec).map_err(err)?;
            res.controllen = used;
            res.flags |= f;
        } else if !m.rights.is_empty() {
            // No room at all for them: dropped, and said so.
            res.flags |= libc::MSG_CTRUNC;
        }
        if m.full_len > m.data.len() {
            res.flags |= libc::MSG_TRUNC;
        }
        let n = if !stream && flags & libc::MSG_TRUNC != 0 {
            m.full_len
        } else {
            m.data.len()
        };
        if !waitall {
            res.ret = n;
            return Ok(res);
        }
        let got = c.add_progress(n);
        if got >= total || n == 0 || m.eof {
            res.ret = got;
            return Ok(res);
        }
    }
}

pub(super) fn recvfrom(c: &mut SysCtx) -> Sys {
    let [fd, buf, len, flags, addr, alen] = c.args();
    let iov = [(buf, (len as usize).min(MAX_RW))];
    let out = RecvOut {
        name: (addr != 0).then_some((addr, alen)),
        ..RecvOut::default()
    };
    match recv(c, fd, &iov, flags as i32, out) {
        Ok(r) => {
            if addr != 0 {
                tryk!(c.write_u32(alen, r.namelen as u32));
            }
            Sys::Ret(r.ret as i64)
        }
        Err(s) => s,
    }
}

/// recvmsg into the `struct msghdr` at `hdr`; returns the bytes received.
fn recvmsg_at(
    c: &mut SysCtx,
    fd: u64,
    hdr: u64,
    flags: i32,
    timeout: Option<u64>,
) -> Result<usize, Sys> {
    let h = read_msghdr(c, hdr).map_err(err)?;
    if (h.namelen as i32) < 0 {
        return Err(err(libc::EINVAL));
    }
    let out = RecvOut {
        name: Some((h.name, hdr + 8)),
        control: (h.control != 0 && h.controllen > 0).then_some((h.control, h.controllen)),
        timeout,
    };
    let r = recv(c, fd, &h.iov, flags, out)?;
    let namelen = if h.name != 0 { r.namelen } else { 0 };
    c.write_u32(hdr + 8, namelen as u32).map_err(err)?;
    c.write_u64(hdr + 40, r.controllen).map_err(err)?;
    c.write_u32(hdr + 48, r.flags as u32).map_err(err)?;
    Ok(r.ret)
}

pub(super) fn recvmsg(c: &mut SysCtx) -> Sys {
    let [fd, hdr, flags, ..] = c.args();
    outcome(recvmsg_at(c, fd, hdr, flags as i32, None))
}

/// recvmmsg: messages until `vlen` or a would-block after the first. The timeout bounds
/// the wait for the first (EAGAIN when it passes, as gVisor does; Linux may wait on).
pub(super) fn recvmmsg(c: &mut SysCtx) -> Sys {
    let [fd, vec, vlen, flags, timeout, ..] = c.args();
    tryk!(socket_file(c, fd));
    let timeout = if timeout != 0 {
        Some(tryk!(c.read_timespec(timeout)))
    } else {
        None
    };
    let vlen = vlen.min(IOV_MAX);
    let mut flags = flags as i32;
    let mut got = 0;
    for i in 0..vlen {
        let hdr = vec + i * 64;
        match recvmsg_at(c, fd, hdr, flags, timeout) {
            Ok(n) => {
                if let Err(e) = c.write_u32(hdr + 56, n as u32) {
                    return if got > 0 { Sys::Ret(got) } else { err(e) };
                }
                got += 1;
                // After the first, take only what is there.
                flags |= libc::MSG_DONTWAIT;
            }
            Err(s) if got == 0 => return s,
            Err(_) => break,
        }
    }
    Sys::Ret(got)
}

#[cfg(test)]
mod tests {
    use crate::kernel::Kernel;
    use crate::testing::{kernel, SCRATCH};

    const AF_UNIX: u64 = libc::AF_UNIX as u64;
    const STREAM: u64 = libc::SOCK_STREAM as u64;
    const NB: u64 = libc::SOCK_NONBLOCK as u64;
    /// Where the tests put their buffers in the scratch memory.
    const BUF: u64 = SCRATCH + 0x1000;
    const HDR: u64 = SCRATCH + 0x2000;
    const IOV: u64 = SCRATCH + 0x2100;
    const CTL: u64 = SCRATCH + 0x2200;
    const ADDR: u64 = SCRATCH + 0x2400;
    const FDS: u64 = SCRATCH + 0x2600;

    fn e(errno: i32) -> Option<i64> {
        Some(-(errno as i64))
    }

    fn call(k: &mut Kernel, t: i32, nr: i64, args: &[u64]) -> Option<i64> {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        k.call(t, nr, a)
    }

    fn pair(k: &mut Kernel, t: i32, ty: u64) -> (u64, u64) {
        assert_eq!(
            call(k, t, libc::SYS_socketpair, &[AF_UNIX, ty, 0, FDS]),
            Some(0)
        );
        let b = k.get(t, FDS, 8);
        let fd = |i: usize| i32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as u64;
        (fd(0), fd(4))
    }

    /// A msghdr at HDR for `len` bytes at BUF and `ctl_len` bytes of control at CTL.
    fn msghdr(k: &mut Kernel, t: i32, len: u64, ctl_len: u64) {
        let mut iov = BUF.to_le_bytes().to_vec();
        iov.extend_from_slice(&len.to_le_bytes());
        k.put(t, IOV, &iov);
        let mut h = vec![0u8; 56];
        h[16..24].copy_from_slice(&IOV.to_le_bytes());
        h[24..32].copy_from_slice(&1u64.to_le_bytes());
        if ctl_len > 0 {
            h[32..40].copy_from_slice(&CTL.to_le_bytes());
            h[40..48].copy_from_slice(&ctl_len.to_le_bytes());
        }
        k.put(t, HDR, &h);
    }

    /// An SCM_RIGHTS control message at CTL passing `fds`; returns its length.
    fn rights(k: &mut Kernel, t: i32, fds: &[i32]) -> u64 {
        let len = 16 + 4 * fds.len();
        let mut c = (len as u64).to_le_bytes().to_vec();
        c.extend_from_slice(&libc::SOL_SOCKET.to_le_bytes());
        c.extend_from_slice(&libc::SCM_RIGHTS.to_le_bytes());
        for fd in fds {
            c.extend_from_slice(&fd.to_le_bytes());
        }
        k.put(t, CTL, &c);
        ((len + 7) & !7) as u64
    }

    fn write(k: &mut Kernel, t: i32, fd: u64, data: &[u8]) -> Option<i64> {
        k.put(t, BUF, data);
        call(k, t, libc::SYS_write, &[fd, BUF, data.len() as u64])
    }

    fn read(k: &mut Kernel, t: i32, fd: u64, len: usize) -> Result<Vec<u8>, Option<i64>> {
        match call(k, t, libc::SYS_read, &[fd, BUF, len as u64]) {
            Some(n) if n >= 0 => Ok(k.get(t, BUF, n as usize)),
            r => Err(r),
        }
    }

    /// recvmsg on `fd` with room for `nfds` files: the data, the fds received, msg_flags.
    fn recv_rights(k: &mut Kernel, t: i32, fd: u64, nfds: u64) -> (Vec<u8>, Vec<i32>, i32) {
        let room = if nfds > 0 {
            (16 + 4 * nfds + 7) & !7
        } else {
            0
        };
        msghdr(k, t, 64, room);
        let n = call(k, t, libc::SYS_recvmsg, &[fd, HDR, 0]).unwrap();
        assert!(n >= 0, "recvmsg: {n}");
        let h = k.get(t, HDR, 56);
        let ctl_len = u64::from_le_bytes(h[40..48].try_into().unwrap()) as usize;
        let flags = i32::from_le_bytes(h[48..52].try_into().unwrap());
        let mut fds = Vec::new();
        if ctl_len >= 16 {
            let c = k.get(t, CTL, ctl_len);
            let len = u64::from_le_bytes(c[..8].try_into().unwrap()) as usize;
            for f in c[16..len].chunks_exact(4) {
                fds.push(i32::from_le_bytes(f.try_into().unwrap()));
            }
        }
        (k.get(t, BUF, n as usize), fds, flags)
    }

    #[test]
    fn a_stream_pair_carries_bytes_and_files_and_blocks_when_empty() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let (a, b) = pair(&mut k, t, STREAM);
        assert_eq!(read(&mut k, t, b, 10), Err(None), "an empty stream parks");
        assert_eq!(call(&mut k, t, libc::SYS_pipe, &[FDS]), Some(0));
        let p = k.get(t, FDS, 8);
        let (pr, pw) = (
            i32::from_le_bytes(p[..4].try_into().unwrap()),
            i32::from_le_bytes(p[4..].try_into().unwrap()) as u64,
        );
        assert_eq!(write(&mut k, t, pw, b"through the pipe"), Some(16));
        let clen = rights(&mut k, t, &[pr]);
        k.put(t, BUF, b"fd");
        msghdr(&mut k, t, 2, clen);
        assert_eq!(call(&mut k, t, libc::SYS_sendmsg, &[a, HDR, 0]), Some(2));
        assert_eq!(call(&mut k, t, libc::SYS_close, &[pr as u64]), Some(0));
        let (data, fds, flags) = recv_rights(&mut k, t, b, 1);
        assert_eq!((data.as_slice(), fds.len(), flags), (&b"fd"[..], 1, 0));
        assert_eq!(
            read(&mut k, t, fds[0] as u64, 64).unwrap(),
            b"through the pipe"
        );
        // Two files, room for none: both dropped and MSG_CTRUNC says so.
        let clen = rights(&mut k, t, &[0, 1]);
        msghdr(&mut k, t, 2, clen);
        assert_eq!(call(&mut k, t, libc::SYS_sendmsg, &[a, HDR, 0]), Some(2));
        let (_, fds, flags) = recv_rights(&mut k, t, b, 0);
        assert_eq!((fds.len(), flags), (0, libc::MSG_CTRUNC));
        // The peer gone: end of file one way, EPIPE (and SIGPIPE) the other.
        assert_eq!(
            call(&mut k, t, libc::SYS_shutdown, &[a, libc::SHUT_WR as u64]),
            Some(0)
        );
        assert_eq!(read(&mut k, t, b, 10).unwrap(), b"");
        assert_eq!(call(&mut k, t, libc::SYS_close, &[b]), Some(0));
        k.put(t, BUF, b"x");
        let nosig = libc::MSG_NOSIGNAL as u64;
        assert_eq!(
            call(&mut k, t, libc::SYS_sendto, &[a, BUF, 1, nosig, 0, 0]),
            e(libc::EPIPE)
        );
    }

    #[test]
    fn hostile_arguments_fail_with_linux_errnos() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let packet = libc::AF_PACKET as u64;
        assert_eq!(
            call(&mut k, t, libc::SYS_socket, &[packet, STREAM, 0]),
            e(libc::EAFNOSUPPORT)
        );
        assert_eq!(
            call(
                &mut k,
                t,
                libc::SYS_socketpair,
                &[libc::AF_INET as u64, STREAM, 0, FDS]
            ),
            e(libc::EOPNOTSUPP)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_socket, &[AF_UNIX, 77, 0]),
            e(libc::EINVAL)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_socketpair, &[AF_UNIX, STREAM, 0, 8]),
            e(libc::EFAULT)
        );
        let (a, _b) = pair(&mut k, t, libc::SOCK_DGRAM as u64);
        // A control message longer than the buffer, one shorter than its header, an fd
        // that is not open, an unknown type.
        for (len, fd, ty, want) in [
            (1000u64, 0i32, libc::SCM_RIGHTS, libc::EINVAL),
            (8, 0, libc::SCM_RIGHTS, libc::EINVAL),
            (20, 999, libc::SCM_RIGHTS, libc::EBADF),
            (20, 0, 77, libc::EINVAL),
        ] {
            let mut c = len.to_le_bytes().to_vec();
            c.extend_from_slice(&libc::SOL_SOCKET.to_le_bytes());
            c.extend_from_slice(&ty.to_le_bytes());
            c.extend_from_slice(&fd.to_le_bytes());
            c.extend_from_slice(&[0; 4]);
            k.put(t, CTL, &c);
            msghdr(&mut k, t, 1, 24);
            assert_eq!(
                call(&mut k, t, libc::SYS_sendmsg, &[a, HDR, 0]),
                e(want),
                "cmsg {len} {fd} {ty}"
            );
        }
        msghdr(&mut k, t, 1, 1 << 40);
        assert_eq!(
            call(&mut k, t, libc::SYS_sendmsg, &[a, HDR, 0]),
            e(libc::ENOBUFS)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_sendmsg, &[a, 8, 0]),
            e(libc::EFAULT)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_sendto, &[a, 8, 4, 0, 0, 0]),
            e(libc::EFAULT)
        );
        // Addresses: too long, too short, another family, a bad pointer.
        let s = call(&mut k, t, libc::SYS_socket, &[AF_UNIX, STREAM, 0]).unwrap() as u64;
        let mut addr = vec![b'a'; 110];
        addr[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_le_bytes());
        k.put(t, ADDR, &addr);
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s, ADDR, 111]),
            e(libc::EINVAL)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s, ADDR, 1]),
            e(libc::EINVAL)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s, ADDR, u64::MAX]),
            e(libc::EINVAL)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s, 8, 110]),
            e(libc::EFAULT)
        );
        // sun_path of 108 bytes without a NUL names a file of 108 bytes.
        assert_eq!(call(&mut k, t, libc::SYS_bind, &[s, ADDR, 110]), Some(0));
        let file = root.path().join("a".repeat(108));
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&file)
            .unwrap()
            .file_type()
            .is_socket());
        addr[..2].copy_from_slice(&(libc::AF_INET as u16).to_le_bytes());
        k.put(t, ADDR, &addr);
        let s2 = call(&mut k, t, libc::SYS_socket, &[AF_UNIX, STREAM, 0]).unwrap() as u64;
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s2, ADDR, 110]),
            e(libc::EINVAL)
        );
        // Not a socket, not a file.
        assert_eq!(call(&mut k, t, libc::SYS_listen, &[900, 1]), e(libc::EBADF));
        assert_eq!(
            call(&mut k, t, libc::SYS_listen, &[a, 1]),
            e(libc::EOPNOTSUPP)
        );
        assert_eq!(call(&mut k, t, libc::SYS_pipe, &[FDS]), Some(0));
        let p = i32::from_le_bytes(k.get(t, FDS, 4).try_into().unwrap()) as u64;
        assert_eq!(
            call(&mut k, t, libc::SYS_listen, &[p, 1]),
            e(libc::ENOTSOCK)
        );
    }

    /// A sockaddr_un at ADDR for abstract name `name`; returns its length.
    fn abstract_addr(k: &mut Kernel, t: i32, name: &[u8]) -> u64 {
        let mut a = (libc::AF_UNIX as u16).to_le_bytes().to_vec();
        a.push(0);
        a.extend_from_slice(name);
        k.put(t, ADDR, &a);
        a.len() as u64
    }

    #[test]
    fn a_path_name_is_a_socket_file_that_connect_finds() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let l = call(&mut k, t, libc::SYS_socket, &[AF_UNIX, STREAM | NB, 0]).unwrap() as u64;
        let mut a = (libc::AF_UNIX as u16).to_le_bytes().to_vec();
        a.extend_from_slice(b"/srv.sock\0");
        k.put(t, ADDR, &a);
        let alen = a.len() as u64;
        assert_eq!(call(&mut k, t, libc::SYS_bind, &[l, ADDR, alen]), Some(0));
        use std::os::unix::fs::FileTypeExt;
        let st = std::fs::symlink_metadata(root.path().join("srv.sock")).unwrap();
        assert!(st.file_type().is_socket());
        let c = call(&mut k, t, libc::SYS_socket, &[AF_UNIX, STREAM | NB, 0]).unwrap() as u64;
        assert_eq!(
            call(&mut k, t, libc::SYS_connect, &[c, ADDR, alen]),
            e(libc::ECONNREFUSED)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[c, ADDR, alen]),
            e(libc::EADDRINUSE)
        );
        assert_eq!(call(&mut k, t, libc::SYS_listen, &[l, 0]), Some(0));
        assert_eq!(
            call(&mut k, t, libc::SYS_accept, &[l, 0, 0]),
            e(libc::EAGAIN)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_connect, &[c, ADDR, alen]),
            Some(0)
        );
        // Backlog 0: one pending connection, then the queue is full.
        let c2 = call(&mut k, t, libc::SYS_socket, &[AF_UNIX, STREAM | NB, 0]).unwrap() as u64;
        assert_eq!(
            call(&mut k, t, libc::SYS_connect, &[c2, ADDR, alen]),
            e(libc::EAGAIN)
        );
        assert_eq!(write(&mut k, t, c, b"hi"), Some(2));
        let s = call(&mut k, t, libc::SYS_accept, &[l, 0, 0]).unwrap() as u64;
        assert_eq!(read(&mut k, t, s, 10).unwrap(), b"hi");
        // An abstract name is in no file system.
        let d = call(
            &mut k,
            t,
            libc::SYS_socket,
            &[AF_UNIX, libc::SOCK_DGRAM as u64, 0],
        )
        .unwrap() as u64;
        let alen = abstract_addr(&mut k, t, b"abs");
        assert_eq!(call(&mut k, t, libc::SYS_bind, &[d, ADDR, alen]), Some(0));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn bytes_files_and_pending_connections_survive_a_checkpoint() {
        use crate::persist::testing::round_trip;
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        // A pair with bytes and a pipe's read end in flight.
        let (a, b) = pair(&mut k, t, libc::SOCK_SEQPACKET as u64);
        assert_eq!(call(&mut k, t, libc::SYS_pipe, &[FDS]), Some(0));
        let p = k.get(t, FDS, 8);
        let pr = i32::from_le_bytes(p[..4].try_into().unwrap());
        let pw = i32::from_le_bytes(p[4..].try_into().unwrap()) as u64;
        assert_eq!(write(&mut k, t, pw, b"pipe bytes"), Some(10));
        let clen = rights(&mut k, t, &[pr]);
        k.put(t, BUF, b"in flight");
        msghdr(&mut k, t, 9, clen);
        assert_eq!(call(&mut k, t, libc::SYS_sendmsg, &[a, HDR, 0]), Some(9));
        assert_eq!(call(&mut k, t, libc::SYS_close, &[pr as u64]), Some(0));
        // A listener with a pending connection that already sent something.
        let l = call(&mut k, t, libc::SYS_socket, &[AF_UNIX, STREAM, 0]).unwrap() as u64;
        let alen = abstract_addr(&mut k, t, b"listener");
        assert_eq!(call(&mut k, t, libc::SYS_bind, &[l, ADDR, alen]), Some(0));
        assert_eq!(call(&mut k, t, libc::SYS_listen, &[l, 5]), Some(0));
        let c = call(&mut k, t, libc::SYS_socket, &[AF_UNIX, STREAM, 0]).unwrap() as u64;
        assert_eq!(
            call(&mut k, t, libc::SYS_connect, &[c, ADDR, alen]),
            Some(0)
        );
        assert_eq!(write(&mut k, t, c, b"early"), Some(5));

        let files = k.task(t).files.clone();
        let (saved, back) = round_trip(&[&files]);
        assert!(saved.shared.len() >= 5, "pipe and four endpoints");
        let t2 = k.test_process(0, 0);
        k.set_files(t2, back[0].clone());
        let (data, fds, _) = recv_rights(&mut k, t2, b, 1);
        assert_eq!((data.as_slice(), fds.len()), (&b"in flight"[..], 1));
        assert_eq!(read(&mut k, t2, fds[0] as u64, 64).unwrap(), b"pipe bytes");
        let s = call(&mut k, t2, libc::SYS_accept, &[l, 0, 0]).unwrap();
        assert!(s >= 0, "accept after restore: {s}");
        assert_eq!(read(&mut k, t2, s as u64, 64).unwrap(), b"early");
        assert_eq!(write(&mut k, t2, s as u64, b"reply"), Some(5));
        assert_eq!(read(&mut k, t2, c, 64).unwrap(), b"reply");
        // The peers are linked again: closing one end is the other's end of file.
        assert_eq!(call(&mut k, t2, libc::SYS_close, &[s as u64]), Some(0));
        assert_eq!(read(&mut k, t2, c, 64).unwrap(), b"");
        assert_eq!(call(&mut k, t2, libc::SYS_close, &[a]), Some(0));
        assert_eq!(read(&mut k, t2, b, 64).unwrap(), b"");
    }

    /// A sockaddr_in for 127.0.0.1:`port` at ADDR; returns its length.
    fn sin(k: &mut Kernel, t: i32, ip: [u8; 4], port: u16) -> u64 {
        let mut a = vec![0u8; 16];
        a[..2].copy_from_slice(&(libc::AF_INET as u16).to_le_bytes());
        a[2..4].copy_from_slice(&port.to_be_bytes());
        a[4..8].copy_from_slice(&ip);
        k.put(t, ADDR, &a);
        16
    }

    /// The port socket `s` is bound to.
    fn port_of(k: &mut Kernel, t: i32, s: u64) -> u16 {
        k.put(t, FDS, &128u32.to_le_bytes());
        assert_eq!(call(k, t, libc::SYS_getsockname, &[s, ADDR, FDS]), Some(0));
        let a = k.get(t, ADDR, 4);
        u16::from_be_bytes([a[2], a[3]])
    }

    const INET: u64 = libc::AF_INET as u64;

    #[test]
    fn beyond_loopback_the_host_decides() {
        // An address the host's namespace lacks (TEST-NET-3) is not bound; a socket bound
        // to loopback reaches nothing beyond it. (Nothing here leaves the host.)
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let s = call(&mut k, t, libc::SYS_socket, &[INET, STREAM, 0]).unwrap() as u64;
        let far = sin(&mut k, t, [203, 0, 113, 9], 80);
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s, ADDR, far]),
            e(libc::EADDRNOTAVAIL)
        );
        let lo = sin(&mut k, t, [127, 0, 0, 1], 0);
        assert_eq!(call(&mut k, t, libc::SYS_bind, &[s, ADDR, lo]), Some(0));
        let len = sin(&mut k, t, [203, 0, 113, 9], 80);
        assert_eq!(
            call(&mut k, t, libc::SYS_connect, &[s, ADDR, len]),
            e(libc::EINVAL)
        );
        let u = call(
            &mut k,
            t,
            libc::SYS_socket,
            &[INET, libc::SOCK_DGRAM as u64, 0],
        )
        .unwrap() as u64;
        let lo = sin(&mut k, t, [127, 0, 0, 1], 0);
        assert_eq!(call(&mut k, t, libc::SYS_bind, &[u, ADDR, lo]), Some(0));
        let len = sin(&mut k, t, [203, 0, 113, 9], 53);
        k.put(t, BUF, b"x");
        assert_eq!(
            call(&mut k, t, libc::SYS_sendto, &[u, BUF, 1, 0, ADDR, len]),
            e(libc::EINVAL)
        );
        // Raw sockets are not served.
        assert_eq!(
            call(
                &mut k,
                t,
                libc::SYS_socket,
                &[INET, libc::SOCK_RAW as u64, 1]
            ),
            e(libc::EPROTONOSUPPORT)
        );
    }

    #[test]
    fn a_tcp_connection_and_a_pending_one_survive_a_checkpoint() {
        use crate::persist::testing::round_trip;
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let l = call(&mut k, t, libc::SYS_socket, &[INET, STREAM, 0]).unwrap() as u64;
        let len = sin(&mut k, t, [127, 0, 0, 1], 0);
        assert_eq!(call(&mut k, t, libc::SYS_bind, &[l, ADDR, len]), Some(0));
        assert_eq!(call(&mut k, t, libc::SYS_listen, &[l, 4]), Some(0));
        let port = port_of(&mut k, t, l);
        // An accepted connection with bytes in flight both ways.
        let c = call(&mut k, t, libc::SYS_socket, &[INET, STREAM, 0]).unwrap() as u64;
        let len = sin(&mut k, t, [127, 0, 0, 1], port);
        assert_eq!(call(&mut k, t, libc::SYS_connect, &[c, ADDR, len]), Some(0));
        let s = call(&mut k, t, libc::SYS_accept, &[l, 0, 0]).unwrap() as u64;
        assert_eq!(write(&mut k, t, c, b"to server"), Some(9));
        assert_eq!(write(&mut k, t, s, b"to client"), Some(9));
        // A pending connection that sent something.
        let p = call(&mut k, t, libc::SYS_socket, &[INET, STREAM, 0]).unwrap() as u64;
        let len = sin(&mut k, t, [127, 0, 0, 1], port);
        assert_eq!(call(&mut k, t, libc::SYS_connect, &[p, ADDR, len]), Some(0));
        assert_eq!(write(&mut k, t, p, b"early"), Some(5));

        let files = k.task(t).files.clone();
        // A new kernel, as a restore has: its ports table learns the restored sockets.
        let root2 = tempfile::tempdir().unwrap();
        let mut k2 = kernel(root2.path());
        let t2 = k2.test_process(0, 0);
        let (saved, back) = k2.restoring(|| round_trip(&[&files]));
        assert!(saved.shared.len() >= 5, "listener and four ends");
        k2.set_files(t2, back[0].clone());
        k2.register_restored_sockets(t2);
        assert_eq!(read(&mut k2, t2, s, 64).unwrap(), b"to server");
        assert_eq!(read(&mut k2, t2, c, 64).unwrap(), b"to client");
        assert_eq!(write(&mut k2, t2, c, b"more"), Some(4));
        assert_eq!(read(&mut k2, t2, s, 64).unwrap(), b"more");
        let s2 = call(&mut k2, t2, libc::SYS_accept, &[l, 0, 0]).unwrap();
        assert!(s2 >= 0, "accept after restore: {s2}");
        assert_eq!(read(&mut k2, t2, s2 as u64, 64).unwrap(), b"early");
        // The listener is bound again: its port is taken, and a new client reaches it.
        let other = call(&mut k2, t2, libc::SYS_socket, &[INET, STREAM, 0]).unwrap() as u64;
        let len = sin(&mut k2, t2, [127, 0, 0, 1], port);
        assert_eq!(
            call(&mut k2, t2, libc::SYS_bind, &[other, ADDR, len]),
            e(libc::EADDRINUSE)
        );
        assert_eq!(
            call(&mut k2, t2, libc::SYS_connect, &[other, ADDR, len]),
            Some(0)
        );
        assert!(call(&mut k2, t2, libc::SYS_accept, &[l, 0, 0]).unwrap() >= 0);
        // The peers are linked again: closing one end is the other's end of file.
        assert_eq!(call(&mut k2, t2, libc::SYS_close, &[s]), Some(0));
        assert_eq!(read(&mut k2, t2, c, 64).unwrap(), b"");
    }

    const NETLINK: u64 = libc::AF_NETLINK as u64;
    const RAW: u64 = libc::SOCK_RAW as u64;

    /// A `struct sockaddr_nl` at ADDR; returns its length.
    fn snl(k: &mut Kernel, t: i32, pid: u32, groups: u32) -> u64 {
        let mut a = vec![0u8; 12];
        a[..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_le_bytes());
        a[4..8].copy_from_slice(&pid.to_le_bytes());
        a[8..12].copy_from_slice(&groups.to_le_bytes());
        k.put(t, ADDR, &a);
        12
    }

    /// The nl_pid socket `s` is bound to.
    fn nl_pid(k: &mut Kernel, t: i32, s: u64) -> u32 {
        k.put(t, FDS, &12u32.to_le_bytes());
        assert_eq!(call(k, t, libc::SYS_getsockname, &[s, ADDR, FDS]), Some(0));
        u32::from_le_bytes(k.get(t, ADDR + 4, 4).try_into().unwrap())
    }

    /// Sends an RTM_GETLINK dump request with sequence number `seq` on `s`.
    fn ask_links(k: &mut Kernel, t: i32, s: u64, seq: u32) {
        let mut m = 32u32.to_le_bytes().to_vec();
        m.extend_from_slice(&libc::RTM_GETLINK.to_le_bytes());
        m.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_le_bytes());
        m.extend_from_slice(&seq.to_le_bytes());
        m.extend_from_slice(&[0; 4 + 16]);
        k.put(t, BUF, &m);
        let len = snl(k, t, 0, 0);
        assert_eq!(
            call(k, t, libc::SYS_sendto, &[s, BUF, 32, 0, ADDR, len]),
            Some(32)
        );
    }

    /// Reads datagrams from `s` until NLMSG_DONE, as iproute2 does: a peek with
    /// MSG_TRUNC for the length, then the datagram. Returns the messages' (type, seq, pid).
    fn read_dump(k: &mut Kernel, t: i32, s: u64) -> Vec<(u16, u32, u32)> {
        let mut out = Vec::new();
        loop {
            msghdr(k, t, 0, 0);
            let peek = (libc::MSG_PEEK | libc::MSG_TRUNC) as u64;
            let n = call(k, t, libc::SYS_recvmsg, &[s, HDR, peek]).unwrap();
            assert!(n > 0, "peek: {n}");
            let h = k.get(t, HDR, 56);
            assert_eq!(
                i32::from_le_bytes(h[48..52].try_into().unwrap()) & libc::MSG_TRUNC,
                libc::MSG_TRUNC
            );
            let got = read(k, t, s, n as usize).unwrap();
            assert_eq!(got.len(), n as usize, "the peeked length is the datagram's");
            let mut b = &got[..];
            while b.len() >= 16 {
                let len = u32::from_le_bytes(b[..4].try_into().unwrap()) as usize;
                let ty = u16::from_le_bytes(b[4..6].try_into().unwrap());
                let seq = u32::from_le_bytes(b[8..12].try_into().unwrap());
                let pid = u32::from_le_bytes(b[12..16].try_into().unwrap());
                out.push((ty, seq, pid));
                if ty == libc::NLMSG_DONE as u16 {
                    return out;
                }
                b = &b[((len + 3) & !3).min(b.len())..];
            }
        }
    }

    #[test]
    fn a_netlink_route_socket_dumps_the_links_under_its_port() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let s = call(&mut k, t, libc::SYS_socket, &[NETLINK, RAW, 0]).unwrap() as u64;
        assert_eq!(nl_pid(&mut k, t, s), 0, "unbound");
        let len = snl(&mut k, t, 0, 0);
        assert_eq!(call(&mut k, t, libc::SYS_bind, &[s, ADDR, len]), Some(0));
        // As Linux: the first socket of a process gets its tgid, the next a negative one.
        let pid = nl_pid(&mut k, t, s);
        assert_eq!(pid as i32, k.task(t).tgid);
        let s2 = call(
            &mut k,
            t,
            libc::SYS_socket,
            &[NETLINK, libc::SOCK_DGRAM as u64, 0],
        );
        let s2 = s2.unwrap() as u64;
        ask_links(&mut k, t, s2, 1);
        assert!((nl_pid(&mut k, t, s2) as i32) < 0, "autobound by the send");
        let len = snl(&mut k, t, pid, 0);
        let s3 = call(&mut k, t, libc::SYS_socket, &[NETLINK, RAW, 0]).unwrap() as u64;
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s3, ADDR, len]),
            e(libc::EADDRINUSE)
        );
        ask_links(&mut k, t, s, 7);
        let msgs = read_dump(&mut k, t, s);
        assert!(msgs.len() >= 2, "lo and NLMSG_DONE: {msgs:?}");
        for (ty, seq, p) in &msgs {
            assert_eq!((*seq, *p), (7, pid));
            assert!(*ty == libc::RTM_NEWLINK || *ty == libc::NLMSG_DONE as u16);
        }
        // Nothing more: a non-blocking read says EAGAIN, a blocking one parks.
        let dontwait = libc::MSG_DONTWAIT as u64;
        assert_eq!(
            call(&mut k, t, libc::SYS_recvfrom, &[s, BUF, 64, dontwait, 0, 0]),
            e(libc::EAGAIN)
        );
        assert_eq!(read(&mut k, t, s, 64), Err(None));
    }

    #[test]
    fn netlink_refuses_what_linux_refuses() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let sock = |k: &mut Kernel, ty: u64, proto: u64| {
            call(k, t, libc::SYS_socket, &[NETLINK, ty, proto])
        };
        assert_eq!(sock(&mut k, STREAM, 0), e(libc::ESOCKTNOSUPPORT));
        let audit = libc::NETLINK_AUDIT as u64;
        assert_eq!(sock(&mut k, RAW, audit), e(libc::EPROTONOSUPPORT));
        let s = sock(&mut k, RAW, 0).unwrap() as u64;
        // Only the kernel is a peer; another port or a group needs CAP_NET_ADMIN.
        let len = snl(&mut k, t, 1234, 0);
        assert_eq!(
            call(&mut k, t, libc::SYS_connect, &[s, ADDR, len]),
            e(libc::EPERM)
        );
        k.put(t, BUF, &[0; 20]);
        assert_eq!(
            call(&mut k, t, libc::SYS_sendto, &[s, BUF, 20, 0, ADDR, len]),
            e(libc::EPERM)
        );
        let len = snl(&mut k, t, 0, 1);
        assert_eq!(
            call(&mut k, t, libc::SYS_connect, &[s, ADDR, len]),
            e(libc::EPERM)
        );
        // A short or foreign address is EINVAL; an unreadable one EFAULT.
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s, ADDR, 8]),
            e(libc::EINVAL)
        );
        sin(&mut k, t, [127, 0, 0, 1], 0);
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s, ADDR, 12]),
            e(libc::EINVAL)
        );
        assert_eq!(
            call(&mut k, t, libc::SYS_bind, &[s, 8, 12]),
            e(libc::EFAULT)
        );
        // A dump read into memory the guest does not have.
        ask_links(&mut k, t, s, 1);
        assert_eq!(
            call(&mut k, t, libc::SYS_recvfrom, &[s, 8, 4096, 0, 0, 0]),
            e(libc::EFAULT)
        );
        // The options iproute2 sets.
        for (level, name, v) in [
            (libc::SOL_SOCKET, libc::SO_SNDBUF, 32768i32),
            (libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20),
            (270, 11, 1), // NETLINK_EXT_ACK
            (270, 12, 1), // NETLINK_GET_STRICT_CHK
        ] {
            k.put(t, BUF, &v.to_le_bytes());
            let args = [s, level as u64, name as u64, BUF, 4];
            assert_eq!(call(&mut k, t, libc::SYS_setsockopt, &args), Some(0));
        }
        k.put(t, FDS, &4u32.to_le_bytes());
        let args = [s, libc::SOL_SOCKET as u64, libc::SO_SNDBUF as u64, BUF, FDS];
        assert_eq!(call(&mut k, t, libc::SYS_getsockopt, &args), Some(0));
        assert_eq!(k.get(t, BUF, 4), 65536i32.to_le_bytes());
    }

    #[test]
    fn a_netlink_socket_with_a_dump_queued_survives_a_checkpoint() {
        use crate::persist::testing::round_trip;
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let s = call(&mut k, t, libc::SYS_socket, &[NETLINK, RAW, 0]).unwrap() as u64;
        ask_links(&mut k, t, s, 3);
        let pid = nl_pid(&mut k, t, s);
        // The expected dump, read on another socket now.
        let other = call(&mut k, t, libc::SYS_socket, &[NETLINK, RAW, 0]).unwrap() as u64;
        ask_links(&mut k, t, other, 3);
        let want: Vec<u16> = read_dump(&mut k, t, other).iter().map(|m| m.0).collect();

        let files = k.task(t).files.clone();
        let root2 = tempfile::tempdir().unwrap();
        let mut k2 = kernel(root2.path());
        let t2 = k2.test_process(0, 0);
        let (_, back) = k2.restoring(|| round_trip(&[&files]));
        k2.set_files(t2, back[0].clone());
        k2.register_restored_sockets(t2);
        let got = read_dump(&mut k2, t2, s);
        assert_eq!(got.iter().map(|m| m.0).collect::<Vec<_>>(), want);
        assert!(got.iter().all(|m| m.1 == 3 && m.2 == pid));
        // Its port is taken in the restored kernel.
        let s2 = call(&mut k2, t2, libc::SYS_socket, &[NETLINK, RAW, 0]).unwrap() as u64;
        let len = snl(&mut k2, t2, pid, 0);
        assert_eq!(
            call(&mut k2, t2, libc::SYS_bind, &[s2, ADDR, len]),
            e(libc::EADDRINUSE)
        );
    }

    #[test]
    fn interface_ioctls_answer_from_the_namespace_and_refuse_changes() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let s = call(
            &mut k,
            t,
            libc::SYS_socket,
            &[INET, libc::SOCK_DGRAM as u64, 0],
        );
        let s = s.unwrap() as u64;
        let ifreq = |k: &mut Kernel, name: &[u8]| {
            let mut r = [0u8; 40];
            r[..name.len()].copy_from_slice(name);
            k.put(t, BUF, &r);
        };
        let ioctl =
            |k: &mut Kernel, req: u64, arg: u64| call(k, t, libc::SYS_ioctl, &[s, req, arg]);
        ifreq(&mut k, b"lo");
        assert_eq!(ioctl(&mut k, libc::SIOCGIFINDEX, BUF), Some(0));
        let index = i32::from_le_bytes(k.get(t, BUF + 16, 4).try_into().unwrap());
        assert!(index > 0);
        // Back from the index to the name.
        let mut r = [0u8; 40];
        r[16..20].copy_from_slice(&index.to_le_bytes());
        k.put(t, BUF, &r);
        assert_eq!(ioctl(&mut k, libc::SIOCGIFNAME, BUF), Some(0));
        assert_eq!(k.get(t, BUF, 3), b"lo\0");
        ifreq(&mut k, b"lo");
        assert_eq!(ioctl(&mut k, libc::SIOCGIFFLAGS, BUF), Some(0));
        let flags = u16::from_le_bytes(k.get(t, BUF + 16, 2).try_into().unwrap());
        assert_ne!(flags & libc::IFF_LOOPBACK as u16, 0);
        ifreq(&mut k, b"nosuch0");
        assert_eq!(ioctl(&mut k, libc::SIOCGIFMTU, BUF), e(libc::ENODEV));
        // Hostile pointers, and changes without CAP_NET_ADMIN in the namespace.
        assert_eq!(ioctl(&mut k, libc::SIOCGIFFLAGS, 8), e(libc::EFAULT));
        assert_eq!(ioctl(&mut k, libc::SIOCGIFCONF, 8), e(libc::EFAULT));
        let mut c = 400i32.to_le_bytes().to_vec();
        c.extend_from_slice(&[0; 4]);
        c.extend_from_slice(&8u64.to_le_bytes());
        k.put(t, HDR, &c);
        let (_, addrs) = crate::net::ifreq::interfaces(&crate::net::ns::NetNs::initial()).unwrap();
        let want = if addrs.is_empty() {
            Some(0)
        } else {
            e(libc::EFAULT)
        };
        assert_eq!(ioctl(&mut k, libc::SIOCGIFCONF, HDR), want);
        ifreq(&mut k, b"lo");
        assert_eq!(ioctl(&mut k, libc::SIOCSIFFLAGS, BUF), e(libc::EPERM));
        assert_eq!(ioctl(&mut k, libc::SIOCSIFMTU, BUF), e(libc::EPERM));
    }
}
