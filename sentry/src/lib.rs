//! The sentry: a userspace kernel. Every system call of every guest thread stops here and
//! is served by this crate.

#![warn(unreachable_pub)]

pub(crate) mod checks;
pub mod config;
pub mod control;
pub(crate) mod creds;
pub(crate) mod fs;
pub mod host;
pub(crate) mod ipc;
pub(crate) mod kernel;
pub(crate) mod kinds;
pub mod loader;
pub(crate) mod mm;
pub(crate) mod net;
pub(crate) mod persist;
pub(crate) mod platform;
pub(crate) mod syscalls;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod wait;

use std::os::fd::OwnedFd;

pub use config::{MountConfig, MountKind, Rlimit, SandboxConfig};
pub use creds::CapSets;
pub use kernel::restore::RestoreError;
pub use platform::GUEST_TOP;

/// The kernel state as a checkpoint image holds it: the saved form of every object, and
/// the validation a restore runs before it builds anything from them.
pub mod state {
    pub use crate::checks::Invalid;
    pub use crate::kernel::state::*;
    pub use crate::kernel::validate::validate;

    /// Restores `st` into a kernel on the fake platform (no root, no host processes) whose
    /// root file system is the host directory `root`, and saves it again: what a restore
    /// followed by a checkpoint would write, for tests that pin the state format.
    #[doc(hidden)]
    pub fn restore_and_save(
        root: &std::path::Path,
        st: &KernelState,
    ) -> Result<KernelState, String> {
        let mut config = crate::SandboxConfig::host_root(vec!["/none".into()], "test");
        config.root = root.to_path_buf();
        config.root_readonly = false;
        let mf = crate::mm::MemoryFile::new().map_err(|e| format!("memory file: {e}"))?;
        let mut k = crate::kernel::Kernel::with_platform(
            &config,
            &crate::syscalls::SYSCALLS,
            mf,
            Box::new(crate::platform::fake::FakePlatform::new()),
        )
        .map_err(|e| format!("kernel: {e:?}"))?;
        let null = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
        let stdio = [(); 3].map(|_| null.try_clone().map(std::os::fd::OwnedFd::from));
        let [a, b, c] = stdio;
        let stdio = [
            a.map_err(|e| e.to_string())?,
            b.map_err(|e| e.to_string())?,
            c.map_err(|e| e.to_string())?,
        ];
        k.restore_state(
            st,
            crate::kernel::restore::Memory::Segments(Box::new(std::iter::empty())),
            stdio,
        )
        .map_err(|e| format!("restore: {e:?}"))?;
        k.save_state(crate::control::DEFAULT_GHOST_LIMIT)
            .map_err(|e| format!("save: {e:?}"))
    }
}
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
    Restore(RestoreError),
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
        Ok(self.kernel.run(control.as_ref()).shell_code())
    }

    /// Host pids of the sandbox as this process sees them: its own, then its stub
    /// processes'.
    pub fn host_pids(&self) -> Vec<i32> {
        let mut v = vec![std::process::id() as i32];
        v.extend(self.kernel.stub_pids());
        v
    }

    /// Restores the guest from the checkpoint image in `image` (an open `checkpoint.img`)
    /// instead of starting the config's process, then runs it until its init exits. The
    /// config gives the new container's mounts; `stdio` are its new stdio.
    ///
    /// The guest runs as soon as its state is rebuilt; its memory is checked (and loaded,
    /// unless its pages are the shared image's) at first touch and by background threads,
    /// each segment before use. A segment found bad after the guest started ends the
    /// sandbox with that error, or, `on_demand` (`runsc restore --background`), poisons
    /// its memory only (a guest touching it gets SIGBUS).
    pub fn restore_and_run(
        mut self,
        image: std::fs::File,
        stdio: [OwnedFd; 3],
        control: Option<ControlReceiver>,
        on_demand: bool,
    ) -> Result<i32, Error> {
        // Kept for sharing the image's pages, when the restore may (`kernel::restore`).
        let file = image.try_clone().ok().map(OwnedFd::from);
        let img = statefile::Image::from_file(image).map_err(|e| Error::Restore(e.into()))?;
        self.kernel
            .restore(std::sync::Arc::new(img), file, stdio, on_demand)
            .map_err(Error::Restore)?;
        let status = self.kernel.run(control.as_ref()).shell_code();
        match self.kernel.bad_segment_after_start {
            // Found after the guest started: the same error as before it.
            Some(index) => Err(Error::Restore(RestoreError::Image(
                self.kernel
                    .bad_memory_error()
                    .unwrap_or(statefile::Error::SegmentChecksum { index }),
            ))),
            None => Ok(status),
        }
    }
}
