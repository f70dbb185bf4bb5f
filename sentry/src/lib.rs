//! The sentry: a userspace kernel. Every system call of every guest thread stops here and
//! is served by this crate.

pub mod checks;
pub mod config;
pub mod control;
pub mod creds;
pub mod fs;
pub mod host;
pub mod ipc;
pub mod kernel;
pub mod kinds;
pub mod loader;
pub mod mm;
pub mod persist;
pub mod platform;
pub mod syscalls;
#[doc(hidden)]
pub mod testing;
pub mod wait;

use std::os::fd::OwnedFd;

pub use config::{MountConfig, MountKind, Rlimit, SandboxConfig};
pub use control::{ControlHandle, ControlReceiver};

/// Errors building or running a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the sandbox kernel")]
    Kernel(#[from] kernel::KernelError),
    #[error("starting the container's process")]
    Start(#[source] kernel::KernelError),
    /// Restoring from a checkpoint image failed (the caller knows which image).
    #[error(transparent)]
    Restore(kernel::restore::RestoreError),
}

/// A sandbox about to run: the kernel built from a config.
pub struct Sandbox {
    config: SandboxConfig,
    kernel: kernel::Kernel,
}

impl Sandbox {
    /// Builds the kernel. Call this before the process starts any thread: it forks the
    /// master stub process, and blocks SIGCHLD (threads started later inherit the mask, so
    /// the kernel's signalfd sees every stub stop).
    pub fn new(config: SandboxConfig) -> Result<Self, Error> {
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGCHLD);
        let _ = set.thread_block();
        let kernel = kernel::Kernel::new(&config, &syscalls::SYSCALLS)?;
        Ok(Sandbox { config, kernel })
    }

    /// Runs the guest until its init exits. `stdio` become the guest's fds 0, 1, 2; they
    /// are made non-blocking, so each should be a description the sandbox owns alone
    /// (`host::reopen_stdio`).
    /// Returns the init's exit as a shell reports it: the exit code, or 128 + signal.
    /// Must be called on the thread that called `new`.
    pub fn run(
        mut self,
        stdio: [OwnedFd; 3],
        control: Option<ControlReceiver>,
    ) -> Result<i32, Error> {
        self.kernel
            .start_init(&self.config, stdio)
            .map_err(Error::Start)?;
        let status = self.kernel.run_loop(control.as_ref());
        self.kernel.vfs.cleanup();
        Ok(status.shell_code())
    }

    /// Host pids of the sandbox as this process sees them: its own, then its stub
    /// processes'.
    pub fn host_pids(&self) -> Vec<i32> {
        let mut v = vec![std::process::id() as i32];
        v.extend(self.kernel.plat.host_pids());
        v
    }

    /// Restores the guest from the checkpoint image in `image` (an open `checkpoint.img`)
    /// instead of starting the config's process, then runs it until its init exits. The
    /// config gives the new container's mounts; `stdio` are its new stdio.
    pub fn restore_and_run(
        mut self,
        image: std::fs::File,
        stdio: [OwnedFd; 3],
        control: Option<ControlReceiver>,
    ) -> Result<i32, Error> {
        let img = statefile::Image::from_file(image).map_err(|e| Error::Restore(e.into()))?;
        self.kernel.restore(&img, stdio).map_err(Error::Restore)?;
        drop(img);
        let status = self.kernel.run_loop(control.as_ref());
        self.kernel.vfs.cleanup();
        Ok(status.shell_code())
    }
}
