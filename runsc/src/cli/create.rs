//! `runsc create --bundle B [--pid-file F] [--console-socket S] ID`.

use std::path::PathBuf;

use super::Context;

/// Create a container: its sandbox process waits for `start`.
#[derive(clap::Args, Debug)]
pub struct Create {
    #[command(flatten)]
    pub opts: CreateArgs,
    pub id: String,
}

/// The flags `create`, `run` and `restore` share.
#[derive(clap::Args, Debug, Clone)]
pub struct CreateArgs {
    /// The bundle directory (holding config.json).
    #[arg(long, short = 'b', value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    /// Write the sandbox process's pid to FILE.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to send the pty master to when process.terminal is true.
    #[arg(long, value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for compatibility (the sandbox does not pivot_root).
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for compatibility (there is no session keyring in the sentry).
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Accepted for compatibility: extra fds are not passed to the guest.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Do not install the sandbox's seccomp filter (debugging only).
    #[arg(long, hide = true)]
    pub no_seccomp: bool,
}

impl CreateArgs {
    pub fn options(&self, id: &str, foreground: bool) -> boot::container::CreateOptions {
        if self.preserve_fds > 0 {
            log::warn!(
                "--preserve-fds {}: extra fds are not passed to the guest",
                self.preserve_fds
            );
        }
        boot::container::CreateOptions {
            id: id.to_string(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            seccomp: !self.no_seccomp,
            foreground,
        }
    }
}

impl Create {
    pub fn run(self, ctx: &Context) -> anyhow::Result<i32> {
        ctx.runtime().create(&self.opts.options(&self.id, false))?;
        Ok(0)
    }
}
