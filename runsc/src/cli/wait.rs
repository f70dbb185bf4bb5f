//! `runsc wait ID`: waits for the container's init to exit and prints
//! `{"id":ID,"exitStatus":N}`.

use super::Context;

/// Wait for a container to exit and print its exit status as JSON.
#[derive(clap::Args, Debug)]
pub struct Wait {
    pub id: String,
}

impl Wait {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        let status = ctx.runtime().wait(&self.id)?;
        println!(
            "{}",
            serde_json::json!({ "id": self.id, "exitStatus": status })
        );
        Ok(0)
    }
}
