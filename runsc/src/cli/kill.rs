//! `runsc kill [--all] ID [SIGNAL]`: SIGNAL is a number or a name, with or without SIG.

use super::Context;

/// Send a signal to the container's init (or every process with --all).
#[derive(clap::Args, Debug)]
pub struct Kill {
    /// Signal every process of the container.
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Accepted for compatibility (runsc has no per-process pid selection here).
    #[arg(long, hide = true)]
    pub pid: Option<i32>,
    pub id: String,
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

impl Kill {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        let signo = boot::signal::parse(&self.signal)?;
        ctx.runtime().kill(&self.id, signo, self.all)?;
        Ok(0)
    }
}
