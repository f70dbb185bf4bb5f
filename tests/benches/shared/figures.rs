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
