//! File locks: flock(2), and fcntl(2)'s record locks (F_SETLK, F_SETLKW, F_GETLK) and
//! open file description locks (F_OFD_SETLK, F_OFD_SETLKW, F_OFD_GETLK). The locks
//! themselves, their owners and conflicts are `crate::fs::lock`.

use crate::fs::file::FileRef;
use crate::fs::lock::{file_key, Blocked, LockFamily, LockType, Owner, Request, OFFSET_MAX};
use crate::kernel::task::Park;
use crate::kernel::{err, Sys, SysCtx};
use crate::mm::Errno;
use crate::wait::WaitKey;

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

/// flock(2): LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB not to wait.
pub(super) fn flock(c: &mut SysCtx) -> Sys {
    let [fd, op, ..] = c.args();
    let f = tryk!(c.file(fd));
    if f.borrow().path_only() {
        return err(libc::EBADF);
    }
    let op = op as i32;
    let ty = match op & !libc::LOCK_NB {
        libc::LOCK_SH => Some(LockType::Read),
        libc::LOCK_EX => Some(LockType::Write),
        libc::LOCK_UN => None,
        _ => return err(libc::EINVAL),
    };
    let req = Request {
        family: LockFamily::Flock,
        owner: Owner::file(&f),
        ty,
        start: 0,
        end: OFFSET_MAX,
        via: &f,
    };
    set(c, &f, req, op & libc::LOCK_NB == 0)
}

/// Sets (or removes) a lock; a conflict parks the call when `wait`, else EAGAIN (which
/// is EWOULDBLOCK). A process's record lock that would wait for itself through other
/// waiting processes is EDEADLK.
fn set(c: &mut SysCtx, f: &FileRef, req: Request, wait: bool) -> Sys {
    let key = tryk!(file_key(f));
    let process_lock = matches!(req.owner, Owner::Process(_));
    let pid = c.tgid();
    let tid = c.tid();
    c.release_dropped_locks();
    match tryk!(c.set_lock(key, req)) {
        Ok(wake) => {
            c.locks().stop_waiting(tid);
            if let Some(id) = wake {
                c.notify(&WaitKey::Object(id));
            }
            Sys::Ret(0)
        }
        Err(Blocked {
            wait: id,
            blocker,
            released,
        }) => {
            if released {
                c.notify(&WaitKey::Object(id));
            }
            if !wait {
                c.locks().stop_waiting(tid);
                return err(libc::EAGAIN);
            }
            if process_lock {
                if c.locks().deadlock(pid, &blocker) {
                    c.locks().stop_waiting(tid);
                    return err(libc::EDEADLK);
                }
                c.locks().wait(tid, pid, blocker);
            }
            Sys::Park(Park {
                keys: vec![WaitKey::Object(id)],
                deadline: None,
            })
        }
    }
}

/// `struct flock` as x86-64 lays it out: l_type, l_whence (shorts), l_start, l_len
/// (off_t at 8 and 16), l_pid (int at 24); 32 bytes.
struct Flock {
    ty: i16,
    whence: i16,
    start: i64,
    len: i64,
    pid: i32,
}

const FLOCK_SIZE: usize = 32;

impl Flock {
    fn read(c: &SysCtx, addr: u64) -> Result<Flock, Errno> {
        let b = c.read_mem(addr, FLOCK_SIZE)?;
        let i16_at = |o: usize| i16::from_le_bytes([b[o], b[o + 1]]);
        let i64_at = |o: usize| i64::from_le_bytes(b[o..o + 8].try_into().expect("8"));
        Ok(Flock {
            ty: i16_at(0),
            whence: i16_at(2),
            start: i64_at(8),
            len: i64_at(16),
            pid: i32::from_le_bytes(b[24..28].try_into().expect("4")),
        })
    }

    /// The byte range it names, inclusive (Linux's flock_to_posix_lock).
    fn range(&self, f: &FileRef) -> Result<(u64, u64), Errno> {
        let base = match self.whence as i32 {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => f.borrow_mut().seek(0, libc::SEEK_CUR).unwrap_or(0),
            libc::SEEK_END => f.borrow().imp.stat()?.st_size,
            _ => return Err(libc::EINVAL),
        };
        let start = base.checked_add(self.start).ok_or(libc::EOVERFLOW)?;
        if start < 0 {
            return Err(libc::EINVAL);
        }
        let max = OFFSET_MAX as i64;
        match self.len {
            0 => Ok((start as u64, OFFSET_MAX)),
            n if n > 0 => {
                if n - 1 > max - start {
                    return Err(libc::EOVERFLOW);
                }
                Ok((start as u64, (start + n - 1) as u64))
            }
            n => {
                let s = start.checked_add(n).ok_or(libc::EINVAL)?;
                if s < 0 {
                    return Err(libc::EINVAL);
                }
                Ok((s as u64, (start - 1) as u64))
            }
        }
    }

    fn lock_type(&self) -> Result<Option<LockType>, Errno> {
        match self.ty as i32 {
            libc::F_RDLCK => Ok(Some(LockType::Read)),
            libc::F_WRLCK => Ok(Some(LockType::Write)),
            libc::F_UNLCK => Ok(None),
            _ => Err(libc::EINVAL),
        }
    }
}

/// The lock commands of fcntl(2) on description `f`, with `arg` the guest's `struct flock`.
pub(super) fn fcntl_lock(c: &mut SysCtx, f: FileRef, cmd: i32, arg: u64) -> Sys {
    let fl = tryk!(Flock::read(c, arg));
    let ofd = matches!(
        cmd,
        libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW
    );
    let (start, end) = tryk!(fl.range(&f));
    let ty = tryk!(fl.lock_type());
    if ofd && fl.pid != 0 {
        return err(libc::EINVAL);
    }
    let owner = if ofd {
        Owner::file(&f)
    } else {
        Owner::Process(c.tgid())
    };
    if matches!(cmd, libc::F_GETLK | libc::F_OFD_GETLK) {
        let Some(ty) = ty else {
            return err(libc::EINVAL);
        };
        let key = tryk!(file_key(&f));
        c.release_dropped_locks();
        let found = c.locks().test(key, &owner, ty, start, end);
        let mut out = tryk!(c.read_mem(arg, FLOCK_SIZE));
        match found {
            None => out[0..2].copy_from_slice(&(libc::F_UNLCK as i16).to_le_bytes()),
            Some(x) => {
                let t = match x.ty {
                    LockType::Read => libc::F_RDLCK,
                    LockType::Write => libc::F_WRLCK,
                } as i16;
                let len = if x.end == OFFSET_MAX {
                    0
                } else {
                    x.end - x.start + 1
                };
                out[0..2].copy_from_slice(&t.to_le_bytes());
                out[2..4].copy_from_slice(&(libc::SEEK_SET as i16).to_le_bytes());
                out[8..16].copy_from_slice(&x.start.to_le_bytes());
                out[16..24].copy_from_slice(&len.to_le_bytes());
                out[24..28].copy_from_slice(&x.pid.to_le_bytes());
            }
        }
        return tryk!(c.write_mem(arg, &out).map(|_| Sys::Ret(0)));
    }
    // Setting a lock needs the access it claims.
    let access_ok = {
        let fb = f.borrow();
        match ty {
            Some(LockType::Read) => fb.readable(),
            Some(LockType::Write) => fb.writable(),
            None => true,
        }
    };
    if !access_ok {
        return err(libc::EBADF);
    }
    let wait = matches!(cmd, libc::F_SETLKW | libc::F_OFD_SETLKW);
    let req = Request {
        family: LockFamily::Record,
        owner,
        ty,
        start,
        end,
        via: &f,
    };
    set(c, &f, req, wait)
}

#[cfg(test)]
mod tests {
    use crate::kernel::Kernel;
    use crate::testing::{kernel, SCRATCH};

    const FL: u64 = SCRATCH + 0x100;

    fn flock_bytes(ty: i32, whence: i32, start: i64, len: i64, pid: i32) -> Vec<u8> {
        let mut b = vec![0u8; 32];
        b[0..2].copy_from_slice(&(ty as i16).to_le_bytes());
        b[2..4].copy_from_slice(&(whence as i16).to_le_bytes());
        b[8..16].copy_from_slice(&start.to_le_bytes());
        b[16..24].copy_from_slice(&len.to_le_bytes());
        b[24..28].copy_from_slice(&pid.to_le_bytes());
        b
    }

    fn open(k: &mut Kernel, t: i32, path: &str, flags: i32) -> u64 {
        let p = k.put_str(t, SCRATCH, path);
        let fd = k.call(
            t,
            libc::SYS_openat,
            [
                libc::AT_FDCWD as u64,
                p,
                (flags | libc::O_CREAT) as u64,
                0o644,
                0,
                0,
            ],
        );
        fd.unwrap() as u64
    }

    fn setlk(k: &mut Kernel, t: i32, fd: u64, cmd: i32, fl: &[u8]) -> Option<i64> {
        k.put(t, FL, fl);
        k.call(t, libc::SYS_fcntl, [fd, cmd as u64, FL, 0, 0, 0])
    }

    /// A kernel with two processes, each with /f open for reading and writing.
    fn two_processes_on_one_file() -> (tempfile::TempDir, Kernel, [i32; 2], [u64; 2]) {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let a = k.test_process(0, 0);
        let b = k.test_process(0, 0);
        let fa = open(&mut k, a, "/f", libc::O_RDWR);
        let fb = open(&mut k, b, "/f", libc::O_RDWR);
        (root, k, [a, b], [fa, fb])
    }

    #[test]
    fn record_locks_between_two_processes() {
        let (_root, mut k, [a, b], [fa, fb]) = two_processes_on_one_file();
        let w = flock_bytes(libc::F_WRLCK, libc::SEEK_SET, 10, 10, 0);
        assert_eq!(setlk(&mut k, a, fa, libc::F_SETLK, &w), Some(0));
        let eagain = Some(-(libc::EAGAIN as i64));
        assert_eq!(setlk(&mut k, b, fb, libc::F_SETLK, &w), eagain);
        assert_eq!(setlk(&mut k, b, fb, libc::F_SETLKW, &w), None, "waits");
        // F_GETLK shows the holder.
        let q = flock_bytes(libc::F_RDLCK, libc::SEEK_SET, 0, 0, 0);
        assert_eq!(setlk(&mut k, b, fb, libc::F_GETLK, &q), Some(0));
        assert_eq!(
            k.get(b, FL, 32),
            flock_bytes(libc::F_WRLCK, libc::SEEK_SET, 10, 10, a)
        );
        // F_OFD_GETLK of a's own description still sees a's process lock; pid must be 0.
        assert_eq!(setlk(&mut k, a, fa, libc::F_OFD_GETLK, &q), Some(0));
        assert_eq!(k.get(a, FL, 2), (libc::F_WRLCK as i16).to_le_bytes());
        let bad_pid = flock_bytes(libc::F_RDLCK, libc::SEEK_SET, 0, 0, 1);
        let einval = Some(-(libc::EINVAL as i64));
        assert_eq!(setlk(&mut k, a, fa, libc::F_OFD_SETLK, &bad_pid), einval);
        // Any close of the file by a drops its locks.
        let fa2 = open(&mut k, a, "/f", libc::O_RDONLY);
        assert_eq!(k.call(a, libc::SYS_close, [fa2, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(setlk(&mut k, b, fb, libc::F_SETLK, &w), Some(0));
        // Hostile ranges and types.
        let neg = flock_bytes(libc::F_WRLCK, libc::SEEK_SET, -1, 1, 0);
        assert_eq!(setlk(&mut k, a, fa, libc::F_SETLK, &neg), einval);
        let over = flock_bytes(libc::F_WRLCK, libc::SEEK_SET, i64::MAX, 2, 0);
        assert_eq!(
            setlk(&mut k, a, fa, libc::F_SETLK, &over),
            Some(-(libc::EOVERFLOW as i64))
        );
        let ty = flock_bytes(7, libc::SEEK_SET, 0, 1, 0);
        assert_eq!(setlk(&mut k, a, fa, libc::F_SETLK, &ty), einval);
        let wh = flock_bytes(libc::F_RDLCK, 9, 0, 1, 0);
        assert_eq!(setlk(&mut k, a, fa, libc::F_SETLK, &wh), einval);
        assert_eq!(
            k.call(a, libc::SYS_fcntl, [fa, libc::F_SETLK as u64, 8, 0, 0, 0]),
            Some(-(libc::EFAULT as i64))
        );
        // A write lock needs a description open for writing.
        let ro = open(&mut k, a, "/g", libc::O_RDONLY);
        assert_eq!(
            setlk(&mut k, a, ro, libc::F_SETLK, &w),
            Some(-(libc::EBADF as i64))
        );
    }

    #[test]
    fn a_lock_cycle_is_edeadlk() {
        let (_root, mut k, [a, b], [fa, fb]) = two_processes_on_one_file();
        let first = flock_bytes(libc::F_WRLCK, libc::SEEK_SET, 0, 1, 0);
        let second = flock_bytes(libc::F_WRLCK, libc::SEEK_SET, 1, 1, 0);
        assert_eq!(setlk(&mut k, a, fa, libc::F_SETLK, &first), Some(0));
        assert_eq!(setlk(&mut k, b, fb, libc::F_SETLK, &second), Some(0));
        assert_eq!(setlk(&mut k, a, fa, libc::F_SETLKW, &second), None);
        assert_eq!(
            setlk(&mut k, b, fb, libc::F_SETLKW, &first),
            Some(-(libc::EDEADLK as i64))
        );
        // OFD locks take no part in the detection: they wait.
        assert_eq!(setlk(&mut k, b, fb, libc::F_OFD_SETLKW, &first), None);
    }

    #[test]
    fn flock_belongs_to_the_description() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let a = k.test_process(0, 0);
        let f1 = open(&mut k, a, "/f", libc::O_RDONLY);
        let f2 = open(&mut k, a, "/f", libc::O_RDONLY);
        let ex = libc::LOCK_EX as u64;
        let nb = (libc::LOCK_EX | libc::LOCK_NB) as u64;
        assert_eq!(k.call(a, libc::SYS_flock, [f1, ex, 0, 0, 0, 0]), Some(0));
        // A second description of the same file conflicts, even in the same process.
        assert_eq!(
            k.call(a, libc::SYS_flock, [f2, nb, 0, 0, 0, 0]),
            Some(-(libc::EWOULDBLOCK as i64))
        );
        // A dup shares the description and its lock; closing one fd keeps it.
        let d = k.call(a, libc::SYS_dup, [f1, 0, 0, 0, 0, 0]).unwrap() as u64;
        assert_eq!(k.call(a, libc::SYS_close, [f1, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(
            k.call(a, libc::SYS_flock, [f2, nb, 0, 0, 0, 0]),
            Some(-(libc::EWOULDBLOCK as i64))
        );
        // Closing the last one releases it.
        assert_eq!(k.call(a, libc::SYS_close, [d, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(k.call(a, libc::SYS_flock, [f2, nb, 0, 0, 0, 0]), Some(0));
        assert_eq!(
            k.call(a, libc::SYS_flock, [f2, 99, 0, 0, 0, 0]),
            Some(-(libc::EINVAL as i64))
        );
        assert_eq!(
            k.call(a, libc::SYS_flock, [77, ex, 0, 0, 0, 0]),
            Some(-(libc::EBADF as i64))
        );
    }
}
