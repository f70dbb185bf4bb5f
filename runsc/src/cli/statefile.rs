//! `runsc statefile inspect PATH`: what a checkpoint image holds and where its bytes go.

use std::path::PathBuf;

use super::Context;

/// Look into checkpoint images.
#[derive(clap::Args, Debug)]
pub struct Statefile {
    #[command(subcommand)]
    pub command: StatefileCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum StatefileCommand {
    /// Print an image's sections, kernel objects and memory bytes by guest mapping.
    Inspect(Inspect),
}

#[derive(clap::Args, Debug)]
pub struct Inspect {
    /// Also check every memory segment's crc32.
    #[arg(long)]
    pub verify: bool,
    /// A checkpoint.img, or the --image-path directory holding one.
    pub path: PathBuf,
}

impl Statefile {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<i32> {
        match self.command {
            StatefileCommand::Inspect(i) => {
                let report = boot::inspect::inspect(&i.path, i.verify)?;
                print!("{report}");
                Ok(0)
            }
        }
    }
}
