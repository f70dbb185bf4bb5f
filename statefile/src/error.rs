//! The one error type of the crate's public API.

use std::path::PathBuf;

use crate::codec::CodecError;

/// A part of the image, named in errors about offsets and lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Header,
    Metadata,
    State,
    SegmentTable,
    /// The data of the segment with this index.
    Segment(u64),
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Section::Header => f.write_str("header"),
            Section::Metadata => f.write_str("metadata"),
            Section::State => f.write_str("state"),
            Section::SegmentTable => f.write_str("segment table"),
            Section::Segment(i) => write!(f, "segment {i}"),
        }
    }
}

/// Everything that can go wrong writing or reading an image.
///
/// Reader errors name exactly what is wrong with the file; none of them is
/// ever a panic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- reading: identity and version ----
    /// The file does not start with the image magic.
    #[error("not a checkpoint image (bad magic)")]
    BadMagic,
    /// The image's major version differs from ours (newer).
    #[error("format {major}.{minor} is newer than this runtime's {supported_major}.x")]
    NewerMajor {
        major: u16,
        minor: u16,
        supported_major: u16,
    },
    /// The image's major version differs from ours (older; no reader for it).
    #[error("format {major}.{minor} is older than this runtime's {supported_major}.x and cannot be read")]
    OlderMajor {
        major: u16,
        minor: u16,
        supported_major: u16,
    },
    /// Same major, but a minor version newer than ours.
    #[error("format {major}.{minor} is newer than this runtime's {major}.{supported_minor}")]
    NewerMinor {
        major: u16,
        minor: u16,
        supported_minor: u16,
    },

    // ---- reading: size and integrity ----
    /// The file ends before the image does.
    #[error("truncated at byte {at}: the image needs {needed} bytes")]
    Truncated { at: u64, needed: u64 },
    /// The file goes on after the image's recorded end.
    #[error("{extra} bytes of trailing data after the image's end at byte {end}")]
    TrailingData { end: u64, extra: u64 },
    #[error("header checksum mismatch")]
    HeaderChecksum,
    #[error("metadata checksum mismatch")]
    MetadataChecksum,
    #[error("state checksum mismatch")]
    StateChecksum,
    #[error("segment table checksum mismatch")]
    SegmentTableChecksum,
    #[error("segment {index} checksum mismatch")]
    SegmentChecksum { index: u64 },

    // ---- reading: layout ----
    /// A header field that has only one valid value (or range) in this version is wrong.
    #[error("invalid header: {0}")]
    InvalidHeader(String),
    /// Flag bits this version does not know.
    #[error("unknown header flags {0:#x}")]
    UnknownFlags(u64),
    /// An offset or length points past the end of the file.
    #[error("{section} at offset {offset} with length {len} extends past the end of the file ({file_len} bytes)")]
    OutOfBounds {
        section: Section,
        offset: u64,
        len: u64,
        file_len: u64,
    },
    /// Two sections (not segments) overlap or are out of order.
    #[error("{second} at offset {offset} overlaps {first}, which ends at {first_end}")]
    SectionsOverlap {
        first: Section,
        first_end: u64,
        second: Section,
        offset: u64,
    },
    /// Bytes between sections (alignment padding) must be zero.
    #[error("non-zero padding at byte {offset}")]
    NonZeroPadding { offset: u64 },
    #[error("metadata too large: {len} bytes, the limit is {max}")]
    MetadataTooLarge { len: u64, max: u64 },
    #[error("state too large: {len} bytes, the limit is {max}")]
    StateTooLarge { len: u64, max: u64 },
    #[error("too many segments: {count}, the limit is {max}")]
    TooManySegments { count: u64, max: u64 },
    /// A segment's file offset, memory offset or length is not page-aligned, or it is empty.
    #[error("segment {index} is misaligned: {what} {value:#x} is not a non-zero multiple of the page size {page_size}")]
    MisalignedSegment {
        index: u64,
        what: &'static str,
        value: u64,
        page_size: u64,
    },
    /// A segment overlaps (or is out of order with) the one before it, in
    /// guest memory or in the file.
    #[error("segment {index} overlaps segment {prev} in {space}")]
    OverlappingSegments {
        index: u64,
        prev: u64,
        space: &'static str,
    },
    /// A segment's memory range does not fit in 64 bits.
    #[error("segment {index} extends past the end of the 64-bit memory-file offset space")]
    SegmentPastMemoryEnd { index: u64 },
    /// A segment of a compressed image is larger than a reader decompresses at once, or
    /// its stored length does not fit its kind (a zstd frame must be shorter than the
    /// memory it holds, a stored segment exactly as long).
    #[error("segment {index} is invalid: {reason}")]
    InvalidSegment { index: u64, reason: String },
    /// A compressed segment's bytes (which matched their checksum) are not a zstd frame of
    /// exactly the segment's length.
    #[error("segment {index} does not decompress: {reason}")]
    SegmentDecompress { index: u64, reason: String },
    /// The compressed state is not a zstd frame of exactly its recorded length.
    #[error("the state does not decompress: {0}")]
    StateDecompress(String),
    /// A segment table entry has reserved bits set.
    #[error("segment {index} has unknown flags {flags:#x}")]
    UnknownSegmentFlags { index: u64, flags: u32 },

    // ---- reading: decoding ----
    #[error("metadata is not valid JSON for this format")]
    MetadataDecode(#[source] serde_json::Error),
    /// The image's state schema is newer than the type asked for.
    #[error("state schema {found} is newer than this runtime's {supported}")]
    NewerStateSchema { found: u32, supported: u32 },
    /// The image's state schema is older than the type asked for: the caller
    /// must decode the older struct and migrate it (see docs/statefile.md).
    #[error("state schema {found} is older than {supported} and needs a migration")]
    OlderStateSchema { found: u32, supported: u32 },
    #[error(transparent)]
    Codec(#[from] CodecError),

    // ---- writing ----
    /// A memory range handed to the writer is not page-aligned.
    #[error("memory range at offset {offset:#x} with length {len:#x} is not page-aligned")]
    UnalignedRange { offset: u64, len: u64 },
    /// Memory ranges must be in increasing order of offset and must not overlap.
    #[error("memory range at offset {offset:#x} overlaps or precedes the previous range, which ends at {prev_end:#x}")]
    RangesOutOfOrder { offset: u64, prev_end: u64 },
    /// A memory range's end does not fit in 64 bits.
    #[error("memory range at offset {offset:#x} with length {len:#x} overflows")]
    RangeOverflow { offset: u64, len: u64 },
    #[error("cannot encode metadata")]
    MetadataEncode(#[source] serde_json::Error),

    // ---- the host ----
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A host call on an image file that was handed over open (its name is not known).
    #[error("{op} the image file")]
    File {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
