//! Open file descriptions and the fd table.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use crate::fs::dev::DevNode;
use crate::ipc::pipe::Pipe;

/// A synthetic directory entry (name, d_type).
pub type DirEnt = (String, u8);

/// What an open file is.
pub enum FileKind {
    /// A file or directory of a host passthrough mount; the host fd's offset is the file's.
    Host {
        fd: OwnedFd,
        dir: bool,
    },
    /// A host stream given to the sandbox (stdio, a terminal): non-blocking on the host.
    Stream {
        fd: OwnedFd,
        tty: bool,
    },
    PipeRead(Rc<RefCell<Pipe>>),
    PipeWrite(Rc<RefCell<Pipe>>),
    Dev(DevNode),
    /// A generated file (procfs): its bytes as of open.
    Synthetic(Vec<u8>),
    EventFd(Rc<RefCell<crate::ipc::epoll::EventFd>>),
    Epoll(crate::ipc::epoll::EpollRef),
    SynthDir(Vec<DirEnt>),
}

/// An open file description, shared by dup'd fds and across fork.
pub struct OpenFile {
    pub kind: FileKind,
    /// Access mode and status flags (O_RDONLY/O_WRONLY/O_RDWR, O_APPEND, O_NONBLOCK, ...).
    pub flags: i32,
    /// Offset for synthetic files.
    pub pos: u64,
    /// Guest path, for /proc/PID/fd and for reopening on restore.
    pub path: String,
}

pub type FileRef = Rc<RefCell<OpenFile>>;

impl OpenFile {
    pub fn new(kind: FileKind, flags: i32, path: impl Into<String>) -> FileRef {
        Rc::new(RefCell::new(OpenFile {
            kind,
            flags,
            pos: 0,
            path: path.into(),
        }))
    }

    pub fn readable(&self) -> bool {
        self.flags & libc::O_ACCMODE != libc::O_WRONLY && self.flags & libc::O_PATH == 0
    }

    pub fn writable(&self) -> bool {
        self.flags & libc::O_ACCMODE != libc::O_RDONLY && self.flags & libc::O_PATH == 0
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        match &self.kind {
            FileKind::PipeRead(p) => p.borrow_mut().readers -= 1,
            FileKind::PipeWrite(p) => p.borrow_mut().writers -= 1,
            _ => {}
        }
    }
}

#[derive(Clone)]
pub struct FdEntry {
    pub file: FileRef,
    pub cloexec: bool,
}

/// A task's fd table (CLONE_FILES shares it).
#[derive(Clone, Default)]
pub struct FdTable {
    pub fds: BTreeMap<i32, FdEntry>,
    pub limit: i32,
}

impl FdTable {
    pub fn new() -> Self {
        FdTable {
            fds: BTreeMap::new(),
            limit: 1024,
        }
    }

    pub fn get(&self, fd: i32) -> Option<FileRef> {
        self.fds.get(&fd).map(|e| e.file.clone())
    }

    /// Installs `file` at the lowest free fd >= `min`.
    pub fn add(&mut self, file: FileRef, cloexec: bool, min: i32) -> Result<i32, i32> {
        let mut fd = min.max(0);
        for (&k, _) in self.fds.range(fd..) {
            if k != fd {
                break;
            }
            fd += 1;
        }
        if fd >= self.limit {
            return Err(libc::EMFILE);
        }
        self.fds.insert(fd, FdEntry { file, cloexec });
        Ok(fd)
    }

    pub fn set(&mut self, fd: i32, file: FileRef, cloexec: bool) -> Option<FileRef> {
        self.fds
            .insert(fd, FdEntry { file, cloexec })
            .map(|e| e.file)
    }

    pub fn remove(&mut self, fd: i32) -> Option<FileRef> {
        self.fds.remove(&fd).map(|e| e.file)
    }

    /// Closes every close-on-exec fd (execve).
    pub fn close_on_exec(&mut self) {
        self.fds.retain(|_, e| !e.cloexec);
    }
}
