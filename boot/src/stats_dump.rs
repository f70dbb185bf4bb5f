//! A checkpoint's statistics as CRIU writes them: the `stats-dump` file of the work
//! directory, which Podman reads for `podman container checkpoint --print-stats` (through
//! go-criu's `stats.CriuGetDumpStats`), and the same figures as a person reads them, for
//! `runsc checkpoint --print-stats`.
//!
//! The file is a CRIU image of one protobuf message: the service-image magic
//! (`IMG_SERVICE_MAGIC`), the stats magic (`STATS_MAGIC`), the message's length (all
//! three little-endian u32), then a `stats_entry` (CRIU's `images/stats.proto`) whose
//! `dump` field holds a `dump_stats_entry`. Every field proto2 marks `required` is
//! written (a reader refuses a message without them); the ones with no equivalent here
//! (pages skipped thanks to a parent image, lazy pages) are 0, as CRIU writes them
//! without pre-dumps or lazy pages.

use std::path::Path;

use sentry::control::CheckpointStats;

/// The file's name in the work directory, as CRIU and Podman name it.
pub const STATS_DUMP: &str = "stats-dump";

const IMG_SERVICE_MAGIC: u32 = 0x5510_5940;
const STATS_MAGIC: u32 = 0x5709_3306;

/// Appends `v` as a protobuf base-128 varint.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends field `field` (wire type 0, varint) holding `v`.
fn field(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(out, field << 3);
    varint(out, v);
}

/// The contents of `stats-dump` for `s`. Times are `uint32` microseconds in CRIU's
/// message: a time above about 71 minutes is written as `u32::MAX`.
pub fn encode(s: &CheckpointStats) -> Vec<u8> {
    let us = |t: u64| t.min(u32::MAX as u64);
    let mut dump = Vec::new();
    field(&mut dump, 1, us(s.freezing_us));
    field(&mut dump, 2, us(s.frozen_us));
    field(&mut dump, 3, us(s.memdump_us));
    field(&mut dump, 4, us(s.memwrite_us));
    field(&mut dump, 5, s.pages_scanned);
    field(&mut dump, 6, 0); // pages_skipped_parent
    field(&mut dump, 7, s.pages_written);
    field(&mut dump, 9, 0); // pages_lazy
    let mut entry = Vec::new();
    varint(&mut entry, (1 << 3) | 2); // stats_entry.dump, length-delimited
    varint(&mut entry, dump.len() as u64);
    entry.extend_from_slice(&dump);
    let mut out = Vec::with_capacity(12 + entry.len());
    out.extend_from_slice(&IMG_SERVICE_MAGIC.to_le_bytes());
    out.extend_from_slice(&STATS_MAGIC.to_le_bytes());
    out.extend_from_slice(&(entry.len() as u32).to_le_bytes());
    out.extend_from_slice(&entry);
    out
}

/// Writes `dir/stats-dump` for `s`.
pub fn write(dir: &Path, s: &CheckpointStats) -> std::io::Result<()> {
    std::fs::write(dir.join(STATS_DUMP), encode(s))
}

/// The figures as a person reads them.
pub fn human(s: &CheckpointStats) -> String {
    let ms = |us: u64| format!("{:.3} ms", us as f64 / 1000.0);
    let mib = |pages: u64| format!("{:.1} MiB", (pages * 4096) as f64 / (1 << 20) as f64);
    format!(
        "Checkpoint statistics:\n\
         \x20 freezing time      {}  (stopping every guest thread)\n\
         \x20 frozen time        {}  (the guest stopped, until its state was captured)\n\
         \x20 memory dump time   {}  (capturing the kernel's state and memory)\n\
         \x20 memory write time  {}  (writing and syncing the image file)\n\
         \x20 pages scanned      {} ({} of guest memory)\n\
         \x20 pages written      {} ({}; the others are zero)\n",
        ms(s.freezing_us),
        ms(s.frozen_us),
        ms(s.memdump_us),
        ms(s.memwrite_us),
        s.pages_scanned,
        mib(s.pages_scanned),
        s.pages_written,
        mib(s.pages_written),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_crius_stats_image() {
        let s = CheckpointStats {
            freezing_us: 1,
            frozen_us: 300,
            memdump_us: 2,
            memwrite_us: 5_000_000_000,
            pages_scanned: 128,
            pages_written: 3,
        };
        // By hand from stats.proto: tag (field << 3 | wire type), then the varint.
        let dump = [
            0x08, 1, // freezing_time
            0x10, 0xac, 0x02, // frozen_time 300
            0x18, 2, // memdump_time
            0x20, 0xff, 0xff, 0xff, 0xff, 0x0f, // memwrite_time, capped at u32::MAX
            0x28, 0x80, 0x01, // pages_scanned 128
            0x30, 0, // pages_skipped_parent
            0x38, 3, // pages_written
            0x48, 0, // pages_lazy
        ];
        let mut want = vec![0x40, 0x59, 0x10, 0x55, 0x06, 0x33, 0x09, 0x57];
        want.extend_from_slice(&(dump.len() as u32 + 2).to_le_bytes());
        want.extend_from_slice(&[0x0a, dump.len() as u8]);
        want.extend_from_slice(&dump);
        assert_eq!(encode(&s), want);
    }

    #[test]
    fn a_person_reads_milliseconds_and_sizes() {
        let s = CheckpointStats {
            freezing_us: 1500,
            frozen_us: 42_000,
            memdump_us: 300,
            memwrite_us: 40_000,
            pages_scanned: 1024,
            pages_written: 256,
        };
        let text = human(&s);
        assert!(text.contains("freezing time      1.500 ms"), "{text}");
        assert!(text.contains("frozen time        42.000 ms"), "{text}");
        assert!(
            text.contains("pages scanned      1024 (4.0 MiB of guest memory)"),
            "{text}"
        );
        assert!(
            text.contains("pages written      256 (1.0 MiB; the others are zero)"),
            "{text}"
        );
    }
}
