//! `runsc pause ID`.

use super::Context;

/// Pause every process of a running container.
#[derive(clap::Args, Debug)]
pub struct Pause {
    pub id: String,
}

impl Pause {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        ctx.runtime().pause(&self.id)?;
        Ok(0)
    }
}
