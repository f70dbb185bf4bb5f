//! `runsc checkpoint [--image-path P] [--leave-running] … ID`: writes the sandbox to
//! `P/checkpoint.img` (and `P/inventory.img`, a JSON marker Podman looks for); P defaults to
//! `./checkpoint`, as runc. Without `--leave-running` the container is then stopped. Every
//! flag runc's checkpoint takes is accepted; the CRIU-only ones are ignored (the sentry
//! checkpoints by itself). The checkpoint's statistics go, as CRIU's `stats-dump`, to the
//! work directory (`--work-path`, else P), and with `--print-stats` to stdout.

use std::path::PathBuf;

use anyhow::Context as _;

use super::Context;

/// The flags `checkpoint` and `restore` share (runc's set).
#[derive(clap::Args, Debug, Clone)]
pub struct ImageArgs {
    /// Directory of the checkpoint image.
    #[arg(long, value_name = "DIR")]
    pub image_path: Option<PathBuf>,
    /// Directory for logs and work files: `checkpoint` writes CRIU's `stats-dump` there.
    #[arg(long, value_name = "DIR")]
    pub work_path: Option<PathBuf>,
    /// CRIU only (accepted and ignored).
    #[arg(long, value_name = "DIR")]
    pub parent_path: Option<PathBuf>,
    /// CRIU only (accepted and ignored).
    #[arg(long)]
    pub tcp_established: bool,
    /// CRIU only (accepted and ignored).
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// CRIU only (accepted and ignored).
    #[arg(long)]
    pub shell_job: bool,
    /// CRIU only (accepted and ignored).
    #[arg(long)]
    pub file_locks: bool,
    /// CRIU only (accepted and ignored).
    #[arg(long, value_name = "MODE")]
    pub manage_cgroups_mode: Option<String>,
    /// CRIU only (accepted and ignored).
    #[arg(long, value_name = "NS")]
    pub empty_ns: Vec<String>,
    /// CRIU only (accepted and ignored).
    #[arg(long)]
    pub lazy_pages: bool,
    /// CRIU only (accepted and ignored).
    #[arg(long, value_name = "FD")]
    pub status_fd: Option<i32>,
    /// CRIU only (accepted and ignored).
    #[arg(long, value_name = "ADDRESS")]
    pub page_server: Option<String>,
    /// CRIU only (accepted and ignored).
    #[arg(long)]
    pub auto_dedup: bool,
}

/// Checkpoint a running (or paused) container.
#[derive(clap::Args, Debug)]
pub struct Checkpoint {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Keep the container running after the checkpoint.
    #[arg(long)]
    pub leave_running: bool,
    /// Print the checkpoint's statistics (times, pages) to stdout. They are also written,
    /// as CRIU's `stats-dump`, into the work directory (the image directory without
    /// `--work-path`), where Podman reads them.
    #[arg(long)]
    pub print_stats: bool,
    /// Most bytes of data a file deleted while open may bring into the image (CRIU's
    /// flag; a suffix K, M or G multiplies by 1024s).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1M")]
    pub ghost_limit: u64,
    /// How the image stores the kernel state and memory: `none` (segments page-aligned) or
    /// `zstd` (each segment and the state compressed; gVisor's flag name).
    #[arg(long, value_name = "none|zstd", value_parser = parse_compression, default_value = "none")]
    pub compression: statefile::Compression,
    /// A CRIU memory pre-dump (accepted: the sentry's checkpoint is always whole, so this
    /// writes nothing).
    #[arg(long)]
    pub pre_dump: bool,
    pub id: String,
}

impl Checkpoint {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        if self.pre_dump {
            log::info!("checkpoint --pre-dump of {}: nothing to do", self.id);
            return Ok(0);
        }
        let dir = self.image.image_dir();
        let stats = ctx
            .runtime()
            .checkpoint(
                &self.id,
                &dir,
                &boot::container::CheckpointOptions {
                    leave_running: self.leave_running,
                    ghost_limit: self.ghost_limit,
                    compression: self.compression,
                },
            )
            .with_context(|| format!("checkpoint of container {}", self.id))?;
        // The image is written (and the container stopped without --leave-running): a
        // statistics file that cannot be written is not worth failing that for.
        let work = self.image.work_path.as_deref().unwrap_or(&dir);
        if let Err(e) =
            std::fs::create_dir_all(work).and_then(|_| boot::stats_dump::write(work, &stats))
        {
            log::warn!(
                "checkpoint of {}: cannot write {}: {e}",
                self.id,
                work.join(boot::stats_dump::STATS_DUMP).display()
            );
        }
        if self.print_stats {
            print!("{}", boot::stats_dump::human(&stats));
        }
        Ok(0)
    }
}

/// A size in bytes, with an optional K, M or G suffix (powers of 1024), as CRIU's
/// `--ghost-limit` takes it.
fn parse_compression(s: &str) -> Result<statefile::Compression, String> {
    statefile::Compression::from_name(s)
        .ok_or_else(|| format!("{s:?} is not a compression (none or zstd)"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, shift) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 20),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (a number, optionally with K, M or G)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("3k"), Ok(3 << 10));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
