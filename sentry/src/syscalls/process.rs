//! Process calls: clone/fork/vfork, execve, exit, wait, identities, limits, uname, prctl.

use std::cell::RefCell;
use std::rc::Rc;

use super::ret;
use crate::kernel::signal::SigAction;
use crate::kernel::task::{Park, RunState, Task, ThreadGroup, WaitKey, WaitStatus};
use crate::kernel::{err, Kernel, Sys, SysCtx};
use crate::mm::{Mm, MmCtx};

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

/// A child state change found by wait: (pid, wait status word, si_code, si_status, uid).
type WaitHit = (i32, i32, i32, i32, u32);

/// An executable read by execve.
struct ExecFile {
    data: Vec<u8>,
    path: String,
    inode: crate::creds::Inode,
    suid_ok: bool,
}

impl Kernel {
    pub fn sys_exit(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let g = self.tg_of_mut(tid);
        if g.threads.len() == 1 {
            g.exiting
                .get_or_insert(WaitStatus::Exited(a[0] as i32 & 0xff));
        }
        self.exit_task(tid, false);
        Sys::Gone
    }

    pub fn sys_exit_group(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let tgid = self.tasks[&tid].tgid;
        self.kill_group(tgid, WaitStatus::Exited(a[0] as i32 & 0xff));
        Sys::Gone
    }

    pub fn sys_clone(
        &mut self,
        tid: i32,
        flags: u64,
        stack: u64,
        ptid: u64,
        ctid: u64,
        tls: u64,
    ) -> Sys {
        let flags = flags as i32;
        let ns_flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUSER
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWCGROUP;
        if flags & ns_flags != 0 {
            return err(libc::EPERM);
        }
        if (flags & libc::CLONE_THREAD != 0 && flags & libc::CLONE_SIGHAND == 0)
            || (flags & libc::CLONE_SIGHAND != 0 && flags & libc::CLONE_VM == 0)
            || flags & libc::CLONE_PIDFD != 0
        {
            return err(libc::EINVAL);
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
                mf: &mut self.mf,
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
                        mf: &mut self.mf,
                        plat: &mut *self.plat,
                    };
                    e.mm.destroy(&mut cx);
                }
                return err(libc::EAGAIN);
            }
        };
        let new_tid = self.alloc_pid();
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
            Rc::new(RefCell::new(*parent.sighand.borrow()))
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
            interrupting: false,
            dying: false,
            vfork_parent: (flags & libc::CLONE_VFORK != 0).then_some(tid),
            comm: parent.comm.clone(),
        };
        if let Ok(fpu) = self.plat.get_fpu(p_host) {
            let _ = self.plat.set_fpu(host, &fpu);
        }
        self.host2tid.insert(host, new_tid);
        self.tasks.insert(new_tid, child);
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
                rlimits: pg.rlimits.clone(),
                creds: pg.creds.clone(),
                exe: pg.exe.clone(),
                start_ns: self.clocks.mono(),
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
        self.resume(new_tid);
        if flags & libc::CLONE_VFORK != 0 {
            let t = self.task_mut(tid);
            t.regs.rax = new_tid as u64;
            t.state = RunState::VforkWait(new_tid);
            return Sys::Gone;
        }
        Sys::Ret(new_tid as i64)
    }

    pub fn sys_execveat(
        &mut self,
        tid: i32,
        dirfd: u64,
        path: u64,
        argv: u64,
        envp: u64,
        flags: u64,
    ) -> Sys {
        let p = tryk!(self.read_path(tid, path));
        let argv = tryk!(self.read_strv(tid, argv));
        let envp = tryk!(self.read_strv(tid, envp));
        let full = if p.first() == Some(&b'/') || dirfd as i32 == libc::AT_FDCWD {
            p
        } else {
            let dir = tryk!(self.dirfd_path(tid, dirfd as i32, &p));
            format!(
                "{}/{}",
                dir.trim_end_matches('/'),
                String::from_utf8_lossy(&p)
            )
            .into_bytes()
        };
        let _ = flags;
        match self.exec(tid, &full, argv, envp) {
            Ok(()) => Sys::Regs,
            Err(e) => err(e),
        }
    }

    /// Reads a whole executable file, which the caller must be allowed to execute (not
    /// necessarily to read). Returns its bytes, its guest path, its inode and whether its
    /// mount honours set-user-ID bits.
    fn read_exec(&mut self, tid: i32, path: &[u8]) -> Result<ExecFile, i32> {
        let f = self.open_path(tid, libc::AT_FDCWD, path, libc::O_RDONLY, 0, false)?;
        let st = f.borrow().imp.stat()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(libc::EACCES);
        }
        let inode: crate::creds::Inode = (&st).into();
        self.creds(tid).may(&inode, crate::creds::MAY_EXEC)?;
        let guest_path = f.borrow().path.clone();
        let (m, _) = self.vfs.mount_for(&crate::fs::split(&guest_path));
        let suid_ok = !self.vfs.mounts[m].nosuid;
        if st.st_size > 1 << 30 {
            return Err(libc::ENOMEM);
        }
        let mut data = Vec::with_capacity(st.st_size as usize);
        loop {
            let chunk = f
                .borrow_mut()
                .read(1 << 20, Some(data.len() as u64))
                .map_err(|e| match e {
                    crate::fs::file::IoErr::Errno(e) => e,
                    _ => libc::EIO,
                })?;
            if chunk.is_empty() {
                break;
            }
            data.extend(chunk);
            if data.len() > 1 << 30 {
                return Err(libc::ENOMEM);
            }
        }
        Ok(ExecFile {
            data,
            path: guest_path,
            inode,
            suid_ok,
        })
    }

    /// Replaces the task's program (execve). On error the old program goes on.
    pub fn exec(
        &mut self,
        tid: i32,
        path: &[u8],
        mut argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
    ) -> Result<(), i32> {
        let mut path = path.to_vec();
        let mut file = self.read_exec(tid, &path)?;
        // `#!` scripts, up to four levels deep.
        for depth in 0.. {
            if !file.data.starts_with(b"#!") {
                break;
            }
            if depth >= 4 {
                return Err(libc::ELOOP);
            }
            let line_end = file
                .data
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(file.data.len())
                .min(256);
            let line = String::from_utf8_lossy(&file.data[2..line_end])
                .trim()
                .to_string();
            let mut parts = line.splitn(2, [' ', '\t']);
            let interp = parts.next().unwrap_or("").to_string();
            if interp.is_empty() {
                return Err(libc::ENOEXEC);
            }
            let mut nargv = vec![interp.clone().into_bytes()];
            if let Some(arg) = parts.next().map(str::trim).filter(|a| !a.is_empty()) {
                nargv.push(arg.as_bytes().to_vec());
            }
            nargv.push(path.clone());
            nargv.extend(argv.into_iter().skip(1));
            argv = nargv;
            path = interp.into_bytes();
            file = self.read_exec(tid, &path)?;
        }
        let ExecFile {
            data,
            path: resolved,
            inode,
            suid_ok,
        } = file;
        let mut random = [0u8; 16];
        crate::fs::dev::random_bytes(&mut random);
        // The credentials the new program runs with (set-user-ID, capabilities), applied
        // at the point of no return below.
        let mut creds = self.tg_of(tid).creds.clone();
        let secure = creds.exec(inode.mode, inode.uid, inode.gid, suid_ok);
        let ids = crate::loader::elf::Ids {
            uid: creds.uid,
            euid: creds.euid,
            gid: creds.gid,
            egid: creds.egid,
            secure,
        };
        // Build the new address space.
        let mut cx = MmCtx {
            mf: &mut self.mf,
            plat: &mut *self.plat,
        };
        let mut mm = Mm::new(&mut cx).map_err(|_| libc::ENOMEM)?;
        let mut interp_data: Vec<u8> = Vec::new();
        if let Ok(e) = crate::loader::elf::Elf::parse(&data) {
            if let Some(ip) = e.interp()? {
                interp_data = self
                    .read_exec(tid, ip.as_bytes())
                    .map(|d| d.data)
                    .map_err(|_| libc::ENOENT)?;
            }
        }
        let mut cx = MmCtx {
            mf: &mut self.mf,
            plat: &mut *self.plat,
        };
        let loaded = crate::loader::elf::load(
            &mut mm,
            &mut cx,
            &data,
            &mut |_| Ok(interp_data.clone()),
            &argv,
            &envp,
            &path,
            &ids,
            random,
        );
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                mm.destroy(&mut cx);
                return Err(e);
            }
        };
        let host = match self.plat.new_thread(mm.id) {
            Ok(h) => h,
            Err(_) => {
                let mut cx = MmCtx {
                    mf: &mut self.mf,
                    plat: &mut *self.plat,
                };
                mm.destroy(&mut cx);
                return Err(libc::ENOMEM);
            }
        };
        // Point of no return: other threads go, the old address space is left.
        let tgid = self.tasks[&tid].tgid;
        let others: Vec<i32> = self.tgs[&tgid]
            .threads
            .iter()
            .copied()
            .filter(|&t| t != tid)
            .collect();
        for t in others {
            match self.tasks[&t].state {
                RunState::Running => {
                    self.task_mut(t).dying = true;
                    let h = self.tasks[&t].host_tid;
                    let _ = self.plat.interrupt(h);
                }
                _ => self.exit_task(t, false),
            }
        }
        self.release_mm(tid, false);
        let new_mm = self.add_mm(mm);
        let mut regs = self.plat.get_regs(host).map_err(|_| libc::ENOMEM)?;
        regs.rip = loaded.entry;
        regs.rsp = loaded.sp;
        for r in [
            &mut regs.rax,
            &mut regs.rbx,
            &mut regs.rcx,
            &mut regs.rdx,
            &mut regs.rsi,
            &mut regs.rdi,
            &mut regs.rbp,
        ] {
            *r = 0;
        }
        for r in [
            &mut regs.r8,
            &mut regs.r9,
            &mut regs.r10,
            &mut regs.r11,
            &mut regs.r12,
            &mut regs.r13,
            &mut regs.r14,
            &mut regs.r15,
        ] {
            *r = 0;
        }
        regs.eflags = 0x202;
        regs.fs_base = 0;
        regs.gs_base = 0;
        regs.orig_rax = u64::MAX;
        self.host2tid.insert(host, tid);
        let comm: String =
            String::from_utf8_lossy(path.rsplit(|&b| b == b'/').next().unwrap_or(&path))
                .chars()
                .take(15)
                .collect();
        let vfork_parent = {
            let t = self.task_mut(tid);
            t.mm = new_mm;
            t.host_tid = host;
            t.regs = regs;
            t.altstack = (0, libc::SS_DISABLE, 0);
            t.comm = comm;
            t.vfork_parent.take()
        };
        // Handlers reset to default (ignored stay ignored); shared tables are unshared.
        let t = &self.tasks[&tid];
        let mut acts = *t.sighand.borrow();
        for a in acts.iter_mut() {
            if a.handler != crate::kernel::signal::SIG_IGN {
                *a = SigAction::default();
            }
        }
        let files = Rc::new(RefCell::new(t.files.borrow().clone()));
        let t = self.task_mut(tid);
        t.sighand = Rc::new(RefCell::new(acts));
        t.files = files.clone();
        let cloexec: Vec<i32> = files
            .borrow()
            .fds
            .iter()
            .filter(|(_, e)| e.cloexec)
            .map(|(&k, _)| k)
            .collect();
        for fd in cloexec {
            let _ = self.close_fd(tid, fd);
        }
        let g = self.tg_of_mut(tid);
        g.exe = resolved;
        g.creds = creds;
        if let Some(p) = vfork_parent {
            self.release_vfork(p);
        }
        Ok(())
    }

    /// Children of `me` selected by a wait pid argument.
    fn wait_candidates(&self, me: i32, pid: i64) -> Vec<i32> {
        let my_pgid = self.tgs[&me].pgid;
        self.tgs[&me]
            .children
            .iter()
            .copied()
            .filter(|c| {
                let Some(g) = self.tgs.get(c) else {
                    return false;
                };
                match pid {
                    -1 => true,
                    0 => g.pgid == my_pgid,
                    p if p > 0 => *c as i64 == p,
                    p => g.pgid as i64 == -p,
                }
            })
            .collect()
    }

    /// Finds a child state change for wait; reaps a zombie unless `peek`.
    /// Returns (pid, wait-status word, si_code, si_status).
    fn wait_one(
        &mut self,
        me: i32,
        pid: i64,
        options: i32,
        peek: bool,
    ) -> Result<Option<WaitHit>, i32> {
        let kids = self.wait_candidates(me, pid);
        if kids.is_empty() {
            return Err(libc::ECHILD);
        }
        for c in kids {
            let g = &self.tgs[&c];
            let uid = g.creds.uid;
            if let Some(st) = g.zombie {
                if options & libc::WEXITED != 0 {
                    let (code, sst) = match st {
                        WaitStatus::Exited(x) => (libc::CLD_EXITED, x),
                        WaitStatus::Signaled(s, true) => (libc::CLD_DUMPED, s),
                        WaitStatus::Signaled(s, false) => (libc::CLD_KILLED, s),
                    };
                    if !peek {
                        self.tgs.remove(&c);
                        self.tgs
                            .get_mut(&me)
                            .expect("me")
                            .children
                            .retain(|&x| x != c);
                    }
                    return Ok(Some((c, st.raw(), code, sst, uid)));
                }
                continue;
            }
            if options & libc::WUNTRACED != 0 {
                if let Some((sig, false)) = g.stopped {
                    if !peek {
                        self.tgs.get_mut(&c).expect("c").stopped = Some((sig, true));
                    }
                    return Ok(Some((c, (sig << 8) | 0x7f, libc::CLD_STOPPED, sig, uid)));
                }
            }
            if options & libc::WCONTINUED != 0 && g.continued {
                if !peek {
                    self.tgs.get_mut(&c).expect("c").continued = false;
                }
                return Ok(Some((c, 0xffff, libc::CLD_CONTINUED, libc::SIGCONT, uid)));
            }
        }
        Ok(None)
    }

    pub fn sys_wait4(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (pid, status, options, rusage) = (a[0] as i32 as i64, a[1], a[2] as i32, a[3]);
        if options
            & !(libc::WNOHANG
                | libc::WUNTRACED
                | libc::WCONTINUED
                | libc::__WALL
                | libc::__WCLONE
                | libc::__WNOTHREAD)
            != 0
        {
            return err(libc::EINVAL);
        }
        let me = self.tasks[&tid].tgid;
        match self.wait_one(me, pid, options | libc::WEXITED, false) {
            Err(e) => err(e),
            Ok(Some((c, st, ..))) => {
                if status != 0 {
                    tryk!(self.write_u32(tid, status, st as u32));
                }
                if rusage != 0 {
                    tryk!(self.write_mem(tid, rusage, &[0u8; 144]));
                }
                Sys::Ret(c as i64)
            }
            Ok(None) if options & libc::WNOHANG != 0 => Sys::Ret(0),
            Ok(None) => Sys::Park(Park {
                keys: vec![WaitKey::Child(me)],
                deadline: None,
            }),
        }
    }

    pub fn sys_waitid(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (idtype, id, infop, options) = (a[0] as i32, a[1] as i32, a[2], a[3] as i32);
        let pid: i64 = match idtype as u32 {
            libc::P_ALL => -1,
            libc::P_PID => id as i64,
            libc::P_PGID => {
                if id == 0 {
                    0
                } else {
                    -(id as i64)
                }
            }
            _ => return err(libc::EINVAL),
        };
        if options & (libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED) == 0 {
            return err(libc::EINVAL);
        }
        let me = self.tasks[&tid].tgid;
        let mut opts = options;
        if options & libc::WSTOPPED != 0 {
            opts |= libc::WUNTRACED;
        }
        match self.wait_one(me, pid, opts, options & libc::WNOWAIT != 0) {
            Err(e) => err(e),
            Ok(Some((c, _, code, sst, uid))) => {
                if infop != 0 {
                    let info = crate::kernel::signal::SigInfo::child(c, uid, code, sst);
                    tryk!(self.write_mem(tid, infop, &info.to_bytes()));
                }
                Sys::Ret(0)
            }
            Ok(None) if options & libc::WNOHANG != 0 => {
                if infop != 0 {
                    tryk!(self.write_mem(tid, infop, &[0u8; 128]));
                }
                Sys::Ret(0)
            }
            Ok(None) => Sys::Park(Park {
                keys: vec![WaitKey::Child(me)],
                deadline: None,
            }),
        }
    }

    fn tg_by_pid(&self, tid: i32, pid: u64) -> Result<i32, i32> {
        let pid = pid as i32;
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

    pub fn sys_getpgid(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        ret(self.tg_by_pid(tid, a[0]).map(|p| self.tgs[&p].pgid as i64))
    }

    pub fn sys_getsid(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        ret(self.tg_by_pid(tid, a[0]).map(|p| self.tgs[&p].sid as i64))
    }

    pub fn sys_setpgid(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let me = self.tasks[&tid].tgid;
        let target = tryk!(self.tg_by_pid(tid, a[0]));
        if target != me && self.tgs[&target].ppid != me {
            return err(libc::ESRCH);
        }
        let pgid = if a[1] as i32 == 0 {
            target
        } else {
            a[1] as i32
        };
        if pgid < 0 {
            return err(libc::EINVAL);
        }
        let g = self.tgs.get_mut(&target).expect("tg");
        if g.sid == g.pid {
            return err(libc::EPERM);
        }
        g.pgid = pgid;
        Sys::Ret(0)
    }

    pub fn sys_setsid(&mut self, tid: i32) -> Sys {
        let me = self.tasks[&tid].tgid;
        if self
            .tgs
            .values()
            .any(|g| g.pgid == me && g.zombie.is_none() && g.pid != me)
            || self.tgs[&me].pgid == me
        {
            return err(libc::EPERM);
        }
        let g = self.tgs.get_mut(&me).expect("tg");
        g.sid = me;
        g.pgid = me;
        Sys::Ret(me as i64)
    }

    pub fn sys_prlimit(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let (pid, res, new, old) = (a[0], a[1] as usize, a[2], a[3]);
        let target = tryk!(self.tg_by_pid(tid, pid));
        if res >= 16 {
            return err(libc::EINVAL);
        }
        let cur = self.tgs[&target].rlimits[res];
        if old != 0 {
            let mut b = cur.0.to_le_bytes().to_vec();
            b.extend_from_slice(&cur.1.to_le_bytes());
            tryk!(self.write_mem(tid, old, &b));
        }
        if new != 0 {
            let b = tryk!(self.read_mem(tid, new, 16));
            let soft = u64::from_le_bytes(b[..8].try_into().expect("8"));
            let hard = u64::from_le_bytes(b[8..].try_into().expect("8"));
            if soft > hard {
                return err(libc::EINVAL);
            }
            if hard > cur.1 && !self.creds(tid).has(crate::creds::CAP_SYS_RESOURCE) {
                return err(libc::EPERM);
            }
            self.tgs.get_mut(&target).expect("tg").rlimits[res] = (soft, hard);
            if res == libc::RLIMIT_NOFILE as usize {
                let lim = soft.min(1 << 20) as i32;
                let t = self.tgs[&target].threads[0];
                self.tasks[&t].files.borrow_mut().limit = lim;
            }
        }
        Sys::Ret(0)
    }

    pub fn sys_uname(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let mut b = vec![0u8; 65 * 6];
        let fields = [
            "Linux",
            self.hostname.as_str(),
            "4.4.0",
            "#1 SMP Sun Jan 10 15:06:54 PST 2016",
            "x86_64",
            "(none)",
        ];
        for (i, f) in fields.iter().enumerate() {
            let n = f.len().min(64);
            b[i * 65..i * 65 + n].copy_from_slice(&f.as_bytes()[..n]);
        }
        ret(self.write_mem(tid, a[0], &b).map(|_| 0))
    }

    pub fn sys_sethostname(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if a[1] > 64 {
            return err(libc::EINVAL);
        }
        if !self.creds(tid).has(crate::creds::CAP_SYS_ADMIN) {
            return err(libc::EPERM);
        }
        let b = tryk!(self.read_mem(tid, a[0], a[1] as usize));
        self.hostname = String::from_utf8_lossy(&b).into_owned();
        Sys::Ret(0)
    }

    pub fn sys_arch_prctl(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        const ARCH_SET_GS: u64 = 0x1001;
        const ARCH_SET_FS: u64 = 0x1002;
        const ARCH_GET_FS: u64 = 0x1003;
        const ARCH_GET_GS: u64 = 0x1004;
        const ARCH_GET_CPUID: u64 = 0x1011;
        match a[0] {
            ARCH_SET_FS | ARCH_SET_GS => {
                if a[1] >= crate::platform::GUEST_TOP {
                    return err(libc::EPERM);
                }
                let t = self.task_mut(tid);
                if a[0] == ARCH_SET_FS {
                    t.regs.fs_base = a[1];
                } else {
                    t.regs.gs_base = a[1];
                }
                Sys::Ret(0)
            }
            ARCH_GET_FS => {
                let v = self.tasks[&tid].regs.fs_base;
                ret(self.write_u64(tid, a[1], v).map(|_| 0))
            }
            ARCH_GET_GS => {
                let v = self.tasks[&tid].regs.gs_base;
                ret(self.write_u64(tid, a[1], v).map(|_| 0))
            }
            ARCH_GET_CPUID => Sys::Ret(1),
            _ => err(libc::EINVAL),
        }
    }

    pub fn sys_sched_getaffinity(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let len = a[1] as usize;
        if len < 8 || !len.is_multiple_of(8) {
            return err(libc::EINVAL);
        }
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(64);
        let mask: u64 = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        ret(self.write_mem(tid, a[2], &mask.to_le_bytes()).map(|_| 8))
    }

    pub fn sys_times(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if a[0] != 0 {
            tryk!(self.write_mem(tid, a[0], &[0u8; 32]));
        }
        Sys::Ret((self.clocks.mono() / 10_000_000) as i64)
    }

    pub fn sys_sysinfo(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let mut b = vec![0u8; 112];
        let up = (self.clocks.mono().saturating_sub(self.boot_ns) / 1_000_000_000) as i64;
        b[0..8].copy_from_slice(&up.to_le_bytes());
        let total: u64 = 2 << 30;
        b[32..40].copy_from_slice(&total.to_le_bytes());
        b[40..48].copy_from_slice(&total.saturating_sub(self.mf.allocated).to_le_bytes());
        b[80..82].copy_from_slice(&(self.tgs.len() as u16).to_le_bytes());
        b[104..108].copy_from_slice(&1u32.to_le_bytes());
        ret(self.write_mem(tid, a[0], &b).map(|_| 0))
    }

    pub fn sys_getrandom(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        if a[2] & !7 != 0 {
            return err(libc::EINVAL);
        }
        let mut b = vec![0u8; (a[1] as usize).min(32 << 20)];
        crate::fs::dev::random_bytes(&mut b);
        ret(self.write_mem(tid, a[0], &b).map(|_| b.len() as i64))
    }

    pub fn sys_getcpu(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        for p in [a[0], a[1]] {
            if p != 0 {
                tryk!(self.write_u32(tid, p, 0));
            }
        }
        Sys::Ret(0)
    }
}

pub(super) fn prctl(c: &mut SysCtx) -> Sys {
    let a = c.args();
    if let Some(r) = super::creds::prctl_creds(c, a[0] as i32) {
        return r;
    }
    match a[0] as i32 {
        libc::PR_SET_NAME => {
            let name = tryk!(c.read_cstr(a[1], 16));
            c.set_comm(String::from_utf8_lossy(&name[..name.len().min(15)]).into_owned());
            Sys::Ret(0)
        }
        libc::PR_GET_NAME => {
            let mut b = c.comm().as_bytes().to_vec();
            b.resize(16, 0);
            ret(c.write_mem(a[1], &b).map(|_| 0))
        }
        libc::PR_SET_PDEATHSIG
        | libc::PR_SET_DUMPABLE
        | libc::PR_SET_CHILD_SUBREAPER
        | libc::PR_SET_TIMERSLACK => Sys::Ret(0),
        libc::PR_GET_DUMPABLE => Sys::Ret(1),
        libc::PR_GET_CHILD_SUBREAPER => Sys::Ret(0),
        libc::PR_GET_PDEATHSIG => ret(c.write_u32(a[1], 0).map(|_| 0)),
        libc::PR_GET_SECCOMP => Sys::Ret(0),
        _ => err(libc::EINVAL),
    }
}

/// True when a file is a terminal (used by the TTY ioctls).
pub fn is_tty(f: &crate::fs::file::FileRef) -> bool {
    f.borrow()
        .kind::<crate::fs::stdio::HostStream>()
        .is_some_and(|s| s.is_tty())
}

#[cfg(test)]
mod tests {
    use crate::testing::{kernel, SCRATCH};

    #[test]
    fn identity_and_uname() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        assert_eq!(k.call(t, libc::SYS_getpid, [0; 6]), Some(t as i64));
        assert_eq!(k.call(t, libc::SYS_gettid, [0; 6]), Some(t as i64));
        assert_eq!(k.call(t, libc::SYS_getppid, [0; 6]), Some(0));
        assert_eq!(
            k.call(t, libc::SYS_uname, [SCRATCH, 0, 0, 0, 0, 0]),
            Some(0)
        );
        let u = k.get(t, SCRATCH, 65 * 2);
        assert_eq!(&u[..6], b"Linux\0");
        assert_eq!(&u[65..70], b"test\0");
        let name = b"renamed";
        k.put(t, SCRATCH, name);
        assert_eq!(
            k.call(
                t,
                libc::SYS_sethostname,
                [SCRATCH, name.len() as u64, 0, 0, 0, 0]
            ),
            Some(0)
        );
        assert_eq!(k.hostname, "renamed");
    }

    #[test]
    fn rlimits_hard_limits_need_cap_sys_resource() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(1000, 1000);
        let nofile = libc::RLIMIT_NOFILE as u64;
        assert_eq!(
            k.call(t, libc::SYS_prlimit64, [0, nofile, 0, SCRATCH, 0, 0]),
            Some(0)
        );
        let hard = u64::from_le_bytes(k.get(t, SCRATCH + 8, 8).try_into().unwrap());
        let mut new = 64u64.to_le_bytes().to_vec();
        new.extend_from_slice(&(hard + 1).to_le_bytes());
        k.put(t, SCRATCH + 32, &new);
        assert_eq!(
            k.call(t, libc::SYS_prlimit64, [0, nofile, SCRATCH + 32, 0, 0, 0]),
            Some(-(libc::EPERM as i64))
        );
        let mut lower = 64u64.to_le_bytes().to_vec();
        lower.extend_from_slice(&128u64.to_le_bytes());
        k.put(t, SCRATCH + 32, &lower);
        assert_eq!(
            k.call(t, libc::SYS_prlimit64, [0, nofile, SCRATCH + 32, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(k.tasks[&t].files.borrow().limit, 64);
    }
}
