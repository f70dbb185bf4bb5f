//! Runs a program in a sandbox whose root is `/` (read-only), for trying the kernel by hand:
//! `cargo run -p sentry --example sentry_run -- /bin/busybox sh -c 'echo hi'`.

use std::os::fd::{AsFd, OwnedFd};

struct Stderr;
impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        eprintln!("[{}] {}", r.level(), r.args());
    }
    fn flush(&self) {}
}

fn main() {
    if std::env::var_os("SENTRY_DEBUG").is_some() {
        log::set_logger(&Stderr).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let config = sentry::SandboxConfig {
        root: "/".into(),
        root_readonly: true,
        mounts: vec![
            sentry::MountConfig {
                destination: "/proc".into(),
                kind: sentry::MountKind::Proc,
                readonly: true,
            },
            sentry::MountConfig {
                destination: "/dev".into(),
                kind: sentry::MountKind::Dev,
                readonly: false,
            },
            sentry::MountConfig {
                destination: "/tmp".into(),
                kind: sentry::MountKind::Tmpfs,
                readonly: false,
            },
        ],
        hostname: "sandbox".into(),
        argv,
        env: vec!["PATH=/usr/bin:/bin".into(), "HOME=/".into()],
        cwd: "/".into(),
        uid: 0,
        gid: 0,
        additional_gids: vec![],
        rlimits: vec![],
        masked_paths: vec![],
        readonly_paths: vec![],
    };
    let stdio: [OwnedFd; 3] = [
        std::io::stdin().as_fd().try_clone_to_owned().unwrap(),
        std::io::stdout().as_fd().try_clone_to_owned().unwrap(),
        std::io::stderr().as_fd().try_clone_to_owned().unwrap(),
    ];
    let sb = sentry::Sandbox::new(config).unwrap();
    let code = sb.run(stdio, None).unwrap();
    std::process::exit(code);
}
