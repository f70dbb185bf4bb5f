//! `runsc resume ID`.

use super::Context;

/// Resume a paused container.
#[derive(clap::Args, Debug)]
pub struct Resume {
    pub id: String,
}

impl Resume {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        ctx.runtime().resume(&self.id)?;
        Ok(0)
    }
}
