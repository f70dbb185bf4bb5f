//! Signal-driven I/O from the guest's side: `O_ASYNC` turned on and off (fcntl F_SETFL,
//! ioctl FIOASYNC), the owner (F_SETOWN, F_SETOWN_EX, ioctl FIOSETOWN/SIOCSPGRP) and the
//! signal (F_SETSIG) of a description, and reading them back. The kernel signals
//! (`kernel/sigio.rs`).

use super::ret;
use crate::fs::file::{FileRef, Owner, OwnerKind};
use crate::kernel::{err, Sys, SysCtx};

pub(super) const F_SETSIG: i32 = 10;
pub(super) const F_GETSIG: i32 = 11;
pub(super) const F_SETOWN_EX: i32 = 15;
pub(super) const F_GETOWN_EX: i32 = 16;
/// Sockets' ioctls for the owner (asm-generic/sockios.h).
const FIOSETOWN: u64 = 0x8901;
const SIOCSPGRP: u64 = 0x8902;
const FIOGETOWN: u64 = 0x8903;
const SIOCGPGRP: u64 = 0x8904;
/// `struct f_owner_ex`'s types.
const F_OWNER_TID: i32 = 0;
const F_OWNER_PID: i32 = 1;
const F_OWNER_PGRP: i32 = 2;

/// Sets the status flags `flags` wants among `settable`; a description whose `O_ASYNC`
/// turns on through `fd` starts being watched.
pub(super) fn set_status_flags(c: &mut SysCtx, f: &FileRef, fd: i32, settable: i32, flags: i32) {
    let turned_on = {
        let mut fb = f.borrow_mut();
        let old = fb.flags;
        fb.flags = (old & !settable) | (flags & settable);
        let new = fb.flags;
        fb.imp.set_status_flags(new);
        old & libc::O_ASYNC == 0 && new & libc::O_ASYNC != 0
    };
    if turned_on {
        c.watch_async(f, fd);
    }
}

/// The fcntl commands of signal-driven I/O.
pub(super) fn fcntl(c: &mut SysCtx, f: &FileRef, cmd: i32, arg: u64) -> Sys {
    match cmd {
        libc::F_SETOWN => ret(set_owner_pid(c, f, arg as i32).map(|_| 0)),
        libc::F_GETOWN => Sys::Ret(owner_pid(c, f) as i64),
        F_SETOWN_EX => {
            let raw = match c.read_mem(arg, 8) {
                Ok(b) => b,
                Err(e) => return err(e),
            };
            let word = |i: usize| i32::from_le_bytes(raw[i..i + 4].try_into().expect("4"));
            let kind = match word(0) {
                F_OWNER_TID => OwnerKind::Thread,
                F_OWNER_PID => OwnerKind::Process,
                F_OWNER_PGRP => OwnerKind::Group,
                _ => return err(libc::EINVAL),
            };
            ret(set_owner(c, f, kind, word(4)).map(|_| 0))
        }
        F_GETOWN_EX => {
            let (kind, id) = match f.borrow().async_io.owner {
                None => (F_OWNER_TID, 0),
                Some(o) => (
                    match o.kind {
                        OwnerKind::Thread => F_OWNER_TID,
                        OwnerKind::Process => F_OWNER_PID,
                        OwnerKind::Group => F_OWNER_PGRP,
                    },
                    if c.owner_exists(o.kind, o.id) {
                        o.id
                    } else {
                        0
                    },
                ),
            };
            let mut raw = kind.to_le_bytes().to_vec();
            raw.extend_from_slice(&id.to_le_bytes());
            ret(c.write_mem(arg, &raw).map(|_| 0))
        }
        F_SETSIG => {
            // An unsigned long on Linux: a negative int is no signal either.
            if arg > 64 {
                return err(libc::EINVAL);
            }
            f.borrow_mut().async_io.sig = arg as i32;
            Sys::Ret(0)
        }
        F_GETSIG => Sys::Ret(f.borrow().async_io.sig as i64),
        _ => err(libc::EINVAL),
    }
}

/// The ioctls of signal-driven I/O, or None for another request.
pub(super) fn ioctl(c: &mut SysCtx, f: &FileRef, fd: i32, req: u64, arg: u64) -> Option<Sys> {
    Some(match req {
        libc::FIOASYNC => {
            let on = match c.read_u32(arg) {
                Ok(v) => v != 0,
                Err(e) => return Some(err(e)),
            };
            let flags = if on { libc::O_ASYNC } else { 0 };
            set_status_flags(c, f, fd, libc::O_ASYNC, flags);
            Sys::Ret(0)
        }
        // Sockets' own: the owner as F_SETOWN/F_GETOWN take it, through a pointer.
        FIOSETOWN | SIOCSPGRP | FIOGETOWN | SIOCGPGRP
            if crate::net::socket_of(&mut *f.borrow_mut().imp).is_some() =>
        {
            if matches!(req, FIOGETOWN | SIOCGPGRP) {
                let pid = owner_pid(c, f);
                ret(c.write_u32(arg, pid as u32).map(|_| 0))
            } else {
                match c.read_u32(arg) {
                    Ok(v) => ret(set_owner_pid(c, f, v as i32).map(|_| 0)),
                    Err(e) => err(e),
                }
            }
        }
        _ => return None,
    })
}

/// F_SETOWN's argument: a process, minus a process group, 0 for nobody.
fn set_owner_pid(c: &mut SysCtx, f: &FileRef, pid: i32) -> Result<(), i32> {
    match pid {
        i32::MIN => Err(libc::EINVAL),
        p if p < 0 => set_owner(c, f, OwnerKind::Group, -p),
        p => set_owner(c, f, OwnerKind::Process, p),
    }
}

/// F_GETOWN's answer: the owner's id, negative for a process group; 0 for nobody, also
/// once the owner is gone (as Linux: its pid no longer names anything).
fn owner_pid(c: &SysCtx, f: &FileRef) -> i32 {
    match f.borrow().async_io.owner {
        Some(o) if c.owner_exists(o.kind, o.id) => match o.kind {
            OwnerKind::Group => -o.id,
            _ => o.id,
        },
        _ => 0,
    }
}

/// Makes `id` (0: nobody) of `kind` the owner, with the caller's user ids; ESRCH if it
/// names nothing.
fn set_owner(c: &mut SysCtx, f: &FileRef, kind: OwnerKind, id: i32) -> Result<(), i32> {
    let owner = match id {
        0 => None,
        id if id < 0 || !c.owner_exists(kind, id) => return Err(libc::ESRCH),
        id => Some(Owner {
            kind,
            id,
            uid: c.creds().uid,
            euid: c.creds().euid,
        }),
    };
    f.borrow_mut().async_io.owner = owner;
    Ok(())
}
