//! Named pipes (FIFOs): a FIFO node on a host mount is only a name; opening it opens an
//! end of the sentry's pipe for that node (by host device and inode), shared by every
//! open of it while any end is open, as Linux keeps one pipe per FIFO inode.
//!
//! Opening blocks as fifo(7) says: a read-only open waits for a writer, a write-only open
//! for a reader (non-blocking: ENXIO without one), a read-write open never. A waiting open
//! is counted as an end already (a writer meeting it neither fails nor waits), and waits
//! until the other side's open count moves. The wait is the task's, kept here across the
//! re-runs of its open; it is not saved: a parked open is served again after a restore and
//! waits afresh.
//!
//! Checkpoint: the open ends of a FIFO are saved as pipe ends with their pipe (bytes
//! included), and the node as a node of its file system (a tmpfs's is in the image). A
//! restore binds the node each restored end was opened by to its pipe again
//! ([`Fifos::relink`]), so that an open of the FIFO after a restore joins the restored
//! ends, as on Linux, where the pipe belongs to the inode.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use crate::fs::file::{FileImpl, FileRef};
use crate::fs::Vfs;
use crate::ipc::pipe::{open_end, pipe_of, Pipe, PipeReader, PipeWriter};
use crate::mm::Errno;

/// Pipe ids of FIFOs come from a range of their own, apart from the kernel's object ids.
const FIFO_IDS: u64 = 1 << 62;

/// Whether `id` is a FIFO's pipe id.
pub(crate) fn is_fifo_id(id: u64) -> bool {
    id > FIFO_IDS
}

/// A FIFO open waiting for the other side.
struct Wait {
    pipe: Rc<RefCell<Pipe>>,
    reading: bool,
    /// The other side's open count when the wait began.
    seen: u64,
}

/// What an open of a FIFO did.
pub(crate) enum FifoOpen {
    /// An end (then wake the pipe's key: a waiting partner or reader).
    Opened(Box<dyn FileImpl>),
    /// Park on the pipe's key ([`Fifos::waiting`]) until the other side opens.
    Wait,
}

/// The kernel's FIFOs, by (host device, inode), and the opens waiting on them.
#[derive(Default)]
pub(crate) struct Fifos {
    pipes: HashMap<(u64, u64), Weak<RefCell<Pipe>>>,
    waits: HashMap<i32, Wait>,
    next: u64,
}

impl Fifos {
    /// Task `tid` opens the FIFO `node` with `flags` (or goes on with its waiting open).
    pub(crate) fn open(
        &mut self,
        tid: i32,
        node: (u64, u64),
        flags: i32,
    ) -> Result<FifoOpen, Errno> {
        if let Some(w) = self.waits.get(&tid) {
            let p = w.pipe.borrow();
            let (now, others) = if w.reading {
                (p.w_opened, p.writers)
            } else {
                (p.r_opened, p.readers)
            };
            if now == w.seen && others == 0 {
                return Ok(FifoOpen::Wait);
            }
            drop(p);
            let w = self.waits.remove(&tid).expect("just seen");
            let end: Box<dyn FileImpl> = if w.reading {
                Box::new(PipeReader::adopt(w.pipe))
            } else {
                Box::new(PipeWriter::adopt(w.pipe))
            };
            return Ok(FifoOpen::Opened(end));
        }
        let pipe = match self.pipes.get(&node).and_then(Weak::upgrade) {
            Some(p) => p,
            None => {
                // (Saturating: a restored id may be the largest.)
                self.next = self.next.saturating_add(1);
                let p = Rc::new(RefCell::new(Pipe::new(FIFO_IDS.saturating_add(self.next))));
                self.pipes.retain(|_, w| w.strong_count() > 0);
                self.pipes.insert(node, Rc::downgrade(&p));
                p
            }
        };
        let nonblock = flags & libc::O_NONBLOCK != 0;
        let (readers, writers) = {
            let p = pipe.borrow();
            (p.readers, p.writers)
        };
        match flags & libc::O_ACCMODE {
            libc::O_RDONLY if writers == 0 && !nonblock => Ok(self.wait(tid, pipe, true)),
            libc::O_WRONLY if readers == 0 && nonblock => Err(libc::ENXIO),
            libc::O_WRONLY if readers == 0 => Ok(self.wait(tid, pipe, false)),
            _ => Ok(FifoOpen::Opened(open_end(&pipe, flags))),
        }
    }

    /// After a restore: each restored FIFO end (a pipe end of a FIFO's pipe, among
    /// `files`) binds the node at the path it was opened by, if that is a FIFO, to its
    /// pipe again. The FIFOs' pipe ids go on above the restored ones.
    pub(crate) fn relink<'a>(&mut self, vfs: &Vfs, files: impl IntoIterator<Item = &'a FileRef>) {
        for f in files {
            let fb = f.borrow();
            let Some(pipe) = pipe_of(&fb).filter(|p| is_fifo_id(p.borrow().id)) else {
                continue;
            };
            let id = pipe.borrow().id;
            self.next = self.next.max(id - FIFO_IDS);
            let Ok(r) = crate::fs::ghost::resolve_as_kernel(vfs, &fb.path, false) else {
                continue;
            };
            if !r.exists || r.file.is_some() {
                continue;
            }
            let no_proc = |_: &[String]| Err(libc::ENOENT);
            let Ok((st, _)) = vfs.lstat(&no_proc, r.mount, &r.rel) else {
                continue;
            };
            if st.st_mode & libc::S_IFMT == libc::S_IFIFO {
                self.pipes
                    .entry((st.st_dev, st.st_ino))
                    .or_insert_with(|| Rc::downgrade(&pipe));
            }
        }
    }

    /// Task `tid` waits for the other side of `pipe`, counted as a reader (`reading`) or a
    /// writer already.
    fn wait(&mut self, tid: i32, pipe: Rc<RefCell<Pipe>>, reading: bool) -> FifoOpen {
        let seen = {
            let mut p = pipe.borrow_mut();
            if reading {
                p.readers += 1;
                p.r_opened += 1;
                p.w_opened
            } else {
                p.writers += 1;
                p.w_opened += 1;
                p.r_opened
            }
        };
        self.waits.insert(
            tid,
            Wait {
                pipe,
                reading,
                seen,
            },
        );
        FifoOpen::Wait
    }

    /// The key (pipe id) task `tid`'s waiting open waits on, if it waits.
    pub(crate) fn waiting(&self, tid: i32) -> Option<u64> {
        self.waits.get(&tid).map(|w| w.pipe.borrow().id)
    }

    /// Task `tid`'s waiting open ends without an fd (a signal, or the task exits): its
    /// count goes. Returns the pipe's key to wake.
    pub(crate) fn cancel(&mut self, tid: i32) -> Option<u64> {
        let w = self.waits.remove(&tid)?;
        let mut p = w.pipe.borrow_mut();
        if w.reading {
            p.readers -= 1;
        } else {
            p.writers -= 1;
        }
        Some(p.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(r: Result<FifoOpen, Errno>) -> Box<dyn FileImpl> {
        match r {
            Ok(FifoOpen::Opened(f)) => f,
            _ => panic!("not opened"),
        }
    }

    fn waits(r: Result<FifoOpen, Errno>) -> bool {
        matches!(r, Ok(FifoOpen::Wait))
    }

    const NODE: (u64, u64) = (1, 2);

    /// A restored FIFO's pipe keeps its id, which is not a kernel object id (new objects
    /// of the restored kernel, a new pipe among them, must not get it), and new FIFOs get
    /// ids above it.
    #[test]
    fn a_restored_fifo_pipe_keeps_its_id_apart_from_the_kernel_objects() {
        use crate::fs::file::OpenFile;
        use crate::fs::ghost::DEFAULT_GHOST_LIMIT;
        use crate::persist::testing::{null_stdio, table};
        let mut fifos = Fifos {
            next: 6,
            ..Default::default()
        };
        let end = OpenFile::new(
            opened(fifos.open(1, NODE, libc::O_RDWR)),
            libc::O_RDWR,
            "/f",
        );
        let id = pipe_of(&end.borrow()).unwrap().borrow().id;
        assert_eq!(id, FIFO_IDS + 7);
        let dir = tempfile::tempdir().unwrap();
        let vfs = crate::fs::Vfs {
            mounts: vec![crate::fs::Mount {
                at: Vec::new(),
                fs: crate::fs::MountFs::Host {
                    root: std::fs::File::open(dir.path()).unwrap().into(),
                    host_path: dir.path().to_path_buf(),
                },
                readonly: false,
                nosuid: false,
                fstype: "bind".into(),
                flags: crate::fs::mounts::MS_RELATIME,
                seen: vec![crate::fs::mounts::INIT_MNT_NS],
                guest: false,
                copy: false,
            }],
            scratch: Vec::new(),
            inos: Default::default(),
            devpts: Default::default(),
            cpus: 1,
            caches: Default::default(),
            uts_events: Default::default(),
            guest: Default::default(),
        };
        let t = table(&[&end]);
        let (saved, _, _) = crate::persist::save(&vfs, DEFAULT_GHOST_LIMIT, [&t], &[]).unwrap();
        let back = crate::persist::restore(
            &vfs,
            null_stdio(),
            &saved.shared,
            &saved.files,
            &saved.fd_tables,
        )
        .unwrap();
        assert_eq!(
            back.max_object_id, 0,
            "a FIFO's pipe id is no kernel object id"
        );
        let restored = back.files.values().next().unwrap();
        assert_eq!(pipe_of(&restored.borrow()).unwrap().borrow().id, id);
        // The FIFO node at the end's path names the restored pipe again.
        nix::unistd::mkfifo(&dir.path().join("f"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let mut again = Fifos::default();
        again.relink(&vfs, back.files.values());
        let st = nix::sys::stat::stat(&dir.path().join("f")).unwrap();
        let node = (st.st_dev, st.st_ino);
        let joined = OpenFile::new(
            opened(again.open(1, node, libc::O_RDWR)),
            libc::O_RDWR,
            "/f",
        );
        assert_eq!(pipe_of(&joined.borrow()).unwrap().borrow().id, id);
        let new = OpenFile::new(
            opened(again.open(1, (3, 4), libc::O_RDWR)),
            libc::O_RDWR,
            "/g",
        );
        assert_eq!(pipe_of(&new.borrow()).unwrap().borrow().id, FIFO_IDS + 8);
    }

    #[test]
    fn blocking_opens_wait_for_the_other_side_and_share_one_pipe() {
        let mut f = Fifos::default();
        // A reader waits; a writer then opens at once; the reader's open completes.
        assert!(waits(f.open(1, NODE, libc::O_RDONLY)));
        assert!(waits(f.open(1, NODE, libc::O_RDONLY)), "still no writer");
        let mut w = opened(f.open(2, NODE, libc::O_WRONLY));
        let mut r = opened(f.open(1, NODE, libc::O_RDONLY));
        assert_eq!(w.write(&mut 0, b"hi", None), Ok(2));
        assert_eq!(r.read(&mut 0, 10, None).unwrap(), b"hi");
        // Non-blocking: a reader opens alone, a writer alone is ENXIO.
        assert_eq!(
            f.open(3, (5, 5), libc::O_WRONLY | libc::O_NONBLOCK).err(),
            Some(libc::ENXIO)
        );
        let _r = opened(f.open(3, (5, 5), libc::O_RDONLY | libc::O_NONBLOCK));
        opened(f.open(3, (5, 5), libc::O_WRONLY | libc::O_NONBLOCK));
        // A waiting writer interrupted leaves no writer behind.
        drop((w, r));
        assert!(waits(f.open(4, NODE, libc::O_WRONLY)));
        assert!(f.cancel(4).is_some());
        assert!(f.cancel(4).is_none());
        let mut r = opened(f.open(5, NODE, libc::O_RDONLY | libc::O_NONBLOCK));
        assert_eq!(
            r.read(&mut 0, 10, None).unwrap(),
            b"",
            "no writer: end of file"
        );
        // A writer that came and went still lets a waiting reader through.
        drop(r);
        assert!(waits(f.open(6, NODE, libc::O_RDONLY)));
        drop(opened(f.open(7, NODE, libc::O_WRONLY)));
        opened(f.open(6, NODE, libc::O_RDONLY));
        // Read-write never waits.
        opened(f.open(8, (9, 9), libc::O_RDWR));
    }
}
