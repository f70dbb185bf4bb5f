//! The guest process's capability sets from an OCI spec (`process.capabilities`). They are
//! the sentry's business — the guest never holds a host capability — and are enforced by
//! the sentry's own permission checks (the sentry's `creds` module).

use sentry::CapSets;

use crate::capabilities::ALL_NAMES;
use crate::spec::Capabilities;

/// The set a list of capability names (`CAP_CHOWN`, …) denotes. Names this runtime does not
/// know are left out, as runc does, with a debug record.
pub fn cap_set(names: &[String]) -> u64 {
    let mut set = 0;
    for n in names {
        match ALL_NAMES.iter().position(|k| k == n) {
            Some(bit) => set |= 1u64 << bit,
            None => log::debug!("unknown capability {n:?} left out"),
        }
    }
    set
}

/// The five sets of a spec's `process.capabilities`; `None` when the spec names none
/// (the guest then gets Linux's default for its uid).
pub fn cap_sets(caps: Option<&Capabilities>) -> Option<CapSets> {
    let c = caps?;
    Some(CapSets {
        effective: cap_set(&c.effective),
        permitted: cap_set(&c.permitted),
        inheritable: cap_set(&c.inheritable),
        bounding: cap_set(&c.bounding),
        ambient: cap_set(&c.ambient),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_bits() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(cap_set(&names(&["CAP_CHOWN", "CAP_KILL"])), 1 | (1 << 5));
        assert_eq!(cap_set(&names(&["CAP_CHECKPOINT_RESTORE"])), 1 << 40);
        assert_eq!(cap_set(&names(&["CAP_NOT_A_THING"])), 0);
        let spec = Capabilities {
            bounding: names(&["CAP_SYS_ADMIN"]),
            ..Default::default()
        };
        let s = cap_sets(Some(&spec)).unwrap();
        assert_eq!((s.bounding, s.effective), (1 << 21, 0));
        assert!(cap_sets(None).is_none());
    }
}
