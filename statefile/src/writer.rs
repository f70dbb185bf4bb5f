//! The streaming writer.
//!
//! The layout puts the segment table before the segments, yet the table holds
//! each segment's crc32, which is known only after a pass over the
//! segment's bytes. The writer therefore works in two passes over the caller's
//! memory ranges, neither of which copies guest memory:
//!
//! 1. **Plan** (cheap): check that ranges are page-aligned and ordered, and
//!    split each into runs of non-zero pages. A non-zero page is usually
//!    recognised from its first cache line, so this reads very little of
//!    memory. From the runs, every offset in the file is known.
//! 2. **Write**: metadata and state stream from the start of the file; the
//!    table's space is left as a hole; the segments are written in large
//!    chunks, each checksummed just before it is written, while it is hot in
//!    the cache (see [`write_segments`] for how writeback is overlapped).
//!    Then the table and finally the header (with its checksum) are written
//!    into their places with positioned writes.
//!
//! Memory comes from a [`MemorySource`]: the caller's slices (written
//! straight from them, never copied), or a source whose bytes may change
//! while the image is written (a copy-on-write snapshot of a running
//! sandbox), which hands out each piece only while it is stable.
//!
//! [`write_image_to`] does all of this into a file it is handed (from offset 0)
//! and fsyncs it. [`write_image`] does it into a temporary file in the target
//! directory, which is then renamed to [`IMAGE_FILE_NAME`] and the directory
//! fsync'd; on any error the temporary file is removed.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use serde::Serialize;

use crate::codec;
use crate::error::Error;
use crate::format::{
    align_up, is_aligned, Compression, Header, SegmentEntry, FLAG_ZSTD, FORMAT_MAJOR, HEADER_LEN,
    MAX_METADATA_LEN, MAX_SEGMENTS, MAX_SEGMENT_LEN, MAX_STATE_LEN, PAGE_SIZE, SEGMENT_ZSTD,
};
use crate::metadata::Metadata;
use crate::StateSchema;

/// The name of the image inside the checkpoint directory.
pub const IMAGE_FILE_NAME: &str = "checkpoint.img";

/// How many bytes of a segment are handed to `write` at once (and read from a
/// [`MemorySource`]). Large enough that syscall overhead vanishes, small enough
/// that a chunk checksummed just before it is written is still in the CPU cache
/// when the kernel copies it.
const WRITE_CHUNK: usize = 1 << 20;

/// How many bytes of segments are written between two background flushes: what the
/// final sync still has to write after the last one (a checkpoint of memnoise 256 MiB,
/// wall: 258 ms on average over three runs with 16 MiB, 280 ms with 64 MiB; of 1 GiB 736
/// against 787 ms).
const WRITEBACK_STEP: u64 = 16 << 20;

/// From how many bytes of segments on the writer flushes in the background.
const PARALLEL_MIN: u64 = 128 << 20;

/// The zstd level of compressed images: zstd's fastest standard level. Guest memory
/// (program text, heaps, zero-filled stacks) shrinks about as well as at the default
/// level 3, at about twice the speed; decompression runs at the same speed either way.
const ZSTD_LEVEL: i32 = 1;

/// What [`write_image`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteStats {
    /// The final path of the image (empty for [`write_image_to`], which is handed an
    /// open file).
    pub path: PathBuf,
    /// The size of the image file.
    pub file_bytes: u64,
    /// Bytes of memory ranges handed in.
    pub range_bytes: u64,
    /// Bytes of memory saved (non-zero pages).
    pub saved_bytes: u64,
    /// Bytes the segments take in the file (`saved_bytes` unless compressed).
    pub stored_bytes: u64,
    /// Bytes of zero pages that were not written.
    pub zero_bytes_skipped: u64,
    /// Number of segments.
    pub segments: u64,
    /// Size of the metadata block.
    pub metadata_bytes: u64,
    /// Size of the state section in the file (compressed, if the image is).
    pub state_bytes: u64,
    /// How the state and the segments are stored.
    pub compression: Compression,
}

/// Guest memory for the writer, which reads it in two passes (plan, then write) in
/// pieces, never all at once.
///
/// A source whose bytes keep changing while the image is written (the memory of a
/// running sandbox under a copy-on-write snapshot) hands out every piece as it was at the
/// snapshot. The writer asks for segments in increasing order of offset, and only after
/// the plan pass is over: a source may forget what lies below the last piece `read`.
pub trait MemorySource: Sync {
    /// The memory to save: `(offset, length)` pairs, which must be multiples of
    /// [`PAGE_SIZE`] and in increasing order without overlapping (the writer checks).
    fn ranges(&self) -> Vec<(u64, u64)>;
    /// Calls `f(offset, bytes)` for consecutive page-aligned pieces covering
    /// `[off, off + len)` (inside one range). The pieces may only be looked at during
    /// the call (the source may hold a lock meanwhile, so `f` must be quick).
    fn scan(&self, off: u64, len: u64, f: &mut dyn FnMut(u64, &[u8]));
    /// Calls `f` once with the bytes of `[off, off + len)` (inside one range); the
    /// source may copy them first. `f` may block (it writes them out).
    fn read(
        &self,
        off: u64,
        len: u64,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()>;
}

/// The caller's memory as `(offset, bytes)` slices: a [`MemorySource`] that does not
/// change while it is written (a stopped sandbox, a buffer).
struct Slices<'a>(Vec<(u64, &'a [u8])>);

impl Slices<'_> {
    /// The bytes of `[off, off + len)`, which the planner checked lie inside one slice.
    fn get(&self, off: u64, len: u64) -> &[u8] {
        let i = self.0.partition_point(|&(o, _)| o <= off) - 1;
        let (o, bytes) = self.0[i];
        &bytes[(off - o) as usize..(off - o + len) as usize]
    }
}

impl MemorySource for Slices<'_> {
    fn ranges(&self) -> Vec<(u64, u64)> {
        self.0.iter().map(|&(o, b)| (o, b.len() as u64)).collect()
    }

    fn scan(&self, off: u64, len: u64, f: &mut dyn FnMut(u64, &[u8])) {
        f(off, self.get(off, len))
    }

    fn read(
        &self,
        off: u64,
        len: u64,
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        f(self.get(off, len))
    }
}

/// Writes `dir/checkpoint.img` atomically.
///
/// `ranges` are the guest memory to save: `(offset in the memory file, bytes)`
/// pairs. Offsets and lengths must be multiples of [`PAGE_SIZE`] (guest
/// memory is page-granular), and ranges must come in increasing order of
/// offset without overlapping; otherwise the call fails before creating any
/// file. Zero pages are not written: each range becomes one segment per run
/// of non-zero pages (a segment never spans two ranges).
///
/// `meta.memory`'s counters other than `total_bytes` are filled in here.
///
/// Guest memory is never copied in user space: segments are written straight
/// from the given slices. The image is written by [`write_image_to`] into a
/// temporary file in `dir`, which is then renamed to [`IMAGE_FILE_NAME`] and
/// the directory fsync'd: the image appears under its final name only once it
/// is complete and on disk; an existing image of that name is replaced.
pub fn write_image<'a, T, I>(
    dir: &Path,
    meta: &Metadata,
    state: &T,
    ranges: I,
) -> Result<WriteStats, Error>
where
    T: Serialize + StateSchema + ?Sized,
    I: IntoIterator<Item = (u64, &'a [u8])>,
{
    write_image_with(dir, meta, state, ranges, Compression::None)
}

/// [`write_image`], with the state and segments stored as `compression` says.
pub fn write_image_with<'a, T, I>(
    dir: &Path,
    meta: &Metadata,
    state: &T,
    ranges: I,
    compression: Compression,
) -> Result<WriteStats, Error>
where
    T: Serialize + StateSchema + ?Sized,
    I: IntoIterator<Item = (u64, &'a [u8])>,
{
    // Checked before any file exists.
    let source = Slices(ranges.into_iter().collect());
    let plan = plan_segments(&source, compression)?;
    let final_path = dir.join(IMAGE_FILE_NAME);
    let mut tmp = TempFile::create(dir)?;
    let tmp_path = tmp.path.clone();
    let stats = write_planned(&tmp.file, meta, state, &source, plan, &|op, source| {
        Error::Io {
            op,
            path: tmp_path.clone(),
            source,
        }
    })?;
    std::fs::rename(&tmp.path, &final_path).map_err(Error::io("cannot rename to", &final_path))?;
    tmp.disarm();
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("cannot fsync directory", dir))?;
    Ok(WriteStats {
        path: final_path,
        ..stats
    })
}

/// Writes a whole image into `file`, from offset 0, then fsyncs it; the file ends where
/// the image ends (anything it held beyond is cut off).
///
/// For a writer that cannot reach the image's directory itself (the sandbox process,
/// confined in a root of its own, is handed an open file by `runsc checkpoint`): making
/// the image appear atomically under its final name is then the caller's business, as
/// [`write_image`] does it. `ranges` and `meta` are as for [`write_image`]. The returned
/// [`WriteStats::path`] is empty: the file's name is not known here.
pub fn write_image_to<'a, T, I>(
    file: &File,
    meta: &Metadata,
    state: &T,
    ranges: I,
) -> Result<WriteStats, Error>
where
    T: Serialize + StateSchema + ?Sized,
    I: IntoIterator<Item = (u64, &'a [u8])>,
{
    let source = Slices(ranges.into_iter().collect());
    write_image_from(file, meta, state, &source, Compression::None)
}

/// [`write_image_to`] for memory from a [`MemorySource`], such as a copy-on-write
/// snapshot of a sandbox that keeps running while its image is written, stored as
/// `compression` says.
pub fn write_image_from<T>(
    file: &File,
    meta: &Metadata,
    state: &T,
    memory: &dyn MemorySource,
    compression: Compression,
) -> Result<WriteStats, Error>
where
    T: Serialize + StateSchema + ?Sized,
{
    let plan = plan_segments(memory, compression)?;
    write_planned(file, meta, state, memory, plan, &|op, source| Error::File {
        op,
        source,
    })
}

/// Builds the error for a failed host call `op` on the image file.
type IoError<'e> = &'e dyn Fn(&'static str, io::Error) -> Error;

/// The body of both writers: the planned image into `file`, from offset 0, fsync'd.
fn write_planned<T>(
    file: &File,
    meta: &Metadata,
    state: &T,
    memory: &dyn MemorySource,
    plan: Plan,
    fail: IoError<'_>,
) -> Result<WriteStats, Error>
where
    T: Serialize + StateSchema + ?Sized,
{
    let io = |op: &'static str| move |e: io::Error| fail(op, e);
    let mut meta = meta.clone();
    meta.memory.range_bytes = plan.range_bytes;
    meta.memory.saved_bytes = plan.saved_bytes;
    meta.memory.segments = plan.runs.len() as u64;
    let meta_json = serde_json::to_vec_pretty(&meta).map_err(Error::MetadataEncode)?;
    let metadata_len = meta_json.len() as u64;
    if metadata_len > MAX_METADATA_LEN {
        return Err(Error::MetadataTooLarge {
            len: metadata_len,
            max: MAX_METADATA_LEN,
        });
    }

    // The sections are laid out with gaps (alignment padding, the header and table
    // written last) that must read as zero: start from an empty file.
    file.set_len(0).map_err(io("cannot truncate"))?;

    // Metadata and state, streamed from the end of the header.
    let metadata_off = HEADER_LEN as u64;
    let state_off = align_up(metadata_off + metadata_len, 8).expect("small");
    let mut out = CrcCounter::new(BufWriter::with_capacity(256 << 10, file));
    out.inner
        .get_mut()
        .seek(SeekFrom::Start(metadata_off))
        .map_err(io("cannot seek in"))?;
    out.inner
        .write_all(&meta_json)
        .map_err(io("cannot write"))?;
    let pad = (state_off - metadata_off - metadata_len) as usize;
    out.inner
        .write_all(&[0u8; 8][..pad])
        .map_err(io("cannot write"))?;
    let compressed = plan.compression == Compression::Zstd;
    let (state_len, state_crc, state_raw_len) = if compressed {
        // The state whole in memory (it is small), then one zstd frame.
        let mut raw = CrcCounter::new(Vec::new());
        encode_state(state, &mut raw, fail)?;
        let packed = zstd::bulk::compress(&raw.inner, ZSTD_LEVEL)
            .map_err(|e| fail("cannot compress the state for", e))?;
        out.inner.write_all(&packed).map_err(io("cannot write"))?;
        let crc = crc32fast::hash(&packed);
        (packed.len() as u64, crc, raw.len)
    } else {
        encode_state(state, &mut out, fail)?;
        (out.len, out.crc.clone().finalize(), 0)
    };
    out.inner.flush().map_err(io("cannot write"))?;
    drop(out);

    // The table's place, then the segments.
    let segment_count = plan.runs.len() as u64;
    let entry_len = plan.compression.entry_len();
    let table_off = align_up(state_off + state_len, 8).expect("state is capped");
    let table_len = segment_count * entry_len as u64;
    let table_end = table_off + table_len;
    let mut entries = Vec::with_capacity(plan.runs.len());
    let mut file_len = table_end;
    if !plan.runs.is_empty() {
        // Segments of an uncompressed image are page-aligned (restore may map them);
        // compressed ones follow the table back to back.
        let mut file_off = if compressed {
            table_end
        } else {
            align_up(table_end, PAGE_SIZE).expect("table is capped")
        };
        (&*file)
            .seek(SeekFrom::Start(file_off))
            .map_err(io("cannot seek in"))?;
        let stored = write_segments(file, memory, &plan.runs, plan.saved_bytes, compressed)
            .map_err(io("cannot write"))?;
        for (run, s) in plan.runs.iter().zip(stored) {
            entries.push(SegmentEntry {
                memory_offset: run.memory_offset,
                file_offset: file_off,
                len: run.len,
                crc: s.crc,
                flags: if s.zstd { SEGMENT_ZSTD } else { 0 },
                stored_len: s.len,
            });
            file_off += s.len;
        }
        file_len = file_off;
    }

    let mut table = vec![0u8; table_len as usize];
    for (entry, out) in entries.iter().zip(table.chunks_exact_mut(entry_len)) {
        entry.encode(out);
    }
    file.write_all_at(&table, table_off)
        .map_err(io("cannot write"))?;

    let header = Header {
        major: FORMAT_MAJOR,
        // An uncompressed image uses nothing of 1.1: older readers can read it.
        minor: if compressed { 1 } else { 0 },
        header_len: HEADER_LEN as u32,
        flags: if compressed { FLAG_ZSTD } else { 0 },
        file_len,
        metadata_off,
        metadata_len,
        state_off,
        state_len,
        state_schema: T::VERSION,
        state_crc,
        table_off,
        segment_count,
        metadata_crc: crc32fast::hash(&meta_json),
        table_crc: crc32fast::hash(&table),
        page_size: PAGE_SIZE,
        state_raw_len,
    };
    file.write_all_at(&header.encode(), 0)
        .map_err(io("cannot write"))?;
    // Padding that was skipped over (and the end, when there are no segments); anything
    // the file held beyond the image.
    file.set_len(file_len).map_err(io("cannot resize"))?;
    file.sync_all().map_err(io("cannot fsync"))?;

    Ok(WriteStats {
        path: PathBuf::new(),
        file_bytes: file_len,
        range_bytes: plan.range_bytes,
        saved_bytes: plan.saved_bytes,
        stored_bytes: entries.iter().map(|e| e.stored_len).sum(),
        zero_bytes_skipped: plan.range_bytes - plan.saved_bytes,
        segments: segment_count,
        metadata_bytes: metadata_len,
        state_bytes: state_len,
        compression: plan.compression,
    })
}

/// Streams the state's encoding into `out`, which counts, checksums and caps it.
fn encode_state<T, W>(state: &T, out: &mut CrcCounter<W>, fail: IoError<'_>) -> Result<(), Error>
where
    T: Serialize + ?Sized,
    W: Write,
{
    if let Err(e) = codec::encode_to(state, &mut *out) {
        return Err(match out.failure.take() {
            Some(Failure::Io(source)) => fail("cannot write", source),
            Some(Failure::TooLarge) => Error::StateTooLarge {
                len: out.len,
                max: MAX_STATE_LEN,
            },
            None => Error::Codec(e),
        });
    }
    Ok(())
}

/// How one segment went into the file.
struct Stored {
    crc: u32,
    len: u64,
    zstd: bool,
}

/// Writes the segments back to back at the file's current position, returning
/// their crc32s.
///
/// Each chunk is checksummed just before it is written, while it is in the cache
/// (the kernel's copy into the page cache reads it again right after). Large images
/// use a helper thread that calls `fdatasync` every [`WRITEBACK_STEP`] bytes, so the
/// disk writes while this thread is still filling the page cache (instead of
/// everything waiting for one flush at the end), and dirty memory stays bounded.
fn write_segments(
    file: &File,
    memory: &dyn MemorySource,
    runs: &[Run],
    total: u64,
    compressed: bool,
) -> io::Result<Vec<Stored>> {
    let progress = Writeback::default();
    std::thread::scope(|scope| {
        let flusher = (total >= PARALLEL_MIN).then(|| scope.spawn(|| progress.run(file)));
        let mut written = 0u64;
        let mut packer = if compressed {
            Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?)
        } else {
            None
        };
        let mut packed = Vec::with_capacity(zstd::zstd_safe::compress_bound(WRITE_CHUNK));
        let crcs: io::Result<Vec<Stored>> = runs
            .iter()
            .map(|run| {
                if let Some(packer) = packer.as_mut() {
                    // A segment is at most MAX_SEGMENT_LEN (one chunk):
                    // one frame, or its bytes as they are when it would not shrink.
                    let mut stored = None;
                    memory.read(run.memory_offset, run.len, &mut |bytes| {
                        packed.clear();
                        packer.compress_to_buffer(bytes, &mut packed)?;
                        let zstd = packed.len() < bytes.len();
                        let out = if zstd { &packed[..] } else { bytes };
                        (&*file).write_all(out)?;
                        stored = Some(Stored {
                            crc: crc32fast::hash(out),
                            len: out.len() as u64,
                            zstd,
                        });
                        Ok(())
                    })?;
                    written += run.len;
                    progress.advance(written);
                    return stored.ok_or_else(|| io::Error::other("no bytes for a segment"));
                }
                let mut crc = crc32fast::Hasher::new();
                let end = run.memory_offset + run.len;
                let mut at = run.memory_offset;
                while at < end {
                    let n = (end - at).min(WRITE_CHUNK as u64);
                    memory.read(at, n, &mut |bytes| {
                        crc.update(bytes);
                        (&*file).write_all(bytes)
                    })?;
                    at += n;
                    written += n;
                    progress.advance(written);
                }
                Ok(Stored {
                    crc: crc.finalize(),
                    len: run.len,
                    zstd: false,
                })
            })
            .collect();
        progress.finish();
        // The flusher's error matters even if ours is fine: it consumed the
        // file's writeback error, which the final fsync would not see again.
        if let Some(flusher) = flusher {
            flusher
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("writeback thread panicked")))?;
        }
        crcs
    })
}

/// Progress shared between the writing thread and the writeback thread.
#[derive(Default)]
struct Writeback {
    /// (bytes written so far, writing finished)
    state: Mutex<(u64, bool)>,
    changed: Condvar,
}

impl Writeback {
    fn advance(&self, written: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 = written;
        self.changed.notify_one();
    }

    fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1 = true;
        self.changed.notify_one();
    }

    /// Flushes each time another `WRITEBACK_STEP` bytes have been written,
    /// until writing is finished (the caller's final fsync does the rest).
    fn run(&self, file: &File) -> io::Result<()> {
        let mut synced = 0u64;
        loop {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            while !state.1 && state.0 - synced < WRITEBACK_STEP {
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.1 {
                return Ok(());
            }
            let written = state.0;
            drop(state);
            file.sync_data()?;
            synced = written;
        }
    }
}

/// A run of non-zero pages: one future segment.
struct Run {
    memory_offset: u64,
    len: u64,
}

struct Plan {
    runs: Vec<Run>,
    range_bytes: u64,
    saved_bytes: u64,
    compression: Compression,
}

/// How much memory the plan looks at in one [`MemorySource::scan`].
const SCAN_STEP: u64 = 1 << 20;

/// Checks the ranges and splits them into runs of non-zero pages of at most
/// [`MAX_SEGMENT_LEN`] bytes (which is also the most a compressed segment holds).
fn plan_segments(memory: &dyn MemorySource, compression: Compression) -> Result<Plan, Error> {
    const PAGE: usize = PAGE_SIZE as usize;
    let mut plan = Plan {
        runs: Vec::new(),
        range_bytes: 0,
        saved_bytes: 0,
        compression,
    };
    let ranges = memory.ranges();
    let mut prev_end: Option<u64> = None;
    for &(offset, len) in &ranges {
        if !is_aligned(offset, PAGE_SIZE) || !is_aligned(len, PAGE_SIZE) {
            return Err(Error::UnalignedRange { offset, len });
        }
        let end = offset
            .checked_add(len)
            .ok_or(Error::RangeOverflow { offset, len })?;
        if let Some(prev_end) = prev_end {
            if offset < prev_end {
                return Err(Error::RangesOutOfOrder { offset, prev_end });
            }
        }
        prev_end = Some(end);
    }
    for (offset, len) in ranges {
        let end = offset + len;
        plan.range_bytes += len;
        let mut run_start: Option<u64> = None;
        let mut failed = None;
        let mut at = offset;
        while at < end && failed.is_none() {
            let step = (end - at).min(SCAN_STEP);
            memory.scan(at, step, &mut |piece_at, piece| {
                for (i, page) in piece.chunks_exact(PAGE).enumerate() {
                    let page_at = piece_at + (i * PAGE) as u64;
                    match (is_zero_page(page), run_start) {
                        (false, None) => run_start = Some(page_at),
                        (false, Some(start)) if page_at - start >= MAX_SEGMENT_LEN => {
                            if let Err(e) = plan.push_run(start, page_at - start) {
                                failed.get_or_insert(e);
                            }
                            run_start = Some(page_at);
                        }
                        (true, Some(start)) => {
                            if let Err(e) = plan.push_run(start, page_at - start) {
                                failed.get_or_insert(e);
                            }
                            run_start = None;
                        }
                        _ => {}
                    }
                }
            });
            at += step;
        }
        if let Some(start) = run_start {
            plan.push_run(start, end - start)?;
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(plan)
}

impl Plan {
    fn push_run(&mut self, memory_offset: u64, len: u64) -> Result<(), Error> {
        if self.runs.len() as u64 >= MAX_SEGMENTS {
            return Err(Error::TooManySegments {
                count: self.runs.len() as u64 + 1,
                max: MAX_SEGMENTS,
            });
        }
        self.saved_bytes += len;
        self.runs.push(Run { memory_offset, len });
        Ok(())
    }
}

/// Whether a page is all zero. Looks at 64 bytes at a time so the check
/// vectorises and a non-zero page is usually decided by its first cache line.
fn is_zero_page(page: &[u8]) -> bool {
    page.chunks_exact(64)
        .all(|line| line.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

/// Why the state stream stopped.
enum Failure {
    Io(io::Error),
    TooLarge,
}

/// Counts and checksums the state as it streams by, and enforces the cap.
struct CrcCounter<W> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
    failure: Option<Failure>,
}

impl<W> CrcCounter<W> {
    fn new(inner: W) -> Self {
        CrcCounter {
            inner,
            crc: crc32fast::Hasher::new(),
            len: 0,
            failure: None,
        }
    }
}

impl<W: Write> Write for CrcCounter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.len + buf.len() as u64 > MAX_STATE_LEN {
            self.len += buf.len() as u64;
            self.failure = Some(Failure::TooLarge);
            return Err(io::Error::other("state too large"));
        }
        match self.inner.write(buf) {
            Ok(n) => {
                self.crc.update(&buf[..n]);
                self.len += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                self.failure = Some(Failure::Io(e));
                Err(io::Error::from(kind))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        // postcard flushes at the end and reports any failure only as "buffer full".
        self.inner.flush().map_err(|e| {
            let kind = e.kind();
            self.failure = Some(Failure::Io(e));
            io::Error::from(kind)
        })
    }
}

/// The temporary file, removed on drop unless it was renamed.
struct TempFile {
    path: PathBuf,
    file: File,
    armed: bool,
}

impl TempFile {
    fn create(dir: &Path) -> Result<TempFile, Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut last_err = None;
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!(".{IMAGE_FILE_NAME}.tmp.{}.{nanos}.{n}", std::process::id());
            let path = dir.join(name);
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        armed: true,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => return Err(Error::io("cannot create", path)(e)),
            }
        }
        Err(Error::io("cannot create a temporary file in", dir)(
            last_err.unwrap_or_else(|| io::Error::other("name collision")),
        ))
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
