//! File descriptor calls: read, write, close, dup, fcntl, ioctl, pipes, seek, stat of fds.

use super::ret;
use crate::fs::file::{FileRef, IoErr, IoctlCaller, OpenFile};
use crate::ipc::pipe::{self, PipeReader};
use crate::kernel::signal::SigInfo;
use crate::kernel::task::Park;
use crate::kernel::{err, Kernel, Sys};

const MAX_RW: usize = 0x7fff_f000;

impl Kernel {
    pub fn file(&self, tid: i32, fd: u64) -> Result<FileRef, i32> {
        if fd > i32::MAX as u64 {
            return Err(libc::EBADF);
        }
        self.tasks[&tid]
            .files
            .borrow()
            .get(fd as i32)
            .ok_or(libc::EBADF)
    }

    /// Turns an I/O outcome into the call's result: parks on would-block, raises SIGPIPE.
    pub fn io_result(&mut self, tid: i32, r: Result<usize, IoErr>) -> Sys {
        match r {
            Ok(n) => Sys::Ret(n as i64),
            Err(IoErr::Errno(e)) => err(e),
            Err(IoErr::Block(key)) => Sys::Park(Park {
                keys: vec![key],
                deadline: None,
            }),
            Err(IoErr::Pipe) => {
                self.signal_task(tid, SigInfo::new(libc::SIGPIPE, 0));
                err(libc::EPIPE)
            }
        }
    }

    fn do_read(
        &mut self,
        tid: i32,
        fd: u64,
        buf: u64,
        len: usize,
        off: Option<u64>,
    ) -> Result<usize, IoErr> {
        let f = self.file(tid, fd)?;
        let data = f.borrow_mut().read(len.min(MAX_RW), off)?;
        if let Some(key) = f.borrow().notify_key() {
            self.notify(&key);
        }
        self.write_mem(tid, buf, &data)?;
        Ok(data.len())
    }

    /// Writes, continuing a parked write from its saved progress (a blocking pipe write
    /// completes in full, as Linux does).
    fn do_write(
        &mut self,
        tid: i32,
        fd: u64,
        buf: u64,
        len: usize,
        off: Option<u64>,
    ) -> Result<usize, IoErr> {
        let f = self.file(tid, fd)?;
        let len = len.min(MAX_RW);
        let is_pipe = f.borrow().notify_key();
        loop {
            let done = self.tasks[&tid].sys_progress;
            let chunk = (len - done).min(1 << 20);
            let data = self.read_mem(tid, buf + done as u64, chunk)?;
            let r = f.borrow_mut().write(&data, off.map(|o| o + done as u64));
            match r {
                Ok(n) => {
                    if let Some(key) = &is_pipe {
                        self.notify(key);
                    }
                    let t = self.task_mut(tid);
                    t.sys_progress += n;
                    if t.sys_progress >= len || is_pipe.is_none() && n < chunk || n == 0 {
                        return Ok(t.sys_progress);
                    }
                }
                Err(IoErr::Block(_)) if done > 0 && f.borrow().flags & libc::O_NONBLOCK != 0 => {
                    return Ok(done);
                }
                Err(e) if done > 0 && !matches!(e, IoErr::Block(_)) => return Ok(done),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn sys_read(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let r = self.do_read(tid, a[0], a[1], a[2] as usize, None);
        self.io_result(tid, r)
    }

    pub fn sys_write(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let r = self.do_write(tid, a[0], a[1], a[2] as usize, None);
        self.io_result(tid, r)
    }

    pub fn sys_pread(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if (a[3] as i64) < 0 {
            return err(libc::EINVAL);
        }
        let r = self.do_read(tid, a[0], a[1], a[2] as usize, Some(a[3]));
        self.io_result(tid, r)
    }

    pub fn sys_pwrite(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if (a[3] as i64) < 0 {
            return err(libc::EINVAL);
        }
        let r = self.do_write(tid, a[0], a[1], a[2] as usize, Some(a[3]));
        self.io_result(tid, r)
    }

    fn read_iovecs(&self, tid: i32, iov: u64, cnt: u64) -> Result<Vec<(u64, usize)>, i32> {
        if cnt > 1024 {
            return Err(libc::EINVAL);
        }
        let raw = self.read_mem(tid, iov, cnt as usize * 16)?;
        let v: Vec<(u64, usize)> = raw
            .chunks(16)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().expect("8")),
                    u64::from_le_bytes(c[8..].try_into().expect("8")) as usize,
                )
            })
            .collect();
        // As Linux: a length (or the total) past SSIZE_MAX is EINVAL.
        let mut total: usize = 0;
        for &(_, len) in &v {
            total = total
                .checked_add(len)
                .filter(|&t| t <= isize::MAX as usize)
                .ok_or(libc::EINVAL)?;
        }
        Ok(v)
    }

    pub fn sys_readv(&mut self, tid: i32, a: [u64; 6], positioned: bool) -> Sys {
        let iovs = match self.read_iovecs(tid, a[1], a[2]) {
            Ok(v) => v,
            Err(e) => return err(e),
        };
        let total: usize = iovs
            .iter()
            .fold(0usize, |a, v| a.saturating_add(v.1))
            .min(MAX_RW);
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let r = f.borrow_mut().read(total, positioned.then_some(a[3]));
        let data = match r {
            Ok(d) => d,
            Err(e) => return self.io_result(tid, Err(e)),
        };
        if let Some(key) = f.borrow().notify_key() {
            self.notify(&key);
        }
        let mut done = 0;
        for (base, len) in iovs {
            if done >= data.len() {
                break;
            }
            let n = len.min(data.len() - done);
            if let Err(e) = self.write_mem(tid, base, &data[done..done + n]) {
                return err(e);
            }
            done += n;
        }
        Sys::Ret(data.len() as i64)
    }

    pub fn sys_writev(&mut self, tid: i32, a: [u64; 6], positioned: bool) -> Sys {
        let iovs = match self.read_iovecs(tid, a[1], a[2]) {
            Ok(v) => v,
            Err(e) => return err(e),
        };
        let mut data = Vec::new();
        for (base, len) in iovs {
            if data.len() + len > MAX_RW {
                break;
            }
            match self.read_mem(tid, base, len) {
                Ok(d) => data.extend(d),
                Err(e) => return err(e),
            }
        }
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let r = f.borrow_mut().write(&data, positioned.then_some(a[3]));
        if let Some(key) = f.borrow().notify_key() {
            self.notify(&key);
        }
        self.io_result(tid, r)
    }

    /// Closes `fd`, waking whoever waits on a pipe end it drops.
    pub fn close_fd(&mut self, tid: i32, fd: i32) -> Result<(), i32> {
        let f = self.tasks[&tid]
            .files
            .borrow_mut()
            .remove(fd)
            .ok_or(libc::EBADF)?;
        let key = f.borrow().notify_key();
        drop(f);
        if let Some(key) = key {
            self.notify(&key);
        }
        Ok(())
    }

    pub fn sys_close(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if a[0] > i32::MAX as u64 {
            return err(libc::EBADF);
        }
        ret(self.close_fd(tid, a[0] as i32).map(|_| 0))
    }

    pub fn sys_close_range(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (lo, hi, flags) = (a[0] as u32, a[1] as u32, a[2] as u32);
        if lo > hi {
            return err(libc::EINVAL);
        }
        let fds: Vec<i32> = self.tasks[&tid]
            .files
            .borrow()
            .fds
            .keys()
            .copied()
            .filter(|&f| f as u32 >= lo && f as u32 <= hi)
            .collect();
        for fd in fds {
            if flags & 4 != 0 {
                // CLOSE_RANGE_CLOEXEC
                if let Some(e) = self.tasks[&tid].files.borrow_mut().fds.get_mut(&fd) {
                    e.cloexec = true;
                }
            } else {
                let _ = self.close_fd(tid, fd);
            }
        }
        Sys::Ret(0)
    }

    pub fn sys_lseek(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let r = f.borrow_mut().seek(a[1] as i64, a[2] as i32);
        ret(r)
    }

    pub fn sys_dup(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        ret(self.tasks[&tid]
            .files
            .borrow_mut()
            .add(f, false, 0)
            .map(|fd| fd as i64))
    }

    pub fn sys_dup3(&mut self, tid: i32, old: u64, new: u64, flags: u64, dup2: bool) -> Sys {
        let f = match self.file(tid, old) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        if new > i32::MAX as u64 || new as i32 >= self.tasks[&tid].files.borrow().limit {
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
        let _ = self.close_fd(tid, new as i32);
        self.tasks[&tid]
            .files
            .borrow_mut()
            .set(new as i32, f, flags != 0);
        Sys::Ret(new as i64)
    }

    pub fn sys_fcntl(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let fd = a[0];
        let f = match self.file(tid, fd) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let fd = fd as i32;
        match a[1] as i32 {
            libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
                let cloexec = a[1] as i32 == libc::F_DUPFD_CLOEXEC;
                let min = a[2] as i32;
                if min < 0 || min >= self.tasks[&tid].files.borrow().limit {
                    return err(libc::EINVAL);
                }
                ret(self.tasks[&tid].files.borrow_mut().add(f, cloexec, min).map(|n| n as i64))
            }
            libc::F_GETFD => Sys::Ret(self.tasks[&tid].files.borrow().fds[&fd].cloexec as i64),
            libc::F_SETFD => {
                self.tasks[&tid].files.borrow_mut().fds.get_mut(&fd).expect("checked").cloexec = a[2] & 1 != 0;
                Sys::Ret(0)
            }
            libc::F_GETFL => Sys::Ret(f.borrow().flags as i64),
            libc::F_SETFL => {
                let settable = libc::O_APPEND | libc::O_NONBLOCK | libc::O_ASYNC | libc::O_DIRECT | libc::O_NOATIME;
                let mut fb = f.borrow_mut();
                fb.flags = (fb.flags & !settable) | (a[2] as i32 & settable);
                let flags = fb.flags;
                fb.imp.set_status_flags(flags);
                Sys::Ret(0)
            }
            libc::F_GETLK => {
                // No locks are held by others in this sandbox: report F_UNLCK.
                let mut fl = match self.read_mem(tid, a[2], 32) {
                    Ok(b) => b,
                    Err(e) => return err(e),
                };
                fl[0..2].copy_from_slice(&(libc::F_UNLCK as i16).to_le_bytes());
                ret(self.write_mem(tid, a[2], &fl).map(|_| 0))
            }
            libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_SETLK | libc::F_OFD_SETLKW => Sys::Ret(0),
            libc::F_GETPIPE_SZ => match pipe::of(&*f.borrow().imp) {
                Some(p) => Sys::Ret(p.borrow().capacity as i64),
                None => err(libc::EBADF),
            },
            libc::F_SETPIPE_SZ => match pipe::of(&*f.borrow().imp) {
                Some(p) => ret(p.borrow_mut().resize(a[2] as usize).map(|n| n as i64)),
                None => err(libc::EBADF),
            },
            libc::F_SETOWN | libc::F_GETOWN | 10 /* F_SETSIG */ | 11 /* F_GETSIG */ => Sys::Ret(0),
            libc::F_ADD_SEALS | libc::F_GET_SEALS => err(libc::EINVAL),
            _ => err(libc::EINVAL),
        }
    }

    pub fn sys_ioctl(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let req = a[1];
        match req as libc::c_ulong {
            libc::FIONBIO => {
                let v = match self.read_u32(tid, a[2]) {
                    Ok(v) => v,
                    Err(e) => return err(e),
                };
                let mut fb = f.borrow_mut();
                if v != 0 {
                    fb.flags |= libc::O_NONBLOCK;
                } else {
                    fb.flags &= !libc::O_NONBLOCK;
                }
                return Sys::Ret(0);
            }
            libc::FIOCLEX | libc::FIONCLEX => {
                if let Some(e) = self.tasks[&tid]
                    .files
                    .borrow_mut()
                    .fds
                    .get_mut(&(a[0] as i32))
                {
                    e.cloexec = req as libc::c_ulong == libc::FIOCLEX;
                }
                return Sys::Ret(0);
            }
            libc::FIONREAD => {
                let n = f
                    .borrow()
                    .kind::<PipeReader>()
                    .map_or(0, |p| p.queued() as u32);
                return ret(self.write_u32(tid, a[2], n).map(|_| 0));
            }
            _ => {}
        }
        let mut caller = Caller { k: self, tid };
        let r = f.borrow_mut().imp.ioctl(&mut caller, req, a[2]);
        ret(r)
    }

    pub fn sys_pipe2(&mut self, tid: i32, addr: u64, flags: u64) -> Sys {
        let flags = flags as i32;
        if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) != 0 {
            return err(libc::EINVAL);
        }
        let id = self.new_obj_id();
        let (r, w) = pipe::pair(id);
        let nb = flags & libc::O_NONBLOCK;
        let r = OpenFile::new(Box::new(r), libc::O_RDONLY | nb, format!("pipe:[{id}]"));
        let w = OpenFile::new(Box::new(w), libc::O_WRONLY | nb, format!("pipe:[{id}]"));
        let cloexec = flags & libc::O_CLOEXEC != 0;
        let files = self.tasks[&tid].files.clone();
        // Both ends go in under one borrow, or neither does.
        let added = {
            let mut table = files.borrow_mut();
            table
                .add(r, cloexec, 0)
                .and_then(|rfd| match table.add(w, cloexec, 0) {
                    Ok(wfd) => Ok((rfd, wfd)),
                    Err(e) => {
                        table.remove(rfd);
                        Err(e)
                    }
                })
        };
        let (rfd, wfd) = match added {
            Ok(fds) => fds,
            Err(e) => return err(e),
        };
        let mut b = Vec::new();
        b.extend_from_slice(&rfd.to_le_bytes());
        b.extend_from_slice(&wfd.to_le_bytes());
        if let Err(e) = self.write_mem(tid, addr, &b) {
            files.borrow_mut().remove(rfd);
            files.borrow_mut().remove(wfd);
            return err(e);
        }
        Sys::Ret(0)
    }

    pub fn sys_getdents64(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let r = f.borrow_mut().getdents(a[2] as usize);
        match r {
            Ok(d) => ret(self.write_mem(tid, a[1], &d).map(|_| d.len() as i64)),
            Err(e) => err(e),
        }
    }

    pub fn sys_fsync(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let r = f.borrow_mut().imp.sync();
        ret(r.map(|_| 0))
    }

    pub fn sys_ftruncate(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        if (a[1] as i64) < 0 {
            return err(libc::EINVAL);
        }
        let r = f.borrow_mut().truncate(a[1]);
        ret(r.map(|_| 0))
    }

    pub fn sys_fallocate(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let r = f
            .borrow_mut()
            .allocate(a[1] as i32, a[2] as i64, a[3] as i64);
        ret(r.map(|_| 0))
    }

    pub fn sys_fstat(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        match self.stat_file(&f) {
            Ok(st) => ret(self
                .write_mem(tid, a[1], &crate::fs::stat_bytes(&st))
                .map(|_| 0)),
            Err(e) => err(e),
        }
    }

    /// stat of an open file.
    pub fn stat_file(&self, f: &FileRef) -> Result<libc::stat, i32> {
        f.borrow().imp.stat()
    }

    pub fn sys_sendfile(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (out_fd, in_fd, offp, count) = (a[0], a[1], a[2], a[3] as usize);
        let inf = match self.file(tid, in_fd) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let outf = match self.file(tid, out_fd) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let off = if offp != 0 {
            match self.read_u64(tid, offp) {
                Ok(o) => Some(o),
                Err(e) => return err(e),
            }
        } else {
            None
        };
        let r = inf.borrow_mut().read(count.min(1 << 20), off);
        let data = match r {
            Ok(d) => d,
            Err(e) => return self.io_result(tid, Err(e)),
        };
        let r = outf.borrow_mut().write(&data, None);
        if let Some(key) = outf.borrow().notify_key() {
            self.notify(&key);
        }
        if let (Ok(n), Some(o)) = (&r, off) {
            let _ = self.write_u64(tid, offp, o + *n as u64);
        }
        self.io_result(tid, r)
    }
}

/// The task an ioctl is made by: its memory and its process group and session.
struct Caller<'a> {
    k: &'a mut Kernel,
    tid: i32,
}

impl IoctlCaller for Caller<'_> {
    fn copy_in(&self, addr: u64, len: usize) -> Result<Vec<u8>, i32> {
        self.k.read_mem(self.tid, addr, len)
    }

    fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), i32> {
        self.k.write_mem(self.tid, addr, data)
    }

    fn pgid(&self) -> i32 {
        self.k.tg_of(self.tid).pgid
    }

    fn sid(&self) -> i32 {
        self.k.tg_of(self.tid).sid
    }
}
