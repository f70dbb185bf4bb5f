//! Operations on a running container: ps, pause/resume, events, update, cgroups, exec,
//! checkpoint and restore argument handling (restore itself: cli_restore.rs), hooks.

use tests::{Json, Runtime};

use tests::text;

/// Creates and starts container `id` running `sleep 100`.
fn running(rt: &Runtime, id: &str) {
    let bundle = rt.busybox_bundle(id, &["sleep", "100"]);
    let o = rt.run_to_files(id, &["create", "--bundle", bundle.to_str().unwrap(), id]);
    assert!(o.status.success(), "create {id}: {}", o.stderr);
    let o = rt.run(&["start", id]);
    assert!(o.status.success(), "start {id}: {}", text(&o));
}

#[test]
fn ps_json_lists_host_pids_including_the_sandbox() {
    let rt = Runtime::new();
    running(&rt, "ps");
    let sandbox = rt.state("ps").unwrap().get("pid").as_f64().unwrap();
    let o = rt.run(&["ps", "--format", "json", "ps"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(o.stderr.is_empty(), "nothing on stderr: {}", text(&o));
    let pids = Json::parse(&String::from_utf8_lossy(&o.stdout)).unwrap();
    let pids = pids.as_array().unwrap();
    assert!(pids.contains(&Json::Num(sandbox)), "{pids:?}");
    for p in pids {
        let p = p.as_f64().unwrap() as i32;
        assert!(
            std::path::Path::new(&format!("/proc/{p}")).exists(),
            "host pid {p}"
        );
    }
    let o = rt.run(&["ps", "ps"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("PID"),
        "{}",
        text(&o)
    );
    assert!(rt.run(&["delete", "-f", "ps"]).status.success());
}

#[test]
fn pause_and_resume() {
    let rt = Runtime::new();
    running(&rt, "pr");
    assert!(rt.run(&["pause", "pr"]).status.success());
    assert_eq!(rt.status("pr").as_deref(), Some("paused"));
    let o = rt.run(&["pause", "pr"]);
    assert!(!o.status.success(), "pausing twice: {}", text(&o));
    assert!(rt.run(&["resume", "pr"]).status.success());
    assert_eq!(rt.status("pr").as_deref(), Some("running"));
    let o = rt.run(&["resume", "pr"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not paused"),
        "{}",
        text(&o)
    );
    assert!(rt.run(&["delete", "-f", "pr"]).status.success());
}

#[test]
fn events_stats_is_one_json_event() {
    let rt = Runtime::new();
    running(&rt, "ev");
    let o = rt.run(&["events", "--stats", "ev"]);
    assert!(o.status.success(), "{}", text(&o));
    let v = Json::parse(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert_eq!(v.get("type").as_str(), Some("stats"));
    assert_eq!(v.get("id").as_str(), Some("ev"));
    assert!(v
        .get("data")
        .get("memory")
        .get("usage")
        .get("usage")
        .as_f64()
        .is_some());
    let o = rt.run(&["events", "--interval", "nonsense", "ev"]);
    assert!(!o.status.success());
    assert!(rt.run(&["delete", "-f", "ev"]).status.success());
}

/// The cgroup mount's layout: v2 when /sys/fs/cgroup has cgroup.controllers.
fn cgroup_file(rel: &str, v1_controller: &str, file_v1: &str, file_v2: &str) -> std::path::PathBuf {
    let root = std::path::Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        root.join(rel).join(file_v2)
    } else {
        root.join(v1_controller).join(rel).join(file_v1)
    }
}

#[test]
fn the_sandbox_joins_its_cgroup_with_limits_before_create_returns() {
    let rt = Runtime::new();
    let parent = format!("runsc-test-{}", std::process::id());
    let rel = format!("{parent}/cg");
    let bundle = rt.busybox_bundle("cg", &["sleep", "100"]);
    let config = bundle.join("config.json");
    let c = std::fs::read_to_string(&config).unwrap().replace(
        "\"linux\": {",
        &format!(
            "\"linux\": {{\"cgroupsPath\": \"/{rel}\", \"resources\": {{\"memory\": {{\"limit\": 209715200}}, \"pids\": {{\"limit\": 77}}}}, "
        ),
    );
    std::fs::write(&config, c).unwrap();
    let pid_file = rt.dir.path().join("cg.pid");
    let o = rt.run_to_files(
        "cg",
        &[
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            "cg",
        ],
    );
    let cleanup = || {
        for d in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(d.path().join(&rel));
            let _ = std::fs::remove_dir(d.path().join(&parent));
        }
        let _ = std::fs::remove_dir(std::path::Path::new("/sys/fs/cgroup").join(&rel));
        let _ = std::fs::remove_dir(std::path::Path::new("/sys/fs/cgroup").join(&parent));
    };
    if !o.status.success() {
        cleanup();
        panic!("create: {}", o.stderr);
    }
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let procs =
        std::fs::read_to_string(cgroup_file(&rel, "memory", "cgroup.procs", "cgroup.procs"))
            .unwrap();
    let mem = std::fs::read_to_string(cgroup_file(
        &rel,
        "memory",
        "memory.limit_in_bytes",
        "memory.max",
    ))
    .unwrap();
    let pids = std::fs::read_to_string(cgroup_file(&rel, "pids", "pids.max", "pids.max")).unwrap();
    let deleted = rt.run(&["delete", "cg"]);
    let gone = !cgroup_file(&rel, "memory", "", "").exists();
    cleanup();
    assert!(
        procs.lines().any(|l| l == pid.trim()),
        "pid {pid} not in {procs}"
    );
    assert_eq!(mem.trim(), "209715200");
    assert_eq!(pids.trim(), "77");
    assert!(deleted.status.success(), "{}", text(&deleted));
    assert!(gone, "delete removes the container's cgroup");
}

#[test]
fn hooks_run_with_the_state_on_stdin() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("hk", &["sleep", "100"]);
    let out = rt.dir.path().join("hooks.log");
    let o = out.display().to_string();
    let hook = |name: &str| {
        format!("{{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"echo {name} $(cat) >> {o}\"], \"timeout\": 10}}")
    };
    let hooks = format!(
        "\"hooks\": {{\"createRuntime\": [{}], \"prestart\": [{}], \"poststart\": [{}], \"poststop\": [{}]}}, \"linux\": {{",
        hook("createRuntime"),
        hook("prestart"),
        hook("poststart"),
        hook("poststop")
    );
    let config = bundle.join("config.json");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("\"linux\": {", &hooks),
    )
    .unwrap();
    let r = rt.run_to_files(
        "hk",
        &["create", "--bundle", bundle.to_str().unwrap(), "hk"],
    );
    assert!(r.status.success(), "{}", r.stderr);
    assert!(rt.run(&["start", "hk"]).status.success());
    assert!(rt.run(&["delete", "--force", "hk"]).status.success());
    let log = std::fs::read_to_string(&out).unwrap();
    let names: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        ["createRuntime", "prestart", "poststart", "poststop"],
        "{log}"
    );
    for line in log.lines() {
        let state = Json::parse(line.split_once(' ').unwrap().1).unwrap();
        assert_eq!(state.get("id").as_str(), Some("hk"), "{line}");
    }
}

#[test]
fn a_failing_prestart_hook_fails_create_and_leaves_nothing() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("hf", &["sleep", "100"]);
    let config = bundle.join("config.json");
    let hooks = "\"hooks\": {\"prestart\": [{\"path\": \"/bin/false\"}]}, \"linux\": {";
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("\"linux\": {", hooks),
    )
    .unwrap();
    let r = rt.run_to_files(
        "hf",
        &["create", "--bundle", bundle.to_str().unwrap(), "hf"],
    );
    assert!(!r.status.success());
    assert!(
        r.stderr.contains("prestart hook /bin/false failed"),
        "{}",
        r.stderr
    );
    assert!(rt.state("hf").is_none());
}

#[test]
fn checkpoint_accepts_every_runc_flag() {
    let rt = Runtime::new();
    let o = rt.run(&["checkpoint", "--help"]);
    assert!(o.status.success());
    // Flags as containerd, Docker and Podman send them, on a missing container: the
    // parse succeeds and the error is about the container.
    let o = rt.run(&[
        "checkpoint",
        "--image-path",
        "/tmp/img",
        "--work-path",
        "/tmp/work",
        "--parent-path",
        "../prev",
        "--leave-running",
        "--leave-running",
        "--tcp-established",
        "--ext-unix-sk",
        "--shell-job",
        "--file-locks",
        "--manage-cgroups-mode",
        "soft",
        "--empty-ns",
        "network",
        "--lazy-pages",
        "--status-fd",
        "5",
        "--page-server",
        "127.0.0.1:9999",
        "nosuch",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not exist"),
        "{}",
        text(&o)
    );
    let o = rt.run(&[
        "checkpoint",
        "--pre-dump",
        "--image-path",
        "/tmp/img",
        "nosuch",
    ]);
    assert!(
        o.status.success(),
        "a pre-dump has nothing to do: {}",
        text(&o)
    );
}

#[test]
fn restore_accepts_every_flag_the_clients_send() {
    let rt = Runtime::new();
    let o = rt.run(&["restore", "--help"]);
    assert!(o.status.success());
    let bundle = rt.busybox_bundle("rs", &["true"]);
    // Flags as the containerd shim, Docker and Podman send them, with an image directory
    // that does not exist: the parse succeeds and the error is about the image.
    let img = rt.dir.path().join("img");
    let pid_file = rt.dir.path().join("rs.pid");
    let o = rt.run(&[
        "restore",
        "--image-path",
        img.to_str().unwrap(),
        "--work-path",
        "/tmp/w",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--console-socket",
        "/tmp/s",
        "-no-subreaper",
        "--no-pivot",
        "--no-new-keyring",
        "--lsm-mount-context",
        "x",
        "--lsm-profile",
        "y",
        "--tcp-established",
        "--ext-unix-sk",
        "--shell-job",
        "--file-locks",
        "--manage-cgroups-mode",
        "soft",
        "--empty-ns",
        "network",
        "--auto-dedup",
        "--lazy-pages",
        "--status-fd",
        "5",
        "--bundle",
        bundle.to_str().unwrap(),
        "rs",
    ]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("restore of container rs: reading the checkpoint image")
            && stderr.contains("img/checkpoint.img")
            && stderr.contains("No such file or directory"),
        "{}",
        text(&o)
    );
    assert!(rt.state("rs").is_none());
    assert!(!pid_file.exists());
}

#[test]
fn update_sets_new_limits() {
    let rt = Runtime::new();
    running(&rt, "up");
    let o = rt.run(&["update", "--memory", "50000000", "--pids-limit", "20", "up"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = rt.run(&["update", "--resources", "/nonexistent.json", "up"]);
    assert!(!o.status.success());
    assert!(rt.run(&["delete", "-f", "up"]).status.success());
}

// Needs the sentry's Exec request.
#[test]
fn exec_runs_a_process_and_returns_its_status() {
    let rt = Runtime::new();
    running(&rt, "ex");
    let o = rt.run_with_timeout(&["exec", "ex", "sh", "-c", "echo from-exec; exit 3"], 20);
    let _ = rt.run(&["delete", "-f", "ex"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from-exec\n");
}

// Needs the sentry's Exec request.
#[test]
fn exec_with_a_process_file_and_detach_writes_the_proxy_pid() {
    let rt = Runtime::new();
    running(&rt, "exd");
    let process = rt.dir.path().join("process.json");
    std::fs::write(
        &process,
        r#"{"args": ["sleep", "100"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "terminal": false}"#,
    )
    .unwrap();
    let pid_file = rt.dir.path().join("exec.pid");
    let o = rt.run_to_files(
        "exd-exec",
        &[
            "exec",
            "--detach",
            "--process",
            process.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            "exd",
        ],
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
    let _ = rt.run(&["delete", "-f", "exd"]);
    assert!(o.status.success(), "{}", o.stderr);
    let pid: i32 = pid.trim().parse().expect("pid file");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(String::from_utf8_lossy(&cmdline).contains("exec") || cmdline.is_empty());
}

/// An exec of a program that is not there fails with one error, whichever layer finds
/// it: runsc looking it up in the rootfs, or the sandbox's kernel (the guest's /tmp is a
/// tmpfs: a file under the bundle's rootfs/tmp is not in it), in the foreground or through
/// a detached exec's proxy. Each names the program and the cause once; the container runs
/// on.
#[test]
fn an_exec_of_a_missing_program_is_one_error_naming_it() {
    let rt = Runtime::new();
    running(&rt, "miss");
    let rootfs = rt.dir.path().join("miss/rootfs");
    std::fs::copy("/bin/busybox", rootfs.join("tmp/hidden")).unwrap();
    let cases = [
        (
            vec!["exec", "miss", "/no/such/program"],
            format!(
                "exec in container miss: executable \"/no/such/program\" not found inside {}",
                rootfs.display()
            ),
        ),
        (
            vec!["exec", "miss", "/tmp/hidden", "true"],
            "exec in container miss: cannot start /tmp/hidden: \
             No such file or directory (os error 2)"
                .to_string(),
        ),
        (
            vec!["exec", "--detach", "miss", "/tmp/hidden", "true"],
            "exec in container miss: cannot start /tmp/hidden: \
             No such file or directory (os error 2)"
                .to_string(),
        ),
    ];
    for (args, want) in cases {
        let o = rt.run_with_timeout(&args, 20);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(tests::the_error(&stderr), want, "{args:?}");
    }
    assert_eq!(rt.status("miss").as_deref(), Some("running"));
    assert!(rt.run(&["delete", "-f", "miss"]).status.success());
}

/// `kill --pid` signals one guest process; a pid that is not there is one error naming
/// it, and the container runs on.
#[test]
fn kill_of_a_missing_process_is_one_error_naming_it() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle(
        "kp",
        &["sh", "-c", "sleep 1000 & echo child $!; wait; echo waited"],
    );
    let o = rt.run_to_files(
        "kp",
        &[
            "run",
            "--detach",
            "--bundle",
            bundle.to_str().unwrap(),
            "kp",
        ],
    );
    assert!(o.status.success(), "{}", o.stderr);
    let out = rt.wait_for_output("kp", "child ", 20);
    let child = out
        .lines()
        .find_map(|l| l.strip_prefix("child "))
        .unwrap_or_else(|| panic!("no child pid in {out:?}"))
        .to_string();

    let o = rt.run(&["kill", "--pid", "4242", "kp", "TERM"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        tests::the_error(&stderr),
        "kill of container kp: no such process 4242"
    );
    assert_eq!(rt.status("kp").as_deref(), Some("running"));

    // The child alone gets the signal: the init's wait returns.
    let o = rt.run(&["kill", "--pid", &child, "kp", "KILL"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(rt.wait_for_output("kp", "waited", 20).contains("waited"));
    let _ = rt.run(&["delete", "-f", "kp"]);
}

#[test]
fn exec_in_a_missing_or_stopped_container_fails() {
    let rt = Runtime::new();
    let o = rt.run(&["exec", "nosuch", "true"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not exist"),
        "{}",
        text(&o)
    );
    let bundle = rt.busybox_bundle("st", &["true"]);
    assert!(rt
        .run_to_files(
            "st",
            &["create", "--bundle", bundle.to_str().unwrap(), "st"]
        )
        .status
        .success());
    let o = rt.run(&["exec", "st", "true"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("container not running"),
        "{}",
        text(&o)
    );
    assert!(rt.run(&["delete", "st"]).status.success());
}

fn status_field(pid: i32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn ns(pid: &str, kind: &str) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap()
}

#[test]
fn the_sandbox_is_locked_down_and_in_its_namespaces() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("lock", &["sleep", "100"]);
    let config = bundle.join("config.json");
    // A network namespace given by path is joined (Docker passes one); uts, ipc and
    // mount namespaces without a path are new.
    let me = std::process::id().to_string();
    let c = std::fs::read_to_string(&config).unwrap().replace(
        "\"namespaces\": [",
        &format!("\"namespaces\": [{{\"type\": \"network\", \"path\": \"/proc/{me}/ns/net\"}}, "),
    );
    std::fs::write(&config, c).unwrap();
    let o = rt.run_to_files(
        "lock",
        &["create", "--bundle", bundle.to_str().unwrap(), "lock"],
    );
    assert!(o.status.success(), "{}", o.stderr);
    let pid = rt.state("lock").unwrap().get("pid").as_f64().unwrap() as i32;
    let p = pid.to_string();
    assert_eq!(ns(&p, "net"), ns(&me, "net"));
    assert_ne!(ns(&p, "uts"), ns(&me, "uts"));
    assert_ne!(ns(&p, "ipc"), ns(&me, "ipc"));
    assert_ne!(ns(&p, "mnt"), ns(&me, "mnt"));
    // A pid namespace of its own although the spec asks for none.
    assert_ne!(ns(&p, "pid"), ns(&me, "pid"));
    // Locked down before `create` returns (before its first stub exists), and still so
    // once the guest runs.
    let locked = |when: &str| {
        let seccomp = status_field(pid, "Seccomp");
        let nnp = status_field(pid, "NoNewPrivs");
        let cap_eff = u64::from_str_radix(&status_field(pid, "CapEff"), 16).unwrap_or(u64::MAX);
        let cap_bnd = u64::from_str_radix(&status_field(pid, "CapBnd"), 16).unwrap_or(u64::MAX);
        assert_eq!(seccomp, "2", "seccomp filter mode {when}");
        assert_eq!(nnp, "1", "{when}");
        const CAP_SYS_ADMIN: u64 = 1 << 21;
        const CAP_SYS_PTRACE: u64 = 1 << 19;
        assert_eq!(cap_eff & CAP_SYS_ADMIN, 0, "CapEff {cap_eff:x} {when}");
        assert_eq!(cap_bnd & CAP_SYS_ADMIN, 0, "CapBnd {cap_bnd:x} {when}");
        assert_eq!(cap_eff & CAP_SYS_PTRACE, 0, "CapEff {cap_eff:x} {when}");
    };
    locked("after create");
    assert!(rt.run(&["start", "lock"]).status.success());
    let running = rt.wait_for_status("lock", "running", 5);
    locked("once running");
    let _ = rt.run(&["delete", "-f", "lock"]);
    assert_eq!(running.as_deref(), Some("running"));
}

#[test]
fn checkpoint_of_a_paused_container_writes_an_image() {
    let rt = Runtime::new();
    running(&rt, "ck");
    let img = rt.dir.path().join("img");
    let i = img.to_str().unwrap();
    // As containerd and Docker drive it: pause, checkpoint --leave-running, resume.
    assert!(rt.run(&["pause", "ck"]).status.success());
    let o = rt.run(&[
        "checkpoint",
        "--image-path",
        i,
        "--work-path",
        i,
        "--leave-running",
        "ck",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(img.join("checkpoint.img").exists());
    assert!(rt.run(&["resume", "ck"]).status.success());
    assert_eq!(rt.status("ck").as_deref(), Some("running"));
    // Without --leave-running the sandbox ends.
    let img2 = rt.dir.path().join("img2");
    let o = rt.run(&["checkpoint", "--image-path", img2.to_str().unwrap(), "ck"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(img2.join("checkpoint.img").exists());
    assert_eq!(
        rt.wait_for_status("ck", "stopped", 10).as_deref(),
        Some("stopped")
    );
    assert!(rt.run(&["delete", "ck"]).status.success());
}

#[test]
fn killing_the_exec_proxy_kills_the_guest_process() {
    let rt = Runtime::new();
    running(&rt, "exk");
    // The guest process appends to a file of the (passthrough) rootfs, seen from the host.
    let tick = rt.dir.path().join("exk/rootfs/tick");
    let pid_file = rt.dir.path().join("exk-proxy.pid");
    let o = rt.run_to_files(
        "exk-exec",
        &[
            "exec",
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "exk",
            "sh",
            "-c",
            "while true; do echo x >> /tick; sleep 0.1; done",
        ],
    );
    assert!(o.status.success(), "{}", o.stderr);
    let size = || std::fs::metadata(&tick).map(|m| m.len()).unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(size() > 0, "the exec'd process runs");
    let proxy = std::fs::read_to_string(&pid_file).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-9", proxy.trim()])
        .status();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let before = size();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let after = size();
    let still_running = rt.status("exk");
    let _ = rt.run(&["delete", "-f", "exk"]);
    assert_eq!(
        before, after,
        "the guest process still writes after its proxy died"
    );
    assert_eq!(
        still_running.as_deref(),
        Some("running"),
        "the container itself runs on"
    );
}

#[test]
fn the_exec_proxy_forwards_signals_and_exits_with_the_guest_status() {
    let rt = Runtime::new();
    running(&rt, "exs");
    let mut proxy = rt
        .cmd(&["exec", "exs", "sh", "-c", "echo ready; sleep 100"])
        .stdout(std::fs::File::create(rt.dir.path().join("exs-exec.out")).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(rt
        .wait_for_output("exs-exec", "ready", 10)
        .contains("ready"));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &proxy.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = proxy.try_wait().unwrap() {
            break s.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = proxy.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let container = rt.status("exs");
    let _ = rt.run(&["delete", "-f", "exs"]);
    assert_eq!(status, Some(143), "SIGTERM reached the guest process");
    assert_eq!(container.as_deref(), Some("running"));
}
