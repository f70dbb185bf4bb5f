//! Write and read back a 1 GiB image of random pages, against the raw
//! `write()` + `fsync` bandwidth of the same directory measured in the same run.
//!
//!     cargo bench -p statefile --bench write_read -- DIR
//!
//! Arguments starting with `-` (cargo passes `--bench`) are ignored. DIR
//! defaults to the system temporary directory. `STATEFILE_BENCH_MIB` changes
//! the size (default 1024), `STATEFILE_BENCH_ROUNDS` the number of rounds
//! (default 5; medians are reported). Page cache is dropped between phases
//! when running as root.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use statefile::{write_image, Image, Metadata, StateSchema, IMAGE_FILE_NAME, PAGE_SIZE};

#[derive(Serialize, Deserialize)]
struct BenchState {
    tasks: Vec<(u32, [u64; 16])>,
}

impl StateSchema for BenchState {
    const VERSION: u32 = 1;
}

fn main() {
    let dir: PathBuf = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let mib: usize = env_num("STATEFILE_BENCH_MIB", 1024);
    let rounds: usize = env_num("STATEFILE_BENCH_ROUNDS", 5).max(1);
    let len = mib << 20;
    std::fs::create_dir_all(&dir).expect("create DIR");

    eprintln!("generating {mib} MiB of random pages...");
    let memory = random_pages(len);
    let state = BenchState {
        tasks: (0..64).map(|i| (i, [u64::from(i); 16])).collect(),
    };
    let meta = Metadata::for_this_host("statefile bench", "bench");
    let gb = len as f64 / 1e9;
    let raw_path = dir.join("raw-write.bin");
    let image_path = dir.join(IMAGE_FILE_NAME);
    let dropped = drop_caches();
    if !dropped {
        eprintln!("note: cannot drop the page cache (not root?): read figures are warm-cache");
    }

    let mut raw = Vec::new();
    let mut write = Vec::new();
    let mut read = Vec::new();
    let mut crc = Vec::new();
    let mut ratio = Vec::new();
    let mut crc_share = Vec::new();
    // Round 0 warms up (the first large write after start-up is much slower
    // on a VM whose free memory was handed back to the host) and is not counted.
    for round in 0..=rounds {
        // Raw reference: one write_all of the whole buffer, then fsync.
        drop_caches();
        let t = Instant::now();
        let mut f = File::create(&raw_path).expect("create raw file");
        f.write_all(&memory).expect("raw write");
        f.sync_all().expect("raw fsync");
        drop(f);
        let t_raw = t.elapsed();
        std::fs::remove_file(&raw_path).expect("remove raw file");

        // The image writer (includes its fsyncs, rename and directory fsync).
        drop_caches();
        let t = Instant::now();
        let stats = write_image(&dir, &meta, &state, [(0u64, &memory[..])]).expect("write_image");
        let t_write = t.elapsed();
        assert_eq!(stats.saved_bytes, len as u64, "random pages are non-zero");

        // Read back: open (validates), decode state, verify every segment.
        drop_caches();
        let t = Instant::now();
        let image = Image::open(&image_path).expect("open");
        let _: BenchState = image.state().expect("state");
        let v = image.verify_segments().expect("verify");
        let t_read = t.elapsed();
        assert_eq!(v.bytes, len as u64);
        drop(image);

        // crc32 alone over the same bytes (in memory).
        let t = Instant::now();
        let sum = crc32fast::hash(&memory);
        let t_crc = t.elapsed();
        std::hint::black_box(sum);

        eprintln!(
            "round {round}{}: raw {:.2} GB/s, write {:.2} GB/s ({:.0}% of raw), read+verify {:.2} GB/s, crc {:.1}% of write time",
            if round == 0 { " (warm-up)" } else { "" },
            gb / t_raw.as_secs_f64(),
            gb / t_write.as_secs_f64(),
            100.0 * t_raw.as_secs_f64() / t_write.as_secs_f64(),
            gb / t_read.as_secs_f64(),
            100.0 * t_crc.as_secs_f64() / t_write.as_secs_f64(),
        );
        if round == 0 {
            continue;
        }
        ratio.push(t_raw.as_secs_f64() / t_write.as_secs_f64());
        crc_share.push(t_crc.as_secs_f64() / t_write.as_secs_f64());
        raw.push(t_raw);
        write.push(t_write);
        read.push(t_read);
        crc.push(t_crc);
    }
    let _ = std::fs::remove_file(&image_path);

    let (raw, write, read, crc) = (median(raw), median(write), median(read), median(crc));
    let (ratio, crc_share) = (median_f(ratio), median_f(crc_share));
    println!(
        "statefile write_read: {mib} MiB of random pages in {}, median of {rounds} round(s){}",
        dir.display(),
        if dropped {
            ", page cache dropped between phases"
        } else {
            ", WARM page cache"
        }
    );
    println!("  raw write()+fsync    {:6.2} GB/s", gb / raw.as_secs_f64());
    println!(
        "  write_image          {:6.2} GB/s   {:5.1}% of raw   (target >= 80%)",
        gb / write.as_secs_f64(),
        100.0 * ratio
    );
    println!(
        "  open+verify          {:6.2} GB/s",
        gb / read.as_secs_f64()
    );
    println!(
        "  crc32 alone          {:6.2} GB/s   {:5.1}% of write time (target <= 10%)",
        gb / crc.as_secs_f64(),
        100.0 * crc_share
    );
    println!("  (percentages are medians of the per-round ratios; the writer checksums each");
    println!("   1 MiB chunk just before it writes it, while it is in the cache)");
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64 pages; every page's first word is forced non-zero.
fn random_pages(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for word in v.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        word.copy_from_slice(&x.to_le_bytes());
    }
    for page in v.chunks_exact_mut(PAGE_SIZE as usize) {
        page[0] |= 1;
    }
    v
}

/// Writes back dirty pages and drops the page cache; false if not allowed.
fn drop_caches() -> bool {
    sync_all_dirty();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn sync_all_dirty() {
    let _ = std::process::Command::new("sync").status();
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
