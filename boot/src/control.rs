//! The control socket of a sandbox: `ROOT/ID/sock`, a unix stream socket served by the
//! sandbox process. Each message is a 4-byte little-endian length and a JSON body; host fds
//! (an exec's stdio, a checkpoint image) travel with the length as SCM_RIGHTS. A client sends one request and
//! reads answers on the same connection: one, or for `Exec` a `Started` then an `Exited`.
//! Requests and answers are the sentry's control vocabulary (`sentry::control`); an
//! error answer travels as its kind and the messages of its source chain.

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

pub use sentry::control::{Error, ErrorKind, ExecProcess, RemoteError, Response};

/// A request from a runsc command to the sandbox process: one of its own lifecycle, or one
/// for its running kernel, passed on as it is. Answered with the kernel's `Response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Run the guest init (the container was created).
    Start,
    /// Instead of `Start`: rebuild the guest from the checkpoint image sent along (an open
    /// `checkpoint.img`) and run it. Answered once the restored guest runs, or with the
    /// error that made the restore fail. `on_demand`: the guest runs before its memory is
    /// loaded (`runsc restore --background`).
    Restore { on_demand: bool },
    /// Answer `Exited` when the guest init has exited.
    Wait,
    /// A request for the kernel. Before the guest runs, the sandbox answers some itself (a
    /// signal ends it, `HostPids` are its own); `Exec` keeps the connection open: the
    /// sandbox answers `Started`, later `Exited`, and kills the process if the client
    /// (the exec proxy) goes away first.
    Kernel(sentry::control::Request),
}

impl From<sentry::control::Request> for Request {
    fn from(r: sentry::control::Request) -> Request {
        Request::Kernel(r)
    }
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

    /// Sends a request and reads the first answer.
    pub fn call(&self, request: &Request, fds: &[RawFd]) -> Result<Response, ControlError> {
        send(&self.stream, request, fds)?;
        self.next_response()
    }

    /// Reads the next answer on this connection.
    pub fn next_response(&self) -> Result<Response, ControlError> {
        let (response, _fds) = recv(&self.stream)?;
        Ok(response)
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
        let req = Request::Kernel(sentry::control::Request::Exec(ExecProcess {
            argv: vec!["sh".into()],
            env: vec!["A=".repeat(100_000)],
            cwd: "/".into(),
            uid: 1,
            gid: 2,
            groups: vec![],
            capabilities: None,
            no_new_privileges: false,
        }));
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
        assert!(matches!(recv::<Response>(&b), Err(ControlError::Closed)));
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
            assert_eq!(req, Request::Kernel(sentry::control::Request::HostPids));
            send(&s, &Response::HostPids(vec![1, 2]), &[]).unwrap();
        });
        let c = Client::connect(&dir).unwrap();
        let r = c
            .call(&Request::Kernel(sentry::control::Request::HostPids), &[])
            .unwrap();
        assert!(matches!(r, Response::HostPids(p) if p == [1, 2]));
        t.join().unwrap();
    }

    /// An error answer reaches the client with its kind and its whole chain, each
    /// message once: what `runsc` prints.
    #[test]
    fn an_error_answer_crosses_with_its_kind_and_chain() {
        use sentry::control::{Error, ErrorKind, SignalError};
        let (a, b) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let e = Error::from(SignalError::NoSuchProcess(7));
            send(&a, &Response::Error(e), &[]).unwrap();
            let e = Error::from(sentry::control::CheckpointError::Write {
                image: "/img/checkpoint.img".into(),
                source: statefile::Error::File {
                    op: "cannot write",
                    source: std::io::Error::from_raw_os_error(libc::ENOSPC),
                },
            });
            send(&a, &Response::Error(e), &[]).unwrap();
        });
        let c = Client { stream: b };
        let Response::Error(e) = c.next_response().unwrap() else {
            panic!("not an error")
        };
        assert_eq!(e.kind(), ErrorKind::NoSuchProcess);
        assert_eq!(e.to_string(), "no such process 7");
        assert!(std::error::Error::source(&e).is_none());
        let Response::Error(e) = c.next_response().unwrap() else {
            panic!("not an error")
        };
        assert_eq!(e.kind(), ErrorKind::WriteImage);
        let chain: Vec<String> =
            std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .map(|e| e.to_string())
                .collect();
        assert_eq!(
            chain,
            [
                "writing the checkpoint image /img/checkpoint.img",
                "cannot write the image file",
                "No space left on device (os error 28)"
            ]
        );
        t.join().unwrap();
    }
}
