//! Golden images: every released format version has one under
//! `tests/fixtures/`, and every later runtime must still read it.
//!
//! The fixture is committed bytes. `load_golden_1_0` only reads it. To make a
//! fixture for a NEW format version (never to remake an old one), run
//!
//! ```text
//! STATEFILE_WRITE_GOLDEN=1 cargo test -p statefile --test golden -- --ignored
//! ```
//!
//! and commit the new file together with a `load_golden_X_Y` test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use statefile::{CpuFeatures, CpuidLeaf, Image, MemoryTotals, Metadata, StateSchema, PAGE_SIZE};

const PAGE: usize = PAGE_SIZE as usize;

/// The saved-state type of the 1.0 fixture. Frozen: changing it would change
/// what the fixture decodes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GoldenStateV1 {
    hostname: String,
    tasks: Vec<GoldenTask>,
    fds: BTreeMap<i32, GoldenFd>,
    monotonic_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GoldenTask {
    tid: i32,
    regs: [u64; 4],
    parked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum GoldenFd {
    Stdio(u8),
    Host { path: String, flags: i32 },
    Pipe { id: u64, read_end: bool },
}

impl StateSchema for GoldenStateV1 {
    const VERSION: u32 = 1;
}

fn golden_state() -> GoldenStateV1 {
    let mut fds = BTreeMap::new();
    fds.insert(0, GoldenFd::Stdio(0));
    fds.insert(1, GoldenFd::Stdio(1));
    fds.insert(
        3,
        GoldenFd::Host {
            path: "/etc/hostname".into(),
            flags: 0o100000,
        },
    );
    fds.insert(
        4,
        GoldenFd::Pipe {
            id: 1,
            read_end: true,
        },
    );
    GoldenStateV1 {
        hostname: "golden".into(),
        tasks: vec![
            GoldenTask {
                tid: 1,
                regs: [0x401000, 0x7ffe_0000_1000, 0, 60],
                parked: None,
            },
            GoldenTask {
                tid: 2,
                regs: [0x401234, 0x7ffe_0000_2000, 1, 0],
                parked: Some("read(4)".into()),
            },
        ],
        fds,
        monotonic_ns: 123_456_789_000,
    }
}

fn golden_metadata() -> Metadata {
    Metadata {
        runtime_version: "runsc 0.1.0".into(),
        created_unix_secs: 1_767_225_600,
        container_id: "golden-1.0".into(),
        arch: "x86_64".into(),
        page_size: 4096,
        host_kernel_release: "6.1.0-golden".into(),
        cpu: CpuFeatures {
            vendor: "GenuineIntel".into(),
            features: vec!["sse4_2".into(), "avx2".into(), "xsave".into()],
            cpuid: vec![CpuidLeaf {
                leaf: 1,
                subleaf: 0,
                eax: 0x000906ea,
                ebx: 0x0010_0800,
                ecx: 0x7ffa_fbff,
                edx: 0xbfeb_fbff,
            }],
            xcr0: 0x7,
        },
        memory: MemoryTotals {
            total_bytes: 1 << 20,
            ..MemoryTotals::default()
        },
    }
}

/// Page `n` of the golden memory: byte i is `(n * 31 + i) % 251 + 1`, never zero.
fn golden_page(n: usize) -> Vec<u8> {
    (0..PAGE).map(|i| ((n * 31 + i) % 251 + 1) as u8).collect()
}

/// Memory at 0x10000: page 0 data, page 1 zero, page 2 data.
const GOLDEN_BASE: u64 = 0x10000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Opens a golden image and checks what every version's fixture holds: schema 1, the
/// golden metadata and state, and two segments of golden pages. Returns the image and
/// its segments' file offsets.
fn golden(name: &str, version: (u16, u16)) -> (Image, Vec<u64>) {
    let image = Image::open(&fixture(name)).unwrap();
    assert_eq!(image.format_version(), version);
    assert_eq!(image.state_schema_version(), 1);

    let mut meta = golden_metadata();
    meta.memory.range_bytes = 3 * PAGE_SIZE;
    meta.memory.saved_bytes = 2 * PAGE_SIZE;
    meta.memory.segments = 2;
    assert_eq!(image.metadata(), &meta);

    assert_eq!(image.state::<GoldenStateV1>().unwrap(), golden_state());

    let segments: Vec<_> = image.segments().map(|s| s.unwrap()).collect();
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[0].memory_offset, GOLDEN_BASE);
    assert_eq!(segments[0].data, &golden_page(0)[..]);
    assert_eq!(segments[1].memory_offset, GOLDEN_BASE + 2 * PAGE_SIZE);
    assert_eq!(segments[1].data, &golden_page(2)[..]);
    assert_eq!(image.verify_segments().unwrap().bytes, 2 * PAGE_SIZE);
    let offsets = segments.iter().map(|s| s.file_offset).collect();
    (image, offsets)
}

#[test]
fn load_golden_1_0() {
    let (image, offsets) = golden("format-1.0.img", (1, 0));
    assert_eq!(offsets, [PAGE_SIZE, 2 * PAGE_SIZE]);
    assert_eq!(image.file_len(), 3 * PAGE_SIZE);
}

#[test]
fn load_golden_1_1() {
    let (image, _) = golden("format-1.1.img", (1, 1));
    assert_eq!(image.compression(), statefile::Compression::Zstd);
    let infos: Vec<_> = image.segment_infos().collect();
    assert!(infos.iter().all(|i| i.compressed && i.stored_len < i.len));
    assert!(image.file_len() < 2 * PAGE_SIZE);
}

/// Writes the fixture for the CURRENT format version. Ignored, and a no-op
/// without STATEFILE_WRITE_GOLDEN=1: fixtures are made once and committed.
#[test]
#[ignore]
fn write_golden_fixture() {
    if std::env::var_os("STATEFILE_WRITE_GOLDEN").is_none() {
        eprintln!("set STATEFILE_WRITE_GOLDEN=1 to write the fixture");
        return;
    }
    let mut memory = golden_page(0);
    memory.resize(2 * PAGE, 0);
    memory.extend(golden_page(2));
    let dir = tempfile::tempdir().unwrap();
    // 1.1 added compression: its fixture is a zstd image (1.1 writes uncompressed
    // images as 1.0).
    statefile::write_image_with(
        dir.path(),
        &golden_metadata(),
        &golden_state(),
        [(GOLDEN_BASE, &memory[..])],
        statefile::Compression::Zstd,
    )
    .unwrap();
    let name = format!(
        "format-{}.{}.img",
        statefile::FORMAT_MAJOR,
        statefile::FORMAT_MINOR
    );
    let dest = fixture(&name);
    assert!(
        !dest.exists(),
        "{} exists: fixtures are never remade",
        dest.display()
    );
    std::fs::copy(dir.path().join(statefile::IMAGE_FILE_NAME), &dest).unwrap();
}
