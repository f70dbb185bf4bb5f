//! `runsc state ID`: the container's OCI state as JSON.

use super::Context;

/// Output the state of a container.
#[derive(clap::Args, Debug)]
pub struct State {
    pub id: String,
}

impl State {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        let state = ctx.store().load(&self.id)?.oci_state();
        println!(
            "{}",
            serde_json::to_string_pretty(&state).expect("state serialises")
        );
        Ok(0)
    }
}
