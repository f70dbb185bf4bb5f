//! Guest memory restored on demand (every `runsc restore`): the guest runs before the
//! image's memory is checked. Each segment of the image (at most
//! `statefile::MAX_SEGMENT_LEN` bytes) is checked against its crc32 and, unless its pages
//! are the shared image's (`MemoryFile::share_image`: they are the image's already, and
//! only checked), copied into the memory file, the first time anything needs it, while
//! background threads load the rest in order.
//!
//! Who needs a segment:
//! - the guest: its mappings of memory not yet opened are mapped without access (see
//!   `Mm::open_range`); its first touch faults, the fault loads what the touched window
//!   holds and gives the window its protection;
//! - the sentry: every read, write, copy or release of memory-file bytes settles them
//!   first (`MemoryFile::settle`), so it never sees a byte the image has not put there;
//! - a checkpoint: it loads everything before its snapshot.
//!
//! A segment whose bytes do not match their checksum is never used: its range stays
//! zero (a shared one stops being the image's), the memory is poisoned, and the first such
//! segment is logged and kept (`bad`). The kernel then ends the sandbox (a default
//! restore), or goes on with a guest touching it getting SIGBUS (as a hardware memory
//! error on Linux) and a system call reading it EFAULT (`restore --background`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::memfile::Loader;

/// A segment's state.
const ABSENT: u8 = 0;
const LOADING: u8 = 1;
const LOADED: u8 = 2;
/// Its bytes did not match their checksum; the range stays zero.
const POISONED: u8 = 3;

/// A part of the image's memory could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Poisoned {
    /// The segment's index in the image.
    pub(crate) segment: u64,
    /// The memory it holds: `[offset, offset + len)` of the memory file.
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// No segment was bad.
const NONE_BAD: u64 = u64::MAX;

/// The image's memory not yet in the memory file, shared between the sentry's thread and
/// the background loader.
pub(crate) struct LazyMemory {
    image: Arc<statefile::Image>,
    /// In increasing memory offset, without overlaps (the image's reader checked).
    segs: Vec<statefile::SegmentInfo>,
    /// Per segment: its pages are the shared image's (checked, not copied).
    shared: Vec<bool>,
    state: Vec<AtomicU8>,
    /// Segments neither loaded nor poisoned.
    pending: AtomicUsize,
    /// A thread waiting for a segment another thread loads.
    changed: Condvar,
    lock: Mutex<()>,
    loader: Loader,
    stop: AtomicBool,
    /// A segment was poisoned (the first one was logged).
    logged: AtomicBool,
    /// The index of the first poisoned segment (`NONE_BAD` while none is).
    first_bad: AtomicU64,
    /// The sandbox goes on with a bad segment's memory poisoned (`restore
    /// --background`): the first one is logged as an error here (else the kernel ends
    /// the sandbox with that error, reported by whoever waits for it).
    tolerated: bool,
}

impl LazyMemory {
    /// The image's segments to load on demand into the memory file that `loader` writes;
    /// those `shared` says (by segment) are the image's pages in the memory file already
    /// and are only checked. Every segment must lie inside the allocated memory (the
    /// caller checked).
    pub(crate) fn new(
        image: Arc<statefile::Image>,
        loader: Loader,
        shared: &dyn Fn(&statefile::SegmentInfo) -> bool,
        tolerated: bool,
    ) -> LazyMemory {
        let segs: Vec<statefile::SegmentInfo> = image.segment_infos().collect();
        let n = segs.len();
        LazyMemory {
            image,
            shared: segs.iter().map(shared).collect(),
            segs,
            state: (0..n).map(|_| AtomicU8::new(ABSENT)).collect(),
            pending: AtomicUsize::new(n),
            changed: Condvar::new(),
            lock: Mutex::new(()),
            loader,
            stop: AtomicBool::new(false),
            logged: AtomicBool::new(false),
            first_bad: AtomicU64::new(NONE_BAD),
            tolerated,
        }
    }

    /// The first segment found bad, if any.
    pub(crate) fn bad(&self) -> Option<u64> {
        Some(self.first_bad.load(Ordering::Acquire)).filter(|&i| i != NONE_BAD)
    }

    /// Why the first bad segment is bad (its checksum, or a frame that does not
    /// decompress), if one is.
    pub(crate) fn bad_error(&self) -> Option<statefile::Error> {
        let i = self.segs.iter().position(|s| Some(s.index) == self.bad())?;
        self.image.segment(&self.segs[i]).err()
    }

    fn poisoned(&self, i: usize) -> Poisoned {
        let s = self.segs[i];
        Poisoned {
            segment: s.index,
            offset: s.memory_offset,
            len: s.len,
        }
    }

    /// Whether every segment is loaded and none was bad: nothing is left to do.
    pub(crate) fn done(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0 && !self.logged.load(Ordering::Acquire)
    }

    /// The segments that meet `[off, off + len)`.
    fn meeting(&self, off: u64, len: u64) -> std::ops::Range<usize> {
        let end = off.saturating_add(len);
        let first = self
            .segs
            .partition_point(|s| s.memory_offset + s.len <= off);
        let last = self.segs.partition_point(|s| s.memory_offset < end);
        first..last.max(first)
    }

    /// Loads every segment that meets `[off, off + len)` (waiting for one another thread
    /// loads). Fails on the first poisoned one.
    pub(crate) fn settle(&self, off: u64, len: u64) -> Result<(), Poisoned> {
        let mut r = Ok(());
        for i in self.meeting(off, len) {
            if let Err(e) = self.load(i) {
                r = r.and(Err(e));
            }
        }
        r
    }

    /// Forgets the segments wholly inside `[off, off + len)` (memory being freed: what
    /// it held is gone) and loads those only partly inside.
    pub(crate) fn discard(&self, off: u64, len: u64) {
        for i in self.meeting(off, len) {
            let s = self.segs[i];
            if s.memory_offset >= off && s.memory_offset + s.len <= off + len {
                if self.state[i]
                    .compare_exchange(ABSENT, LOADED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.pending.fetch_sub(1, Ordering::AcqRel);
                } else {
                    // Being loaded now: the release must come after the load.
                    let _ = self.load(i);
                }
            } else {
                let _ = self.load(i);
            }
        }
    }

    /// Loads segment `i` unless it is loaded; waits while another thread loads it.
    fn load(&self, i: usize) -> Result<(), Poisoned> {
        let seg = self.segs[i];
        loop {
            match self.state[i].compare_exchange(
                ABSENT,
                LOADING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(LOADED) => return Ok(()),
                Err(POISONED) => return Err(self.poisoned(i)),
                Err(_) => {
                    let g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                    if self.state[i].load(Ordering::Acquire) == LOADING {
                        drop(self.changed.wait(g).unwrap_or_else(|e| e.into_inner()));
                    }
                }
            }
        }
        // Checked before the bytes reach the memory file: nothing ever sees bad ones.
        let checked = self.image.segment(&seg);
        let ok = checked.is_ok();
        let end = match checked {
            Ok(s) => {
                // Shared pages are the image's bytes just checked, in place.
                if !self.shared[i] {
                    self.loader.write(seg.memory_offset, &s.data);
                }
                LOADED
            }
            Err(e) => {
                // A checksum mismatch, or a compressed segment that does not decompress.
                let _ = self.first_bad.compare_exchange(
                    NONE_BAD,
                    seg.index,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if !self.logged.swap(true, Ordering::AcqRel) {
                    let level = if self.tolerated {
                        log::Level::Error
                    } else {
                        log::Level::Debug
                    };
                    log::log!(
                        level,
                        "checkpoint image: {e}: its memory ({:#x} bytes) is never used",
                        seg.len
                    );
                }
                POISONED
            }
        };
        {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.state[i].store(end, Ordering::Release);
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
        self.changed.notify_all();
        if ok {
            Ok(())
        } else {
            Err(self.poisoned(i))
        }
    }

    /// Loads the segments in order (taking turns with other loader threads through
    /// `next`) until all are loaded or `stop` is called.
    fn load_all(&self, next: &AtomicUsize) {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= self.segs.len() || self.stop.load(Ordering::Relaxed) {
                return;
            }
            let _ = self.load(i);
        }
    }

    /// Whether every segment that meets `[off, off + len)` is loaded (none is loaded
    /// here).
    pub(crate) fn loaded(&self, off: u64, len: u64) -> bool {
        self.meeting(off, len)
            .all(|i| self.state[i].load(Ordering::Acquire) == LOADED)
    }

    /// Loads everything left on the calling thread (a checkpoint needs all of it).
    pub(crate) fn finish(&self) {
        for i in 0..self.segs.len() {
            let _ = self.load(i);
        }
    }
}

/// The background loader: threads (one per CPU, at most 4) loading every segment in
/// order.
pub(crate) struct Background {
    lazy: Arc<LazyMemory>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Background {
    pub(crate) fn start(lazy: Arc<LazyMemory>) -> std::io::Result<Background> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let next = Arc::new(AtomicUsize::new(0));
        let mut bg = Background {
            lazy,
            threads: Vec::new(),
        };
        for _ in 0..n {
            let (l, next) = (bg.lazy.clone(), next.clone());
            bg.threads.push(
                std::thread::Builder::new()
                    .name("memory-loader".into())
                    .spawn(move || {
                        // What the guest touches it loads itself, at once: these threads
                        // only get ahead of it, and must not slow the restore's own work
                        // (or the guest) down on a machine with few CPUs.
                        if let Err(e) = crate::platform::sys::lowest_priority() {
                            log::debug!("memory loader: cannot lower its priority: {e}");
                        }
                        l.load_all(&next)
                    })?,
            );
        }
        Ok(bg)
    }

    pub(crate) fn lazy(&self) -> &Arc<LazyMemory> {
        &self.lazy
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.lazy.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::memfile::MemoryFile;
    use std::sync::Arc;

    #[derive(serde::Serialize)]
    struct NoState;
    impl statefile::StateSchema for NoState {
        const VERSION: u32 = 1;
    }

    const MIB: usize = 1 << 20;

    /// 3 MiB of memory at offset 0 whose every byte says where it is (three segments),
    /// its image in `dir`, opened; `bad`: a byte of the second segment flipped.
    fn image(dir: &std::path::Path, bad: bool) -> (Vec<u8>, Arc<statefile::Image>) {
        let mem: Vec<u8> = (0..3 * MIB).map(|i| (i % 251 + 1) as u8).collect();
        let meta = statefile::Metadata::for_this_host("test", "lazy");
        let stats = statefile::write_image(dir, &meta, &NoState, [(0, &mem[..])]).unwrap();
        let mut bytes = std::fs::read(&stats.path).unwrap();
        let img = statefile::Image::from_bytes(bytes.clone()).unwrap();
        let segs: Vec<_> = img.segment_infos().collect();
        assert_eq!(segs.len(), 3);
        if bad {
            bytes[segs[1].file_offset as usize + 5] ^= 1;
        }
        (mem, Arc::new(statefile::Image::from_bytes(bytes).unwrap()))
    }

    fn memory_file(image: Arc<statefile::Image>) -> MemoryFile {
        let mf = MemoryFile::new().unwrap();
        mf.restore_ranges(&[(0, 3 * MIB as u64, 1)]).unwrap();
        mf.load_on_demand(image, true).unwrap();
        mf
    }

    #[test]
    fn every_read_finds_the_image_bytes_whoever_loads_them_first() {
        let dir = tempfile::tempdir().unwrap();
        let (mem, img) = image(dir.path(), false);
        let mf = memory_file(img);
        // Reads across segment boundaries, racing the background loader.
        for (off, len) in [(MIB - 10, 20), (0, 4096), (2 * MIB + 7, 100), (0, 3 * MIB)] {
            let mut buf = vec![0; len];
            mf.read(off as u64, &mut buf);
            assert!(buf == mem[off..off + len], "bytes at {off:#x}+{len}");
        }
        assert!(!mf.still_loading());
    }

    #[test]
    fn shared_segments_are_checked_in_place_and_a_bad_one_stops_being_the_images() {
        use std::os::fd::OwnedFd;
        let dir = tempfile::tempdir().unwrap();
        let (mem, img) = image(dir.path(), true);
        let segs: Vec<_> = img.segment_infos().collect();
        // The image file as the restore has it (the image kept its bytes in memory).
        let path = dir.path().join("damaged");
        let mut bytes = std::fs::read(dir.path().join(statefile::IMAGE_FILE_NAME)).unwrap();
        bytes[segs[1].file_offset as usize + 5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mf = MemoryFile::new().unwrap();
        mf.restore_ranges(&[(0, 3 * MIB as u64, 1)]).unwrap();
        let pieces: Vec<(u64, u64, u64)> = segs
            .iter()
            .map(|s| (s.memory_offset, s.file_offset, s.len))
            .collect();
        mf.share_image(OwnedFd::from(file), &pieces).unwrap();
        mf.load_on_demand(img, false).unwrap();
        // The good ones: their bytes are the image's, read in place.
        let mut buf = vec![0; 16];
        mf.read(2 * MIB as u64 + 3, &mut buf);
        assert!(buf == mem[2 * MIB + 3..2 * MIB + 19]);
        assert!(mf.has_image(0, MIB as u64) && mf.has_image(2 * MIB as u64, MIB as u64));
        // The bad one is known, and the sentry reads the memory file's zeros there,
        // never the image's bad bytes.
        assert_eq!(mf.settle(MIB as u64, 1).unwrap_err().segment, 1);
        assert_eq!(mf.bad_segment(), Some(1));
        assert!(!mf.has_image(MIB as u64, MIB as u64));
        mf.read(MIB as u64, &mut buf);
        assert_eq!(buf, vec![0; 16]);
        assert!(mf
            .bad_segment_error()
            .is_some_and(|e| e.to_string().contains("segment 1 checksum mismatch")));
        // Nothing was written to the image.
        assert!(std::fs::read(&path).unwrap() == bytes);
    }

    #[test]
    fn a_bad_segment_is_never_used_and_stays_known() {
        let dir = tempfile::tempdir().unwrap();
        let (mem, img) = image(dir.path(), true);
        let mf = memory_file(img);
        assert_eq!(mf.settle(0, MIB as u64), Ok(()));
        let e = mf.settle(MIB as u64 + 1, 1).unwrap_err();
        assert_eq!(e.segment, 1);
        let mut buf = vec![0xff; 16];
        mf.read(MIB as u64, &mut buf);
        assert_eq!(buf, vec![0; 16], "the bad segment's bytes stay out");
        mf.read(2 * MIB as u64, &mut buf);
        assert!(buf == mem[2 * MIB..2 * MIB + 16]);
        // Loading the rest does not forget it.
        mf.finish_loading();
        assert!(mf.still_loading());
        assert!(mf.settle(MIB as u64, 4096).is_err());
    }
}
