//! containerd (1.6) drives runsc through its runc shim (io.containerd.runc.v2 with
//! `--runc-binary`): each test starts its own `containerd` with a private configuration
//! (root, state, gRPC and ttrpc sockets in a scratch directory), imports an OCI image
//! archive of busybox with `ctr images import` and runs it with `ctr run`.

mod common_clients;

use common_clients::{busybox_oci_archive, poll, runsc, tool, Scratch, PATH};
use std::process::Command;

const IMAGE: &str = "docker.io/library/runsc-busybox:1";

struct Containerd {
    s: Scratch,
}

impl Containerd {
    fn start() -> Containerd {
        let mut s = Scratch::new("containerd");
        // The CRI plugin is left out: it would set up networking and a pod sandbox image.
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n\
             [ttrpc]\n  address = \"{sock}.ttrpc\"\n",
            root = s.p("root"),
            state = s.p("state"),
            sock = s.p("containerd.sock"),
        );
        std::fs::write(s.path("config.toml"), config).unwrap();
        let mut c = Command::new(tool("containerd"));
        c.args(["--config", &s.p("config.toml")]);
        s.spawn_daemon("containerd", c);
        let mut d = Containerd { s };
        d.s.retry_until_ok("containerd", || d.cmd(&["version"]), 60);
        // Containers left by a failed test: their shims exit (and remove their sockets in
        // /run/containerd/s) before containerd stops.
        let mut rm = Command::new("sh");
        rm.env("PATH", PATH).arg("-c").arg(format!(
            "for c in $(ctr -a {sock} containers ls -q); do \
               ctr -a {sock} task delete --force $c; ctr -a {sock} containers delete $c; done",
            sock = d.s.p("containerd.sock")
        ));
        d.s.on_cleanup(rm, 60);
        let archive = busybox_oci_archive(&d.s, IMAGE);
        d.ok(&["images", "import", archive.to_str().unwrap()]);
        d
    }

    /// `ctr -a SOCK ARGS...`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(tool("ctr"));
        c.env("PATH", PATH)
            .args(["-a", &self.s.p("containerd.sock")])
            .args(args);
        c
    }

    fn run(&self, args: &[&str], secs: u64) -> common_clients::Ran {
        self.s.run(self.cmd(args), secs)
    }

    /// Runs `ctr ARGS...` and fails the test unless it succeeds; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args, 120);
        if !r.ok() {
            self.s.fail(&format!("ctr {}: {r}", args.join(" ")));
        }
        r.stdout
    }

    /// The `ctr run` options that select runsc through the runc shim, with the runtime's
    /// state (its `--root`) in the scratch directory.
    fn runtime_args(&self) -> Vec<String> {
        vec![
            "--runtime".into(),
            "io.containerd.runc.v2".into(),
            "--runc-binary".into(),
            runsc(),
            "--runc-root".into(),
            self.s.p("runsc"),
        ]
    }

    /// `ctr task ls` as (id, pid, status) rows.
    fn tasks(&self) -> Vec<(String, String, String)> {
        self.ok(&["task", "ls"])
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 3).then(|| (f[0].into(), f[1].into(), f[2].into()))
            })
            .collect()
    }

    fn task_status(&self, id: &str) -> Option<String> {
        self.tasks().into_iter().find(|t| t.0 == id).map(|t| t.2)
    }
}

#[test]
fn ctr_run_rm_prints_the_output_and_exits_with_the_status() {
    let d = Containerd::start();
    let mut args: Vec<String> = vec!["run".into(), "--rm".into()];
    args.extend(d.runtime_args());
    args.extend(
        [
            IMAGE,
            "hello",
            "sh",
            "-c",
            "echo hi-from-ctr; echo oops >&2; exit 7",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = d.run(&args, 120);
    if (r.stdout.as_str(), r.code()) != ("hi-from-ctr\n", Some(7)) || !r.stderr.contains("oops") {
        d.s.fail(&format!("ctr run: {r}"));
    }
    // --rm removed the container and its task.
    assert_eq!(d.ok(&["containers", "ls", "-q"]), "");
    assert!(d.tasks().is_empty());
}

#[test]
fn ctr_detached_task_exec_ps_pause_kill_delete() {
    let d = Containerd::start();
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--null-io".into()];
    args.extend(d.runtime_args());
    args.extend(
        [
            IMAGE,
            "bg",
            "sh",
            "-c",
            "trap 'exit 9' TERM; while true; do sleep 0.2; done",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.ok(&args);
    let (_, pid, status) = d
        .tasks()
        .into_iter()
        .find(|t| t.0 == "bg")
        .unwrap_or_else(|| d.s.fail("no task bg"));
    assert_eq!(status, "RUNNING");

    // exec: a second process's output and exit status.
    let r = d.run(
        &[
            "task",
            "exec",
            "--exec-id",
            "e1",
            "bg",
            "sh",
            "-c",
            "echo in-exec; exit 5",
        ],
        60,
    );
    if (r.stdout.as_str(), r.code()) != ("in-exec\n", Some(5)) {
        d.s.fail(&format!("ctr task exec: {r}"));
    }

    // ps lists host pids: the sandbox's first, then its stubs, which are its host
    // descendants (those still there: a stub of a short-lived guest process may be gone).
    let ps = d.ok(&["task", "ps", "bg"]);
    let pids: Vec<&str> = ps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(pids.first(), Some(&pid.as_str()), "{ps}");
    assert!(pids.len() >= 2, "{ps}");
    for p in &pids[1..] {
        if let Some(false) = descends_from(p, &pid) {
            panic!("{p} is not a host descendant of the sandbox {pid}:\n{ps}");
        }
    }

    d.ok(&["task", "pause", "bg"]);
    assert_eq!(d.task_status("bg").as_deref(), Some("PAUSED"));
    d.ok(&["task", "resume", "bg"]);
    assert_eq!(d.task_status("bg").as_deref(), Some("RUNNING"));

    // SIGTERM (ctr's default): the trap makes the task exit 9.
    d.ok(&["task", "kill", "bg"]);
    if poll(20, || {
        (d.task_status("bg").as_deref() == Some("STOPPED")).then_some(())
    })
    .is_none()
    {
        d.s.fail(&format!("task bg did not stop: {:?}", d.tasks()));
    }
    let r = d.run(&["task", "delete", "bg"], 60);
    assert!(r.ok(), "ctr task delete: {r}");
    assert!(r.stderr.contains("exit code 9"), "ctr task delete: {r}");
    d.ok(&["containers", "delete", "bg"]);
    assert!(d.tasks().is_empty());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "sandbox {pid} still there"
    );
}

/// Whether host process `pid` descends from `ancestor` (None when `pid` is gone).
fn descends_from(pid: &str, ancestor: &str) -> Option<bool> {
    let mut p = pid.to_string();
    for _ in 0..64 {
        let status = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))?
            .trim()
            .to_string();
        if ppid == ancestor {
            return Some(true);
        }
        if ppid == "0" || ppid == "1" {
            return Some(false);
        }
        p = ppid;
    }
    Some(false)
}
