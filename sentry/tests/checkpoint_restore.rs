//! Checkpoint and restore of a whole sandbox: a shell pipeline that counts is checkpointed
//! midway (its pipes holding data, its tasks parked in reads, sleeps and wait4), the
//! sandbox ends, and a new sandbox in a new process is restored from the image. The two
//! outputs together must be the full count, each number once, in order.
//!
//! Each sandbox runs on a thread of its own (the thread that builds a sandbox makes every
//! ptrace request for it).

use std::os::fd::AsFd;
use std::path::Path;
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

/// Stdio for a sandbox: /dev/null in, `out` as stdout and stderr.
fn stdio(out: &std::fs::File) -> [std::os::fd::OwnedFd; 3] {
    let null = std::fs::File::open("/dev/null").unwrap();
    [
        null.as_fd().try_clone_to_owned().unwrap(),
        out.as_fd().try_clone_to_owned().unwrap(),
        out.as_fd().try_clone_to_owned().unwrap(),
    ]
    .map(sentry::host::reopen_stdio)
}

/// Runs the script, checkpoints it into `image` after `secs`; returns the exit code.
fn checkpoint(image: &Path, out: &std::fs::File, secs: f64) -> i32 {
    let sb = sentry::Sandbox::new(config()).expect("sandbox");
    let (handle, rx) = sentry::control::channel().unwrap();
    let name = image.display().to_string();
    let image = std::fs::File::create(image).unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(secs));
        handle.call(
            sentry::control::Request::Checkpoint {
                leave_running: false,
                image: name,
                ghost_limit: sentry::control::DEFAULT_GHOST_LIMIT,
                compression: statefile::Compression::None,
            },
            vec![image.into()],
        )
    });
    sb.run(stdio(out), Some(rx)).expect("run")
}

/// Restores from `image` and runs to the end: the exit code, or the whole error chain.
fn restore(image: &Path, out: &std::fs::File) -> Result<i32, String> {
    let sb = sentry::Sandbox::new(config()).expect("sandbox");
    let image = std::fs::File::open(image).expect("open the image");
    sb.restore_and_run(image, stdio(out), None, false)
        .map_err(|e| {
            let mut m = e.to_string();
            let mut s = std::error::Error::source(&e);
            while let Some(x) = s {
                m += &format!(": {x}");
                s = x.source();
            }
            m
        })
}

/// Runs `f` on a thread of its own (a sandbox per thread) and returns what it returns.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("sandbox thread")
}

#[test]
fn a_pipeline_continues_across_checkpoint_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("checkpoint.img");
    let (out1, out2) = (dir.path().join("out1"), dir.path().join("out2"));
    let (i, o) = (img.clone(), out1.clone());
    let c1 = on_thread(move || checkpoint(&i, &std::fs::File::create(o).unwrap(), 0.7));
    let (i, o) = (img.clone(), out2.clone());
    let c2 = on_thread(move || restore(&i, &std::fs::File::create(o).unwrap()));
    let (before, after) = (
        std::fs::read_to_string(&out1).unwrap(),
        std::fs::read_to_string(&out2).unwrap(),
    );
    assert_eq!(
        c1, 0,
        "the checkpointed sandbox ends with status 0: {before}"
    );
    assert_eq!(c2, Ok(0), "the restored sandbox exits 0: {after}");
    assert!(
        !before.is_empty() && !after.is_empty(),
        "the count is split across checkpoint and restore: before {before:?}, after {after:?}"
    );
    let want: String = (1..=30).map(|i| format!("{i}\n")).collect::<String>() + "kept\n";
    assert_eq!(before + &after, want);

    // A corrupted image is refused with a clear error, not a panic or a half-restore.
    let mut bytes = std::fs::read(&img).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x40;
    std::fs::write(&img, &bytes).unwrap();
    let (i, o) = (img.clone(), dir.path().join("out3"));
    let r = on_thread(move || restore(&i, &std::fs::File::create(o).unwrap()));
    assert!(matches!(&r, Err(e) if e.contains("checksum")), "{r:?}");
    std::fs::write(&img, &bytes[..n / 2]).unwrap();
    let (i, o) = (img.clone(), dir.path().join("out4"));
    let r = on_thread(move || restore(&i, &std::fs::File::create(o).unwrap()));
    assert!(
        matches!(&r, Err(e) if e.contains("truncated") || e.contains("past the end")),
        "{r:?}"
    );
}
