//! eventfd, epoll_create, epoll_ctl, epoll_wait and epoll_pwait(2).

use super::ret;
use crate::fs::file::OpenFile;
use crate::ipc::epoll::{
    interest_key, may_watch, Edge, EpollFile, Interest, NestError, EPOLLONESHOT,
};
use crate::ipc::eventfd::EventFd;
use crate::kernel::task::{Park, WaitKey};
use crate::kernel::{err, Sys, SysCtx};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

const EPOLLEXCLUSIVE: u32 = 1 << 28;
const EPOLLWAKEUP: u32 = 1 << 29;

/// eventfd2, and eventfd with no flags.
pub(super) fn eventfd2(c: &mut SysCtx, initval: u64, flags: u64) -> Sys {
    let flags = flags as i32;
    if flags & !(libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | libc::EFD_SEMAPHORE) != 0 {
        return err(libc::EINVAL);
    }
    let id = c.new_obj_id();
    let e = EventFd::new(id, initval as u32 as u64, flags & libc::EFD_SEMAPHORE != 0);
    let f = OpenFile::new(
        Box::new(e),
        libc::O_RDWR | (flags & libc::O_NONBLOCK),
        "anon_inode:[eventfd]",
    );
    ret(c
        .install(f, flags & libc::O_CLOEXEC != 0)
        .map(|fd| fd as i64))
}

/// epoll_create1, and epoll_create with no flags.
pub(super) fn epoll_create1(c: &mut SysCtx, flags: u64) -> Sys {
    if flags as i32 & !libc::EPOLL_CLOEXEC != 0 {
        return err(libc::EINVAL);
    }
    let id = c.new_obj_id();
    let f = OpenFile::new(
        Box::new(EpollFile::new(id)),
        libc::O_RDWR,
        "anon_inode:[eventpoll]",
    );
    ret(c
        .install(f, flags as i32 & libc::EPOLL_CLOEXEC != 0)
        .map(|fd| fd as i64))
}

fn epoll_of(c: &SysCtx, epfd: u64) -> Result<crate::ipc::epoll::EpollRef, i32> {
    let f = c.file(epfd)?;
    let fb = f.borrow();
    match fb.kind::<EpollFile>() {
        Some(e) => Ok(e.set.clone()),
        None => Err(libc::EINVAL),
    }
}

pub(super) fn epoll_ctl(c: &mut SysCtx) -> Sys {
    let [epfd, op, fd, evp, ..] = c.args();
    let op = op as i32;
    let set = tryk!(epoll_of(c, epfd));
    let target = tryk!(c.file(fd));
    if fd == epfd {
        return err(libc::EINVAL);
    }
    // Regular files and directories are always ready: Linux refuses them here.
    if !target.borrow().imp.epoll_watchable() {
        return err(libc::EPERM);
    }
    let nested = target.borrow().kind::<EpollFile>().map(|e| e.set.clone());
    if let (Some(t), libc::EPOLL_CTL_ADD) = (&nested, op) {
        match may_watch(&set, t) {
            Ok(()) => {}
            Err(NestError::Itself) => return err(libc::EINVAL),
            Err(NestError::Loop) => return err(libc::ELOOP),
        }
    }
    let ev = if op != libc::EPOLL_CTL_DEL {
        let b = tryk!(c.read_mem(evp, 12));
        let events = u32::from_le_bytes(b[..4].try_into().expect("4"));
        let data = u64::from_le_bytes(b[4..12].try_into().expect("8"));
        Some((events & !(EPOLLEXCLUSIVE | EPOLLWAKEUP), data))
    } else {
        None
    };
    let mut s = set.borrow_mut();
    s.prune();
    // The interest in the file `fd` names now, under `fd`.
    let key = interest_key(fd as i32, &target);
    match op {
        libc::EPOLL_CTL_ADD => {
            if s.interests.contains_key(&key) {
                return err(libc::EEXIST);
            }
            let (events, data) = ev.expect("read above");
            s.interests
                .insert(key, Interest::new(&target, events, data));
        }
        libc::EPOLL_CTL_MOD => {
            let (events, data) = ev.expect("read above");
            let Some(i) = s.interests.get_mut(&key) else {
                return err(libc::ENOENT);
            };
            i.events = events;
            i.data = data;
            i.disabled = false;
            // As Linux, a modified interest looks at its file afresh: it reports it if
            // ready, edge-triggered or not.
            i.edge = Edge::Pending;
        }
        libc::EPOLL_CTL_DEL => {
            if s.interests.remove(&key).is_none() {
                return err(libc::ENOENT);
            }
        }
        _ => return err(libc::EINVAL),
    }
    drop(s);
    // A waiter may now have something to see.
    let id = set.borrow().id;
    c.notify(&WaitKey::Object(id));
    Sys::Ret(0)
}

/// epoll_wait and friends. `timeout_ns` None waits forever; `maskp` is a temporary
/// signal mask (epoll_pwait).
pub(super) fn epoll_wait(
    c: &mut SysCtx,
    epfd: u64,
    evp: u64,
    max: u64,
    timeout_ns: Option<u64>,
    maskp: u64,
) -> Sys {
    let max = max as i32;
    if max <= 0 || max > 1 << 20 {
        return err(libc::EINVAL);
    }
    let set = tryk!(epoll_of(c, epfd));
    if maskp != 0 && !c.temp_mask_active() {
        let m = tryk!(c.read_u64(maskp));
        c.set_temp_mask(m);
    }
    let deadline = timeout_ns.map(|ns| c.deadline(ns));
    let mut out = Vec::new();
    let mut keys = vec![WaitKey::Object(set.borrow().id)];
    {
        let mut s = set.borrow_mut();
        s.prune();
        for i in s.interests.values_mut() {
            if out.len() >= max as usize * 12 {
                break;
            }
            if i.disabled {
                continue;
            }
            let Some(f) = i.file.upgrade() else { continue };
            let (r, k) = i.ready_events(c.readiness(&f, i.poll_events()));
            let report = i.may_report(r != 0, &k);
            keys.extend(k);
            if report {
                out.extend_from_slice(&r.to_le_bytes());
                out.extend_from_slice(&i.data.to_le_bytes());
                if i.events & EPOLLONESHOT != 0 {
                    i.disabled = true;
                }
            }
        }
    }
    if out.is_empty() && deadline.is_none_or(|d| c.now() < d) {
        return Sys::Park(Park { keys, deadline });
    }
    c.restore_temp_mask();
    tryk!(c.write_mem(evp, &out));
    Sys::Ret((out.len() / 12) as i64)
}
