//! The container lifecycle through the runsc binary: create, state, start, kill, delete,
//! run, wait. These need the sentry to run busybox.

use tests::{Json, Runtime};

fn s(o: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Creates container `id` from a busybox bundle running `args`; asserts success.
fn create(rt: &Runtime, id: &str, args: &[&str]) -> std::path::PathBuf {
    let bundle = rt.busybox_bundle(id, args);
    let pid_file = rt.dir.path().join(format!("{id}.pid"));
    let o = rt.run_to_files(
        id,
        &[
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
        ],
    );
    assert!(o.status.success(), "create {id}: {}", o.stderr);
    pid_file
}

#[test]
fn lifecycle_create_start_kill_delete() {
    let rt = Runtime::new();
    let pid_file = create(&rt, "life", &["sh", "-c", "echo started; sleep 100"]);
    let st = rt.state("life").expect("state after create");
    assert_eq!(st.get("status").as_str(), Some("created"));
    let pid = st.get("pid").as_f64().unwrap() as i32;
    assert!(pid > 0);
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    for key in [
        "ociVersion",
        "id",
        "status",
        "pid",
        "bundle",
        "rootfs",
        "created",
        "annotations",
    ] {
        assert!(st.keys().contains(&key), "{key} missing from state");
    }

    let o = rt.run(&["start", "life"]);
    assert!(o.status.success(), "start: {}", s(&o));
    assert_eq!(rt.status("life").as_deref(), Some("running"));
    assert!(rt
        .wait_for_output("life", "started", 10)
        .contains("started"));

    let o = rt.run(&["list", "--format", "json"]);
    let list = Json::parse(&String::from_utf8_lossy(&o.stdout)).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.get("id").as_str())
        .collect();
    assert_eq!(ids, ["life"]);

    let o = rt.run(&["kill", "life", "KILL"]);
    assert!(o.status.success(), "kill: {}", s(&o));
    assert_eq!(
        rt.wait_for_status("life", "stopped", 10).as_deref(),
        Some("stopped")
    );
    assert_eq!(rt.state("life").unwrap().get("pid").as_f64(), Some(0.0));

    let o = rt.run(&["delete", "life"]);
    assert!(o.status.success(), "delete: {}", s(&o));
    assert!(rt.state("life").is_none());
    let o = rt.run(&["state", "life"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
}

#[test]
fn start_on_a_running_container_fails() {
    let rt = Runtime::new();
    create(&rt, "twice", &["sleep", "100"]);
    assert!(rt.run(&["start", "twice"]).status.success());
    let o = rt.run(&["start", "twice"]);
    assert!(!o.status.success(), "second start: {}", s(&o));
    assert!(rt.run(&["delete", "--force", "twice"]).status.success());
}

#[test]
fn delete_of_a_running_container_needs_force() {
    let rt = Runtime::new();
    create(&rt, "busy", &["sleep", "100"]);
    assert!(rt.run(&["start", "busy"]).status.success());
    let o = rt.run(&["delete", "busy"]);
    assert!(!o.status.success(), "delete without force: {}", s(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not stopped"),
        "{}",
        s(&o)
    );
    assert_eq!(rt.status("busy").as_deref(), Some("running"));
    let pid = rt.state("busy").unwrap().get("pid").as_f64().unwrap() as i32;
    let o = rt.run(&["delete", "--force", "busy"]);
    assert!(o.status.success(), "delete --force: {}", s(&o));
    assert!(rt.state("busy").is_none());
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "sandbox {pid} still alive: {stat}"
    );
}

#[test]
fn a_created_container_deletes_without_force() {
    let rt = Runtime::new();
    create(&rt, "fresh", &["sleep", "100"]);
    let o = rt.run(&["delete", "fresh"]);
    assert!(o.status.success(), "{}", s(&o));
    assert!(rt.state("fresh").is_none());
}

#[test]
fn create_of_an_existing_id_fails() {
    let rt = Runtime::new();
    create(&rt, "dup", &["sleep", "100"]);
    let bundle = rt.dir.path().join("dup");
    let o = rt.run_to_files(
        "dup2",
        &["create", "--bundle", bundle.to_str().unwrap(), "dup"],
    );
    assert!(!o.status.success());
    assert!(o.stderr.contains("already exists"), "{}", o.stderr);
    assert_eq!(rt.status("dup").as_deref(), Some("created"));
    assert!(rt.run(&["delete", "dup"]).status.success());
}

#[test]
fn kill_takes_signal_names_and_numbers() {
    let rt = Runtime::new();
    create(&rt, "sig", &["sleep", "100"]);
    assert!(rt.run(&["start", "sig"]).status.success());
    let o = rt.run(&["kill", "sig", "BOGUS"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid signal"));
    let o = rt.run(&["kill", "sig", "SIGTERM"]);
    assert!(o.status.success(), "{}", s(&o));
    assert_eq!(
        rt.wait_for_status("sig", "stopped", 10).as_deref(),
        Some("stopped")
    );
    let o = rt.run(&["wait", "sig"]);
    let w = Json::parse(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert_eq!(w.get("exitStatus").as_f64(), Some(143.0));
    let o = rt.run(&["kill", "sig", "9"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("container not running"),
        "{}",
        s(&o)
    );
    assert!(rt.run(&["delete", "sig"]).status.success());
}

#[test]
fn wait_returns_the_exit_status() {
    let rt = Runtime::new();
    create(&rt, "w", &["sh", "-c", "exit 7"]);
    assert!(rt.run(&["start", "w"]).status.success());
    let o = rt.run(&["wait", "w"]);
    assert!(o.status.success(), "{}", s(&o));
    let w = Json::parse(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert_eq!(w.get("exitStatus").as_f64(), Some(7.0));
    assert_eq!(w.get("id").as_str(), Some("w"));
    assert_eq!(
        rt.wait_for_status("w", "stopped", 10).as_deref(),
        Some("stopped")
    );
    assert!(rt.run(&["delete", "w"]).status.success());
}

#[test]
fn run_in_the_foreground_exits_with_the_status() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("fg", &["sh", "-c", "echo out; exit 5"]);
    let o = rt.run_to_files("fg", &["run", "--bundle", bundle.to_str().unwrap(), "fg"]);
    assert_eq!(o.status.code(), Some(5), "{}", o.stderr);
    assert_eq!(rt.output_of("fg"), "out\n");
    assert!(rt.state("fg").is_none(), "run deletes the container");
}

#[test]
fn a_bad_config_json_is_a_clear_error() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("bad", &["true"]);
    let b = bundle.to_str().unwrap();
    let config = bundle.join("config.json");
    let good = std::fs::read_to_string(&config).unwrap();

    std::fs::write(&config, "{\"ociVersion\": ").unwrap();
    let o = rt.run_to_files("bad1", &["create", "--bundle", b, "bad"]);
    assert!(!o.status.success());
    assert!(
        o.stderr.contains("config.json") && o.stderr.contains("EOF"),
        "{}",
        o.stderr
    );

    std::fs::write(&config, good.replace("\"cwd\": \"/\"", "\"cwdx\": \"/\"")).unwrap();
    let o = rt.run_to_files("bad2", &["create", "--bundle", b, "bad"]);
    assert!(
        o.stderr.contains("process: missing field `cwd`"),
        "{}",
        o.stderr
    );
    tests::assert_once(&o.stderr, "missing field `cwd`");

    std::fs::write(&config, good.replace("\"true\"", "\"no-such-program\"")).unwrap();
    let log = rt.dir.path().join("bad.log");
    let l = log.to_str().unwrap();
    let o = rt.run_to_files(
        "bad3",
        &[
            "--log",
            l,
            "--log-format",
            "json",
            "create",
            "--bundle",
            b,
            "bad",
        ],
    );
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let v = Json::parse(text.trim()).expect("the log holds exactly one JSON object");
    assert!(
        v.get("msg")
            .as_str()
            .unwrap()
            .contains("\"no-such-program\" not found"),
        "{text}"
    );

    // Nothing is left behind by a failed create.
    assert!(rt.state("bad").is_none());
    let o = rt.run(&["list", "-q"]);
    assert!(o.stdout.is_empty(), "{}", s(&o));
}

#[test]
fn lifecycle_in_a_new_pid_namespace() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle_ns("pidns", &["sh", "-c", "echo in-pidns; sleep 100"], true);
    let config = bundle.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("{\"type\": \"pid\"}"));
    let o = rt.run_to_files(
        "pidns",
        &["create", "--bundle", bundle.to_str().unwrap(), "pidns"],
    );
    assert!(o.status.success(), "create: {}", o.stderr);
    assert!(rt.run(&["start", "pidns"]).status.success());
    assert!(rt
        .wait_for_output("pidns", "in-pidns", 10)
        .contains("in-pidns"));
    assert!(rt.run(&["kill", "pidns", "KILL"]).status.success());
    assert_eq!(
        rt.wait_for_status("pidns", "stopped", 10).as_deref(),
        Some("stopped")
    );
    assert!(rt.run(&["delete", "pidns"]).status.success());
}

#[test]
fn a_terminal_needs_a_console_socket() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("tty", &["sh"]);
    let config = bundle.join("config.json");
    let c = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\"terminal\": false", "\"terminal\": true");
    std::fs::write(&config, c).unwrap();
    let o = rt.run_to_files(
        "tty",
        &["create", "--bundle", bundle.to_str().unwrap(), "tty"],
    );
    assert!(!o.status.success());
    assert!(
        o.stderr.contains("--console-socket is required"),
        "{}",
        o.stderr
    );
    let o = rt.run_to_files(
        "tty2",
        &[
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "--console-socket",
            "/nonexistent/sock",
            "tty",
        ],
    );
    assert!(!o.status.success());
    assert!(o.stderr.contains("console socket"), "{}", o.stderr);
    assert!(rt.state("tty").is_none());
}

#[test]
fn run_forwards_sigterm_to_the_container() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("fwd", &["sh", "-c", "echo up; sleep 100"]);
    let out = std::fs::File::create(rt.dir.path().join("fwd.out")).unwrap();
    let mut child = rt
        .cmd(&["run", "--bundle", bundle.to_str().unwrap(), "fwd"])
        .stdout(out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(rt.wait_for_output("fwd", "up", 10).contains("up"));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(143),
        "runsc run exits with the init's status"
    );
    assert!(rt.state("fwd").is_none());
}
