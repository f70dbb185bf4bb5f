//! The sentry: a userspace kernel. Every system call of every guest thread stops here and
//! is served by this crate.

pub mod config;
pub mod control;

use std::os::fd::OwnedFd;

pub use config::{MountConfig, MountKind, Rlimit, SandboxConfig};
pub use control::{ControlHandle, ControlReceiver};

/// Errors building or running a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the sandbox kernel is not implemented yet")]
    NotImplemented,
}

/// A sandbox about to run: the kernel built from a config.
pub struct Sandbox {
    _config: SandboxConfig,
}

impl Sandbox {
    /// Builds the kernel. Call this before the process starts any thread: it forks the
    /// master stub process.
    pub fn new(config: SandboxConfig) -> Result<Self, Error> {
        Ok(Sandbox { _config: config })
    }

    /// Runs the guest until its init exits. `stdio` become the guest's fds 0, 1, 2.
    /// Returns the init's exit as a shell reports it: the exit code, or 128 + signal.
    /// Must be called on the thread that called `new`.
    pub fn run(self, _stdio: [OwnedFd; 3], _control: Option<ControlReceiver>) -> Result<i32, Error> {
        Err(Error::NotImplemented)
    }
}
