//! What can go wrong on the control path: one enum per area, and `Error`, which is any of
//! them or one that crossed the control socket as data.

use super::RemoteError;

/// What went wrong, for a client to match on. Travels across the control socket beside
/// the error's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// The request came with the wrong number of host fds.
    Fds,
    /// The guest is not running (not started yet, or ended).
    NotRunning,
    /// `start` or `restore` of a sandbox that has started already.
    AlreadyStarted,
    /// A request that the sandbox does not take over its control socket.
    NotServed,
    InvalidSignal,
    NoSuchProcess,
    /// A guest process could not be started.
    Exec,
    /// The kernel's state could not be saved.
    SaveState,
    /// The checkpoint image could not be written.
    WriteImage,
    /// The guest could not be restored from a checkpoint image.
    Restore,
    /// The sandbox could not be built, or its guest could not be started.
    Sandbox,
    /// An error without a kind of its own on this path (or one this runtime does not
    /// know, sent by another version).
    #[serde(other)]
    Other,
}

/// A request that cannot be served as it was sent, or not now.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{request} needs {needs}, got {got} fds")]
    Fds {
        request: &'static str,
        /// What should have come: "the image file's fd".
        needs: &'static str,
        got: usize,
    },
    #[error("container not running")]
    NotRunning,
    #[error("container already started")]
    AlreadyStarted,
    #[error("{0} is not served over the control socket")]
    NotServed(&'static str),
}

/// Signalling guest processes.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("invalid signal {0}")]
    Invalid(i32),
    #[error("no such process {0}")]
    NoSuchProcess(i32),
}

/// Starting a guest process in a running sandbox, and waiting for it.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The kernel could not start it (its message names the program).
    #[error(transparent)]
    Start(Box<dyn std::error::Error + Send + Sync>),
    #[error("no such process {0}")]
    NoSuchProcess(i32),
}

/// Writing a checkpoint (or saving the kernel state alone).
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("saving the kernel state")]
    Save(#[source] std::io::Error),
    #[error("writing the checkpoint image {image}")]
    Write {
        image: String,
        #[source]
        source: statefile::Error,
    },
}

/// An error of the control path: typed where it arose, data once it has crossed the
/// control socket (or was recorded by a sandbox that ended). It serialises as its kind and
/// the messages of its whole source chain, and deserialises as `Remote`, which prints and
/// chains the same.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

impl RequestError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RequestError::Fds { .. } => ErrorKind::Fds,
            RequestError::NotRunning => ErrorKind::NotRunning,
            RequestError::AlreadyStarted => ErrorKind::AlreadyStarted,
            RequestError::NotServed(_) => ErrorKind::NotServed,
        }
    }
}

impl SignalError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SignalError::Invalid(_) => ErrorKind::InvalidSignal,
            SignalError::NoSuchProcess(_) => ErrorKind::NoSuchProcess,
        }
    }
}

impl ExecError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExecError::Start(_) => ErrorKind::Exec,
            ExecError::NoSuchProcess(_) => ErrorKind::NoSuchProcess,
        }
    }
}

impl CheckpointError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CheckpointError::Save(_) => ErrorKind::SaveState,
            CheckpointError::Write { .. } => ErrorKind::WriteImage,
        }
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Request(e) => e.kind(),
            Error::Signal(e) => e.kind(),
            Error::Exec(e) => e.kind(),
            Error::Checkpoint(e) => e.kind(),
            Error::Remote(e) => e.kind(),
        }
    }
}

impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Error::Remote(e) => e.serialize(s),
            e => RemoteError::new(e.kind(), e).serialize(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Error {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RemoteError::deserialize(d).map(Error::Remote)
    }
}
