//! The page cache of host files (the container root, bind mounts, tmpfs): what mappings of
//! a regular file map, so that every mapping of one file (shared ones, and private ones in
//! their pages not yet written) and read/write of it see the same bytes.
//!
//! A file mapped by anyone has one [`FileCache`], found by its host inode (device and
//! inode number): extents of the memory file, each holding one reference, keyed by file
//! offset. A mapping maps those extents (each mapping holds references of its own), so
//! the stubs map nothing but the memory file, and stores through a shared mapping land in
//! the cache at once. The cache is the truth for the bytes it holds: write(2) of the file
//! goes to the host file and into the cache (write-through), read(2) reads the host file
//! and then the cached bytes over it. Stores through mappings reach the host file at
//! write-back: msync, fsync, when the file's last mapping goes (the cache is dropped
//! then), at a checkpoint, and when the sandbox ends. Only bytes below the file's end are
//! written back.
//!
//! Cached pages wholly past the file's end are fenced in the memory file
//! ([`MemoryFile::set_fence`]): address spaces map them without access, a guest touching
//! them gets SIGBUS and a system call EFAULT. An ftruncate zeroes the cached bytes past
//! the new end (the tail of the page holding it reads zeroes, and a file grown again reads
//! zeroes), and any change of the file's size moves the fences ([`PageCaches::stale`]:
//! the kernel refreshes the address spaces after the system call).
//!
//! A checkpoint writes every cache back first (so the host file, or the tmpfs the image
//! carries, holds the bytes) and saves each cache as its guest path and extents; the
//! extents' bytes are in the memory file the image carries. A restore reopens the file by
//! that path: a file no path reaches any more (deleted while mapped) keeps its mappings'
//! bytes, but is no longer tied to a file.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::checks::{bad, path_ok, truncate, Invalid};
use crate::fs::ghost::FileIdentity;
use crate::fs::host_sys;
use crate::mm::{page_up, Errno, MemoryFile, PAGE};

/// A host inode: (device, inode number).
pub(crate) type InodeKey = (u64, u64);

/// The largest file offset a mapping may reach (Linux's MAX_LFS_FILESIZE).
pub(crate) const MAX_FILE_END: u64 = i64::MAX as u64;

/// Every cache, by host inode.
#[derive(Default)]
pub(crate) struct PageCaches {
    by_inode: RefCell<HashMap<InodeKey, Rc<RefCell<FileCache>>>>,
    /// A cached file's size may have changed: the fences are to be moved.
    stale: Cell<bool>,
    /// Every cache was written back for a checkpoint and no guest thread has run since:
    /// nothing can have changed, and a write-back (a mapping's end as the checkpoint ends
    /// the sandbox, the sandbox's end) would only rewrite the same bytes, and give the
    /// files a newer modification time than the image recorded for them.
    clean: Cell<bool>,
}

/// One file's cache.
pub(crate) struct FileCache {
    mf: Rc<MemoryFile>,
    /// The sentry's own description of the host file (read-write when a shared writable
    /// mapping was made: write-back needs it).
    fd: OwnedFd,
    writable: bool,
    /// A shared writable mapping was made: write-back has something to do.
    written: bool,
    /// The guest path it was mapped by (a checkpoint reopens it by that path).
    path: String,
    /// The file size the fences stand for.
    size: u64,
    /// File offset -> (memory-file offset, length); page-aligned, not overlapping.
    extents: BTreeMap<u64, (u64, u64)>,
}

fn host_err(e: nix::Error) -> Errno {
    e as i32
}

/// The sentry's own fd of host file `fd` (a duplicate: the same description; write-back
/// uses pwrite and keeps O_APPEND off while it writes).
fn reopen(fd: &OwnedFd) -> Result<OwnedFd, Errno> {
    fd.try_clone()
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EMFILE))
}

/// pwrite(2) of all of `buf` at `off`, with the description's O_APPEND (which makes
/// pwrite append on Linux) off meanwhile.
fn pwrite_all(fd: &OwnedFd, buf: &[u8], off: u64) -> Result<(), Errno> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fl = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(host_err)?;
    let append = fl & libc::O_APPEND != 0;
    if append {
        let off = OFlag::from_bits_truncate(fl & !libc::O_APPEND);
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(off)).map_err(host_err)?;
    }
    let mut done = 0;
    let mut res = Ok(());
    while done < buf.len() {
        match nix::sys::uio::pwrite(fd.as_fd(), &buf[done..], (off + done as u64) as i64) {
            Ok(n) => done += n,
            Err(nix::Error::EINTR) => {}
            Err(e) => {
                res = Err(host_err(e));
                break;
            }
        }
    }
    if append {
        let _ = fcntl(
            fd.as_raw_fd(),
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(fl)),
        );
    }
    res
}

impl FileCache {
    fn file_size(&self) -> u64 {
        host_sys::fstat(self.fd.as_fd()).map_or(self.size, |st| st.st_size.max(0) as u64)
    }

    /// The extents that meet `[off, end)`: (file offset, memory-file offset, length).
    fn meeting(&self, off: u64, end: u64) -> Vec<(u64, u64, u64)> {
        let first = self
            .extents
            .range(..off)
            .next_back()
            .filter(|(&f, &(_, l))| f + l > off)
            .map(|(&f, &(m, l))| (f, m, l));
        first
            .into_iter()
            .chain(self.extents.range(off..end).map(|(&f, &(m, l))| (f, m, l)))
            .collect()
    }

    /// Calls `f` with (file offset, memory-file offset, length) of every cached piece of
    /// `[off, end)`, clipped to it.
    fn each(&self, off: u64, end: u64, mut f: impl FnMut(u64, u64, u64)) {
        for (fo, m, l) in self.meeting(off, end) {
            let (a, b) = (fo.max(off), (fo + l).min(end));
            if a < b {
                f(a, m + (a - fo), b - a);
            }
        }
    }

    /// Makes `[off, end)` (page-aligned) cached: missing runs get fresh memory filled
    /// from the host file (zeroes past its end).
    fn populate(&mut self, off: u64, end: u64) -> Result<(), Errno> {
        let mut missing = Vec::new();
        let mut at = off;
        for (fo, _, l) in self.meeting(off, end) {
            if fo > at {
                missing.push((at, fo));
            }
            at = at.max(fo + l);
        }
        if at < end {
            missing.push((at, end));
        }
        let size = self.file_size();
        for (a, b) in missing {
            let m = self.mf.alloc(b - a).map_err(|_| libc::ENOMEM)?;
            let mut pos = a;
            let mut buf = vec![0u8; (1 << 20).min((b - a) as usize)];
            while pos < b.min(size) {
                let want = ((b.min(size) - pos) as usize).min(buf.len());
                match nix::sys::uio::pread(self.fd.as_fd(), &mut buf[..want], pos as i64) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.mf.write(m + (pos - a), &buf[..n]);
                        pos += n as u64;
                    }
                    Err(nix::Error::EINTR) => {}
                    Err(e) => {
                        self.mf.dec_ref(m, b - a);
                        return Err(host_err(e));
                    }
                }
            }
            self.extents.insert(a, (m, b - a));
        }
        self.fence(0, u64::MAX);
        Ok(())
    }

    /// Sets the fences of the extents that meet `[off, end)` for the current size.
    fn fence(&self, off: u64, end: u64) {
        let edge = page_up(self.size);
        for (fo, m, l) in self.meeting(off, end) {
            let cut = edge.clamp(fo, fo + l) - fo;
            self.mf.set_fence(m, cut, false);
            self.mf.set_fence(m + cut, l - cut, true);
        }
    }

    /// The memory-file pieces (offset, length) of the cached `[off, off + len)`.
    fn pieces(&self, off: u64, len: u64) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        self.each(off, off + len, |_, m, l| v.push((m, l)));
        v
    }

    /// Writes the cached bytes below the file's end to the host file.
    fn write_back(&mut self) -> Result<(), Errno> {
        if !self.written || !self.writable {
            return Ok(());
        }
        let size = self.file_size();
        let mut res = Ok(());
        let mut buf = Vec::new();
        self.each(0, size, |fo, m, l| {
            let mut at = 0;
            while at < l && res.is_ok() {
                let n = (l - at).min(1 << 20);
                buf.resize(n as usize, 0);
                self.mf.read(m + at, &mut buf);
                res = pwrite_all(&self.fd, &buf, fo + at);
                at += n;
            }
        });
        res
    }

    /// Whether a mapping still maps part of it (its pages have more than the cache's
    /// reference).
    fn mapped(&self) -> bool {
        self.extents.values().any(|&(m, l)| self.mf.is_shared(m, l))
    }

    /// Its memory-file extents.
    pub(crate) fn extents(&self) -> Vec<(u64, u64)> {
        self.extents.values().copied().collect()
    }
}

impl Drop for FileCache {
    fn drop(&mut self) {
        for &(m, l) in self.extents.values() {
            self.mf.set_fence(m, l, false);
            self.mf.dec_ref(m, l);
        }
    }
}

/// What a mapping of a cached file maps.
pub(crate) struct CachedPieces {
    /// (memory-file offset, length), following each other.
    pub(crate) pieces: Vec<(u64, u64)>,
}

impl PageCaches {
    pub(crate) fn is_empty(&self) -> bool {
        self.by_inode.borrow().is_empty()
    }

    fn get(&self, key: InodeKey) -> Option<Rc<RefCell<FileCache>>> {
        if self.is_empty() {
            return None;
        }
        self.by_inode.borrow().get(&key).cloned()
    }

    /// The pieces a mapping of `[off, off + len)` of host file `fd` (inode `key`, guest
    /// `path`) maps; the cache is made on the first mapping. `shared_write`: a shared
    /// writable mapping, whose stores write-back brings to the file.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map(
        &self,
        mf: &Rc<MemoryFile>,
        fd: &OwnedFd,
        key: InodeKey,
        path: &str,
        off: u64,
        len: u64,
        shared_write: bool,
    ) -> Result<CachedPieces, Errno> {
        let end = off.checked_add(len).ok_or(libc::EOVERFLOW)?;
        if end > MAX_FILE_END {
            return Err(libc::EOVERFLOW);
        }
        let cache = match self.get(key) {
            Some(c) => c,
            None => {
                let own = reopen(fd)?;
                let size = host_sys::fstat(own.as_fd())?.st_size.max(0) as u64;
                let c = Rc::new(RefCell::new(FileCache {
                    mf: mf.clone(),
                    fd: own,
                    writable: shared_write,
                    written: false,
                    path: path.to_string(),
                    size,
                    extents: BTreeMap::new(),
                }));
                self.by_inode.borrow_mut().insert(key, c.clone());
                c
            }
        };
        let mut c = cache.borrow_mut();
        if shared_write {
            if !c.writable {
                c.fd = reopen(fd)?;
                c.writable = true;
            }
            c.written = true;
        }
        c.size = c.file_size();
        c.populate(off, end)?;
        Ok(CachedPieces {
            pieces: c.pieces(off, len),
        })
    }

    /// read(2) of inode `key` read `buf` at file offset `off`: the cached bytes there are
    /// the file's.
    pub(crate) fn overlay(&self, key: InodeKey, off: u64, buf: &mut [u8]) {
        let Some(c) = self.get(key) else { return };
        let c = c.borrow();
        c.each(off, off + buf.len() as u64, |fo, m, l| {
            let at = (fo - off) as usize;
            c.mf.read(m, &mut buf[at..at + l as usize]);
        });
    }

    /// write(2) of inode `key` wrote `data` at file offset `off` to the host file: the
    /// cache gets the bytes too.
    pub(crate) fn written(&self, key: InodeKey, off: u64, data: &[u8]) {
        let Some(c) = self.get(key) else { return };
        let c = c.borrow();
        let end = off + data.len() as u64;
        if end > c.size {
            // The file grows: what a mapping stored past the old end is not the file's.
            c.each(c.size, page_up(c.size), |_, m, l| c.mf.zero(m, l));
        }
        c.each(off, end, |fo, m, l| {
            let at = (fo - off) as usize;
            c.mf.write(m, &data[at..at + l as usize]);
        });
        if off + data.len() as u64 > c.size {
            self.stale.set(true);
        }
    }

    /// The host file of inode `key` lost its bytes in `[off, end)` (an ftruncate to `off`
    /// with `end` MAX, a hole punched): the cache reads zeroes there.
    pub(crate) fn zeroed(&self, key: InodeKey, off: u64, end: u64) {
        let Some(c) = self.get(key) else { return };
        let c = c.borrow();
        c.each(off, end, |_, m, l| c.mf.zero(m, l));
        self.stale.set(true);
    }

    /// The host file of inode `key` was truncated to `len`: the cache reads zeroes past
    /// it, and past the old end if it grew (what a mapping stored there is not the
    /// file's).
    pub(crate) fn truncated(&self, key: InodeKey, len: u64) {
        let from = self.get(key).map_or(len, |c| c.borrow().size.min(len));
        self.zeroed(key, from, u64::MAX);
    }

    /// The size of some cached file may have changed (a path truncate, an O_TRUNC open).
    pub(crate) fn mark_stale(&self) {
        if !self.is_empty() {
            self.stale.set(true);
        }
    }

    /// The memory-file extents of every cache whose file changed size since the fences
    /// were set, with the fences moved: the address spaces mapping them are to be
    /// refreshed (`Mm::refresh`).
    pub(crate) fn refence(&self) -> Vec<(u64, u64)> {
        if !self.stale.replace(false) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for c in self.by_inode.borrow().values() {
            let mut c = c.borrow_mut();
            let size = c.file_size();
            if size != c.size {
                c.size = size;
                c.fence(0, u64::MAX);
                out.extend(c.extents());
            }
        }
        out
    }

    /// A guest thread runs again: what the caches hold may change.
    pub(crate) fn guest_runs(&self) {
        self.clean.set(false);
    }

    /// fsync(2) of inode `key`: its cache is written back first.
    pub(crate) fn sync(&self, key: InodeKey) -> Result<(), Errno> {
        if self.clean.get() {
            return Ok(());
        }
        match self.get(key) {
            Some(c) => c.borrow_mut().write_back(),
            None => Ok(()),
        }
    }

    /// Writes every cache back (msync, a checkpoint, the end of the sandbox).
    pub(crate) fn write_back_all(&self) -> Result<(), Errno> {
        if self.clean.get() {
            return Ok(());
        }
        let mut res = Ok(());
        for c in self.by_inode.borrow().values() {
            if let Err(e) = c.borrow_mut().write_back() {
                res = Err(e);
            }
        }
        res
    }

    /// Drops the caches no mapping maps any more, writing them back first.
    pub(crate) fn sweep(&self) {
        if self.is_empty() {
            return;
        }
        let gone: Vec<InodeKey> = self
            .by_inode
            .borrow()
            .iter()
            .filter(|(_, c)| !c.borrow().mapped())
            .map(|(&k, _)| k)
            .collect();
        for k in gone {
            let c = self.by_inode.borrow_mut().remove(&k);
            if let Some(c) = c.filter(|_| !self.clean.get()) {
                if let Err(e) = c.borrow_mut().write_back() {
                    log::warn!("write-back of {:?} failed: errno {e}", c.borrow().path);
                }
            }
        }
    }

    /// The saved form of every cache (written back first). `named` says which host inode
    /// a guest path reaches now: a cache whose path no longer reaches its file (deleted or
    /// replaced) is saved without identity, and not tied to a file again at restore.
    pub(crate) fn save(&self, named: &dyn Fn(&str) -> Option<InodeKey>) -> Vec<FileCacheState> {
        match self.write_back_all() {
            Ok(()) => self.clean.set(true),
            Err(e) => log::warn!("writing the page caches back for a checkpoint: errno {e}"),
        }
        let mut v: Vec<FileCacheState> = self
            .by_inode
            .borrow()
            .iter()
            .map(|(&key, c)| {
                let c = c.borrow();
                let identity = host_sys::fstat(c.fd.as_fd())
                    .ok()
                    .filter(|st| st.st_nlink > 0 && named(&c.path) == Some(key))
                    .map(|st| FileIdentity::of(&st));
                FileCacheState {
                    path: c.path.clone(),
                    identity,
                    writable: c.writable,
                    written: c.written,
                    extents: c.extents.iter().map(|(&f, &(m, l))| (f, m, l)).collect(),
                }
            })
            .collect();
        v.sort_by(|a, b| a.extents.cmp(&b.extents));
        v
    }

    /// Brings saved caches back: each file is reopened by `open` (its guest path,
    /// writable or not); one that cannot be reopened gives its extents up (the mappings
    /// keep their own references and bytes). The extents' bytes are the memory file's
    /// already.
    pub(crate) fn restore(
        &self,
        mf: &Rc<MemoryFile>,
        saved: &[FileCacheState],
        open: &dyn Fn(&str, bool) -> Option<OwnedFd>,
    ) {
        for s in saved {
            // Only the file that was checkpointed (its size and modification time).
            let fd = s.identity.as_ref().and_then(|_| open(&s.path, s.writable));
            let key = fd
                .as_ref()
                .and_then(|fd| host_sys::fstat(fd.as_fd()).ok())
                .filter(|st| s.identity.as_ref().is_some_and(|id| id.matches(st).is_ok()))
                .map(|st| (st.st_dev, st.st_ino));
            let (Some(fd), Some(key)) = (fd, key) else {
                for &(_, m, l) in &s.extents {
                    mf.dec_ref(m, l);
                }
                continue;
            };
            if self.by_inode.borrow().contains_key(&key) {
                for &(_, m, l) in &s.extents {
                    mf.dec_ref(m, l);
                }
                continue;
            }
            let mut c = FileCache {
                mf: mf.clone(),
                fd,
                writable: s.writable,
                written: s.written,
                path: s.path.clone(),
                size: 0,
                extents: s.extents.iter().map(|&(f, m, l)| (f, (m, l))).collect(),
            };
            c.size = c.file_size();
            c.fence(0, u64::MAX);
            self.by_inode
                .borrow_mut()
                .insert(key, Rc::new(RefCell::new(c)));
        }
    }
}

/// A saved cache: the file's guest path and its extents (file offset, memory-file offset,
/// length), one memory-file reference each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileCacheState {
    pub path: String,
    /// The file when it was saved; None: no path reached it any more (its mappings keep
    /// their bytes, but no file is theirs after a restore).
    pub identity: Option<FileIdentity>,
    pub writable: bool,
    pub written: bool,
    pub extents: Vec<(u64, u64, u64)>,
}

impl FileCacheState {
    /// Checks a saved cache read back from an image: page-aligned extents of allocated
    /// memory-file bytes, not overlapping in the file.
    pub(crate) fn check(&self, allocated: &dyn Fn(u64, u64) -> bool) -> Result<(), Invalid> {
        let what = format!("page cache of {:?}", truncate(&self.path));
        path_ok(&what, "path", &self.path, true)?;
        for (i, &(f, m, l)) in self.extents.iter().enumerate() {
            let ok = f % PAGE == 0
                && m % PAGE == 0
                && l % PAGE == 0
                && l > 0
                && f.checked_add(l).is_some_and(|e| e <= MAX_FILE_END)
                && allocated(m, l);
            if !ok {
                return Err(bad(
                    &what,
                    "extents",
                    format!("extent {i} is not allocated memory of the file's pages"),
                ));
            }
        }
        let mut sorted: Vec<(u64, u64)> = self.extents.iter().map(|&(f, _, l)| (f, l)).collect();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0].0 + w[0].1 > w[1].0) {
            return Err(bad(&what, "extents", "overlap"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> (tempfile::TempDir, OwnedFd) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, bytes).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        (dir, OwnedFd::from(f))
    }

    fn key(fd: &OwnedFd) -> InodeKey {
        let st = host_sys::fstat(fd.as_fd()).unwrap();
        (st.st_dev, st.st_ino)
    }

    #[test]
    fn mappings_reads_and_writes_share_the_cache_and_pages_past_the_end_are_fenced() {
        let mf = Rc::new(MemoryFile::new().unwrap());
        let (_d, fd) = file(&[b'a'; 5000]);
        let k = key(&fd);
        let caches = PageCaches::default();
        let p = caches.map(&mf, &fd, k, "/f", 0, 3 * PAGE, true).unwrap();
        assert_eq!(p.pieces.iter().map(|&(_, l)| l).sum::<u64>(), 3 * PAGE);
        let (m, _) = p.pieces[0];
        // The file's bytes, zeroes past its end; the third page is past it.
        let mut b = [0u8; 2];
        mf.read(m + 4999, &mut b);
        assert_eq!(b, [b'a', 0]);
        assert!(!mf.has_fence(m, 2 * PAGE) && mf.has_fence(m + 2 * PAGE, PAGE));
        // A store through a mapping is what read() gets; a write is in the mapping.
        mf.write(m + 10, b"store");
        let mut buf = vec![0u8; 8];
        nix::sys::uio::pread(fd.as_fd(), &mut buf, 8).unwrap();
        caches.overlay(k, 8, &mut buf);
        assert_eq!(&buf, b"aastorea");
        caches.written(k, 100, b"write");
        let mut w = [0u8; 5];
        mf.read(m + 100, &mut w);
        assert_eq!(&w, b"write");
        // Truncated down: the cache reads zeroes past the end, the fence moves once
        // `refence` runs.
        nix::unistd::ftruncate(&fd, 50).unwrap();
        caches.truncated(k, 50);
        assert_eq!(caches.refence(), vec![(m, 3 * PAGE)]);
        mf.read(m + 100, &mut w);
        assert_eq!(w, [0; 5]);
        assert!(!mf.has_fence(m, PAGE) && mf.has_fence(m + PAGE, 2 * PAGE));
        // Write-back writes only below the end; the file keeps its size.
        caches.write_back_all().unwrap();
        let st = host_sys::fstat(fd.as_fd()).unwrap();
        assert_eq!(st.st_size, 50);
        nix::sys::uio::pread(fd.as_fd(), &mut buf, 8).unwrap();
        assert_eq!(&buf, b"aastorea");
        // No mapping holds a reference beyond the cache's: the sweep drops it, fences
        // and memory with it.
        caches.sweep();
        assert!(caches.is_empty());
        assert!(!mf.has_fence(m, 3 * PAGE));
        assert_eq!(mf.allocated(), 0);
    }

    #[test]
    fn after_a_checkpoint_s_write_back_nothing_is_written_again_until_a_guest_runs() {
        let mf = Rc::new(MemoryFile::new().unwrap());
        let (_d, fd) = file(&[b'a'; 100]);
        let k = key(&fd);
        let caches = PageCaches::default();
        let p = caches.map(&mf, &fd, k, "/f", 0, PAGE, true).unwrap();
        let (m, _) = p.pieces[0];
        mf.write(m, b"mapped");
        assert_eq!(caches.save(&|_| Some(k)).len(), 1);
        let read = |fd: &OwnedFd| {
            let mut b = vec![0u8; 6];
            nix::sys::uio::pread(fd.as_fd(), &mut b, 0).unwrap();
            b
        };
        assert_eq!(read(&fd), b"mapped", "written back for the image");
        // Someone else changes the file; the sandbox ends without a guest having run
        // (a checkpoint that ends it): neither fsync, msync, nor the caches' end rewrite
        // it (the modification time the image recorded stays).
        nix::sys::uio::pwrite(fd.as_fd(), b"other!", 0).unwrap();
        caches.sync(k).unwrap();
        caches.write_back_all().unwrap();
        assert_eq!(read(&fd), b"other!");
        // Once a guest ran, its stores are written back again.
        caches.guest_runs();
        caches.write_back_all().unwrap();
        assert_eq!(read(&fd), b"mapped");
    }

    #[test]
    fn offsets_past_off_t_are_eoverflow() {
        let mf = Rc::new(MemoryFile::new().unwrap());
        let (_d, fd) = file(b"x");
        let caches = PageCaches::default();
        for off in [MAX_FILE_END & !(PAGE - 1), !(PAGE - 1)] {
            assert_eq!(
                caches.map(&mf, &fd, key(&fd), "/f", off, PAGE, false).err(),
                Some(libc::EOVERFLOW)
            );
        }
        assert!(caches.is_empty());
    }

    #[test]
    fn hostile_saved_caches_are_refused_by_name() {
        let ok = |_: u64, _: u64| true;
        let none = |_: u64, _: u64| false;
        let st = |path: &str, extents: Vec<(u64, u64, u64)>| FileCacheState {
            path: path.into(),
            identity: None,
            writable: true,
            written: true,
            extents,
        };
        assert!(st("/f", vec![(0, 0, PAGE), (PAGE, 8 * PAGE, PAGE)])
            .check(&ok)
            .is_ok());
        for (s, what) in [
            (st("f", vec![]), "not a valid guest path"),
            (st("/f", vec![(1, 0, PAGE)]), "extent 0"),
            (st("/f", vec![(0, 0, PAGE + 1)]), "extent 0"),
            (st("/f", vec![(0, 0, 0)]), "extent 0"),
            (
                st("/f", vec![(MAX_FILE_END & !(PAGE - 1), 0, PAGE)]),
                "extent 0",
            ),
            (
                st("/f", vec![(0, 0, 2 * PAGE), (PAGE, 4 * PAGE, PAGE)]),
                "overlap",
            ),
        ] {
            let e = s.check(&ok).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        }
        let e = st("/f", vec![(0, 0, PAGE)])
            .check(&none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("extent 0"), "{e}");
    }
}
