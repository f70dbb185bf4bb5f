//! The kernel: tasks, thread groups, the event loop that serves their system calls,
//! signals, wait and exit.

pub(crate) mod cputime;
pub(crate) mod futex;
mod hold;
pub(crate) mod posix_timer;
pub(crate) mod process;
pub(crate) mod procfs;
pub(crate) mod ptrace;
pub(crate) mod restore;
pub(crate) mod sched;
pub(crate) mod signal;
pub(crate) mod state;
pub(crate) mod task;
#[cfg(test)]
mod testing;
pub(crate) mod time;
pub(crate) mod uts;
pub(crate) mod validate;

mod control;
mod event_loop;
mod exec;
pub(crate) mod exit;
mod files;
mod memory;
mod open;
mod paths;
mod sigio;
mod signal_delivery;
pub(crate) mod spawn;
mod syscall;

pub(crate) use open::{OPEN_WAITS, O_LARGEFILE};
pub(crate) use syscall::{err, RestartRule, Sys, SysCtx, SyscallTable};

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::fs::Vfs;
use crate::mm::{MemoryFile, Mm};
use crate::platform::ptrace::Ptrace;
use crate::platform::Platform;
use crate::SandboxConfig;
use futex::Waiter;
use task::{Task, ThreadGroup, WaitStatus};

/// An address space with the number of tasks using it.
pub(crate) struct MmEntry {
    pub mm: Mm,
    pub users: u32,
}

/// Kernel errors (host failures while building or running the sandbox).
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("platform")]
    Platform(#[source] std::io::Error),
    #[error(transparent)]
    Mount(#[from] crate::fs::mount_setup::MountError),
    #[error("cannot start {path}")]
    Exec {
        path: String,
        #[source]
        errno: std::io::Error,
    },
}

pub(crate) struct Kernel {
    /// The system calls this kernel serves.
    table: &'static dyn SyscallTable,
    plat: Box<dyn Platform>,
    /// Shared with the kinds whose bytes live in it (memfds).
    mf: std::rc::Rc<MemoryFile>,
    mms: HashMap<u64, MmEntry>,
    next_mm: u64,
    tasks: BTreeMap<i32, Task>,
    tgs: BTreeMap<i32, ThreadGroup>,
    host2tid: HashMap<i32, i32>,
    next_pid: i32,
    vfs: Vfs,
    clocks: time::Clocks,
    /// The sandbox's UTS namespace (new processes of `runsc exec` join it).
    uts: uts::UtsRef,
    /// The mount namespaces (`fs::mounts`) by inode number, with the user namespace that
    /// owns each (mount(2) needs CAP_SYS_ADMIN there).
    mnt_owners: BTreeMap<u64, crate::creds::UserNsRef>,
    /// The container's id (for the image's metadata).
    container_id: String,
    futex_waiters: Vec<Waiter>,
    ready: VecDeque<i32>,
    /// Children of a clone not yet let run, by the task that made them (`kernel/hold.rs`).
    /// Not saved: a held child is Stopped, and restore resumes stopped tasks.
    held: BTreeMap<i32, hold::Held>,
    next_obj: u64,
    /// The last credentials identity given (`Task::creds_id`).
    next_creds: u64,
    /// The init's exit status, once it has exited.
    init_status: Option<WaitStatus>,
    /// A checkpoint without --leave-running ended the sandbox: its processes live on in
    /// the image, so no exec caller gets an exit status from it.
    ended_by_checkpoint: bool,
    logged: HashSet<u64>,
    /// The whole sandbox is paused (runtime `pause`, or while the world is stopped).
    paused: bool,
    /// When the world began to stop for the deferred requests (a checkpoint's freezing
    /// time).
    freeze_started: Option<std::time::Instant>,
    /// Paused by the runtime (as opposed to a world stop for a checkpoint).
    user_paused: bool,
    /// Requests that need every guest thread stopped, waiting for the world to stop.
    deferred: Vec<crate::control::Envelope>,
    /// `checkpoint --leave-running` requests waiting for the guest mappings to be made
    /// read-only ahead of their stop (`preprotect` pieces left), while the guest runs.
    preparing: Vec<crate::control::Envelope>,
    /// Pieces of guest mappings (address space, start, end) still to make read-only
    /// ahead of a checkpoint's stop.
    preprotect: Vec<(u64, u64, u64)>,
    /// Descriptions that turned `O_ASYNC` on (see `sigio`).
    async_files: Vec<std::rc::Weak<std::cell::RefCell<crate::fs::file::OpenFile>>>,
    /// Set while signal-driven I/O signals are sent (queuing one is no I/O event).
    signalling_io: bool,
    /// The description whose read or write is being notified: its own I/O never
    /// signals it.
    io_actor: Option<*const std::cell::RefCell<crate::fs::file::OpenFile>>,
    /// Runtime waits for a process started by `exec` (pid, where to answer).
    pid_waiters: Vec<(i32, std::sync::mpsc::Sender<crate::control::Response>)>,
    boot_ns: u64,
    /// The key quotas /proc/sys/kernel/keys sets (`procfs::KeyQuota`).
    pub(crate) key_quota: procfs::KeyQuota,
    /// The thread writing a checkpoint image from the memory file's snapshot, which
    /// answers the request when the image is on disk.
    checkpoint_job: Option<std::thread::JoinHandle<()>>,
    /// Pieces of guest mappings (address space, start, end) still to get their write
    /// protection back after a checkpoint's snapshot.
    reprotect: Vec<(u64, u64, u64)>,
    /// Named pipes and the opens waiting on them (not saved: see `crate::ipc::fifo`).
    fifos: std::cell::RefCell<crate::ipc::fifo::Fifos>,
    /// The socket files the sandbox's sockets are bound to (not saved: restore registers
    /// the restored sockets again).
    bindings: crate::net::Bindings,
    /// The sandbox's initial network namespace (new processes of `runsc exec` join it).
    net: crate::net::ns::NetRef,
    /// Every network namespace made, while a task or a socket holds it (saved with the
    /// kernel; setns finds one here by inode number).
    nets: Vec<std::rc::Weak<crate::net::ns::NetNs>>,
    /// File locks (flock, record and OFD locks).
    locks: crate::fs::lock::LockTable,
    /// After a restore (not `--background`): a segment of the image found bad while the
    /// guest runs ends the sandbox, rather than poisoning the memory it held.
    pub(crate) bad_memory_ends_sandbox: bool,
    /// The bad segment that ended the sandbox.
    pub(crate) bad_segment_after_start: Option<u64>,
    /// Guest threads traced by guest threads, by tracee tid (`ptrace`).
    tracees: BTreeMap<i32, ptrace::Tracee>,
}

impl Kernel {
    /// Runs the guest until its init exits (serving `control` requests meanwhile), then
    /// removes what the file systems left on the host. Returns the init's exit.
    pub(crate) fn run(&mut self, control: Option<&crate::control::ControlReceiver>) -> WaitStatus {
        let status = self.run_loop(control);
        self.vfs.cleanup();
        status
    }

    /// Host pids of the stub processes.
    pub(crate) fn stub_pids(&self) -> Vec<i32> {
        self.plat.host_pids()
    }

    /// Builds the kernel and its platform. Forks the master stub: call before the process
    /// starts threads.
    pub(crate) fn new(
        config: &SandboxConfig,
        table: &'static dyn SyscallTable,
    ) -> Result<Kernel, KernelError> {
        let mf = MemoryFile::new().map_err(KernelError::Platform)?;
        let plat = Ptrace::new(mf.raw_fd()).map_err(KernelError::Platform)?;
        Kernel::with_platform(config, table, mf, Box::new(plat))
    }

    /// Builds the kernel on a given platform (the fake one in unit tests) and memory file
    /// (the one the platform maps from).
    pub(crate) fn with_platform(
        config: &SandboxConfig,
        table: &'static dyn SyscallTable,
        mf: MemoryFile,
        plat: Box<dyn Platform>,
    ) -> Result<Kernel, KernelError> {
        // The sentry applies the guest's umask to what the guest creates; the host must
        // not apply the sandbox process's own on top (mkdir 0777 under umask 0 is 0777).
        nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let mut vfs = crate::fs::mount_setup::build_vfs(config)?;
        vfs.cpus = crate::host::cpu_mask();
        Ok(Kernel {
            table,
            plat,
            mf: std::rc::Rc::new(mf),
            mms: HashMap::new(),
            next_mm: 1,
            tasks: BTreeMap::new(),
            tgs: BTreeMap::new(),
            host2tid: HashMap::new(),
            next_pid: 1,
            vfs,
            clocks: time::Clocks::default(),
            mnt_owners: BTreeMap::from([(
                crate::fs::mounts::INIT_MNT_NS,
                crate::creds::UserNsRef::init(),
            )]),
            uts: uts::Uts::new(if config.hostname.is_empty() {
                "localhost"
            } else {
                &config.hostname
            }),
            container_id: config.container_id.clone(),
            futex_waiters: Vec::new(),
            ready: VecDeque::new(),
            held: BTreeMap::new(),
            next_obj: 1,
            next_creds: 0,
            init_status: None,
            ended_by_checkpoint: false,
            logged: HashSet::new(),
            paused: false,
            freeze_started: None,
            user_paused: false,
            deferred: Vec::new(),
            preparing: Vec::new(),
            preprotect: Vec::new(),
            async_files: Vec::new(),
            signalling_io: false,
            io_actor: None,
            pid_waiters: Vec::new(),
            boot_ns: time::host_clock(libc::CLOCK_MONOTONIC),
            key_quota: Default::default(),
            checkpoint_job: None,
            reprotect: Vec::new(),
            fifos: Default::default(),
            bindings: Default::default(),
            net: crate::net::ns::NetNs::initial(),
            nets: Vec::new(),
            locks: Default::default(),
            bad_memory_ends_sandbox: false,
            bad_segment_after_start: None,
            tracees: BTreeMap::new(),
        })
    }

    /// A new credentials identity (`Task::creds_id`).
    pub(crate) fn new_creds_id(&mut self) -> u64 {
        self.next_creds += 1;
        self.next_creds
    }

    pub(crate) fn new_obj_id(&mut self) -> u64 {
        self.next_obj += 1;
        self.next_obj
    }

    pub(crate) fn alloc_pid(&mut self) -> i32 {
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

    pub(crate) fn add_mm(&mut self, mm: Mm) -> u64 {
        let id = self.next_mm;
        self.next_mm += 1;
        self.mms.insert(id, MmEntry { mm, users: 1 });
        id
    }

    pub(crate) fn task_mut(&mut self, tid: i32) -> &mut Task {
        self.tasks.get_mut(&tid).expect("live task")
    }

    pub(crate) fn tg_of(&self, tid: i32) -> &ThreadGroup {
        &self.tgs[&self.tasks[&tid].tgid]
    }

    /// The credentials task `tid` acts with (its own).
    pub(crate) fn creds(&self, tid: i32) -> &crate::creds::Creds {
        &self.tasks[&tid].creds
    }

    /// Task `tid` changed its credentials: when it leads its process, the process is
    /// seen with them.
    pub(crate) fn creds_changed(&mut self, tid: i32) {
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        if t.tid == t.tgid {
            let creds = t.creds.clone();
            self.tgs.get_mut(&tid).expect("tg").creds = creds;
        }
    }

    pub(crate) fn tg_of_mut(&mut self, tid: i32) -> &mut ThreadGroup {
        let tgid = self.tasks[&tid].tgid;
        self.tgs.get_mut(&tgid).expect("live thread group")
    }
}

pub(crate) fn default_rlimits() -> Vec<(u64, u64)> {
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
