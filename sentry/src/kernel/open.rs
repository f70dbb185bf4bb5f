//! Opening a guest path for a task: open(2)'s permission checks, creation (the new file
//! goes to its creator), and the open file each kind of mount gives.

use std::os::fd::AsFd;

use super::Kernel;
use crate::creds::{Inode, MAY_READ, MAY_WRITE};
use crate::fs::dev::DevFile;
use crate::fs::file::{FileImpl, FileRef, OpenFile};
use crate::fs::host::HostFile;
use crate::fs::synthetic::{SynthDir, SynthFile};
use crate::fs::{MountFs, SynthNode};
use crate::mm::Errno;

impl Kernel {
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
        if flags & libc::O_TMPFILE == libc::O_TMPFILE {
            return Err(libc::EOPNOTSUPP);
        }
        let creat = flags & libc::O_CREAT != 0;
        let excl = creat && flags & libc::O_EXCL != 0;
        let follow = flags & libc::O_NOFOLLOW == 0 && !excl;
        let r = self.resolve_dirfd(tid, dirfd, path, follow)?;
        let acc = flags & libc::O_ACCMODE;
        let wants_write = acc != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if r.exists && excl {
            return Err(libc::EEXIST);
        }
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
        let umask = self.tasks[&tid].fs.borrow().umask;
        let keep = libc::O_ACCMODE
            | libc::O_APPEND
            | libc::O_NONBLOCK
            | libc::O_PATH
            | libc::O_DIRECT
            | libc::O_NOATIME
            | libc::O_SYNC
            | libc::O_DSYNC;
        let gflags = (flags & keep) | libc::O_LARGEFILE;
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
                let hostflags = (flags
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
                    | libc::O_NOCTTY;
                let fd = self.vfs.host_open(&r, hostflags, mode & 0o7777 & !umask)?;
                if let Some(dir) = created_in {
                    self.give_to_creator(tid, &r, &dir, Some(mode & 0o7777 & !umask))?;
                }
                let st = crate::fs::host_sys::fstat(fd.as_fd())?;
                let fmt = st.st_mode & libc::S_IFMT;
                let dir = fmt == libc::S_IFDIR;
                if fmt == libc::S_IFIFO || fmt == libc::S_IFCHR || fmt == libc::S_IFSOCK {
                    // Device and FIFO nodes on a host mount are not opened through.
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
                Ok(OpenFile::new(
                    Box::new(HostFile::new(fd, dir)),
                    gflags,
                    r.path,
                ))
            }
            _ => {
                if !r.exists {
                    return Err(if creat { libc::EACCES } else { libc::ENOENT });
                }
                let look = |rel: &[String]| crate::kernel::procfs::lookup(self, tid, rel);
                let node = self.vfs.synth(&look, r.mount, &r.rel)?;
                let kind: Box<dyn FileImpl> = match node {
                    SynthNode::Dir(entries) => {
                        if wants_write {
                            return Err(libc::EISDIR);
                        }
                        Box::new(SynthDir::new(entries))
                    }
                    SynthNode::File(d) => {
                        if flags & libc::O_DIRECTORY != 0 {
                            return Err(libc::ENOTDIR);
                        }
                        if wants_write {
                            return Err(libc::EACCES);
                        }
                        Box::new(SynthFile::new(d))
                    }
                    SynthNode::Dev(d) => Box::new(DevFile::new(d)),
                    SynthNode::Symlink(_) => return Err(libc::ELOOP),
                };
                if flags & libc::O_DIRECTORY != 0 && !kind.is_dir() {
                    return Err(libc::ENOTDIR);
                }
                Ok(OpenFile::new(kind, gflags, r.path))
            }
        }
    }
}
