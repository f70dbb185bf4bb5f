//! Docker (docker.io 20.10) drives runsc: each test starts its own `dockerd` on a private
//! socket, data root and exec root, with runsc added as a runtime, imports a busybox
//! image and runs containers with `--network none`; one test runs its dockerd in a network
//! namespace of its own, with the default bridge network, and publishes a port.

mod common_clients;
#[allow(dead_code)] // the namespace helper of the sentry tests, in part
#[path = "common/netns.rs"]
mod netns;

use common_clients::{busybox_tar, poll, runsc, tool, Scratch, Tmux, COUNTER, PATH};
use std::process::Command;

const RUNTIME: &str = "runsc-test";
const IMAGE: &str = "runsc-busybox:1";

struct Docker {
    s: Scratch,
}

impl Docker {
    /// Starts dockerd (and the containerd it runs) and imports the busybox image.
    fn start() -> Docker {
        Docker::start_in(None)
    }

    /// Starts dockerd in network namespace `ns` if given, with Docker's default bridge
    /// network there (its bridge, the containers' veths and the port proxies live in that
    /// namespace; no iptables rules), else with no network set-up at all; imports the
    /// busybox image.
    fn start_in(ns: Option<&netns::Netns>) -> Docker {
        let mut s = Scratch::new("docker");
        std::fs::write(s.path("daemon.json"), "{}").unwrap();
        let mut c = match ns {
            Some(n) => {
                // nsenter, not `ip netns exec`: that would hide the cgroup file systems
                // under a new /sys.
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", n.path())).arg(tool("dockerd"));
                c
            }
            None => Command::new(tool("dockerd")),
        };
        c.arg("--experimental")
            .args(["--config-file", &s.p("daemon.json")])
            .args(["--add-runtime", &format!("{RUNTIME}={}", runsc())])
            .args(["-H", &format!("unix://{}", s.p("docker.sock"))])
            .args(["--data-root", &s.p("data")])
            .args(["--exec-root", &s.p("exec")])
            .args(["--pidfile", &s.p("docker.pid")])
            // Self-contained: no host networking set-up at all.
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
            ]);
        if ns.is_none() {
            c.arg("--bridge=none");
        }
        s.spawn_daemon("dockerd", c);
        let mut d = Docker { s };
        d.s.retry_until_ok("dockerd", || d.cmd(&["version"]), 60);
        // Containers left by a failed test go before the daemon stops.
        let mut rm = Command::new("sh");
        rm.arg("-c").arg(format!(
            "{docker} -H unix://{sock} ps -aq | xargs -r {docker} -H unix://{sock} rm -f",
            docker = tool("docker").display(),
            sock = d.s.p("docker.sock")
        ));
        d.s.on_cleanup(rm, 60);
        let tar = busybox_tar(&d.s);
        let r = d.run(&["import", tar.to_str().unwrap(), IMAGE], 120);
        assert!(r.ok(), "docker import: {r}\n{}", d.s.logs());
        d
    }

    /// `docker -H SOCK ARGS...`, with a private client configuration.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(tool("docker"));
        c.env("DOCKER_CONFIG", self.s.path("client"))
            .env("PATH", PATH)
            .args(["-H", &format!("unix://{}", self.s.p("docker.sock"))])
            .args(args);
        c
    }

    /// Runs `docker ARGS...`, bounded by `secs`.
    fn run(&self, args: &[&str], secs: u64) -> common_clients::Ran {
        self.s.run(self.cmd(args), secs)
    }

    /// Runs `docker ARGS...` and fails the test unless it succeeds; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args, 120);
        if !r.ok() {
            self.s.fail(&format!("docker {}: {r}", args.join(" ")));
        }
        r.stdout
    }
}

#[test]
fn docker_run_rm_prints_the_output_and_exits_with_the_status() {
    let d = Docker::start();
    let r = d.run(
        &[
            "run",
            "--rm",
            "--runtime",
            RUNTIME,
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "echo hi; echo oops >&2; exit 3",
        ],
        120,
    );
    if (r.stdout.as_str(), r.code()) != ("hi\n", Some(3)) || !r.stderr.contains("oops") {
        d.s.fail(&format!("docker run: {r}"));
    }
    // --rm removed it.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

/// `docker run -i` with stdin from a file: the container reads it to its end.
#[test]
fn docker_run_i_reads_stdin_to_its_end() {
    let d = Docker::start();
    let r = d.s.run_input(
        d.cmd(&[
            "run",
            "-i",
            "--rm",
            "--runtime",
            RUNTIME,
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "wc -l; echo read-all",
        ]),
        b"one\ntwo\n",
        60,
    );
    if (r.stdout.as_str(), r.code()) != ("2\nread-all\n", Some(0)) {
        d.s.fail(&format!("docker run -i: {r}"));
    }
}

/// Docker bind-mounts single files over /etc/hostname, /etc/hosts and /etc/resolv.conf,
/// and with `--init` the host's docker-init over /sbin/docker-init, which runs as pid 1.
#[test]
fn docker_run_init_with_bind_mounted_hostname_hosts_and_init() {
    let d = Docker::start();
    let r = d.run(
        &[
            "run",
            "--rm",
            "--hostname",
            "box",
            "--init",
            "--runtime",
            RUNTIME,
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "cat /etc/hostname; grep -c '^127.0.0.1' /etc/hosts; test -f /etc/resolv.conf && echo resolv; \
             cat /proc/1/cmdline | tr '\\0' ' '",
        ],
        60,
    );
    // docker-init (tini) is pid 1, the command its child.
    if r.code() != Some(0)
        || !r
            .stdout
            .starts_with("box\n1\nresolv\n/sbin/docker-init -- sh -c ")
    {
        d.s.fail(&format!("docker run: {r}"));
    }
}

#[test]
fn docker_detached_container_exec_logs_top_pause_stop_rm() {
    let d = Docker::start();
    let id = d
        .ok(&[
            "run",
            "-d",
            "--name",
            "ticker",
            "--runtime",
            RUNTIME,
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo started; while true; do echo tick; sleep 0.2; done",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    if poll(20, || {
        d.ok(&["logs", "ticker"]).contains("tick").then_some(())
    })
    .is_none()
    {
        d.s.fail("no output in docker logs");
    }
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "ticker"])
            .trim(),
        "running"
    );

    // exec: output and exit status of a second process.
    let r = d.run(&["exec", "ticker", "sh", "-c", "echo in-exec; exit 5"], 60);
    if (r.stdout.as_str(), r.code()) != ("in-exec\n", Some(5)) {
        d.s.fail(&format!("docker exec: {r}"));
    }

    // top runs the host's ps on the pids `runsc ps` gives: the sandbox must be there.
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", "ticker"]);
    let pid = pid.trim();
    assert!(pid.parse::<u32>().unwrap() > 0, "pid {pid}");
    let top = d.ok(&["top", "ticker"]);
    assert!(
        top.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(pid) && l.contains("runsc")),
        "sandbox {pid} not in docker top:\n{top}"
    );

    // pause stops the output, unpause lets it go on.
    d.ok(&["pause", "ticker"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "ticker"])
            .trim(),
        "paused"
    );
    let ticks = |d: &Docker| d.ok(&["logs", "ticker"]).matches("tick").count();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = ticks(&d);
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(ticks(&d), before, "output while paused");
    d.ok(&["unpause", "ticker"]);
    if poll(20, || (ticks(&d) > before).then_some(())).is_none() {
        d.s.fail("no output after unpause");
    }

    // stop sends SIGTERM: the trap runs and the container exits 0.
    d.ok(&["stop", "-t", "20", "ticker"]);
    let logs = d.ok(&["logs", "ticker"]);
    assert!(logs.starts_with("started\n"), "{logs}");
    assert!(logs.ends_with("bye\n"), "{logs}");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "ticker"])
            .trim(),
        "0"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "ticker"])
            .trim(),
        "exited"
    );

    d.ok(&["rm", "ticker"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "sandbox {pid} still there"
    );
}

#[test]
fn docker_run_and_exec_interactive_terminals() {
    let mut d = Docker::start();
    let docker = format!(
        "DOCKER_CONFIG={} {} -H unix://{}",
        d.s.p("client"),
        tool("docker").display(),
        d.s.p("docker.sock")
    );
    let run = format!(
        "{docker} run -it --rm --name tty --runtime {RUNTIME} --network none {IMAGE} sh -c \
         'test -t 0 && test -t 1 && echo is-a-tty; read line; echo got=$line; stty size; \
          echo $((6*7)); exit 4'"
    );
    let t = Tmux::start(&mut d.s, "run", &run);
    t.wait_for(&d.s, "is-a-tty", 60);

    // A second terminal: docker exec -it into the same container (an exec proxy with a
    // console socket of its own).
    let exec = format!(
        "{docker} exec -it tty sh -c \
         'test -t 0 && echo exec-tty; read l; echo exec-got=$l; stty size; exit 6'"
    );
    let e = Tmux::start(&mut d.s, "exec", &exec);
    e.wait_for(&d.s, "exec-tty", 60);
    e.send(&d.s, &["abc", "Enter"]);
    let screen = e.wait_for(&d.s, "[exit=", 60);
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    for want in ["exec-tty", "abc", "exec-got=abc", "30 100", "[exit=6]"] {
        assert!(
            lines.contains(&want),
            "{want:?} missing from the exec screen:\n{screen}"
        );
    }

    t.send(&d.s, &["hello", "Enter"]);
    let screen = t.wait_for(&d.s, "[exit=", 60);
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    for want in [
        "is-a-tty",
        // The typed line is echoed by the container's terminal, then read.
        "hello",
        "got=hello",
        // docker resizes the container's terminal to the client's (tmux's 100x30).
        "30 100",
        "42",
        "[exit=4]",
    ] {
        assert!(
            lines.contains(&want),
            "{want:?} missing from the screen:\n{screen}"
        );
    }
}

#[test]
fn docker_checkpoint_create_exits_0_and_start_checkpoint_counts_on() {
    let d = Docker::start();
    let run = ["run", "-d", "--name", "counter", "--runtime", RUNTIME];
    d.ok(&[&run[..], &["--network=none", IMAGE, "sh", "-c", COUNTER]].concat());
    let count = || d.ok(&["logs", "counter"]).lines().count();
    if poll(20, || (count() >= 3).then_some(())).is_none() {
        d.s.fail("the counter does not count");
    }
    d.ok(&["checkpoint", "create", "counter", "cp1"]);
    // A checkpoint stops the container on purpose: it exited 0, not killed (137).
    let state = || {
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "counter",
        ])
    };
    if poll(20, || (state().trim() == "exited 0").then_some(())).is_none() {
        d.s.fail(&format!("after the checkpoint: {}", state()));
    }
    let ps = d.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=counter",
        "--format",
        "{{.Status}}",
    ]);
    assert!(ps.starts_with("Exited (0)"), "{ps}");
    let before = count();
    // Docker's own race (moby/moby#42900, which CRIU's CI retries too): the checkpoint
    // content containerd made may still be in its store when Docker uploads it again.
    let started = poll(30, || {
        let r = d.run(&["start", "--checkpoint", "cp1", "counter"], 120);
        if r.ok() {
            return Some(Ok(()));
        }
        if r.stderr
            .contains("failed to upload checkpoint to containerd")
            && r.stderr.contains("already exists")
        {
            std::thread::sleep(std::time::Duration::from_secs(1));
            return None;
        }
        Some(Err(r.to_string()))
    });
    match started {
        Some(Ok(())) => {}
        Some(Err(e)) => d.s.fail(&format!("docker start --checkpoint: {e}")),
        None => {
            d.s.fail("docker start --checkpoint: containerd kept the content")
        }
    }
    if poll(20, || (count() > before + 2).then_some(())).is_none() {
        d.s.fail("the restored counter does not count");
    }
    let logs = d.ok(&["logs", "counter"]);
    let numbers: Vec<u64> = logs.lines().filter_map(|l| l.trim().parse().ok()).collect();
    // It went on from where it was: no second "1".
    assert_eq!(numbers.iter().filter(|&&n| n == 1).count(), 1, "{logs}");
    d.ok(&["rm", "--force", "counter"]);
}

#[test]
fn docker_bridge_network_publishes_a_port_of_a_server_in_the_sandbox() {
    // dockerd in a namespace of this test (removed last, also on failure), the default
    // bridge network, `-p HOSTPORT:80`: python's http.server in one sandbox, and nginx
    // (master and two workers) in another, serve a file to curl on 127.0.0.1:HOSTPORT of
    // that namespace (through docker-proxy and the bridge), and the container finds its
    // own name in the /etc/hosts Docker wrote.
    let ns = netns::Netns::new(7);
    let d = Docker::start_in(Some(&ns));
    let rootfs = std::path::Path::new("/var/cache/runsc-tests/debian-bookworm");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/debian-rootfs.sh");
    let built = Command::new("bash").arg(script).output().unwrap();
    assert!(built.status.success(), "{built:?}");
    let rootfs_dir = String::from_utf8(built.stdout).unwrap();
    assert_eq!(rootfs_dir.trim(), rootfs.to_str().unwrap());
    // The Debian rootfs as an image (`docker import` of a tar of it).
    let tar = d.s.path("debian.tar");
    let r = d.s.run(
        {
            let mut c = Command::new("tar");
            c.arg("-C").arg(rootfs).arg("-cf").arg(&tar).arg(".");
            c
        },
        300,
    );
    assert!(r.ok(), "tar: {r}");
    d.ok(&["import", tar.to_str().unwrap(), "runsc-debian:1"]);
    let port = 18000 + std::process::id() % 1000;
    let publish = format!("{port}:80");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--runtime",
        RUNTIME,
        "-p",
        &publish,
        "runsc-debian:1",
        "sh",
        "-c",
        "mkdir /tmp/www && echo served-by-runsc > /tmp/www/f.txt && \
         exec python3 -m http.server 80 --directory /tmp/www",
    ]);
    // nginx the same way, on another published port: its master and workers in the
    // sandbox, accepting on 0.0.0.0:80 through the host.
    let nginx_port = port + 1000;
    let nginx_publish = format!("{nginx_port}:80");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "nginx",
        "--runtime",
        RUNTIME,
        "-p",
        &nginx_publish,
        "runsc-debian:1",
        "sh",
        "-c",
        "mkdir /tmp/www && echo served-by-nginx > /tmp/www/f.txt && \
         printf 'daemon off; error_log stderr warn; pid /tmp/nginx.pid; worker_processes 2;\n\
         events {}\nhttp { access_log off; client_body_temp_path /tmp/b; proxy_temp_path /tmp/p;\n\
         fastcgi_temp_path /tmp/f; uwsgi_temp_path /tmp/u; scgi_temp_path /tmp/s;\n\
         server { listen 80; root /tmp/www; } }\n' > /tmp/nginx.conf && \
         exec nginx -e stderr -c /tmp/nginx.conf",
    ]);
    for (name, port, want) in [
        ("web", port, "served-by-runsc\n"),
        ("nginx", nginx_port, "served-by-nginx\n"),
    ] {
        let url = format!("http://127.0.0.1:{port}/f.txt");
        let got = curl_in(&ns, &url);
        if got.as_deref() != Some(want) {
            let logs = d.run(&["logs", name], 30);
            d.s.fail(&format!("curl {url}: {got:?}; container logs: {logs}"));
        }
    }
    // Its own name: the hostname Docker gave it, with its bridge address, in /etc/hosts.
    let ip = d.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]);
    let id = d.ok(&["inspect", "-f", "{{.Config.Hostname}}", "web"]);
    let hosts = d.ok(&["exec", "web", "sh", "-c", "getent hosts $(hostname)"]);
    assert_eq!(
        hosts.split_whitespace().collect::<Vec<_>>(),
        [ip.trim(), id.trim()],
        "{hosts}"
    );
    // And the sandbox sees its bridge address on eth0 (netlink).
    let addrs = d.ok(&["exec", "web", "hostname", "-I"]);
    assert_eq!(addrs.trim(), ip.trim());
    d.ok(&["rm", "-f", "web", "nginx"]);
}

/// curl of `url` in namespace `ns`, retried for a minute until it succeeds: its body.
fn curl_in(ns: &netns::Netns, url: &str) -> Option<String> {
    poll(60, || {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "curl",
                "-sf",
                "--max-time",
                "5",
                url,
            ])
            .output()
            .unwrap();
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    })
}
