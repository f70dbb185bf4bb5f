//! Helpers for the end-to-end tests: they drive the built `runsc` binary as a user would.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The workspace's target directory, honouring `CARGO_TARGET_DIR`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// Path of the `runsc` binary, built once per test process with the same profile as the tests.
pub fn runsc_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let release = !cfg!(debug_assertions);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "runsc"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build -p runsc");
        assert!(status.success(), "cargo build -p runsc failed");
        target_dir()
            .join(if release { "release" } else { "debug" })
            .join("runsc")
    })
    .clone()
}
