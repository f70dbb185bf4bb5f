//! inotify(7): watches on inodes, and the events the file-system operations queue for
//! them.
//!
//! An inotify instance is an open file ([`InotifyFile`]) holding its watches (watch
//! descriptor -> inode, mask, guest path) and its queue of events. The operations that
//! change or use files tell this module what happened to which inode (an [`InodeKey`]: the
//! device and inode number the guest sees), and it queues an event for every watch on that
//! inode whose mask has it, and for every watch on the inode's directory, with the name.
//! The watches are found through a registry of the sentry's thread (one sandbox per
//! thread, as `crate::wait`'s queues), so that the operations need not reach the kernel's
//! open files.
//!
//! Every open description of a file on a host mount carries a [`Node`]: its inode, its
//! directory and name at open. Reads, writes and the last close of the description queue
//! their events through it, and the registry counts the descriptions open on each inode
//! so that an inode whose last name goes while it is open says `IN_DELETE_SELF` at its
//! last close, as Linux does when the inode is freed.
//!
//! Saved: each instance's queued events, its watches with the guest path of their inode
//! (kept up to date when the inode or a directory above it is renamed), and the next watch
//! descriptor. At restore a watch is bound again to the inode its path names; a watch
//! whose path no longer exists reads as removed (`IN_IGNORED`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::{Rc, Weak};

use serde::{Deserialize, Serialize};

use crate::checks::Invalid;
use crate::fs::file::{FileImpl, IoErr};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::mm::Errno;
use crate::wait::WaitKey;

pub(crate) const IN_ACCESS: u32 = 0x1;
pub(crate) const IN_MODIFY: u32 = 0x2;
pub(crate) const IN_ATTRIB: u32 = 0x4;
pub(crate) const IN_CLOSE_WRITE: u32 = 0x8;
pub(crate) const IN_CLOSE_NOWRITE: u32 = 0x10;
pub(crate) const IN_OPEN: u32 = 0x20;
pub(crate) const IN_MOVED_FROM: u32 = 0x40;
pub(crate) const IN_MOVED_TO: u32 = 0x80;
pub(crate) const IN_CREATE: u32 = 0x100;
pub(crate) const IN_DELETE: u32 = 0x200;
pub(crate) const IN_DELETE_SELF: u32 = 0x400;
pub(crate) const IN_MOVE_SELF: u32 = 0x800;
const IN_ALL_EVENTS: u32 = 0xfff;
const IN_Q_OVERFLOW: u32 = 0x4000;
const IN_IGNORED: u32 = 0x8000;
pub(crate) const IN_ONLYDIR: u32 = 0x0100_0000;
pub(crate) const IN_DONT_FOLLOW: u32 = 0x0200_0000;
const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub(crate) const IN_MASK_CREATE: u32 = 0x1000_0000;
pub(crate) const IN_MASK_ADD: u32 = 0x2000_0000;
const IN_ISDIR: u32 = 0x4000_0000;
const IN_ONESHOT: u32 = 0x8000_0000;

/// The bits a watch's mask may hold (inotify_add_watch refuses others with EINVAL).
pub(crate) const WATCH_BITS: u32 = IN_ALL_EVENTS
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_CREATE
    | IN_MASK_ADD
    | IN_ISDIR
    | IN_ONESHOT;

/// What a watch keeps of the mask it was given (the add-time flags are not kept).
const KEPT_BITS: u32 = IN_ALL_EVENTS | IN_EXCL_UNLINK | IN_ONESHOT;

/// Events an instance queues at most (/proc/sys/fs/inotify/max_queued_events); then one
/// `IN_Q_OVERFLOW` and nothing more until it is read.
pub(crate) const MAX_QUEUED: usize = 16384;

/// The size of `struct inotify_event` without its name.
const EVENT_HEADER: usize = 16;

/// The longest name an event carries (NAME_MAX).
const NAME_MAX: usize = 255;

/// An inode as the guest sees it: its device and inode number (`stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct InodeKey {
    dev: u64,
    ino: u64,
}

impl InodeKey {
    pub(crate) fn of(st: &libc::stat) -> Self {
        InodeKey {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
}

/// A queued event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub wd: i32,
    pub mask: u32,
    pub cookie: u32,
    /// The name in the watched directory; empty for an event on the watched inode itself.
    pub name: String,
}

impl Event {
    /// Its size as read: the header and the name, NUL-padded to a multiple of the header.
    fn len(&self) -> usize {
        EVENT_HEADER + name_len(&self.name)
    }

    fn bytes(&self, out: &mut Vec<u8>) {
        let n = name_len(&self.name);
        out.extend_from_slice(&self.wd.to_le_bytes());
        out.extend_from_slice(&self.mask.to_le_bytes());
        out.extend_from_slice(&self.cookie.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.resize(out.len() + n - self.name.len(), 0);
    }
}

/// The length field of an event naming `name`: 0 without a name, else the name and at
/// least one NUL, rounded up to the header's size.
fn name_len(name: &str) -> usize {
    if name.is_empty() {
        0
    } else {
        (name.len() + 1).div_ceil(EVENT_HEADER) * EVENT_HEADER
    }
}

#[derive(Debug, Clone)]
struct Watch {
    key: InodeKey,
    mask: u32,
    /// Guest path of the inode, for a restore to find it again.
    path: String,
}

/// An inotify instance: its watches and its queue.
#[derive(Debug)]
pub(crate) struct Instance {
    /// Kernel object id: the key its readers park on.
    id: u64,
    /// The registry's handle of it (unique in the thread, unlike object ids, which a
    /// restored kernel reuses beside the one it came from in tests).
    handle: u64,
    events: VecDeque<Event>,
    watches: BTreeMap<i32, Watch>,
    next_wd: i32,
}

impl Instance {
    /// Queues `e` unless it repeats the last event not yet read (Linux merges those), or
    /// the queue is full (then one overflow event).
    fn push(&mut self, e: Event) {
        if self.events.back() == Some(&e) {
            return;
        }
        if self.events.len() >= MAX_QUEUED {
            let overflow = Event {
                wd: -1,
                mask: IN_Q_OVERFLOW,
                cookie: 0,
                name: String::new(),
            };
            if self.events.back() != Some(&overflow) {
                self.events.push_back(overflow);
            }
            return;
        }
        self.events.push_back(e);
        crate::wait::wake_later(self.id);
    }

    fn ignored(&mut self, wd: i32) {
        self.push(Event {
            wd,
            mask: IN_IGNORED,
            cookie: 0,
            name: String::new(),
        });
    }

    fn bytes_queued(&self) -> usize {
        self.events.iter().map(Event::len).sum()
    }
}

#[derive(Default)]
struct Registry {
    instances: HashMap<u64, Weak<RefCell<Instance>>>,
    /// Watches by inode: (instance handle, wd).
    by_inode: HashMap<InodeKey, Vec<(u64, i32)>>,
    /// Open descriptions by inode (their [`Node`]s).
    opens: HashMap<InodeKey, u32>,
    /// Inodes whose last name went while open: deleted at their last close.
    unlinked: HashSet<InodeKey>,
    /// Names removed while a description opened through them is open (inode, guest
    /// path): I/O through those descriptions is kept from watches with `IN_EXCL_UNLINK`.
    dead_names: HashSet<(InodeKey, String)>,
    next_handle: u64,
    cookie: u32,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

fn with_registry<R: Default>(f: impl FnOnce(&mut Registry) -> R) -> R {
    REGISTRY.with(|r| {
        r.try_borrow_mut()
            .map(|mut r| f(&mut r))
            .unwrap_or_default()
    })
}

/// Whether any watch exists: the operations skip looking up what they act on otherwise.
pub(crate) fn watching() -> bool {
    with_registry(|r| !r.by_inode.is_empty())
}

impl Registry {
    /// Queues `mask` (one event bit) for the watches on `key`; `name` non-empty for the
    /// watches of a directory on the entry `name` in it. `excluded`: I/O through a
    /// description of an inode with no name left, which watches with `IN_EXCL_UNLINK` do
    /// not hear of.
    fn deliver(
        &mut self,
        key: InodeKey,
        mask: u32,
        name: &str,
        cookie: u32,
        isdir: bool,
        excluded: bool,
    ) {
        let Some(list) = self.by_inode.get(&key).cloned() else {
            return;
        };
        let mut done = Vec::new();
        for (handle, wd) in list {
            let Some(inst) = self.instances.get(&handle).and_then(Weak::upgrade) else {
                continue;
            };
            let mut inst = inst.borrow_mut();
            let Some(w) = inst.watches.get(&wd) else {
                continue;
            };
            if w.mask & mask == 0 || (excluded && w.mask & IN_EXCL_UNLINK != 0) {
                continue;
            }
            let oneshot = w.mask & IN_ONESHOT != 0;
            inst.push(Event {
                wd,
                mask: mask | if isdir { IN_ISDIR } else { 0 },
                cookie,
                name: name.to_string(),
            });
            if oneshot {
                inst.watches.remove(&wd);
                inst.ignored(wd);
                done.push((handle, wd));
            }
        }
        self.forget(key, &done);
    }

    /// Drops the registrations `done` of `key`.
    fn forget(&mut self, key: InodeKey, done: &[(u64, i32)]) {
        if done.is_empty() {
            return;
        }
        if let Some(l) = self.by_inode.get_mut(&key) {
            l.retain(|x| !done.contains(x));
            if l.is_empty() {
                self.by_inode.remove(&key);
            }
        }
    }

    /// The inode is gone: its watches say `IN_DELETE_SELF`, then are removed
    /// (`IN_IGNORED`).
    fn gone(&mut self, key: InodeKey) {
        self.deliver(key, IN_DELETE_SELF, "", 0, false, false);
        let Some(list) = self.by_inode.remove(&key) else {
            return;
        };
        for (handle, wd) in list {
            if let Some(inst) = self.instances.get(&handle).and_then(Weak::upgrade) {
                let mut inst = inst.borrow_mut();
                if inst.watches.remove(&wd).is_some() {
                    inst.ignored(wd);
                }
            }
        }
    }

    fn register(&mut self, inst: &Rc<RefCell<Instance>>) {
        let i = inst.borrow();
        self.instances.insert(i.handle, Rc::downgrade(inst));
        for (&wd, w) in &i.watches {
            self.by_inode.entry(w.key).or_default().push((i.handle, wd));
        }
    }
}

/// What an operation on a path acts on, looked up before it (its inode goes with an
/// unlink): the directory and the name, and the inode when it exists.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// The directory's inode; None when not looked up (an open file's: then the watch
    /// on `dir_path`, if any, is its directory's).
    pub dir: Option<InodeKey>,
    pub dir_path: String,
    pub name: String,
    pub key: Option<InodeKey>,
    pub isdir: bool,
    pub nlink: u64,
}

impl Target {
    /// Its guest path.
    fn path(&self) -> String {
        match self.dir_path.as_str() {
            "/" => format!("/{}", self.name),
            d => format!("{d}/{}", self.name),
        }
    }

    /// An event on the inode and on its directory (with the name).
    pub(crate) fn event(&self, mask: u32) {
        self.event_by(mask, false);
    }

    /// `event`; `io`: of I/O through a description (read, write, open, close), which an
    /// inode with no name left keeps from watches with `IN_EXCL_UNLINK`.
    fn event_by(&self, mask: u32, io: bool) {
        with_registry(|r| {
            if r.by_inode.is_empty() {
                // Nothing is watched (every read and write of a host file comes here).
                return;
            }
            let excluded = io
                && !r.dead_names.is_empty()
                && self
                    .key
                    .is_some_and(|k| r.dead_names.contains(&(k, self.path())));
            if let Some(d) = self.dir.or_else(|| r.watched_path(&self.dir_path)) {
                r.deliver(d, mask, &self.name, 0, self.isdir, excluded);
            }
            if let Some(k) = self.key {
                r.deliver(k, mask, "", 0, self.isdir, excluded);
            }
        })
    }

    /// The entry was made (mkdir, mknod, symlink, an open that created it; a link adds a
    /// name to an inode: `IN_ATTRIB` on it first).
    pub(crate) fn created(&self, isdir: bool, linked: Option<&Target>) {
        with_registry(|r| {
            if let Some(k) = linked.and_then(|l| l.key) {
                r.deliver(k, IN_ATTRIB, "", 0, false, false);
            }
            if let Some(d) = self.dir {
                r.deliver(d, IN_CREATE, &self.name, 0, isdir, false);
            }
        })
    }

    /// The entry was removed (unlink, rmdir): the inode's link count drops (`IN_ATTRIB`
    /// for a file), and with its last name it is gone (at its last close if it is open),
    /// then the directory hears `IN_DELETE`.
    pub(crate) fn removed(&self) {
        with_registry(|r| {
            if let Some(k) = self.key {
                if r.opens.contains_key(&k) {
                    r.dead_names.insert((k, self.path()));
                }
                r.unlink(k, self.isdir, self.nlink);
            }
            if let Some(d) = self.dir {
                r.deliver(d, IN_DELETE, &self.name, 0, self.isdir, false);
            }
        })
    }
}

impl Registry {
    /// The inode a watch of guest `path` is on, if one is.
    fn watched_path(&self, path: &str) -> Option<InodeKey> {
        self.instances
            .values()
            .filter_map(Weak::upgrade)
            .find_map(|i| {
                let i = i.borrow();
                let w = i.watches.values().find(|w| w.path == path)?;
                Some(w.key)
            })
    }

    fn unlink(&mut self, k: InodeKey, isdir: bool, nlink: u64) {
        if !isdir {
            self.deliver(k, IN_ATTRIB, "", 0, false, false);
        }
        if isdir || nlink <= 1 {
            if self.opens.get(&k).copied().unwrap_or(0) > 0 {
                self.unlinked.insert(k);
            } else {
                self.gone(k);
            }
        }
    }
}

/// A rename of `from` to `to` (`replaced`: what `to` named before, now unlinked), done.
/// Watches whose path was `from` or below it follow to `to`.
pub(crate) fn renamed(from: &Target, to: &Target, replaced: Option<&Target>, paths: (&str, &str)) {
    with_registry(|r| {
        let cookie = {
            r.cookie = r.cookie.wrapping_add(1).max(1);
            r.cookie
        };
        if let Some(d) = from.dir {
            r.deliver(d, IN_MOVED_FROM, &from.name, cookie, from.isdir, false);
        }
        if let Some(d) = to.dir {
            r.deliver(d, IN_MOVED_TO, &to.name, cookie, from.isdir, false);
        }
        if let Some(k) = replaced.and_then(|t| t.key) {
            let t = replaced.expect("key of it");
            r.unlink(k, t.isdir, t.nlink);
        }
        if let Some(k) = from.key {
            r.deliver(k, IN_MOVE_SELF, "", 0, from.isdir, false);
        }
        let (old, new) = paths;
        for inst in r.instances.values().filter_map(Weak::upgrade) {
            for w in inst.borrow_mut().watches.values_mut() {
                if let Some(rest) = w.path.strip_prefix(old) {
                    if rest.is_empty() || rest.starts_with('/') {
                        w.path = format!("{new}{rest}");
                    }
                }
            }
        }
    })
}

/// What an open description of a file on a host mount knows for inotify: its inode, and
/// its directory and name when it was opened. It counts as open on the inode while it
/// lives; its drop (the description's last close) queues the close event.
#[derive(Debug)]
pub(crate) struct Node {
    target: Target,
    writable: bool,
    /// Its close is an event (not for the sentry's own opens).
    announce: bool,
}

impl Node {
    pub(crate) fn new(target: Target, writable: bool, announce: bool) -> Option<Self> {
        let key = target.key?;
        with_registry(|r| *r.opens.entry(key).or_default() += 1);
        Some(Node {
            target,
            writable,
            announce,
        })
    }

    /// An event of I/O through the description (`IN_ACCESS`, `IN_MODIFY`, `IN_OPEN`).
    pub(crate) fn io_event(&self, mask: u32) {
        self.target.event_by(mask, true);
    }

    /// A change of the inode's attributes or size through the description (fchmod,
    /// futimens, ftruncate): heard also when the inode has no name left.
    pub(crate) fn inode_event(&self, mask: u32) {
        self.target.event(mask);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.announce {
            self.io_event(if self.writable {
                IN_CLOSE_WRITE
            } else {
                IN_CLOSE_NOWRITE
            });
        }
        let Some(k) = self.target.key else { return };
        with_registry(|r| {
            let last = match r.opens.get_mut(&k) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                _ => {
                    r.opens.remove(&k);
                    r.dead_names.retain(|(key, _)| *key != k);
                    true
                }
            };
            if last && r.unlinked.remove(&k) {
                r.gone(k);
            }
        })
    }
}

/// An inotify instance as an open file.
#[derive(Debug)]
pub struct InotifyFile {
    inst: Rc<RefCell<Instance>>,
}

impl InotifyFile {
    pub(crate) fn new(id: u64) -> Self {
        Self::with(Instance {
            id,
            handle: 0,
            events: VecDeque::new(),
            watches: BTreeMap::new(),
            next_wd: 1,
        })
    }

    fn with(mut inst: Instance) -> Self {
        inst.handle = with_registry(|r| {
            r.next_handle += 1;
            r.next_handle
        });
        let inst = Rc::new(RefCell::new(inst));
        with_registry(|r| r.register(&inst));
        InotifyFile { inst }
    }

    /// inotify_add_watch on the inode `key` (`isdir`), found at guest `path`: the watch
    /// descriptor, the same for an inode already watched.
    pub(crate) fn add_watch(
        &mut self,
        key: InodeKey,
        isdir: bool,
        path: &str,
        mask: u32,
    ) -> Result<i32, Errno> {
        if mask & IN_ONLYDIR != 0 && !isdir {
            return Err(libc::ENOTDIR);
        }
        let mut inst = self.inst.borrow_mut();
        let kept = mask & KEPT_BITS;
        if let Some((&wd, w)) = inst.watches.iter_mut().find(|(_, w)| w.key == key) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(libc::EEXIST);
            }
            w.mask = if mask & IN_MASK_ADD != 0 {
                w.mask | kept
            } else {
                kept
            };
            return Ok(wd);
        }
        let wd = inst.next_wd;
        inst.next_wd = wd.checked_add(1).ok_or(libc::ENOSPC)?;
        inst.watches.insert(
            wd,
            Watch {
                key,
                mask: kept,
                path: path.to_string(),
            },
        );
        let handle = inst.handle;
        with_registry(|r| r.by_inode.entry(key).or_default().push((handle, wd)));
        Ok(wd)
    }

    /// inotify_rm_watch: `IN_IGNORED` is queued; EINVAL for a descriptor it does not hold.
    pub(crate) fn rm_watch(&mut self, wd: i32) -> Result<(), Errno> {
        let mut inst = self.inst.borrow_mut();
        let w = inst.watches.remove(&wd).ok_or(libc::EINVAL)?;
        inst.ignored(wd);
        let handle = inst.handle;
        with_registry(|r| r.forget(w.key, &[(handle, wd)]));
        Ok(())
    }

    /// FIONREAD: the bytes a read would return were the buffer large enough.
    pub(crate) fn queued(&self) -> usize {
        self.inst.borrow().bytes_queued()
    }
}

impl Drop for InotifyFile {
    fn drop(&mut self) {
        let inst = self.inst.borrow();
        let handle = inst.handle;
        with_registry(|r| {
            r.instances.remove(&handle);
            for w in inst.watches.values() {
                let all: Vec<_> = r
                    .by_inode
                    .get(&w.key)
                    .map(|l| l.iter().filter(|(h, _)| *h == handle).copied().collect())
                    .unwrap_or_default();
                r.forget(w.key, &all);
            }
        });
    }
}

impl FileImpl for InotifyFile {
    /// Whole events, as many as fit; EINVAL when not even the first fits.
    fn read(&mut self, _pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        if off.is_some() {
            return Err(IoErr::Errno(libc::ESPIPE));
        }
        let mut inst = self.inst.borrow_mut();
        let Some(first) = inst.events.front() else {
            return Err(IoErr::Block(WaitKey::Object(inst.id)));
        };
        if first.len() > len {
            return Err(IoErr::Errno(libc::EINVAL));
        }
        let mut out = Vec::new();
        while let Some(e) = inst.events.front() {
            if out.len() + e.len() > len {
                break;
            }
            e.bytes(&mut out);
            inst.events.pop_front();
        }
        Ok(out)
    }

    fn write(&mut self, _: &mut u64, _: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        Err(IoErr::Errno(if off.is_some() {
            libc::ESPIPE
        } else {
            libc::EBADF
        }))
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let inst = self.inst.borrow();
        let r = if inst.events.is_empty() {
            0
        } else {
            libc::POLLIN
        };
        (r & events, vec![WaitKey::Object(inst.id)])
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn link_text(&self, _path: &str) -> String {
        "anon_inode:inotify".to_string()
    }

    fn bytes_ready(&self) -> Option<usize> {
        Some(self.queued())
    }
}

/// A watch as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchState {
    pub wd: i32,
    pub mask: u32,
    /// Guest path of the watched inode.
    pub path: String,
}

/// The saved form of an inotify instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InotifyState {
    pub id: u64,
    pub events: Vec<Event>,
    pub watches: Vec<WatchState>,
    pub next_wd: i32,
}

impl Persist for InotifyFile {
    type State = InotifyState;

    fn save(&self, _: &mut SaveCtx) -> InotifyState {
        let Instance {
            id,
            handle: _, // the registry's, made again at restore
            events,
            watches,
            next_wd,
        } = &*self.inst.borrow();
        InotifyState {
            id: *id,
            events: events.iter().cloned().collect(),
            watches: watches
                .iter()
                .map(|(&wd, w)| WatchState {
                    wd,
                    mask: w.mask, // the inode key is found again from the path
                    path: w.path.clone(),
                })
                .collect(),
            next_wd: *next_wd,
        }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &InotifyState) -> Result<Self, KindError> {
        cx.object_id(s.id);
        let mut inst = Instance {
            id: s.id,
            handle: 0,
            events: s.events.iter().cloned().collect(),
            watches: BTreeMap::new(),
            next_wd: s.next_wd,
        };
        for w in &s.watches {
            match cx.vfs().host_stat(&w.path) {
                Some(st) => {
                    inst.watches.insert(
                        w.wd,
                        Watch {
                            key: InodeKey::of(&st),
                            mask: w.mask,
                            path: w.path.clone(),
                        },
                    );
                }
                // The inode is not there any more: the watch is gone, as with its inode.
                None => inst.ignored(w.wd),
            }
        }
        Ok(InotifyFile::with(inst))
    }

    fn check(cx: &CheckCtx, s: &InotifyState) -> Result<(), Invalid> {
        if s.next_wd < 1 {
            return Err(cx.bad("inotify next_wd", format!("{} is not positive", s.next_wd)));
        }
        if s.events.len() > MAX_QUEUED + 1 {
            return Err(cx.bad(
                "inotify events",
                format!("{} queued, more than {}", s.events.len(), MAX_QUEUED + 1),
            ));
        }
        for e in &s.events {
            if e.name.len() > NAME_MAX || e.name.contains(['/', '\0']) {
                return Err(cx.bad("inotify event name", format!("{:?}", e.name)));
            }
            if e.wd < -1 || e.wd >= s.next_wd {
                return Err(cx.bad("inotify event wd", format!("{}", e.wd)));
            }
        }
        let mut seen = HashSet::new();
        for w in &s.watches {
            if w.wd < 1 || w.wd >= s.next_wd || !seen.insert(w.wd) {
                return Err(cx.bad(
                    "inotify watch descriptor",
                    format!("{} (next {}, or twice)", w.wd, s.next_wd),
                ));
            }
            if w.mask & !KEPT_BITS != 0 || w.mask & IN_ALL_EVENTS == 0 {
                return Err(cx.bad("inotify watch mask", format!("{:#x}", w.mask)));
            }
            if !w.path.starts_with('/') || w.path.contains('\0') {
                return Err(cx.bad("inotify watch path", format!("{:?}", w.path)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ino: u64) -> InodeKey {
        InodeKey { dev: 1, ino }
    }

    fn drain(f: &mut InotifyFile) -> Vec<(i32, u32, u32, String)> {
        let mut out = Vec::new();
        let Ok(b) = f.read(&mut 0, 1 << 16, None) else {
            return out;
        };
        let mut i = 0;
        while i < b.len() {
            let word = |o: usize| u32::from_le_bytes(b[i + o..i + o + 4].try_into().unwrap());
            let n = word(12) as usize;
            let name = &b[i + 16..i + 16 + n];
            let name = String::from_utf8_lossy(name)
                .trim_end_matches('\0')
                .to_string();
            out.push((word(0) as i32, word(4), word(8), name));
            i += 16 + n;
        }
        out
    }

    fn target(dir: Option<u64>, name: &str, ino: Option<u64>, nlink: u64) -> Target {
        Target {
            dir: dir.map(key),
            dir_path: String::new(),
            name: name.into(),
            key: ino.map(key),
            isdir: false,
            nlink,
        }
    }

    #[test]
    fn events_reach_watches_on_the_inode_and_its_directory_and_repeats_merge() {
        let mut f = InotifyFile::new(7);
        let dwd = f.add_watch(key(1), true, "/d", IN_ALL_EVENTS).unwrap();
        let fwd = f.add_watch(key(2), false, "/d/f", IN_ALL_EVENTS).unwrap();
        assert_eq!(f.add_watch(key(2), false, "/d/f", IN_MODIFY), Ok(fwd));
        assert_eq!(
            f.add_watch(key(2), false, "/d/f", IN_MODIFY | IN_MASK_CREATE),
            Err(libc::EEXIST)
        );
        assert_eq!(
            f.add_watch(key(2), false, "/d/f", IN_ONLYDIR | IN_ACCESS),
            Err(libc::ENOTDIR)
        );
        let t = target(Some(1), "f", Some(2), 1);
        let n = Node::new(t.clone(), true, true).unwrap();
        n.io_event(IN_MODIFY);
        n.io_event(IN_ACCESS);
        n.io_event(IN_ACCESS);
        drop(n);
        assert_eq!(
            drain(&mut f),
            vec![
                (dwd, IN_MODIFY, 0, "f".into()),
                (fwd, IN_MODIFY, 0, String::new()),
                (dwd, IN_ACCESS, 0, "f".into()),
                (dwd, IN_CLOSE_WRITE, 0, "f".into()),
            ],
            "the file's own watch now has IN_MODIFY only; the second access merged with \
             the last event queued"
        );
        assert_eq!(
            f.read(&mut 0, 64, None),
            Err(IoErr::Block(WaitKey::Object(7)))
        );
    }

    #[test]
    fn an_unlinked_open_file_is_deleted_at_its_last_close() {
        let mut f = InotifyFile::new(8);
        let wd = f.add_watch(key(12), false, "/x", IN_ALL_EVENTS).unwrap();
        let t = target(Some(11), "x", Some(12), 1);
        let n = Node::new(t.clone(), false, true).unwrap();
        t.removed();
        assert_eq!(drain(&mut f), vec![(wd, IN_ATTRIB, 0, String::new())]);
        drop(n);
        assert_eq!(
            drain(&mut f),
            vec![
                (wd, IN_CLOSE_NOWRITE, 0, String::new()),
                (wd, IN_DELETE_SELF, 0, String::new()),
                (wd, IN_IGNORED, 0, String::new()),
            ]
        );
        assert_eq!(
            f.rm_watch(wd),
            Err(libc::EINVAL),
            "the watch went with the inode"
        );
    }

    #[test]
    fn a_read_returns_whole_events_and_refuses_a_buffer_too_small_for_the_first() {
        let mut f = InotifyFile::new(9);
        let wd = f.add_watch(key(21), true, "/d", IN_CREATE).unwrap();
        target(Some(21), "abc", None, 0).created(false, None);
        target(Some(21), "de", None, 0).created(false, None);
        assert_eq!(f.queued(), 64);
        assert_eq!(f.read(&mut 0, 31, None), Err(IoErr::Errno(libc::EINVAL)));
        assert_eq!(
            f.read(&mut 0, 40, None).unwrap().len(),
            32,
            "one whole event"
        );
        assert_eq!(drain(&mut f), vec![(wd, IN_CREATE, 0, "de".into())]);
    }

    #[test]
    fn oneshot_watches_end_after_one_event_and_the_queue_overflows_once() {
        let mut f = InotifyFile::new(10);
        let wd = f
            .add_watch(key(31), false, "/o", IN_ATTRIB | IN_ONESHOT)
            .unwrap();
        let t = target(None, "", Some(31), 2);
        t.event(IN_ATTRIB);
        t.event(IN_ATTRIB);
        assert_eq!(
            drain(&mut f),
            vec![
                (wd, IN_ATTRIB, 0, String::new()),
                (wd, IN_IGNORED, 0, String::new())
            ]
        );
        let d = f.add_watch(key(32), true, "/p", IN_CREATE).unwrap();
        for i in 0..MAX_QUEUED + 5 {
            target(Some(32), &format!("n{i}"), None, 0).created(false, None);
        }
        let inst = f.inst.borrow();
        assert_eq!(inst.events.len(), MAX_QUEUED + 1);
        assert_eq!(inst.events.back().unwrap().mask, IN_Q_OVERFLOW);
        assert_eq!(inst.events.front().unwrap().wd, d);
    }

    #[test]
    fn hostile_saved_instances_are_refused() {
        let meta = FileMeta {
            id: 1,
            flags: 0,
            pos: 0,
            path: "anon_inode:inotify",
            async_io: Default::default(),
            opener: None,
        };
        let (files, shared) = (Default::default(), Default::default());
        let cx = CheckCtx::new(meta, &files, &shared);
        let good = InotifyState {
            id: 1,
            events: vec![Event {
                wd: 1,
                mask: IN_CREATE,
                cookie: 0,
                name: "a".into(),
            }],
            watches: vec![WatchState {
                wd: 1,
                mask: IN_CREATE,
                path: "/tmp".into(),
            }],
            next_wd: 2,
        };
        assert!(InotifyFile::check(&cx, &good).is_ok());
        let bad: [fn(&mut InotifyState); 7] = [
            |s| s.next_wd = 0,
            |s| s.events[0].name = "a/b".into(),
            |s| s.events[0].name = "x".repeat(300),
            |s| s.watches[0].wd = 5,
            |s| s.watches.push(s.watches[0].clone()),
            |s| s.watches[0].mask = IN_MASK_ADD | IN_CREATE,
            |s| s.watches[0].path = "tmp".into(),
        ];
        for (i, b) in bad.iter().enumerate() {
            let mut s = good.clone();
            b(&mut s);
            assert!(InotifyFile::check(&cx, &s).is_err(), "case {i} accepted");
        }
    }
}
