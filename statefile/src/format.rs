//! The fixed binary parts of the image: the header and the segment table.
//!
//! Everything here is plain little-endian fields at fixed offsets; see
//! `docs/statefile.md` for the table. Encoding never fails; decoding only
//! reads bytes that the caller has already checked are present.

/// The first eight bytes of every image.
pub const MAGIC: [u8; 8] = *b"RUNSCIMG";
/// The format major version this crate writes. Readers reject any other major.
pub const FORMAT_MAJOR: u16 = 1;
/// The newest format minor version this crate writes (images that use nothing of 1.1,
/// the uncompressed ones, are written as 1.0). Readers accept minors up to this one.
pub const FORMAT_MINOR: u16 = 1;
/// Header flag (format 1.1): the state and the segments are compressed with zstd, and the
/// segment table's entries are [`COMPRESSED_ENTRY_LEN`] bytes.
pub const FLAG_ZSTD: u64 = 1;
/// The size of one segment table entry of a compressed image: the 32 bytes of an
/// uncompressed entry and the segment's stored length.
pub const COMPRESSED_ENTRY_LEN: usize = 40;
/// Segment table entry flag of a compressed image: this segment's bytes are one zstd frame
/// (without it they are stored as they are).
pub const SEGMENT_ZSTD: u32 = 1;

/// The size of the header in format 1.0.
pub const HEADER_LEN: usize = 128;
/// The size of one segment table entry.
pub const SEGMENT_ENTRY_LEN: usize = 32;
/// The page size the writer uses: segments are aligned to it in the file and in
/// guest memory, and zero pages are skipped at this granularity.
pub const PAGE_SIZE: u64 = 4096;

/// The largest metadata block a reader accepts (and a writer writes).
pub const MAX_METADATA_LEN: u64 = 1 << 20;
/// The largest state section a reader accepts (and a writer writes).
pub const MAX_STATE_LEN: u64 = 1 << 30;
/// The largest number of segments a reader accepts (and a writer writes).
pub const MAX_SEGMENTS: u64 = 1 << 24;
/// The longest segment a writer writes: a run of non-zero pages longer than this is
/// cut into several, so that a reader can load and verify any part of memory on its own
/// (a restore that loads memory on demand reads one segment per first touch). Readers
/// accept longer segments (images written before the limit).
pub const MAX_SEGMENT_LEN: u64 = 1 << 20;
/// The most guest memory one segment of a compressed image holds (what one reader
/// decompresses at once): what the writer cuts every segment to.
pub const MAX_COMPRESSED_SEGMENT: u64 = MAX_SEGMENT_LEN;

/// Offset of the header checksum: the last four bytes of the header, covering
/// every byte before it.
pub(crate) const HEADER_CRC_OFFSET: usize = HEADER_LEN - 4;

/// The decoded header. Field offsets are given in `docs/statefile.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Header {
    pub major: u16,
    pub minor: u16,
    pub header_len: u32,
    pub flags: u64,
    pub file_len: u64,
    pub metadata_off: u64,
    pub metadata_len: u64,
    pub state_off: u64,
    pub state_len: u64,
    pub state_schema: u32,
    pub state_crc: u32,
    pub table_off: u64,
    pub segment_count: u64,
    pub metadata_crc: u32,
    pub table_crc: u32,
    pub page_size: u64,
    /// The state's length before compression (format 1.1, compressed images; else 0).
    pub state_raw_len: u64,
}

impl Header {
    /// Encodes the header, computing its checksum.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        put_u16(&mut b, 8, self.major);
        put_u16(&mut b, 10, self.minor);
        put_u32(&mut b, 12, self.header_len);
        put_u64(&mut b, 16, self.flags);
        put_u64(&mut b, 24, self.file_len);
        put_u64(&mut b, 32, self.metadata_off);
        put_u64(&mut b, 40, self.metadata_len);
        put_u64(&mut b, 48, self.state_off);
        put_u64(&mut b, 56, self.state_len);
        put_u32(&mut b, 64, self.state_schema);
        put_u32(&mut b, 68, self.state_crc);
        put_u64(&mut b, 72, self.table_off);
        put_u64(&mut b, 80, self.segment_count);
        put_u32(&mut b, 88, self.metadata_crc);
        put_u32(&mut b, 92, self.table_crc);
        put_u64(&mut b, 96, self.page_size);
        put_u64(&mut b, 104, self.state_raw_len);
        // 112..124 reserved, zero.
        let crc = crc32fast::hash(&b[..HEADER_CRC_OFFSET]);
        put_u32(&mut b, HEADER_CRC_OFFSET, crc);
        b
    }

    /// Decodes the fields of a 1.x header. The caller has checked the magic,
    /// the version and the checksum.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            major: get_u16(b, 8),
            minor: get_u16(b, 10),
            header_len: get_u32(b, 12),
            flags: get_u64(b, 16),
            file_len: get_u64(b, 24),
            metadata_off: get_u64(b, 32),
            metadata_len: get_u64(b, 40),
            state_off: get_u64(b, 48),
            state_len: get_u64(b, 56),
            state_schema: get_u32(b, 64),
            state_crc: get_u32(b, 68),
            table_off: get_u64(b, 72),
            segment_count: get_u64(b, 80),
            metadata_crc: get_u32(b, 88),
            table_crc: get_u32(b, 92),
            page_size: get_u64(b, 96),
            state_raw_len: get_u64(b, 104),
        }
    }
}

/// One entry of the segment table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentEntry {
    pub memory_offset: u64,
    pub file_offset: u64,
    pub len: u64,
    pub crc: u32,
    pub flags: u32,
    /// Bytes in the file: `len` unless the segment is compressed.
    pub stored_len: u64,
}

impl SegmentEntry {
    /// Encodes the entry into `out`: [`SEGMENT_ENTRY_LEN`] bytes, or
    /// [`COMPRESSED_ENTRY_LEN`] (with the stored length) in a compressed image.
    pub fn encode(&self, out: &mut [u8]) {
        put_u64(out, 0, self.memory_offset);
        put_u64(out, 8, self.file_offset);
        put_u64(out, 16, self.len);
        put_u32(out, 24, self.crc);
        put_u32(out, 28, self.flags);
        if out.len() == COMPRESSED_ENTRY_LEN {
            put_u64(out, 32, self.stored_len);
        }
    }

    /// Decodes one entry from exactly `SEGMENT_ENTRY_LEN` or `COMPRESSED_ENTRY_LEN` bytes.
    pub fn decode(b: &[u8]) -> SegmentEntry {
        let len = get_u64(b, 16);
        SegmentEntry {
            memory_offset: get_u64(b, 0),
            file_offset: get_u64(b, 8),
            len,
            crc: get_u32(b, 24),
            flags: get_u32(b, 28),
            stored_len: if b.len() == COMPRESSED_ENTRY_LEN {
                get_u64(b, 32)
            } else {
                len
            },
        }
    }
}

/// How the state and the segments of an image are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Compression {
    /// As they are; segments page-aligned in the file, so that they can be mapped.
    #[default]
    None,
    /// Each segment (at most [`MAX_COMPRESSED_SEGMENT`] of memory) and the state one zstd
    /// frame; a segment that would not shrink is stored as it is.
    Zstd,
}

impl Compression {
    /// Its name, as `--compression` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
        }
    }

    /// The compression a `--compression` value names.
    pub fn from_name(name: &str) -> Option<Compression> {
        match name {
            "none" => Some(Compression::None),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The size of a segment table entry in an image stored this way.
    pub(crate) fn entry_len(self) -> usize {
        match self {
            Compression::None => SEGMENT_ENTRY_LEN,
            Compression::Zstd => COMPRESSED_ENTRY_LEN,
        }
    }
}

/// Rounds `v` up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn align_up(v: u64, align: u64) -> Option<u64> {
    debug_assert!(align.is_power_of_two());
    Some(v.checked_add(align - 1)? & !(align - 1))
}

/// Whether `v` is a multiple of `align` (a power of two).
pub(crate) fn is_aligned(v: u64, align: u64) -> bool {
    debug_assert!(align.is_power_of_two());
    v & (align - 1) == 0
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(a)
}
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
