//! Every kind of damage gives the error that names it, never a panic.

mod common;

use common::*;
use statefile::{write_image, Error, Image, Section, IMAGE_FILE_NAME, PAGE_SIZE};

/// A valid image with 20 one-page segments (every other page non-zero).
fn image_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(40, |i| i % 2 == 0);
    let stats = write_image(dir.path(), &test_metadata(), &test_state(), [(0, &m[..])]).unwrap();
    assert_eq!(stats.segments, 20);
    std::fs::read(dir.path().join(IMAGE_FILE_NAME)).unwrap()
}

fn open(bytes: Vec<u8>) -> Result<Image, Error> {
    Image::from_bytes(bytes)
}

/// Opens through a real file too, so the mmap path sees the same input.
fn open_file(bytes: &[u8]) -> Result<Image, Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(IMAGE_FILE_NAME);
    std::fs::write(&path, bytes).unwrap();
    Image::open(&path)
}

fn err(bytes: Vec<u8>) -> Error {
    let from_file = open_file(&bytes).expect_err("the image should be rejected");
    let from_bytes = open(bytes).expect_err("the image should be rejected");
    assert_eq!(from_file.to_string(), from_bytes.to_string());
    from_bytes
}

#[test]
fn intact_image_opens() {
    let image = open(image_bytes()).unwrap();
    image.verify_segments().unwrap();
    open_file(&image_bytes())
        .unwrap()
        .verify_segments()
        .unwrap();
}

#[test]
fn bad_magic() {
    let mut b = image_bytes();
    b[0] = b'X';
    let e = err(b);
    assert!(matches!(e, Error::BadMagic));
    assert_eq!(e.to_string(), "not a checkpoint image (bad magic)");
    assert!(matches!(
        err(b"#!/bin/sh\necho hi\n".to_vec()),
        Error::BadMagic
    ));
    assert!(matches!(
        err(b"RUN".to_vec()),
        Error::Truncated { at: 3, .. }
    ));
    assert!(matches!(err(b"XY".to_vec()), Error::BadMagic));
}

#[test]
fn header_checksum() {
    let mut b = image_bytes();
    b[H_STATE_LEN] ^= 1;
    let e = err(b);
    assert!(matches!(e, Error::HeaderChecksum), "{e}");
    assert_eq!(e.to_string(), "header checksum mismatch");

    let mut b = image_bytes();
    b[H_CRC] ^= 0x80;
    assert!(matches!(err(b), Error::HeaderChecksum));
}

#[test]
fn newer_major_version() {
    let mut b = image_bytes();
    put_u16(&mut b, H_MAJOR, 3);
    put_u16(&mut b, H_MINOR, 0);
    fix_header_crc(&mut b);
    let e = err(b.clone());
    assert_eq!(e.to_string(), "format 3.0 is newer than this runtime's 1.x");
    // Checked before the header checksum: a 3.0 header need not look like ours.
    b[H_CRC] ^= 1;
    assert!(matches!(err(b), Error::NewerMajor { major: 3, .. }));
}

#[test]
fn older_major_version() {
    let mut b = image_bytes();
    put_u16(&mut b, H_MAJOR, 0);
    put_u16(&mut b, H_MINOR, 9);
    fix_header_crc(&mut b);
    assert_eq!(
        err(b).to_string(),
        "format 0.9 is older than this runtime's 1.x and cannot be read"
    );
}

#[test]
fn newer_minor_version_is_rejected() {
    let mut b = image_bytes();
    put_u16(&mut b, H_MINOR, 2);
    fix_header_crc(&mut b);
    assert_eq!(
        err(b).to_string(),
        "format 1.2 is newer than this runtime's 1.1"
    );
}

#[test]
fn same_or_older_minor_version_is_accepted() {
    // This runtime is 1.1, so an uncompressed image reads as 1.0 and as 1.1; the rule
    // for later runtimes (1.3 reading 1.0..=1.3) is unit-tested in reader.rs, and the
    // golden 1.0 image stays readable in tests/golden.rs.
    for minor in 0..=statefile::FORMAT_MINOR {
        let mut b = image_bytes();
        put_u16(&mut b, H_MINOR, minor);
        fix_header_crc(&mut b);
        let image = open(b).unwrap();
        assert_eq!(image.format_version(), (1, minor));
    }
}

#[test]
fn truncated_at_many_points() {
    let full = image_bytes();
    let meta_off = get_u64(&full, H_METADATA_OFF) as usize;
    let state_off = get_u64(&full, H_STATE_OFF) as usize;
    let table_off = get_u64(&full, H_TABLE_OFF) as usize;
    let cuts = [
        0,
        1,
        7,
        8,
        11,
        12,
        100,
        127,
        128,
        meta_off + 10,
        state_off + 3,
        table_off + 40,
        full.len() / 2,
        full.len() - PAGE - 1,
        full.len() - 1,
    ];
    for cut in cuts {
        let e = err(full[..cut].to_vec());
        match e {
            Error::Truncated { at, needed } => {
                assert_eq!(at, cut as u64);
                assert!(needed > at);
            }
            other => panic!("cut at {cut}: {other}"),
        }
    }
    let e = err(full[..5000].to_vec());
    assert_eq!(
        e.to_string(),
        format!(
            "truncated at byte 5000: the image needs {} bytes",
            full.len()
        )
    );
}

#[test]
fn trailing_data() {
    let mut b = image_bytes();
    let len = b.len() as u64;
    b.extend_from_slice(&[0; 10]);
    let e = err(b);
    assert!(matches!(e, Error::TrailingData { end, extra: 10 } if end == len));
}

#[test]
fn metadata_checksum() {
    let mut b = image_bytes();
    let off = get_u64(&b, H_METADATA_OFF) as usize;
    b[off + 5] ^= 0x20;
    assert_eq!(err(b).to_string(), "metadata checksum mismatch");
}

#[test]
fn state_checksum() {
    let mut b = image_bytes();
    let off = get_u64(&b, H_STATE_OFF) as usize;
    let len = get_u64(&b, H_STATE_LEN) as usize;
    b[off + len / 2] ^= 1;
    assert_eq!(err(b).to_string(), "state checksum mismatch");
}

#[test]
fn segment_table_checksum() {
    let mut b = image_bytes();
    let at = entry_field(&b, 3, 24);
    b[at] ^= 1;
    assert_eq!(err(b).to_string(), "segment table checksum mismatch");
}

#[test]
fn segment_checksum_names_the_segment() {
    let mut b = image_bytes();
    let at = get_u64(&b, entry_field(&b, 17, 8)) as usize;
    b[at + 1234] ^= 0x10;
    // Opening checks structure, not segment data.
    let image = open(b.clone()).unwrap();
    let e = image.verify_segments().unwrap_err();
    assert!(matches!(e, Error::SegmentChecksum { index: 17 }));
    assert_eq!(e.to_string(), "segment 17 checksum mismatch");
    let results: Vec<_> = image.segments().collect();
    assert_eq!(results.len(), 20);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.is_ok(), i != 17, "segment {i}");
    }
    let image = open_file(&b).unwrap();
    assert_eq!(
        image.verify_segments().unwrap_err().to_string(),
        "segment 17 checksum mismatch"
    );
}

#[test]
fn header_lengths_and_offsets_outside_the_file() {
    let base = image_bytes();
    let file_len = base.len() as u64;
    let cases: Vec<(usize, u64, Section)> = vec![
        (H_METADATA_OFF, file_len - 10, Section::Metadata),
        (H_METADATA_OFF, u64::MAX - 5, Section::Metadata),
        (H_STATE_OFF, file_len, Section::State),
        (H_STATE_LEN, file_len, Section::State),
        (H_TABLE_OFF, file_len - 31, Section::SegmentTable),
        (H_TABLE_OFF, u64::MAX, Section::SegmentTable),
        (H_SEGMENT_COUNT, 1 << 20, Section::SegmentTable),
    ];
    for (field, value, section) in cases {
        let mut b = base.clone();
        put_u64(&mut b, field, value);
        fix_header_crc(&mut b);
        match err(b) {
            Error::OutOfBounds {
                section: s,
                file_len: l,
                ..
            } => {
                assert_eq!(s, section, "field {field}");
                assert_eq!(l, file_len);
            }
            other => panic!("field {field} = {value}: {other}"),
        }
    }
    let mut b = base.clone();
    put_u64(&mut b, H_STATE_LEN, file_len);
    fix_header_crc(&mut b);
    let state_off = get_u64(&b, H_STATE_OFF);
    assert_eq!(
        err(b).to_string(),
        format!(
            "state at offset {state_off} with length {file_len} extends past the end of the file ({file_len} bytes)"
        )
    );
}

#[test]
fn file_length_field_larger_than_file_is_truncation() {
    let mut b = image_bytes();
    let len = b.len() as u64;
    put_u64(&mut b, H_FILE_LEN, len + PAGE_SIZE);
    fix_header_crc(&mut b);
    assert!(
        matches!(err(b), Error::Truncated { at, needed } if at == len && needed == len + PAGE_SIZE)
    );
}

#[test]
fn segment_pointing_outside_the_file() {
    let base = image_bytes();
    for (field, value) in [(8, base.len() as u64), (8, !(PAGE_SIZE - 1)), (16, 1 << 40)] {
        let mut b = base.clone();
        let at = entry_field(&b, 19, field);
        put_u64(&mut b, at, value);
        fix_table_crc(&mut b);
        let e = err(b);
        assert!(
            matches!(
                e,
                Error::OutOfBounds {
                    section: Section::Segment(19),
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn metadata_too_large() {
    let mut b = image_bytes();
    put_u64(&mut b, H_METADATA_LEN, 2 << 20);
    fix_header_crc(&mut b);
    let e = err(b);
    assert_eq!(
        e.to_string(),
        "metadata too large: 2097152 bytes, the limit is 1048576"
    );
}

#[test]
fn state_too_large() {
    let mut b = image_bytes();
    put_u64(&mut b, H_STATE_LEN, 3 << 30);
    fix_header_crc(&mut b);
    assert!(matches!(err(b), Error::StateTooLarge { .. }));
}

#[test]
fn too_many_segments() {
    let mut b = image_bytes();
    put_u64(&mut b, H_SEGMENT_COUNT, u64::MAX / 2);
    fix_header_crc(&mut b);
    let e = err(b);
    assert!(matches!(e, Error::TooManySegments { .. }), "{e}");
    assert!(e.to_string().starts_with("too many segments: "));
}

#[test]
fn misaligned_segments() {
    let base = image_bytes();
    for (field, delta, what) in [
        (0, 8, "memory offset"),
        (8, 512, "file offset"),
        (16, 1, "length"),
    ] {
        let mut b = base.clone();
        let at = entry_field(&b, 4, field);
        let v = get_u64(&b, at);
        put_u64(&mut b, at, v + delta);
        fix_table_crc(&mut b);
        let e = err(b);
        assert!(
            matches!(e, Error::MisalignedSegment { index: 4, what: w, .. } if w == what),
            "{e}"
        );
    }
    let mut b = base.clone();
    let at = entry_field(&b, 2, 16);
    put_u64(&mut b, at, 0);
    fix_table_crc(&mut b);
    assert!(matches!(
        err(b),
        Error::MisalignedSegment {
            index: 2,
            what: "length",
            ..
        }
    ));
}

#[test]
fn overlapping_segments() {
    let base = image_bytes();

    // In guest memory: segment 6 starts inside segment 5.
    let mut b = base.clone();
    let m5 = get_u64(&b, entry_field(&b, 5, 0));
    let at = entry_field(&b, 6, 0);
    put_u64(&mut b, at, m5);
    fix_table_crc(&mut b);
    assert_eq!(
        err(b).to_string(),
        "segment 6 overlaps segment 5 in guest memory"
    );

    // In the file: segment 6's data is segment 5's.
    let mut b = base.clone();
    let f5 = get_u64(&b, entry_field(&b, 5, 8));
    let at = entry_field(&b, 6, 8);
    put_u64(&mut b, at, f5);
    fix_table_crc(&mut b);
    assert_eq!(
        err(b).to_string(),
        "segment 6 overlaps segment 5 in the file"
    );

    // Segment 0 on top of the header.
    let mut b = base.clone();
    let at = entry_field(&b, 0, 8);
    put_u64(&mut b, at, 0);
    fix_table_crc(&mut b);
    assert!(matches!(
        err(b),
        Error::SectionsOverlap {
            second: Section::Segment(0),
            ..
        }
    ));

    // Memory range that wraps around 2^64.
    let mut b = base.clone();
    let at = entry_field(&b, 19, 0);
    put_u64(&mut b, at, !(PAGE_SIZE - 1));
    fix_table_crc(&mut b);
    assert!(matches!(err(b), Error::SegmentPastMemoryEnd { index: 19 }));
}

#[test]
fn overlapping_sections() {
    let mut b = image_bytes();
    let meta_off = get_u64(&b, H_METADATA_OFF);
    put_u64(&mut b, H_STATE_OFF, meta_off);
    fix_header_crc(&mut b);
    assert!(matches!(
        err(b),
        Error::SectionsOverlap {
            first: Section::Metadata,
            second: Section::State,
            ..
        }
    ));

    let mut b = image_bytes();
    put_u64(&mut b, H_METADATA_OFF, 64);
    fix_header_crc(&mut b);
    assert!(matches!(
        err(b),
        Error::SectionsOverlap {
            first: Section::Header,
            ..
        }
    ));
}

#[test]
fn non_zero_padding() {
    let mut b = image_bytes();
    let table_end = get_u64(&b, H_TABLE_OFF) as usize + 20 * 32;
    b[table_end + 1] = 1;
    assert_eq!(
        err(b).to_string(),
        format!("non-zero padding at byte {}", table_end + 1)
    );
}

#[test]
fn invalid_header_fields() {
    let mut b = image_bytes();
    put_u64(&mut b, H_FLAGS, 4);
    fix_header_crc(&mut b);
    assert_eq!(err(b).to_string(), "unknown header flags 0x4");

    let mut b = image_bytes();
    put_u32(&mut b, H_HEADER_LEN, 256);
    fix_header_crc(&mut b);
    assert!(matches!(err(b), Error::InvalidHeader(_)));

    let mut b = image_bytes();
    put_u64(&mut b, H_PAGE_SIZE, 1000);
    fix_header_crc(&mut b);
    assert!(matches!(err(b), Error::InvalidHeader(_)));

    let mut b = image_bytes();
    b[110] = 1;
    fix_header_crc(&mut b);
    assert!(matches!(err(b), Error::InvalidHeader(_)));

    let mut b = image_bytes();
    let at = entry_field(&b, 1, 28);
    put_u32(&mut b, at, 1);
    fix_table_crc(&mut b);
    assert!(matches!(
        err(b),
        Error::UnknownSegmentFlags { index: 1, flags: 1 }
    ));
}

#[test]
fn metadata_that_is_not_json() {
    let mut b = image_bytes();
    let off = get_u64(&b, H_METADATA_OFF) as usize;
    let len = get_u64(&b, H_METADATA_LEN) as usize;
    b[off] = b'[';
    let crc = crc32fast::hash(&b[off..off + len]);
    put_u32(&mut b, H_METADATA_CRC, crc);
    fix_header_crc(&mut b);
    assert!(matches!(err(b), Error::MetadataDecode(_)));
}

#[test]
fn hostile_state_bytes_do_not_allocate_or_panic() {
    // A state whose checksums are right but whose bytes claim a vector of
    // 2^60 elements: decoding must fail quickly, not try to allocate.
    let mut b = image_bytes();
    let off = get_u64(&b, H_STATE_OFF) as usize;
    let len = get_u64(&b, H_STATE_LEN) as usize;
    // name: String of length 4 ("init"), then counters: a varint length.
    assert_eq!(&b[off..off + 5], b"\x04init");
    let huge = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
    b[off + 5..off + 5 + huge.len()].copy_from_slice(&huge);
    let crc = crc32fast::hash(&b[off..off + len]);
    put_u32(&mut b, H_STATE_CRC, crc);
    fix_header_crc(&mut b);
    let image = open(b).unwrap();
    let e = image.state::<TestState>().unwrap_err();
    assert!(matches!(e, Error::Codec(_)), "{e}");

    // Trailing bytes after a valid value are an error too.
    let mut b = image_bytes();
    let len = get_u64(&b, H_STATE_LEN);
    let state_off = get_u64(&b, H_STATE_OFF) as usize;
    // Declare the state one byte longer, swallowing a padding byte (zero).
    let table_off = get_u64(&b, H_TABLE_OFF);
    if state_off as u64 + len < table_off {
        put_u64(&mut b, H_STATE_LEN, len + 1);
        let crc = crc32fast::hash(&b[state_off..state_off + len as usize + 1]);
        put_u32(&mut b, H_STATE_CRC, crc);
        fix_header_crc(&mut b);
        let e = open(b).unwrap().state::<TestState>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "state has 1 trailing bytes after the decoded value"
        );
    }
}

#[test]
fn every_single_byte_flip_is_handled() {
    // A small image (two segments); flip each byte in turn. Every result is
    // a clean error, never a panic and never an image that reads.
    let dir = tempfile::tempdir().unwrap();
    let m = memory(3, |i| i != 1);
    write_image(dir.path(), &test_metadata(), &test_state(), [(0, &m[..])]).unwrap();
    let base = std::fs::read(dir.path().join(IMAGE_FILE_NAME)).unwrap();
    let mut accepted = 0;
    for i in 0..base.len() {
        let mut b = base.clone();
        b[i] ^= 0x41;
        if let Ok(image) = open(b) {
            if image.verify_segments().is_ok() && image.state::<TestState>().is_ok() {
                accepted += 1;
            }
        }
    }
    // Every byte is either checksummed or padding that must be zero.
    assert_eq!(accepted, 0);
}

/// `load_segments` copies every segment (on several threads) and checks it: an intact
/// image's copy is its memory; a flipped byte names its segment. A run of non-zero pages
/// longer than MAX_SEGMENT_LEN is written as several segments.
#[test]
fn load_segments_copies_and_checks_every_piece() {
    use std::sync::Mutex;
    let dir = tempfile::tempdir().unwrap();
    // 10 MiB of non-zero memory (ten segments of MAX_SEGMENT_LEN), a zero page, one page.
    assert_eq!(statefile::MAX_SEGMENT_LEN, 1 << 20);
    let pages = 10 * 256 + 2;
    let m = memory(pages, |i| i != 10 * 256);
    write_image(dir.path(), &test_metadata(), &test_state(), [(0, &m[..])]).unwrap();
    let path = dir.path().join(IMAGE_FILE_NAME);
    let load = |image: &Image| {
        let copy = Mutex::new(vec![0u8; m.len()]);
        let r = image.load_segments(3, &|off, bytes| {
            copy.lock().unwrap()[off as usize..off as usize + bytes.len()].copy_from_slice(bytes)
        });
        (r, copy.into_inner().unwrap())
    };
    let (r, copy) = load(&Image::open(&path).unwrap());
    let stats = r.unwrap();
    assert_eq!(
        (stats.segments, stats.bytes),
        (11, m.len() as u64 - PAGE_SIZE)
    );
    let infos: Vec<_> = Image::open(&path).unwrap().segment_infos().collect();
    assert!(infos[..10]
        .iter()
        .enumerate()
        .all(|(i, s)| s.memory_offset == (i as u64) << 20 && s.len == 1 << 20));
    assert!(copy == m, "the copy is the memory");

    let mut b = std::fs::read(&path).unwrap();
    let at = get_u64(&b, entry_field(&b, 0, 8)) as usize;
    b[at + (5 << 20) + 17] ^= 0x40;
    let (r, _) = load(&open(b.clone()).unwrap());
    assert_eq!(r.unwrap_err().to_string(), "segment 5 checksum mismatch");
    let (r, _) = load(&open_file(&b).unwrap());
    assert_eq!(r.unwrap_err().to_string(), "segment 5 checksum mismatch");
}
