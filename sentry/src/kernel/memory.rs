//! Guest memory access for the kernel and system call handlers: copies in and out of
//! a task's address space; a borrow of guest memory only for the length of one host
//! call that fills it (`fill_mem`).

use super::Kernel;
use crate::mm::{Errno, Mm, MmCtx};

impl Kernel {
    // ---- guest memory ----

    /// Runs `f` on the task's address space with the memory file and platform.
    pub(crate) fn with_mm<R>(&mut self, tid: i32, f: impl FnOnce(&mut Mm, &mut MmCtx) -> R) -> R {
        let mm_id = self.tasks[&tid].mm;
        let e = self.mms.get_mut(&mm_id).expect("task mm");
        let mut cx = MmCtx {
            mf: &self.mf,
            plat: &mut *self.plat,
        };
        f(&mut e.mm, &mut cx)
    }

    /// After system call `nr`: the page caches' fences follow their files' sizes in every
    /// address space, and caches no mapping maps any more are written back and dropped.
    pub(crate) fn page_cache_upkeep(&mut self, nr: u64) {
        let caches = self.vfs.caches.clone();
        if caches.is_empty() {
            return;
        }
        let n = nr as i64;
        if [
            libc::SYS_truncate,
            libc::SYS_open,
            libc::SYS_openat,
            libc::SYS_openat2,
            libc::SYS_creat,
        ]
        .contains(&n)
        {
            caches.mark_stale();
        }
        let moved = caches.refence();
        if !moved.is_empty() {
            let mut cx = MmCtx {
                mf: &self.mf,
                plat: &mut *self.plat,
            };
            for e in self.mms.values_mut() {
                for &(off, len) in &moved {
                    if let Err(err) = e.mm.drop_copies_past_end(&mut cx, off, len) {
                        log::warn!("dropping private copies of a truncated file's pages: {err}");
                    }
                    if let Err(err) = e.mm.refresh(&mut cx, off, len) {
                        log::warn!("refreshing a file mapping's protection: {err}");
                    }
                }
            }
        }
        if [
            libc::SYS_munmap,
            libc::SYS_mremap,
            libc::SYS_mmap,
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_exit,
            libc::SYS_exit_group,
            libc::SYS_wait4,
            libc::SYS_waitid,
            libc::SYS_madvise,
        ]
        .contains(&n)
        {
            caches.sweep();
        }
    }

    pub(crate) fn read_mem(&self, tid: i32, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        if len > 1 << 30 {
            return Err(libc::EFAULT);
        }
        let mut buf = vec![0u8; len];
        self.mms[&self.tasks[&tid].mm]
            .mm
            .read(&self.mf, addr, &mut buf)?;
        Ok(buf)
    }

    pub(crate) fn write_mem(&mut self, tid: i32, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let mm_id = self.tasks[&tid].mm;
        let e = self.mms.get_mut(&mm_id).expect("task mm");
        let mut cx = MmCtx {
            mf: &self.mf,
            plat: &mut *self.plat,
        };
        e.mm.write(&mut cx, addr, data)
    }

    /// ptrace's PEEKTEXT/PEEKDATA: a word of task `tid`'s memory whatever its protection
    /// (Linux's FOLL_FORCE); EIO where nothing is mapped.
    pub(crate) fn peek_forced(&self, tid: i32, addr: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.mms[&self.tasks[&tid].mm]
            .mm
            .read_forced(&self.mf, addr, &mut b)
            .map_err(|_| libc::EIO)?;
        Ok(u64::from_le_bytes(b))
    }

    /// ptrace's POKETEXT/POKEDATA: writes a word into task `tid`'s memory whatever its
    /// protection, copy-on-write broken (Linux's FOLL_FORCE); EIO where nothing is
    /// mapped or the mapping is shared and read-only.
    pub(crate) fn poke_forced(&mut self, tid: i32, addr: u64, word: u64) -> Result<(), Errno> {
        self.with_mm(tid, |mm, cx| mm.write_forced(cx, addr, &word.to_le_bytes()))
            .map_err(|_| libc::EIO)
    }

    /// `/proc/PID/mem`: the bytes of address space `mm` from `addr`, at most `len`,
    /// whatever their protection (FOLL_FORCE, as `poke_mm`), as far as they reach: EIO
    /// when not even the first does; none when the address space is gone (its process
    /// exited or exec'd).
    pub(crate) fn peek_mm(&self, mm: u64, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let Some(e) = self.mms.get(&mm) else {
            return Ok(Vec::new());
        };
        let n = e.mm.forced_reach(addr, len, false);
        if n == 0 && len > 0 {
            return Err(libc::EIO);
        }
        let mut buf = vec![0u8; n];
        e.mm.read_forced(&self.mf, addr, &mut buf)
            .map_err(|_| libc::EIO)?;
        Ok(buf)
    }

    /// `/proc/PID/mem`: writes `data` into address space `mm` at `addr` whatever its
    /// protection (Linux's FOLL_FORCE, its default proc_mem.force_override=always: how a
    /// debugger sets breakpoints in read-only text), as far as it reaches: the count, EIO
    /// when not even the first byte is, 0 when it is gone.
    pub(crate) fn poke_mm(&mut self, mm: u64, addr: u64, data: &[u8]) -> Result<usize, Errno> {
        let Some(e) = self.mms.get_mut(&mm) else {
            return Ok(0);
        };
        let n = e.mm.forced_reach(addr, data.len(), true);
        if n == 0 && !data.is_empty() {
            return Err(libc::EIO);
        }
        let mut cx = MmCtx {
            mf: &self.mf,
            plat: &mut *self.plat,
        };
        e.mm.write_forced(&mut cx, addr, &data[..n])
            .map_err(|_| libc::EIO)?;
        Ok(n)
    }

    /// How many bytes from `addr` (at most `len`) the task could copy with `prot`.
    pub(crate) fn accessible(&self, tid: i32, addr: u64, len: usize, prot: i32) -> usize {
        self.mms[&self.tasks[&tid].mm]
            .mm
            .accessible(addr, len, prot)
    }

    /// Lets `f` fill the guest ranges (address, length) of the task in place, in order
    /// (a host receive straight into guest memory); EFAULT, `f` not called, when part of
    /// one is not writable.
    pub(crate) fn fill_mem<R>(
        &mut self,
        tid: i32,
        ranges: &[(u64, usize)],
        f: impl FnOnce(&mut [std::io::IoSliceMut<'_>]) -> R,
    ) -> Result<R, Errno> {
        self.with_mm(tid, |mm, cx| mm.fill_with(cx, ranges, f))
    }

    pub(crate) fn read_u64(&self, tid: i32, addr: u64) -> Result<u64, Errno> {
        let b = self.read_mem(tid, addr, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8")))
    }

    pub(crate) fn read_u32(&self, tid: i32, addr: u64) -> Result<u32, Errno> {
        let b = self.read_mem(tid, addr, 4)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4")))
    }

    pub(crate) fn write_u64(&mut self, tid: i32, addr: u64, v: u64) -> Result<(), Errno> {
        self.write_mem(tid, addr, &v.to_le_bytes())
    }

    pub(crate) fn write_u32(&mut self, tid: i32, addr: u64, v: u32) -> Result<(), Errno> {
        self.write_mem(tid, addr, &v.to_le_bytes())
    }

    pub(crate) fn read_cstr(&self, tid: i32, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        self.mms[&self.tasks[&tid].mm]
            .mm
            .read_cstr(&self.mf, addr, max)
    }

    /// A guest path argument: at most PATH_MAX bytes with its NUL (ENAMETOOLONG).
    pub(crate) fn read_path(&self, tid: i32, addr: u64) -> Result<Vec<u8>, Errno> {
        let p = self.read_cstr(tid, addr, 4096)?;
        if p.len() >= 4096 {
            return Err(libc::ENAMETOOLONG);
        }
        Ok(p)
    }

    /// Reads a NULL-terminated array of string pointers (argv, envp).
    pub(crate) fn read_strv(&self, tid: i32, mut addr: u64) -> Result<Vec<Vec<u8>>, Errno> {
        let mut out = Vec::new();
        if addr == 0 {
            return Ok(out);
        }
        let mut total = 0;
        loop {
            let p = self.read_u64(tid, addr)?;
            if p == 0 {
                return Ok(out);
            }
            let s = self.read_cstr(tid, p, 128 * 1024)?;
            total += s.len() + 1;
            if total > 2 << 20 || out.len() > 0x7fff_ffff / 8 {
                return Err(libc::E2BIG);
            }
            out.push(s);
            addr += 8;
        }
    }
}
