//! The on-disk format of `checkpoint.img`.
//!
//! One file, written once by [`write_image`], read through a read-only
//! memory map by [`Image::open`]:
//!
//! ```text
//! header      128 bytes: magic, format version, flags, offsets, lengths, checksums
//! metadata    JSON (Metadata), at most 1 MiB
//! state       the caller's state value, serde + postcard, with its own schema version
//! table       one 32-byte entry per segment
//! segments    runs of non-zero guest pages, page-aligned, each with a crc32
//! ```
//!
//! With [`Compression::Zstd`] (format 1.1) the state and each segment (at most 1 MiB of
//! memory) are zstd frames, stored back to back after the table.
//!
//! The byte layout, the compatibility rule and how to migrate saved state
//! are in `docs/statefile.md`.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use statefile::{write_image, Image, Metadata, StateSchema};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Kernel { tasks: Vec<u32> }
//! impl StateSchema for Kernel { const VERSION: u32 = 1; }
//!
//! # fn main() -> Result<(), statefile::Error> {
//! let dir = std::path::Path::new("/tmp/ckpt");
//! let memory = vec![0u8; 1 << 20];
//! let meta = Metadata::for_this_host("runsc 0.1.0", "ctr1");
//! write_image(dir, &meta, &Kernel { tasks: vec![1] }, [(0, &memory[..])])?;
//!
//! let image = Image::open(&dir.join(statefile::IMAGE_FILE_NAME))?;
//! let kernel: Kernel = image.state()?;
//! for segment in image.segments() {
//!     let segment = segment?;
//!     // copy segment.data to segment.memory_offset in the new memory file
//! }
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]

pub mod codec;
mod error;
mod format;
mod metadata;
mod mmap_sys;
mod reader;
mod writer;

pub use error::{Error, Section};
pub use format::{
    Compression, COMPRESSED_ENTRY_LEN, FLAG_ZSTD, FORMAT_MAJOR, FORMAT_MINOR, HEADER_LEN, MAGIC,
    MAX_COMPRESSED_SEGMENT, MAX_METADATA_LEN, MAX_SEGMENTS, MAX_SEGMENT_LEN, MAX_STATE_LEN,
    PAGE_SIZE, SEGMENT_ENTRY_LEN, SEGMENT_ZSTD,
};
pub use metadata::{CpuFeatures, CpuidLeaf, MemoryTotals, Metadata};
pub use reader::{Image, Segment, SegmentInfo, VerifyStats};
pub use writer::{
    write_image, write_image_from, write_image_to, write_image_with, MemorySource, WriteStats,
    IMAGE_FILE_NAME,
};

/// The schema version of a saved-state type: the number written beside the
/// state section and checked when it is read back.
///
/// postcard has no schema evolution, so any change to the wire shape of the
/// state (a field added, removed, reordered or retyped anywhere inside it)
/// needs a new version and a migration from the old type (see
/// `docs/statefile.md`).
pub trait StateSchema {
    /// The version of this type's encoding.
    const VERSION: u32;
}
