//! Identity calls: get/set user and group ids, supplementary groups, capget/capset, and
//! the credential parts of prctl. The rules live in `kernel::creds`.

use super::ret;
use crate::kernel::creds::{CapSet, CAP_LAST, CAP_SETGID, CAP_SETPCAP};
use crate::kernel::{err, Kernel, Sys};

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

impl Kernel {
    pub fn sys_getid(&mut self, tid: i32, nr: i64) -> Sys {
        let c = self.creds(tid);
        Sys::Ret(match nr {
            libc::SYS_getuid => c.uid,
            libc::SYS_geteuid => c.euid,
            libc::SYS_getgid => c.gid,
            _ => c.egid,
        } as i64)
    }

    pub fn sys_setid(&mut self, tid: i32, nr: i64, a: [u64; 6]) -> Sys {
        let c = &mut self.tg_of_mut(tid).creds;
        let r = match nr {
            libc::SYS_setuid => c.setuid(a[0] as u32),
            libc::SYS_setgid => c.setgid(a[0] as u32),
            libc::SYS_setreuid => c.setreuid(id(a[0]), id(a[1])),
            libc::SYS_setregid => c.setregid(id(a[0]), id(a[1])),
            libc::SYS_setresuid => c.setresuid(id(a[0]), id(a[1]), id(a[2])),
            libc::SYS_setresgid => c.setresgid(id(a[0]), id(a[1]), id(a[2])),
            libc::SYS_setfsuid => return Sys::Ret(c.setfsuid(a[0] as u32) as i64),
            _ => return Sys::Ret(c.setfsgid(a[0] as u32) as i64),
        };
        ret(r.map(|_| 0))
    }

    pub fn sys_getresid(&mut self, tid: i32, nr: i64, a: [u64; 6]) -> Sys {
        let c = self.creds(tid);
        let v = if nr == libc::SYS_getresuid {
            [c.uid, c.euid, c.suid]
        } else {
            [c.gid, c.egid, c.sgid]
        };
        for (i, x) in v.iter().enumerate() {
            tryk!(self.write_u32(tid, a[i], *x));
        }
        Sys::Ret(0)
    }

    pub fn sys_getgroups(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let groups = self.creds(tid).groups.clone();
        let n = a[0] as i32;
        if n == 0 {
            return Sys::Ret(groups.len() as i64);
        }
        if n < 0 || (n as usize) < groups.len() {
            return err(libc::EINVAL);
        }
        let b: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
        ret(self.write_mem(tid, a[1], &b).map(|_| groups.len() as i64))
    }

    pub fn sys_setgroups(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if a[0] > 65536 {
            return err(libc::EINVAL);
        }
        if !self.creds(tid).has(CAP_SETGID) {
            return err(libc::EPERM);
        }
        let b = tryk!(self.read_mem(tid, a[1], a[0] as usize * 4));
        self.tg_of_mut(tid).creds.groups = b
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect();
        Sys::Ret(0)
    }

    /// Reads a capability header; returns (version, pid) after checking the version (an
    /// unknown one is reported back to the guest, as Linux does).
    fn cap_header(&mut self, tid: i32, hdr: u64) -> Result<(u32, i32), i32> {
        let b = self.read_mem(tid, hdr, 8)?;
        let version = u32::from_le_bytes(b[..4].try_into().expect("4"));
        let pid = i32::from_le_bytes(b[4..].try_into().expect("4"));
        if ![
            LINUX_CAPABILITY_VERSION_1,
            LINUX_CAPABILITY_VERSION_2,
            LINUX_CAPABILITY_VERSION_3,
        ]
        .contains(&version)
        {
            self.write_u32(tid, hdr, LINUX_CAPABILITY_VERSION_3)?;
            return Err(libc::EINVAL);
        }
        if pid < 0 {
            return Err(libc::EINVAL);
        }
        Ok((version, pid))
    }

    pub fn sys_capget(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (version, pid) = match self.cap_header(tid, a[0]) {
            Ok(v) => v,
            // A NULL data pointer probes the version: Linux answers 0 after writing it.
            Err(libc::EINVAL) if a[1] == 0 => return Sys::Ret(0),
            Err(e) => return err(e),
        };
        let target = if pid == 0 {
            self.tasks[&tid].tgid
        } else {
            match self.tasks.get(&pid) {
                Some(t) => t.tgid,
                None => return err(libc::ESRCH),
            }
        };
        if a[1] == 0 {
            return Sys::Ret(0);
        }
        let c = &self.tgs[&target].creds;
        let words = if version == LINUX_CAPABILITY_VERSION_1 {
            1
        } else {
            2
        };
        let mut b = Vec::new();
        for w in 0..words {
            for set in [c.effective, c.permitted, c.inheritable] {
                b.extend_from_slice(&((set >> (32 * w)) as u32).to_le_bytes());
            }
        }
        ret(self.write_mem(tid, a[1], &b).map(|_| 0))
    }

    pub fn sys_capset(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (version, pid) = tryk!(self.cap_header(tid, a[0]));
        if pid != 0 && pid != tid {
            return err(libc::EPERM);
        }
        let words = if version == LINUX_CAPABILITY_VERSION_1 {
            1
        } else {
            2
        };
        let b = tryk!(self.read_mem(tid, a[1], 12 * words));
        let mut sets: [CapSet; 3] = [0; 3];
        for w in 0..words {
            for (i, set) in sets.iter_mut().enumerate() {
                let o = w * 12 + i * 4;
                let v = u32::from_le_bytes(b[o..o + 4].try_into().expect("4"));
                *set |= (v as u64) << (32 * w);
            }
        }
        let [effective, permitted, inheritable] = sets;
        ret(self
            .tg_of_mut(tid)
            .creds
            .capset(effective, permitted, inheritable)
            .map(|_| 0))
    }

    /// The credential requests of prctl; `None` when `option` is not one of them.
    pub fn prctl_creds(&mut self, tid: i32, option: i32, a: [u64; 6]) -> Option<Sys> {
        let c = &mut self.tg_of_mut(tid).creds;
        let cap_ok = |n: u64| n <= CAP_LAST as u64;
        Some(match option {
            libc::PR_GET_KEEPCAPS => Sys::Ret(c.keep_caps as i64),
            libc::PR_SET_KEEPCAPS => {
                if a[1] > 1 {
                    return Some(err(libc::EINVAL));
                }
                c.keep_caps = a[1] == 1;
                Sys::Ret(0)
            }
            libc::PR_GET_NO_NEW_PRIVS => Sys::Ret(c.no_new_privs as i64),
            libc::PR_SET_NO_NEW_PRIVS => {
                if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
                    return Some(err(libc::EINVAL));
                }
                c.no_new_privs = true;
                Sys::Ret(0)
            }
            libc::PR_CAPBSET_READ if cap_ok(a[1]) => Sys::Ret((c.bounding >> a[1] & 1) as i64),
            libc::PR_CAPBSET_DROP if cap_ok(a[1]) => {
                if !c.has(CAP_SETPCAP) {
                    return Some(err(libc::EPERM));
                }
                c.bounding &= !(1 << a[1]);
                Sys::Ret(0)
            }
            libc::PR_CAPBSET_READ | libc::PR_CAPBSET_DROP => err(libc::EINVAL),
            libc::PR_CAP_AMBIENT => match a[1] as i32 {
                libc::PR_CAP_AMBIENT_IS_SET if cap_ok(a[2]) => {
                    Sys::Ret((c.ambient >> a[2] & 1) as i64)
                }
                libc::PR_CAP_AMBIENT_RAISE if cap_ok(a[2]) => {
                    let bit = 1 << a[2];
                    if c.permitted & bit == 0 || c.inheritable & bit == 0 {
                        return Some(err(libc::EPERM));
                    }
                    c.ambient |= bit;
                    Sys::Ret(0)
                }
                libc::PR_CAP_AMBIENT_LOWER if cap_ok(a[2]) => {
                    c.ambient &= !(1 << a[2]);
                    Sys::Ret(0)
                }
                libc::PR_CAP_AMBIENT_CLEAR_ALL => {
                    c.ambient = 0;
                    Sys::Ret(0)
                }
                _ => err(libc::EINVAL),
            },
            _ => return None,
        })
    }
}
