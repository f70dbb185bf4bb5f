//! Benchmark program (not a timed test): loopback TCP between two processes of one
//! sandbox, in this sandbox and in Debian's gVisor `runsc --network=none
//! --platform=ptrace`, measured in the same run, alternating, with medians: bulk
//! throughput (MB/s of 1 GiB in 64 KiB writes) and connection rate (connect + accept +
//! close per second). Then throughput from the host into the sandbox: in a network
//! namespace joined to the host by a veth pair (made here, removed at the end), a server
//! in the sandbox takes 1 GiB that this program sends over TCP from the host's side;
//! gVisor runs there with `--rootless --network=host` (its sockets are the namespace's).
//!
//!     cargo bench -p tests --bench inet_vs_gvisor [-- ROUNDS] [loopback|host]
//!
//! (`loopback` or `host`: only those cases.)

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "shared/figures.rs"]
mod figures;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns;
use figures::{guest_figure, median, report};

/// The port the receiving server listens on in the namespace.
const SINK_PORT: u16 = 5399;
/// MiB sent into the sandbox.
const SINK_MIB: usize = 1024;

/// Runs `bench_inet sink` under `runtime` in namespace `ns` and sends it SINK_MIB MiB
/// from the host's side of the pair; the MB/s the server measured.
fn into_sandbox(ns: &netns::Netns, runtime: &[&str], prog: &std::path::Path) -> Option<f64> {
    // nsenter, not `ip netns exec`, which hides the cgroup file systems gVisor needs.
    let mut server = Command::new("nsenter")
        .arg(format!("--net={}", ns.path()))
        .args(runtime)
        .arg(prog)
        .args(["sink", &SINK_PORT.to_string(), &SINK_MIB.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let addr = format!("{}:{SINK_PORT}", ns.ns_ip);
    let deadline = Instant::now() + Duration::from_secs(30);
    let conn = loop {
        match std::net::TcpStream::connect(&addr) {
            Ok(c) => break Some(c),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                eprintln!("{runtime:?}: connect {addr}: {e}");
                break None;
            }
        }
    };
    if let Some(mut c) = conn {
        let buf = vec![0u8; 64 << 10];
        for _ in 0..SINK_MIB * 16 {
            if c.write_all(&buf).is_err() {
                break;
            }
        }
        let _ = c.shutdown(std::net::Shutdown::Write);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.try_wait().ok()?.is_none() {
        if Instant::now() > deadline {
            let _ = server.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = server.wait_with_output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
    if v.is_none() {
        eprintln!(
            "{runtime:?} sink: no figure ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    v
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let only: Option<String> = std::env::args()
        .skip(1)
        .find(|a| a == "loopback" || a == "host");
    let wanted = |case: &str| only.as_deref().is_none_or(|o| o == case);
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
    for (name, args, unit) in cases.into_iter().filter(|_| wanted("loopback")) {
        let (mut host, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            host.extend(guest_figure(&host_cmd, &prog, &args));
            a.extend(guest_figure(&ours_cmd, &prog, &args));
            if have_gvisor {
                b.extend(guest_figure(&gv_cmd, &prog, &args));
            }
        }
        report(
            name,
            unit,
            (!host.is_empty()).then(|| median(host)),
            a,
            b,
            true,
        );
    }
    if !wanted("host") {
        return;
    }
    // Host into the sandbox.
    let ns = netns::Netns::new(9);
    let ours_in = [ours_s.as_str(), "do", "--"];
    // `--rootless`: gVisor's `do` then uses the namespace as it is (otherwise it makes a
    // namespace of its own behind NAT); `--network=host`: its sockets are the namespace's.
    let gv_in = [
        gvisor,
        "--rootless",
        "--network=host",
        "--platform=ptrace",
        "do",
    ];
    let (mut host, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        host.extend(into_sandbox(&ns, &host_cmd, &prog));
        a.extend(into_sandbox(&ns, &ours_in, &prog));
        if have_gvisor {
            b.extend(into_sandbox(&ns, &gv_in, &prog));
        }
    }
    report(
        "TCP from the host into the sandbox (veth), 1 GiB (MB/s)",
        "MB/s",
        (!host.is_empty()).then(|| median(host)),
        a,
        b,
        true,
    );
}
