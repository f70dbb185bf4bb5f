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
        let reported = ctx.runtime().host_pids(&self.id)?;
        let sandbox = ctx.store().load(&self.id)?.oci_state().pid;
        let pids = to_host_pids(sandbox, &reported);
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

/// The sandbox reports the pids of its process and its stubs as it sees them: in its own
/// pid namespace (`runsc create` always makes one), where the sandbox is pid 1. Callers need host pids (Docker `top` runs the host's `ps` on them),
/// so each is looked up among the sandbox's host descendants by the last field of their
/// `NSpid` (the pid in the innermost namespace); a pid no longer there is left out. Nothing
/// changes when the sandbox shares our pid namespace.
fn to_host_pids(sandbox: i32, reported: &[i32]) -> Vec<i32> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    if sandbox <= 0 || ns("self") == ns(&sandbox.to_string()) {
        return reported.to_vec();
    }
    // host pid -> pid in the sandbox's namespace, for the sandbox and its descendants.
    let mut map = Vec::new();
    let mut todo = vec![sandbox];
    while let Some(host) = todo.pop() {
        if map.len() > 100_000 {
            break;
        }
        let status = std::fs::read_to_string(format!("/proc/{host}/status")).unwrap_or_default();
        if let Some(inner) = status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|p| p.parse::<i32>().ok())
        {
            map.push((host, inner));
        }
        for task in std::fs::read_dir(format!("/proc/{host}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            todo.extend(
                children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    reported
        .iter()
        .filter_map(|p| {
            map.iter()
                .find(|(_, inner)| inner == p)
                .map(|(host, _)| *host)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::to_host_pids;

    #[test]
    fn pids_in_our_own_namespace_are_kept() {
        let me = std::process::id() as i32;
        assert_eq!(to_host_pids(me, &[me, 12345]), [me, 12345]);
    }

    #[test]
    fn pids_of_a_sandbox_in_a_new_pid_namespace_become_host_pids() {
        // `unshare --pid --fork` makes a child that is pid 1 of a new namespace; its own
        // child (sleep) is pid 2 there.
        let mut child = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "sh", "-c", "sleep 30 & wait"])
            .spawn()
            .expect("unshare");
        let unshare = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let (init, sleep) = loop {
            let kids = |p: i32| {
                std::fs::read_to_string(format!("/proc/{p}/task/{p}/children"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                    .collect::<Vec<_>>()
            };
            if let Some(&init) = kids(unshare).first() {
                if let Some(&sleep) = kids(init).first() {
                    break (init, sleep);
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no sleep in the namespace"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let got = to_host_pids(init, &[1, 2, 99]);
        let _ = std::process::Command::new("kill")
            .arg(sleep.to_string())
            .status();
        let _ = child.wait();
        assert_eq!(got, [init, sleep]);
    }
}
