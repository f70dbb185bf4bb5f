//! `runsc update [--resources FILE|-] [--memory N] [--pids-limit N] [--cpu-quota N]
//! [--cpu-period N] [--cpu-shares N] ID`: new cgroup limits for a container.

use std::io::Read;
use std::path::PathBuf;

use super::Context;

/// Update a container's resource limits.
#[derive(clap::Args, Debug)]
pub struct Update {
    /// A JSON file (or - for stdin) with runtime-spec linux.resources.
    #[arg(long, short = 'r', value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes.
    #[arg(long, short = 'm')]
    pub memory: Option<i64>,
    /// Maximum number of tasks.
    #[arg(long)]
    pub pids_limit: Option<i64>,
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    pub id: String,
}

impl Update {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        use boot::spec::{CpuResources, MemoryResources, PidsResources, Resources};
        let mut res: Resources = match &self.resources {
            Some(p) => {
                let mut bytes = Vec::new();
                if p.as_os_str() == "-" {
                    std::io::stdin().read_to_end(&mut bytes)?;
                } else {
                    bytes = std::fs::read(p)?;
                }
                boot::spec::parse(&bytes)?
            }
            None => Resources::default(),
        };
        if let Some(m) = self.memory {
            res.memory
                .get_or_insert_with(MemoryResources::default)
                .limit = Some(m);
        }
        if let Some(p) = self.pids_limit {
            res.pids = Some(PidsResources { limit: p });
        }
        let cpu = (self.cpu_quota, self.cpu_period, self.cpu_shares);
        if cpu != (None, None, None) {
            let c = res.cpu.get_or_insert_with(CpuResources::default);
            c.quota = self.cpu_quota.or(c.quota);
            c.period = self.cpu_period.or(c.period);
            c.shares = self.cpu_shares.or(c.shares);
        }
        ctx.runtime().update(&self.id, &res)?;
        Ok(0)
    }
}
