//! UTS namespaces: the host and domain names uname(2) shows. The sandbox starts with one
//! (the container's hostname); unshare(CLONE_NEWUTS) or clone(CLONE_NEWUTS) gives a task
//! a copy of its own, which later children share. Saved as the list of namespaces, each
//! with the threads in it (the first is the sandbox's).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::checks::{bad, Invalid};

/// The longest name Linux takes (__NEW_UTS_LEN).
pub(crate) const NAME_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uts {
    pub hostname: Vec<u8>,
    pub domainname: Vec<u8>,
    /// The user namespace that owns it (sethostname needs CAP_SYS_ADMIN there).
    pub owner: crate::creds::UserNsRef,
}

pub(crate) type UtsRef = Rc<RefCell<Uts>>;

impl Uts {
    pub(crate) fn new(hostname: &str) -> UtsRef {
        Rc::new(RefCell::new(Uts {
            hostname: hostname.as_bytes()[..hostname.len().min(NAME_MAX)].to_vec(),
            domainname: b"(none)".to_vec(),
            owner: Default::default(),
        }))
    }
}

/// A name as set by sethostname/setdomainname: `len` bytes, read up to the first NUL as
/// the kernel's C string is.
pub(crate) fn name_of(raw: &[u8]) -> Vec<u8> {
    raw.split(|&b| b == 0).next().unwrap_or_default().to_vec()
}

/// The saved form of one namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtsState {
    pub hostname: Vec<u8>,
    pub domainname: Vec<u8>,
    /// The inode number of the user namespace that owns it.
    pub owner: u64,
    /// The threads in it.
    pub tasks: Vec<i32>,
}

/// Saves the namespaces of `tasks` (tid, namespace), `root` first even when no task is
/// in it any more.
pub(crate) fn save<'a>(
    root: &UtsRef,
    tasks: impl Iterator<Item = (i32, &'a UtsRef)>,
) -> Vec<UtsState> {
    let state = |u: &UtsRef| {
        let u = u.borrow();
        UtsState {
            hostname: u.hostname.clone(),
            domainname: u.domainname.clone(),
            owner: u.owner.ino(),
            tasks: Vec::new(),
        }
    };
    let mut out = vec![state(root)];
    let mut index: HashMap<*const RefCell<Uts>, usize> = HashMap::from([(Rc::as_ptr(root), 0)]);
    for (tid, u) in tasks {
        let i = *index.entry(Rc::as_ptr(u)).or_insert_with(|| {
            out.push(state(u));
            out.len() - 1
        });
        out[i].tasks.push(tid);
    }
    out
}

/// Checks saved namespaces against the saved threads: names no longer than Linux's, at
/// least the sandbox's, every thread in exactly one.
pub(crate) fn validate(saved: &[UtsState], tids: &[i32]) -> Result<(), Invalid> {
    if saved.is_empty() {
        return Err(bad("the kernel", "uts", "has no namespace"));
    }
    let mut seen = BTreeMap::new();
    for (i, u) in saved.iter().enumerate() {
        let obj = format!("UTS namespace {i}");
        if u.hostname.len() > NAME_MAX || u.domainname.len() > NAME_MAX {
            return Err(bad(&obj, "names", "are longer than 64 bytes"));
        }
        for &t in &u.tasks {
            if !tids.contains(&t) {
                return Err(bad(
                    &obj,
                    "tasks",
                    format!("names task {t}, which is not saved"),
                ));
            }
            if seen.insert(t, i).is_some() {
                return Err(bad(&obj, "tasks", format!("task {t} is in two namespaces")));
            }
        }
    }
    if let Some(t) = tids.iter().find(|t| !seen.contains_key(t)) {
        return Err(bad(
            "the kernel",
            "uts",
            format!("task {t} is in no namespace"),
        ));
    }
    Ok(())
}

/// The namespaces of a validated state: the sandbox's, and each thread's.
pub(crate) fn restore(
    saved: &[UtsState],
    userns: &dyn Fn(u64) -> crate::creds::UserNsRef,
) -> (UtsRef, HashMap<i32, UtsRef>) {
    let made: Vec<UtsRef> = saved
        .iter()
        .map(|u| {
            Rc::new(RefCell::new(Uts {
                hostname: u.hostname.clone(),
                domainname: u.domainname.clone(),
                owner: userns(u.owner),
            }))
        })
        .collect();
    let mut of = HashMap::new();
    for (u, rc) in saved.iter().zip(&made) {
        for &t in &u.tasks {
            of.insert(t, rc.clone());
        }
    }
    (made[0].clone(), of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_end_at_a_nul_and_namespaces_round_trip_with_their_threads() {
        assert_eq!(name_of(b"0123456789\0xx"), b"0123456789");
        assert_eq!(name_of(b""), b"");
        let root = Uts::new("box");
        let other = Rc::new(RefCell::new(Uts {
            hostname: b"inner".to_vec(),
            domainname: b"d".to_vec(),
            owner: Default::default(),
        }));
        let saved = save(&root, [(1, &root), (2, &other), (3, &other)].into_iter());
        assert_eq!(saved.len(), 2);
        assert_eq!(saved[1].tasks, vec![2, 3]);
        validate(&saved, &[1, 2, 3]).unwrap();
        let (r, of) = restore(&saved, &|_| Default::default());
        assert_eq!(r.borrow().hostname, b"box");
        assert!(Rc::ptr_eq(&of[&2], &of[&3]));
        assert!(Rc::ptr_eq(&of[&1], &r));
    }

    #[test]
    fn hostile_namespaces_are_refused() {
        let ok = |h: &[u8], tasks: Vec<i32>| UtsState {
            hostname: h.to_vec(),
            domainname: vec![],
            owner: crate::creds::UserNsRef::init().ino(),
            tasks,
        };
        assert!(validate(&[], &[]).is_err());
        assert!(validate(&[ok(&[b'a'; 65], vec![1])], &[1]).is_err());
        assert!(validate(&[ok(b"a", vec![1, 9])], &[1]).is_err());
        assert!(validate(&[ok(b"a", vec![1]), ok(b"b", vec![1])], &[1]).is_err());
        assert!(validate(&[ok(b"a", vec![])], &[1]).is_err());
        assert!(validate(&[ok(b"a", vec![1])], &[1]).is_ok());
    }
}
