//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use statefile::{Metadata, StateSchema, PAGE_SIZE};

pub const PAGE: usize = PAGE_SIZE as usize;

/// A state type with a bit of everything serde can express.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestState {
    pub name: String,
    pub counters: Vec<u64>,
    pub files: BTreeMap<u32, FileState>,
    pub parent: Option<Box<TestState>>,
    pub signed: i64,
    pub ratio: f64,
    pub blob: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FileState {
    Host { path: String, flags: i32 },
    Pipe { id: u64, buffered: Vec<u8> },
    Stdio(u8),
    Closed,
}

impl StateSchema for TestState {
    const VERSION: u32 = 7;
}

pub fn test_state() -> TestState {
    let mut files = BTreeMap::new();
    files.insert(
        0,
        FileState::Host {
            path: "/etc/passwd".into(),
            flags: 0o2000,
        },
    );
    files.insert(
        3,
        FileState::Pipe {
            id: 9,
            buffered: b"hello".to_vec(),
        },
    );
    files.insert(1, FileState::Stdio(1));
    files.insert(7, FileState::Closed);
    TestState {
        name: "init".into(),
        counters: (0..100).map(|i| i * 1_000_003).collect(),
        files,
        parent: Some(Box::new(TestState {
            name: "parent".into(),
            counters: vec![],
            files: BTreeMap::new(),
            parent: None,
            signed: -5,
            ratio: 0.5,
            blob: vec![],
        })),
        signed: i64::MIN,
        ratio: std::f64::consts::PI,
        blob: (0..=255).collect(),
    }
}

pub fn test_metadata() -> Metadata {
    let mut m = Metadata::for_this_host("runsc test", "ctr-test");
    m.cpu.vendor = "GenuineIntel".into();
    m.cpu.features = vec!["sse2".into(), "avx2".into()];
    m.cpu.xcr0 = 0x7;
    m.memory.total_bytes = 1 << 30;
    m
}

/// A page whose bytes are a function of `seed` and never all zero.
pub fn page(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(PAGE);
    while v.len() < PAGE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

/// Builds memory of `pages` pages where `nonzero(i)` says which are non-zero.
pub fn memory(pages: usize, nonzero: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut m = vec![0u8; pages * PAGE];
    for i in 0..pages {
        if nonzero(i) {
            m[i * PAGE..(i + 1) * PAGE].copy_from_slice(&page(i as u64 + 1));
        }
    }
    m
}

/// Names of the entries in a directory, sorted.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---- forging images: header field offsets (docs/statefile.md) ----

pub const H_MAJOR: usize = 8;
pub const H_MINOR: usize = 10;
pub const H_HEADER_LEN: usize = 12;
pub const H_FLAGS: usize = 16;
pub const H_FILE_LEN: usize = 24;
pub const H_METADATA_OFF: usize = 32;
pub const H_METADATA_LEN: usize = 40;
pub const H_STATE_OFF: usize = 48;
pub const H_STATE_LEN: usize = 56;
pub const H_STATE_SCHEMA: usize = 64;
pub const H_STATE_CRC: usize = 68;
pub const H_TABLE_OFF: usize = 72;
pub const H_SEGMENT_COUNT: usize = 80;
pub const H_METADATA_CRC: usize = 88;
pub const H_TABLE_CRC: usize = 92;
pub const H_PAGE_SIZE: usize = 96;
pub const H_CRC: usize = 124;

pub fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
pub fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Recomputes the header checksum after a header field was changed.
pub fn fix_header_crc(b: &mut [u8]) {
    let crc = crc32fast::hash(&b[..H_CRC]);
    put_u32(b, H_CRC, crc);
}

/// Recomputes the table checksum (and then the header's) after the table was changed.
pub fn fix_table_crc(b: &mut [u8]) {
    fix_table_crc_of(b, 32);
}

/// [`fix_table_crc`] for a table of `entry_len`-byte entries (40 in a compressed image).
pub fn fix_table_crc_of(b: &mut [u8], entry_len: usize) {
    let off = get_u64(b, H_TABLE_OFF) as usize;
    let n = get_u64(b, H_SEGMENT_COUNT) as usize;
    let crc = crc32fast::hash(&b[off..off + n * entry_len]);
    put_u32(b, H_TABLE_CRC, crc);
    fix_header_crc(b);
}

/// The byte offset of field `field` (0 memory offset, 8 file offset, 16 length,
/// 24 crc, 28 flags) of segment table entry `index`.
pub fn entry_field(b: &[u8], index: usize, field: usize) -> usize {
    get_u64(b, H_TABLE_OFF) as usize + index * 32 + field
}
