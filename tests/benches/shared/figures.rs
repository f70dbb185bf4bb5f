//! What the benchmarks against gVisor share: running a guest program that prints one
//! figure, and the median of the rounds.

use std::process::Command;
use std::time::Duration;

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs a guest benchmark under `runtime` and parses the one number it prints.
pub fn guest_figure(runtime: &[&str], prog: &std::path::Path, args: &[&str]) -> Option<f64> {
    let mut cmd = Command::new(runtime[0]);
    cmd.args(&runtime[1..]).arg(prog).args(args);
    let out = super::common::run_limited(cmd, Duration::from_secs(300));
    let s = String::from_utf8_lossy(&out.stdout);
    let v = s.trim().parse().ok();
    if v.is_none() {
        eprintln!(
            "{runtime:?} {prog:?}: no figure (status {:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    v
}

/// Prints one case: the host's figure if measured, ours and gVisor's medians, and their
/// ratio (`higher_is_faster`: whether a larger figure is the faster one).
pub fn report(
    name: &str,
    unit: &str,
    host: Option<f64>,
    ours: Vec<f64>,
    gvisor: Vec<f64>,
    higher_is_faster: bool,
) {
    println!("{name}");
    if let Some(h) = host {
        println!("  host (no sandbox)   {h:>10.0} {unit}");
    }
    if !ours.is_empty() {
        println!(
            "  this runsc          {:>10.0} {unit}  (median of {})",
            median(ours.clone()),
            ours.len()
        );
    }
    if gvisor.is_empty() {
        println!("  gVisor runsc        not measured (/usr/bin/runsc missing or failing)");
        return;
    }
    println!(
        "  gVisor runsc ptrace {:>10.0} {unit}  (median of {})",
        median(gvisor.clone()),
        gvisor.len()
    );
    if !ours.is_empty() {
        let faster = if higher_is_faster { "above" } else { "below" };
        println!(
            "  ratio this/gVisor   {:>10.2}  ({faster} 1 is faster)",
            median(ours) / median(gvisor)
        );
    }
}
