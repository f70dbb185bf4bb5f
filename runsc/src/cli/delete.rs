//! `runsc delete [--force] ID`.

use super::Context;

/// Delete a stopped or created container (any container with --force).
#[derive(clap::Args, Debug)]
pub struct Delete {
    /// Kill the container first if it still runs.
    #[arg(long, short = 'f')]
    pub force: bool,
    pub id: String,
}

impl Delete {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        ctx.runtime().delete(&self.id, self.force)?;
        Ok(0)
    }
}
