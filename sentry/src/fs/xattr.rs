//! Extended attributes (xattr(7)) of host-backed files: the rootfs, bind mounts and the
//! sandbox's tmpfs (a host tmpfs, which keeps `user.*` attributes since Linux 6.6).
//!
//! Only the `user.*` namespace ever reaches a host file, through the host fd the sentry
//! holds (`fgetxattr`, `fsetxattr`, `flistxattr`, `fremovexattr`: the sandbox's seccomp
//! filter allows those four and no path form). `trusted.*`, `security.*` and `system.*`
//! are never passed to the host: `security.capability` on a host file would give file
//! capabilities on the host. Lists show the host file's `user.*` names only.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::mm::Errno;

/// Longest attribute name, with its prefix (XATTR_NAME_MAX).
pub(crate) const NAME_MAX: usize = 255;
/// Largest attribute value (XATTR_SIZE_MAX).
pub(crate) const SIZE_MAX: usize = 65536;
/// Largest list of names (XATTR_LIST_MAX).
pub(crate) const LIST_MAX: usize = 65536;

/// The namespaces Linux knows, by prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Space {
    User,
    Trusted,
    Security,
    System,
}

const PREFIXES: &[(&[u8], Space)] = &[
    (b"user.", Space::User),
    (b"trusted.", Space::Trusted),
    (b"security.", Space::Security),
    (b"system.", Space::System),
];

/// The namespace of attribute `name` (None: a prefix Linux does not know, EOPNOTSUPP),
/// and whether a name follows the prefix.
pub(crate) fn space(name: &[u8]) -> Option<(Space, bool)> {
    PREFIXES
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map(|&(p, s)| (s, name.len() > p.len()))
}

/// A name as a guest passes it: 1 to 255 bytes (ERANGE otherwise).
pub(crate) fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(libc::ERANGE);
    }
    Ok(())
}

fn ret(n: libc::ssize_t) -> Result<usize, Errno> {
    if n < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(n as usize)
    }
}

fn c_name(name: &[u8]) -> Result<std::ffi::CString, Errno> {
    std::ffi::CString::new(name).map_err(|_| libc::ERANGE)
}

/// A `user.*` attribute's value on host file `fd` (ENODATA: none).
pub(crate) fn get(fd: BorrowedFd, name: &[u8]) -> Result<Vec<u8>, Errno> {
    let n = c_name(name)?;
    let mut buf = vec![0u8; SIZE_MAX];
    // SAFETY: `n` is a C string and `buf` is writable for its length.
    let len = ret(unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    })?;
    buf.truncate(len);
    Ok(buf)
}

/// Sets a `user.*` attribute of host file `fd` (`flags`: XATTR_CREATE, XATTR_REPLACE).
pub(crate) fn set(fd: BorrowedFd, name: &[u8], value: &[u8], flags: i32) -> Result<(), Errno> {
    let n = c_name(name)?;
    // SAFETY: `n` is a C string and `value` is readable for its length.
    ret(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        ) as libc::ssize_t
    })
    .map(|_| ())
}

/// Removes a `user.*` attribute of host file `fd`.
pub(crate) fn remove(fd: BorrowedFd, name: &[u8]) -> Result<(), Errno> {
    let n = c_name(name)?;
    // SAFETY: `n` is a C string.
    ret(unsafe { libc::fremovexattr(fd.as_raw_fd(), n.as_ptr()) as libc::ssize_t }).map(|_| ())
}

/// The `user.*` names of host file `fd`, each with its NUL, as listxattr(2) lists them.
pub(crate) fn list_user(fd: BorrowedFd) -> Result<Vec<u8>, Errno> {
    // The host may list more than a guest may see (security.*): room for Linux's most.
    let mut buf = vec![0u8; LIST_MAX];
    // SAFETY: `buf` is writable for its length.
    let len = ret(unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })?;
    let mut out = Vec::new();
    for n in buf[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if let Some((Space::User, true)) = space(n) {
            out.extend_from_slice(n);
            out.push(0);
        }
    }
    Ok(out)
}

/// The `user.*` attributes of host file `fd`, sorted by name (a tmpfs node being saved).
pub(crate) fn read_all(fd: BorrowedFd) -> Result<Vec<Xattr>, Errno> {
    let names = list_user(fd)?;
    let mut out = Vec::new();
    for n in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        match get(fd, n) {
            Ok(value) => out.push(Xattr {
                name: n.to_vec(),
                value,
            }),
            // Removed since the list: nothing to save.
            Err(libc::ENODATA) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One saved extended attribute (of a tmpfs node): its whole name and its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Xattr {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// Saved attributes of one node: `user.*` names of 6 to 255 bytes without NUL, each
/// once, values of at most 64 KiB, and a list of names of at most 64 KiB (which bounds
/// their count), as Linux lets a tmpfs node have.
pub(crate) fn check_saved(attrs: &[Xattr]) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    let mut list = 0usize;
    for a in attrs {
        let shown = String::from_utf8_lossy(&a.name);
        if check_name(&a.name).is_err() || a.name.contains(&0) {
            return Err(format!(
                "extended attribute name {shown:?} is not a valid name"
            ));
        }
        if space(&a.name) != Some((Space::User, true)) {
            return Err(format!(
                "extended attribute {shown:?} is not of the user namespace"
            ));
        }
        if a.value.len() > SIZE_MAX {
            return Err(format!(
                "extended attribute {shown:?} has a value of {} bytes (Linux's most: {SIZE_MAX})",
                a.value.len()
            ));
        }
        if !names.insert(&a.name) {
            return Err(format!("extended attribute {shown:?} is saved twice"));
        }
        list += a.name.len() + 1;
        if list > LIST_MAX {
            return Err(format!(
                "extended attribute names take more than Linux's {LIST_MAX} bytes"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn x(name: &[u8], value: &[u8]) -> Xattr {
        Xattr {
            name: name.to_vec(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn names_are_sorted_by_namespace() {
        assert_eq!(space(b"user.a"), Some((Space::User, true)));
        assert_eq!(space(b"user."), Some((Space::User, false)));
        assert_eq!(space(b"trusted.x"), Some((Space::Trusted, true)));
        assert_eq!(space(b"security.capability"), Some((Space::Security, true)));
        assert_eq!(
            space(b"system.posix_acl_access"),
            Some((Space::System, true))
        );
        assert_eq!(space(b"foo.a"), None);
        assert_eq!(space(b"user"), None);
        assert_eq!(check_name(b""), Err(libc::ERANGE));
        assert_eq!(check_name(&[b'a'; 256]), Err(libc::ERANGE));
        assert_eq!(check_name(&[b'a'; 255]), Ok(()));
    }

    #[test]
    fn hostile_saved_attributes_are_refused_by_name() {
        assert!(check_saved(&[x(b"user.a", b"1"), x(b"user.b", b"")]).is_ok());
        let bad = |a: &[Xattr], what: &str| {
            let e = check_saved(a).unwrap_err();
            assert!(e.contains(what), "{e}");
        };
        bad(&[x(b"trusted.a", b"1")], "not of the user namespace");
        bad(
            &[x(b"security.capability", b"1")],
            "not of the user namespace",
        );
        bad(&[x(b"user.", b"1")], "not of the user namespace");
        bad(&[x(b"", b"1")], "not a valid name");
        bad(&[x(b"user.a\0b", b"1")], "not a valid name");
        bad(&[x(&[b'u'; 256], b"1")], "not a valid name");
        bad(
            &[x(b"user.a", &vec![0; SIZE_MAX + 1])],
            "value of 65537 bytes",
        );
        bad(&[x(b"user.a", b"1"), x(b"user.a", b"2")], "saved twice");
        let many: Vec<Xattr> = (0..300)
            .map(|i| {
                let mut n = format!("user.{i}-").into_bytes();
                n.resize(250, b'x');
                x(&n, b"")
            })
            .collect();
        bad(&many, "more than Linux's");
    }

    #[test]
    fn user_attributes_reach_a_host_tmpfs_file_and_only_they_are_listed() {
        let dir = std::path::Path::new("/dev/shm").join(format!("xattr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        let f = std::fs::File::create(&p).unwrap();
        let fd = f.as_fd();
        if set(fd, b"user.a", b"one", 0) == Err(libc::EOPNOTSUPP) {
            // A host whose tmpfs keeps no user.* attributes (Linux before 6.6).
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        set(fd, b"user.b", b"", libc::XATTR_CREATE).unwrap();
        assert_eq!(
            set(fd, b"user.b", b"x", libc::XATTR_CREATE),
            Err(libc::EEXIST)
        );
        assert_eq!(
            set(fd, b"user.c", b"x", libc::XATTR_REPLACE),
            Err(libc::ENODATA)
        );
        assert_eq!(get(fd, b"user.a").unwrap(), b"one");
        // (A tmpfs lists in an order of its own.)
        let list = list_user(fd).unwrap();
        assert!(list == b"user.a\0user.b\0" || list == b"user.b\0user.a\0");
        assert_eq!(
            read_all(fd).unwrap(),
            vec![x(b"user.a", b"one"), x(b"user.b", b"")]
        );
        remove(fd, b"user.a").unwrap();
        assert_eq!(get(fd, b"user.a"), Err(libc::ENODATA));
        assert_eq!(remove(fd, b"user.a"), Err(libc::ENODATA));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
