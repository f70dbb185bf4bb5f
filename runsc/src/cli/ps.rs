//! `runsc ps [--format table|json] ID`: the host processes of the container's sandbox
//! (Docker's `top` runs host `ps` on the pids of `--format json`).

use super::list::table;
use super::Context;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PsFormat {
    Table,
    Json,
}

/// List the host processes of a container's sandbox.
#[derive(clap::Args, Debug)]
pub struct Ps {
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: PsFormat,
    pub id: String,
    /// Options for ps (accepted; the table is runsc's own).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

impl Ps {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        let pids = ctx.runtime().host_pids(&self.id)?;
        match self.format {
            PsFormat::Json => println!("{}", serde_json::to_string(&pids).expect("pids serialise")),
            PsFormat::Table => {
                let mut rows = vec![["PID".to_string(), "CMD".to_string()]];
                for pid in pids {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|c| {
                            String::from_utf8_lossy(&c)
                                .replace('\0', " ")
                                .trim_end()
                                .to_string()
                        })
                        .unwrap_or_default();
                    rows.push([pid.to_string(), cmd]);
                }
                print!("{}", table(&rows));
            }
        }
        Ok(0)
    }
}
