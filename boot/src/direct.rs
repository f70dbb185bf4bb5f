//! `runsc do`: run one program in a sandbox built right here, in this process, whose root
//! is a host directory passed through (`/` by default; a bind mount of it, without the
//! mounts beneath it), with a fresh tmpfs on `/tmp`, the sentry's `/proc` and `/dev`, this
//! process's environment and stdio. No container state, no control socket: the sentry's
//! own tests drive it.
//!
//! The process confines itself as `runsc boot` does before the sentry is built: a root of
//! its own holding only that bind mount and the tmpfs, capabilities dropped, `no_new_privs`,
//! the seccomp filter (`confine.rs`). A user who is not root first enters a user namespace
//! where it is root, so that it may mount and pivot (its root there holds nothing the user
//! did not hold on the host). Root enters none: a user namespace would have to map root to
//! root (mapped to anyone else, the host's files would show as owned by nobody and the
//! sentry could no longer act as their owners for the guest), which confines nothing more
//! than the capability drop, the root and the filter already do — and would hand the
//! sandbox, were it compromised, the kernel's namespace-owner code paths for nothing.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use sentry::{MountConfig, MountKind, Sandbox, SandboxConfig};

use crate::lookup::{find_executable, LookupError};

#[derive(Debug, thiserror::Error)]
pub enum DoError {
    #[error("no program given: usage is `runsc do [--root-dir DIR] -- PROG ARGS...`")]
    NoProgram,
    #[error("root directory {path}")]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("duplicating stdio fd {fd}")]
    Stdio {
        fd: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("building the sandbox")]
    New(#[source] sentry::Error),
    #[error("running the sandbox")]
    Run(#[source] sentry::Error),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("confining the sandbox")]
    Confine(#[from] crate::confine::ConfineError),
}

/// What `runsc do` was asked for.
#[derive(Debug, Clone)]
pub struct DoOptions {
    /// Host directory that becomes the guest's `/`.
    pub root_dir: PathBuf,
    /// Guest working directory; `None` means the current directory when it lies inside
    /// the root, else `/`.
    pub cwd: Option<String>,
    pub argv: Vec<String>,
    /// Install the sandbox's seccomp filter before running (off only for debugging).
    pub seccomp: bool,
}

/// The guest path of host path `dir` seen from a guest whose root is `root`, if inside.
fn guest_path_of(root: &Path, dir: &Path) -> Option<String> {
    let rest = dir.strip_prefix(root).ok()?;
    Some(format!("/{}", rest.to_string_lossy()).replace("//", "/"))
}

/// The limits a command run on the host would have that bound what the sandbox itself can
/// do (open files, file size), as gVisor's sandbox takes them from its host.
fn host_rlimits() -> Vec<sentry::Rlimit> {
    use nix::sys::resource::{getrlimit, Resource};
    [
        (Resource::RLIMIT_NOFILE, libc::RLIMIT_NOFILE),
        (Resource::RLIMIT_FSIZE, libc::RLIMIT_FSIZE),
    ]
    .into_iter()
    .filter_map(|(res, nr)| {
        let (soft, hard) = getrlimit(res).ok()?;
        Some(sentry::Rlimit {
            resource: nr,
            soft,
            hard,
        })
    })
    .collect()
}

/// Builds the sandbox configuration `runsc do` runs.
pub fn config(opts: &DoOptions) -> Result<SandboxConfig, DoError> {
    if opts.argv.is_empty() {
        return Err(DoError::NoProgram);
    }
    let root = std::fs::canonicalize(&opts.root_dir).map_err(|source| DoError::Root {
        path: opts.root_dir.clone(),
        source,
    })?;
    if !root.is_dir() {
        return Err(DoError::Root {
            path: root,
            source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
        });
    }
    let cwd = match &opts.cwd {
        Some(c) => c.clone(),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| guest_path_of(&root, &d))
            .unwrap_or_else(|| "/".to_string()),
    };
    let env: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    let mut argv = opts.argv.clone();
    argv[0] = find_executable(&root, &argv[0], &env, &cwd)?;
    let mount = |destination: &str, kind| MountConfig {
        destination: destination.to_string(),
        kind,
        readonly: false,
        nosuid: false,
    };
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "runsc".to_string());
    Ok(SandboxConfig {
        root,
        root_readonly: false,
        mounts: vec![
            mount("/proc", MountKind::Proc),
            mount("/dev", MountKind::Dev),
            mount("/sys", MountKind::Sys),
            mount("/tmp", MountKind::Tmpfs { mounted: None }),
            mount("/dev/shm", MountKind::Tmpfs { mounted: None }),
        ],
        container_id: hostname.clone(),
        hostname,
        argv,
        env,
        cwd,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        additional_gids: nix::unistd::getgroups()
            .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default(),
        capabilities: None,
        no_new_privileges: false,
        rlimits: host_rlimits(),
        masked_paths: Vec::new(),
        readonly_paths: Vec::new(),
        guest_mounts: None,
    })
}

/// Builds and runs the sandbox in this process; returns the guest's exit status (the exit
/// code, or 128 + the signal that killed it). Must be called before this process starts
/// any thread: it confines the whole process (which then cannot reach the host's files
/// but through the sandbox's root).
pub fn run(opts: &DoOptions) -> Result<i32, DoError> {
    let config = config(opts)?;
    log::debug!("runsc do: {config:?}");
    // What needs the host's view, before it is given up.
    let stdio = [
        dup_stdio(std::io::stdin().as_fd(), 0)?,
        dup_stdio(std::io::stdout().as_fd(), 1)?,
        dup_stdio(std::io::stderr().as_fd(), 2)?,
    ]
    .map(sentry::host::reopen_stdio);
    sentry::host::capture();
    let user_namespace = !nix::unistd::geteuid().is_root();
    if user_namespace {
        crate::confine::enter_user_namespace()?;
    }
    let recursive = vec![false; config.mounts.len()];
    let config = crate::confine::enter_root(&crate::confine::RootPlan {
        config,
        recursive,
        fresh_mount_namespace: user_namespace,
    })?;
    crate::confine::drop_privileges(crate::capabilities::SANDBOX_KEEPS)?;
    if opts.seccomp {
        crate::seccomp::install()?;
    }
    // Forks the master stub, which inherits all of the above.
    let sandbox = Sandbox::new(config).map_err(DoError::New)?;
    sandbox.run(stdio, None).map_err(DoError::Run)
}

fn dup_stdio(fd: std::os::fd::BorrowedFd<'_>, n: i32) -> Result<std::os::fd::OwnedFd, DoError> {
    match fd.try_clone_to_owned() {
        Ok(owned) => Ok(owned),
        // A closed stdio fd reads as /dev/null, as a daemon's would.
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => std::fs::OpenOptions::new()
            .read(n == 0)
            .write(n != 0)
            .open("/dev/null")
            .map(Into::into)
            .map_err(|source| DoError::Stdio { fd: n, source }),
        Err(source) => Err(DoError::Stdio { fd: n, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths() {
        let r = Path::new("/srv/root");
        assert_eq!(guest_path_of(r, Path::new("/srv/root")).unwrap(), "/");
        assert_eq!(
            guest_path_of(r, Path::new("/srv/root/a/b")).unwrap(),
            "/a/b"
        );
        assert!(guest_path_of(r, Path::new("/srv/rootx")).is_none());
        assert_eq!(
            guest_path_of(Path::new("/"), Path::new("/tmp")).unwrap(),
            "/tmp"
        );
    }

    #[test]
    fn do_config_for_host_root() {
        let opts = DoOptions {
            root_dir: "/".into(),
            cwd: None,
            argv: vec!["sh".into(), "-c".into(), "true".into()],
            seccomp: true,
        };
        let c = config(&opts).unwrap();
        assert_eq!(c.root, Path::new("/"));
        assert!(c.argv[0].ends_with("/sh"), "{:?}", c.argv);
        assert_eq!(c.cwd, std::env::current_dir().unwrap().to_string_lossy());
        let kinds: Vec<_> = c
            .mounts
            .iter()
            .map(|m| (m.destination.as_str(), &m.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("/proc", &MountKind::Proc),
                ("/dev", &MountKind::Dev),
                ("/sys", &MountKind::Sys),
                ("/tmp", &MountKind::Tmpfs { mounted: None }),
                ("/dev/shm", &MountKind::Tmpfs { mounted: None })
            ]
        );
        // The open-file limit is this process's own, as a command run here would have.
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        let nofile = c
            .rlimits
            .iter()
            .find(|r| r.resource == libc::RLIMIT_NOFILE)
            .map(|r| (r.soft, r.hard));
        assert_eq!(nofile, Some((soft, hard)));
    }

    #[test]
    fn do_config_errors() {
        let mut opts = DoOptions {
            root_dir: "/nonexistent-root-dir".into(),
            cwd: None,
            argv: vec!["sh".into()],
            seccomp: false,
        };
        assert!(matches!(config(&opts), Err(DoError::Root { .. })));
        opts.root_dir = "/".into();
        opts.argv.clear();
        assert!(matches!(config(&opts), Err(DoError::NoProgram)));
        opts.argv = vec!["no-such-program-anywhere".into()];
        assert!(matches!(config(&opts), Err(DoError::Lookup(_))));
    }
}
