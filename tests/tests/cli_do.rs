//! `runsc do`: a sandbox built in-process with a host directory as its root.

use std::process::Command;

#[test]
fn do_missing_program_is_a_clear_error() {
    let out = Command::new(tests::runsc_bin())
        .args(["do", "--", "no-such-program-xyz"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"no-such-program-xyz\" not found in $PATH"),
        "{err}"
    );
}

#[test]
fn do_without_program_fails() {
    let out = Command::new(tests::runsc_bin()).arg("do").output().unwrap();
    assert!(!out.status.success());
}

// Needs the sentry to run guests.
#[test]
fn do_runs_a_program_and_returns_its_status() {
    let out = Command::new(tests::runsc_bin())
        .args(["do", "--", "/bin/busybox", "sh", "-c", "echo hello; exit 3"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3));
}
