//! The container's terminal: a pty whose slave becomes the guest's stdio and whose master
//! goes to whoever asked with `--console-socket` (containerd's shim, conmon): one message
//! whose payload is the pty's name and which carries exactly one fd, the master.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::spec::ConsoleSize;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("opening a pty")]
    Open(#[source] nix::Error),
    #[error("connecting to the console socket {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sending the pty master over the console socket {path}")]
    Send {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// A new pty: the master (for the console socket) and the slave (the guest's stdio).
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    /// The slave's path, `/dev/pts/N`.
    pub name: String,
}

/// Opens a pty sized as `size` (when given).
pub fn open_pty(size: Option<ConsoleSize>) -> Result<Pty, ConsoleError> {
    let ws = size.map(|s| nix::pty::Winsize {
        ws_row: s.height,
        ws_col: s.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let pty = nix::pty::openpty(ws.as_ref(), None).map_err(ConsoleError::Open)?;
    for fd in [&pty.master, &pty.slave] {
        nix::fcntl::fcntl(
            fd.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(ConsoleError::Open)?;
    }
    let name = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/dev/ptmx".to_string());
    Ok(Pty {
        master: pty.master,
        slave: pty.slave,
        name,
    })
}

/// Sends `master` over the unix socket at `socket`, with `name` as the payload.
pub fn send_master(socket: &Path, name: &str, master: &OwnedFd) -> Result<(), ConsoleError> {
    let stream = UnixStream::connect(socket).map_err(|source| ConsoleError::Connect {
        path: socket.to_path_buf(),
        source,
    })?;
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|source| ConsoleError::Send {
        path: socket.to_path_buf(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn the_master_reaches_the_console_socket_and_has_the_size() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("console.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let pty = open_pty(Some(ConsoleSize {
            height: 33,
            width: 101,
        }))
        .unwrap();
        assert!(pty.name.starts_with("/dev/pts/"), "{}", pty.name);
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut fds = Vec::new();
            let mut buf = [0u8; 64];
            let n = crate::sys::recv_with_fds(s.as_raw_fd(), &mut buf, &mut fds).unwrap();
            (String::from_utf8_lossy(&buf[..n]).into_owned(), fds)
        });
        send_master(&sock, &pty.name, &pty.master).unwrap();
        let (name, fds) = t.join().unwrap();
        assert_eq!(name, pty.name);
        assert_eq!(fds.len(), 1);
        let ws = crate::sys::window_size(fds[0].as_raw_fd()).unwrap();
        assert_eq!((ws.ws_row, ws.ws_col), (33, 101));
    }
}
