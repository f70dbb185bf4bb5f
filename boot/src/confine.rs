//! The confinement of the sandbox process, before the sentry is built (so before the
//! master stub is forked, which inherits all of it): a root of its own that holds nothing
//! of the host, then ([`drop_privileges`]) only the capabilities the sentry needs and
//! `no_new_privs`; the seccomp filter (`seccomp.rs`) comes last.
//!
//! The new root is a fresh tmpfs, read-only once built, holding only:
//!
//! ```text
//! /rootfs       the guest's root: a bind mount of the bundle's rootfs (`runsc do`: --root-dir)
//! /mounts/N     mount N of the config: a bind mount of its source (a directory, or a file
//!               bound onto an empty file), or a fresh tmpfs (nosuid, nodev)
//! ```
//!
//! No host `/`, `/proc`, `/dev` or `/sys`. Bind mounts are not recursive unless the spec
//! said `rbind`, read-only ones are read-only on the host too, and every one is nosuid and
//! nodev (the sentry opens host files for guests; a device node in a rootfs must not give
//! a compromised sandbox the host's disk). Each source is a bind mount rather than a host
//! directory fd: from an fd, `..` climbs to the host's `/`; from a mount's root, `..`
//! stops at the mount.
//!
//! The sandbox process keeps no fd of a host directory across the pivot: what it needs
//! from the host afterwards is taken before (`sentry::host::capture`, stdio reopened by
//! `sentry::host::reopen_stdio`, the control socket bound, the exit record opened as a
//! file).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use caps::Capability;
use nix::mount::{MntFlags, MsFlags};
use sentry::{MountKind, SandboxConfig};

/// Where the new root is assembled before the pivot: a directory that exists on every
/// host, covered (in the sandbox's own mount namespace only) by the new root's tmpfs.
/// The sources are cloned before, so a source beneath it is not hidden.
const STAGING: &str = "/tmp";
/// The guest's root inside the new root.
pub const ROOTFS: &str = "/rootfs";
/// The directory of the other mounts inside the new root.
pub const MOUNTS: &str = "/mounts";

#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("entering a mount namespace of its own (unshare)")]
    Unshare(#[source] nix::Error),
    #[error("making every mount private (no propagation to the host)")]
    Private(#[source] nix::Error),
    #[error("cloning the mount at {path}")]
    Clone {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("setting the flags of the bind mount of {path}")]
    Flags {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mounting the new root's tmpfs on {STAGING}")]
    NewRoot(#[source] nix::Error),
    #[error("making the mount point {path}")]
    MountPoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mounting {what} at {path}")]
    Attach {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{step} into the new root")]
    Pivot {
        step: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("making the new root read-only")]
    ReadOnly(#[source] nix::Error),
    #[error("entering a user namespace")]
    UserNamespace(#[source] std::io::Error),
    #[error("setting no_new_privs")]
    NoNewPrivs(#[source] nix::Error),
    #[error(transparent)]
    Caps(#[from] crate::capabilities::CapsError),
}

/// What goes into the sandbox's root.
#[derive(Debug, Clone)]
pub struct RootPlan {
    /// The config as built from the spec (host paths).
    pub config: SandboxConfig,
    /// Per mount of `config`: a recursive bind (`rbind`).
    pub recursive: Vec<bool>,
    /// The process already is in a mount namespace made for it (`runsc create` cloned it
    /// with `CLONE_NEWNS`, or `runsc do` made one with its user namespace): no need to
    /// unshare another.
    pub fresh_mount_namespace: bool,
}

fn io_err(e: nix::Error) -> std::io::Error {
    std::io::Error::from(e)
}

/// A detached bind mount of `path` (recursive or not), with `flags` (`MOUNT_ATTR_*`).
/// A user namespace may not clone a mount without the mounts beneath it that it did not
/// make (they hide what lies under them): then the clone is recursive.
fn clone_mount(path: &Path, recursive: bool, flags: u64) -> Result<OwnedFd, ConfineError> {
    let clone_err = |source| ConfineError::Clone {
        path: path.to_path_buf(),
        source,
    };
    let (tree, recursive) = match crate::sys::clone_tree(path, recursive) {
        Err(e) if !recursive && e.raw_os_error() == Some(libc::EINVAL) => {
            log::debug!(
                "{}: mounts beneath it may not be uncovered here: passed in with them",
                path.display()
            );
            (crate::sys::clone_tree(path, true).map_err(clone_err)?, true)
        }
        r => (r.map_err(clone_err)?, recursive),
    };
    crate::sys::set_mount_attrs(tree.as_fd(), flags, recursive).map_err(|source| {
        ConfineError::Flags {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(tree)
}

/// The `MOUNT_ATTR_*` flags of a bind mount into the new root.
fn bind_flags(readonly: bool) -> u64 {
    // MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV (| MOUNT_ATTR_RDONLY)
    0x2 | 0x4 | if readonly { 0x1 } else { 0 }
}

/// Makes an empty mount point in the new root: a directory, or an empty file for a
/// bind-mounted file.
/// A fresh tmpfs (nosuid, nodev, with `options`) on a new mount point `at`.
fn fresh_tmpfs(at: &Path, options: &str, what: String) -> Result<(), ConfineError> {
    mount_point(at, true)?;
    nix::mount::mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options),
    )
    .map_err(|e| ConfineError::Attach {
        what,
        path: at.to_path_buf(),
        source: io_err(e),
    })
}

fn mount_point(path: &Path, dir: bool) -> Result<(), ConfineError> {
    let made = if dir {
        std::fs::create_dir(path)
    } else {
        std::fs::File::create(path).map(drop)
    };
    made.map_err(|source| ConfineError::MountPoint {
        path: path.to_path_buf(),
        source,
    })
}

fn is_dir(tree: &OwnedFd) -> std::io::Result<bool> {
    let st = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(tree)).map_err(io_err)?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Builds the sandbox's root and moves this process into it (`pivot_root`; the host's
/// root is then detached and the working directory is `/`). Returns the config with the
/// paths of the new root. This process must be single-threaded and still hold
/// `CAP_SYS_ADMIN` (in the namespace that owns its mount namespace).
pub fn enter_root(plan: &RootPlan) -> Result<SandboxConfig, ConfineError> {
    if !plan.fresh_mount_namespace {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(ConfineError::Unshare)?;
    }
    // Nothing mounted from here on may reach the host's mount namespace (a namespace made
    // by clone still shares propagation with the host's mounts).
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(ConfineError::Private)?;

    // Every source is cloned first, while the host's tree is whole.
    let config = &plan.config;
    let root_tree = clone_mount(&config.root, false, bind_flags(config.root_readonly))?;
    let mut trees: Vec<Option<OwnedFd>> = Vec::with_capacity(config.mounts.len());
    for (i, m) in config.mounts.iter().enumerate() {
        trees.push(match &m.kind {
            MountKind::Bind { source } => {
                let rec = plan.recursive.get(i).copied().unwrap_or(false);
                Some(clone_mount(source, rec, bind_flags(m.readonly))?)
            }
            _ => None,
        });
    }

    // The new root: a tmpfs holding one mount point per mount.
    let staging = Path::new(STAGING);
    nix::mount::mount(
        Some("runsc-root"),
        staging,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0755"),
    )
    .map_err(ConfineError::NewRoot)?;
    let inside = |p: &str| staging.join(p.trim_start_matches('/'));
    let attach = |tree: &OwnedFd, what: &Path, at: &Path| {
        crate::sys::attach_tree(tree.as_fd(), at).map_err(|source| ConfineError::Attach {
            what: what.display().to_string(),
            path: at.to_path_buf(),
            source,
        })
    };
    mount_point(&inside(ROOTFS), true)?;
    attach(&root_tree, &config.root, &inside(ROOTFS))?;
    mount_point(&inside(MOUNTS), true)?;
    let mut out = config.clone();
    out.root = PathBuf::from(ROOTFS);
    for (i, (m, tree)) in out.mounts.iter_mut().zip(&trees).enumerate() {
        let guest_path = PathBuf::from(format!("{MOUNTS}/{i}"));
        let at = inside(&guest_path.to_string_lossy());
        match (&mut m.kind, tree) {
            (MountKind::Bind { source }, Some(tree)) => {
                let dir = is_dir(tree).map_err(|e| ConfineError::Clone {
                    path: source.clone(),
                    source: e,
                })?;
                mount_point(&at, dir)?;
                attach(tree, source, &at)?;
                *source = guest_path;
            }
            (MountKind::Tmpfs { mounted }, _) => {
                fresh_tmpfs(&at, "mode=1777", format!("a tmpfs for {}", m.destination))?;
                *mounted = Some(guest_path);
            }
            _ => {}
        }
    }
    // A tmpfs of the sandbox's own for the mounts the guest makes itself (mount(2) of a
    // tmpfs: a directory of it each); nothing of the host is in it.
    let guest_mounts = PathBuf::from(format!("{MOUNTS}/guest"));
    let at = inside(&guest_mounts.to_string_lossy());
    fresh_tmpfs(
        &at,
        "mode=0700",
        "a tmpfs for the guest's own mounts".into(),
    )?;
    out.guest_mounts = Some(guest_mounts);
    drop(trees);
    drop(root_tree);

    // pivot_root(".", "."): the old root ends up stacked on the new one, and is detached.
    let pivot = |step: &'static str| move |source| ConfineError::Pivot { step, source };
    nix::unistd::chdir(staging).map_err(pivot("changing directory"))?;
    nix::unistd::pivot_root(".", ".").map_err(pivot("pivot_root"))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(pivot("detaching the old root"))?;
    nix::unistd::chdir("/").map_err(pivot("changing directory"))?;
    // Nothing writes to the new root itself: its mounts are mounts of their own.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(ConfineError::ReadOnly)?;
    Ok(out)
}

/// Drops every capability but `keep` (bounding set included) and sets `no_new_privs`.
/// Capabilities are per thread: call it while this process has one thread.
pub fn drop_privileges(keep: &[Capability]) -> Result<(), ConfineError> {
    crate::capabilities::drop_all_but(keep)?;
    nix::sys::prctl::set_no_new_privs().map_err(ConfineError::NoNewPrivs)
}

/// Makes this (single-threaded) process root of a new user namespace, in a new mount
/// namespace, mapping its user and group to 0 there: an unprivileged user may then mount
/// and pivot (`runsc do`). The mapped ids hold no more than the user did on the host.
pub fn enter_user_namespace() -> Result<(), ConfineError> {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    nix::sched::unshare(
        nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNS,
    )
    .map_err(|e| ConfineError::UserNamespace(io_err(e)))?;
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text).map_err(ConfineError::UserNamespace)
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {uid} 1\n"))?;
    write("gid_map", format!("0 {gid} 1\n"))?;
    Ok(())
}
