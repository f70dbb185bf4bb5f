//! futex(2): wait, wake, requeue, wake-op, bitset variants; private and shared.

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
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
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
    let key = c.futex_key(uaddr, private);
    match cmd {
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
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { u32::MAX } else { val3 };
            if bitset == 0 {
                return err(libc::EINVAL);
            }
            Sys::Ret(c.futex_wake(key, val, bitset) as i64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
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

#[cfg(test)]
mod tests {
    use crate::testing::{kernel, SCRATCH};

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
