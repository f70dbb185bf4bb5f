//! What a parked system call waits for: wait keys, the vocabulary shared by everything
//! that can block a task (open files, child processes, futexes, host fds) and the kernel's
//! event loop, which wakes the tasks parked on a key.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// What a parked system call waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WaitKey {
    /// A kernel object (pipe end, etc.), by id.
    Object(u64),
    /// A child of this thread group changed state.
    Child(i32),
    /// A futex.
    Futex(FutexKey),
    /// A host fd becoming readable (POLLIN) or writable (POLLOUT).
    HostFd(i32, i16),
    /// Only a signal or the deadline ends this wait.
    Nothing,
}

/// A futex: private ones are keyed by address space and virtual address, as Linux does;
/// shared ones by memory-file offset, so two address spaces mapping the same memory meet
/// on the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FutexKey {
    Private {
        mm: u64,
        addr: u64,
    },
    /// A shared futex on private memory: another futex than the private one there.
    MmShared {
        mm: u64,
        addr: u64,
    },
    Shared {
        offset: u64,
    },
}

/// What the signalfd readers and pollers of process `pid` wait on: notified when a
/// signal is queued to it or to one of its threads. (Kernel object ids never reach this
/// range.)
pub(crate) fn signals_of(pid: i32) -> WaitKey {
    WaitKey::Object(1 << 62 | pid as u32 as u64)
}

// ---- saved form ----

/// The saved form of a wait key. A host fd is not saved: only what was waited for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WaitKeyState {
    Object(u64),
    Child(i32),
    Futex(FutexKeyState),
    /// A host fd becoming ready for these poll events.
    HostFd {
        events: i16,
    },
    Nothing,
}

impl WaitKey {
    pub fn save(&self) -> WaitKeyState {
        match self {
            WaitKey::Object(id) => WaitKeyState::Object(*id),
            WaitKey::Child(p) => WaitKeyState::Child(*p),
            WaitKey::Futex(f) => WaitKeyState::Futex(f.save()),
            WaitKey::HostFd(_, events) => WaitKeyState::HostFd { events: *events },
            WaitKey::Nothing => WaitKeyState::Nothing,
        }
    }
}

/// The saved form of a futex key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FutexKeyState {
    /// (address space id, guest address)
    Private { mm: u64, addr: u64 },
    /// (address space id, guest address) of a shared futex on private memory
    MmShared { mm: u64, addr: u64 },
    /// memory-file offset
    Shared { offset: u64 },
}

impl FutexKey {
    pub fn save(&self) -> FutexKeyState {
        match *self {
            FutexKey::Private { mm, addr } => FutexKeyState::Private { mm, addr },
            FutexKey::MmShared { mm, addr } => FutexKeyState::MmShared { mm, addr },
            FutexKey::Shared { offset } => FutexKeyState::Shared { offset },
        }
    }

    pub fn restore(s: &FutexKeyState) -> FutexKey {
        match *s {
            FutexKeyState::Private { mm, addr } => FutexKey::Private { mm, addr },
            FutexKeyState::MmShared { mm, addr } => FutexKey::MmShared { mm, addr },
            FutexKeyState::Shared { offset } => FutexKey::Shared { offset },
        }
    }
}

// ---- wakeups made where the kernel is out of reach ----

thread_local! {
    /// Kernel objects whose waiters are to be woken (see [`wake_later`]).
    static LATER: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Asks the kernel to wake the tasks parked on object `id` before it next picks a task to
/// run. For objects that change one another without the kernel at hand: a socket whose
/// last descriptor is dropped (a close, an exit, a message in flight discarded) tells its
/// peer. The sentry serves one sandbox per thread, so the queue is the thread's.
pub(crate) fn wake_later(id: u64) {
    LATER.with(|l| {
        let mut l = l.borrow_mut();
        if !l.contains(&id) {
            l.push(id);
        }
    });
}

/// The objects [`wake_later`] queued since the last call.
pub(crate) fn take_later() -> Vec<u64> {
    LATER.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

// ---- timers of objects that wake their waiters when they expire ----

thread_local! {
    /// Kernel objects (timerfds) armed to expire, with when, on the host's monotonic clock
    /// (see [`arm_timer`]).
    static TIMERS: std::cell::RefCell<std::collections::BTreeMap<u64, u64>> =
        const { std::cell::RefCell::new(std::collections::BTreeMap::new()) };
}

/// Asks the kernel to wake the tasks parked on object `id` at `host_mono` ns on the host's
/// monotonic clock (replacing an earlier time for it). For objects that expire by
/// themselves without the kernel at hand: a timerfd. The sentry serves one sandbox per
/// thread, so the timers are the thread's.
pub(crate) fn arm_timer(id: u64, host_mono: u64) {
    TIMERS.with(|t| t.borrow_mut().insert(id, host_mono));
}

/// Object `id` no longer expires (disarmed, or gone).
pub(crate) fn disarm_timer(id: u64) {
    TIMERS.with(|t| t.borrow_mut().remove(&id));
}

/// The earliest time an armed object expires, on the host's monotonic clock.
pub(crate) fn next_timer() -> Option<u64> {
    TIMERS.with(|t| t.borrow().values().min().copied())
}

/// The objects whose time has come by `host_mono`, taken off the list.
pub(crate) fn due_timers(host_mono: u64) -> Vec<u64> {
    TIMERS.with(|t| {
        let mut t = t.borrow_mut();
        let due: Vec<u64> = t
            .iter()
            .filter(|&(_, &d)| d <= host_mono)
            .map(|(&id, _)| id)
            .collect();
        for id in &due {
            t.remove(id);
        }
        due
    })
}

// ---- host sockets, whose changes reach the event loop through one host epoll set ----

thread_local! {
    /// The epoll set of the host sockets of this thread's sandbox (made with the first),
    /// each registered edge-triggered with the id of the kernel object it backs.
    static HOST_EPOLL: std::cell::RefCell<Option<OwnedFd>> =
        const { std::cell::RefCell::new(None) };
}

/// Has the event loop wake the tasks parked on object `id` (and count an edge) whenever
/// host socket `fd` changes: data or a connection arrived, space freed, an error or
/// hang-up. The watch ends when `fd` is closed.
pub(crate) fn watch_host(fd: BorrowedFd, id: u64) -> Result<(), i32> {
    use std::os::fd::AsFd;
    HOST_EPOLL.with(|h| {
        let mut h = h.borrow_mut();
        if h.is_none() {
            *h = Some(epoll_create()?);
        }
        let ep = h.as_ref().expect("made above");
        epoll_add(ep.as_fd(), fd, id)
    })
}

thread_local! {
    /// Objects whose host socket went away without the host saying so (a connection reset
    /// at restore), reported with the host's changes.
    static HOST_GONE: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reports a change of object `id` with the host sockets' changes: its waiters wake (and
/// edge-triggered interests see an edge) once they are parked, at the event loop's next
/// turn.
pub(crate) fn host_gone(id: u64) {
    HOST_GONE.with(|g| g.borrow_mut().push(id));
}

/// The host epoll set the event loop sleeps on, if a host socket was ever made.
pub(crate) fn host_epoll() -> Option<i32> {
    HOST_EPOLL.with(|h| h.borrow().as_ref().map(|f| f.as_raw_fd()))
}

/// The objects whose host sockets changed since the last call, with the sides that did
/// ([`EDGE_IN`], [`EDGE_OUT`]).
pub(crate) fn take_host_changes() -> Vec<(u64, u8)> {
    use std::os::fd::AsFd;
    let mut gone: Vec<(u64, u8)> =
        HOST_GONE.with(|g| g.borrow_mut().drain(..).map(|id| (id, EDGE_ALL)).collect());
    let changed = HOST_EPOLL.with(|h| {
        let h = h.borrow();
        let Some(ep) = h.as_ref() else {
            return Vec::new();
        };
        epoll_drain(ep.as_fd())
            .into_iter()
            .map(|(id, ev)| {
                let mut sides = 0;
                let gone = (libc::EPOLLERR | libc::EPOLLHUP | libc::EPOLLRDHUP) as u32;
                if ev & (libc::EPOLLIN as u32 | gone) != 0 {
                    sides |= EDGE_IN;
                }
                if ev & (libc::EPOLLOUT as u32 | gone) != 0 {
                    sides |= EDGE_OUT;
                }
                (id, sides)
            })
            .collect::<Vec<_>>()
    });
    gone.extend(changed);
    gone
}

// ---- edges: the changes edge-triggered epoll interests compare ----

/// A change of input: data or a connection arrived, an end closed (EPOLLIN's edge).
pub(crate) const EDGE_IN: u8 = 1;
/// A change of output: space freed, an end closed (EPOLLOUT's edge).
pub(crate) const EDGE_OUT: u8 = 2;
/// Any change: what a notification that does not say which side changed counts as.
pub(crate) const EDGE_ALL: u8 = EDGE_IN | EDGE_OUT;

/// How many changes of each side a watched key has seen.
#[derive(Default)]
struct Edges {
    /// The [`EdgeWatch`]es holding the key: the entry goes with the last.
    watchers: u32,
    input: u64,
    output: u64,
}

thread_local! {
    /// The keys edge-triggered interests watch, with their change counts. Only watched
    /// keys are counted, so level-triggered waiting costs one failed lookup per
    /// notification. The sentry serves one sandbox per thread, so the counts are the
    /// thread's.
    static EDGES: std::cell::RefCell<std::collections::HashMap<WaitKey, Edges>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Counts a change on `key` (of the sides `sides`, [`EDGE_IN`]/[`EDGE_OUT`]) for the
/// edge-triggered interests that watch it. Called where the kernel wakes the key's
/// waiters.
pub(crate) fn count_edge(key: &WaitKey, sides: u8) {
    EDGES.with(|e| {
        if let Some(c) = e.borrow_mut().get_mut(key) {
            if sides & EDGE_IN != 0 {
                c.input += 1;
            }
            if sides & EDGE_OUT != 0 {
                c.output += 1;
            }
        }
    });
}

/// An edge-triggered interest's hold on the keys of its file: while it lives, changes
/// on them are counted.
#[derive(Debug)]
pub(crate) struct EdgeWatch {
    keys: Vec<WaitKey>,
}

impl EdgeWatch {
    pub(crate) fn new(keys: &[WaitKey]) -> Self {
        let mut own: Vec<WaitKey> = Vec::with_capacity(keys.len());
        for k in keys {
            if !own.contains(k) {
                own.push(k.clone());
            }
        }
        EDGES.with(|e| {
            let mut e = e.borrow_mut();
            for k in &own {
                e.entry(k.clone()).or_default().watchers += 1;
            }
        });
        EdgeWatch { keys: own }
    }

    /// Whether it watches exactly the keys of `keys` (a file's keys change when, say, a
    /// socket connects).
    pub(crate) fn watches(&self, keys: &[WaitKey]) -> bool {
        keys.iter().all(|k| self.keys.contains(k)) && self.keys.iter().all(|k| keys.contains(k))
    }

    /// The changes of the sides `sides` counted so far on its keys.
    pub(crate) fn count(&self, sides: u8) -> u64 {
        EDGES.with(|e| {
            let e = e.borrow();
            let mut n = 0u64;
            for c in self.keys.iter().filter_map(|k| e.get(k)) {
                if sides & EDGE_IN != 0 {
                    n = n.wrapping_add(c.input);
                }
                if sides & EDGE_OUT != 0 {
                    n = n.wrapping_add(c.output);
                }
            }
            n
        })
    }
}

impl Drop for EdgeWatch {
    fn drop(&mut self) {
        // A thread's locals may be gone when a sandbox's last objects are dropped at
        // thread exit: there is nothing left to count then.
        let _ = EDGES.try_with(|e| {
            let mut e = e.borrow_mut();
            for k in &self.keys {
                if let Some(c) = e.get_mut(k) {
                    c.watchers -= 1;
                    if c.watchers == 0 {
                        e.remove(k);
                    }
                }
            }
        });
    }
}

// ---- the epoll set that tells the event loop about host sockets ----

/// A new epoll fd.
fn epoll_create() -> Result<OwnedFd, i32> {
    // SAFETY: epoll_create1 takes no pointers.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: `fd` was just returned and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds `fd` to epoll set `ep`, edge-triggered for input, output, errors and hang-ups,
/// with `data` as the event's data.
fn epoll_add(ep: BorrowedFd, fd: BorrowedFd, data: u64) -> Result<(), i32> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: data,
    };
    // SAFETY: `ev` is a valid epoll_event for the call.
    let r =
        unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// The events queued on epoll set `ep`, without waiting: (data, events).
fn epoll_drain(ep: BorrowedFd) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    loop {
        // SAFETY: epoll_event is plain data; all-zero is valid.
        let mut evs: [libc::epoll_event; 64] = unsafe { std::mem::zeroed() };
        // SAFETY: `evs` is writable for 64 events.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), evs.as_mut_ptr(), 64, 0) };
        if n <= 0 {
            return out;
        }
        out.extend(evs[..n as usize].iter().map(|e| (e.u64, e.events)));
        if (n as usize) < evs.len() {
            return out;
        }
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_counted_by_side_while_watched() {
        let a = WaitKey::Object(7001);
        let b = WaitKey::Object(7002);
        count_edge(&a, EDGE_ALL);
        let w = EdgeWatch::new(&[a.clone(), b.clone(), a.clone()]);
        assert_eq!(
            w.count(EDGE_ALL),
            0,
            "changes before the watch are not counted"
        );
        count_edge(&a, EDGE_IN);
        count_edge(&b, EDGE_OUT);
        count_edge(&WaitKey::Object(7003), EDGE_ALL);
        assert_eq!((w.count(EDGE_IN), w.count(EDGE_OUT)), (1, 1));
        assert!(w.watches(&[b.clone(), a.clone()]));
        assert!(!w.watches(std::slice::from_ref(&a)));
        let w2 = EdgeWatch::new(std::slice::from_ref(&a));
        let base = w2.count(EDGE_ALL);
        drop(w);
        count_edge(&a, EDGE_OUT);
        assert_eq!(
            w2.count(EDGE_ALL),
            base + 1,
            "the key stays counted for its other watcher"
        );
        drop(w2);
        EDGES.with(|e| assert!(e.borrow().is_empty(), "the last watch takes its keys"));
    }
}
