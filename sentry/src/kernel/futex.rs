//! Futex keys. Private futexes are keyed by address space and virtual address, as Linux
//! does; shared ones by memory-file offset, so two address spaces mapping the same memory
//! meet on the same key.

use super::task::RunState;
use super::Kernel;
pub(crate) use crate::wait::{FutexKey, FutexKeyState};

/// A task waiting on a futex, with its wake bitset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub tid: i32,
    pub key: FutexKey,
    pub bitset: u32,
}

/// The saved form of a futex waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WaiterState {
    pub tid: i32,
    pub key: FutexKeyState,
    pub bitset: u32,
}

impl Waiter {
    pub(crate) fn save(&self) -> WaiterState {
        let Waiter { tid, key, bitset } = *self;
        WaiterState {
            tid,
            key: key.save(),
            bitset,
        }
    }

    pub(crate) fn restore(s: &WaiterState) -> Waiter {
        Waiter {
            tid: s.tid,
            key: FutexKey::restore(&s.key),
            bitset: s.bitset,
        }
    }
}

impl Kernel {
    // ---- futexes ----

    pub(crate) fn futex_key(&self, tid: i32, addr: u64, private: bool) -> FutexKey {
        let mm_id = self.tasks[&tid].mm;
        let mm = &self.mms[&mm_id].mm;
        if !private {
            if let Some((s, v)) = mm.find(addr) {
                if v.shared {
                    return FutexKey::Shared {
                        offset: v.off + (addr - s),
                    };
                }
            }
        }
        FutexKey::Private { mm: mm_id, addr }
    }

    /// Wakes up to `n` waiters on `key` whose bitset matches. Returns how many.
    /// As Linux, a count of 0 still wakes one waiter (the count is checked after a wake).
    pub(crate) fn futex_wake(&mut self, key: FutexKey, n: u32, bitset: u32) -> u32 {
        let n = n.max(1);
        let mut woken = 0;
        let mut i = 0;
        while i < self.futex_waiters.len() && woken < n {
            let w = self.futex_waiters[i];
            if w.key == key && w.bitset & bitset != 0 {
                self.futex_waiters.remove(i);
                woken += 1;
                if let Some(t) = self.tasks.get_mut(&w.tid) {
                    if matches!(t.state, RunState::Parked(_)) {
                        t.state = RunState::Stopped;
                        t.regs.rax = 0;
                        t.sys_deadline = None;
                        self.deliver_and_resume(w.tid);
                    }
                }
            } else {
                i += 1;
            }
        }
        woken
    }

    /// Whether task `tid` waits on a futex.
    pub(crate) fn futex_waiting(&self, tid: i32) -> bool {
        self.futex_waiters.iter().any(|w| w.tid == tid)
    }

    /// Task `tid` waits on `key` for a wake whose bitset meets `bitset`.
    pub(crate) fn futex_enqueue(&mut self, tid: i32, key: FutexKey, bitset: u32) {
        self.futex_waiters.push(Waiter { tid, key, bitset });
    }

    /// Task `tid` waits on no futex any more.
    pub(crate) fn futex_dequeue(&mut self, tid: i32) {
        self.futex_waiters.retain(|w| w.tid != tid);
    }

    /// Moves up to `max` waiters of `from` to `to`, in order. Returns how many.
    pub(crate) fn futex_requeue(&mut self, from: FutexKey, to: FutexKey, max: u32) -> u32 {
        let mut moved = 0;
        for w in self.futex_waiters.iter_mut() {
            if moved >= max {
                break;
            }
            if w.key == from {
                w.key = to;
                moved += 1;
            }
        }
        moved
    }
}
