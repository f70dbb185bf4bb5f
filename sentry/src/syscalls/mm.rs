//! Memory calls: brk, mmap, munmap, mprotect, mremap, madvise.

use super::ret;
use crate::kernel::{err, Sys, SysCtx};
use crate::mm::{page_up, Remap, PAGE};
use crate::platform::GUEST_TOP;

/// The caller's soft limit `res` (RLIMIT_AS, RLIMIT_DATA).
fn limit(c: &SysCtx, res: u32) -> u64 {
    c.rlimit(c.tgid(), res as usize).0
}

pub(super) fn brk(c: &mut SysCtx) -> Sys {
    let want = c.arg(0);
    let (as_limit, data_limit) = (limit(c, libc::RLIMIT_AS), limit(c, libc::RLIMIT_DATA));
    let r = c.with_mm(|mm, cx| {
        if want < mm.brk_start || want > mm.brk_start + (1 << 36) {
            return mm.brk;
        }
        let old_top = page_up(mm.brk);
        let new_top = page_up(want);
        // The heap may not outgrow RLIMIT_DATA, nor the address space RLIMIT_AS.
        if new_top > old_top
            && (want - mm.brk_start > data_limit
                || mm
                    .may_expand(new_top - old_top, Some(old_top), as_limit)
                    .is_err())
        {
            return mm.brk;
        }
        if new_top > old_top {
            if mm
                .map_anon(
                    cx,
                    old_top,
                    new_top - old_top,
                    libc::PROT_READ | libc::PROT_WRITE,
                    false,
                    false,
                    "[heap]",
                )
                .ok()
                != Some(old_top)
            {
                // Something else is there: undo and refuse.
                if let Some((s, _)) = mm.find(old_top) {
                    if s == old_top {
                        let _ = mm.unmap(cx, old_top, new_top - old_top);
                    }
                }
                return mm.brk;
            }
        } else if new_top < old_top {
            let _ = mm.unmap(cx, new_top, old_top - new_top);
        }
        mm.brk = want;
        want
    });
    Sys::Ret(r as i64)
}

pub(super) fn mmap(c: &mut SysCtx) -> Sys {
    let [addr, len, prot, flags, fd, off] = c.args();
    let (prot, flags, fd) = (prot as i32, flags as i32, fd as i32);
    if len == 0
        || off % PAGE != 0
        || prot & !(libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) != 0
    {
        return err(libc::EINVAL);
    }
    let shared = flags & libc::MAP_TYPE == libc::MAP_SHARED
        || flags & libc::MAP_TYPE == libc::MAP_SHARED_VALIDATE;
    if !shared && flags & libc::MAP_TYPE != libc::MAP_PRIVATE {
        return err(libc::EINVAL);
    }
    if page_up(len) > GUEST_TOP || page_up(len) == 0 {
        return err(libc::ENOMEM);
    }
    let fixed = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE) != 0;
    if flags & libc::MAP_FIXED_NOREPLACE != 0 {
        let taken = c.with_mm(|mm, _| {
            let end = addr.saturating_add(page_up(len));
            mm.vmas
                .range(..end)
                .next_back()
                .is_some_and(|(_, v)| v.end > addr)
        });
        if taken {
            return err(libc::EEXIST);
        }
    }
    // MAP_32BIT: somewhere below 2 GiB (the hint is not looked at).
    let addr = if flags & libc::MAP_32BIT != 0 && !fixed {
        match c.with_mm(|mm, _| mm.find_free_below(page_up(len), 1 << 31)) {
            Some(a) => a,
            None => return err(libc::ENOMEM),
        }
    } else {
        addr
    };
    let as_limit = limit(c, libc::RLIMIT_AS);
    // A fixed mapping replaces what it covers; another goes where nothing is mapped.
    if c.with_mm(|mm, _| mm.may_expand(page_up(len), fixed.then_some(addr), as_limit))
        .is_err()
    {
        return err(libc::ENOMEM);
    }
    if flags & libc::MAP_ANONYMOUS != 0 {
        // An anonymous mapping is private or shared, never validated (Linux: EINVAL).
        if flags & libc::MAP_TYPE == libc::MAP_SHARED_VALIDATE {
            return err(libc::EINVAL);
        }
        // Unnamed even with MAP_GROWSDOWN: only the stack execve made is "[stack]" in
        // /proc/PID/maps, as on Linux.
        // MAP_POPULATE of writable memory: its pages are committed at once (Linux
        // counts them in the RSS); readable only, they would be the zero page.
        let populate = flags & libc::MAP_POPULATE != 0 && prot & libc::PROT_WRITE != 0;
        return ret(c
            .with_mm(|mm, cx| {
                let a = mm.map_anon(cx, addr, len, prot, shared, fixed, "")?;
                if populate {
                    mm.populate(cx, a, page_up(len))?;
                }
                Ok(a)
            })
            .map(|a| a as i64));
    }
    // A file mapping: the file's bytes are copied into fresh memory.
    let f = match c.file(fd as u64) {
        Ok(f) => f,
        Err(e) => return err(e),
    };
    let (path, data) = {
        let fb = f.borrow();
        if fb.path_only() {
            return err(libc::EBADF);
        }
        if !fb.readable() || (shared && prot & libc::PROT_WRITE != 0 && !fb.writable()) {
            return err(libc::EACCES);
        }
        if let Some(m) = fb.kind::<crate::fs::memfd::MemfdFile>() {
            // A memfd's pages are mapped themselves.
            let pieces = m.inode.borrow_mut().map_pieces(
                off,
                page_up(len),
                shared && prot & libc::PROT_WRITE != 0,
            );
            let name = m.path();
            drop(fb);
            return ret(match pieces {
                Ok(p) => c
                    .with_mm(|mm, cx| mm.map_pieces(cx, addr, len, prot, shared, fixed, &name, &p))
                    .map(|a| a as i64),
                Err(e) => Err(e),
            });
        }
        if let Some(h) = fb.kind::<crate::fs::host::HostFile>() {
            // A host file's pages are its page cache's, mapped themselves.
            let mf = c.memory_file();
            let pieces = h.map_cached(
                &mf,
                &fb.path,
                off,
                page_up(len),
                shared && prot & libc::PROT_WRITE != 0,
            );
            let name = fb.path.clone();
            drop(fb);
            let r = match pieces {
                Ok(p) => {
                    c.with_mm(|mm, cx| mm.map_pieces(cx, addr, len, prot, shared, fixed, &name, &p))
                }
                Err(e) => Err(e),
            };
            // A cache made for a mapping that failed goes again.
            c.vfs().caches.sweep();
            return ret(r.map(|a| a as i64));
        }
        let data = match fb.imp.mmap(off, len) {
            Ok(d) => d,
            Err(e) => return err(e),
        };
        (fb.path.clone(), data)
    };
    if shared && prot & libc::PROT_WRITE != 0 && !data.shared_writable {
        // Only files with a page cache write back.
        return err(libc::ENODEV);
    }
    let data = data.bytes;
    ret(c.with_mm(|mm, cx| {
        let start = mm.map_anon(cx, addr, len, prot, shared, fixed, &path)?;
        let n = data.len().min(len as usize);
        mm.write_force(cx.mf, start, &data[..n])?;
        Ok(start as i64)
    }))
}

/// msync: the range must be mapped (ENOMEM); MS_SYNC and MS_ASYNC write the page caches
/// back (the host file has the bytes when it returns).
pub(super) fn msync(c: &mut SysCtx) -> Sys {
    let [addr, len, flags, ..] = c.args();
    let flags = flags as i32;
    if addr % PAGE != 0
        || flags & !(libc::MS_ASYNC | libc::MS_SYNC | libc::MS_INVALIDATE) != 0
        || flags & libc::MS_ASYNC != 0 && flags & libc::MS_SYNC != 0
    {
        return err(libc::EINVAL);
    }
    let Some(end) = addr.checked_add(page_up(len.min(u64::MAX - PAGE))) else {
        return err(libc::ENOMEM);
    };
    let mapped = c.with_mm(|mm, _| mm.mapped_in(addr, end) == end - addr);
    if !mapped {
        return err(libc::ENOMEM);
    }
    ret(c.vfs().caches.write_back_all().map(|_| 0))
}

pub(super) fn munmap(c: &mut SysCtx) -> Sys {
    let [addr, len, ..] = c.args();
    ret(c.with_mm(|mm, cx| mm.unmap(cx, addr, len)).map(|_| 0))
}

pub(super) fn mprotect(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let prot = a[2] as i32 & !(libc::PROT_GROWSDOWN | libc::PROT_GROWSUP);
    ret(c
        .with_mm(|mm, cx| mm.protect(cx, a[0], a[1], prot))
        .map(|_| 0))
}

pub(super) fn mremap(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let (old, old_len, new_len, flags, new_addr) = (a[0], a[1], a[2], a[3] as i32, a[4]);
    let known = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP;
    if flags & !known != 0 {
        return err(libc::EINVAL);
    }
    let how = Remap {
        may_move: flags & libc::MREMAP_MAYMOVE != 0,
        fixed: (flags & libc::MREMAP_FIXED != 0).then_some(new_addr),
        dont_unmap: flags & libc::MREMAP_DONTUNMAP != 0,
    };
    let as_limit = limit(c, libc::RLIMIT_AS);
    ret(c
        .with_mm(|mm, cx| {
            // What the call adds to the address space: the growth, or all of the new
            // range when the source stays (a copy, MREMAP_DONTUNMAP).
            let adds = if old_len == 0 || how.dont_unmap {
                page_up(new_len.min(GUEST_TOP))
            } else {
                page_up(new_len.min(GUEST_TOP)).saturating_sub(page_up(old_len.min(GUEST_TOP)))
            };
            if adds > 0 {
                mm.may_expand(adds, None, as_limit)?;
            }
            mm.remap(cx, old, old_len, new_len, how)
        })
        .map(|a| a as i64))
}

pub(super) fn madvise(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let (addr, len, advice) = (a[0], page_up(a[1]), a[2] as i32);
    if addr % PAGE != 0 || addr.checked_add(len).is_none_or(|e| e > GUEST_TOP) {
        return err(libc::EINVAL);
    }
    if advice == libc::MADV_DONTNEED {
        return ret(c.with_mm(|mm, cx| mm.dont_need(cx, addr, len)).map(|_| 0));
    }
    if advice == libc::MADV_DONTFORK || advice == libc::MADV_DOFORK {
        let on = advice == libc::MADV_DONTFORK;
        return ret(c
            .with_mm(|mm, cx| mm.set_dontfork(cx.mf, addr, len, on))
            .map(|_| 0));
    }
    Sys::Ret(0)
}

#[cfg(test)]
mod tests {
    use crate::platform::GUEST_TOP;
    use crate::testing::{kernel, SCRATCH};

    const MAP: u64 = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
    const FIXED: u64 = MAP | libc::MAP_FIXED as u64;
    const RW: u64 = (libc::PROT_READ | libc::PROT_WRITE) as u64;

    #[test]
    fn mmap_munmap_and_memory_reads_back() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let a = k
            .call(t, libc::SYS_mmap, [0, 8192, RW, MAP, u64::MAX, 0])
            .unwrap();
        assert!(a > 0 && (a as u64).is_multiple_of(4096), "{a:#x}");
        k.put(t, a as u64 + 4090, b"across a page");
        assert_eq!(k.get(t, a as u64 + 4090, 13), b"across a page");
        assert_eq!(
            k.call(t, libc::SYS_munmap, [a as u64, 4096, 0, 0, 0, 0]),
            Some(0)
        );
        assert!(
            k.read_mem(t, a as u64, 1).is_err(),
            "unmapped page still readable"
        );
        assert_eq!(k.get(t, a as u64 + 4096, 7), b" a page");
    }

    #[test]
    fn mremap_moves_copies_and_keeps_sharing_as_linux() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let p = 4096u64;
        let shared = (libc::MAP_SHARED | libc::MAP_ANONYMOUS) as u64;
        let call = |k: &mut crate::kernel::Kernel, nr, a| k.call(t, nr, a).unwrap();
        let mmap = |k: &mut crate::kernel::Kernel, len, flags| {
            k.call(t, libc::SYS_mmap, [0, len, RW, flags, u64::MAX, 0])
                .unwrap() as u64
        };
        let may = libc::MREMAP_MAYMOVE as u64;
        let fixed = may | libc::MREMAP_FIXED as u64;
        let dont = may | libc::MREMAP_DONTUNMAP as u64;
        let msync = |k: &mut crate::kernel::Kernel, a| {
            k.call(t, libc::SYS_msync, [a, p, libc::MS_ASYNC as u64, 0, 0, 0])
                .unwrap()
        };
        // The last page of a mapping grows in place into free pages; the first page
        // moves, with its bytes, and its place is unmapped (msync: ENOMEM).
        let a = mmap(&mut k, 2 * p, MAP);
        assert_eq!(
            call(&mut k, libc::SYS_mremap, [a + p, p, 2 * p, 0, 0, 0]),
            (a + p) as i64
        );
        assert_eq!(msync(&mut k, a + 2 * p), 0);
        k.put(t, a, b"private");
        let b = call(&mut k, libc::SYS_mremap, [a, p, 3 * p, may, 0, 0]) as u64;
        assert_ne!(b, a);
        assert_eq!(k.get(t, b, 7), b"private");
        assert_eq!(k.get(t, b + 2 * p, 4), [0; 4]);
        assert_eq!(msync(&mut k, a), -(libc::ENOMEM as i64));
        assert_eq!(msync(&mut k, a + p), 0);
        // A shared mapping copied (old_len 0) twice: all three see one write.
        let s = mmap(&mut k, 2 * p, shared);
        let c = call(&mut k, libc::SYS_mremap, [s, 0, 2 * p, may, 0, 0]) as u64;
        let d = call(&mut k, libc::SYS_mremap, [s + p, 0, p, fixed, b, 0]) as u64;
        assert_eq!(d, b, "the fixed destination replaced what was there");
        k.put(t, c + p, b"shared");
        assert_eq!(k.get(t, s + p, 6), b"shared");
        assert_eq!(k.get(t, d, 6), b"shared");
        // Moved, it still shares with the copies.
        let e = call(
            &mut k,
            libc::SYS_mremap,
            [s, 2 * p, 2 * p, may | fixed, a, 0],
        ) as u64;
        assert_eq!(e, a);
        k.put(t, d, b"moved!");
        assert_eq!(k.get(t, a + p, 6), b"moved!");
        assert_eq!(msync(&mut k, s), -(libc::ENOMEM as i64));
        // A private mapping can not be copied; without MREMAP_MAYMOVE a copy can not grow.
        let q = mmap(&mut k, p, MAP);
        assert_eq!(
            call(&mut k, libc::SYS_mremap, [q, 0, p, may, 0, 0]),
            -(libc::EINVAL as i64)
        );
        assert_eq!(
            call(&mut k, libc::SYS_mremap, [c, 0, p, 0, 0, 0]),
            -(libc::ENOMEM as i64)
        );
        // MREMAP_DONTUNMAP: a private source stays mapped with fresh pages, a shared one
        // with its own.
        k.put(t, q, b"pages");
        let r = call(&mut k, libc::SYS_mremap, [q, p, p, dont, 0, 0]) as u64;
        assert_eq!(k.get(t, r, 5), b"pages");
        assert_eq!(k.get(t, q, 5), [0; 5]);
        let r2 = call(&mut k, libc::SYS_mremap, [c, p, p, dont, 0, 0]) as u64;
        k.put(t, r2, b"both");
        assert_eq!(k.get(t, c, 4), b"both");
        assert_eq!(
            call(&mut k, libc::SYS_mremap, [q, p, 2 * p, dont, 0, 0]),
            -(libc::EINVAL as i64),
            "MREMAP_DONTUNMAP keeps the size"
        );
        // The source must lie in one mapping: two of different protection are two.
        let f = mmap(&mut k, 3 * p, MAP);
        call(
            &mut k,
            libc::SYS_mprotect,
            [f, p, libc::PROT_READ as u64, 0, 0, 0],
        );
        assert_eq!(
            call(&mut k, libc::SYS_mremap, [f, 2 * p, 4 * p, may, 0, 0]),
            -(libc::EFAULT as i64)
        );
        // Unaligned or unknown: EINVAL.
        for (addr, flags) in [(f + 1, may), (f, 1 << 7), (f, libc::MREMAP_FIXED as u64)] {
            assert_eq!(
                call(&mut k, libc::SYS_mremap, [addr, p, 2 * p, flags, 0, 0]),
                -(libc::EINVAL as i64)
            );
        }
        assert_eq!(
            k.call(t, libc::SYS_msync, [f + 1, p, 0, 0, 0, 0]),
            Some(-(libc::EINVAL as i64))
        );
        assert_eq!(
            k.call(t, libc::SYS_msync, [f, u64::MAX, 0, 0, 0, 0]),
            Some(-(libc::ENOMEM as i64))
        );
    }

    /// Task `t` opens `name` in the root (read-write) and maps `pages` pages of it
    /// private and writable; returns (fd, address).
    fn map_private_file(
        k: &mut crate::kernel::Kernel,
        t: i32,
        name: &str,
        pages: u64,
    ) -> (u64, u64) {
        let path = k.put_str(t, SCRATCH, name);
        let fd = k
            .call(
                t,
                libc::SYS_openat,
                [libc::AT_FDCWD as u64, path, libc::O_RDWR as u64, 0, 0, 0],
            )
            .unwrap();
        assert!(fd >= 0, "open: {fd}");
        let priv_file = libc::MAP_PRIVATE as u64;
        let a = k
            .call(
                t,
                libc::SYS_mmap,
                [0, pages * 4096, RW, priv_file, fd as u64, 0],
            )
            .unwrap();
        assert!(a > 0, "mmap: {a}");
        (fd as u64, a as u64)
    }

    #[test]
    fn truncation_drops_private_copies_of_pages_past_the_new_end() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), [b'a'; 2 * 4096]).unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let p = 4096u64;
        let (fd, a) = map_private_file(&mut k, t, "/f", 2);
        // Both pages written: private copies.
        k.put(t, a, b"copy0");
        k.put(t, a + p, b"copy1");
        // Truncated to one page: the copy of the page past the end goes (a touch gets
        // SIGBUS, a system call EFAULT), the one below it stays.
        assert_eq!(k.call(t, libc::SYS_ftruncate, [fd, p, 0, 0, 0, 0]), Some(0));
        k.page_cache_upkeep(libc::SYS_ftruncate as u64);
        assert_eq!(k.get(t, a, 5), b"copy0");
        assert!(k.with_mm(t, |mm, cx| mm.fenced_at(cx.mf, a + p)));
        assert!(k.read_mem(t, a + p, 1).is_err());
        // Grown again, the page is the file's: zeroes, not the copy.
        assert_eq!(
            k.call(t, libc::SYS_ftruncate, [fd, 2 * p, 0, 0, 0, 0]),
            Some(0)
        );
        k.page_cache_upkeep(libc::SYS_ftruncate as u64);
        assert!(!k.with_mm(t, |mm, cx| mm.fenced_at(cx.mf, a + p)));
        assert_eq!(k.get(t, a + p, 5), [0; 5]);
    }

    #[test]
    fn map_32bit_places_below_2_gib() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let flags = MAP | libc::MAP_32BIT as u64;
        for _ in 0..2 {
            let a = k.call(t, libc::SYS_mmap, [0, 8192, RW, flags, u64::MAX, 0]);
            let a = a.unwrap();
            assert!(a > 0 && a as u64 + 8192 <= 1 << 31, "{a:#x}");
        }
        let big = k.call(t, libc::SYS_mmap, [0, 4 << 30, RW, flags, u64::MAX, 0]);
        assert_eq!(big, Some(-(libc::ENOMEM as i64)));
    }

    #[test]
    fn ranges_outside_the_guest_range_get_linux_errnos() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let e = |k: &mut crate::kernel::Kernel, nr, a| k.call(t, nr, a).unwrap();
        assert_eq!(
            e(&mut k, libc::SYS_mmap, [0, 4096, RW, FIXED, u64::MAX, 0]),
            -(libc::EPERM as i64)
        );
        assert_eq!(
            e(
                &mut k,
                libc::SYS_mmap,
                [GUEST_TOP, 4096, RW, FIXED, u64::MAX, 0]
            ),
            -(libc::ENOMEM as i64)
        );
        let remap = |k: &mut crate::kernel::Kernel, len: u64, to: u64| {
            let flags = (libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) as u64;
            k.call(t, libc::SYS_mremap, [SCRATCH, len, len, flags, to, 0])
                .unwrap()
        };
        assert_eq!(remap(&mut k, 4096, GUEST_TOP), -(libc::EINVAL as i64));
        assert_eq!(remap(&mut k, 4096, 0), -(libc::EPERM as i64));
        assert_eq!(
            remap(&mut k, 8192, SCRATCH + 4096),
            -(libc::EINVAL as i64),
            "overlap"
        );
        assert_eq!(
            e(
                &mut k,
                libc::SYS_munmap,
                [GUEST_TOP - 4096, 8192, 0, 0, 0, 0]
            ),
            -(libc::EINVAL as i64)
        );
        // The scratch memory is untouched by all of that.
        k.put(t, SCRATCH, b"ok");
        assert_eq!(k.get(t, SCRATCH, 2), b"ok");
    }
}
