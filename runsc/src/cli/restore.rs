//! `runsc restore [checkpoint flags] [--detach] [--pid-file F] [--console-socket S]
//! --bundle B ID`: a container built from B/config.json as `create` builds it, whose sandbox
//! rebuilds the guest from the checkpoint image (`--image-path`, by default `./checkpoint`
//! as runc) instead of starting process.args. With `--detach` it returns once the restored
//! guest runs; otherwise it waits like `run` and exits with the restored init's status.

use std::path::PathBuf;

use anyhow::Context as _;

use super::checkpoint::ImageArgs;
use super::create::CreateArgs;
use super::Context;

/// Restore a container from a checkpoint image.
#[derive(clap::Args, Debug)]
pub struct Restore {
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the restored container runs.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Tolerate bad segments (gVisor's flag): a segment of the image found bad after the
    /// guest started only poisons its memory (a guest touching it gets SIGBUS). Without
    /// it, such a segment ends the sandbox with an error naming it. Either way the guest
    /// runs at once, its memory checked at first touch and in the background, each
    /// segment before use.
    #[arg(long)]
    pub background: bool,
    /// Accepted for compatibility (the shim sends -no-subreaper).
    #[arg(long)]
    pub no_subreaper: bool,
    /// Accepted for compatibility.
    #[arg(long, value_name = "LABEL")]
    pub lsm_mount_context: Option<String>,
    /// Accepted for compatibility.
    #[arg(long, value_name = "PROFILE")]
    pub lsm_profile: Option<String>,
    pub id: String,
}

impl Restore {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        let image = self.image.image_dir();
        let rt = ctx.runtime();
        let opts = self.create.options(&self.id, !self.detach);
        let pid = rt
            .restore(&opts, &image, self.background)
            .with_context(|| format!("restore of container {}", self.id))?;
        if self.detach {
            return Ok(0);
        }
        super::run::wait_in_foreground(&rt, &self.id, pid, Some(&image))
    }
}

impl ImageArgs {
    /// `--image-path`, or `checkpoint` in the current directory (runc's default).
    pub fn image_dir(&self) -> PathBuf {
        self.image_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("checkpoint"))
    }
}
