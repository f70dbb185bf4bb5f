//! Benchmark program (not a timed test): wall time of `runsc run` of a busybox bundle
//! (`sh -c 'echo hi'`), this runtime against Debian's gVisor
//! `runsc --network=none --platform=ptrace run`, alternating in the same run, medians.
//!
//!     cargo bench -p tests --bench run_vs_gvisor [-- ROUNDS]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs `cmd`, returns its wall time in ms if it printed "hi" and exited 0.
fn time_run(mut cmd: Command) -> Option<f64> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().ok()?;
    loop {
        if child.try_wait().ok()?.is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("timed out: {cmd:?}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() || String::from_utf8_lossy(&out.stdout) != "hi\n" {
        eprintln!(
            "{cmd:?}: status {:?}, stdout {:?}, stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(ms)
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(7);
    let rt = tests::Runtime::new();
    let bundle = rt.busybox_bundle("bench", &["sh", "-c", "echo hi"]);
    let gv_root = rt.dir.path().join("gvisor-state");
    let gvisor = "/usr/bin/runsc";
    let have_gvisor = std::path::Path::new(gvisor).exists();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..rounds {
        let mut c = rt.cmd(&["run", "--bundle"]);
        c.arg(&bundle).arg(format!("ours-{i}"));
        if let Some(ms) = time_run(c) {
            ours.push(ms);
        }
        if have_gvisor {
            let mut c = Command::new(gvisor);
            c.arg("--root").arg(&gv_root).args([
                "--network=none",
                "--platform=ptrace",
                "run",
                "--bundle",
            ]);
            c.arg(&bundle).arg(format!("gvisor-{i}"));
            if let Some(ms) = time_run(c) {
                theirs.push(ms);
            }
        }
    }
    println!("runsc run of a busybox bundle (sh -c 'echo hi'), wall time");
    if ours.is_empty() {
        println!("  this runsc          failed");
    } else {
        println!(
            "  this runsc          {:>8.1} ms  (median of {})",
            median(ours.clone()),
            ours.len()
        );
    }
    if theirs.is_empty() {
        println!("  gVisor runsc        not measured ({gvisor} missing or failing)");
    } else {
        println!(
            "  gVisor runsc ptrace {:>8.1} ms  (median of {})",
            median(theirs.clone()),
            theirs.len()
        );
        if !ours.is_empty() {
            println!(
                "  ratio this/gVisor   {:>8.2}  (below 1 is faster)",
                median(ours) / median(theirs)
            );
        }
    }
}
