//! Podman (4.3, with conmon) drives runsc: each test has its own storage (`--root`,
//! `--runroot`) in a scratch directory, imports a busybox image from a tarball and runs
//! it with `--runtime RUNSC --network none`. Podman passes runsc no `--root` on its own
//! (and its cleanup process would not pass one given with `--runtime-flag`), so runsc
//! keeps these containers' state in its default root, /var/run/runsc, until podman
//! deletes them.

mod common_clients;

use common_clients::{busybox_tar, poll, runsc, tool, Scratch, Tmux, COUNTER, PATH};
use std::process::Command;

const IMAGE: &str = "localhost/runsc-busybox:1";

struct Podman {
    s: Scratch,
}

impl Podman {
    fn start() -> Podman {
        let mut p = Podman {
            s: Scratch::new("podman"),
        };
        // Containers left by a failed test: podman stops them and deletes them in runsc.
        let rm = p.cmd(&["rm", "--all", "--force", "--time", "0"]);
        p.s.on_cleanup(rm, 60);
        let tar = busybox_tar(&p.s);
        p.ok(&["import", tar.to_str().unwrap(), IMAGE]);
        p
    }

    /// `podman --root R --runroot RR --runtime RUNSC ... ARGS...`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(tool("podman"));
        c.env("PATH", PATH)
            .args(["--root", &self.s.p("root")])
            .args(["--runroot", &self.s.p("runroot")])
            .args(["--runtime", &runsc()])
            .args(["--storage-driver", "overlay"])
            .args(["--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .args(args);
        c
    }

    fn run(&self, args: &[&str], secs: u64) -> common_clients::Ran {
        self.s.run(self.cmd(args), secs)
    }

    /// Runs `podman ARGS...` and fails the test unless it succeeds; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args, 120);
        if !r.ok() {
            self.s.fail(&format!("podman {}: {r}", args.join(" ")));
        }
        r.stdout
    }
}

#[test]
fn podman_run_rm_prints_the_output_and_exits_with_the_status() {
    let p = Podman::start();
    let r = p.run(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "echo hi-from-podman; echo oops >&2; exit 3",
        ],
        120,
    );
    if (r.stdout.as_str(), r.code()) != ("hi-from-podman\n", Some(3)) || !r.stderr.contains("oops")
    {
        p.s.fail(&format!("podman run: {r}"));
    }
    assert_eq!(p.ok(&["ps", "-aq"]), "");
}

#[test]
fn podman_detached_container_exec_logs_stop_rm() {
    let p = Podman::start();
    let id = p
        .ok(&[
            "run",
            "-d",
            "--name",
            "ticker",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.2; done",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    // runsc has the container, under the id podman gave it.
    let state = Command::new(runsc())
        .args(["state", &id])
        .output()
        .expect("runsc state");
    assert!(
        String::from_utf8_lossy(&state.stdout).contains("\"running\""),
        "runsc state {id}: {state:?}"
    );
    if poll(20, || {
        p.ok(&["logs", "ticker"]).contains("started").then_some(())
    })
    .is_none()
    {
        p.s.fail("no output in podman logs");
    }

    let r = p.run(&["exec", "ticker", "sh", "-c", "echo in-exec; exit 5"], 60);
    if (r.stdout.as_str(), r.code()) != ("in-exec\n", Some(5)) {
        p.s.fail(&format!("podman exec: {r}"));
    }

    p.ok(&["stop", "-t", "20", "ticker"]);
    assert_eq!(p.ok(&["logs", "ticker"]), "started\nbye\n");
    assert_eq!(
        p.ok(&["inspect", "-f", "{{.State.ExitCode}}", "ticker"])
            .trim(),
        "0"
    );
    p.ok(&["rm", "ticker"]);
    assert_eq!(p.ok(&["ps", "-aq"]), "");
    // Deleted in runsc too.
    assert!(!std::path::Path::new("/var/run/runsc").join(&id).exists());
}

#[test]
fn podman_run_interactive_terminal() {
    let mut p = Podman::start();
    // The podman command line of `cmd`, for a shell in tmux (the paths hold no spaces).
    let c = p.cmd(&["run", "-it", "--rm", "--network", "none", IMAGE]);
    let mut line = format!("PATH={PATH} {}", c.get_program().to_str().unwrap());
    for a in c.get_args() {
        line.push(' ');
        line.push_str(a.to_str().unwrap());
    }
    line.push_str(
        " sh -c 'test -t 0 && test -t 1 && echo is-a-tty; read l; echo got=$l; stty size; exit 4'",
    );
    let t = Tmux::start(&mut p.s, "run", &line);
    t.wait_for(&p.s, "is-a-tty", 60);
    t.send(&p.s, &["hello", "Enter"]);
    let screen = t.wait_for(&p.s, "[exit=", 60);
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    // conmon sizes the container's terminal like tmux's window (100x30).
    for want in ["is-a-tty", "hello", "got=hello", "30 100", "[exit=4]"] {
        assert!(
            lines.contains(&want),
            "{want:?} missing from the screen:\n{screen}"
        );
    }
}

/// A number of `podman --print-stats` JSON (absent: omitempty drops zeros).
fn stat(j: &tests::Json, key: &str) -> u64 {
    j.get(key).as_f64().unwrap_or(0.0) as u64
}

#[test]
fn podman_checkpoint_print_stats_reads_the_statistics_runsc_wrote() {
    let p = Podman::start();
    let run = ["run", "-d", "--name", "counter", "--network=none"];
    p.ok(&[&run[..], &[IMAGE, "sh", "-c", COUNTER]].concat());
    if poll(20, || {
        p.ok(&["logs", "counter"]).contains("3\n").then_some(())
    })
    .is_none()
    {
        p.s.fail("the counter does not count");
    }
    // Podman reads CRIU's stats-dump from the container's bundle (runsc's --work-path).
    let out = p.ok(&[
        "container",
        "checkpoint",
        "--print-stats",
        "--keep",
        "counter",
    ]);
    let report = tests::Json::parse(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let report = &report
        .get("container_statistics")
        .as_array()
        .unwrap_or_else(|| panic!("no container_statistics: {out}"))[0];
    let s = report.get("criu_statistics");
    let pages_written = stat(s, "pages_written");
    let pages_scanned = stat(s, "pages_scanned");
    assert!(
        pages_written > 0 && pages_written <= pages_scanned,
        "pages: {out}"
    );
    // The state is captured while the guest is frozen (the image is written after, while
    // it runs on or is gone).
    assert!(
        stat(s, "frozen_time") >= stat(s, "memdump_time"),
        "times: {out}"
    );
    assert!(stat(s, "memwrite_time") > 0, "{out}");
    assert!(stat(s, "frozen_time") > 0, "{out}");
    // It restores, and counts on from where it was.
    p.ok(&["container", "restore", "counter"]);
    let before = p.ok(&["logs", "counter"]).lines().count();
    if poll(20, || {
        (p.ok(&["logs", "counter"]).lines().count() > before + 2).then_some(())
    })
    .is_none()
    {
        p.s.fail("the restored counter does not count");
    }
    // An export carries the statistics too (Podman said "Can't stat file" without them).
    let tar = p.s.p("counter.tar");
    p.ok(&[
        "container",
        "checkpoint",
        "--export",
        &tar,
        "--compress",
        "none",
        "counter",
    ]);
    let list = Command::new("tar").args(["-tf", &tar]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.lines().any(|l| l == "stats-dump"), "{list}");
    p.ok(&["rm", "--force", "--time", "0", "counter"]);
}

/// The largest number the counter printed so far.
fn counted(p: &Podman, name: &str) -> u64 {
    p.ok(&["logs", name])
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

/// Waits until the counter `name` counted past `n`; fails the test with `what` if not.
fn counts_past(p: &Podman, name: &str, n: u64, what: &str) {
    if poll(30, || (counted(p, name) > n).then_some(())).is_none() {
        p.s.fail(&format!("{what}: {name} stays at {}", counted(p, name)));
    }
}

#[test]
fn podman_restores_an_exported_checkpoint_and_a_checkpoint_image_under_new_names() {
    let p = Podman::start();
    let run = ["run", "-d", "--name", "origin", "--network=none"];
    p.ok(&[&run[..], &[IMAGE, "sh", "-c", COUNTER]].concat());
    counts_past(&p, "origin", 3, "the counter does not count");
    // --export: the checkpoint travels as a tarball; the container is gone, then
    // `restore --import` brings it back (Podman rebuilds its config, with the mounts in
    // another order), once under its name and once under a new one.
    let tar = p.s.p("origin.tar.gz");
    p.ok(&["container", "checkpoint", "--export", &tar, "origin"]);
    let at = counted(&p, "origin");
    p.ok(&["rm", "--force", "--time", "0", "origin"]);
    p.ok(&["container", "restore", "--import", &tar]);
    p.ok(&["container", "restore", "--import", &tar, "--name", "twin"]);
    for name in ["origin", "twin"] {
        // Counting on from where it was: a counter started anew would print 1 again
        // (the logs hold the original's 1 at most, if Podman carried them over).
        counts_past(&p, name, at, "the imported counter does not count on");
        let ones = p
            .ok(&["logs", name])
            .lines()
            .filter(|l| l.trim() == "1")
            .count();
        assert!(ones <= 1, "{name} started over ({ones} times 1)");
    }
    // --create-image: the checkpoint as an OCI image, restored into a new container.
    let ckpt = "localhost/runsc-ckpt:1";
    p.ok(&["container", "checkpoint", "--create-image", ckpt, "twin"]);
    let at = counted(&p, "twin");
    p.ok(&["container", "restore", "--name", "from-image", ckpt]);
    counts_past(
        &p,
        "from-image",
        at,
        "the counter restored from an image does not count on",
    );
    let ones = p
        .ok(&["logs", "from-image"])
        .lines()
        .filter(|l| l.trim() == "1")
        .count();
    assert!(ones <= 1, "from-image started over ({ones} times 1)");
    p.ok(&["rm", "--all", "--force", "--time", "0"]);
}
