//! What a parked system call waits for: wait keys, the vocabulary shared by everything
//! that can block a task (open files, child processes, futexes, host fds) and the kernel's
//! event loop, which wakes the tasks parked on a key.

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
    Private { mm: u64, addr: u64 },
    Shared { offset: u64 },
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
    /// memory-file offset
    Shared { offset: u64 },
}

impl FutexKey {
    pub fn save(&self) -> FutexKeyState {
        match *self {
            FutexKey::Private { mm, addr } => FutexKeyState::Private { mm, addr },
            FutexKey::Shared { offset } => FutexKeyState::Shared { offset },
        }
    }

    pub fn restore(s: &FutexKeyState) -> FutexKey {
        match *s {
            FutexKeyState::Private { mm, addr } => FutexKey::Private { mm, addr },
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
