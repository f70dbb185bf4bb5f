//! Futex keys, waiters, priority-inheritance futexes and robust lists. Private futexes
//! are keyed by address space and virtual address, as Linux does; shared ones by
//! memory-file offset, so two address spaces mapping the same memory meet on the same key
//! (a shared futex on private memory by address space and address, but apart from the
//! private futex there, as Linux's FUT_OFF_MMSHARED).

use super::task::RunState;
use super::Kernel;
use crate::mm::Errno;
pub(crate) use crate::wait::{FutexKey, FutexKeyState};

/// The futex word's bit that says the kernel has waiters for it (PI and robust futexes).
pub(crate) const FUTEX_WAITERS: u32 = 0x8000_0000;
/// The futex word's bit that says its owner died holding it (robust futexes).
pub(crate) const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
/// The futex word's owner thread id (PI and robust futexes).
pub(crate) const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// How many entries of a robust list an exit walks at most (Linux's ROBUST_LIST_LIMIT):
/// a circular or hostile list ends there.
const ROBUST_LIST_LIMIT: usize = 2048;

/// How often an operation on a futex word retries when the guest changed the word
/// between the read and the compare-and-exchange.
const CAS_TRIES: usize = 128;

/// A task waiting on a futex, with its wake bitset; `pi`: waiting to own a
/// priority-inheritance futex (FUTEX_LOCK_PI), which only its owner's unlock hands over;
/// `requeue_pi`: waiting in FUTEX_WAIT_REQUEUE_PI for a FUTEX_CMP_REQUEUE_PI to move it
/// to that PI futex (the only one it may be moved to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub tid: i32,
    pub key: FutexKey,
    pub bitset: u32,
    pub pi: bool,
    pub requeue_pi: Option<FutexKey>,
}

/// The saved form of a futex waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WaiterState {
    pub tid: i32,
    pub key: FutexKeyState,
    pub bitset: u32,
    pub pi: bool,
    pub requeue_pi: Option<FutexKeyState>,
}

impl Waiter {
    pub(crate) fn save(&self) -> WaiterState {
        let Waiter {
            tid,
            key,
            bitset,
            pi,
            requeue_pi,
        } = *self;
        WaiterState {
            tid,
            key: key.save(),
            bitset,
            pi,
            requeue_pi: requeue_pi.map(|k| k.save()),
        }
    }

    pub(crate) fn restore(s: &WaiterState) -> Waiter {
        Waiter {
            tid: s.tid,
            key: FutexKey::restore(&s.key),
            bitset: s.bitset,
            pi: s.pi,
            requeue_pi: s.requeue_pi.as_ref().map(FutexKey::restore),
        }
    }
}

impl Kernel {
    // ---- futexes ----

    pub(crate) fn futex_key(&self, tid: i32, addr: u64, private: bool) -> FutexKey {
        let mm_id = self.tasks[&tid].mm;
        let mm = &self.mms[&mm_id].mm;
        if private {
            return FutexKey::Private { mm: mm_id, addr };
        }
        match mm.find(addr) {
            Some((s, v)) if v.shared => FutexKey::Shared {
                offset: v.off + (addr - s),
            },
            _ => FutexKey::MmShared { mm: mm_id, addr },
        }
    }

    /// Atomically replaces the futex word at `addr` (4-aligned) by `new` if it is `old`,
    /// as the guest's own atomic instructions see it. Returns the value found (`old`
    /// when replaced). EFAULT unless the word is writable, as Linux.
    pub(crate) fn futex_cmpxchg(
        &mut self,
        tid: i32,
        addr: u64,
        old: u32,
        new: u32,
    ) -> Result<u32, Errno> {
        if !addr.is_multiple_of(4) {
            return Err(libc::EINVAL);
        }
        self.with_mm(tid, |mm, cx| {
            mm.fill_with(cx, &[(addr, 4)], |bufs| {
                // A 4-aligned word lies in one page, so in one piece.
                let [buf] = bufs else {
                    return Err(libc::EFAULT);
                };
                let p = buf.as_mut_ptr().cast::<u32>();
                if buf.len() != 4 || !p.is_aligned() {
                    return Err(libc::EFAULT);
                }
                // SAFETY: `p` points at 4 aligned bytes of the sentry's mapping of the
                // memory file, which stays mapped while the sentry runs; the guest may
                // change them concurrently, through atomics as this one.
                let word = unsafe { std::sync::atomic::AtomicU32::from_ptr(p) };
                use std::sync::atomic::Ordering::SeqCst;
                Ok(word
                    .compare_exchange(old, new, SeqCst, SeqCst)
                    .unwrap_or_else(|v| v))
            })?
        })
    }

    /// Resumes task `tid`, parked in a futex call, with a return value of 0.
    fn futex_resume(&mut self, tid: i32) {
        if let Some(t) = self.tasks.get_mut(&tid) {
            if matches!(t.state, RunState::Parked(_)) {
                t.state = RunState::Stopped;
                // The call ends as any other (a tracee's exit stop).
                self.finish(tid, super::Sys::Ret(0));
            }
        }
    }

    /// The first task waiting to own PI futex `key`, and whether another waits after it.
    fn pi_next(&self, key: FutexKey) -> (Option<usize>, bool) {
        let mut it = self
            .futex_waiters
            .iter()
            .enumerate()
            .filter(|(_, w)| w.pi && w.key == key)
            .map(|(i, _)| i);
        (it.next(), it.next().is_some())
    }

    /// FUTEX_LOCK_PI's and FUTEX_TRYLOCK_PI's attempt to own the PI futex at `addr` for
    /// `tid`: true when it does now (the word holds its id); false when a live thread owns
    /// it (then, when `wait`, the word gets FUTEX_WAITERS so that the owner's unlock comes
    /// to the kernel). EDEADLK when `tid` owns it already; ESRCH when the owner named by
    /// the word does not exist and did not die holding it (FUTEX_OWNER_DIED, which the
    /// new owner takes over and finds in the word).
    pub(crate) fn futex_lock_pi(
        &mut self,
        tid: i32,
        addr: u64,
        key: FutexKey,
        wait: bool,
    ) -> Result<bool, Errno> {
        self.futex_lock_pi_for(tid, tid, addr, key, wait)
    }

    /// `futex_lock_pi` by task `tid` (whose memory holds the word) for task `owner`
    /// (FUTEX_CMP_REQUEUE_PI gives the futex to a waiter so).
    fn futex_lock_pi_for(
        &mut self,
        tid: i32,
        owner: i32,
        addr: u64,
        key: FutexKey,
        wait: bool,
    ) -> Result<bool, Errno> {
        let me = owner as u32 & FUTEX_TID_MASK;
        for _ in 0..CAS_TRIES {
            let cur = self.read_u32(tid, addr)?;
            let owner = cur & FUTEX_TID_MASK;
            let waiters = if self.pi_next(key).0.is_some() {
                FUTEX_WAITERS
            } else {
                0
            };
            let new = if owner == me {
                return Err(libc::EDEADLK);
            } else if owner == 0
                || (cur & FUTEX_OWNER_DIED != 0 && !self.tasks.contains_key(&(owner as i32)))
            {
                me | (cur & FUTEX_OWNER_DIED) | waiters
            } else if !self.tasks.contains_key(&(owner as i32)) {
                return Err(libc::ESRCH);
            } else if !wait || cur & FUTEX_WAITERS != 0 {
                return Ok(false);
            } else {
                cur | FUTEX_WAITERS
            };
            if self.futex_cmpxchg(tid, addr, cur, new)? == cur {
                return Ok(new & FUTEX_TID_MASK == me);
            }
        }
        Err(libc::EAGAIN)
    }

    /// FUTEX_UNLOCK_PI: `tid` gives up the PI futex at `addr` (EPERM unless the word
    /// names it): to the first thread waiting for it, which returns from its
    /// FUTEX_LOCK_PI owning it (the word holds its id and FUTEX_WAITERS, as Linux's), or
    /// to nobody (0).
    pub(crate) fn futex_unlock_pi(
        &mut self,
        tid: i32,
        addr: u64,
        key: FutexKey,
    ) -> Result<(), Errno> {
        for _ in 0..CAS_TRIES {
            let cur = self.read_u32(tid, addr)?;
            if cur & FUTEX_TID_MASK != tid as u32 & FUTEX_TID_MASK {
                return Err(libc::EPERM);
            }
            if self.futex_hand_over(tid, addr, key, cur, 0)? {
                return Ok(());
            }
        }
        Err(libc::EAGAIN)
    }

    /// Replaces the PI futex word at `addr`, found `cur`, by the id of the first thread
    /// waiting for it (with FUTEX_WAITERS and `keep` of `cur`'s bits), which is resumed
    /// owning it, or by `keep` of `cur`'s bits when none waits. False when the guest
    /// changed the word meanwhile (nothing done).
    fn futex_hand_over(
        &mut self,
        tid: i32,
        addr: u64,
        key: FutexKey,
        cur: u32,
        keep: u32,
    ) -> Result<bool, Errno> {
        let (next, _) = self.pi_next(key);
        let new = match next {
            Some(i) => {
                self.futex_waiters[i].tid as u32 & FUTEX_TID_MASK | FUTEX_WAITERS | (cur & keep)
            }
            None => cur & keep,
        };
        if self.futex_cmpxchg(tid, addr, cur, new)? != cur {
            return Ok(false);
        }
        if let Some(i) = next {
            let w = self.futex_waiters.remove(i);
            self.futex_resume(w.tid);
        }
        Ok(true)
    }

    /// A thread's exit walks its robust list (set_robust_list), as Linux's
    /// exit_robust_list: each futex it still owns gets FUTEX_OWNER_DIED (keeping
    /// FUTEX_WAITERS) and one waiter woken, a PI one is handed to its first waiter. The
    /// list is the guest's: a bad pointer ends the walk, a loop ends at
    /// ROBUST_LIST_LIMIT entries.
    pub(crate) fn exit_robust_list(&mut self, tid: i32) {
        let head = self.tasks[&tid].robust_list;
        if head == 0 {
            return;
        }
        let word = |k: &Kernel, a: u64| k.read_u64(tid, a).ok();
        let (Some(mut entry), Some(offset), Some(pending)) = (
            word(self, head),
            word(self, head.wrapping_add(8)),
            word(self, head.wrapping_add(16)),
        ) else {
            return;
        };
        let futex_at = |e: u64| (e & !1).wrapping_add(offset);
        for _ in 0..ROBUST_LIST_LIMIT {
            if entry == head {
                break;
            }
            // The next entry is read before this one's futex changes: a waiter woken
            // may free it.
            let next = word(self, entry & !1);
            if entry != pending {
                self.futex_owner_died(tid, futex_at(entry), entry & 1 != 0, false);
            }
            match next {
                Some(n) => entry = n,
                None => break,
            }
        }
        if pending != 0 {
            self.futex_owner_died(tid, futex_at(pending), pending & 1 != 0, true);
        }
    }

    /// Linux's handle_futex_death for the futex at `addr` of dying thread `tid`.
    /// `pending`: the futex the thread was locking or unlocking when it died (its
    /// list_op_pending); an unowned one there gets a waiter woken that may be waiting
    /// for it.
    fn futex_owner_died(&mut self, tid: i32, addr: u64, pi: bool, pending: bool) {
        if !addr.is_multiple_of(4) {
            return;
        }
        let key = self.futex_key(tid, addr, false);
        for _ in 0..CAS_TRIES {
            let Ok(cur) = self.read_u32(tid, addr) else {
                return;
            };
            if pending && !pi && cur == 0 {
                self.futex_wake(key, 1, u32::MAX);
                return;
            }
            if cur & FUTEX_TID_MASK != tid as u32 & FUTEX_TID_MASK {
                return;
            }
            let done = if pi && self.pi_next(key).0.is_some() {
                self.futex_hand_over(tid, addr, key, cur | FUTEX_OWNER_DIED, FUTEX_OWNER_DIED)
            } else {
                let new = (cur & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
                self.futex_cmpxchg(tid, addr, cur, new).map(|v| v == cur)
            };
            match done {
                Ok(true) => {
                    if !pi && cur & FUTEX_WAITERS != 0 {
                        self.futex_wake(key, 1, u32::MAX);
                    }
                    return;
                }
                Ok(false) => continue,
                Err(_) => return,
            }
        }
    }

    /// Wakes up to `n` waiters on `key` whose bitset matches. Returns how many.
    /// As Linux, a count of 0 still wakes one waiter (the count is checked after a wake).
    pub(crate) fn futex_wake(&mut self, key: FutexKey, n: u32, bitset: u32) -> u32 {
        let n = n.max(1);
        let mut woken = 0;
        let mut i = 0;
        while i < self.futex_waiters.len() && woken < n {
            let w = self.futex_waiters[i];
            if w.key == key && !w.pi && w.bitset & bitset != 0 {
                self.futex_waiters.remove(i);
                woken += 1;
                self.futex_resume(w.tid);
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
    /// `pi`: it waits to own a PI futex (FUTEX_LOCK_PI).
    pub(crate) fn futex_enqueue(&mut self, tid: i32, key: FutexKey, bitset: u32, pi: bool) {
        self.futex_waiters.push(Waiter {
            tid,
            key,
            bitset,
            pi,
            requeue_pi: None,
        });
    }

    /// FUTEX_WAIT_REQUEUE_PI: task `tid` waits on `key` until a FUTEX_CMP_REQUEUE_PI moves
    /// it to PI futex `target`.
    pub(crate) fn futex_enqueue_requeue_pi(&mut self, tid: i32, key: FutexKey, target: FutexKey) {
        self.futex_waiters.push(Waiter {
            tid,
            key,
            bitset: u32::MAX,
            pi: false,
            requeue_pi: Some(target),
        });
    }

    /// Whether a waiter on `key` waits in FUTEX_WAIT_REQUEUE_PI (a plain wake or requeue
    /// of `key` is EINVAL then, as Linux).
    pub(crate) fn futex_has_requeue_pi(&self, key: FutexKey) -> bool {
        self.futex_waiters
            .iter()
            .any(|w| w.key == key && w.requeue_pi.is_some())
    }

    /// FUTEX_CMP_REQUEUE_PI by task `tid`: the first waiter on `from` (each one waiting in
    /// FUTEX_WAIT_REQUEUE_PI for PI futex `to` at `addr2`, else EINVAL) is given that
    /// futex if nobody owns it (it returns owning it); up to `max` others (and the first
    /// too if the futex is owned) then wait to own it as FUTEX_LOCK_PI waiters, the word
    /// getting FUTEX_WAITERS. Returns how many were woken or moved.
    pub(crate) fn futex_cmp_requeue_pi(
        &mut self,
        tid: i32,
        from: FutexKey,
        to: FutexKey,
        addr2: u64,
        max: u32,
    ) -> Result<u32, Errno> {
        let waiting: Vec<usize> = self
            .futex_waiters
            .iter()
            .enumerate()
            .filter(|(_, w)| w.key == from && !w.pi)
            .map(|(i, _)| i)
            .collect();
        if waiting
            .iter()
            .any(|&i| self.futex_waiters[i].requeue_pi != Some(to))
        {
            return Err(libc::EINVAL);
        }
        let Some(&first) = waiting.first() else {
            return Ok(0);
        };
        let mut done = 0;
        // The first waiter takes the futex if it is free (as Linux's
        // futex_proxy_trylock_atomic), a dead owner's included.
        let w = self.futex_waiters[first];
        let taken = self.futex_lock_pi_for(tid, w.tid, addr2, to, false)?;
        if taken {
            self.futex_waiters.remove(first);
            self.futex_resume(w.tid);
            done += 1;
        }
        // As Linux, the first waiter, when not woken, is moved in the place of the wake.
        let max = if taken { max } else { max.saturating_add(1) };
        let mut n = 0;
        for w in self.futex_waiters.iter_mut() {
            if n >= max {
                break;
            }
            if w.key == from && !w.pi && w.requeue_pi == Some(to) {
                w.key = to;
                w.pi = true;
                w.requeue_pi = None;
                n += 1;
            }
        }
        if n > 0 {
            // Waiters now wait to own it: its owner's unlock must come to the kernel.
            for _ in 0..CAS_TRIES {
                let cur = self.read_u32(tid, addr2)?;
                if cur & FUTEX_WAITERS != 0
                    || self.futex_cmpxchg(tid, addr2, cur, cur | FUTEX_WAITERS)? == cur
                {
                    break;
                }
            }
        }
        Ok(done + n)
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
            if w.key == from && !w.pi {
                w.key = to;
                moved += 1;
            }
        }
        moved
    }
}
