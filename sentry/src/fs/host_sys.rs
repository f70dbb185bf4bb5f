//! Host calls of the passthrough file system that nix does not wrap safely.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Resolution flags for every host open: no step may leave the directory or follow a link.
pub(crate) const RESOLVE_SAFE: u64 = 0x08 /* BENEATH */ | 0x04 /* NO_SYMLINKS */ | 0x02 /* NO_MAGICLINKS */;

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn cstr(s: &str) -> Result<CString, i32> {
    CString::new(s).map_err(|_| libc::EINVAL)
}

/// `openat2(dir, path, flags, mode, RESOLVE_SAFE)`.
pub(crate) fn openat2(dir: BorrowedFd, path: &str, flags: i32, mode: u32) -> Result<OwnedFd, i32> {
    let p = cstr(if path.is_empty() { "." } else { path })?;
    // struct open_how { u64 flags; u64 mode; u64 resolve; }
    let how: [u64; 3] = [
        (flags | libc::O_CLOEXEC) as u64,
        // (O_TMPFILE includes O_DIRECTORY: only both bits are a temporary file.)
        if flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
            mode as u64
        } else {
            0
        },
        RESOLVE_SAFE,
    ];
    // SAFETY: `p` is a valid C string and `how` has the layout of struct open_how, of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            p.as_ptr(),
            how.as_ptr(),
            std::mem::size_of_val(&how),
        )
    };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: the kernel just returned this fd; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Reads directory entries (linux_dirent64 records) from a host directory fd.
pub(crate) fn getdents64(fd: BorrowedFd, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: buf is valid for writes of its length.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        Err(errno())
    } else {
        Ok(n as usize)
    }
}

/// A host ioctl whose argument is a buffer of `buf.len()` bytes.
pub(crate) fn ioctl_buf(fd: BorrowedFd, req: u64, buf: &mut [u8]) -> Result<i64, i32> {
    // SAFETY: the request is one of the terminal requests whose argument is a struct of
    // at most buf.len() bytes, which the caller sized.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, buf.as_mut_ptr()) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as i64)
    }
}

/// fstat of a host fd.
pub(crate) fn fstat(fd: BorrowedFd) -> Result<libc::stat, i32> {
    nix::sys::stat::fstat(fd.as_raw_fd()).map_err(|e| e as i32)
}

/// fstatfs(2) of a host fd.
pub(crate) fn fstatfs(fd: BorrowedFd) -> Result<libc::statfs, i32> {
    // SAFETY: libc::statfs is plain integers; all-zero is valid.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable struct statfs; the fd is borrowed for the call.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(errno());
    }
    Ok(st)
}

/// Fills `buf` with random bytes from the host kernel (`getrandom(2)`: no device file,
/// which a confined sandbox process does not have). Blocks only until the host's pool is
/// initialised, once after boot.
pub(crate) fn getrandom(buf: &mut [u8]) -> Result<(), i32> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is valid for writes of its length.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}
