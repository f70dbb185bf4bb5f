//! `runsc kill [--all | --pid PID] ID [SIGNAL]`: SIGNAL is a number or a name, with or
//! without SIG.

use anyhow::Context as _;

use super::Context;

/// Send a signal to the container's init (or every process with --all).
#[derive(clap::Args, Debug)]
pub struct Kill {
    /// Signal every process of the container.
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Signal this guest process (its pid inside the sandbox) instead of the init, as
    /// gVisor's runsc does.
    #[arg(long, value_name = "PID", conflicts_with = "all")]
    pub pid: Option<i32>,
    pub id: String,
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

impl Kill {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        let signo = boot::signal::parse(&self.signal)?;
        match self.pid {
            Some(pid) => ctx
                .runtime()
                .kill_process(&self.id, pid, signo)
                .with_context(|| format!("kill of container {}", self.id))?,
            None => ctx.runtime().kill(&self.id, signo, self.all)?,
        }
        Ok(0)
    }
}
