//! The confinement of the sandbox process and of its stubs, checked from the host side
//! through /proc: what they hold (capabilities, no_new_privs, a seccomp filter) and what
//! they see (their root holds nothing of the host's), for a container (`runsc run`, and
//! `runsc restore`) and for `runsc do`; and that a checkpoint leaves nothing in the image
//! directory but the image and its marker.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::Runtime;

/// CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_NET_BIND_SERVICE: what the
/// sandbox process keeps (boot/src/capabilities.rs).
const KEPT: u64 = 1 << 0 | 1 << 1 | 1 << 3 | 1 << 4 | 1 << 10;

/// Top-level entries of a host root; none may show in a sandbox's root.
const HOST_ENTRIES: &[&str] = &[
    "etc", "usr", "proc", "bin", "sbin", "lib", "dev", "sys", "home", "root", "var", "tmp", "run",
    "boot", "opt", "srv", "mnt", "work",
];

fn status(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"))
}

fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

fn caps(status: &str, name: &str) -> u64 {
    u64::from_str_radix(&field(status, name), 16).unwrap()
}

/// Every descendant of `pid` (the stubs: the master stub and the stubs forked from it).
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for task in std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for k in kids
                .split_whitespace()
                .filter_map(|k| k.parse::<i32>().ok())
            {
                if !out.contains(&k) {
                    out.push(k);
                    todo.push(k);
                }
            }
        }
    }
    out
}

/// A stub: no privilege, the sandbox's seccomp filter and its own, a root holding nothing
/// of the host.
fn assert_stub_confined(stub: i32, who: &str) {
    let st = status(stub);
    assert_eq!(field(&st, "NoNewPrivs"), "1", "{who}: stub {stub}");
    assert_eq!(field(&st, "Seccomp"), "2", "{who}: stub {stub}");
    // The sandbox's filter and the stub's own.
    let filters: u32 = field(&st, "Seccomp_filters").parse().unwrap();
    assert!(filters >= 2, "{who}: stub {stub} has {filters} filters");
    assert_eq!(caps(&st, "CapEff"), 0, "{who}: stub {stub} CapEff");
    assert_eq!(caps(&st, "CapPrm"), 0, "{who}: stub {stub} CapPrm");
    assert_root_holds_nothing_of_the_host(stub, who);
}

/// Whether process `pid` still runs (exists and is not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(')')?.1.split_whitespace().next()? != "Z"))
        .unwrap_or(false)
}

/// What `/proc/PID/root` lists, sorted.
fn root_entries(pid: i32) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/root"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/root: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The root of `pid` holds the sandbox's own layout and nothing of the host's.
fn assert_root_holds_nothing_of_the_host(pid: i32, who: &str) {
    let entries = root_entries(pid);
    assert_eq!(entries, ["mounts", "rootfs"], "{who}: root of {pid}");
    for e in HOST_ENTRIES {
        assert!(
            !Path::new(&format!("/proc/{pid}/root/{e}")).exists(),
            "{who}: {e} in the root of {pid}"
        );
    }
    assert!(Path::new("/etc/passwd").exists());
    assert!(
        !Path::new(&format!("/proc/{pid}/root/etc/passwd")).exists(),
        "{who}: the host's /etc/passwd is reachable from {pid}"
    );
    // `..` from the root stays there.
    assert_eq!(
        std::fs::read_dir(format!("/proc/{pid}/root/../.."))
            .unwrap()
            .count(),
        2,
        "{who}: .. from the root of {pid}"
    );
    // Its mounts: the read-only root, binds and tmpfs beneath /rootfs and /mounts; no
    // proc, sysfs or devtmpfs.
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (at, opts) = (f[4], f[5]);
        let fstype = f[f.iter().position(|&x| x == "-").unwrap() + 1];
        assert!(
            !["proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2"].contains(&fstype),
            "{who}: {line}"
        );
        if at == "/" {
            assert!(
                opts.starts_with("ro,"),
                "{who}: the root is writable: {line}"
            );
        } else {
            assert!(
                at == "/rootfs" || at.starts_with("/mounts/"),
                "{who}: mount at {at}: {line}"
            );
            assert!(
                opts.contains("nosuid") && opts.contains("nodev"),
                "{who}: {line}"
            );
        }
    }
}

/// The sandbox process `pid` and each of its stubs: locked down, rooted in nothing of the
/// host's. Returns the stubs' pids.
fn assert_confined(pid: i32, who: &str) -> Vec<i32> {
    let st = status(pid);
    assert_eq!(field(&st, "NoNewPrivs"), "1", "{who}: sandbox {pid}");
    assert_eq!(field(&st, "Seccomp"), "2", "{who}: sandbox {pid}");
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(caps(&st, set), KEPT, "{who}: sandbox {pid} {set}");
    }
    assert_eq!(caps(&st, "CapInh"), 0, "{who}: sandbox {pid}");
    assert_eq!(caps(&st, "CapAmb"), 0, "{who}: sandbox {pid}");
    assert_root_holds_nothing_of_the_host(pid, who);
    let stubs = descendants(pid);
    assert!(!stubs.is_empty(), "{who}: no stubs below {pid}");
    for &stub in &stubs {
        // A stub that ends meanwhile (a short-lived process's: the guests here fork
        // `sleep` in a loop) has nothing left to check.
        let checked = std::panic::catch_unwind(|| assert_stub_confined(stub, who));
        if let Err(e) = checked {
            if alive(stub) {
                std::panic::resume_unwind(e);
            }
        }
    }
    stubs
}

/// A busybox bundle running `args`, with a read-write directory bind, a read-only file
/// bind (as Docker binds /etc/hosts) and the tmpfs /tmp.
fn bundle_with_binds(rt: &Runtime, name: &str, args: &[&str]) -> std::path::PathBuf {
    let host = rt.dir.path().join(format!("{name}-host"));
    std::fs::create_dir_all(host.join("data")).unwrap();
    std::fs::write(host.join("hosts"), "127.0.0.1 host-file\n").unwrap();
    let bundle = rt.busybox_bundle(name, args);
    std::fs::write(bundle.join("rootfs/etc/hosts"), "").unwrap();
    std::fs::create_dir_all(bundle.join("rootfs/data")).unwrap();
    let cfg = std::fs::read_to_string(bundle.join("config.json")).unwrap();
    let extra = format!(
        r#"{{"destination": "/etc/hosts", "type": "bind", "source": "{}", "options": ["bind", "ro"]}},
    {{"destination": "/data", "type": "bind", "source": "{}", "options": ["rbind", "rw"]}},
    {{"destination": "/proc""#,
        host.join("hosts").display(),
        host.join("data").display()
    );
    let cfg = cfg.replacen(r#"{"destination": "/proc""#, &extra, 1);
    std::fs::write(bundle.join("config.json"), cfg).unwrap();
    bundle
}

fn sandbox_pid(rt: &Runtime, id: &str) -> i32 {
    rt.state(id)
        .unwrap_or_else(|| panic!("state of {id}"))
        .get("pid")
        .as_f64()
        .unwrap() as i32
}

/// Waits until the container's stdout holds `text`.
fn wait_output(rt: &Runtime, id: &str, text: &str) {
    let out = rt.wait_for_output(id, text, 20);
    assert!(out.contains(text), "{id}: {out:?}");
}

#[test]
fn a_container_sandbox_and_its_stubs_hold_nothing_of_the_host() {
    let rt = Runtime::new();
    let bundle = bundle_with_binds(
        &rt,
        "conf",
        &[
            "sh",
            "-c",
            "cat /etc/hosts; ls /data; echo ready; exec sleep 100",
        ],
    );
    std::fs::write(rt.dir.path().join("conf-host/data/seen"), "").unwrap();
    let o = rt.run_to_files(
        "conf",
        &[
            "run",
            "--detach",
            "--bundle",
            bundle.to_str().unwrap(),
            "conf",
        ],
    );
    assert!(o.status.success(), "{}", o.stderr);
    wait_output(&rt, "conf", "ready");
    assert_eq!(
        rt.output_of("conf"),
        "127.0.0.1 host-file\nseen\nready\n",
        "the binds work through the new root"
    );
    let pid = sandbox_pid(&rt, "conf");
    let stubs = assert_confined(pid, "container");
    // The bind mounts are there, the read-only one read-only on the host too.
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let ro_binds = mountinfo
        .lines()
        .filter(|l| l.split_whitespace().nth(4).unwrap().starts_with("/mounts/"))
        .filter(|l| l.split_whitespace().nth(5).unwrap().starts_with("ro,"))
        .count();
    assert_eq!(ro_binds, 1, "{mountinfo}");
    // In a pid namespace of its own, where the stubs are all it sees.
    let me = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(),
        me
    );
    let nspid = field(&status(pid), "NSpid");
    assert_eq!(nspid.split_whitespace().last(), Some("1"), "NSpid {nspid}");
    // runsc ps names the host pids of the sandbox and of its stubs.
    let o = rt.run(&["ps", "--format", "json", "conf"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed = tests::Json::parse(&String::from_utf8_lossy(&o.stdout)).unwrap();
    let listed: Vec<i32> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap() as i32)
        .collect();
    assert!(listed.contains(&pid), "{listed:?}");
    assert!(
        stubs.iter().any(|s| listed.contains(s)),
        "{listed:?} {stubs:?}"
    );
    assert!(rt.run(&["delete", "-f", "conf"]).status.success());
}

#[test]
fn a_runsc_do_sandbox_and_its_stubs_hold_nothing_of_the_host() {
    let mut child = Command::new(tests::runsc_bin())
        .args([
            "do",
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            "echo ready; exec sleep 100",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "ready\n");
    let pid = child.id() as i32;
    let checked = std::panic::catch_unwind(|| assert_confined(pid, "runsc do"));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = checked {
        std::panic::resume_unwind(e);
    }
}

/// Names in a directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Checkpoint and restore through the confined sandbox: the image directory holds only
/// checkpoint.img, inventory.img and CRIU's stats-dump (no temporary file, also after a
/// second checkpoint replaced the first), tmpfs contents come back, the restored sandbox is confined too,
/// and its seccomp filter refused nothing on the way.
#[test]
fn checkpoint_and_restore_through_a_confined_sandbox() {
    let rt = Runtime::new();
    let log = rt.dir.path().join("runsc.log");
    let log_arg = log.to_str().unwrap().to_string();
    let script = "echo kept > /tmp/mark; echo ready; i=0; while true; do i=$((i+1)); \
                  echo $i > /tmp/n; sleep 0.1; done";
    let bundle = bundle_with_binds(&rt, "src", &["sh", "-c", script]);
    let b = bundle.to_str().unwrap();
    let with_log = |args: &[&str]| {
        let mut v = vec!["--log", log_arg.as_str()];
        v.extend_from_slice(args);
        v.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let args = with_log(&["run", "--detach", "--bundle", b, "src"]);
    let o = rt.run_to_files("src", &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", o.stderr);
    wait_output(&rt, "src", "ready");

    let img = rt.dir.path().join("img");
    let i = img.to_str().unwrap();
    for leave_running in [true, false] {
        let mut args = with_log(&["checkpoint", "--image-path", i]);
        if leave_running {
            args.push("--leave-running".into());
        }
        args.push("src".into());
        let o = rt.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            o.status.success(),
            "checkpoint: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            entries(&img),
            ["checkpoint.img", "inventory.img", "stats-dump"],
            "leave_running {leave_running}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.status("src").as_deref() != Some("stopped") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(rt.run(&["delete", "src"]).status.success());

    let args = with_log(&[
        "restore",
        "--detach",
        "--image-path",
        i,
        "--bundle",
        b,
        "dst",
    ]);
    let o = rt.run_to_files("dst", &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "restore: {}", o.stderr);
    let pid = sandbox_pid(&rt, "dst");
    assert_confined(pid, "restored container");
    // The tmpfs came back, and the counter goes on.
    let exec = |cmd: &str| {
        let o = rt.run_with_timeout(&["exec", "dst", "sh", "-c", cmd], 20);
        assert!(o.status.success(), "exec {cmd}: {o:?}");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(exec("cat /tmp/mark"), "kept");
    // The counter truncates /tmp/n before it writes: a read in between finds it empty.
    let counter = || -> u64 {
        (0..20)
            .find_map(|_| {
                let n = exec("cat /tmp/n").parse().ok();
                if n.is_none() {
                    std::thread::sleep(Duration::from_millis(30));
                }
                n
            })
            .expect("/tmp/n is never a number")
    };
    let first = counter();
    std::thread::sleep(Duration::from_millis(500));
    let later = counter();
    assert!(
        later > first,
        "the counter did not go on: {first} then {later}"
    );
    assert!(rt.run(&["delete", "-f", "dst"]).status.success());
    assert_eq!(
        entries(&img),
        ["checkpoint.img", "inventory.img", "stats-dump"]
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("refused host syscall"), "{text}");
}

/// A tmpfs mounted on the host for the length of a test.
struct TinyTmpfs(std::path::PathBuf);

impl TinyTmpfs {
    fn mount(at: &Path, size: &str) -> TinyTmpfs {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mount a tmpfs on {}", at.display());
        TinyTmpfs(at.to_path_buf())
    }
}

impl Drop for TinyTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A checkpoint the sandbox fails to write (the image directory is full) leaves no
/// temporary file behind, and the container runs on.
#[test]
fn a_failed_checkpoint_leaves_no_temporary_file() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("full", &["sh", "-c", "echo ready; exec sleep 100"]);
    let o = rt.run_to_files(
        "full",
        &[
            "run",
            "--detach",
            "--bundle",
            bundle.to_str().unwrap(),
            "full",
        ],
    );
    assert!(o.status.success(), "{}", o.stderr);
    wait_output(&rt, "full", "ready");
    let img = rt.dir.path().join("img");
    let _tiny = TinyTmpfs::mount(&img, "16k");
    let o = rt.run(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        img.to_str().unwrap(),
        "full",
    ]);
    assert!(!o.status.success());
    // One error, from the sandbox's kernel through the control socket: it names the
    // image, and the cause once, at the end.
    let stderr = String::from_utf8_lossy(&o.stderr);
    let err = tests::the_error(&stderr);
    let image = format!("{}/checkpoint.img", img.display());
    assert!(
        err.starts_with(&format!(
            "checkpoint of container full: writing the checkpoint image {image}: "
        )),
        "{err}"
    );
    assert!(
        err.ends_with(" the image file: No space left on device (os error 28)"),
        "{err}"
    );
    for part in [image.as_str(), "the image file", "No space left on device"] {
        tests::assert_once(err, part);
    }
    assert!(entries(&img).is_empty(), "{:?}", entries(&img));
    assert_eq!(rt.status("full").as_deref(), Some("running"));
    assert!(rt.run(&["delete", "-f", "full"]).status.success());
}

/// A checkpoint into a directory that cannot be written to (a read-only mount) is refused
/// with one error naming the file it could not create and the cause, once; the container
/// runs on.
#[test]
fn a_checkpoint_into_a_read_only_directory_is_one_error() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("ro", &["sh", "-c", "echo ready; exec sleep 100"]);
    let o = rt.run_to_files(
        "ro",
        &[
            "run",
            "--detach",
            "--bundle",
            bundle.to_str().unwrap(),
            "ro",
        ],
    );
    assert!(o.status.success(), "{}", o.stderr);
    wait_output(&rt, "ro", "ready");
    let img = rt.dir.path().join("img");
    let tmpfs = TinyTmpfs::mount(&img, "1m");
    let st = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&img)
        .status()
        .unwrap();
    assert!(st.success(), "remount {} read-only", img.display());
    let o = rt.run(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        img.to_str().unwrap(),
        "ro",
    ]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    let err = tests::the_error(&stderr);
    let tmp = format!("{}/.checkpoint.img.tmp.", img.display());
    assert!(
        err.starts_with(&format!("checkpoint of container ro: creating {tmp}")),
        "{err}"
    );
    assert!(
        err.ends_with(": Read-only file system (os error 30)"),
        "{err}"
    );
    tests::assert_once(err, &tmp);
    tests::assert_once(err, "Read-only file system");
    assert!(entries(&img).is_empty(), "{:?}", entries(&img));
    assert_eq!(rt.status("ro").as_deref(), Some("running"));
    drop(tmpfs);
    assert!(rt.run(&["delete", "-f", "ro"]).status.success());
}
