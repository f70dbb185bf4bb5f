//! Sockets: what every socket family implements ([`Socket`]), and the families. AF_UNIX
//! lives entirely in the sentry (`unix.rs`), as do TCP and UDP over loopback (`inet.rs`);
//! TCP and UDP to and from anything else go through host sockets of the container's
//! network namespace (`inet/host.rs`, their host calls in `host_sys.rs`); NETLINK_ROUTE
//! sockets (`netlink.rs`) answer from that namespace's interfaces, addresses and routes;
//! other families are refused by `socket(2)` with EAFNOSUPPORT. That is the sandbox's
//! initial network namespace; a namespace a task makes (`ns.rs`) has only its own
//! loopback, and its sockets never reach the host.
//!
//! A socket is an open-file kind ([`FileImpl`]) that [`socket_of`] also finds as a
//! [`Socket`]: the socket calls (`syscalls/socket.rs`) decode the guest's arguments
//! (addresses, iovecs, control messages) and reach the family through this trait; read(2)
//! and write(2) reach it as any open file.
//!
//! `net` sits below the kernel and does not import it: what a socket needs from the kernel
//! for the calling task (its credentials, path walk, object ids, the bound names) comes
//! through [`SocketCtx`], which the kernel's `SysCtx` implements; the socket files bound in
//! a sandbox ([`Bindings`]) and the network namespaces ([`ns::NetNs`], which hold the
//! other names: abstract unix names, inet and netlink ports) are net's own types, which the
//! kernel and its tasks hold.

pub(crate) mod host_sys;
pub(crate) mod ifreq;
pub(crate) mod inet;
pub(crate) mod netlink;
pub(crate) mod ns;
pub(crate) mod unix;

use crate::creds::{Creds, Inode};
use crate::fs::file::{FileImpl, FileRef, IoErr};
use crate::fs::{Resolved, Vfs};
use crate::mm::Errno;

/// The kernel's services a socket uses, for the task making the call.
pub(crate) trait SocketCtx {
    /// The task's credentials.
    fn creds(&self) -> &Creds;
    /// The task's thread-group id (its pid, as SO_PEERCRED reports it).
    fn tgid(&self) -> i32;
    /// The task's umask (a bound socket file's mode).
    fn umask(&self) -> u32;
    /// Walks `path` as the task (relative to its cwd).
    fn resolve(&self, path: &[u8], follow: bool) -> Result<Resolved, Errno>;
    /// lstat of a walked path, as the task.
    fn lstat(&self, r: &Resolved) -> Result<libc::stat, Errno>;
    /// Checks that the task may create the node at `r`; returns its directory.
    fn may_create(&self, r: &Resolved) -> Result<Inode, Errno>;
    /// Gives the node just created at `r`, in `dir`, to the task.
    fn give_to_creator(&self, r: &Resolved, dir: &Inode, mode: Option<u32>) -> Result<(), Errno>;
    /// A new kernel object id (a socket's inode number, a shared object's saved id).
    fn new_obj_id(&mut self) -> u64;
    /// The mounts and the file systems under them.
    fn vfs(&self) -> &Vfs;
    /// The socket files bound in the sandbox.
    fn bindings(&mut self) -> &mut Bindings;
    /// The task's network namespace (a new socket's).
    fn net(&self) -> ns::NetRef;
}

/// The socket files bound in a sandbox (the other names are a network namespace's). The
/// kernel holds one; it is not saved (restore registers the restored sockets again:
/// [`Bindings::register_restored`]).
#[derive(Default)]
pub(crate) struct Bindings {
    /// Unix socket files.
    pub(crate) unix: unix::Names,
}

impl Bindings {
    /// Registers the names of the restored sockets among `files`, each in its namespace.
    pub(crate) fn register_restored(&mut self, vfs: &Vfs, files: impl Iterator<Item = FileRef>) {
        let files: Vec<FileRef> = files.collect();
        inet::register_restored(files.iter().cloned());
        netlink::register_restored(files.iter().cloned());
        unix::register_restored(&mut self.unix, vfs, files.into_iter());
    }
}

/// An open file of a new socket (`imp`, whose endpoint is object `id`), as socket(2),
/// socketpair(2) and accept(2) make it.
pub(crate) fn socket_file(imp: Box<dyn FileImpl>, id: u64, nonblock: bool) -> FileRef {
    let flags = libc::O_RDWR | if nonblock { libc::O_NONBLOCK } else { 0 };
    crate::fs::file::OpenFile::new(imp, flags, format!("socket:[{id}]"))
}

/// Checks a saved socket file's endpoint id: the shared table must hold an endpoint of
/// the family's type `E` there.
pub(crate) fn check_endpoint<E: crate::fs::persist::RegisteredShared>(
    cx: &crate::fs::persist::CheckCtx,
    endpoint: u64,
) -> Result<(), crate::checks::Invalid> {
    if !cx.has_shared::<E>(endpoint) {
        return Err(cx.bad("endpoint", format!("{endpoint} does not exist")));
    }
    Ok(())
}

/// The socket an open file is, if it is one: the one list of socket families' file types.
pub(crate) fn socket_of(file: &mut dyn FileImpl) -> Option<&mut dyn Socket> {
    let any = file.as_any_mut();
    if any.is::<unix::UnixSocket>() {
        return any
            .downcast_mut::<unix::UnixSocket>()
            .map(|s| s as &mut dyn Socket);
    }
    if any.is::<inet::InetSocket>() {
        return any
            .downcast_mut::<inet::InetSocket>()
            .map(|s| s as &mut dyn Socket);
    }
    if any.is::<netlink::NetlinkSocket>() {
        return any
            .downcast_mut::<netlink::NetlinkSocket>()
            .map(|s| s as &mut dyn Socket);
    }
    None
}

/// Credentials as SCM_CREDENTIALS and SO_PEERCRED carry them (`struct ucred`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Ucred {
    /// Its bytes as the guest's `struct ucred`.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut b = self.pid.to_le_bytes().to_vec();
        b.extend_from_slice(&self.uid.to_le_bytes());
        b.extend_from_slice(&self.gid.to_le_bytes());
        b
    }
}

/// A message to send, decoded from the guest's sendmsg arguments.
pub(crate) struct SendMsg {
    pub data: Vec<u8>,
    /// The destination address (msg_name), raw.
    pub addr: Option<Vec<u8>>,
    /// Open files passed with SCM_RIGHTS.
    pub rights: Vec<FileRef>,
    /// Credentials passed with SCM_CREDENTIALS (checked against the sender's).
    pub creds: Option<Ucred>,
    /// The sender's own credentials.
    pub sender: Ucred,
}

/// A message received.
#[derive(Default)]
pub(crate) struct RecvMsg {
    pub data: Vec<u8>,
    /// The message's length before truncation (dgram and seqpacket; the data's length for
    /// a stream).
    pub full_len: usize,
    /// The sender's address, raw (None: no address).
    pub addr: Option<Vec<u8>>,
    pub rights: Vec<FileRef>,
    /// Credentials, when the receiver asked for them (SO_PASSCRED).
    pub creds: Option<Ucred>,
    /// No more data will come (a stream's end of file).
    pub eof: bool,
}

/// What a socket family implements; the socket calls reach a socket through it.
pub(crate) trait Socket {
    /// SO_TYPE: SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET.
    fn sock_type(&self) -> i32;
    fn bind(&mut self, c: &mut dyn SocketCtx, addr: &[u8]) -> Result<(), Errno>;
    fn listen(&mut self, backlog: i32) -> Result<(), Errno>;
    /// Takes a pending connection: the new socket and the peer's address.
    fn accept(&mut self, c: &mut dyn SocketCtx) -> Result<(Box<dyn FileImpl>, Vec<u8>), IoErr>;
    /// Connects; `nonblock` for a non-blocking socket (a TCP connect then says EINPROGRESS
    /// where a blocking one would wait).
    fn connect(&mut self, c: &mut dyn SocketCtx, addr: &[u8], nonblock: bool) -> Result<(), IoErr>;
    /// Sends; returns the bytes taken (a stream may take part of them).
    fn sendmsg(&mut self, c: &mut dyn SocketCtx, m: SendMsg) -> Result<usize, IoErr>;
    /// Receives up to `len` bytes; `flags` are MSG_PEEK, MSG_TRUNC and MSG_WAITALL.
    fn recvmsg(&mut self, len: usize, flags: i32) -> Result<RecvMsg, IoErr>;
    /// Whether a receive without flags, addresses or control data goes straight into the
    /// caller's memory ([`Socket::recv_in_place`]), with no buffer of the sentry between:
    /// a TCP connection (the host copies a host socket's bytes into the guest's pages, a
    /// loopback connection's queue is copied there), a unix stream to a host socket.
    fn receives_in_place(&self) -> bool {
        false
    }
    /// That receive, into `bufs` (guest memory); the bytes received, 0 at the end of file.
    /// Called only when `receives_in_place` says so (others say EOPNOTSUPP).
    fn recv_in_place(&mut self, _bufs: &mut [std::io::IoSliceMut<'_>]) -> Result<usize, IoErr> {
        Err(IoErr::Errno(libc::EOPNOTSUPP))
    }
    fn shutdown(&mut self, how: i32) -> Result<(), Errno>;
    /// getsockname(2): the address, raw.
    fn sockname(&self) -> Vec<u8>;
    /// getpeername(2): the peer's address, raw (ENOTCONN without a peer).
    fn peername(&self) -> Result<Vec<u8>, Errno>;
    /// getsockopt(2): the option's bytes (the caller truncates to the guest's length).
    fn getsockopt(&mut self, level: i32, name: i32) -> Result<Vec<u8>, Errno>;
    fn setsockopt(&mut self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno>;
    /// SO_RCVTIMEO and SO_SNDTIMEO in ns (0: none).
    fn timeouts(&self) -> (u64, u64);
    /// Bytes waiting to be read (FIONREAD).
    fn queued(&self) -> usize;
    /// The network namespace it was made in (its interface ioctls').
    fn net(&self) -> ns::NetRef;
}

/// read(2) of a socket: a receive without flags (ESPIPE at an offset). Files passed
/// along are dropped, as Linux does.
pub(crate) fn read(s: &mut dyn Socket, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
    if off.is_some() {
        return Err(IoErr::Errno(libc::ESPIPE));
    }
    Ok(s.recvmsg(len, 0)?.data)
}

/// An int option's value, as setsockopt takes it (EINVAL when shorter than an int).
pub(crate) fn int_opt(val: &[u8]) -> Result<i32, Errno> {
    if val.len() < 4 {
        return Err(libc::EINVAL);
    }
    Ok(i32::from_le_bytes(val[..4].try_into().expect("4")))
}

/// A `struct timeval` option (SO_RCVTIMEO, SO_SNDTIMEO) in ns (0: none); EDOM when out of
/// range.
pub(crate) fn timeval_opt(val: &[u8]) -> Result<u64, Errno> {
    if val.len() < 16 {
        return Err(libc::EINVAL);
    }
    let sec = i64::from_le_bytes(val[..8].try_into().expect("8"));
    let usec = i64::from_le_bytes(val[8..16].try_into().expect("8"));
    if !(0..1_000_000).contains(&usec) {
        return Err(libc::EDOM);
    }
    if sec < 0 {
        // As Linux: a negative timeout is one that has always passed (waits end at
        // once with EAGAIN; 1 ns, as 0 is no timeout). It reads back as zero.
        return Ok(1);
    }
    Ok((sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(usec as u64 * 1000))
}

/// A timeout in ns as a `struct timeval`.
pub(crate) fn timeval_bytes(ns: u64) -> Vec<u8> {
    let mut b = ((ns / 1_000_000_000) as i64).to_le_bytes().to_vec();
    b.extend_from_slice(&(((ns % 1_000_000_000) / 1000) as i64).to_le_bytes());
    b
}
