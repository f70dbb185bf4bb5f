//! Arbitrary bytes through the checkpoint-image reader: open (all structural
//! validation), metadata, state decode into a representative type, segment
//! verification. Nothing may panic, hang or allocate without bound.
//!
//! cargo-fuzz builds with `--cfg fuzzing`, under which the reader ignores
//! checksum mismatches (it still computes them), so mutated inputs reach
//! the decoders and the segment table checks behind the checksums.
//!
//! Seeds: `fuzz/seeds/` holds the golden 1.0 image and the golden 1.1 (zstd) image,
//! whose states decode as `FuzzState` below (the same shape as the golden test's state
//! type). A compressed image's state and segments go through the decompressor, which must
//! refuse frames of another length than the image records.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use statefile::{Image, StateSchema, PAGE_SIZE};

#[derive(Debug, Serialize, Deserialize)]
struct FuzzState {
    hostname: String,
    tasks: Vec<Task>,
    fds: BTreeMap<i32, Fd>,
    monotonic_ns: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Task {
    tid: i32,
    regs: [u64; 4],
    parked: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Fd {
    Stdio(u8),
    Host { path: String, flags: i32 },
    Pipe { id: u64, read_end: bool },
}

impl StateSchema for FuzzState {
    const VERSION: u32 = 1;
}

fuzz_target!(|data: &[u8]| {
    // The codec alone, on raw bytes.
    let _ = statefile::codec::decode::<FuzzState>(data);

    let Ok(image) = Image::from_bytes(data.to_vec()) else {
        return;
    };
    let meta = image.metadata();
    let _ = meta.container_id.len();
    let _ = image.state::<FuzzState>();
    if let Ok(state) = image.state_bytes() {
        assert!(state.len() as u64 <= statefile::MAX_STATE_LEN);
    }
    let _ = image.verify_segments();
    let _ = image.load_segments(1, &|_, bytes| {
        assert_eq!(bytes.len() as u64 % PAGE_SIZE, 0);
    });
    let mut prev_end = 0u64;
    for segment in image.segments().flatten() {
        assert_eq!(segment.data.len() as u64 % PAGE_SIZE, 0);
        assert!(!segment.data.is_empty());
        assert!(segment.memory_offset >= prev_end);
        prev_end = segment.memory_offset + segment.data.len() as u64;
        assert!(segment.file_offset <= image.file_len());
    }
});
