//! Open file descriptions and the fd table.
//!
//! An open file description is an [`OpenFile`]: what every description has (status flags,
//! guest path, a position for the kinds that use one) and its kind, a `Box<dyn FileImpl>`.
//! Each kind lives in the module of its concept (`ipc/pipe.rs`, `fs/host.rs`, ...) with
//! its saved form beside it ([`Persist`](crate::fs::persist::Persist)), and is registered
//! once in `crate::kinds`. The system calls see only this trait; the few that act on one concrete kind (epoll_ctl on an epoll
//! set, the pipe-size fcntls) ask for it by type with [`OpenFile::kind`].

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::fs::persist::{Registered, SaveCtx};
use crate::mm::Errno;
use crate::wait::WaitKey;

/// Why an I/O call did not complete.
#[derive(Debug, PartialEq, Eq)]
pub enum IoErr {
    Errno(Errno),
    /// Would block: park on this key. A kind returns it whatever the description's
    /// O_NONBLOCK; [`OpenFile::read`] and [`OpenFile::write`] turn it into EAGAIN for a
    /// non-blocking description.
    Block(WaitKey),
    /// Writing to a pipe with no readers: EPIPE and SIGPIPE.
    Pipe,
}

impl From<Errno> for IoErr {
    fn from(e: Errno) -> Self {
        IoErr::Errno(e)
    }
}

/// What a mapping of a file starts with (the sentry copies a file's bytes into fresh
/// memory; there is no page cache that writes back yet).
#[derive(Debug, PartialEq, Eq)]
pub struct Mappable {
    /// The file's bytes from the mapping's offset (fewer than asked at its end).
    pub bytes: Vec<u8>,
    /// A shared writable mapping is fine: writes to it need not reach the file (/dev/zero).
    pub shared_writable: bool,
}

/// What an ioctl may reach of the task that makes it.
pub trait IoctlCaller {
    /// Copies `len` bytes in from the caller's memory.
    fn copy_in(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno>;
    /// Copies `data` out to the caller's memory.
    fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), Errno>;
    /// The caller's process group.
    fn pgid(&self) -> i32;
    /// The caller's session.
    fn sid(&self) -> i32;
    /// The caller's process id.
    fn tgid(&self) -> i32;
    /// The session of process group `pgid`, if it has a live process.
    fn group_session(&self, pgid: i32) -> Option<i32>;
    /// Whether the caller has capability `cap`.
    fn capable(&self, cap: u32) -> bool;
}

/// A permission check the caller makes against the file's current attributes before an
/// attribute changes (fchmod, fchown, futimens); for fchmod it returns the mode to set.
pub(crate) type Allowed<'a, T> = &'a dyn Fn(&libc::stat) -> Result<T, Errno>;

/// One kind of open file. Every method has the answer Linux gives for a file that lacks
/// the operation, so a kind writes only what it does.
///
/// `pos` is the description's position, for the kinds that keep one there (generated
/// files and directories); kinds with a position of their own (a host fd's offset) or
/// none (pipes) ignore it.
pub trait FileImpl: Kind {
    /// read(2) of up to `len` bytes (at `off` for pread). Would-block is
    /// `Err(IoErr::Block(key))`.
    fn read(&mut self, pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        let _ = (pos, len, off);
        Err(IoErr::Errno(libc::EINVAL))
    }

    /// write(2) of `data` (at `off` for pwrite); returns the bytes written.
    fn write(&mut self, pos: &mut u64, data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        let _ = (pos, data, off);
        Err(IoErr::Errno(libc::EINVAL))
    }

    /// poll/select/epoll: the events of `events` (plus POLLERR/POLLHUP where the kind
    /// reports them) that hold now, and the keys whose notification may change that:
    /// first the key the file's own input arrives on (signal-driven I/O signals input
    /// notified there), then any other (a peer's). Files that never block are always
    /// ready.
    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        (
            events & (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM),
            Vec::new(),
        )
    }

    /// The key to notify after I/O on the file or when a description of it closes (the
    /// other end of a pipe waits on it).
    fn notify_key(&self) -> Option<WaitKey> {
        None
    }

    /// lseek(2); returns the new offset.
    fn seek(&mut self, pos: &mut u64, off: i64, whence: i32) -> Result<i64, Errno> {
        let _ = (pos, off, whence);
        Err(libc::ESPIPE)
    }

    /// The kind's own ioctl requests (the generic ones, FIONBIO, FIOCLEX, FIONREAD, are
    /// served before).
    fn ioctl(&mut self, caller: &mut dyn IoctlCaller, req: u64, arg: u64) -> Result<i64, Errno> {
        let _ = (caller, req, arg);
        Err(libc::ENOTTY)
    }

    /// fstat(2). By default an anonymous inode, as Linux shows eventfds and epoll sets.
    fn stat(&self) -> Result<libc::stat, Errno> {
        Ok(anon_stat(0o600))
    }

    /// fstatfs(2): the file system the file is on. None: the one of the mount its path is
    /// in (generated and device files); kinds on a file system of their own (pipefs, a
    /// host file) say so. Anonymous inodes are on anon_inodefs.
    fn statfs(&self) -> Option<Result<libc::statfs, Errno>> {
        None
    }

    /// getdents64(2): linux_dirent64 records, at most `len` bytes.
    fn getdents(&mut self, pos: &mut u64, len: usize) -> Result<Vec<u8>, Errno> {
        let _ = (pos, len);
        Err(libc::ENOTDIR)
    }

    /// What an mmap of `len` bytes at `off` starts with; ENODEV for files that cannot be
    /// mapped.
    fn mmap(&self, off: u64, len: u64) -> Result<Mappable, Errno> {
        let _ = (off, len);
        Err(libc::ENODEV)
    }

    /// A directory: a dirfd of the `*at` calls, and fchdir.
    fn is_dir(&self) -> bool {
        false
    }

    /// A stream (a pipe, a terminal): it has no position, so pread/pwrite and their
    /// vector forms are ESPIPE whatever the access mode.
    fn is_stream(&self) -> bool {
        false
    }

    /// Whether epoll may watch it. Linux refuses regular files and directories (always
    /// ready) with EPERM.
    fn epoll_watchable(&self) -> bool {
        true
    }

    /// Whether `O_ASYNC` makes it signal its owner when it becomes ready (pipes and
    /// sockets; Linux accepts the flag on any file and ignores it on the others).
    fn signals_io(&self) -> bool {
        false
    }

    /// fsync(2)/fdatasync(2).
    fn sync(&mut self) -> Result<(), Errno> {
        Ok(())
    }

    /// ftruncate(2) of a description open for writing.
    fn truncate(&mut self, len: u64) -> Result<(), Errno> {
        let _ = len;
        Err(libc::EINVAL)
    }

    /// fallocate(2) of a description open for writing.
    fn allocate(&mut self, mode: i32, off: i64, len: i64) -> Result<(), Errno> {
        let _ = (mode, off, len);
        Err(libc::EBADF)
    }

    /// The host file whose `user.*` extended attributes are this file's (`fs::xattr`):
    /// a host file's own fd; None for a file that keeps none.
    fn xattr_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }

    /// fchmod(2): the mode `mode_for` allows given the file's attributes.
    fn chmod(&mut self, mode_for: Allowed<u32>) -> Result<(), Errno> {
        let _ = mode_for;
        Err(libc::EPERM)
    }

    /// fchown(2); `None` leaves an id as it is.
    fn chown(
        &mut self,
        uid: Option<u32>,
        gid: Option<u32>,
        allowed: Allowed<()>,
    ) -> Result<(), Errno> {
        let _ = (uid, gid, allowed);
        Err(libc::EPERM)
    }

    /// futimens(2). Files without times of their own accept it and keep none.
    fn set_times(
        &mut self,
        atime: &nix::sys::time::TimeSpec,
        mtime: &nix::sys::time::TimeSpec,
        allowed: Allowed<()>,
    ) -> Result<(), Errno> {
        let _ = (atime, mtime, allowed);
        Ok(())
    }

    /// The description's status flags changed (F_SETFL): `flags` are the new ones.
    fn set_status_flags(&mut self, flags: i32) {
        let _ = flags;
    }

    /// open(2) through a `/proc/PID/fd/N` link to a file no path reaches (a pipe, a
    /// terminal, a deleted file): a new description of the same file, opened with `flags`.
    /// Anonymous inodes (eventfd, epoll) cannot be opened again: ENXIO, as Linux.
    fn reopen(&self, flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
        let _ = flags;
        Err(libc::ENXIO)
    }

    /// What `readlink` of its `/proc/PID/fd/N` link shows: Linux's text for the file
    /// (`pipe:[INO]`, `anon_inode:[eventfd]`, a path), by default the description's path.
    fn link_text(&self, path: &str) -> String {
        path.to_string()
    }

    /// FIONREAD: the bytes a read would return now, for kinds that count them (None: 0).
    fn bytes_ready(&self) -> Option<usize> {
        None
    }

    /// A signalfd: the signals it reads. Its reads and readiness are the calling task's
    /// pending signals in this mask, which the calls that read or poll it take.
    fn signal_mask(&self) -> Option<u64> {
        None
    }
}

/// What every registered kind has, by a blanket implementation over [`Registered`] (which
/// only the registration in `crate::kinds` implements): a kind that is not registered does
/// not compile as a [`FileImpl`], and one without a saved form cannot be registered.
pub trait Kind: 'static {
    /// The kind's saved form, as the registration wraps it (a value of the image's
    /// saved-kind enum, type-erased: [`Registered::wrap`]).
    fn save_kind(&self, cx: &mut SaveCtx) -> Box<dyn Any>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Registered> Kind for T {
    fn save_kind(&self, cx: &mut SaveCtx) -> Box<dyn Any> {
        T::wrap(self.save(cx))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A stat of an anonymous inode with `mode`.
pub(crate) fn anon_stat(mode: u32) -> libc::stat {
    // SAFETY: libc::stat is plain integers; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = mode;
    st.st_nlink = 1;
    st.st_blksize = 4096;
    st
}

/// lseek on a position kept in the description, over a file of `size` bytes.
pub(crate) fn seek_in(pos: &mut u64, size: i64, off: i64, whence: i32) -> Result<i64, Errno> {
    let new = match whence {
        libc::SEEK_SET => Some(off),
        libc::SEEK_CUR => (*pos as i64).checked_add(off),
        libc::SEEK_END => size.checked_add(off),
        _ => return Err(libc::EINVAL),
    };
    match new {
        Some(n) if n >= 0 => {
            *pos = n as u64;
            Ok(n)
        }
        _ => Err(libc::EINVAL),
    }
}

/// read(2) of bytes held in the description (a generated file): up to `len` from `off`
/// (pread) or from the position, which then advances.
pub(crate) fn read_held(data: &[u8], pos: &mut u64, len: usize, off: Option<u64>) -> Vec<u8> {
    let at = off.unwrap_or(*pos).min(usize::MAX as u64) as usize;
    let out = data.get(at..).unwrap_or_default();
    let out = out[..out.len().min(len)].to_vec();
    if off.is_none() {
        *pos += out.len() as u64;
    }
    out
}

/// lseek on a file with no end to seek from (a generated file of procfs, a process's
/// memory): SEEK_SET and SEEK_CUR only, EINVAL for the others.
pub(crate) fn seek_without_end(pos: &mut u64, off: i64, whence: i32) -> Result<i64, Errno> {
    if whence != libc::SEEK_SET && whence != libc::SEEK_CUR {
        return Err(libc::EINVAL);
    }
    seek_in(pos, 0, off, whence)
}

/// An open file description, shared by dup'd fds and across fork.
///
/// An `O_PATH` description only names its file: it has no I/O ([`OpenFile::io`] is
/// EBADF), but fstat, fchdir, dup, the descriptor flags and the `*at` calls take it.
pub struct OpenFile {
    /// Access mode and status flags (O_RDONLY/O_WRONLY/O_RDWR, O_APPEND, O_NONBLOCK, ...).
    pub flags: i32,
    /// The position, for kinds that keep it here (generated files and directories).
    pub pos: u64,
    /// Guest path, for /proc/PID/fd and for reopening on restore.
    pub path: String,
    /// What the file is.
    pub imp: Box<dyn FileImpl>,
    /// Signal-driven I/O: who is signalled, and how, when the file becomes ready.
    pub async_io: AsyncIo,
    /// inotify: the file's inode, directory and name (files on host mounts); its drop is
    /// the description's last close. Not saved: found again from the path at restore.
    pub(crate) watch: Option<crate::fs::inotify::Node>,
    /// The credentials it was opened with (Linux's `f_cred`); none for a file the guest
    /// did not open (the container's stdio, opened by the runtime).
    pub(crate) opener: Option<Opener>,
}

/// The credentials an open file was opened with, as far as calls ask about them: their
/// identity (`Task::creds_id`: the same only while the opener's credentials are not
/// changed) and their user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opener {
    pub creds_id: u64,
    pub userns: crate::creds::UserNsRef,
}

/// An [`Opener`] as saved: the namespace by its inode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenerState {
    pub creds_id: u64,
    /// The inode number of the user namespace (`UserNsState::ino`).
    pub userns: u64,
}

impl OpenerState {
    pub(crate) fn save(o: &Opener) -> OpenerState {
        let Opener { creds_id, userns } = o;
        OpenerState {
            creds_id: *creds_id,
            userns: userns.ino(),
        }
    }

    /// The opener, in the initial user namespace: the kernel's restore puts it in its own
    /// (`userns`) once it has made the namespaces.
    pub(crate) fn restore(&self) -> Opener {
        Opener {
            creds_id: self.creds_id,
            userns: crate::creds::UserNsRef::init(),
        }
    }
}

pub(crate) type FileRef = Rc<RefCell<OpenFile>>;

/// Signal-driven I/O settings of a description (`O_ASYNC`, `F_SETOWN`, `F_SETSIG`),
/// plain data saved as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AsyncIo {
    /// Who gets the signal (`F_SETOWN`, `F_SETOWN_EX`); none: nobody.
    pub owner: Option<Owner>,
    /// The signal (`F_SETSIG`): 0 is SIGIO without details, any other is sent with
    /// `si_fd` and `si_band`.
    pub sig: i32,
    /// The fd `O_ASYNC` was turned on through: what `si_fd` says (as on Linux, also
    /// after that fd is closed while a dup of it keeps the description).
    pub fd: i32,
}

/// The owner of a description's signal-driven I/O, with the credentials of whoever set
/// it (they must be allowed to signal the owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub kind: OwnerKind,
    /// A thread id, a process id or a process group id, as `kind` says.
    pub id: i32,
    /// Real and effective user ids of the setter.
    pub uid: u32,
    pub euid: u32,
}

/// What an [`Owner`]'s id names (`F_OWNER_TID`, `F_OWNER_PID`, `F_OWNER_PGRP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OwnerKind {
    Thread,
    Process,
    Group,
}

impl AsyncIo {
    /// Checks a saved (hostile) value.
    pub fn check(&self) -> Result<(), String> {
        if !(0..=64).contains(&self.sig) {
            return Err(format!("signal {} is not a signal", self.sig));
        }
        if self.fd < 0 {
            return Err(format!("fd {} is negative", self.fd));
        }
        match self.owner {
            Some(o) if o.id <= 0 => Err(format!("owner id {} is not an id", o.id)),
            _ => Ok(()),
        }
    }
}

impl OpenFile {
    pub fn new(imp: Box<dyn FileImpl>, flags: i32, path: impl Into<String>) -> FileRef {
        Rc::new(RefCell::new(OpenFile {
            flags,
            pos: 0,
            path: path.into(),
            imp,
            async_io: AsyncIo::default(),
            watch: None,
            opener: None,
        }))
    }

    /// Queues inotify event `mask` of I/O through the description, if the file is on a
    /// host mount.
    pub(crate) fn notify(&self, mask: u32) {
        if let Some(n) = &self.watch {
            n.io_event(mask);
        }
    }

    /// Queues inotify event `mask` of a change of the inode through the description
    /// (attributes, size).
    pub(crate) fn notify_inode(&self, mask: u32) {
        if let Some(n) = &self.watch {
            n.inode_event(mask);
        }
    }

    pub fn readable(&self) -> bool {
        self.flags & libc::O_ACCMODE != libc::O_WRONLY && self.flags & libc::O_PATH == 0
    }

    pub fn writable(&self) -> bool {
        self.flags & libc::O_ACCMODE != libc::O_RDONLY && self.flags & libc::O_PATH == 0
    }

    fn nonblock(&self) -> bool {
        self.flags & libc::O_NONBLOCK != 0
    }

    /// Whether it is an `O_PATH` description (no I/O).
    pub fn path_only(&self) -> bool {
        self.flags & libc::O_PATH != 0
    }

    /// The kind, for an operation an `O_PATH` description lacks (ioctl, fchmod, fchown,
    /// fsync, mmap, F_SETFL...): EBADF for one.
    pub fn io(&mut self) -> Result<&mut Box<dyn FileImpl>, Errno> {
        if self.path_only() {
            return Err(libc::EBADF);
        }
        Ok(&mut self.imp)
    }

    /// The kind as its concrete type, if it is a `T`.
    pub fn kind<T: FileImpl>(&self) -> Option<&T> {
        self.imp.as_any().downcast_ref()
    }

    /// Reads up to `len` bytes (at `off` for pread).
    pub fn read(&mut self, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        if off.is_some() && self.imp.is_stream() && !self.path_only() {
            return Err(IoErr::Errno(libc::ESPIPE));
        }
        if !self.readable() {
            return Err(IoErr::Errno(libc::EBADF));
        }
        let nonblock = self.nonblock();
        match self.imp.read(&mut self.pos, len.min(1 << 24), off) {
            Err(IoErr::Block(_)) if nonblock => Err(IoErr::Errno(libc::EAGAIN)),
            Ok(d) => {
                if !d.is_empty() {
                    self.notify(crate::fs::inotify::IN_ACCESS);
                }
                Ok(d)
            }
            r => r,
        }
    }

    /// Writes `data` (at `off` for pwrite). Returns bytes written.
    pub fn write(&mut self, data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        if off.is_some() && self.imp.is_stream() && !self.path_only() {
            return Err(IoErr::Errno(libc::ESPIPE));
        }
        if !self.writable() {
            return Err(IoErr::Errno(libc::EBADF));
        }
        let nonblock = self.nonblock();
        match self.imp.write(&mut self.pos, data, off) {
            Err(IoErr::Block(_)) if nonblock => Err(IoErr::Errno(libc::EAGAIN)),
            Ok(n) => {
                if n > 0 {
                    self.notify(crate::fs::inotify::IN_MODIFY);
                }
                Ok(n)
            }
            r => r,
        }
    }

    /// Poll readiness for `events`: (revents, what to wait on). POLLRDNORM and POLLWRNORM
    /// hold when POLLIN and POLLOUT do, as for every Linux file that has them.
    pub fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let mut ask = events;
        if events & libc::POLLRDNORM != 0 {
            ask |= libc::POLLIN;
        }
        if events & libc::POLLWRNORM != 0 {
            ask |= libc::POLLOUT;
        }
        let (mut r, keys) = self.imp.readiness(ask);
        if r & libc::POLLIN != 0 {
            r |= libc::POLLRDNORM;
        }
        if r & libc::POLLOUT != 0 {
            r |= libc::POLLWRNORM;
        }
        (
            r & (events | libc::POLLERR | libc::POLLHUP | libc::POLLNVAL),
            keys,
        )
    }

    /// The key to notify after I/O or a close.
    pub fn notify_key(&self) -> Option<WaitKey> {
        self.imp.notify_key()
    }

    pub fn seek(&mut self, off: i64, whence: i32) -> Result<i64, Errno> {
        if self.path_only() {
            return Err(libc::EBADF);
        }
        self.imp.seek(&mut self.pos, off, whence)
    }

    /// Directory entries as linux_dirent64 records, at most `len` bytes.
    pub fn getdents(&mut self, len: usize) -> Result<Vec<u8>, Errno> {
        if self.path_only() {
            return Err(libc::EBADF);
        }
        let d = self.imp.getdents(&mut self.pos, len)?;
        if !d.is_empty() {
            self.notify(crate::fs::inotify::IN_ACCESS);
        }
        Ok(d)
    }

    /// ftruncate: EINVAL unless open for writing, and for a directory (as Linux).
    pub fn truncate(&mut self, len: u64) -> Result<(), Errno> {
        if self.path_only() {
            return Err(libc::EBADF);
        }
        if !self.writable() || self.imp.is_dir() {
            return Err(libc::EINVAL);
        }
        self.imp.truncate(len)?;
        self.notify_inode(crate::fs::inotify::IN_MODIFY);
        Ok(())
    }

    /// fallocate: EBADF unless open for writing.
    pub fn allocate(&mut self, mode: i32, off: i64, len: i64) -> Result<(), Errno> {
        if !self.writable() {
            return Err(libc::EBADF);
        }
        self.imp.allocate(mode, off, len)?;
        self.notify_inode(crate::fs::inotify::IN_MODIFY);
        Ok(())
    }
}

impl std::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFile")
            .field("flags", &self.flags)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub(crate) struct FdEntry {
    pub file: FileRef,
    pub cloexec: bool,
}

/// A task's fd table (CLONE_FILES shares it).
#[derive(Clone, Default)]
pub(crate) struct FdTable {
    pub fds: BTreeMap<i32, FdEntry>,
    pub limit: i32,
}

impl FdTable {
    pub(crate) fn new() -> Self {
        FdTable {
            fds: BTreeMap::new(),
            limit: 1024,
        }
    }

    pub(crate) fn get(&self, fd: i32) -> Option<FileRef> {
        self.fds.get(&fd).map(|e| e.file.clone())
    }

    /// Installs `file` at the lowest free fd >= `min`.
    pub(crate) fn add(&mut self, file: FileRef, cloexec: bool, min: i32) -> Result<i32, i32> {
        let mut fd = min.max(0);
        for (&k, _) in self.fds.range(fd..) {
            if k != fd {
                break;
            }
            fd += 1;
        }
        if fd >= self.limit {
            return Err(libc::EMFILE);
        }
        self.fds.insert(fd, FdEntry { file, cloexec });
        Ok(fd)
    }

    pub(crate) fn set(&mut self, fd: i32, file: FileRef, cloexec: bool) -> Option<FileRef> {
        self.fds
            .insert(fd, FdEntry { file, cloexec })
            .map(|e| e.file)
    }

    pub(crate) fn remove(&mut self, fd: i32) -> Option<FileRef> {
        self.fds.remove(&fd).map(|e| e.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_seeks_from_start_current_and_end() {
        let mut pos = 0;
        assert_eq!(seek_in(&mut pos, 10, 4, libc::SEEK_SET), Ok(4));
        assert_eq!(seek_in(&mut pos, 10, 3, libc::SEEK_CUR), Ok(7));
        assert_eq!(seek_in(&mut pos, 10, -2, libc::SEEK_END), Ok(8));
        assert_eq!(seek_in(&mut pos, 10, -9, libc::SEEK_CUR), Err(libc::EINVAL));
        assert_eq!(pos, 8);
        assert_eq!(seek_in(&mut pos, 10, 0, 7), Err(libc::EINVAL));
    }
}
