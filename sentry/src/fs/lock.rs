//! Advisory file locks, as Linux keeps them (locks(7)): flock(2) locks, owned by an open
//! file description, and record locks over byte ranges (fcntl(2)), owned by a process
//! (`F_SETLK`) or by an open file description (`F_OFD_SETLK`). The two families never
//! conflict with each other; record locks of both owners conflict with one another.
//!
//! A lock belongs to a file (its inode: the device and inode number its description's
//! fstat shows, so two opens of one path, or a hard link, meet on one file). The table is
//! the kernel's; the system calls in `crate::syscalls::lock` consult it, and the kernel
//! drops a process's record locks on a file when it closes any descriptor of it or exits,
//! and a description's locks when its last reference goes ([`LockTable::purge`]).
//!
//! A blocked request parks on the file's wait key and is served again when a lock on the
//! file is released. Waiters for process-owned record locks are remembered
//! ([`LockTable::wait`]) for Linux's deadlock detection (EDEADLK).
//!
//! Saved: every held lock, with the image id of an open file description of its file (the
//! owner for a description's lock), re-keyed on restore by the restored file's identity.
//! Waiters are not saved: a parked `F_SETLKW` or `flock` is served again after restore and
//! waits again.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::{Rc, Weak};

use serde::{Deserialize, Serialize};

use crate::checks::{bad, Invalid};
use crate::fs::file::{FileRef, OpenFile};
use crate::mm::Errno;

/// The file a lock is on: (device, inode number) as the description's fstat shows them.
pub(crate) type FileKey = (u64, u64);

/// The file `f` is a description of, as locks name it.
pub(crate) fn file_key(f: &FileRef) -> Result<FileKey, Errno> {
    let st = f.borrow().imp.stat()?;
    Ok((st.st_dev, st.st_ino))
}

/// The largest offset a lock reaches (Linux's `OFFSET_MAX`): a lock "to the end of the
/// file" ends here.
pub(crate) const OFFSET_MAX: u64 = i64::MAX as u64;

/// Most locks the sandbox holds at once; more fail with ENOLCK.
pub(crate) const MAX_LOCKS: usize = 1 << 16;

/// How many waiters a deadlock search follows (Linux's `MAX_DEADLK_ITERATIONS`).
const DEADLOCK_STEPS: usize = 10;

/// flock locks or record locks: the two never meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockFamily {
    Flock,
    Record,
}

/// A shared (read) or exclusive (write) lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockType {
    Read,
    Write,
}

/// Who holds a lock.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// A process (record locks set with F_SETLK/F_SETLKW), by pid.
    Process(i32),
    /// An open file description (flock locks, OFD record locks).
    File(Weak<RefCell<OpenFile>>),
}

impl Owner {
    /// The owner that is the description `f`.
    pub(crate) fn file(f: &FileRef) -> Owner {
        Owner::File(Rc::downgrade(f))
    }

    fn same(&self, o: &Owner) -> bool {
        match (self, o) {
            (Owner::Process(a), Owner::Process(b)) => a == b,
            (Owner::File(a), Owner::File(b)) => a.ptr_eq(b),
            _ => false,
        }
    }

    fn alive(&self) -> bool {
        match self {
            Owner::Process(_) => true,
            Owner::File(w) => w.strong_count() > 0,
        }
    }

    /// The pid F_GETLK reports: the process, or -1 for a description's lock.
    fn pid(&self) -> i32 {
        match self {
            Owner::Process(p) => *p,
            Owner::File(_) => -1,
        }
    }
}

#[derive(Debug, Clone)]
struct Lock {
    family: LockFamily,
    owner: Owner,
    ty: LockType,
    /// First and last byte, inclusive (`end` is [`OFFSET_MAX`] for "to the end").
    start: u64,
    end: u64,
    /// A description of the file, to name it in an image (the one the lock was set through,
    /// kept while it lives).
    via: Weak<RefCell<OpenFile>>,
}

impl Lock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }

    /// Whether it overlaps `[start, end]` or touches it end to end.
    fn touches(&self, start: u64, end: u64) -> bool {
        self.start <= end.saturating_add(1) && start <= self.end.saturating_add(1)
    }

    fn conflicts(&self, family: LockFamily, owner: &Owner, ty: LockType, s: u64, e: u64) -> bool {
        self.family == family
            && !self.owner.same(owner)
            && (self.ty == LockType::Write || ty == LockType::Write)
            && self.overlaps(s, e)
    }
}

/// The locks on one file and the key its waiters park on.
#[derive(Debug)]
struct FileLocks {
    /// Kernel object id the waiters for this file park on.
    wait: u64,
    /// In Linux's order: record locks grouped by owner, each group sorted by start.
    locks: Vec<Lock>,
}

/// A request that cannot be granted now.
#[derive(Debug, Clone)]
pub(crate) struct Blocked {
    /// The object id to park on.
    pub wait: u64,
    /// The owner of the first conflicting lock.
    pub blocker: Owner,
    /// The request gave up a lock before it found the conflict (a flock conversion):
    /// wake the file's waiters.
    pub released: bool,
}

/// A conflicting lock, as F_GETLK describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conflict {
    pub ty: LockType,
    pub start: u64,
    pub end: u64,
    pub pid: i32,
}

/// A lock request on one file.
pub(crate) struct Request<'a> {
    pub family: LockFamily,
    pub owner: Owner,
    /// None: unlock.
    pub ty: Option<LockType>,
    pub start: u64,
    pub end: u64,
    /// The description the request came through.
    pub via: &'a FileRef,
}

/// The sandbox's file locks.
#[derive(Debug, Default)]
pub(crate) struct LockTable {
    files: HashMap<FileKey, FileLocks>,
    /// Tasks waiting for a process-owned record lock: tid -> (its pid, the owner of the
    /// lock it waits for).
    waits: BTreeMap<i32, (i32, Owner)>,
    /// Locks held, over every file.
    count: usize,
}

impl LockTable {
    /// Whether any process-owned record lock of `pid` is held (closing a file then drops
    /// those on it).
    pub(crate) fn has_process_locks(&self, pid: i32) -> bool {
        self.count > 0
            && self.files.values().any(|f| {
                f.locks
                    .iter()
                    .any(|l| matches!(l.owner, Owner::Process(p) if p == pid))
            })
    }

    /// The id waiters on `key` park on, made with `new_id` for a file without locks yet.
    fn entry(&mut self, key: FileKey, new_id: &mut dyn FnMut() -> u64) -> &mut FileLocks {
        self.files.entry(key).or_insert_with(|| FileLocks {
            wait: new_id(),
            locks: Vec::new(),
        })
    }

    /// Sets or removes a lock. `Ok(Err(blocked))` when another owner's lock conflicts;
    /// `Ok(Ok(wake))` when done, with the key to wake if a lock was released or weakened.
    /// A flock conversion gives up the old lock before it may block, as Linux does.
    pub(crate) fn set(
        &mut self,
        key: FileKey,
        req: Request,
        new_id: &mut dyn FnMut() -> u64,
    ) -> Result<Result<Option<u64>, Blocked>, Errno> {
        if req.ty.is_none() && !self.files.contains_key(&key) {
            return Ok(Ok(None));
        }
        let before = self.count;
        let fl = self.entry(key, new_id);
        let wait = fl.wait;
        let mut released = false;
        if req.family == LockFamily::Flock {
            // The description's own flock lock: the same type is kept as it is; any other
            // is dropped first (an unlock, or a conversion that may then wait).
            if let Some(i) = fl
                .locks
                .iter()
                .position(|l| l.family == LockFamily::Flock && l.owner.same(&req.owner))
            {
                if Some(fl.locks[i].ty) == req.ty {
                    return Ok(Ok(None));
                }
                fl.locks.remove(i);
                released = true;
            }
        }
        let Some(ty) = req.ty else {
            if req.family == LockFamily::Record {
                released |= trim(&mut fl.locks, &req);
            }
            self.count = recount(&self.files);
            self.forget_if_empty(key);
            return Ok(Ok(released.then_some(wait)));
        };
        if let Some(c) = fl
            .locks
            .iter()
            .find(|l| l.conflicts(req.family, &req.owner, ty, req.start, req.end))
        {
            let blocker = c.owner.clone();
            self.count = recount(&self.files);
            return Ok(Err(Blocked {
                wait,
                blocker,
                released,
            }));
        }
        let new = Lock {
            family: req.family,
            owner: req.owner.clone(),
            ty,
            start: req.start,
            end: req.end,
            via: Rc::downgrade(req.via),
        };
        let next = if req.family == LockFamily::Record {
            // Linux keeps a file's record locks grouped by owner, the groups in the order
            // their owners first locked, each sorted by start: F_GETLK reports the first
            // conflict in that order.
            let mine = |l: &Lock| l.family == LockFamily::Record && l.owner.same(&req.owner);
            let at = fl.locks.iter().position(mine);
            let mut own: Vec<Lock> = fl.locks.iter().filter(|l| mine(l)).cloned().collect();
            released |= trim(&mut own, &req);
            own.push(new);
            merge(&mut own, &req.owner, ty);
            let mut next = Vec::with_capacity(fl.locks.len() + 2);
            let mut placed = false;
            for (i, l) in fl.locks.iter().enumerate() {
                if Some(i) == at {
                    next.append(&mut own);
                    placed = true;
                }
                if !mine(l) {
                    next.push(l.clone());
                }
            }
            if !placed {
                next.append(&mut own);
            }
            next
        } else {
            let mut next = fl.locks.clone();
            next.push(new);
            next
        };
        let total = before - fl.locks.len() + next.len();
        if total > MAX_LOCKS && total > before {
            return Err(libc::ENOLCK);
        }
        fl.locks = next;
        self.count = total;
        Ok(Ok(released.then_some(wait)))
    }

    /// The first record lock on `key` that would conflict with the request (F_GETLK).
    pub(crate) fn test(
        &self,
        key: FileKey,
        owner: &Owner,
        ty: LockType,
        start: u64,
        end: u64,
    ) -> Option<Conflict> {
        let fl = self.files.get(&key)?;
        fl.locks
            .iter()
            .find(|l| l.owner.alive() && l.conflicts(LockFamily::Record, owner, ty, start, end))
            .map(|l| Conflict {
                ty: l.ty,
                start: l.start,
                end: l.end,
                pid: l.owner.pid(),
            })
    }

    /// Whether process `pid`, blocked by a lock of `blocker`, would wait for itself: the
    /// owner of the blocking lock waits for a lock whose owner waits ... for `pid`
    /// (followed over at most ten waiters, as Linux does). Only process-owned locks take
    /// part.
    pub(crate) fn deadlock(&self, pid: i32, blocker: &Owner) -> bool {
        let mut owner = blocker.clone();
        for _ in 0..DEADLOCK_STEPS {
            let Owner::Process(p) = owner else {
                return false;
            };
            let Some((_, next)) = self.waits.values().find(|(w, _)| *w == p) else {
                return false;
            };
            if matches!(next, Owner::Process(q) if *q == pid) {
                return true;
            }
            owner = next.clone();
        }
        false
    }

    /// Task `tid` of process `pid` waits for a record lock of `blocker`.
    pub(crate) fn wait(&mut self, tid: i32, pid: i32, blocker: Owner) {
        self.waits.insert(tid, (pid, blocker));
    }

    /// Task `tid` no longer waits for a lock (it got it, failed, was interrupted or exited).
    pub(crate) fn stop_waiting(&mut self, tid: i32) {
        self.waits.remove(&tid);
    }

    /// Process `pid` closed a descriptor of `key`: its record locks on it go. Returns the
    /// key to wake.
    pub(crate) fn close(&mut self, pid: i32, key: FileKey) -> Option<u64> {
        let fl = self.files.get_mut(&key)?;
        let n = fl.locks.len();
        fl.locks
            .retain(|l| !matches!(l.owner, Owner::Process(p) if p == pid));
        let wake = (fl.locks.len() != n).then_some(fl.wait);
        self.count = recount(&self.files);
        self.forget_if_empty(key);
        wake
    }

    /// Process `pid` is gone: every lock it held goes. Returns the keys to wake.
    pub(crate) fn exit(&mut self, pid: i32) -> Vec<u64> {
        self.remove_where(|l| matches!(l.owner, Owner::Process(p) if p == pid))
    }

    /// Drops the locks whose owning description is gone. Returns the keys to wake.
    pub(crate) fn purge(&mut self) -> Vec<u64> {
        if self.count == 0 {
            return Vec::new();
        }
        self.remove_where(|l| !l.owner.alive())
    }

    fn remove_where(&mut self, gone: impl Fn(&Lock) -> bool) -> Vec<u64> {
        let mut wake = Vec::new();
        for fl in self.files.values_mut() {
            let n = fl.locks.len();
            fl.locks.retain(|l| !gone(l));
            if fl.locks.len() != n {
                wake.push(fl.wait);
            }
        }
        self.files.retain(|_, f| !f.locks.is_empty());
        self.count = recount(&self.files);
        wake
    }

    fn forget_if_empty(&mut self, key: FileKey) {
        if self.files.get(&key).is_some_and(|f| f.locks.is_empty()) {
            self.files.remove(&key);
        }
    }

    /// Every held lock with a live description of its file, in a stable order, for the
    /// image. A process's lock whose description is gone is named by another description
    /// of the file that holds a lock; one with none left cannot be named and is not saved
    /// (the process no longer has the file open).
    pub(crate) fn save(&self) -> Vec<(LockSaved, FileRef)> {
        let mut out = Vec::new();
        let mut keys: Vec<&FileKey> = self.files.keys().collect();
        keys.sort();
        for key in keys {
            let fl = &self.files[key];
            let any_via = fl.locks.iter().find_map(|l| l.via.upgrade());
            for l in &fl.locks {
                let (process, file) = match &l.owner {
                    Owner::Process(p) => (Some(*p), l.via.upgrade().or_else(|| any_via.clone())),
                    Owner::File(w) => (None, w.upgrade()),
                };
                let Some(file) = file else { continue };
                out.push((
                    LockSaved {
                        family: l.family,
                        process,
                        ty: l.ty,
                        start: l.start,
                        end: l.end,
                    },
                    file,
                ));
            }
        }
        out
    }

    /// Puts back a saved lock on `key`, named through the restored description `file`.
    pub(crate) fn restore(
        &mut self,
        key: FileKey,
        lock: &LockSaved,
        file: &FileRef,
        new_id: &mut dyn FnMut() -> u64,
    ) {
        let owner = match lock.process {
            Some(p) => Owner::Process(p),
            None => Owner::file(file),
        };
        let fl = self.entry(key, new_id);
        fl.locks.push(Lock {
            family: lock.family,
            owner,
            ty: lock.ty,
            start: lock.start,
            end: lock.end,
            via: Rc::downgrade(file),
        });
        self.count += 1;
    }
}

fn recount(files: &HashMap<FileKey, FileLocks>) -> usize {
    files.values().map(|f| f.locks.len()).sum()
}

/// Cuts `[req.start, req.end]` out of the record locks of `req.owner` in `locks`; returns
/// whether any was cut.
fn trim(locks: &mut Vec<Lock>, req: &Request) -> bool {
    let mut out = Vec::with_capacity(locks.len() + 1);
    let mut cut = false;
    for l in locks.drain(..) {
        if l.family != LockFamily::Record
            || !l.owner.same(&req.owner)
            || !l.overlaps(req.start, req.end)
        {
            out.push(l);
            continue;
        }
        cut = true;
        if l.start < req.start {
            out.push(Lock {
                end: req.start - 1,
                ..l.clone()
            });
        }
        if l.end > req.end {
            out.push(Lock {
                start: req.end + 1,
                ..l
            });
        }
    }
    *locks = out;
    cut
}

/// Joins the record locks of `owner` of type `ty` that overlap or touch, as Linux does.
fn merge(locks: &mut Vec<Lock>, owner: &Owner, ty: LockType) {
    locks.sort_by_key(|l| l.start);
    let mut out: Vec<Lock> = Vec::with_capacity(locks.len());
    for l in locks.drain(..) {
        let mine = |x: &Lock| x.family == LockFamily::Record && x.owner.same(owner) && x.ty == ty;
        if mine(&l) {
            if let Some(prev) = out.iter_mut().rev().find(|p| mine(p)) {
                if prev.touches(l.start, l.end) {
                    prev.end = prev.end.max(l.end);
                    prev.start = prev.start.min(l.start);
                    continue;
                }
            }
        }
        out.push(l);
    }
    *locks = out;
}

// ---- saved form ----

/// A held lock, saved. Its file is the image's open file description named beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockSaved {
    pub family: LockFamily,
    /// The owning process (a record lock set with F_SETLK); None: the description named
    /// beside it owns the lock (flock, OFD).
    pub process: Option<i32>,
    pub ty: LockType,
    pub start: u64,
    pub end: u64,
}

/// A held lock in the image: the lock and an open file description of its file (its
/// owner, for a description's lock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockState {
    pub lock: LockSaved,
    /// Image id of the open file description.
    pub file: u64,
}

/// Checks the saved locks of an image: files and processes that exist, ranges in order,
/// at most [`MAX_LOCKS`].
pub(crate) fn check(
    locks: &[LockState],
    files: &HashSet<u64>,
    processes: &HashSet<i32>,
) -> Result<(), Invalid> {
    if locks.len() > MAX_LOCKS {
        return Err(bad(
            "the file locks",
            "count",
            format!("{} is above {MAX_LOCKS}", locks.len()),
        ));
    }
    for (i, l) in locks.iter().enumerate() {
        let obj = format!("file lock {i}");
        if !files.contains(&l.file) {
            return Err(bad(
                &obj,
                "file",
                format!("names open file {}, which does not exist", l.file),
            ));
        }
        if let Some(p) = l.lock.process {
            if !processes.contains(&p) {
                return Err(bad(
                    &obj,
                    "process",
                    format!("{p} is not a process of the image"),
                ));
            }
            if l.lock.family == LockFamily::Flock {
                return Err(bad(&obj, "process", "owns a flock lock"));
            }
        }
        if l.lock.start > l.lock.end || l.lock.end > OFFSET_MAX {
            return Err(bad(
                &obj,
                "range",
                format!("{}..={} is not a file range", l.lock.start, l.lock.end),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::file::OpenFile;
    use crate::ipc::eventfd::EventFd;

    fn file() -> FileRef {
        OpenFile::new(Box::new(EventFd::new(1, 0, false)), libc::O_RDWR, "f")
    }

    fn ids() -> impl FnMut() -> u64 {
        let mut n = 100;
        move || {
            n += 1;
            n
        }
    }

    const K: FileKey = (1, 2);

    fn rec(owner: Owner, ty: Option<LockType>, start: u64, end: u64, via: &FileRef) -> Request<'_> {
        Request {
            family: LockFamily::Record,
            owner,
            ty,
            start,
            end,
            via,
        }
    }

    fn ranges(t: &LockTable, pid: i32) -> Vec<(LockType, u64, u64)> {
        t.files[&K]
            .locks
            .iter()
            .filter(|l| matches!(l.owner, Owner::Process(p) if p == pid))
            .map(|l| (l.ty, l.start, l.end))
            .collect()
    }

    #[test]
    fn record_locks_split_merge_and_conflict_by_owner() {
        let f = file();
        let mut t = LockTable::default();
        let mut id = ids();
        let w = Some(LockType::Write);
        let r = Some(LockType::Read);
        let p = Owner::Process(10);
        assert!(t
            .set(K, rec(p.clone(), w, 0, 99, &f), &mut id)
            .unwrap()
            .is_ok());
        // A read lock in the middle splits the write lock.
        assert!(t
            .set(K, rec(p.clone(), r, 40, 59, &f), &mut id)
            .unwrap()
            .is_ok());
        assert_eq!(
            ranges(&t, 10),
            [
                (LockType::Write, 0, 39),
                (LockType::Read, 40, 59),
                (LockType::Write, 60, 99)
            ]
        );
        // Writing it back merges the three.
        assert!(t
            .set(K, rec(p.clone(), w, 40, 59, &f), &mut id)
            .unwrap()
            .is_ok());
        assert_eq!(ranges(&t, 10), [(LockType::Write, 0, 99)]);
        // Another process conflicts only where they overlap.
        let q = Owner::Process(11);
        let b = t.set(K, rec(q.clone(), r, 99, 120, &f), &mut id).unwrap();
        assert!(matches!(
            b,
            Err(Blocked {
                blocker: Owner::Process(10),
                ..
            })
        ));
        assert!(t
            .set(K, rec(q.clone(), r, 100, 120, &f), &mut id)
            .unwrap()
            .is_ok());
        assert_eq!(
            t.test(K, &q, LockType::Write, 0, 0),
            Some(Conflict {
                ty: LockType::Write,
                start: 0,
                end: 99,
                pid: 10
            })
        );
        assert_eq!(
            t.test(K, &p, LockType::Read, 0, 0),
            None,
            "own locks never conflict"
        );
        // Unlocking a hole releases and wakes.
        let woke = t.set(K, rec(p.clone(), None, 10, 19, &f), &mut id).unwrap();
        assert_eq!(woke.unwrap(), Some(101));
        assert_eq!(
            ranges(&t, 10),
            [(LockType::Write, 0, 9), (LockType::Write, 20, 99)]
        );
        assert_eq!(t.close(10, K), Some(101));
        assert!(!t.has_process_locks(10));
        assert!(t.has_process_locks(11));
    }

    #[test]
    fn flock_locks_belong_to_the_description_and_go_with_it() {
        let a = file();
        let b = file();
        let mut t = LockTable::default();
        let mut id = ids();
        fn fl(f: &FileRef, ty: Option<LockType>) -> Request<'_> {
            Request {
                family: LockFamily::Flock,
                owner: Owner::file(f),
                ty,
                start: 0,
                end: OFFSET_MAX,
                via: f,
            }
        }
        assert!(t
            .set(K, fl(&a, Some(LockType::Read)), &mut id)
            .unwrap()
            .is_ok());
        assert!(t
            .set(K, fl(&b, Some(LockType::Read)), &mut id)
            .unwrap()
            .is_ok());
        assert!(t
            .set(K, fl(&b, Some(LockType::Write)), &mut id)
            .unwrap()
            .is_err());
        // The failed conversion gave up b's shared lock.
        assert_eq!(t.count, 1);
        // Record locks do not see flock locks.
        let p = Owner::Process(3);
        assert_eq!(t.test(K, &p, LockType::Write, 0, OFFSET_MAX), None);
        drop(a);
        assert_eq!(t.purge(), [101]);
        assert!(t
            .set(K, fl(&b, Some(LockType::Write)), &mut id)
            .unwrap()
            .is_ok());
    }

    #[test]
    fn a_cycle_of_waiting_processes_is_a_deadlock() {
        let mut t = LockTable::default();
        // 1 waits for 2, 2 waits for 3: 3 asking for a lock of 1 would close the cycle.
        t.wait(101, 1, Owner::Process(2));
        t.wait(201, 2, Owner::Process(3));
        assert!(t.deadlock(3, &Owner::Process(1)));
        assert!(!t.deadlock(4, &Owner::Process(1)));
        t.stop_waiting(201);
        assert!(!t.deadlock(3, &Owner::Process(1)));
    }

    #[test]
    fn too_many_locks_is_enolck() {
        let f = file();
        let mut t = LockTable::default();
        let mut id = ids();
        let r = rec(Owner::Process(1), Some(LockType::Read), 0, 0, &f);
        assert!(t.set(K, r, &mut id).unwrap().is_ok());
        // As if the sandbox held the most it may.
        t.count = MAX_LOCKS;
        let r = rec(Owner::Process(1), Some(LockType::Read), 10, 20, &f);
        assert_eq!(t.set(K, r, &mut id).err(), Some(libc::ENOLCK));
        // Replacing a lock by one as large is fine.
        let r = rec(Owner::Process(1), Some(LockType::Write), 0, 0, &f);
        assert!(t.set(K, r, &mut id).unwrap().is_ok());
    }

    #[test]
    fn hostile_saved_locks_are_refused() {
        let files = HashSet::from([1]);
        let procs = HashSet::from([5]);
        let lock = |process, start, end| LockState {
            lock: LockSaved {
                family: LockFamily::Record,
                process,
                ty: LockType::Write,
                start,
                end,
            },
            file: 1,
        };
        assert!(check(&[lock(Some(5), 0, 10)], &files, &procs).is_ok());
        assert!(check(&[lock(Some(6), 0, 10)], &files, &procs).is_err());
        assert!(check(&[lock(None, 10, 0)], &files, &procs).is_err());
        assert!(check(&[lock(None, 0, u64::MAX)], &files, &procs).is_err());
        let mut other = lock(None, 0, 1);
        other.file = 2;
        assert!(check(&[other], &files, &procs).is_err());
    }
}
