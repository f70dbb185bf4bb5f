//! `runsc restore [checkpoint flags] [--detach] [--pid-file F] [--console-socket S]
//! --bundle B ID`: a container from a checkpoint image. Parsed in full; not implemented
//! yet.

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
    pub fn run(self, _ctx: &Context) -> anyhow::Result<i32> {
        anyhow::bail!(
            "restore is not implemented yet (container {}, image {})",
            self.id,
            self.image
                .image_path
                .as_deref()
                .unwrap_or(std::path::Path::new("checkpoint"))
                .display()
        )
    }
}
