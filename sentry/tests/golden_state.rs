//! The golden kernel state: the state section of a real checkpoint, checked in for the
//! current `STATE_SCHEMA` (`tests/fixtures/kernel-state-vN.bin`). It pins the image's state
//! format: if a saved type changes shape without a schema bump, the fixture no longer
//! decodes, or no longer encodes to the same bytes, and this test fails. It also restores
//! the state into a kernel on the fake platform (no root, no host processes) and saves it
//! again: restore and save must lose nothing.
//!
//! When you change a saved type: bump `STATE_SCHEMA` (sentry/src/kernel/state.rs), write
//! the new fixture with
//!
//!     cargo test --release -p sentry --test golden_state -- --ignored write_fixture
//!
//! (as root: it runs a busybox pipeline in a real sandbox and saves its state), check it in,
//! and say in docs/statefile.md what changed (images of the older schema are refused by
//! name; a migration from the older struct is needed to accept them).

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sentry::state::{KernelState, RunStateState, STATE_SCHEMA};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("kernel-state-v{STATE_SCHEMA}.bin"))
}

const HOW: &str = "bump STATE_SCHEMA and write a fixture for it: cargo test --release -p sentry --test golden_state -- --ignored write_fixture";

fn golden() -> (Vec<u8>, KernelState) {
    let path = fixture();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "no golden state for schema {STATE_SCHEMA} at {}: {e}; {HOW}",
            path.display()
        )
    });
    let st: KernelState = statefile::codec::decode(&bytes).unwrap_or_else(|e| {
        panic!("the golden state of schema {STATE_SCHEMA} no longer decodes ({e}): a saved type changed shape; {HOW}")
    });
    (bytes, st)
}

#[test]
fn the_golden_state_decodes_and_encodes_to_the_same_bytes() {
    let (bytes, st) = golden();
    let again = statefile::codec::encode(&st).unwrap();
    assert!(
        again == bytes,
        "the golden state of schema {STATE_SCHEMA} encodes differently now: a saved type changed shape; {HOW}"
    );
    sentry::state::validate(&st).expect("the golden state is valid");
    // It is the state of what write_fixture ran: a shell, a sleep and a cat joined by a
    // pipe, the cat parked reading it, the shell in wait4, and a file in the tmpfs.
    assert!(st.tasks.len() >= 3, "{} tasks", st.tasks.len());
    assert!(!st.shared.is_empty(), "no pipe");
    let parked = st
        .tasks
        .iter()
        .filter(|t| matches!(t.state, RunStateState::Parked { .. }))
        .count();
    assert!(parked >= 2, "{parked} parked tasks");
    let tmp = st.mounts.iter().find(|m| m.at == ["tmp"]).expect("/tmp");
    assert!(tmp.contents.iter().any(|e| e.path == "kept"));
}

/// What a save after a restore may legitimately change: the clock reading, the tasks' CPU
/// time (it only grows: checked before), the keys parked calls wait on (a restored
/// parked call parks again on fresh keys when it is served), and how a thread that was
/// running guest code is recorded (the world stop of a checkpoint saves it GroupStopped, a
/// restore lets it run on; a thread of a group a stop signal stopped stays GroupStopped).
fn normalised(mut st: KernelState) -> KernelState {
    st.mono_ns = 0;
    let group_stopped: Vec<i32> = st
        .thread_groups
        .iter()
        .filter(|g| g.stopped.is_some())
        .map(|g| g.pid)
        .collect();
    for t in &mut st.tasks {
        t.cpu_ns = 0;
        if let RunStateState::Parked { keys, .. } = &mut t.state {
            keys.clear();
        }
        if t.state == RunStateState::GroupStopped && !group_stopped.contains(&t.tgid) {
            t.state = RunStateState::Running;
        }
    }
    st
}

#[test]
fn the_golden_state_restores_and_saves_again_unchanged() {
    let (_, st) = golden();
    let root = tempfile::tempdir().unwrap();
    let again = sentry::state::restore_and_save(root.path(), &st)
        .unwrap_or_else(|e| panic!("restore and save of the golden state: {e}"));
    for (a, b) in st.tasks.iter().zip(&again.tasks) {
        assert!(b.cpu_ns >= a.cpu_ns, "task {} lost CPU time", a.tid);
    }
    let again = normalised(again);
    let st = normalised(st);
    // Field by field, so that a failure names what a restore lost.
    let fields = |s: &KernelState| -> Vec<(&'static str, String)> {
        vec![
            ("uts", format!("{:?}", s.uts)),
            ("boot_ns", format!("{:?}", s.boot_ns)),
            ("memory", format!("{:?}", s.memory)),
            ("mms", format!("{:?}", s.mms)),
            ("shared", format!("{:?}", s.shared)),
            ("files", format!("{:?}", s.files)),
            ("fd_tables", format!("{:?}", s.fd_tables)),
            ("fs_contexts", format!("{:?}", s.fs_contexts)),
            ("sighands", format!("{:?}", s.sighands)),
            ("tasks", format!("{:?}", s.tasks)),
            ("thread_groups", format!("{:?}", s.thread_groups)),
            ("futex_waiters", format!("{:?}", s.futex_waiters)),
            ("mounts", format!("{:?}", s.mounts)),
            ("init_status", format!("{:?}", s.init_status)),
        ]
    };
    let lost: Vec<&str> = fields(&st)
        .into_iter()
        .zip(fields(&again))
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0)
        .collect();
    assert!(lost.is_empty(), "restore and save changed: {lost:?}");
    assert_eq!(again, st);
}

/// Writes the fixture for the current schema from a real sandbox (root, ptrace, busybox).
#[test]
#[ignore]
fn write_fixture() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.path().join("bin/busybox")).expect("busybox-static");
    let mut config = sentry::SandboxConfig::host_root(
        vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            "echo kept > /tmp/kept; /bin/busybox sleep 1000 | /bin/busybox cat; echo never".into(),
        ],
        "golden",
    );
    config.root = root.path().to_path_buf();
    config.root_readonly = false;
    let out = fixture();
    std::thread::spawn(move || {
        let sandbox = sentry::Sandbox::new(config).expect("sandbox");
        let (handle, rx) = sentry::control::channel().unwrap();
        let saver = std::thread::spawn(move || {
            let start = Instant::now();
            let st = loop {
                let Some(sentry::control::Response::State(bytes)) =
                    handle.call(sentry::control::Request::SaveState, vec![])
                else {
                    panic!("no state");
                };
                let st: KernelState = statefile::codec::decode(&bytes).unwrap();
                let parked = st
                    .tasks
                    .iter()
                    .filter(|t| matches!(t.state, RunStateState::Parked { .. }))
                    .count();
                if parked >= 2 && st.tasks.len() >= 3 {
                    break st;
                }
                assert!(start.elapsed() < Duration::from_secs(20), "never parked");
                std::thread::sleep(Duration::from_millis(50));
            };
            std::fs::create_dir_all(out.parent().unwrap()).unwrap();
            std::fs::write(&out, statefile::codec::encode(&st).unwrap()).unwrap();
            handle.call(
                sentry::control::Request::Signal {
                    signo: libc::SIGKILL,
                    all: true,
                },
                vec![],
            );
        });
        let null = std::fs::File::open("/dev/null").unwrap();
        let stdio =
            [(); 3].map(|_| sentry::host::reopen_stdio(null.as_fd().try_clone_to_owned().unwrap()));
        sandbox.run(stdio, Some(rx)).expect("run");
        saver.join().unwrap();
    })
    .join()
    .unwrap();
    println!("wrote {}", fixture().display());
}
