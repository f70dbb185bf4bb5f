//! Restore: a kernel built again from a checkpoint image. The new memory file is filled
//! from the image's segments, address spaces are recreated as stubs with the same
//! mappings, threads get their registers and FPU state back, files are reopened (host
//! files by guest path, stdio rebound to the new container's stdio), and parked system
//! calls continue from their saved registers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use crate::fs::MountFs;
use crate::kernel::futex::Waiter;
use crate::kernel::state::{KernelState, MountKindState, MountState};
use crate::kernel::task::{restore_sighand, SigHand, TaskParts, WaitStatus};
use crate::kernel::task::{FsContext, RunState, Task, ThreadGroup};
use crate::kernel::{Kernel, MmEntry};
use crate::mm::{Mm, MmCtx};

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("reading the checkpoint image")]
    Image(#[from] statefile::Error),
    #[error("the image was taken on a CPU this host does not match: {0}")]
    Cpu(String),
    #[error("the image's mounts do not match this container's: {0}")]
    Mounts(String),
    #[error("the image's state is invalid")]
    Invalid(#[from] crate::checks::Invalid),
    #[error("restoring the tmpfs at {mount}")]
    Tmpfs {
        mount: String,
        #[source]
        source: crate::fs::tmpfs::TreeError,
    },
    #[error("restoring open files")]
    Files(#[from] crate::persist::RestoreFilesError),
    #[error("the image's state is inconsistent: {0}")]
    Inconsistent(String),
    #[error("recreating the sandbox")]
    Platform(#[source] std::io::Error),
}

fn bad(msg: impl Into<String>) -> RestoreError {
    RestoreError::Inconsistent(msg.into())
}

fn outside(segment: u64) -> RestoreError {
    bad(format!(
        "segment {segment} lies outside the allocated memory"
    ))
}

/// Where a restore's guest memory comes from.
pub(crate) enum Memory<'a> {
    /// Segments, each checked as it is yielded (none, for a state without memory).
    Segments(Box<dyn Iterator<Item = Result<statefile::Segment<'a>, statefile::Error>> + 'a>),
    /// An image's segments, each checked at its first touch or by background threads
    /// while the guest runs (`mm::lazy`); with the image's file (read-only) when its
    /// pages may be shared instead of copied (`image_shareable`).
    OnDemand(std::sync::Arc<statefile::Image>, Option<OwnedFd>),
}

/// Whether the pages of the image open as `file` may be shared by the restored memory
/// (mapped from the image, read-only, by every restore from it) rather than copied: the
/// image is stored uncompressed, the fd is read-only, and the file is owned by root and
/// writable by nobody else, so that no one but root can change the bytes that were
/// checked under the guest. It must allow executable mappings (not on a noexec mount).
pub(crate) fn image_shareable(image: &statefile::Image, file: &OwnedFd) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    if image.compression() != statefile::Compression::None {
        return Err("the image is compressed".into());
    }
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL on an fd we own.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl < 0 || fl & libc::O_ACCMODE != libc::O_RDONLY {
        return Err("the image's fd is not read-only".into());
    }
    let meta = std::fs::File::from(file.try_clone().map_err(|e| e.to_string())?)
        .metadata()
        .map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("the image is not a regular file".into());
    }
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "the image file (owner {}, mode {:o}) may be changed by others than root",
            meta.uid(),
            meta.mode() & 0o7777
        ));
    }
    crate::platform::sys::can_map_exec(fd)
        .map_err(|e| format!("the image cannot be mapped executable: {e}"))
}

/// The segments of `image` whose pages a restore of `st` may share: uncompressed,
/// page-aligned in memory and in the file, and not under any shared mapping (whose
/// writes every address space mapping it must see, so it stays in the memory file) nor
/// a memfd's pages.
/// By memory offset: (end, image offset).
fn shareable_segments(
    st: &KernelState,
    image: &statefile::Image,
) -> std::collections::BTreeMap<u64, (u64, u64)> {
    use crate::mm::PAGE;
    let mut under_shared: Vec<(u64, u64)> = st
        .mms
        .iter()
        .flat_map(|m| m.vmas.iter())
        .filter(|v| v.shared)
        .map(|v| (v.off, v.off.saturating_add(v.end.saturating_sub(v.start))))
        .collect();
    // A memfd's pages are written through its descriptors at any offset, mapped or not:
    // they are the memory file's, never the image's.
    for s in &st.shared {
        if let crate::kinds::SharedState::Memfd(m) = &s.object {
            under_shared.extend(m.extents.iter().map(|&(o, l)| (o, o.saturating_add(l))));
        }
    }
    under_shared.sort_unstable();
    // The furthest end among the ranges up to each one.
    let reach: Vec<u64> = under_shared
        .iter()
        .scan(0, |m, &(_, b)| {
            *m = b.max(*m);
            Some(*m)
        })
        .collect();
    let meets_shared = |s: u64, e: u64| {
        let i = under_shared.partition_point(|&(a, _)| a < e);
        i > 0 && reach[i - 1] > s
    };
    // Runs of segments adjacent in memory and in the file: each is one host mapping.
    let mut runs: Vec<(u64, u64, u64)> = Vec::new();
    for g in image.segment_infos().filter(|g| {
        !g.compressed
            && g.len > 0
            && g.len % PAGE == 0
            && g.memory_offset % PAGE == 0
            && g.file_offset % PAGE == 0
            && !meets_shared(g.memory_offset, g.memory_offset + g.len)
    }) {
        match runs.last_mut() {
            Some((m, e, f)) if *e == g.memory_offset && *f + (*e - *m) == g.file_offset => {
                *e += g.len
            }
            _ => runs.push((g.memory_offset, g.memory_offset + g.len, g.file_offset)),
        }
    }
    // A process may have only so many mappings (`vm.max_map_count`): short runs (memory
    // broken up by zero pages, which the image does not hold) are copied, and so is
    // everything past the first SHARED_RUNS_MAX runs.
    runs.into_iter()
        .filter(|&(m, e, _)| e - m >= SHARED_RUN_MIN)
        .take(SHARED_RUNS_MAX)
        .map(|(m, e, f)| (m, (e, f)))
        .collect()
}

/// The shortest run of image pages a restore shares rather than copies.
const SHARED_RUN_MIN: u64 = 1 << 20;
/// The most runs of image pages a restore shares.
const SHARED_RUNS_MAX: usize = 8192;

/// The CPU features of this host, recorded in an image's metadata.
pub(crate) fn host_cpu() -> statefile::CpuFeatures {
    use core::arch::x86_64::{__cpuid_count, _xgetbv};
    let mut cpuid = Vec::new();
    for (leaf, sub) in [(1u32, 0u32), (7, 0), (0xd, 0), (0xd, 1), (0x8000_0001, 0)] {
        let r = __cpuid_count(leaf, sub);
        cpuid.push(statefile::CpuidLeaf {
            leaf,
            subleaf: sub,
            eax: r.eax,
            ebx: r.ebx,
            ecx: r.ecx,
            edx: r.edx,
        });
    }
    let v = __cpuid_count(0, 0);
    let vendor: Vec<u8> = [v.ebx, v.edx, v.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    let osxsave = __cpuid_count(1, 0).ecx & (1 << 27) != 0;
    // SAFETY: XGETBV is available when CPUID says OSXSAVE is set.
    let xcr0 = if osxsave { unsafe { _xgetbv(0) } } else { 0 };
    let features = crate::host::cpuinfo()
        .lines()
        .find_map(|l| {
            l.strip_prefix("flags")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .map(|f| f.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    statefile::CpuFeatures {
        vendor: String::from_utf8_lossy(&vendor).into_owned(),
        features,
        cpuid,
        xcr0,
    }
}

/// Refuses a host whose XCR0 differs or whose features are not a superset of the image's.
pub(crate) fn check_cpu(saved: &statefile::CpuFeatures) -> Result<(), RestoreError> {
    let here = host_cpu();
    if saved.xcr0 != 0 && saved.xcr0 != here.xcr0 {
        return Err(RestoreError::Cpu(format!(
            "XCR0 is {:#x} here, the image has {:#x}",
            here.xcr0, saved.xcr0
        )));
    }
    let missing: Vec<&str> = saved
        .features
        .iter()
        .filter(|f| !here.features.contains(f))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(RestoreError::Cpu(format!(
            "missing CPU features: {}",
            missing.join(" ")
        )));
    }
    Ok(())
}

impl Kernel {
    /// Rebuilds the whole guest from `image` into this (fresh) kernel. `stdio` are the new
    /// container's stdio; every saved "stdio N" file is rebound to them. When it fails, the
    /// host directories behind tmpfs mounts (which it may have filled) are removed: the
    /// kernel will not run.
    ///
    /// The guest runs before its memory is checked (see `mm::lazy`). `file`: the image's
    /// file, whose pages the restored memory shares with every other restore from it
    /// when it may (`image_shareable`). A segment found bad after the guest started ends
    /// the sandbox (`bad_segment_after_start`), or with `background` (`restore
    /// --background`) only poisons its memory: a guest touching it gets SIGBUS.
    pub(crate) fn restore(
        &mut self,
        image: std::sync::Arc<statefile::Image>,
        file: Option<OwnedFd>,
        stdio: [OwnedFd; 3],
        background: bool,
    ) -> Result<(), RestoreError> {
        check_cpu(&image.metadata().cpu)?;
        let st: KernelState = image.state()?;
        let file = file.filter(|f| match image_shareable(&image, f) {
            Ok(()) => true,
            Err(why) => {
                log::info!("restore: the image's pages are copied, not shared: {why}");
                false
            }
        });
        self.bad_memory_ends_sandbox = !background;
        self.restore_state(&st, Memory::OnDemand(image, file), stdio)
    }

    /// Rebuilds the guest from a decoded state and the memory segments that go with it
    /// (every one checked by the caller's reader as it is yielded). The state is validated
    /// first; nothing reaches a host call before that.
    pub(crate) fn restore_state<'a>(
        &mut self,
        st: &KernelState,
        memory: Memory<'a>,
        stdio: [OwnedFd; 3],
    ) -> Result<(), RestoreError> {
        let r = self.restore_all(st, memory, stdio);
        if r.is_err() {
            self.vfs.cleanup();
        }
        r
    }

    fn restore_all(
        &mut self,
        st: &KernelState,
        memory: Memory<'_>,
        stdio: [OwnedFd; 3],
    ) -> Result<(), RestoreError> {
        crate::kernel::validate::validate(st)?;
        let namespaces = crate::creds::UserNsRef::restore_all(&st.user_namespaces);
        let userns = |ino: u64| {
            st.user_namespaces
                .iter()
                .position(|n| n.ino == ino)
                .map_or_else(crate::creds::UserNsRef::init, |i| namespaces[i].clone())
        };
        // Saved files are reopened by path in whichever namespace has their mount.
        self.vfs.guest.ns.set(crate::fs::mounts::ANY_MNT_NS);
        // Mounts: each saved mount is the bundle's mount at the same destination (the k-th
        // of that destination, in order), of the same kind and options; tmpfs contents
        // come back into the new tmpfs, never anywhere else.
        let pairs = self.match_mounts(&st.mounts)?;
        // The guest's own mounts and namespace copies come back after the config's, in
        // their order; every mount gets its namespaces and flags again.
        let mut pairs = pairs;
        for saved in st.mounts.iter().filter(|m| m.made || m.copy) {
            self.vfs
                .restore_guest_mount(saved.at.clone(), &saved.fstype, saved.copy, saved.root)
                .map_err(|e| {
                    RestoreError::Mounts(format!(
                        "cannot make the guest's {} mount at {}: {}",
                        saved.fstype,
                        crate::fs::join(&saved.at),
                        std::io::Error::from_raw_os_error(e)
                    ))
                })?;
            pairs.push((saved, self.vfs.mounts.len() - 1));
        }
        for (saved, here) in &pairs {
            let m = &mut self.vfs.mounts[*here];
            m.seen = saved.seen.clone();
            m.flags = saved.flags & crate::fs::mounts::MOUNT_FLAGS;
            // A config mount may only have been made stricter (match_mounts).
            m.readonly |= saved.readonly;
            m.nosuid |= saved.nosuid;
        }
        self.mnt_owners = st
            .mount_namespaces
            .iter()
            .map(|n| {
                crate::creds::note_ns_ino(n.ino);
                (n.ino, userns(n.owner))
            })
            .collect();
        for (saved, here) in pairs {
            if saved.copy {
                continue;
            }
            if let (MountKindState::Tmpfs, MountFs::Host { root, .. }) =
                (&saved.kind, &self.vfs.mounts[here].fs)
            {
                crate::fs::tmpfs::write_tree(root.as_fd(), &saved.contents, &self.vfs.inos)
                    .map_err(|source| RestoreError::Tmpfs {
                        mount: crate::fs::join(&saved.at),
                        source,
                    })?;
            }
        }
        // Memory.
        let mut on_demand = false;
        self.mf
            .restore_ranges(&st.memory)
            .map_err(|e| bad(format!("memory ranges: {e}")))?;
        let inside = |off: u64, len: u64| {
            st.memory
                .iter()
                .any(|&(s, e, _)| off >= s && off.checked_add(len).is_some_and(|end| end <= e))
        };
        match memory {
            Memory::Segments(segments) => {
                for seg in segments {
                    let seg = seg?;
                    if !inside(seg.memory_offset, seg.data.len() as u64) {
                        return Err(outside(seg.index));
                    }
                    self.mf.write(seg.memory_offset, &seg.data);
                }
            }
            Memory::OnDemand(image, file) => {
                if let Some(seg) = image
                    .segment_infos()
                    .find(|seg| !inside(seg.memory_offset, seg.len))
                {
                    return Err(outside(seg.index));
                }
                // The segments whose pages are shared rather than copied: by memory
                // offset, (end, image offset). Their bytes are checked like the others',
                // before anything uses them.
                let shared: std::collections::BTreeMap<u64, (u64, u64)> = match &file {
                    Some(_) => shareable_segments(st, &image),
                    None => Default::default(),
                };
                if let (Some(file), false) = (file, shared.is_empty()) {
                    use std::os::fd::AsRawFd;
                    let pieces: Vec<(u64, u64, u64)> =
                        shared.iter().map(|(&m, &(e, f))| (m, f, e - m)).collect();
                    self.plat
                        .share_image(file.as_raw_fd())
                        .map_err(RestoreError::Platform)?;
                    self.mf
                        .share_image(file, &pieces)
                        .map_err(RestoreError::Platform)?;
                }
                on_demand = true;
                self.mf
                    .load_on_demand(image, !self.bad_memory_ends_sandbox)
                    .map_err(RestoreError::Platform)?;
            }
        }
        let host_mono = crate::kernel::time::host_clock(libc::CLOCK_MONOTONIC);
        self.clocks.mono_offset = st.mono_ns as i64 - host_mono as i64;
        self.boot_ns = st.boot_ns;
        self.key_quota = st.key_quota.clone();
        let (uts, uts_of) = crate::kernel::uts::restore(&st.uts, &userns);
        self.uts = uts;
        // Page caches, before the address spaces map them (their fences come first).
        let vfs = &self.vfs;
        vfs.caches
            .restore(&self.mf, &st.page_caches, &|path, write| {
                let flags = if write { libc::O_RDWR } else { libc::O_RDONLY };
                crate::fs::host::reopen(vfs, path, flags, false)
                    .ok()
                    .map(|(fd, _)| fd)
            });
        // Address spaces.
        for m in &st.mms {
            let mut cx = MmCtx {
                mf: &self.mf,
                plat: &mut *self.plat,
            };
            let mm = Mm::restore(&mut cx, m, on_demand).map_err(RestoreError::Platform)?;
            self.mms.insert(m.id, MmEntry { mm, users: m.users });
            self.next_mm = self.next_mm.max(m.id + 1);
        }
        // Network namespaces (the initial one first), before the sockets that name them.
        let nets: Vec<crate::net::ns::NetRef> = std::iter::once(crate::net::ns::NetNs::initial())
            .chain(
                st.net_namespaces
                    .iter()
                    .skip(1)
                    .map(|n| crate::net::ns::NetNs::restored(n, userns(n.owner))),
            )
            .collect();
        self.net = nets[0].clone();
        self.nets = nets[1..].iter().map(Rc::downgrade).collect();
        // Open files and fd tables.
        let files = crate::net::ns::while_restoring(&nets, || {
            crate::persist::restore_with_memory(
                &self.vfs,
                stdio,
                &st.shared,
                &st.files,
                &st.fd_tables,
                Some(self.mf.clone()),
                Some(host_mono),
            )
        })?;
        self.next_obj = self.next_obj.max(files.max_object_id + 1);
        // Each file's opener in its user namespace; new credentials identities after every
        // saved one (validated: in range).
        for f in &st.files {
            if let (Some(o), Some(file)) = (f.opener, files.files.get(&f.id)) {
                if let Some(opener) = file.borrow_mut().opener.as_mut() {
                    opener.userns = userns(o.userns);
                }
            }
        }
        self.next_creds = st
            .tasks
            .iter()
            .map(|t| t.creds_id)
            .chain(st.files.iter().filter_map(|f| f.opener.map(|o| o.creds_id)))
            .fold(self.next_creds, u64::max);
        self.watch_restored_async(files.files.values());
        // File locks, on the restored files (keyed by what they are now).
        for l in &st.locks {
            let f = &files.files[&l.file];
            let key = crate::fs::lock::file_key(f).map_err(|e| {
                RestoreError::Files(crate::persist::RestoreFilesError::Lock {
                    file: l.file,
                    source: std::io::Error::from_raw_os_error(e),
                })
            })?;
            self.restore_lock(key, &l.lock, f);
        }
        // FIFO nodes name their restored pipes again.
        self.fifos
            .borrow_mut()
            .relink(&self.vfs, files.files.values());
        let tables = files.tables;
        self.bindings.register_restored(
            &self.vfs,
            tables.values().flat_map(|t| {
                t.borrow()
                    .fds
                    .values()
                    .map(|e| e.file.clone())
                    .collect::<Vec<_>>()
            }),
        );
        let fss: HashMap<u64, Rc<RefCell<FsContext>>> = st
            .fs_contexts
            .iter()
            .map(|f| (f.id, Rc::new(RefCell::new(FsContext::restore(f)))))
            .collect();
        let sighands: HashMap<u64, SigHand> = st
            .sighands
            .iter()
            .map(|h| (h.id, Rc::new(RefCell::new(restore_sighand(h)))))
            .collect();
        // Thread groups and tasks (every reference was checked by the validation pass).
        for g in &st.thread_groups {
            self.tgs.insert(g.pid, ThreadGroup::restore(g));
        }
        for t in &st.tasks {
            let space = self.mms[&t.mm].mm.id;
            let host_tid = self
                .plat
                .new_thread(space)
                .map_err(RestoreError::Platform)?;
            let regs = self
                .plat
                .get_regs(host_tid)
                .map_err(RestoreError::Platform)?;
            if !t.fpu.is_empty() {
                // A mismatching XSAVE image is refused by the host: say so.
                self.plat
                    .set_fpu(host_tid, &t.fpu)
                    .map_err(|e| RestoreError::Cpu(format!("FPU state of task {}: {e}", t.tid)))?;
            }
            let parts = TaskParts {
                host_tid,
                regs,
                files: tables[&t.files].clone(),
                fs: fss[&t.fs].clone(),
                sighand: sighands[&t.sighand].clone(),
                uts: uts_of[&t.tid].clone(),
                net: nets
                    .iter()
                    .find(|n| n.ino == t.net)
                    .expect("validated")
                    .clone(),
            };
            self.host2tid.insert(host_tid, t.tid);
            let mut task = Task::restore(t, parts);
            task.creds.userns = userns(t.creds.userns);
            self.tasks.insert(t.tid, task);
        }
        for g in &st.thread_groups {
            if let Some(tg) = self.tgs.get_mut(&g.pid) {
                tg.creds.userns = userns(g.creds.userns);
            }
        }
        self.futex_waiters = st.futex_waiters.iter().map(Waiter::restore).collect();
        self.init_status = st.init_status.as_ref().map(WaitStatus::restore);
        self.restore_tracees(&st.tracees);
        self.next_pid = self
            .tgs
            .keys()
            .chain(self.tasks.keys())
            .max()
            .copied()
            .unwrap_or(1)
            + 1;
        // Let it run: parked calls are served again (they re-park on fresh keys). Threads
        // that were running guest code when the checkpoint stopped the world (or paused it)
        // were saved as GroupStopped: they run on, unless their group is stopped by a stop
        // signal (`deliver_and_resume` leaves those stopped).
        self.vfs.guest.ns.set(crate::fs::mounts::INIT_MNT_NS);
        let tids: Vec<i32> = self.tasks.keys().copied().collect();
        for tid in tids {
            match self.tasks[&tid].state {
                RunState::Stopped | RunState::GroupStopped => self.deliver_and_resume(tid),
                RunState::Parked(_) => self.wake(tid),
                _ => {}
            }
        }
        Ok(())
    }

    /// Pairs each saved mount with this kernel's mount of the same destination: the k-th
    /// saved mount at a destination with the k-th one here. A saved mount the bundle lacks,
    /// or one whose kind or options differ, refuses the image naming the mount; mounts the
    /// image does not name are fine.
    fn match_mounts<'a>(
        &self,
        saved: &'a [MountState],
    ) -> Result<Vec<(&'a MountState, usize)>, RestoreError> {
        let mut used = vec![false; self.vfs.mounts.len()];
        let mut out = Vec::new();
        for m in saved.iter().filter(|m| !m.made && !m.copy) {
            let at = crate::fs::join(&m.at);
            let Some(i) =
                (0..self.vfs.mounts.len()).find(|&i| !used[i] && self.vfs.mounts[i].at == m.at)
            else {
                return Err(RestoreError::Mounts(format!(
                    "{at} is in the image but not in this container's config"
                )));
            };
            used[i] = true;
            let here = &self.vfs.mounts[i];
            let kind = match (&here.fs, here.fstype.as_str()) {
                (MountFs::Host { .. }, "tmpfs") => MountKindState::Tmpfs,
                (MountFs::Host { .. }, _) => MountKindState::Host,
                (MountFs::Dev, _) => MountKindState::Dev,
                (MountFs::Proc, _) => MountKindState::Proc,
                (MountFs::Empty, _) => MountKindState::Empty,
            };
            if kind != m.kind || here.fstype != m.fstype {
                return Err(RestoreError::Mounts(format!(
                    "{at} is a {} mount in the image but a {} mount here",
                    m.fstype, here.fstype
                )));
            }
            // A guest remount may have made it read-only, never writable.
            if here.readonly && !m.readonly {
                let ro = |r: bool| if r { "read-only" } else { "read-write" };
                return Err(RestoreError::Mounts(format!(
                    "{at} is {} in the image but {} here",
                    ro(m.readonly),
                    ro(here.readonly)
                )));
            }
            out.push((m, i));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{kernel, SCRATCH};

    /// A thread's own credentials, a process's reaped children's CPU time and whether it
    /// called execve are saved, and a restore brings them back.
    #[test]
    fn thread_credentials_and_process_accounting_survive_save_and_restore() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let thread = k.test_thread(t);
        assert_eq!(
            k.call(thread, libc::SYS_setresuid, [100, 101, 102, 0, 0, 0]),
            Some(0)
        );
        let nnp = libc::PR_SET_NO_NEW_PRIVS as u64;
        assert_eq!(
            k.call(thread, libc::SYS_prctl, [nnp, 1, 0, 0, 0, 0]),
            Some(0)
        );
        let sigchld = libc::SIGCHLD as u64;
        let child = k
            .call(t, libc::SYS_clone, [sigchld, 0, 0, 0, 0, 0])
            .unwrap() as i32;
        k.task_mut(child).cpu_base = 7_000_000;
        let used = k.task_cpu(child);
        k.exit_group(child, 0);
        let wait = [child as u64, SCRATCH, 0, 0, 0, 0];
        assert_eq!(k.call(t, libc::SYS_wait4, wait), Some(child as i64));
        k.tgs.get_mut(&t).unwrap().did_exec = true;
        let st = k
            .save_state(crate::control::DEFAULT_GHOST_LIMIT)
            .expect("save");
        let again = crate::state::restore_and_save(root.path(), &st).expect("restore");
        let task = |tid: i32| again.tasks.iter().find(|x| x.tid == tid).unwrap();
        assert_eq!(task(thread).creds.uids[..3], [100, 101, 102]);
        assert!(task(thread).creds.no_new_privs);
        assert_eq!(task(t).creds.uids, [0; 4]);
        assert!(!task(t).creds.no_new_privs);
        let g = again.thread_groups.iter().find(|g| g.pid == t).unwrap();
        assert_eq!(g.creds.uids, [0; 4], "the process is its leader's");
        assert_eq!(g.cpu_children, used);
        assert!(g.did_exec);
    }
}

#[cfg(test)]
mod namespace_tests {
    use crate::fs::mounts::{GuestMounts, MS_NOEXEC};
    use crate::testing::{kernel, SCRATCH};

    /// Restores `st` into `k` with no memory segments (these tests put what they need
    /// into guest memory again).
    fn restore_without_memory(
        k: &mut crate::kernel::Kernel,
        st: &crate::kernel::state::KernelState,
    ) {
        let stdio = crate::persist::testing::null_stdio();
        k.restore_state(
            st,
            super::Memory::Segments(Box::new(std::iter::empty())),
            stdio,
        )
        .expect("restore");
    }

    /// The credentials an open file was opened with keep their identity through a
    /// restore: its opener, without CAP_DAC_READ_SEARCH, links it with AT_EMPTY_PATH
    /// before and after, a process forked after the restore has credentials of its own;
    /// an opener in a user namespace the image lacks, or an identity out of range, is
    /// refused.
    #[test]
    fn open_files_keep_the_credentials_they_were_opened_with() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pub");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("f"), "x").unwrap();
        for (p, mode) in [(&dir, 0o777), (&dir.join("f"), 0o666)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let mut k = kernel(root.path());
        let t = k.test_process(1000, 1000);
        let at = libc::AT_FDCWD as u64;
        let f = k.put_str(t, SCRATCH, "/pub/f");
        let fd = k.call(t, libc::SYS_openat, [at, f, 0, 0, 0, 0]).unwrap() as u64;
        let link = |k: &mut crate::kernel::Kernel, tid: i32, name: &str| {
            let empty = k.put_str(tid, SCRATCH, "");
            let n = k.put_str(tid, SCRATCH + 64, name);
            let flags = libc::AT_EMPTY_PATH as u64;
            k.call(tid, libc::SYS_linkat, [fd, empty, at, n, flags, 0])
        };
        assert_eq!(link(&mut k, t, "/pub/before"), Some(0));
        let st = k
            .save_state(crate::control::DEFAULT_GHOST_LIMIT)
            .expect("save");
        crate::kernel::validate::validate(&st).unwrap();
        let mut again = kernel(root.path());
        restore_without_memory(&mut again, &st);
        assert_eq!(link(&mut again, t, "/pub/after"), Some(0));
        let sigchld = libc::SIGCHLD as u64;
        let child = again.call(t, libc::SYS_clone, [sigchld, 0, 0, 0, 0, 0]);
        let child = child.unwrap() as i32;
        assert_eq!(
            link(&mut again, child, "/pub/child"),
            Some(-(libc::ENOENT as i64))
        );
        // Hostile: a namespace the image does not have, an identity out of range.
        let mut bad = st.clone();
        for f in &mut bad.files {
            if let Some(o) = f.opener.as_mut() {
                o.userns = 77;
            }
        }
        let err = crate::kernel::validate::validate(&bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("opener") && err.contains("77 is not saved"),
            "{err}"
        );
        let mut bad = st.clone();
        bad.tasks[0].creds_id = crate::checks::CREDS_ID_MAX + 1;
        let err = crate::kernel::validate::validate(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("credentials id"), "{err}");
    }

    /// A user namespace with its maps, a mount namespace, and a tmpfs the guest mounted
    /// there with a file: saved, restored into a fresh kernel, and seen there as before
    /// (the mount by its own namespace only).
    #[test]
    fn user_and_mount_namespaces_and_guest_mounts_survive_save_and_restore() {
        let root = tempfile::tempdir().unwrap();
        let (scratch, scratch2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir(root.path().join("m")).unwrap();
        let mut k = kernel(root.path());
        k.vfs.guest = GuestMounts::new(Some(scratch.path().to_path_buf()));
        let t = k.test_process(0, 0);
        let other = k.test_process(0, 0);
        let flags = (libc::CLONE_NEWUSER | libc::CLONE_NEWNS) as u64;
        assert_eq!(
            k.call(t, libc::SYS_unshare, [flags, 0, 0, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(k.call(t, libc::SYS_getuid, [0; 6]), Some(65534));
        let map = [t.to_string(), "uid_map".to_string()];
        crate::kernel::procfs::write_id_map(&k, t, &map, b"0 0 1\n").unwrap();
        assert_eq!(
            crate::kernel::procfs::write_id_map(&k, t, &map, b"0 0 1\n"),
            Err(libc::EPERM)
        );
        assert_eq!(k.call(t, libc::SYS_getuid, [0; 6]), Some(0));
        let m = k.put_str(t, SCRATCH, "/m");
        let ty = k.put_str(t, SCRATCH + 64, "tmpfs");
        let data = k.put_str(t, SCRATCH + 128, "mode=0750");
        // Without CAP_SYS_ADMIN over the sandbox's mount namespace: EPERM.
        k.task_mut(other).creds.effective = 0;
        let om = k.put_str(other, SCRATCH, "/m");
        assert_eq!(
            k.call(other, libc::SYS_mount, [0, om, om, 0, 0, 0]),
            Some(-(libc::EPERM as i64))
        );
        let args = [0, m, ty, MS_NOEXEC, data, 0];
        assert_eq!(k.call(t, libc::SYS_mount, args), Some(0));
        let f = k.put_str(t, SCRATCH + 192, "/m/f");
        let at = libc::AT_FDCWD as u64;
        let create = (libc::O_CREAT | libc::O_WRONLY) as u64;
        let fd = k
            .call(t, libc::SYS_openat, [at, f, create, 0o644, 0, 0])
            .unwrap();
        k.put(t, SCRATCH + 256, b"data");
        assert_eq!(
            k.call(t, libc::SYS_write, [fd as u64, SCRATCH + 256, 4, 0, 0, 0]),
            Some(4)
        );
        assert_eq!(
            k.call(t, libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]),
            Some(0)
        );
        let st = k
            .save_state(crate::control::DEFAULT_GHOST_LIMIT)
            .expect("save");
        assert_eq!(st.user_namespaces.len(), 1);
        assert_eq!(st.user_namespaces[0].uid_map.len(), 1);
        assert_eq!(st.mount_namespaces.len(), 2);
        let made: Vec<_> = st.mounts.iter().filter(|m| m.made).collect();
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].root.0, 0o750);

        let mut again = kernel(root.path());
        again.vfs.guest = GuestMounts::new(Some(scratch2.path().to_path_buf()));
        restore_without_memory(&mut again, &st);
        assert_eq!(again.call(t, libc::SYS_getuid, [0; 6]), Some(0));
        // (The image's memory is not restored here: the paths go in again.)
        let m = again.put_str(t, SCRATCH, "/m");
        let f = again.put_str(t, SCRATCH + 192, "/m/f");
        let fd = again
            .call(t, libc::SYS_openat, [at, f, libc::O_RDONLY as u64, 0, 0, 0])
            .unwrap();
        assert!(fd >= 0, "{fd}");
        assert_eq!(
            again.call(t, libc::SYS_read, [fd as u64, SCRATCH + 256, 16, 0, 0, 0]),
            Some(4)
        );
        assert_eq!(again.get(t, SCRATCH + 256, 4), b"data");
        assert_eq!(
            again.call(t, libc::SYS_statfs, [m, SCRATCH + 512, 0, 0, 0, 0]),
            Some(0)
        );
        let f_flags = u64::from_le_bytes(again.get(t, SCRATCH + 512 + 80, 8).try_into().unwrap());
        assert_ne!(f_flags & MS_NOEXEC, 0, "{f_flags:#x}");
        // The other process, in the sandbox's mount namespace, does not see the tmpfs.
        let of = again.put_str(other, SCRATCH + 192, "/m/f");
        assert_eq!(
            again.call(other, libc::SYS_openat, [at, of, 0, 0, 0, 0]),
            Some(-(libc::ENOENT as i64))
        );
        let back = again
            .save_state(crate::control::DEFAULT_GHOST_LIMIT)
            .expect("save again");
        assert_eq!(back.user_namespaces, st.user_namespaces);
        assert_eq!(back.mount_namespaces, st.mount_namespaces);
    }

    /// A process in a network namespace of its own (lo up, a UDP socket on 127.0.0.1:P)
    /// and one in the sandbox's (the same port): saved, refused when a task or a socket
    /// names a namespace the image lacks, restored with each in its namespace.
    #[test]
    fn network_namespaces_survive_save_and_restore_and_unknown_ones_are_refused() {
        use crate::kinds::SharedState;
        use crate::net::ns::{Lo, INIT_INO};
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let other = k.test_process(0, 0);
        let flags = (libc::CLONE_NEWUSER | libc::CLONE_NEWNET) as u64;
        assert_eq!(
            k.call(t, libc::SYS_unshare, [flags, 0, 0, 0, 0, 0]),
            Some(0)
        );
        let dgram = |k: &mut crate::kernel::Kernel, tid| {
            let s = [libc::AF_INET as u64, libc::SOCK_DGRAM as u64, 0, 0, 0, 0];
            k.call(tid, libc::SYS_socket, s).unwrap() as u64
        };
        let s = dgram(&mut k, t);
        let mut ifr = [0u8; 40];
        ifr[..2].copy_from_slice(b"lo");
        ifr[16..18].copy_from_slice(&(libc::IFF_UP as u16).to_le_bytes());
        k.put(t, SCRATCH, &ifr);
        let up = [s, libc::SIOCSIFFLAGS, SCRATCH, 0, 0, 0];
        assert_eq!(k.call(t, libc::SYS_ioctl, up), Some(0));
        // The sandbox's lo stays the container's: EPERM there.
        let o = dgram(&mut k, other);
        k.put(other, SCRATCH, &ifr);
        let up_there = [o, libc::SIOCSIFFLAGS, SCRATCH, 0, 0, 0];
        assert_eq!(
            k.call(other, libc::SYS_ioctl, up_there),
            Some(-(libc::EPERM as i64))
        );
        let mut sin = [0u8; 16];
        sin[..2].copy_from_slice(&(libc::AF_INET as u16).to_le_bytes());
        sin[2..4].copy_from_slice(&40123u16.to_be_bytes());
        sin[4..8].copy_from_slice(&[127, 0, 0, 1]);
        for (tid, fd) in [(t, s), (other, o)] {
            k.put(tid, SCRATCH + 64, &sin);
            let b = [fd, SCRATCH + 64, 16, 0, 0, 0];
            assert_eq!(
                k.call(tid, libc::SYS_bind, b),
                Some(0),
                "the same port in each"
            );
        }
        let mine = k.task_net(t).ino;
        let st = k
            .save_state(crate::control::DEFAULT_GHOST_LIMIT)
            .expect("save");
        assert_eq!(st.net_namespaces.len(), 2);
        assert_eq!(
            (st.net_namespaces[0].ino, st.net_namespaces[1].ino),
            (INIT_INO, mine)
        );
        assert_eq!(st.net_namespaces[1].lo, Lo::Up);
        crate::kernel::validate::validate(&st).unwrap();
        // A task, and a socket, naming a namespace the image does not have.
        let mut bad = st.clone();
        bad.tasks.iter_mut().find(|x| x.tid == t).unwrap().net = mine + 1;
        let err = crate::kernel::validate::validate(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("task {t}")), "{err}");
        assert!(err.contains(&format!("{} is not saved", mine + 1)), "{err}");
        let mut bad = st.clone();
        for e in &mut bad.shared {
            if let SharedState::InetEndpoint(s) = &mut e.object {
                s.netns = 77;
            }
        }
        let err = crate::kernel::validate::validate(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("77 is not saved"), "{err}");

        let mut again = kernel(root.path());
        restore_without_memory(&mut again, &st);
        let net = again.task_net(t);
        assert_eq!((net.ino, net.lo()), (mine, Lo::Up));
        assert!(again.task_net(other).is_initial());
        // Each socket is in its namespace again: the port is taken in both.
        for tid in [t, other] {
            let fd = dgram(&mut again, tid);
            again.put(tid, SCRATCH + 64, &sin);
            let b = [fd, SCRATCH + 64, 16, 0, 0, 0];
            assert_eq!(
                again.call(tid, libc::SYS_bind, b),
                Some(-(libc::EADDRINUSE as i64))
            );
        }
        let back = again
            .save_state(crate::control::DEFAULT_GHOST_LIMIT)
            .expect("save again");
        assert_eq!(back.net_namespaces, st.net_namespaces);
    }
}
