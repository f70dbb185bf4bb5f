//! The crate's one `unsafe` block: mapping an image file read-only.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::Mmap;

/// Maps all of `file` read-only and shared.
///
/// The file must be non-empty (an empty mapping is an error on Linux).
pub(crate) fn map_read_only(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: `Mmap::map` is unsafe because the mapped bytes can change (or
    // vanish, if the file is truncated) underneath the `&[u8]` it hands out.
    // Images are written once under a temporary name and renamed into place;
    // nothing in the runtime opens `checkpoint.img` for writing afterwards
    // (`runsc restore` hands the sandbox a read-only descriptor of it), so the
    // bytes do not change while an `Image` holds the map. The reader
    // treats the bytes as untrusted input regardless: every offset and
    // checksum is validated on the mapped bytes, and each segment's crc is
    // checked again at the moment it is handed out.
    unsafe { Mmap::map(file) }
}
