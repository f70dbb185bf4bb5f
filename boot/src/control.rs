//! The control socket of a sandbox: `ROOT/ID/sock`, a unix stream socket served by the
//! sandbox process. Each message is a 4-byte little-endian length and a JSON body; host fds
//! (an exec's stdio, a checkpoint image) travel with the length as SCM_RIGHTS. A client sends one request and
//! reads replies on the same connection: one, or for `Exec` a `Started` then an `Exited`.

use std::io::{IoSlice, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::{Deserialize, Serialize};

/// Name of the socket inside the container's state directory.
pub const SOCKET_NAME: &str = "sock";
/// Largest message accepted (an exec's environment fits easily).
const MAX_MESSAGE: usize = 4 << 20;

/// A request from a runsc command to the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Run the guest init (the container was created).
    Start,
    /// Instead of `Start`: rebuild the guest from the checkpoint image sent along (an open
    /// `checkpoint.img`) and run it. Answered once the restored guest runs, or with the
    /// error that made the restore fail.
    Restore,
    /// Signal the init process, or every guest process.
    Signal {
        signo: i32,
        all: bool,
    },
    Pause,
    Resume,
    /// Write the checkpoint image into the file sent along (the sandbox cannot reach the
    /// image directory; `runsc checkpoint` names the file); then resume or end the
    /// sandbox.
    Checkpoint {
        leave_running: bool,
    },
    /// Start a guest process with the 3 stdio fds sent along. The connection then stays
    /// open: the sandbox answers `Started`, later `Exited`, and kills the process if the
    /// client (the exec proxy) goes away first.
    Exec(ExecProcess),
    /// Signal a process started by `Exec` on this sandbox.
    SignalProcess {
        pid: i32,
        signo: i32,
    },
    /// Answer `Exited` when the guest init has exited.
    Wait,
    /// Host pids of the sandbox: its own and its stubs'.
    HostPids,
}

/// A process to start in a running sandbox (runtime-spec `process`, resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecProcess {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub groups: Vec<u32>,
    /// `None`: Linux's default for the uid.
    #[serde(default)]
    pub capabilities: Option<sentry::kernel::creds::CapSets>,
    #[serde(default)]
    pub no_new_privileges: bool,
}

/// The sandbox's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Ok,
    /// `Exec` started guest process `pid`.
    Started {
        pid: i32,
    },
    /// The process waited for has exited with this status (the code, or 128 + signal).
    Exited {
        status: i32,
    },
    HostPids(Vec<i32>),
    /// The request failed; the text says why.
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("connecting to the sandbox at {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to the sandbox")]
    Io(#[from] std::io::Error),
    #[error("talking to the sandbox")]
    Nix(#[from] nix::Error),
    #[error("malformed message from the sandbox")]
    Json(#[from] serde_json::Error),
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
    #[error("the sandbox closed the connection")]
    Closed,
}

/// A path the socket calls accept: long state directories (Docker's are over 100 bytes,
/// beyond `sun_path`) are reached through `/proc/self/fd/N` of an open directory fd,
/// returned alongside to keep it open.
fn short_path(dir: &Path) -> std::io::Result<(PathBuf, Option<std::fs::File>)> {
    let full = dir.join(SOCKET_NAME);
    if full.as_os_str().len() < 100 {
        return Ok((full, None));
    }
    let d = std::fs::File::open(dir)?;
    Ok((
        PathBuf::from(format!("/proc/self/fd/{}/{SOCKET_NAME}", d.as_raw_fd())),
        Some(d),
    ))
}

/// Binds the listening socket in `dir` (replacing a stale one).
pub fn listen(dir: &Path) -> std::io::Result<UnixListener> {
    let (path, _keep) = short_path(dir)?;
    let _ = std::fs::remove_file(&path);
    UnixListener::bind(&path)
}

/// Connects to the sandbox whose state directory is `dir`.
pub fn connect(dir: &Path) -> Result<UnixStream, ControlError> {
    let err = |source| ControlError::Connect {
        path: dir.join(SOCKET_NAME),
        source,
    };
    let (path, _keep) = short_path(dir).map_err(err)?;
    UnixStream::connect(&path).map_err(err)
}

/// Sends one message with `fds`.
pub fn send<T: Serialize>(stream: &UnixStream, msg: &T, fds: &[RawFd]) -> Result<(), ControlError> {
    let body = serde_json::to_vec(msg)?;
    if body.len() > MAX_MESSAGE {
        return Err(ControlError::TooLarge(body.len()));
    }
    let len = (body.len() as u32).to_le_bytes();
    let iov = [IoSlice::new(&len), IoSlice::new(&body)];
    let cmsgs = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsgs };
    let mut sent = sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    // Whatever the first call did not take goes without fds.
    let mut all = Vec::with_capacity(4 + body.len());
    all.extend_from_slice(&len);
    all.extend_from_slice(&body);
    while sent < all.len() {
        let n = sendmsg::<()>(
            stream.as_raw_fd(),
            &[IoSlice::new(&all[sent..])],
            &[],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        sent += n;
    }
    Ok(())
}

/// Receives one message and the fds that came with it.
pub fn recv<T: for<'de> Deserialize<'de>>(
    stream: &UnixStream,
) -> Result<(T, Vec<OwnedFd>), ControlError> {
    let mut len = [0u8; 4];
    let mut fds = Vec::new();
    let mut got = 0;
    while got < len.len() {
        let n = crate::sys::recv_with_fds(stream.as_raw_fd(), &mut len[got..], &mut fds)?;
        if n == 0 {
            return Err(ControlError::Closed);
        }
        got += n;
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(ControlError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    (&*stream)
        .read_exact(&mut body)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ControlError::Closed,
            _ => ControlError::Io(e),
        })?;
    Ok((serde_json::from_slice(&body)?, fds))
}

/// A connection to a sandbox, from a runsc command.
pub struct Client {
    stream: UnixStream,
}

impl Client {
    pub fn connect(dir: &Path) -> Result<Client, ControlError> {
        Ok(Client {
            stream: connect(dir)?,
        })
    }

    /// Gives up on replies after `timeout` (none by default).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<(), ControlError> {
        self.stream.set_read_timeout(timeout)?;
        Ok(())
    }

    /// Sends a request and reads the first reply.
    pub fn call(&self, request: &Request, fds: &[RawFd]) -> Result<Reply, ControlError> {
        send(&self.stream, request, fds)?;
        self.next_reply()
    }

    /// Reads the next reply on this connection.
    pub fn next_reply(&self) -> Result<Reply, ControlError> {
        let (reply, _fds) = recv(&self.stream)?;
        Ok(reply)
    }

    /// The connection itself (an exec proxy watches it for the sandbox going away).
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn messages_and_fds_cross_a_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let req = Request::Exec(ExecProcess {
            argv: vec!["sh".into()],
            env: vec!["A=".repeat(100_000)],
            cwd: "/".into(),
            uid: 1,
            gid: 2,
            groups: vec![],
            capabilities: None,
            no_new_privileges: false,
        });
        let t = std::thread::spawn(move || {
            send(&a, &req, &[w.as_raw_fd(), w.as_raw_fd(), w.as_raw_fd()]).unwrap();
            req
        });
        let (got, fds): (Request, _) = recv(&b).unwrap();
        let req = t.join().unwrap();
        assert_eq!(got, req);
        assert_eq!(fds.len(), 3);
        nix::unistd::write(fds[1].as_fd(), b"x").unwrap();
        let mut buf = [0u8; 1];
        nix::unistd::read(r.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf, b"x");
    }

    #[test]
    fn a_closed_peer_is_reported() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(a);
        assert!(matches!(recv::<Reply>(&b), Err(ControlError::Closed)));
    }

    #[test]
    fn long_state_directories_work() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("x".repeat(120));
        std::fs::create_dir(&dir).unwrap();
        let l = listen(&dir).unwrap();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let (req, _): (Request, _) = recv(&s).unwrap();
            assert_eq!(req, Request::HostPids);
            send(&s, &Reply::HostPids(vec![1, 2]), &[]).unwrap();
        });
        let c = Client::connect(&dir).unwrap();
        assert_eq!(
            c.call(&Request::HostPids, &[]).unwrap(),
            Reply::HostPids(vec![1, 2])
        );
        t.join().unwrap();
    }
}
