//! File descriptor calls: read, write, close, dup, fcntl, ioctl, pipes, seek, stat of fds.

use super::{ret, sigio};
use crate::fs::devpts::{PtyMaster, PtyReplica};
use crate::fs::file::{FileRef, IoErr, IoctlCaller, OpenFile};
use crate::ipc::pipe;
use crate::kernel::task::Park;
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

pub(super) const MAX_RW: usize = 0x7fff_f000;

/// The length of a transfer to (`write`) or from guest buffers as Linux makes it: up to
/// the first byte that cannot be copied (a partial read or write), or all of it when even
/// the first cannot (the copy then fails with EFAULT).
fn room(c: &SysCtx, iovs: &[(u64, usize)], write: bool) -> usize {
    let mut total = 0usize;
    for &(base, len) in iovs {
        let n = c.accessible(base, len, write);
        total = total.saturating_add(n);
        if n < len {
            break;
        }
    }
    if total == 0 {
        iovs.iter().fold(0usize, |a, v| a.saturating_add(v.1))
    } else {
        total
    }
}

/// RLIMIT_FSIZE: how much of a write of `len` bytes at `off` (the file's position, or
/// its end with O_APPEND, when None) may go to `f` — all of it unless the limit is finite
/// and `f` a regular file, none past the limit (EFBIG, and SIGXFSZ, when not a byte may).
pub(super) fn fsize_room(
    c: &mut SysCtx,
    f: &FileRef,
    off: Option<u64>,
    len: usize,
) -> Result<usize, i32> {
    let limit = c.rlimit(c.tgid(), libc::RLIMIT_FSIZE as usize).0;
    if limit == u64::MAX || len == 0 {
        return Ok(len);
    }
    let mut fb = f.borrow_mut();
    let st = match fb.imp.stat() {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => st,
        _ => return Ok(len),
    };
    let pos = match off {
        Some(o) => o,
        None if fb.flags & libc::O_APPEND != 0 => st.st_size as u64,
        None => match fb.seek(0, libc::SEEK_CUR) {
            Ok(p) => p as u64,
            Err(_) => return Ok(len), // no position: a stream
        },
    };
    drop(fb);
    if pos >= limit {
        return Err(file_too_big(c));
    }
    Ok(len.min((limit - pos).min(usize::MAX as u64) as usize))
}

/// A file would grow past RLIMIT_FSIZE: SIGXFSZ to the caller, and EFBIG.
fn file_too_big(c: &mut SysCtx) -> i32 {
    c.raise(libc::SIGXFSZ);
    libc::EFBIG
}

fn do_read(
    c: &mut SysCtx,
    fd: u64,
    buf: u64,
    len: usize,
    off: Option<u64>,
) -> Result<usize, IoErr> {
    let f = c.file(fd)?;
    if let Some(mm) = proc_mem(&f) {
        return proc_mem_io(c, &f, mm, (buf, len), off, false);
    }
    let mask = f.borrow().imp.signal_mask();
    if let Some(mask) = mask {
        return read_signals(c, &f, mask, buf, len);
    }
    if f.borrow().readable() {
        c.refresh_proc_file(&f, off)?;
    }
    let len = room(c, &[(buf, len.min(MAX_RW))], true);
    if off.is_none() {
        if let Some(r) = super::socket::recv_in_place(c, &f, &[(buf, len)], len.min(1 << 24)) {
            return nonblock_outcome(&f, r);
        }
    }
    read_into(c, &f, &[(buf, len)], len, off)
}

/// A wait of a non-blocking file is EAGAIN (`OpenFile::read` does so for the others).
fn nonblock_outcome(f: &FileRef, r: Result<usize, IoErr>) -> Result<usize, IoErr> {
    match r {
        Err(IoErr::Block(_)) if f.borrow().flags & libc::O_NONBLOCK != 0 => {
            Err(IoErr::Errno(libc::EAGAIN))
        }
        r => r,
    }
}

/// A read of a signalfd: the calling task's pending signals of `mask` (its own first, then
/// its process's), as many `signalfd_siginfo` records as fit in `len`; blocks while there
/// is none.
fn read_signals(
    c: &mut SysCtx,
    f: &FileRef,
    mask: u64,
    buf: u64,
    len: usize,
) -> Result<usize, IoErr> {
    use crate::kernel::signal::SIGNALFD_SIGINFO_SIZE as SIGINFO_SIZE;
    let nonblock = {
        let fb = f.borrow();
        if !fb.readable() {
            return Err(IoErr::Errno(libc::EBADF));
        }
        fb.flags & libc::O_NONBLOCK != 0
    };
    if len < SIGINFO_SIZE {
        return Err(IoErr::Errno(libc::EINVAL));
    }
    // Check the buffer before taking signals that could then be lost.
    c.write_mem(buf, &[0u8; SIGINFO_SIZE])?;
    let mut out = Vec::new();
    while out.len() + SIGINFO_SIZE <= len.min(MAX_RW) {
        let Some(info) = c.dequeue_signal(mask) else {
            break;
        };
        out.extend_from_slice(&info.signalfd_record());
    }
    if out.is_empty() {
        return Err(if nonblock {
            IoErr::Errno(libc::EAGAIN)
        } else {
            IoErr::Block(crate::wait::signals_of(c.tgid()))
        });
    }
    c.write_mem(buf, &out)?;
    Ok(out.len())
}

/// Writes, continuing a parked write from its saved progress (a blocking pipe write
/// completes in full, as Linux does).
fn do_write(
    c: &mut SysCtx,
    fd: u64,
    buf: u64,
    len: usize,
    off: Option<u64>,
) -> Result<usize, IoErr> {
    let f = c.file(fd)?;
    if let Some(mm) = proc_mem(&f) {
        return proc_mem_io(c, &f, mm, (buf, len), off, true);
    }
    let tunable = f
        .borrow()
        .kind::<crate::fs::synthetic::SynthFile>()
        .and_then(|s| s.source.clone())
        .filter(|s| {
            s.first().is_some_and(|p| p == "sys") || crate::kernel::procfs::id_map_file(s).is_some()
        });
    if let Some(source) = tunable {
        // A tunable takes a value written at its start (and the position moves past it);
        // a write further on is taken and ignored, as Linux's strict sysctl writes.
        if !f.borrow().writable() {
            return Err(IoErr::Errno(libc::EBADF));
        }
        let at = off.unwrap_or(f.borrow().pos);
        // An id map is written whole, at its start, in less than a page (map_write).
        if crate::kernel::procfs::id_map_file(&source).is_some() && (at != 0 || len >= 4096) {
            return Err(IoErr::Errno(libc::EINVAL));
        }
        if at == 0 {
            let raw = c.read_mem(buf, len.min(4096))?;
            c.write_tunable(&source, &raw)?;
            if off.is_none() {
                f.borrow_mut().pos = len as u64;
            }
        }
        return Ok(len);
    }
    let comm_of = f
        .borrow()
        .kind::<crate::fs::proccomm::ProcComm>()
        .map(|p| p.tid);
    if let Some(tid) = comm_of {
        // A thread of the writer's own process takes the name; others EINVAL.
        if !f.borrow().writable() {
            return Err(IoErr::Errno(libc::EBADF));
        }
        let raw = c.read_mem(buf, len.min(crate::fs::proccomm::COMM_MAX))?;
        let name = crate::fs::proccomm::name_written(&raw);
        return if c.set_comm_of(tid, name) {
            Ok(len)
        } else {
            Err(IoErr::Errno(libc::EINVAL))
        };
    }
    let len = room(c, &[(buf, len.min(MAX_RW))], false);
    let len = fsize_room(c, &f, off, len)?;
    let is_pipe = f.borrow().notify_key();
    loop {
        let done = c.progress();
        let chunk = (len - done).min(1 << 20);
        let data = c.read_mem(buf + done as u64, chunk)?;
        let r = f.borrow_mut().write(&data, off.map(|o| o + done as u64));
        match r {
            Ok(n) => {
                if let Some(key) = &is_pipe {
                    c.notify_written(&f, key);
                }
                let total = c.add_progress(n);
                if total >= len || is_pipe.is_none() && n < chunk || n == 0 {
                    return Ok(total);
                }
            }
            Err(IoErr::Block(_)) if done > 0 && f.borrow().flags & libc::O_NONBLOCK != 0 => {
                return Ok(done);
            }
            Err(IoErr::Pipe) if done > 0 => {
                // The reader went away after part was written: that part, and SIGPIPE.
                c.sigpipe();
                return Ok(done);
            }
            Err(e) if done > 0 && !matches!(e, IoErr::Block(_)) => return Ok(done),
            Err(e) => return Err(e),
        }
    }
}

/// The address space a `/proc/PID/mem` description reads, if `f` is one.
fn proc_mem(f: &FileRef) -> Option<u64> {
    f.borrow()
        .kind::<crate::fs::procmem::ProcMem>()
        .map(|m| m.mm)
}

/// read/write/pread/pwrite of `/proc/PID/mem`: the offset is the address in address
/// space `mm`; as much as is accessible there from it moves (EIO when nothing is), and
/// the position advances by it.
fn proc_mem_io(
    c: &mut SysCtx,
    f: &FileRef,
    mm: u64,
    (buf, len): (u64, usize),
    off: Option<u64>,
    write: bool,
) -> Result<usize, IoErr> {
    let (allowed, pos) = {
        let fb = f.borrow();
        (if write { fb.writable() } else { fb.readable() }, fb.pos)
    };
    if !allowed {
        return Err(IoErr::Errno(libc::EBADF));
    }
    let at = off.unwrap_or(pos);
    let len = room(c, &[(buf, len.min(MAX_RW))], !write);
    let n = if write {
        let data = c.read_mem(buf, len)?;
        c.poke_mm(mm, at, &data)?
    } else {
        let data = c.peek_mm(mm, at, len)?;
        c.write_mem(buf, &data)?;
        data.len()
    };
    if off.is_none() {
        f.borrow_mut().pos = at.wrapping_add(n as u64);
    }
    Ok(n)
}

/// Parks on `key` until `timeout_ns` from the call's start (0: no deadline); EAGAIN once
/// it has passed (a socket's SO_RCVTIMEO and SO_SNDTIMEO).
pub(super) fn park_until(c: &mut SysCtx, key: WaitKey, timeout_ns: u64) -> Sys {
    let deadline = (timeout_ns > 0).then(|| c.deadline(timeout_ns));
    if deadline.is_some_and(|d| c.now() >= d) {
        return err(libc::EAGAIN);
    }
    Sys::Park(Park {
        keys: vec![key],
        deadline,
    })
}

/// The outcome of I/O on `fd`: a would-block parks until the socket's receive (or, when
/// `write`, send) timeout, if the file is a socket that has one.
fn io_outcome(c: &mut SysCtx, fd: u64, r: Result<usize, IoErr>, write: bool) -> Sys {
    let Err(IoErr::Block(key)) = r else {
        return c.io_result(r);
    };
    if !write {
        if let Some(r) = tty_read_timeout(c, fd, &key) {
            return r;
        }
    }
    let timeout = c.file(fd).ok().and_then(|f| {
        let mut fb = f.borrow_mut();
        let (rcv, snd) = crate::net::socket_of(&mut *fb.imp)?.timeouts();
        Some(if write { snd } else { rcv })
    });
    park_until(c, key, timeout.unwrap_or(0))
}

/// A blocked raw read of a terminal replica with VTIME: it parks until VTIME has passed,
/// then returns what has arrived, perhaps nothing (termios(3)). None for other reads.
fn tty_read_timeout(c: &mut SysCtx, fd: u64, key: &WaitKey) -> Option<Sys> {
    let f = c.file(fd).ok()?;
    let timeout = f.borrow().kind::<PtyReplica>()?.read_timeout_ns()?;
    let deadline = c.deadline(timeout);
    if c.now() < deadline {
        return Some(Sys::Park(Park {
            keys: vec![key.clone()],
            deadline: Some(deadline),
        }));
    }
    let [_, buf, len, ..] = c.args();
    let data = f.borrow().kind::<PtyReplica>()?.read_now(len as usize);
    if !data.is_empty() {
        c.notify_read(&f, key);
    }
    Some(ret(c.write_mem(buf, &data).map(|_| data.len() as i64)))
}

/// Job control of a read or write of a terminal replica (SIGTTIN; SIGTTOU with TOSTOP).
fn tty_io_check(c: &mut SysCtx, fd: u64, write: bool) -> Option<Sys> {
    let f = c.file(fd).ok()?;
    let tostop = f.borrow().kind::<PtyReplica>()?.pty().borrow().tostop();
    match write {
        false => job_control(c, &f, libc::SIGTTIN),
        true if tostop => job_control(c, &f, libc::SIGTTOU),
        true => None,
    }
}

pub(super) fn read(c: &mut SysCtx) -> Sys {
    let [fd, buf, len, ..] = c.args();
    if let Some(r) = tty_io_check(c, fd, false) {
        return r;
    }
    let r = do_read(c, fd, buf, len as usize, None);
    io_outcome(c, fd, r, false)
}

pub(super) fn write(c: &mut SysCtx) -> Sys {
    let [fd, buf, len, ..] = c.args();
    if let Some(r) = tty_io_check(c, fd, true) {
        return r;
    }
    let r = do_write(c, fd, buf, len as usize, None);
    io_outcome(c, fd, r, true)
}

/// pread/pwrite at `off` of `len` bytes whose end is past the largest offset (a file open
/// for that access): EINVAL, as Linux's rw_verify_area (`/proc/PID/mem` has unsigned
/// offsets, and no such limit).
fn end_past_max_offset(c: &SysCtx, fd: u64, len: u64, off: u64, write: bool) -> bool {
    let Ok(f) = c.file(fd) else {
        return false;
    };
    let fb = f.borrow();
    let open_for = if write { fb.writable() } else { fb.readable() };
    open_for
        && fb.kind::<crate::fs::procmem::ProcMem>().is_none()
        && off.checked_add(len).is_none_or(|end| end > i64::MAX as u64)
}

pub(super) fn pread(c: &mut SysCtx) -> Sys {
    let [fd, buf, len, off, ..] = c.args();
    if (off as i64) < 0 || end_past_max_offset(c, fd, len, off, false) {
        return err(libc::EINVAL);
    }
    let r = do_read(c, fd, buf, len as usize, Some(off));
    c.io_result(r)
}

pub(super) fn pwrite(c: &mut SysCtx) -> Sys {
    let [fd, buf, len, off, ..] = c.args();
    if (off as i64) < 0 || end_past_max_offset(c, fd, len, off, true) {
        return err(libc::EINVAL);
    }
    let r = do_write(c, fd, buf, len as usize, Some(off));
    c.io_result(r)
}

/// An iovec array of `cnt` entries at `iov`: (base, len) pairs.
pub(super) fn read_iovecs(c: &SysCtx, iov: u64, cnt: u64) -> Result<Vec<(u64, usize)>, i32> {
    if cnt > 1024 {
        return Err(libc::EINVAL);
    }
    let raw = c.read_mem(iov, cnt as usize * 16)?;
    let v: Vec<(u64, usize)> = raw
        .chunks(16)
        .map(|c| {
            (
                u64::from_le_bytes(c[..8].try_into().expect("8")),
                u64::from_le_bytes(c[8..].try_into().expect("8")) as usize,
            )
        })
        .collect();
    // As Linux: a length (or the total) past SSIZE_MAX is EINVAL, a buffer not inside the
    // user address range (even an empty one) EFAULT.
    const TASK_SIZE: u64 = (1 << 47) - 4096;
    let mut total: usize = 0;
    for &(base, len) in &v {
        total = total
            .checked_add(len)
            .filter(|&t| t <= isize::MAX as usize)
            .ok_or(libc::EINVAL)?;
        if len as u64 > TASK_SIZE || base > TASK_SIZE - len as u64 {
            return Err(libc::EFAULT);
        }
    }
    Ok(v)
}

/// readv, and preadv when `positioned`.
pub(super) fn readv(c: &mut SysCtx, positioned: bool) -> Sys {
    let a = c.args();
    readv_at(c, a[0], (a[1], a[2]), positioned.then_some(a[3]), false)
}

/// RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT, RWF_APPEND and RWF_NOAPPEND: the flags
/// preadv2 and pwritev2 take (RWF_ATOMIC and RWF_DONTCACHE need support no file here
/// has: EOPNOTSUPP, as for an unknown flag).
const RWF_KNOWN: u64 = 0x3f;
const RWF_DSYNC: u64 = 2;
const RWF_SYNC: u64 = 4;
const RWF_NOWAIT: u64 = 8;
const RWF_APPEND: u64 = 0x10;

/// The arguments of preadv2 and pwritev2 (fd, iov, iovcnt, offset, flags): unknown
/// flags EOPNOTSUPP; the offset -1 is the file's position (None), other negative ones
/// EINVAL.
type Args2 = (u64, u64, u64, Option<u64>, u64);

fn args2(c: &SysCtx) -> Result<Args2, i32> {
    let [fd, iov, cnt, off, _, flags] = c.args();
    if flags & !RWF_KNOWN != 0 {
        return Err(libc::EOPNOTSUPP);
    }
    let off = match off as i64 {
        -1 => None,
        o if o < 0 => return Err(libc::EINVAL),
        o => Some(o as u64),
    };
    Ok((fd, iov, cnt, off, flags))
}

/// preadv2(fd, iov, iovcnt, offset, 0, flags).
pub(super) fn preadv2(c: &mut SysCtx) -> Sys {
    let (fd, iov, cnt, off, flags) = tryk!(args2(c));
    readv_at(c, fd, (iov, cnt), off, flags & RWF_NOWAIT != 0)
}

/// pwritev2(fd, iov, iovcnt, offset, 0, flags). RWF_APPEND writes at the end whatever
/// the offset (the position moves past it only without one); RWF_NOAPPEND is taken and
/// changes nothing (an O_APPEND file still writes at its end).
pub(super) fn pwritev2(c: &mut SysCtx) -> Sys {
    let (fd, iov, cnt, off, flags) = tryk!(args2(c));
    let f = tryk!(c.file(fd));
    let r = if flags & RWF_APPEND != 0 {
        let end = tryk!(f.borrow().imp.stat()).st_size as u64;
        let r = writev_at(c, fd, (iov, cnt), Some(end), flags & RWF_NOWAIT != 0);
        if let (Sys::Ret(n), None) = (&r, off) {
            let _ = f
                .borrow_mut()
                .seek((end + *n as u64) as i64, libc::SEEK_SET);
        }
        r
    } else {
        writev_at(c, fd, (iov, cnt), off, flags & RWF_NOWAIT != 0)
    };
    if flags & (RWF_DSYNC | RWF_SYNC) != 0 && matches!(r, Sys::Ret(n) if n > 0) {
        if let Err(e) = f.borrow_mut().io().and_then(|i| i.sync()) {
            return err(e);
        }
    }
    r
}

/// sync_file_range(fd, offset, nbytes, flags): the range of a regular file (or a
/// directory) written back; this runs its file's sync whenever a flag asks for any
/// writing or waiting.
pub(super) fn sync_file_range(c: &mut SysCtx) -> Sys {
    const VALID: u64 = 1 | 2 | 4; // WAIT_BEFORE, WRITE, WAIT_AFTER
    let [fd, off, n, flags, ..] = c.args();
    if flags & !VALID != 0 || (off as i64) < 0 || (n as i64) < 0 {
        return err(libc::EINVAL);
    }
    if off.checked_add(n).is_none_or(|e| e > i64::MAX as u64) {
        return err(libc::EINVAL);
    }
    let f = tryk!(c.file(fd));
    let mode = tryk!(f.borrow().imp.stat()).st_mode & libc::S_IFMT;
    if !matches!(
        mode,
        libc::S_IFREG | libc::S_IFDIR | libc::S_IFBLK | libc::S_IFLNK
    ) {
        return err(libc::ESPIPE);
    }
    if flags != 0 {
        tryk!(f.borrow_mut().io().and_then(|i| i.sync()));
    }
    Sys::Ret(0)
}

/// A vectored read of `fd` at `off` (its position when None); `nowait`: EAGAIN rather
/// than block (RWF_NOWAIT).
fn readv_at(
    c: &mut SysCtx,
    fd: u64,
    (iov, cnt): (u64, u64),
    off: Option<u64>,
    nowait: bool,
) -> Sys {
    let iovs = tryk!(read_iovecs(c, iov, cnt));
    let total = room(c, &iovs, true).min(MAX_RW);
    let f = tryk!(c.file(fd));
    if off.is_none() {
        if let Some(r) = super::socket::recv_in_place(c, &f, &iovs, total.min(1 << 24)) {
            let r = nonblock_outcome(&f, r);
            return io_outcome(c, fd, no_wait(r, nowait), false);
        }
    }
    if f.borrow().readable() {
        tryk!(c.refresh_proc_file(&f, off));
    }
    let r = read_into(c, &f, &iovs, total, off);
    match r {
        Err(IoErr::Errno(libc::EFAULT)) => err(libc::EFAULT),
        r => io_outcome(c, fd, no_wait(r, nowait), false),
    }
}

/// What one read of a file's kind hands out at most.
const READ_CHUNK: usize = 1 << 24;

/// Reads up to `total` bytes of `f` (at `off`, else at its position) into the guest
/// buffers `iovs`, a chunk at a time while chunks come whole: a read of a big file or of
/// /dev/zero returns all it asked for (up to MAX_RW), as on Linux, without the sentry
/// holding more than a chunk. EFAULT when not a byte could be stored.
fn read_into(
    c: &mut SysCtx,
    f: &FileRef,
    iovs: &[(u64, usize)],
    total: usize,
    off: Option<u64>,
) -> Result<usize, IoErr> {
    let mut done = 0usize;
    loop {
        let want = (total - done).min(READ_CHUNK);
        let r = f.borrow_mut().read(want, off.map(|o| o + done as u64));
        let data = match r {
            Ok(d) => d,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let got = data.len();
        if let Err(e) = scatter(c, iovs, done, &data) {
            if done == 0 {
                return Err(IoErr::Errno(e));
            }
            break;
        }
        done += got;
        if got < want || done >= total {
            break;
        }
    }
    if let Some(key) = f.borrow().notify_key() {
        c.notify_read(f, &key);
    }
    Ok(done)
}

/// Stores `data` into the guest buffers `iovs`, from byte `at` of them on.
fn scatter(c: &mut SysCtx, iovs: &[(u64, usize)], mut at: usize, data: &[u8]) -> Result<(), i32> {
    let mut put = 0;
    for &(base, len) in iovs {
        if put == data.len() {
            break;
        }
        if at >= len {
            at -= len;
            continue;
        }
        let n = (len - at).min(data.len() - put);
        c.write_mem(base + at as u64, &data[put..put + n])?;
        put += n;
        at = 0;
    }
    Ok(())
}

/// writev, and pwritev when `positioned`.
pub(super) fn writev(c: &mut SysCtx, positioned: bool) -> Sys {
    let a = c.args();
    writev_at(c, a[0], (a[1], a[2]), positioned.then_some(a[3]), false)
}

/// The first `left` bytes of the guest buffers `iovs`.
pub(super) fn gather(c: &SysCtx, iovs: &[(u64, usize)], mut left: usize) -> Result<Vec<u8>, i32> {
    let mut data = Vec::with_capacity(left.min(1 << 20));
    for &(base, len) in iovs {
        if left == 0 {
            break;
        }
        let n = len.min(left);
        data.extend(c.read_mem(base, n)?);
        left -= n;
    }
    Ok(data)
}

/// A would-block outcome of an RWF_NOWAIT call: EAGAIN.
fn no_wait<T>(r: Result<T, IoErr>, nowait: bool) -> Result<T, IoErr> {
    match r {
        Err(IoErr::Block(_)) if nowait => Err(IoErr::Errno(libc::EAGAIN)),
        r => r,
    }
}

/// A vectored write of `fd` at `off` (its position when None); `nowait` as for
/// [`readv_at`].
fn writev_at(
    c: &mut SysCtx,
    fd: u64,
    (iov, cnt): (u64, u64),
    off: Option<u64>,
    nowait: bool,
) -> Sys {
    let iovs = tryk!(read_iovecs(c, iov, cnt));
    let f = tryk!(c.file(fd));
    let left = room(c, &iovs, false).min(MAX_RW);
    let left = tryk!(fsize_room(c, &f, off, left));
    let data = tryk!(gather(c, &iovs, left));
    let r = f.borrow_mut().write(&data, off);
    if let Some(key) = f.borrow().notify_key() {
        c.notify_written(&f, &key);
    }
    io_outcome(c, fd, no_wait(r, nowait), true)
}

pub(super) fn close(c: &mut SysCtx) -> Sys {
    let fd = c.arg(0);
    if fd > i32::MAX as u64 {
        return err(libc::EBADF);
    }
    ret(c.close_fd(fd as i32).map(|_| 0))
}

pub(super) fn close_range(c: &mut SysCtx) -> Sys {
    let (lo, hi, flags) = (c.arg(0) as u32, c.arg(1) as u32, c.arg(2) as u32);
    if lo > hi {
        return err(libc::EINVAL);
    }
    let fds: Vec<i32> = c
        .fds()
        .borrow()
        .fds
        .keys()
        .copied()
        .filter(|&f| f as u32 >= lo && f as u32 <= hi)
        .collect();
    for fd in fds {
        if flags & 4 != 0 {
            // CLOSE_RANGE_CLOEXEC
            if let Some(e) = c.fds().borrow_mut().fds.get_mut(&fd) {
                e.cloexec = true;
            }
        } else {
            let _ = c.close_fd(fd);
        }
    }
    Sys::Ret(0)
}

pub(super) fn lseek(c: &mut SysCtx) -> Sys {
    let [fd, off, whence, ..] = c.args();
    let f = tryk!(c.file(fd));
    let r = f.borrow_mut().seek(off as i64, whence as i32);
    ret(r)
}

pub(super) fn dup(c: &mut SysCtx) -> Sys {
    let f = tryk!(c.file(c.arg(0)));
    ret(c.install_again(f, false).map(|fd| fd as i64))
}

/// dup3, and dup2 when `dup2`.
pub(super) fn dup3(c: &mut SysCtx, old: u64, new: u64, flags: u64, dup2: bool) -> Sys {
    let f = tryk!(c.file(old));
    if new > i32::MAX as u64 || new as i32 >= c.fds().borrow().limit {
        return err(libc::EBADF);
    }
    if old == new {
        return if dup2 {
            Sys::Ret(new as i64)
        } else {
            err(libc::EINVAL)
        };
    }
    if flags & !(libc::O_CLOEXEC as u64) != 0 {
        return err(libc::EINVAL);
    }
    let _ = c.close_fd(new as i32);
    c.fds().borrow_mut().set(new as i32, f, flags != 0);
    Sys::Ret(new as i64)
}

pub(super) fn fcntl(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let f = tryk!(c.file(a[0]));
    let fd = a[0] as i32;
    let cmd = a[1] as i32;
    // An O_PATH description has only the descriptor flags, dup and F_GETFL.
    let path_ok = [
        libc::F_DUPFD,
        libc::F_DUPFD_CLOEXEC,
        libc::F_GETFD,
        libc::F_SETFD,
        libc::F_GETFL,
    ];
    if f.borrow().path_only() && !path_ok.contains(&cmd) {
        return err(libc::EBADF);
    }
    match cmd {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let cloexec = a[1] as i32 == libc::F_DUPFD_CLOEXEC;
            let min = a[2] as i32;
            let mut fds = c.fds().borrow_mut();
            if min < 0 || min >= fds.limit {
                return err(libc::EINVAL);
            }
            ret(fds.add(f, cloexec, min).map(|n| n as i64))
        }
        libc::F_GETFD => Sys::Ret(c.fds().borrow().fds[&fd].cloexec as i64),
        libc::F_SETFD => {
            c.fds()
                .borrow_mut()
                .fds
                .get_mut(&fd)
                .expect("checked")
                .cloexec = a[2] & 1 != 0;
            Sys::Ret(0)
        }
        libc::F_GETFL => Sys::Ret(f.borrow().flags as i64),
        libc::F_SETFL => {
            let settable = libc::O_APPEND
                | libc::O_NONBLOCK
                | libc::O_ASYNC
                | libc::O_DIRECT
                | libc::O_NOATIME;
            sigio::set_status_flags(c, &f, fd, settable, a[2] as i32);
            Sys::Ret(0)
        }
        libc::F_GETLK
        | libc::F_SETLK
        | libc::F_SETLKW
        | libc::F_OFD_GETLK
        | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW => super::lock::fcntl_lock(c, f, cmd, a[2]),
        libc::F_GETPIPE_SZ => match pipe::of(&*f.borrow().imp) {
            Some(p) => Sys::Ret(p.borrow().capacity as i64),
            None => err(libc::EBADF),
        },
        libc::F_SETPIPE_SZ => match pipe::of(&*f.borrow().imp) {
            // The size is an unsigned int.
            Some(p) => ret(p
                .borrow_mut()
                .resize(a[2] as u32 as usize)
                .map(|n| n as i64)),
            None => err(libc::EBADF),
        },
        libc::F_SETOWN
        | libc::F_GETOWN
        | sigio::F_SETOWN_EX
        | sigio::F_GETOWN_EX
        | sigio::F_SETSIG
        | sigio::F_GETSIG => sigio::fcntl(c, &f, cmd, a[2]),
        libc::F_GET_SEALS => super::memfd::fcntl_seals(c, &f, None),
        libc::F_ADD_SEALS => super::memfd::fcntl_seals(c, &f, Some(a[2])),
        _ => err(libc::EINVAL),
    }
}

pub(super) fn ioctl(c: &mut SysCtx) -> Sys {
    let [fd, req, arg, ..] = c.args();
    let f = tryk!(c.file(fd));
    if f.borrow().path_only() {
        return err(libc::EBADF);
    }
    if let Some(r) = sigio::ioctl(c, &f, fd as i32, req, arg) {
        return r;
    }
    match req as libc::c_ulong {
        libc::FIONBIO => {
            let v = tryk!(c.read_u32(arg));
            let mut fb = f.borrow_mut();
            if v != 0 {
                fb.flags |= libc::O_NONBLOCK;
            } else {
                fb.flags &= !libc::O_NONBLOCK;
            }
            return Sys::Ret(0);
        }
        libc::FIOCLEX | libc::FIONCLEX => {
            if let Some(e) = c.fds().borrow_mut().fds.get_mut(&(fd as i32)) {
                e.cloexec = req as libc::c_ulong == libc::FIOCLEX;
            }
            return Sys::Ret(0);
        }
        libc::FIONREAD if !is_tty(&f) => {
            // What the kind counts (pipes, sockets, inotify); 0 for the others.
            let n = f.borrow().imp.bytes_ready().unwrap_or(0) as u32;
            return ret(c.write_u32(arg, n).map(|_| 0));
        }
        _ => {}
    }
    if crate::net::ifreq::handles(req) {
        let socket = crate::net::socket_of(&mut *f.borrow_mut().imp)
            .map(|s| (s.getsockopt(libc::SOL_SOCKET, libc::SO_DOMAIN), s.net()));
        if let Some((family, net)) = socket {
            let family = family.map_or(0, |v| crate::net::int_opt(&v).unwrap_or(0));
            // Changes need CAP_NET_ADMIN over the socket's namespace, one a task made.
            let admin = !net.is_initial()
                && c.creds()
                    .capable_in(&net.owner, crate::creds::CAP_NET_ADMIN);
            return ret(crate::net::ifreq::ioctl(
                &mut Caller(c),
                req,
                arg,
                family,
                &net,
                admin,
            ));
        }
    }
    if req == crate::fs::devpts::TIOCGPTPEER {
        return open_peer(c, &f, arg as i32);
    }
    if matches!(
        req as libc::c_ulong,
        libc::TIOCSPGRP
            | libc::TCSETS
            | libc::TCSETSW
            | libc::TCSETSF
            | libc::TCFLSH
            | libc::TCXONC
            | libc::TIOCSWINSZ
    ) {
        if let Some(r) = job_control(c, &f, libc::SIGTTOU) {
            return r;
        }
    }
    let mut caller = Caller(c);
    let r = f
        .borrow_mut()
        .io()
        .and_then(|imp| imp.ioctl(&mut caller, req, arg));
    if r.is_ok() && is_tty(&f) {
        // A flush or new settings may let a waiting reader or writer go on.
        if let Some(key) = f.borrow().notify_key() {
            c.notify(&key);
        }
    }
    ret(r)
}

/// Job control (tty_check_change, n_tty's job_control): a process of a background group
/// of the session whose controlling terminal `f` is, asking for what only the foreground
/// may do, gets `sig` (SIGTTIN for a read, SIGTTOU for a write with TOSTOP or a change of
/// the terminal) sent to its group and waits for it (the call is made again once the
/// group continues); with the signal ignored or blocked, a read is EIO and a change goes
/// ahead; an orphaned group gets EIO. None: the call goes on.
fn job_control(c: &mut SysCtx, f: &FileRef, sig: i32) -> Option<Sys> {
    let pty = {
        let fb = f.borrow();
        match (fb.kind::<PtyReplica>(), fb.kind::<PtyMaster>()) {
            (Some(r), _) => r.pty().clone(),
            (_, Some(m)) => m.pty().clone(),
            _ => return None,
        }
    };
    let (session, fg) = pty.borrow().session();
    let fg = fg.filter(|_| session == Some(c.sid()))?;
    let pgid = c.pgid();
    if pgid == fg {
        return None;
    }
    let ignored = c.sigmask() & crate::kernel::signal::bit(sig) != 0
        || c.sigaction(sig).handler == crate::kernel::signal::SIG_IGN;
    if ignored {
        return (sig == libc::SIGTTIN).then(|| err(libc::EIO));
    }
    if c.group_orphaned(pgid) {
        return Some(err(libc::EIO));
    }
    let _ = c.kill(-pgid, sig);
    Some(Sys::Park(Park {
        keys: vec![WaitKey::Nothing],
        deadline: None,
    }))
}

/// Whether `f` is an end of a pseudo-terminal (whose ioctls it serves itself).
fn is_tty(f: &FileRef) -> bool {
    let fb = f.borrow();
    fb.kind::<PtyMaster>().is_some() || fb.kind::<PtyReplica>().is_some()
}

/// TIOCGPTPEER on a pty's master: an fd of a new description of its replica, opened with
/// `flags` as open(2) would open /dev/pts/N (so the open works where no path reaches
/// devpts); ENOTTY on any other file.
fn open_peer(c: &mut SysCtx, f: &FileRef, flags: i32) -> Sys {
    let Some(pty) = f.borrow().kind::<PtyMaster>().map(|m| m.pty().clone()) else {
        return err(libc::ENOTTY);
    };
    if flags & !(libc::O_ACCMODE | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC) != 0
        || flags & libc::O_ACCMODE == libc::O_ACCMODE
    {
        return err(libc::EINVAL);
    }
    tryk!(pty.borrow().may_open_replica());
    let path = format!("/dev/pts/{}", pty.borrow().index());
    let imp = c.open_replica(pty, flags);
    let file = OpenFile::new(
        Box::new(imp),
        flags & (libc::O_ACCMODE | libc::O_NONBLOCK) | crate::kernel::O_LARGEFILE,
        path,
    );
    ret(c
        .install(file, flags & libc::O_CLOEXEC != 0)
        .map(|fd| fd as i64))
}

/// pipe2, and pipe with no flags.
pub(super) fn pipe2(c: &mut SysCtx, addr: u64, flags: u64) -> Sys {
    let flags = flags as i32;
    if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) != 0 {
        return err(libc::EINVAL);
    }
    let id = c.new_obj_id();
    let (r, w) = pipe::pair(id);
    let nb = flags & libc::O_NONBLOCK;
    let r = OpenFile::new(Box::new(r), libc::O_RDONLY | nb, format!("pipe:[{id}]"));
    let w = OpenFile::new(Box::new(w), libc::O_WRONLY | nb, format!("pipe:[{id}]"));
    install_pair(c, r, w, flags & libc::O_CLOEXEC != 0, addr)
}

/// Installs two new files (a pipe's ends, a socket pair) at the lowest free fds, both or
/// neither, and writes the two fds to `addr`.
pub(super) fn install_pair(
    c: &mut SysCtx,
    a: FileRef,
    b: FileRef,
    cloexec: bool,
    addr: u64,
) -> Sys {
    c.opened(&a);
    c.opened(&b);
    let files = c.fds().clone();
    let added = {
        let mut table = files.borrow_mut();
        table
            .add(a, cloexec, 0)
            .and_then(|afd| match table.add(b, cloexec, 0) {
                Ok(bfd) => Ok((afd, bfd)),
                Err(e) => {
                    table.remove(afd);
                    Err(e)
                }
            })
    };
    let (afd, bfd) = tryk!(added);
    let mut out = afd.to_le_bytes().to_vec();
    out.extend_from_slice(&bfd.to_le_bytes());
    if let Err(e) = c.write_mem(addr, &out) {
        // Taken out of the table first: dropping a file may reach the table again.
        let a = files.borrow_mut().remove(afd);
        let b = files.borrow_mut().remove(bfd);
        drop((a, b));
        return err(e);
    }
    Sys::Ret(0)
}

pub(super) fn getdents64(c: &mut SysCtx) -> Sys {
    dirents(c, false)
}

/// getdents, the old form: the same records with `d_type` moved to each record's last byte.
pub(super) fn getdents(c: &mut SysCtx) -> Sys {
    dirents(c, true)
}

fn dirents(c: &mut SysCtx, old: bool) -> Sys {
    let [fd, buf, len, ..] = c.args();
    // The count is an unsigned int; Linux refuses one past INT_MAX.
    // Records are copied out one by one, as Linux does: a buffer that stops being
    // writable part way gets the records that fit before that, and EFAULT when not even
    // one does; the count is an unsigned int Linux takes as an int, so past INT_MAX no
    // record fits (EINVAL). At the directory's end both return 0. Nothing is consumed
    // that is not copied out.
    let len = len as u32 as usize;
    let f = tryk!(c.file(fd));
    let room = if len > i32::MAX as usize {
        0
    } else {
        c.accessible(buf, len, true)
    };
    tryk!(c.refresh_proc_file(&f, None));
    let r = f.borrow_mut().getdents(room);
    let mut d = match r {
        Ok(d) => d,
        Err(libc::EINVAL) if room < len && len <= i32::MAX as usize => return err(libc::EFAULT),
        Err(e) => return err(e),
    };
    if old {
        to_old_dirents(&mut d);
    }
    ret(c.write_mem(buf, &d).map(|_| d.len() as i64))
}

/// Rewrites linux_dirent64 records (ino, off, reclen, type, name) in place as the old
/// linux_dirent (ino, off, reclen, name, ..., type in the last byte): both are 20 bytes
/// and the name rounded up to 8, so every record keeps its length.
fn to_old_dirents(d: &mut [u8]) {
    let mut at = 0;
    while at + 19 < d.len() {
        let reclen = u16::from_le_bytes([d[at + 16], d[at + 17]]) as usize;
        if reclen < 20 || at + reclen > d.len() {
            break;
        }
        let rec = &mut d[at..at + reclen];
        let ty = rec[18];
        rec.copy_within(19..reclen, 18);
        rec[reclen - 1] = ty;
        at += reclen;
    }
}

pub(super) fn fsync(c: &mut SysCtx) -> Sys {
    let f = tryk!(c.file(c.arg(0)));
    let r = f.borrow_mut().io().and_then(|imp| imp.sync());
    ret(r.map(|_| 0))
}

pub(super) fn ftruncate(c: &mut SysCtx) -> Sys {
    let [fd, len, ..] = c.args();
    let f = tryk!(c.file(fd));
    if (len as i64) < 0 {
        return err(libc::EINVAL);
    }
    let r = truncate_file(c, &f, len);
    ret(r.map(|_| 0))
}

/// ftruncate and truncate: EFBIG (and SIGXFSZ) past RLIMIT_FSIZE, checked as Linux
/// does only once the file could be truncated at all.
pub(super) fn truncate_file(c: &mut SysCtx, f: &FileRef, len: u64) -> Result<(), i32> {
    {
        let fb = f.borrow();
        if fb.path_only() || !fb.writable() || fb.imp.is_dir() {
            drop(fb);
            return f.borrow_mut().truncate(len);
        }
    }
    let limit = c.rlimit(c.tgid(), libc::RLIMIT_FSIZE as usize).0;
    if len > limit {
        return Err(file_too_big(c));
    }
    f.borrow_mut().truncate(len)
}

pub(super) fn fallocate(c: &mut SysCtx) -> Sys {
    let [fd, mode, off, len, ..] = c.args();
    let f = tryk!(c.file(fd));
    let r = f.borrow_mut().allocate(mode as i32, off as i64, len as i64);
    ret(r.map(|_| 0))
}

pub(super) fn fstat(c: &mut SysCtx) -> Sys {
    let [fd, buf, ..] = c.args();
    let f = tryk!(c.file(fd));
    let st = f.borrow().imp.stat();
    match st {
        Ok(st) => {
            let st = super::fs::as_seen(c, st);
            ret(c.write_mem(buf, &crate::fs::stat_bytes(&st)).map(|_| 0))
        }
        Err(e) => err(e),
    }
}

/// The task an ioctl is made by: its memory and its process group and session.
struct Caller<'a, 'k>(&'a mut SysCtx<'k>);

impl IoctlCaller for Caller<'_, '_> {
    fn copy_in(&self, addr: u64, len: usize) -> Result<Vec<u8>, i32> {
        self.0.read_mem(addr, len)
    }

    fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), i32> {
        self.0.write_mem(addr, data)
    }

    fn pgid(&self) -> i32 {
        self.0.pgid()
    }

    fn sid(&self) -> i32 {
        self.0.sid()
    }

    fn tgid(&self) -> i32 {
        self.0.tgid()
    }

    fn group_session(&self, pgid: i32) -> Option<i32> {
        self.0.group_session(pgid)
    }

    fn capable(&self, cap: u32) -> bool {
        self.0.creds().has_init(cap)
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::Kernel;
    use crate::testing::{kernel, SCRATCH};

    const AT: u64 = libc::AT_FDCWD as u64;

    fn sys(k: &mut Kernel, t: i32, nr: i64, args: [u64; 6]) -> i64 {
        k.call(t, nr, args).expect("does not park")
    }

    fn open(k: &mut Kernel, t: i32, path: &str, flags: i32) -> i64 {
        let p = k.put_str(t, SCRATCH, path);
        sys(k, t, libc::SYS_openat, [AT, p, flags as u64, 0o644, 0, 0])
    }

    /// A pipe of task `t`: (read fd, write fd).
    fn pipe(k: &mut Kernel, t: i32) -> (u64, u64) {
        assert_eq!(
            sys(k, t, libc::SYS_pipe2, [SCRATCH + 512, 0, 0, 0, 0, 0]),
            0
        );
        let b = k.get(t, SCRATCH + 512, 8);
        let fd = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as u64;
        (fd(0), fd(4))
    }

    fn write(k: &mut Kernel, t: i32, fd: u64, data: &[u8]) -> Option<i64> {
        k.put(t, SCRATCH + 4096, data);
        k.call(
            t,
            libc::SYS_write,
            [fd, SCRATCH + 4096, data.len() as u64, 0, 0, 0],
        )
    }

    fn read(k: &mut Kernel, t: i32, fd: u64, len: usize) -> Vec<u8> {
        let n = sys(
            k,
            t,
            libc::SYS_read,
            [fd, SCRATCH + 8192, len as u64, 0, 0, 0],
        );
        assert!(n >= 0, "read: {n}");
        k.get(t, SCRATCH + 8192, n as usize)
    }

    fn readlink(k: &mut Kernel, t: i32, path: &str) -> String {
        let p = k.put_str(t, SCRATCH, path);
        let n = sys(
            k,
            t,
            libc::SYS_readlinkat,
            [AT, p, SCRATCH + 256, 200, 0, 0],
        );
        assert!(n > 0, "readlink {path}: {n}");
        String::from_utf8(k.get(t, SCRATCH + 256, n as usize)).unwrap()
    }

    fn lstat_mode(k: &mut Kernel, t: i32, path: &str, follow: bool) -> u32 {
        let p = k.put_str(t, SCRATCH, path);
        let flags = if follow {
            0
        } else {
            libc::AT_SYMLINK_NOFOLLOW as u64
        };
        let r = sys(
            k,
            t,
            libc::SYS_newfstatat,
            [AT, p, SCRATCH + 1024, flags, 0, 0],
        );
        assert_eq!(r, 0, "stat {path}");
        u32::from_le_bytes(k.get(t, SCRATCH + 1024 + 24, 4).try_into().unwrap())
    }

    #[test]
    fn proc_fd_links_reopen_the_pipe_itself() {
        let d = tempfile::tempdir().unwrap();
        let mut k = kernel(d.path());
        let t = k.test_process(0, 0);
        let (r, w) = pipe(&mut k, t);
        let text = readlink(&mut k, t, &format!("/proc/self/fd/{r}"));
        assert!(text.starts_with("pipe:[") && text.ends_with(']'), "{text}");
        assert_eq!(readlink(&mut k, t, &format!("/dev/fd/{w}")), text);
        // The link shows the access mode; following it, the pipe's inode.
        let link = lstat_mode(&mut k, t, &format!("/proc/self/fd/{w}"), false);
        assert_eq!(link, libc::S_IFLNK | 0o300);
        let target = lstat_mode(&mut k, t, &format!("/proc/self/fd/{w}"), true);
        assert_eq!(target & libc::S_IFMT, libc::S_IFIFO);
        // A new write end of the same pipe, through /dev/fd: what it writes comes out
        // of the old read end.
        let w2 = open(&mut k, t, &format!("/dev/fd/{w}"), libc::O_WRONLY) as u64;
        assert!(w2 > w);
        assert_eq!(write(&mut k, t, w2, b"through /dev/fd"), Some(15));
        assert_eq!(read(&mut k, t, r, 100), b"through /dev/fd");
        // O_RDWR gives both ends; the old writer closing leaves it a writer, so a read
        // of the empty pipe parks instead of seeing end of file.
        let rw = open(&mut k, t, &format!("/proc/self/fd/{r}"), libc::O_RDWR) as u64;
        for fd in [w, w2] {
            assert_eq!(sys(&mut k, t, libc::SYS_close, [fd, 0, 0, 0, 0, 0]), 0);
        }
        assert_eq!(write(&mut k, t, rw, b"both"), Some(4));
        assert_eq!(read(&mut k, t, r, 100), b"both");
        assert_eq!(
            k.call(t, libc::SYS_read, [rw, SCRATCH + 8192, 1, 0, 0, 0]),
            None
        );
        // A path under a pipe is not a directory.
        let p = format!("/proc/self/fd/{r}/x");
        assert_eq!(open(&mut k, t, &p, libc::O_RDONLY), -(libc::ENOTDIR as i64));
    }

    #[test]
    fn proc_fd_links_reach_host_files_also_once_deleted() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), b"0123456789").unwrap();
        let mut k = kernel(d.path());
        let t = k.test_process(0, 0);
        let fd = open(&mut k, t, "/f", libc::O_RDWR) as u64;
        assert_eq!(readlink(&mut k, t, &format!("/proc/self/fd/{fd}")), "/f");
        assert_eq!(read(&mut k, t, fd, 4), b"0123");
        // A new description: its own offset.
        let again = open(&mut k, t, &format!("/proc/self/fd/{fd}"), libc::O_RDONLY) as u64;
        assert_eq!(read(&mut k, t, again, 2), b"01");
        std::fs::remove_file(d.path().join("f")).unwrap();
        let gone = open(&mut k, t, &format!("/proc/self/fd/{fd}"), libc::O_RDONLY) as u64;
        assert_eq!(read(&mut k, t, gone, 3), b"012");
        assert_eq!(read(&mut k, t, gone, 3), b"345");
        assert_eq!(
            read(&mut k, t, fd, 2),
            b"45",
            "the first description's own offset"
        );
        // An anonymous inode cannot be opened again.
        let efd = sys(&mut k, t, libc::SYS_eventfd2, [0, 0, 0, 0, 0, 0]);
        assert_eq!(
            readlink(&mut k, t, &format!("/proc/self/fd/{efd}")),
            "anon_inode:[eventfd]"
        );
        let p = format!("/proc/self/fd/{efd}");
        assert_eq!(open(&mut k, t, &p, libc::O_RDONLY), -(libc::ENXIO as i64));
    }

    #[test]
    fn an_o_path_description_names_a_file_without_io() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), b"data").unwrap();
        std::fs::create_dir(d.path().join("dir")).unwrap();
        let mut k = kernel(d.path());
        let t = k.test_process(0, 0);
        let fd = open(&mut k, t, "/f", libc::O_PATH | libc::O_CREAT | libc::O_RDWR) as u64;
        assert!(fd < 100, "{fd}");
        let ebadf = -(libc::EBADF as i64);
        let buf = SCRATCH + 4096;
        assert_eq!(sys(&mut k, t, libc::SYS_read, [fd, buf, 4, 0, 0, 0]), ebadf);
        assert_eq!(write(&mut k, t, fd, b"x"), Some(ebadf));
        assert_eq!(
            sys(&mut k, t, libc::SYS_fchmod, [fd, 0o600, 0, 0, 0, 0]),
            ebadf
        );
        assert_eq!(sys(&mut k, t, libc::SYS_lseek, [fd, 0, 0, 0, 0, 0]), ebadf);
        let getfl = libc::F_GETFL as u64;
        assert_eq!(
            sys(&mut k, t, libc::SYS_fcntl, [fd, getfl, 0, 0, 0, 0]),
            libc::O_PATH as i64
        );
        assert_eq!(sys(&mut k, t, libc::SYS_fstat, [fd, buf, 0, 0, 0, 0]), 0);
        let size = i64::from_le_bytes(k.get(t, buf + 48, 8).try_into().unwrap());
        assert_eq!(size, 4);
        // A directory opened O_PATH: fchdir and *at calls take it.
        let dir = open(&mut k, t, "/dir", libc::O_PATH | libc::O_DIRECTORY);
        assert!(dir >= 0, "{dir}");
        let dir = dir as u64;
        assert_eq!(sys(&mut k, t, libc::SYS_fchdir, [dir, 0, 0, 0, 0, 0]), 0);
        let p = k.put_str(t, SCRATCH, "new");
        let made = sys(
            &mut k,
            t,
            libc::SYS_openat,
            [dir, p, (libc::O_CREAT | libc::O_WRONLY) as u64, 0o600, 0, 0],
        );
        assert!(made >= 0);
        assert!(d.path().join("dir/new").exists());
        // chmod through /proc/self/fd of an O_PATH fd (glibc's fchmodat with
        // AT_SYMLINK_NOFOLLOW).
        let p = k.put_str(t, SCRATCH, &format!("/proc/self/fd/{fd}"));
        assert_eq!(
            sys(&mut k, t, libc::SYS_fchmodat, [AT, p, 0o640, 0, 0, 0]),
            0
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[test]
    fn a_writer_blocked_on_a_full_pipe_gets_its_partial_count_then_epipe() {
        let d = tempfile::tempdir().unwrap();
        let mut k = kernel(d.path());
        let t = k.test_process(0, 0);
        let (r, w) = pipe(&mut k, t);
        let big = vec![7u8; super::pipe::PIPE_CAPACITY + 100];
        // FIONREAD on either end counts what is queued.
        assert_eq!(write(&mut k, t, w, b"abc"), Some(3));
        for fd in [r, w] {
            let req = libc::FIONREAD;
            assert_eq!(
                sys(&mut k, t, libc::SYS_ioctl, [fd, req, SCRATCH + 64, 0, 0, 0]),
                0
            );
            let n = u32::from_le_bytes(k.get(t, SCRATCH + 64, 4).try_into().unwrap());
            assert_eq!(n, 3);
        }
        assert_eq!(read(&mut k, t, r, 3), b"abc");
        assert_eq!(write(&mut k, t, w, &big), None, "fills the pipe and parks");
        // The reader closes while the writer is parked (the call's progress is kept).
        k.close_fd(t, r as i32).unwrap();
        // Served again: what was written, and SIGPIPE.
        let again = k.call(
            t,
            libc::SYS_write,
            [w, SCRATCH + 4096, big.len() as u64, 0, 0, 0],
        );
        assert_eq!(again, Some(super::pipe::PIPE_CAPACITY as i64));
        let sigpipe = 1u64 << (libc::SIGPIPE - 1);
        assert_ne!(k.pending_set(t) & sigpipe, 0);
        assert_eq!(write(&mut k, t, w, b"x"), Some(-(libc::EPIPE as i64)));
        // A pipe has no offset: pread/pwrite are ESPIPE on either end.
        let espipe = -(libc::ESPIPE as i64);
        let (r2, w2) = pipe(&mut k, t);
        let buf = SCRATCH + 4096;
        assert_eq!(
            sys(&mut k, t, libc::SYS_pread64, [w2, buf, 1, 0, 0, 0]),
            espipe
        );
        assert_eq!(
            sys(&mut k, t, libc::SYS_pwrite64, [r2, buf, 1, 0, 0, 0]),
            espipe
        );
    }

    #[test]
    fn a_fifo_made_with_mknod_joins_its_readers_and_writers() {
        let d = tempfile::tempdir().unwrap();
        let mut k = kernel(d.path());
        let t = k.test_process(0, 0);
        let u = k.test_process(0, 0);
        let p = k.put_str(t, SCRATCH, "/fifo");
        let mode = (libc::S_IFIFO | 0o640) as u64;
        assert_eq!(sys(&mut k, t, libc::SYS_mknodat, [AT, p, mode, 0, 0, 0]), 0);
        use std::os::unix::fs::FileTypeExt;
        let md = std::fs::symlink_metadata(d.path().join("fifo")).unwrap();
        assert!(md.file_type().is_fifo());
        let dev = (libc::S_IFCHR | 0o600) as u64;
        let q = k.put_str(t, SCRATCH, "/null");
        assert_eq!(
            sys(&mut k, t, libc::SYS_mknodat, [AT, q, dev, 0x103, 0, 0]),
            -(libc::EPERM as i64)
        );
        // Non-blocking: a writer alone is ENXIO; with a reader both open.
        let wo = libc::O_WRONLY | libc::O_NONBLOCK;
        assert_eq!(open(&mut k, t, "/fifo", wo), -(libc::ENXIO as i64));
        // A blocking reader waits for a writer (in another process).
        let ro = [AT, p, libc::O_RDONLY as u64, 0, 0, 0];
        assert_eq!(k.call(t, libc::SYS_openat, ro), None);
        let w = open(&mut k, u, "/fifo", libc::O_WRONLY) as u64;
        let r = k.call(t, libc::SYS_openat, ro).expect("the writer came") as u64;
        assert_eq!(write(&mut k, u, w, b"named"), Some(5));
        assert_eq!(read(&mut k, t, r, 10), b"named");
        assert_eq!(readlink(&mut k, t, &format!("/proc/self/fd/{r}")), "/fifo");
        // A blocking writer waits for a reader; interrupted, it leaves no writer.
        assert_eq!(sys(&mut k, t, libc::SYS_close, [r, 0, 0, 0, 0, 0]), 0);
        assert_eq!(sys(&mut k, u, libc::SYS_close, [w, 0, 0, 0, 0, 0]), 0);
        let wo = [AT, p, libc::O_WRONLY as u64, 0, 0, 0];
        assert_eq!(k.call(u, libc::SYS_openat, wo), None);
        k.cancel_fifo_open(u);
        let r = open(&mut k, t, "/fifo", libc::O_RDONLY | libc::O_NONBLOCK) as u64;
        assert_eq!(read(&mut k, t, r, 10), b"", "no writer left: end of file");
    }

    #[test]
    fn poll_reports_the_normal_data_bits_and_a_writer_without_reader() {
        let d = tempfile::tempdir().unwrap();
        let mut k = kernel(d.path());
        let t = k.test_process(0, 0);
        let (r, w) = pipe(&mut k, t);
        let poll = |k: &mut Kernel, fd: u64, events: i16| -> i16 {
            let mut b = (fd as i32).to_le_bytes().to_vec();
            b.extend_from_slice(&events.to_le_bytes());
            b.extend_from_slice(&0i16.to_le_bytes());
            k.put(t, SCRATCH + 2048, &b);
            let n = k
                .call(t, libc::SYS_poll, [SCRATCH + 2048, 1, 0, 0, 0, 0])
                .unwrap();
            assert!(n >= 0);
            i16::from_le_bytes(k.get(t, SCRATCH + 2054, 2).try_into().unwrap())
        };
        assert_eq!(poll(&mut k, w, libc::POLLWRNORM), libc::POLLWRNORM);
        assert_eq!(poll(&mut k, r, libc::POLLRDNORM), 0);
        assert_eq!(write(&mut k, t, w, b"x"), Some(1));
        let both = libc::POLLIN | libc::POLLRDNORM;
        assert_eq!(poll(&mut k, r, both), both);
        assert_eq!(sys(&mut k, t, libc::SYS_close, [r, 0, 0, 0, 0, 0]), 0);
        assert_eq!(
            poll(&mut k, w, libc::POLLOUT),
            libc::POLLOUT | libc::POLLERR
        );
        // ppoll and pselect6 (glibc's select) write back the time left: none once it
        // timed out.
        for nr in [libc::SYS_ppoll, libc::SYS_pselect6] {
            let ts = SCRATCH + 3072;
            let mut b = 0u64.to_le_bytes().to_vec();
            b.extend_from_slice(&1_000_000u64.to_le_bytes());
            k.put(t, ts, &b);
            let args = match nr {
                libc::SYS_ppoll => [0, 0, ts, 0, 0, 0],
                _ => [0, 0, 0, 0, ts, 0],
            };
            assert_eq!(k.call(t, nr, args), None, "parks until the timeout");
            std::thread::sleep(std::time::Duration::from_millis(2));
            assert_eq!(k.call(t, nr, args), Some(0));
            assert_eq!(k.get(t, ts, 16), vec![0u8; 16]);
        }
    }
}
