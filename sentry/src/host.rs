//! What the sentry takes from the host by name, in one place, so that a sandbox process
//! that is confined (its root holding nothing of the host: no `/proc`, no `/dev`) can take
//! it before the confinement and never reach for a host path afterwards.
//!
//! - [`capture`]: the host facts the kernel reads later (`/proc/cpuinfo`, for the guest's
//!   procfs and for the CPU features a checkpoint records). Unconfined callers (the
//!   sentry's own tests) need not call it: the facts are then read on first use.
//! - [`reopen_stdio`]: a fresh open file description of an inherited stdio fd, owned by
//!   the sandbox alone, so that the O_NONBLOCK the kernel sets on it does not reach
//!   whoever else holds the file.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;

static CPUINFO: OnceLock<String> = OnceLock::new();

/// Reads what the kernel will need of the host's `/proc` while it still can. Call it
/// before the sandbox process gives up its view of the host; calling it again changes
/// nothing.
pub fn capture() {
    cpuinfo();
}

/// The host's `/proc/cpuinfo` as it was when first asked for (empty if it could not be
/// read).
pub fn cpuinfo() -> &'static str {
    CPUINFO.get_or_init(|| std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
}

/// How many CPUs the host's `/proc/cpuinfo` lists (at least one).
pub fn cpu_count() -> usize {
    cpuinfo()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1)
}

/// The host's CPUs as a mask (bit n: CPU n; at most 64), as /proc/cpuinfo lists them and
/// sysfs shows them online. A thread's affinity may be narrower (kernel/sched.rs).
pub fn cpu_mask() -> u64 {
    match cpu_count() {
        n if n >= 64 => u64::MAX,
        n => (1u64 << n) - 1,
    }
}

/// A new open file description of the host file behind `fd`, with the same access mode,
/// reopened through `/proc/self/fd` (so O_NONBLOCK set on it later is the sandbox's
/// alone). A regular file (a log) keeps its description: it never blocks, and a new open
/// would start writing at offset 0 over what is there. When the reopen fails (a socket
/// cannot be reopened by path), `fd` itself is returned.
///
/// Needs the host's `/proc`: call it before the sandbox process is confined.
pub fn reopen_stdio(fd: OwnedFd) -> OwnedFd {
    let is_file = crate::fs::host_sys::fstat(std::os::fd::AsFd::as_fd(&fd))
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
        .unwrap_or(false);
    if is_file {
        return fd;
    }
    // Same access mode as the original: a read end reopened read-write would make the
    // sandbox a writer of its own stdin pipe, which then never reaches end-of-file.
    // O_NONBLOCK: opening a FIFO must not wait for its other end.
    let acc = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
        .map(|f| f & libc::O_ACCMODE)
        .unwrap_or(libc::O_RDWR);
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(acc != libc::O_WRONLY)
        .write(acc != libc::O_RDONLY)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(OwnedFd::from)
        .unwrap_or(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn flags(fd: &OwnedFd) -> i32 {
        nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap()
    }

    /// The reopened end of a pipe is a description of its own: O_NONBLOCK set on it does
    /// not show on the original, and the access mode is kept.
    #[test]
    fn a_reopened_pipe_end_has_a_description_of_its_own() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let own = reopen_stdio(w.as_fd().try_clone_to_owned().unwrap());
        assert_eq!(flags(&own) & libc::O_ACCMODE, libc::O_WRONLY);
        assert_ne!(flags(&own) & libc::O_NONBLOCK, 0);
        assert_eq!(flags(&w) & libc::O_NONBLOCK, 0);
        nix::unistd::write(&own, b"x").unwrap();
        let mut b = [0u8; 1];
        nix::unistd::read(r.as_raw_fd(), &mut b).unwrap();
        assert_eq!(&b, b"x");
    }

    #[test]
    fn cpuinfo_is_read_once() {
        capture();
        let a = cpuinfo();
        assert!(a.contains("flags"), "{a}");
        assert!(std::ptr::eq(a, cpuinfo()));
    }
}
