//! `runsc list [--format table|json] [--quiet]`: the containers under `--root`.

use super::Context;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// List containers.
#[derive(clap::Args, Debug)]
pub struct List {
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Print only the container ids.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl List {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        let store = ctx.store();
        let states: Vec<boot::state::OciState> = store
            .ids()
            .iter()
            .filter_map(|id| store.load(id).ok())
            .map(|c| c.oci_state())
            .collect();
        if self.quiet {
            for s in &states {
                println!("{}", s.id);
            }
            return Ok(0);
        }
        match self.format {
            ListFormat::Json => {
                println!(
                    "{}",
                    serde_json::to_string(&states).expect("states serialise")
                )
            }
            ListFormat::Table => {
                let mut rows =
                    vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
                for s in &states {
                    rows.push([
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        s.owner.clone(),
                    ]);
                }
                print!("{}", table(&rows));
            }
        }
        Ok(0)
    }
}

/// Left-aligned columns separated by at least three spaces (like Go's tabwriter as runc
/// uses it).
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
