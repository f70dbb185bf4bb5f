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

use crate::kernel::signal::SigAction;
use crate::kernel::task::{save_sighand, FsContext, TaskRefs, WaitStatus};
use crate::kernel::Kernel;

pub use crate::creds::{CredsState, Extent, UserNsState};
pub use crate::fs::ghost::{FileIdentity, GhostExtent, GhostFile};
pub use crate::fs::host::HostFileState;
pub use crate::fs::lock::{LockFamily, LockSaved, LockState, LockType};
pub use crate::fs::tmpfs::{Timestamp, TmpfsEntry, TmpfsNode};
pub use crate::fs::xattr::Xattr;
pub use crate::kernel::futex::WaiterState;
pub use crate::kernel::ptrace::{TraceStopState, TraceeState};
pub use crate::kernel::signal::{SigActionState, SigInfoState};
pub use crate::kernel::task::{
    FsState, RegsState, RunStateState, SigHandState, TaskState, ThreadGroupState, WaitStatusState,
};
pub use crate::kinds::{FileKindState, SharedState};
pub use crate::mm::state::{MmState, VmaState};
pub use crate::persist::{FdTableState, FileState, SharedEntry};
pub use crate::wait::{FutexKeyState, WaitKeyState};

/// Version of the saved-state schema (beside the image format version). Any change to the
/// shape of a saved type changes the bytes of an image: bump this, check in a golden state
/// for the new version (sentry/tests/golden_state.rs says how), and note it in
/// docs/statefile.md.
pub const STATE_SCHEMA: u32 = 34;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelState {
    /// UTS namespaces, the sandbox's first (`crate::kernel::uts`).
    pub uts: Vec<crate::kernel::uts::UtsState>,
    /// The user namespaces guests made, parents first (`crate::creds::UserNsRef`):
    /// credentials and UTS namespaces name them by inode number.
    pub user_namespaces: Vec<crate::creds::UserNsState>,
    /// The mount namespaces, the sandbox's first; tasks and mounts name them.
    pub mount_namespaces: Vec<MountNsState>,
    /// The network namespaces, the sandbox's initial one first (`crate::net::ns`); tasks
    /// and sockets name them by inode number.
    pub net_namespaces: Vec<crate::net::ns::NetNsState>,
    /// Guest monotonic time when the state was taken (restore keeps clocks from going back).
    pub mono_ns: u64,
    pub boot_ns: u64,
    pub memory: Vec<(u64, u64, u32)>,
    pub mms: Vec<MmState>,
    /// Objects several open files share (pipes), by id: `crate::persist`.
    pub shared: Vec<SharedEntry>,
    pub files: Vec<FileState>,
    pub fd_tables: Vec<FdTableState>,
    pub fs_contexts: Vec<FsState>,
    pub sighands: Vec<SigHandState>,
    pub tasks: Vec<TaskState>,
    pub thread_groups: Vec<ThreadGroupState>,
    pub futex_waiters: Vec<WaiterState>,
    pub mounts: Vec<MountState>,
    pub init_status: Option<WaitStatusState>,
    /// Held file locks (flock, record and OFD locks), each naming an open file of
    /// `files`: `crate::fs::lock`.
    pub locks: Vec<LockState>,
    /// The page caches of mapped host files (written back before the state was taken):
    /// `crate::fs::pagecache`.
    pub page_caches: Vec<crate::fs::pagecache::FileCacheState>,
    /// The key quotas /proc/sys/kernel/keys sets.
    pub key_quota: crate::kernel::procfs::KeyQuota,
    /// Guest threads traced by guest threads (`crate::kernel::ptrace`).
    pub tracees: Vec<crate::kernel::ptrace::TraceeState>,
}

impl statefile::StateSchema for KernelState {
    const VERSION: u32 = STATE_SCHEMA;
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
    /// Its other flags (`fs::mounts::MOUNT_FLAGS`) and nosuid.
    pub flags: u64,
    pub nosuid: bool,
    /// The mount namespaces that see it (inode numbers).
    pub seen: Vec<u64>,
    /// Made by the guest's mount(2) (restored anew, not matched with the config's).
    pub made: bool,
    /// A namespace's copy of the last earlier mount at the same place (its files).
    pub copy: bool,
    /// The mode, owner and group of a made tmpfs's root.
    pub root: (u32, u32, u32),
}

/// A mount namespace (`fs::mounts`): its inode number and the inode number of the user
/// namespace that owns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountNsState {
    pub ino: u64,
    pub owner: u64,
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
    /// Writes down the whole kernel. Every guest thread must be stopped. A deleted file
    /// brings at most `ghost_limit` bytes of data (`crate::fs::ghost`).
    pub(crate) fn save_state(&mut self, ghost_limit: u64) -> Result<KernelState, std::io::Error> {
        // What mappings wrote reaches the files first (a tmpfs is read below).
        let vfs = &self.vfs;
        let page_caches = vfs.caches.save(&|p| crate::fs::ghost::at_path(vfs, p));
        let held = self.locks.save();
        let vias: Vec<_> = held.iter().map(|(_, f)| f.clone()).collect();
        // One instant for the guest's clock and the timers' time left.
        let host_mono = crate::kernel::time::host_clock(libc::CLOCK_MONOTONIC);
        let (saved_files, table_ids, via_ids) = crate::persist::save_at(
            &self.vfs,
            ghost_limit,
            Some(host_mono),
            self.tasks.values().map(|t| &t.files),
            &vias,
        )
        .map_err(std::io::Error::other)?;
        let locks = held
            .into_iter()
            .zip(via_ids)
            .map(|((lock, _), file)| LockState { lock, file })
            .collect();
        let mut fs_ids: Ids<std::cell::RefCell<FsContext>> = Ids::new();
        let mut sig_ids: Ids<std::cell::RefCell<[SigAction; 64]>> = Ids::new();
        let mut fs_contexts = Vec::new();
        let mut sighands = Vec::new();
        let mut tasks = Vec::new();
        for t in self.tasks.values() {
            let (fs, new) = fs_ids.id(&t.fs);
            if new {
                fs_contexts.push(t.fs.borrow().save(fs));
            }
            let (sighand, new) = sig_ids.id(&t.sighand);
            if new {
                sighands.push(save_sighand(&t.sighand.borrow(), sighand));
            }
            let refs = TaskRefs {
                files: table_ids.get(&t.files),
                fs,
                sighand,
            };
            let cpu = self.task_cpu(t.tid);
            tasks.push(t.save(refs, self.plat.get_fpu(t.host_tid)?, cpu));
        }
        let mut mms: Vec<MmState> = self
            .mms
            .iter()
            .map(|(&id, e)| e.mm.save(id, e.users))
            .collect();
        mms.sort_by_key(|m| m.id);
        let thread_groups = self.tgs.values().map(|g| g.save()).collect();
        let mut mounts = Vec::new();
        // A mount the guest made and unmounted from every namespace is gone.
        for m in self
            .vfs
            .mounts
            .iter()
            .filter(|m| !m.guest || !m.seen.is_empty())
        {
            let contents = match &m.fs {
                crate::fs::MountFs::Host { root, .. } if m.fstype == "tmpfs" && !m.copy => {
                    crate::fs::tmpfs::read_tree(std::os::fd::AsFd::as_fd(root), &self.vfs.inos)
                        .map_err(|e| {
                            std::io::Error::other(format!(
                                "reading the tmpfs at {}: {e}",
                                crate::fs::join(&m.at)
                            ))
                        })?
                }
                _ => Vec::new(),
            };
            let root = match &m.fs {
                crate::fs::MountFs::Host { root, .. } if m.guest && !m.copy => {
                    let st = crate::fs::host_sys::fstat(std::os::fd::AsFd::as_fd(root))
                        .map_err(std::io::Error::from_raw_os_error)?;
                    (st.st_mode & 0o7777, st.st_uid, st.st_gid)
                }
                _ => (0, 0, 0),
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
                flags: m.flags,
                nosuid: m.nosuid,
                seen: m.seen.clone(),
                made: m.guest,
                copy: m.copy,
                root,
            });
        }
        let mount_namespaces = self
            .mnt_owners
            .iter()
            .map(|(&ino, owner)| MountNsState {
                ino,
                owner: owner.ino(),
            })
            .collect();
        let nets = self.net_namespaces();
        let owners: Vec<crate::creds::UserNsRef> = std::iter::once(&self.uts)
            .chain(self.tasks.values().map(|t| &t.uts))
            .map(|u| u.borrow().owner.clone())
            .chain(nets.iter().map(|n| n.owner.clone()))
            .collect();
        let user_namespaces = crate::creds::UserNsRef::save_all(
            self.tasks
                .values()
                .map(|t| &t.creds.userns)
                .chain(self.tgs.values().map(|g| &g.creds.userns))
                .chain(owners.iter())
                .chain(self.mnt_owners.values()),
        );
        Ok(KernelState {
            uts: crate::kernel::uts::save(&self.uts, self.tasks.values().map(|t| (t.tid, &t.uts))),
            user_namespaces,
            mount_namespaces,
            net_namespaces: nets.iter().map(|n| n.save()).collect(),
            mono_ns: (host_mono as i64 + self.clocks.mono_offset) as u64,
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
            futex_waiters: self.futex_waiters.iter().map(|w| w.save()).collect(),
            mounts,
            init_status: self.init_status.as_ref().map(WaitStatus::save),
            locks,
            page_caches,
            key_quota: self.key_quota.clone(),
            tracees: self.save_tracees(),
        })
    }
}
