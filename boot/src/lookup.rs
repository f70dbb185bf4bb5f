//! Finding the guest's executable: `process.args[0]` is looked up in the guest's `PATH`
//! inside the guest root, as runc does before it starts a container, so that a missing
//! program is a clear error at create time rather than an ENOENT inside the guest.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The `PATH` a guest gets when its environment has none (the one runc and Docker use).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Symlinks followed in one lookup before giving up, as Linux does (`ELOOP`).
const MAX_SYMLINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("process.args is empty: there is no program to run")]
    NoArgs,
    #[error("executable file {name:?} not found in $PATH ({path}) inside {root}")]
    NotInPath {
        name: String,
        path: String,
        root: PathBuf,
    },
    #[error("executable {path:?} not found inside {root}")]
    NotFound { path: String, root: PathBuf },
    #[error("{path:?} inside {root} is not an executable regular file")]
    NotExecutable { path: String, root: PathBuf },
}

/// Resolves a guest path to the host path it names under `root`, following symlinks the
/// way the guest would see them: an absolute link target starts again at `root`, and `..`
/// never climbs above it. Returns `None` when a component does not exist.
pub fn resolve_in_root(root: &Path, guest: &str) -> Option<PathBuf> {
    let mut done: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: Vec<std::ffi::OsString> = components(guest);
    todo.reverse();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        let mut host = root.to_path_buf();
        host.extend(&done);
        host.push(&part);
        let meta = std::fs::symlink_metadata(&host).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_SYMLINKS {
                return None;
            }
            let target = std::fs::read_link(&host).ok()?;
            if target.is_absolute() {
                done.clear();
            }
            let mut more = components(&target.to_string_lossy());
            more.reverse();
            todo.extend(more);
        } else {
            done.push(part);
        }
    }
    let mut host = root.to_path_buf();
    host.extend(&done);
    Some(host)
}

fn components(path: &str) -> Vec<std::ffi::OsString> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn is_executable(host: &Path) -> bool {
    std::fs::metadata(host).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds the guest path of the program `argv0` names: as given when it holds a `/`
/// (relative to `cwd`), else the first match in the `PATH` of `env`.
pub fn find_executable(
    root: &Path,
    argv0: &str,
    env: &[String],
    cwd: &str,
) -> Result<String, LookupError> {
    if argv0.is_empty() {
        return Err(LookupError::NoArgs);
    }
    if argv0.contains('/') {
        let guest = if argv0.starts_with('/') {
            argv0.to_string()
        } else {
            format!("{}/{}", cwd.trim_end_matches('/'), argv0)
        };
        let host = resolve_in_root(root, &guest).ok_or_else(|| LookupError::NotFound {
            path: argv0.to_string(),
            root: root.to_path_buf(),
        })?;
        if !is_executable(&host) {
            return Err(LookupError::NotExecutable {
                path: argv0.to_string(),
                root: root.to_path_buf(),
            });
        }
        return Ok(argv0.to_string());
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let guest = if dir.starts_with('/') {
            format!("{}/{}", dir.trim_end_matches('/'), argv0)
        } else {
            format!("{}/{}/{}", cwd.trim_end_matches('/'), dir, argv0)
        };
        if resolve_in_root(root, &guest).is_some_and(|h| is_executable(&h)) {
            return Ok(guest);
        }
    }
    Err(LookupError::NotInPath {
        name: argv0.to_string(),
        path: path.to_string(),
        root: root.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn exe(path: &Path) {
        std::fs::write(path, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn absolute_symlinks_stay_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("usr")).unwrap();
        exe(&root.join("bin/busybox"));
        symlink("/bin/busybox", root.join("bin/sh")).unwrap();
        symlink("../bin", root.join("usr/bin")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/bin/sh").unwrap(),
            root.join("bin/busybox")
        );
        assert_eq!(
            resolve_in_root(root, "/usr/bin/sh").unwrap(),
            root.join("bin/busybox")
        );
        assert_eq!(
            resolve_in_root(root, "/../../bin/busybox").unwrap(),
            root.join("bin/busybox")
        );
        assert!(resolve_in_root(root, "/nope").is_none());
    }

    #[test]
    fn symlink_loops_end() {
        let d = tempfile::tempdir().unwrap();
        symlink("/a", d.path().join("a")).unwrap();
        assert!(resolve_in_root(d.path(), "/a").is_none());
    }

    #[test]
    fn path_search() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        exe(&root.join("bin/sh"));
        std::fs::write(root.join("sbin/sh"), b"not executable").unwrap();
        let env = vec!["PATH=/sbin:/bin".to_string()];
        assert_eq!(find_executable(root, "sh", &env, "/").unwrap(), "/bin/sh");
        assert_eq!(find_executable(root, "sh", &[], "/").unwrap(), "/bin/sh");
        assert_eq!(
            find_executable(root, "/bin/sh", &env, "/").unwrap(),
            "/bin/sh"
        );
        let e = find_executable(root, "nope", &env, "/").unwrap_err();
        assert!(e.to_string().contains("\"nope\" not found in $PATH"), "{e}");
        assert!(matches!(
            find_executable(root, "/sbin/sh", &env, "/"),
            Err(LookupError::NotExecutable { .. })
        ));
        assert!(matches!(
            find_executable(root, "", &env, "/"),
            Err(LookupError::NoArgs)
        ));
    }
}
