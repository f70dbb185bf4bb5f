//! Host streams given to the sandbox: a container's stdio (pipes, a terminal, a file).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::fs::host_sys;

/// Makes a host stdio fd non-blocking for the sandbox's event loop. The caller hands over
/// a description the sandbox owns alone (`crate::host::reopen_stdio` makes one), or one
/// it does not mind becoming non-blocking: O_NONBLOCK is a property of the open file
/// description, shared with every other holder. A regular file is left as it is: it
/// never blocks.
pub(crate) fn nonblocking(fd: OwnedFd) -> OwnedFd {
    let is_file = host_sys::fstat(fd.as_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
        .unwrap_or(false);
    if is_file {
        return fd;
    }
    if let Ok(fl) = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL) {
        let fl = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
        let _ = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(fl));
    }
    fd
}
