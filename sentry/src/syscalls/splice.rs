//! Moving bytes between open files without the caller's memory: splice, tee, sendfile,
//! copy_file_range, and vmsplice (a pipe and the caller's memory).
//!
//! One transfer serves them all ([`transfer`]): it first makes sure neither end would
//! block — a pipe read from has bytes (or no writer left: end of file), a pipe written to
//! has room for a page (a splice adds whole pages to a pipe, as Linux's, so a nearly full
//! pipe blocks it) — then reads without consuming (a pipe's bytes are looked at, a file
//! is read at an offset), writes, and consumes only what was written: nothing is lost
//! when the write is short or fails, and a parked call restarts from scratch.

use std::cell::RefCell;
use std::rc::Rc;

use super::file::{fsize_room, gather, read_iovecs, MAX_RW};
use crate::fs::file::{FileRef, IoErr};
use crate::ipc::pipe::{pipe_of, Pipe};
use crate::kernel::{err, Sys, SysCtx};
use crate::wait::WaitKey;

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

const SPLICE_F_NONBLOCK: u64 = 2;
/// SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT: the others are EINVAL.
const SPLICE_F_ALL: u64 = 0xf;

/// One end of a transfer.
struct End {
    f: FileRef,
    pipe: Option<Rc<RefCell<Pipe>>>,
    /// The caller's offset: where it lives in guest memory and what it holds.
    off: Option<(u64, u64)>,
}

impl End {
    /// The open file `fd` (EBADF unless open for reading or writing, as `read` says).
    fn new(c: &SysCtx, fd: u64, read: bool) -> Result<End, i32> {
        let f = c.file(fd)?;
        let pipe = {
            let fb = f.borrow();
            let open_for = if read { fb.readable() } else { fb.writable() };
            if !open_for {
                return Err(libc::EBADF);
            }
            pipe_of(&fb)
        };
        Ok(End { f, pipe, off: None })
    }

    /// Reads the caller's offset at `ptr` (none when 0): ESPIPE for a pipe or another
    /// stream, EINVAL for a negative one.
    fn offset_at(&mut self, c: &SysCtx, ptr: u64) -> Result<(), i32> {
        if ptr == 0 {
            return Ok(());
        }
        if self.pipe.is_some() || self.f.borrow().imp.is_stream() {
            return Err(libc::ESPIPE);
        }
        let v = c.read_u64(ptr)?;
        if (v as i64) < 0 {
            return Err(libc::EINVAL);
        }
        self.off = Some((ptr, v));
        Ok(())
    }

    /// Where a file end is read or written: the caller's offset, else its position (for
    /// a seekable file).
    fn at(&self) -> Option<u64> {
        match self.off {
            Some((_, v)) => Some(v),
            None if self.pipe.is_none() && !self.f.borrow().imp.is_stream() => self
                .f
                .borrow_mut()
                .seek(0, libc::SEEK_CUR)
                .ok()
                .map(|p| p as u64),
            None => None,
        }
    }

    fn nonblock(&self) -> bool {
        self.f.borrow().flags & libc::O_NONBLOCK != 0
    }

    fn appends(&self) -> bool {
        self.f.borrow().flags & libc::O_APPEND != 0
    }

    fn same_pipe(&self, other: &End) -> bool {
        matches!((&self.pipe, &other.pipe), (Some(a), Some(b)) if Rc::ptr_eq(a, b))
    }
}

/// How a transfer treats its source.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Consumed (splice, sendfile, copy_file_range).
    Take,
    /// Left as it is (tee).
    Keep,
}

/// Would block on `key`: EAGAIN when `nonblock`, else the call parks.
fn wait_or_again(c: &mut SysCtx, key: WaitKey, nonblock: bool) -> Sys {
    if nonblock {
        err(libc::EAGAIN)
    } else {
        c.io_result(Err(IoErr::Block(key)))
    }
}

/// An end's offset + `len` past the largest offset: EINVAL (Linux's rw_verify_area).
fn past_max(end: &End, len: usize) -> bool {
    end.off.is_some_and(|(_, v)| {
        v.checked_add(len as u64)
            .is_none_or(|e| e > i64::MAX as u64)
    })
}

/// Moves up to `len` bytes from `src` to `dst` (see the module's comment); `nonblock`:
/// a pipe end that would block is EAGAIN.
fn transfer(c: &mut SysCtx, src: End, dst: End, len: usize, how: Source, nonblock: bool) -> Sys {
    // A directory has no bytes to splice (Linux: no splice_read).
    if src.f.borrow().imp.is_dir() {
        return err(libc::EINVAL);
    }
    if len == 0 {
        return Sys::Ret(0);
    }
    let len = len.min(MAX_RW);
    if past_max(&src, len) || past_max(&dst, len) {
        return err(libc::EINVAL);
    }
    if let Some(p) = &src.pipe {
        let (empty, writers, id) = {
            let p = p.borrow();
            (p.buf.is_empty(), p.writers, p.id)
        };
        if empty {
            return if writers == 0 {
                Sys::Ret(0)
            } else {
                wait_or_again(c, WaitKey::Object(id), nonblock)
            };
        }
    }
    let mut cap = len;
    if let Some(q) = &dst.pipe {
        let (readers, writable, space, id) = {
            let q = q.borrow();
            (q.readers, q.writable(), q.space(), q.id)
        };
        if readers == 0 {
            return c.io_result(Err(IoErr::Pipe));
        }
        if !writable {
            return wait_or_again(c, WaitKey::Object(id), nonblock);
        }
        cap = cap.min(space);
    } else {
        let at = if dst.appends() { None } else { dst.at() };
        cap = match fsize_room(c, &dst.f, at, cap) {
            Ok(n) => n,
            Err(e) => return err(e),
        };
    }
    // Read without consuming (but from a stream that is not a pipe: a socket, a device).
    let from = src.at();
    let data = match &src.pipe {
        Some(p) => Ok(p
            .borrow()
            .buf
            .iter()
            .take(cap)
            .copied()
            .collect::<Vec<u8>>()),
        None => src.f.borrow_mut().read(cap, from),
    };
    let data = match data {
        Ok(d) => d,
        Err(e) => return c.io_result(Err(e)),
    };
    if data.is_empty() {
        return Sys::Ret(0);
    }
    let to = if dst.pipe.is_some() || dst.appends() {
        None
    } else {
        dst.off.map(|(_, v)| v)
    };
    let written = dst.f.borrow_mut().write(&data, to);
    let n = match written {
        Ok(n) => n,
        Err(e) => return c.io_result(Err(e)),
    };
    // Consume what went through, and move the offsets and positions past it.
    match (&src.pipe, how) {
        (Some(p), Source::Take) => {
            p.borrow_mut().buf.drain(..n);
        }
        (Some(_), Source::Keep) => {}
        (None, _) => match (src.off, from) {
            (Some((ptr, v)), _) => {
                if let Err(e) = c.write_u64(ptr, v + n as u64) {
                    return err(e);
                }
            }
            (None, Some(at)) => {
                let _ = src
                    .f
                    .borrow_mut()
                    .seek((at + n as u64) as i64, libc::SEEK_SET);
            }
            (None, None) => {}
        },
    }
    if let Some((ptr, v)) = dst.off.filter(|_| dst.pipe.is_none()) {
        if let Err(e) = c.write_u64(ptr, v + n as u64) {
            return err(e);
        }
    }
    if how == Source::Take {
        if let Some(key) = src.f.borrow().notify_key() {
            c.notify_read(&src.f, &key);
        }
    }
    if let Some(key) = dst.f.borrow().notify_key() {
        c.notify_written(&dst.f, &key);
    }
    Sys::Ret(n as i64)
}

/// splice(fd_in, off_in, fd_out, off_out, len, flags): one end at least a pipe.
pub(super) fn splice(c: &mut SysCtx) -> Sys {
    let [fd_in, off_in, fd_out, off_out, len, flags] = c.args();
    if flags & !SPLICE_F_ALL != 0 {
        return err(libc::EINVAL);
    }
    let mut src = tryk!(End::new(c, fd_in, true));
    let mut dst = tryk!(End::new(c, fd_out, false));
    if src.pipe.is_none() && dst.pipe.is_none() {
        return err(libc::EINVAL);
    }
    if src.same_pipe(&dst) {
        return err(libc::EINVAL);
    }
    tryk!(src.offset_at(c, off_in));
    tryk!(dst.offset_at(c, off_out));
    // A file written to may not be in append mode; the pipe end's O_NONBLOCK counts as
    // SPLICE_F_NONBLOCK, as Linux's do_splice has it.
    if dst.pipe.is_none() && dst.appends() {
        return err(libc::EINVAL);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0
        || (src.pipe.is_some() && src.nonblock())
        || (dst.pipe.is_some() && dst.nonblock());
    transfer(c, src, dst, len as usize, Source::Take, nonblock)
}

/// tee(fd_in, fd_out, len, flags): copies from one pipe to another, leaving the source.
pub(super) fn tee(c: &mut SysCtx) -> Sys {
    let [fd_in, fd_out, len, flags, ..] = c.args();
    if flags & !SPLICE_F_ALL != 0 {
        return err(libc::EINVAL);
    }
    if len == 0 {
        return Sys::Ret(0);
    }
    let src = tryk!(End::new(c, fd_in, true));
    let dst = tryk!(End::new(c, fd_out, false));
    if src.pipe.is_none() || dst.pipe.is_none() || src.same_pipe(&dst) {
        return err(libc::EINVAL);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0 || src.nonblock() || dst.nonblock();
    transfer(c, src, dst, len as usize, Source::Keep, nonblock)
}

/// sendfile(out_fd, in_fd, offset, count): from a file (not a pipe) to anything.
pub(super) fn sendfile(c: &mut SysCtx) -> Sys {
    let [out_fd, in_fd, offp, count, ..] = c.args();
    // A count that is negative as a ssize_t: EINVAL (rw_verify_area).
    if (count as i64) < 0 {
        return err(libc::EINVAL);
    }
    let mut src = tryk!(End::new(c, in_fd, true));
    let dst = tryk!(End::new(c, out_fd, false));
    if offp != 0 {
        tryk!(src.offset_at(c, offp));
    }
    if src.pipe.is_some() {
        return err(libc::EINVAL);
    }
    if dst.pipe.is_none() && dst.appends() {
        return err(libc::EINVAL);
    }
    let nonblock = dst.pipe.is_some() && dst.nonblock();
    transfer(c, src, dst, count as usize, Source::Take, nonblock)
}

/// copy_file_range(fd_in, off_in, fd_out, off_out, len, flags): between regular files.
pub(super) fn copy_file_range(c: &mut SysCtx) -> Sys {
    let [fd_in, off_in, fd_out, off_out, len, flags] = c.args();
    if flags != 0 {
        return err(libc::EINVAL);
    }
    // The kinds of file first, then the modes they are open with (Linux's
    // generic_file_rw_checks).
    let (fi, fo) = (tryk!(c.file(fd_in)), tryk!(c.file(fd_out)));
    let kind = |f: &FileRef| f.borrow().imp.stat();
    let (si, di) = match (kind(&fi), kind(&fo)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return err(e),
    };
    for st in [&si, &di] {
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => {}
            libc::S_IFDIR => return err(libc::EISDIR),
            _ => return err(libc::EINVAL),
        }
    }
    let mut src = tryk!(End::new(c, fd_in, true));
    let mut dst = tryk!(End::new(c, fd_out, false));
    if dst.appends() {
        return err(libc::EBADF);
    }
    tryk!(src.offset_at(c, off_in));
    tryk!(dst.offset_at(c, off_out));
    // Within one file, the two ranges may not overlap.
    if (si.st_dev, si.st_ino) == (di.st_dev, di.st_ino) {
        let (a, b) = (src.at().unwrap_or(0), dst.at().unwrap_or(0));
        let n = len.min(MAX_RW as u64);
        if a < b.saturating_add(n) && b < a.saturating_add(n) {
            return err(libc::EINVAL);
        }
    }
    transfer(c, src, dst, len as usize, Source::Take, false)
}

/// vmsplice(fd, iov, nr_segs, flags): the caller's memory into a pipe it may write, or a
/// pipe it may read into its memory.
pub(super) fn vmsplice(c: &mut SysCtx) -> Sys {
    let [fd, iov, nr, flags, ..] = c.args();
    if flags & !SPLICE_F_ALL != 0 {
        return err(libc::EINVAL);
    }
    let f = tryk!(c.file(fd));
    let (pipe, write, nonblock) = {
        let fb = f.borrow();
        let write = if fb.writable() {
            true
        } else if fb.readable() {
            false
        } else {
            return err(libc::EBADF);
        };
        let nonblock = flags & SPLICE_F_NONBLOCK != 0 || fb.flags & libc::O_NONBLOCK != 0;
        (pipe_of(&fb), write, nonblock)
    };
    let Some(pipe) = pipe else {
        return err(libc::EBADF);
    };
    let iovs = tryk!(read_iovecs(c, iov, nr));
    let total = iovs
        .iter()
        .fold(0usize, |a, v| a.saturating_add(v.1))
        .min(MAX_RW);
    if total == 0 {
        return Sys::Ret(0);
    }
    let id = pipe.borrow().id;
    if write {
        let (readers, writable, space) = {
            let p = pipe.borrow();
            (p.readers, p.writable(), p.space())
        };
        if readers == 0 {
            return c.io_result(Err(IoErr::Pipe));
        }
        if !writable {
            return wait_or_again(c, WaitKey::Object(id), nonblock);
        }
        let data = tryk!(gather(c, &iovs, total.min(space)));
        pipe.borrow_mut().buf.extend(&data);
        if let Some(key) = f.borrow().notify_key() {
            c.notify_written(&f, &key);
        }
        return Sys::Ret(data.len() as i64);
    }
    let (empty, writers) = {
        let p = pipe.borrow();
        (p.buf.is_empty(), p.writers)
    };
    if empty {
        return if writers == 0 {
            Sys::Ret(0)
        } else {
            wait_or_again(c, WaitKey::Object(id), nonblock)
        };
    }
    let data: Vec<u8> = pipe.borrow().buf.iter().take(total).copied().collect();
    let mut done = 0;
    for (base, len) in iovs {
        if done == data.len() {
            break;
        }
        let n = len.min(data.len() - done);
        if let Err(e) = c.write_mem(base, &data[done..done + n]) {
            if done == 0 {
                return err(e);
            }
            break;
        }
        done += n;
    }
    pipe.borrow_mut().buf.drain(..done);
    if let Some(key) = f.borrow().notify_key() {
        c.notify_read(&f, &key);
    }
    Sys::Ret(done as i64)
}
