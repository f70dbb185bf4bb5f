//! Checkpoint and restore of a whole sandbox: a shell pipeline that counts is checkpointed
//! midway (its pipes holding data, its tasks parked in reads, sleeps and wait4), the
//! sandbox ends, and a new sandbox in a new process is restored from the image. The two
//! outputs together must be the full count, each number once, in order.
//!
//! `harness = false`: each sandbox must be built on the main thread of its own process
//! before any other thread starts, so the test re-runs itself as child processes.

use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

const SCRIPT: &str = "echo kept > /tmp/mark; i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo $i; sleep 0.05; done | cat | cat; cat /tmp/mark";

fn config() -> sentry::SandboxConfig {
    sentry::SandboxConfig::host_root(
        vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            SCRIPT.into(),
        ],
        "ckpt",
    )
}

fn stdio() -> [std::os::fd::OwnedFd; 3] {
    let null = std::fs::File::open("/dev/null").unwrap();
    [
        null.as_fd().try_clone_to_owned().unwrap(),
        std::io::stdout().as_fd().try_clone_to_owned().unwrap(),
        std::io::stderr().as_fd().try_clone_to_owned().unwrap(),
    ]
    .map(sentry::host::reopen_stdio)
}

/// Child: run the script, checkpoint it into `dir` after `secs`, end.
fn checkpoint(dir: &str, secs: f64) -> i32 {
    let sb = sentry::Sandbox::new(config()).expect("sandbox");
    let (handle, rx) = sentry::control::channel().unwrap();
    // The sandbox writes into the file it is handed.
    std::fs::create_dir_all(dir).unwrap();
    let image = std::fs::File::create(std::path::Path::new(dir).join("checkpoint.img")).unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(secs));
        let r = handle.call(
            sentry::control::Request::Checkpoint {
                leave_running: false,
            },
            vec![image.into()],
        );
        eprintln!("checkpoint answer: {r:?}");
    });
    sb.run(stdio(), Some(rx)).expect("run")
}

/// Child: restore from `dir` and run to the end.
fn restore(dir: &str) -> i32 {
    let sb = sentry::Sandbox::new(config()).expect("sandbox");
    let image = std::fs::File::open(std::path::Path::new(dir).join("checkpoint.img"))
        .expect("open the image");
    match sb.restore_and_run(image, stdio(), None) {
        Ok(c) => c,
        Err(e) => {
            let mut m = e.to_string();
            let mut s = std::error::Error::source(&e);
            while let Some(x) = s {
                m += &format!(": {x}");
                s = x.source();
            }
            eprintln!("restore failed: {m}");
            125
        }
    }
}

fn child(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("child-checkpoint") => {
            std::process::exit(checkpoint(&args[2], args[3].parse().unwrap()))
        }
        Some("child-restore") => std::process::exit(restore(&args[2])),
        _ => {}
    }
    let dir = std::env::temp_dir().join(format!("sentry-ckpt-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let mut failures = Vec::new();
    let (c1, out1, err1) = child(&["child-checkpoint", d, "0.7"]);
    let (c2, out2, err2) = child(&["child-restore", d]);
    let want: String = (1..=30).map(|i| format!("{i}\n")).collect::<String>() + "kept\n";
    let got = out1.clone() + &out2;
    if c1 != 137 {
        failures.push(format!(
            "the checkpointed sandbox should end killed (137), got {c1}: {err1}"
        ));
    }
    if c2 != 0 {
        failures.push(format!(
            "the restored sandbox should exit 0, got {c2}: {err2}"
        ));
    }
    if out1.is_empty() || out2.is_empty() {
        failures.push(format!("the count should be split across checkpoint and restore: before {out1:?}, after {out2:?}"));
    }
    if got != want {
        failures.push(format!(
            "output before + after checkpoint:\n{got}\nwant:\n{want}"
        ));
    }
    // A corrupted image is refused with a clear error, not a panic or a half-restore.
    let img = dir.join("checkpoint.img");
    if let Ok(mut bytes) = std::fs::read(&img) {
        let n = bytes.len();
        bytes[n - 100] ^= 0x40;
        std::fs::write(&img, &bytes).unwrap();
        let (c3, _, err3) = child(&["child-restore", d]);
        if c3 != 125 || !err3.contains("checksum") {
            failures.push(format!(
                "restore of a corrupt image: status {c3}, stderr {err3}"
            ));
        }
        std::fs::write(&img, &bytes[..n / 2]).unwrap();
        let (c4, _, err4) = child(&["child-restore", d]);
        if c4 != 125 || !(err4.contains("truncated") || err4.contains("past the end")) {
            failures.push(format!(
                "restore of a truncated image: status {c4}, stderr {err4}"
            ));
        }
    } else {
        failures.push("no checkpoint.img was written".into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failures.is_empty() {
        println!("checkpoint_restore: count continued across restore ({} + {} lines); corrupt and truncated images refused", out1.lines().count(), out2.lines().count());
        println!("1 passed, 0 failed");
    } else {
        for f in &failures {
            println!("FAILED: {f}");
        }
        println!("0 passed, 1 failed");
        std::process::exit(1);
    }
}
