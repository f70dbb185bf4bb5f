//! Benchmark program (not a timed test): loopback TCP between two processes of one
//! sandbox, in this sandbox and in Debian's gVisor `runsc --network=none
//! --platform=ptrace`, measured in the same run, alternating, with medians: bulk
//! throughput (MB/s of 1 GiB in 64 KiB writes) and connection rate (connect + accept +
//! close per second).
//!
//!     cargo bench -p tests --bench inet_vs_gvisor [-- ROUNDS]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "shared/figures.rs"]
mod figures;

use figures::{guest_figure, median};

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
    let host_cmd: [&str; 2] = ["/usr/bin/env", "--"];
    let prog = common::guest("bench_inet");
    let cases = [
        ("loopback TCP bulk, 1 GiB (MB/s)", ["bulk", "1024"], "MB/s"),
        (
            "loopback TCP connect+accept+close, 2000 (per second)",
            ["conn", "2000"],
            "/s",
        ),
    ];
    for (name, args, unit) in cases {
        let (mut host, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            host.extend(guest_figure(&host_cmd, &prog, &args));
            a.extend(guest_figure(&ours_cmd, &prog, &args));
            if have_gvisor {
                b.extend(guest_figure(&gv_cmd, &prog, &args));
            }
        }
        println!("{name}");
        if !host.is_empty() {
            println!("  host (no sandbox)   {:>10.0} {unit}", median(host));
        }
        if !a.is_empty() {
            println!(
                "  this runsc          {:>10.0} {unit}  (median of {})",
                median(a.clone()),
                a.len()
            );
        }
        if b.is_empty() {
            println!("  gVisor runsc        not measured ({gvisor} missing or failing)");
        } else {
            println!(
                "  gVisor runsc ptrace {:>10.0} {unit}  (median of {})",
                median(b.clone()),
                b.len()
            );
            if !a.is_empty() {
                println!(
                    "  ratio this/gVisor   {:>10.2}  (above 1 is faster)",
                    median(a) / median(b)
                );
            }
        }
    }
}
