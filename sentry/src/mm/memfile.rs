//! The memory file: one memfd holding all guest memory. The sentry maps it whole into its
//! own address space; guest mappings are ranges of it mapped into stubs.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

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
    free: BTreeMap<u64, u64>,
    /// Allocated ranges: start -> (end, references). Ranges never overlap.
    refs: BTreeMap<u64, (u64, u32)>,
    /// Bytes currently allocated.
    pub allocated: u64,
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
            free,
            refs: BTreeMap::new(),
            allocated: 0,
        })
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Allocates `len` bytes (page multiple), with one reference.
    pub fn alloc(&mut self, len: u64) -> io::Result<u64> {
        let len = page_up(len.max(PAGE));
        let (&start, &end) = self
            .free
            .iter()
            .find(|(&s, &e)| e - s >= len)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        self.free.remove(&start);
        if start + len < end {
            self.free.insert(start + len, end);
        }
        self.refs.insert(start, (start + len, 1));
        self.allocated += len;
        Ok(start)
    }

    /// Splits the reference ranges so that `at` is a boundary.
    fn split_at(&mut self, at: u64) {
        if let Some((&s, &(e, n))) = self.refs.range(..at).next_back() {
            if e > at {
                self.refs.insert(s, (at, n));
                self.refs.insert(at, (e, n));
            }
        }
    }

    /// Adds `delta` references to every allocated page of `[off, off+len)`.
    fn adjust(&mut self, off: u64, len: u64, delta: i32) {
        let end = off + len;
        self.split_at(off);
        self.split_at(end);
        let keys: Vec<u64> = self.refs.range(off..end).map(|(&k, _)| k).collect();
        for k in keys {
            let (e, n) = self.refs[&k];
            let n = (n as i64 + delta as i64).max(0) as u32;
            if n == 0 {
                self.refs.remove(&k);
                self.release(k, e);
            } else {
                self.refs.insert(k, (e, n));
            }
        }
    }

    pub fn inc_ref(&mut self, off: u64, len: u64) {
        self.adjust(off, len, 1);
    }

    pub fn dec_ref(&mut self, off: u64, len: u64) {
        self.adjust(off, len, -1);
    }

    /// True if any page of the range has more than one reference.
    pub fn is_shared(&self, off: u64, len: u64) -> bool {
        let end = off + len;
        if let Some((_, &(e, n))) = self.refs.range(..=off).next_back() {
            if e > off && n > 1 {
                return true;
            }
        }
        self.refs.range(off..end).any(|(_, &(_, n))| n > 1)
    }

    fn release(&mut self, start: u64, end: u64) {
        let _ = sys::punch_hole(self.raw_fd(), start, end - start);
        self.allocated -= end - start;
        let (mut s, mut e) = (start, end);
        if let Some((&ps, &pe)) = self.free.range(..s).next_back() {
            if pe == s {
                self.free.remove(&ps);
                s = ps;
            }
        }
        if let Some(&ne) = self.free.get(&e) {
            self.free.remove(&e);
            e = ne;
        }
        self.free.insert(s, e);
    }

    /// Copies `buf.len()` bytes out of the memory file at `off`.
    pub fn read(&self, off: u64, buf: &mut [u8]) {
        assert!(off + buf.len() as u64 <= FILE_SIZE);
        // SAFETY: the range is inside the sentry's mapping of the file (checked above).
        unsafe { sys::copy_raw(buf.as_mut_ptr(), self.base.add(off as usize), buf.len()) }
    }

    pub fn write(&self, off: u64, buf: &[u8]) {
        assert!(off + buf.len() as u64 <= FILE_SIZE);
        // SAFETY: the range is inside the sentry's mapping of the file (checked above).
        unsafe { sys::copy_raw(self.base.add(off as usize), buf.as_ptr(), buf.len()) }
    }

    pub fn zero(&self, off: u64, len: u64) {
        let _ = sys::punch_hole(self.raw_fd(), off, len);
    }

    /// Copies `len` bytes within the file.
    pub fn copy_within(&self, from: u64, to: u64, len: u64) {
        assert!(from + len <= FILE_SIZE && to + len <= FILE_SIZE);
        // SAFETY: both ranges lie inside the sentry's mapping of the file.
        unsafe {
            sys::copy_raw(
                self.base.add(to as usize),
                self.base.add(from as usize),
                len as usize,
            )
        }
    }

    /// A borrowed view of file bytes, for writing a checkpoint. Guest threads must be
    /// stopped while the slice lives.
    pub fn slice(&self, off: u64, len: u64) -> &[u8] {
        assert!(off + len <= FILE_SIZE);
        // SAFETY: inside the mapping; the caller keeps guest threads stopped, so nothing
        // writes these bytes while the slice is borrowed.
        unsafe { std::slice::from_raw_parts(self.base.add(off as usize), len as usize) }
    }

    /// Marks the saved allocated ranges (start, end, references) as allocated again in a
    /// fresh memory file.
    pub fn restore_ranges(&mut self, ranges: &[(u64, u64, u32)]) -> Result<(), String> {
        if !self.refs.is_empty() {
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
            self.refs.insert(s, (e, n));
            self.allocated += e - s;
            cur = e;
        }
        if cur < FILE_SIZE {
            free.insert(cur, FILE_SIZE);
        }
        self.free = free;
        Ok(())
    }

    /// Allocated ranges (start, end, references), for checkpointing.
    pub fn allocated_ranges(&self) -> Vec<(u64, u64, u32)> {
        self.refs.iter().map(|(&s, &(e, n))| (s, e, n)).collect()
    }
}
