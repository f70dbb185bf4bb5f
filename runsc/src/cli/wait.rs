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
        let rt = ctx.runtime();
        let status = rt.wait(&self.id)?;
        // A sandbox that ended with an error (a restored one whose image had a bad segment
        // found after the guest started) says why, on stderr (the log, when there is one,
        // has it too): stdout keeps the status alone.
        if let Some(err) = rt.final_exit_record(&self.id).and_then(|r| r.error) {
            log::error!("container {}: {err:#}", self.id);
            eprintln!("runsc: container {}: {err:#}", self.id);
        }
        println!(
            "{}",
            serde_json::json!({ "id": self.id, "exitStatus": status })
        );
        Ok(0)
    }
}
