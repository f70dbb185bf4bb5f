//! The checkpoint/restore suite: every program of `tests/cr/` (static C, one per kind of
//! kernel object) in three modes, through the built runsc binary:
//!
//! - `plain`: run it, SIGTERM once it is ready;
//! - `restore`: run it, `checkpoint` once it is ready, copy the image directory, remove the
//!   original image and the container, `restore` the copy under a new container id, SIGTERM
//!   the restored container;
//! - `leave-running`: run it, `checkpoint --leave-running`, SIGTERM the original;
//! - `restore-zstd`: `restore` from an image written with `--compression=zstd`;
//! - `restore-background`: `restore --background` (memory loaded on demand) from a zstd
//!   image.
//!
//! Each program checks its own state after SIGTERM and prints `PASS NAME`, or `FAIL NAME:
//! what differs` lines and `FAILED NAME`. Known failures are listed below with their cause;
//! the test fails when a case outside the list fails and when a listed one passes, so the
//! list stays honest. `CR_SUITE_ONLY=mem,pipe` runs only those programs, `CR_SUITE_JOBS=N`
//! runs N cases at a time (default 2).

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tests::{text, Runtime};

mod common;

/// The programs of `tests/cr/`, one per concern.
const PROGRAMS: &[&str] = &[
    "mem",
    "pipe",
    "fifo",
    "eventfd",
    "epoll",
    "unix",
    "signals",
    "itimer",
    "threads",
    "proctree",
    "fds",
    "procstate",
    "deleted",
    "tmpfs",
    "creds",
    "timerfd",
    "signalfd",
    "locks",
    "inet",
    "special",
    "inotify",
    "pty",
    "pty_packet",
    "memfd",
    "mremap",
    "shmfile",
    "dontfork",
    "requeue_pi",
    "ptrace",
    "ptrace_fork",
    "mapobj",
    "ioacct",
    "uts_poll",
    "namespaces",
    "netns",
    "xattr",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Plain,
    Restore,
    LeaveRunning,
    RestoreZstd,
    RestoreBackground,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Restore => "restore",
            Mode::LeaveRunning => "leave-running",
            Mode::RestoreZstd => "restore-zstd",
            Mode::RestoreBackground => "restore-background",
        }
    }
}

const MODES: [Mode; 5] = [
    Mode::Plain,
    Mode::Restore,
    Mode::LeaveRunning,
    Mode::RestoreZstd,
    Mode::RestoreBackground,
];

/// A case that fails today: every FAIL line it prints contains one of `fails`, each of
/// `fails` is in one of them, and `cause` says why.
struct Known {
    program: &'static str,
    modes: &'static [Mode],
    fails: &'static [&'static str],
    cause: &'static str,
}

const KNOWN_FAILURES: &[Known] = &[];

/// The known failure of a case whose FAIL lines are `fails`, if it is exactly that.
fn known<'a>(program: &str, mode: Mode, fails: &[&str]) -> Option<&'a Known> {
    KNOWN_FAILURES.iter().find(|k| {
        k.program == program
            && k.modes.contains(&mode)
            && fails.iter().all(|f| k.fails.iter().any(|w| f.contains(w)))
            && k.fails.iter().all(|w| fails.iter().any(|f| f.contains(w)))
    })
}

/// Whether a known failure names this case at all.
fn listed(program: &str, mode: Mode) -> bool {
    KNOWN_FAILURES
        .iter()
        .any(|k| k.program == program && k.modes.contains(&mode))
}

/// How long a program may take to get ready, and to answer SIGTERM.
const LIMIT: Duration = Duration::from_secs(40);

/// Polls the container's stdout file `NAME.out` until a line satisfies `done`; returns the
/// whole output, or an error with what it holds after the limit.
fn wait_line(rt: &Runtime, name: &str, done: impl Fn(&str) -> bool) -> Result<String, String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = rt.output_of(name);
        if out.lines().any(&done) {
            return Ok(out);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out; output so far: {out:?}"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn ok(o: &std::process::Output, what: &str) -> Result<(), String> {
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("{what}: {}", text(o)))
    }
}

/// Runs one case; Err names what went wrong (the program's FAIL lines, or the step that
/// failed).
fn run_case(program: &str, mode: Mode) -> Result<(), String> {
    let rt = Runtime::new();
    let id = format!("{program}-{}", mode.name());
    let bundle = rt.busybox_bundle(&id, &[&format!("/bin/{program}")]);
    std::fs::copy(
        common::cr_program(program),
        bundle.join(format!("rootfs/bin/{program}")),
    )
    .unwrap();
    let o = rt.run_to_files(
        &id,
        &["run", "--detach", "--bundle", bundle.to_str().unwrap(), &id],
    );
    if !o.status.success() {
        return Err(format!("run: {}", o.stderr));
    }
    let setup = wait_line(&rt, &id, |l| l == "ready" || l.starts_with("FAILED"))
        .map_err(|e| format!("setup: {e}"))?;
    if setup.lines().ne(["ready"]) {
        return Err(format!("setup: {setup:?}"));
    }
    let (target, out_name) = match mode {
        Mode::Plain => (id.clone(), id.clone()),
        Mode::LeaveRunning => {
            let img = rt.dir.path().join("img");
            let o = rt.run(&[
                "checkpoint",
                "--leave-running",
                "--image-path",
                img.to_str().unwrap(),
                &id,
            ]);
            ok(&o, "checkpoint --leave-running")?;
            (id.clone(), id.clone())
        }
        Mode::Restore | Mode::RestoreZstd | Mode::RestoreBackground => {
            let img = rt.dir.path().join("img");
            let compression = if mode != Mode::Restore {
                "--compression=zstd"
            } else {
                "--compression=none"
            };
            let o = rt.run(&[
                "checkpoint",
                compression,
                "--image-path",
                img.to_str().unwrap(),
                &id,
            ]);
            ok(&o, "checkpoint")?;
            // The image directory is all a restore needs: restore a copy of it, after the
            // original and the container are gone.
            let copy = rt.dir.path().join("img-copy");
            copy_dir(&img, &copy);
            std::fs::remove_dir_all(&img).unwrap();
            ok(&rt.run(&["delete", &id]), "delete")?;
            let new_id = format!("{id}-restored");
            let mut args = vec!["restore"];
            if mode == Mode::RestoreBackground {
                args.push("--background");
            }
            let o = rt.run_to_files(
                &new_id,
                &[
                    &args[..],
                    &[
                        "--detach",
                        "--image-path",
                        copy.to_str().unwrap(),
                        "--bundle",
                        bundle.to_str().unwrap(),
                        &new_id,
                    ],
                ]
                .concat(),
            );
            if !o.status.success() {
                return Err(format!("restore: {}", o.stderr));
            }
            (new_id.clone(), new_id)
        }
    };
    ok(&rt.run(&["kill", &target, "TERM"]), "kill TERM")?;
    let out = wait_line(&rt, &out_name, |l| {
        l == format!("PASS {program}") || l == format!("FAILED {program}")
    })?;
    let _ = rt.run(&["delete", "--force", &target]);
    if out.contains(&format!("PASS {program}\n")) && !out.contains("FAIL") {
        Ok(())
    } else {
        let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL ")).collect();
        if fails.is_empty() {
            Err(format!("no PASS line: {out:?}"))
        } else {
            Err(fails.join("; "))
        }
    }
}

/// A case's program, mode and result.
type Outcome = (&'static str, Mode, Result<(), String>);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn every_kernel_object_survives_checkpoint_and_restore_and_leave_running() {
    let only = std::env::var("CR_SUITE_ONLY").ok();
    let chosen: Vec<&str> = PROGRAMS
        .iter()
        .copied()
        .filter(|p| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|x| x == *p))
        })
        .collect();
    // Build the programs first, one at a time.
    for p in &chosen {
        common::cr_program(p);
    }
    let jobs: Mutex<Vec<(&str, Mode)>> = Mutex::new(
        chosen
            .iter()
            .flat_map(|p| MODES.iter().map(move |m| (*p, *m)))
            .rev()
            .collect(),
    );
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let workers: usize = std::env::var("CR_SUITE_JOBS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                let Some((p, m)) = jobs.lock().unwrap().pop() else {
                    return;
                };
                let r = run_case(p, m);
                results.lock().unwrap().push((p, m, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(p, m, _)| (PROGRAMS.iter().position(|x| x == p), *m as u8));
    let mut report = Vec::new();
    let mut wrong = Vec::new();
    for (p, m, r) in &results {
        let m = *m;
        let line = match r {
            Ok(()) if listed(p, m) => {
                wrong.push(format!(
                    "{p} {} passes: take it off KNOWN_FAILURES",
                    m.name()
                ));
                format!("PASSES  {p} {} (listed as a known failure)", m.name())
            }
            Ok(()) => format!("ok      {p} {}", m.name()),
            Err(e) => {
                let fails: Vec<&str> = e.split("; ").collect();
                match known(p, m, &fails) {
                    Some(k) => format!("known   {p} {}: {e} ({})", m.name(), k.cause),
                    None => {
                        wrong.push(format!("{p} {} fails: {e}", m.name()));
                        format!("FAIL    {p} {}: {e}", m.name())
                    }
                }
            }
        };
        report.push(line);
    }
    eprintln!("{}", report.join("\n"));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
