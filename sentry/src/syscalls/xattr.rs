//! setxattr, getxattr, listxattr, removexattr and their l* and f* forms (xattr(7)).
//!
//! The checks are Linux's, in its order: the flags, the name (1 to 255 bytes, ERANGE) and
//! the value (at most 64 KiB, E2BIG) first, then the file (ENOENT, EBADF: an O_PATH
//! description too), a read-only mount (EROFS), then `xattr_permission`: `user.*` only on
//! regular files and directories (EPERM to write, ENODATA to read), on a sticky directory
//! written only by its owner (or CAP_FOWNER), read or write permission on the file;
//! `trusted.*` only with CAP_SYS_ADMIN (EPERM to write, ENODATA to read); writing
//! `security.*` needs CAP_SYS_ADMIN too (the capability hook).
//!
//! What is kept: `user.*` attributes of host-backed files (the rootfs, bind mounts and
//! tmpfs), which are the host file's own (`fs::xattr`). `trusted.*` and `security.*` are
//! never passed to the host, so they are not kept (a privileged set or remove is
//! EOPNOTSUPP, gets find none), nor are `system.*` (no ACLs: EOPNOTSUPP) or the attributes of files that
//! are not host files (pipes, sockets, procfs and /dev nodes, memfds).

use std::os::fd::{AsFd, OwnedFd};

use super::ret;
use crate::creds::{Creds, Inode, CAP_SYS_ADMIN, MAY_READ, MAY_WRITE};
use crate::fs::file::FileRef;
use crate::fs::xattr::{self, Space, LIST_MAX, NAME_MAX, SIZE_MAX};
use crate::fs::{inotify, MountFs};
use crate::kernel::{Sys, SysCtx};
use crate::mm::Errno;

/// What the call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Set,
    Get,
    List,
    Remove,
}

/// What the call names: a path (following a final symlink or not), or an fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    Path { follow: bool },
    Fd,
}

/// The file an attribute call acts on, looked up.
struct Node {
    st: libc::stat,
    /// A host fd holding its `user.*` attributes (a host regular file or directory).
    host: Option<Host>,
    readonly: bool,
    /// Where inotify hears of a change.
    notify: Notify,
}

enum Host {
    Owned(OwnedFd),
    File(FileRef),
}

enum Notify {
    Path(Option<inotify::Target>),
    File(FileRef),
}

/// One of the twelve calls.
pub(super) fn xattr(c: &mut SysCtx, op: Op, at: At) -> Sys {
    ret(call(c, op, at))
}

fn call(c: &mut SysCtx, op: Op, at: At) -> Result<i64, Errno> {
    let a = c.args();
    // The arguments after the file: (name, value, size, flags), or (list, size).
    let (name, value) = match op {
        Op::Set => {
            // (An int: the upper half of the register is not looked at.)
            if a[4] as i32 & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
                return Err(libc::EINVAL);
            }
            let name = read_name(c, a[1])?;
            if a[3] as usize > SIZE_MAX {
                return Err(libc::E2BIG);
            }
            let value = match a[3] {
                0 => Vec::new(),
                n => c.read_mem(a[2], n as usize)?,
            };
            (name, value)
        }
        Op::Get | Op::Remove => (read_name(c, a[1])?, Vec::new()),
        Op::List => (Vec::new(), Vec::new()),
    };
    if op == Op::Set && name == b"security.capability" && !caps_header(&value) {
        return Err(libc::EINVAL);
    }
    let node = lookup(c, at, a[0], op == Op::List)?;
    match op {
        Op::List => {
            let names = match &node.host {
                Some(h) => with_fd(h, xattr::list_user)?,
                None => Vec::new(),
            };
            out(c, a[1], a[2], &names, LIST_MAX)
        }
        Op::Get => {
            permission(c.creds(), &node, &name, op)?;
            let v = match &node.host {
                Some(h) => with_fd(h, |fd| xattr::get(fd, &name))?,
                None => return Err(libc::ENODATA),
            };
            out(c, a[2], a[3], &v, SIZE_MAX)
        }
        Op::Set | Op::Remove => {
            if node.readonly {
                return Err(libc::EROFS);
            }
            permission(c.creds(), &node, &name, op)?;
            match (&node.host, op) {
                (Some(h), Op::Set) => with_fd(h, |fd| xattr::set(fd, &name, &value, a[4] as i32))?,
                (Some(h), _) => with_fd(h, |fd| xattr::remove(fd, &name))?,
                (None, _) => return Err(not_kept(op)),
            }
            match &node.notify {
                Notify::Path(t) => {
                    if let Some(t) = t {
                        t.event(inotify::IN_ATTRIB);
                    }
                }
                Notify::File(f) => f.borrow().notify_inode(inotify::IN_ATTRIB),
            }
            Ok(0)
        }
    }
}

/// Whether `v` starts as a `security.capability` value must (cap_convert_nscap checks
/// it before any permission): a version 2 header of 20 bytes or a version 3 one of 24.
fn caps_header(v: &[u8]) -> bool {
    const FLAGS_EFFECTIVE: u32 = 1;
    let magic = match v.get(..4) {
        Some(m) => u32::from_le_bytes(m.try_into().expect("4 bytes")) & !FLAGS_EFFECTIVE,
        None => return false,
    };
    matches!((v.len(), magic), (20, 0x0200_0000) | (24, 0x0300_0000))
}

/// An attribute name from the guest: EFAULT, or ERANGE when empty or longer than 255.
fn read_name(c: &SysCtx, addr: u64) -> Result<Vec<u8>, Errno> {
    let name = c.read_cstr(addr, NAME_MAX).map_err(|e| match e {
        libc::ENAMETOOLONG => libc::ERANGE,
        e => e,
    })?;
    xattr::check_name(&name)?;
    Ok(name)
}

/// Runs `f` on the host fd of a node.
fn with_fd<T>(
    h: &Host,
    f: impl FnOnce(std::os::fd::BorrowedFd) -> Result<T, Errno>,
) -> Result<T, Errno> {
    match h {
        Host::Owned(fd) => f(fd.as_fd()),
        Host::File(file) => {
            let b = file.borrow();
            match b.imp.xattr_fd() {
                Some(fd) => f(fd),
                None => Err(libc::EOPNOTSUPP),
            }
        }
    }
}

/// The file the call names, with what the checks need.
fn lookup(c: &mut SysCtx, at: At, arg: u64, list: bool) -> Result<Node, Errno> {
    let of_file = |f: FileRef, st: libc::stat| {
        let host = f.borrow().imp.xattr_fd().is_some();
        Node {
            st,
            host: host.then(|| Host::File(f.clone())),
            readonly: false,
            notify: Notify::File(f),
        }
    };
    match at {
        At::Fd => {
            let f = c.file(arg)?;
            // An O_PATH description: EBADF.
            let st = f.borrow_mut().io()?.stat()?;
            Ok(of_file(f, st))
        }
        At::Path { follow } => {
            let p = c.read_path(arg)?;
            let r = c.resolve(&p, follow)?;
            if let Some(f) = r.file.clone() {
                let st = f.borrow().imp.stat()?;
                return Ok(of_file(f, st));
            }
            if !r.exists {
                return Err(libc::ENOENT);
            }
            let st = c.lstat(&r)?;
            let fmt = st.st_mode & libc::S_IFMT;
            let host_fs = matches!(c.vfs().mounts[r.mount].fs, MountFs::Host { .. });
            let host = match fmt {
                libc::S_IFREG | libc::S_IFDIR if host_fs => {
                    let dir = if fmt == libc::S_IFDIR {
                        libc::O_DIRECTORY
                    } else {
                        0
                    };
                    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | dir;
                    Some(Host::Owned(c.vfs().host_open(&r, flags, 0)?))
                }
                _ => None,
            };
            Ok(Node {
                st,
                host,
                readonly: host_fs && c.vfs().mounts[r.mount].readonly,
                notify: Notify::Path(if list { None } else { c.notify_target(&r) }),
            })
        }
    }
}

/// Linux's `xattr_permission` and the capability hook, for attribute `name` of `node`;
/// Ok only for a `user.*` attribute the caller may read (or write). An attribute of
/// another namespace is not kept: the error is what Linux says of one a file lacks.
fn permission(c: &Creds, node: &Node, name: &[u8], op: Op) -> Result<(), Errno> {
    let write = op != Op::Get;
    let ino: Inode = (&node.st).into();
    let fmt = node.st.st_mode & libc::S_IFMT;
    let mask = if write { MAY_WRITE } else { MAY_READ };
    let absent = if write { libc::EPERM } else { libc::ENODATA };
    match xattr::space(name) {
        None => {
            c.may(&ino, mask)?;
            Err(libc::EOPNOTSUPP)
        }
        Some((Space::System, _)) => Err(libc::EOPNOTSUPP),
        Some((Space::Trusted, _)) if !c.has_init(CAP_SYS_ADMIN) => Err(absent),
        Some((Space::Security, _)) if write && !c.has_init(CAP_SYS_ADMIN) => Err(libc::EPERM),
        Some((Space::Trusted | Space::Security, _)) => Err(not_kept(op)),
        Some((Space::User, named)) => {
            if fmt != libc::S_IFREG && fmt != libc::S_IFDIR {
                return Err(absent);
            }
            if write
                && fmt == libc::S_IFDIR
                && node.st.st_mode & libc::S_ISVTX != 0
                && !c.owns(&ino)
            {
                return Err(libc::EPERM);
            }
            c.may(&ino, mask)?;
            if !named {
                return Err(libc::EINVAL);
            }
            if node.host.is_none() {
                return Err(not_kept(op));
            }
            Ok(())
        }
    }
}

/// The error for an attribute no file keeps: setting or removing it is not supported
/// (as on a file system without the namespace's handler, and as gVisor says), there is
/// none to read.
fn not_kept(op: Op) -> Errno {
    if op == Op::Get {
        libc::ENODATA
    } else {
        libc::EOPNOTSUPP
    }
}

/// Copies `data` (a value or a list) to the guest's buffer `addr` of `size` bytes: the
/// size needed when `size` is 0, ERANGE when it is too small (E2BIG when even Linux's
/// largest, `max`, is).
fn out(c: &mut SysCtx, addr: u64, size: u64, data: &[u8], max: usize) -> Result<i64, Errno> {
    if size == 0 {
        return Ok(data.len() as i64);
    }
    if data.len() as u64 > size {
        return Err(if size as usize >= max {
            libc::E2BIG
        } else {
            libc::ERANGE
        });
    }
    c.write_mem(addr, data)?;
    Ok(data.len() as i64)
}

#[cfg(test)]
mod tests {
    use crate::testing::{errno, kernel, SCRATCH};

    /// The host file's own attribute `name` (read by the test, as the host sees it).
    fn on_host(path: &std::path::Path, name: &str) -> Result<Vec<u8>, i32> {
        let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        let n = std::ffi::CString::new(name).unwrap();
        let mut buf = vec![0u8; 256];
        // SAFETY: C strings and a writable buffer of its length.
        let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), 256) };
        if r < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap());
        }
        buf.truncate(r as usize);
        Ok(buf)
    }

    /// Even with CAP_SYS_ADMIN, a guest's trusted.* and security.* (file capabilities
    /// included) never reach a host file: a set is EOPNOTSUPP and the host file has
    /// none; user.* does reach it, and lists show only user.* names.
    #[test]
    fn only_user_attributes_reach_host_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let mut k = kernel(d.path());
        let r = k.test_process(0, 0);
        let path = k.put_str(r, SCRATCH, "/f");
        let caps: [u32; 5] = [0x0200_0001, !0, 0, !0, 0];
        let value: Vec<u8> = caps.iter().flat_map(|c| c.to_le_bytes()).collect();
        let v = SCRATCH + 0x1000;
        k.put(r, v, &value);
        for name in [
            "security.capability",
            "security.selinux",
            "trusted.overlay.opaque",
        ] {
            let n = k.put_str(r, SCRATCH + 0x100, name);
            assert_eq!(
                k.call(r, libc::SYS_setxattr, [path, n, v, 20, 0, 0]),
                errno(libc::EOPNOTSUPP),
                "{name}"
            );
            assert_eq!(on_host(&f, name), Err(libc::ENODATA), "{name}");
            assert_eq!(
                k.call(r, libc::SYS_getxattr, [path, n, v, 20, 0, 0]),
                errno(libc::ENODATA),
                "{name}"
            );
            assert_eq!(
                k.call(r, libc::SYS_removexattr, [path, n, 0, 0, 0, 0]),
                errno(libc::EOPNOTSUPP),
                "{name}"
            );
        }
        let n = k.put_str(r, SCRATCH + 0x100, "system.posix_acl_access");
        assert_eq!(
            k.call(r, libc::SYS_setxattr, [path, n, v, 20, 0, 0]),
            errno(libc::EOPNOTSUPP)
        );
        let n = k.put_str(r, SCRATCH + 0x100, "user.kept");
        assert_eq!(
            k.call(r, libc::SYS_setxattr, [path, n, v, 3, 0, 0]),
            Some(0)
        );
        assert_eq!(on_host(&f, "user.kept"), Ok(value[..3].to_vec()));
        let list = SCRATCH + 0x2000;
        assert_eq!(
            k.call(r, libc::SYS_listxattr, [path, list, 100, 0, 0, 0]),
            Some(10)
        );
        assert_eq!(k.get(r, list, 10), b"user.kept\0");
        // The tmpfs's files are host files too.
        let tmp = k.put_str(r, SCRATCH + 0x200, "/tmp/g");
        let fd = k
            .call(
                r,
                libc::SYS_open,
                [tmp, (libc::O_CREAT | libc::O_RDWR) as u64, 0o644, 0, 0, 0],
            )
            .unwrap();
        assert!(fd >= 0);
        let n = k.put_str(r, SCRATCH + 0x100, "security.capability");
        assert_eq!(
            k.call(r, libc::SYS_fsetxattr, [fd as u64, n, v, 20, 0, 0]),
            errno(libc::EOPNOTSUPP)
        );
        let n = k.put_str(r, SCRATCH + 0x100, "user.t");
        assert_eq!(
            k.call(r, libc::SYS_fsetxattr, [fd as u64, n, v, 3, 0, 0]),
            Some(0)
        );
        assert_eq!(
            k.call(r, libc::SYS_getxattr, [tmp, n, list, 0, 0, 0]),
            Some(3)
        );
    }
}
