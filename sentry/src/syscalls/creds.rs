//! Identity calls: get/set user and group ids, supplementary groups, capget/capset, and
//! the credential parts of prctl. The rules live in `kernel::creds`.

use super::ret;
use crate::creds::{CapSet, IdMap, CAP_LAST, CAP_SETGID, CAP_SETPCAP};
use crate::kernel::{err, Sys, SysCtx};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

const LINUX_CAPABILITY_VERSION_1: u32 = 0x1998_0330;
const LINUX_CAPABILITY_VERSION_2: u32 = 0x2007_1026;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// An id argument: `-1` (as u32) means "leave it".
fn id(v: u64) -> Option<u32> {
    (v as u32 != u32::MAX).then_some(v as u32)
}

pub(super) fn getid(c: &mut SysCtx, nr: i64) -> Sys {
    let ids = c.creds();
    let (which, kid) = match nr {
        libc::SYS_getuid => (IdMap::Uid, ids.uid),
        libc::SYS_geteuid => (IdMap::Uid, ids.euid),
        libc::SYS_getgid => (IdMap::Gid, ids.gid),
        _ => (IdMap::Gid, ids.egid),
    };
    Sys::Ret(ids.userns.shown(which, kid) as i64)
}

pub(super) fn setid(c: &mut SysCtx, nr: i64) -> Sys {
    let a = c.args();
    let ns = c.creds().userns.clone();
    let which = match nr {
        libc::SYS_setuid | libc::SYS_setreuid | libc::SYS_setresuid | libc::SYS_setfsuid => {
            IdMap::Uid
        }
        _ => IdMap::Gid,
    };
    // The ids asked for, as kernel ids: one the caller's namespace does not map is
    // invalid (EINVAL; setfsuid leaves the id and answers the old one).
    let kid = |v: u64| -> Result<Option<u32>, i32> {
        match id(v) {
            None => Ok(None),
            Some(v) => ns.kernel_of(which, v).map(Some).ok_or(libc::EINVAL),
        }
    };
    let used = match nr {
        libc::SYS_setreuid | libc::SYS_setregid => 2,
        libc::SYS_setresuid | libc::SYS_setresgid => 3,
        _ => 1,
    };
    let k: [Result<Option<u32>, i32>; 3] =
        std::array::from_fn(|i| if i < used { kid(a[i]) } else { Ok(None) });
    if nr == libc::SYS_setfsuid || nr == libc::SYS_setfsgid {
        let f = k[0].ok().flatten().unwrap_or(u32::MAX);
        let ids = c.creds_mut();
        let (old, new) = if nr == libc::SYS_setfsuid {
            (ids.setfsuid(f), ids.fsuid)
        } else {
            (ids.setfsgid(f), ids.fsgid)
        };
        // Linux commits new credentials only when the id changes.
        if new != old {
            c.commit_creds();
        }
        return Sys::Ret(ns.shown(which, old) as i64);
    }
    let [k0, k1, k2] = match k {
        [Ok(x), Ok(y), Ok(z)] => [x, y, z],
        _ => return err(libc::EINVAL),
    };
    let ids = c.commit_creds();
    let r = match nr {
        libc::SYS_setuid => k0.map_or(Err(libc::EINVAL), |u| ids.setuid(u)),
        libc::SYS_setgid => k0.map_or(Err(libc::EINVAL), |g| ids.setgid(g)),
        libc::SYS_setreuid => ids.setreuid(k0, k1),
        libc::SYS_setregid => ids.setregid(k0, k1),
        libc::SYS_setresuid => ids.setresuid(k0, k1, k2),
        _ => ids.setresgid(k0, k1, k2),
    };
    ret(r.map(|_| 0))
}

pub(super) fn getresid(c: &mut SysCtx, nr: i64) -> Sys {
    let ids = c.creds();
    let ns = &ids.userns;
    let v = if nr == libc::SYS_getresuid {
        [ids.uid, ids.euid, ids.suid].map(|u| ns.shown(IdMap::Uid, u))
    } else {
        [ids.gid, ids.egid, ids.sgid].map(|g| ns.shown(IdMap::Gid, g))
    };
    for (i, x) in v.iter().enumerate() {
        tryk!(c.write_u32(c.arg(i), *x));
    }
    Sys::Ret(0)
}

pub(super) fn getgroups(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let ids = c.creds();
    let groups: Vec<u32> = ids
        .groups
        .iter()
        .map(|&g| ids.userns.shown(IdMap::Gid, g))
        .collect();
    let n = a[0] as i32;
    if n == 0 {
        return Sys::Ret(groups.len() as i64);
    }
    if n < 0 || (n as usize) < groups.len() {
        return err(libc::EINVAL);
    }
    let b: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    ret(c.write_mem(a[1], &b).map(|_| groups.len() as i64))
}

pub(super) fn setgroups(c: &mut SysCtx) -> Sys {
    let a = c.args();
    if a[0] > 65536 {
        return err(libc::EINVAL);
    }
    let ns = c.creds().userns.clone();
    // CAP_SETGID in the caller's namespace, where setgroups is allowed (not "deny", and
    // a gid map written).
    if !c.creds().has(CAP_SETGID) || !ns.may_setgroups() {
        return err(libc::EPERM);
    }
    let b = tryk!(c.read_mem(a[1], a[0] as usize * 4));
    let groups: Option<Vec<u32>> = b
        .chunks(4)
        .map(|c| ns.kernel_of(IdMap::Gid, u32::from_le_bytes(c.try_into().expect("4"))))
        .collect();
    c.commit_creds().groups = tryk!(groups.ok_or(libc::EINVAL));
    Sys::Ret(0)
}

/// Reads a capability header; returns (version, pid) after checking the version (an
/// unknown one is reported back to the guest, as Linux does).
fn cap_header(c: &mut SysCtx, hdr: u64) -> Result<(u32, i32), i32> {
    let b = c.read_mem(hdr, 8)?;
    let version = u32::from_le_bytes(b[..4].try_into().expect("4"));
    let pid = i32::from_le_bytes(b[4..].try_into().expect("4"));
    if ![
        LINUX_CAPABILITY_VERSION_1,
        LINUX_CAPABILITY_VERSION_2,
        LINUX_CAPABILITY_VERSION_3,
    ]
    .contains(&version)
    {
        c.write_u32(hdr, LINUX_CAPABILITY_VERSION_3)?;
        return Err(libc::EINVAL);
    }
    if pid < 0 {
        return Err(libc::EINVAL);
    }
    Ok((version, pid))
}

pub(super) fn capget(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let (version, pid) = match cap_header(c, a[0]) {
        Ok(v) => v,
        // A NULL data pointer probes the version: Linux answers 0 after writing it.
        Err(libc::EINVAL) if a[1] == 0 => return Sys::Ret(0),
        Err(e) => return err(e),
    };
    let target = if pid == 0 {
        c.creds()
    } else {
        match c.thread_creds(pid) {
            Some(t) => t,
            None => return err(libc::ESRCH),
        }
    };
    if a[1] == 0 {
        return Sys::Ret(0);
    }
    let words = if version == LINUX_CAPABILITY_VERSION_1 {
        1
    } else {
        2
    };
    let mut b = Vec::new();
    for w in 0..words {
        for set in [target.effective, target.permitted, target.inheritable] {
            b.extend_from_slice(&((set >> (32 * w)) as u32).to_le_bytes());
        }
    }
    ret(c.write_mem(a[1], &b).map(|_| 0))
}

pub(super) fn capset(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let (version, pid) = tryk!(cap_header(c, a[0]));
    if pid != 0 && pid != c.tid() {
        return err(libc::EPERM);
    }
    let words = if version == LINUX_CAPABILITY_VERSION_1 {
        1
    } else {
        2
    };
    let b = tryk!(c.read_mem(a[1], 12 * words));
    let mut sets: [CapSet; 3] = [0; 3];
    for w in 0..words {
        for (i, set) in sets.iter_mut().enumerate() {
            let o = w * 12 + i * 4;
            let v = u32::from_le_bytes(b[o..o + 4].try_into().expect("4"));
            *set |= (v as u64) << (32 * w);
        }
    }
    let [effective, permitted, inheritable] = sets;
    ret(c
        .commit_creds()
        .capset(effective, permitted, inheritable)
        .map(|_| 0))
}

/// The credential requests of prctl; `None` when `option` is not one of them.
pub(super) fn prctl_creds(c: &mut SysCtx, option: i32) -> Option<Sys> {
    let a = c.args();
    // The requests that set credentials commit new ones (no_new_privs is a flag of the
    // task on Linux, not of its credentials).
    let sets = match option {
        libc::PR_SET_KEEPCAPS | libc::PR_CAPBSET_DROP => true,
        libc::PR_CAP_AMBIENT => a[1] as i32 != libc::PR_CAP_AMBIENT_IS_SET,
        _ => false,
    };
    let ids = if sets {
        c.commit_creds()
    } else {
        c.creds_mut()
    };
    let cap_ok = |n: u64| n <= CAP_LAST as u64;
    Some(match option {
        libc::PR_GET_KEEPCAPS => Sys::Ret(ids.keep_caps as i64),
        libc::PR_SET_KEEPCAPS => {
            if a[1] > 1 {
                return Some(err(libc::EINVAL));
            }
            ids.keep_caps = a[1] == 1;
            Sys::Ret(0)
        }
        libc::PR_GET_NO_NEW_PRIVS => Sys::Ret(ids.no_new_privs as i64),
        libc::PR_SET_NO_NEW_PRIVS => {
            if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
                return Some(err(libc::EINVAL));
            }
            ids.no_new_privs = true;
            Sys::Ret(0)
        }
        libc::PR_CAPBSET_READ if cap_ok(a[1]) => Sys::Ret((ids.bounding >> a[1] & 1) as i64),
        libc::PR_CAPBSET_DROP if cap_ok(a[1]) => {
            if !ids.has(CAP_SETPCAP) {
                return Some(err(libc::EPERM));
            }
            ids.bounding &= !(1 << a[1]);
            Sys::Ret(0)
        }
        libc::PR_CAPBSET_READ | libc::PR_CAPBSET_DROP => err(libc::EINVAL),
        libc::PR_CAP_AMBIENT => match a[1] as i32 {
            libc::PR_CAP_AMBIENT_IS_SET if cap_ok(a[2]) => {
                Sys::Ret((ids.ambient >> a[2] & 1) as i64)
            }
            libc::PR_CAP_AMBIENT_RAISE if cap_ok(a[2]) => {
                let bit = 1 << a[2];
                if ids.permitted & bit == 0 || ids.inheritable & bit == 0 {
                    return Some(err(libc::EPERM));
                }
                ids.ambient |= bit;
                Sys::Ret(0)
            }
            libc::PR_CAP_AMBIENT_LOWER if cap_ok(a[2]) => {
                ids.ambient &= !(1 << a[2]);
                Sys::Ret(0)
            }
            libc::PR_CAP_AMBIENT_CLEAR_ALL => {
                ids.ambient = 0;
                Sys::Ret(0)
            }
            _ => err(libc::EINVAL),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::kernel::Kernel;
    use crate::testing::{kernel, SCRATCH};

    fn ids(k: &mut Kernel, t: i32) -> [u32; 3] {
        let p = [SCRATCH, SCRATCH + 4, SCRATCH + 8];
        assert_eq!(
            k.call(t, libc::SYS_getresuid, [p[0], p[1], p[2], 0, 0, 0]),
            Some(0)
        );
        p.map(|a| u32::from_le_bytes(k.get(t, a, 4).try_into().unwrap()))
    }

    fn capeff(k: &mut Kernel, t: i32) -> u64 {
        k.put(t, SCRATCH, &0x2008_0522u32.to_le_bytes());
        k.put(t, SCRATCH + 4, &0u32.to_le_bytes());
        assert_eq!(
            k.call(t, libc::SYS_capget, [SCRATCH, SCRATCH + 16, 0, 0, 0, 0]),
            Some(0)
        );
        let d = k.get(t, SCRATCH + 16, 24);
        let w = |o: usize| u32::from_le_bytes(d[o..o + 4].try_into().unwrap()) as u64;
        w(0) | (w(12) << 32)
    }

    #[test]
    fn root_that_setuids_away_loses_everything() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        assert_ne!(capeff(&mut k, t), 0);
        assert_eq!(k.call(t, libc::SYS_setgid, [100, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(k.call(t, libc::SYS_setuid, [100, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(ids(&mut k, t), [100, 100, 100]);
        assert_eq!(capeff(&mut k, t), 0);
        let eperm = Some(-(libc::EPERM as i64));
        assert_eq!(k.call(t, libc::SYS_setuid, [0, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(
            k.call(t, libc::SYS_setresuid, [0, u64::MAX, u64::MAX, 0, 0, 0]),
            eperm
        );
        assert_eq!(
            k.call(t, libc::SYS_setuid, [u32::MAX as u64, 0, 0, 0, 0, 0]),
            Some(-(libc::EINVAL as i64))
        );
        // setfsuid answers the old value and refuses silently.
        assert_eq!(k.call(t, libc::SYS_setfsuid, [0, 0, 0, 0, 0, 0]), Some(100));
        assert_eq!(
            k.call(t, libc::SYS_setfsuid, [100, 0, 0, 0, 0, 0]),
            Some(100)
        );
    }

    #[test]
    fn credentials_are_each_threads_own_and_the_leaders_are_the_processs() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let thread = k.test_thread(t);
        // A raw setuid and no_new_privs in the thread: the leader keeps its own.
        assert_eq!(
            k.call(thread, libc::SYS_setuid, [100, 0, 0, 0, 0, 0]),
            Some(0)
        );
        let nnp = libc::PR_SET_NO_NEW_PRIVS as u64;
        assert_eq!(
            k.call(thread, libc::SYS_prctl, [nnp, 1, 0, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(ids(&mut k, thread), [100, 100, 100]);
        assert_eq!(ids(&mut k, t), [0, 0, 0]);
        let get_nnp = [libc::PR_GET_NO_NEW_PRIVS as u64, 0, 0, 0, 0, 0];
        assert_eq!(k.call(t, libc::SYS_prctl, get_nnp), Some(0));
        assert_eq!(k.call(thread, libc::SYS_prctl, get_nnp), Some(1));
        assert_eq!(
            k.tg_of(t).creds.uid,
            0,
            "the process is seen with its leader's"
        );
        // A process forked by the thread starts with the thread's credentials.
        let sigchld = libc::SIGCHLD as u64;
        let child = k
            .call(thread, libc::SYS_clone, [sigchld, 0, 0, 0, 0, 0])
            .unwrap() as i32;
        assert_eq!(ids(&mut k, child), [100, 100, 100]);
        assert_eq!(k.tg_of(child).creds.uid, 100);
        assert_eq!(k.call(child, libc::SYS_prctl, get_nnp), Some(1));
        // The thread may no longer signal a root process; the leader may.
        let other = k.test_process(0, 0);
        let kill = [other as u64, 0, 0, 0, 0, 0];
        assert_eq!(
            k.call(thread, libc::SYS_kill, kill),
            Some(-(libc::EPERM as i64))
        );
        assert_eq!(k.call(t, libc::SYS_kill, kill), Some(0));
        // The leader's change is its process's.
        assert_eq!(k.call(t, libc::SYS_setuid, [200, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(k.tg_of(t).creds.uid, 200);
    }

    #[test]
    fn capset_cannot_raise_and_prctl_reports_the_sets() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        // Keep only CAP_CHOWN, then try to get CAP_SYS_ADMIN back.
        let set = |k: &mut Kernel, eff: u32, perm: u32| {
            k.put(t, SCRATCH, &0x2008_0522u32.to_le_bytes());
            k.put(t, SCRATCH + 4, &0u32.to_le_bytes());
            let mut d = Vec::new();
            for v in [eff, perm, 0, 0, 0, 0] {
                d.extend_from_slice(&v.to_le_bytes());
            }
            k.put(t, SCRATCH + 16, &d);
            k.call(t, libc::SYS_capset, [SCRATCH, SCRATCH + 16, 0, 0, 0, 0])
        };
        assert_eq!(set(&mut k, 1, 1), Some(0));
        assert_eq!(capeff(&mut k, t), 1);
        assert_eq!(set(&mut k, 1 << 21, 1 << 21), Some(-(libc::EPERM as i64)));
        assert_eq!(
            k.call(t, libc::SYS_sethostname, [SCRATCH, 1, 0, 0, 0, 0]),
            Some(-(libc::EPERM as i64))
        );
        let prctl = |k: &mut Kernel, a: [u64; 6]| k.call(t, libc::SYS_prctl, a);
        assert_eq!(
            prctl(&mut k, [libc::PR_GET_NO_NEW_PRIVS as u64, 0, 0, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(
            prctl(&mut k, [libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(
            prctl(&mut k, [libc::PR_GET_NO_NEW_PRIVS as u64, 0, 0, 0, 0, 0]),
            Some(1)
        );
        assert_eq!(
            prctl(&mut k, [libc::PR_CAPBSET_READ as u64, 21, 0, 0, 0, 0]),
            Some(1)
        );
        assert_eq!(
            prctl(&mut k, [libc::PR_CAPBSET_READ as u64, 99, 0, 0, 0, 0]),
            Some(-(libc::EINVAL as i64))
        );
        // Without CAP_SETPCAP the bounding set stays.
        assert_eq!(
            prctl(&mut k, [libc::PR_CAPBSET_DROP as u64, 21, 0, 0, 0, 0]),
            Some(-(libc::EPERM as i64))
        );
    }

    #[test]
    fn unprivileged_users_may_only_shuffle_their_own_ids() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(1000, 1000);
        let eperm = Some(-(libc::EPERM as i64));
        assert_eq!(k.call(t, libc::SYS_setuid, [0, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(k.call(t, libc::SYS_setgid, [0, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(
            k.call(t, libc::SYS_setgroups, [0, SCRATCH, 0, 0, 0, 0]),
            eperm
        );
        assert_eq!(
            k.call(t, libc::SYS_setresuid, [1000, 1000, 1000, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(ids(&mut k, t), [1000, 1000, 1000]);
    }
}
