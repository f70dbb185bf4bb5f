//! The memory file: one memfd holding all guest memory. The sentry maps it whole into its
//! own address space; guest mappings are ranges of it mapped into stubs.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::platform::sys;

pub(crate) const PAGE: u64 = 4096;

/// Size of the memory file's address range (sparse; only touched pages use memory).
const FILE_SIZE: u64 = 1 << 40;

/// `x` rounded up to a page multiple; a value within a page of `u64::MAX` saturates at the
/// last page boundary instead of wrapping to a small number.
pub(crate) fn page_up(x: u64) -> u64 {
    x.saturating_add(PAGE - 1) & !(PAGE - 1)
}

pub(crate) fn page_down(x: u64) -> u64 {
    x & !(PAGE - 1)
}

/// The memory file with its allocator and per-range reference counts.
pub struct MemoryFile {
    fd: OwnedFd,
    base: *mut u8,
    /// Free ranges: start -> end.
    free: RefCell<BTreeMap<u64, u64>>,
    /// Allocated ranges: start -> (end, references). Ranges never overlap.
    refs: RefCell<BTreeMap<u64, (u64, u32)>>,
    /// Bytes currently allocated.
    allocated: Cell<u64>,
    /// The copy-on-write snapshot a checkpoint is being written from, if any.
    snapshot: RefCell<Option<Arc<Snapshot>>>,
    /// Ranges freed while a snapshot holds them: released when it ends.
    deferred: RefCell<Vec<(u64, u64)>>,
    /// The image memory still being loaded, after a restore on demand.
    lazy: RefCell<Option<super::lazy::Background>>,
    /// A checkpoint is about to take a snapshot: guest mappings are being made read-only
    /// ahead of it while the guest runs, and what becomes writable again is tracked, so
    /// that the stop only protects that (`Mm::dirty`).
    tracking: Cell<bool>,
    /// Ranges whose bytes are still the shared checkpoint image's pages (a restore that
    /// shares its image, `share_image`): start -> (end, image offset of start). The
    /// sentry maps them from the image, read-only; the memory file has nothing there.
    /// Address spaces map them from the image too, never writable: a write first gives
    /// the pages their copy here (`materialize`).
    image: RefCell<BTreeMap<u64, (u64, u64)>>,
    /// The image those ranges come from (read-only).
    image_fd: RefCell<Option<OwnedFd>>,
    /// Ranges of a file's page cache that lie wholly past the file's end: start -> end.
    /// Address spaces map them without access, and a guest touching them gets SIGBUS
    /// (a system call, EFAULT), as Linux's pages past the end of a mapped file.
    fenced: RefCell<BTreeMap<u64, u64>>,
}

impl MemoryFile {
    pub fn new() -> io::Result<Self> {
        let fd = sys::memfd_create("runsc-memory")?;
        nix::unistd::ftruncate(&fd, FILE_SIZE as i64).map_err(io::Error::from)?;
        let base = sys::map_shared(fd.as_raw_fd(), FILE_SIZE as usize)?;
        let mut free = BTreeMap::new();
        free.insert(0, FILE_SIZE);
        Ok(MemoryFile {
            fd,
            base,
            free: RefCell::new(free),
            refs: RefCell::new(BTreeMap::new()),
            allocated: Cell::new(0),
            snapshot: RefCell::new(None),
            deferred: RefCell::new(Vec::new()),
            lazy: RefCell::new(None),
            tracking: Cell::new(false),
            image: RefCell::new(BTreeMap::new()),
            image_fd: RefCell::new(None),
            fenced: RefCell::new(BTreeMap::new()),
        })
    }

    /// The fenced ranges that meet `[off, end)`, unclipped.
    fn fences_in(&self, off: u64, end: u64) -> Vec<(u64, u64)> {
        let f = self.fenced.borrow();
        let first = f
            .range(..off)
            .next_back()
            .filter(|(_, &e)| e > off)
            .map(|(&s, &e)| (s, e));
        first
            .into_iter()
            .chain(f.range(off..end).map(|(&s, &e)| (s, e)))
            .collect()
    }

    /// Fences `[off, off + len)` (`on`) or lifts its fence.
    pub(crate) fn set_fence(&self, off: u64, len: u64, on: bool) {
        let end = off + len;
        let old = self.fences_in(off, end);
        let mut f = self.fenced.borrow_mut();
        for (s, e) in old {
            f.remove(&s);
            if s < off {
                f.insert(s, off);
            }
            if e > end {
                f.insert(end, e);
            }
        }
        if on && len > 0 {
            f.insert(off, end);
        }
    }

    /// Whether any page of `[off, off + len)` is fenced.
    pub(crate) fn has_fence(&self, off: u64, len: u64) -> bool {
        !self.fenced.borrow().is_empty() && !self.fences_in(off, off + len).is_empty()
    }

    /// `[off, off + len)` in pieces (start, end, fenced).
    pub(crate) fn fence_pieces(&self, off: u64, len: u64) -> Vec<(u64, u64, bool)> {
        let end = off + len;
        let mut out = Vec::new();
        let mut at = off;
        for (s, e) in self.fences_in(off, end) {
            let (a, b) = (s.max(off), e.min(end));
            if a > at {
                out.push((at, a, false));
            }
            out.push((a, b, true));
            at = b;
        }
        if at < end {
            out.push((at, end, false));
        }
        out
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// Allocates `len` bytes (page multiple), with one reference.
    pub fn alloc(&self, len: u64) -> io::Result<u64> {
        let len = page_up(len.max(PAGE));
        let mut free = self.free.borrow_mut();
        let (&start, &end) = free
            .iter()
            .find(|(&s, &e)| e - s >= len)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        free.remove(&start);
        if start + len < end {
            free.insert(start + len, end);
        }
        self.refs.borrow_mut().insert(start, (start + len, 1));
        self.allocated.set(self.allocated.get() + len);
        Ok(start)
    }

    /// Gives `[off, off + len)` (allocated, fresh) its memory now rather than at the
    /// first touch (MAP_POPULATE).
    pub(crate) fn populate(&self, off: u64, len: u64) -> io::Result<()> {
        assert!(off.checked_add(len).is_some_and(|e| e <= FILE_SIZE));
        // SAFETY: inside the sentry's mapping of the whole file (checked above).
        sys::populate_write(unsafe { self.base.add(off as usize) }, len as usize)
    }

    /// Bytes currently allocated.
    pub fn allocated(&self) -> u64 {
        self.allocated.get()
    }

    /// Splits the reference ranges so that `at` is a boundary.
    fn split_at(&self, at: u64) {
        let mut refs = self.refs.borrow_mut();
        if let Some((&s, &(e, n))) = refs.range(..at).next_back() {
            if e > at {
                refs.insert(s, (at, n));
                refs.insert(at, (e, n));
            }
        }
    }

    /// Adds `delta` references to every allocated page of `[off, off+len)`.
    fn adjust(&self, off: u64, len: u64, delta: i32) {
        let end = off + len;
        self.split_at(off);
        self.split_at(end);
        let keys: Vec<u64> = self
            .refs
            .borrow()
            .range(off..end)
            .map(|(&k, _)| k)
            .collect();
        for k in keys {
            let released = {
                let mut refs = self.refs.borrow_mut();
                let (e, n) = refs[&k];
                let n = (n as i64 + delta as i64).max(0) as u32;
                if n == 0 {
                    refs.remove(&k);
                    Some(e)
                } else {
                    refs.insert(k, (e, n));
                    None
                }
            };
            if let Some(e) = released {
                self.release(k, e);
            }
        }
    }

    pub fn inc_ref(&self, off: u64, len: u64) {
        self.adjust(off, len, 1);
    }

    pub fn dec_ref(&self, off: u64, len: u64) {
        self.adjust(off, len, -1);
    }

    /// True if any page of the range has more than one reference.
    pub fn is_shared(&self, off: u64, len: u64) -> bool {
        let end = off + len;
        let refs = self.refs.borrow();
        if let Some((_, &(e, n))) = refs.range(..=off).next_back() {
            if e > off && n > 1 {
                return true;
            }
        }
        refs.range(off..end).any(|(_, &(_, n))| n > 1)
    }

    /// Whether every page of `[off, off + len)` is allocated (a value read back from an
    /// image that names memory-file bytes).
    pub(crate) fn is_allocated(&self, off: u64, len: u64) -> bool {
        let Some(end) = off.checked_add(len) else {
            return false;
        };
        let refs = self.refs.borrow();
        let mut at = off;
        while at < end {
            match refs.range(..=at).next_back() {
                Some((_, &(e, _))) if e > at => at = e,
                _ => return false,
            }
        }
        true
    }

    fn release(&self, start: u64, end: u64) {
        self.allocated.set(self.allocated.get() - (end - start));
        if self.snapshot.borrow().is_some() {
            // The snapshot still reads it: nothing else may have it before it ends.
            self.deferred.borrow_mut().push((start, end));
            return;
        }
        self.free_range(start, end);
    }

    /// Returns unreferenced bytes to the host and to the free list.
    fn free_range(&self, start: u64, end: u64) {
        if let Some(b) = self.loading() {
            // What the image had there is gone with the range; a segment only partly
            // inside is loaded, so that nothing writes into the range once it is free.
            b.discard(start, end - start);
        }
        // What the image held there is gone with the range.
        let _ = self.unshare(start, end - start, false);
        let _ = sys::punch_hole(self.raw_fd(), start, end - start);
        let (mut s, mut e) = (start, end);
        let mut free = self.free.borrow_mut();
        if let Some((&ps, &pe)) = free.range(..s).next_back() {
            if pe == s {
                free.remove(&ps);
                s = ps;
            }
        }
        if let Some(&ne) = free.get(&e) {
            free.remove(&e);
            e = ne;
        }
        free.insert(s, e);
    }

    /// The image memory still being loaded, if any.
    fn loading(&self) -> Option<Arc<super::lazy::LazyMemory>> {
        self.lazy
            .borrow()
            .as_ref()
            .map(|b| b.lazy().clone())
            .filter(|l| !l.done())
    }

    /// Loads the image's memory on demand from now on (a restore): the allocated ranges
    /// are restored, their bytes not yet; `image`'s segments must lie inside them, and
    /// those that are the image's pages already (`share_image`) are only checked.
    /// Background threads load them all meanwhile. `tolerated`: the sandbox goes on
    /// after a bad segment (`LazyMemory`).
    pub(crate) fn load_on_demand(
        &self,
        image: Arc<statefile::Image>,
        tolerated: bool,
    ) -> io::Result<()> {
        let shared = |s: &statefile::SegmentInfo| self.has_image(s.memory_offset, s.len);
        let lazy = Arc::new(super::lazy::LazyMemory::new(
            image,
            self.loader(),
            &shared,
            tolerated,
        ));
        *self.lazy.borrow_mut() = Some(super::lazy::Background::start(lazy)?);
        Ok(())
    }

    /// The first segment of the image memory is loaded from that was found bad, if any.
    pub(crate) fn bad_segment(&self) -> Option<u64> {
        self.lazy.borrow().as_ref().and_then(|b| b.lazy().bad())
    }

    /// Why that segment is bad.
    pub(crate) fn bad_segment_error(&self) -> Option<statefile::Error> {
        self.lazy
            .borrow()
            .as_ref()
            .and_then(|b| b.lazy().bad_error())
    }

    /// Makes sure the image's bytes of `[off, off + len)` are in the file (a restore on
    /// demand); fails when the image's bytes there were bad. A bad segment whose pages
    /// were the shared image's stops being the image's (the sentry maps the memory
    /// file's zeros there): nothing reads its bytes.
    pub(crate) fn settle(&self, off: u64, len: u64) -> Result<(), super::lazy::Poisoned> {
        let Some(l) = self.loading() else {
            return Ok(());
        };
        l.settle(off, len).inspect_err(|p| {
            if let Err(e) = self.unshare(p.offset, p.len, false) {
                log::error!("cannot unmap a bad segment of the image: {e}");
            }
        })
    }

    /// Whether the image's bytes of `[off, off + len)` are in the file already.
    pub(crate) fn settled(&self, off: u64, len: u64) -> bool {
        self.loading().is_none_or(|l| l.loaded(off, len))
    }

    /// Whether part of the image's memory is still to be loaded.
    pub(crate) fn still_loading(&self) -> bool {
        self.loading().is_some()
    }

    /// Loads all of the image's memory still missing, on this thread (a checkpoint needs
    /// all of it), and ends the background loader.
    pub(crate) fn finish_loading(&self) {
        if let Some(l) = self.loading() {
            l.finish();
        }
        // Poisoned memory stays known as such.
        if self.loading().is_none() {
            let ended = self.lazy.borrow_mut().take();
            drop(ended);
        }
    }

    /// Copies `buf.len()` bytes out of the memory file at `off`.
    pub fn read(&self, off: u64, buf: &mut [u8]) {
        assert!(off + buf.len() as u64 <= FILE_SIZE);
        if self.settle(off, buf.len() as u64).is_err() && self.has_image(off, buf.len() as u64) {
            // A bad segment the sentry could not stop mapping from the image.
            buf.fill(0);
            return;
        }
        // SAFETY: the range is inside the sentry's mapping of the file (checked above).
        unsafe { sys::copy_raw(buf.as_mut_ptr(), self.base.add(off as usize), buf.len()) }
    }

    pub fn write(&self, off: u64, buf: &[u8]) {
        assert!(off + buf.len() as u64 <= FILE_SIZE);
        let _ = self.settle(off, buf.len() as u64);
        // The memory manager gave written guest pages their copy already.
        let _ = self.materialize(off, buf.len() as u64);
        self.preserve(off, buf.len() as u64);
        // SAFETY: the range is inside the sentry's mapping of the file (checked above).
        unsafe { sys::copy_raw(self.base.add(off as usize), buf.as_ptr(), buf.len()) }
    }

    /// Lets `f` fill the pieces (offset, length) of the file in place, through the
    /// sentry's mapping (a host `recvmsg` straight into guest pages): each piece is made
    /// writable as `write` makes it first.
    pub(crate) fn fill_with<R>(
        &self,
        pieces: &[(u64, usize)],
        f: impl FnOnce(&mut [std::io::IoSliceMut<'_>]) -> R,
    ) -> R {
        let mut bufs = Vec::with_capacity(pieces.len());
        for &(off, n) in pieces {
            assert!(off + n as u64 <= FILE_SIZE);
            let _ = self.settle(off, n as u64);
            let _ = self.materialize(off, n as u64);
            self.preserve(off, n as u64);
            // SAFETY: the range is inside the sentry's mapping of the file (checked
            // above); the pieces of one guest range do not overlap, and nothing else of
            // the sentry touches them while `f` runs.
            bufs.push(std::io::IoSliceMut::new(unsafe {
                std::slice::from_raw_parts_mut(self.base.add(off as usize), n)
            }));
        }
        f(&mut bufs)
    }

    pub fn zero(&self, off: u64, len: u64) {
        let _ = self.settle(off, len);
        let _ = self.unshare(off, len, false);
        self.preserve(off, len);
        let _ = sys::punch_hole(self.raw_fd(), off, len);
    }

    /// Copies `len` bytes within the file.
    pub fn copy_within(&self, from: u64, to: u64, len: u64) {
        assert!(from + len <= FILE_SIZE && to + len <= FILE_SIZE);
        let _ = self.settle(from, len);
        let _ = self.settle(to, len);
        let _ = self.materialize(to, len);
        self.preserve(to, len);
        // SAFETY: both ranges lie inside the sentry's mapping of the file.
        unsafe {
            sys::copy_raw(
                self.base.add(to as usize),
                self.base.add(from as usize),
                len as usize,
            )
        }
    }

    /// Makes the pieces (memory offset, image offset, length; page-aligned, inside the
    /// allocated ranges, in increasing memory offset without overlaps) the pages of the
    /// checkpoint image open as `fd` (read-only): the memory file holds nothing there;
    /// the sentry and address spaces map the image's pages, which every restore from the
    /// same image shares through the host's page cache. Their bytes must have been
    /// checked against their checksums.
    pub(crate) fn share_image(&self, fd: OwnedFd, pieces: &[(u64, u64, u64)]) -> io::Result<()> {
        // Adjacent pieces that are adjacent in the image too make one mapping.
        let mut merged: Vec<(u64, u64, u64)> = Vec::new();
        for &(m, f, len) in pieces {
            if m % PAGE != 0 || f % PAGE != 0 || len % PAGE != 0 || len == 0 {
                return Err(io::Error::other(format!(
                    "unaligned image piece {m:#x}+{len:#x}"
                )));
            }
            if m.checked_add(len).is_none_or(|e| e > FILE_SIZE)
                || merged.last().is_some_and(|&(pm, _, pl)| pm + pl > m)
            {
                return Err(io::Error::other(format!("bad image piece {m:#x}+{len:#x}")));
            }
            match merged.last_mut() {
                Some((pm, pf, pl)) if *pm + *pl == m && *pf + *pl == f => *pl += len,
                _ => merged.push((m, f, len)),
            }
        }
        let mut image = self.image.borrow_mut();
        for (m, f, len) in merged {
            // SAFETY: the range lies in the sentry's mapping of the memory file (checked
            // above); nothing borrows memory-file bytes as a Rust reference.
            unsafe {
                sys::remap_fixed(
                    self.base.add(m as usize),
                    len as usize,
                    libc::PROT_READ,
                    fd.as_raw_fd(),
                    f,
                )?
            };
            image.insert(m, (m + len, f));
        }
        drop(image);
        *self.image_fd.borrow_mut() = Some(fd);
        Ok(())
    }

    /// `[off, off + len)` in pieces (start, end, image offset of start if the piece is
    /// the image's pages).
    pub(crate) fn image_pieces(&self, off: u64, len: u64) -> Vec<(u64, u64, Option<u64>)> {
        let image = self.image.borrow();
        let end = off + len;
        let mut out = Vec::new();
        let mut at = off;
        let first = image
            .range(..=off)
            .next_back()
            .filter(|(_, &(e, _))| e > off)
            .map(|(&s, &v)| (s, v));
        for (s, (e, f)) in first.into_iter().chain(
            image
                .range(off..end)
                .filter(|(&s, _)| s > off)
                .map(|(&s, &v)| (s, v)),
        ) {
            if s > at {
                out.push((at, s, None));
            }
            let (a, b) = (s.max(at), e.min(end));
            out.push((a, b, Some(f + (a - s))));
            at = b;
        }
        if at < end {
            out.push((at, end, None));
        }
        out
    }

    /// Whether any page of `[off, off + len)` is still the image's.
    pub(crate) fn has_image(&self, off: u64, len: u64) -> bool {
        let image = self.image.borrow();
        !image.is_empty()
            && (image
                .range(..=off)
                .next_back()
                .is_some_and(|(_, &(e, _))| e > off)
                || image.range(off..off + len).next().is_some())
    }

    /// Gives the image's pages in `[off, off + len)` their copy in the memory file (same
    /// bytes), where the sentry maps them from now on: they may be written. An address
    /// space mapping them from the image must map them again (the caller's part: only
    /// one maps pages with one reference, and pages with more are copied, not written).
    /// Fails (the pages stay the image's) when the host cannot give them memory.
    pub(crate) fn materialize(&self, off: u64, len: u64) -> io::Result<()> {
        self.unshare(off, len, true)
    }

    /// Ends the image's part in `[off, off + len)`: the sentry maps the memory file
    /// there again, with the image's bytes copied in when `copy` (else it is being
    /// released or zeroed).
    fn unshare(&self, off: u64, len: u64, copy: bool) -> io::Result<()> {
        if !self.has_image(off, len) {
            return Ok(());
        }
        let mut image = self.image.borrow_mut();
        let end = off + len;
        for at in [off, end] {
            if let Some((&s, &(e, f))) = image.range(..at).next_back() {
                if e > at {
                    image.insert(s, (at, f));
                    image.insert(at, (e, f + (at - s)));
                }
            }
        }
        let keys: Vec<u64> = image.range(off..end).map(|(&k, _)| k).collect();
        for k in keys {
            let (e, f) = image.remove(&k).expect("listed");
            let len = (e - k) as usize;
            // SAFETY: the range lies in the sentry's mapping of the memory file (it was
            // entered by `share_image`, which checked); nothing borrows it as a Rust
            // reference. The copy reads the image's mapping, still in place.
            let r = unsafe {
                let at = self.base.add(k as usize);
                if copy {
                    sys::pwrite_all(self.raw_fd(), at, len, k)
                } else {
                    Ok(())
                }
                .and_then(|()| {
                    sys::remap_fixed(
                        at,
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        self.raw_fd(),
                        k,
                    )
                })
            };
            if let Err(err) = r {
                // Still the image's (the sentry's mapping is replaced only once the copy
                // is made, and a failed mmap leaves the old one).
                image.insert(k, (e, f));
                return Err(err);
            }
        }
        Ok(())
    }

    /// A writer of memory-file bytes that other threads may use (a restore loading the
    /// image in parallel). Nothing else may touch the bytes it writes meanwhile.
    pub(crate) fn loader(&self) -> Loader {
        Loader(Base(self.base))
    }

    /// Takes a copy-on-write snapshot of every allocated range, for a checkpoint written
    /// while the guest runs on. Guest threads must be stopped, and every guest mapping
    /// that can write made read-only (`write_allowed` says when a range may be writable
    /// again) before they run again; the kernel's own writes go through this file, which
    /// copies what they would change aside first. Freed ranges are kept until
    /// `end_snapshot`.
    pub(crate) fn begin_snapshot(&self) -> Arc<Snapshot> {
        self.tracking.set(false);
        let snap = Arc::new(Snapshot {
            base: Base(self.base),
            ranges: self
                .refs
                .borrow()
                .iter()
                .map(|(&s, &(e, _))| (s, e))
                .collect(),
            state: Mutex::new(SnapState {
                written: 0,
                copies: BTreeMap::new(),
            }),
            buffer: Mutex::new(Vec::new()),
            wanted: std::sync::atomic::AtomicU32::new(0),
            guest_gone: std::sync::atomic::AtomicBool::new(false),
            reclaim: std::sync::OnceLock::new(),
            #[cfg(test)]
            before_unlocked_read: Mutex::new(None),
        });
        *self.snapshot.borrow_mut() = Some(snap.clone());
        snap
    }

    /// Ends the snapshot (its image is written or abandoned): ranges freed meanwhile are
    /// released.
    pub(crate) fn end_snapshot(&self) {
        *self.snapshot.borrow_mut() = None;
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        for (s, e) in deferred {
            self.free_range(s, e);
        }
    }

    pub(crate) fn snapshot_active(&self) -> bool {
        self.snapshot.borrow().is_some()
    }

    /// Starts tracking writes ahead of a snapshot (see `tracking`); `begin_snapshot`
    /// ends it.
    pub(crate) fn start_tracking(&self) {
        self.tracking.set(true);
    }

    pub(crate) fn tracking(&self) -> bool {
        self.tracking.get()
    }

    /// Copies what the snapshot still needs of `[off, off + len)` aside, so that the
    /// range may change.
    pub(crate) fn preserve(&self, off: u64, len: u64) {
        let snap = self.snapshot.borrow().clone();
        if let Some(snap) = snap {
            snap.preserve(off, len);
        }
    }

    /// Whether `[off, off + len)` may be written without `preserve` (no snapshot needs
    /// it): a guest mapping of it may be writable.
    pub(crate) fn write_allowed(&self, off: u64, len: u64) -> bool {
        !self.tracking.get()
            && self
                .snapshot
                .borrow()
                .as_ref()
                .is_none_or(|snap| snap.preserved(off, len))
    }

    /// Marks the saved allocated ranges (start, end, references) as allocated again in a
    /// fresh memory file.
    pub fn restore_ranges(&self, ranges: &[(u64, u64, u32)]) -> Result<(), String> {
        if !self.refs.borrow().is_empty() {
            return Err("the memory file is not fresh".into());
        }
        let mut last = 0;
        for &(s, e, n) in ranges {
            if s % PAGE != 0 || e % PAGE != 0 || s < last || e <= s || e > FILE_SIZE || n == 0 {
                return Err(format!("bad range {s:#x}-{e:#x} x{n}"));
            }
            last = e;
        }
        let mut free = BTreeMap::new();
        let mut cur = 0;
        for &(s, e, n) in ranges {
            if s > cur {
                free.insert(cur, s);
            }
            self.refs.borrow_mut().insert(s, (e, n));
            self.allocated.set(self.allocated.get() + (e - s));
            cur = e;
        }
        if cur < FILE_SIZE {
            free.insert(cur, FILE_SIZE);
        }
        *self.free.borrow_mut() = free;
        Ok(())
    }

    /// Allocated ranges (start, end, references), for checkpointing.
    pub fn allocated_ranges(&self) -> Vec<(u64, u64, u32)> {
        self.refs
            .borrow()
            .iter()
            .map(|(&s, &(e, n))| (s, e, n))
            .collect()
    }
}

/// Writes memory-file bytes from any thread (see `MemoryFile::loader`).
pub(crate) struct Loader(Base);

impl Loader {
    pub(crate) fn write(&self, off: u64, buf: &[u8]) {
        assert!(off
            .checked_add(buf.len() as u64)
            .is_some_and(|end| end <= FILE_SIZE));
        // SAFETY: the range is inside the mapping (checked above); the caller writes each
        // byte from one thread only, and nothing else reads it before the load is over.
        unsafe {
            let to = self.0 .0.add(off as usize);
            // Allocates and maps the pages in one call rather than a fault per page.
            let _ = sys::populate_write(to, buf.len());
            sys::copy_raw(to, buf.as_ptr(), buf.len())
        }
    }
}

/// How much a snapshot copies aside at once: the unit it tracks, and what one guest
/// write fault makes writable again.
pub(crate) const SNAP_CHUNK: u64 = 64 * 1024;

/// The sentry's mapping of the memory file, shared with the image writer's thread.
struct Base(*mut u8);

// SAFETY: the mapping is never unmapped (the memory file lives as long as the sentry);
// every access from another thread goes through `Snapshot`, which reads only chunks that
// nothing writes before `Snapshot::preserve` has copied them, under its lock.
unsafe impl Send for Base {}
// SAFETY: as above.
unsafe impl Sync for Base {}

/// A copy-on-write snapshot of the memory file's allocated ranges, for writing a
/// checkpoint image on another thread while the guest runs on.
///
/// Each `SNAP_CHUNK`-aligned chunk of the memory file is, for the snapshot, either
/// - still in the memory file, unchanged (nothing writes it before `preserve`, which the
///   memory file calls before each of its own writes, and guest mappings of it are
///   read-only: a write fault calls `preserve` before it makes the page writable);
/// - copied aside by `preserve`;
/// - or already consumed by the writer (below `written`): it may change freely.
///
/// The writer reads chunks in increasing order, copying each piece under the lock, so a
/// chunk is never changed while it is read.
pub(crate) struct Snapshot {
    base: Base,
    /// The allocated ranges (start, end) at the snapshot, in order.
    ranges: Vec<(u64, u64)>,
    state: Mutex<SnapState>,
    /// The writer's buffer for a piece (kept between reads).
    buffer: Mutex<Vec<u8>>,
    /// The sentry's thread waits for `state` (a guest write fault, or its own write to
    /// guest memory): the writer lets it have the lock before taking it again. A mutex
    /// does not queue its waiters, so a writer taking the lock in a tight loop (its
    /// plan scans all memory a MiB at a time) could otherwise hold the event loop, and
    /// every guest thread waiting on it, for the whole scan.
    wanted: std::sync::atomic::AtomicU32,
    /// No guest thread runs any more (a checkpoint that ends the sandbox): the writer
    /// may hold the lock for a whole piece and write the memory file's bytes as they
    /// are, without copying them into its buffer (`guest_gone`).
    guest_gone: std::sync::atomic::AtomicBool,
    /// Once the guest is gone, where the writer sends the ranges it has written: a
    /// thread returns their pages to the host behind it (`guest_gone`).
    reclaim: std::sync::OnceLock<std::sync::mpsc::Sender<(u64, u64)>>,
    /// Tests: called with a chunk's offset after the writer found it has no copy,
    /// before it reads it without the lock (to put the sentry's write in between).
    #[cfg(test)]
    before_unlocked_read: Mutex<Option<SnapHook>>,
}

/// A test's hook into the writer's reads (`Snapshot::before_unlocked_read`).
#[cfg(test)]
type SnapHook = fn(&Snapshot, u64);

struct SnapState {
    /// The writer has read everything it needs below this offset.
    written: u64,
    /// Chunks copied aside (by chunk number) before they changed.
    copies: BTreeMap<u64, Box<[u8]>>,
}

impl Snapshot {
    /// No guest thread will run again: only the sentry's own writes (each copying aside
    /// first, under the lock) can change memory, so the writer may hold the lock while
    /// it writes a piece straight from the memory file.
    ///
    /// Nor will anything need the memory the writer has written (the sandbox ends once
    /// the image is written, or failed to be): a thread punches it out of the memory
    /// file (`memfd`) behind the writer, on the other CPU while the writer copies and
    /// the disk writes, instead of the sandbox's end freeing it all after the image is
    /// durable, which `runsc checkpoint` waits for (0.6 s a GiB here).
    pub(crate) fn guest_gone(&self, memfd: std::os::fd::BorrowedFd<'_>) {
        if let Ok(fd) = memfd.try_clone_to_owned() {
            let (tx, rx) = std::sync::mpsc::channel::<(u64, u64)>();
            let spawned = std::thread::Builder::new()
                .name("reclaim".into())
                .spawn(move || {
                    for (off, len) in rx {
                        let _ = sys::punch_hole(fd.as_raw_fd(), off, len);
                    }
                });
            if spawned.is_ok() {
                let _ = self.reclaim.set(tx);
            }
        }
        self.guest_gone
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// The lock, for the sentry's thread: announced, so the writer lets it in.
    fn lock(&self) -> MutexGuard<'_, SnapState> {
        use std::sync::atomic::Ordering;
        self.wanted.fetch_add(1, Ordering::AcqRel);
        let g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.wanted.fetch_sub(1, Ordering::AcqRel);
        g
    }

    /// The lock, for the writer: after the sentry's thread if it waits.
    fn lock_after_sentry(&self) -> MutexGuard<'_, SnapState> {
        use std::sync::atomic::Ordering;
        while self.wanted.load(Ordering::Acquire) > 0 {
            std::thread::yield_now();
        }
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The parts of `[lo, hi)` that lie in the snapshot's ranges.
    fn parts(&self, lo: u64, hi: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let first = self.ranges.partition_point(|&(_, e)| e <= lo);
        self.ranges[first..]
            .iter()
            .take_while(move |&&(s, _)| s < hi)
            .map(move |&(s, e)| (s.max(lo), e.min(hi)))
    }

    /// The chunks of `[off, off + len)` the snapshot still needs from the memory file.
    fn needed<'a>(
        &'a self,
        state: &'a SnapState,
        off: u64,
        len: u64,
    ) -> impl Iterator<Item = u64> + 'a {
        let first = off / SNAP_CHUNK;
        let last = off.saturating_add(len).div_ceil(SNAP_CHUNK);
        (first..last).filter(move |&c| {
            let (cs, ce) = (c * SNAP_CHUNK, (c + 1) * SNAP_CHUNK);
            ce > state.written
                && !state.copies.contains_key(&c)
                && self.parts(cs, ce).next().is_some()
        })
    }

    fn preserve(&self, off: u64, len: u64) {
        if len == 0 {
            return;
        }
        let mut state = self.lock();
        let chunks: Vec<u64> = self.needed(&state, off, len).collect();
        for c in chunks {
            let cs = c * SNAP_CHUNK;
            let mut copy = vec![0u8; SNAP_CHUNK as usize].into_boxed_slice();
            for (s, e) in self.parts(cs, cs + SNAP_CHUNK) {
                // SAFETY: `s..e` lies in an allocated range of the mapping; the lock keeps
                // the writer from reading it meanwhile.
                let from = unsafe {
                    std::slice::from_raw_parts(self.base.0.add(s as usize), (e - s) as usize)
                };
                copy[(s - cs) as usize..(e - cs) as usize].copy_from_slice(from);
            }
            state.copies.insert(c, copy);
        }
    }

    fn preserved(&self, off: u64, len: u64) -> bool {
        let state = self.lock();
        let none = self.needed(&state, off, len).next().is_none();
        none
    }

    /// Calls `f(offset, bytes)` for the pieces of `[off, off + len)` as the snapshot
    /// holds them, under the lock.
    fn pieces(&self, state: &SnapState, off: u64, len: u64, f: &mut dyn FnMut(u64, &[u8])) {
        let end = off + len;
        let mut at = off;
        while at < end {
            let c = at / SNAP_CHUNK;
            let cs = c * SNAP_CHUNK;
            if let Some(copy) = state.copies.get(&c) {
                let upto = end.min(cs + SNAP_CHUNK);
                f(at, &copy[(at - cs) as usize..(upto - cs) as usize]);
                at = upto;
                continue;
            }
            // The memory file, up to the next copied chunk.
            let next_copy = state
                .copies
                .range(c..)
                .next()
                .map_or(end, |(&n, _)| (n * SNAP_CHUNK).min(end));
            // SAFETY: the writer asks only for the snapshot's ranges, which lie in the
            // mapping; nothing changes an uncopied chunk while the lock is held.
            let bytes = unsafe {
                std::slice::from_raw_parts(self.base.0.add(at as usize), (next_copy - at) as usize)
            };
            f(at, bytes);
            at = next_copy;
        }
    }
}

impl statefile::MemorySource for Snapshot {
    fn ranges(&self) -> Vec<(u64, u64)> {
        self.ranges.iter().map(|&(s, e)| (s, e - s)).collect()
    }

    fn scan(&self, off: u64, len: u64, f: &mut dyn FnMut(u64, &[u8])) {
        // No MADV_POPULATE_READ of the range first: the read faults of the scan map the
        // pages 16 at a time (the kernel's fault-around), which is cheaper than
        // populating them one at a time (a checkpoint of memnoise 256 MiB, six runs
        // alternating: 178-214 ms against 187-400 ms with it; 1 GiB: 563-597 against
        // 676-715 ms).
        // A chunk at a time: the lock is never held long (a writer preempted while
        // holding it would hold up the sentry's thread with it).
        let end = off + len;
        let mut at = off;
        while at < end {
            let upto = ((at / SNAP_CHUNK + 1) * SNAP_CHUNK).min(end);
            let state = self.lock_after_sentry();
            self.pieces(&state, at, upto - at, f);
            drop(state);
            at = upto;
        }
    }

    fn read(
        &self,
        off: u64,
        len: u64,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.guest_gone.load(std::sync::atomic::Ordering::Acquire) {
            let mut state = self.lock_after_sentry();
            let (first, last) = (off / SNAP_CHUNK, (off + len).div_ceil(SNAP_CHUNK));
            if state.copies.range(first..last).next().is_none() {
                // SAFETY: the writer asks only for the snapshot's ranges, which lie in
                // the mapping; nothing changes an uncopied chunk while the lock is
                // held, and no guest runs to change it through its own mapping.
                let bytes = unsafe {
                    std::slice::from_raw_parts(self.base.0.add(off as usize), len as usize)
                };
                let r = f(bytes);
                state.written = state.written.max(off + len);
                let keep = state.written / SNAP_CHUNK;
                state.copies = state.copies.split_off(&keep);
                drop(state);
                if let (Ok(()), Some(tx)) = (&r, self.reclaim.get()) {
                    let _ = tx.send((off, len));
                }
                return r;
            }
        }
        let mut buf = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        buf.clear();
        // A chunk at a time, as `scan`.
        let end = off + len;
        let mut at = off;
        while at < end {
            let upto = ((at / SNAP_CHUNK + 1) * SNAP_CHUNK).min(end);
            let chunk = at / SNAP_CHUNK;
            let copied = self.lock_after_sentry().copies.contains_key(&chunk);
            let from = buf.len();
            #[cfg(test)]
            if let Some(hook) = *self.before_unlocked_read.lock().unwrap() {
                hook(self, at);
            }
            if !copied {
                // The chunk is read without the lock: a writer preempted while it holds
                // the lock holds up the sentry's thread, and the guest thread whose
                // write fault waits for it, as long (up to 18 ms seen with 4 GiB at
                // load 6). Nothing changes a chunk before it is copied aside, so if it
                // has no copy once read, what was read is the snapshot's.
                let n = (upto - at) as usize;
                buf.reserve(n);
                // SAFETY: `at..upto` lies in the snapshot's ranges, inside the mapping;
                // the spare capacity reserved above is writable for `n` bytes, which
                // the copy initializes before `set_len`.
                unsafe {
                    sys::copy_raw(buf.as_mut_ptr().add(from), self.base.0.add(at as usize), n);
                    buf.set_len(from + n);
                }
            }
            let mut state = self.lock_after_sentry();
            if copied || state.copies.contains_key(&chunk) {
                // Copied aside before (or while) it was read: the copy holds the
                // snapshot's bytes.
                buf.truncate(from);
                self.pieces(&state, at, upto - at, &mut |_, bytes| {
                    buf.extend_from_slice(bytes)
                });
            }
            // Everything below is read: it may change, and its copies go.
            state.written = state.written.max(upto);
            let keep = state.written / SNAP_CHUNK;
            state.copies = state.copies.split_off(&keep);
            drop(state);
            at = upto;
        }
        f(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statefile::MemorySource;

    /// What the snapshot hands the writer for `[off, off + len)`.
    fn snapshot_bytes(snap: &Snapshot, off: u64, len: u64) -> (Vec<u8>, Vec<u8>) {
        let mut scanned = Vec::new();
        snap.scan(off, len, &mut |at, b| {
            assert_eq!(at, off + scanned.len() as u64);
            scanned.extend_from_slice(b)
        });
        (scanned, read_bytes(snap, off, len))
    }

    /// What the writer gets from `read` of `[off, off + len)`.
    fn read_bytes(snap: &Snapshot, off: u64, len: u64) -> Vec<u8> {
        let mut read = Vec::new();
        snap.read(off, len, &mut |b| {
            read.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        read
    }

    #[test]
    fn a_chunk_copied_aside_and_changed_while_the_writer_reads_it_unlocked_comes_from_the_copy() {
        let mf = MemoryFile::new().unwrap();
        let len = 4 * SNAP_CHUNK;
        let a = mf.alloc(len).unwrap();
        mf.write(a, &vec![1u8; len as usize]);
        let snap = mf.begin_snapshot();
        // After the writer found no copy of a chunk, before it reads the chunk without
        // the lock, the sentry copies the chunk aside and writes it (as
        // `MemoryFile::write` does): what the writer read is the new bytes, and it must
        // notice the copy.
        *snap.before_unlocked_read.lock().unwrap() = Some(|snap, at| {
            snap.preserve(at, SNAP_CHUNK);
            // SAFETY: the chunk lies in the allocated range; nothing else writes it.
            unsafe { std::ptr::write_bytes(snap.base.0.add(at as usize), 7, SNAP_CHUNK as usize) };
        });
        let read = read_bytes(&snap, a, len);
        assert!(
            read.iter().all(|&b| b == 1),
            "the writer kept bytes written after the snapshot"
        );
        // The memory has the new bytes.
        let mut now = [0u8; 8];
        mf.read(a + SNAP_CHUNK, &mut now);
        assert_eq!(now, [7u8; 8]);
        mf.end_snapshot();
    }

    #[test]
    fn a_snapshot_keeps_what_memory_held_while_it_changes() {
        let mf = MemoryFile::new().unwrap();
        let len = 4 * SNAP_CHUNK;
        let a = mf.alloc(len).unwrap();
        let b = mf.alloc(SNAP_CHUNK).unwrap();
        mf.write(a, &vec![1u8; len as usize]);
        mf.write(b, &vec![2u8; SNAP_CHUNK as usize]);
        let snap = mf.begin_snapshot();
        assert_eq!(
            snap.ranges(),
            [(a, len), (b, SNAP_CHUNK)],
            "the allocated ranges"
        );
        // Nothing may be written in place yet.
        assert!(!mf.write_allowed(a, PAGE));
        // The kernel's own writes copy aside first; a preserved chunk may be written.
        mf.write(a + SNAP_CHUNK + 8, &[9u8; 100]);
        mf.preserve(a + 2 * SNAP_CHUNK, PAGE);
        assert!(mf.write_allowed(a + 2 * SNAP_CHUNK, SNAP_CHUNK));
        assert!(!mf.write_allowed(a + 2 * SNAP_CHUNK, 2 * SNAP_CHUNK));
        mf.write(a + 2 * SNAP_CHUNK, &vec![7u8; SNAP_CHUNK as usize]);
        // Freed memory is kept, not punched, until the snapshot ends.
        mf.dec_ref(b, SNAP_CHUNK);
        assert_eq!(mf.allocated(), len);
        let (scanned, read) = snapshot_bytes(&snap, a, len);
        assert_eq!(scanned, vec![1u8; len as usize]);
        assert_eq!(read, scanned);
        let (scanned, _) = snapshot_bytes(&snap, b, SNAP_CHUNK);
        assert_eq!(scanned, vec![2u8; SNAP_CHUNK as usize]);
        // What the writer has read may change freely.
        assert!(mf.write_allowed(a, len));
        // The memory itself has the new bytes.
        let mut now = vec![0u8; 100];
        mf.read(a + SNAP_CHUNK + 8, &mut now);
        assert_eq!(now, [9u8; 100]);
        mf.end_snapshot();
        assert!(mf.write_allowed(b, SNAP_CHUNK));
        let mut freed = vec![1u8; 16];
        mf.read(b, &mut freed);
        assert_eq!(freed, [0u8; 16], "the freed range is released at the end");
    }

    #[test]
    fn with_the_guest_gone_the_writer_reads_memory_in_place_and_copies_still_win() {
        let mf = MemoryFile::new().unwrap();
        let len = 4 * SNAP_CHUNK;
        let a = mf.alloc(len).unwrap();
        mf.write(a, &vec![1u8; len as usize]);
        let snap = mf.begin_snapshot();
        snap.guest_gone(mf.fd());
        // The sentry's own write (an exit's clear_child_tid) copies its chunk aside.
        mf.write(a + 3 * SNAP_CHUNK + 8, &[9u8; 4]);
        let read = |off: u64, n: u64| read_bytes(&snap, off, n);
        // In place (no copy in the range), then through the copy.
        assert_eq!(read(a, 2 * SNAP_CHUNK), vec![1u8; 2 * SNAP_CHUNK as usize]);
        assert_eq!(
            read(a + 2 * SNAP_CHUNK, 2 * SNAP_CHUNK),
            vec![1u8; 2 * SNAP_CHUNK as usize]
        );
        // What the writer has passed may change.
        assert!(mf.write_allowed(a, len));
        // What it wrote in place goes back to the host behind it (on another thread);
        // what it wrote through a copy stays until the sandbox ends.
        let first_data = || {
            // SAFETY: plain integer arguments.
            unsafe { libc::lseek(mf.raw_fd(), a as i64, libc::SEEK_DATA) }
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while first_data() == a as i64 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(first_data(), (a + 2 * SNAP_CHUNK) as i64);
        mf.end_snapshot();
    }
}
