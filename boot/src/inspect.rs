//! `runsc statefile inspect`: what a checkpoint image holds and where its bytes go — the
//! sections of the file, the kernel objects in its state, and the image's memory bytes
//! attributed to the guest mappings that use them (a page several address spaces share, as
//! after fork, is counted once in the total and under each mapping that uses it).
//!
//! It reads an image as restore does: the whole file is validated first (header, metadata,
//! checksums of the state and the segment table, every offset), the state is decoded and
//! validated, and segment data is checked against its crc32 only with `--verify`. Nothing
//! is written anywhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sentry::state::KernelState;

/// Why an image cannot be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("reading {path}")]
    Image {
        path: PathBuf,
        #[source]
        source: statefile::Error,
    },
    #[error("{path}: the kernel state is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// The image's memory bytes that fall in one guest mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingBytes {
    pub start: u64,
    pub end: u64,
    pub prot: i32,
    pub shared: bool,
    pub name: String,
    /// Image bytes (non-zero pages saved) inside this mapping.
    pub bytes: u64,
}

/// One address space: the processes that use it and its mappings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceReport {
    pub id: u64,
    /// `pid comm` of each thread group whose tasks use it.
    pub users: Vec<String>,
    pub mappings: Vec<MappingBytes>,
}

/// What `inspect` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub path: PathBuf,
    pub file_len: u64,
    pub format: (u16, u16),
    pub schema: u32,
    pub runtime_version: String,
    pub container_id: String,
    /// How the state and segments are stored (`none`, `zstd`).
    pub compression: &'static str,
    /// The kernel state's length, and what it takes in the file (less, when compressed).
    pub state_len: u64,
    pub state_stored: u64,
    pub segments: u64,
    /// Guest memory in the segments, and what they take in the file.
    pub segment_bytes: u64,
    pub segment_stored: u64,
    /// Segment bytes that no mapping uses (the memory file's free pages are not saved, so
    /// this is normally 0).
    pub unmapped_bytes: u64,
    pub verified: Option<u64>,
    pub counts: Vec<(&'static str, usize)>,
    pub spaces: Vec<SpaceReport>,
}

/// Reads the image at `path` (a `checkpoint.img`, or the directory holding one).
pub fn inspect(path: &Path, verify: bool) -> Result<Report, InspectError> {
    let path = if path.is_dir() {
        path.join(statefile::IMAGE_FILE_NAME)
    } else {
        path.to_path_buf()
    };
    let image_err = |source| InspectError::Image {
        path: path.clone(),
        source,
    };
    let img = statefile::Image::open(&path).map_err(image_err)?;
    let st: KernelState = img.state().map_err(image_err)?;
    sentry::state::validate(&st).map_err(|e| InspectError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let verified = if verify {
        Some(img.verify_segments().map_err(image_err)?.bytes)
    } else {
        None
    };
    // Saved ranges of the memory file, in order: (start, end).
    let mut saved: Vec<(u64, u64)> = img
        .segment_infos()
        .map(|s| (s.memory_offset, s.memory_offset.saturating_add(s.len)))
        .collect();
    saved.sort_unstable();
    let segment_bytes: u64 = saved.iter().map(|(a, b)| b - a).sum();
    let in_range = |a: u64, b: u64| -> u64 {
        let first = saved.partition_point(|&(_, e)| e <= a);
        saved[first..]
            .iter()
            .take_while(|&&(s, _)| s < b)
            .map(|&(s, e)| e.min(b).saturating_sub(s.max(a)))
            .sum()
    };

    let mut users: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for tg in &st.thread_groups {
        let Some(task) = st.tasks.iter().find(|t| t.tgid == tg.pid) else {
            continue;
        };
        users
            .entry(task.mm)
            .or_default()
            .push(format!("{} {}", tg.pid, task.comm));
    }
    let mut used: Vec<(u64, u64)> = Vec::new();
    let spaces = st
        .mms
        .iter()
        .map(|mm| SpaceReport {
            id: mm.id,
            users: users.remove(&mm.id).unwrap_or_default(),
            mappings: mm
                .vmas
                .iter()
                .map(|v| {
                    let len = v.end - v.start;
                    used.push((v.off, v.off.saturating_add(len)));
                    MappingBytes {
                        start: v.start,
                        end: v.end,
                        prot: v.prot,
                        shared: v.shared,
                        name: v.name.clone(),
                        bytes: in_range(v.off, v.off.saturating_add(len)),
                    }
                })
                .collect(),
        })
        .collect();
    used.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in used {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let mapped: u64 = merged.iter().map(|&(a, b)| in_range(a, b)).sum();
    let counts = vec![
        ("processes", st.thread_groups.len()),
        ("threads", st.tasks.len()),
        ("address spaces", st.mms.len()),
        ("open files", st.files.len()),
        ("fd tables", st.fd_tables.len()),
        ("shared objects (pipes…)", st.shared.len()),
        ("mounts", st.mounts.len()),
    ];
    Ok(Report {
        file_len: img.file_len(),
        format: img.format_version(),
        schema: img.state_schema_version(),
        runtime_version: img.metadata().runtime_version.clone(),
        container_id: img.metadata().container_id.clone(),
        compression: img.compression().name(),
        state_len: img.state_bytes().map_err(image_err)?.len() as u64,
        state_stored: img.state_stored_len(),
        segments: img.segment_count(),
        segment_bytes,
        segment_stored: img.segment_infos().map(|s| s.stored_len).sum(),
        unmapped_bytes: segment_bytes.saturating_sub(mapped),
        verified,
        counts,
        spaces,
        path,
    })
}

/// `n` bytes as a person reads them.
fn size(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f >= K * K * K {
        format!("{:.1} GiB", f / (K * K * K))
    } else if f >= K * K {
        format!("{:.1} MiB", f / (K * K))
    } else if f >= K {
        format!("{:.1} KiB", f / K)
    } else {
        format!("{n} B")
    }
}

fn prot(p: i32, shared: bool) -> String {
    let bit = |b: i32, c: char| if p & b != 0 { c } else { '-' };
    format!(
        "{}{}{}{}",
        bit(libc::PROT_READ, 'r'),
        bit(libc::PROT_WRITE, 'w'),
        bit(libc::PROT_EXEC, 'x'),
        if shared { 's' } else { 'p' }
    )
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "image     {} ({})",
            self.path.display(),
            size(self.file_len)
        );
        let _ = writeln!(
            s,
            "written   by {} for container {}; format {}.{}, state schema {}, compression {}",
            self.runtime_version,
            self.container_id,
            self.format.0,
            self.format.1,
            self.schema,
            self.compression
        );
        let other = self
            .file_len
            .saturating_sub(self.state_stored)
            .saturating_sub(self.segment_stored);
        let stored = |len: u64, stored: u64| {
            if len == stored {
                String::new()
            } else {
                format!(" ({} stored)", size(stored))
            }
        };
        let _ = writeln!(
            s,
            "sections  memory {} in {} segments{}, kernel state {}{}, header/metadata/table/padding {}",
            size(self.segment_bytes),
            self.segments,
            stored(self.segment_bytes, self.segment_stored),
            size(self.state_len),
            stored(self.state_len, self.state_stored),
            size(other)
        );
        if let Some(v) = self.verified {
            let _ = writeln!(s, "verified  every segment's crc32 ({})", size(v));
        }
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        let _ = writeln!(s, "state     {}", counts.join(", "));
        let _ = writeln!(s, "memory by mapping (image bytes of each mapping):");
        for sp in &self.spaces {
            let who = if sp.users.is_empty() {
                "no process".to_string()
            } else {
                sp.users.join(", ")
            };
            let total: u64 = sp.mappings.iter().map(|m| m.bytes).sum();
            let _ = writeln!(s, "  address space {} ({who}): {}", sp.id, size(total));
            let mut maps: Vec<&MappingBytes> = sp.mappings.iter().filter(|m| m.bytes > 0).collect();
            maps.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.start.cmp(&b.start)));
            for m in maps {
                let name = if m.name.is_empty() { "[anon]" } else { &m.name };
                let _ = writeln!(
                    s,
                    "    {:>10}  {:#014x}-{:#014x} {} {name}",
                    size(m.bytes),
                    m.start,
                    m.end,
                    prot(m.prot, m.shared)
                );
            }
        }
        if self.unmapped_bytes > 0 {
            let _ = writeln!(s, "  in no mapping: {}", size(self.unmapped_bytes));
        }
        f.write_str(&s)
    }
}
