//! An OCI bundle: its `config.json` read, checked, and turned into the `SandboxConfig` the
//! sentry runs.

use std::path::{Path, PathBuf};

use sentry::{MountConfig, MountKind, Rlimit, SandboxConfig};

use crate::lookup::{find_executable, LookupError};
use crate::spec::{Mount, ParseError, Spec};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
    #[error("config.json: ociVersion {0:?} is not a 1.x runtime-spec version")]
    Version(String),
    #[error("config.json: root.path {path}")]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config.json: process is missing: there is nothing to run")]
    NoProcess,
    #[error("config.json: process.args is empty: there is no program to run")]
    NoArgs,
    #[error("config.json: process.cwd {0:?} is not an absolute path")]
    RelativeCwd(String),
    #[error("config.json: mounts[{index}].destination {destination:?} is not an absolute path")]
    MountDestination { index: usize, destination: String },
    #[error("config.json: mounts[{index}] ({destination}) is a bind mount without a source")]
    MountSource { index: usize, destination: String },
    #[error("config.json: process.rlimits: unknown rlimit type {0:?}")]
    Rlimit(String),
    #[error("config.json: linux.namespaces: unknown namespace type {0:?}")]
    Namespace(String),
    #[error("config.json: linux.namespaces: {0:?} is listed twice")]
    DuplicateNamespace(String),
    #[error("config.json: process.args[0]")]
    Lookup(#[source] LookupError),
}

/// A bundle whose config.json parsed and passed the checks.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// Absolute path of the root file system.
    pub rootfs: PathBuf,
}

/// The namespace types runtime-spec 1.0.2 defines.
pub const NAMESPACES: &[&str] = &["pid", "network", "mount", "ipc", "uts", "user", "cgroup"];

/// `RLIMIT_*` names and their numbers on Linux.
const RLIMITS: &[(&str, u32)] = &[
    ("RLIMIT_CPU", 0),
    ("RLIMIT_FSIZE", 1),
    ("RLIMIT_DATA", 2),
    ("RLIMIT_STACK", 3),
    ("RLIMIT_CORE", 4),
    ("RLIMIT_RSS", 5),
    ("RLIMIT_NPROC", 6),
    ("RLIMIT_NOFILE", 7),
    ("RLIMIT_MEMLOCK", 8),
    ("RLIMIT_AS", 9),
    ("RLIMIT_LOCKS", 10),
    ("RLIMIT_SIGPENDING", 11),
    ("RLIMIT_MSGQUEUE", 12),
    ("RLIMIT_NICE", 13),
    ("RLIMIT_RTPRIO", 14),
    ("RLIMIT_RTTIME", 15),
];

/// The number of an `RLIMIT_*` name.
pub fn rlimit_number(name: &str) -> Option<u32> {
    RLIMITS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| "/".into())
            .join(p)
    }
}

impl Bundle {
    /// Reads and checks `DIR/config.json`.
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        let dir = absolute(dir);
        let path = dir.join("config.json");
        let bytes = std::fs::read(&path).map_err(|source| BundleError::Read {
            path: path.clone(),
            source,
        })?;
        let spec =
            Spec::from_slice(&bytes).map_err(|source| BundleError::Parse { path, source })?;
        Bundle::from_spec(dir, spec)
    }

    /// Checks an already parsed spec of the bundle in `dir`.
    pub fn from_spec(dir: PathBuf, spec: Spec) -> Result<Bundle, BundleError> {
        if !spec.oci_version.starts_with("1.") {
            return Err(BundleError::Version(spec.oci_version));
        }
        let rootfs = dir.join(&spec.root.path);
        let meta = std::fs::metadata(&rootfs).map_err(|source| BundleError::Root {
            path: rootfs.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(BundleError::Root {
                path: rootfs,
                source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }
        let rootfs = std::fs::canonicalize(&rootfs).unwrap_or(rootfs);
        let process = spec.process.as_ref().ok_or(BundleError::NoProcess)?;
        if process.args.is_empty() {
            return Err(BundleError::NoArgs);
        }
        if !process.cwd.starts_with('/') {
            return Err(BundleError::RelativeCwd(process.cwd.clone()));
        }
        for r in &process.rlimits {
            rlimit_number(&r.kind).ok_or_else(|| BundleError::Rlimit(r.kind.clone()))?;
        }
        for (index, m) in spec.mounts.iter().enumerate() {
            if !m.destination.starts_with('/') {
                return Err(BundleError::MountDestination {
                    index,
                    destination: m.destination.clone(),
                });
            }
            if is_bind(m) && m.source.as_deref().unwrap_or("").is_empty() {
                return Err(BundleError::MountSource {
                    index,
                    destination: m.destination.clone(),
                });
            }
        }
        if let Some(linux) = &spec.linux {
            let mut seen = Vec::new();
            for ns in &linux.namespaces {
                if !NAMESPACES.contains(&ns.kind.as_str()) {
                    return Err(BundleError::Namespace(ns.kind.clone()));
                }
                if seen.contains(&ns.kind) {
                    return Err(BundleError::DuplicateNamespace(ns.kind.clone()));
                }
                seen.push(ns.kind.clone());
            }
        }
        Ok(Bundle { dir, spec, rootfs })
    }

    fn process(&self) -> &crate::spec::Process {
        // `from_spec` refuses a spec without a process.
        self.spec
            .process
            .as_ref()
            .expect("checked by Bundle::from_spec")
    }

    /// The sandbox the sentry runs for this bundle; `id` names the container (its
    /// hostname when the spec gives none).
    pub fn sandbox_config(&self, id: &str) -> Result<SandboxConfig, BundleError> {
        Ok(self.sandbox_plan(id)?.config)
    }

    /// Whether `runsc create` starts the sandbox process in a mount namespace of its own
    /// (the spec asks for a new one rather than naming one to join).
    pub fn new_mount_namespace(&self) -> bool {
        self.spec.linux.as_ref().is_some_and(|l| {
            l.namespaces
                .iter()
                .any(|ns| ns.kind == "mount" && ns.path.as_deref().unwrap_or("").is_empty())
        })
    }

    /// [`Bundle::sandbox_config`], with what the sandbox process needs to pass the host
    /// mounts into its own root.
    pub fn sandbox_plan(&self, id: &str) -> Result<SandboxPlan, BundleError> {
        let p = self.process();
        let mut argv = p.args.clone();
        argv[0] = match find_executable(&self.rootfs, &argv[0], &p.env, &p.cwd) {
            Ok(path) => path,
            Err(e) if self.bind_mounted_executable(&argv[0]) => {
                log::debug!("process.args[0] {:?} is bind-mounted ({e})", argv[0]);
                argv[0].clone()
            }
            Err(e) => return Err(BundleError::Lookup(e)),
        };
        let has_dev = self
            .spec
            .mounts
            .iter()
            .any(|m| m.destination.trim_end_matches('/') == "/dev");
        let mut mounts = Vec::new();
        let mut recursive = Vec::new();
        for m in &self.spec.mounts {
            let readonly = m.options.iter().any(|o| o == "ro");
            let destination = clean_destination(&m.destination);
            let kind = match m.kind.as_deref().unwrap_or("") {
                _ if is_bind(m) => MountKind::Bind {
                    source: self.dir.join(m.source.as_deref().unwrap_or("")),
                },
                "tmpfs" if destination == "/dev" => MountKind::Dev,
                "tmpfs" => MountKind::Tmpfs { mounted: None },
                "proc" => MountKind::Proc,
                "sysfs" => MountKind::Sys,
                "devtmpfs" => MountKind::Dev,
                // The sentry's /dev already has its pts: an empty directory over it would
                // hide the terminals.
                "devpts" if has_dev => {
                    log::debug!("mount {destination}: devpts is served by the sentry's /dev");
                    continue;
                }
                other => {
                    log::debug!("mount {destination}: type {other:?} shows as an empty directory");
                    MountKind::Empty
                }
            };
            recursive.push(is_bind(m) && m.options.iter().any(|o| o == "rbind"));
            mounts.push(MountConfig {
                destination,
                kind,
                readonly,
                nosuid: m.options.iter().any(|o| o == "nosuid"),
            });
        }
        let linux = self.spec.linux.clone().unwrap_or_default();
        let hostname = match self.spec.hostname.as_deref() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => id.chars().take(64).collect(),
        };
        let config = SandboxConfig {
            container_id: id.to_string(),
            root: self.rootfs.clone(),
            root_readonly: self.spec.root.readonly,
            mounts,
            hostname,
            argv,
            env: p.env.clone(),
            cwd: p.cwd.clone(),
            uid: p.user.uid,
            gid: p.user.gid,
            additional_gids: p.user.additional_gids.clone(),
            capabilities: crate::guest_creds::cap_sets(p.capabilities.as_ref()),
            no_new_privileges: p.no_new_privileges,
            rlimits: p
                .rlimits
                .iter()
                .filter_map(|r| {
                    Some(Rlimit {
                        resource: rlimit_number(&r.kind)?,
                        soft: r.soft,
                        hard: r.hard,
                    })
                })
                .collect(),
            masked_paths: linux.masked_paths,
            readonly_paths: linux.readonly_paths,
            guest_mounts: None,
        };
        Ok(SandboxPlan { config, recursive })
    }
}

/// The sandbox config of a bundle with, for each of its mounts, whether it is a
/// recursive bind mount (`rbind`: the host mounts beneath its source come along).
#[derive(Debug, Clone)]
pub struct SandboxPlan {
    pub config: SandboxConfig,
    pub recursive: Vec<bool>,
}

impl Bundle {
    /// Whether the absolute guest path `argv0` is an executable regular file that a bind
    /// mount provides (the last such mount wins, as it would over the earlier ones):
    /// `docker run --init` runs /sbin/docker-init, a bind mount of the host's
    /// docker-init, which the root filesystem does not hold.
    fn bind_mounted_executable(&self, argv0: &str) -> bool {
        use std::os::unix::fs::PermissionsExt;
        if !argv0.starts_with('/') {
            return false;
        }
        let guest = clean_destination(argv0);
        let Some((m, rest)) = self.spec.mounts.iter().rev().find_map(|m| {
            let dest = clean_destination(&m.destination);
            let rest = if guest == dest {
                Some("")
            } else if dest == "/" {
                Some(&guest[1..])
            } else {
                guest.strip_prefix(&dest).and_then(|r| r.strip_prefix('/'))
            };
            rest.map(|r| (m, r))
        }) else {
            return false;
        };
        if !is_bind(m) {
            return false;
        }
        let mut host = self.dir.join(m.source.as_deref().unwrap_or(""));
        if !rest.is_empty() {
            host.push(rest);
        }
        std::fs::metadata(&host)
            .is_ok_and(|md| md.is_file() && md.permissions().mode() & 0o111 != 0)
    }
}

/// Whether a mount is a bind mount: type `bind`, or a `bind`/`rbind` option (runc's rule).
fn is_bind(m: &Mount) -> bool {
    m.kind.as_deref() == Some("bind") || m.options.iter().any(|o| o == "bind" || o == "rbind")
}

/// `/a//b/` → `/a/b`.
fn clean_destination(d: &str) -> String {
    let parts: Vec<&str> = d
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A bundle with a rootfs holding an executable /bin/sh.
    fn bundle(config: serde_json::Value) -> (tempfile::TempDir, Result<Bundle, BundleError>) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("rootfs/bin")).unwrap();
        let sh = d.path().join("rootfs/bin/sh");
        std::fs::write(&sh, b"").unwrap();
        std::fs::set_permissions(&sh, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(d.path().join("config.json"), config.to_string()).unwrap();
        let b = Bundle::load(d.path());
        (d, b)
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": true},
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
                        "env": ["PATH=/bin"],
                        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]},
            "hostname": "box",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
                {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts",
                 "options": ["rbind", "ro"]},
                {"destination": "/data", "source": "data", "options": ["bind"]}
            ],
            "linux": {"maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}
        })
    }

    #[test]
    fn converts_a_bundle() {
        let (d, b) = bundle(base());
        let c = b.unwrap().sandbox_config("ctr").unwrap();
        assert_eq!(
            c.root,
            std::fs::canonicalize(d.path().join("rootfs")).unwrap()
        );
        assert!(c.root_readonly);
        assert_eq!(c.argv, ["/bin/sh"]);
        assert_eq!(c.hostname, "box");
        assert_eq!(
            c.rlimits,
            [Rlimit {
                resource: 7,
                soft: 1024,
                hard: 1024
            }]
        );
        let m: Vec<(&str, &MountKind, bool)> = c
            .mounts
            .iter()
            .map(|m| (m.destination.as_str(), &m.kind, m.readonly))
            .collect();
        let data = MountKind::Bind {
            source: d.path().join("data"),
        };
        let hosts = MountKind::Bind {
            source: "/etc/hosts".into(),
        };
        assert_eq!(
            m,
            [
                ("/proc", &MountKind::Proc, false),
                ("/dev", &MountKind::Dev, false),
                ("/dev/shm", &MountKind::Tmpfs { mounted: None }, false),
                ("/sys", &MountKind::Sys, false),
                ("/sys/fs/cgroup", &MountKind::Empty, false),
                ("/etc/hosts", &hosts, true),
                ("/data", &data, false),
            ]
        );
        assert_eq!(c.masked_paths, ["/proc/kcore"]);
        assert_eq!(c.readonly_paths, ["/proc/sys"]);
        // Only the rbind is recursive; the spec asks for no new mount namespace.
        let (_keep, b) = bundle(base());
        let b = b.unwrap();
        let plan = b.sandbox_plan("ctr").unwrap();
        assert_eq!(
            plan.recursive,
            [false, false, false, false, false, true, false]
        );
        assert!(!b.new_mount_namespace());
    }

    #[test]
    fn args0_may_be_a_bind_mounted_executable() {
        // docker run --init: /sbin/docker-init is the host's, bind-mounted.
        let (d, _) = bundle(base());
        let init = d.path().join("docker-init");
        std::fs::write(&init, b"").unwrap();
        std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut v = base();
        v["process"]["args"] = serde_json::json!(["/sbin/docker-init", "--", "sh"]);
        v["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/sbin/docker-init", "type": "bind",
             "source": init.to_str().unwrap(), "options": ["bind", "ro"]}));
        let (_d2, b) = bundle(v.clone());
        let c = b.unwrap().sandbox_config("ctr").unwrap();
        assert_eq!(c.argv, ["/sbin/docker-init", "--", "sh"]);
        // Not executable: the lookup's error stands.
        std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_d3, b) = bundle(v);
        let e = b.unwrap().sandbox_config("ctr").unwrap_err();
        assert!(e.to_string().contains("process.args[0]"), "{e}");
    }

    #[test]
    fn hostname_defaults_to_the_id() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("hostname");
        let (_d, b) = bundle(v);
        assert_eq!(b.unwrap().sandbox_config("ctr").unwrap().hostname, "ctr");
    }

    #[test]
    fn clear_errors() {
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|v| v["ociVersion"] = "2.0".into()), "not a 1.x"),
            (Box::new(|v| v["root"]["path"] = "nope".into()), "root.path"),
            (
                Box::new(|v| v["process"]["args"] = serde_json::json!([])),
                "process.args is empty",
            ),
            (
                Box::new(|v| v["process"]["cwd"] = "rel".into()),
                "process.cwd \"rel\"",
            ),
            (
                Box::new(|v| v["process"]["rlimits"][0]["type"] = "RLIMIT_BOGUS".into()),
                "RLIMIT_BOGUS",
            ),
            (
                Box::new(|v| v["mounts"][0]["destination"] = "proc".into()),
                "mounts[0]",
            ),
            (
                Box::new(|v| v["linux"]["namespaces"] = serde_json::json!([{"type": "bogus"}])),
                "unknown namespace type \"bogus\"",
            ),
            (
                Box::new(|v| {
                    v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "pid"}])
                }),
                "listed twice",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("process");
                }),
                "process is missing",
            ),
        ];
        for (edit, want) in cases {
            let mut v = base();
            edit(&mut v);
            let (_d, b) = bundle(v);
            let e = b.unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
        let mut v = base();
        v["process"]["args"] = serde_json::json!(["nothere"]);
        let (_d, b) = bundle(v);
        let e = b.unwrap().sandbox_config("x").unwrap_err();
        let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(chain.contains("\"nothere\" not found in $PATH"), "{chain}");
    }

    #[test]
    fn unreadable_and_malformed_config() {
        let d = tempfile::tempdir().unwrap();
        let e = Bundle::load(d.path()).unwrap_err();
        assert!(matches!(e, BundleError::Read { .. }), "{e}");
        std::fs::write(d.path().join("config.json"), "{not json").unwrap();
        let e = Bundle::load(d.path()).unwrap_err();
        assert!(matches!(e, BundleError::Parse { .. }), "{e}");
    }
}
