//! `runsc boot` (hidden): the sandbox process that `create` starts. Not for users.

use std::path::PathBuf;

use super::Context;

/// The sandbox process (started by `create`).
#[derive(clap::Args, Debug)]
pub struct Boot {
    #[arg(long, value_name = "DIR")]
    pub bundle: PathBuf,
    #[arg(long)]
    pub no_seccomp: bool,
    pub id: String,
}

impl Boot {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        if let Some(fd) = ctx.log_fd {
            boot::seccomp::set_log_fd(fd, ctx.global.log_format == crate::logging::LogFormat::Json);
        }
        let opts = boot::sandbox::BootOptions {
            state_dir: ctx.store().dir(&self.id),
            id: self.id,
            bundle: self.bundle,
            seccomp: !self.no_seccomp,
        };
        Ok(boot::sandbox::boot(&opts))
    }
}
