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
        wait_in_foreground(&rt, &self.id, pid, None)
    }
}

/// A container run in the foreground (`run`, `restore` without `--detach`): forwards
/// signals to its init, waits, reaps the sandbox process `pid`, deletes the container
/// and returns the init's exit status. `restored_from`: the image of a restore, whose
/// sandbox ending with an error (a bad segment found after the guest started) is a
/// failed restore.
pub(super) fn wait_in_foreground(
    rt: &boot::container::Runtime,
    id: &str,
    pid: i32,
    restored_from: Option<&std::path::Path>,
) -> anyhow::Result<i32> {
    rt.forward_signals_to_init(id)?;
    let status = rt.wait(id);
    rt.reap(pid);
    if let Some(image) = restored_from {
        if let Some(e) = rt.restore_failure(id, image) {
            rt.delete(id, true)?;
            return Err(anyhow::Error::new(e).context(format!("restore of container {id}")));
        }
    } else if let Some(err) = rt.exit_record(id).and_then(|r| r.error) {
        log::error!("container {id}: {err:#}");
    }
    rt.delete(id, true)?;
    Ok(status?)
}
