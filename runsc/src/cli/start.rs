//! `runsc start ID`.

use super::Context;

/// Start a created container.
#[derive(clap::Args, Debug)]
pub struct Start {
    pub id: String,
}

impl Start {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        ctx.runtime().start(&self.id)?;
        Ok(0)
    }
}
