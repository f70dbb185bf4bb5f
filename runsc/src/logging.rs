//! Where runsc's messages go. With `--log FILE` every record is appended to FILE, as JSON
//! lines (`{"level","msg","time"}`) with `--log-format json` or logrus-style text lines
//! otherwise; debug records only with `--debug`. Without `--log` nothing is logged except
//! the final error, which goes to stderr: stdout and stderr of `state` and `ps` are parsed,
//! and those of `create` and `exec` are the container's.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

struct FileLogger {
    file: Mutex<File>,
    format: LogFormat,
    level: log::LevelFilter,
}

fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "error",
        log::Level::Warn => "warning",
        log::Level::Info => "info",
        log::Level::Debug => "debug",
        log::Level::Trace => "trace",
    }
}

/// One log line in `format`, with its newline.
pub fn line(format: LogFormat, level: &str, msg: &str) -> String {
    let time = boot::time::rfc3339(SystemTime::now());
    match format {
        LogFormat::Json => {
            let v = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{v}\n")
        }
        LogFormat::Text => {
            format!("time={time:?} level={level} msg={msg:?}\n")
        }
    }
}

impl log::Log for FileLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = line(
            self.format,
            level_name(record.level()),
            &record.args().to_string(),
        );
        if let Ok(mut f) = self.file.lock() {
            let _ = f.write_all(text.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// Where the final error of a failed command is reported.
pub struct Sink {
    file: Option<File>,
    format: LogFormat,
}

impl Sink {
    /// Reports the error that ends the command: to the log file when there is one,
    /// otherwise to stderr.
    pub fn error(&self, msg: &str) {
        match &self.file {
            Some(f) => {
                let mut f = f;
                let _ = f.write_all(line(self.format, "error", msg).as_bytes());
            }
            None => eprintln!("runsc: {msg}"),
        }
    }

    /// The log file's raw fd, if any (for reports that cannot allocate).
    pub fn raw_fd(&self) -> Option<i32> {
        use std::os::fd::AsRawFd;
        self.file.as_ref().map(|f| f.as_raw_fd())
    }
}

/// Opens the log file (if any) and installs the logger. Failing to open the log file is
/// reported on stderr (unless `quiet`: the sandbox process's stderr is the container's)
/// and logging goes nowhere.
pub fn init(path: Option<&Path>, format: LogFormat, debug: bool, quiet: bool) -> Sink {
    let file = path.and_then(|p| {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Some(f),
            Err(e) => {
                if !quiet {
                    eprintln!("runsc: opening log file {}: {e}", p.display());
                }
                None
            }
        }
    });
    let level = if debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Warn
    };
    if let Some(f) = file.as_ref().and_then(|f| f.try_clone().ok()) {
        let logger = FileLogger {
            file: Mutex::new(f),
            format,
            level,
        };
        if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
            log::set_max_level(level);
        }
    }
    install_panic_hook(quiet);
    Sink { file, format }
}

/// A panic is a runsc bug: it goes to the log. The sandbox process (`quiet`) never prints
/// it: its stderr is the container's. Other commands also print it the usual way.
fn install_panic_hook(quiet: bool) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log::error!("panic: {info}");
        if !quiet {
            default(info);
        }
    }));
}
