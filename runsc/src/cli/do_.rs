//! `runsc do [--root-dir DIR] [--cwd DIR] -- PROG ARGS...`: run a program in a sandbox
//! built in this process, with a host directory as its root.

use std::path::PathBuf;

use super::Context;
use crate::logging::LogFormat;

/// Run a program in a sandbox whose root is a host directory (passthrough), with tmpfs
/// /tmp, proc and dev.
#[derive(clap::Args, Debug)]
pub struct Do {
    /// Host directory that becomes the guest's root (its own file system: host mounts
    /// beneath it are not passed through).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root_dir: PathBuf,
    /// Guest working directory (default: the current directory if inside the root, else /).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Do not install the sandbox's seccomp filter (debugging only).
    #[arg(long, hide = true)]
    pub no_seccomp: bool,
    /// The program and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub argv: Vec<String>,
}

impl Do {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        // Refused syscalls are reported to the log file, or to stderr for this
        // interactive command.
        boot::seccomp::set_log_fd(
            ctx.log_fd.unwrap_or(2),
            ctx.global.log_format == LogFormat::Json,
        );
        let opts = boot::direct::DoOptions {
            root_dir: self.root_dir,
            cwd: self.cwd,
            argv: self.argv,
            seccomp: !self.no_seccomp,
        };
        Ok(boot::direct::run(&opts)?)
    }
}
