//! The kernel: tasks, thread groups, the event loop that serves their system calls,
//! signals, wait and exit.

pub mod creds;
pub mod futex;
pub mod restore;
pub mod signal;
pub mod state;
pub mod task;
pub mod time;
pub mod validate;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::rc::Rc;

use crate::fs::file::{FdTable, FileKind, OpenFile};
use crate::fs::{MountFs, Vfs};
use crate::mm::{Errno, MemoryFile, Mm, MmCtx};
use crate::platform::ptrace::Ptrace;
use crate::platform::{Event, Platform, Stop};
use crate::SandboxConfig;
use futex::Waiter;
use signal::{bit, default_action, SigAction, SigInfo, SigSet, UNBLOCKABLE};
use task::{FsContext, Park, RunState, Task, ThreadGroup, WaitKey, WaitStatus};

/// What a system call handler decided.
pub enum Sys {
    /// Return this value (or -errno) to the guest.
    Ret(i64),
    /// Park the task until one of the keys is notified or the deadline passes; the call
    /// is then served again from its saved registers.
    Park(Park),
    /// The handler set the task's registers itself (execve, rt_sigreturn).
    Regs,
    /// The task is gone (exit).
    Gone,
}

/// A process to start from outside the sandbox.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub creds: creds::Creds,
    pub rlimits: Vec<(u64, u64)>,
}

pub fn err(e: Errno) -> Sys {
    Sys::Ret(-(e as i64))
}

/// An address space with the number of tasks using it.
pub struct MmEntry {
    pub mm: Mm,
    pub users: u32,
}

/// Kernel errors (host failures while building or running the sandbox).
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("platform: {0}")]
    Platform(#[source] std::io::Error),
    #[error("cannot open mount source {path}: {source}")]
    Mount {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start {path}: {errno}")]
    Exec { path: String, errno: std::io::Error },
}

pub struct Kernel {
    pub plat: Box<dyn Platform>,
    pub mf: MemoryFile,
    pub mms: HashMap<u64, MmEntry>,
    pub(crate) next_mm: u64,
    pub tasks: BTreeMap<i32, Task>,
    pub tgs: BTreeMap<i32, ThreadGroup>,
    pub host2tid: HashMap<i32, i32>,
    pub(crate) next_pid: i32,
    pub vfs: Vfs,
    pub clocks: time::Clocks,
    pub hostname: String,
    pub futex_waiters: Vec<Waiter>,
    ready: VecDeque<i32>,
    pub(crate) next_obj: u64,
    /// The init's exit status, once it has exited.
    pub init_status: Option<WaitStatus>,
    logged: HashSet<u64>,
    /// The whole sandbox is paused (runtime `pause`, or while the world is stopped).
    pub paused: bool,
    /// Paused by the runtime (as opposed to a world stop for a checkpoint).
    user_paused: bool,
    /// Requests that need every guest thread stopped, waiting for the world to stop.
    deferred: Vec<crate::control::Envelope>,
    /// Runtime waits for a process started by `exec` (pid, where to answer).
    pid_waiters: Vec<(i32, std::sync::mpsc::Sender<crate::control::Response>)>,
    pub boot_ns: u64,
}

/// Makes a host stdio fd non-blocking for the sandbox's event loop. The caller hands over
/// a description the sandbox owns alone (`crate::host::reopen_stdio` makes one), or one
/// it does not mind becoming non-blocking: O_NONBLOCK is a property of the open file
/// description, shared with every other holder. A regular file is left as it is: it
/// never blocks.
pub(crate) fn stdio_file(fd: OwnedFd) -> OwnedFd {
    let is_file = crate::fs::host_sys::fstat(fd.as_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
        .unwrap_or(false);
    if is_file {
        return fd;
    }
    if let Ok(fl) = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL) {
        let fl = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
        let _ = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(fl));
    }
    fd
}

impl Kernel {
    /// Builds the kernel and its platform. Forks the master stub: call before the process
    /// starts threads.
    pub fn new(config: &SandboxConfig) -> Result<Kernel, KernelError> {
        let mf = MemoryFile::new().map_err(KernelError::Platform)?;
        let plat = Ptrace::new(mf.raw_fd()).map_err(KernelError::Platform)?;
        let vfs = build_vfs(config)?;
        Ok(Kernel {
            plat: Box::new(plat),
            mf,
            mms: HashMap::new(),
            next_mm: 1,
            tasks: BTreeMap::new(),
            tgs: BTreeMap::new(),
            host2tid: HashMap::new(),
            next_pid: 1,
            vfs,
            clocks: time::Clocks::default(),
            hostname: if config.hostname.is_empty() {
                "localhost".into()
            } else {
                config.hostname.clone()
            },
            futex_waiters: Vec::new(),
            ready: VecDeque::new(),
            next_obj: 1,
            init_status: None,
            logged: HashSet::new(),
            paused: false,
            user_paused: false,
            deferred: Vec::new(),
            pid_waiters: Vec::new(),
            boot_ns: time::host_clock(libc::CLOCK_MONOTONIC),
        })
    }

    pub fn new_obj_id(&mut self) -> u64 {
        self.next_obj += 1;
        self.next_obj
    }

    /// Starts the first guest process (pid 1) from the config.
    pub fn start_init(
        &mut self,
        config: &SandboxConfig,
        stdio: [OwnedFd; 3],
    ) -> Result<(), KernelError> {
        let mut rl = default_rlimits();
        for r in &config.rlimits {
            if (r.resource as usize) < rl.len() {
                rl[r.resource as usize] = (r.soft, r.hard);
            }
        }
        let spec = Spawn {
            argv: config.argv.clone(),
            env: config.env.clone(),
            cwd: config.cwd.clone(),
            creds: creds::Creds::new(
                config.uid,
                config.gid,
                config.additional_gids.clone(),
                config
                    .capabilities
                    .unwrap_or_else(|| creds::CapSets::default_for(config.uid)),
                config.no_new_privileges,
            ),
            rlimits: rl,
        };
        self.spawn(&spec, stdio.into()).map(drop)
    }

    /// Starts a guest process with no parent in the sandbox (the init, or a runtime
    /// `exec`), whose fds 0, 1, 2 are the given host fds. Returns its pid.
    pub fn spawn(&mut self, spec: &Spawn, stdio: Vec<OwnedFd>) -> Result<i32, KernelError> {
        let mut files = FdTable::new();
        for (i, fd) in stdio.into_iter().enumerate().take(3) {
            let tty = nix::unistd::isatty(fd.as_raw_fd()).unwrap_or(false);
            let f = stdio_file(fd);
            files.set(
                i as i32,
                OpenFile::new(
                    FileKind::Stream { fd: f, tty },
                    libc::O_RDWR,
                    format!("stdio:{i}"),
                ),
                false,
            );
        }
        files.limit = spec.rlimits[libc::RLIMIT_NOFILE as usize].0.min(1 << 20) as i32;
        let pid = self.alloc_pid();
        let tg = ThreadGroup {
            pid,
            ppid: 0,
            pgid: pid,
            sid: pid,
            threads: vec![],
            children: vec![],
            exit_signal: libc::SIGCHLD,
            zombie: None,
            exiting: None,
            shared_pending: vec![],
            stopped: None,
            continued: false,
            itimer_real: None,
            rlimits: spec.rlimits.clone(),
            creds: spec.creds.clone(),
            exe: String::new(),
            start_ns: self.clocks.mono(),
        };
        self.tgs.insert(pid, tg);
        // A placeholder address space; execve replaces it.
        let mut cx = MmCtx {
            mf: &mut self.mf,
            plat: &mut *self.plat,
        };
        let mm = Mm::new(&mut cx).map_err(KernelError::Platform)?;
        let mm_id = self.add_mm(mm);
        let host_tid = self
            .plat
            .new_thread(self.mms[&mm_id].mm.id)
            .map_err(KernelError::Platform)?;
        let regs = self
            .plat
            .get_regs(host_tid)
            .map_err(KernelError::Platform)?;
        let task = Task {
            tid: pid,
            tgid: pid,
            host_tid,
            mm: mm_id,
            regs,
            state: RunState::Stopped,
            files: Rc::new(RefCell::new(files)),
            fs: Rc::new(RefCell::new(FsContext {
                cwd: crate::fs::join(&crate::fs::split(&spec.cwd)),
                umask: 0o022,
            })),
            sighand: Rc::new(RefCell::new([SigAction::default(); 64])),
            sigmask: 0,
            saved_mask: None,
            pending: vec![],
            altstack: (0, libc::SS_DISABLE, 0),
            clear_child_tid: 0,
            robust_list: 0,
            sys_deadline: None,
            sys_progress: 0,
            interrupting: false,
            dying: false,
            vfork_parent: None,
            comm: String::new(),
        };
        self.host2tid.insert(host_tid, pid);
        self.tasks.insert(pid, task);
        self.tgs.get_mut(&pid).expect("just made").threads.push(pid);
        let argv: Vec<Vec<u8>> = spec.argv.iter().map(|s| s.as_bytes().to_vec()).collect();
        let envp: Vec<Vec<u8>> = spec.env.iter().map(|s| s.as_bytes().to_vec()).collect();
        let path = argv.first().cloned().unwrap_or_default();
        let path = self.find_in_path(pid, &path, &spec.env);
        if let Err(e) = self.exec(pid, &path, argv, envp) {
            if pid != 1 {
                // Leave no trace of a process that never started.
                self.exit_task(pid, false);
                self.tgs.remove(&pid);
            }
            return Err(KernelError::Exec {
                path: String::from_utf8_lossy(&path).into_owned(),
                errno: std::io::Error::from_raw_os_error(e),
            });
        }
        self.resume(pid);
        Ok(pid)
    }

    /// Looks a bare command name up in the guest PATH, as runc does for process.args[0].
    fn find_in_path(&self, tid: i32, name: &[u8], env: &[String]) -> Vec<u8> {
        if name.contains(&b'/') {
            return name.to_vec();
        }
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        for dir in path.split(':').filter(|d| !d.is_empty()) {
            let cand = format!("{dir}/{}", String::from_utf8_lossy(name));
            if let Ok(r) = self.resolve(tid, cand.as_bytes(), true) {
                if r.exists {
                    return cand.into_bytes();
                }
            }
        }
        name.to_vec()
    }

    pub fn alloc_pid(&mut self) -> i32 {
        loop {
            let p = self.next_pid;
            self.next_pid = if self.next_pid >= 4_194_303 {
                2
            } else {
                self.next_pid + 1
            };
            if !self.tasks.contains_key(&p) && !self.tgs.contains_key(&p) {
                return p;
            }
        }
    }

    pub fn add_mm(&mut self, mm: Mm) -> u64 {
        let id = self.next_mm;
        self.next_mm += 1;
        self.mms.insert(id, MmEntry { mm, users: 1 });
        id
    }

    pub fn task(&self, tid: i32) -> &Task {
        &self.tasks[&tid]
    }

    pub fn task_mut(&mut self, tid: i32) -> &mut Task {
        self.tasks.get_mut(&tid).expect("live task")
    }

    pub fn tg_of(&self, tid: i32) -> &ThreadGroup {
        &self.tgs[&self.tasks[&tid].tgid]
    }

    pub fn tg_of_mut(&mut self, tid: i32) -> &mut ThreadGroup {
        let tgid = self.tasks[&tid].tgid;
        self.tgs.get_mut(&tgid).expect("live thread group")
    }

    // ---- guest memory ----

    pub fn read_mem(&self, tid: i32, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        if len > 1 << 30 {
            return Err(libc::EFAULT);
        }
        let mut buf = vec![0u8; len];
        self.mms[&self.tasks[&tid].mm]
            .mm
            .read(&self.mf, addr, &mut buf)?;
        Ok(buf)
    }

    pub fn write_mem(&mut self, tid: i32, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let mm_id = self.tasks[&tid].mm;
        let e = self.mms.get_mut(&mm_id).expect("task mm");
        let mut cx = MmCtx {
            mf: &mut self.mf,
            plat: &mut *self.plat,
        };
        e.mm.write(&mut cx, addr, data)
    }

    pub fn read_u64(&self, tid: i32, addr: u64) -> Result<u64, Errno> {
        let b = self.read_mem(tid, addr, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8")))
    }

    pub fn read_u32(&self, tid: i32, addr: u64) -> Result<u32, Errno> {
        let b = self.read_mem(tid, addr, 4)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4")))
    }

    pub fn write_u64(&mut self, tid: i32, addr: u64, v: u64) -> Result<(), Errno> {
        self.write_mem(tid, addr, &v.to_le_bytes())
    }

    pub fn write_u32(&mut self, tid: i32, addr: u64, v: u32) -> Result<(), Errno> {
        self.write_mem(tid, addr, &v.to_le_bytes())
    }

    pub fn read_cstr(&self, tid: i32, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        self.mms[&self.tasks[&tid].mm]
            .mm
            .read_cstr(&self.mf, addr, max)
    }

    /// Reads a NULL-terminated array of string pointers (argv, envp).
    pub fn read_strv(&self, tid: i32, mut addr: u64) -> Result<Vec<Vec<u8>>, Errno> {
        let mut out = Vec::new();
        if addr == 0 {
            return Ok(out);
        }
        let mut total = 0;
        loop {
            let p = self.read_u64(tid, addr)?;
            if p == 0 {
                return Ok(out);
            }
            let s = self.read_cstr(tid, p, 128 * 1024)?;
            total += s.len() + 1;
            if total > 2 << 20 || out.len() > 0x7fff_ffff / 8 {
                return Err(libc::E2BIG);
            }
            out.push(s);
            addr += 8;
        }
    }

    // ---- paths ----

    /// Resolves a guest path for `tid` (relative to its cwd).
    pub fn resolve(
        &self,
        tid: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let cwd = self.tasks[&tid].fs.borrow().cwd.clone();
        self.resolve_at(tid, &cwd, path, follow)
    }

    pub fn resolve_at(
        &self,
        tid: i32,
        dir: &str,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let look = |rel: &[String]| crate::fs::proc::lookup(self, tid, rel);
        let creds = &self.tg_of(tid).creds;
        self.vfs.resolve(&look, creds, dir, path, follow)
    }

    /// The guest directory a `*at` call's dirfd names.
    pub fn dirfd_path(&self, tid: i32, dirfd: i32, path: &[u8]) -> Result<String, Errno> {
        if path.first() == Some(&b'/') || dirfd == libc::AT_FDCWD {
            return Ok(self.tasks[&tid].fs.borrow().cwd.clone());
        }
        let f = self.tasks[&tid]
            .files
            .borrow()
            .get(dirfd)
            .ok_or(libc::EBADF)?;
        let f = f.borrow();
        match &f.kind {
            FileKind::Host { dir: true, .. } | FileKind::SynthDir(_) => Ok(f.path.clone()),
            FileKind::Host { fd, .. } if f.flags & libc::O_PATH != 0 => {
                let st = crate::fs::host_sys::fstat(fd.as_fd())?;
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    Ok(f.path.clone())
                } else {
                    Err(libc::ENOTDIR)
                }
            }
            _ => Err(libc::ENOTDIR),
        }
    }

    pub fn resolve_dirfd(
        &self,
        tid: i32,
        dirfd: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<crate::fs::Resolved, Errno> {
        let dir = self.dirfd_path(tid, dirfd, path)?;
        self.resolve_at(tid, &dir, path, follow)
    }

    // ---- running tasks ----

    /// Writes the task's registers and lets it run guest code.
    pub fn resume(&mut self, tid: i32) {
        let t = self.tasks.get_mut(&tid).expect("task");
        if self.paused || self.tgs[&t.tgid].stopped.is_some() {
            t.state = RunState::GroupStopped;
            return;
        }
        t.state = RunState::Running;
        let (h, regs) = (t.host_tid, t.regs);
        if self.plat.set_regs(h, &regs).is_err() || self.plat.resume(h).is_err() {
            // The host thread is gone; the Gone event will clean up.
            log::warn!("cannot resume task {tid}");
        }
    }

    /// Ends the system call being served with `ret` and resumes the task, delivering
    /// pending signals first.
    fn finish(&mut self, tid: i32, out: Sys) {
        match out {
            Sys::Ret(v) => {
                let t = self.task_mut(tid);
                t.regs.rax = v as u64;
                t.sys_deadline = None;
                t.sys_progress = 0;
                self.deliver_and_resume(tid);
            }
            Sys::Regs => {
                let t = self.task_mut(tid);
                t.sys_deadline = None;
                t.sys_progress = 0;
                self.deliver_and_resume(tid);
            }
            Sys::Park(p) => {
                self.task_mut(tid).state = RunState::Parked(p);
                if self.has_deliverable(tid) {
                    self.interrupt_parked(tid);
                }
            }
            Sys::Gone => {}
        }
    }

    /// Serves the system call the task is stopped at.
    fn serve(&mut self, tid: i32) {
        let r = self.tasks[&tid].regs;
        let args = [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9];
        log::trace!(
            "[{tid}] {}({:#x}, {:#x}, {:#x})",
            crate::syscalls::name(r.orig_rax),
            args[0],
            args[1],
            args[2]
        );
        let nr = r.orig_rax;
        let out = self.contained(
            tid,
            || format!("system call {}", crate::syscalls::name(nr)),
            |k| k.dispatch(tid, nr, args),
        );
        if let Some(out) = out {
            if self.tasks.contains_key(&tid) {
                self.finish(tid, out);
            }
        }
    }

    /// Runs `f`, which serves task `tid`. A panic in it is a sentry bug: it must not take
    /// the sandbox down silently, nor leave the kernel serving a half-done call. The panic
    /// (already logged by the panic hook) is logged again with what was being served, and
    /// the task's process is killed as by SIGKILL; the rest of the sandbox goes on (when
    /// the process is the init, the sandbox ends, with that error in the log).
    fn contained<R>(
        &mut self,
        tid: i32,
        what: impl Fn() -> String,
        f: impl FnOnce(&mut Kernel) -> R,
    ) -> Option<R> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            Ok(r) => Some(r),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let tgid = self.tasks.get(&tid).map(|t| t.tgid);
                log::error!(
                    "sentry bug: {} of task {tid} (process {}) panicked: {msg}; killing the process",
                    what(),
                    tgid.map_or("gone".to_string(), |p| p.to_string())
                );
                if let Some(tgid) = tgid {
                    self.kill_group(tgid, WaitStatus::Signaled(libc::SIGKILL, false));
                }
                None
            }
        }
    }

    pub fn log_unimplemented(&mut self, nr: u64) {
        if self.logged.insert(nr) {
            log::warn!("unimplemented syscall {} ({nr})", crate::syscalls::name(nr));
        }
    }

    /// Handles one platform event.
    fn handle_event(&mut self, ev: Event) {
        log::trace!("event {ev:?}");
        let Some(&tid) = self.host2tid.get(&ev.tid) else {
            return;
        };
        if matches!(ev.stop, Stop::Gone) {
            self.host2tid.remove(&ev.tid);
            if self.tasks.contains_key(&tid) {
                let tgid = self.tasks[&tid].tgid;
                self.tgs
                    .get_mut(&tgid)
                    .expect("tg")
                    .exiting
                    .get_or_insert(WaitStatus::Signaled(libc::SIGKILL, false));
                self.exit_task(tid, true);
            }
            return;
        }
        let regs = match self.plat.get_regs(ev.tid) {
            Ok(r) => r,
            Err(_) => return,
        };
        {
            let t = self.task_mut(tid);
            t.regs = regs;
            t.state = RunState::Stopped;
        }
        if self.tasks[&tid].dying {
            self.exit_task(tid, false);
            return;
        }
        match ev.stop {
            Stop::Syscall => self.serve(tid),
            Stop::Syscall32 => {
                self.task_mut(tid).regs.rax = (-libc::ENOSYS) as i64 as u64;
                self.deliver_and_resume(tid);
            }
            Stop::Signal { signo, code, addr } => {
                if signo == libc::SIGSEGV && code == 2
                /* SEGV_ACCERR */
                {
                    let mm_id = self.tasks[&tid].mm;
                    let e = self.mms.get_mut(&mm_id).expect("mm");
                    let mut cx = MmCtx {
                        mf: &mut self.mf,
                        plat: &mut *self.plat,
                    };
                    if e.mm.handle_cow(&mut cx, addr) {
                        self.resume(tid);
                        return;
                    }
                }
                let info = if signo == libc::SIGSYS {
                    // A system call from outside the trampoline: a call into the vsyscall page.
                    SigInfo::fault(libc::SIGSEGV, 1 /* SEGV_MAPERR */, regs.rip)
                } else if matches!(
                    signo,
                    libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP
                ) {
                    SigInfo::fault(signo, code, addr)
                } else {
                    // A host signal sent to the stub by someone else: not the guest's business.
                    self.resume(tid);
                    return;
                };
                self.task_mut(tid).pending.push(info);
                self.deliver_and_resume(tid);
            }
            Stop::Interrupted => {
                self.task_mut(tid).interrupting = false;
                self.deliver_and_resume(tid);
            }
            Stop::Gone => unreachable!(),
        }
    }

    /// The event loop: serves guest system calls until the init exits. Returns its status.
    pub fn run_loop(&mut self, control: Option<&crate::control::ControlReceiver>) -> WaitStatus {
        let sigfd = block_sigchld();
        loop {
            if let Some(st) = self.init_status {
                if self.tasks.is_empty() {
                    return st;
                }
            }
            let mut progressed = false;
            while let Some(tid) = self.ready.pop_front() {
                progressed = true;
                if let Some(t) = self.tasks.get(&tid) {
                    if matches!(t.state, RunState::Parked(_)) {
                        self.task_mut(tid).state = RunState::Stopped;
                        self.serve(tid);
                    }
                }
            }
            loop {
                match self.plat.next_event() {
                    Ok(Some(ev)) => {
                        progressed = true;
                        let tid = self.host2tid.get(&ev.tid).copied().unwrap_or(0);
                        self.contained(
                            tid,
                            || format!("the stop {:?}", ev.stop),
                            |k| k.handle_event(ev),
                        );
                    }
                    Ok(None) => break,
                    Err(e) => {
                        log::error!("platform: {e}");
                        break;
                    }
                }
            }
            self.expire_timers();
            self.answer_pid_waiters();
            if !self.deferred.is_empty() && self.ready.is_empty() && self.world_stopped() {
                let reqs = std::mem::take(&mut self.deferred);
                for env in reqs {
                    let resp = self.stopped_world_request(env.request, env.fds);
                    let _ = env.reply.send(resp);
                }
                self.paused = self.user_paused;
                if !self.paused {
                    self.resume_stopped();
                }
                continue;
            }
            if !self.ready.is_empty() {
                continue;
            }
            if progressed {
                continue;
            }
            // Nothing to do: sleep until a stub stops, a host fd is ready, a control
            // request arrives or a deadline passes.
            let now = self.clocks.mono();
            let timeout_ms = self
                .next_deadline()
                .map(|d| (d.saturating_sub(now) / 1_000_000 + 1).min(1000))
                .unwrap_or(1000);
            let mut pfds = vec![libc::pollfd {
                fd: sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            if let Some(c) = control {
                pfds.push(libc::pollfd {
                    fd: c.raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let host_waits = self.host_fd_waits();
            for &(fd, ev) in &host_waits {
                pfds.push(libc::pollfd {
                    fd,
                    events: ev,
                    revents: 0,
                });
            }
            crate::platform::sys::poll(&mut pfds, timeout_ms as i32);
            if pfds[0].revents != 0 {
                drain_signalfd(&sigfd);
            }
            let base = if control.is_some() { 2 } else { 1 };
            for (i, &(fd, ev)) in host_waits.iter().enumerate() {
                if pfds[base + i].revents != 0 {
                    self.notify(&WaitKey::HostFd(fd, ev));
                }
            }
            if let Some(c) = control {
                if pfds[1].revents != 0 {
                    for env in c.drain() {
                        if let crate::control::Request::WaitPid { pid } = env.request {
                            self.pid_waiters.push((pid, env.reply));
                            continue;
                        }
                        if matches!(
                            env.request,
                            crate::control::Request::SaveState
                                | crate::control::Request::Checkpoint { .. }
                        ) {
                            self.stop_world();
                            self.deferred.push(env);
                            continue;
                        }
                        let resp = self.control(env.request, env.fds);
                        let _ = env.reply.send(resp);
                    }
                }
            }
        }
    }

    fn host_fd_waits(&self) -> Vec<(i32, i16)> {
        let mut v = Vec::new();
        for t in self.tasks.values() {
            if let RunState::Parked(p) = &t.state {
                for k in &p.keys {
                    if let WaitKey::HostFd(fd, ev) = k {
                        if !v.contains(&(*fd, *ev)) {
                            v.push((*fd, *ev));
                        }
                    }
                }
            }
        }
        v
    }

    fn next_deadline(&self) -> Option<u64> {
        let parked = self.tasks.values().filter_map(|t| match &t.state {
            RunState::Parked(p) => p.deadline,
            _ => None,
        });
        let timers = self
            .tgs
            .values()
            .filter_map(|g| g.itimer_real.map(|(d, _)| d));
        parked.chain(timers).min()
    }

    fn expire_timers(&mut self) {
        let now = self.clocks.mono();
        let due: Vec<i32> = self
            .tasks
            .iter()
            .filter(|(_, t)| matches!(&t.state, RunState::Parked(p) if p.deadline.is_some_and(|d| d <= now)))
            .map(|(&k, _)| k)
            .collect();
        for tid in due {
            if !self.ready.contains(&tid) {
                self.ready.push_back(tid);
            }
        }
        let fired: Vec<i32> = self
            .tgs
            .iter()
            .filter(|(_, g)| g.itimer_real.is_some_and(|(d, _)| d <= now) && g.zombie.is_none())
            .map(|(&k, _)| k)
            .collect();
        for pid in fired {
            let g = self.tgs.get_mut(&pid).expect("tg");
            let (d, interval) = g.itimer_real.expect("due");
            g.itimer_real = if interval > 0 {
                let mut next = d + interval;
                if next <= now {
                    next = now + interval - (now - d) % interval;
                }
                Some((next, interval))
            } else {
                None
            };
            self.signal_group(pid, SigInfo::new(libc::SIGALRM, SI_KERNEL_TIMER));
        }
    }

    /// Wakes every task parked on `key`.
    pub fn notify(&mut self, key: &WaitKey) {
        for (&tid, t) in &self.tasks {
            if let RunState::Parked(p) = &t.state {
                if p.keys.contains(key) && !self.ready.contains(&tid) {
                    self.ready.push_back(tid);
                }
            }
        }
    }

    /// Wakes a parked task unconditionally (its call re-checks).
    pub fn wake(&mut self, tid: i32) {
        if let Some(t) = self.tasks.get(&tid) {
            if matches!(t.state, RunState::Parked(_)) && !self.ready.contains(&tid) {
                self.ready.push_back(tid);
            }
        }
    }

    /// Deadline of the call being served: kept across re-runs of a parked call, so a
    /// restart never stretches a timeout.
    pub fn deadline(&mut self, tid: i32, rel_ns: u64) -> u64 {
        let now = self.clocks.mono();
        *self
            .task_mut(tid)
            .sys_deadline
            .get_or_insert(now.saturating_add(rel_ns))
    }

    // ---- signals ----

    fn blocked(&self, tid: i32) -> SigSet {
        self.tasks[&tid].sigmask & !UNBLOCKABLE
    }

    /// True if a signal is pending that the task would act on now.
    pub fn has_deliverable(&self, tid: i32) -> bool {
        let t = &self.tasks[&tid];
        let b = self.blocked(tid);
        let g = &self.tgs[&t.tgid];
        t.pending
            .iter()
            .chain(g.shared_pending.iter())
            .any(|s| bit(s.signo) & b == 0)
    }

    /// Removes and returns the next deliverable signal.
    fn dequeue(&mut self, tid: i32) -> Option<SigInfo> {
        let b = self.blocked(tid);
        let t = self.tasks.get_mut(&tid)?;
        let pick = |q: &Vec<SigInfo>| {
            q.iter()
                .enumerate()
                .filter(|(_, s)| bit(s.signo) & b == 0)
                .min_by_key(|(i, s)| (sig_rank(s.signo), *i))
                .map(|(i, _)| i)
        };
        if let Some(i) = pick(&t.pending) {
            return Some(t.pending.remove(i));
        }
        let g = self.tgs.get_mut(&t.tgid)?;
        pick(&g.shared_pending).map(|i| g.shared_pending.remove(i))
    }

    /// Dequeues a pending signal in `set` (for sigtimedwait and signalfd).
    pub fn dequeue_in(&mut self, tid: i32, set: SigSet) -> Option<SigInfo> {
        let t = self.tasks.get_mut(&tid)?;
        if let Some(i) = t.pending.iter().position(|s| bit(s.signo) & set != 0) {
            return Some(t.pending.remove(i));
        }
        let g = self.tgs.get_mut(&t.tgid)?;
        g.shared_pending
            .iter()
            .position(|s| bit(s.signo) & set != 0)
            .map(|i| g.shared_pending.remove(i))
    }

    /// Makes a stopped or parked task notice a new signal.
    fn kick(&mut self, tid: i32) {
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        match t.state {
            RunState::Running if !t.interrupting => {
                let h = t.host_tid;
                self.task_mut(tid).interrupting = true;
                let _ = self.plat.interrupt(h);
            }
            RunState::Parked(_) => self.wake(tid),
            _ => {}
        }
    }

    /// Sends a signal to one thread.
    pub fn signal_task(&mut self, tid: i32, info: SigInfo) {
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        let tgid = t.tgid;
        if self.pre_queue(tgid, &info) {
            return;
        }
        let t = self.task_mut(tid);
        if info.signo < 32 && t.pending.iter().any(|s| s.signo == info.signo) {
            return;
        }
        t.pending.push(info);
        self.kick(tid);
    }

    /// Sends a signal to a thread group.
    pub fn signal_group(&mut self, pid: i32, info: SigInfo) {
        let Some(g) = self.tgs.get(&pid) else { return };
        if g.zombie.is_some() || g.threads.is_empty() {
            return;
        }
        if self.pre_queue(pid, &info) {
            return;
        }
        let g = self.tgs.get_mut(&pid).expect("tg");
        if info.signo < 32 && g.shared_pending.iter().any(|s| s.signo == info.signo) {
            return;
        }
        let signo = info.signo;
        g.shared_pending.push(info);
        // Wake a thread that does not block it.
        let threads = g.threads.clone();
        let target = threads
            .iter()
            .copied()
            .find(|&t| self.tasks[&t].sigmask & bit(signo) == 0)
            .unwrap_or(threads[0]);
        self.kick(target);
    }

    /// Effects at queue time: SIGKILL kills, SIGCONT continues, ignored signals are
    /// dropped. Returns true when the signal is consumed.
    fn pre_queue(&mut self, pid: i32, info: &SigInfo) -> bool {
        let sig = info.signo;
        if sig == libc::SIGKILL {
            if pid == 1 && !info.forced {
                return true;
            }
            self.kill_group(pid, WaitStatus::Signaled(libc::SIGKILL, false));
            return true;
        }
        let g = self.tgs.get_mut(&pid).expect("tg");
        if sig == libc::SIGCONT {
            g.shared_pending.retain(|s| {
                !matches!(
                    s.signo,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                )
            });
            if g.stopped.take().is_some() {
                g.continued = true;
                let threads = g.threads.clone();
                for t in threads {
                    if self.tasks[&t].state == RunState::GroupStopped {
                        self.deliver_and_resume(t);
                    }
                }
                self.notify_parent(pid, libc::CLD_CONTINUED, libc::SIGCONT);
            }
        } else if matches!(
            sig,
            libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
        ) {
            g.shared_pending.retain(|s| s.signo != libc::SIGCONT);
        }
        let tid = self.tgs[&pid].threads.first().copied();
        let Some(tid) = tid else { return true };
        let act = self.tasks[&tid].sighand.borrow()[(sig - 1) as usize];
        let ignored = act.handler == signal::SIG_IGN
            || (act.handler == signal::SIG_DFL
                && matches!(default_action(sig), signal::Default::Ignore));
        // Blocked signals stay queued even when ignored (sigtimedwait may take them).
        ignored && self.tasks[&tid].sigmask & bit(sig) == 0
    }

    /// A parked call meets a signal: restart it after the handler when SA_RESTART allows,
    /// else fail it with EINTR. Signals that run no handler leave it parked.
    fn interrupt_parked(&mut self, tid: i32) {
        // Peek at what would be delivered.
        let b = self.blocked(tid);
        let t = &self.tasks[&tid];
        let g = &self.tgs[&t.tgid];
        let Some(sig) = t
            .pending
            .iter()
            .chain(g.shared_pending.iter())
            .filter(|s| bit(s.signo) & b == 0)
            .map(|s| s.signo)
            .min_by_key(|&s| sig_rank(s))
        else {
            return;
        };
        let act = t.sighand.borrow()[(sig - 1) as usize];
        let has_handler = act.handler != signal::SIG_DFL && act.handler != signal::SIG_IGN;
        if !has_handler {
            let d = default_action(sig);
            if matches!(d, signal::Default::Ignore | signal::Default::Continue)
                || act.handler == signal::SIG_IGN
            {
                // Consume it; the call stays parked.
                let _ = self.dequeue(tid);
                return;
            }

            // Fatal or stop: deliver handles it; a stop leaves the call to restart.
            let t = self.task_mut(tid);
            t.regs.rip -= 2;
            t.regs.rax = t.regs.orig_rax;
            t.state = RunState::Stopped;
            self.deliver_and_resume(tid);
            return;
        }
        let nr = self.tasks[&tid].regs.orig_rax;
        let restart = act.flags & signal::SA_RESTART != 0 && crate::syscalls::restartable(nr);
        if !restart && (nr == libc::SYS_nanosleep as u64 || nr == libc::SYS_clock_nanosleep as u64)
        {
            crate::syscalls::time::nanosleep_interrupted(self, tid);
        }
        let progress = self.tasks[&tid].sys_progress;
        let t = self.task_mut(tid);
        t.state = RunState::Stopped;
        t.sys_deadline = None;
        t.sys_progress = 0;
        if progress > 0 {
            // A write that moved some bytes returns that count.
            t.regs.rax = progress as u64;
        } else if restart {
            t.regs.rip -= 2;
            t.regs.rax = t.regs.orig_rax;
        } else {
            t.regs.rax = (-libc::EINTR) as i64 as u64;
        }
        self.futex_waiters.retain(|w| w.tid != tid);
        self.deliver_and_resume(tid);
    }

    /// Delivers pending signals (running handlers, or default actions), then resumes.
    pub fn deliver_and_resume(&mut self, tid: i32) {
        loop {
            let Some(t) = self.tasks.get(&tid) else {
                return;
            };
            let tgid = t.tgid;
            if self.tgs[&tgid].stopped.is_some() || self.paused {
                self.task_mut(tid).state = RunState::GroupStopped;
                return;
            }
            let Some(info) = self.dequeue(tid) else { break };
            let sig = info.signo;
            let act = self.tasks[&tid].sighand.borrow()[(sig - 1) as usize];
            if act.handler == signal::SIG_IGN {
                continue;
            }
            if act.handler == signal::SIG_DFL {
                let init = tgid == 1 && !info.forced;
                match default_action(sig) {
                    signal::Default::Ignore | signal::Default::Continue => continue,
                    _ if init => continue,
                    signal::Default::Stop => {
                        self.group_stop(tgid, sig);
                        return;
                    }
                    signal::Default::Terminate => {
                        self.kill_group(tgid, WaitStatus::Signaled(sig, false));
                        return;
                    }
                    signal::Default::Core => {
                        self.kill_group(tgid, WaitStatus::Signaled(sig, true));
                        return;
                    }
                }
            }
            if self.setup_frame(tid, &info, act).is_err() {
                self.kill_group(tgid, WaitStatus::Signaled(libc::SIGSEGV, true));
                return;
            }
            if act.flags & signal::SA_RESETHAND != 0 {
                self.tasks[&tid].sighand.borrow_mut()[(sig - 1) as usize] = SigAction::default();
            }
        }
        self.resume(tid);
    }

    fn setup_frame(&mut self, tid: i32, info: &SigInfo, act: SigAction) -> Result<(), Errno> {
        let t = &self.tasks[&tid];
        let regs = t.regs;
        let (ss_sp, ss_flags, ss_size) = t.altstack;
        let on_alt =
            ss_flags != libc::SS_DISABLE && regs.rsp > ss_sp && regs.rsp <= ss_sp + ss_size;
        let sp = if act.flags & signal::SA_ONSTACK != 0 && ss_flags != libc::SS_DISABLE && !on_alt {
            ss_sp + ss_size
        } else {
            regs.rsp - 128
        };
        let fpu = self.plat.get_fpu(t.host_tid).map_err(|_| libc::EFAULT)?;
        let old_mask = t.saved_mask.unwrap_or(t.sigmask);
        let alt = (
            ss_sp,
            if on_alt { libc::SS_ONSTACK } else { ss_flags },
            ss_size,
        );
        let frame = signal::build_frame(sp, &regs, &fpu, info, &act, old_mask, alt);
        self.write_mem(tid, frame.addr, &frame.bytes)?;
        let t = self.task_mut(tid);
        t.saved_mask = None;
        t.regs.rip = act.handler;
        t.regs.rsp = frame.addr;
        t.regs.rdi = info.signo as u64;
        t.regs.rsi = frame.info_addr;
        t.regs.rdx = frame.uc_addr;
        t.regs.rax = 0;
        t.regs.eflags &= !(0x400 | 0x100);
        let mut mask = t.sigmask | act.mask;
        if act.flags & signal::SA_NODEFER == 0 {
            mask |= bit(info.signo);
        }
        t.sigmask = mask & !UNBLOCKABLE;
        Ok(())
    }

    /// Stops every thread of a group (SIGSTOP and friends) and tells the parent.
    fn group_stop(&mut self, pid: i32, sig: i32) {
        let g = self.tgs.get_mut(&pid).expect("tg");
        g.stopped = Some((sig, false));
        let threads = g.threads.clone();
        for t in threads {
            match self.tasks[&t].state {
                RunState::Running => self.kick(t),
                RunState::Stopped => self.task_mut(t).state = RunState::GroupStopped,
                _ => {}
            }
        }
        self.notify_parent(pid, libc::CLD_STOPPED, sig);
    }

    /// SIGCHLD to the parent (unless it asked not to) and a wake of its waiters.
    fn notify_parent(&mut self, pid: i32, code: i32, status: i32) {
        let g = &self.tgs[&pid];
        let (ppid, uid) = (g.ppid, g.creds.uid);
        if ppid == 0 || !self.tgs.contains_key(&ppid) {
            return;
        }
        let ptid = self.tgs[&ppid].threads.first().copied();
        if let Some(pt) = ptid {
            let act = self.tasks[&pt].sighand.borrow()[(libc::SIGCHLD - 1) as usize];
            let quiet = code != libc::CLD_EXITED
                && code != libc::CLD_KILLED
                && code != libc::CLD_DUMPED
                && act.flags & signal::SA_NOCLDSTOP != 0;
            if !quiet && (code != libc::CLD_EXITED || self.tgs[&pid].exit_signal == libc::SIGCHLD) {
                self.signal_group(ppid, SigInfo::child(pid, uid, code, status));
            }
        }
        self.notify(&WaitKey::Child(ppid));
    }

    /// Ends a whole thread group with `status`.
    pub fn kill_group(&mut self, pid: i32, status: WaitStatus) {
        let Some(g) = self.tgs.get_mut(&pid) else {
            return;
        };
        if g.zombie.is_some() {
            return;
        }
        g.exiting.get_or_insert(status);
        let threads = g.threads.clone();
        for t in threads {
            let Some(task) = self.tasks.get(&t) else {
                continue;
            };
            match task.state {
                RunState::Running => {
                    // If nothing else uses its address space, ending the space ends it too.
                    if self.mm_private_to_group(task.mm, pid) {
                        self.exit_task(t, true);
                    } else {
                        self.task_mut(t).dying = true;
                        self.kick(t);
                    }
                }
                _ => self.exit_task(t, false),
            }
        }
    }

    fn mm_private_to_group(&self, mm: u64, pid: i32) -> bool {
        self.tasks.values().all(|t| t.mm != mm || t.tgid == pid)
    }

    /// Drops a task's use of its address space; ends the space when it was the last.
    pub fn release_mm(&mut self, tid: i32, host_gone: bool) {
        let t = &self.tasks[&tid];
        let (mm_id, host) = (t.mm, t.host_tid);
        self.host2tid.remove(&host);
        let e = self.mms.get_mut(&mm_id).expect("mm");
        e.users -= 1;
        if e.users == 0 {
            let mut e = self.mms.remove(&mm_id).expect("mm");
            let mut cx = MmCtx {
                mf: &mut self.mf,
                plat: &mut *self.plat,
            };
            e.mm.destroy(&mut cx);
        } else if !host_gone {
            let id = e.mm.id;
            self.plat.destroy_thread(id, host);
        }
    }

    /// Removes one task. `host_gone`: its host thread no longer exists or is running
    /// (ending the address space ends it).
    pub fn exit_task(&mut self, tid: i32, host_gone: bool) {
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        let tgid = t.tgid;
        let ctid = t.clear_child_tid;
        let mm_id = t.mm;
        if ctid != 0
            && self.mms.get(&mm_id).is_some_and(|e| e.users > 1)
            && self.write_u32(tid, ctid, 0).is_ok()
        {
            let key = self.futex_key(tid, ctid, true);
            self.futex_wake(key, 1, u32::MAX);
        }
        if let Some(p) = self.tasks[&tid].vfork_parent {
            self.release_vfork(p);
        }
        // A private address space dies with its group; take the siblings with it.
        self.release_mm(tid, host_gone);
        let t = self.tasks.remove(&tid).expect("task");
        self.futex_waiters.retain(|w| w.tid != tid);
        self.ready.retain(|&r| r != tid);
        // Dropping the last use of the fd table closes its files: wake the other ends.
        let pipes: Vec<u64> = if Rc::strong_count(&t.files) == 1 {
            t.files
                .borrow()
                .fds
                .values()
                .filter_map(|e| crate::fs::io::pipe_id(&e.file))
                .collect()
        } else {
            Vec::new()
        };
        drop(t);
        for id in pipes {
            self.notify(&WaitKey::Object(id));
        }
        let g = self.tgs.get_mut(&tgid).expect("tg");
        g.threads.retain(|&x| x != tid);
        if g.threads.is_empty() {
            self.group_exited(tgid);
        }
    }

    pub(crate) fn release_vfork(&mut self, parent: i32) {
        if let Some(p) = self.tasks.get(&parent) {
            if matches!(p.state, RunState::VforkWait(_)) {
                self.task_mut(parent).state = RunState::Stopped;
                self.deliver_and_resume(parent);
            }
        }
    }

    /// The last thread of a group is gone: make it a zombie, reparent its children and
    /// tell the parent.
    fn group_exited(&mut self, pid: i32) {
        let g = self.tgs.get_mut(&pid).expect("tg");
        let status = g.exiting.unwrap_or(WaitStatus::Exited(0));
        g.zombie = Some(status);
        g.itimer_real = None;
        let children = std::mem::take(&mut g.children);
        let ppid = g.ppid;
        if pid == 1 {
            // The init is gone: everything else goes with it.
            self.init_status = Some(status);
            let all: Vec<i32> = self.tgs.keys().copied().filter(|&p| p != 1).collect();
            for p in all {
                self.kill_group(p, WaitStatus::Signaled(libc::SIGKILL, false));
            }
            self.tgs.retain(|_, g| g.zombie.is_none() || g.pid == 1);
            return;
        }
        for c in children {
            if let Some(cg) = self.tgs.get_mut(&c) {
                cg.ppid = 1;
                let z = cg.zombie.is_some();
                if let Some(i) = self.tgs.get_mut(&1) {
                    i.children.push(c)
                }
                if z {
                    self.notify(&WaitKey::Child(1));
                }
            }
        }
        let (code, st) = match status {
            WaitStatus::Exited(c) => (libc::CLD_EXITED, c),
            WaitStatus::Signaled(s, true) => (libc::CLD_DUMPED, s),
            WaitStatus::Signaled(s, false) => (libc::CLD_KILLED, s),
        };
        // A parent that ignores SIGCHLD reaps its children at once.
        let autoreap = self
            .tgs
            .get(&ppid)
            .and_then(|pg| pg.threads.first().copied())
            .is_some_and(|pt| {
                let act = self.tasks[&pt].sighand.borrow()[(libc::SIGCHLD - 1) as usize];
                act.handler == signal::SIG_IGN || act.flags & signal::SA_NOCLDWAIT != 0
            });
        if autoreap {
            self.tgs.remove(&pid);
            if let Some(pg) = self.tgs.get_mut(&ppid) {
                pg.children.retain(|&c| c != pid);
            }
            self.notify(&WaitKey::Child(ppid));
        } else {
            self.notify_parent(pid, code, st);
        }
    }

    // ---- futexes ----

    pub fn futex_key(&self, tid: i32, addr: u64, private: bool) -> futex::FutexKey {
        let mm_id = self.tasks[&tid].mm;
        let mm = &self.mms[&mm_id].mm;
        if !private {
            if let Some((s, v)) = mm.find(addr) {
                if v.shared {
                    return futex::FutexKey::Shared {
                        offset: v.off + (addr - s),
                    };
                }
            }
        }
        futex::FutexKey::Private { mm: mm_id, addr }
    }

    /// Wakes up to `n` waiters on `key` whose bitset matches. Returns how many.
    pub fn futex_wake(&mut self, key: futex::FutexKey, n: u32, bitset: u32) -> u32 {
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

    // ---- control ----

    fn control(
        &mut self,
        req: crate::control::Request,
        fds: Vec<OwnedFd>,
    ) -> crate::control::Response {
        use crate::control::{Request, Response};
        match req {
            Request::Signal { signo, all } => {
                if !(1..=64).contains(&signo) {
                    return Response::Error(format!("invalid signal {signo}"));
                }
                let mut info = SigInfo::new(signo, signal::SI_USER);
                info.forced = true;
                if all {
                    let pids: Vec<i32> = self.tgs.keys().copied().collect();
                    for p in pids.into_iter().rev() {
                        self.signal_group(p, info.clone());
                    }
                } else {
                    self.signal_group(1, info);
                }
                Response::Ok
            }
            Request::Pause => {
                self.user_paused = true;
                self.stop_world();
                Response::Ok
            }
            Request::Resume => {
                self.user_paused = false;
                if self.deferred.is_empty() {
                    self.paused = false;
                    self.resume_stopped();
                }
                Response::Ok
            }
            Request::HostPids => {
                let mut v = vec![std::process::id() as i32];
                v.extend(self.plat.host_pids());
                Response::HostPids(v)
            }
            Request::Exec {
                argv,
                env,
                cwd,
                uid,
                gid,
                groups,
                capabilities,
                no_new_privileges,
            } => {
                if fds.len() != 3 {
                    return Response::Error(format!("exec needs 3 stdio fds, got {}", fds.len()));
                }
                let rlimits = self
                    .tgs
                    .get(&1)
                    .map(|g| g.rlimits.clone())
                    .unwrap_or_else(default_rlimits);
                let spec = Spawn {
                    argv,
                    env,
                    cwd,
                    creds: creds::Creds::new(
                        uid,
                        gid,
                        groups,
                        capabilities.unwrap_or_else(|| creds::CapSets::default_for(uid)),
                        no_new_privileges,
                    ),
                    rlimits,
                };
                match self.spawn(&spec, fds) {
                    Ok(pid) => Response::Started { pid },
                    Err(e) => Response::Error(e.to_string()),
                }
            }
            Request::SignalProcess { pid, signo } => {
                if !(1..=64).contains(&signo) {
                    return Response::Error(format!("invalid signal {signo}"));
                }
                match self.tgs.get(&pid) {
                    Some(g) if g.zombie.is_none() => {
                        let mut info = SigInfo::new(signo, signal::SI_USER);
                        info.forced = true;
                        self.signal_group(pid, info);
                        Response::Ok
                    }
                    _ => Response::Error(format!("no such process {pid}")),
                }
            }
            Request::WaitPid { .. } => Response::Error("wait is served by the event loop".into()),
            Request::SaveState | Request::Checkpoint { .. } => self.stopped_world_request(req, fds),
        }
    }

    /// Answers runtime waits whose process has exited, reaping it.
    fn answer_pid_waiters(&mut self) {
        let mut i = 0;
        while i < self.pid_waiters.len() {
            let pid = self.pid_waiters[i].0;
            let status = match self.tgs.get(&pid) {
                None => Some(Err(format!("no such process {pid}"))),
                Some(g) => g.zombie.map(Ok),
            };
            if let Some(st) = status {
                let (_, reply) = self.pid_waiters.remove(i);
                if st.is_ok() && self.tgs[&pid].ppid == 0 && pid != 1 {
                    self.tgs.remove(&pid);
                }
                let _ = reply.send(match st {
                    Ok(s) => crate::control::Response::Exited {
                        status: s.shell_code(),
                    },
                    Err(e) => crate::control::Response::Error(e),
                });
            } else {
                i += 1;
            }
        }
    }

    /// Asks every running guest thread to stop; they park as GroupStopped.
    fn stop_world(&mut self) {
        self.paused = true;
        let running: Vec<i32> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.state == RunState::Running)
            .map(|(&k, _)| k)
            .collect();
        for t in running {
            self.kick(t);
        }
    }

    /// True when no guest thread runs guest code.
    fn world_stopped(&self) -> bool {
        self.tasks.values().all(|t| t.state != RunState::Running)
    }

    /// Lets threads stopped by a pause or a world stop run again.
    fn resume_stopped(&mut self) {
        let stopped: Vec<i32> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.state == RunState::GroupStopped && self.tgs[&t.tgid].stopped.is_none()
            })
            .map(|(&k, _)| k)
            .collect();
        for t in stopped {
            self.deliver_and_resume(t);
        }
    }

    /// Serves a request that needs the world stopped (it is).
    fn stopped_world_request(
        &mut self,
        req: crate::control::Request,
        fds: Vec<OwnedFd>,
    ) -> crate::control::Response {
        use crate::control::{Request, Response};
        match req {
            Request::SaveState => match self.save_state() {
                Ok(s) => Response::State(Box::new(s)),
                Err(e) => Response::Error(format!("saving the kernel state: {e}")),
            },
            Request::Checkpoint { leave_running } => {
                let Some(image) = fds.into_iter().next() else {
                    return Response::Error("checkpoint needs the image file's fd".into());
                };
                match self.checkpoint(&std::fs::File::from(image)) {
                    Ok(()) => {
                        if !leave_running {
                            let mut all: Vec<i32> = self.tgs.keys().copied().collect();
                            all.sort_unstable_by(|a, b| b.cmp(a));
                            for p in all {
                                self.kill_group(p, WaitStatus::Signaled(libc::SIGKILL, false));
                            }
                        }
                        Response::Ok
                    }
                    Err(e) => Response::Error(e),
                }
            }
            _ => Response::Error("not a stopped-world request".into()),
        }
    }

    /// Writes the checkpoint image into `image` (from its start; fsync'd): the kernel's
    /// saved form and every allocated page of the memory file (zero pages are skipped by
    /// the writer). Naming the file is the caller's business (`runsc checkpoint` renames
    /// it to `checkpoint.img`).
    pub fn checkpoint(&mut self, image: &std::fs::File) -> Result<(), String> {
        let state = self
            .save_state()
            .map_err(|e| format!("saving the kernel state: {e}"))?;
        let mut meta = statefile::Metadata::for_this_host(
            concat!("runsc ", env!("CARGO_PKG_VERSION")),
            &self.hostname,
        );
        meta.cpu = restore::host_cpu();
        let ranges = state
            .memory
            .iter()
            .map(|&(s, e, _)| (s, self.mf.slice(s, e - s)));
        statefile::write_image_to(image, &meta, &state, ranges).map_err(|e| {
            let mut msg = format!("writing the checkpoint image: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                msg += &format!(": {c}");
                cause = c.source();
            }
            msg
        })?;
        Ok(())
    }
}

const SI_KERNEL_TIMER: i32 = signal::SI_KERNEL;

/// Order of delivery: synchronous faults first, then by number.
fn sig_rank(sig: i32) -> i32 {
    match sig {
        libc::SIGSEGV
        | libc::SIGBUS
        | libc::SIGILL
        | libc::SIGTRAP
        | libc::SIGFPE
        | libc::SIGSYS => sig - 100,
        libc::SIGKILL | libc::SIGSTOP => sig - 200,
        _ => sig,
    }
}

pub fn default_rlimits() -> Vec<(u64, u64)> {
    let inf = u64::MAX;
    let mut v = vec![(inf, inf); 16];
    v[libc::RLIMIT_STACK as usize] = (8 << 20, inf);
    v[libc::RLIMIT_CORE as usize] = (0, inf);
    v[libc::RLIMIT_NOFILE as usize] = (1024, 1 << 20);
    v[libc::RLIMIT_NPROC as usize] = (1 << 20, 1 << 20);
    v[libc::RLIMIT_MEMLOCK as usize] = (8 << 20, 8 << 20);
    v[libc::RLIMIT_SIGPENDING as usize] = (1 << 16, 1 << 16);
    v[libc::RLIMIT_MSGQUEUE as usize] = (819_200, 819_200);
    v
}

/// Blocks SIGCHLD on this thread and returns a signalfd for it.
fn block_sigchld() -> nix::sys::signalfd::SignalFd {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGCHLD);
    let _ = set.thread_block();
    nix::sys::signalfd::SignalFd::with_flags(
        &set,
        nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
    )
    .expect("signalfd")
}

fn drain_signalfd(fd: &nix::sys::signalfd::SignalFd) {
    while let Ok(Some(_)) = fd.read_signal() {}
}

/// The fallback when the caller mounted no tmpfs for a tmpfs mount (the sentry's own tests;
/// boot always does): a fresh, private host directory backing one tmpfs mount: a unique name (sandboxes in
/// new pid namespaces all have pid 1), mode 0700, and — where this process may mount —
/// a real tmpfs mounted on it in the sandbox's own mount namespace, so its contents die
/// with the sandbox even when the sandbox is killed.
fn tmpfs_backing_dir() -> std::io::Result<(std::path::PathBuf, bool)> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    let mut rnd = [0u8; 8];
    crate::fs::io::random_bytes(&mut rnd);
    let name = format!(
        "runsc-tmpfs-{}-{:016x}",
        std::process::id(),
        u64::from_le_bytes(rnd)
    );
    let dir = base.join(name);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let mounted = private_mount_namespace()
        && nix::mount::mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some("mode=1777"),
        )
        .is_ok();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777))?;
    Ok((dir, mounted))
}

/// Puts this process in a mount namespace of its own (once), where tmpfs mounts are
/// invisible to the host and vanish with the sandbox. False when not allowed.
fn private_mount_namespace() -> bool {
    use std::sync::OnceLock;
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| {
        if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).is_err() {
            return false;
        }
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .is_ok()
    })
}

/// Builds the guest's mount table from the config.
fn build_vfs(config: &SandboxConfig) -> Result<Vfs, KernelError> {
    use crate::MountKind;
    let open_dir = |p: &std::path::Path| -> Result<OwnedFd, KernelError> {
        nix::fcntl::open(
            p,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map(|fd| {
            // SAFETY: open just returned this fd and nothing else owns it.
            unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        })
        .map_err(|e| KernelError::Mount {
            path: p.display().to_string(),
            source: e.into(),
        })
    };
    let mut scratch = Vec::new();
    let mut mounts = vec![crate::fs::Mount {
        at: vec![],
        fs: MountFs::Host {
            root: open_dir(&config.root)?,
            host_path: config.root.clone(),
        },
        readonly: config.root_readonly,
        nosuid: false,
        fstype: "rootfs".into(),
    }];
    for m in &config.mounts {
        let at = crate::fs::split(&m.destination);
        let (fs, fstype) = match &m.kind {
            MountKind::Bind { source } => (
                MountFs::Host {
                    root: open_dir(source)?,
                    host_path: source.clone(),
                },
                "bind".to_string(),
            ),
            MountKind::Tmpfs { mounted: Some(dir) } => (
                MountFs::Host {
                    root: open_dir(dir)?,
                    host_path: dir.clone(),
                },
                "tmpfs".to_string(),
            ),
            MountKind::Tmpfs { mounted: None } => {
                let (dir, mounted) = tmpfs_backing_dir().map_err(|e| KernelError::Mount {
                    path: std::env::temp_dir().display().to_string(),
                    source: e,
                })?;
                let root = open_dir(&dir)?;
                // A real tmpfs is detached from the host tree at once: it lives as long as
                // the sandbox holds its root fd, and leaves nothing behind when killed.
                let host_path = if mounted
                    && nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH).is_ok()
                {
                    let _ = std::fs::remove_dir(&dir);
                    std::path::PathBuf::from(format!("/proc/self/fd/{}", root.as_raw_fd()))
                } else {
                    scratch.push(dir.clone());
                    dir
                };
                (MountFs::Host { root, host_path }, "tmpfs".to_string())
            }
            MountKind::Proc => (MountFs::Proc, "proc".to_string()),
            MountKind::Dev => (MountFs::Dev, "devtmpfs".to_string()),
            MountKind::Empty => (MountFs::Empty, "none".to_string()),
        };
        mounts.push(crate::fs::Mount {
            at,
            fs,
            readonly: m.readonly,
            nosuid: m.nosuid,
            fstype,
        });
    }
    Ok(Vfs { mounts, scratch })
}
