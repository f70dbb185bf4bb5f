//! `runsc spec [--bundle DIR] [-- ARGS...]`: write a default config.json, as `runc spec`.

use std::path::PathBuf;

use anyhow::{bail, Context as _};

use super::Context;

/// Create a default config.json in the bundle directory.
#[derive(clap::Args, Debug)]
pub struct Spec {
    /// Bundle directory to write config.json to (default: the current directory).
    #[arg(long, short = 'b', value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Process arguments (default: sh, on a terminal).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

impl Spec {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<i32> {
        let dir = self.bundle.unwrap_or_else(|| ".".into());
        let path = dir.join("config.json");
        if path.exists() {
            bail!("file {} exists: remove it first", path.display());
        }
        let spec = boot::defaults::spec(&self.args);
        let text = serde_json::to_string_pretty(&spec).expect("spec serialises");
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(0)
    }
}
