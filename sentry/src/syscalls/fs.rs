//! Path calls: open, stat, mkdir, unlink, rename, links, chmod/chown, chdir, getcwd.

use super::ret;
use crate::creds::{Creds, Inode, CAP_CHOWN, MAY_EXEC, MAY_READ, MAY_WRITE};
use crate::fs::file::FileRef;
use crate::fs::{inotify, MountFs, Resolved};
use crate::kernel::task::{Park, WaitKey};
use crate::kernel::{err, Sys, SysCtx, OPEN_WAITS};
use crate::mm::Errno;

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

pub(super) fn openat(c: &mut SysCtx, dirfd: u64, path: u64, flags: u64, mode: u64) -> Sys {
    let p = tryk!(c.read_path(path));
    let flags = flags as i32;
    let f = match c.open(dirfd as i32, &p, flags, mode as u32) {
        Ok(f) => f,
        // A FIFO without its other end: park until that opens.
        Err(OPEN_WAITS) => match c.fifo_waiting() {
            Some(id) => {
                return Sys::Park(Park {
                    keys: vec![WaitKey::Object(id)],
                    deadline: None,
                })
            }
            None => return err(libc::EINTR),
        },
        Err(e) => return err(e),
    };
    // A new end of a pipe wakes a FIFO open waiting for it, and readers and writers.
    if let Some(key) = f.borrow().notify_key() {
        c.notify(&key);
    }
    ret(c
        .install(f, flags & libc::O_CLOEXEC != 0)
        .map(|fd| fd as i64))
}

/// `st` as the caller sees it: owner and group in its user namespace (unmapped ones as
/// the overflow ids).
pub(super) fn as_seen(c: &SysCtx, mut st: libc::stat) -> libc::stat {
    let ns = &c.creds().userns;
    st.st_uid = ns.shown(crate::creds::IdMap::Uid, st.st_uid);
    st.st_gid = ns.shown(crate::creds::IdMap::Gid, st.st_gid);
    st
}

pub(super) fn fstatat(c: &mut SysCtx, dirfd: u64, path: u64, buf: u64, flags: u64) -> Sys {
    let (st, _) = tryk!(stat_at(c, dirfd, path, flags));
    let st = as_seen(c, st);
    ret(c.write_mem(buf, &crate::fs::stat_bytes(&st)).map(|_| 0))
}

/// The attributes of what `path` names from `dirfd`, and the index of its mount.
fn stat_at(c: &mut SysCtx, dirfd: u64, path: u64, flags: u64) -> Result<(libc::stat, usize), i32> {
    let p = c.read_path(path)?;
    let flags = flags as i32;
    if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        let f = if dirfd as i32 == libc::AT_FDCWD {
            let cwd = c.cwd();
            let r = c.resolve(cwd.as_bytes(), true)?;
            return Ok((c.lstat(&r)?, r.mount));
        } else {
            c.file(dirfd)?
        };
        let fb = f.borrow();
        let mount = c.vfs().mount_for(&crate::fs::split(&fb.path)).0;
        return Ok((fb.imp.stat()?, mount));
    }
    let r = c.resolve_dirfd(dirfd as i32, &p, flags & libc::AT_SYMLINK_NOFOLLOW == 0)?;
    Ok((c.lstat(&r)?, r.mount))
}

pub(super) fn statx(c: &mut SysCtx) -> Sys {
    let a = c.args();
    // AT_STATX_FORCE_SYNC and AT_STATX_DONT_SYNC together, unknown flags or the reserved
    // mask bit: EINVAL.
    const KNOWN: i32 = libc::AT_SYMLINK_NOFOLLOW
        | libc::AT_EMPTY_PATH
        | libc::AT_NO_AUTOMOUNT
        | libc::AT_STATX_SYNC_TYPE;
    let flags = a[2] as i32;
    if flags & !KNOWN != 0
        || flags & libc::AT_STATX_SYNC_TYPE == libc::AT_STATX_SYNC_TYPE
        || a[3] as u32 & libc::STATX__RESERVED as u32 != 0
    {
        return err(libc::EINVAL);
    }
    let (st, mount) = tryk!(stat_at(
        c,
        a[0],
        a[1],
        a[2] & (libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) as u64
    ));
    let st = as_seen(c, st);
    let mut b = vec![0u8; 256];
    let put = |b: &mut Vec<u8>, off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    // The basic fields and the mount's id (the one /proc/PID/mountinfo gives it).
    put(&mut b, 0, &(0x7ffu32 | libc::STATX_MNT_ID).to_le_bytes());
    put(
        &mut b,
        0x90,
        &(crate::kernel::procfs::mount_id(mount)).to_le_bytes(),
    );
    put(&mut b, 4, &(st.st_blksize as u32).to_le_bytes());
    put(&mut b, 16, &(st.st_nlink as u32).to_le_bytes());
    put(&mut b, 20, &st.st_uid.to_le_bytes());
    put(&mut b, 24, &st.st_gid.to_le_bytes());
    put(&mut b, 28, &(st.st_mode as u16).to_le_bytes());
    put(&mut b, 32, &st.st_ino.to_le_bytes());
    put(&mut b, 40, &(st.st_size as u64).to_le_bytes());
    put(&mut b, 48, &(st.st_blocks as u64).to_le_bytes());
    for (off, s, ns) in [
        (0x40, st.st_atime, st.st_atime_nsec),
        (0x60, st.st_ctime, st.st_ctime_nsec),
        (0x70, st.st_mtime, st.st_mtime_nsec),
    ] {
        put(&mut b, off, &s.to_le_bytes());
        put(&mut b, off + 8, &(ns as u32).to_le_bytes());
    }
    put(&mut b, 0x80, &libc::major(st.st_rdev).to_le_bytes());
    put(&mut b, 0x84, &libc::minor(st.st_rdev).to_le_bytes());
    put(&mut b, 0x88, &libc::major(st.st_dev).to_le_bytes());
    put(&mut b, 0x8c, &libc::minor(st.st_dev).to_le_bytes());
    ret(c.write_mem(a[4], &b).map(|_| 0))
}

/// access/faccessat/faccessat2: checked with the real ids (and a real root's
/// capabilities) unless AT_EACCESS asks for the effective ones.
pub(super) fn faccessat(c: &mut SysCtx, dirfd: u64, path: u64, mode: u64, flags: u64) -> Sys {
    let flags = flags as i32;
    if mode & !7 != 0
        || flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0
    {
        return err(libc::EINVAL);
    }
    let p = tryk!(c.read_path(path));
    let real = c.creds().for_access();
    let creds = if flags & libc::AT_EACCESS != 0 {
        c.creds().clone()
    } else {
        real
    };
    // The walk itself is checked with the same credentials.
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    let r = tryk!(c.resolve_dirfd_as(creds.clone(), dirfd as i32, &p, follow));
    let st = tryk!(c.lstat(&r));
    if mode & 2 != 0 && c.vfs().readonly(&r) && st.st_mode & libc::S_IFMT != libc::S_IFCHR {
        return err(libc::EROFS);
    }
    ret(creds.may(&(&st).into(), mode as u32).map(|_| 0))
}

pub(super) fn mkdirat(c: &mut SysCtx, dirfd: u64, path: u64, mode: u64) -> Sys {
    let p = tryk!(c.read_path(path));
    let r = tryk!(c.resolve_dirfd(dirfd as i32, &p, false));
    if r.exists {
        return err(libc::EEXIST);
    }
    let dir = tryk!(c.may_create(&r));
    let umask = c.umask();
    let mode = mode as u32 & 0o7777 & !umask;
    tryk!(c.vfs().mkdir(&r, mode));
    tryk!(c.give_to_creator(&r, &dir, None));
    if let Some(t) = c.notify_target(&r) {
        t.created(true, None);
    }
    Sys::Ret(0)
}

/// The last component of `path` when it is "." or ".." (trailing slashes aside): such a
/// path names a directory by its relation, and cannot be removed or renamed.
fn dot_last(path: &[u8]) -> Option<&[u8]> {
    let trimmed = path.strip_suffix(b"/").map_or(path, |p| {
        let end = p.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        &p[..end]
    });
    let last = trimmed.rsplit(|&b| b == b'/').next()?;
    (last == b"." || last == b"..").then_some(last)
}

/// mknod/mknodat: FIFOs and regular files (the mode's type 0 is a regular file). Device
/// nodes are refused (EPERM) by design: the sentry serves no host device; a socket node
/// is EPERM until sockets come.
pub(super) fn mknodat(c: &mut SysCtx, dirfd: u64, path: u64, mode: u64) -> Sys {
    let mode = mode as u32;
    let kind = match mode & libc::S_IFMT {
        0 | libc::S_IFREG => libc::S_IFREG,
        libc::S_IFIFO => libc::S_IFIFO,
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFSOCK => return err(libc::EPERM),
        _ => return err(libc::EINVAL),
    };
    let p = tryk!(c.read_path(path));
    let r = tryk!(c.resolve_dirfd(dirfd as i32, &p, false));
    if r.exists {
        return err(libc::EEXIST);
    }
    let dir = tryk!(c.may_create(&r));
    let perm = mode & 0o7777 & !c.umask();
    tryk!(c.vfs().mknod(&r, kind | perm));
    tryk!(c.give_to_creator(&r, &dir, Some(perm)));
    if let Some(t) = c.notify_target(&r) {
        t.created(false, None);
    }
    Sys::Ret(0)
}

pub(super) fn unlinkat(c: &mut SysCtx, dirfd: u64, path: u64, flags: u64) -> Sys {
    let p = tryk!(c.read_path(path));
    if flags as i32 & !libc::AT_REMOVEDIR != 0 {
        return err(libc::EINVAL);
    }
    if dot_last(&p).is_some() {
        // What leads to the dot must be a directory (unlink("file/.") is ENOTDIR).
        tryk!(c.resolve_dirfd(dirfd as i32, &p, true));
    }
    match dot_last(&p) {
        // rmdir(".") is EINVAL, rmdir("..") ENOTEMPTY; unlink of either is a directory.
        Some(b".") if flags != 0 => return err(libc::EINVAL),
        Some(_) if flags != 0 => return err(libc::ENOTEMPTY),
        Some(_) => return err(libc::EISDIR),
        None => {}
    }
    let r = tryk!(c.resolve_dirfd(dirfd as i32, &p, false));
    if !r.exists {
        return err(libc::ENOENT);
    }
    if !r.rel.is_empty() {
        tryk!(c.may_delete(&r));
    }
    let target = c.notify_target(&r);
    tryk!(c.vfs().unlink(&r, flags as i32 & libc::AT_REMOVEDIR != 0));
    if let Some(t) = target {
        t.removed();
    }
    Sys::Ret(0)
}

pub(super) fn renameat(c: &mut SysCtx, od: u64, op: u64, nd: u64, np: u64, flags: u64) -> Sys {
    let op = tryk!(c.read_path(op));
    let np = tryk!(c.read_path(np));
    // A dot cannot be moved, nor replaced (RENAME_NOREPLACE: it exists).
    if dot_last(&op).is_some() {
        return err(libc::EBUSY);
    }
    if dot_last(&np).is_some() {
        return err(if flags as u32 & libc::RENAME_NOREPLACE != 0 {
            libc::EEXIST
        } else {
            libc::EBUSY
        });
    }
    let from = tryk!(c.resolve_dirfd(od as i32, &op, false));
    let to = tryk!(c.resolve_dirfd(nd as i32, &np, false));
    if !from.exists {
        return err(libc::ENOENT);
    }
    // A name renamed to itself: nothing to do (on any file system the mount lets write).
    if to.exists && from.mount == to.mount && from.rel == to.rel && from.file.is_none() {
        let ro = c.vfs().mounts[from.mount].readonly;
        return if ro { err(libc::EROFS) } else { Sys::Ret(0) };
    }
    if !from.rel.is_empty() && !to.rel.is_empty() {
        tryk!(c.may_delete(&from));
        if to.exists {
            tryk!(c.may_delete(&to));
        } else {
            tryk!(c.may_create(&to));
        }
        // A directory moving to another directory rewrites its "..": it must be writable.
        let st = tryk!(c.lstat(&from));
        let parent = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_string());
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR && parent(&from.path) != parent(&to.path) {
            tryk!(c.creds().may(&(&st).into(), MAY_WRITE));
        }
    }
    let targets = c.notify_target(&from).zip(c.notify_target(&to));
    tryk!(c.vfs().rename(&from, &to, flags as u32));
    if let Some((f, t)) = targets {
        let replaced = (t.key.is_some() && t.key != f.key).then_some(&t);
        inotify::renamed(&f, &t, replaced, (&from.path, &to.path));
    }
    Sys::Ret(0)
}

pub(super) fn linkat(c: &mut SysCtx, od: u64, op: u64, nd: u64, np: u64, flags: u64) -> Sys {
    let flags = flags as i32;
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return err(libc::EINVAL);
    }
    let mut op = tryk!(c.read_path(op));
    let np = tryk!(c.read_path(np));
    let mut follow = flags & libc::AT_SYMLINK_FOLLOW != 0;
    // With AT_EMPTY_PATH, a lookup from a dirfd (a relative path) needs the file opened
    // with the caller's very credentials, or CAP_DAC_READ_SEARCH over those (Linux 6.10):
    // ENOENT, as if there were no such file.
    if flags & libc::AT_EMPTY_PATH != 0 && od as i32 != libc::AT_FDCWD && !op.starts_with(b"/") {
        let f = tryk!(c.file(od));
        if !c.may_link_from(&f) {
            return err(libc::ENOENT);
        }
    }
    if op.is_empty() && flags & libc::AT_EMPTY_PATH != 0 && od as i32 != libc::AT_FDCWD {
        // The file dirfd names, reached as its /proc/self/fd link leads (a file no path
        // reaches any more cannot be linked back: ENOENT).
        tryk!(c.file(od));
        op = format!("/proc/self/fd/{}", od as i32).into_bytes();
        follow = true;
    }
    let from = tryk!(c.resolve_dirfd(od as i32, &op, follow));
    let to = tryk!(c.resolve_dirfd(nd as i32, &np, false));
    if !from.exists || from.file.is_some() {
        return err(libc::ENOENT);
    }
    if to.exists {
        return err(libc::EEXIST);
    }
    // A new name with a trailing slash names a directory to be: not a link's.
    if np.ends_with(b"/") {
        return err(libc::ENOENT);
    }
    if from.mount != to.mount {
        return err(libc::EXDEV);
    }
    tryk!(c.may_create(&to));
    // fs.protected_hardlinks: linking someone else's file needs read and write on it.
    let st = tryk!(c.lstat(&from));
    let ino: Inode = (&st).into();
    let creds = c.creds();
    if !creds.owns(&ino)
        && (st.st_mode & libc::S_IFMT != libc::S_IFREG
            || st.st_mode & libc::S_ISUID != 0
            || creds.may(&ino, MAY_READ | MAY_WRITE).is_err())
    {
        return err(libc::EPERM);
    }
    let linked = c.notify_target(&from);
    tryk!(c.vfs().link(&from, &to));
    if let Some(t) = c.notify_target(&to) {
        t.created(false, linked.as_ref());
    }
    Sys::Ret(0)
}

pub(super) fn symlinkat(c: &mut SysCtx, target: u64, dirfd: u64, path: u64) -> Sys {
    let t = tryk!(c.read_path(target));
    if t.is_empty() {
        return err(libc::ENOENT);
    }
    let p = tryk!(c.read_path(path));
    let at = tryk!(c.resolve_dirfd(dirfd as i32, &p, false));
    if at.exists {
        return err(libc::EEXIST);
    }
    let dir = tryk!(c.may_create(&at));
    tryk!(c.vfs().symlink(&String::from_utf8_lossy(&t), &at));
    tryk!(c.give_to_creator(&at, &dir, None));
    if let Some(t) = c.notify_target(&at) {
        t.created(false, None);
    }
    Sys::Ret(0)
}

pub(super) fn readlinkat(c: &mut SysCtx, dirfd: u64, path: u64, buf: u64, size: u64) -> Sys {
    if (size as i64) <= 0 {
        return err(libc::EINVAL);
    }
    let p = tryk!(c.read_path(path));
    let r = tryk!(c.resolve_dirfd(dirfd as i32, &p, false));
    if !r.exists {
        return err(libc::ENOENT);
    }
    let Some(t) = tryk!(c.readlink(&r)) else {
        return err(libc::EINVAL);
    };
    let n = t.len().min(size as usize);
    ret(c.write_mem(buf, &t.as_bytes()[..n]).map(|_| n as i64))
}

pub(super) fn fchmodat(c: &mut SysCtx, dirfd: u64, path: u64, mode: u64) -> Sys {
    let p = tryk!(c.read_path(path));
    let r = tryk!(c.resolve_dirfd(dirfd as i32, &p, true));
    if !r.exists {
        return err(libc::ENOENT);
    }
    let ino: Inode = (&tryk!(c.lstat(&r))).into();
    let mode = tryk!(chmod_allowed(c.creds(), &ino, mode as u32 & 0o7777));
    tryk!(c.vfs().chmod(&r, mode));
    attrib_changed(c, &r, inotify::IN_ATTRIB)
}

/// chmod is for the owner (or CAP_FOWNER); returns the mode it may set.
fn chmod_allowed(c: &Creds, ino: &Inode, mode: u32) -> Result<u32, i32> {
    if !c.owns(ino) {
        return Err(libc::EPERM);
    }
    Ok(c.chmod_mode(ino, mode))
}

/// chown: changing the owner needs CAP_CHOWN; the owner may change the group to one
/// of its own groups. `u32::MAX` leaves an id as it is.
fn chown_allowed(c: &Creds, ino: &Inode, uid: u32, gid: u32) -> Result<(), i32> {
    if c.has_over(ino, CAP_CHOWN) {
        return Ok(());
    }
    if uid != u32::MAX && uid != ino.uid {
        return Err(libc::EPERM);
    }
    if gid != u32::MAX && gid != ino.gid && (c.fsuid != ino.uid || !c.in_group(gid)) {
        return Err(libc::EPERM);
    }
    if (uid != u32::MAX || gid != u32::MAX) && c.fsuid != ino.uid {
        return Err(libc::EPERM);
    }
    Ok(())
}

pub(super) fn fchmod(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let f = tryk!(c.file(a[0]));
    let mode = a[1] as u32 & 0o7777;
    let creds = c.creds();
    let r = f
        .borrow_mut()
        .io()
        .and_then(|imp| imp.chmod(&|st| chmod_allowed(creds, &st.into(), mode)));
    fd_attrib_changed(&f, r, inotify::IN_ATTRIB)
}

pub(super) fn fchownat(
    c: &mut SysCtx,
    dirfd: u64,
    path: u64,
    uid: u64,
    gid: u64,
    flags: u64,
) -> Sys {
    let p = tryk!(c.read_path(path));
    let r = tryk!(c.resolve_dirfd(
        dirfd as i32,
        &p,
        flags as i32 & libc::AT_SYMLINK_NOFOLLOW == 0
    ));
    if !r.exists {
        return err(libc::ENOENT);
    }
    let (uid, gid) = tryk!(kernel_owner(c.creds(), uid, gid));
    let ino: Inode = (&tryk!(c.lstat(&r))).into();
    tryk!(chown_allowed(c.creds(), &ino, uid, gid));
    tryk!(c.vfs().chown(&r, uid, gid));
    attrib_changed(c, &r, inotify::IN_ATTRIB)
}

/// chown's owner and group as kernel ids: ids of the caller's user namespace, which must
/// map them (EINVAL); -1 stays "leave it".
fn kernel_owner(c: &Creds, uid: u64, gid: u64) -> Result<(u32, u32), i32> {
    use crate::creds::IdMap;
    let one = |which, v: u64| match v as u32 {
        u32::MAX => Ok(u32::MAX),
        v => c.userns.kernel_of(which, v).ok_or(libc::EINVAL),
    };
    Ok((one(IdMap::Uid, uid)?, one(IdMap::Gid, gid)?))
}

pub(super) fn fchown(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let f = tryk!(c.file(a[0]));
    let (uid, gid) = tryk!(kernel_owner(c.creds(), a[1], a[2]));
    let creds = c.creds();
    let r = f.borrow_mut().io().and_then(|imp| {
        imp.chown(
            (uid != u32::MAX).then_some(uid),
            (gid != u32::MAX).then_some(gid),
            &|st| chown_allowed(creds, &st.into(), uid, gid),
        )
    });
    fd_attrib_changed(&f, r, inotify::IN_ATTRIB)
}

type Times = [nix::sys::time::TimeSpec; 2];

/// utimensat: times as two timespecs (or now when `times` is 0).
pub(super) fn utimensat(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let times = if a[2] == 0 {
        None
    } else {
        let b = tryk!(c.read_mem(a[2], 32));
        let word = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8"));
        let t = [
            nix::sys::time::TimeSpec::new(word(0), word(1)),
            nix::sys::time::TimeSpec::new(word(2), word(3)),
        ];
        // Nothing to do: Linux does not even look at the path.
        if t.iter().all(|t| t.tv_nsec() == libc::UTIME_OMIT) {
            return Sys::Ret(0);
        }
        Some(t)
    };
    utimens(c, a[0] as i32, a[1], times, a[3] as i32)
}

/// utime (a `struct utimbuf` of seconds), utimes and futimesat (two timevals): as
/// utimensat without flags, the microseconds checked as Linux does (EINVAL outside
/// 0..1000000).
pub(super) fn utimes(c: &mut SysCtx, dirfd: i32, path: u64, times: u64, timevals: bool) -> Sys {
    let times = if times == 0 {
        None
    } else {
        let b = tryk!(c.read_mem(times, if timevals { 32 } else { 16 }));
        let word = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8"));
        let t = |i: usize| -> Result<nix::sys::time::TimeSpec, i32> {
            if !timevals {
                return Ok(nix::sys::time::TimeSpec::new(word(i), 0));
            }
            let us = word(2 * i + 1);
            if !(0..1_000_000).contains(&us) {
                return Err(libc::EINVAL);
            }
            Ok(nix::sys::time::TimeSpec::new(word(2 * i), us * 1000))
        };
        Some([tryk!(t(0)), tryk!(t(1))])
    };
    utimens(c, dirfd, path, times, 0)
}

fn utimens(c: &mut SysCtx, dirfd: i32, path: u64, times: Option<Times>, flags: i32) -> Sys {
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return err(libc::EINVAL);
    }
    let now = nix::sys::time::TimeSpec::new(0, libc::UTIME_NOW);
    let [at, mt] = times.unwrap_or([now, now]);
    for t in [&at, &mt] {
        let special = t.tv_nsec() == libc::UTIME_NOW || t.tv_nsec() == libc::UTIME_OMIT;
        if !special && !(0..1_000_000_000).contains(&t.tv_nsec()) {
            return err(libc::EINVAL);
        }
    }
    // Explicit times are for the owner (or CAP_FOWNER); "now" also for a writer.
    let omit_or_now = |t: &nix::sys::time::TimeSpec| {
        t.tv_nsec() == libc::UTIME_NOW || t.tv_nsec() == libc::UTIME_OMIT
    };
    let just_now = omit_or_now(&at) && omit_or_now(&mt);
    // inotify: atime alone is an access, mtime alone a modification, both attributes.
    let omitted = |t: &nix::sys::time::TimeSpec| t.tv_nsec() == libc::UTIME_OMIT;
    let event = match (omitted(&at), omitted(&mt)) {
        (false, true) => inotify::IN_ACCESS,
        (true, false) => inotify::IN_MODIFY,
        (true, true) => 0,
        (false, false) => inotify::IN_ATTRIB,
    };
    let allowed = |c: &Creds, st: &libc::stat| -> Result<(), i32> {
        let ino: Inode = st.into();
        if c.owns(&ino) || (just_now && c.may(&ino, MAY_WRITE).is_ok()) {
            Ok(())
        } else if just_now {
            Err(libc::EACCES)
        } else {
            Err(libc::EPERM)
        }
    };
    // No path: the file dirfd names (AT_FDCWD has none: the missing path is a bad
    // address, as Linux answers). An empty path with AT_EMPTY_PATH: the same.
    let by_fd = if path == 0 {
        if dirfd == libc::AT_FDCWD {
            return err(libc::EFAULT);
        }
        true
    } else {
        false
    };
    let p = if by_fd {
        Vec::new()
    } else {
        tryk!(c.read_path(path))
    };
    if by_fd || (p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 && dirfd != libc::AT_FDCWD) {
        let f = tryk!(c.file(dirfd as u64));
        let creds = c.creds();
        let r = f
            .borrow_mut()
            .io()
            .and_then(|imp| imp.set_times(&at, &mt, &|st| allowed(creds, st)));
        return fd_attrib_changed(&f, r, event);
    }
    let p = if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        b".".to_vec()
    } else {
        p
    };
    let r = tryk!(c.resolve_dirfd(dirfd, &p, flags & libc::AT_SYMLINK_NOFOLLOW == 0));
    if !r.exists {
        return err(libc::ENOENT);
    }
    if !matches!(c.vfs().mounts[r.mount].fs, MountFs::Host { .. }) {
        return Sys::Ret(0);
    }
    if c.vfs().readonly(&r) {
        return err(libc::EROFS);
    }
    tryk!(allowed(c.creds(), &tryk!(c.lstat(&r))));
    let (dir, name) = tryk!(c.vfs().host_parent(r.mount, &r.rel));
    tryk!(nix::sys::stat::utimensat(
        Some(std::os::fd::AsRawFd::as_raw_fd(&dir)),
        name,
        &at,
        &mt,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| e as i32));
    attrib_changed(c, &r, event)
}

/// inotify: the attributes of `r` changed (its watches and its directory's hear `event`,
/// `IN_ATTRIB` but for times: see utimensat); the call succeeded.
fn attrib_changed(c: &SysCtx, r: &Resolved, event: u32) -> Sys {
    if let Some(t) = c.notify_target(r).filter(|_| event != 0) {
        t.event(event);
    }
    Sys::Ret(0)
}

/// The result of an attribute change through a description: on success inotify hears
/// `event`.
fn fd_attrib_changed(f: &FileRef, r: Result<(), Errno>, event: u32) -> Sys {
    tryk!(r);
    if event != 0 {
        f.borrow().notify_inode(event);
    }
    Sys::Ret(0)
}

pub(super) fn truncate(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let p = tryk!(c.read_path(a[0]));
    if (a[1] as i64) < 0 {
        return err(libc::EINVAL);
    }
    let f = tryk!(c.open_quiet(&p, libc::O_WRONLY));
    let r = super::file::truncate_file(c, &f, a[1]);
    ret(r.map(|_| 0))
}

pub(super) fn chdir(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let p = tryk!(c.read_path(a[0]));
    let r = tryk!(c.resolve(&p, true));
    let st = tryk!(c.lstat(&r));
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return err(libc::ENOTDIR);
    }
    tryk!(c.creds().may(&(&st).into(), MAY_EXEC));
    c.set_cwd(r.path);
    Sys::Ret(0)
}

pub(super) fn fchdir(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let dir = tryk!(c.dirfd_path(a[0] as i32, b"x"));
    // Search permission on the directory, as chdir.
    let st = tryk!(tryk!(c.file(a[0])).borrow().imp.stat());
    tryk!(c.creds().may(&(&st).into(), MAY_EXEC));
    c.set_cwd(dir);
    Sys::Ret(0)
}

pub(super) fn getcwd(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let mut cwd = c.cwd().into_bytes();
    cwd.push(0);
    if (a[1] as usize) < cwd.len() {
        return err(libc::ERANGE);
    }
    ret(c.write_mem(a[0], &cwd).map(|_| cwd.len() as i64))
}

pub(super) fn umask(c: &mut SysCtx) -> Sys {
    let old = c.set_umask(c.arg(0) as u32);
    Sys::Ret(old as i64)
}

/// statfs(2): of the file system `path` is on (its final symlink followed).
pub(super) fn statfs(c: &mut SysCtx) -> Sys {
    let p = tryk!(c.read_path(c.arg(0)));
    let r = tryk!(c.resolve(&p, true));
    if !r.exists {
        return err(libc::ENOENT);
    }
    let (st, flags) = match &r.file {
        Some(f) => (tryk!(file_statfs(c, f)), 0),
        None => tryk!(c.vfs().statfs(&r)),
    };
    ret(c
        .write_mem(c.arg(1), &crate::fs::statfs_bytes(&st, flags))
        .map(|_| 0))
}

/// fstatfs(2): of the file system the open file is on (an O_PATH one too).
pub(super) fn fstatfs(c: &mut SysCtx) -> Sys {
    let f = tryk!(c.file(c.arg(0)));
    let st = tryk!(file_statfs(c, &f));
    ret(c
        .write_mem(c.arg(1), &crate::fs::statfs_bytes(&st, 0))
        .map(|_| 0))
}

/// The file system of an open file: its kind's own, else that of the mount its path is in.
fn file_statfs(c: &SysCtx, f: &crate::fs::file::FileRef) -> Result<libc::statfs, i32> {
    let fb = f.borrow();
    if let Some(st) = fb.imp.statfs() {
        return st;
    }
    if !fb.path.starts_with('/') {
        // anon_inode:[eventfd] and the like.
        return Ok(crate::fs::synth_statfs(crate::fs::ANON_INODE_FS_MAGIC));
    }
    let (mount, rel) = c.vfs().mount_for(&crate::fs::split(&fb.path));
    let r = crate::fs::Resolved {
        mount,
        rel,
        path: fb.path.clone(),
        exists: true,
        file: None,
    };
    c.vfs().statfs(&r).map(|(st, _)| st)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use crate::kernel::Kernel;
    use crate::testing::{kernel, SCRATCH};

    /// A root with /etc (0755 root) holding secret (0600 root) and /pub (0777).
    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let mode = |p: &std::path::Path, m| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        mode(d.path(), 0o755);
        std::fs::create_dir(d.path().join("etc")).unwrap();
        mode(&d.path().join("etc"), 0o755);
        std::fs::write(d.path().join("etc/secret"), "s").unwrap();
        mode(&d.path().join("etc/secret"), 0o600);
        std::fs::create_dir(d.path().join("pub")).unwrap();
        mode(&d.path().join("pub"), 0o777);
        d
    }

    fn open(k: &mut Kernel, t: i32, path: &str, flags: i32) -> i64 {
        let p = k.put_str(t, SCRATCH, path);
        let at = libc::AT_FDCWD as u64;
        k.call(t, libc::SYS_openat, [at, p, flags as u64, 0o644, 0, 0])
            .unwrap()
    }

    fn root_can_chown() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn linkat_at_empty_path_needs_the_opener_s_credentials_or_cap_dac_read_search() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), "x").unwrap();
        let mut k = kernel(d.path());
        let t = k.test_process(0, 0);
        let at = libc::AT_FDCWD as u64;
        let empty = libc::AT_EMPTY_PATH as u64;
        let link = |k: &mut Kernel, t: i32, fd: u64, from: &str, name: &str| {
            let f = k.put_str(t, SCRATCH + 256, from);
            let n = k.put_str(t, SCRATCH + 512, name);
            k.call(t, libc::SYS_linkat, [fd, f, at, n, empty, 0])
        };
        // CAP_DAC_READ_SEARCH in the effective set or not, every capability permitted: a
        // change of the credentials either way.
        let dac_read_search = |k: &mut Kernel, on: bool| {
            let lo = if on { u32::MAX } else { !(1 << 2) };
            k.put(t, SCRATCH, &0x2008_0522u32.to_le_bytes());
            k.put(t, SCRATCH + 4, &0u32.to_le_bytes());
            let d: Vec<u8> = [lo, u32::MAX, 0, 0x1ff, 0x1ff, 0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            k.put(t, SCRATCH + 16, &d);
            let r = k.call(t, libc::SYS_capset, [SCRATCH, SCRATCH + 16, 0, 0, 0, 0]);
            assert_eq!(r, Some(0));
        };
        let enoent = Some(-(libc::ENOENT as i64));
        // Opened with the caller's credentials: linked without the capability.
        dac_read_search(&mut k, false);
        let fd = open(&mut k, t, "/f", libc::O_RDONLY) as u64;
        assert_eq!(link(&mut k, t, fd, "", "same"), Some(0));
        // Reading credentials changes nothing; setting them (even as they were) does.
        let keepcaps = [libc::PR_GET_KEEPCAPS as u64, 0, 0, 0, 0, 0];
        assert_eq!(k.call(t, libc::SYS_prctl, keepcaps), Some(0));
        assert_eq!(link(&mut k, t, fd, "", "after_get"), Some(0));
        dac_read_search(&mut k, false);
        assert_eq!(link(&mut k, t, fd, "", "changed"), enoent);
        // With the capability, any file; from the cwd, no check.
        dac_read_search(&mut k, true);
        assert_eq!(link(&mut k, t, fd, "", "with_cap"), Some(0));
        dac_read_search(&mut k, false);
        assert_eq!(link(&mut k, t, at, "f", "from_cwd"), Some(0));
        // A thread shares its creator's credentials; a forked child has its own.
        let fd = open(&mut k, t, "/f", libc::O_RDONLY) as u64;
        let thread = k.test_thread(t);
        assert_eq!(link(&mut k, thread, fd, "", "thread"), Some(0));
        let child = k.call(t, libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]);
        let child = child.unwrap() as i32;
        assert_eq!(link(&mut k, child, fd, "", "child"), enoent);
        for name in ["same", "after_get", "with_cap", "from_cwd", "thread"] {
            assert!(d.path().join(name).exists(), "{name}");
        }
        assert!(!d.path().join("changed").exists() && !d.path().join("child").exists());
    }

    #[test]
    fn open_and_create_check_permissions_and_set_the_owner() {
        if !root_can_chown() {
            return; // the checks need files of several owners
        }
        let d = tree();
        let mut k = kernel(d.path());
        let u = k.test_process(1000, 1000);
        let eacces = -(libc::EACCES as i64);
        assert_eq!(open(&mut k, u, "/etc/secret", libc::O_RDONLY), eacces);
        assert_eq!(
            open(&mut k, u, "/etc/new", libc::O_CREAT | libc::O_WRONLY),
            eacces
        );
        assert!(open(&mut k, u, "/pub/mine", libc::O_CREAT | libc::O_WRONLY) >= 0);
        let md = std::fs::metadata(d.path().join("pub/mine")).unwrap();
        assert_eq!((md.uid(), md.gid(), md.mode() & 0o777), (1000, 1000, 0o644));
        assert!(!d.path().join("etc/new").exists());
        let r = k.test_process(0, 0);
        assert!(open(&mut k, r, "/etc/secret", libc::O_RDONLY) >= 0);
    }

    #[test]
    fn chmod_is_for_the_owner_and_mkdir_applies_the_umask() {
        if !root_can_chown() {
            return;
        }
        let d = tree();
        let mut k = kernel(d.path());
        let u = k.test_process(1000, 1000);
        let at = libc::AT_FDCWD as u64;
        let p = k.put_str(u, SCRATCH, "/etc/secret");
        assert_eq!(
            k.call(u, libc::SYS_fchmodat, [at, p, 0o777, 0, 0, 0]),
            Some(-(libc::EPERM as i64))
        );
        assert_eq!(
            k.call(u, libc::SYS_umask, [0o077, 0, 0, 0, 0, 0]),
            Some(0o022)
        );
        let p = k.put_str(u, SCRATCH, "/pub/dir");
        assert_eq!(
            k.call(u, libc::SYS_mkdirat, [at, p, 0o777, 0, 0, 0]),
            Some(0)
        );
        let md = std::fs::metadata(d.path().join("pub/dir")).unwrap();
        assert_eq!((md.uid(), md.mode() & 0o777), (1000, 0o700));
        let p = k.put_str(u, SCRATCH, "/pub/dir");
        assert_eq!(
            k.call(u, libc::SYS_fchmodat, [at, p, 0o755, 0, 0, 0]),
            Some(0)
        );
    }

    #[test]
    fn search_permission_is_checked_on_every_directory() {
        if !root_can_chown() {
            return;
        }
        let d = tree();
        std::fs::set_permissions(d.path().join("etc"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::fs::write(d.path().join("etc/open"), "o").unwrap();
        std::fs::set_permissions(
            d.path().join("etc/open"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let mut k = kernel(d.path());
        let u = k.test_process(1000, 1000);
        assert_eq!(
            open(&mut k, u, "/etc/open", libc::O_RDONLY),
            -(libc::EACCES as i64)
        );
        let p = k.put_str(u, SCRATCH, "/etc");
        assert_eq!(
            k.call(u, libc::SYS_chdir, [p, 0, 0, 0, 0, 0]),
            Some(-(libc::EACCES as i64))
        );
    }

    #[test]
    fn dot_paths_are_refused_and_mkdir_gets_exactly_the_umask_s_mode() {
        let d = tree();
        std::fs::create_dir(d.path().join("pub/a")).unwrap();
        let mut k = kernel(d.path());
        let r = k.test_process(0, 0);
        let at = libc::AT_FDCWD as u64;
        let call = |k: &mut Kernel, nr: i64, a: &str, b: &str, flags: u64| {
            let p = k.put_str(r, SCRATCH, a);
            let q = k.put_str(r, SCRATCH + 512, b);
            match nr {
                libc::SYS_renameat2 => k.call(r, nr, [at, p, at, q, flags, 0]),
                _ => k.call(r, nr, [at, p, flags, 0, 0, 0]),
            }
            .unwrap()
        };
        let ebusy = -(libc::EBUSY as i64);
        assert_eq!(
            call(&mut k, libc::SYS_renameat2, "/pub/a/.", "/pub/b", 0),
            ebusy
        );
        assert_eq!(
            call(&mut k, libc::SYS_renameat2, "/pub/a", "/pub/..", 0),
            ebusy
        );
        let rmdir = libc::AT_REMOVEDIR as u64;
        assert_eq!(
            call(&mut k, libc::SYS_unlinkat, "/pub/a/.", "", rmdir),
            -(libc::EINVAL as i64)
        );
        assert_eq!(
            call(&mut k, libc::SYS_unlinkat, "/pub/a/..//", "", rmdir),
            -(libc::ENOTEMPTY as i64)
        );
        assert_eq!(
            call(&mut k, libc::SYS_unlinkat, "/pub/a/.", "", 0),
            -(libc::EISDIR as i64)
        );
        assert!(d.path().join("pub/a").is_dir());
        assert_eq!(k.call(r, libc::SYS_umask, [0, 0, 0, 0, 0, 0]), Some(0o022));
        assert_eq!(call(&mut k, libc::SYS_mkdirat, "/pub/open", "", 0o777), 0);
        let md = std::fs::metadata(d.path().join("pub/open")).unwrap();
        assert_eq!(md.mode() & 0o777, 0o777);
        // statx refuses unknown flags, both sync flags and the reserved mask bit.
        let p = k.put_str(r, SCRATCH, "/pub");
        let statx = |k: &mut Kernel, flags: u64, mask: u64| {
            k.call(r, libc::SYS_statx, [at, p, flags, mask, SCRATCH + 1024, 0])
                .unwrap()
        };
        let einval = -(libc::EINVAL as i64);
        assert_eq!(statx(&mut k, 12345, 0), einval);
        assert_eq!(statx(&mut k, libc::AT_STATX_SYNC_TYPE as u64, 0), einval);
        assert_eq!(statx(&mut k, 0, 0x8000_0000), einval);
        assert_eq!(statx(&mut k, 0, libc::STATX_BASIC_STATS as u64), 0);
    }
}
