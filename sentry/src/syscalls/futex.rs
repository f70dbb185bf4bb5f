//! futex(2): wait, wake, requeue, wake-op, bitset variants, priority-inheritance locks;
//! private and shared.

use super::ret;
use crate::kernel::futex::FutexKey;
use crate::kernel::task::{Park, WaitKey};
use crate::kernel::{err, Sys, SysCtx};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAKE_OP: i32 = 5;
const FUTEX_LOCK_PI: i32 = 6;
const FUTEX_UNLOCK_PI: i32 = 7;
const FUTEX_TRYLOCK_PI: i32 = 8;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_WAIT_REQUEUE_PI: i32 = 11;
const FUTEX_CMP_REQUEUE_PI: i32 = 12;
const FUTEX_LOCK_PI2: i32 = 13;
const FUTEX_PRIVATE: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;

pub(super) fn futex(c: &mut SysCtx) -> Sys {
    let [uaddr, op, val, timeout, uaddr2, val3] = c.args();
    let (op, val, val3) = (op as i32, val as u32, val3 as u32);
    let private = op & FUTEX_PRIVATE != 0;
    let cmd = op & !(FUTEX_PRIVATE | FUTEX_CLOCK_REALTIME);
    if uaddr % 4 != 0 {
        return err(libc::EINVAL);
    }
    if op & FUTEX_CLOCK_REALTIME != 0
        && !matches!(
            cmd,
            FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_LOCK_PI2 | FUTEX_WAIT_REQUEUE_PI
        )
    {
        return err(libc::ENOSYS);
    }
    let key = c.futex_key(uaddr, private);
    match cmd {
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI => {
            lock_pi(c, uaddr, key, cmd, op & FUTEX_CLOCK_REALTIME != 0, timeout)
        }
        FUTEX_UNLOCK_PI => ret(c.futex_unlock_pi(uaddr, key).map(|_| 0)),
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { u32::MAX } else { val3 };
            if bitset == 0 {
                return err(libc::EINVAL);
            }
            let deadline = if timeout != 0 {
                if let Some(d) = c.sys_deadline() {
                    Some(d)
                } else {
                    let ns = tryk!(c.read_timespec(timeout));
                    let d = if cmd == FUTEX_WAIT_BITSET {
                        let clock = if op & FUTEX_CLOCK_REALTIME != 0 {
                            libc::CLOCK_REALTIME
                        } else {
                            libc::CLOCK_MONOTONIC
                        };
                        c.clocks().to_mono_deadline(clock, ns)
                    } else {
                        c.now() + ns
                    };
                    Some(c.deadline_at(d))
                }
            } else {
                None
            };
            let waiting = c.futex_waiting();
            if let Some(d) = deadline {
                if c.now() >= d {
                    c.futex_dequeue();
                    return err(libc::ETIMEDOUT);
                }
            }
            if waiting {
                // Still waiting (a re-run for a timer check): keep the current key.
                return Sys::Park(Park {
                    keys: vec![WaitKey::Nothing],
                    deadline,
                });
            }
            let cur = tryk!(c.read_u32(uaddr));
            if cur != val {
                return err(libc::EAGAIN);
            }
            c.futex_enqueue(key, bitset);
            Sys::Park(Park {
                keys: vec![WaitKey::Nothing],
                deadline,
            })
        }
        FUTEX_WAIT_REQUEUE_PI => wait_requeue_pi(c, uaddr, key, val, op, timeout, uaddr2),
        FUTEX_CMP_REQUEUE_PI => {
            // One waiter is woken (given the PI futex), `timeout` is how many are moved.
            if val != 1 || (timeout as i32) < 0 || !uaddr2.is_multiple_of(4) {
                return err(libc::EINVAL);
            }
            let key2 = c.futex_key(uaddr2, private);
            if key2 == key {
                return err(libc::EINVAL);
            }
            if tryk!(c.read_u32(uaddr)) != val3 {
                return err(libc::EAGAIN);
            }
            ret(c
                .futex_cmp_requeue_pi(key, key2, uaddr2, timeout as u32)
                .map(|n| n as i64))
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { u32::MAX } else { val3 };
            if bitset == 0 || c.futex_has_requeue_pi(key) {
                return err(libc::EINVAL);
            }
            Sys::Ret(c.futex_wake(key, val, bitset) as i64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if c.futex_has_requeue_pi(key) {
                return err(libc::EINVAL);
            }
            if cmd == FUTEX_CMP_REQUEUE {
                let cur = tryk!(c.read_u32(uaddr));
                if cur != val3 {
                    return err(libc::EAGAIN);
                }
            }
            let key2 = c.futex_key(uaddr2, private);
            let woken = c.futex_wake(key, val, u32::MAX);
            let moved = c.futex_requeue(key, key2, timeout as u32);
            Sys::Ret((woken + if cmd == FUTEX_CMP_REQUEUE { moved } else { 0 }) as i64)
        }
        FUTEX_WAKE_OP => {
            let key2 = c.futex_key(uaddr2, private);
            let old = tryk!(c.read_u32(uaddr2));
            let (opn, cmp) = ((val3 >> 28) & 0xf, (val3 >> 24) & 0xf);
            let mut oparg = (val3 >> 12) & 0xfff;
            let cmparg = val3 & 0xfff;
            if opn & 8 != 0 {
                oparg = 1u32.checked_shl(oparg).unwrap_or(0);
            }
            let new = match opn & 7 {
                0 => oparg,
                1 => old.wrapping_add(oparg),
                2 => old | oparg,
                3 => old & !oparg,
                4 => old ^ oparg,
                _ => return err(libc::ENOSYS),
            };
            tryk!(c.write_u32(uaddr2, new));
            let mut n = c.futex_wake(key, val, u32::MAX);
            let hit = match cmp {
                0 => old == cmparg,
                1 => old != cmparg,
                2 => (old as i32) < cmparg as i32,
                3 => (old as i32) <= cmparg as i32,
                4 => (old as i32) > cmparg as i32,
                5 => (old as i32) >= cmparg as i32,
                _ => return err(libc::ENOSYS),
            };
            if hit {
                n += c.futex_wake(key2, timeout as u32, u32::MAX);
            }
            Sys::Ret(n as i64)
        }
        _ => {
            c.log_unimplemented(libc::SYS_futex as u64);
            err(libc::ENOSYS)
        }
    }
}

/// FUTEX_WAIT_REQUEUE_PI: waits on `uaddr` while it holds `val` until a
/// FUTEX_CMP_REQUEUE_PI moves the task to the PI futex at `uaddr2` and it owns that
/// (returns 0), or the absolute `timeout` (CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME)
/// passes.
fn wait_requeue_pi(
    c: &mut SysCtx,
    uaddr: u64,
    key: FutexKey,
    val: u32,
    op: i32,
    timeout: u64,
    uaddr2: u64,
) -> Sys {
    if !uaddr2.is_multiple_of(4) {
        return err(libc::EINVAL);
    }
    let key2 = c.futex_key(uaddr2, op & FUTEX_PRIVATE != 0);
    if key2 == key {
        return err(libc::EINVAL);
    }
    let clock = if op & FUTEX_CLOCK_REALTIME != 0 {
        libc::CLOCK_REALTIME
    } else {
        libc::CLOCK_MONOTONIC
    };
    let deadline = tryk!(absolute_deadline(c, timeout, clock));
    if c.futex_waiting() {
        // A re-run: the requeue that gives it the PI futex, or the unlock that hands it
        // over, resumes the task.
        return still_waiting(c, deadline);
    }
    if deadline.is_some_and(|d| c.now() >= d) {
        return err(libc::ETIMEDOUT);
    }
    if tryk!(c.read_u32(uaddr)) != val {
        return err(libc::EAGAIN);
    }
    c.futex_enqueue_requeue_pi(key, key2);
    park(deadline)
}

/// The deadline of a futex wait until the absolute time at `timeout` (a timespec's
/// address; 0: none) on `clock`, as a monotonic time kept across re-runs of the call.
fn absolute_deadline(c: &mut SysCtx, timeout: u64, clock: i32) -> Result<Option<u64>, i32> {
    if timeout == 0 {
        return Ok(None);
    }
    if let Some(d) = c.sys_deadline() {
        return Ok(Some(d));
    }
    let ns = c.read_timespec(timeout)?;
    let d = c.clocks().to_mono_deadline(clock, ns);
    Ok(Some(c.deadline_at(d)))
}

/// Parks the task until a futex operation resumes it, or `deadline`.
fn park(deadline: Option<u64>) -> Sys {
    Sys::Park(Park {
        keys: vec![WaitKey::Nothing],
        deadline,
    })
}

/// A re-run (for a timer check) of a call whose task waits on a futex: ETIMEDOUT once
/// `deadline` passed (the task leaves the futex), else it waits on.
fn still_waiting(c: &mut SysCtx, deadline: Option<u64>) -> Sys {
    if deadline.is_some_and(|d| c.now() >= d) {
        c.futex_dequeue();
        return err(libc::ETIMEDOUT);
    }
    park(deadline)
}

/// FUTEX_LOCK_PI, FUTEX_LOCK_PI2 (`timeout`: an absolute time on CLOCK_REALTIME, resp.
/// CLOCK_MONOTONIC unless `realtime`) and FUTEX_TRYLOCK_PI (EAGAIN when owned).
fn lock_pi(
    c: &mut SysCtx,
    uaddr: u64,
    key: FutexKey,
    cmd: i32,
    realtime: bool,
    timeout: u64,
) -> Sys {
    let clock = if cmd == FUTEX_LOCK_PI || realtime {
        libc::CLOCK_REALTIME
    } else {
        libc::CLOCK_MONOTONIC
    };
    let timeout = if cmd == FUTEX_TRYLOCK_PI { 0 } else { timeout };
    let deadline = tryk!(absolute_deadline(c, timeout, clock));
    if c.futex_waiting() {
        // A re-run: the unlock that hands the futex over resumes the task.
        return still_waiting(c, deadline);
    }
    match c.futex_lock_pi(uaddr, key, cmd != FUTEX_TRYLOCK_PI) {
        Ok(true) => Sys::Ret(0),
        Ok(false) if cmd == FUTEX_TRYLOCK_PI => err(libc::EAGAIN),
        Ok(false) => {
            if deadline.is_some_and(|d| c.now() >= d) {
                return err(libc::ETIMEDOUT);
            }
            c.futex_enqueue_pi(key);
            park(deadline)
        }
        Err(e) => err(e),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{errno, kernel, SCRATCH};

    #[test]
    fn wait_checks_the_value_and_wake_counts() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let u = k.test_process(0, 0);
        k.put(t, SCRATCH, &7u32.to_le_bytes());
        let private = 128u64;
        let wait = private; // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
        assert_eq!(
            k.call(t, libc::SYS_futex, [SCRATCH, wait, 6, 0, 0, 0]),
            Some(-(libc::EAGAIN as i64))
        );
        assert_eq!(
            k.call(t, libc::SYS_futex, [SCRATCH, wait, 7, 0, 0, 0]),
            None
        );
        assert_eq!(
            k.call(t, libc::SYS_futex, [SCRATCH + 1, wait, 7, 0, 0, 0]),
            Some(-(libc::EINVAL as i64))
        );
        // Another process's private futex at the same address is another futex.
        let wake = 1 | private;
        assert_eq!(
            k.call(u, libc::SYS_futex, [SCRATCH, wake, 1, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(
            k.call(t, libc::SYS_futex, [SCRATCH, wake, 1, 0, 0, 0]),
            Some(1)
        );
        assert_eq!(
            k.call(t, libc::SYS_futex, [SCRATCH, wake, 1, 0, 0, 0]),
            Some(0)
        );
    }

    /// A second thread of `t`'s process (clone on the fake platform).
    fn thread_of(k: &mut crate::kernel::Kernel, t: i32) -> i32 {
        let flags = libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM;
        let u = k
            .call(
                t,
                libc::SYS_clone,
                [flags as u64, SCRATCH + 0x8000, 0, 0, 0, 0],
            )
            .unwrap();
        assert!(u > 0, "clone: {u}");
        u as i32
    }

    #[test]
    fn shared_and_private_futexes_on_private_memory_are_two() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let u = thread_of(&mut k, t);
        k.put(t, SCRATCH, &1u32.to_le_bytes());
        for (wait, wake) in [(128u64, 1u64), (0, 1 | 128)] {
            assert_eq!(
                k.call(u, libc::SYS_futex, [SCRATCH, wait, 1, 0, 0, 0]),
                None
            );
            assert_eq!(
                k.call(t, libc::SYS_futex, [SCRATCH, wake, 1, 0, 0, 0]),
                Some(0)
            );
            assert_eq!(
                k.call(t, libc::SYS_futex, [SCRATCH, wait | 1, 1, 0, 0, 0]),
                Some(1)
            );
        }
    }

    #[test]
    fn pi_futexes_name_their_owner_and_unlock_hands_them_to_a_waiter() {
        use crate::kernel::futex::FUTEX_WAITERS;
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let u = thread_of(&mut k, t);
        let word = |k: &crate::kernel::Kernel| {
            u32::from_le_bytes(k.get(t, SCRATCH, 4).try_into().unwrap())
        };
        let (lock, unlock, trylock) = (6 | 128, 7 | 128, 8 | 128);
        let pi = |k: &mut crate::kernel::Kernel, tid, op| {
            k.call(tid, libc::SYS_futex, [SCRATCH, op, 0, 0, 0, 0])
        };
        k.put(t, SCRATCH, &0u32.to_le_bytes());
        assert_eq!(pi(&mut k, t, lock), Some(0));
        assert_eq!(word(&k), t as u32);
        assert_eq!(pi(&mut k, t, lock), errno(libc::EDEADLK));
        assert_eq!(pi(&mut k, t, trylock), errno(libc::EDEADLK));
        assert_eq!(pi(&mut k, u, trylock), errno(libc::EAGAIN));
        assert_eq!(pi(&mut k, u, unlock), errno(libc::EPERM));
        // The other thread waits, and says so in the word; a plain wake does not end
        // its wait, the owner's unlock makes it the owner.
        assert_eq!(pi(&mut k, u, lock), None);
        assert_eq!(word(&k), t as u32 | FUTEX_WAITERS);
        assert_eq!(
            k.call(t, libc::SYS_futex, [SCRATCH, 1 | 128, 9, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(pi(&mut k, t, unlock), Some(0));
        assert_eq!(word(&k), u as u32 | FUTEX_WAITERS);
        assert!(!k.futex_waiting(u));
        assert_eq!(pi(&mut k, u, unlock), Some(0));
        assert_eq!(word(&k), 0);
        assert_eq!(pi(&mut k, t, unlock), errno(libc::EPERM));
        // An owner that does not exist: ESRCH; one that died holding it (the robust
        // bit): taken over, the bit kept for the new owner to see.
        k.put(t, SCRATCH, &99_999u32.to_le_bytes());
        assert_eq!(pi(&mut k, t, lock), errno(libc::ESRCH));
        k.put(t, SCRATCH, &(99_999u32 | 0x4000_0000).to_le_bytes());
        assert_eq!(pi(&mut k, t, trylock), Some(0));
        assert_eq!(word(&k), t as u32 | 0x4000_0000);
        // Read-only or unmapped words: EFAULT.
        assert_eq!(
            k.call(t, libc::SYS_futex, [0x1000, lock, 0, 0, 0, 0]),
            errno(libc::EFAULT)
        );
    }

    #[test]
    fn a_dying_thread_marks_the_robust_futexes_it_owns_and_wakes_a_waiter() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let u = thread_of(&mut k, t);
        // u's robust list: head at SCRATCH+0x100 with two entries whose futex words lie
        // 8 bytes after them, the second a PI one (bit 0); one futex it owns (with a
        // waiter), one another owns, and one being locked (list_op_pending).
        let (head, e1, e2, e3) = (
            SCRATCH + 0x100,
            SCRATCH + 0x200,
            SCRATCH + 0x300,
            SCRATCH + 0x400,
        );
        let put64 = |k: &mut crate::kernel::Kernel, a: u64, v: u64| k.put(t, a, &v.to_le_bytes());
        put64(&mut k, head, e1);
        put64(&mut k, head + 8, 8);
        put64(&mut k, head + 16, e3);
        put64(&mut k, e1, e2 | 1);
        put64(&mut k, e2, head);
        put64(&mut k, e3, head);
        let (w1, w2, w3) = (e1 + 8, e2 + 8, e3 + 8);
        k.put(t, w1, &(u as u32 | 0x8000_0000).to_le_bytes());
        k.put(t, w2, &(t as u32).to_le_bytes());
        k.put(t, w3, &(u as u32).to_le_bytes());
        assert_eq!(
            k.call(u, libc::SYS_set_robust_list, [head, 24, 0, 0, 0, 0]),
            Some(0)
        );
        // t waits on the first (a shared futex, as glibc's robust mutexes).
        let v = u as u64 | 0x8000_0000;
        assert_eq!(k.call(t, libc::SYS_futex, [w1, 0, v, 0, 0, 0]), None);
        assert!(k.futex_waiting(t));
        assert_eq!(k.call(u, libc::SYS_exit, [0; 6]), Some(0));
        let word =
            |k: &crate::kernel::Kernel, a| u32::from_le_bytes(k.get(t, a, 4).try_into().unwrap());
        assert_eq!(word(&k, w1), 0xc000_0000, "owner died, waiters kept");
        assert!(!k.futex_waiting(t), "the waiter was woken");
        assert_eq!(word(&k, w2), t as u32, "another's is left alone");
        assert_eq!(word(&k, w3), 0x4000_0000, "the pending one too");
    }

    #[test]
    fn a_looping_or_bad_robust_list_ends_the_walk() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        for (next, off) in [
            (SCRATCH + 0x200, 8u64),
            (0xdead_0000, 0),
            (SCRATCH + 0x200, u64::MAX - 3),
        ] {
            let u = thread_of(&mut k, t);
            let head = SCRATCH + 0x100;
            k.put(t, head, &next.to_le_bytes());
            k.put(t, head + 8, &off.to_le_bytes());
            k.put(t, head + 16, &0u64.to_le_bytes());
            // An entry that points at itself: a loop the limit ends.
            k.put(t, SCRATCH + 0x200, &(SCRATCH + 0x200).to_le_bytes());
            k.put(t, SCRATCH + 0x208, &(u as u32).to_le_bytes());
            assert_eq!(
                k.call(u, libc::SYS_set_robust_list, [head, 24, 0, 0, 0, 0]),
                Some(0)
            );
            assert_eq!(k.call(u, libc::SYS_exit, [0; 6]), Some(0));
            assert!(!k.task_exists(u));
        }
    }

    #[test]
    fn robust_list_heads_read_back_with_their_owners_permission() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let set = libc::SYS_set_robust_list;
        let get = libc::SYS_get_robust_list;
        let t = k.test_process(0, 0);
        let u = k.test_process(1000, 1000);
        let v = k.test_process(1001, 1001);
        // Only the length of struct robust_list_head is accepted.
        assert_eq!(
            k.call(t, set, [0x7000, 23, 0, 0, 0, 0]),
            Some(-(libc::EINVAL as i64))
        );
        assert_eq!(k.call(t, set, [0x7000, 24, 0, 0, 0, 0]), Some(0));
        assert_eq!(k.call(u, set, [0x8000, 24, 0, 0, 0, 0]), Some(0));
        let (head, len) = (SCRATCH, SCRATCH + 8);
        let read = |k: &crate::kernel::Kernel, tid| {
            let b = k.get(tid, head, 16);
            (
                u64::from_le_bytes(b[..8].try_into().unwrap()),
                u64::from_le_bytes(b[8..].try_into().unwrap()),
            )
        };
        // Its own (tid 0), another's with CAP_SYS_PTRACE, another's with the same ids.
        assert_eq!(k.call(t, get, [0, head, len, 0, 0, 0]), Some(0));
        assert_eq!(read(&k, t), (0x7000, 24));
        assert_eq!(k.call(t, get, [u as u64, head, len, 0, 0, 0]), Some(0));
        assert_eq!(read(&k, t), (0x8000, 24));
        // Without the right to read the other process: EPERM, and nothing written.
        k.put(v, head, &[0; 16]);
        assert_eq!(
            k.call(v, get, [u as u64, head, len, 0, 0, 0]),
            Some(-(libc::EPERM as i64))
        );
        assert_eq!(read(&k, v), (0, 0));
        for bad in [-1i64 as u64, 999_999] {
            assert_eq!(
                k.call(t, get, [bad, head, len, 0, 0, 0]),
                Some(-(libc::ESRCH as i64))
            );
        }
        // Bad pointers fault.
        for (h, l) in [(0, len), (head, 0), (u64::MAX - 3, len)] {
            assert_eq!(
                k.call(t, get, [0, h, l, 0, 0, 0]),
                Some(-(libc::EFAULT as i64))
            );
        }
    }
}
