//! Shared helpers of the sentry's end-to-end tests: build static guest programs and run
//! them with `runsc do`, with a time limit.
#![allow(dead_code)]

pub mod netns;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Compiles `tests/guest/NAME.c` into a static binary (once per test process).
pub fn guest(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest");
    static_c(&dir, name, &[&dir.join("checks.h")])
}

/// Compiles `tests/cr/NAME.c` (a program of the checkpoint/restore suite, which includes
/// `tests/cr/cr.h`) into a static binary.
pub fn cr_program(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cr");
    static_c(&dir, name, &[&dir.join("cr.h")])
}

/// Compiles `DIR/NAME.c` into a static binary `D/NAME` under the tests' scratch directory
/// (D: DIR's last component), unless it is newer than the source and every file of `deps`.
fn static_c(dir: &Path, name: &str, deps: &[&Path]) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir.file_name().unwrap());
    std::fs::create_dir_all(&out_dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    let bin = out_dir.join(name);
    let newer = |p: &Path| -> std::io::Result<bool> {
        Ok(bin.metadata()?.modified()? >= p.metadata()?.modified()?)
    };
    let fresh = std::iter::once(src.as_path())
        .chain(deps.iter().copied())
        .all(|p| newer(p).unwrap_or(false));
    if !fresh {
        let tmp = out_dir.join(format!("{name}.tmp{}", std::process::id()));
        let st = Command::new("gcc")
            .args(["-static", "-O2", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .status()
            .expect("run gcc (apt-get install gcc libc6-dev)");
        assert!(st.success(), "gcc failed for {}", src.display());
        std::fs::rename(&tmp, &bin).unwrap();
    }
    bin
}

/// Runs `cmd` to completion, killing it (and failing the test) after `limit`.
pub fn run_limited(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let start = Instant::now();
    // Read pipes on threads so a chatty child cannot block.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).ok();
        v
    });
    let te = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).ok();
        v
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: to.join().unwrap(),
        stderr: te.join().unwrap(),
    }
}

/// `runsc do [--root-dir ROOT] -- ARGS`.
pub fn run_do(root: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(tests::runsc_bin());
    cmd.arg("do");
    if let Some(r) = root {
        cmd.arg("--root-dir").arg(r).args(["--cwd", "/"]);
    }
    cmd.arg("--").args(args);
    let out = run_limited(cmd, Duration::from_secs(120));
    // The sandbox's own host calls: one its seccomp filter refuses is a missing entry
    // (guest calls never reach the host).
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("the sandbox filter refused"),
        "runsc do {args:?}: {err}"
    );
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts the run exited with `code` and printed exactly `want`.
pub fn expect(o: &Output, code: i32, want: &str) {
    assert_eq!(
        (stdout(o).as_str(), o.status.code()),
        (want, Some(code)),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(
            format!(
                "{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            )
            .replace(['(', ')'], ""),
        );
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
