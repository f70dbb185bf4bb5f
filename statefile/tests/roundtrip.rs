//! Write an image, read it back, get the same things out.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde::{Deserialize, Serialize};
use statefile::{
    write_image, write_image_to, Error, Image, StateSchema, IMAGE_FILE_NAME, PAGE_SIZE,
};

/// Rebuilds the saved memory as (memory offset -> page) from the image.
fn saved_pages(image: &Image) -> BTreeMap<u64, Vec<u8>> {
    let mut pages = BTreeMap::new();
    for seg in image.segments() {
        let seg = seg.unwrap();
        assert_eq!(seg.file_offset % PAGE_SIZE, 0);
        assert_eq!(seg.memory_offset % PAGE_SIZE, 0);
        assert!(!seg.data.is_empty());
        for (i, p) in seg.data.chunks(PAGE).enumerate() {
            pages.insert(seg.memory_offset + (i * PAGE) as u64, p.to_vec());
        }
    }
    pages
}

/// The non-zero pages of the given ranges.
fn expected_pages(ranges: &[(u64, &[u8])]) -> BTreeMap<u64, Vec<u8>> {
    let mut pages = BTreeMap::new();
    for (off, bytes) in ranges {
        for (i, p) in bytes.chunks(PAGE).enumerate() {
            if p.iter().any(|&b| b != 0) {
                pages.insert(off + (i * PAGE) as u64, p.to_vec());
            }
        }
    }
    pages
}

#[test]
fn round_trip_state_and_many_sparse_segments() {
    let dir = tempfile::tempdir().unwrap();
    // Three ranges with gaps between them: one dense, one sparse, one with a
    // zero page at each end.
    let dense = memory(16, |_| true);
    let sparse = memory(64, |i| i % 3 == 0 || i % 7 == 1);
    let edges = memory(10, |i| i != 0 && i != 9);
    let ranges: Vec<(u64, &[u8])> =
        vec![(0, &dense), (100 * PAGE_SIZE, &sparse), (1 << 32, &edges)];
    let meta = test_metadata();
    let state = test_state();
    let stats = write_image(dir.path(), &meta, &state, ranges.iter().copied()).unwrap();

    let expected = expected_pages(&ranges);
    assert_eq!(stats.path, dir.path().join(IMAGE_FILE_NAME));
    assert_eq!(stats.range_bytes, ((16 + 64 + 10) * PAGE) as u64);
    assert_eq!(stats.saved_bytes, (expected.len() * PAGE) as u64);
    assert_eq!(
        stats.zero_bytes_skipped,
        stats.range_bytes - stats.saved_bytes
    );
    assert_eq!(
        std::fs::metadata(&stats.path).unwrap().len(),
        stats.file_bytes
    );

    let image = Image::open(&stats.path).unwrap();
    assert_eq!(image.format_version(), (1, 0));
    assert_eq!(image.state_schema_version(), 7);
    assert_eq!(image.state::<TestState>().unwrap(), state);
    assert_eq!(image.segment_count(), stats.segments);

    // Metadata comes back, with the writer's memory counters filled in.
    let mut want_meta = meta.clone();
    want_meta.memory.range_bytes = stats.range_bytes;
    want_meta.memory.saved_bytes = stats.saved_bytes;
    want_meta.memory.segments = stats.segments;
    assert_eq!(image.metadata(), &want_meta);

    // Every non-zero page and nothing else.
    assert_eq!(saved_pages(&image), expected);

    // Segments are maximal runs of non-zero pages within a range: count the runs.
    let runs: usize = [&dense[..], &sparse[..], &edges[..]]
        .iter()
        .map(|m| {
            let nz: Vec<bool> = m.chunks(PAGE).map(|p| p.iter().any(|&b| b != 0)).collect();
            nz.iter()
                .enumerate()
                .filter(|&(i, &z)| z && (i == 0 || !nz[i - 1]))
                .count()
        })
        .sum();
    assert_eq!(image.segment_count(), runs as u64);

    let verified = image.verify_segments().unwrap();
    assert_eq!(verified.segments, stats.segments);
    assert_eq!(verified.bytes, stats.saved_bytes);

    // The file offsets really point at the data, so restore can map them.
    let file = std::fs::read(&stats.path).unwrap();
    for seg in image.segments() {
        let seg = seg.unwrap();
        let at = seg.file_offset as usize;
        assert_eq!(&file[at..at + seg.data.len()], &seg.data[..]);
    }
    // segment_infos agrees with segments.
    for (info, seg) in image.segment_infos().zip(image.segments()) {
        let seg = seg.unwrap();
        assert_eq!(info.index, seg.index);
        assert_eq!(info.memory_offset, seg.memory_offset);
        assert_eq!(info.file_offset, seg.file_offset);
        assert_eq!(info.len, seg.data.len() as u64);
        assert_eq!(info.crc, crc32fast::hash(&seg.data));
    }

    // The same bytes through the in-memory entry point.
    let from_bytes = Image::from_bytes(file).unwrap();
    assert_eq!(saved_pages(&from_bytes), expected);
    assert_eq!(from_bytes.state::<TestState>().unwrap(), state);
}

#[test]
fn zero_ranges_write_no_segments() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = vec![0u8; 256 * PAGE];
    let stats = write_image(
        dir.path(),
        &test_metadata(),
        &test_state(),
        [(0, &zeros[..]), (1 << 40, &zeros[..PAGE])],
    )
    .unwrap();
    assert_eq!(stats.segments, 0);
    assert_eq!(stats.saved_bytes, 0);
    assert_eq!(stats.zero_bytes_skipped, (257 * PAGE) as u64);
    assert!(stats.file_bytes < PAGE_SIZE, "{}", stats.file_bytes);
    let image = Image::open(&stats.path).unwrap();
    assert_eq!(image.segment_count(), 0);
    assert_eq!(image.segments().count(), 0);
    assert_eq!(image.verify_segments().unwrap().segments, 0);
    assert_eq!(image.state::<TestState>().unwrap(), test_state());
}

#[test]
fn no_ranges_and_empty_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let none: [(u64, &[u8]); 0] = [];
    let stats = write_image(dir.path(), &test_metadata(), &test_state(), none).unwrap();
    assert_eq!(stats.segments, 0);
    Image::open(&stats.path).unwrap();

    let one = memory(1, |_| true);
    let stats = write_image(
        dir.path(),
        &test_metadata(),
        &test_state(),
        [(0, &[][..]), (0, &one[..]), (PAGE_SIZE, &[][..])],
    )
    .unwrap();
    assert_eq!(stats.segments, 1);
    let image = Image::open(&stats.path).unwrap();
    assert_eq!(image.segments().next().unwrap().unwrap().data, &one[..]);
}

#[test]
fn adjacent_ranges_stay_separate_segments() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(4, |_| true);
    let stats = write_image(
        dir.path(),
        &test_metadata(),
        &test_state(),
        [(0, &m[..2 * PAGE]), (2 * PAGE_SIZE, &m[2 * PAGE..])],
    )
    .unwrap();
    assert_eq!(stats.segments, 2);
    let image = Image::open(&stats.path).unwrap();
    let got: Vec<u8> = image
        .segments()
        .flat_map(|s| s.unwrap().data.to_vec())
        .collect();
    assert_eq!(got, m);
}

#[test]
fn ranges_must_be_page_aligned_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(4, |_| true);
    type Ranges<'a> = Vec<(u64, &'a [u8])>;
    let cases: Vec<(Ranges, &str)> = vec![
        (vec![(0, &m[..PAGE + 1])], "length not a page multiple"),
        (vec![(0, &m[..100])], "short length"),
        (vec![(512, &m[..PAGE])], "offset not page-aligned"),
        (
            vec![(PAGE_SIZE, &m[..PAGE]), (0, &m[..PAGE])],
            "out of order",
        ),
        (
            vec![(0, &m[..2 * PAGE]), (PAGE_SIZE, &m[..PAGE])],
            "overlapping",
        ),
        (
            vec![(u64::MAX - PAGE_SIZE + 1, &m[..2 * PAGE])],
            "overflowing",
        ),
    ];
    for (ranges, what) in cases {
        let err = write_image(dir.path(), &test_metadata(), &test_state(), ranges).unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnalignedRange { .. }
                    | Error::RangesOutOfOrder { .. }
                    | Error::RangeOverflow { .. }
            ),
            "{what}: {err}"
        );
        assert_eq!(dir_entries(dir.path()), Vec::<String>::new(), "{what}");
    }
    let err = write_image(
        dir.path(),
        &test_metadata(),
        &test_state(),
        [(0, &m[..PAGE + 1])],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "memory range at offset 0x0 with length 0x1001 is not page-aligned"
    );
}

#[test]
fn state_schema_version_is_checked() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V6(TestState);
    impl StateSchema for V6 {
        const VERSION: u32 = 6;
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V8(TestState);
    impl StateSchema for V8 {
        const VERSION: u32 = 8;
    }
    let dir = tempfile::tempdir().unwrap();
    let none: [(u64, &[u8]); 0] = [];
    let stats = write_image(dir.path(), &test_metadata(), &test_state(), none).unwrap();
    let image = Image::open(&stats.path).unwrap();
    let err = image.state::<V6>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "state schema 7 is newer than this runtime's 6"
    );
    let err = image.state::<V8>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "state schema 7 is older than 8 and needs a migration"
    );
    assert!(image.state::<TestState>().is_ok());
}

#[test]
fn migration_from_an_older_schema() {
    // What docs/statefile.md describes: keep the old struct, decode it when
    // the image says so, and convert.
    #[derive(Serialize, Deserialize)]
    struct TaskV1 {
        pid: u32,
    }
    impl StateSchema for TaskV1 {
        const VERSION: u32 = 1;
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct TaskV2 {
        pid: u32,
        nice: i8,
    }
    impl StateSchema for TaskV2 {
        const VERSION: u32 = 2;
    }
    impl From<TaskV1> for TaskV2 {
        fn from(v1: TaskV1) -> TaskV2 {
            TaskV2 {
                pid: v1.pid,
                nice: 0,
            }
        }
    }
    fn load(image: &Image) -> Result<TaskV2, Error> {
        match image.state_schema_version() {
            1 => Ok(image.state::<TaskV1>()?.into()),
            _ => image.state::<TaskV2>(),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let none: [(u64, &[u8]); 0] = [];
    write_image(dir.path(), &test_metadata(), &TaskV1 { pid: 42 }, none).unwrap();
    let image = Image::open(&dir.path().join(IMAGE_FILE_NAME)).unwrap();
    assert_eq!(load(&image).unwrap(), TaskV2 { pid: 42, nice: 0 });
}

#[test]
fn state_of_the_wrong_type_is_an_error_not_a_panic() {
    #[derive(Debug, Serialize, Deserialize)]
    struct Other {
        a: Vec<String>,
        b: BTreeMap<String, Vec<u64>>,
    }
    impl StateSchema for Other {
        const VERSION: u32 = 7;
    }
    let dir = tempfile::tempdir().unwrap();
    let none: [(u64, &[u8]); 0] = [];
    write_image(dir.path(), &test_metadata(), &test_state(), none).unwrap();
    let image = Image::open(&dir.path().join(IMAGE_FILE_NAME)).unwrap();
    let err = image.state::<Other>().unwrap_err();
    assert!(matches!(err, Error::Codec(_)), "{err}");
}

#[test]
fn an_existing_image_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let a = memory(2, |_| true);
    let b = memory(3, |i| i == 2);
    write_image(dir.path(), &test_metadata(), &test_state(), [(0, &a[..])]).unwrap();
    let mut state = test_state();
    state.name = "second".into();
    write_image(dir.path(), &test_metadata(), &state, [(0, &b[..])]).unwrap();
    assert_eq!(dir_entries(dir.path()), vec![IMAGE_FILE_NAME.to_string()]);
    let image = Image::open(&dir.path().join(IMAGE_FILE_NAME)).unwrap();
    assert_eq!(image.state::<TestState>().unwrap().name, "second");
    let segs: Vec<_> = image.segments().map(|s| s.unwrap()).collect();
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].memory_offset, 2 * PAGE_SIZE);
}

#[test]
fn metadata_too_large_is_refused_by_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut meta = test_metadata();
    meta.container_id = "x".repeat(2 << 20);
    let none: [(u64, &[u8]); 0] = [];
    let err = write_image(dir.path(), &meta, &test_state(), none).unwrap_err();
    assert!(matches!(err, Error::MetadataTooLarge { .. }), "{err}");
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn metadata_is_readable_json() {
    let dir = tempfile::tempdir().unwrap();
    let none: [(u64, &[u8]); 0] = [];
    write_image(dir.path(), &test_metadata(), &test_state(), none).unwrap();
    let bytes = std::fs::read(dir.path().join(IMAGE_FILE_NAME)).unwrap();
    let off = get_u64(&bytes, H_METADATA_OFF) as usize;
    let len = get_u64(&bytes, H_METADATA_LEN) as usize;
    let json: serde_json::Value = serde_json::from_slice(&bytes[off..off + len]).unwrap();
    assert_eq!(json["container_id"], "ctr-test");
    assert_eq!(json["cpu"]["xcr0"], 7);
    assert_eq!(json["page_size"], 4096);
}

#[test]
fn large_image_round_trip() {
    // Over 128 MiB of segments: the writer checksums on a helper thread and
    // flushes in the background. Every 1000th page is zero.
    let pages = 34_816; // 136 MiB
    let mut m = vec![0u8; pages * PAGE];
    for (i, p) in m.chunks_mut(PAGE).enumerate() {
        if i % 1000 != 999 {
            p.fill((i % 251 + 1) as u8);
            p[..8].copy_from_slice(&(i as u64).to_le_bytes());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = write_image(
        dir.path(),
        &test_metadata(),
        &test_state(),
        [(1 << 30, &m[..])],
    )
    .unwrap();
    // 35 runs of non-zero pages (34 of 999 pages, one of 816), each cut into segments
    // of at most MAX_SEGMENT_LEN (256 pages).
    let per_page = statefile::MAX_SEGMENT_LEN as usize / PAGE;
    assert_eq!(
        stats.segments as usize,
        34 * 999usize.div_ceil(per_page) + 816usize.div_ceil(per_page)
    );
    assert_eq!(stats.zero_bytes_skipped, (34 * PAGE) as u64);
    let image = Image::open(&stats.path).unwrap();
    let mut covered = 0;
    for seg in image.segments() {
        let seg = seg.unwrap();
        let start = (seg.memory_offset - (1 << 30)) as usize;
        assert_eq!(seg.data, &m[start..start + seg.data.len()]);
        covered += seg.data.len();
    }
    assert_eq!(covered as u64, stats.saved_bytes);
    assert_eq!(dir_entries(dir.path()), vec![IMAGE_FILE_NAME.to_string()]);
}

/// `write_image_to` writes the same image into a file it is handed (one that held more
/// bytes before is cut to the image's end), and `Image::from_file` reads it back from the
/// open file.
#[test]
fn an_image_written_into_an_open_file_reads_back_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handed-over");
    std::fs::write(&path, vec![0xa5u8; 64 * PAGE]).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mem = memory(8, |i| i != 3);
    let ranges: Vec<(u64, &[u8])> = vec![(4 * PAGE_SIZE, &mem)];
    let stats = write_image_to(
        &file,
        &test_metadata(),
        &test_state(),
        ranges.iter().copied(),
    )
    .unwrap();
    drop(file);
    assert_eq!(stats.path, std::path::PathBuf::new());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), stats.file_bytes);
    // Nothing else was created beside it.
    assert_eq!(dir_entries(dir.path()), vec!["handed-over".to_string()]);

    let image = Image::from_file(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(image.state::<TestState>().unwrap(), test_state());
    assert_eq!(saved_pages(&image), expected_pages(&ranges));
    // The same bytes as the directory writer's image.
    let stats_dir = write_image(
        dir.path(),
        &test_metadata(),
        &test_state(),
        ranges.iter().copied(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&stats_dir.path).unwrap(),
        std::fs::read(&path).unwrap()
    );
}

/// A handed-over file the writer cannot write names what failed; `from_file` refuses a
/// truncated image as `open` does.
#[test]
fn handed_over_files_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro");
    std::fs::write(&path, b"").unwrap();
    let read_only = std::fs::File::open(&path).unwrap();
    let mem = memory(1, |_| true);
    let err =
        write_image_to(&read_only, &test_metadata(), &test_state(), [(0, &mem[..])]).unwrap_err();
    assert!(matches!(err, Error::File { .. }), "{err:?}");
    assert!(err.to_string().ends_with("the image file"), "{err}");

    let stats = write_image(dir.path(), &test_metadata(), &test_state(), [(0, &mem[..])]).unwrap();
    let whole = std::fs::read(&stats.path).unwrap();
    for len in [10, 200, whole.len() - 1] {
        std::fs::write(&path, &whole[..len]).unwrap();
        let err = Image::from_file(std::fs::File::open(&path).unwrap()).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{len}: {err:?}");
    }
}
