//! Signal-driven I/O: a description with `O_ASYNC` and an owner (`F_SETOWN`) signals its
//! owner when it becomes ready — SIGIO without details, or the `F_SETSIG` signal with
//! `si_code` POLL_IN/POLL_OUT, `si_band` and `si_fd`, as Linux's `kill_fasync` does.
//!
//! The descriptions that turned `O_ASYNC` on are watched (weakly: closing the last fd
//! ends the watch); every notification of a wait key ([`Kernel::notify_side`]) looks
//! at the watched ones whose file waits on that key. Only the kinds Linux signals for
//! (pipes, FIFOs, sockets: [`FileImpl::signals_io`]) are signalled.

use std::rc::Rc;

use super::signal::{SigInfo, SI_KERNEL};
use super::Kernel;
use crate::fs::file::{AsyncIo, FileRef, Owner, OwnerKind};
use crate::wait::{WaitKey, EDGE_IN, EDGE_OUT};

/// `si_code` of a signal-driven I/O signal: input ready.
const POLL_IN: i32 = 1;
/// `si_code`: output possible.
const POLL_OUT: i32 = 2;

impl Kernel {
    /// Watches `file`, whose `O_ASYNC` was just turned on through fd `fd` (what `si_fd`
    /// will say).
    pub(crate) fn watch_async(&mut self, file: &FileRef, fd: i32) {
        file.borrow_mut().async_io.fd = fd;
        self.async_files.retain(|w| w.strong_count() > 0);
        if !self
            .async_files
            .iter()
            .any(|w| w.as_ptr() == Rc::as_ptr(file))
        {
            self.async_files.push(Rc::downgrade(file));
        }
    }

    /// Signals the owners of the watched descriptions that wait on `key`, after a change
    /// of the sides `sides` (EDGE_IN: data arrived; EDGE_OUT: room freed).
    pub(super) fn signal_io(&mut self, key: &WaitKey, sides: u8) {
        if self.async_files.is_empty() || sides == 0 || self.signalling_io {
            return;
        }
        let mut sends = Vec::new();
        let actor = self.io_actor;
        self.async_files.retain(|w| {
            let Some(f) = w.upgrade() else { return false };
            // A description's own read or write does not signal it (nor does a change
            // while it is borrowed, which is its own call's).
            if actor == Some(Rc::as_ptr(&f)) {
                return true;
            }
            if let Ok(fb) = f.try_borrow() {
                if let Some(send) = due(&fb, key, sides) {
                    sends.push(send);
                }
            }
            true
        });
        // Queuing a signal notifies the process's signal key: no signal-driven I/O
        // comes of that (a signalfd does not signal).
        self.signalling_io = true;
        for (owner, io, reason) in sends {
            self.send_sigio(owner, io, reason);
        }
        self.signalling_io = false;
    }

    /// Sends one signal-driven I/O signal to what `owner` names, where its setter may
    /// signal (Linux's `sigio_perm`).
    fn send_sigio(&mut self, owner: Owner, io: AsyncIo, reason: i32) {
        let info = if io.sig == 0 {
            SigInfo::new(libc::SIGIO, SI_KERNEL)
        } else {
            let mut info = SigInfo::new(io.sig, reason);
            let band: i64 = match reason {
                POLL_IN => (libc::POLLIN | libc::POLLRDNORM) as i64,
                _ => (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) as i64,
            };
            info.fields[0..8].copy_from_slice(&band.to_le_bytes());
            info.fields[8..12].copy_from_slice(&io.fd.to_le_bytes());
            info
        };
        let allowed = |c: &crate::creds::Creds| {
            owner.euid == 0
                || [c.suid, c.uid].contains(&owner.euid)
                || [c.suid, c.uid].contains(&owner.uid)
        };
        match owner.kind {
            OwnerKind::Thread => {
                let ok = self
                    .tasks
                    .get(&owner.id)
                    .and_then(|t| self.tgs.get(&t.tgid))
                    .is_some_and(|g| allowed(&g.creds));
                if ok {
                    self.signal_task(owner.id, info);
                }
            }
            OwnerKind::Process | OwnerKind::Group => {
                let pids: Vec<i32> = self
                    .tgs
                    .values()
                    .filter(|g| g.zombie.is_none() && allowed(&g.creds))
                    .filter(|g| match owner.kind {
                        OwnerKind::Group => g.pgid == owner.id,
                        _ => g.pid == owner.id,
                    })
                    .map(|g| g.pid)
                    .collect();
                for pid in pids {
                    self.signal_group(pid, info.clone());
                }
            }
        }
    }

    /// Whether `id` names something an owner of `kind` can be: ESRCH if not.
    pub(crate) fn owner_exists(&self, kind: OwnerKind, id: i32) -> bool {
        match kind {
            OwnerKind::Thread => self.tasks.contains_key(&id),
            // A zombie's pid is still its own until it is reaped.
            OwnerKind::Process => self.tgs.contains_key(&id),
            OwnerKind::Group => self.tgs.values().any(|g| g.pgid == id),
        }
    }

    /// Watches again the restored descriptions that have `O_ASYNC` on.
    pub(super) fn watch_restored_async<'a>(&mut self, files: impl Iterator<Item = &'a FileRef>) {
        for f in files {
            if f.borrow().flags & libc::O_ASYNC != 0 {
                self.async_files.push(Rc::downgrade(f));
            }
        }
    }
}

/// The signal a watched description is due after a change of `sides` on `key`, if any:
/// (owner, settings, POLL_IN or POLL_OUT).
fn due(fb: &crate::fs::file::OpenFile, key: &WaitKey, sides: u8) -> Option<(Owner, AsyncIo, i32)> {
    let owner = fb.async_io.owner?;
    if fb.flags & libc::O_ASYNC == 0 || !fb.imp.signals_io() {
        return None;
    }
    // The first key of a file is the one its input arrives on (a pipe's, a socket's
    // own); the others say its peer changed. Input is signalled when it arrives there;
    // room for output only on a change that is room freed (a read), never on one that
    // only says "something changed" (a peer's close, a message queued).
    let (ready, keys) = fb
        .imp
        .readiness(libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP);
    let input = libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLRDHUP;
    let reason = if sides & EDGE_IN != 0 && keys.first() == Some(key) && ready & input != 0 {
        POLL_IN
    } else if sides == EDGE_OUT && keys.contains(key) && ready & libc::POLLOUT != 0 {
        POLL_OUT
    } else {
        return None;
    };
    Some((owner, fb.async_io, reason))
}
