//! mount(2) and umount2(2) on the sandbox's own mount table (`fs::mounts`): a tmpfs or a
//! procfs on a directory, a remount with other flags, a propagation change (taken), an
//! unmount. Each needs CAP_SYS_ADMIN in the user namespace that owns the caller's mount
//! namespace, as Linux's may_mount.

use super::ret;
use crate::fs::mounts::{self, MountRequest};
use crate::kernel::{err, Sys, SysCtx};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

/// An optional string argument (the type, the data): NULL is none; at most a page.
fn opt_str(c: &SysCtx, addr: u64) -> Result<Option<String>, i32> {
    if addr == 0 {
        return Ok(None);
    }
    let b = c.read_cstr(addr, 4095)?;
    Ok(Some(String::from_utf8_lossy(&b).into_owned()))
}

/// Whether the caller may change its mounts (may_mount).
fn may_mount(c: &SysCtx) -> bool {
    let (_, owner) = c.mount_ns();
    c.creds().capable_in(&owner, crate::creds::CAP_SYS_ADMIN)
}

/// mount(source, target, type, flags, data), as do_mount: the strings, the target (its
/// final symlink followed), the capability, then what the flags ask.
pub(super) fn mount(c: &mut SysCtx) -> Sys {
    let [_source, target, fstype, flags, data, _] = c.args();
    let fstype = tryk!(opt_str(c, fstype));
    // The source names nothing for the file systems the sandbox makes; a bad pointer is
    // still EFAULT.
    if _source != 0 {
        tryk!(c.read_cstr(_source, 4095));
    }
    let data = tryk!(opt_str(c, data));
    let path = tryk!(c.read_path(target));
    let r = tryk!(c.resolve(&path, true));
    if !r.exists {
        return err(libc::ENOENT);
    }
    if flags & mounts::MS_NOUSER != 0 {
        return err(libc::EINVAL);
    }
    if !may_mount(c) {
        return err(libc::EPERM);
    }
    let req = tryk!(mounts::decode(flags, fstype.as_deref(), data.as_deref()));
    let comps = crate::fs::split(&r.path);
    match req {
        MountRequest::Propagation | MountRequest::Remount { .. } => {
            // On the root of a mount only.
            let Some(m) = c.vfs().mount_at(&comps).filter(|_| r.rel.is_empty()) else {
                return err(libc::EINVAL);
            };
            match req {
                MountRequest::Remount { flags, keep_atime } => {
                    ret(c.vfs_mut().remount(m, flags, keep_atime).map(|_| 0))
                }
                _ => Sys::Ret(0),
            }
        }
        _ => {
            let st = tryk!(c.lstat(&r));
            if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return err(libc::ENOTDIR);
            }
            let owner = (c.creds().fsuid, c.creds().fsgid);
            ret(c.vfs_mut().add_mount(comps, &req, owner).map(|_| 0))
        }
    }
}

/// umount2(target, flags), as path_umount: the flags, the target (its final symlink
/// followed unless UMOUNT_NOFOLLOW), the capability, the root of a mount, then EBUSY
/// for a mount in use unless MNT_DETACH.
pub(super) fn umount2(c: &mut SysCtx) -> Sys {
    let [target, flags, ..] = c.args();
    let known =
        mounts::MNT_FORCE | mounts::MNT_DETACH | mounts::MNT_EXPIRE | mounts::UMOUNT_NOFOLLOW;
    if flags & !known != 0 {
        return err(libc::EINVAL);
    }
    let path = tryk!(c.read_path(target));
    let r = tryk!(c.resolve(&path, flags & mounts::UMOUNT_NOFOLLOW == 0));
    if !r.exists {
        return err(libc::ENOENT);
    }
    if !may_mount(c) {
        return err(libc::EPERM);
    }
    let comps = crate::fs::split(&r.path);
    let Some(m) = c.vfs().mount_at(&comps).filter(|_| r.rel.is_empty()) else {
        return err(libc::EINVAL);
    };
    if flags & mounts::MNT_FORCE != 0 && !c.creds().has_init(crate::creds::CAP_SYS_ADMIN) {
        return err(libc::EPERM);
    }
    if flags & mounts::MNT_EXPIRE != 0 {
        if flags & (mounts::MNT_FORCE | mounts::MNT_DETACH) != 0 {
            return err(libc::EINVAL);
        }
        // Expiry marks are not kept: the mount is never found unused since the last try.
        return err(libc::EAGAIN);
    }
    let detach = flags & mounts::MNT_DETACH != 0;
    // The root of the tree stays.
    if comps.is_empty() {
        return err(if detach { libc::EINVAL } else { libc::EBUSY });
    }
    if !detach && c.mount_busy(&comps) {
        return err(libc::EBUSY);
    }
    ret(c.vfs_mut().unmount(m, detach).map(|_| 0))
}
