//! The sandbox process's cgroup: `linux.cgroupsPath` made and joined, with the spec's
//! memory, pids and cpu limits applied, before `create` returns (containerd's shim reads
//! that cgroup for stats and OOM events right after). Both cgroup v2 (one unified
//! hierarchy at /sys/fs/cgroup) and v1 (one hierarchy per controller below it) are served.

use std::path::{Path, PathBuf};

use crate::spec::Resources;

/// Where the cgroup file systems are mounted.
pub const MOUNT: &str = "/sys/fs/cgroup";
/// statfs magic of cgroup2.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("linux.cgroupsPath {0:?}: a systemd cgroup path is \"slice:prefix:name\"")]
    SystemdPath(String),
    #[error("linux.cgroupsPath {0:?} leaves the cgroup hierarchy")]
    Escapes(String),
    #[error("cgroup: {what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no cgroup hierarchy is mounted at {0}")]
    NoHierarchy(PathBuf),
}

/// The layout of the cgroup mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v2: one tree at the mount.
    Unified(PathBuf),
    /// cgroup v1: one tree per controller directory (cpu, memory, pids, name=systemd …).
    PerController(Vec<PathBuf>),
}

/// Looks at what is mounted at `mount`.
pub fn detect(mount: &Path) -> Result<Hierarchy, CgroupError> {
    let fs = nix::sys::statfs::statfs(mount).map_err(|e| CgroupError::Io {
        what: "statfs",
        path: mount.to_path_buf(),
        source: e.into(),
    })?;
    if fs.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC {
        return Ok(Hierarchy::Unified(mount.to_path_buf()));
    }
    let mut seen = Vec::new();
    let mut trees = Vec::new();
    for e in std::fs::read_dir(mount).into_iter().flatten().flatten() {
        let p = e.path();
        // The v2 tree of a hybrid host holds no controllers: leave it alone.
        if e.file_name() == "unified" || !p.join("cgroup.procs").exists() {
            continue;
        }
        // cpu,cpuacct and its cpu / cpuacct links are one tree.
        let real = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if !seen.contains(&real) {
            seen.push(real);
            trees.push(p);
        }
    }
    trees.sort();
    if trees.is_empty() {
        return Err(CgroupError::NoHierarchy(mount.to_path_buf()));
    }
    Ok(Hierarchy::PerController(trees))
}

/// `a-b-c.slice` → `a.slice/a-b.slice/a-b-c.slice`, as systemd nests slices.
fn expand_slice(slice: &str) -> String {
    if slice == "-.slice" || slice.is_empty() {
        return String::new();
    }
    let name = slice.strip_suffix(".slice").unwrap_or(slice);
    let mut parts = Vec::new();
    let mut prefix = String::new();
    for word in name.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(word);
        parts.push(format!("{prefix}.slice"));
    }
    parts.join("/")
}

/// The cgroup of the spec, relative to each hierarchy's root. With `systemd`, the path is
/// systemd's `slice:prefix:name` (unit `prefix-name.scope` under the slice).
pub fn relative_path(cgroups_path: &str, systemd: bool) -> Result<PathBuf, CgroupError> {
    let rel = if systemd {
        let parts: Vec<&str> = cgroups_path.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(CgroupError::SystemdPath(cgroups_path.to_string()));
        };
        if name.is_empty() {
            return Err(CgroupError::SystemdPath(cgroups_path.to_string()));
        }
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        let unit = if name.ends_with(".slice") {
            expand_slice(name)
        } else if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        let slice = expand_slice(slice);
        if slice.is_empty() {
            unit
        } else {
            format!("{slice}/{unit}")
        }
    } else {
        cgroups_path.trim_start_matches('/').to_string()
    };
    let rel = PathBuf::from(rel);
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(CgroupError::Escapes(cgroups_path.to_string()));
    }
    Ok(rel)
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|source| CgroupError::Io {
        what: "writing",
        path: path.to_path_buf(),
        source,
    })
}

fn mkdir(path: &Path) -> Result<(), CgroupError> {
    std::fs::create_dir_all(path).map_err(|source| CgroupError::Io {
        what: "creating",
        path: path.to_path_buf(),
        source,
    })
}

/// cpu.weight (v2, 1..=10000) from cpu.shares (v1, 2..=262144), as runc converts.
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

fn apply_v2(dir: &Path, res: &Resources) -> Result<(), CgroupError> {
    if let Some(limit) = res.memory.as_ref().and_then(|m| m.limit) {
        write(
            &dir.join("memory.max"),
            &if limit > 0 {
                limit.to_string()
            } else {
                "max".into()
            },
        )?;
    }
    if let Some(p) = &res.pids {
        write(
            &dir.join("pids.max"),
            &if p.limit > 0 {
                p.limit.to_string()
            } else {
                "max".into()
            },
        )?;
    }
    if let Some(cpu) = &res.cpu {
        if cpu.quota.is_some() || cpu.period.is_some() {
            let period = cpu.period.filter(|&p| p > 0).unwrap_or(100_000);
            let quota = match cpu.quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(shares) = cpu.shares.filter(|&s| s > 0) {
            write(
                &dir.join("cpu.weight"),
                &shares_to_weight(shares).to_string(),
            )?;
        }
    }
    Ok(())
}

fn apply_v1(tree: &Path, dir: &Path, res: &Resources) -> Result<(), CgroupError> {
    let has = |f: &str| dir.join(f).exists();
    if let Some(limit) = res.memory.as_ref().and_then(|m| m.limit) {
        if has("memory.limit_in_bytes") {
            write(
                &dir.join("memory.limit_in_bytes"),
                &limit.max(-1).to_string(),
            )?;
        }
    }
    if let Some(p) = &res.pids {
        if has("pids.max") {
            write(
                &dir.join("pids.max"),
                &if p.limit > 0 {
                    p.limit.to_string()
                } else {
                    "max".into()
                },
            )?;
        }
    }
    if let Some(cpu) = &res.cpu {
        if let Some(period) = cpu.period.filter(|&p| p > 0) {
            if has("cpu.cfs_period_us") {
                write(&dir.join("cpu.cfs_period_us"), &period.to_string())?;
            }
        }
        if let Some(quota) = cpu.quota {
            if has("cpu.cfs_quota_us") {
                write(&dir.join("cpu.cfs_quota_us"), &quota.max(-1).to_string())?;
            }
        }
        if let Some(shares) = cpu.shares.filter(|&s| s > 0) {
            if has("cpu.shares") {
                write(&dir.join("cpu.shares"), &shares.to_string())?;
            }
        }
    }
    // A new cpuset is empty and takes no process: inherit the parent's cpus and mems.
    if has("cpuset.cpus") {
        let rel = dir.strip_prefix(tree).unwrap_or(Path::new(""));
        let mut cur = tree.to_path_buf();
        for c in rel.components() {
            let parent = cur.clone();
            cur.push(c);
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let mine = std::fs::read_to_string(cur.join(f)).unwrap_or_default();
                if mine.trim().is_empty() {
                    let theirs = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                    write(&cur.join(f), theirs.trim())?;
                }
            }
        }
    }
    Ok(())
}

/// Makes the cgroup `rel` in every hierarchy, applies `res` and moves `pid` into it.
/// Returns the cgroup directories (to remove on delete).
pub fn join(
    hierarchy: &Hierarchy,
    rel: &Path,
    res: Option<&Resources>,
    pid: i32,
) -> Result<Vec<PathBuf>, CgroupError> {
    let none = Resources::default();
    let res = res.unwrap_or(&none);
    let mut dirs = Vec::new();
    match hierarchy {
        Hierarchy::Unified(root) => {
            let dir = root.join(rel);
            mkdir(&dir)?;
            // Controllers must be enabled in every ancestor for the limits to exist.
            let mut cur = root.clone();
            for c in rel.components() {
                let available =
                    std::fs::read_to_string(cur.join("cgroup.controllers")).unwrap_or_default();
                let wanted: Vec<String> = ["cpu", "memory", "pids"]
                    .iter()
                    .filter(|c| available.split_whitespace().any(|a| a == **c))
                    .map(|c| format!("+{c}"))
                    .collect();
                if !wanted.is_empty() {
                    if let Err(e) = write(&cur.join("cgroup.subtree_control"), &wanted.join(" ")) {
                        log::warn!(
                            "{e}: {}",
                            std::error::Error::source(&e)
                                .map(|s| s.to_string())
                                .unwrap_or_default()
                        );
                    }
                }
                cur.push(c);
            }
            apply_v2(&dir, res)?;
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
            dirs.push(dir);
        }
        Hierarchy::PerController(trees) => {
            for tree in trees {
                let dir = tree.join(rel);
                mkdir(&dir)?;
                apply_v1(tree, &dir, res)?;
                write(&dir.join("cgroup.procs"), &pid.to_string())?;
                dirs.push(dir);
            }
        }
    }
    Ok(dirs)
}

/// Applies new limits to the container's cgroup directories (`runsc update`).
pub fn update(dirs: &[PathBuf], res: &Resources) -> Result<(), CgroupError> {
    for dir in dirs {
        if dir.join("cgroup.controllers").exists() {
            apply_v2(dir, res)?;
        } else {
            // A v1 directory: its tree is the controller's mount, two levels up at most;
            // the cpuset copy only matters at creation, so the directory itself will do.
            apply_v1(dir, dir, res)?;
        }
    }
    Ok(())
}

/// Removes the container's cgroup directories (once their processes are gone).
pub fn remove(dirs: &[PathBuf]) {
    for dir in dirs {
        for attempt in 0..50 {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if attempt == 49 => log::warn!("removing cgroup {}: {e}", dir.display()),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}

/// Resource usage read from the container's cgroups.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Bytes of memory in use, and the limit (None: unlimited or unknown).
    pub memory_usage: Option<u64>,
    pub memory_limit: Option<u64>,
    /// Processes (host tasks: the sandbox and its stubs).
    pub pids_current: Option<u64>,
    pub pids_limit: Option<u64>,
    /// CPU time used, nanoseconds.
    pub cpu_usage_ns: Option<u64>,
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads what the cgroup directories tell.
pub fn stats(dirs: &[PathBuf]) -> Stats {
    let mut s = Stats::default();
    for d in dirs {
        s.memory_usage = s
            .memory_usage
            .or_else(|| read_u64(&d.join("memory.current")))
            .or_else(|| read_u64(&d.join("memory.usage_in_bytes")));
        s.memory_limit = s
            .memory_limit
            .or_else(|| read_u64(&d.join("memory.max")))
            .or_else(|| read_u64(&d.join("memory.limit_in_bytes")).filter(|&l| l < (1 << 62)));
        s.pids_current = s.pids_current.or_else(|| read_u64(&d.join("pids.current")));
        s.pids_limit = s.pids_limit.or_else(|| read_u64(&d.join("pids.max")));
        s.cpu_usage_ns = s
            .cpu_usage_ns
            .or_else(|| read_u64(&d.join("cpuacct.usage")))
            .or_else(|| {
                let text = std::fs::read_to_string(d.join("cpu.stat")).ok()?;
                let line = text.lines().find(|l| l.starts_with("usage_usec "))?;
                line[11..].trim().parse::<u64>().ok().map(|us| us * 1000)
            });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{CpuResources, MemoryResources, PidsResources};

    #[test]
    fn systemd_paths() {
        let p = |s| relative_path(s, true).unwrap();
        assert_eq!(
            p("system.slice:docker:abc"),
            Path::new("system.slice/docker-abc.scope")
        );
        assert_eq!(
            p("machine-libpod_pod_x.slice:libpod:abc"),
            Path::new("machine.slice/machine-libpod_pod_x.slice/libpod-abc.scope")
        );
        assert_eq!(p(":runsc:abc"), Path::new("system.slice/runsc-abc.scope"));
        assert_eq!(p("-.slice::abc"), Path::new("abc.scope"));
        assert!(relative_path("/docker/abc", true).is_err());
        assert_eq!(
            relative_path("/docker/abc", false).unwrap(),
            Path::new("docker/abc")
        );
        assert!(relative_path("/docker/../../etc", false).is_err());
    }

    fn res() -> Resources {
        Resources {
            memory: Some(MemoryResources {
                limit: Some(1 << 20),
                ..Default::default()
            }),
            cpu: Some(CpuResources {
                quota: Some(50_000),
                period: Some(100_000),
                shares: Some(1024),
            }),
            pids: Some(PidsResources { limit: 64 }),
        }
    }

    #[test]
    fn v2_limits_and_join() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cgroup.controllers"), "cpu memory pids io").unwrap();
        let h = Hierarchy::Unified(d.path().to_path_buf());
        let dirs = join(&h, Path::new("a/b"), Some(&res()), 42).unwrap();
        let dir = d.path().join("a/b");
        assert_eq!(dirs, std::slice::from_ref(&dir));
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("memory.max"), "1048576");
        assert_eq!(read("pids.max"), "64");
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(read("cpu.weight"), "39");
        assert_eq!(read("cgroup.procs"), "42");
        let sub = std::fs::read_to_string(d.path().join("cgroup.subtree_control")).unwrap();
        assert_eq!(sub, "+cpu +memory +pids");
        std::fs::write(dir.join("memory.current"), "4096\n").unwrap();
        std::fs::write(dir.join("cpu.stat"), "usage_usec 7\nuser_usec 1\n").unwrap();
        let s = stats(&dirs);
        assert_eq!(s.memory_usage, Some(4096));
        assert_eq!(s.memory_limit, Some(1 << 20));
        assert_eq!(s.pids_limit, Some(64));
        assert_eq!(s.cpu_usage_ns, Some(7000));
    }

    #[test]
    fn v1_limits_and_cpuset() {
        let d = tempfile::tempdir().unwrap();
        let mem = d.path().join("memory");
        let cpuset = d.path().join("cpuset");
        std::fs::create_dir_all(mem.join("x")).unwrap();
        std::fs::create_dir_all(cpuset.join("x")).unwrap();
        std::fs::write(mem.join("x/memory.limit_in_bytes"), "").unwrap();
        std::fs::write(cpuset.join("cpuset.cpus"), "0-1\n").unwrap();
        std::fs::write(cpuset.join("cpuset.mems"), "0\n").unwrap();
        std::fs::write(cpuset.join("x/cpuset.cpus"), "").unwrap();
        std::fs::write(cpuset.join("x/cpuset.mems"), "").unwrap();
        let h = Hierarchy::PerController(vec![cpuset.clone(), mem.clone()]);
        let dirs = join(&h, Path::new("x"), Some(&res()), 7).unwrap();
        assert_eq!(dirs, [cpuset.join("x"), mem.join("x")]);
        assert_eq!(
            std::fs::read_to_string(mem.join("x/memory.limit_in_bytes")).unwrap(),
            "1048576"
        );
        assert_eq!(
            std::fs::read_to_string(cpuset.join("x/cpuset.cpus")).unwrap(),
            "0-1"
        );
        assert_eq!(
            std::fs::read_to_string(cpuset.join("x/cgroup.procs")).unwrap(),
            "7"
        );
    }

    #[test]
    fn weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
    }
}
