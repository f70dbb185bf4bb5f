//! inotify_init1, inotify_add_watch, inotify_rm_watch: the instance and its events are
//! `crate::fs::inotify`.

use super::ret;
use crate::creds::MAY_READ;
use crate::fs::file::OpenFile;
use crate::fs::inotify::{
    InodeKey, InotifyFile, IN_DONT_FOLLOW, IN_MASK_ADD, IN_MASK_CREATE, WATCH_BITS,
};
use crate::kernel::{err, Sys, SysCtx};
use crate::mm::Errno;

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

/// inotify_init1 (inotify_init: with no flags).
pub(super) fn init(c: &mut SysCtx, flags: u64) -> Sys {
    let flags = flags as i32;
    if flags & !(libc::IN_CLOEXEC | libc::IN_NONBLOCK) != 0 {
        return err(libc::EINVAL);
    }
    let id = c.new_obj_id();
    let f = OpenFile::new(
        Box::new(InotifyFile::new(id)),
        libc::O_RDONLY | (flags & libc::O_NONBLOCK),
        "anon_inode:inotify",
    );
    ret(c
        .install(f, flags & libc::IN_CLOEXEC != 0)
        .map(|fd| fd as i64))
}

/// Runs `f` on the inotify instance `fd` names: EBADF for no file, EINVAL for another
/// kind.
fn with_inotify<R>(
    c: &SysCtx,
    fd: u64,
    f: impl FnOnce(&mut InotifyFile) -> Result<R, Errno>,
) -> Result<R, Errno> {
    let file = c.file(fd)?;
    let mut fb = file.borrow_mut();
    let i = fb
        .io()
        .ok()
        .and_then(|imp| imp.as_any_mut().downcast_mut::<InotifyFile>())
        .ok_or(libc::EINVAL)?;
    f(i)
}

pub(super) fn inotify_add_watch(c: &mut SysCtx) -> Sys {
    let [fd, path, mask, ..] = c.args();
    let mask = mask as u32;
    // The instance first (EBADF, EINVAL), then the mask, then the path.
    tryk!(with_inotify(c, fd, |_| Ok(())));
    if mask & !WATCH_BITS != 0
        || mask & 0xfff == 0
        || mask & (IN_MASK_ADD | IN_MASK_CREATE) == IN_MASK_ADD | IN_MASK_CREATE
    {
        return err(libc::EINVAL);
    }
    let p = tryk!(c.read_path(path));
    let r = tryk!(c.resolve(&p, mask & IN_DONT_FOLLOW == 0));
    if !r.exists {
        return err(libc::ENOENT);
    }
    let st = tryk!(c.lstat(&r));
    tryk!(c.creds().may(&(&st).into(), MAY_READ));
    let isdir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    ret(with_inotify(c, fd, |i| {
        i.add_watch(InodeKey::of(&st), isdir, &r.path, mask)
    })
    .map(|wd| wd as i64))
}

pub(super) fn inotify_rm_watch(c: &mut SysCtx) -> Sys {
    let [fd, wd, ..] = c.args();
    ret(with_inotify(c, fd, |i| i.rm_watch(wd as i32)).map(|_| 0))
}
