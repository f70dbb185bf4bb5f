//! What a sandbox is built from: the parts of an OCI spec the kernel itself needs.

use std::path::PathBuf;

/// One mount of the guest's file system tree, in the order the spec lists them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountConfig {
    /// Absolute guest path.
    pub destination: String,
    pub kind: MountKind,
    pub readonly: bool,
    /// Set-user-ID and set-group-ID bits of its files are not honoured on execve.
    pub nosuid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MountKind {
    /// Host passthrough of a host directory or file.
    Bind {
        source: PathBuf,
    },
    /// A fresh, empty tmpfs. `mounted`: one the caller mounted for this sandbox at this
    /// path (boot does, before it confines the sandbox process, which can then mount
    /// nothing); `None`: the sentry makes one itself (a tmpfs in a mount namespace of its
    /// own where it may mount, else a private host directory under the temp dir).
    Tmpfs {
        mounted: Option<PathBuf>,
    },
    Proc,
    Dev,
    /// sysfs: the few generated nodes of `crate::fs::sysfs` (the CPU lists), read-only.
    Sys,
    /// A mount type the sentry does not model (sysfs, cgroup, mqueue, devpts …): the
    /// destination shows an empty read-only directory.
    Empty,
}

/// A resource limit (`RLIMIT_*` number, soft, hard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// Everything the kernel needs to start the first guest process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SandboxConfig {
    /// Host directory that is the guest's `/`.
    pub root: PathBuf,
    pub root_readonly: bool,
    pub mounts: Vec<MountConfig>,
    pub hostname: String,
    /// The container's id, as the runtime names it (written into a checkpoint image's
    /// metadata).
    pub container_id: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The process's capability sets (OCI `process.capabilities`); `None`: Linux's
    /// default for its uid (root all, others none).
    pub capabilities: Option<crate::creds::CapSets>,
    /// OCI `process.noNewPrivileges`.
    pub no_new_privileges: bool,
    pub rlimits: Vec<Rlimit>,
    /// Guest paths that read as empty (OCI `maskedPaths`).
    pub masked_paths: Vec<String>,
    /// Guest paths that are read-only (OCI `readonlyPaths`).
    pub readonly_paths: Vec<String>,
    /// A host directory (a tmpfs of the sandbox's own) where the guest's mount(2) makes
    /// its tmpfs mounts; `None`: the guest mounts no tmpfs (ENODEV).
    #[serde(default)]
    pub guest_mounts: Option<PathBuf>,
}

impl SandboxConfig {
    /// A sandbox whose root is the host's `/`, read-only, with the sentry's /proc and
    /// /dev and a tmpfs /tmp, running `argv` as root with PATH=/usr/bin:/bin.
    pub fn host_root(argv: Vec<String>, hostname: &str) -> Self {
        let mount = |destination: &str, kind: MountKind, readonly: bool| MountConfig {
            destination: destination.into(),
            kind,
            readonly,
            nosuid: false,
        };
        SandboxConfig {
            root: "/".into(),
            root_readonly: true,
            mounts: vec![
                mount("/proc", MountKind::Proc, true),
                mount("/dev", MountKind::Dev, false),
                mount("/tmp", MountKind::Tmpfs { mounted: None }, false),
            ],
            hostname: hostname.into(),
            container_id: hostname.into(),
            argv,
            env: vec!["PATH=/usr/bin:/bin".into(), "HOME=/".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            capabilities: None,
            no_new_privileges: false,
            rlimits: vec![],
            masked_paths: vec![],
            readonly_paths: vec![],
            guest_mounts: None,
        }
    }
}
