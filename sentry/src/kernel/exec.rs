//! execve: reading the program (and `#!` interpreters), building the new address space,
//! and the point of no return (other threads go, close-on-exec fds close, handlers reset,
//! set-user-ID credentials apply).

use std::cell::RefCell;
use std::rc::Rc;

use super::signal::SigAction;
use super::task::RunState;
use super::Kernel;
use crate::mm::{Errno, Mm, MmCtx};

/// An executable read by execve.
struct ExecFile {
    data: Vec<u8>,
    path: String,
    inode: crate::creds::Inode,
    suid_ok: bool,
}

impl Kernel {
    /// Reads a whole executable file, which the caller must be allowed to execute (not
    /// necessarily to read). Returns its bytes, its guest path, its inode and whether its
    /// mount honours set-user-ID bits.
    fn read_exec(&self, tid: i32, path: &[u8]) -> Result<ExecFile, Errno> {
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
        // Nothing runs from a noexec mount.
        if self.vfs.mounts[m].flags & crate::fs::mounts::MS_NOEXEC != 0 {
            return Err(libc::EACCES);
        }
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
    pub(crate) fn exec(
        &mut self,
        tid: i32,
        path: &[u8],
        script_name: Option<&[u8]>,
        mut argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
    ) -> Result<(), Errno> {
        let mut path = path.to_vec();
        // AT_EXECFN names what the caller ran (a script, not its interpreter; for a file
        // reached through an fd, /dev/fd/N[/PATH]), as Linux's bprm->filename.
        let execfn = script_name.map_or_else(|| path.clone(), <[u8]>::to_vec);
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
            // A script run through an fd (execveat) is named /dev/fd/N to its interpreter.
            match script_name.filter(|_| depth == 0) {
                Some(name) => nargv.push(name.to_vec()),
                None => nargv.push(path.clone()),
            }
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
        let mut creds = self.creds(tid).clone();
        // A file system context shared with another process makes the exec unsafe
        // (Linux's LSM_UNSAFE_SHARE): set-user-ID and set-group-ID bits are then not
        // honoured unless the caller may set ids anyway.
        let shared_fs = {
            let fs = &self.tasks[&tid].fs;
            let mine = self
                .tg_of(tid)
                .threads
                .iter()
                .filter(|t| Rc::ptr_eq(&self.tasks[t].fs, fs))
                .count();
            Rc::strong_count(fs) > mine
        };
        let suid_ok = suid_ok && (!shared_fs || creds.has(crate::creds::CAP_SETUID));
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
            mf: &self.mf,
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
            mf: &self.mf,
            plat: &mut *self.plat,
        };
        let loaded = crate::loader::elf::load(
            &mut mm,
            &mut cx,
            &data,
            &mut |_| Ok(interp_data.clone()),
            &argv,
            &envp,
            &execfn,
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
                    mf: &self.mf,
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
        // The CPU time used on the old host thread stays its own.
        let used = self.task_cpu(tid);
        // Its robust futexes are released as at an exit, and the list forgotten.
        self.exit_robust_list(tid);
        self.release_mm(tid, false);
        // Its POSIX timers are deleted (ITIMER_REAL goes on).
        self.clear_posix_timers(tgid);
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
            t.cpu_base = used;
            t.regs = regs;
            t.altstack = (0, libc::SS_DISABLE, 0);
            t.robust_list = 0;
            t.comm = comm;
            t.vfork_parent.take()
        };
        // Handlers reset to default (ignored stay ignored); shared tables are unshared.
        let t = &self.tasks[&tid];
        let mut acts = *t.sighand.borrow();
        for a in acts.iter_mut() {
            if a.handler != super::signal::SIG_IGN {
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
        g.did_exec = true;
        // A program run with other ids than the caller's real ones (set-user-ID or
        // set-group-ID) is not dumpable (Linux's suid_dumpable 0).
        g.prctl.not_dumpable = creds.euid != creds.uid || creds.egid != creds.gid;
        g.creds = creds.clone();
        // The thread that called execve leads the process now, with new credentials (Linux
        // prepares the program's always).
        let creds_id = self.new_creds_id();
        let t = self.task_mut(tid);
        t.creds = creds;
        t.creds_id = creds_id;
        if let Some(p) = vfork_parent {
            self.release_vfork(p);
        }
        self.ptrace_exec(tid);
        Ok(())
    }
}
