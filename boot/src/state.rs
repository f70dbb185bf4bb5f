//! Container state on disk: `ROOT/ID/state.json`, written atomically (temporary file, then
//! rename), with `ROOT/ID/lock` taken (flock) by every command that changes a container.
//! Whether a container is stopped is not stored but observed: its sandbox process is gone,
//! a zombie, or a different process that reuses the pid (the start time tells them apart).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::Spec;

/// The runtime-spec version runsc implements.
pub const OCI_VERSION: &str = "1.0.2";

/// Name of the state file inside a container's directory.
const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container \"{0}\" does not exist")]
    NotExist(String),
    #[error("container \"{0}\" already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits and _ + - . only")]
    InvalidId(String),
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state of container \"{id}\" in {path} is corrupt")]
    Corrupt {
        id: String,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The lifecycle phase a command last recorded. `Stopped` is also observed (see `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything runsc keeps about one container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    pub owner: String,
    pub phase: Status,
    /// Host pid of the sandbox process (0 before it exists).
    pub pid: i32,
    /// Its start time (clock ticks after boot, `/proc/PID/stat` field 22).
    pub start_time: u64,
    /// The config.json the container was created from (hooks and resources are read from
    /// it later, even if the bundle changes).
    pub spec: Spec,
    /// Absolute cgroup directories the sandbox was put in (to remove on delete).
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// The `runsc create` process and its start time, while there is no sandbox yet: a
    /// create that died leaves a container that reads as stopped, not creating forever.
    #[serde(default)]
    pub creator: Option<(i32, u64)>,
}

/// The `state` command's output, as runtime-spec and runc define it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    pub annotations: BTreeMap<String, String>,
}

/// State and start time of a host process from `/proc/PID/stat`.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Start time of a live (not zombie) process, or `None`.
pub fn start_time(pid: i32) -> Option<u64> {
    match proc_stat(pid)? {
        ('Z' | 'X' | 'x', _) => None,
        (_, t) => Some(t),
    }
}

impl Container {
    /// Whether the sandbox process recorded here is still this container's and alive.
    pub fn sandbox_alive(&self) -> bool {
        self.pid > 0 && start_time(self.pid) == Some(self.start_time)
    }

    /// Waits until the sandbox process is gone (or a zombie) or `timeout` has passed;
    /// returns whether it is gone. Woken by the process's end itself (a pidfd), not by
    /// polling: `runsc checkpoint` waits for it.
    pub fn wait_gone(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        // SAFETY: pidfd_open takes a pid and flags; a returned fd is ours alone.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid, 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: just opened, owned here.
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) }
        });
        // Checked after the pidfd is open: the pid may have been reused before.
        while self.sandbox_alive() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            match &pidfd {
                Some(p) => {
                    let mut pfd = libc::pollfd {
                        fd: std::os::fd::AsRawFd::as_raw_fd(p),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    let ms = left.as_millis().clamp(1, 1000) as i32;
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut pfd, 1, ms) };
                }
                None => std::thread::sleep(left.min(std::time::Duration::from_millis(10))),
            }
        }
        true
    }

    /// The status as observed now.
    pub fn status(&self) -> Status {
        match self.phase {
            Status::Stopped => Status::Stopped,
            Status::Creating if self.pid == 0 => match self.creator {
                Some((pid, start)) if start_time(pid) != Some(start) => Status::Stopped,
                _ => Status::Creating,
            },
            phase if self.sandbox_alive() => phase,
            _ => Status::Stopped,
        }
    }

    pub fn oci_state(&self) -> OciState {
        let status = self.status();
        OciState {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: self.owner.clone(),
            annotations: self.spec.annotations.clone(),
        }
    }
}

/// An exclusive lock on one container, released when dropped.
pub struct Lock {
    _file: nix::fcntl::Flock<File>,
}

/// The directory of all containers (`--root`).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Checks a container id: runc's rule, `^[\w+\-.]+$` and not `.` or `..`.
pub fn check_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ROOT/ID`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Makes the directory of a new container and locks it. Fails if it exists.
    pub fn create(&self, id: &str) -> Result<Lock, StateError> {
        check_id(id)?;
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .map_err(io("creating state root", &self.root))?;
        let dir = self.dir(id);
        // Only root reaches a container's control socket.
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(id.to_string()))
            }
            Err(e) => return Err(io("creating state directory", &dir)(e)),
        }
        self.lock(id)
    }

    /// Locks an existing container against other commands.
    pub fn lock(&self, id: &str) -> Result<Lock, StateError> {
        check_id(id)?;
        let path = self.dir(id).join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StateError::NotExist(id.to_string()),
                _ => io("opening lock", &path)(e),
            })?;
        let file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io("locking", &path)(e.into()))?;
        // A delete that held the lock before us may have removed the container.
        if !self.dir(id).join(LOCK_FILE).exists() {
            return Err(StateError::NotExist(id.to_string()));
        }
        Ok(Lock { _file: file })
    }

    /// Reads a container's state.
    pub fn load(&self, id: &str) -> Result<Container, StateError> {
        check_id(id).map_err(|_| StateError::NotExist(id.to_string()))?;
        let path = self.dir(id).join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotExist(id.to_string()))
            }
            Err(e) => return Err(io("reading", &path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
            id: id.to_string(),
            path,
            source,
        })
    }

    /// Writes a container's state atomically. The caller holds its lock.
    pub fn save(&self, c: &Container) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(c).expect("state serialises");
        write_atomic(&self.dir(&c.id).join(STATE_FILE), &bytes)
    }

    /// Removes a container's directory. The caller holds its lock.
    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        let dir = self.dir(id);
        // The lock file goes first so that waiting commands see the container is gone.
        let _ = std::fs::remove_file(dir.join(LOCK_FILE));
        std::fs::remove_dir_all(&dir).map_err(io("removing", &dir))
    }

    /// Ids of every container with a state file, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join(STATE_FILE).exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
/// rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("writing", path)(e)
    })
}

/// The user name of the current uid, or the number.
pub fn owner() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, pid: i32) -> Container {
        Container {
            id: id.into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2024-01-01T00:00:00Z".into(),
            owner: "root".into(),
            phase: Status::Running,
            pid,
            start_time: start_time(pid).unwrap_or(0),
            spec: Spec::default(),
            cgroups: Vec::new(),
            creator: None,
        }
    }

    #[test]
    fn ids_are_checked() {
        for ok in ["a", "abc-DEF_1.2+3", &"x".repeat(64)] {
            check_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn save_load_remove() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path().join("root"));
        assert!(matches!(store.load("c1"), Err(StateError::NotExist(_))));
        assert!(matches!(store.lock("c1"), Err(StateError::NotExist(_))));
        let lock = store.create("c1").unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.dir("c1"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(matches!(store.create("c1"), Err(StateError::Exists(_))));
        let me = std::process::id() as i32;
        store.save(&container("c1", me)).unwrap();
        drop(lock);
        let c = store.load("c1").unwrap();
        assert_eq!(c.status(), Status::Running);
        assert_eq!(c.oci_state().pid, me);
        assert_eq!(store.ids(), ["c1"]);
        let _lock = store.lock("c1").unwrap();
        store.remove("c1").unwrap();
        assert!(matches!(store.load("c1"), Err(StateError::NotExist(_))));
        let e = store.load("c1").unwrap_err().to_string();
        assert_eq!(e, "container \"c1\" does not exist");
    }

    #[test]
    fn a_reused_or_dead_pid_reads_as_stopped() {
        let me = std::process::id() as i32;
        let mut c = container("c", me);
        c.start_time += 1;
        assert_eq!(c.status(), Status::Stopped);
        assert_eq!(c.oci_state().pid, 0);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let c = container("c", pid);
        child.wait().unwrap();
        assert_eq!(c.status(), Status::Stopped);
        let mut c = container("c", 0);
        c.phase = Status::Creating;
        assert_eq!(c.status(), Status::Creating);
        c.creator = Some((me, start_time(me).unwrap()));
        assert_eq!(c.status(), Status::Creating);
        c.creator = Some((pid, 1));
        assert_eq!(c.status(), Status::Stopped);
    }

    #[test]
    fn oci_state_json_shape() {
        let me = std::process::id() as i32;
        let v = serde_json::to_value(container("c", me).oci_state()).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        for k in [
            "ociVersion",
            "id",
            "status",
            "pid",
            "bundle",
            "rootfs",
            "created",
            "annotations",
        ] {
            assert!(keys.iter().any(|x| *x == k), "{k} missing in {v}");
        }
        assert_eq!(v["status"], "running");
    }
}
