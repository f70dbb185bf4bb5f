//! The host capabilities the sandbox process keeps once set up. The guest's capabilities
//! are the sentry's business; these are what the sentry itself needs from the host kernel.

use caps::{CapSet, Capability, CapsHashSet};

/// Every capability name runsc knows (reported by `runsc features`).
pub const ALL_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// What the sandbox process keeps, and why. It drops the rest before the sentry forks its
/// first stub (which then drops these too). Not kept: CAP_SYS_PTRACE (the sentry traces
/// only its own children, whose capabilities are a subset of its own: no capability is
/// needed), CAP_KILL (it signals only its own children, of the same uid),
/// CAP_DAC_READ_SEARCH (CAP_DAC_OVERRIDE covers reading and searching for guests, and
/// this one would allow `open_by_handle_at`, which reaches any file of a host file
/// system), CAP_MKNOD (guest device nodes are the sentry's devfs), CAP_NET_RAW.
pub const SANDBOX_KEEPS: &[Capability] = &[
    // The passthrough file systems act for guest users on host files, whatever the host
    // owner: open and create them (permission checks are the sentry's, by the guest's
    // credentials) ...
    Capability::CAP_DAC_OVERRIDE,
    // ... give them the guest's owner (chown, and files a guest creates),
    Capability::CAP_CHOWN,
    // ... change mode, times and flags of files the host owner differs from,
    Capability::CAP_FOWNER,
    // ... and keep set-user-ID and set-group-ID bits that a chown or write would clear
    // (the guest's kernel decides what they mean).
    Capability::CAP_FSETID,
    // Host sockets bound to ports below 1024 on behalf of guests (the network design).
    Capability::CAP_NET_BIND_SERVICE,
];
#[derive(Debug, thiserror::Error)]
#[error("dropping capabilities ({what})")]
pub struct CapsError {
    what: &'static str,
    #[source]
    source: caps::errors::CapsError,
}

fn err(what: &'static str) -> impl FnOnce(caps::errors::CapsError) -> CapsError {
    move |source| CapsError { what, source }
}

/// Drops every capability of this thread but `keep` from the bounding, inheritable,
/// ambient, permitted and effective sets. Capabilities are per thread: call it before any
/// other thread starts, or on every thread.
pub fn drop_all_but(keep: &[Capability]) -> Result<(), CapsError> {
    let keep: CapsHashSet = keep.iter().copied().collect();
    // Only what this thread has can be kept.
    let permitted = caps::read(None, CapSet::Permitted).map_err(err("reading permitted"))?;
    let keep: CapsHashSet = keep.intersection(&permitted).copied().collect();
    // The bounding set first: that needs CAP_SETPCAP, which goes with the others below.
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(err("bounding set"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(err("ambient set"))?;
    caps::clear(None, CapSet::Inheritable).map_err(err("inheritable set"))?;
    caps::set(None, CapSet::Effective, &keep).map_err(err("effective set"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(err("permitted set"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_caps_crate() {
        for cap in caps::all() {
            assert!(
                ALL_NAMES.contains(&cap.to_string().as_str()),
                "{cap} missing"
            );
        }
    }

    /// In a forked child (capabilities are per thread): after the drop, the effective,
    /// permitted and bounding sets are exactly the kept list.
    #[test]
    fn drop_keeps_only_the_list() {
        if !caps::has_cap(None, CapSet::Effective, Capability::CAP_SYS_ADMIN).unwrap_or(false) {
            return; // not root: nothing to drop
        }
        let want: CapsHashSet = SANDBOX_KEEPS.iter().copied().collect();
        let status = crate::sys::in_forked_child(|| {
            if drop_all_but(SANDBOX_KEEPS).is_err() {
                return 1;
            }
            let sets = [CapSet::Effective, CapSet::Permitted, CapSet::Bounding];
            if sets
                .iter()
                .all(|&set| caps::read(None, set).ok() == Some(want.clone()))
            {
                0
            } else {
                2
            }
        })
        .unwrap();
        assert_eq!(status, 0);
    }
}
