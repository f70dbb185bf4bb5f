//! OCI hooks: programs from config.json run by the runtime at points of the lifecycle
//! (createRuntime and prestart in `create`, poststart in `start`, poststop in `delete`),
//! each with the container's state JSON on stdin, its own args and env, and its timeout.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::spec::Hook;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path}: starting it")]
    Start {
        kind: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{kind} hook {path} failed ({status}): {output}")]
    Failed {
        kind: &'static str,
        path: String,
        status: String,
        output: String,
    },
    #[error("{kind} hook {path} timed out after {secs}s")]
    Timeout {
        kind: &'static str,
        path: String,
        secs: i64,
    },
}

/// Runs `hooks` in order with `state` (the OCI state JSON) on stdin; stops at the first
/// that fails.
pub fn run(kind: &'static str, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    for hook in hooks {
        run_one(kind, hook, state)?;
    }
    Ok(())
}

fn run_one(kind: &'static str, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    log::debug!("running {kind} hook {} {:?}", hook.path, hook.args);
    let mut cmd = Command::new(&hook.path);
    if let Some((arg0, rest)) = hook.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in &hook.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // Hooks must not write into the container's stdio (the runtime's, during create).
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let path = hook.path.clone();
    let mut child = cmd.spawn().map_err(|source| HookError::Start {
        kind,
        path: path.clone(),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(state);
    }
    // Drain the output on threads so that a chatty hook does not block on a full pipe.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = hook
        .timeout
        .filter(|&t| t > 0)
        .map(|t| (t, Instant::now() + Duration::from_secs(t as u64)));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => return Err(HookError::Start { kind, path, source }),
        }
        if let Some((secs, at)) = deadline {
            if Instant::now() >= at {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout { kind, path, secs });
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut output = out.join().unwrap_or_default();
    output.extend(err.join().unwrap_or_default());
    if status.success() {
        return Ok(());
    }
    Err(HookError::Failed {
        kind,
        path,
        status: status.to_string(),
        output: String::from_utf8_lossy(&output).trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(args: &[&str], timeout: Option<i64>) -> Hook {
        Hook {
            path: "/bin/sh".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["HOOKVAR=yes".into()],
            timeout,
        }
    }

    #[test]
    fn hooks_get_state_on_stdin_and_their_env() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let script = format!("cat > {0}; echo \" $HOOKVAR $0\" >> {0}", out.display());
        run(
            "prestart",
            &[hook(&["myname", "-c", &script], Some(5))],
            b"{\"id\":\"x\"}",
        )
        .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text, "{\"id\":\"x\"} yes myname\n");
    }

    #[test]
    fn failure_and_timeout() {
        let e = run(
            "poststart",
            &[hook(&["sh", "-c", "echo oops >&2; exit 3"], None)],
            b"",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("poststart hook /bin/sh failed") && s.contains("oops"),
            "{s}"
        );
        let t = Instant::now();
        let e = run("prestart", &[hook(&["sh", "-c", "sleep 10"], Some(1))], b"").unwrap_err();
        assert!(matches!(e, HookError::Timeout { secs: 1, .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let e = run(
            "prestart",
            &[Hook {
                path: "/nonexistent".into(),
                ..Default::default()
            }],
            b"",
        );
        assert!(matches!(e, Err(HookError::Start { .. })));
    }
}
