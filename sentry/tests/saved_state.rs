//! Saved form: a busybox shell is stopped in the middle of a pipeline (tasks parked in pipe
//! reads and wait4), the whole kernel state is encoded with the statefile codec, decoded,
//! and must come back equal to the original.
//!
//! The sandbox runs on the test's own thread (the one that built it makes every ptrace
//! request); a second thread inspects it through the control channel.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use sentry::control::{Request, Response};
use sentry::state::{KernelState, SharedState};
use sentry::state::{RunStateState, WaitKeyState};

fn config() -> sentry::SandboxConfig {
    sentry::SandboxConfig::host_root(
        vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            "echo start | (sleep 30; cat) | cat | cat; echo never".into(),
        ],
        "saved",
    )
}

fn parked_on(state: &KernelState, pred: impl Fn(&WaitKeyState) -> bool) -> usize {
    state
        .tasks
        .iter()
        .filter(
            |t| matches!(&t.state, RunStateState::Parked { keys, .. } if keys.iter().any(&pred)),
        )
        .count()
}

fn check(handle: sentry::ControlHandle) -> Result<String, String> {
    let start = Instant::now();
    loop {
        let Some(Response::State(bytes)) = handle.call(Request::SaveState, vec![]) else {
            return Err("no state from the kernel".into());
        };
        let state: KernelState =
            statefile::codec::decode(&bytes).map_err(|e| format!("decode: {e}"))?;
        let pipe_readers = parked_on(&state, |k| matches!(k, WaitKeyState::Object(_)));
        let waiters = parked_on(&state, |k| matches!(k, WaitKeyState::Child(_)));
        if pipe_readers >= 2 && waiters >= 1 {
            let bytes = statefile::codec::encode(&state).map_err(|e| format!("encode: {e}"))?;
            let back: KernelState =
                statefile::codec::decode(&bytes).map_err(|e| format!("decode: {e}"))?;
            if back != state {
                return Err("decoded state differs from the original".into());
            }
            // Pipes are saved once each in the shared table, whatever their open ends.
            let pipes = state
                .shared
                .iter()
                .filter(|s| matches!(s.object, SharedState::Pipe(_)))
                .count();
            if pipes < 3 || state.tasks.len() < 5 {
                return Err(format!(
                    "expected 3 pipes and 5 tasks, got {} and {}",
                    pipes,
                    state.tasks.len()
                ));
            }
            return Ok(format!(
                "{} tasks ({pipe_readers} parked in pipe reads, {waiters} in wait4), {} pipes, {} address spaces, {} bytes encoded",
                state.tasks.len(),
                pipes,
                state.mms.len(),
                bytes.len()
            ));
        }
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!(
                "the pipeline never parked: {} readers, {} waiters",
                pipe_readers, waiters
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_saved_state_of_a_parked_pipeline_round_trips() {
    let sandbox = sentry::Sandbox::new(config()).expect("build the sandbox");
    let (handle, receiver) = sentry::control::channel().expect("control channel");
    let checker = std::thread::spawn(move || {
        let r = check(handle.clone());
        // End the sandbox either way.
        handle.call(
            Request::Signal {
                signo: libc::SIGKILL,
                all: true,
            },
            vec![],
        );
        r
    });
    let null = std::fs::File::open("/dev/null").unwrap();
    let stdio =
        [(); 3].map(|_| sentry::host::reopen_stdio(null.as_fd().try_clone_to_owned().unwrap()));
    let code = sandbox.run(stdio, Some(receiver)).expect("run");
    let summary = checker.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
    println!("saved state round trip: {summary}; sandbox exit {code}");
}
