//! A tmpfs mount's files, read into and rebuilt from a checkpoint image.
//!
//! Both directions work on directory fds only, every step an `openat2` beneath the mount's
//! root that follows no link (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS`), every node created with `O_CREAT | O_EXCL` (or `mkdirat`,
//! `symlinkat`, which never follow a link either) and its owner and mode set on the new
//! fd. An image can therefore describe any tree it likes: it can only ever create new
//! nodes inside the sandbox's own tmpfs.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::checks::{bad, truncate, Invalid, PATH_MAX};
use crate::fs::host_sys;

/// One node of a saved tmpfs: path relative to the mount, mode, and what it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TmpfsEntry {
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub node: TmpfsNode,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TmpfsNode {
    Dir,
    File(Vec<u8>),
    Symlink(String),
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

fn io_fail<'a>(path: &'a str, op: &'static str) -> impl FnOnce(std::io::Error) -> TreeError + 'a {
    move |source| TreeError {
        path: path.to_string(),
        op,
        source,
    }
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

fn fstatat(dir: BorrowedFd, name: &str) -> Result<libc::stat, i32> {
    nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| e as i32)
}

/// Reads the tree below `root` (a directory fd of the mount's root), sorted by path so that
/// every directory comes before what it holds. Nodes other than directories, regular
/// files and symlinks are left out.
pub(crate) fn read_tree(root: BorrowedFd) -> Result<Vec<TmpfsEntry>, TreeError> {
    let mut out = Vec::new();
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
            let st = fstatat(dir.as_fd(), &name).map_err(fail(&path, "stat"))?;
            let node = match st.st_mode & libc::S_IFMT {
                libc::S_IFLNK => {
                    let t = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name.as_str())
                        .map_err(|e| fail(&path, "readlink")(e as i32))?;
                    TmpfsNode::Symlink(t.to_string_lossy().into_owned())
                }
                libc::S_IFDIR => {
                    stack.push(path.clone());
                    TmpfsNode::Dir
                }
                libc::S_IFREG => {
                    let f =
                        host_sys::openat2(dir.as_fd(), &name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)
                            .map_err(fail(&path, "opening the file"))?;
                    let mut data = Vec::with_capacity(st.st_size.max(0) as usize);
                    std::fs::File::from(f)
                        .read_to_end(&mut data)
                        .map_err(io_fail(&path, "reading the file"))?;
                    TmpfsNode::File(data)
                }
                _ => continue,
            };
            out.push(TmpfsEntry {
                path,
                mode: st.st_mode & 0o7777,
                uid: st.st_uid,
                gid: st.st_gid,
                node,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Rebuilds a saved tree below `root` (a directory fd of a fresh, empty tmpfs). The entries
/// must pass `kernel::validate::check_tree` (restore checks them before any host call;
/// this checks again). Nothing is ever written through an existing node: a node that
/// already exists is an error.
pub(crate) fn write_tree(root: BorrowedFd, entries: &[TmpfsEntry]) -> Result<(), TreeError> {
    check_tree("the tmpfs", entries).map_err(|e| TreeError {
        path: String::new(),
        op: "checking the tree",
        source: std::io::Error::other(e.to_string()),
    })?;
    for e in entries {
        let p = e.path.as_str();
        let (parent, name) = p.rsplit_once('/').unwrap_or((".", p));
        let dir = host_sys::openat2(root, parent, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(fail(p, "opening its directory"))?;
        let fd: Option<OwnedFd> = match &e.node {
            TmpfsNode::Dir => {
                nix::sys::stat::mkdirat(
                    Some(dir.as_raw_fd()),
                    name,
                    nix::sys::stat::Mode::from_bits_truncate(0o700),
                )
                .map_err(|x| fail(p, "mkdir")(x as i32))?;
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
            TmpfsNode::File(data) => {
                let f = host_sys::openat2(
                    dir.as_fd(),
                    name,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )
                .map_err(fail(p, "creating the file"))?;
                let mut file = std::fs::File::from(f);
                file.write_all(data)
                    .map_err(io_fail(p, "writing the file"))?;
                Some(file.into())
            }
            TmpfsNode::Symlink(target) => {
                nix::unistd::symlinkat(target.as_str(), Some(dir.as_raw_fd()), name)
                    .map_err(|x| fail(p, "symlink")(x as i32))?;
                nix::unistd::fchownat(
                    Some(dir.as_raw_fd()),
                    name,
                    Some(nix::unistd::Uid::from_raw(e.uid)),
                    Some(nix::unistd::Gid::from_raw(e.gid)),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|x| fail(p, "chown")(x as i32))?;
                None
            }
        };
        if let Some(fd) = fd {
            // Owner first: chown clears set-user-ID bits that chmod then sets.
            nix::unistd::fchown(
                fd.as_raw_fd(),
                Some(nix::unistd::Uid::from_raw(e.uid)),
                Some(nix::unistd::Gid::from_raw(e.gid)),
            )
            .map_err(|x| fail(p, "chown")(x as i32))?;
            nix::sys::stat::fchmod(
                fd.as_raw_fd(),
                nix::sys::stat::Mode::from_bits_truncate(e.mode),
            )
            .map_err(|x| fail(p, "chmod")(x as i32))?;
        }
    }
    Ok(())
}

/// A tmpfs tree: relative clean paths, each once, parents listed as directories before
/// their children (the order `read_tree` writes), names and paths within Linux's limits.
pub(crate) fn check_tree(obj: &str, entries: &[TmpfsEntry]) -> Result<(), Invalid> {
    let mut dirs: HashSet<&str> = HashSet::new();
    let mut seen: HashSet<&str> = HashSet::new();
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
        if e.mode & !0o7777 != 0 {
            return Err(bad(
                obj,
                "entry mode",
                format!("{:#o} of {:?}", e.mode, truncate(p)),
            ));
        }
        if let TmpfsNode::Symlink(t) = &e.node {
            if t.is_empty() || t.len() > PATH_MAX || t.contains('\0') {
                return Err(bad(
                    obj,
                    "symlink target",
                    format!("of {:?} is invalid", truncate(p)),
                ));
            }
        }
        if matches!(e.node, TmpfsNode::Dir) {
            dirs.insert(p);
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

    fn entry(path: &str, mode: u32, node: TmpfsNode) -> TmpfsEntry {
        TmpfsEntry {
            path: path.into(),
            mode,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            node,
        }
    }

    #[test]
    fn a_tree_round_trips() {
        let a = tmpdir("rt-a");
        let tree = vec![
            entry("d", 0o750, TmpfsNode::Dir),
            entry("d/f", 0o640, TmpfsNode::File(b"hello".to_vec())),
            entry("d/l", 0o777, TmpfsNode::Symlink("../elsewhere".into())),
            entry("top", 0o600, TmpfsNode::File(vec![])),
        ];
        write_tree(open_dir(&a).as_fd(), &tree).unwrap();
        let back = read_tree(open_dir(&a).as_fd()).unwrap();
        assert_eq!(back, tree);
        std::fs::remove_dir_all(&a).unwrap();
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
                entry("evil", 0o4777, TmpfsNode::File(b"owned".to_vec())),
            ],
            vec![
                entry("dir", 0o777, ll(&outside)),
                entry("dir/victim", 0o4777, TmpfsNode::File(b"owned".to_vec())),
            ],
            vec![
                entry("dir", 0o777, ll(&outside)),
                entry("dir/new", 0o755, TmpfsNode::Dir),
            ],
            vec![entry(
                "../victim",
                0o644,
                TmpfsNode::File(b"owned".to_vec()),
            )],
            vec![entry("/tmp/x", 0o644, TmpfsNode::File(b"owned".to_vec()))],
        ];
        for (i, tree) in attacks.iter().enumerate() {
            let root = a.join(i.to_string());
            std::fs::create_dir(&root).unwrap();
            let r = write_tree(open_dir(&root).as_fd(), tree);
            assert!(r.is_err(), "attack {i} was accepted");
        }
        // Written straight onto an existing link (not through the image's order checks):
        // O_EXCL refuses it.
        let root = a.join("direct");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(&victim, root.join("evil")).unwrap();
        let r = write_tree(
            open_dir(&root).as_fd(),
            &[entry("evil", 0o4777, TmpfsNode::File(b"owned".to_vec()))],
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
