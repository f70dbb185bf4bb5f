//! The vocabulary of the checks every value read back from a checkpoint image goes
//! through before it is trusted: the error that names the object and the field, and the
//! limits and helpers the checks of each part (kernel objects, open files, tmpfs trees)
//! share. The checks themselves live beside what they check; `kernel::validate::validate`
//! is the one pass that runs them all.

use std::collections::HashSet;

/// Largest pid (Linux's `PID_MAX_LIMIT`).
pub(crate) const PID_MAX: i32 = 4_194_304;
/// Most fds a table may hold (the sentry's cap on RLIMIT_NOFILE).
pub(crate) const FD_MAX: i32 = 1 << 20;
/// First address that is not a canonical user address on x86-64.
pub(crate) const USER_END: u64 = 1 << 47;
/// Largest XSAVE area the sentry reads from a host.
pub(crate) const FPU_MAX: usize = 16384;
/// Longest guest path.
pub(crate) const PATH_MAX: usize = 4096;
/// Largest credentials identity (`Task::creds_id`) an image may hold: room for those made
/// after it.
pub(crate) const CREDS_ID_MAX: u64 = 1 << 62;
/// Most pending signals per queue (the default RLIMIT_SIGPENDING).
pub(crate) const SIGQUEUE_MAX: usize = 1 << 16;

/// What is wrong with an image's state: `object` and `field` name the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {field} {problem}")]
pub struct Invalid {
    pub object: String,
    pub field: &'static str,
    pub problem: String,
}

pub(crate) fn bad(
    object: impl Into<String>,
    field: &'static str,
    problem: impl Into<String>,
) -> Invalid {
    Invalid {
        object: object.into(),
        field,
        problem: problem.into(),
    }
}

/// Fails unless `ids` are unique; returns them as a set.
pub(crate) fn unique<T: std::hash::Hash + Eq + Copy + std::fmt::Display>(
    kind: &str,
    ids: impl Iterator<Item = T>,
) -> Result<HashSet<T>, Invalid> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(bad(format!("{kind} {id}"), "id", "appears twice"));
        }
    }
    Ok(seen)
}

pub(crate) fn path_ok(
    object: &str,
    field: &'static str,
    p: &str,
    absolute: bool,
) -> Result<(), Invalid> {
    if p.len() > PATH_MAX || p.contains('\0') || (absolute && !p.starts_with('/')) {
        return Err(bad(
            object,
            field,
            format!("{:?} is not a valid guest path", truncate(p)),
        ));
    }
    Ok(())
}

pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
