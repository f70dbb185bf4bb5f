//! Pipes: a bounded byte queue shared by a read end and a write end, each an open file.
//!
//! Saved: the queue once, in the image's shared table under the pipe's id; each end as
//! the id of its pipe. The reader and writer counts are not saved: the restored ends count
//! themselves again.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::checks::{bad, Invalid};
use crate::fs::file::{anon_stat, FileImpl, IoErr};
use crate::fs::persist::{
    CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx, SharedPersist,
};
use crate::mm::Errno;
use crate::wait::WaitKey;

/// Default pipe capacity, as Linux.
pub(crate) const PIPE_CAPACITY: usize = 65536;
/// Writes up to this size are atomic.
pub(crate) const PIPE_BUF: usize = 4096;
/// The capacities F_SETPIPE_SZ may set.
pub(crate) const CAPACITY_RANGE: std::ops::RangeInclusive<usize> = 4096..=1 << 20;

/// The pipe open file `f` is an end of, if it is one.
pub(crate) fn pipe_of(f: &crate::fs::file::OpenFile) -> Option<Rc<RefCell<Pipe>>> {
    if let Some(r) = f.kind::<PipeReader>() {
        return Some(r.pipe.clone());
    }
    if let Some(w) = f.kind::<PipeWriter>() {
        return Some(w.pipe.clone());
    }
    f.kind::<PipeDuplex>().map(|d| d.r.pipe.clone())
}

/// A pipe's buffer, shared by its ends.
#[derive(Debug)]
pub struct Pipe {
    pub id: u64,
    pub buf: VecDeque<u8>,
    pub capacity: usize,
    /// Open read ends.
    pub readers: u32,
    /// Open write ends.
    pub writers: u32,
    /// How many read and write ends were ever opened: a FIFO open waiting for its other
    /// end waits for the other count to move (the other end may have come and gone).
    pub r_opened: u64,
    pub w_opened: u64,
}

impl Pipe {
    pub fn new(id: u64) -> Self {
        Pipe {
            id,
            buf: VecDeque::new(),
            capacity: PIPE_CAPACITY,
            readers: 0,
            writers: 0,
            r_opened: 0,
            w_opened: 0,
        }
    }

    pub fn space(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    pub fn readable(&self) -> bool {
        !self.buf.is_empty() || self.writers == 0
    }

    pub fn writable(&self) -> bool {
        self.space() >= PIPE_BUF.min(self.capacity) || self.readers == 0
    }

    /// F_SETPIPE_SZ: the capacity becomes `want` rounded up to a power of two within
    /// [`CAPACITY_RANGE`]; EINVAL above 2^31 (no such size rounds), EBUSY if the bytes
    /// queued do not fit.
    pub fn resize(&mut self, want: usize) -> Result<usize, Errno> {
        if want > 1 << 31 {
            return Err(libc::EINVAL);
        }
        let want = want
            .clamp(*CAPACITY_RANGE.start(), *CAPACITY_RANGE.end())
            .next_power_of_two();
        if want < self.buf.len() {
            return Err(libc::EBUSY);
        }
        self.capacity = want;
        Ok(want)
    }

    fn stat(&self) -> libc::stat {
        let mut st = anon_stat(libc::S_IFIFO | 0o600);
        st.st_ino = self.id;
        st.st_dev = 0x43;
        st
    }
}

/// A new pipe's two ends.
pub(crate) fn pair(id: u64) -> (PipeReader, PipeWriter) {
    let p = Rc::new(RefCell::new(Pipe::new(id)));
    (PipeReader::new(p.clone()), PipeWriter::new(p))
}

/// The pipe behind an open file, if it is either end of one (F_GETPIPE_SZ, F_SETPIPE_SZ,
/// posix_fadvise).
/// FIONREAD of either end: the bytes in the pipe.
fn queued(f: &dyn FileImpl) -> Option<usize> {
    of(f).map(|p| p.borrow().buf.len())
}

pub(crate) fn of(f: &dyn FileImpl) -> Option<&Rc<RefCell<Pipe>>> {
    let any = f.as_any();
    any.downcast_ref::<PipeReader>()
        .map(|r| &r.pipe)
        .or_else(|| any.downcast_ref::<PipeWriter>().map(|w| &w.pipe))
        .or_else(|| any.downcast_ref::<PipeDuplex>().map(|d| &d.r.pipe))
}

/// A new end of `pipe` for an open with `flags` (through /proc/PID/fd): a read end, a
/// write end, or both for O_RDWR, as Linux opens a pipe's inode.
pub(crate) fn open_end(pipe: &Rc<RefCell<Pipe>>, flags: i32) -> Box<dyn FileImpl> {
    match flags & libc::O_ACCMODE {
        libc::O_RDONLY => Box::new(PipeReader::new(pipe.clone())),
        libc::O_WRONLY => Box::new(PipeWriter::new(pipe.clone())),
        _ => Box::new(PipeDuplex {
            r: PipeReader::new(pipe.clone()),
            w: PipeWriter::new(pipe.clone()),
        }),
    }
}

/// The operations every end has of the pipe's inode, for an end whose pipe is at
/// `self.FIELD...`: the key its other end waits on, stat, no position, reopening through
/// /proc/PID/fd and the link's text.
macro_rules! pipe_inode_ops {
    ($($field:ident).+) => {
        fn notify_key(&self) -> Option<WaitKey> {
            Some(WaitKey::Object(self.$($field).+.borrow().id))
        }

        fn stat(&self) -> Result<libc::stat, Errno> {
            Ok(self.$($field).+.borrow().stat())
        }

        fn is_stream(&self) -> bool {
            true
        }

        fn statfs(&self) -> Option<Result<libc::statfs, Errno>> {
            Some(Ok(crate::fs::synth_statfs(crate::fs::PIPEFS_MAGIC)))
        }

        fn reopen(&self, flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
            Ok(open_end(&self.$($field).+, flags))
        }

        /// A FIFO's ends show its path; an anonymous pipe's pipe:[ID].
        fn link_text(&self, path: &str) -> String {
            if path.starts_with('/') {
                return path.to_string();
            }
            link_text(&self.$($field).+)
        }
    };
}

/// The text of a pipe's /proc/PID/fd link.
fn link_text(pipe: &Rc<RefCell<Pipe>>) -> String {
    format!("pipe:[{}]", pipe.borrow().id)
}

/// The read end.
pub struct PipeReader {
    pipe: Rc<RefCell<Pipe>>,
}

impl PipeReader {
    pub(crate) fn new(pipe: Rc<RefCell<Pipe>>) -> Self {
        {
            let mut p = pipe.borrow_mut();
            p.readers += 1;
            p.r_opened += 1;
        }
        PipeReader { pipe }
    }

    /// The end of a reader already counted (a FIFO open that waited for a writer).
    pub(crate) fn adopt(pipe: Rc<RefCell<Pipe>>) -> Self {
        PipeReader { pipe }
    }

    /// Bytes waiting to be read (FIONREAD).
    pub fn queued(&self) -> usize {
        self.pipe.borrow().buf.len()
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.pipe.borrow_mut().readers -= 1;
    }
}

impl FileImpl for PipeReader {
    fn signals_io(&self) -> bool {
        true
    }

    fn bytes_ready(&self) -> Option<usize> {
        queued(self)
    }

    fn read(&mut self, _pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        if off.is_some() {
            return Err(IoErr::Errno(libc::ESPIPE));
        }
        let mut p = self.pipe.borrow_mut();
        if p.buf.is_empty() {
            if p.writers == 0 || len == 0 {
                return Ok(Vec::new());
            }
            return Err(IoErr::Block(WaitKey::Object(p.id)));
        }
        let n = len.min(p.buf.len());
        Ok(p.buf.drain(..n).collect())
    }

    fn write(&mut self, _pos: &mut u64, _data: &[u8], _off: Option<u64>) -> Result<usize, IoErr> {
        Err(IoErr::Errno(libc::EBADF))
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let p = self.pipe.borrow();
        let mut r = 0;
        if !p.buf.is_empty() {
            r |= libc::POLLIN;
        }
        if p.writers == 0 {
            r |= libc::POLLHUP;
        }
        (r & (events | libc::POLLHUP), vec![WaitKey::Object(p.id)])
    }

    pipe_inode_ops!(pipe);
}

/// The write end.
pub struct PipeWriter {
    pipe: Rc<RefCell<Pipe>>,
}

impl PipeWriter {
    pub(crate) fn new(pipe: Rc<RefCell<Pipe>>) -> Self {
        {
            let mut p = pipe.borrow_mut();
            p.writers += 1;
            p.w_opened += 1;
        }
        PipeWriter { pipe }
    }

    /// The end of a writer already counted (a FIFO open that waited for a reader).
    pub(crate) fn adopt(pipe: Rc<RefCell<Pipe>>) -> Self {
        PipeWriter { pipe }
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.pipe.borrow_mut().writers -= 1;
    }
}

impl FileImpl for PipeWriter {
    fn signals_io(&self) -> bool {
        true
    }

    fn bytes_ready(&self) -> Option<usize> {
        queued(self)
    }

    fn read(&mut self, _pos: &mut u64, _len: usize, _off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        Err(IoErr::Errno(libc::EBADF))
    }

    fn write(&mut self, _pos: &mut u64, data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        if off.is_some() {
            return Err(IoErr::Errno(libc::ESPIPE));
        }
        let mut p = self.pipe.borrow_mut();
        if p.readers == 0 {
            return Err(IoErr::Pipe);
        }
        let space = p.space();
        // Writes up to PIPE_BUF are atomic: all or nothing.
        if space == 0 || (data.len() <= PIPE_BUF && space < data.len()) {
            return Err(IoErr::Block(WaitKey::Object(p.id)));
        }
        let n = data.len().min(space);
        p.buf.extend(&data[..n]);
        Ok(n)
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let p = self.pipe.borrow();
        // POLLERR without readers, and POLLOUT while there is room, as Linux (both when
        // both hold).
        let mut r = 0;
        if p.readers == 0 {
            r |= libc::POLLERR;
        }
        if p.space() >= PIPE_BUF.min(p.capacity) {
            r |= libc::POLLOUT;
        }
        (r & (events | libc::POLLERR), vec![WaitKey::Object(p.id)])
    }

    pipe_inode_ops!(pipe);
}

/// Both ends in one description: a pipe opened O_RDWR (through /proc/PID/fd). It counts
/// as a reader and a writer, so it never blocks on an open and never sees end of file
/// while it is open.
pub struct PipeDuplex {
    r: PipeReader,
    w: PipeWriter,
}

impl FileImpl for PipeDuplex {
    fn signals_io(&self) -> bool {
        true
    }

    fn bytes_ready(&self) -> Option<usize> {
        queued(self)
    }

    fn read(&mut self, pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        self.r.read(pos, len, off)
    }

    fn write(&mut self, pos: &mut u64, data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        self.w.write(pos, data, off)
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let (r, keys) = self.r.readiness(events);
        let (w, _) = self.w.readiness(events);
        (r | w, keys)
    }

    pipe_inode_ops!(r.pipe);
}

/// A saved pipe: its queued bytes and capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipeState {
    pub buf: Vec<u8>,
    pub capacity: u64,
}

impl SharedPersist for Pipe {
    type State = PipeState;
    const WHAT: &'static str = "pipe";

    fn save(&self, _: &mut SaveCtx) -> PipeState {
        let Pipe {
            id: _, // the key of the shared table
            buf,
            capacity,
            readers: _,  // counted again by the restored ends
            writers: _,  // counted again by the restored ends
            r_opened: _, // only FIFO opens in progress look at them, and they start again
            w_opened: _,
        } = self;
        PipeState {
            buf: buf.iter().copied().collect(),
            capacity: *capacity as u64,
        }
    }

    /// A FIFO's pipe has an id of the FIFOs' range, not of the kernel's objects.
    fn kernel_object_id(id: u64) -> bool {
        !crate::ipc::fifo::is_fifo_id(id)
    }

    fn restore(id: u64, s: &PipeState) -> Pipe {
        Pipe {
            id,
            buf: s.buf.iter().copied().collect(),
            capacity: s.capacity as usize,
            readers: 0,
            writers: 0,
            r_opened: 0,
            w_opened: 0,
        }
    }

    fn check(object: &str, s: &PipeState) -> Result<(), Invalid> {
        if !CAPACITY_RANGE.contains(&(s.capacity as usize)) {
            return Err(bad(
                object,
                "capacity",
                format!("{} is out of range", s.capacity),
            ));
        }
        if s.buf.len() as u64 > s.capacity {
            return Err(bad(object, "buffer", "holds more than its capacity"));
        }
        Ok(())
    }
}

/// A saved pipe end: the id of its pipe in the shared table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipeEndState {
    pub pipe: u64,
}

fn save_end(pipe: &Rc<RefCell<Pipe>>, cx: &mut SaveCtx) -> PipeEndState {
    let p = pipe.borrow();
    cx.share(p.id, &*p);
    PipeEndState { pipe: p.id }
}

fn check_end(cx: &CheckCtx, s: &PipeEndState) -> Result<(), Invalid> {
    if !cx.has_shared::<Pipe>(s.pipe) {
        return Err(cx.bad("pipe", format!("{} does not exist", s.pipe)));
    }
    Ok(())
}

impl Persist for PipeReader {
    type State = PipeEndState;

    fn save(&self, cx: &mut SaveCtx) -> PipeEndState {
        let PipeReader { pipe } = self;
        save_end(pipe, cx)
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &PipeEndState) -> Result<Self, KindError> {
        Ok(PipeReader::new(cx.shared::<Pipe>(s.pipe)?))
    }

    fn check(cx: &CheckCtx, s: &PipeEndState) -> Result<(), Invalid> {
        check_end(cx, s)
    }
}

impl Persist for PipeDuplex {
    type State = PipeEndState;

    fn save(&self, cx: &mut SaveCtx) -> PipeEndState {
        let PipeDuplex { r, w: _ } = self; // both ends are of the same pipe
        save_end(&r.pipe, cx)
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &PipeEndState) -> Result<Self, KindError> {
        let pipe = cx.shared::<Pipe>(s.pipe)?;
        Ok(PipeDuplex {
            r: PipeReader::new(pipe.clone()),
            w: PipeWriter::new(pipe),
        })
    }

    fn check(cx: &CheckCtx, s: &PipeEndState) -> Result<(), Invalid> {
        check_end(cx, s)
    }
}

impl Persist for PipeWriter {
    type State = PipeEndState;

    fn save(&self, cx: &mut SaveCtx) -> PipeEndState {
        let PipeWriter { pipe } = self;
        save_end(pipe, cx)
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &PipeEndState) -> Result<Self, KindError> {
        Ok(PipeWriter::new(cx.shared::<Pipe>(s.pipe)?))
    }

    fn check(cx: &CheckCtx, s: &PipeEndState) -> Result<(), Invalid> {
        check_end(cx, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(r: &mut PipeReader, len: usize) -> Result<Vec<u8>, IoErr> {
        r.read(&mut 0, len, None)
    }

    fn write(w: &mut PipeWriter, data: &[u8]) -> Result<usize, IoErr> {
        w.write(&mut 0, data, None)
    }

    #[test]
    fn reads_take_what_is_there_in_order() {
        let (mut r, mut w) = pair(7);
        assert_eq!(write(&mut w, b"hello world"), Ok(11));
        assert_eq!(read(&mut r, 5).unwrap(), b"hello");
        assert_eq!(read(&mut r, 100).unwrap(), b" world");
        assert_eq!(r.queued(), 0);
    }

    #[test]
    fn an_empty_pipe_blocks_until_its_writers_are_gone() {
        let (mut r, w) = pair(7);
        assert_eq!(read(&mut r, 10), Err(IoErr::Block(WaitKey::Object(7))));
        assert_eq!(read(&mut r, 0).unwrap(), b"");
        drop(w);
        assert_eq!(read(&mut r, 10).unwrap(), b"", "end of file");
    }

    #[test]
    fn the_ends_count_themselves() {
        let (r, w) = pair(1);
        let p = r.pipe.clone();
        assert_eq!((p.borrow().readers, p.borrow().writers), (1, 1));
        let r2 = PipeReader::new(p.clone());
        assert_eq!(p.borrow().readers, 2);
        drop(r);
        drop(w);
        assert_eq!((p.borrow().readers, p.borrow().writers), (1, 0));
        drop(r2);
        assert_eq!(p.borrow().readers, 0);
    }

    #[test]
    fn writes_up_to_pipe_buf_are_atomic() {
        let (_r, mut w) = pair(3);
        let fill = vec![1u8; PIPE_CAPACITY - 100];
        assert_eq!(write(&mut w, &fill), Ok(fill.len()));
        // 200 bytes do not fit in the 100 left: all or nothing, so it blocks.
        assert_eq!(
            write(&mut w, &[2u8; 200]),
            Err(IoErr::Block(WaitKey::Object(3)))
        );
        // A write above PIPE_BUF takes what fits.
        assert_eq!(write(&mut w, &vec![3u8; PIPE_BUF + 1]), Ok(100));
        assert_eq!(write(&mut w, &[4u8]), Err(IoErr::Block(WaitKey::Object(3))));
    }

    #[test]
    fn writing_without_readers_is_epipe() {
        let (r, mut w) = pair(4);
        drop(r);
        assert_eq!(write(&mut w, b"x"), Err(IoErr::Pipe));
        assert_eq!(w.readiness(libc::POLLOUT).0, libc::POLLERR | libc::POLLOUT);
    }

    #[test]
    fn readiness_follows_the_queue_and_the_other_end() {
        let (r, mut w) = pair(5);
        let all = libc::POLLIN | libc::POLLOUT;
        assert_eq!(r.readiness(all), (0, vec![WaitKey::Object(5)]));
        assert_eq!(w.readiness(all).0, libc::POLLOUT);
        write(&mut w, b"x").unwrap();
        assert_eq!(r.readiness(all).0, libc::POLLIN);
        let full = vec![0u8; PIPE_CAPACITY - 1];
        write(&mut w, &full).unwrap();
        assert_eq!(w.readiness(all).0, 0, "less than PIPE_BUF free");
        drop(w);
        assert_eq!(r.readiness(all).0, libc::POLLIN | libc::POLLHUP);
        // POLLHUP is reported even when not asked for.
        assert_eq!(r.readiness(0).0, libc::POLLHUP);
    }

    #[test]
    fn pipes_do_not_seek_or_pread() {
        let (mut r, mut w) = pair(6);
        assert_eq!(r.read(&mut 0, 1, Some(0)), Err(IoErr::Errno(libc::ESPIPE)));
        assert_eq!(
            w.write(&mut 0, b"x", Some(0)),
            Err(IoErr::Errno(libc::ESPIPE))
        );
        assert_eq!(r.seek(&mut 0, 0, libc::SEEK_SET), Err(libc::ESPIPE));
        let st = r.stat().unwrap();
        assert_eq!((st.st_mode, st.st_ino), (libc::S_IFIFO | 0o600, 6));
    }

    #[test]
    fn resizing_keeps_what_is_queued() {
        let (_r, mut w) = pair(8);
        let p = w.pipe.clone();
        write(&mut w, &[0u8; 10_000]).unwrap();
        assert_eq!(p.borrow_mut().resize(5000), Err(libc::EBUSY));
        assert_eq!(p.borrow_mut().resize(10_001), Ok(16384));
        assert_eq!(p.borrow_mut().resize(1), Err(libc::EBUSY));
        assert_eq!(p.borrow_mut().resize((1 << 31) - 1), Ok(1 << 20));
        assert_eq!(p.borrow_mut().resize(u32::MAX as usize), Err(libc::EINVAL));
    }

    #[test]
    fn a_pipe_is_saved_once_with_its_bytes_and_both_ends_come_back() {
        use crate::fs::file::OpenFile;
        use crate::kinds::SharedState;
        use crate::persist::testing::{at, round_trip, table};
        use crate::persist::SharedEntry;

        let (r, w) = pair(12);
        let r = OpenFile::new(Box::new(r), libc::O_RDONLY, "pipe:[12]");
        let w = OpenFile::new(Box::new(w), libc::O_WRONLY, "pipe:[12]");
        w.borrow_mut().write(b"queued", None).unwrap();
        let t = table(&[&r, &w, &w]);
        let (saved, back) = round_trip(&[&t]);
        assert_eq!(
            saved.shared,
            [SharedEntry {
                id: 12,
                object: SharedState::Pipe(PipeState {
                    buf: b"queued".to_vec(),
                    capacity: PIPE_CAPACITY as u64,
                }),
            }]
        );
        let (r2, w2) = (at(&back[0], 0), at(&back[0], 1));
        let p = of(&*r2.borrow().imp).unwrap().clone();
        assert!(Rc::ptr_eq(&p, of(&*w2.borrow().imp).unwrap()));
        assert_eq!(
            (p.borrow().id, p.borrow().readers, p.borrow().writers),
            (12, 1, 1)
        );
        assert_eq!(r2.borrow_mut().read(100, None).unwrap(), b"queued");
        assert_eq!(w2.borrow_mut().write(b"more", None), Ok(4));
        assert_eq!(r2.borrow_mut().read(100, None).unwrap(), b"more");
        drop(back);
        drop((r2, w2));
        assert_eq!((p.borrow().readers, p.borrow().writers), (0, 0));
    }

    #[test]
    fn a_pipe_opened_read_write_comes_back_as_both_ends() {
        assert_eq!(
            PipeReader::adopt(Rc::new(RefCell::new(Pipe::new(1)))).link_text("/f"),
            "/f"
        );
        use crate::fs::file::OpenFile;
        use crate::persist::testing::{at, round_trip, table};

        let (r, _w) = pair(21);
        let rw = OpenFile::new(r.reopen(libc::O_RDWR).unwrap(), libc::O_RDWR, "pipe:[21]");
        assert_eq!(rw.borrow().imp.link_text("x"), "pipe:[21]");
        rw.borrow_mut().write(b"self", None).unwrap();
        let (_, back) = round_trip(&[&table(&[&rw])]);
        let rw2 = at(&back[0], 0);
        let p = of(&*rw2.borrow().imp).unwrap().clone();
        assert_eq!((p.borrow().readers, p.borrow().writers), (1, 1));
        assert_eq!(rw2.borrow_mut().read(10, None).unwrap(), b"self");
        assert_eq!(
            rw2.borrow().readiness(libc::POLLIN | libc::POLLOUT).0,
            libc::POLLOUT
        );
    }
}
