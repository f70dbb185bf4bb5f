//! Starting guest processes from outside the sandbox: the init from the config, and
//! runtime `exec`s.

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use super::signal::SigAction;
use super::task::{FsContext, RunState, Task, ThreadGroup};
use super::{default_rlimits, Kernel, KernelError};
use crate::creds;
use crate::fs::file::{FdTable, OpenFile};
use crate::fs::stdio::HostStream;
use crate::kernel::sched::{host_nice, online_cpus, Sched};
use crate::mm::{Mm, MmCtx};
use crate::SandboxConfig;

pub(crate) struct Spawn {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub creds: creds::Creds,
    pub rlimits: Vec<(u64, u64)>,
}

impl Kernel {
    pub(crate) fn start_init(
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
    pub(crate) fn spawn(&mut self, spec: &Spawn, stdio: Vec<OwnedFd>) -> Result<i32, KernelError> {
        let mut files = FdTable::new();
        for (i, fd) in stdio.into_iter().enumerate().take(3) {
            files.set(
                i as i32,
                OpenFile::new(
                    Box::new(HostStream::new(fd, i as u8)),
                    libc::O_RDWR,
                    format!("stdio:{i}"),
                ),
                false,
            );
        }
        let pid = self.new_process(&spec.creds, &spec.rlimits, &spec.cwd, files)?;
        let argv: Vec<Vec<u8>> = spec.argv.iter().map(|s| s.as_bytes().to_vec()).collect();
        let envp: Vec<Vec<u8>> = spec.env.iter().map(|s| s.as_bytes().to_vec()).collect();
        let path = argv.first().cloned().unwrap_or_default();
        let path = self.find_in_path(pid, &path, &spec.env);
        if let Err(e) = self.exec(pid, &path, None, argv, envp) {
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

    /// A new process with no parent in the sandbox: one stopped task in an empty address
    /// space, with `files` as its fd table (whose limit follows RLIMIT_NOFILE). Returns its
    /// pid. execve gives it a program.
    pub(crate) fn new_process(
        &mut self,
        creds: &crate::creds::Creds,
        rlimits: &[(u64, u64)],
        cwd: &str,
        mut files: FdTable,
    ) -> Result<i32, KernelError> {
        files.limit = rlimits[libc::RLIMIT_NOFILE as usize].0.min(1 << 20) as i32;
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
            posix_timers: Default::default(),
            itimer_cpu: [None; 2],
            cpu_exited: 0,
            io_exited: Default::default(),
            cpu_children: 0,
            did_exec: false,
            rlimits: rlimits.to_vec(),
            creds: creds.clone(),
            exe: String::new(),
            start_ns: self.clocks.mono(),
            prctl: Default::default(),
        };
        self.tgs.insert(pid, tg);
        // A placeholder address space; execve replaces it.
        let mut cx = MmCtx {
            mf: &self.mf,
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
                cwd: crate::fs::join(&crate::fs::split(cwd)),
                umask: 0o022,
            })),
            sighand: Rc::new(RefCell::new([SigAction::default(); 64])),
            uts: self.uts.clone(),
            net: self.net.clone(),
            mnt: crate::fs::mounts::INIT_MNT_NS,
            sigmask: 0,
            saved_mask: None,
            pending: vec![],
            altstack: (0, libc::SS_DISABLE, 0),
            clear_child_tid: 0,
            robust_list: 0,
            sys_deadline: None,
            sys_progress: 0,
            sys_files: Default::default(),
            interrupting: false,
            fault_retry: None,
            dying: false,
            vfork_parent: None,
            comm: String::new(),
            cpu_base: 0,
            sched: Sched::initial(online_cpus(), host_nice()),
            creds: creds.clone(),
            creds_id: self.new_creds_id(),
            io: Default::default(),
        };
        self.host2tid.insert(host_tid, pid);
        self.tasks.insert(pid, task);
        self.tgs.get_mut(&pid).expect("just made").threads.push(pid);
        Ok(pid)
    }

    /// Looks a bare command name up in the guest PATH, as runc does for process.args[0].
    pub(crate) fn find_in_path(&self, tid: i32, name: &[u8], env: &[String]) -> Vec<u8> {
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
}
