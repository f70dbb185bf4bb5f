//! `runsc events [--stats] [--interval D] ID`: resource usage as JSON events, once with
//! `--stats`, otherwise every interval until the container stops.

use super::Context;

/// Display container events (resource usage).
#[derive(clap::Args, Debug)]
pub struct Events {
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Time between stats events (Go duration: 5s, 100ms, 1m).
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub interval: String,
    pub id: String,
}

impl Events {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        let interval = boot::time::parse_go_duration(&self.interval)?;
        let rt = ctx.runtime();
        loop {
            let stats = match rt.stats(&self.id) {
                Ok(s) => s,
                // Stopped while we were watching: the stream ends.
                Err(boot::container::ContainerError::NotRunning) if !self.stats => return Ok(0),
                Err(e) => return Err(e.into()),
            };
            let event = boot::defaults::stats_event(&self.id, &stats);
            println!("{event}");
            if self.stats {
                return Ok(0);
            }
            std::thread::sleep(interval);
        }
    }
}
