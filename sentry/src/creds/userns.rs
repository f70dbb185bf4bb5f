//! User namespaces (user_namespaces(7)): a task's credentials name the namespace they live
//! in, and ids and capabilities are read through it. Everything here is the sentry's own
//! bookkeeping: no host namespace exists behind a guest's.
//!
//! As in Linux, credentials keep kernel ids (the sandbox's, i.e. the initial namespace's);
//! a namespace's uid and gid maps say which of them it shows and under which number. Ids a
//! namespace does not map read as the overflow id 65534. A task has capabilities in its
//! own namespace and the namespaces below it, never above; over a file only when the
//! file's owner and group are mapped in its namespace (capable_wrt_inode_uidgid).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What an id no map names reads as (/proc/sys/kernel/overflowuid, overflowgid).
pub(crate) const OVERFLOW_ID: u32 = 65534;
/// How deep namespaces nest below the initial one (Linux's 32).
pub(crate) const MAX_DEPTH: u32 = 32;
/// The most lines a map takes (Linux's UID_GID_MAP_MAX_EXTENTS).
const MAX_EXTENTS: usize = 340;
/// The inode number /proc/PID/ns/user shows for the initial namespace (Linux's).
pub(crate) const INIT_INO: u64 = 4026531837;
/// Inode numbers of the namespaces guests make: above Linux's initial ones.
static NEXT_INO: AtomicU64 = AtomicU64::new(4026532000);

/// A new namespace's inode number (user and mount namespaces share the numbering).
pub(crate) fn next_ns_ino() -> u64 {
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

/// Keeps later inode numbers past `ino` (a restored namespace's).
pub(crate) fn note_ns_ino(ino: u64) {
    NEXT_INO.fetch_max(ino + 1, Ordering::Relaxed);
}

/// One line of a map: ids `first..first + count` of the namespace are kernel ids
/// `lower..lower + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    pub first: u32,
    pub lower: u32,
    pub count: u32,
}

impl Extent {
    fn down(&self, id: u32) -> Option<u32> {
        (id.wrapping_sub(self.first) < self.count).then(|| self.lower + (id - self.first))
    }
    fn up(&self, kid: u32) -> Option<u32> {
        (kid.wrapping_sub(self.lower) < self.count).then(|| self.first + (kid - self.lower))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Maps {
    uid: Vec<Extent>,
    gid: Vec<Extent>,
    /// setgroups(2) may be allowed (once the gid map is written); "deny" clears it.
    setgroups: bool,
}

/// A user namespace below the initial one.
#[derive(Debug)]
pub(crate) struct UserNs {
    ino: u64,
    parent: UserNsRef,
    level: u32,
    /// The effective uid and gid (kernel ids) of the task that made it.
    owner: u32,
    group: u32,
    maps: Mutex<Maps>,
}

/// A task's user namespace: `None` is the initial one (it maps every id to itself).
#[derive(Debug, Clone, Default)]
pub(crate) struct UserNsRef(Option<Arc<UserNs>>);

impl PartialEq for UserNsRef {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}
impl Eq for UserNsRef {}

/// Which map of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdMap {
    Uid,
    Gid,
}

/// The saved form of one namespace below the initial one: its parent is an earlier one of
/// the list (by index + 1), or 0 for the initial namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserNsState {
    pub ino: u64,
    pub parent: u64,
    pub owner: u32,
    pub group: u32,
    pub uid_map: Vec<Extent>,
    pub gid_map: Vec<Extent>,
    pub setgroups: bool,
}

impl UserNsRef {
    pub(crate) fn init() -> UserNsRef {
        UserNsRef(None)
    }

    pub(crate) fn is_init(&self) -> bool {
        self.0.is_none()
    }

    /// The inode number /proc/PID/ns/user shows.
    pub(crate) fn ino(&self) -> u64 {
        self.0.as_ref().map_or(INIT_INO, |n| n.ino)
    }

    pub(crate) fn level(&self) -> u32 {
        self.0.as_ref().map_or(0, |n| n.level)
    }

    pub(crate) fn parent(&self) -> Option<UserNsRef> {
        self.0.as_ref().map(|n| n.parent.clone())
    }

    /// The effective uid of the namespace's creator (none for the initial one).
    pub(crate) fn owner(&self) -> Option<u32> {
        self.0.as_ref().map(|n| n.owner)
    }

    /// A namespace below this one, made by a task of effective ids `owner`, `group`
    /// (create_user_ns): EUSERS past the nesting limit, EPERM when this namespace does not
    /// map the creator's ids.
    pub(crate) fn child(&self, owner: u32, group: u32) -> Result<UserNsRef, i32> {
        if self.level() >= MAX_DEPTH {
            return Err(libc::EUSERS);
        }
        if self.id_of(IdMap::Uid, owner).is_none() || self.id_of(IdMap::Gid, group).is_none() {
            return Err(libc::EPERM);
        }
        Ok(UserNsRef(Some(Arc::new(UserNs {
            ino: next_ns_ino(),
            parent: self.clone(),
            level: self.level() + 1,
            owner,
            group,
            maps: Mutex::new(Maps {
                uid: Vec::new(),
                gid: Vec::new(),
                setgroups: self.setgroups_allowed(),
            }),
        }))))
    }

    fn map(&self, which: IdMap) -> Option<Vec<Extent>> {
        let n = self.0.as_ref()?;
        let m = n.maps.lock().expect("userns maps");
        Some(match which {
            IdMap::Uid => m.uid.clone(),
            IdMap::Gid => m.gid.clone(),
        })
    }

    /// The kernel id of this namespace's `id` (make_kuid), `None` when unmapped.
    pub(crate) fn kernel_of(&self, which: IdMap, id: u32) -> Option<u32> {
        match self.map(which) {
            None => Some(id),
            Some(m) => m.iter().find_map(|e| e.down(id)),
        }
    }

    /// This namespace's number for kernel id `kid` (from_kuid), `None` when unmapped.
    pub(crate) fn id_of(&self, which: IdMap, kid: u32) -> Option<u32> {
        match self.map(which) {
            None => Some(kid),
            Some(m) => m.iter().find_map(|e| e.up(kid)),
        }
    }

    /// As `id_of`, unmapped ids as the overflow id (from_kuid_munged).
    pub(crate) fn shown(&self, which: IdMap, kid: u32) -> u32 {
        self.id_of(which, kid).unwrap_or(OVERFLOW_ID)
    }

    fn setgroups_allowed(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|n| n.maps.lock().expect("userns maps").setgroups)
    }

    /// Whether setgroups(2) may work in this namespace (userns_may_setgroups): "allow"
    /// and a gid map written.
    pub(crate) fn may_setgroups(&self) -> bool {
        self.setgroups_allowed() && self.map(IdMap::Gid).is_none_or(|m| !m.is_empty())
    }

    /// /proc/PID/uid_map or gid_map as `reader` (in namespace `reader`) reads it: the
    /// outside ids in the reader's namespace, or in the parent's when the reader is in this
    /// one.
    pub(crate) fn map_text(&self, which: IdMap, reader: &UserNsRef) -> String {
        let Some(extents) = self.map(which) else {
            return format!("{:>10} {:>10} {:>10}\n", 0, 0, u32::MAX);
        };
        let lower_ns = match self.parent() {
            Some(p) if reader == self => p,
            _ => reader.clone(),
        };
        extents
            .iter()
            .map(|e| {
                let lower = lower_ns.id_of(which, e.lower).unwrap_or(u32::MAX);
                format!("{:>10} {:>10} {:>10}\n", e.first, lower, e.count)
            })
            .collect()
    }

    /// /proc/PID/setgroups.
    pub(crate) fn setgroups_text(&self) -> &'static str {
        if self.setgroups_allowed() {
            "allow\n"
        } else {
            "deny\n"
        }
    }

    /// A write of `text` to /proc/PID/setgroups of this namespace by `writer`
    /// (proc_setgroups_write): "allow" or "deny"; deny is for good, and not once the gid
    /// map is written.
    pub(crate) fn write_setgroups(&self, writer: &super::Creds, text: &[u8]) -> Result<(), i32> {
        if text.len() >= 8 {
            return Err(libc::EINVAL);
        }
        let allow = if let Some(rest) = text.strip_prefix(b"allow") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix(b"deny") {
            (false, rest)
        } else {
            return Err(libc::EINVAL);
        };
        if !allow.1.iter().all(u8::is_ascii_whitespace) {
            return Err(libc::EINVAL);
        }
        if !writer.capable_in(self, super::CAP_SYS_ADMIN) {
            return Err(libc::EPERM);
        }
        let Some(n) = &self.0 else {
            // The initial namespace: allowed, and its gid map is written.
            return if allow.0 { Ok(()) } else { Err(libc::EPERM) };
        };
        let mut m = n.maps.lock().expect("userns maps");
        match allow.0 {
            true if !m.setgroups => Err(libc::EPERM),
            false if !m.gid.is_empty() => Err(libc::EPERM),
            a => {
                m.setgroups = a;
                Ok(())
            }
        }
    }

    /// A write of `text` to /proc/PID/uid_map or gid_map of this namespace by `writer`
    /// (map_write and new_idmap_permitted): once, by a task in this namespace or its
    /// parent with CAP_SYS_ADMIN here; either one line mapping the writer's own effective
    /// id (a gid only after setgroups is denied), or anything the parent maps when the
    /// writer has CAP_SETUID (CAP_SETGID) there.
    pub(crate) fn write_map(
        &self,
        which: IdMap,
        writer: &super::Creds,
        text: &[u8],
    ) -> Result<(), i32> {
        let Some(n) = &self.0 else {
            // The initial namespace's maps are written.
            return Err(libc::EPERM);
        };
        if writer.userns != *self && writer.userns != n.parent {
            return Err(libc::EPERM);
        }
        if self.map(which).is_some_and(|m| !m.is_empty()) {
            return Err(libc::EPERM);
        }
        if !writer.capable_in(self, super::CAP_SYS_ADMIN) {
            return Err(libc::EPERM);
        }
        if text.len() >= 4096 {
            return Err(libc::EINVAL);
        }
        let extents = parse_map(text)?;
        let (cap, own) = match which {
            IdMap::Uid => (super::CAP_SETUID, writer.euid),
            IdMap::Gid => (super::CAP_SETGID, writer.egid),
        };
        let lone = match extents[..] {
            [e] if e.count == 1 && n.owner == writer.euid => {
                n.parent.kernel_of(which, e.lower) == Some(own)
                    && (which == IdMap::Uid || !self.setgroups_allowed())
            }
            _ => false,
        };
        if !lone && !writer.capable_in(&n.parent, cap) {
            return Err(libc::EPERM);
        }
        // The outside ids as kernel ids: each line within one line of the parent's map.
        let mut kernel = Vec::with_capacity(extents.len());
        for e in extents {
            let lower = n.parent.kernel_of(which, e.lower).ok_or(libc::EPERM)?;
            let last = n.parent.kernel_of(which, e.lower + (e.count - 1));
            if last != Some(lower + (e.count - 1)) {
                return Err(libc::EPERM);
            }
            kernel.push(Extent { lower, ..e });
        }
        let mut m = n.maps.lock().expect("userns maps");
        let slot = match which {
            IdMap::Uid => &mut m.uid,
            IdMap::Gid => &mut m.gid,
        };
        if !slot.is_empty() {
            return Err(libc::EPERM);
        }
        *slot = kernel;
        Ok(())
    }

    /// The namespaces below the initial one that `refs` name, parents first.
    pub(crate) fn save_all<'a>(refs: impl Iterator<Item = &'a UserNsRef>) -> Vec<UserNsState> {
        let mut list: Vec<Arc<UserNs>> = Vec::new();
        fn add(list: &mut Vec<Arc<UserNs>>, ns: &UserNsRef) {
            let Some(n) = &ns.0 else { return };
            if list.iter().any(|x| Arc::ptr_eq(x, n)) {
                return;
            }
            add(list, &n.parent);
            list.push(n.clone());
        }
        for r in refs {
            add(&mut list, r);
        }
        let index = |ns: &UserNsRef| match &ns.0 {
            None => 0,
            Some(p) => list.iter().position(|x| Arc::ptr_eq(x, p)).expect("saved") as u64 + 1,
        };
        list.iter()
            .map(|n| {
                let m = n.maps.lock().expect("userns maps");
                UserNsState {
                    ino: n.ino,
                    parent: index(&n.parent),
                    owner: n.owner,
                    group: n.group,
                    uid_map: m.uid.clone(),
                    gid_map: m.gid.clone(),
                    setgroups: m.setgroups,
                }
            })
            .collect()
    }

    /// Checks saved namespaces: parents before children, nesting within the limit, maps
    /// as a write would have made them (ordered, non-overlapping, no wrap), distinct
    /// inode numbers.
    pub(crate) fn validate(saved: &[UserNsState]) -> Result<(), String> {
        let mut levels = Vec::with_capacity(saved.len());
        for (i, s) in saved.iter().enumerate() {
            let level = match s.parent as usize {
                0 => 1,
                p if p <= i => levels[p - 1] + 1,
                p => {
                    return Err(format!(
                        "namespace {i} names parent {p}, not an earlier one"
                    ))
                }
            };
            if level > MAX_DEPTH {
                return Err(format!("namespace {i} is nested deeper than {MAX_DEPTH}"));
            }
            levels.push(level);
            for m in [&s.uid_map, &s.gid_map] {
                check_extents(m).map_err(|_| format!("namespace {i} has a bad map"))?;
                if m.iter().any(|e| e.lower.checked_add(e.count - 1).is_none()) {
                    return Err(format!("namespace {i} maps past the last id"));
                }
            }
            if saved[..i].iter().any(|x| x.ino == s.ino) {
                return Err(format!("namespace {i} repeats inode number {}", s.ino));
            }
        }
        Ok(())
    }

    /// The namespaces of a validated list, in its order.
    pub(crate) fn restore_all(saved: &[UserNsState]) -> Vec<UserNsRef> {
        let mut out: Vec<UserNsRef> = Vec::with_capacity(saved.len());
        for s in saved {
            let parent = match s.parent as usize {
                0 => UserNsRef::init(),
                p => out[p - 1].clone(),
            };
            note_ns_ino(s.ino);
            out.push(UserNsRef(Some(Arc::new(UserNs {
                ino: s.ino,
                level: parent.level() + 1,
                parent,
                owner: s.owner,
                group: s.group,
                maps: Mutex::new(Maps {
                    uid: s.uid_map.clone(),
                    gid: s.gid_map.clone(),
                    setgroups: s.setgroups,
                }),
            }))));
        }
        out
    }
}

/// The lines of a map write: "first lower count" each, at most 340, none empty, wrapping
/// or overlapping another.
fn parse_map(text: &[u8]) -> Result<Vec<Extent>, i32> {
    let text = std::str::from_utf8(text).map_err(|_| libc::EINVAL)?;
    let mut out = Vec::new();
    for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
        let nums: Vec<&str> = line.split_ascii_whitespace().collect();
        let [first, lower, count] = nums[..] else {
            return Err(libc::EINVAL);
        };
        let num = |s: &str| s.parse::<u32>().map_err(|_| libc::EINVAL);
        out.push(Extent {
            first: num(first)?,
            lower: num(lower)?,
            count: num(count)?,
        });
    }
    check_extents(&out)?;
    Ok(out)
}

fn check_extents(m: &[Extent]) -> Result<(), i32> {
    if m.len() > MAX_EXTENTS {
        return Err(libc::EINVAL);
    }
    let end = |start: u32, count: u32| (start as u64) + count as u64;
    for (i, e) in m.iter().enumerate() {
        if e.count == 0 || end(e.first, e.count) > 1 << 32 || end(e.lower, e.count) > 1 << 32 {
            return Err(libc::EINVAL);
        }
        let overlaps =
            |a: u32, b: u32, n: u32, k: u32| (a as u64) < end(b, k) && (b as u64) < end(a, n);
        if m[..i].iter().any(|o| {
            overlaps(e.first, o.first, e.count, o.count)
                || overlaps(e.lower, o.lower, e.count, o.count)
        }) {
            return Err(libc::EINVAL);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::{CapSets, Creds};

    #[test]
    fn maps_are_written_once_and_translate_both_ways() {
        let root = Creds::kernel();
        let ns = UserNsRef::init().child(1000, 1000).unwrap();
        assert_eq!(ns.id_of(IdMap::Uid, 1000), None);
        assert_eq!(ns.shown(IdMap::Uid, 0), OVERFLOW_ID);
        assert_eq!(
            ns.write_map(IdMap::Uid, &root, b"0 1000 1 junk"),
            Err(libc::EINVAL)
        );
        assert_eq!(
            ns.write_map(IdMap::Uid, &root, b"0 1000 0\n"),
            Err(libc::EINVAL)
        );
        assert_eq!(
            ns.write_map(IdMap::Uid, &root, b"0 1000 10\n5 2000 1\n"),
            Err(libc::EINVAL)
        );
        ns.write_map(IdMap::Uid, &root, b"0 1000 10\n100 5000 1\n")
            .unwrap();
        assert_eq!(
            ns.write_map(IdMap::Uid, &root, b"0 0 1\n"),
            Err(libc::EPERM)
        );
        assert_eq!(ns.kernel_of(IdMap::Uid, 3), Some(1003));
        assert_eq!(ns.id_of(IdMap::Uid, 5000), Some(100));
        assert_eq!(ns.kernel_of(IdMap::Uid, 10), None);
        assert_eq!(
            ns.map_text(IdMap::Uid, &UserNsRef::init()),
            "         0       1000         10\n       100       5000          1\n"
        );
        // An unprivileged creator maps its own id alone; a gid only after "deny".
        let user = Creds::new(1000, 1000, vec![], CapSets::default_for(1000), false);
        let mine = UserNsRef::init().child(1000, 1000).unwrap();
        assert_eq!(
            mine.write_map(IdMap::Uid, &user, b"0 0 1"),
            Err(libc::EPERM)
        );
        mine.write_map(IdMap::Uid, &user, b"0 1000 1").unwrap();
        assert_eq!(
            mine.write_map(IdMap::Gid, &user, b"0 1000 1"),
            Err(libc::EPERM)
        );
        mine.write_setgroups(&user, b"deny\n").unwrap();
        assert_eq!(mine.write_setgroups(&user, b"allow"), Err(libc::EPERM));
        mine.write_map(IdMap::Gid, &user, b"0 1000 1").unwrap();
        assert!(!mine.may_setgroups());
        assert_eq!(mine.setgroups_text(), "deny\n");
    }

    #[test]
    fn nesting_stops_at_32_and_saved_namespaces_come_back() {
        let mut ns = UserNsRef::init();
        for _ in 0..MAX_DEPTH {
            ns = ns.child(0, 0).unwrap();
            let n = ns.0.as_ref().unwrap();
            n.maps.lock().unwrap().uid = vec![Extent {
                first: 0,
                lower: 0,
                count: 1,
            }];
            n.maps.lock().unwrap().gid = vec![Extent {
                first: 0,
                lower: 0,
                count: 1,
            }];
        }
        assert_eq!(ns.child(0, 0).unwrap_err(), libc::EUSERS);
        let saved = UserNsRef::save_all([&ns].into_iter());
        assert_eq!(saved.len(), 32);
        UserNsRef::validate(&saved).unwrap();
        let back = UserNsRef::restore_all(&saved);
        let last = back.last().unwrap().clone();
        assert_eq!((last.level(), last.ino()), (32, ns.ino()));
        assert_eq!(last.kernel_of(IdMap::Uid, 0), Some(0));
        let mut bad = saved.clone();
        bad[0].parent = 5;
        assert!(UserNsRef::validate(&bad).is_err());
        // Unmapped creator: EPERM.
        assert_eq!(
            UserNsRef::init()
                .child(0, 0)
                .unwrap()
                .child(0, 0)
                .unwrap_err(),
            libc::EPERM
        );
    }
}
