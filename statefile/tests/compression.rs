//! zstd images (format 1.1): what goes in comes out, through every reader path, and
//! damaged or forged compressed sections are refused by name, never a panic.

mod common;

use common::*;
use statefile::{
    write_image, write_image_with, Compression, Error, Image, COMPRESSED_ENTRY_LEN, FLAG_ZSTD,
    IMAGE_FILE_NAME, MAX_COMPRESSED_SEGMENT, MAX_STATE_LEN, SEGMENT_ZSTD,
};

/// Memory of 3 MiB: 2.5 MiB of text-like pages (they compress), a hole of zero pages, and
/// 64 pages of noise (they do not): runs longer than a compressed segment holds.
fn mixed_memory() -> Vec<u8> {
    let pages = 768;
    let mut m = vec![0u8; pages * PAGE];
    for i in 0..pages {
        let p = &mut m[i * PAGE..(i + 1) * PAGE];
        match i {
            0..640 => {
                let line = format!("page {i}: the quick brown fox jumps over the lazy dog\n");
                for (d, s) in p.iter_mut().zip(line.bytes().cycle()) {
                    *d = s;
                }
            }
            640..704 => {}
            _ => p.copy_from_slice(&page(i as u64)),
        }
    }
    m
}

fn write(compression: Compression, memory: &[u8]) -> (Vec<u8>, statefile::WriteStats) {
    let dir = tempfile::tempdir().unwrap();
    let stats = write_image_with(
        dir.path(),
        &test_metadata(),
        &test_state(),
        [(1 << 30, memory)],
        compression,
    )
    .unwrap();
    (
        std::fs::read(dir.path().join(IMAGE_FILE_NAME)).unwrap(),
        stats,
    )
}

/// Rebuilds the memory from `image`'s segments, through `segments()` and through
/// `load_segments`.
fn read_back(image: &Image, len: usize) -> (Vec<u8>, Vec<u8>) {
    let mut a = vec![0u8; len];
    for seg in image.segments() {
        let seg = seg.unwrap();
        let at = (seg.memory_offset - (1 << 30)) as usize;
        a[at..at + seg.data.len()].copy_from_slice(&seg.data);
    }
    let b = std::sync::Mutex::new(vec![0u8; len]);
    image
        .load_segments(2, &|off, bytes| {
            let at = (off - (1 << 30)) as usize;
            b.lock().unwrap()[at..at + bytes.len()].copy_from_slice(bytes);
        })
        .unwrap();
    (a, b.into_inner().unwrap())
}

#[test]
fn a_zstd_image_reads_back_what_was_written_and_is_smaller() {
    let m = mixed_memory();
    let (plain, plain_stats) = write(Compression::None, &m);
    let (packed, stats) = write(Compression::Zstd, &m);
    assert_eq!(stats.compression, Compression::Zstd);
    assert_eq!(stats.saved_bytes, plain_stats.saved_bytes);
    assert!(
        packed.len() < plain.len() / 3,
        "{} bytes, uncompressed {}",
        packed.len(),
        plain.len()
    );
    assert_eq!(stats.file_bytes, packed.len() as u64);

    let image = Image::from_bytes(packed).unwrap();
    assert_eq!(image.format_version(), (1, 1));
    assert_eq!(image.compression(), Compression::Zstd);
    assert_eq!(image.state::<TestState>().unwrap(), test_state());
    let infos: Vec<_> = image.segment_infos().collect();
    // 2.5 MiB of text in 1 MiB segments, then the noise: 4 segments, the text compressed,
    // the noise stored as it is.
    assert_eq!(
        infos.iter().map(|i| i.len).collect::<Vec<_>>(),
        [1 << 20, 1 << 20, 1 << 19, 64 * PAGE as u64]
    );
    assert!(infos[..3]
        .iter()
        .all(|i| i.compressed && i.stored_len < i.len / 10));
    assert!(!infos[3].compressed && infos[3].stored_len == infos[3].len);
    assert_eq!(image.verify_segments().unwrap().bytes, stats.saved_bytes);
    let (a, b) = read_back(&image, m.len());
    assert!(a == m && b == m, "the memory read back differs");

    // Uncompressed images stay format 1.0, their segments page-aligned.
    let image = Image::from_bytes(plain).unwrap();
    assert_eq!(image.format_version(), (1, 0));
    assert_eq!(image.compression(), Compression::None);
    assert!(image
        .segment_infos()
        .all(|i| i.file_offset % PAGE as u64 == 0));
}

#[test]
fn an_image_without_memory_compresses_its_state() {
    let dir = tempfile::tempdir().unwrap();
    write_image_with(
        dir.path(),
        &test_metadata(),
        &test_state(),
        [],
        Compression::Zstd,
    )
    .unwrap();
    let image = Image::open(&dir.path().join(IMAGE_FILE_NAME)).unwrap();
    assert_eq!(image.segment_count(), 0);
    assert_eq!(image.state::<TestState>().unwrap(), test_state());
}

/// A compressed image of the mixed memory, and the file offset, stored length of its
/// first segment (a zstd frame).
fn packed_image() -> (Vec<u8>, usize, usize) {
    let (b, _) = write(Compression::Zstd, &mixed_memory());
    let at = get_u64(&b, entry(&b, 0, 8)) as usize;
    let len = get_u64(&b, entry(&b, 0, 32)) as usize;
    (b, at, len)
}

/// The offset of field `field` of entry `index` of a compressed image's table.
fn entry(b: &[u8], index: usize, field: usize) -> usize {
    get_u64(b, H_TABLE_OFF) as usize + index * COMPRESSED_ENTRY_LEN + field
}

fn fix_segment_crc(b: &mut [u8], index: usize) {
    let at = get_u64(b, entry(b, index, 8)) as usize;
    let len = get_u64(b, entry(b, index, 32)) as usize;
    let crc = crc32fast::hash(&b[at..at + len]);
    let field = entry(b, index, 24);
    put_u32(b, field, crc);
    fix_table_crc_of(b, COMPRESSED_ENTRY_LEN);
}

fn fix_state_crc(b: &mut [u8]) {
    let off = get_u64(b, H_STATE_OFF) as usize;
    let len = get_u64(b, H_STATE_LEN) as usize;
    let crc = crc32fast::hash(&b[off..off + len]);
    put_u32(b, H_STATE_CRC, crc);
    fix_header_crc(b);
}

/// Every way of reading segment 0's data fails with the same error.
fn segment_error(b: Vec<u8>) -> String {
    let image = Image::from_bytes(b).unwrap();
    let e = image.verify_segments().unwrap_err().to_string();
    let first = image.segments().next().unwrap().unwrap_err().to_string();
    let loaded = image.load_segments(2, &|_, _| {}).unwrap_err().to_string();
    assert_eq!((&first, &loaded), (&e, &e));
    e
}

#[test]
fn a_damaged_compressed_segment_is_a_checksum_mismatch() {
    let (mut b, at, len) = packed_image();
    b[at + len / 2] ^= 0x40;
    assert_eq!(segment_error(b), "segment 0 checksum mismatch");
}

#[test]
fn a_forged_frame_that_matches_its_checksum_does_not_decompress() {
    // Bytes that are not a zstd frame.
    let (mut b, at, len) = packed_image();
    b[at..at + len].fill(0x5a);
    fix_segment_crc(&mut b, 0);
    let e = segment_error(b);
    assert!(e.starts_with("segment 0 does not decompress: "), "{e}");

    // A frame cut short (the rest zeros).
    let (mut b, at, len) = packed_image();
    b[at + len / 2..at + len].fill(0);
    fix_segment_crc(&mut b, 0);
    let e = segment_error(b);
    assert!(e.starts_with("segment 0 does not decompress: "), "{e}");

    // A valid frame of another length than the entry says: segment 0 holds 1 MiB, say
    // it holds less.
    let (mut b, _, _) = packed_image();
    let field = entry(&b, 0, 16);
    put_u64(&mut b, field, (1 << 20) - PAGE as u64);
    // (the next segment now starts after a gap, which is allowed in memory)
    fix_table_crc_of(&mut b, COMPRESSED_ENTRY_LEN);
    let e = segment_error(b);
    assert!(e.starts_with("segment 0 does not decompress: "), "{e}");
}

/// A change to an image's bytes.
type Forge = dyn Fn(&mut Vec<u8>);

#[test]
fn forged_compressed_segment_entries_are_refused_when_the_image_opens() {
    let cases: [(&str, Box<Forge>); 5] = [
        (
            "segment 0 is invalid: 2097152 bytes of memory, more than the 1048576 a compressed segment holds",
            Box::new(|b| {
                let f = entry(b, 0, 16);
                put_u64(b, f, 2 * MAX_COMPRESSED_SEGMENT);
            }),
        ),
        (
            "segment 0 is invalid: a compressed length of 1048576 for 1048576 bytes",
            Box::new(|b| {
                let f = entry(b, 0, 32);
                put_u64(b, f, 1 << 20);
            }),
        ),
        (
            "segment 0 is invalid: a compressed length of 0 for 1048576 bytes",
            Box::new(|b| {
                let f = entry(b, 0, 32);
                put_u64(b, f, 0);
            }),
        ),
        (
            "segment 3 is invalid: a stored length of 4096 for 262144 bytes",
            Box::new(|b| {
                let f = entry(b, 3, 32);
                put_u64(b, f, PAGE as u64);
            }),
        ),
        (
            "segment 0 has unknown flags 0x3",
            Box::new(|b| {
                let f = entry(b, 0, 28);
                put_u32(b, f, SEGMENT_ZSTD | 2);
            }),
        ),
    ];
    for (want, forge) in cases {
        let (mut b, _, _) = packed_image();
        forge(&mut b);
        fix_table_crc_of(&mut b, COMPRESSED_ENTRY_LEN);
        assert_eq!(Image::from_bytes(b).unwrap_err().to_string(), want);
    }
    // A stored length that runs past the end of the file.
    let (mut b, _, _) = packed_image();
    let f = entry(&b, 3, 32);
    put_u64(&mut b, f, u64::MAX - 7);
    let f = entry(&b, 3, 28);
    put_u32(&mut b, f, SEGMENT_ZSTD);
    fix_table_crc_of(&mut b, COMPRESSED_ENTRY_LEN);
    let e = Image::from_bytes(b).unwrap_err();
    assert!(matches!(e, Error::InvalidSegment { index: 3, .. }), "{e}");
}

#[test]
fn a_forged_compressed_state_is_refused_by_name() {
    // Not a frame, checksum fixed.
    let (mut b, _, _) = packed_image();
    let off = get_u64(&b, H_STATE_OFF) as usize;
    let len = get_u64(&b, H_STATE_LEN) as usize;
    b[off..off + len].fill(0x17);
    fix_state_crc(&mut b);
    let image = Image::from_bytes(b).unwrap();
    let e = image.state::<TestState>().unwrap_err().to_string();
    assert!(e.starts_with("the state does not decompress: "), "{e}");

    // A recorded length that differs from the frame's.
    for delta in [-1i64, 1] {
        let (mut b, _, _) = packed_image();
        let raw = get_u64(&b, 104);
        put_u64(&mut b, 104, (raw as i64 + delta) as u64);
        fix_header_crc(&mut b);
        let image = Image::from_bytes(b).unwrap();
        let e = image.state::<TestState>().unwrap_err().to_string();
        assert!(e.starts_with("the state does not decompress: "), "{e}");
    }

    // A recorded length above the cap is refused when the image opens.
    let (mut b, _, _) = packed_image();
    put_u64(&mut b, 104, MAX_STATE_LEN + 1);
    fix_header_crc(&mut b);
    assert!(matches!(
        Image::from_bytes(b).unwrap_err(),
        Error::StateTooLarge { .. }
    ));
}

#[test]
fn the_compression_flag_needs_format_1_1_and_uncompressed_images_no_raw_state_length() {
    // An uncompressed 1.0 image with the zstd flag set.
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), &test_metadata(), &test_state(), []).unwrap();
    let plain = std::fs::read(dir.path().join(IMAGE_FILE_NAME)).unwrap();
    let mut b = plain.clone();
    put_u64(&mut b, H_FLAGS, FLAG_ZSTD);
    fix_header_crc(&mut b);
    assert_eq!(
        Image::from_bytes(b).unwrap_err().to_string(),
        "unknown header flags 0x1"
    );
    // Flags 1.1 does not know.
    let (mut b, _, _) = packed_image();
    put_u64(&mut b, H_FLAGS, FLAG_ZSTD | 4);
    fix_header_crc(&mut b);
    assert_eq!(
        Image::from_bytes(b).unwrap_err().to_string(),
        "unknown header flags 0x4"
    );
    // The raw state length is reserved (zero) in an uncompressed image.
    let mut b = plain;
    put_u64(&mut b, 104, 5);
    fix_header_crc(&mut b);
    assert_eq!(
        Image::from_bytes(b).unwrap_err().to_string(),
        "invalid header: reserved bytes are not zero"
    );
}

#[test]
fn a_truncated_compressed_image_is_refused_at_every_length() {
    let (b, _, _) = packed_image();
    let step = (b.len() / 97).max(1);
    for cut in (0..b.len()).step_by(step).chain([b.len() - 1]) {
        let e = Image::from_bytes(b[..cut].to_vec()).unwrap_err();
        assert!(
            matches!(e, Error::Truncated { .. } | Error::BadMagic),
            "cut at {cut}: {e}"
        );
    }
}
