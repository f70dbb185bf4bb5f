//! Processes: clone (new tasks and thread groups), process groups and sessions, and
//! resource limits.

use std::cell::RefCell;
use std::rc::Rc;

use super::task::{ProcessPrctl, RunState, Task, ThreadGroup};
use super::{err, Kernel, Sys};
use crate::mm::{Errno, MmCtx};

/// What clone(2) asks for, its flags checked by the caller.
pub(crate) struct CloneArgs {
    pub flags: i32,
    /// The child's stack pointer (0: the parent's).
    pub stack: u64,
    /// Where CLONE_PARENT_SETTID writes the child's tid (parent's memory).
    pub ptid: u64,
    /// Where CLONE_CHILD_SETTID writes it and CLONE_CHILD_CLEARTID clears it (child's).
    pub ctid: u64,
    /// The child's fs base (CLONE_SETTLS).
    pub tls: u64,
    /// clone3's CLONE_CLEAR_SIGHAND: the child's handlers go back to the default (ignored
    /// signals stay ignored).
    pub clear_sighand: bool,
    /// clone3's set_tid: the tid the child must have.
    pub set_tid: Option<i32>,
    /// The child's credentials when they are not its parent's (a new user namespace).
    pub creds: Option<crate::creds::Creds>,
}

impl Kernel {
    /// clone(2) by task `tid`: a new thread (CLONE_THREAD) or process, sharing what the
    /// flags say with its parent, running from the parent's registers with rax 0.
    /// Returns the child's tid; a vfork parent waits (`Sys::Gone`: its result is set
    /// when the child execs or exits).
    /// A new mount namespace for task `tid`: a copy of the one it is in, owned by its
    /// user namespace (CLONE_NEWNS). Returns its inode number.
    pub(crate) fn new_mount_namespace(&mut self, tid: i32) -> u64 {
        let t = &self.tasks[&tid];
        let (from, owner) = (t.mnt, t.creds.userns.clone());
        let ino = crate::creds::next_ns_ino();
        self.vfs.copy_namespace(from, ino);
        self.mnt_owners.insert(ino, owner);
        ino
    }

    /// A new network namespace owned by `owner` (CLONE_NEWNET), listed for saving.
    pub(crate) fn new_net_namespace(
        &mut self,
        owner: crate::creds::UserNsRef,
    ) -> crate::net::ns::NetRef {
        let net = crate::net::ns::NetNs::new(owner);
        self.nets.retain(|w| w.strong_count() > 0);
        self.nets.push(Rc::downgrade(&net));
        net
    }

    /// The network namespaces alive, the sandbox's initial one first.
    pub(crate) fn net_namespaces(&self) -> Vec<crate::net::ns::NetRef> {
        std::iter::once(self.net.clone())
            .chain(self.nets.iter().filter_map(std::rc::Weak::upgrade))
            .collect()
    }

    pub(crate) fn clone(&mut self, tid: i32, args: CloneArgs) -> Sys {
        let CloneArgs {
            flags,
            stack,
            ptid,
            ctid,
            tls,
            clear_sighand,
            set_tid,
            creds: child_creds,
        } = args;
        // As arch_prctl(ARCH_SET_FS): a TLS base outside the guest's addresses (a
        // non-canonical one among them) is refused.
        if flags & libc::CLONE_SETTLS != 0 && tls >= crate::platform::GUEST_TOP {
            return err(libc::EPERM);
        }
        if let Some(want) = set_tid {
            // Linux: a pid in range, chosen with CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE,
            // and free.
            if !(1..crate::checks::PID_MAX).contains(&want) {
                return err(libc::EINVAL);
            }
            let creds = self.creds(tid);
            if !creds.has_init(crate::creds::CAP_SYS_ADMIN)
                && !creds.has_init(crate::creds::CAP_CHECKPOINT_RESTORE)
            {
                return err(libc::EPERM);
            }
            if self.tasks.contains_key(&want) || self.tgs.contains_key(&want) {
                return err(libc::EEXIST);
            }
        }
        let parent = &self.tasks[&tid];
        let (mm_id, p_tgid, p_host) = (parent.mm, parent.tgid, parent.host_tid);
        // The address space.
        let child_mm = if flags & libc::CLONE_VM != 0 {
            self.mms.get_mut(&mm_id).expect("mm").users += 1;
            mm_id
        } else {
            let e = self.mms.get_mut(&mm_id).expect("mm");
            let mut cx = MmCtx {
                mf: &self.mf,
                plat: &mut *self.plat,
            };
            match e.mm.fork(&mut cx) {
                Ok(m) => self.add_mm(m),
                Err(_) => return err(libc::ENOMEM),
            }
        };
        let space = self.mms[&child_mm].mm.id;
        let host = match self.plat.new_thread(space) {
            Ok(h) => h,
            Err(_) => {
                let e = self.mms.get_mut(&child_mm).expect("mm");
                e.users -= 1;
                if e.users == 0 {
                    let mut e = self.mms.remove(&child_mm).expect("mm");
                    let mut cx = MmCtx {
                        mf: &self.mf,
                        plat: &mut *self.plat,
                    };
                    e.mm.destroy(&mut cx);
                }
                return err(libc::EAGAIN);
            }
        };
        let new_tid = set_tid.unwrap_or_else(|| self.alloc_pid());
        let fresh_creds = self.new_creds_id();
        let parent = &self.tasks[&tid];
        let mut regs = parent.regs;
        let host_regs = self.plat.get_regs(host).unwrap_or(regs);
        regs.cs = host_regs.cs;
        regs.ss = host_regs.ss;
        regs.rax = 0;
        if stack != 0 {
            regs.rsp = stack;
        }
        if flags & libc::CLONE_SETTLS != 0 {
            regs.fs_base = tls;
        }
        let files = if flags & libc::CLONE_FILES != 0 {
            parent.files.clone()
        } else {
            Rc::new(RefCell::new(parent.files.borrow().clone()))
        };
        let fs = if flags & libc::CLONE_FS != 0 {
            parent.fs.clone()
        } else {
            Rc::new(RefCell::new(parent.fs.borrow().clone()))
        };
        let sighand = if flags & libc::CLONE_SIGHAND != 0 {
            parent.sighand.clone()
        } else {
            let mut acts = *parent.sighand.borrow();
            if clear_sighand {
                for a in acts
                    .iter_mut()
                    .filter(|a| a.handler != super::signal::SIG_IGN)
                {
                    *a = Default::default();
                }
            }
            Rc::new(RefCell::new(acts))
        };
        let child = Task {
            tid: new_tid,
            tgid: if flags & libc::CLONE_THREAD != 0 {
                p_tgid
            } else {
                new_tid
            },
            host_tid: host,
            mm: child_mm,
            regs,
            state: RunState::Stopped,
            files,
            fs,
            sighand,
            uts: if flags & libc::CLONE_NEWUTS != 0 {
                let mut copy = parent.uts.borrow().clone();
                copy.owner = child_creds.as_ref().unwrap_or(&parent.creds).userns.clone();
                Rc::new(RefCell::new(copy))
            } else {
                parent.uts.clone()
            },
            // A new one (CLONE_NEWNET) is made below, owned by the child's user namespace.
            net: parent.net.clone(),
            mnt: parent.mnt,
            sigmask: parent.sigmask,
            saved_mask: None,
            pending: vec![],
            altstack: if flags & libc::CLONE_VM != 0 && flags & libc::CLONE_VFORK == 0 {
                (0, libc::SS_DISABLE, 0)
            } else {
                parent.altstack
            },
            clear_child_tid: if flags & libc::CLONE_CHILD_CLEARTID != 0 {
                ctid
            } else {
                0
            },
            robust_list: 0,
            sys_deadline: None,
            sys_progress: 0,
            sys_files: Default::default(),
            interrupting: false,
            fault_retry: None,
            dying: false,
            vfork_parent: (flags & libc::CLONE_VFORK != 0).then_some(tid),
            comm: parent.comm.clone(),
            cpu_base: 0,
            sched: parent.sched.forked(),
            // A thread shares its creator's credentials; a process gets a copy of its
            // own (Linux's copy_creds).
            creds_id: if flags & libc::CLONE_THREAD != 0 && child_creds.is_none() {
                parent.creds_id
            } else {
                fresh_creds
            },
            creds: child_creds.unwrap_or_else(|| parent.creds.clone()),
            io: Default::default(),
        };
        if let Ok(fpu) = self.plat.get_fpu(p_host) {
            let _ = self.plat.set_fpu(host, &fpu);
        }
        self.host2tid.insert(host, new_tid);
        self.tasks.insert(new_tid, child);
        if flags & libc::CLONE_NEWNS != 0 {
            let mnt = self.new_mount_namespace(new_tid);
            self.tasks.get_mut(&new_tid).expect("just made").mnt = mnt;
        }
        if flags & libc::CLONE_NEWNET != 0 {
            let owner = self.tasks[&new_tid].creds.userns.clone();
            let net = self.new_net_namespace(owner);
            self.tasks.get_mut(&new_tid).expect("just made").net = net;
        }
        if flags & libc::CLONE_THREAD != 0 {
            self.tgs.get_mut(&p_tgid).expect("tg").threads.push(new_tid);
        } else {
            let pg = &self.tgs[&p_tgid];
            let ppid = if flags & libc::CLONE_PARENT != 0 {
                pg.ppid
            } else {
                p_tgid
            };
            let g = ThreadGroup {
                pid: new_tid,
                ppid,
                pgid: pg.pgid,
                sid: pg.sid,
                threads: vec![new_tid],
                children: vec![],
                exit_signal: flags & 0xff,
                zombie: None,
                exiting: None,
                shared_pending: vec![],
                stopped: None,
                continued: false,
                itimer_real: None,
                posix_timers: Default::default(),
                itimer_cpu: [None; 2],
                cpu_exited: 0,
                io_exited: Default::default(),
                cpu_children: 0,
                did_exec: false,
                rlimits: pg.rlimits.clone(),
                creds: self.tasks[&new_tid].creds.clone(),
                exe: pg.exe.clone(),
                start_ns: self.clocks.mono(),
                // Not inherited: the subreaper mark, the death signal (fork clears it).
                prctl: ProcessPrctl {
                    not_dumpable: pg.prctl.not_dumpable,
                    parent_tid: tid,
                    ..Default::default()
                },
            };
            self.tgs.insert(new_tid, g);
            if let Some(p) = self.tgs.get_mut(&ppid) {
                p.children.push(new_tid);
            }
        }
        if flags & libc::CLONE_PARENT_SETTID != 0 {
            let _ = self.write_u32(tid, ptid, new_tid as u32);
        }
        if flags & libc::CLONE_CHILD_SETTID != 0 {
            let _ = self.write_u32(new_tid, ctid, new_tid as u32);
        }
        // A traced child runs at once to its first stop (its tracer decides when it runs
        // on), pending SIGSTOP or PTRACE_EVENT_STOP.
        let traced = self.ptrace_cloned(tid, new_tid, flags);
        if traced {
            self.deliver_and_resume(new_tid);
        }
        if flags & libc::CLONE_VFORK != 0 {
            if !traced {
                self.resume(new_tid);
            }
            if self.ptrace_vfork_stop_due(tid) {
                // PTRACE_EVENT_VFORK comes first; the wait for the child when the tracer
                // resumes it.
                return Sys::Ret(new_tid as i64);
            }
            let t = self.task_mut(tid);
            t.regs.rax = new_tid as u64;
            t.state = RunState::VforkWait(new_tid);
            return Sys::Gone;
        }
        if !traced {
            self.hold(tid, new_tid);
        }
        Sys::Ret(new_tid as i64)
    }

    /// The live process `pid` names for task `tid` (0: its own). EINVAL for a negative
    /// pid, ESRCH for no such process or a zombie.
    pub(crate) fn find_process(&self, tid: i32, pid: i32) -> Result<i32, Errno> {
        if pid == 0 {
            return Ok(self.tasks[&tid].tgid);
        }
        if pid < 0 {
            return Err(libc::EINVAL);
        }
        match self.tgs.get(&pid) {
            Some(g) if g.zombie.is_none() => Ok(pid),
            _ => Err(libc::ESRCH),
        }
    }

    /// setpgid(2) by task `tid`: moves process `pid` (0: its own; else itself or a child)
    /// to group `pgid` (0: the process's own pid), with Linux's checks: EINVAL for a
    /// negative group or a thread that leads no process, ESRCH for no such process or
    /// one neither itself nor its child, EPERM for a child in another session, a session
    /// leader, or a group that does not exist in the caller's session, EACCES for a
    /// child that has called execve.
    pub(crate) fn setpgid(&mut self, tid: i32, pid: i32, pgid: i32) -> Result<(), Errno> {
        let me = self.tasks[&tid].tgid;
        let pid = if pid == 0 { me } else { pid };
        let pgid = if pgid == 0 { pid } else { pgid };
        if pgid < 0 {
            return Err(libc::EINVAL);
        }
        let Some(g) = self.tgs.get(&pid) else {
            // A thread that is not its process's leader names no process here.
            return Err(if self.tasks.contains_key(&pid) {
                libc::EINVAL
            } else {
                libc::ESRCH
            });
        };
        let my_sid = self.tgs[&me].sid;
        if g.ppid == me && pid != me {
            if g.sid != my_sid {
                return Err(libc::EPERM);
            }
            if g.did_exec {
                return Err(libc::EACCES);
            }
        } else if pid != me {
            return Err(libc::ESRCH);
        }
        if g.sid == g.pid {
            return Err(libc::EPERM);
        }
        if pgid != pid && !self.tgs.values().any(|o| o.pgid == pgid && o.sid == my_sid) {
            return Err(libc::EPERM);
        }
        self.tgs.get_mut(&pid).expect("tg").pgid = pgid;
        Ok(())
    }

    /// setsid(2) by task `tid`: its process leads a new session and group. Returns the
    /// session id.
    pub(crate) fn setsid(&mut self, tid: i32) -> Result<i32, Errno> {
        let me = self.tasks[&tid].tgid;
        if self
            .tgs
            .values()
            .any(|g| g.pgid == me && g.zombie.is_none() && g.pid != me)
            || self.tgs[&me].pgid == me
        {
            return Err(libc::EPERM);
        }
        let g = self.tgs.get_mut(&me).expect("tg");
        g.sid = me;
        g.pgid = me;
        Ok(me)
    }

    /// Sets limit `res` of process `pid`; RLIMIT_NOFILE also limits its fd table.
    pub(crate) fn set_rlimit(&mut self, pid: i32, res: usize, lim: (u64, u64)) {
        self.tgs.get_mut(&pid).expect("tg").rlimits[res] = lim;
        if res == libc::RLIMIT_NOFILE as usize {
            let n = lim.0.min(1 << 20) as i32;
            let t = self.tgs[&pid].threads[0];
            self.tasks[&t].files.borrow_mut().limit = n;
        }
    }
}
