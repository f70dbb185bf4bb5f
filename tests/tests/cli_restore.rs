//! Checkpoint and restore through the runsc binary, as a user (or Docker, containerd,
//! Podman) drives them: `checkpoint --image-path DIR [--leave-running] ID`, then
//! `restore --image-path DIR --bundle B [--detach] [--pid-file F] ID`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tests::Runtime;

mod common;

/// A counter that writes each value to /tmp/n (a tmpfs, saved inside the image) and to
/// stdout, ten times a second.
const COUNTER: &str = "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; echo $i; sleep 0.1; done";

use tests::text;

/// The numbers a counter printed on the stdout of the command `name`.
fn numbers(rt: &Runtime, name: &str) -> Vec<u64> {
    rt.output_of(name)
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: line {l:?}"))
        })
        .collect()
}

/// Waits until the command `name`'s stdout holds at least `n` numbers; returns them.
fn wait_for_numbers(rt: &Runtime, name: &str, n: usize, secs: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = numbers(rt, name);
        if v.len() >= n || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `restore --detach` of `image` into container `id`, its stdio the files `ID.out` and
/// `ID.err`; the pid-file is `ID.pid`.
fn restore(rt: &Runtime, id: &str, bundle: &Path, image: &Path) -> tests::Outcome {
    restore_with(rt, id, bundle, image, &[])
}

/// `restore` of `image` into container `id` in the foreground (`global`: flags before
/// the command), killed after 60 s: a restore from an image with a bad segment fails
/// whether the segment is found before the guest runs or after (then the sandbox ends).
fn restore_foreground(
    rt: &Runtime,
    id: &str,
    bundle: &Path,
    image: &Path,
    global: &[&str],
) -> std::process::Output {
    let args = [
        global,
        &[
            "restore",
            "--image-path",
            image.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            id,
        ],
    ]
    .concat();
    let o = rt.run_with_timeout(&args, 60);
    use std::os::unix::process::ExitStatusExt;
    if o.status.success() || o.status.signal().is_some() {
        let _ = rt.run(&["kill", id, "KILL"]);
        let _ = rt.run(&["delete", "--force", id]);
    }
    o
}

/// `restore`, with the flags `extra` too.
fn restore_with(
    rt: &Runtime,
    id: &str,
    bundle: &Path,
    image: &Path,
    extra: &[&str],
) -> tests::Outcome {
    let pid_file = rt.dir.path().join(format!("{id}.pid"));
    let mut args = vec!["restore"];
    args.extend_from_slice(extra);
    rt.run_to_files(
        id,
        &[
            &args[..],
            &[
                "--detach",
                "--image-path",
                image.to_str().unwrap(),
                "--work-path",
                image.to_str().unwrap(),
                "--pid-file",
                pid_file.to_str().unwrap(),
                "-no-subreaper",
                "--bundle",
                bundle.to_str().unwrap(),
                id,
            ],
        ]
        .concat(),
    )
}

/// Host processes that are sandboxes (`runsc … boot … ID`) under this runtime's root.
fn sandboxes_of(rt: &Runtime, id: &str) -> Vec<i32> {
    let root = rt.root();
    let root = root.to_str().unwrap();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "boot")
            && args.iter().any(|a| a == root)
            && args.last().map(String::as_str) == Some(id)
        {
            found.push(pid);
        }
    }
    found
}

/// The value a counter container holds in /tmp/n, read with `runsc exec`.
fn exec_counter(rt: &Runtime, id: &str) -> u64 {
    // The counter truncates /tmp/n before it writes: a read in between finds it empty.
    for _ in 0..20 {
        let o = rt.run_with_timeout(&["exec", id, "cat", "/tmp/n"], 20);
        assert!(o.status.success(), "exec {id} cat /tmp/n: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        if out.trim().is_empty() {
            std::thread::sleep(Duration::from_millis(30));
            continue;
        }
        return out
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("exec {id} cat /tmp/n: {}", text(&o)));
    }
    panic!("exec {id} cat /tmp/n: always empty");
}

#[test]
fn a_checkpointed_counter_continues_in_a_new_container_with_new_stdio() {
    let rt = Runtime::new();
    let bundle = rt.run_detached("count", &["sh", "-c", COUNTER]);
    let before = wait_for_numbers(&rt, "count", 5, 20);
    assert!(before.len() >= 5, "the counter runs: {before:?}");

    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), "count"]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    assert!(img.join("checkpoint.img").is_file());
    let inventory = std::fs::read_to_string(img.join("inventory.img")).unwrap();
    let inventory = tests::Json::parse(&inventory).expect("inventory.img is JSON");
    assert_eq!(inventory.get("image").as_str(), Some("checkpoint.img"));
    // Without --leave-running the container is stopped once checkpoint returns.
    assert_eq!(rt.status("count").as_deref(), Some("stopped"));
    let saved = *numbers(&rt, "count").last().unwrap();
    assert_eq!(
        numbers(&rt, "count").len() as u64,
        saved,
        "the original printed 1..{saved}"
    );

    let o = restore(&rt, "again", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    assert_eq!(rt.status("again").as_deref(), Some("running"));
    let pid = rt.state("again").unwrap().get("pid").as_f64().unwrap() as i32;
    let pid_file = std::fs::read_to_string(rt.dir.path().join("again.pid")).unwrap();
    assert_eq!(
        pid_file.trim(),
        pid.to_string(),
        "the pid-file names the sandbox"
    );

    // The restored counter prints on the restore command's stdout, from where it was.
    let after = wait_for_numbers(&rt, "again", 5, 20);
    assert!(after.len() >= 5, "the restored counter runs: {after:?}");
    assert_eq!(
        after[0],
        saved + 1,
        "the counter continues from {saved}: {after:?}"
    );
    let expected: Vec<u64> = (saved + 1..saved + 1 + after.len() as u64).collect();
    assert_eq!(after, expected);
    // Its tmpfs came back too, and keeps growing.
    let n = exec_counter(&rt, "again");
    assert!(n > saved, "/tmp/n is {n}, saved {saved}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(exec_counter(&rt, "again") > n);
    // The old stdio is left alone.
    assert_eq!(*numbers(&rt, "count").last().unwrap(), saved);

    assert!(rt.run(&["delete", "count"]).status.success());
    let o = rt.run(&["delete", "--force", "again"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_process_busy_in_guest_code_runs_on_after_restore() {
    // A loop without system calls between its prints: the checkpoint interrupts it in
    // guest code (not parked in a call), and the restored thread must be resumed.
    let rt = Runtime::new();
    let bundle = rt.run_detached(
        "busy",
        &[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); if [ $((i % 5000)) -eq 0 ]; then echo $i; fi; done",
        ],
    );
    assert!(wait_for_numbers(&rt, "busy", 3, 30).len() >= 3);
    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), "busy"]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    let saved = *numbers(&rt, "busy").last().unwrap();
    let o = restore(&rt, "busy2", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    let after = wait_for_numbers(&rt, "busy2", 2, 30);
    assert_eq!(
        after.first(),
        Some(&(saved + 5000)),
        "saved {saved}: {after:?}"
    );
    assert!(rt.run(&["delete", "--force", "busy2"]).status.success());
    assert!(rt.run(&["delete", "busy"]).status.success());
}

#[test]
fn checkpoint_leave_running_and_a_restored_copy_run_side_by_side() {
    let rt = Runtime::new();
    let bundle = rt.run_detached("orig", &["sh", "-c", COUNTER]);
    wait_for_numbers(&rt, "orig", 3, 20);
    // As containerd and Docker drive it: pause, checkpoint --leave-running, resume.
    assert!(rt.run(&["pause", "orig"]).status.success());
    let low = *numbers(&rt, "orig").last().unwrap();
    let img = rt.dir.path().join("img");
    let i = img.to_str().unwrap();
    let o = rt.run(&[
        "checkpoint",
        "--image-path",
        i,
        "--work-path",
        i,
        "--leave-running",
        "--leave-running",
        "orig",
    ]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    assert!(img.join("inventory.img").is_file());
    assert_eq!(rt.status("orig").as_deref(), Some("paused"));
    assert!(rt.run(&["resume", "orig"]).status.success());
    let high = *numbers(&rt, "orig").last().unwrap();

    let o = restore(&rt, "copy", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    let copy = wait_for_numbers(&rt, "copy", 3, 20);
    assert!(copy.len() >= 3, "the copy runs: {copy:?}");
    assert!(
        (low + 1..=high + 1).contains(&copy[0]),
        "the copy starts after the checkpointed value ({low}..={high}): {copy:?}"
    );
    // Both run, each on its own stdio.
    let orig_then = numbers(&rt, "orig").len();
    let copy_then = numbers(&rt, "copy").len();
    std::thread::sleep(Duration::from_millis(800));
    let orig_now = numbers(&rt, "orig").len();
    let copy_now = numbers(&rt, "copy").len();
    assert_eq!(rt.status("orig").as_deref(), Some("running"));
    assert_eq!(rt.status("copy").as_deref(), Some("running"));
    assert!(orig_now > orig_then, "the original goes on");
    assert!(copy_now > copy_then, "the copy goes on");
    assert_ne!(
        rt.state("orig").unwrap().get("pid"),
        rt.state("copy").unwrap().get("pid")
    );

    assert!(rt.run(&["delete", "--force", "copy"]).status.success());
    assert!(rt.run(&["delete", "--force", "orig"]).status.success());
}

/// Asserts that a failed restore of `id` left nothing: no state, no sandbox process, no
/// pid-file.
fn nothing_left(rt: &Runtime, id: &str) {
    assert!(rt.state(id).is_none(), "container {id} is left");
    assert!(
        !rt.root().join(id).exists(),
        "state directory of {id} is left"
    );
    assert_eq!(
        sandboxes_of(rt, id),
        Vec::<i32>::new(),
        "sandbox of {id} runs"
    );
    assert!(!rt.dir.path().join(format!("{id}.pid")).exists());
    let o = rt.run(&["list", "-q"]);
    assert!(o.stdout.is_empty(), "{}", text(&o));
}

#[test]
fn a_corrupt_or_truncated_image_is_refused_and_leaves_nothing() {
    let rt = Runtime::new();
    let bundle = rt.run_detached("src", &["sh", "-c", COUNTER]);
    wait_for_numbers(&rt, "src", 2, 20);
    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), "src"]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    assert!(rt.run(&["delete", "src"]).status.success());
    let good = std::fs::read(img.join("checkpoint.img")).unwrap();

    // A flipped byte in guest memory: found by the sandbox as it checks the segments,
    // before or after the guest runs.
    let bad = rt.dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("checkpoint.img"), &good).unwrap();
    tests::corrupt_a_segment(&bad.join("checkpoint.img"));
    let o = restore_foreground(&rt, "bad", &bundle, &bad, &[]);
    assert!(!o.status.success());
    // One error, from the sandbox through the control socket or its exit record: the
    // image and the cause, each once.
    assert_eq!(
        tests::the_error(&String::from_utf8_lossy(&o.stderr)),
        format!(
            "restore of container bad: restoring from {}: reading the checkpoint image: \
             segment 0 checksum mismatch",
            bad.join("checkpoint.img").display()
        )
    );
    nothing_left(&rt, "bad");
    // With a JSON log (Podman's), the log holds that error as one JSON object.
    let log = rt.dir.path().join("bad.log");
    let o = restore_foreground(
        &rt,
        "bad-json",
        &bundle,
        &bad,
        &["--log", log.to_str().unwrap(), "--log-format", "json"],
    );
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    let text = std::fs::read_to_string(&log).unwrap();
    let v = tests::Json::parse(text.trim()).expect("the log holds exactly one JSON object");
    let msg = v.get("msg").as_str().unwrap();
    assert!(
        msg.starts_with("restore of container bad-json: restoring from "),
        "{msg}"
    );
    tests::assert_once(msg, "segment 0 checksum mismatch");
    nothing_left(&rt, "bad-json");

    // A truncated image: refused before any sandbox is made.
    let short = rt.dir.path().join("short");
    std::fs::create_dir(&short).unwrap();
    std::fs::write(short.join("checkpoint.img"), &good[..good.len() / 2]).unwrap();
    let o = restore(&rt, "short", &bundle, &short);
    assert!(!o.status.success());
    let err = tests::the_error(&o.stderr);
    let image = short.join("checkpoint.img").display().to_string();
    assert!(
        err.starts_with(&format!(
            "restore of container short: reading the checkpoint image {image}: truncated at byte "
        )),
        "{err}"
    );
    tests::assert_once(err, &image);
    nothing_left(&rt, "short");

    // Not an image at all, and no image.
    std::fs::write(short.join("checkpoint.img"), b"hello").unwrap();
    let o = restore(&rt, "junk", &bundle, &short);
    assert!(!o.status.success());
    let err = tests::the_error(&o.stderr);
    assert!(
        err.ends_with(": not a checkpoint image (bad magic)"),
        "{err}"
    );
    tests::assert_once(err, &image);
    nothing_left(&rt, "junk");
    let o = restore(&rt, "none", &bundle, &rt.dir.path().join("nowhere"));
    assert!(!o.status.success());
    let err = tests::the_error(&o.stderr);
    assert!(
        err.ends_with(": No such file or directory (os error 2)"),
        "{err}"
    );
    tests::assert_once(err, "nowhere/checkpoint.img");
    nothing_left(&rt, "none");

    // The good image still restores.
    let o = restore(&rt, "fine", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    assert!(!wait_for_numbers(&rt, "fine", 1, 20).is_empty());
    assert!(rt.run(&["delete", "--force", "fine"]).status.success());
}

#[test]
fn a_container_is_restored_under_its_own_id_after_checkpoint_and_delete() {
    let rt = Runtime::new();
    let bundle = rt.run_detached("same", &["sh", "-c", COUNTER]);
    wait_for_numbers(&rt, "same", 3, 20);
    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), "same"]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    let saved = *numbers(&rt, "same").last().unwrap();
    // While the stopped container exists its id is taken.
    let o = restore(&rt, "same", &bundle, &img);
    assert!(!o.status.success());
    assert!(o.stderr.contains("already exists"), "{}", o.stderr);
    assert_eq!(rt.status("same").as_deref(), Some("stopped"));
    let o = rt.run(&["delete", "same"]);
    assert!(o.status.success(), "delete: {}", text(&o));

    // As `docker start --checkpoint` does: the same id, the same bundle. The restore's
    // stdout is the same file name: it starts afresh with the restored numbers.
    let o = restore(&rt, "same", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    assert_eq!(rt.status("same").as_deref(), Some("running"));
    let after = wait_for_numbers(&rt, "same", 2, 20);
    assert_eq!(after.first(), Some(&(saved + 1)), "{after:?}");
    assert!(rt.run(&["kill", "same", "KILL"]).status.success());
    assert_eq!(
        rt.wait_for_status("same", "stopped", 10).as_deref(),
        Some("stopped")
    );
    assert!(rt.run(&["delete", "same"]).status.success());
}

#[test]
fn restore_in_the_foreground_exits_with_the_restored_init_status() {
    let rt = Runtime::new();
    let bundle = rt.run_detached(
        "fg",
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo $i; sleep 0.1; done; echo done; exit 7",
        ],
    );
    wait_for_numbers(&rt, "fg", 3, 20);
    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), "fg"]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    assert!(!rt.output_of("fg").contains("done"));
    assert!(rt.run(&["delete", "fg"]).status.success());

    // The image path defaults to ./checkpoint, as runc's.
    std::fs::rename(&img, rt.dir.path().join("checkpoint")).unwrap();
    let out = std::fs::File::create(rt.dir.path().join("fg2.out")).unwrap();
    let err_path = rt.dir.path().join("fg2.err");
    let err = std::fs::File::create(&err_path).unwrap();
    let mut child = rt
        .cmd(&["restore", "--bundle", bundle.to_str().unwrap(), "fg2"])
        .current_dir(rt.dir.path())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert_eq!(status.and_then(|s| s.code()), Some(7), "{stderr}");
    let out = rt.output_of("fg2");
    assert!(out.ends_with("20\ndone\n"), "{out}");
    assert!(
        !out.starts_with("1\n"),
        "the restored loop did not start again: {out}"
    );
    assert!(
        rt.state("fg2").is_none(),
        "restore in the foreground deletes the container"
    );
}

#[test]
fn unix_sockets_with_bytes_files_and_connections_in_flight_survive_a_checkpoint() {
    // A stream pair with bytes and a pipe's read end in flight, a datagram queued, and a
    // listener on /tmp/l.sock with a pending connection: all come back in a new
    // container, and the listener's path still finds it.
    let rt = Runtime::new();
    let id = "ucr";
    let bundle = rt.busybox_bundle(id, &["/bin/unix_cr"]);
    std::fs::copy(common::guest("unix_cr"), bundle.join("rootfs/bin/unix_cr")).unwrap();
    let o = rt.run_to_files(
        id,
        &["run", "--detach", "--bundle", bundle.to_str().unwrap(), id],
    );
    assert!(o.status.success(), "run: {}", o.stderr);
    let out = rt.wait_for_output(id, "ready\n", 20);
    assert_eq!(out, "ready\n");

    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), id]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    let o = restore(&rt, "ucr2", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    rt.let_go("ucr2", "/tmp/go");
    let out = rt.wait_for_output("ucr2", "done\n", 20);
    assert_eq!(
        out,
        "pair: in flight\npassed pipe: pipe bytes\ndgram: datagram\npending: early\n\
         client: answer\nnew connection: new\neof: 0\ndone\n"
    );
    assert!(rt.run(&["delete", id]).status.success());
    let o = rt.run(&["delete", "--force", "ucr2"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_loopback_tcp_connection_with_data_in_flight_continues_after_restore() {
    // Issue 9's (c): a child writing 8 MiB over 127.0.0.1 is blocked mid-write at the
    // checkpoint; after restore in a new container every byte arrives, the listener's
    // pending connection is accepted, a UDP datagram waits, and the port is still bound.
    let rt = Runtime::new();
    let id = "icr";
    let bundle = rt.busybox_bundle(id, &["/bin/inet_cr"]);
    std::fs::copy(common::guest("inet_cr"), bundle.join("rootfs/bin/inet_cr")).unwrap();
    let o = rt.run_to_files(
        id,
        &["run", "--detach", "--bundle", bundle.to_str().unwrap(), id],
    );
    assert!(o.status.success(), "run: {}", o.stderr);
    let out = rt.wait_for_output(id, "ready\n", 20);
    assert_eq!(out, "ready\n");

    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), id]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    let o = restore(&rt, "icr2", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    rt.let_go("icr2", "/tmp/go");
    let out = rt.wait_for_output("icr2", "done\n", 30);
    assert_eq!(
        out,
        "stream: 8388608 intact=1\nchild: 0\neof: 0\npending: early\nclient: answer\n\
         udp: datagram from port ok=1\nnew connection: new\nport still bound: 1\ndone\n"
    );
    assert!(rt.run(&["delete", id]).status.success());
    let o = rt.run(&["delete", "--force", "icr2"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A busybox bundle `id` running the static `ghost` guest (tests/guest/ghost.c) on
/// `/work` (a directory of its rootfs) and `/tmp` (a tmpfs), its stdout in `ID.out`,
/// started and past its setup.
fn run_ghost(rt: &Runtime, id: &str) -> PathBuf {
    let bin = common::guest("ghost");
    let bundle = rt.busybox_bundle(id, &["/bin/ghost", "/work", "/tmp"]);
    std::fs::copy(&bin, bundle.join("rootfs/bin/ghost")).unwrap();
    std::fs::create_dir(bundle.join("rootfs/work")).unwrap();
    let o = rt.run_to_files(
        id,
        &["run", "--detach", "--bundle", bundle.to_str().unwrap(), id],
    );
    assert!(o.status.success(), "run {id}: {}", o.stderr);
    let out = rt.wait_for_output(id, "ready", 20);
    assert!(out.contains("ready"), "{id}: {out}");
    bundle
}

/// `checkpoint --leave-running --image-path IMG ID`, which must succeed.
fn checkpoint_leave_running(rt: &Runtime, id: &str, img: &Path) -> std::process::Output {
    let o = rt.run(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        img.to_str().unwrap(),
        id,
    ]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    o
}

/// Tells the ghost guest of container `id` to check its files; asserts it passes.
fn ghost_passes(rt: &Runtime, id: &str) {
    assert!(rt.run(&["kill", id, "USR1"]).status.success());
    let out = rt.wait_for_output(id, "PASS", 20);
    assert!(out.contains("PASS"), "{id}: {out}");
    assert_eq!(
        rt.wait_for_status(id, "stopped", 20).as_deref(),
        Some("stopped")
    );
}

/// The ghost files of an image, by guest path: (size, data bytes, the data).
fn ghosts_of(image: &Path) -> Vec<(String, u64, Vec<u8>)> {
    use sentry::state::{FileKindState, KernelState};
    let image = statefile::Image::open(&image.join("checkpoint.img")).unwrap();
    let state: KernelState = image.state().unwrap();
    let mut out: Vec<_> = state
        .files
        .iter()
        .filter_map(|f| match &f.kind {
            FileKindState::Host(h) => h.ghost.as_ref().map(|g| {
                let data = g.extents.iter().flat_map(|e| e.data.clone()).collect();
                (f.path.clone(), g.size, data)
            }),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

#[test]
fn files_deleted_while_open_come_back_deleted_with_their_data() {
    let rt = Runtime::new();
    // Without C/R, the guest's own checks hold.
    run_ghost(&rt, "plain");
    ghost_passes(&rt, "plain");

    // Checkpoint, then restore into a new container.
    let bundle = run_ghost(&rt, "orig");
    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), "orig"]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    let ghosts = ghosts_of(&img);
    let paths: Vec<&str> = ghosts.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(paths, ["/tmp/d", "/work/a", "/work/c", "/work/sub/b"]);
    let a = &ghosts[1];
    assert_eq!(a.1, (1 << 20) + 8192);
    assert!(a.2.len() <= 8192, "the hole was saved: {} bytes", a.2.len());
    // The write-only one's data is in the image (the guest cannot read it back).
    assert!(ghosts[3].2.starts_with(b"in a removed directory"));
    // Under the old names: nothing, and the new c.
    let work = bundle.join("rootfs/work");
    assert!(!work.join("a").exists() && !work.join("sub").exists());
    assert_eq!(std::fs::read(work.join("c")).unwrap(), b"new");
    assert!(rt.run(&["delete", "orig"]).status.success());
    let o = restore(&rt, "back", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    ghost_passes(&rt, "back");
    // The restored files have no name either, and the new c is untouched.
    let names: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["c"]);
    assert_eq!(std::fs::read(work.join("c")).unwrap(), b"new");
    assert!(rt.run(&["delete", "back"]).status.success());

    // --leave-running: the original and a restored copy both keep their files.
    let bundle = run_ghost(&rt, "live");
    let img2 = rt.dir.path().join("img2");
    checkpoint_leave_running(&rt, "live", &img2);
    let o = restore(&rt, "twin", &bundle, &img2);
    assert!(o.status.success(), "restore: {}", o.stderr);
    ghost_passes(&rt, "live");
    ghost_passes(&rt, "twin");
    for id in ["plain", "live", "twin"] {
        assert!(rt.run(&["delete", id]).status.success());
    }
}

#[test]
fn a_deleted_file_above_the_ghost_limit_fails_the_checkpoint_and_the_container_runs_on() {
    let rt = Runtime::new();
    run_ghost(&rt, "big");
    let img = rt.dir.path().join("img");
    let o = rt.run(&[
        "checkpoint",
        "--ghost-limit",
        "4K",
        "--image-path",
        img.to_str().unwrap(),
        "big",
    ]);
    assert!(!o.status.success(), "checkpoint: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the deleted file /work/a holds")
            && err
                .contains("above the ghost file limit of 4096 bytes (raise it with --ghost-limit)"),
        "{err}"
    );
    assert!(!img.join("checkpoint.img").exists());
    assert_eq!(rt.status("big").as_deref(), Some("running"));
    ghost_passes(&rt, "big");
    assert!(rt.run(&["delete", "big"]).status.success());
}

/// The number on the line of `text` that starts with `label` (after spaces).
fn figure(text: &str, label: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn checkpoint_print_stats_prints_the_figures_and_writes_crius_stats_dump() {
    let rt = Runtime::new();
    rt.run_detached("stats", &["sh", "-c", COUNTER]);
    wait_for_numbers(&rt, "stats", 3, 20);
    let img = rt.dir.path().join("img");
    let work = rt.dir.path().join("work");
    let o = rt.run(&[
        "checkpoint",
        "--leave-running",
        "--print-stats",
        "--image-path",
        img.to_str().unwrap(),
        "--work-path",
        work.to_str().unwrap(),
        "stats",
    ]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("Checkpoint statistics:\n"), "{out}");
    for label in [
        "freezing time",
        "frozen time",
        "memory dump time",
        "memory write time",
    ] {
        assert!(out.contains(label), "{out}");
    }
    let (scanned, written) = (figure(&out, "pages scanned"), figure(&out, "pages written"));
    assert!(written > 0 && written <= scanned, "{out}");
    // The same figures, in the file Podman reads: CRIU's magics, then the message.
    let dump = std::fs::read(work.join("stats-dump")).unwrap();
    assert_eq!(dump[..8], [0x40, 0x59, 0x10, 0x55, 0x06, 0x33, 0x09, 0x57]);
    assert!(!img.join("stats-dump").exists());
    // Without --work-path (and --print-stats) it goes to the image directory, silently.
    let img2 = rt.dir.path().join("img2");
    let o = checkpoint_leave_running(&rt, "stats", &img2);
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert!(img2.join("stats-dump").is_file());
    assert!(rt.run(&["delete", "--force", "stats"]).status.success());
}

#[test]
fn a_zstd_image_is_smaller_restores_under_a_new_id_and_inspect_names_its_compression() {
    let rt = Runtime::new();
    let bundle = rt.run_detached("zc", &["sh", "-c", COUNTER]);
    wait_for_numbers(&rt, "zc", 5, 20);
    // The same container, once uncompressed (left running) and once with zstd.
    let checkpoint = |flag: &str, dir: &str| {
        let dir = rt.dir.path().join(dir);
        let o = rt.run(&[
            "checkpoint",
            flag,
            "--image-path",
            dir.to_str().unwrap(),
            "zc",
        ]);
        assert!(o.status.success(), "checkpoint {flag}: {}", text(&o));
        dir
    };
    // Paused for both, so that both images hold the same processes (the counter forks a
    // sleep now and then, and each process holds its own copy of busybox's text).
    let o = rt.run(&["pause", "zc"]);
    assert!(o.status.success(), "pause: {}", text(&o));
    let plain = checkpoint("--leave-running", "plain");
    let img = checkpoint("--compression=zstd", "img");
    let size = |d: &Path| std::fs::metadata(d.join("checkpoint.img")).unwrap().len();
    assert!(
        size(&img) < size(&plain),
        "zstd {} bytes, none {}",
        size(&img),
        size(&plain)
    );
    let saved = *numbers(&rt, "zc").last().unwrap();

    let inspect = |dir: &Path| {
        let o = rt.run(&["statefile", "inspect", "--verify", dir.to_str().unwrap()]);
        assert!(o.status.success(), "inspect: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = inspect(&img);
    assert!(out.contains("format 1.1, state schema"), "{out}");
    assert!(out.contains(", compression zstd\n"), "{out}");
    let sections = out.lines().find(|l| l.starts_with("sections")).unwrap();
    assert!(sections.contains(" stored)"), "{sections}");
    assert!(out.contains("verified  every segment's crc32"), "{out}");
    let out = inspect(&plain);
    assert!(out.contains("format 1.0, state schema"), "{out}");
    assert!(out.contains(", compression none\n"), "{out}");

    // A flipped byte in a compressed segment: the restore is refused, naming it.
    let bad = rt.dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let mut b = std::fs::read(img.join("checkpoint.img")).unwrap();
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let table = u64_at(&b, 72) as usize;
    let (at, stored) = (u64_at(&b, table + 8), u64_at(&b, table + 32));
    b[(at + stored / 2) as usize] ^= 0x5a;
    std::fs::write(bad.join("checkpoint.img"), b).unwrap();
    let o = restore_foreground(&rt, "zbad", &bundle, &bad, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("segment 0 checksum mismatch"), "{err}");
    assert!(
        rt.state("zbad").is_none(),
        "a failed restore leaves nothing"
    );

    // Restored under a new id, the counter continues from where it was.
    let o = restore(&rt, "zc2", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    let after = wait_for_numbers(&rt, "zc2", 3, 20);
    assert!(after.len() >= 3, "the restored counter runs: {after:?}");
    assert_eq!(after[0], saved + 1, "{after:?}");
    // And on demand (--background): each compressed segment is decompressed at its
    // first touch or by the background loader.
    let o = restore_with(&rt, "zc3", &bundle, &img, &["--background"]);
    assert!(o.status.success(), "restore --background: {}", o.stderr);
    let after = wait_for_numbers(&rt, "zc3", 3, 20);
    assert!(after.len() >= 3 && after[0] == saved + 1, "{after:?}");
    assert!(rt.run(&["delete", "zc"]).status.success());
    for id in ["zc2", "zc3"] {
        assert!(rt.run(&["delete", "--force", id]).status.success());
    }
}

/// A `runsc exec ID sh -c SCRIPT` started in the background, its stdout and stderr in
/// `NAME.out` and `NAME.err`; returns once its stdout says `exec started`.
fn exec_waiting(rt: &Runtime, name: &str, id: &str, script: &str) -> std::process::Child {
    let file = |ext: &str| std::fs::File::create(rt.dir.path().join(format!("{name}.{ext}")));
    let child = rt
        .cmd(&["exec", id, "sh", "-c", script])
        .stdout(file("out").unwrap())
        .stderr(file("err").unwrap())
        .spawn()
        .expect("run runsc exec");
    let out = rt.wait_for_output(name, "exec started\n", 20);
    assert_eq!(out, "exec started\n", "{}", rt.output_of(name));
    child
}

/// Waits up to 20 s for `child` to end.
fn ended(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("runsc exec did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn processes_started_by_exec_are_restored_with_the_container_stdio() {
    // A process started by `runsc exec` is a process of the sandbox: the image holds it,
    // and a restore brings it back, running; its stdio (the exec caller's) is bound to the
    // restored container's stdio, as every saved stdio is. The exec caller stays attached
    // across `checkpoint --leave-running`, and ends when a checkpoint stops the sandbox
    // (docs/checkpoint.md, "Processes started by exec").
    let rt = Runtime::new();
    let id = "exr";
    let bundle = rt.busybox_bundle(id, &["sh", "-c", "echo init; sleep 1000"]);
    let o = rt.run_to_files(
        id,
        &["run", "--detach", "--bundle", bundle.to_str().unwrap(), id],
    );
    assert!(o.status.success(), "run: {}", o.stderr);
    assert_eq!(rt.wait_for_output(id, "init\n", 20), "init\n");
    let waits = |file: &str| {
        format!(
            "echo exec started; while [ ! -e /tmp/{file} ]; do sleep 0.05; done; \
             echo exec after: $(cat /tmp/{file}); exit 7"
        )
    };
    let mut first = exec_waiting(&rt, "exec1", id, &waits("go"));

    let img = rt.dir.path().join("img");
    checkpoint_leave_running(&rt, id, &img);
    let o = restore(&rt, "exr2", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    // The restored copy of the exec'd process runs on, writing to the new container's
    // stdout.
    let o = rt.run_with_timeout(&["exec", "exr2", "sh", "-c", "echo copy > /tmp/go"], 20);
    assert!(o.status.success(), "exec: {}", text(&o));
    let out = rt.wait_for_output("exr2", "exec after: copy\n", 20);
    assert_eq!(out, "exec after: copy\n");
    // The original, and its exec caller, go on as if nothing happened.
    assert!(first.try_wait().unwrap().is_none(), "the exec caller ended");
    let o = rt.run_with_timeout(&["exec", id, "sh", "-c", "echo original > /tmp/go"], 20);
    assert!(o.status.success(), "exec: {}", text(&o));
    assert_eq!(ended(&mut first).code(), Some(7));
    assert_eq!(
        rt.output_of("exec1"),
        "exec started\nexec after: original\n"
    );
    assert_eq!(
        rt.output_of(id),
        "init\n",
        "the exec'd output went to the container"
    );

    // A checkpoint that stops the sandbox ends the exec caller (it has nothing to wait
    // on), with the reason; the process itself is in the image.
    let mut second = exec_waiting(&rt, "exec2", "exr2", &waits("go2"));
    let img2 = rt.dir.path().join("img2");
    let o = rt.run(&["checkpoint", "--image-path", img2.to_str().unwrap(), "exr2"]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    assert_eq!(ended(&mut second).code(), Some(1));
    let err = std::fs::read_to_string(rt.dir.path().join("exec2.err")).unwrap();
    assert!(err.contains("container not running"), "{err}");
    let o = restore(&rt, "exr3", &bundle, &img2);
    assert!(o.status.success(), "restore: {}", o.stderr);
    let o = rt.run_with_timeout(&["exec", "exr3", "sh", "-c", "echo third > /tmp/go2"], 20);
    assert!(o.status.success(), "exec: {}", text(&o));
    let out = rt.wait_for_output("exr3", "exec after: third\n", 20);
    assert_eq!(out, "exec after: third\n");
    for c in [id, "exr2", "exr3"] {
        let o = rt.run(&["delete", "--force", c]);
        assert!(o.status.success(), "delete {c}: {}", text(&o));
    }
}
