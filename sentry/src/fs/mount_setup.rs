//! Building the guest's mount table from the config.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::fs::{MountFs, Vfs};
use crate::SandboxConfig;

/// A mount of the config that could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot open mount source {path}")]
pub struct MountError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// The fallback when the caller mounted no tmpfs for a tmpfs mount (the sentry's own tests;
/// boot always does): a fresh, private host directory backing one tmpfs mount: a unique name (sandboxes in
/// new pid namespaces all have pid 1), mode 0700, and — where this process may mount —
/// a real tmpfs mounted on it in the sandbox's own mount namespace, so its contents die
/// with the sandbox even when the sandbox is killed.
fn tmpfs_backing_dir() -> std::io::Result<(std::path::PathBuf, bool)> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    let mut rnd = [0u8; 8];
    crate::fs::dev::random_bytes(&mut rnd);
    let name = format!(
        "runsc-tmpfs-{}-{:016x}",
        std::process::id(),
        u64::from_le_bytes(rnd)
    );
    let dir = base.join(name);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let mounted = private_mount_namespace()
        && nix::mount::mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some("mode=1777"),
        )
        .is_ok();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777))?;
    Ok((dir, mounted))
}

/// Puts this process in a mount namespace of its own (once), where tmpfs mounts are
/// invisible to the host and vanish with the sandbox. False when not allowed.
fn private_mount_namespace() -> bool {
    use std::sync::OnceLock;
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| {
        if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).is_err() {
            return false;
        }
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .is_ok()
    })
}

/// Builds the guest's mount table from the config.
pub(crate) fn build_vfs(config: &SandboxConfig) -> Result<Vfs, MountError> {
    use crate::MountKind;
    let open_dir = |p: &std::path::Path| -> Result<OwnedFd, MountError> {
        nix::fcntl::open(
            p,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map(|fd| {
            // SAFETY: open just returned this fd and nothing else owns it.
            unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        })
        .map_err(|e| MountError {
            path: p.display().to_string(),
            source: e.into(),
        })
    };
    let mut scratch = Vec::new();
    let mut mounts = vec![crate::fs::Mount {
        at: vec![],
        fs: MountFs::Host {
            root: open_dir(&config.root)?,
            host_path: config.root.clone(),
        },
        readonly: config.root_readonly,
        nosuid: false,
        fstype: "rootfs".into(),
        flags: crate::fs::mounts::MS_RELATIME,
        seen: vec![crate::fs::mounts::INIT_MNT_NS],
        guest: false,
        copy: false,
    }];
    for m in &config.mounts {
        let at = crate::fs::split(&m.destination);
        let (fs, fstype) = match &m.kind {
            MountKind::Bind { source } => (
                MountFs::Host {
                    root: open_dir(source)?,
                    host_path: source.clone(),
                },
                "bind".to_string(),
            ),
            MountKind::Tmpfs { mounted: Some(dir) } => (
                MountFs::Host {
                    root: open_dir(dir)?,
                    host_path: dir.clone(),
                },
                "tmpfs".to_string(),
            ),
            MountKind::Tmpfs { mounted: None } => {
                let (dir, mounted) = tmpfs_backing_dir().map_err(|e| MountError {
                    path: std::env::temp_dir().display().to_string(),
                    source: e,
                })?;
                let root = open_dir(&dir)?;
                // A real tmpfs is detached from the host tree at once: it lives as long as
                // the sandbox holds its root fd, and leaves nothing behind when killed.
                let host_path = if mounted
                    && nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH).is_ok()
                {
                    let _ = std::fs::remove_dir(&dir);
                    std::path::PathBuf::from(format!("/proc/self/fd/{}", root.as_raw_fd()))
                } else {
                    scratch.push(dir.clone());
                    dir
                };
                (MountFs::Host { root, host_path }, "tmpfs".to_string())
            }
            MountKind::Proc => (MountFs::Proc, "proc".to_string()),
            MountKind::Dev => (MountFs::Dev, "devtmpfs".to_string()),
            MountKind::Sys => (MountFs::Empty, "sysfs".to_string()),
            MountKind::Empty => (MountFs::Empty, "none".to_string()),
        };
        mounts.push(crate::fs::Mount::new(at, fs, m.readonly, m.nosuid, &fstype));
    }
    Ok(Vfs {
        mounts,
        scratch,
        inos: Default::default(),
        devpts: Default::default(),
        cpus: 1,
        caches: Default::default(),
        uts_events: Default::default(),
        guest: crate::fs::mounts::GuestMounts::new(config.guest_mounts.clone()),
    })
}
