//! epoll: a set of watched files, itself an open file.
//!
//! An epoll set holds its targets weakly: when the last fd of a file is closed, the file
//! leaves every set, as Linux does. An interest is keyed by the watched open file and the
//! fd it was added under, as Linux keys it: a dup of a watched fd can be added too, and an
//! interest outlives the closing of its fd while its file is open under another.
//!
//! An edge-triggered interest (EPOLLET) holds an [`EdgeWatch`] on its file's wait keys:
//! the kernel counts the changes of each side (input, output) where it wakes a key's
//! waiters, and the interest reports its file only when the count of the sides it asks
//! for moved since it last looked, as Linux reports an item once per wake-up of its file.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use serde::{Deserialize, Serialize};

use crate::checks::{Invalid, FD_MAX};
use crate::fs::file::{FileImpl, OpenFile};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::wait::{EdgeWatch, WaitKey, EDGE_IN, EDGE_OUT};

pub(crate) const EPOLLET: u32 = 1 << 31;
pub(crate) const EPOLLONESHOT: u32 = 1 << 30;

/// One watched file of an epoll set.
pub struct Interest {
    pub file: Weak<RefCell<OpenFile>>,
    pub events: u32,
    pub data: u64,
    /// EPOLLONESHOT fired: no more events until EPOLL_CTL_MOD.
    pub disabled: bool,
    /// Of an edge-triggered interest: the changes it has seen.
    pub(crate) edge: Edge,
}

/// What an edge-triggered interest has seen of its file's changes.
#[derive(Debug, Default)]
pub(crate) enum Edge {
    /// Not looked at since EPOLL_CTL_ADD/MOD (or restored with an unreported change): it
    /// reports the file if ready.
    #[default]
    Pending,
    /// Looked at when its keys had counted this many changes (of the sides it asks for):
    /// it reports the file when the count moved and the file is ready.
    Seen(EdgeWatch, u64),
    /// Restored with nothing unreported: the next look takes the count as seen.
    Quiet,
}

impl Interest {
    pub(crate) fn new(file: &Rc<RefCell<OpenFile>>, events: u32, data: u64) -> Self {
        Interest {
            file: Rc::downgrade(file),
            events,
            data,
            disabled: false,
            edge: Edge::Pending,
        }
    }

    /// The sides whose changes wake an edge-triggered interest in `events`.
    fn sides(&self) -> u8 {
        let mut s = 0;
        if self.events
            & (libc::EPOLLIN | libc::EPOLLRDNORM | libc::EPOLLPRI | libc::EPOLLRDHUP) as u32
            != 0
        {
            s |= EDGE_IN;
        }
        if self.events & (libc::EPOLLOUT | libc::EPOLLWRNORM | libc::EPOLLWRBAND) as u32 != 0 {
            s |= EDGE_OUT;
        }
        s
    }

    /// Whether the interest may report its file, which is `ready` with wait keys `keys`:
    /// always when level-triggered; when edge-triggered, once per change counted on its
    /// keys. Looking makes the current changes seen.
    pub(crate) fn may_report(&mut self, ready: bool, keys: &[WaitKey]) -> bool {
        if self.events & EPOLLET == 0 {
            return ready;
        }
        let sides = self.sides();
        let (watch, before) = match std::mem::take(&mut self.edge) {
            Edge::Seen(w, n) if w.watches(keys) => (w, Some(n)),
            Edge::Quiet => {
                let w = EdgeWatch::new(keys);
                let n = w.count(sides);
                (w, Some(n))
            }
            // A new interest, or its file's keys changed (a socket connected): a change.
            _ => (EdgeWatch::new(keys), None),
        };
        let now = watch.count(sides);
        self.edge = Edge::Seen(watch, now);
        ready && before != Some(now)
    }

    /// Whether the interest would report its file, which is `ready` with wait keys `keys`,
    /// without taking anything as seen (an epoll set polled inside another looks so).
    fn would_report(&self, ready: bool, keys: &[WaitKey]) -> bool {
        if !ready || self.disabled {
            return false;
        }
        if self.events & EPOLLET == 0 {
            return true;
        }
        match &self.edge {
            Edge::Seen(w, n) if w.watches(keys) => w.count(self.sides()) != *n,
            Edge::Quiet => false,
            _ => true,
        }
    }

    /// The events of its file that hold now, of those it asks for (errors and hang-ups
    /// always), as epoll_wait reports them; and the keys whose notification may change it.
    pub(crate) fn ready_events(&self, readiness: (i16, Vec<WaitKey>)) -> (u32, Vec<WaitKey>) {
        let (r, k) = readiness;
        let r = r as u16 as u32 & (self.events | libc::EPOLLERR as u32 | libc::EPOLLHUP as u32);
        (r, k)
    }

    /// What epoll_wait asks its file for.
    pub(crate) fn poll_events(&self) -> i16 {
        (self.events & 0xffff) as i16 | libc::POLLERR | libc::POLLHUP
    }

    /// Whether an edge-triggered interest has a change it has not reported (what its saved
    /// form keeps).
    fn edge_pending(&self) -> bool {
        match &self.edge {
            Edge::Pending => self.events & EPOLLET != 0,
            Edge::Seen(w, n) => w.count(self.sides()) != *n,
            Edge::Quiet => false,
        }
    }
}

/// An interest's key: the fd it was added under and its open file (the address of the
/// file's cell, which stays allocated while the interest's weak reference lives).
pub(crate) type InterestKey = (i32, usize);

/// The key of the interest in `file` added under `fd`.
pub(crate) fn interest_key(fd: i32, file: &Rc<RefCell<OpenFile>>) -> InterestKey {
    (fd, Rc::as_ptr(file) as usize)
}

pub struct EpollSet {
    /// Kernel object id: the key epoll_wait parks on.
    pub id: u64,
    /// By target fd number (as given to EPOLL_CTL_ADD) and file.
    pub interests: BTreeMap<InterestKey, Interest>,
}

impl EpollSet {
    pub fn new(id: u64) -> Self {
        EpollSet {
            id,
            interests: BTreeMap::new(),
        }
    }

    /// Drops interests whose file is gone.
    pub fn prune(&mut self) {
        self.interests.retain(|_, i| i.file.strong_count() > 0);
    }

    /// The epoll sets it watches directly.
    fn nested(&self) -> Vec<EpollRef> {
        self.interests
            .values()
            .filter_map(|i| {
                let f = i.file.upgrade()?;
                let fb = f.try_borrow().ok()?;
                fb.kind::<EpollFile>().map(|e| e.set.clone())
            })
            .collect()
    }
}

/// The deepest chain of epoll sets an epoll set may watch below it, as Linux's
/// EP_MAX_NESTS: epoll_ctl refuses with ELOOP an addition that makes a deeper one.
pub(crate) const MAX_NESTS: usize = 4;

/// Why an epoll set may not watch another.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NestError {
    /// It is the set itself (EINVAL).
    Itself,
    /// The other watches the set, directly or not, or the chain would be too deep (ELOOP).
    Loop,
}

/// Whether `set` may watch `target`: not itself, not a set that watches `set` through a
/// chain of sets, not a chain more than [`MAX_NESTS`] deep.
pub(crate) fn may_watch(set: &EpollRef, target: &EpollRef) -> Result<(), NestError> {
    if Rc::ptr_eq(set, target) {
        return Err(NestError::Itself);
    }
    // Breadth first, a level per nesting; a restored image's loop not through `set` ends
    // at the depth limit.
    let mut level = vec![target.clone()];
    for _ in 0..MAX_NESTS {
        let mut next = Vec::new();
        for s in &level {
            let Ok(s) = s.try_borrow() else {
                return Err(NestError::Loop);
            };
            for n in s.nested() {
                if Rc::ptr_eq(&n, set) {
                    return Err(NestError::Loop);
                }
                next.push(n);
            }
        }
        if next.is_empty() {
            return Ok(());
        }
        level = next;
    }
    Err(NestError::Loop)
}

thread_local! {
    /// How many epoll sets deep a poll of nested sets is: a loop in a restored image ends.
    static POLL_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

pub(crate) type EpollRef = Rc<RefCell<EpollSet>>;

/// An epoll set as an open file. The set has a cell of its own: epoll_wait polls the
/// watched files while it holds the set, and one of them may be this very description
/// (through a dup).
pub struct EpollFile {
    pub set: EpollRef,
}

impl EpollFile {
    pub fn new(id: u64) -> Self {
        EpollFile {
            set: Rc::new(RefCell::new(EpollSet::new(id))),
        }
    }
}

/// The operations an epoll set lacks answer as the trait's defaults do: read and write are
/// EINVAL, its stat is an anonymous inode.
impl FileImpl for EpollFile {
    /// Readable when epoll_wait would report one of its files (without taking an
    /// edge-triggered change as seen), as Linux polls an epoll set watched by another.
    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let Ok(set) = self.set.try_borrow() else {
            // Its own epoll_wait is polling it (a restored image's set watching itself).
            return (0, Vec::new());
        };
        let mut keys = vec![WaitKey::Object(set.id)];
        let depth = POLL_DEPTH.with(|d| d.replace(d.get() + 1));
        let mut ready = false;
        if depth <= MAX_NESTS + 1 {
            for i in set.interests.values() {
                let Some(f) = i.file.upgrade() else { continue };
                let Ok(fb) = f.try_borrow() else { continue };
                let (r, k) = i.ready_events(fb.readiness(i.poll_events()));
                ready |= i.would_report(r != 0, &k);
                keys.extend(k);
            }
        }
        POLL_DEPTH.with(|d| d.set(depth));
        let r = if ready {
            libc::POLLIN | libc::POLLRDNORM
        } else {
            0
        };
        (r & events, keys)
    }
}

/// A saved epoll set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpollState {
    pub id: u64,
    /// Watched files that are still open somewhere (the others are gone).
    pub interests: Vec<InterestState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterestState {
    /// The target fd number, as given to EPOLL_CTL_ADD.
    pub fd: i32,
    /// The watched open file, by id.
    pub file: u64,
    pub events: u32,
    pub data: u64,
    pub disabled: bool,
    /// Edge-triggered: a change of the file is not reported yet.
    pub edge_pending: bool,
}

impl Persist for EpollFile {
    type State = EpollState;

    fn save(&self, cx: &mut SaveCtx) -> EpollState {
        let EpollFile { set } = self;
        let set = set.borrow();
        let EpollSet { id, interests } = &*set;
        let interests = interests
            .iter()
            .filter_map(|(&(fd, _), i)| {
                let Interest {
                    file,
                    events,
                    data,
                    disabled,
                    edge: _, // as whether a change is unreported
                } = i;
                let file = file.upgrade()?;
                Some(InterestState {
                    fd,
                    file: cx.file_id(&file),
                    events: *events,
                    data: *data,
                    disabled: *disabled,
                    edge_pending: i.edge_pending(),
                })
            })
            .collect();
        EpollState { id: *id, interests }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &EpollState) -> Result<Self, KindError> {
        cx.object_id(s.id);
        let f = EpollFile::new(s.id);
        let set = f.set.clone();
        let interests = s.interests.clone();
        cx.link(move |files| {
            let mut set = set.borrow_mut();
            for i in interests {
                let target = files.get(&i.file).ok_or(KindError::Missing {
                    what: "open file",
                    id: i.file,
                })?;
                let mut interest = Interest::new(target, i.events, i.data);
                interest.disabled = i.disabled;
                if !i.edge_pending {
                    interest.edge = Edge::Quiet;
                }
                set.interests.insert(interest_key(i.fd, target), interest);
            }
            Ok(())
        });
        Ok(f)
    }

    fn check(cx: &CheckCtx, s: &EpollState) -> Result<(), Invalid> {
        let mut seen = std::collections::BTreeSet::new();
        for i in &s.interests {
            if !seen.insert((i.fd, i.file)) {
                return Err(cx.bad(
                    "watched file",
                    format!("{} under fd {} twice", i.file, i.fd),
                ));
            }
            if !(0..FD_MAX).contains(&i.fd) {
                return Err(cx.bad("watched fd", format!("{} is out of range", i.fd)));
            }
            if !cx.has_file(i.file) {
                return Err(cx.bad("watched file", format!("{} does not exist", i.file)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::file::FileRef;
    use crate::ipc::pipe;
    use crate::persist::testing::{at, round_trip, table};

    fn watch(set: &EpollRef, fd: i32, f: &FileRef, events: u32) {
        let mut i = Interest::new(f, events, fd as u64 * 100);
        i.disabled = fd == 3;
        set.borrow_mut().interests.insert(interest_key(fd, f), i);
    }

    /// The two ends of pipe `id` and an epoll set of id `id + 1`.
    fn pipe_and_set(id: u64) -> (FileRef, FileRef, FileRef, EpollRef) {
        let (r, w) = pipe::pair(id);
        let r = OpenFile::new(Box::new(r), libc::O_RDONLY, "pipe:[]");
        let w = OpenFile::new(Box::new(w), libc::O_WRONLY, "pipe:[]");
        let ep = OpenFile::new(
            Box::new(EpollFile::new(id + 1)),
            libc::O_RDWR,
            "anon_inode:[eventpoll]",
        );
        let set = ep.borrow().kind::<EpollFile>().unwrap().set.clone();
        (r, w, ep, set)
    }

    fn interest(set: &EpollRef, fd: i32) -> std::cell::RefMut<'_, Interest> {
        std::cell::RefMut::map(set.borrow_mut(), |s| {
            s.interests
                .iter_mut()
                .find(|(k, _)| k.0 == fd)
                .map(|(_, i)| i)
                .unwrap()
        })
    }

    #[test]
    fn nested_sets_poll_through_and_loops_end() {
        let (r, w, ep, set) = pipe_and_set(40);
        watch(&set, 5, &r, libc::EPOLLIN as u32);
        let outer = OpenFile::new(
            Box::new(EpollFile::new(42)),
            libc::O_RDWR,
            "anon_inode:[eventpoll]",
        );
        let oset = outer.borrow().kind::<EpollFile>().unwrap().set.clone();
        watch(&oset, 4, &ep, libc::EPOLLIN as u32);
        assert_eq!(outer.borrow().readiness(libc::POLLIN).0, 0);
        w.borrow_mut().write(b"x", None).unwrap();
        assert_eq!(ep.borrow().readiness(libc::POLLIN).0, libc::POLLIN);
        let (rd, keys) = outer.borrow().readiness(libc::POLLIN | libc::POLLOUT);
        assert_eq!(rd, libc::POLLIN);
        // The outer set waits on its own key, the inner one's and the pipe's.
        assert!(keys.contains(&WaitKey::Object(42)) && keys.contains(&WaitKey::Object(41)));
        assert_eq!(may_watch(&set, &oset), Err(NestError::Loop));
        assert_eq!(may_watch(&set, &set), Err(NestError::Itself));
        assert_eq!(may_watch(&oset, &set), Ok(()));
        // A loop only a hostile image makes: polling it ends, not ready.
        watch(&set, 6, &outer, libc::EPOLLIN as u32);
        r.borrow_mut().read(1, None).unwrap();
        assert_eq!(outer.borrow().readiness(libc::POLLIN).0, 0);
        POLL_DEPTH.with(|d| assert_eq!(d.get(), 0));
    }

    #[test]
    fn a_set_comes_back_watching_the_restored_files() {
        let (r, w, ep, set) = pipe_and_set(30);
        watch(&set, 0, &r, libc::EPOLLIN as u32);
        // A dup of the set in the set itself, and a file no longer open anywhere.
        watch(&set, 3, &ep, libc::EPOLLIN as u32);
        let gone = OpenFile::new(
            Box::new(EpollFile::new(32)),
            libc::O_RDWR,
            "anon_inode:[eventpoll]",
        );
        watch(&set, 9, &gone, libc::EPOLLIN as u32);
        drop(gone);
        let t = table(&[&r, &w, &ep, &ep]);
        let (saved, back) = round_trip(&[&t]);
        assert_eq!(saved.files.len(), 3);
        let ep2 = at(&back[0], 2);
        let set2 = ep2.borrow().kind::<EpollFile>().unwrap().set.clone();
        let s = set2.borrow();
        assert_eq!(s.id, 31);
        assert_eq!(
            s.interests.keys().copied().collect::<Vec<_>>(),
            [interest_key(0, &at(&back[0], 0)), interest_key(3, &ep2)]
        );
        let i0 = &s.interests[&interest_key(0, &at(&back[0], 0))];
        assert!(Rc::ptr_eq(&i0.file.upgrade().unwrap(), &at(&back[0], 0)));
        assert_eq!(
            (i0.events, i0.data, i0.disabled),
            (libc::EPOLLIN as u32, 0, false)
        );
        let i3 = &s.interests[&interest_key(3, &ep2)];
        assert!(Rc::ptr_eq(&i3.file.upgrade().unwrap(), &ep2));
        assert_eq!((i3.data, i3.disabled), (300, true));
    }

    #[test]
    fn an_edge_triggered_interest_reports_each_change_once() {
        let (r, _w) = pipe::pair(40);
        let r = OpenFile::new(Box::new(r), libc::O_RDONLY, "pipe:[40]");
        let keys = [WaitKey::Object(40)];
        let mut et = Interest::new(&r, libc::EPOLLIN as u32 | EPOLLET, 0);
        let mut lt = Interest::new(&r, libc::EPOLLIN as u32, 0);
        assert!(
            et.may_report(true, &keys),
            "a new interest reports a ready file"
        );
        assert!(
            !et.may_report(true, &keys),
            "then not again without a change"
        );
        assert!(lt.may_report(true, &keys) && lt.may_report(true, &keys));
        assert!(!lt.may_report(false, &keys));
        crate::wait::count_edge(&keys[0], EDGE_OUT);
        assert!(
            !et.may_report(true, &keys),
            "a change of output is not EPOLLIN's"
        );
        crate::wait::count_edge(&keys[0], EDGE_IN);
        assert!(et.edge_pending());
        assert!(
            !et.may_report(false, &keys),
            "a change is not reported unready"
        );
        assert!(!et.may_report(true, &keys), "and is seen by the look");
        crate::wait::count_edge(&keys[0], EDGE_IN);
        assert!(et.may_report(true, &keys));
        // Keys that change (a socket connecting) count as a change.
        assert!(et.may_report(true, &[keys[0].clone(), WaitKey::Object(41)]));
    }

    #[test]
    fn an_unreported_edge_survives_a_round_trip_and_a_reported_one_does_not() {
        let (r, w, ep, set) = pipe_and_set(50);
        let et = libc::EPOLLIN as u32 | EPOLLET;
        // fd 0 reported its change; fd 4, a dup of it, saw the change but not reported.
        watch(&set, 0, &r, et);
        watch(&set, 4, &r, et);
        let keys = [WaitKey::Object(50)];
        assert!(interest(&set, 0).may_report(true, &keys));
        assert!(interest(&set, 4).may_report(true, &keys));
        crate::wait::count_edge(&keys[0], EDGE_IN);
        assert!(interest(&set, 0).may_report(true, &keys));
        let t = table(&[&r, &w, &ep, &ep, &r]);
        let (saved, back) = round_trip(&[&t]);
        let es = saved
            .files
            .iter()
            .find_map(|f| match &f.kind {
                crate::kinds::FileKindState::Epoll(e) => Some(e.clone()),
                _ => None,
            })
            .unwrap();
        let pending: Vec<_> = es
            .interests
            .iter()
            .map(|i| (i.fd, i.edge_pending))
            .collect();
        assert_eq!(pending, [(0, false), (4, true)]);
        let set2 = at(&back[0], 2)
            .borrow()
            .kind::<EpollFile>()
            .unwrap()
            .set
            .clone();
        let r2 = at(&back[0], 0);
        let keys2 = r2.borrow().readiness(libc::POLLIN).1;
        assert!(
            !interest(&set2, 0).may_report(true, &keys2),
            "reported: quiet"
        );
        assert!(
            interest(&set2, 4).may_report(true, &keys2),
            "unreported: fires"
        );
        assert!(!interest(&set2, 4).may_report(true, &keys2), "once");
    }
}
