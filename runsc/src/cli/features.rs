//! `runsc features`: what this runtime supports, as JSON (runc's `features` format).

use super::Context;

/// Show the enabled features.
#[derive(clap::Args, Debug)]
pub struct Features {}

impl Features {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<i32> {
        let text = serde_json::to_string_pretty(&boot::defaults::features()).expect("serialises");
        println!("{text}");
        Ok(0)
    }
}
