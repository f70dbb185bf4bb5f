//! Support for unit tests of the kernel and its system calls, without root or host
//! processes: a kernel on the fake platform, processes that exist without a program, and a
//! direct way to make a system call as one of them (those are methods of the kernel, in
//! `kernel/testing.rs`, where they may see its fields).

use crate::kernel::Kernel;
use crate::mm::MemoryFile;
use crate::platform::fake::FakePlatform;
use crate::SandboxConfig;

/// Where a test process has memory to pass buffers in (read-write, 1 MiB).
pub(crate) const SCRATCH: u64 = 0x10_0000;
pub(crate) const SCRATCH_LEN: u64 = 1 << 20;

/// A kernel on the fake platform whose root file system is the host directory `root`
/// (read-write), with the sentry's /proc and /dev and a /tmp tmpfs.
pub(crate) fn kernel(root: &std::path::Path) -> Kernel {
    let mut config = SandboxConfig::host_root(vec!["/none".into()], "test");
    config.root = root.to_path_buf();
    config.root_readonly = false;
    let mf = MemoryFile::new().expect("memory file");
    Kernel::with_platform(
        &config,
        &crate::syscalls::SYSCALLS,
        mf,
        Box::new(FakePlatform::new()),
    )
    .expect("kernel")
}

/// What a failed system call returns to the guest: -errno.
pub(crate) fn errno(e: i32) -> Option<i64> {
    Some(-(e as i64))
}
