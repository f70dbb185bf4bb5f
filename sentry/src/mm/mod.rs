//! The memory manager: guest address spaces whose mappings are ranges of the memory file.

pub(crate) mod lazy;
pub(crate) mod memfile;
pub(crate) mod state;

use std::collections::BTreeMap;

pub(crate) use memfile::{page_down, page_up, MemoryFile, Snapshot, PAGE, SNAP_CHUNK};

use crate::platform::{AddressSpaceId, GuestRange, Platform, RangeError, GUEST_BOTTOM, GUEST_TOP};

/// Copy-on-write copies at least this much around a fault, so that page-sized host
/// mappings do not pile up.
const COW_CHUNK: u64 = 64 * 1024;

/// What the first write to pages still the shared checkpoint image's gives its copy in
/// the memory file, at least: every such copy splits a host mapping of the image in two,
/// in the sentry and in the stub, and a process may have only so many mappings
/// (`vm.max_map_count`, 65530 by default), so the copies are not page-sized.
const IMAGE_WINDOW: u64 = 1 << 20;

/// What a write fault on private memory nothing shares any more makes writable.
const WIDE_WINDOW: u64 = 4 << 20;

/// Lowest address a guest may map.
pub(crate) const MMAP_MIN: u64 = GUEST_BOTTOM;
/// Top of the initial stack.
pub(crate) const STACK_TOP: u64 = GUEST_TOP - 0x1000_0000;
/// Size reserved below the stack top for the main stack.
pub(crate) const STACK_SIZE: u64 = 8 << 20;
/// Where top-down mmap allocation starts.
pub(crate) const MMAP_TOP: u64 = STACK_TOP - (1 << 30);

pub(crate) const PROT_READ: i32 = libc::PROT_READ;
pub(crate) const PROT_WRITE: i32 = libc::PROT_WRITE;
pub(crate) const PROT_EXEC: i32 = libc::PROT_EXEC;

/// One guest mapping: `[start, end)` backed by memory-file bytes from `off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vma {
    pub end: u64,
    pub prot: i32,
    /// MAP_SHARED: writes are seen by every address space that maps it; fork shares it.
    pub shared: bool,
    pub off: u64,
    /// What /proc/PID/maps shows ("[stack]", "[heap]", a path, or empty).
    pub name: String,
    /// MADV_DONTFORK: a forked child does not get this mapping.
    pub dontfork: bool,
    /// A private mapping of a file: the memory-file offset of the file's pages this
    /// entry maps from its start, whose references it holds (one for each page) for as
    /// long as it lasts, as Linux's mapping keeps its file. Its own pages (`off`) start
    /// as these and become private copies at a write; MADV_DONTNEED brings the file's
    /// back.
    pub file_pages: Option<u64>,
    /// Shared anonymous memory: the object it maps (Linux's shmem file behind
    /// MAP_SHARED|MAP_ANONYMOUS), of which each entry holds one reference of all the
    /// pages, so that what a shrink leaves unmapped is still there for a growth.
    pub shm: Option<Shm>,
    /// Pages a growth of shared anonymous memory mapped past its object's end: mapped
    /// without access, a guest touching them gets SIGBUS (a system call, EFAULT), as
    /// Linux.
    pub past_end: bool,
}

/// Shared anonymous memory's object: memory-file bytes `[base, base + size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shm {
    pub base: u64,
    pub size: u64,
}

impl Vma {
    /// A plain mapping of memory-file bytes from `off` up to `end`.
    pub(crate) fn plain(end: u64, prot: i32, shared: bool, off: u64, name: &str) -> Vma {
        Vma {
            end,
            prot,
            shared,
            off,
            name: name.to_string(),
            dontfork: false,
            file_pages: None,
            shm: None,
            past_end: false,
        }
    }

    /// Takes (`on`) or drops the references this entry, starting at `start`, holds
    /// besides those of its own pages: its file's pages, its object's.
    fn hold(&self, mf: &MemoryFile, start: u64, on: bool) {
        let adjust = |off, len| {
            if on {
                mf.inc_ref(off, len)
            } else {
                mf.dec_ref(off, len)
            }
        };
        if let Some(f) = self.file_pages {
            adjust(f, self.end - start);
        }
        if let Some(o) = self.shm {
            adjust(o.base, o.size);
        }
    }

    /// The object offset of guest address `at` of this entry (starting at `start`), if
    /// it maps shared anonymous memory's object.
    fn shm_offset(&self, start: u64, at: u64) -> Option<u64> {
        self.shm.map(|o| self.off + (at - start) - o.base)
    }
}

/// How an mremap may place its result: `MREMAP_MAYMOVE`, `MREMAP_FIXED`'s address,
/// `MREMAP_DONTUNMAP`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Remap {
    pub may_move: bool,
    pub fixed: Option<u64>,
    pub dont_unmap: bool,
}

/// A guest errno as a positive number.
pub(crate) type Errno = i32;

/// A guest address space.
pub struct Mm {
    pub id: AddressSpaceId,
    pub vmas: BTreeMap<u64, Vma>,
    pub brk_start: u64,
    pub brk: u64,
    /// Where argv and envp strings live, for /proc/PID/cmdline and environ.
    pub arg_range: (u64, u64),
    pub env_range: (u64, u64),
    /// Where the auxiliary vector lives, for /proc/PID/auxv.
    pub auxv_range: (u64, u64),
    /// After a restore on demand: guest ranges (start -> end) mapped without access
    /// because the image's bytes may not be there yet; the first touch opens the window
    /// around it (`handle_lazy`), every change of a mapping opens or drops what it
    /// covers first. Empty otherwise.
    unopened: BTreeMap<u64, u64>,
    /// While the memory file tracks writes ahead of a checkpoint's snapshot: the ranges
    /// given write access since the tracking began (the stop protects only these).
    dirty: Vec<(u64, u64)>,
}

/// How much a first touch of memory restored on demand opens: the segments it meets are
/// loaded and the window gets its protection.
const LAZY_WINDOW: u64 = statefile::MAX_SEGMENT_LEN;

/// The most one such fault opens when the memory after the window is loaded already.
const LAZY_OPEN_MAX: u64 = 64 << 20;

/// The memory file and the platform: what address-space operations act on.
pub struct MmCtx<'a> {
    pub mf: &'a MemoryFile,
    pub plat: &'a mut dyn Platform,
}

impl MmCtx<'_> {
    /// `r`, whose memory-file bytes start at `off`, in pieces: (guest range, image
    /// offset if the piece's pages are still the shared checkpoint image's).
    fn pieces(&self, r: GuestRange, off: u64) -> std::io::Result<Vec<(GuestRange, Option<u64>)>> {
        let at = |x: u64| r.start() + (x - off);
        self.mf
            .image_pieces(off, r.len())
            .into_iter()
            .map(|(s, e, img)| Ok((GuestRange::bounds(at(s), at(e))?, img)))
            .collect()
    }

    /// `r`, whose memory-file bytes start at `off`, in pieces: (guest range, memory-file
    /// offset, protection), fenced pieces (a file's pages past its end) without access.
    fn fenced(
        &self,
        r: GuestRange,
        off: u64,
        prot: i32,
    ) -> std::io::Result<Vec<(GuestRange, u64, i32)>> {
        if !self.mf.has_fence(off, r.len()) {
            return Ok(vec![(r, off, prot)]);
        }
        let at = |x: u64| r.start() + (x - off);
        self.mf
            .fence_pieces(off, r.len())
            .into_iter()
            .map(|(s, e, f)| {
                let p = if f { libc::PROT_NONE } else { prot };
                Ok((GuestRange::bounds(at(s), at(e))?, s, p))
            })
            .collect()
    }

    /// Maps `r` in `a` to the memory-file bytes from `off`: pages that are still the
    /// image's are mapped from the image, never writable; fenced pages without access.
    fn map(
        &mut self,
        a: AddressSpaceId,
        r: GuestRange,
        prot: i32,
        off: u64,
    ) -> std::io::Result<()> {
        for (r, off, prot) in self.fenced(r, off, prot)? {
            self.map_unfenced(a, r, prot, off)?;
        }
        Ok(())
    }

    fn map_unfenced(
        &mut self,
        a: AddressSpaceId,
        r: GuestRange,
        prot: i32,
        off: u64,
    ) -> std::io::Result<()> {
        for (piece, img) in self.pieces(r, off)? {
            match img {
                Some(f) => self.plat.map_image(a, piece, prot & !PROT_WRITE, f)?,
                None => self
                    .plat
                    .map(a, piece, prot, off + (piece.start() - r.start()))?,
            }
        }
        Ok(())
    }

    /// Gives `r` in `a`, whose memory-file bytes start at `off`, protection `prot`;
    /// pages still the image's never become writable, fenced pages get no access.
    fn protect(
        &mut self,
        a: AddressSpaceId,
        r: GuestRange,
        prot: i32,
        off: u64,
    ) -> std::io::Result<()> {
        for (r, off, prot) in self.fenced(r, off, prot)? {
            self.protect_unfenced(a, r, prot, off)?;
        }
        Ok(())
    }

    fn protect_unfenced(
        &mut self,
        a: AddressSpaceId,
        r: GuestRange,
        prot: i32,
        off: u64,
    ) -> std::io::Result<()> {
        if prot & PROT_WRITE == 0 || !self.mf.has_image(off, r.len()) {
            return self.plat.protect(a, r, prot);
        }
        for (piece, img) in self.pieces(r, off)? {
            let p = if img.is_some() {
                prot & !PROT_WRITE
            } else {
                prot
            };
            self.plat.protect(a, piece, p)?;
        }
        Ok(())
    }
}

fn io_errno(e: std::io::Error) -> Errno {
    e.raw_os_error().unwrap_or(libc::ENOMEM)
}

/// A range the memory manager built from its own table (every mapping lies in the guest
/// range by construction): a failure here is a sentry bug, reported as EFAULT.
fn table_range(start: u64, end: u64) -> Result<GuestRange, Errno> {
    GuestRange::bounds(start, end).map_err(|_| libc::EFAULT)
}

/// The range a guest names for a fixed placement (`MAP_FIXED`, `MREMAP_FIXED`), with the
/// errno Linux gives for each way it can be wrong.
fn fixed_range(addr: u64, len: u64, above_top: Errno) -> Result<GuestRange, Errno> {
    GuestRange::new(addr, len).map_err(|e| match e {
        RangeError::Unaligned => libc::EINVAL,
        RangeError::BelowBottom => libc::EPERM,
        RangeError::AboveTop => above_top,
    })
}

impl Mm {
    pub fn new(cx: &mut MmCtx) -> std::io::Result<Mm> {
        let id = cx.plat.new_address_space()?;
        Ok(Mm {
            id,
            vmas: BTreeMap::new(),
            brk_start: 0,
            brk: 0,
            arg_range: (0, 0),
            env_range: (0, 0),
            auxv_range: (0, 0),
            unopened: BTreeMap::new(),
            dirty: Vec::new(),
        })
    }

    /// The unopened pieces that meet `[start, end)`, clipped to it.
    fn unopened_in(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let first = self
            .unopened
            .range(..start)
            .next_back()
            .filter(|(_, &e)| e > start)
            .map(|(&s, &e)| (s, e));
        first
            .into_iter()
            .chain(self.unopened.range(start..end).map(|(&s, &e)| (s, e)))
            .map(|(s, e)| (s.max(start), e.min(end)))
            .collect()
    }

    /// Drops `[start, end)` from the unopened ranges (it is opened, or unmapped).
    fn drop_unopened(&mut self, start: u64, end: u64) {
        for (a, b) in self.unopened_in(start, end) {
            let (&s, &e) = self.unopened.range(..=a).next_back().expect("listed");
            self.unopened.remove(&s);
            if s < a {
                self.unopened.insert(s, a);
            }
            if b < e {
                self.unopened.insert(b, e);
            }
        }
    }

    /// Opens what is unopened in `[start, end)`: the image's bytes are loaded and the
    /// mappings get their protection. Fails when the image's bytes there were bad (the
    /// range stays unopened).
    pub(crate) fn open_range(
        &mut self,
        cx: &mut MmCtx,
        start: u64,
        end: u64,
    ) -> Result<(), lazy::Poisoned> {
        for (a, b) in self.unopened_in(start, end) {
            for (&s, v) in self.vmas.range(..b) {
                if v.end <= a {
                    continue;
                }
                let (x, y) = (s.max(a), v.end.min(b));
                cx.mf.settle(v.off + (x - s), y - x)?;
            }
            for (&s, v) in self.vmas.range(..b) {
                if v.end <= a {
                    continue;
                }
                let (x, y) = (s.max(a), v.end.min(b));
                let hp = self.host_prot(cx, v, s);
                if let Ok(r) = GuestRange::bounds(x, y) {
                    let _ = cx.protect(self.id, r, hp, v.off + (x - s));
                }
            }
            self.drop_unopened(a, b);
        }
        Ok(())
    }

    /// Whether part of it is still unopened (after a restore on demand).
    pub(crate) fn has_unopened(&self) -> bool {
        !self.unopened.is_empty()
    }

    /// Opens everything (a fork, a checkpoint).
    pub(crate) fn open_all(&mut self, cx: &mut MmCtx) -> Result<(), lazy::Poisoned> {
        if self.unopened.is_empty() {
            return Ok(());
        }
        self.open_range(cx, 0, u64::MAX)
    }

    /// A fault at `addr` in memory restored on demand and not yet opened: opens the
    /// window around it. None when the fault is not of that kind.
    pub(crate) fn handle_lazy(
        &mut self,
        cx: &mut MmCtx,
        addr: u64,
    ) -> Option<Result<(), lazy::Poisoned>> {
        let (&s, &e) = self.unopened.range(..=addr).next_back()?;
        if addr >= e {
            return None;
        }
        let w0 = (addr & !(LAZY_WINDOW - 1)).max(s);
        let mut w1 = ((addr & !(LAZY_WINDOW - 1)) + LAZY_WINDOW).min(e);
        // What the background loader already brought in after the window opens with it
        // (up to LAZY_OPEN_MAX): one fault instead of one per window.
        while w1 < e && w1 - w0 < LAZY_OPEN_MAX {
            let next = (w1 + LAZY_WINDOW).min(e);
            if !self.loaded(cx.mf, w1, next) {
                break;
            }
            w1 = next;
        }
        Some(self.open_range(cx, w0, w1))
    }

    /// Whether the memory-file bytes behind `[start, end)` are all loaded.
    fn loaded(&self, mf: &MemoryFile, start: u64, end: u64) -> bool {
        self.vmas.range(..end).all(|(&s, v)| {
            v.end <= start || {
                let (x, y) = (s.max(start), v.end.min(end));
                mf.settled(v.off + (x - s), y - x)
            }
        })
    }

    /// After a restore on demand: every mapping starts unopened (one without access too:
    /// an mprotect giving it access later must find its bytes loaded first).
    fn start_unopened(&mut self) {
        for (&s, v) in &self.vmas {
            self.unopened.insert(s, v.end);
        }
    }

    /// Whether the page at `addr` is mapped and fenced (a file's page past its end): a
    /// guest touching it gets SIGBUS.
    pub(crate) fn fenced_at(&self, mf: &MemoryFile, addr: u64) -> bool {
        self.find(addr)
            .is_some_and(|(s, v)| v.past_end || mf.has_fence(v.off + (page_down(addr) - s), PAGE))
    }

    /// Gives every mapping of memory-file bytes `[off, off + len)` its host protection
    /// again (fences were set or lifted there). Unopened ranges are left to their opening.
    pub(crate) fn refresh(&self, cx: &mut MmCtx, off: u64, len: u64) -> std::io::Result<()> {
        let end = off + len;
        for (&s, v) in &self.vmas {
            let vend = v.off + (v.end - s);
            let (a, b) = (v.off.max(off), vend.min(end));
            if a >= b {
                continue;
            }
            let (ga, gb) = (s + (a - v.off), s + (b - v.off));
            if !self.unopened_in(ga, gb).is_empty() {
                continue;
            }
            let hp = Self::window_prot(cx, v, a, b - a);
            cx.protect(self.id, GuestRange::bounds(ga, gb)?, hp, a)?;
        }
        Ok(())
    }

    /// Whether `addr` is mapped without PROT_EXEC (code there can not have been fetched).
    pub(crate) fn mapped_noexec(&self, addr: u64) -> bool {
        self.find(addr)
            .is_some_and(|(_, v)| v.prot & PROT_EXEC == 0)
    }

    /// The mapping that holds `addr`.
    pub fn find(&self, addr: u64) -> Option<(u64, &Vma)> {
        let (&s, v) = self.vmas.range(..=addr).next_back()?;
        (addr < v.end).then_some((s, v))
    }

    /// The host protection of mapping `v` starting at `start`: private writable memory
    /// that another address space still shares is mapped read-only (copy-on-write), and
    /// so is memory a checkpoint's snapshot still needs unchanged.
    fn host_prot(&self, cx: &MmCtx, v: &Vma, start: u64) -> i32 {
        Self::window_prot(cx, v, v.off, v.end - start)
    }

    /// The host protection, as `host_prot`, of the part of mapping `v` whose memory-file
    /// bytes are `[off, off + len)`.
    fn window_prot(cx: &MmCtx, v: &Vma, off: u64, len: u64) -> i32 {
        if v.past_end {
            libc::PROT_NONE
        } else if v.prot & PROT_WRITE != 0
            && ((!v.shared && cx.mf.is_shared(off, len)) || !cx.mf.write_allowed(off, len))
        {
            v.prot & !PROT_WRITE
        } else {
            v.prot
        }
    }

    /// Makes every writable mapping read-only while a checkpoint's snapshot is taken
    /// (each page becomes writable again at its first write fault, once the snapshot
    /// has what it held).
    pub fn protect_for_snapshot(&self, cx: &mut MmCtx) -> std::io::Result<()> {
        for (&s, v) in &self.vmas {
            if v.prot & PROT_WRITE != 0 {
                let hp = self.host_prot(cx, v, s);
                cx.protect(self.id, GuestRange::bounds(s, v.end)?, hp, v.off)?;
            }
        }
        Ok(())
    }

    /// At a checkpoint's stop, when the mappings were made read-only ahead of it while
    /// the guest ran: protects what became writable since (`dirty`), and forgets it.
    pub fn protect_dirty_for_snapshot(&mut self, cx: &mut MmCtx) -> std::io::Result<()> {
        for (a, b) in std::mem::take(&mut self.dirty) {
            self.reprotect(cx, a, b)?;
        }
        Ok(())
    }

    /// Forgets the ranges tracked ahead of a snapshot that did not come.
    pub fn forget_dirty(&mut self) {
        self.dirty.clear();
    }

    /// The writable mappings as pieces of at most `max` bytes, to be given their
    /// protection back (`reprotect`) a piece at a time once a snapshot is over.
    pub fn writable_pieces(&self, max: u64) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        for (&s, m) in &self.vmas {
            if m.prot & PROT_WRITE != 0 {
                let mut at = s;
                while at < m.end {
                    let end = m.end.min(at + max);
                    v.push((at, end));
                    at = end;
                }
            }
        }
        v
    }

    /// Gives the writable mappings in `[start, end)` their protection back.
    pub fn reprotect(&self, cx: &mut MmCtx, start: u64, end: u64) -> std::io::Result<()> {
        for (&s, v) in self.vmas.range(..end) {
            if v.end <= start || v.prot & PROT_WRITE == 0 {
                continue;
            }
            let (a, b) = (s.max(start), v.end.min(end));
            let hp = self.host_prot(cx, v, s);
            cx.protect(self.id, GuestRange::bounds(a, b)?, hp, v.off + (a - s))?;
        }
        Ok(())
    }

    /// Splits mappings so that `at` is a boundary.
    fn split(&mut self, mf: &MemoryFile, at: u64) {
        if let Some((s, v)) = self.find(at) {
            if s < at {
                let mut right = v.clone();
                right.off += at - s;
                right.file_pages = v.file_pages.map(|f| f + (at - s));
                // The file's pages' references split with the pages; the object's are
                // one per entry.
                if let Some(o) = right.shm {
                    mf.inc_ref(o.base, o.size);
                }
                self.vmas.get_mut(&s).expect("found").end = at;
                self.vmas.insert(at, right);
            }
        }
    }

    /// Removes `[start, end)` from the table, dropping the memory-file references.
    fn remove_range(&mut self, cx: &mut MmCtx, start: u64, end: u64) {
        self.drop_unopened(start, end);
        self.split(cx.mf, start);
        self.split(cx.mf, end);
        let keys: Vec<u64> = self.vmas.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            let v = self.vmas.remove(&k).expect("listed");
            cx.mf.dec_ref(v.off, v.end - k);
            v.hold(cx.mf, k, false);
        }
    }

    /// Finds a free range of `len` bytes, top-down below `MMAP_TOP`.
    fn find_free(&self, len: u64) -> Option<u64> {
        self.find_free_below(len, MMAP_TOP)
    }

    /// Finds a free range of `len` bytes, top-down below `limit` (MAP_32BIT: 2 GiB).
    pub(crate) fn find_free_below(&self, len: u64, limit: u64) -> Option<u64> {
        let mut top = limit;
        for (&s, v) in self.vmas.range(..limit).rev() {
            if v.end <= top && top - v.end >= len {
                return Some(top - len);
            }
            top = top.min(s);
        }
        (top >= MMAP_MIN + len).then(|| top - len)
    }

    fn is_free(&self, start: u64, end: u64) -> bool {
        if let Some((_, v)) = self.vmas.range(..end).next_back() {
            if v.end > start {
                return false;
            }
        }
        true
    }

    /// Where a new mapping of `len` bytes (a page multiple) goes: at `addr` when `fixed`
    /// (what was there is removed), else there if it is free, else where there is room.
    fn place(
        &mut self,
        cx: &mut MmCtx,
        addr: u64,
        len: u64,
        fixed: bool,
    ) -> Result<GuestRange, Errno> {
        if fixed {
            let r = fixed_range(addr, len, libc::ENOMEM)?;
            self.remove_range(cx, r.start(), r.end());
            return Ok(r);
        }
        match GuestRange::new(addr, len) {
            Ok(r) if self.is_free(r.start(), r.end()) => Ok(r),
            _ => {
                let start = self.find_free(len).ok_or(libc::ENOMEM)?;
                table_range(start, start + len)
            }
        }
    }

    /// Maps fresh zeroed memory. `addr` is used as is when `fixed`, else as a hint.
    #[allow(clippy::too_many_arguments)]
    pub fn map_anon(
        &mut self,
        cx: &mut MmCtx,
        addr: u64,
        len: u64,
        prot: i32,
        shared: bool,
        fixed: bool,
        name: &str,
    ) -> Result<u64, Errno> {
        if len == 0 {
            return Err(libc::EINVAL);
        }
        let len = page_up(len);
        if len > GUEST_TOP {
            return Err(libc::ENOMEM);
        }
        let r = self.place(cx, addr, len, fixed)?;
        self.insert_fresh(cx, r, prot, shared, name)?;
        Ok(r.start())
    }

    /// Maps memory-file bytes that something else holds (a memfd's pages): `pieces`
    /// (offset, length) follow each other in the mapping, `len` bytes in all. Each piece
    /// gets a reference of the mapping's own; a private mapping shares them copy-on-write.
    #[allow(clippy::too_many_arguments)]
    pub fn map_pieces(
        &mut self,
        cx: &mut MmCtx,
        addr: u64,
        len: u64,
        prot: i32,
        shared: bool,
        fixed: bool,
        name: &str,
        pieces: &[(u64, u64)],
    ) -> Result<u64, Errno> {
        let len = page_up(len);
        if len == 0 || len > GUEST_TOP || pieces.iter().map(|&(_, l)| l).sum::<u64>() != len {
            return Err(libc::EINVAL);
        }
        let r = self.place(cx, addr, len, fixed)?;
        let mut at = r.start();
        for &(off, l) in pieces {
            cx.mf.inc_ref(off, l);
            let mut v = Vma::plain(at + l, prot, shared, off, name);
            if !shared {
                // A private mapping keeps the file's pages (MADV_DONTNEED).
                v.file_pages = Some(off);
                v.hold(cx.mf, at, true);
            }
            self.insert_entry(cx, at, v)?;
            at += l;
        }
        Ok(r.start())
    }

    /// Enters `v` at `start` in the table and maps it (the references it holds are
    /// taken already).
    fn insert_entry(&mut self, cx: &mut MmCtx, start: u64, v: Vma) -> Result<(), Errno> {
        let hp = self.host_prot(cx, &v, start);
        if cx.mf.tracking() && hp & PROT_WRITE != 0 {
            self.dirty.push((start, v.end));
        }
        let (r, off) = (table_range(start, v.end)?, v.off);
        self.vmas.insert(start, v);
        cx.map(self.id, r, hp, off).map_err(io_errno)
    }

    /// Maps pages past the end of shared anonymous memory's object at the free range
    /// `r`, as mapping `like` goes on there (fresh memory, never accessible).
    fn insert_past_end(&mut self, cx: &mut MmCtx, r: GuestRange, like: &Vma) -> Result<(), Errno> {
        let off = cx.mf.alloc(r.len()).map_err(io_errno)?;
        let mut v = Vma::plain(r.end(), like.prot, true, off, &like.name);
        v.dontfork = like.dontfork;
        v.past_end = true;
        self.insert_entry(cx, r.start(), v)
    }

    /// Maps the free range `tail` where a mapping grows, its entry `like` (at
    /// `like_start`) ending where the tail's pages follow on: shared anonymous memory
    /// maps its object's pages as far as the object goes and pages past its end after
    /// them (SIGBUS, as Linux); anything else fresh memory.
    fn grow_tail(
        &mut self,
        cx: &mut MmCtx,
        tail: GuestRange,
        like_start: u64,
        like: &Vma,
    ) -> Result<(), Errno> {
        let Some(o) = like.shm else {
            if like.past_end {
                return self.insert_past_end(cx, tail, like);
            }
            self.insert_fresh(cx, tail, like.prot, like.shared, &like.name)?;
            self.vmas.get_mut(&tail.start()).expect("inserted").dontfork = like.dontfork;
            return Ok(());
        };
        let t0 = like.shm_offset(like_start, like.end).ok_or(libc::EFAULT)?;
        let inside = o.size.saturating_sub(t0).min(tail.len());
        if inside > 0 {
            let mut v = like.clone();
            v.end = tail.start() + inside;
            v.off = o.base + t0;
            cx.mf.inc_ref(v.off, inside);
            v.hold(cx.mf, tail.start(), true);
            self.insert_entry(cx, tail.start(), v)?;
        }
        if inside < tail.len() {
            let rest = table_range(tail.start() + inside, tail.end())?;
            self.insert_past_end(cx, rest, like)?;
        }
        Ok(())
    }

    /// Maps fresh memory at the free range `r` and enters it in the table.
    fn insert_fresh(
        &mut self,
        cx: &mut MmCtx,
        r: GuestRange,
        prot: i32,
        shared: bool,
        name: &str,
    ) -> Result<(), Errno> {
        let off = cx.mf.alloc(r.len()).map_err(io_errno)?;
        if cx.mf.tracking() && prot & PROT_WRITE != 0 {
            self.dirty.push((r.start(), r.end()));
        }
        if let Err(e) = cx.plat.map(self.id, r, prot, off) {
            cx.mf.dec_ref(off, r.len());
            return Err(io_errno(e));
        }
        let mut v = Vma::plain(r.end(), prot, shared, off, name);
        if shared {
            // Shared anonymous memory: an object of its own, of this size.
            v.shm = Some(Shm {
                base: off,
                size: r.len(),
            });
            v.hold(cx.mf, r.start(), true);
        }
        self.vmas.insert(r.start(), v);
        Ok(())
    }

    /// munmap: as Linux, any page-aligned range below the top of the guest range may be
    /// named; what lies below the guest range is never mapped, so only the part inside it
    /// reaches the platform.
    pub fn unmap(&mut self, cx: &mut MmCtx, addr: u64, len: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE) || len == 0 {
            return Err(libc::EINVAL);
        }
        let len = page_up(len);
        if addr > GUEST_TOP || len > GUEST_TOP - addr {
            return Err(libc::EINVAL);
        }
        let (start, end) = (addr.max(GUEST_BOTTOM), addr + len);
        if start >= end {
            return Ok(());
        }
        let r = table_range(start, end)?;
        self.remove_range(cx, r.start(), r.end());
        cx.plat.unmap(self.id, r).map_err(io_errno)
    }

    pub fn protect(&mut self, cx: &mut MmCtx, addr: u64, len: u64, prot: i32) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE) {
            return Err(libc::EINVAL);
        }
        let end = addr.checked_add(page_up(len)).ok_or(libc::ENOMEM)?;
        if end == addr {
            return Ok(());
        }
        // Every page must be mapped (so the range lies in the guest range).
        self.check_mapped(addr, end, libc::ENOMEM)?;
        self.open_range(cx, addr, end).map_err(|_| libc::EFAULT)?;
        self.split(cx.mf, addr);
        self.split(cx.mf, end);
        let keys: Vec<u64> = self.vmas.range(addr..end).map(|(&k, _)| k).collect();
        for k in keys {
            self.vmas.get_mut(&k).expect("listed").prot = prot;
            let v = self.vmas[&k].clone();
            let hp = self.host_prot(cx, &v, k);
            cx.protect(self.id, table_range(k, v.end)?, hp, v.off)
                .map_err(io_errno)?;
        }
        Ok(())
    }

    /// MAP_POPULATE of fresh anonymous memory at `[addr, addr + len)`: its pages get
    /// their memory now (they count in the RSS, as Linux's).
    pub fn populate(&self, cx: &mut MmCtx, addr: u64, len: u64) -> Result<(), Errno> {
        self.walk(addr, len as usize, 0, |off, n| {
            let _ = cx.mf.populate(off, n as u64);
        })
    }

    /// MADV_DONTNEED of `[addr, addr + len)` (page-aligned): private memory reads back
    /// as zeroes again, a private mapping of a file as the file; shared memory stays as
    /// it is. As Linux, a gap is ENOMEM (what is mapped before it is done).
    pub fn dont_need(&mut self, cx: &mut MmCtx, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(libc::EINVAL)?;
        self.open_range(cx, addr, end).map_err(|_| libc::EFAULT)?;
        self.split(cx.mf, addr);
        self.split(cx.mf, end);
        let mut cur = addr;
        while cur < end {
            let (s, v) = self.find(cur).ok_or(libc::ENOMEM)?;
            let next = v.end;
            if !v.shared && v.file_pages != Some(v.off) {
                self.discard_private(cx, s)?;
            }
            cur = next;
        }
        Ok(())
    }

    /// Drops the pages of the private entry at `start` that are its own: it maps its
    /// file's pages again (a private mapping of a file), or fresh zeroed memory.
    fn discard_private(&mut self, cx: &mut MmCtx, start: u64) -> Result<(), Errno> {
        let mut v = self.vmas.remove(&start).expect("an entry starts there");
        let len = v.end - start;
        let fresh = match v.file_pages {
            Some(f) => {
                cx.mf.settle(f, len).map_err(|_| libc::EFAULT)?;
                cx.mf.inc_ref(f, len);
                f
            }
            None => cx.mf.alloc(len).map_err(io_errno)?,
        };
        cx.mf.dec_ref(v.off, len);
        v.off = fresh;
        self.insert_entry(cx, start, v)
    }

    /// A file whose cached pages are the memory-file bytes `[off, off + len)` changed
    /// size: the private copies private mappings made of its pages now past its end
    /// (fenced) are dropped, as Linux's truncate drops them (`unmap_mapping_range` with
    /// `even_cows`): the mappings map the file's pages again, and a touch gets SIGBUS.
    pub(crate) fn drop_copies_past_end(
        &mut self,
        cx: &mut MmCtx,
        off: u64,
        len: u64,
    ) -> Result<(), Errno> {
        let end = off + len;
        let mut copies = Vec::new();
        for (&s, v) in &self.vmas {
            let Some(f) = v.file_pages else { continue };
            let (a, b) = (f.max(off), (f + (v.end - s)).min(end));
            if v.shared || v.off == f || a >= b {
                continue;
            }
            for (x, y, fenced) in cx.mf.fence_pieces(a, b - a) {
                if fenced {
                    copies.push((s + (x - f), s + (y - f)));
                }
            }
        }
        for (g0, g1) in copies {
            self.open_range(cx, g0, g1).map_err(|_| libc::EFAULT)?;
            self.split(cx.mf, g0);
            self.split(cx.mf, g1);
            self.discard_private(cx, g0)?;
        }
        Ok(())
    }

    /// MADV_DONTFORK (`on`) or MADV_DOFORK: marks the mappings in `[addr, addr + len)`
    /// (page-aligned) left out of a fork, or not. As Linux, the mapped parts are marked
    /// and a gap is ENOMEM.
    pub(crate) fn set_dontfork(
        &mut self,
        mf: &MemoryFile,
        addr: u64,
        len: u64,
        on: bool,
    ) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(libc::EINVAL)?;
        if len == 0 {
            return Ok(());
        }
        self.split(mf, addr);
        self.split(mf, end);
        let mut cur = addr;
        let mut gap = false;
        for (&s, v) in self.vmas.range_mut(addr..end) {
            gap |= s > cur;
            v.dontfork = on;
            cur = v.end;
        }
        if gap || cur < end {
            return Err(libc::ENOMEM);
        }
        Ok(())
    }

    /// Fails with `e` unless every page of `[start, end)` is mapped.
    fn check_mapped(&self, start: u64, end: u64, e: Errno) -> Result<(), Errno> {
        let mut cur = start;
        while cur < end {
            let (_, v) = self.find(cur).ok_or(e)?;
            cur = v.end;
        }
        Ok(())
    }

    /// Bytes of address space mapped in `[start, end)` (all of it: `0..u64::MAX`), what
    /// RLIMIT_AS limits.
    pub fn mapped_in(&self, start: u64, end: u64) -> u64 {
        self.vmas
            .range(..end)
            .map(|(&s, v)| v.end.min(end).saturating_sub(s.max(start)))
            .sum()
    }

    /// Whether a mapping of `len` bytes stays within `limit` (RLIMIT_AS's soft value),
    /// counting only what it adds: when it goes `over` pages already mapped (at that
    /// start), those are replaced. ENOMEM if not, as Linux's may_expand_vm.
    pub fn may_expand(&self, len: u64, over: Option<u64>, limit: u64) -> Result<(), Errno> {
        if limit == u64::MAX {
            return Ok(());
        }
        let total = self.mapped_in(0, u64::MAX);
        let replaced = over.map_or(0, |start| self.mapped_in(start, start.saturating_add(len)));
        if (total - replaced).saturating_add(len) > limit {
            return Err(libc::ENOMEM);
        }
        Ok(())
    }

    /// The mapping (as Linux merges them: adjacent table entries with the same
    /// protection, sharing and name) that holds `addr`, as `[start, end)`.
    fn extent(&self, addr: u64) -> Option<(u64, u64)> {
        let (s, v) = self.find(addr)?;
        let same = |w: &Vma| {
            w.prot == v.prot && w.shared == v.shared && w.name == v.name && w.dontfork == v.dontfork
        };
        let mut start = s;
        while let Some((&ps, pv)) = self.vmas.range(..start).next_back() {
            if pv.end != start || !same(pv) {
                break;
            }
            start = ps;
        }
        let mut end = v.end;
        while let Some(nv) = self.vmas.get(&end) {
            if !same(nv) {
                break;
            }
            end = nv.end;
        }
        Some((start, end))
    }

    /// mremap, as Linux: shrinking unmaps the tail; growing takes the free pages after
    /// the mapping, else moves it when `how.may_move` (its pages go along: a private
    /// mapping keeps its copy-on-write state, a shared one keeps sharing with every other
    /// mapping of its pages); `how.fixed` moves it to that address, unmapping what is
    /// there; `how.dont_unmap` leaves the source mapped (private memory there starts
    /// again zero); an `old_len` of 0 maps the pages of a shared mapping a second time.
    /// The source (after a shrink) must lie in one mapping (EFAULT), and a fixed
    /// destination may not overlap it (EINVAL).
    pub fn remap(
        &mut self,
        cx: &mut MmCtx,
        old: u64,
        old_len: u64,
        new_len: u64,
        how: Remap,
    ) -> Result<u64, Errno> {
        if !old.is_multiple_of(PAGE)
            || (how.fixed.is_some() && !how.may_move)
            || (how.dont_unmap && (!how.may_move || old_len != new_len))
        {
            return Err(libc::EINVAL);
        }
        if old_len > GUEST_TOP || new_len > GUEST_TOP {
            return Err(libc::EINVAL);
        }
        let (old_len, new_len) = (page_up(old_len), page_up(new_len));
        if new_len == 0 {
            return Err(libc::EINVAL);
        }
        if how.fixed.is_some() || how.dont_unmap {
            return self.remap_to(cx, old, old_len, new_len, how);
        }
        if old_len >= new_len {
            if old_len > new_len {
                self.unmap(cx, old + new_len, old_len - new_len)?;
            }
            return Ok(old);
        }
        let ext_end = self.resize_source(cx, old, old_len)?;
        // Grow in place when the source ends the mapping and the pages after it are free.
        if old_len > 0 && old + old_len == ext_end {
            if let Ok(tail) = GuestRange::new(ext_end, new_len - old_len) {
                if self.is_free(tail.start(), tail.end()) {
                    let (s, v) = self.find(ext_end - PAGE).ok_or(libc::EFAULT)?;
                    let v = v.clone();
                    self.grow_tail(cx, tail, s, &v)?;
                    return Ok(old);
                }
            }
        }
        if !how.may_move {
            return Err(libc::ENOMEM);
        }
        let dest = self.find_free(new_len).ok_or(libc::ENOMEM)?;
        self.move_range(
            cx,
            old,
            old_len,
            ext_end,
            table_range(dest, dest + new_len)?,
            false,
        )
    }

    /// mremap with a destination (`MREMAP_FIXED`) or a source that stays
    /// (`MREMAP_DONTUNMAP`).
    fn remap_to(
        &mut self,
        cx: &mut MmCtx,
        old: u64,
        mut old_len: u64,
        new_len: u64,
        how: Remap,
    ) -> Result<u64, Errno> {
        let dest = match how.fixed {
            Some(d) => {
                let dest = fixed_range(d, new_len, libc::EINVAL)?;
                if old < dest.end() && dest.start() < old.saturating_add(old_len) {
                    return Err(libc::EINVAL);
                }
                self.unmap(cx, dest.start(), dest.len())?;
                Some(dest)
            }
            None => None,
        };
        if old_len > new_len {
            self.unmap(cx, old + new_len, old_len - new_len)?;
            old_len = new_len;
        }
        let ext_end = self.resize_source(cx, old, old_len)?;
        let dest = match dest {
            Some(d) => d,
            None => {
                let d = self.find_free(new_len).ok_or(libc::ENOMEM)?;
                table_range(d, d + new_len)?
            }
        };
        self.move_range(cx, old, old_len, ext_end, dest, how.dont_unmap)
    }

    /// Checks the source of a move or growth, `[old, old + old_len)`, as Linux's
    /// vma_to_resize: it lies in one mapping (EFAULT), an `old_len` of 0 names a shared
    /// one (EINVAL); its pages are opened (a restore on demand). Returns the mapping's end.
    fn resize_source(&mut self, cx: &mut MmCtx, old: u64, old_len: u64) -> Result<u64, Errno> {
        let (_, end) = self.extent(old).ok_or(libc::EFAULT)?;
        if old_len > end - old {
            return Err(libc::EFAULT);
        }
        let (_, v) = self.find(old).ok_or(libc::EFAULT)?;
        if old_len == 0 && !v.shared {
            return Err(libc::EINVAL);
        }
        self.open_range(cx, old, end).map_err(|_| libc::EFAULT)?;
        Ok(end)
    }

    /// Moves the pages of `[old, old + old_len)` (inside one mapping, which ends at
    /// `ext_end`) to the free range `dest`, whose part past them gets fresh memory. With
    /// an `old_len` of 0 (a shared mapping), `dest` maps the same pages as the source from
    /// `old` on (as far as the source mapping goes), which stays; with `dont_unmap` the
    /// source stays mapped: a shared one to the same pages, a private one to fresh ones.
    fn move_range(
        &mut self,
        cx: &mut MmCtx,
        old: u64,
        old_len: u64,
        ext_end: u64,
        dest: GuestRange,
        dont_unmap: bool,
    ) -> Result<u64, Errno> {
        let copy = old_len == 0;
        let keep = if copy {
            dest.len().min(ext_end - old)
        } else {
            old_len
        };
        let shared = self.find(old).ok_or(libc::EFAULT)?.1.shared;
        self.split(cx.mf, old);
        self.split(cx.mf, old + keep);
        let keys: Vec<u64> = self.vmas.range(old..old + keep).map(|(&k, _)| k).collect();
        let mut moved = Vec::new();
        if copy || (dont_unmap && shared) {
            // The source keeps its pages; the destination gets references of its own.
            for k in keys {
                let v = self.vmas[&k].clone();
                cx.mf.inc_ref(v.off, v.end - k);
                v.hold(cx.mf, k, true);
                moved.push((k, v));
            }
        } else {
            for k in keys {
                moved.push((k, self.vmas.remove(&k).expect("listed")));
            }
            let src = table_range(old, old + keep)?;
            if dont_unmap {
                for (k, v) in &moved {
                    match v.file_pages {
                        // A private mapping of a file maps the file's pages again.
                        Some(f) => {
                            let mut s = v.clone();
                            s.off = f;
                            cx.mf.inc_ref(f, v.end - k);
                            s.hold(cx.mf, *k, true);
                            self.insert_entry(cx, *k, s)?;
                        }
                        None => {
                            self.insert_fresh(cx, table_range(*k, v.end)?, v.prot, false, &v.name)?
                        }
                    }
                }
            } else {
                cx.plat.unmap(self.id, src).map_err(io_errno)?;
            }
        }
        let last = moved.last().map(|(k, v)| (*k, v.clone()));
        for (k, mut v) in moved {
            let ns = dest.start() + (k - old);
            v.end = dest.start() + (v.end - old);
            self.insert_entry(cx, ns, v)?;
        }
        if dest.len() > keep {
            let tail = table_range(dest.start() + keep, dest.end())?;
            let (k, v) = last.ok_or(libc::EFAULT)?;
            self.grow_tail(cx, tail, k, &v)?;
        }
        Ok(dest.start())
    }

    /// A copy of this address space for a forked child: private mappings become
    /// copy-on-write in both, shared ones stay shared; those marked MADV_DONTFORK are
    /// left out.
    pub fn fork(&mut self, cx: &mut MmCtx) -> std::io::Result<Mm> {
        self.open_all(cx).map_err(|p| {
            std::io::Error::other(format!("checkpoint image segment {} is bad", p.segment))
        })?;
        let id = cx.plat.new_address_space()?;
        let child = Mm {
            id,
            vmas: self
                .vmas
                .iter()
                .filter(|(_, v)| !v.dontfork)
                .map(|(&s, v)| (s, v.clone()))
                .collect(),
            brk_start: self.brk_start,
            brk: self.brk,
            arg_range: self.arg_range,
            env_range: self.env_range,
            auxv_range: self.auxv_range,
            unopened: BTreeMap::new(),
            dirty: Vec::new(),
        };
        for (&s, v) in self.vmas.iter().filter(|(_, v)| !v.dontfork) {
            cx.mf.inc_ref(v.off, v.end - s);
            v.hold(cx.mf, s, true);
            let prot = if v.shared {
                self.host_prot(cx, v, s)
            } else {
                v.prot & !PROT_WRITE
            };
            let r = GuestRange::bounds(s, v.end)?;
            if !v.shared && v.prot & PROT_WRITE != 0 {
                cx.protect(self.id, r, prot, v.off)?;
            }
            cx.map(id, r, prot, v.off)?;
        }
        Ok(child)
    }

    /// Handles a write fault at `addr` on a copy-on-write page. Returns false when the
    /// fault is the guest's own (it gets a signal).
    pub fn handle_cow(&mut self, cx: &mut MmCtx, addr: u64) -> bool {
        let Some((s, v)) = self.find(addr) else {
            return false;
        };
        if v.prot & PROT_WRITE == 0 || v.past_end {
            return false;
        }
        // Pages still the shared image's: this address space gets their copy (its own
        // copy, if a fork shares them), mapped with what protection is due now; a fault
        // on it that remains is served as any other.
        let w0 = (addr & !(COW_CHUNK - 1)).max(s);
        let w1 = ((addr & !(COW_CHUNK - 1)) + COW_CHUNK).min(v.end);
        if cx.mf.has_image(v.off + (w0 - s), w1 - w0) {
            return self.own_window(cx, w0, w1).is_ok();
        }
        if cx.mf.tracking() {
            // Made read-only ahead of a checkpoint's snapshot: the chunk around the
            // fault becomes writable again (its own copy, if another address space
            // shares it), and the stop will protect it once more.
            let w0 = (addr & !(SNAP_CHUNK - 1)).max(s);
            let w1 = ((addr & !(SNAP_CHUNK - 1)) + SNAP_CHUNK).min(v.end);
            let off = v.off + (w0 - s);
            if v.shared || !cx.mf.is_shared(off, w1 - w0) {
                let prot = v.prot;
                let Ok(r) = table_range(w0, w1) else {
                    return false;
                };
                self.dirty.push((w0, w1));
                return cx.protect(self.id, r, prot, off).is_ok();
            }
            return self.break_cow(cx, w0, w1).is_ok();
        }
        if cx.mf.snapshot_active() {
            // A checkpoint's snapshot: the chunk around the fault is copied aside (if
            // the snapshot still needs it) before it may change.
            let w0 = (addr & !(SNAP_CHUNK - 1)).max(s);
            let w1 = ((addr & !(SNAP_CHUNK - 1)) + SNAP_CHUNK).min(v.end);
            let off = v.off + (w0 - s);
            cx.mf.preserve(off, w1 - w0);
            if v.shared || !cx.mf.is_shared(off, w1 - w0) {
                let prot = v.prot;
                let Ok(r) = table_range(w0, w1) else {
                    return false;
                };
                return cx.protect(self.id, r, prot, off).is_ok();
            }
            return self.break_cow(cx, w0, w1).is_ok();
        }
        if v.shared {
            // Still read-only after a snapshot (mappings get their protection back a
            // piece at a time): make the chunk around the fault writable.
            if self.host_prot(cx, v, s) & PROT_WRITE == 0 {
                return false;
            }
            let w0 = (addr & !(SNAP_CHUNK - 1)).max(s);
            let w1 = ((addr & !(SNAP_CHUNK - 1)) + SNAP_CHUNK).min(v.end);
            let (prot, off) = (v.prot, v.off + (w0 - s));
            return table_range(w0, w1).is_ok_and(|r| cx.protect(self.id, r, prot, off).is_ok());
        }
        // Nothing else shares this part of the mapping any more (the other side exited
        // or wrote its own copy, or a checkpoint's snapshot is over and the mapping
        // waits for its protection back): make a wide window around the fault writable
        // at once rather than a chunk per fault, but not all of a large mapping, whose
        // mprotect would hold the event loop (and every guest thread waiting on it) for
        // as long as it walks the resident pages.
        let w0 = (addr & !(WIDE_WINDOW - 1)).max(s);
        let w1 = ((addr & !(WIDE_WINDOW - 1)) + WIDE_WINDOW).min(v.end);
        if !cx.mf.is_shared(v.off + (w0 - s), w1 - w0) {
            let (prot, off) = (v.prot, v.off + (w0 - s));
            let Ok(r) = table_range(w0, w1) else {
                return false;
            };
            return cx.protect(self.id, r, prot, off).is_ok();
        }
        let w0 = (addr & !(COW_CHUNK - 1)).max(s);
        let w1 = ((addr & !(COW_CHUNK - 1)) + COW_CHUNK).min(v.end);
        self.break_cow(cx, w0, w1).is_ok()
    }

    /// Makes `[w0, w1)` (inside one mapping) this address space's own before it is
    /// written: its own copy if another address space shares it (copy-on-write), the
    /// memory file's copy of pages still the shared image's (mapped again: nothing maps
    /// the image where its bytes change).
    fn own_window(&mut self, cx: &mut MmCtx, w0: u64, w1: u64) -> Result<(), Errno> {
        let (s, v) = self.find(w0).ok_or(libc::EFAULT)?;
        let (off, len) = (v.off + (w0 - s), w1 - w0);
        if !v.shared && cx.mf.is_shared(off, len) {
            return self.break_cow(cx, w0, w1);
        }
        if !cx.mf.has_image(off, len) {
            return Ok(());
        }
        // Wider, unless part of the wider window is shared with a fork (pages with more
        // than one reference are copied, never given the memory file's copy: another
        // address space maps them from the image).
        let (x0, x1) = (
            (w0 & !(IMAGE_WINDOW - 1)).max(s),
            (((w1 - 1) & !(IMAGE_WINDOW - 1)) + IMAGE_WINDOW).min(v.end),
        );
        let (w0, w1) = if v.shared || !cx.mf.is_shared(v.off + (x0 - s), x1 - x0) {
            (x0, x1)
        } else {
            (w0, w1)
        };
        let (off, len) = (v.off + (w0 - s), w1 - w0);
        let hp = Self::window_prot(cx, v, off, len);
        cx.mf.materialize(off, len).map_err(io_errno)?;
        cx.map(self.id, table_range(w0, w1)?, hp, off)
            .map_err(io_errno)?;
        if cx.mf.tracking() && hp & PROT_WRITE != 0 {
            self.dirty.push((w0, w1));
        }
        Ok(())
    }

    /// Makes `[w0, w1)` (inside one mapping) private to this address space and writable.
    fn break_cow(&mut self, cx: &mut MmCtx, w0: u64, w1: u64) -> Result<(), Errno> {
        let (s, v) = self.find(w0).ok_or(libc::EFAULT)?;
        let off = v.off + (w0 - s);
        let prot = v.prot;
        let len = w1 - w0;
        let r = table_range(w0, w1)?;
        if cx.mf.tracking() && prot & PROT_WRITE != 0 {
            self.dirty.push((w0, w1));
        }
        if !cx.mf.is_shared(off, len) {
            return cx.protect(self.id, r, prot, off).map_err(io_errno);
        }
        let new = cx.mf.alloc(len).map_err(io_errno)?;
        cx.mf.copy_within(off, new, len);
        self.split(cx.mf, w0);
        self.split(cx.mf, w1);
        let piece = self.vmas.get_mut(&w0).expect("split");
        cx.mf.dec_ref(piece.off, len);
        piece.off = new;
        cx.plat.map(self.id, r, prot, new).map_err(io_errno)
    }

    /// Checks that `[addr, addr+len)` is mapped with `prot` and calls `f` for each piece
    /// with (memory-file offset, length).
    fn walk(
        &self,
        addr: u64,
        len: usize,
        prot: i32,
        mut f: impl FnMut(u64, usize),
    ) -> Result<(), Errno> {
        let mut cur = addr;
        let end = addr.checked_add(len as u64).ok_or(libc::EFAULT)?;
        while cur < end {
            let (s, v) = self.find(cur).ok_or(libc::EFAULT)?;
            if v.prot & prot != prot || v.past_end {
                return Err(libc::EFAULT);
            }
            let n = (v.end.min(end) - cur) as usize;
            f(v.off + (cur - s), n);
            cur += n as u64;
        }
        Ok(())
    }

    /// How many bytes from `addr` (at most `len`) are mapped with `prot` without a gap:
    /// what a copy to or from the guest gets through before it faults (Linux's partial
    /// reads and writes stop there).
    pub fn accessible(&self, addr: u64, len: usize, prot: i32) -> usize {
        let Some(end) = addr.checked_add(len as u64) else {
            return 0;
        };
        let mut cur = addr;
        while cur < end {
            match self.find(cur) {
                Some((_, v)) if v.prot & prot == prot && !v.past_end => cur = v.end.min(end),
                _ => break,
            }
        }
        (cur - addr) as usize
    }

    /// The memory-file pieces (offset, length) of `[addr, addr+len)`, checked as `walk`.
    fn walk_pieces(&self, addr: u64, len: usize, prot: i32) -> Result<Vec<(u64, usize)>, Errno> {
        let mut v = Vec::new();
        self.walk(addr, len, prot, |off, n| v.push((off, n)))?;
        Ok(v)
    }

    /// EFAULT when the image's bytes of a piece were bad (a restore on demand), or when
    /// a piece is fenced (a file's pages past its end).
    fn settled(mf: &MemoryFile, pieces: Vec<(u64, usize)>) -> Result<(), Errno> {
        for (off, n) in pieces {
            if mf.has_fence(off, n as u64) {
                return Err(libc::EFAULT);
            }
            mf.settle(off, n as u64).map_err(|_| libc::EFAULT)?;
        }
        Ok(())
    }

    /// Copies guest memory into `buf`.
    pub fn read(&self, mf: &MemoryFile, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        Self::settled(mf, self.walk_pieces(addr, buf.len(), PROT_READ)?)?;
        let mut done = 0;
        self.walk(addr, buf.len(), PROT_READ, |off, n| {
            mf.read(off, &mut buf[done..done + n]);
            done += n;
        })
    }

    /// Copies `buf` into guest memory, breaking copy-on-write sharing first.
    pub fn write(&mut self, cx: &mut MmCtx, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        self.own_for_write(cx, addr, buf.len(), PROT_WRITE)?;
        let mut done = 0;
        self.walk(addr, buf.len(), PROT_WRITE, |off, n| {
            cx.mf.write(off, &buf[done..done + n]);
            done += n;
        })
    }

    /// How many bytes from `addr` (at most `len`) a forced access (`read_forced`,
    /// `write_forced`: ptrace, /proc/PID/mem) reaches without a gap: any private
    /// mapping, a shared one only when writable for a write, never pages past a shared
    /// object's end.
    pub fn forced_reach(&self, addr: u64, len: usize, write: bool) -> usize {
        let Some(end) = addr.checked_add(len as u64) else {
            return 0;
        };
        let mut cur = addr;
        while cur < end {
            match self.find(cur) {
                Some((_, v))
                    if !v.past_end && (!write || !v.shared || v.prot & PROT_WRITE != 0) =>
                {
                    cur = v.end.min(end)
                }
                _ => break,
            }
        }
        (cur - addr) as usize
    }

    /// Reads guest memory whatever its protection, as ptrace's peeks on Linux
    /// (FOLL_FORCE): EFAULT only for a gap or pages past a shared object's end.
    pub fn read_forced(&self, mf: &MemoryFile, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        Self::settled(mf, self.walk_pieces(addr, buf.len(), 0)?)?;
        let mut done = 0;
        self.walk(addr, buf.len(), 0, |off, n| {
            mf.read(off, &mut buf[done..done + n]);
            done += n;
        })
    }

    /// Copies `buf` into guest memory whatever its protection, as ptrace's pokes on Linux
    /// (FOLL_FORCE): a private mapping's pages become this address space's own (the
    /// copy-on-write sharing with a fork or a file broken); EFAULT for a shared mapping
    /// that is not writable (not a copy-on-write one), a gap, or pages past a shared
    /// object's end.
    pub fn write_forced(&mut self, cx: &mut MmCtx, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        if self.forced_reach(addr, buf.len(), true) < buf.len() {
            return Err(libc::EFAULT);
        }
        self.own_for_write(cx, addr, buf.len(), 0)?;
        let mut done = 0;
        self.walk(addr, buf.len(), 0, |off, n| {
            cx.mf.write(off, &buf[done..done + n]);
            done += n;
        })
    }

    /// Lets `f` fill the guest ranges (address, length) in place, in order (EFAULT, `f`
    /// not called, when part of one is not writable), as `write` would copy into them.
    pub(crate) fn fill_with<R>(
        &mut self,
        cx: &mut MmCtx,
        ranges: &[(u64, usize)],
        f: impl FnOnce(&mut [std::io::IoSliceMut<'_>]) -> R,
    ) -> Result<R, Errno> {
        let mut pieces = Vec::new();
        for &(addr, len) in ranges {
            self.own_for_write(cx, addr, len, PROT_WRITE)?;
            pieces.extend(self.walk_pieces(addr, len, PROT_WRITE)?);
        }
        Ok(cx.mf.fill_with(&pieces, f))
    }

    /// Checks that `[addr, addr+len)` is mapped with `prot` (PROT_WRITE, or 0 for a
    /// forced write) and makes its pages this address space's own (breaking
    /// copy-on-write sharing).
    fn own_for_write(
        &mut self,
        cx: &mut MmCtx,
        addr: u64,
        len: usize,
        prot: i32,
    ) -> Result<(), Errno> {
        Self::settled(cx.mf, self.walk_pieces(addr, len, prot)?)?;
        // Break sharing of the touched private pages.
        let mut cur = page_down(addr);
        let end = page_up(addr + len as u64);
        while cur < end {
            let (s, v) = self.find(cur).ok_or(libc::EFAULT)?;
            let pend = v.end.min(end);
            let (off, len) = (v.off + (cur - s), pend - cur);
            if (!v.shared && cx.mf.is_shared(off, len)) || cx.mf.has_image(off, len) {
                let w0 = (cur & !(COW_CHUNK - 1)).max(s);
                let w1 = (((pend - 1) & !(COW_CHUNK - 1)) + COW_CHUNK).min(v.end);
                self.own_window(cx, w0, w1)?;
            }
            cur = pend;
        }
        Ok(())
    }

    /// Writes bytes regardless of guest protection (the loader filling read-only segments).
    pub fn write_force(&self, mf: &MemoryFile, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        self.walk(addr, buf.len(), 0, |off, n| {
            mf.write(off, &buf[done..done + n]);
            done += n;
        })
    }

    /// Reads a NUL-terminated string of at most `max` bytes.
    pub fn read_cstr(&self, mf: &MemoryFile, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut cur = addr;
        loop {
            let chunk = (PAGE - cur % PAGE) as usize;
            let mut buf = vec![0u8; chunk];
            self.read(mf, cur, &mut buf)?;
            if let Some(i) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..i]);
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            if out.len() > max {
                return Err(libc::ENAMETOOLONG);
            }
            cur += chunk as u64;
        }
    }

    /// Maps every mapping of the table into the (fresh) host address space (restore).
    pub fn remap_all(&mut self, cx: &mut MmCtx) -> std::io::Result<()> {
        let all: Vec<(u64, Vma)> = self.vmas.iter().map(|(&s, v)| (s, v.clone())).collect();
        for (s, v) in all {
            let hp = if self.unopened.contains_key(&s) {
                libc::PROT_NONE
            } else {
                self.host_prot(cx, &v, s)
            };
            cx.map(self.id, GuestRange::bounds(s, v.end)?, hp, v.off)?;
        }
        Ok(())
    }

    /// Drops every mapping and ends the host address space.
    pub fn destroy(&mut self, cx: &mut MmCtx) {
        for (&s, v) in &self.vmas {
            cx.mf.dec_ref(v.off, v.end - s);
            v.hold(cx.mf, s, false);
        }
        self.vmas.clear();
        cx.plat.destroy_address_space(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fake::FakePlatform;

    /// Host protection of the page at `addr` in `mm`'s fake address space.
    fn prot_at(p: &FakePlatform, mm: &Mm, addr: u64) -> i32 {
        p.mappings(mm.id)
            .into_iter()
            .find(|&(s, (e, _, _))| s <= addr && addr < e)
            .map(|(_, (_, prot, _))| prot)
            .expect("mapped")
    }

    /// (protection, whether it maps the image) of the page at `addr`.
    fn mapped_at(p: &FakePlatform, mm: &Mm, addr: u64) -> (i32, bool) {
        use crate::platform::fake::FAKE_IMAGE;
        p.mappings(mm.id)
            .into_iter()
            .find(|&(s, (e, _, _))| s <= addr && addr < e)
            .map(|(_, (_, prot, off))| (prot, off & FAKE_IMAGE != 0))
            .expect("mapped")
    }

    #[test]
    fn pages_still_the_images_are_never_writable_and_get_their_copy_before_a_write() {
        use std::os::fd::{AsRawFd, OwnedFd};
        const MIB: u64 = 1 << 20;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        let bytes: Vec<u8> = (0..5 * MIB).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut mf = MemoryFile::new().unwrap();
        let mut p = FakePlatform::new();
        let rw = PROT_READ | PROT_WRITE;
        // 4 MiB of private memory at offset 0: the image's from its second MiB.
        mf.restore_ranges(&[(0, 4 * MIB, 1)]).unwrap();
        p.share_image(file.as_raw_fd()).unwrap();
        mf.share_image(OwnedFd::from(file), &[(0, MIB, 4 * MIB)])
            .unwrap();
        let mut cx = MmCtx {
            mf: &mut mf,
            plat: &mut p,
        };
        let base = 0x10_0000;
        let mut mm = Mm::new(&mut cx).unwrap();
        mm.vmas.insert(
            base,
            Vma {
                end: base + 4 * MIB,
                prot: rw,
                shared: false,
                off: 0,
                name: String::new(),
                dontfork: false,
                file_pages: None,
                shm: None,
                past_end: false,
            },
        );
        mm.remap_all(&mut cx).unwrap();
        let image_at = |at: u64, n: usize| &bytes[(MIB + at) as usize..(MIB + at) as usize + n];
        let read = |mm: &Mm, mf: &MemoryFile, at: u64, n: usize| {
            let mut buf = vec![0; n];
            mm.read(mf, base + at, &mut buf).unwrap();
            buf
        };
        assert_eq!(read(&mm, cx.mf, 5000, 16), image_at(5000, 16));
        // A guest write fault: the MiB around it gets its copy and is writable; the rest
        // stays the image's, read-only, even when the guest asks for write access.
        assert!(mm.handle_cow(&mut cx, base + 70000));
        assert_eq!(mapped_at(&p, &mm, base + 70000), (rw, false));
        assert_eq!(mapped_at(&p, &mm, base + MIB), (PROT_READ, true));
        let mut cx = MmCtx {
            mf: &mut mf,
            plat: &mut p,
        };
        mm.protect(&mut cx, base, 4 * MIB, rw).unwrap();
        // The kernel's own write to guest memory: the page's copy first, then the write.
        mm.write(&mut cx, base + 1_300_000, b"hello").unwrap();
        assert_eq!(read(&mm, cx.mf, 1_300_000, 5), b"hello");
        assert_eq!(read(&mm, cx.mf, 70000, 8), image_at(70000, 8));
        // A fork: the child's write gets its own copy; the parent still has the image's
        // bytes there, and its own write to the same page later its own copy.
        let mut child = mm.fork(&mut cx).unwrap();
        child.write(&mut cx, base + 2_600_000, b"child").unwrap();
        assert_eq!(read(&child, cx.mf, 2_600_000, 5), b"child");
        assert_eq!(read(&mm, cx.mf, 2_600_000, 5), image_at(2_600_000, 5));
        assert!(mm.handle_cow(&mut cx, base + 2_600_000));
        mm.write(&mut cx, base + 2_600_000, b"parent").unwrap();
        assert_eq!(read(&child, cx.mf, 2_600_000, 5), b"child");
        assert_eq!(read(&mm, cx.mf, 2_600_000, 6), b"parent");
        child.destroy(&mut cx);
        assert_eq!(mapped_at(&p, &mm, base + 2_600_000), (rw, false));
        assert_eq!(mapped_at(&p, &mm, base + 3 * MIB), (PROT_READ, true));
        // Nothing reached the image file.
        assert!(std::fs::read(&path).unwrap() == bytes);
        // Unmapped, the memory is released and what the image had there with it: memory
        // allocated there later starts zero.
        let mut cx = MmCtx {
            mf: &mut mf,
            plat: &mut p,
        };
        mm.unmap(&mut cx, base, 4 * MIB).unwrap();
        assert!(!cx.mf.has_image(0, 4 * MIB));
        let a = mm
            .map_anon(&mut cx, base, MIB, rw, false, true, "")
            .unwrap();
        assert_eq!(read(&mm, cx.mf, a - base + 4096, 8), [0; 8]);
    }

    #[test]
    fn ahead_of_a_snapshot_only_what_became_writable_is_protected_at_the_stop() {
        let mut mf = MemoryFile::new().unwrap();
        let mut p = FakePlatform::new();
        let rw = PROT_READ | PROT_WRITE;
        let (mut mm, a, b) = {
            let mut cx = MmCtx {
                mf: &mut mf,
                plat: &mut p,
            };
            let mut mm = Mm::new(&mut cx).unwrap();
            let a = mm
                .map_anon(&mut cx, 0, 8 << 20, rw, false, false, "")
                .unwrap();
            let b = mm
                .map_anon(&mut cx, 0, 1 << 20, rw, true, false, "")
                .unwrap();
            (mm, a, b)
        };
        // Made read-only ahead of the stop while the guest runs.
        mf.start_tracking();
        {
            let mut cx = MmCtx {
                mf: &mut mf,
                plat: &mut p,
            };
            for (s, e) in mm.writable_pieces(1 << 20) {
                mm.reprotect(&mut cx, s, e).unwrap();
            }
        }
        assert_eq!(prot_at(&p, &mm, a), PROT_READ);
        assert_eq!(prot_at(&p, &mm, b), PROT_READ);
        // Guest writes fault: their chunks become writable again, and are tracked.
        let hot = a + (3 << 20) + 100;
        let fresh = {
            let mut cx = MmCtx {
                mf: &mut mf,
                plat: &mut p,
            };
            assert!(mm.handle_cow(&mut cx, hot));
            assert!(mm.handle_cow(&mut cx, b + 5));
            // A mapping made meanwhile is writable at once, and tracked.
            mm.map_anon(&mut cx, 0, 1 << 20, rw, false, false, "")
                .unwrap()
        };
        assert_eq!(prot_at(&p, &mm, hot), rw);
        assert_eq!(prot_at(&p, &mm, b), rw);
        assert_eq!(prot_at(&p, &mm, fresh), rw);
        assert_eq!(
            prot_at(&p, &mm, a),
            PROT_READ,
            "an untouched chunk stays read-only"
        );
        // The stop: the snapshot begins, and only the tracked ranges are protected.
        let _snap = mf.begin_snapshot();
        assert!(!mf.tracking());
        {
            let mut cx = MmCtx {
                mf: &mut mf,
                plat: &mut p,
            };
            mm.protect_dirty_for_snapshot(&mut cx).unwrap();
        }
        for addr in [hot, b + 5, fresh, a] {
            assert_eq!(
                prot_at(&p, &mm, addr),
                PROT_READ,
                "{addr:#x} at the snapshot"
            );
        }
        assert!(mm.dirty.is_empty());
        mf.end_snapshot();
    }
}
