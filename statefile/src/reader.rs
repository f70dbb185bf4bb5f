//! The reader: validates an image completely before anything is decoded, then
//! hands out metadata, the decoded state and crc-verified segments borrowed
//! from the mapped file.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use memmap2::Mmap;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::error::{Error, Section};
use crate::format::{
    get_u16, is_aligned, Compression, Header, SegmentEntry, FLAG_ZSTD, FORMAT_MAJOR, FORMAT_MINOR,
    HEADER_CRC_OFFSET, HEADER_LEN, MAGIC, MAX_COMPRESSED_SEGMENT, MAX_METADATA_LEN, MAX_SEGMENTS,
    MAX_STATE_LEN, SEGMENT_ZSTD,
};
use crate::metadata::Metadata;
use crate::mmap_sys;
use crate::StateSchema;

/// Where the bytes of an image live.
enum Backing {
    Map(Mmap),
    Bytes(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Bytes(v) => v,
        }
    }
}

/// An opened, validated image.
pub struct Image {
    data: Backing,
    header: Header,
    metadata: Metadata,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("file_len", &self.header.file_len)
            .field("format", &(self.header.major, self.header.minor))
            .field("state_schema", &self.header.state_schema)
            .field("segments", &self.header.segment_count)
            .finish_non_exhaustive()
    }
}

/// A segment of guest memory: its bytes (borrowed from the image, or decompressed from
/// it; crc already verified) and where they belong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Position in the segment table.
    pub index: u64,
    /// Offset of these bytes in the guest's memory file.
    pub memory_offset: u64,
    /// Offset of the stored bytes in the image file (page-aligned in an uncompressed
    /// image, for mapping them directly).
    pub file_offset: u64,
    /// The bytes of guest memory.
    pub data: Cow<'a, [u8]>,
}

/// A segment table entry, not yet verified against its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    pub index: u64,
    pub memory_offset: u64,
    pub file_offset: u64,
    /// Bytes of guest memory.
    pub len: u64,
    /// Bytes in the file (`len` unless compressed).
    pub stored_len: u64,
    /// Whether the stored bytes are a zstd frame.
    pub compressed: bool,
    /// Over the stored bytes.
    pub crc: u32,
}

/// The result of [`Image::verify_segments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifyStats {
    pub segments: u64,
    pub bytes: u64,
}

impl Image {
    /// Opens and validates the image at `path` (header, metadata, state
    /// checksum, segment table, every offset and length), mapping it read-only.
    /// Segment data is checked by [`Image::segments`] and [`Image::verify_segments`].
    pub fn open(path: &Path) -> Result<Image, Error> {
        let file = File::open(path).map_err(Error::io("cannot open", path))?;
        Image::load(file, &|op, source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }

    /// Validates the image in an open file, as [`Image::open`] does, mapping it
    /// read-only (for a reader that cannot open the image by name: the sandbox
    /// process, confined in a root of its own, is handed the file by `runsc
    /// restore`).
    pub fn from_file(file: File) -> Result<Image, Error> {
        Image::load(file, &|op, source| Error::File { op, source })
    }

    fn load(
        mut file: File,
        fail: &dyn Fn(&'static str, std::io::Error) -> Error,
    ) -> Result<Image, Error> {
        let len = file.metadata().map_err(|e| fail("cannot stat", e))?.len();
        let data = if len < HEADER_LEN as u64 {
            // Too short to be an image; read what is there for a precise error.
            let mut v = Vec::with_capacity(len as usize);
            file.rewind()
                .and_then(|()| file.read_to_end(&mut v))
                .map_err(|e| fail("cannot read", e))?;
            Backing::Bytes(v)
        } else {
            Backing::Map(mmap_sys::map_read_only(&file).map_err(|e| fail("cannot map", e))?)
        };
        Image::from_backing(data)
    }

    /// Validates an image held in memory. The fuzz target's entry point; also
    /// handy for images that arrive over a socket.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Image, Error> {
        Image::from_backing(Backing::Bytes(bytes))
    }

    fn from_backing(data: Backing) -> Result<Image, Error> {
        let header = validate(data.bytes())?;
        let bytes = data.bytes();
        let meta_bytes = &bytes[range(header.metadata_off, header.metadata_len)];
        let metadata = serde_json::from_slice(meta_bytes).map_err(Error::MetadataDecode)?;
        Ok(Image {
            data,
            header,
            metadata,
        })
    }

    /// The metadata block.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The image's format version, `(major, minor)`.
    pub fn format_version(&self) -> (u16, u16) {
        (self.header.major, self.header.minor)
    }

    /// How the state and the segments are stored.
    pub fn compression(&self) -> Compression {
        compression(&self.header)
    }

    /// The length of the state section in the file (compressed, if the image is).
    pub fn state_stored_len(&self) -> u64 {
        self.header.state_len
    }

    /// The schema version of the state section.
    pub fn state_schema_version(&self) -> u32 {
        self.header.state_schema
    }

    /// Decodes the state section as a `T`. The image's state schema version
    /// must be exactly `T::VERSION`; for an older one, decode the older type
    /// and migrate (see `docs/statefile.md`).
    pub fn state<T: DeserializeOwned + StateSchema>(&self) -> Result<T, Error> {
        let found = self.header.state_schema;
        if found > T::VERSION {
            return Err(Error::NewerStateSchema {
                found,
                supported: T::VERSION,
            });
        }
        if found < T::VERSION {
            return Err(Error::OlderStateSchema {
                found,
                supported: T::VERSION,
            });
        }
        Ok(codec::decode(&self.state_bytes()?)?)
    }

    /// The (checksum-verified) bytes of the state section, decompressed if the image is
    /// compressed.
    pub fn state_bytes(&self) -> Result<Cow<'_, [u8]>, Error> {
        let stored = &self.data.bytes()[range(self.header.state_off, self.header.state_len)];
        match self.compression() {
            Compression::None => Ok(Cow::Borrowed(stored)),
            Compression::Zstd => unpack(stored, self.header.state_raw_len)
                .map(Cow::Owned)
                .map_err(Error::StateDecompress),
        }
    }

    /// The number of segments.
    pub fn segment_count(&self) -> u64 {
        self.header.segment_count
    }

    /// The size of the image file.
    pub fn file_len(&self) -> u64 {
        self.header.file_len
    }

    /// The segment table, without checking segment data.
    pub fn segment_infos(&self) -> impl ExactSizeIterator<Item = SegmentInfo> + '_ {
        let entry_len = self.compression().entry_len();
        let table = &self.data.bytes()[range(
            self.header.table_off,
            self.header.segment_count * entry_len as u64,
        )];
        table.chunks_exact(entry_len).enumerate().map(|(i, b)| {
            let e = SegmentEntry::decode(b);
            SegmentInfo {
                index: i as u64,
                memory_offset: e.memory_offset,
                file_offset: e.file_offset,
                len: e.len,
                stored_len: e.stored_len,
                compressed: e.flags & SEGMENT_ZSTD != 0,
                crc: e.crc,
            }
        })
    }

    /// The bytes of guest memory of a segment from its `stored` bytes (which matched
    /// their crc32).
    fn memory_of<'s>(info: &SegmentInfo, stored: &'s [u8]) -> Result<Cow<'s, [u8]>, Error> {
        if !info.compressed {
            return Ok(Cow::Borrowed(stored));
        }
        unpack(stored, info.len)
            .map(Cow::Owned)
            .map_err(|reason| Error::SegmentDecompress {
                index: info.index,
                reason,
            })
    }

    /// The segments in table order (increasing memory offset), each checked
    /// against its crc32 as it is handed out.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = Result<Segment<'_>, Error>> + '_ {
        self.segment_infos().map(move |info| self.segment(&info))
    }

    /// One segment of this image's table (from [`Image::segment_infos`]), checked against
    /// its crc32: for a reader that loads segments in its own order (a restore loading
    /// memory on demand).
    pub fn segment(&self, info: &SegmentInfo) -> Result<Segment<'_>, Error> {
        let bytes = self.data.bytes();
        let stored = bytes
            .get(range(info.file_offset, info.stored_len))
            .ok_or(Error::SegmentChecksum { index: info.index })?;
        check_crc(crc32fast::hash(stored), info.crc)
            .ok_or(Error::SegmentChecksum { index: info.index })?;
        Ok(Segment {
            index: info.index,
            memory_offset: info.memory_offset,
            file_offset: info.file_offset,
            data: Image::memory_of(info, stored)?,
        })
    }

    /// Hands every segment's bytes to `copy(memory offset, bytes)` in pieces of at most
    /// 4 MiB, on up to `threads` threads, checksumming each piece right after `copy`
    /// has read it (while it is in the cache): one pass over the image. The copied bytes
    /// are checked only when this returns: on a mismatch (the error names the segment of
    /// lowest index that failed) the caller must not use any of them.
    pub fn load_segments(
        &self,
        threads: usize,
        copy: &(dyn Fn(u64, &[u8]) + Sync),
    ) -> Result<VerifyStats, Error> {
        const PIECE: u64 = 4 << 20;
        let pieces_of = |info: &SegmentInfo| {
            if info.compressed {
                1
            } else {
                info.len.div_ceil(PIECE)
            }
        };
        if let Backing::Map(m) = &self.data {
            // Read-ahead hint only; failure changes nothing.
            let _ = m.advise(memmap2::Advice::Sequential);
        }
        let bytes = self.data.bytes();
        let infos: Vec<SegmentInfo> = self.segment_infos().collect();
        // (segment, offset in it) of every piece, in file order.
        let pieces: Vec<(usize, u64)> = infos
            .iter()
            .enumerate()
            .flat_map(|(i, info)| (0..pieces_of(info)).map(move |k| (i, k * PIECE)))
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(i, at)) = pieces.get(n) else {
                    return done;
                };
                let info = &infos[i];
                if info.compressed {
                    // One piece (a compressed segment is at most 1 MiB of memory): its
                    // stored bytes are checked first, and only a frame that decompresses
                    // to exactly the segment's length is copied.
                    let stored = &bytes[range(info.file_offset, info.stored_len)];
                    let mut crc = crc32fast::Hasher::new();
                    crc.update(stored);
                    let result = if check_crc(crc.clone().finalize(), info.crc).is_none() {
                        Err(Error::SegmentChecksum { index: info.index })
                    } else {
                        Image::memory_of(info, stored).map(|data| {
                            copy(info.memory_offset, &data);
                            crc
                        })
                    };
                    done.push((n, result));
                    continue;
                }
                let len = (info.len - at).min(PIECE);
                let data = &bytes[range(info.file_offset + at, len)];
                if let Backing::Map(m) = &self.data {
                    // Maps the piece's page-cache pages in one call (hint only).
                    let _ = m.advise_range(
                        memmap2::Advice::PopulateRead,
                        (info.file_offset + at) as usize,
                        len as usize,
                    );
                }
                copy(info.memory_offset + at, data);
                let mut crc = crc32fast::Hasher::new();
                crc.update(data);
                done.push((n, Ok(crc)));
            }
        };
        type Piece = (usize, Result<crc32fast::Hasher, Error>);
        let mut crcs: Vec<Piece> = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads.max(1)).map(|_| scope.spawn(work)).collect();
            let mut all = work();
            for h in helpers {
                all.extend(h.join().unwrap_or_default());
            }
            all
        });
        if crcs.len() != pieces.len() {
            return Err(Error::File {
                op: "cannot load the segments of",
                source: std::io::Error::other("a loader thread failed"),
            });
        }
        crcs.sort_unstable_by_key(|&(n, _)| n);
        let mut stats = VerifyStats::default();
        let mut crcs = crcs.into_iter().map(|(_, c)| c);
        for info in &infos {
            let mut whole = crc32fast::Hasher::new();
            for _ in 0..pieces_of(info) {
                whole.combine(&crcs.next().expect("one per piece")?);
            }
            check_crc(whole.finalize(), info.crc)
                .ok_or(Error::SegmentChecksum { index: info.index })?;
            stats.segments += 1;
            stats.bytes += info.len;
        }
        Ok(stats)
    }

    /// Checks every segment's crc32; the first mismatch is the error.
    pub fn verify_segments(&self) -> Result<VerifyStats, Error> {
        if let Backing::Map(m) = &self.data {
            // Read-ahead hint only; failure changes nothing.
            let _ = m.advise(memmap2::Advice::Sequential);
        }
        let mut stats = VerifyStats::default();
        for segment in self.segments() {
            let segment = segment?;
            stats.segments += 1;
            stats.bytes += segment.data.len() as u64;
        }
        Ok(stats)
    }
}

/// How a validated header says the image is stored.
fn compression(h: &Header) -> Compression {
    if h.flags & FLAG_ZSTD != 0 {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Decompresses one zstd frame that must hold exactly `len` bytes (`len` is capped by the
/// caller: at most 1 GiB for the state, 1 MiB for a segment).
fn unpack(stored: &[u8], len: u64) -> Result<Vec<u8>, String> {
    let out = zstd::bulk::decompress(stored, len as usize).map_err(|e| e.to_string())?;
    if out.len() as u64 != len {
        return Err(format!("{} bytes, where {len} were recorded", out.len()));
    }
    Ok(out)
}

/// The byte range of a section that `validate` has checked lies inside the
/// file (so the casts cannot truncate).
fn range(offset: u64, len: u64) -> std::ops::Range<usize> {
    offset as usize..offset.saturating_add(len) as usize
}

/// `Some(())` if the checksums match. Under `cfg(fuzzing)` mismatches are
/// ignored (the checksum is still computed) so the fuzzer reaches the code
/// behind them.
fn check_crc(computed: u32, stored: u32) -> Option<()> {
    if computed == stored || cfg!(fuzzing) {
        Some(())
    } else {
        None
    }
}

/// The compatibility rule: same major, any minor up to ours.
fn check_version(major: u16, minor: u16, ours: (u16, u16)) -> Result<(), Error> {
    let (our_major, our_minor) = ours;
    if major > our_major {
        return Err(Error::NewerMajor {
            major,
            minor,
            supported_major: our_major,
        });
    }
    if major < our_major {
        return Err(Error::OlderMajor {
            major,
            minor,
            supported_major: our_major,
        });
    }
    if minor > our_minor {
        return Err(Error::NewerMinor {
            major,
            minor,
            supported_minor: our_minor,
        });
    }
    Ok(())
}

/// Padding between sections: every byte of the file is either checksummed
/// or zero. `start..end` has been checked to lie inside the file.
fn check_padding(bytes: &[u8], start: u64, end: u64) -> Result<(), Error> {
    match bytes[start as usize..end as usize]
        .iter()
        .position(|&b| b != 0)
    {
        Some(i) => Err(Error::NonZeroPadding {
            offset: start + i as u64,
        }),
        None => Ok(()),
    }
}

/// Checks everything but the JSON syntax of the metadata and the state's
/// encoding, and returns the header.
fn validate(bytes: &[u8]) -> Result<Header, Error> {
    let actual_len = bytes.len() as u64;
    let truncated = |needed: u64| Error::Truncated {
        at: actual_len,
        needed,
    };

    // Identity, then version: a different major may have a different header.
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            truncated(HEADER_LEN as u64)
        } else {
            Error::BadMagic
        });
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(Error::BadMagic);
    }
    if bytes.len() < 12 {
        return Err(truncated(HEADER_LEN as u64));
    }
    check_version(
        get_u16(bytes, 8),
        get_u16(bytes, 10),
        (FORMAT_MAJOR, FORMAT_MINOR),
    )?;
    let Some(raw) = bytes.first_chunk::<HEADER_LEN>() else {
        return Err(truncated(HEADER_LEN as u64));
    };
    let stored = crate::format::get_u32(raw, HEADER_CRC_OFFSET);
    check_crc(crc32fast::hash(&raw[..HEADER_CRC_OFFSET]), stored).ok_or(Error::HeaderChecksum)?;
    let h = Header::decode(raw);

    // Fields with one valid value in 1.0.
    if h.header_len != HEADER_LEN as u32 {
        return Err(Error::InvalidHeader(format!(
            "header length {} is not {HEADER_LEN}",
            h.header_len
        )));
    }
    // Compression came with 1.1: a 1.0 image knows no flag.
    let known_flags = if h.minor >= 1 { FLAG_ZSTD } else { 0 };
    if h.flags & !known_flags != 0 {
        return Err(Error::UnknownFlags(h.flags & !known_flags));
    }
    let compressed = compression(&h) == Compression::Zstd;
    let reserved_from = if compressed { 112 } else { 104 };
    if raw[reserved_from..HEADER_CRC_OFFSET]
        .iter()
        .any(|&b| b != 0)
    {
        return Err(Error::InvalidHeader("reserved bytes are not zero".into()));
    }
    if h.state_raw_len > MAX_STATE_LEN {
        return Err(Error::StateTooLarge {
            len: h.state_raw_len,
            max: MAX_STATE_LEN,
        });
    }
    if !h.page_size.is_power_of_two() || !(4096..=65536).contains(&h.page_size) {
        return Err(Error::InvalidHeader(format!(
            "page size {} is not a power of two from 4096 to 65536",
            h.page_size
        )));
    }

    // The file's own length.
    if actual_len < h.file_len {
        return Err(truncated(h.file_len));
    }
    if actual_len > h.file_len {
        return Err(Error::TrailingData {
            end: h.file_len,
            extra: actual_len - h.file_len,
        });
    }
    let file_len = h.file_len;

    // Caps, before any length is used.
    if h.metadata_len > MAX_METADATA_LEN {
        return Err(Error::MetadataTooLarge {
            len: h.metadata_len,
            max: MAX_METADATA_LEN,
        });
    }
    if h.state_len > MAX_STATE_LEN {
        return Err(Error::StateTooLarge {
            len: h.state_len,
            max: MAX_STATE_LEN,
        });
    }
    if h.segment_count > MAX_SEGMENTS {
        return Err(Error::TooManySegments {
            count: h.segment_count,
            max: MAX_SEGMENTS,
        });
    }
    let entry_len = compression(&h).entry_len();
    let table_len = h.segment_count * entry_len as u64;

    // Every section inside the file, in order, not overlapping.
    let in_file = |section: Section, offset: u64, len: u64| -> Result<u64, Error> {
        match offset.checked_add(len) {
            Some(end) if end <= file_len => Ok(end),
            _ => Err(Error::OutOfBounds {
                section,
                offset,
                len,
                file_len,
            }),
        }
    };
    let after = |first: Section, first_end: u64, second: Section, offset: u64| {
        if offset < first_end {
            Err(Error::SectionsOverlap {
                first,
                first_end,
                second,
                offset,
            })
        } else {
            Ok(())
        }
    };
    let metadata_end = in_file(Section::Metadata, h.metadata_off, h.metadata_len)?;
    let state_end = in_file(Section::State, h.state_off, h.state_len)?;
    let table_end = in_file(Section::SegmentTable, h.table_off, table_len)?;
    after(
        Section::Header,
        HEADER_LEN as u64,
        Section::Metadata,
        h.metadata_off,
    )?;
    after(Section::Metadata, metadata_end, Section::State, h.state_off)?;
    after(
        Section::State,
        state_end,
        Section::SegmentTable,
        h.table_off,
    )?;

    check_padding(bytes, HEADER_LEN as u64, h.metadata_off)?;
    check_padding(bytes, metadata_end, h.state_off)?;
    check_padding(bytes, state_end, h.table_off)?;

    // Checksums of the small sections.
    let metadata = &bytes[range(h.metadata_off, h.metadata_len)];
    check_crc(crc32fast::hash(metadata), h.metadata_crc).ok_or(Error::MetadataChecksum)?;
    let state = &bytes[range(h.state_off, h.state_len)];
    check_crc(crc32fast::hash(state), h.state_crc).ok_or(Error::StateChecksum)?;
    let table = &bytes[range(h.table_off, table_len)];
    check_crc(crc32fast::hash(table), h.table_crc).ok_or(Error::SegmentTableChecksum)?;

    // Every segment: aligned, inside the file after the table, and in
    // increasing, non-overlapping order both in the file and in memory.
    let page = h.page_size;
    let mut prev_file_end = table_end;
    let mut prev_mem_end = 0u64;
    for (i, b) in table.chunks_exact(entry_len).enumerate() {
        let index = i as u64;
        let e = SegmentEntry::decode(b);
        let known_flags = if compressed { SEGMENT_ZSTD } else { 0 };
        if e.flags & !known_flags != 0 {
            return Err(Error::UnknownSegmentFlags {
                index,
                flags: e.flags,
            });
        }
        let misaligned = |what, value| Error::MisalignedSegment {
            index,
            what,
            value,
            page_size: page,
        };
        if e.len == 0 || !is_aligned(e.len, page) {
            return Err(misaligned("length", e.len));
        }
        // A compressed image's segments lie back to back, unaligned.
        if !compressed && !is_aligned(e.file_offset, page) {
            return Err(misaligned("file offset", e.file_offset));
        }
        if !is_aligned(e.memory_offset, page) {
            return Err(misaligned("memory offset", e.memory_offset));
        }
        if compressed {
            let invalid = |reason: String| Err(Error::InvalidSegment { index, reason });
            if e.len > MAX_COMPRESSED_SEGMENT {
                return invalid(format!(
                    "{} bytes of memory, more than the {MAX_COMPRESSED_SEGMENT} a compressed segment holds",
                    e.len
                ));
            }
            let zstd = e.flags & SEGMENT_ZSTD != 0;
            if zstd && (e.stored_len == 0 || e.stored_len >= e.len) {
                return invalid(format!(
                    "a compressed length of {} for {} bytes",
                    e.stored_len, e.len
                ));
            }
            if !zstd && e.stored_len != e.len {
                return invalid(format!(
                    "a stored length of {} for {} bytes",
                    e.stored_len, e.len
                ));
            }
        }
        let file_end = in_file(Section::Segment(index), e.file_offset, e.stored_len)?;
        if e.file_offset < prev_file_end {
            return Err(if index == 0 {
                Error::SectionsOverlap {
                    first: Section::SegmentTable,
                    first_end: table_end,
                    second: Section::Segment(0),
                    offset: e.file_offset,
                }
            } else {
                Error::OverlappingSegments {
                    index,
                    prev: index - 1,
                    space: "the file",
                }
            });
        }
        if index > 0 && e.memory_offset < prev_mem_end {
            return Err(Error::OverlappingSegments {
                index,
                prev: index - 1,
                space: "guest memory",
            });
        }
        prev_mem_end = e
            .memory_offset
            .checked_add(e.len)
            .ok_or(Error::SegmentPastMemoryEnd { index })?;
        check_padding(bytes, prev_file_end, e.file_offset)?;
        prev_file_end = file_end;
    }
    check_padding(bytes, prev_file_end, file_len)?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rule_same_major_minor_up_to_ours() {
        // As a 1.3 runtime would see it.
        let ours = (1, 3);
        for minor in 0..=3 {
            assert!(check_version(1, minor, ours).is_ok(), "1.{minor}");
        }
        let e = check_version(1, 4, ours).unwrap_err();
        assert_eq!(e.to_string(), "format 1.4 is newer than this runtime's 1.3");
        let e = check_version(3, 0, ours).unwrap_err();
        assert_eq!(e.to_string(), "format 3.0 is newer than this runtime's 1.x");
        let e = check_version(0, 7, ours).unwrap_err();
        assert!(matches!(
            e,
            Error::OlderMajor {
                major: 0,
                minor: 7,
                ..
            }
        ));
        // And as this runtime sees it.
        assert!(check_version(FORMAT_MAJOR, FORMAT_MINOR, (FORMAT_MAJOR, FORMAT_MINOR)).is_ok());
    }
}
