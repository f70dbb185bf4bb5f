//! Opening a guest path for a task: open(2)'s permission checks, creation (the new file
//! goes to its creator), and the open file each kind of mount gives.

use std::os::fd::AsFd;

use super::Kernel;
use crate::creds::{Inode, MAY_READ, MAY_WRITE};
use crate::fs::dev::DevFile;
use crate::fs::devpts::{Pty, PtyReplica};
use crate::fs::file::{FileImpl, FileRef, OpenFile};
use crate::fs::host::HostFile;
use crate::fs::synthetic::{SynthDir, SynthFile};
use crate::fs::{MountFs, SynthNode, TtyNode};
use crate::ipc::fifo::FifoOpen;
use crate::mm::Errno;

/// The flags a new description keeps of open(2)'s: the access mode and the status
/// flags (F_GETFL shows them, with O_LARGEFILE as on every 64-bit open). An O_PATH
/// description keeps only O_PATH, O_NOFOLLOW and O_DIRECTORY.
fn status_flags(flags: i32) -> i32 {
    if flags & libc::O_PATH != 0 {
        return flags & (libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY);
    }
    let keep = libc::O_ACCMODE
        | libc::O_APPEND
        | libc::O_NONBLOCK
        | libc::O_DIRECT
        | libc::O_NOATIME
        | libc::O_SYNC
        | libc::O_DSYNC;
    (flags & keep) | O_LARGEFILE
}

/// The kernel's O_LARGEFILE (the libc crate's is 0 on x86-64, as glibc's).
pub(crate) const O_LARGEFILE: i32 = 0o100000;

/// What `open_path` fails with when the open waits (a FIFO without its other end): not
/// an errno the guest sees (Linux's internal ERESTARTSYS); the open call parks on
/// [`Kernel::fifo_waiting`].
pub(crate) const OPEN_WAITS: Errno = 512;

impl Kernel {
    /// Opens an end of the pipe of FIFO node `st` for task `tid` (the node was opened
    /// O_PATH to find it: only its device and inode are used).
    fn open_fifo(
        &self,
        tid: i32,
        st: &libc::stat,
        flags: i32,
        path: String,
    ) -> Result<FileRef, Errno> {
        let node = (st.st_dev, st.st_ino);
        let opened = self.fifos.borrow_mut().open(tid, node, flags)?;
        match opened {
            FifoOpen::Opened(end) => Ok(OpenFile::new(end, flags, path)),
            FifoOpen::Wait => Err(OPEN_WAITS),
        }
    }

    /// Task `tid`'s waiting FIFO open ends without an fd (interrupted, or the task goes):
    /// its count goes, and whoever waits on the pipe looks again.
    pub(crate) fn cancel_fifo_open(&mut self, tid: i32) {
        let id = self.fifos.borrow_mut().cancel(tid);
        if let Some(id) = id {
            self.notify(&crate::wait::WaitKey::Object(id));
        }
    }

    /// The key a FIFO open of task `tid` waits on, if it waits.
    pub(crate) fn fifo_waiting(&self, tid: i32) -> Option<u64> {
        self.fifos.borrow().waiting(tid)
    }

    /// Opens a terminal node: a new pty's master (/dev/ptmx), a replica (/dev/pts/N),
    /// or the caller's controlling terminal (/dev/tty: ENXIO without one).
    fn open_tty(&self, tid: i32, node: TtyNode, flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
        let devpts = &self.vfs.devpts;
        match node {
            TtyNode::Ptmx => Ok(Box::new(devpts.open_master(self.creds(tid).fsuid)?)),
            TtyNode::Tty => {
                let pty = devpts.ctty_of(self.tg_of(tid).sid).ok_or(libc::ENXIO)?;
                Ok(Box::new(PtyReplica::new(pty, true)))
            }
            TtyNode::Pts { index, .. } => {
                let pty = devpts.get(index).ok_or(libc::ENOENT)?;
                pty.borrow().may_open_replica()?;
                Ok(Box::new(self.open_replica(tid, pty, flags)))
            }
        }
    }

    /// A new replica of `pty` opened by task `tid` with `flags`: without O_NOCTTY, it
    /// becomes the controlling terminal of a session leader's session that has none.
    pub(crate) fn open_replica(
        &self,
        tid: i32,
        pty: std::rc::Rc<std::cell::RefCell<Pty>>,
        flags: i32,
    ) -> PtyReplica {
        let g = self.tg_of(tid);
        if flags & libc::O_NOCTTY == 0
            && g.pid == g.sid
            && pty.borrow().session().0.is_none()
            && self.vfs.devpts.ctty_of(g.sid).is_none()
        {
            pty.borrow_mut().set_ctty(g.sid, g.pgid);
        }
        PtyReplica::new(pty, false)
    }

    /// open(2) of an open file reached through a `/proc/PID/fd/N` link that no path
    /// reaches (a pipe, a terminal, a deleted file): a new description of the same file,
    /// with the permission checks against its mode an open by path makes.
    fn reopen(&self, tid: i32, f: &FileRef, flags: i32, check: bool) -> Result<FileRef, Errno> {
        let fb = f.borrow();
        let acc = flags & libc::O_ACCMODE;
        if flags & libc::O_PATH != 0 {
            // Names the same file: shares the kind's object, has no I/O.
            let imp = fb.imp.reopen(libc::O_RDONLY)?;
            return Ok(OpenFile::new(imp, libc::O_PATH, fb.path.clone()));
        }
        if flags & libc::O_DIRECTORY != 0 && !fb.imp.is_dir() {
            return Err(libc::ENOTDIR);
        }
        // A host file is checked against its mode; a pipe or a stream belongs to whoever
        // holds it (its anonymous inode has no owner of ours to check).
        if check && fb.kind::<HostFile>().is_some() {
            let ino: Inode = (&fb.imp.stat()?).into();
            let mut mask = 0;
            if acc != libc::O_WRONLY {
                mask |= MAY_READ;
            }
            if acc != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
                mask |= MAY_WRITE;
            }
            self.creds(tid).may(&ino, mask)?;
        }
        let imp = fb.imp.reopen(flags)?;
        Ok(OpenFile::new(imp, status_flags(flags), fb.path.clone()))
    }

    /// inotify: binds a description just opened on a host mount to its inode, and queues
    /// what the open did (`IN_CREATE` in its directory when it made the file, `IN_OPEN`,
    /// `IN_MODIFY` when it truncated it).
    /// `st` is the file's attributes as the guest sees them.
    fn watch_opened(
        &self,
        file: &FileRef,
        st: &libc::stat,
        created: bool,
        truncated: bool,
        announce: bool,
    ) {
        let mut fb = file.borrow_mut();
        // The directory is looked up only for the creation event (an open file's later
        // events find its directory's watch by path).
        let lookup_dir = created && crate::fs::inotify::watching();
        let target = self.vfs.notify_target(&fb.path, Some(st), lookup_dir);
        if created {
            target.created(false, None);
        }
        fb.watch = crate::fs::inotify::Node::new(target, fb.writable(), announce);
        if !announce {
            return;
        }
        fb.notify(crate::fs::inotify::IN_OPEN);
        if truncated {
            fb.notify(crate::fs::inotify::IN_MODIFY);
        }
    }

    /// Opens guest `path` for task `tid` and returns the open file (not yet in the fd
    /// table), with the permission checks open(2) makes; with `check` false the file's own
    /// mode is not checked against the access mode (execve checks execute permission
    /// instead of read).
    pub(crate) fn open_path(
        &self,
        tid: i32,
        dirfd: i32,
        path: &[u8],
        flags: i32,
        mode: u32,
        check: bool,
    ) -> Result<FileRef, Errno> {
        self.open_path_as(tid, dirfd, path, flags, mode, check, true)
    }

    /// As `open_path`; with `announce` false the open is the sentry's own way to a file
    /// for a call that is not an open (truncate(2)): inotify hears of neither the open
    /// nor the close.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open_path_as(
        &self,
        tid: i32,
        dirfd: i32,
        path: &[u8],
        flags: i32,
        mode: u32,
        check: bool,
        announce: bool,
    ) -> Result<FileRef, Errno> {
        // With O_PATH every flag but these is ignored (open(2)).
        let flags = if flags & libc::O_PATH != 0 {
            flags & (libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        } else {
            flags
        };
        if flags & libc::O_TMPFILE == libc::O_TMPFILE {
            return Err(libc::EOPNOTSUPP);
        }
        let creat = flags & libc::O_CREAT != 0;
        let excl = creat && flags & libc::O_EXCL != 0;
        let follow = flags & libc::O_NOFOLLOW == 0 && !excl;
        let r = self.resolve_dirfd(tid, dirfd, path, follow)?;
        self.may_look_inside(tid, &r)?;
        let acc = flags & libc::O_ACCMODE;
        let wants_write = acc != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if r.exists && excl {
            return Err(libc::EEXIST);
        }
        if let Some(f) = &r.file {
            return self.reopen(tid, f, flags, check);
        }
        // A directory is never created by open(2) (EISDIR for one named with a trailing
        // slash, existing or not), and has no direct I/O (EINVAL, after the access checks).
        let is_dir = |k: &Self| {
            k.lstat_resolved(tid, &r)
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        };
        if creat && (path.ends_with(b"/") || r.exists && is_dir(self)) {
            return Err(libc::EISDIR);
        }
        let direct_dir = flags & libc::O_DIRECT != 0 && r.exists && is_dir(self);
        let mut created_in = None;
        if r.exists && check && flags & libc::O_PATH == 0 {
            let ino: Inode = (&self.lstat_resolved(tid, &r)?).into();
            let mut mask = 0;
            if acc != libc::O_WRONLY {
                mask |= MAY_READ;
            }
            if wants_write {
                mask |= MAY_WRITE;
            }
            self.creds(tid).may(&ino, mask)?;
        } else if !r.exists && creat {
            created_in = Some(self.may_create(tid, &r)?);
        }
        if direct_dir {
            return Err(libc::EINVAL);
        }
        let umask = self.tasks[&tid].fs.borrow().umask;
        let gflags = status_flags(flags);
        match &self.vfs.mounts[r.mount].fs {
            MountFs::Host { .. } => {
                if !r.exists && !creat {
                    return Err(libc::ENOENT);
                }
                if (wants_write && flags & libc::O_PATH == 0 || (!r.exists && creat))
                    && self.vfs.mounts[r.mount].readonly
                {
                    return Err(libc::EROFS);
                }
                if r.exists && flags & libc::O_PATH == 0 {
                    let st = self.lstat_resolved(tid, &r)?;
                    if st.st_mode & libc::S_IFMT == libc::S_IFIFO {
                        // The node names the sentry's pipe; the host's FIFO is never opened.
                        if flags & libc::O_DIRECTORY != 0 {
                            return Err(libc::ENOTDIR);
                        }
                        return self.open_fifo(tid, &st, gflags, r.path);
                    }
                }
                let hostflags = if flags & libc::O_PATH != 0 {
                    // openat2 takes no other flag with O_PATH.
                    flags & (libc::O_PATH | libc::O_DIRECTORY)
                } else {
                    (flags
                        & (libc::O_ACCMODE
                            | libc::O_APPEND
                            | libc::O_TRUNC
                            | libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_DIRECTORY
                            | libc::O_PATH
                            | libc::O_SYNC
                            | libc::O_DSYNC))
                        | libc::O_NONBLOCK
                        | libc::O_NOCTTY
                };
                let host_mode = mode & 0o7777 & !umask;
                // A file opened write-only is opened for reading too when the host allows
                // it (the description's own flags still refuse the guest's reads), so that
                // a checkpoint can save its data if it is deleted while open.
                let fd = match hostflags & libc::O_ACCMODE == libc::O_WRONLY {
                    true => self
                        .vfs
                        .host_open(&r, hostflags & !libc::O_ACCMODE | libc::O_RDWR, host_mode)
                        .or_else(|_| self.vfs.host_open(&r, hostflags, host_mode))?,
                    false => self.vfs.host_open(&r, hostflags, host_mode)?,
                };
                if let Some(dir) = created_in {
                    self.give_to_creator(tid, &r, &dir, Some(mode))?;
                }
                let st = crate::fs::host_sys::fstat(fd.as_fd())?;
                let fmt = st.st_mode & libc::S_IFMT;
                let dir = fmt == libc::S_IFDIR;
                if fmt == libc::S_IFIFO
                    || fmt == libc::S_IFCHR
                    || fmt == libc::S_IFSOCK
                    || fmt == libc::S_IFBLK
                {
                    // Device and socket nodes on a host mount are not opened through.
                    if flags & libc::O_PATH == 0 {
                        return Err(libc::EACCES);
                    }
                }
                if flags & libc::O_PATH == 0 {
                    let fl = nix::fcntl::OFlag::from_bits_truncate(flags & libc::O_APPEND);
                    let _ = nix::fcntl::fcntl(
                        std::os::fd::AsRawFd::as_raw_fd(&fd),
                        nix::fcntl::FcntlArg::F_SETFL(fl),
                    );
                }
                let file =
                    OpenFile::new(Box::new(HostFile::new(fd, dir, &self.vfs)), gflags, r.path);
                if flags & libc::O_PATH == 0 {
                    let truncated = r.exists && flags & libc::O_TRUNC != 0;
                    // The attributes the fd was checked with, as the guest sees them (what
                    // the file's fstat would say again).
                    let mut shown = st;
                    self.vfs.inos.present(&mut shown);
                    self.watch_opened(&file, &shown, created_in.is_some(), truncated, announce);
                }
                Ok(file)
            }
            _ => {
                if !r.exists {
                    return Err(if creat { libc::EACCES } else { libc::ENOENT });
                }
                let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
                let node = self.vfs.synth(&look, r.mount, &r.rel)?;
                let source = matches!(self.vfs.mounts[r.mount].fs, MountFs::Proc)
                    .then(|| crate::kernel::procfs::live_source(&r.rel))
                    .flatten();
                let kind: Box<dyn FileImpl> = match node {
                    SynthNode::Dir(entries) => {
                        if wants_write {
                            return Err(libc::EISDIR);
                        }
                        match source {
                            Some(src) => Box::new(SynthDir::live(entries, src)),
                            None => Box::new(SynthDir::new(entries)),
                        }
                    }
                    SynthNode::File(d) | SynthNode::Tunable(d) => {
                        if flags & libc::O_DIRECTORY != 0 {
                            return Err(libc::ENOTDIR);
                        }
                        // Opened for writing only as its mode lets the caller (root,
                        // with CAP_DAC_OVERRIDE); its writes then fail.
                        if wants_write && !check {
                            return Err(libc::EACCES);
                        }
                        let uts = match r.rel.as_slice() {
                            [s, k, n] if s == "sys" && k == "kernel" && n == "hostname" => Some(0),
                            [s, k, n] if s == "sys" && k == "kernel" && n == "domainname" => {
                                Some(1)
                            }
                            _ => None,
                        };
                        let mut f = match source {
                            Some(src) => SynthFile::live(d, src),
                            None => SynthFile::new(d),
                        };
                        if let Some(w) =
                            uts.filter(|_| matches!(self.vfs.mounts[r.mount].fs, MountFs::Proc))
                        {
                            f.watch_uts(self.vfs.uts_events.clone(), w);
                        }
                        Box::new(f)
                    }
                    SynthNode::Dev(d) => Box::new(DevFile::new(d)),
                    SynthNode::Tty(node) => self.open_tty(tid, node, flags)?,
                    SynthNode::Mem(pid) => Box::new(self.open_proc_mem(tid, pid)?),
                    SynthNode::Comm(of, name) => {
                        // Writable by its owner (mode 0644) or CAP_DAC_OVERRIDE.
                        let caller = &self.tg_of(tid).creds;
                        let owner = self.tasks.get(&of).map(|t| self.tgs[&t.tgid].creds.euid);
                        if wants_write
                            && owner != Some(caller.fsuid)
                            && !caller.has_init(crate::creds::CAP_DAC_OVERRIDE)
                        {
                            return Err(libc::EACCES);
                        }
                        let text = format!("{name}\n").into_bytes();
                        Box::new(crate::fs::proccomm::ProcComm::new(of, text))
                    }
                    SynthNode::Symlink(_) | SynthNode::FdLink { .. } => return Err(libc::ELOOP),
                };
                if flags & libc::O_DIRECTORY != 0 && !kind.is_dir() {
                    return Err(libc::ENOTDIR);
                }
                Ok(OpenFile::new(kind, gflags, r.path))
            }
        }
    }

    /// Another process's files that show its memory or its open files (environ, auxv,
    /// maps, smaps, and what is in or below fd and fdinfo) open only for a caller that may
    /// trace it (the same ids while it is dumpable, or CAP_SYS_PTRACE): EACCES otherwise,
    /// as Linux's modes (0400, 0500 directories owned by the process) and ptrace checks say.
    fn may_look_inside(&self, tid: i32, r: &crate::fs::Resolved) -> Result<(), Errno> {
        if !matches!(self.vfs.mounts[r.mount].fs, MountFs::Proc) {
            return Ok(());
        }
        let Some(pid) = r.rel.first().and_then(|p| p.parse::<i32>().ok()) else {
            return Ok(());
        };
        // /proc/PID/... or /proc/PID/task/TID/...
        let what = match r.rel.get(1).map(String::as_str) {
            Some("task") => r.rel.get(3),
            _ => r.rel.get(1),
        };
        let private = matches!(
            what.map(String::as_str),
            Some("environ" | "auxv" | "maps" | "smaps" | "fd" | "fdinfo")
        );
        let tgid = self
            .tgs
            .get(&pid)
            .map(|_| pid)
            .or_else(|| self.tasks.get(&pid).map(|t| t.tgid));
        let Some(g) = tgid.and_then(|p| self.tgs.get(&p)) else {
            return Ok(());
        };
        if !private || tgid == Some(self.tasks[&tid].tgid) {
            return Ok(());
        }
        let caller = self.creds(tid);
        let traceable = caller.may_read_process(&g.creds)
            && (!g.prctl.not_dumpable || caller.has_init(crate::creds::CAP_SYS_PTRACE));
        if traceable {
            Ok(())
        } else {
            Err(libc::EACCES)
        }
    }

    /// `/proc/PID/mem`: for its own process, or for a caller that may trace it (the same
    /// ids while the process is dumpable, or CAP_SYS_PTRACE); EACCES otherwise. The
    /// description holds the address space the process has now (none: a zombie's).
    fn open_proc_mem(&self, tid: i32, pid: i32) -> Result<crate::fs::procmem::ProcMem, Errno> {
        let g = self.tgs.get(&pid).ok_or(libc::ENOENT)?;
        let caller = self.creds(tid);
        let own = self.tasks[&tid].tgid == pid;
        let traceable = caller.may_read_process(&g.creds)
            && (!g.prctl.not_dumpable || caller.has_init(crate::creds::CAP_SYS_PTRACE));
        if !own && !traceable {
            return Err(libc::EACCES);
        }
        let mm = g
            .threads
            .iter()
            .find_map(|t| self.tasks.get(t))
            .map_or(0, |t| t.mm);
        Ok(crate::fs::procmem::ProcMem { mm })
    }
}
