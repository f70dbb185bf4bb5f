//! Benchmark program (not a timed test): guest system-call cost and fork cost in this
//! sandbox and in Debian's gVisor `runsc --network=none --platform=ptrace`, measured in the
//! same run, alternating, with medians.
//!
//!     cargo bench -p tests --bench sentry_vs_gvisor [-- ROUNDS]

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "shared/figures.rs"]
mod figures;

use figures::{guest_figure, report};
use std::process::Command;

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let ours = tests::runsc_bin();
    let ours_s = ours.to_str().unwrap().to_string();
    let gvisor = "/usr/bin/runsc";
    let have_gvisor = std::path::Path::new(gvisor).exists();
    let ours_cmd = [ours_s.as_str(), "do", "--"];
    let gv_cmd = [gvisor, "--network=none", "--platform=ptrace", "do"];
    let getpid = common::guest("bench_getpid");
    let fork = common::guest("bench_fork");
    let native = |prog: &std::path::Path, arg: &str| {
        let out = Command::new(prog).arg(arg).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<f64>()
            .unwrap()
    };
    let cases: [(&str, &std::path::Path, &str, &str); 2] = [
        ("getpid (ns per call, static loop)", &getpid, "100000", "ns"),
        (
            "fork+exit+wait after touching 256 MiB (us per iteration)",
            &fork,
            "5",
            "us",
        ),
    ];
    for (name, prog, arg, unit) in cases {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for _ in 0..rounds {
            if let Some(x) = guest_figure(&ours_cmd, prog, &[arg]) {
                a.push(x);
            }
            if have_gvisor {
                if let Some(x) = guest_figure(&gv_cmd, prog, &[arg]) {
                    b.push(x);
                }
            }
        }
        report(name, unit, Some(native(prog, arg)), a, b, false);
    }
}
