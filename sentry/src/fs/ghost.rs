//! Ghost files: open host files that their guest path no longer reaches (unlinked while
//! open, in a removed directory, or with a new file now under the name), saved with their
//! data, as CRIU's ghost files are, and recreated at restore as unlinked files.
//!
//! A restore cannot reopen such a file by its path: the path is gone, or names another
//! file, and reopening it would silently give the guest the wrong data. So a checkpoint
//! saves the file's size, mode and data ([`GhostFile`]), holes kept as holes (only the
//! ranges `SEEK_DATA`/`SEEK_HOLE` report as data are saved, and a restore writes only
//! those), bounded by the ghost limit (`--ghost-limit`, CRIU's flag and default of 1 MiB
//! of data per file). A restore creates the file again with `O_TMPFILE` in the nearest
//! existing directory of its old path on a writable host mount (so it has no name and
//! `fstat` says `st_nlink` 0, as in the checkpointed sandbox), else as an anonymous
//! memory file the sentry reports as unlinked.
//!
//! A file still reached by its path is reopened by it, and must be the file checkpointed:
//! its size and modification time ([`FileIdentity`]) are saved and compared at restore
//! (see [`FileIdentity::matches`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::checks::{bad, Invalid};
use crate::fs::host_sys;
use crate::fs::persist::SaveError;
use crate::fs::{MountFs, Resolved, Vfs};
use crate::mm::Errno;

/// CRIU's default ghost limit: bytes of data one deleted file may bring into an image.
pub const DEFAULT_GHOST_LIMIT: u64 = 1 << 20;

/// The saved content of a file its path no longer reaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GhostFile {
    /// The inode number the guest saw (it sees it again after the restore).
    pub ino: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// `st_size`: the file ends here, after its last extent or in a hole.
    pub size: u64,
    /// The ranges that hold data, in order, not overlapping; the rest are holes.
    pub extents: Vec<GhostExtent>,
}

/// One range of a ghost file's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GhostExtent {
    pub offset: u64,
    pub data: Vec<u8>,
}

/// What a regular file reopened by path must still be at restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub size: u64,
    /// `st_mtime`, in seconds.
    pub mtime: i64,
}

impl FileIdentity {
    pub(crate) fn of(st: &libc::stat) -> Self {
        FileIdentity {
            size: st.st_size as u64,
            mtime: st.st_mtime,
        }
    }

    /// Whether `now` (the file a restore reopened) is the file checkpointed: the same
    /// size and modification time, as gVisor checks (CRIU checks the size). Not the inode:
    /// a new container's rootfs or a copied volume has new inodes for the same files, and
    /// a file replaced since may have the old one's inode number again. A different file
    /// is an error, never a silent reopen: the guest's data would not be its own. `Err`
    /// says how it differs.
    pub(crate) fn matches(&self, now: &libc::stat) -> Result<(), String> {
        let mut diff = Vec::new();
        if now.st_size as u64 != self.size {
            diff.push(format!("size {} (was {})", now.st_size, self.size));
        }
        if now.st_mtime != self.mtime {
            diff.push(format!(
                "modification time {} (was {})",
                now.st_mtime, self.mtime
            ));
        }
        if diff.is_empty() {
            Ok(())
        } else {
            Err(diff.join(", "))
        }
    }
}

/// Resolves guest `path` in `vfs` as the kernel (no permission checks, no /proc), the
/// final symlink followed when `follow`.
pub(crate) fn resolve_as_kernel(vfs: &Vfs, path: &str, follow: bool) -> Result<Resolved, Errno> {
    let look = |_: &[String]| Err(libc::ENOENT);
    vfs.resolve(
        &look,
        &crate::creds::Creds::kernel(),
        "/",
        path.as_bytes(),
        follow,
    )
}

/// `(dev, ino)` of what guest `path` names now in `vfs` (no final symlink followed), if a
/// host file.
pub(crate) fn at_path(vfs: &Vfs, path: &str) -> Option<(u64, u64)> {
    let r = resolve_as_kernel(vfs, path, false).ok()?;
    if !r.exists || !matches!(vfs.mounts[r.mount].fs, MountFs::Host { .. }) {
        return None;
    }
    let fd = vfs.host_open(&r, libc::O_PATH, 0).ok()?;
    let st = host_sys::fstat(fd.as_fd()).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// Saves the ghost file open as `fd` (stat `st`) at guest path `path`, up to `limit`
/// bytes of data. An `O_PATH` description (which cannot read) keeps size and mode only.
/// The fd's offset is kept.
/// `ino` is the inode number the guest sees for it.
pub(crate) fn save(
    fd: BorrowedFd,
    st: &libc::stat,
    ino: u64,
    path: &str,
    limit: u64,
) -> Result<GhostFile, SaveError> {
    let mut g = GhostFile {
        ino,
        mode: st.st_mode & 0o7777,
        size: st.st_size as u64,
        extents: Vec::new(),
    };
    let fl = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap_or(0);
    if fl & libc::O_PATH != 0 {
        return Ok(g);
    }
    g.extents = read_extents(fd, g.size, limit).map_err(|e| match e {
        ExtentError::Io(e) => SaveError::GhostRead {
            path: path.to_string(),
            source: std::io::Error::from_raw_os_error(e),
        },
        ExtentError::TooBig(bytes) => SaveError::GhostTooBig {
            path: path.to_string(),
            bytes,
            limit,
        },
    })?;
    Ok(g)
}

/// Why a file's data could not be read.
pub(crate) enum ExtentError {
    Io(i32),
    /// It holds this many bytes of data, above the limit.
    TooBig(u64),
}

/// The data of the first `size` bytes of `fd` (readable), as extents: the holes are left
/// out. At most `limit` bytes of data; the fd's offset is kept.
pub(crate) fn read_extents(
    fd: BorrowedFd,
    size: u64,
    limit: u64,
) -> Result<Vec<GhostExtent>, ExtentError> {
    let offset = lseek(fd, 0, libc::SEEK_CUR).map_err(ExtentError::Io)?;
    let ranges = data_ranges(fd, size);
    // Put the guest's offset back whatever the walk did.
    let _ = lseek(fd, offset, libc::SEEK_SET);
    let ranges = ranges.map_err(ExtentError::Io)?;
    let bytes: u64 = ranges.iter().map(|&(s, e)| e - s).sum();
    if bytes > limit {
        return Err(ExtentError::TooBig(bytes));
    }
    let mut out = Vec::new();
    for (start, end) in ranges {
        let mut data = vec![0u8; (end - start) as usize];
        let mut done = 0;
        while done < data.len() {
            match nix::sys::uio::pread(fd, &mut data[done..], (start + done as u64) as i64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(nix::Error::EINTR) => {}
                Err(e) => return Err(ExtentError::Io(e as i32)),
            }
        }
        data.truncate(done);
        if !data.is_empty() {
            out.push(GhostExtent {
                offset: start,
                data,
            });
        }
    }
    Ok(out)
}

/// Writes `extents` into the new, empty file `fd` and makes it `size` bytes long (the
/// rest holes).
pub(crate) fn write_extents(
    fd: BorrowedFd,
    extents: &[GhostExtent],
    size: u64,
) -> Result<(), Errno> {
    for e in extents {
        let mut done = 0;
        while done < e.data.len() {
            let at = e.offset + done as u64;
            match nix::sys::uio::pwrite(fd, &e.data[done..], at as i64) {
                Ok(0) => return Err(libc::EIO),
                Ok(n) => done += n,
                Err(nix::Error::EINTR) => {}
                Err(e) => return Err(e as i32),
            }
        }
    }
    nix::unistd::ftruncate(fd, size as i64).map_err(|e| e as i32)
}

fn lseek(fd: BorrowedFd, off: i64, whence: i32) -> Result<i64, i32> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::lseek(fd.as_raw_fd(), off, whence) };
    if r < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    Ok(r)
}

/// The `[start, end)` ranges of the first `size` bytes of `fd` that hold data (moves the
/// fd's offset). A file system without `SEEK_DATA` is all data.
fn data_ranges(fd: BorrowedFd, size: u64) -> Result<Vec<(u64, u64)>, i32> {
    let mut out = Vec::new();
    let mut off = 0u64;
    while off < size {
        let start = match lseek(fd, off as i64, libc::SEEK_DATA) {
            Ok(s) => s as u64,
            Err(libc::ENXIO) => break,
            Err(libc::EINVAL | libc::EOPNOTSUPP) => {
                out.push((off, size));
                break;
            }
            Err(e) => return Err(e),
        };
        if start >= size {
            break;
        }
        let end = match lseek(fd, start as i64, libc::SEEK_HOLE) {
            Ok(e) => (e as u64).min(size),
            Err(libc::ENXIO) => size,
            Err(e) => return Err(e),
        };
        if end <= start {
            break;
        }
        out.push((start, end));
        off = end;
    }
    Ok(out)
}

/// Creates ghost file `g` again as an unlinked file, open for reading and writing: an
/// `O_TMPFILE` in the nearest existing directory of `path` on a writable host mount of
/// `vfs`, else an anonymous memory file. Returns the fd and whether it is the latter
/// (whose link count the sentry must report as 0 itself).
pub(crate) fn create(vfs: &Vfs, path: &str, g: &GhostFile) -> Result<(OwnedFd, bool), Errno> {
    let (fd, anon) = match tmpfile_near(vfs, path, g.mode) {
        Some(fd) => (fd, false),
        None => {
            let fd = crate::platform::sys::memfd_create("ghost")
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            (fd, true)
        }
    };
    write_extents(fd.as_fd(), &g.extents, g.size)?;
    nix::sys::stat::fchmod(
        fd.as_raw_fd(),
        nix::sys::stat::Mode::from_bits_truncate(g.mode),
    )
    .map_err(|e| e as i32)?;
    vfs.inos.bind(&host_sys::fstat(fd.as_fd())?, g.ino, None);
    Ok((fd, anon))
}

/// An `O_TMPFILE` in the nearest directory of `path` (its parent, else the parent's
/// parent…) that exists on a writable host mount.
fn tmpfile_near(vfs: &Vfs, path: &str, mode: u32) -> Option<OwnedFd> {
    let mut dir = path;
    loop {
        dir = match dir.rfind('/') {
            Some(0) => "/",
            Some(i) => &dir[..i],
            None => return None,
        };
        if let Ok(r) = resolve_as_kernel(vfs, dir, true) {
            if r.exists {
                if vfs.readonly(&r) {
                    return None;
                }
                return vfs
                    .host_open(&r, libc::O_TMPFILE | libc::O_RDWR, mode & 0o7777)
                    .ok();
            }
        }
        if dir == "/" {
            return None;
        }
    }
}

/// Checks a decoded (hostile) ghost file of `object`.
pub(crate) fn check(object: &str, g: &GhostFile) -> Result<(), Invalid> {
    if g.mode & !0o7777 != 0 {
        return Err(bad(
            object,
            "ghost mode",
            format!("{:#o} is not permission bits", g.mode),
        ));
    }
    if g.ino == 0 {
        return Err(bad(object, "ghost inode number", "0 is no inode"));
    }
    check_extents(object, ["ghost size", "ghost extent"], &g.extents, g.size)
}

/// Checks decoded (hostile) extents of a file of `size` bytes (`fields` name the size and
/// an extent in messages).
pub(crate) fn check_extents(
    object: &str,
    [size_field, field]: [&'static str; 2],
    extents: &[GhostExtent],
    size: u64,
) -> Result<(), Invalid> {
    if size > i64::MAX as u64 {
        return Err(bad(object, size_field, format!("{size} is out of range")));
    }
    let mut end = 0u64;
    for e in extents {
        if e.data.is_empty() {
            return Err(bad(object, field, format!("at {} is empty", e.offset)));
        }
        if e.offset < end {
            return Err(bad(
                object,
                field,
                format!("at {} overlaps or precedes the one before", e.offset),
            ));
        }
        end = e
            .offset
            .checked_add(e.data.len() as u64)
            .filter(|&x| x <= size)
            .ok_or_else(|| {
                bad(
                    object,
                    field,
                    format!(
                        "at {} of {} bytes ends past the size {size}",
                        e.offset,
                        e.data.len(),
                    ),
                )
            })?;
    }
    Ok(())
}
