//! The VFS: mounts, guest path walk, and the file systems (host passthrough, devfs,
//! procfs). The sentry walks every guest path itself, component by component, so symlinks
//! resolve against the guest's mounts; each host step is an `openat2` beneath a mount's
//! root that follows no link.
//!
//! Open files are one trait, [`file::FileImpl`], with one implementation per kind in the
//! module of its concept (here: [`host`], [`stdio`], [`dev`], [`synthetic`]; pipes,
//! eventfd and epoll in `crate::ipc`), each with its saved form beside it ([`persist`]:
//! the traits a kind implements and the contexts it saves and restores with). Above every
//! kind, `crate::kinds` registers them once, and `crate::persist` saves, checks and
//! restores the open files and fd tables of a kernel.

pub(crate) mod dev;
pub(crate) mod devpts;
pub(crate) mod file;
pub(crate) mod ghost;
pub(crate) mod host;
pub(crate) mod host_sys;
pub(crate) mod inodes;
pub(crate) mod inotify;
pub(crate) mod lock;
pub(crate) mod memfd;
pub(crate) mod mount_setup;
pub(crate) mod mounts;
pub(crate) mod pagecache;
pub(crate) mod persist;
pub(crate) mod proccomm;
pub(crate) mod procmem;
pub(crate) mod stdio;
pub(crate) mod synthetic;
pub(crate) mod sysfs;
pub(crate) mod tmpfs;
pub(crate) mod xattr;

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::AtFlags;
use nix::sys::stat::{FchmodatFlags, Mode};

use crate::creds::{Creds, MAY_EXEC};
use crate::fs::dev::DevNode;
use crate::fs::file::FileRef;
use crate::fs::synthetic::DirEnt;
use crate::mm::Errno;

/// A file system mounted in the guest tree.
pub enum MountFs {
    /// Host passthrough of a directory or file (bind mounts, the rootfs, and tmpfs: a
    /// tmpfs mounted for the sandbox, or a private host directory it removes when it
    /// ends). `host_path` names `root` in the sandbox process's own root.
    Host {
        root: OwnedFd,
        host_path: PathBuf,
    },
    Dev,
    Proc,
    /// An empty read-only directory (sysfs, cgroup and other kinds the sentry does not model).
    Empty,
}

pub struct Mount {
    /// Guest path components of the mount point.
    pub at: Vec<String>,
    pub fs: MountFs,
    pub readonly: bool,
    /// Set-user-ID bits of its files are ignored by execve.
    pub nosuid: bool,
    /// Guest-visible type, for /proc/mounts.
    pub fstype: String,
    /// Its other flags (`mounts::MOUNT_FLAGS`: MS_NODEV, MS_NOEXEC, the atime ones).
    pub flags: u64,
    /// The mount namespaces that see it (`mounts`); none once unmounted from all.
    pub seen: Vec<u64>,
    /// Made by the guest's mount(2).
    pub guest: bool,
    /// A namespace's own copy of an earlier mount at the same place (made by a remount
    /// in one of the namespaces that shared it): the same files.
    pub copy: bool,
}

impl Mount {
    /// A mount of the sandbox's config, seen by the sandbox's mount namespace.
    pub fn new(at: Vec<String>, fs: MountFs, readonly: bool, nosuid: bool, fstype: &str) -> Mount {
        Mount {
            at,
            fs,
            readonly,
            nosuid,
            fstype: fstype.into(),
            flags: mounts::MS_RELATIME,
            seen: vec![mounts::INIT_MNT_NS],
            guest: false,
            copy: false,
        }
    }
}

/// A node of a synthetic file system.
pub enum SynthNode {
    Dir(Vec<DirEnt>),
    File(Vec<u8>),
    /// A file of /proc/sys that root may write (mode 0644): a tunable's value.
    Tunable(Vec<u8>),
    Symlink(String),
    Dev(DevNode),
    /// A terminal node of devfs or devpts.
    Tty(TtyNode),
    /// `/proc/PID/mem` of process `PID` (opened as `procmem::ProcMem`).
    Mem(i32),
    /// A thread's comm file (opened as `proccomm::ProcComm`): its thread and name.
    Comm(i32, String),
    /// A "magic link" (`/proc/PID/fd/N`): `readlink` shows `text`, and following it
    /// reaches the open file itself, not what `text` names. `mode` is its permission bits
    /// (the description's access mode, as Linux shows them).
    FdLink {
        text: String,
        file: FileRef,
        mode: u32,
    },
}

/// A terminal node: /dev/ptmx (and /dev/pts/ptmx), /dev/tty, a replica /dev/pts/N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyNode {
    Ptmx,
    Tty,
    Pts { index: u32, uid: u32 },
}

impl TtyNode {
    /// Its path below /dev.
    pub(crate) fn path(self) -> String {
        match self {
            TtyNode::Ptmx => "ptmx".into(),
            TtyNode::Tty => "tty".into(),
            TtyNode::Pts { index, .. } => format!("pts/{index}"),
        }
    }
}

/// Looks a path up in procfs (given by the kernel, which holds what procfs shows).
pub(crate) type ProcLookup<'a> = &'a dyn Fn(&[String]) -> Result<SynthNode, Errno>;

/// A resolved guest path: the mount and the components within it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub mount: usize,
    pub rel: Vec<String>,
    /// Canonical guest path.
    pub path: String,
    pub exists: bool,
    /// The walk followed a `/proc/PID/fd/N` link to an open file that no path reaches (a
    /// pipe, a terminal, a deleted file): this file. `mount` and `rel` then name the
    /// link itself in procfs, so that a call that does not look here acts on the
    /// read-only link and never on a host path.
    pub file: Option<FileRef>,
}

pub struct Vfs {
    pub mounts: Vec<Mount>,
    /// Host directories the sentry made to back tmpfs mounts where it could not mount a
    /// tmpfs: removed by [`Vfs::cleanup`].
    pub scratch: Vec<PathBuf>,
    /// The inode numbers the guest sees for host files (restored files keep theirs).
    pub(crate) inos: std::rc::Rc<inodes::InodeNumbers>,
    /// The pseudo-terminals /dev/pts shows.
    pub(crate) devpts: std::rc::Rc<crate::fs::devpts::Devpts>,
    /// The CPUs sysfs lists (bit n: CPU n): the host's, set by the kernel.
    pub(crate) cpus: u64,
    /// The page caches of mapped host files.
    pub(crate) caches: std::rc::Rc<pagecache::PageCaches>,
    /// How often the host and domain names were set (in any UTS namespace), for the
    /// pollers of /proc/sys/kernel/{hostname,domainname}.
    pub(crate) uts_events: std::rc::Rc<synthetic::UtsEvents>,
    /// The guest's own mounts and the namespace walking now (`mounts`).
    pub(crate) guest: mounts::GuestMounts,
}

pub(crate) fn join(comps: &[String]) -> String {
    if comps.is_empty() {
        "/".to_string()
    } else {
        comps.iter().map(|c| format!("/{c}")).collect()
    }
}

/// Splits a path into its non-empty components.
pub(crate) fn split(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// Builds a guest `struct stat` (x86-64 layout, 144 bytes) from a host one.
pub(crate) fn stat_bytes(st: &libc::stat) -> Vec<u8> {
    let mut b = Vec::with_capacity(144);
    let mut w = |v: u64, n: usize| b.extend_from_slice(&v.to_le_bytes()[..n]);
    w(st.st_dev, 8);
    w(st.st_ino, 8);
    w(st.st_nlink, 8);
    w(st.st_mode as u64, 4);
    w(st.st_uid as u64, 4);
    w(st.st_gid as u64, 4);
    w(0, 4);
    w(st.st_rdev, 8);
    w(st.st_size as u64, 8);
    w(st.st_blksize as u64, 8);
    w(st.st_blocks as u64, 8);
    w(st.st_atime as u64, 8);
    w(st.st_atime_nsec as u64, 8);
    w(st.st_mtime as u64, 8);
    w(st.st_mtime_nsec as u64, 8);
    w(st.st_ctime as u64, 8);
    w(st.st_ctime_nsec as u64, 8);
    w(0, 8);
    w(0, 8);
    w(0, 8);
    b
}

/// The st_dev of procfs's files (devfs's and the empty mounts' are 0x42, pipes' 0x43).
const PROC_DEV: u64 = 0x44;

/// File system magic numbers statfs(2) reports.
pub(crate) const PROC_SUPER_MAGIC: i64 = 0x9fa0;
pub(crate) const TMPFS_MAGIC: i64 = 0x0102_1994;
pub(crate) const PIPEFS_MAGIC: i64 = 0x5049_5045;
pub(crate) const ANON_INODE_FS_MAGIC: i64 = 0x0904_1934;
pub(crate) const SYSFS_MAGIC: i64 = 0x6265_6572;

/// A statfs of a file system the sentry makes (procfs, devfs, pipefs...) of type `magic`:
/// no blocks, names up to 255 bytes.
pub(crate) fn synth_statfs(magic: i64) -> libc::statfs {
    // SAFETY: libc::statfs is plain integers; all-zero is valid.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    st.f_type = magic;
    st.f_bsize = 4096;
    st.f_frsize = 4096;
    st.f_namelen = 255;
    st
}

/// The guest's `struct statfs` (x86-64 layout, 120 bytes), with `flags` the mount's
/// (ST_VALID always, as Linux reports) and no f_fsid.
pub(crate) fn statfs_bytes(st: &libc::statfs, flags: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(120);
    for v in [
        st.f_type as u64,
        st.f_bsize as u64,
        st.f_blocks,
        st.f_bfree,
        st.f_bavail,
        st.f_files,
        st.f_ffree,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    // f_fsid: not shown (the host's would name its device).
    b.extend_from_slice(&0u64.to_le_bytes());
    for v in [
        st.f_namelen as u64,
        st.f_frsize as u64,
        flags | 0x20,
        0,
        0,
        0,
        0,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

/// A stat for a synthetic node.
pub(crate) fn synth_stat(kind: &SynthNode, ino: u64) -> libc::stat {
    // SAFETY: libc::stat is plain integers; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_ino = ino;
    st.st_nlink = 1;
    st.st_blksize = 4096;
    st.st_dev = 0x42;
    match kind {
        SynthNode::Dir(entries) => {
            st.st_mode = libc::S_IFDIR | 0o555;
            // ".", its entry in its parent, and each subdirectory's "..".
            st.st_nlink = 2 + entries.iter().filter(|(_, t)| *t == libc::DT_DIR).count() as u64;
        }
        SynthNode::File(d) => {
            st.st_mode = libc::S_IFREG | 0o444;
            st.st_size = d.len() as i64;
        }
        SynthNode::Tunable(_) => {
            // Linux's sysctl files show no size.
            st.st_mode = libc::S_IFREG | 0o644;
        }
        SynthNode::Symlink(t) => {
            st.st_mode = libc::S_IFLNK | 0o777;
            st.st_size = t.len() as i64;
        }
        SynthNode::FdLink { text, mode, .. } => {
            st.st_mode = libc::S_IFLNK | mode;
            st.st_size = text.len() as i64;
        }
        SynthNode::Dev(d) => {
            st.st_mode = libc::S_IFCHR | 0o666;
            st.st_rdev = d.rdev();
        }
        SynthNode::Mem(_) => st.st_mode = libc::S_IFREG | 0o600,
        SynthNode::Comm(_, name) => {
            st.st_mode = libc::S_IFREG | 0o644;
            st.st_size = name.len() as i64 + 1;
        }
        SynthNode::Tty(TtyNode::Ptmx) => {
            st.st_mode = libc::S_IFCHR | 0o666;
            st.st_rdev = libc::makedev(5, 2);
        }
        SynthNode::Tty(TtyNode::Tty) => {
            st.st_mode = libc::S_IFCHR | 0o666;
            st.st_rdev = libc::makedev(5, 0);
        }
        SynthNode::Tty(TtyNode::Pts { index, uid }) => {
            st.st_mode = libc::S_IFCHR | 0o620;
            st.st_uid = *uid;
            st.st_gid = crate::fs::devpts::TTY_GID;
            st.st_rdev = libc::makedev(crate::fs::devpts::PTS_MAJOR, *index);
        }
    }
    st
}

pub(crate) fn ino_of(path: &str) -> u64 {
    // A stable inode number for synthetic nodes (FNV-1a of the path).
    path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

impl Vfs {
    /// The mount that holds `comps` and the components within it (the last matching
    /// mount wins, as a later mount shadows an earlier one).
    pub fn mount_for(&self, comps: &[String]) -> (usize, Vec<String>) {
        let mut best = 0;
        let mut best_len = 0;
        for (i, m) in self.mounts.iter().enumerate() {
            if self.visible(m)
                && m.at.len() <= comps.len()
                && comps[..m.at.len()] == m.at[..]
                && m.at.len() >= best_len
            {
                best = i;
                best_len = m.at.len();
            }
        }
        (best, comps[best_len..].to_vec())
    }

    /// Opens the directory that contains `rel` in a host mount (O_PATH), and returns it
    /// with the last component's name.
    pub fn host_parent<'a>(
        &self,
        m: usize,
        rel: &'a [String],
    ) -> Result<(OwnedFd, &'a str), Errno> {
        let MountFs::Host { root, .. } = &self.mounts[m].fs else {
            return Err(libc::EXDEV);
        };
        let (name, dir) = match rel.split_last() {
            Some((n, d)) => (n.as_str(), d),
            None => (".", rel),
        };
        let dir_path = dir.join("/");
        let fd = host_sys::openat2(root.as_fd(), &dir_path, libc::O_PATH | libc::O_DIRECTORY, 0)?;
        Ok((fd, name))
    }

    /// lstat of a node: its type, host stat, and a symlink's target.
    pub fn lstat(
        &self,
        proc: ProcLookup,
        m: usize,
        rel: &[String],
    ) -> Result<(libc::stat, Option<String>), Errno> {
        let synth = |n: SynthNode, path: String| {
            let st = synth_stat(&n, ino_of(&path));
            let target = match n {
                SynthNode::Symlink(t) | SynthNode::FdLink { text: t, .. } => Some(t),
                _ => None,
            };
            Ok((st, target))
        };
        match &self.mounts[m].fs {
            MountFs::Host { root, .. } if rel.is_empty() => {
                // The mount's root itself (a bind-mounted file such as /etc/hosts, or a
                // directory).
                let mut st = host_sys::fstat(root.as_fd())?;
                self.inos.present(&mut st);
                Ok((st, None))
            }
            MountFs::Host { .. } => {
                let st = self.stat_node(proc, m, rel)?;
                let (dir, name) = self.host_parent(m, rel)?;
                let target = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                    let t =
                        nix::fcntl::readlinkat(Some(std::os::fd::AsRawFd::as_raw_fd(&dir)), name)
                            .map_err(|e| e as i32)?;
                    Some(t.to_string_lossy().into_owned())
                } else {
                    None
                };
                Ok((st, target))
            }
            MountFs::Dev => synth(
                dev::lookup(rel, &self.devpts)?,
                format!("dev/{}", rel.join("/")),
            ),
            MountFs::Proc => {
                // procfs is a device of its own (df tells the mounts apart by st_dev).
                let (mut st, target) = synth(proc(rel)?, format!("proc/{}", rel.join("/")))?;
                st.st_dev = PROC_DEV;
                if rel.is_empty() {
                    // procfs's root is inode 1, as on Linux.
                    st.st_ino = 1;
                }
                Ok((st, target))
            }
            MountFs::Empty => synth(
                self.empty_lookup(m, rel)?,
                format!("empty/{}/{}", join(&self.mounts[m].at), rel.join("/")),
            ),
        }
    }

    /// A node of an empty mount: sysfs shows its few generated nodes, others only their
    /// root.
    fn empty_lookup(&self, m: usize, rel: &[String]) -> Result<SynthNode, Errno> {
        if self.mounts[m].fstype == "sysfs" {
            return sysfs::lookup(rel, self.cpus);
        }
        if rel.is_empty() {
            Ok(SynthNode::Dir(vec![]))
        } else {
            Err(libc::ENOENT)
        }
    }

    /// A synthetic node (devfs, procfs, empty mounts).
    pub fn synth(&self, proc: ProcLookup, m: usize, rel: &[String]) -> Result<SynthNode, Errno> {
        match &self.mounts[m].fs {
            MountFs::Dev => dev::lookup(rel, &self.devpts),
            MountFs::Proc => proc(rel),
            MountFs::Empty => self.empty_lookup(m, rel),
            MountFs::Host { .. } => Err(libc::EINVAL),
        }
    }

    /// Walks guest `path` from `cwd`, following symlinks against the guest's own mounts.
    /// The final component's symlink is followed when `follow`. A missing final component
    /// resolves with `exists: false` (for creation).
    /// Every directory the walk looks a name up in must grant `creds` search (execute)
    /// permission, as path_resolution(7) says.
    pub fn resolve(
        &self,
        proc: ProcLookup,
        creds: &Creds,
        cwd: &str,
        path: &[u8],
        follow: bool,
    ) -> Result<Resolved, Errno> {
        if path.is_empty() {
            return Err(libc::ENOENT);
        }
        if path.len() > 4095 {
            return Err(libc::ENAMETOOLONG);
        }
        let path = std::str::from_utf8(path)
            .map_err(|_| libc::ENOENT)?
            .to_string();
        let must_dir = path.ends_with('/');
        let mut comps = if path.starts_with('/') {
            Vec::new()
        } else {
            split(cwd)
        };
        let mut queue: std::collections::VecDeque<String> = split(&path).into();
        let mut links = 0;
        let mut exists = true;
        let mut file = None;
        let check = !creds.searches_anything();
        // Whether the directory `comps` names has been checked for search permission.
        let mut searched = false;
        while let Some(c) = queue.pop_front() {
            if c.len() > 255 {
                return Err(libc::ENAMETOOLONG);
            }
            if c == "." {
                continue;
            }
            if check && !searched {
                let (m, rel) = self.mount_for(&comps);
                match self.stat_node(proc, m, &rel) {
                    Ok(st) => creds.may(&(&st).into(), MAY_EXEC)?,
                    // A directory the image lacks under a mount point (walked through).
                    Err(libc::ENOENT) => {}
                    Err(e) => return Err(e),
                }
            }
            searched = false;
            if c == ".." {
                comps.pop();
                continue;
            }
            comps.push(c);
            let last = queue.is_empty();
            let (m, rel) = self.mount_for(&comps);
            match self.stat_node(proc, m, &rel) {
                Ok(st) => {
                    let is_link = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
                    if is_link && (!last || follow || must_dir) {
                        links += 1;
                        if links > 40 {
                            return Err(libc::ELOOP);
                        }
                        if let Some(f) = self.magic_link(proc, m, &rel) {
                            // Jump to the file: where a path still reaches it, walk on
                            // from there; otherwise the walk ends at the file itself.
                            match self.path_of(proc, &f) {
                                Some(at) => {
                                    comps = at;
                                    searched = false;
                                }
                                None if queue.iter().any(|c| c != ".") || must_dir => {
                                    return Err(libc::ENOTDIR)
                                }
                                None => {
                                    file = Some(f);
                                    break;
                                }
                            }
                            continue;
                        }
                        // The target is read only to follow it (reading it is an access).
                        let t = self.lstat(proc, m, &rel)?.1.unwrap_or_default();
                        comps.pop();
                        searched = true;
                        if t.starts_with('/') {
                            comps.clear();
                            searched = false;
                        }
                        for (i, tc) in split(&t).into_iter().enumerate() {
                            queue.insert(i, tc);
                        }
                        continue;
                    }
                    if (!last || must_dir) && st.st_mode & libc::S_IFMT != libc::S_IFDIR && !is_link
                    {
                        return Err(libc::ENOTDIR);
                    }
                }
                Err(libc::ENOENT) if last => exists = false,
                // A directory the image lacks but a mount point lies beneath (runc
                // creates these): walk through it.
                Err(libc::ENOENT)
                    if self
                        .mounts
                        .iter()
                        .filter(|m| self.visible(m))
                        .any(|m| m.at.len() > comps.len() && m.at[..comps.len()] == comps[..]) => {}
                Err(e) => return Err(e),
            }
        }
        let (mount, rel) = self.mount_for(&comps);
        let path = match &file {
            Some(f) => f.borrow().path.clone(),
            None => join(&comps),
        };
        Ok(Resolved {
            mount,
            rel,
            path,
            exists,
            file,
        })
    }

    /// lstat of the node at `rel` of mount `m`, as the guest sees it, without reading a
    /// symlink's target (which would update its access time on the host).
    pub(crate) fn stat_node(
        &self,
        proc: ProcLookup,
        m: usize,
        rel: &[String],
    ) -> Result<libc::stat, Errno> {
        match &self.mounts[m].fs {
            MountFs::Host { .. } if !rel.is_empty() => {
                let (dir, name) = self.host_parent(m, rel)?;
                let mut st = nix::sys::stat::fstatat(
                    Some(std::os::fd::AsRawFd::as_raw_fd(&dir)),
                    name,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| e as i32)?;
                self.inos.present(&mut st);
                Ok(st)
            }
            _ => self.lstat(proc, m, rel).map(|(st, _)| st),
        }
    }

    /// The open file a `/proc/PID/fd/N` link at `rel` of mount `m` leads to, if it is one.
    fn magic_link(&self, proc: ProcLookup, m: usize, rel: &[String]) -> Option<FileRef> {
        if !matches!(self.mounts[m].fs, MountFs::Proc) {
            return None;
        }
        match proc(rel) {
            Ok(SynthNode::FdLink { file, .. }) => Some(file),
            _ => None,
        }
    }

    /// The components of a guest path that still reaches open file `f` (a host file
    /// still linked where it was opened, a device or generated file), or None (a pipe,
    /// a terminal, an anonymous file, a host file since deleted or renamed).
    fn path_of(&self, proc: ProcLookup, f: &FileRef) -> Option<Vec<String>> {
        let fb = f.borrow();
        if !fb.path.starts_with('/') {
            return None;
        }
        let r = self
            .resolve(proc, &Creds::kernel(), "/", fb.path.as_bytes(), false)
            .ok()
            .filter(|r| r.exists && r.file.is_none())?;
        if fb.kind::<host::HostFile>().is_some() {
            // The same inode, not whatever the path names now.
            let held = fb.imp.stat().ok()?;
            let (now, _) = self.lstat(proc, r.mount, &r.rel).ok()?;
            if (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino) {
                return None;
            }
        } else if !matches!(
            self.mounts[r.mount].fs,
            MountFs::Dev | MountFs::Proc | MountFs::Empty
        ) {
            return None;
        }
        Some(split(&r.path))
    }

    /// statfs(2) of what `r` names: the host file system under a host mount, else the
    /// kind of file system the sentry serves there. Returns it with the mount's flags
    /// (ST_RDONLY, ST_NOSUID).
    /// lstat, as the guest sees it, of a guest path on a host mount; None elsewhere or
    /// when nothing is there.
    pub(crate) fn host_stat(&self, path: &str) -> Option<libc::stat> {
        let (m, rel) = self.mount_for(&split(path));
        if !matches!(self.mounts[m].fs, MountFs::Host { .. }) {
            return None;
        }
        self.lstat(&|_| Err(libc::ENOENT), m, &rel)
            .ok()
            .map(|(st, _)| st)
    }

    /// inotify: what guest `path` names, its directory and name, with its attributes
    /// `st` (looked up when None) (`dir`: its directory's inode is looked up too).
    pub(crate) fn notify_target(
        &self,
        path: &str,
        st: Option<&libc::stat>,
        dir: bool,
    ) -> inotify::Target {
        let (dir_path, name) = match path.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((d, name)) => (d, name),
            None => ("/", path),
        };
        let st = st.copied().or_else(|| self.host_stat(path));
        inotify::Target {
            dir_path: dir_path.to_string(),
            dir: (dir && !name.is_empty())
                .then(|| self.host_stat(dir_path))
                .flatten()
                .map(|s| inotify::InodeKey::of(&s)),
            name: name.to_string(),
            key: st.as_ref().map(inotify::InodeKey::of),
            isdir: st.is_some_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR),
            nlink: st.map_or(0, |s| s.st_nlink),
        }
    }

    pub fn statfs(&self, r: &Resolved) -> Result<(libc::statfs, u64), Errno> {
        let m = &self.mounts[r.mount];
        let flags = m.st_flags();
        let st = match &m.fs {
            MountFs::Host { root, .. } => host_sys::fstatfs(root.as_fd())?,
            MountFs::Proc => synth_statfs(PROC_SUPER_MAGIC),
            MountFs::Dev => synth_statfs(TMPFS_MAGIC),
            MountFs::Empty if m.fstype == "sysfs" => synth_statfs(SYSFS_MAGIC),
            MountFs::Empty => synth_statfs(TMPFS_MAGIC),
        };
        Ok((st, flags))
    }

    pub fn readonly(&self, r: &Resolved) -> bool {
        self.mounts[r.mount].readonly || !matches!(self.mounts[r.mount].fs, MountFs::Host { .. })
    }

    /// Opens a host node with `flags` (creating it when asked).
    pub fn host_open(&self, r: &Resolved, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
        if let (true, MountFs::Host { root, host_path }) =
            (r.rel.is_empty(), &self.mounts[r.mount].fs)
        {
            return open_mount_root(root, host_path, flags);
        }
        let (dir, name) = self.host_parent(r.mount, &r.rel)?;
        host_sys::openat2(dir.as_fd(), name, flags | libc::O_NOFOLLOW, mode)
    }

    fn host_dir(&self, r: &Resolved) -> Result<(OwnedFd, String), Errno> {
        if self.readonly(r) {
            return Err(libc::EROFS);
        }
        let (dir, name) = self.host_parent(r.mount, &r.rel)?;
        Ok((dir, name.to_string()))
    }

    pub fn mkdir(&self, r: &Resolved, mode: u32) -> Result<(), Errno> {
        if r.exists {
            return Err(libc::EEXIST);
        }
        let (dir, name) = self.host_dir(r)?;
        nix::sys::stat::mkdirat(
            Some(raw(&dir)),
            name.as_str(),
            Mode::from_bits_truncate(mode),
        )
        .map_err(|e| e as i32)
    }

    /// Makes a socket file (a unix socket bound to a path).
    pub fn mknod_socket(&self, r: &Resolved, mode: u32) -> Result<(), Errno> {
        self.mknod(r, libc::S_IFSOCK | (mode & 0o7777))
    }

    /// mknod of a FIFO or a regular file (`mode` has the type and the permissions).
    pub fn mknod(&self, r: &Resolved, mode: u32) -> Result<(), Errno> {
        if r.exists {
            return Err(libc::EEXIST);
        }
        let (dir, name) = self.host_dir(r)?;
        let kind = nix::sys::stat::SFlag::from_bits_truncate(mode & libc::S_IFMT);
        nix::sys::stat::mknodat(
            Some(raw(&dir)),
            name.as_str(),
            kind,
            Mode::from_bits_truncate(mode & 0o7777),
            0,
        )
        .map_err(|e| e as i32)
    }

    pub fn unlink(&self, r: &Resolved, dir_too: bool) -> Result<(), Errno> {
        if r.rel.is_empty() {
            return Err(libc::EBUSY);
        }
        let (dir, name) = self.host_dir(r)?;
        let flag = if dir_too {
            nix::unistd::UnlinkatFlags::RemoveDir
        } else {
            nix::unistd::UnlinkatFlags::NoRemoveDir
        };
        nix::unistd::unlinkat(Some(raw(&dir)), name.as_str(), flag).map_err(|e| e as i32)
    }

    pub fn rename(&self, from: &Resolved, to: &Resolved, flags: u32) -> Result<(), Errno> {
        if from.mount != to.mount {
            return Err(libc::EXDEV);
        }
        if from.rel.is_empty() || to.rel.is_empty() {
            return Err(libc::EBUSY);
        }
        let (fd, fname) = self.host_dir(from)?;
        let (td, tname) = self.host_dir(to)?;
        let flags = nix::fcntl::RenameFlags::from_bits(flags).ok_or(libc::EINVAL)?;
        nix::fcntl::renameat2(
            Some(raw(&fd)),
            fname.as_str(),
            Some(raw(&td)),
            tname.as_str(),
            flags,
        )
        .map_err(|e| e as i32)
    }

    pub fn link(&self, from: &Resolved, to: &Resolved) -> Result<(), Errno> {
        if from.mount != to.mount {
            return Err(libc::EXDEV);
        }
        if to.exists {
            return Err(libc::EEXIST);
        }
        let (fd, fname) = self.host_dir(from)?;
        let (td, tname) = self.host_dir(to)?;
        nix::unistd::linkat(
            Some(raw(&fd)),
            fname.as_str(),
            Some(raw(&td)),
            tname.as_str(),
            nix::fcntl::AtFlags::empty(),
        )
        .map_err(|e| e as i32)
    }

    pub fn symlink(&self, target: &str, at: &Resolved) -> Result<(), Errno> {
        if at.exists {
            return Err(libc::EEXIST);
        }
        let (dir, name) = self.host_dir(at)?;
        nix::unistd::symlinkat(target, Some(raw(&dir)), name.as_str()).map_err(|e| e as i32)
    }

    pub fn chmod(&self, r: &Resolved, mode: u32) -> Result<(), Errno> {
        let (dir, name) = self.host_dir(r)?;
        nix::sys::stat::fchmodat(
            Some(raw(&dir)),
            name.as_str(),
            Mode::from_bits_truncate(mode),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| e as i32)
    }

    pub fn chown(&self, r: &Resolved, uid: u32, gid: u32) -> Result<(), Errno> {
        let (dir, name) = self.host_dir(r)?;
        let u = (uid != u32::MAX).then(|| nix::unistd::Uid::from_raw(uid));
        let g = (gid != u32::MAX).then(|| nix::unistd::Gid::from_raw(gid));
        nix::unistd::fchownat(
            Some(raw(&dir)),
            name.as_str(),
            u,
            g,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| e as i32)
    }

    /// Removes the private host directories the sentry made itself to back tmpfs mounts
    /// (only where it could not mount a real tmpfs).
    pub fn cleanup(&mut self) {
        for dir in self.scratch.drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Opens the root of a host mount itself (a bind-mounted file or directory) with `flags`,
/// without `/proc` (a confined sandbox has none): a directory by `openat2(root, ".")`, a
/// file by its path (in a confined sandbox, the mount point in the sandbox's own root),
/// which must still name the file `root` holds.
fn open_mount_root(
    root: &OwnedFd,
    host_path: &std::path::Path,
    flags: i32,
) -> Result<OwnedFd, Errno> {
    let how = flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW);
    let held = host_sys::fstat(root.as_fd())?;
    if held.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return host_sys::openat2(root.as_fd(), ".", how, 0);
    }
    use std::os::unix::fs::OpenOptionsExt;
    let acc = how & libc::O_ACCMODE;
    let file = std::fs::OpenOptions::new()
        .read(acc == libc::O_RDONLY || acc == libc::O_RDWR)
        .write(acc == libc::O_WRONLY || acc == libc::O_RDWR)
        .custom_flags(how & !libc::O_ACCMODE)
        .open(host_path)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let st = host_sys::fstat(file.as_fd())?;
    if (st.st_dev, st.st_ino) != (held.st_dev, held.st_ino) {
        // The host path now names another file than the one mounted.
        return Err(libc::ESTALE);
    }
    Ok(file.into())
}

fn raw(fd: &OwnedFd) -> i32 {
    std::os::fd::AsRawFd::as_raw_fd(fd)
}
