//! The saved form of the kernel: plain versioned structs, one per kind of kernel object,
//! kept apart from the live objects. Shared objects (open files, pipes, fd tables, address
//! spaces, signal handler tables) live in tables keyed by id and refer to each other by
//! id, because serde preserves neither sharing nor cycles.
//!
//! Not saved, with the reason:
//! - host fds: a host file is saved as (mount, guest path, offset) and reopened; stdio is
//!   saved as "stdio N" and rebound to the new container's stdio;
//! - stub processes and host thread ids: recreated on restore;
//! - the ready queue: parked calls are re-run from their saved registers on restore.

use std::collections::HashMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::kernel::futex::Waiter;
use crate::kernel::signal::{SigAction, SigInfo, SigSet};
use crate::kernel::task::{RunState, WaitStatus};
use crate::kernel::Kernel;
use crate::mm::Vma;
use crate::platform::Regs;

pub use crate::fs::kinds::{FileKindState, SharedState};
pub use crate::fs::persist::{FdTableState, FileState, SharedEntry};

/// Version of the saved-state schema (beside the image format version).
pub const STATE_SCHEMA: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelState {
    pub hostname: String,
    /// Guest monotonic time when the state was taken (restore keeps clocks from going back).
    pub mono_ns: u64,
    pub boot_ns: u64,
    pub memory: Vec<(u64, u64, u32)>,
    pub mms: Vec<MmState>,
    /// Objects several open files share (pipes), by id: `crate::fs::persist`.
    pub shared: Vec<SharedEntry>,
    pub files: Vec<FileState>,
    pub fd_tables: Vec<FdTableState>,
    pub fs_contexts: Vec<FsState>,
    pub sighands: Vec<SigHandState>,
    pub tasks: Vec<TaskState>,
    pub thread_groups: Vec<ThreadGroupState>,
    pub futex_waiters: Vec<Waiter>,
    pub mounts: Vec<MountState>,
    pub init_status: Option<WaitStatus>,
}

impl statefile::StateSchema for KernelState {
    const VERSION: u32 = STATE_SCHEMA;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MmState {
    pub id: u64,
    pub vmas: Vec<(u64, Vma)>,
    pub brk_start: u64,
    pub brk: u64,
    pub arg_range: (u64, u64),
    pub env_range: (u64, u64),
    pub users: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FsState {
    pub id: u64,
    pub cwd: String,
    pub umask: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigHandState {
    pub id: u64,
    pub actions: Vec<SigAction>,
}

/// The x86-64 user registers in `user_regs_struct` order.
pub type RegsState = [u64; 27];

pub fn regs_to_state(r: &Regs) -> RegsState {
    [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
        r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base, r.gs_base, r.ds,
        r.es, r.fs, r.gs,
    ]
}

pub fn regs_from_state(s: &RegsState, r: &mut Regs) {
    [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
        r.rsi, r.rdi, r.orig_rax, r.rip,
    ] = s[..17].try_into().expect("17");
    // Segment selectors stay the host's; only flags, stack and TLS bases come back.
    r.eflags = s[18];
    r.rsp = s[19];
    r.fs_base = s[21];
    r.gs_base = s[22];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub tid: i32,
    pub tgid: i32,
    pub mm: u64,
    pub regs: RegsState,
    /// The whole XSAVE area.
    pub fpu: Vec<u8>,
    pub state: RunState,
    pub files: u64,
    pub fs: u64,
    pub sighand: u64,
    pub sigmask: SigSet,
    pub saved_mask: Option<SigSet>,
    pub pending: Vec<SigInfo>,
    pub altstack: (u64, i32, u64),
    pub clear_child_tid: u64,
    pub robust_list: u64,
    pub sys_deadline: Option<u64>,
    pub sys_progress: u64,
    pub vfork_parent: Option<i32>,
    pub comm: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadGroupState {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub threads: Vec<i32>,
    pub children: Vec<i32>,
    pub exit_signal: i32,
    pub zombie: Option<WaitStatus>,
    pub exiting: Option<WaitStatus>,
    pub shared_pending: Vec<SigInfo>,
    pub stopped: Option<(i32, bool)>,
    pub continued: bool,
    pub itimer_real: Option<(u64, u64)>,
    pub rlimits: Vec<(u64, u64)>,
    pub creds: CredsState,
    pub exe: String,
    pub start_ns: u64,
}

/// A process's credentials: (real, effective, saved, fs) uids and gids, supplementary
/// groups, the five capability sets, keep-caps and no_new_privs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredsState {
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub groups: Vec<u32>,
    /// effective, permitted, inheritable, bounding, ambient
    pub caps: [u64; 5],
    pub keep_caps: bool,
    pub no_new_privs: bool,
}

impl CredsState {
    pub fn save(c: &crate::kernel::creds::Creds) -> CredsState {
        let crate::kernel::creds::Creds {
            uid,
            euid,
            suid,
            fsuid,
            gid,
            egid,
            sgid,
            fsgid,
            groups,
            effective,
            permitted,
            inheritable,
            bounding,
            ambient,
            keep_caps,
            no_new_privs,
        } = c;
        CredsState {
            uids: [*uid, *euid, *suid, *fsuid],
            gids: [*gid, *egid, *sgid, *fsgid],
            groups: groups.clone(),
            caps: [*effective, *permitted, *inheritable, *bounding, *ambient],
            keep_caps: *keep_caps,
            no_new_privs: *no_new_privs,
        }
    }

    pub fn restore(&self) -> crate::kernel::creds::Creds {
        let [uid, euid, suid, fsuid] = self.uids;
        let [gid, egid, sgid, fsgid] = self.gids;
        let all = crate::kernel::creds::ALL_CAPS;
        let [effective, permitted, inheritable, bounding, ambient] = self.caps.map(|c| c & all);
        crate::kernel::creds::Creds {
            uid,
            euid,
            suid,
            fsuid,
            gid,
            egid,
            sgid,
            fsgid,
            groups: self.groups.clone(),
            effective: effective & permitted,
            permitted,
            inheritable,
            bounding,
            ambient: ambient & permitted & inheritable,
            keep_caps: self.keep_caps,
            no_new_privs: self.no_new_privs,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MountKindState {
    /// Host passthrough: the guest sees the mount's host directory again on restore (for
    /// a restore elsewhere, the new bundle's mount at the same destination).
    Host,
    Tmpfs,
    Dev,
    Proc,
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountState {
    pub at: Vec<String>,
    pub kind: MountKindState,
    pub readonly: bool,
    pub fstype: String,
    /// A tmpfs's files (it lives only in the sandbox, so the image carries it).
    pub contents: Vec<TmpfsEntry>,
}

/// One node of a saved tmpfs: path relative to the mount, mode, and what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TmpfsEntry {
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub node: TmpfsNode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TmpfsNode {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// Assigns ids to shared objects by identity.
struct Ids<T> {
    map: HashMap<*const T, u64>,
}

impl<T> Ids<T> {
    fn new() -> Self {
        Ids {
            map: HashMap::new(),
        }
    }

    /// The id of `rc`, and whether it is new.
    fn id(&mut self, rc: &Rc<T>) -> (u64, bool) {
        let n = self.map.len() as u64 + 1;
        let mut new = false;
        let id = *self.map.entry(Rc::as_ptr(rc)).or_insert_with(|| {
            new = true;
            n
        });
        (id, new)
    }
}

impl Kernel {
    /// Writes down the whole kernel. Every guest thread must be stopped.
    pub fn save_state(&mut self) -> Result<KernelState, std::io::Error> {
        let (saved_files, table_ids) =
            crate::fs::persist::save(self.tasks.values().map(|t| &t.files));
        let mut fs_ids: Ids<std::cell::RefCell<crate::kernel::task::FsContext>> = Ids::new();
        let mut sig_ids: Ids<std::cell::RefCell<[SigAction; 64]>> = Ids::new();
        let mut fs_contexts = Vec::new();
        let mut sighands = Vec::new();

        let mut tasks = Vec::new();
        for t in self.tasks.values() {
            let tab = table_ids.get(&t.files);
            let (fsid, new) = fs_ids.id(&t.fs);
            if new {
                let f = t.fs.borrow();
                fs_contexts.push(FsState {
                    id: fsid,
                    cwd: f.cwd.clone(),
                    umask: f.umask,
                });
            }
            let (sid, new) = sig_ids.id(&t.sighand);
            if new {
                sighands.push(SigHandState {
                    id: sid,
                    actions: t.sighand.borrow().to_vec(),
                });
            }
            let fpu = self.plat.get_fpu(t.host_tid)?;
            tasks.push(TaskState {
                tid: t.tid,
                tgid: t.tgid,
                mm: t.mm,
                regs: regs_to_state(&t.regs),
                fpu,
                state: t.state.clone(),
                files: tab,
                fs: fsid,
                sighand: sid,
                sigmask: t.sigmask,
                saved_mask: t.saved_mask,
                pending: t.pending.clone(),
                altstack: t.altstack,
                clear_child_tid: t.clear_child_tid,
                robust_list: t.robust_list,
                sys_deadline: t.sys_deadline,
                sys_progress: t.sys_progress as u64,
                vfork_parent: t.vfork_parent,
                comm: t.comm.clone(),
            });
        }
        let mut mms: Vec<MmState> = self
            .mms
            .iter()
            .map(|(&id, e)| MmState {
                id,
                vmas: e.mm.vmas.iter().map(|(&s, v)| (s, v.clone())).collect(),
                brk_start: e.mm.brk_start,
                brk: e.mm.brk,
                arg_range: e.mm.arg_range,
                env_range: e.mm.env_range,
                users: e.users,
            })
            .collect();
        mms.sort_by_key(|m| m.id);
        let thread_groups = self
            .tgs
            .values()
            .map(|g| ThreadGroupState {
                pid: g.pid,
                ppid: g.ppid,
                pgid: g.pgid,
                sid: g.sid,
                threads: g.threads.clone(),
                children: g.children.clone(),
                exit_signal: g.exit_signal,
                zombie: g.zombie,
                exiting: g.exiting,
                shared_pending: g.shared_pending.clone(),
                stopped: g.stopped,
                continued: g.continued,
                itimer_real: g.itimer_real,
                rlimits: g.rlimits.clone(),
                creds: CredsState::save(&g.creds),
                exe: g.exe.clone(),
                start_ns: g.start_ns,
            })
            .collect();
        let mut mounts = Vec::new();
        for m in &self.vfs.mounts {
            let contents = match &m.fs {
                crate::fs::MountFs::Host { root, .. } if m.fstype == "tmpfs" => {
                    crate::fs::tmpfs::read_tree(std::os::fd::AsFd::as_fd(root)).map_err(|e| {
                        std::io::Error::other(format!(
                            "reading the tmpfs at {}: {e}",
                            crate::fs::join(&m.at)
                        ))
                    })?
                }
                _ => Vec::new(),
            };
            mounts.push(MountState {
                at: m.at.clone(),
                kind: match (&m.fs, m.fstype.as_str()) {
                    (crate::fs::MountFs::Host { .. }, "tmpfs") => MountKindState::Tmpfs,
                    (crate::fs::MountFs::Host { .. }, _) => MountKindState::Host,
                    (crate::fs::MountFs::Dev, _) => MountKindState::Dev,
                    (crate::fs::MountFs::Proc, _) => MountKindState::Proc,
                    (crate::fs::MountFs::Empty, _) => MountKindState::Empty,
                },
                readonly: m.readonly,
                fstype: m.fstype.clone(),
                contents,
            });
        }
        Ok(KernelState {
            hostname: self.hostname.clone(),
            mono_ns: self.clocks.mono(),
            boot_ns: self.boot_ns,
            memory: self.mf.allocated_ranges(),
            mms,
            shared: saved_files.shared,
            files: saved_files.files,
            fd_tables: saved_files.fd_tables,
            fs_contexts,
            sighands,
            tasks,
            thread_groups,
            futex_waiters: self.futex_waiters.clone(),
            mounts,
            init_status: self.init_status,
        })
    }
}
