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
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    // `--checkpoint-after SECS DIR`: write DIR/checkpoint.img after SECS and end.
    // `--restore DIR`: restore from DIR instead of starting ARGS.
    let mut checkpoint = None;
    let mut restore = None;
    if argv.first().map(String::as_str) == Some("--checkpoint-after") {
        checkpoint = Some((
            argv[1].parse::<f64>().unwrap(),
            std::path::PathBuf::from(&argv[2]),
        ));
        argv.drain(..3);
    } else if argv.first().map(String::as_str) == Some("--restore") {
        restore = Some(std::path::PathBuf::from(&argv[1]));
        argv.drain(..2);
    }
    let config = sentry::SandboxConfig::host_root(argv, "sandbox");
    let stdio: [OwnedFd; 3] = [
        std::io::stdin().as_fd().try_clone_to_owned().unwrap(),
        std::io::stdout().as_fd().try_clone_to_owned().unwrap(),
        std::io::stderr().as_fd().try_clone_to_owned().unwrap(),
    ]
    .map(sentry::host::reopen_stdio);
    let sb = sentry::Sandbox::new(config).unwrap();
    let (handle, receiver) = sentry::control::channel().unwrap();
    if let Some((secs, dir)) = checkpoint {
        std::fs::create_dir_all(&dir).unwrap();
        let image = std::fs::File::create(dir.join("checkpoint.img")).unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            let r = handle.call(
                sentry::control::Request::Checkpoint {
                    leave_running: false,
                    image: dir.join("checkpoint.img").display().to_string(),
                    ghost_limit: sentry::control::DEFAULT_GHOST_LIMIT,
                    compression: statefile::Compression::None,
                },
                vec![image.into()],
            );
            eprintln!("checkpoint: {r:?}");
        });
    }
    let code = match restore {
        Some(dir) => {
            let image = std::fs::File::open(dir.join("checkpoint.img")).unwrap();
            sb.restore_and_run(image, stdio, Some(receiver), false)
        }
        None => sb.run(stdio, Some(receiver)),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg += &format!(": {s}");
                src = s.source();
            }
            eprintln!("sentry_run: {msg}");
            std::process::exit(125);
        }
    }
}
