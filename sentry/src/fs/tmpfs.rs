//! A tmpfs mount's files, read into and rebuilt from a checkpoint image.
//!
//! Both directions work on directory fds only, every step an `openat2` beneath the mount's
//! root that follows no link (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS`), every node created with `O_CREAT | O_EXCL` (or `mkdirat`,
//! `symlinkat`, `mknodat`, `linkat`, which never follow a link either) and its owner and
//! mode set on the new node. An image can therefore describe any tree it likes: it can
//! only ever create new nodes inside the sandbox's own tmpfs.
//!
//! Each node keeps what the guest saw of it: its inode number (the restored host inode is
//! bound to it, `crate::fs::inodes`), its times (access and modification set again, change
//! time shown until the guest changes the file), its link count (a file of several names
//! is saved once, its other names as [`TmpfsNode::Link`], and restored as one file with
//! hard links), a regular file's holes (only its data is saved), and the `user.*`
//! extended attributes of directories and regular files.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::checks::{bad, truncate, Invalid, PATH_MAX};
use crate::fs::ghost::{self, GhostExtent};
use crate::fs::host_sys;
use crate::fs::inodes::InodeNumbers;
use crate::fs::xattr::{self, Xattr};

/// One name of a saved tmpfs: path relative to the mount, the inode it names (its
/// number, owner, mode, link count and times), and what it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TmpfsEntry {
    pub path: String,
    /// The inode number the guest saw; the names of one inode have the same.
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Names of the inode (a directory: 2 and one per subdirectory).
    pub nlink: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub node: TmpfsNode,
    /// Its `user.*` extended attributes (a directory's or a regular file's; a link's
    /// are the earlier entry's).
    pub xattrs: Vec<Xattr>,
}

/// A time as `struct timespec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TmpfsNode {
    Dir,
    /// A regular file of `size` bytes: its data, the rest holes.
    File {
        size: u64,
        extents: Vec<GhostExtent>,
    },
    Symlink(String),
    /// A named pipe (its pipe, if open, is the open files' to restore).
    Fifo,
    /// Another name of the inode `ino` of an earlier entry (a hard link): the inode's
    /// owner, mode, link count and times are the earlier entry's.
    Link,
}

/// A failure reading or rebuilding a tree: the node's path within the mount, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path:?}: {op}")]
pub struct TreeError {
    pub path: String,
    pub op: &'static str,
    #[source]
    pub source: std::io::Error,
}

fn fail<'a>(path: &'a str, op: &'static str) -> impl FnOnce(i32) -> TreeError + 'a {
    move |e| TreeError {
        path: path.to_string(),
        op,
        source: std::io::Error::from_raw_os_error(e),
    }
}

fn nix_fail<'a>(path: &'a str, op: &'static str) -> impl FnOnce(nix::Error) -> TreeError + 'a {
    move |e| fail(path, op)(e as i32)
}

/// The names in directory `dir` (without `.` and `..`).
fn names(dir: BorrowedFd) -> Result<Vec<String>, i32> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let n = host_sys::getdents64(dir, &mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        let mut off = 0;
        while off + 19 <= n {
            let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen < 19 || off + reclen > n {
                return Err(libc::EIO);
            }
            let raw = &buf[off + 19..off + reclen];
            let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
            if name != b"." && name != b".." {
                // Names the sentry created are UTF-8 (guest paths are); skip anything else.
                if let Ok(s) = std::str::from_utf8(name) {
                    out.push(s.to_string());
                }
            }
            off += reclen;
        }
    }
}

/// The `user.*` attributes of a node being saved (none where the host's tmpfs keeps
/// none: Linux before 6.6).
fn read_xattrs(fd: BorrowedFd) -> Result<Vec<Xattr>, i32> {
    match xattr::read_all(fd) {
        Err(libc::EOPNOTSUPP) => Ok(Vec::new()),
        r => r,
    }
}

fn fstatat(dir: BorrowedFd, name: &str) -> Result<libc::stat, i32> {
    nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| e as i32)
}

/// Reads the tree below `root` (a directory fd of the mount's root), sorted by path so that
/// every directory comes before what it holds and the first name of a file holds it, as
/// the guest sees it through `inos`. Nodes other than directories, regular files,
/// symlinks and FIFOs (sockets) are left out.
pub(crate) fn read_tree(
    root: BorrowedFd,
    inos: &InodeNumbers,
) -> Result<Vec<TmpfsEntry>, TreeError> {
    let mut out = Vec::new();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let here = if rel.is_empty() { "." } else { rel.as_str() };
        let dir = host_sys::openat2(root, here, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .map_err(fail(&rel, "opening the directory"))?;
        for name in names(dir.as_fd()).map_err(fail(&rel, "listing the directory"))? {
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let mut st = fstatat(dir.as_fd(), &name).map_err(fail(&path, "stat"))?;
            let fmt = st.st_mode & libc::S_IFMT;
            let first = seen.insert((st.st_dev, st.st_ino));
            let mut xattrs = Vec::new();
            let node = match fmt {
                libc::S_IFDIR => {
                    stack.push(path.clone());
                    let d = host_sys::openat2(
                        dir.as_fd(),
                        &name,
                        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                        0,
                    )
                    .map_err(fail(&path, "opening the directory"))?;
                    xattrs =
                        read_xattrs(d.as_fd()).map_err(fail(&path, "reading its attributes"))?;
                    TmpfsNode::Dir
                }
                libc::S_IFLNK | libc::S_IFREG | libc::S_IFIFO if !first => TmpfsNode::Link,
                libc::S_IFLNK => {
                    let t = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name.as_str())
                        .map_err(nix_fail(&path, "readlink"))?;
                    TmpfsNode::Symlink(t.to_string_lossy().into_owned())
                }
                libc::S_IFREG => {
                    // Reading it leaves its access time as the guest saw it (O_NOATIME needs
                    // the owner or CAP_FOWNER; the sentry has it).
                    let open = |extra| {
                        host_sys::openat2(
                            dir.as_fd(),
                            &name,
                            libc::O_RDONLY | libc::O_NOFOLLOW | extra,
                            0,
                        )
                    };
                    let f = open(libc::O_NOATIME)
                        .or_else(|_| open(0))
                        .map_err(fail(&path, "opening the file"))?;
                    let size = st.st_size.max(0) as u64;
                    let extents = ghost::read_extents(f.as_fd(), size, u64::MAX).map_err(|e| {
                        fail(&path, "reading the file")(match e {
                            ghost::ExtentError::Io(e) => e,
                            ghost::ExtentError::TooBig(_) => libc::EFBIG,
                        })
                    })?;
                    xattrs =
                        read_xattrs(f.as_fd()).map_err(fail(&path, "reading its attributes"))?;
                    TmpfsNode::File { size, extents }
                }
                libc::S_IFIFO => TmpfsNode::Fifo,
                _ => continue,
            };
            inos.present(&mut st);
            out.push(TmpfsEntry {
                path,
                ino: st.st_ino,
                mode: st.st_mode & 0o7777,
                uid: st.st_uid,
                gid: st.st_gid,
                nlink: st.st_nlink,
                atime: Timestamp {
                    sec: st.st_atime,
                    nsec: st.st_atime_nsec,
                },
                mtime: Timestamp {
                    sec: st.st_mtime,
                    nsec: st.st_mtime_nsec,
                },
                ctime: Timestamp {
                    sec: st.st_ctime,
                    nsec: st.st_ctime_nsec,
                },
                node,
                xattrs,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    // The first name (by path) of a file of several names holds it.
    let mut holder: HashMap<u64, usize> = HashMap::new();
    for (i, e) in out.iter().enumerate() {
        if !matches!(e.node, TmpfsNode::Link | TmpfsNode::Dir) {
            holder.insert(e.ino, i);
        }
    }
    // Link counts as the tree has them (a name the sentry cannot save, not UTF-8, is left
    // out, so the saved tree must not count it).
    let mut names_of: HashMap<u64, u64> = HashMap::new();
    let mut subdirs: HashMap<String, u64> = HashMap::new();
    for e in &out {
        match e.node {
            TmpfsNode::Dir => {
                if let Some((parent, _)) = e.path.rsplit_once('/') {
                    *subdirs.entry(parent.to_string()).or_default() += 1;
                }
            }
            _ => *names_of.entry(e.ino).or_default() += 1,
        }
    }
    for e in &mut out {
        e.nlink = match e.node {
            TmpfsNode::Dir => 2 + subdirs.get(&e.path).copied().unwrap_or(0),
            _ => names_of[&e.ino],
        };
    }
    let mut first: HashSet<u64> = HashSet::new();
    for i in 0..out.len() {
        if matches!(out[i].node, TmpfsNode::Dir) || !first.insert(out[i].ino) {
            continue;
        }
        if let Some(&h) = holder.get(&out[i].ino) {
            if h != i {
                let node = std::mem::replace(&mut out[h].node, TmpfsNode::Link);
                out[i].node = node;
                out[i].xattrs = std::mem::take(&mut out[h].xattrs);
            }
        }
    }
    Ok(out)
}

/// Rebuilds a saved tree below `root` (a directory fd of a fresh, empty tmpfs), binding
/// each new host inode to its saved number and change time in `inos`. The entries must
/// pass [`check_tree`] (restore checks them before any host call; this checks again).
/// Nothing is ever written through an existing node: a node that already exists is an
/// error.
pub(crate) fn write_tree(
    root: BorrowedFd,
    entries: &[TmpfsEntry],
    inos: &InodeNumbers,
) -> Result<(), TreeError> {
    check_tree("the tmpfs", entries).map_err(|e| TreeError {
        path: String::new(),
        op: "checking the tree",
        source: std::io::Error::other(e.to_string()),
    })?;
    let parent_of = |p: &str| -> (String, String) {
        let (parent, name) = p.rsplit_once('/').unwrap_or((".", p));
        (parent.to_string(), name.to_string())
    };
    let open_parent = |p: &str| {
        let (parent, name) = parent_of(p);
        host_sys::openat2(root, &parent, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map(|d| (d, name))
            .map_err(fail(p, "opening its directory"))
    };
    // The first name of each inode, by saved number.
    let mut first: HashMap<u64, &str> = HashMap::new();
    for e in entries {
        let p = e.path.as_str();
        let (dir, name) = open_parent(p)?;
        let d = Some(dir.as_raw_fd());
        let name = name.as_str();
        let fd: Option<OwnedFd> = match &e.node {
            TmpfsNode::Dir => {
                nix::sys::stat::mkdirat(d, name, nix::sys::stat::Mode::from_bits_truncate(0o700))
                    .map_err(nix_fail(p, "mkdir"))?;
                Some(
                    host_sys::openat2(
                        dir.as_fd(),
                        name,
                        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                        0,
                    )
                    .map_err(fail(p, "opening the new directory"))?,
                )
            }
            TmpfsNode::File { size, extents } => {
                let f = host_sys::openat2(
                    dir.as_fd(),
                    name,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )
                .map_err(fail(p, "creating the file"))?;
                ghost::write_extents(f.as_fd(), extents, *size)
                    .map_err(fail(p, "writing the file"))?;
                Some(f)
            }
            TmpfsNode::Symlink(target) => {
                nix::unistd::symlinkat(target.as_str(), d, name).map_err(nix_fail(p, "symlink"))?;
                None
            }
            TmpfsNode::Fifo => {
                nix::sys::stat::mknodat(
                    d,
                    name,
                    nix::sys::stat::SFlag::S_IFIFO,
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                    0,
                )
                .map_err(nix_fail(p, "mknod"))?;
                None
            }
            TmpfsNode::Link => {
                let to = first.get(&e.ino).copied().unwrap_or_default();
                let (from_dir, from_name) = open_parent(to)?;
                nix::unistd::linkat(
                    Some(from_dir.as_raw_fd()),
                    from_name.as_str(),
                    d,
                    name,
                    nix::fcntl::AtFlags::empty(),
                )
                .map_err(nix_fail(p, "link"))?;
                continue;
            }
        };
        first.insert(e.ino, p);
        if let Some(fd) = &fd {
            for a in &e.xattrs {
                xattr::set(fd.as_fd(), &a.name, &a.value, libc::XATTR_CREATE)
                    .map_err(fail(p, "setting an extended attribute"))?;
            }
        }
        let uid = Some(nix::unistd::Uid::from_raw(e.uid));
        let gid = Some(nix::unistd::Gid::from_raw(e.gid));
        let mode = nix::sys::stat::Mode::from_bits_truncate(e.mode);
        // Owner first: chown clears set-user-ID bits that chmod then sets.
        match fd {
            Some(fd) => {
                nix::unistd::fchown(fd.as_raw_fd(), uid, gid).map_err(nix_fail(p, "chown"))?;
                nix::sys::stat::fchmod(fd.as_raw_fd(), mode).map_err(nix_fail(p, "chmod"))?;
            }
            None => {
                nix::unistd::fchownat(d, name, uid, gid, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(nix_fail(p, "chown"))?;
                if matches!(e.node, TmpfsNode::Fifo) {
                    // A FIFO just made here (no link to follow: mknodat made it).
                    nix::sys::stat::fchmodat(
                        d,
                        name,
                        mode,
                        nix::sys::stat::FchmodatFlags::FollowSymlink,
                    )
                    .map_err(nix_fail(p, "chmod"))?;
                }
            }
        }
    }
    // Times last, children before their directory (a new name changes its directory's
    // times); then each inode as it now is is bound to what the guest saw.
    for e in entries.iter().rev() {
        if matches!(e.node, TmpfsNode::Link) {
            continue;
        }
        let p = e.path.as_str();
        let (dir, name) = open_parent(p)?;
        let ts = |t: Timestamp| nix::sys::time::TimeSpec::new(t.sec, t.nsec);
        nix::sys::stat::utimensat(
            Some(dir.as_raw_fd()),
            name.as_str(),
            &ts(e.atime),
            &ts(e.mtime),
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(nix_fail(p, "setting the times"))?;
        let st = fstatat(dir.as_fd(), &name).map_err(fail(p, "stat"))?;
        inos.bind(&st, e.ino, Some((e.ctime.sec, e.ctime.nsec)));
    }
    Ok(())
}

/// A tmpfs tree: relative clean paths, each once, parents listed as directories before
/// their children (the order `read_tree` writes), names and paths within Linux's limits;
/// each inode number saved once (its other names as links to it, after it), its link count
/// the number of its names (a directory's: 2 and its subdirectories), times valid.
pub(crate) fn check_tree(obj: &str, entries: &[TmpfsEntry]) -> Result<(), Invalid> {
    let mut dirs: HashSet<&str> = HashSet::new();
    let mut seen: HashSet<&str> = HashSet::new();
    // Saved inodes: their link count, and the names found.
    let mut inodes: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut dir_inos: HashSet<u64> = HashSet::new();
    let mut subdirs: HashMap<&str, u64> = HashMap::new();
    for e in entries {
        let p = e.path.as_str();
        let clean = !p.is_empty()
            && p.len() <= PATH_MAX
            && !p.contains('\0')
            && p.split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && c.len() <= 255);
        if !clean {
            return Err(bad(
                obj,
                "entry",
                format!("{:?} is not a clean relative path", truncate(p)),
            ));
        }
        if !seen.insert(p) {
            return Err(bad(
                obj,
                "entry",
                format!("{:?} appears twice", truncate(p)),
            ));
        }
        if let Some((parent, _)) = p.rsplit_once('/') {
            if !dirs.contains(parent) {
                return Err(bad(
                    obj,
                    "entry",
                    format!(
                        "{:?} comes before its directory, or its parent is not a directory",
                        truncate(p)
                    ),
                ));
            }
        }
        if !e.xattrs.is_empty() && !matches!(e.node, TmpfsNode::Dir | TmpfsNode::File { .. }) {
            return Err(bad(
                obj,
                "entry extended attributes",
                format!(
                    "{:?} is neither a directory nor a regular file",
                    truncate(p)
                ),
            ));
        }
        if let Err(why) = xattr::check_saved(&e.xattrs) {
            return Err(bad(
                obj,
                "entry extended attributes",
                format!("{:?}: {why}", truncate(p)),
            ));
        }
        if e.mode & !0o7777 != 0 {
            return Err(bad(
                obj,
                "entry mode",
                format!("{:#o} of {:?}", e.mode, truncate(p)),
            ));
        }
        if e.ino == 0 {
            return Err(bad(
                obj,
                "entry inode number",
                format!("0 of {:?} is no inode", truncate(p)),
            ));
        }
        for (what, t) in [("atime", e.atime), ("mtime", e.mtime), ("ctime", e.ctime)] {
            if !(0..1_000_000_000).contains(&t.nsec) {
                return Err(bad(
                    obj,
                    "entry time",
                    format!(
                        "{what} {}.{} of {:?} is not a time",
                        t.sec,
                        t.nsec,
                        truncate(p)
                    ),
                ));
            }
        }
        match &e.node {
            TmpfsNode::Link => match inodes
                .get_mut(&e.ino)
                .filter(|_| !dir_inos.contains(&e.ino))
            {
                Some((_, names)) => *names += 1,
                None => {
                    return Err(bad(
                        obj,
                        "entry",
                        format!(
                            "{:?} is another name of inode {}, which no earlier entry saves \
                             (or a directory)",
                            truncate(p),
                            e.ino
                        ),
                    ))
                }
            },
            node => {
                if inodes.contains_key(&e.ino) || dir_inos.contains(&e.ino) {
                    return Err(bad(
                        obj,
                        "entry",
                        format!(
                            "{:?} saves inode {} again (it is saved by an earlier entry)",
                            truncate(p),
                            e.ino
                        ),
                    ));
                }
                if let TmpfsNode::Symlink(t) = node {
                    if t.is_empty() || t.len() > PATH_MAX || t.contains('\0') {
                        return Err(bad(
                            obj,
                            "symlink target",
                            format!("of {:?} is invalid", truncate(p)),
                        ));
                    }
                }
                if let TmpfsNode::File { size, extents } = node {
                    ghost::check_extents(obj, ["file size", "file extent"], extents, *size)?;
                }
                if matches!(node, TmpfsNode::Dir) {
                    dirs.insert(p);
                    if let Some((parent, _)) = p.rsplit_once('/') {
                        *subdirs.entry(parent).or_default() += 1;
                    }
                    dir_inos.insert(e.ino);
                } else {
                    inodes.insert(e.ino, (e.nlink, 1));
                }
            }
        }
    }
    // Link counts, once every name and subdirectory is known.
    for e in entries {
        let p = e.path.as_str();
        let problem = match e.node {
            TmpfsNode::Link => continue,
            TmpfsNode::Dir => {
                let n = subdirs.get(p).copied().unwrap_or(0);
                (e.nlink != 2 + n).then(|| format!("{:?} has {n} subdirectories", truncate(p)))
            }
            _ => {
                let (_, names) = inodes[&e.ino];
                (e.nlink != names).then(|| format!("{:?} has {names} names", truncate(p)))
            }
        };
        if let Some(problem) = problem {
            return Err(bad(
                obj,
                "entry link count",
                format!("{} is saved, but {problem}", e.nlink),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sentry-tree-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn open_dir(p: &std::path::Path) -> OwnedFd {
        std::fs::File::open(p).unwrap().into()
    }

    fn t(sec: i64, nsec: i64) -> Timestamp {
        Timestamp { sec, nsec }
    }

    /// An entry of inode `ino`, one name (a directory: no subdirectories).
    fn entry_of(path: &str, ino: u64, mode: u32, node: TmpfsNode) -> TmpfsEntry {
        TmpfsEntry {
            path: path.into(),
            ino,
            mode,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            nlink: if matches!(node, TmpfsNode::Dir) { 2 } else { 1 },
            atime: t(1_000_000_000, 5),
            mtime: t(1_234_567_890, 123_456_789),
            ctime: t(1_500_000_000, 7),
            node,
            xattrs: vec![],
        }
    }

    fn xa(name: &str, value: &[u8]) -> Xattr {
        Xattr {
            name: name.as_bytes().to_vec(),
            value: value.to_vec(),
        }
    }

    fn entry(path: &str, mode: u32, node: TmpfsNode) -> TmpfsEntry {
        entry_of(path, 1000 + path.len() as u64, mode, node)
    }

    fn file(data: &[u8]) -> TmpfsNode {
        TmpfsNode::File {
            size: data.len() as u64,
            extents: if data.is_empty() {
                vec![]
            } else {
                vec![GhostExtent {
                    offset: 0,
                    data: data.to_vec(),
                }]
            },
        }
    }

    /// Every kind of node, a file of two names, a FIFO, a sparse file: read back as
    /// written, with the saved inode numbers and times, through the numbers the restore
    /// bound (a second table reads the host's own numbers: new inodes).
    #[test]
    fn a_tree_round_trips() {
        let a = tmpdir("rt-a");
        let mut tree = vec![
            entry_of("d", 11, 0o750, TmpfsNode::Dir),
            entry_of("d/f", 12, 0o640, file(b"hello")),
            entry_of("d/l", 13, 0o777, TmpfsNode::Symlink("../elsewhere".into())),
            entry_of("d/sub", 14, 0o700, TmpfsNode::Dir),
            entry_of("hard", 12, 0o640, TmpfsNode::Link),
            entry_of("p", 15, 0o620, TmpfsNode::Fifo),
            entry_of(
                "sparse",
                16,
                0o600,
                TmpfsNode::File {
                    size: 3 << 20,
                    // A page of data (the host reports data and holes by page).
                    extents: vec![GhostExtent {
                        offset: 2 << 20,
                        data: [&b"end"[..], &[0; 4093]].concat(),
                    }],
                },
            ),
            entry_of("top", 17, 0o600, file(b"")),
        ];
        tree[0].nlink = 3;
        tree[1].nlink = 2;
        tree[4].nlink = 2;
        // Attributes of a directory and of a file of two names (kept by its first).
        tree[0].xattrs = vec![xa("user.dir", b"d")];
        tree[1].xattrs = vec![xa("user.a", b"one"), xa("user.empty", b"")];
        let inos = InodeNumbers::default();
        write_tree(open_dir(&a).as_fd(), &tree, &inos).unwrap();
        let back = read_tree(open_dir(&a).as_fd(), &inos).unwrap();
        assert_eq!(back, tree);
        let host = read_tree(open_dir(&a).as_fd(), &InodeNumbers::default()).unwrap();
        assert!(host.iter().zip(&tree).all(|(h, t)| h.ino != t.ino));
        // The sparse file's hole is a hole on the host too.
        let meta = std::fs::metadata(a.join("sparse")).unwrap();
        assert!(std::os::unix::fs::MetadataExt::blocks(&meta) < 64);
        std::fs::remove_dir_all(&a).unwrap();
    }

    /// A change after the restore: the host's change time shows again, and a new file
    /// whose host number is a restored one's gets a number of its own.
    #[test]
    fn a_changed_file_shows_its_new_ctime_and_new_files_never_share_a_number() {
        let a = tmpdir("ctime");
        let inos = InodeNumbers::default();
        let dev = std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(&a).unwrap());
        let mut tree = vec![entry_of("f", 77, 0o644, file(b"x"))];
        write_tree(open_dir(&a).as_fd(), &tree, &inos).unwrap();
        let host_f = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(a.join("f")).unwrap());
        assert_eq!(read_tree(open_dir(&a).as_fd(), &inos).unwrap(), tree);
        std::fs::set_permissions(
            a.join("f"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let back = read_tree(open_dir(&a).as_fd(), &inos).unwrap();
        assert_ne!(back[0].ctime, tree[0].ctime);
        tree[0].mode = 0o600;
        tree[0].ctime = back[0].ctime;
        assert_eq!(back, tree);
        // A host inode numbered as a restored one: another number.
        assert_ne!(inos.guest(dev, 77), 77);
        assert_ne!(inos.guest(dev, 77), inos.guest(dev, host_f));
        assert_eq!(inos.guest(dev, 77), inos.guest(dev, 77));
        std::fs::remove_dir_all(&a).unwrap();
    }

    /// A name the tree cannot hold (not UTF-8) is not counted in its file's link count:
    /// the saved tree must restore.
    #[test]
    fn link_counts_are_the_saved_names() {
        use std::os::unix::ffi::OsStrExt;
        let a = tmpdir("nlink");
        std::fs::write(a.join("f"), b"x").unwrap();
        std::fs::hard_link(a.join("f"), a.join(std::ffi::OsStr::from_bytes(b"\xff"))).unwrap();
        std::fs::create_dir(a.join(std::ffi::OsStr::from_bytes(b"\xfe"))).unwrap();
        let tree = read_tree(open_dir(&a).as_fd(), &InodeNumbers::default()).unwrap();
        assert_eq!(tree.len(), 1);
        assert_eq!(tree[0].nlink, 1);
        check_tree("t", &tree).unwrap();
        std::fs::remove_dir_all(&a).unwrap();
    }

    fn refused(tree: &[TmpfsEntry]) -> String {
        check_tree("t", tree).unwrap_err().to_string()
    }

    #[test]
    fn hostile_inodes_are_refused_by_name() {
        let f = || entry_of("f", 5, 0o644, file(b"x"));
        let mut two = f();
        two.nlink = 2;
        assert_eq!(
            refused(&[two]),
            "t: entry link count 2 is saved, but \"f\" has 1 names"
        );
        let mut d = entry_of("d", 6, 0o755, TmpfsNode::Dir);
        d.nlink = 9;
        assert_eq!(
            refused(&[d]),
            "t: entry link count 9 is saved, but \"d\" has 0 subdirectories"
        );
        assert_eq!(
            refused(&[f(), entry_of("g", 9, 0o644, TmpfsNode::Link)]),
            "t: entry \"g\" is another name of inode 9, which no earlier entry saves (or a \
             directory)"
        );
        assert_eq!(
            refused(&[
                entry_of("d", 6, 0o755, TmpfsNode::Dir),
                entry_of("g", 6, 0o644, TmpfsNode::Link)
            ]),
            "t: entry \"g\" is another name of inode 6, which no earlier entry saves (or a \
             directory)"
        );
        assert_eq!(
            refused(&[entry_of("g", 5, 0o644, TmpfsNode::Link), f()]),
            "t: entry \"g\" is another name of inode 5, which no earlier entry saves (or a \
             directory)"
        );
        assert_eq!(
            refused(&[f(), entry_of("p", 5, 0o644, TmpfsNode::Fifo)]),
            "t: entry \"p\" saves inode 5 again (it is saved by an earlier entry)"
        );
        assert_eq!(
            refused(&[f(), entry_of("f", 8, 0o644, TmpfsNode::Fifo)]),
            "t: entry \"f\" appears twice"
        );
        for (sec, nsec) in [(0, -1), (i64::MAX, 1_000_000_000), (0, (1 << 30) - 2)] {
            let mut e = f();
            e.atime = t(sec, nsec);
            assert_eq!(
                refused(&[e]),
                format!("t: entry time atime {sec}.{nsec} of \"f\" is not a time")
            );
        }
        let mut huge = f();
        huge.node = TmpfsNode::File {
            size: u64::MAX,
            extents: vec![],
        };
        assert_eq!(
            refused(&[huge]),
            format!("t: file size {} is out of range", u64::MAX)
        );
        assert_eq!(
            refused(&[entry_of("f", 0, 0o644, file(b"x"))]),
            "t: entry inode number 0 of \"f\" is no inode"
        );
        let mut sym = entry_of("l", 7, 0o777, TmpfsNode::Symlink("f".into()));
        sym.xattrs = vec![xa("user.a", b"1")];
        assert_eq!(
            refused(&[sym]),
            "t: entry extended attributes \"l\" is neither a directory nor a regular file"
        );
        for (name, why) in [
            (
                "trusted.a",
                "extended attribute \"trusted.a\" is not of the user namespace",
            ),
            (
                "security.capability",
                "\"security.capability\" is not of the user namespace",
            ),
            (
                "user.",
                "extended attribute \"user.\" is not of the user namespace",
            ),
            ("", "extended attribute name \"\" is not a valid name"),
        ] {
            let mut e = f();
            e.xattrs = vec![xa(name, b"1")];
            let got = refused(&[e]);
            assert!(
                got.starts_with("t: entry extended attributes \"f\": "),
                "{got}"
            );
            assert!(got.contains(why), "{got}");
        }
        // Huge but valid times are times.
        let mut far = f();
        far.mtime = t(i64::MAX, 999_999_999);
        far.atime = t(i64::MIN, 0);
        check_tree("t", &[far]).unwrap();
    }

    /// An entry that is a symlink to a file outside, then a file entry of the same name
    /// (or below it): nothing outside is written, and the tree is refused by name.
    #[test]
    fn links_in_the_image_are_never_followed() {
        let a = tmpdir("links");
        let outside = tmpdir("links-outside");
        let victim = outside.join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        // Its mode set, not left to the umask (other tests build kernels, which set the
        // process's umask to 0).
        std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let ll = |target: &std::path::Path| TmpfsNode::Symlink(target.display().to_string());
        let attacks = [
            vec![
                entry("evil", 0o777, ll(&victim)),
                entry("evil", 0o4777, file(b"owned")),
            ],
            vec![
                entry("dir", 0o777, ll(&outside)),
                entry("dir/victim", 0o4777, file(b"owned")),
            ],
            vec![
                entry("dir", 0o777, ll(&outside)),
                entry("dir/new", 0o755, TmpfsNode::Dir),
            ],
            vec![entry("../victim", 0o644, file(b"owned"))],
            vec![entry("/tmp/x", 0o644, file(b"owned"))],
        ];
        for (i, tree) in attacks.iter().enumerate() {
            let root = a.join(i.to_string());
            std::fs::create_dir(&root).unwrap();
            let r = write_tree(open_dir(&root).as_fd(), tree, &InodeNumbers::default());
            assert!(r.is_err(), "attack {i} was accepted");
        }
        // Written straight onto an existing link (not through the image's order checks):
        // O_EXCL refuses it.
        let root = a.join("direct");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(&victim, root.join("evil")).unwrap();
        let r = write_tree(
            open_dir(&root).as_fd(),
            &[entry("evil", 0o4777, file(b"owned"))],
            &InodeNumbers::default(),
        );
        assert!(r.is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777,
            0o644
        );
        assert!(!outside.join("new").exists());
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }
}
