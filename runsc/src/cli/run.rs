//! `runsc run [--detach] --bundle B ID`: create and start; without `--detach`, wait for
//! the container, delete it, and exit with its status.

use super::create::CreateArgs;
use super::Context;

/// Create and start a container, and wait for it unless --detach.
#[derive(clap::Args, Debug)]
pub struct Run {
    #[command(flatten)]
    pub opts: CreateArgs,
    /// Return once the container runs.
    #[arg(long, short = 'd')]
    pub detach: bool,
    pub id: String,
}

impl Run {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        let rt = ctx.runtime();
        let pid = rt.create(&self.opts.options(&self.id, !self.detach))?;
        if let Err(e) = rt.start(&self.id) {
            let _ = rt.delete(&self.id, true);
            return Err(e.into());
        }
        if self.detach {
            return Ok(0);
        }
        rt.forward_signals_to_init(&self.id)?;
        let status = rt.wait(&self.id);
        rt.reap(pid);
        if let Some(err) = rt.exit_record(&self.id).and_then(|r| r.error) {
            log::error!("container {}: {err}", self.id);
        }
        rt.delete(&self.id, true)?;
        Ok(status?)
    }
}
