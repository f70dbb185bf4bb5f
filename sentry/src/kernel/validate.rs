//! The one validation pass over a decoded kernel state, before any of it reaches a host
//! call. An image travels between hosts (`docker start --checkpoint`, `podman restore
//! --import`) and its checksums only prove it is the file its writer wrote: every value in
//! it is checked here as hostile input. A refusal names the object and the field.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::checks::{
    bad, path_ok, unique, Invalid, FPU_MAX, PATH_MAX, PID_MAX, SIGQUEUE_MAX, USER_END,
};
use crate::fs::tmpfs::check_tree;
use crate::kernel::state::{KernelState, MountState};
use crate::kernel::task::RunStateState;
use crate::platform::{GuestRange, GUEST_TOP};

fn signo_ok(object: &str, field: &'static str, sig: i32) -> Result<(), Invalid> {
    if !(1..=64).contains(&sig) {
        return Err(bad(object, field, format!("{sig} is not a signal number")));
    }
    Ok(())
}

fn user_addr(object: &str, field: &'static str, v: u64, top: u64) -> Result<(), Invalid> {
    if v >= top {
        return Err(bad(object, field, format!("{v:#x} is not a user address")));
    }
    Ok(())
}

/// Checks the whole state. `memory` is the image's allocated memory ranges (already
/// checked for alignment and order by the memory file).
pub fn validate(st: &KernelState) -> Result<(), Invalid> {
    check_memory(st)?;
    let mms = unique("address space", st.mms.iter().map(|m| m.id))?;
    for m in &st.mms {
        let obj = format!("address space {}", m.id);
        check_mappings(&obj, &m.vmas, &st.memory)?;
        for (field, v) in [("brk_start", m.brk_start), ("brk", m.brk)] {
            user_addr(&obj, field, v, GUEST_TOP + 1)?;
        }
        for (field, (s, e)) in [
            ("arg_range", m.arg_range),
            ("env_range", m.env_range),
            ("auxv_range", m.auxv_range),
        ] {
            if s > e || e > GUEST_TOP {
                return Err(bad(
                    &obj,
                    field,
                    format!("{s:#x}-{e:#x} is not a guest range"),
                ));
            }
        }
    }
    let inside = |off: u64, len: u64| {
        st.memory
            .iter()
            .any(|&(s, e, _)| off >= s && off.checked_add(len).is_some_and(|end| end <= e))
    };
    for c in &st.page_caches {
        c.check(&inside)?;
    }
    // Open files, the objects they share, and fd tables: beside the files' kinds.
    let tables = crate::persist::check(&st.shared, &st.files, &st.fd_tables)?;
    let file_ids: HashSet<u64> = st.files.iter().map(|f| f.id).collect();
    let pids: HashSet<i32> = st.thread_groups.iter().map(|g| g.pid).collect();
    crate::fs::lock::check(&st.locks, &file_ids, &pids)?;
    let fss = unique("fs context", st.fs_contexts.iter().map(|f| f.id))?;
    for f in &st.fs_contexts {
        let obj = format!("fs context {}", f.id);
        path_ok(&obj, "cwd", &f.cwd, true)?;
        if f.umask > 0o777 {
            return Err(bad(
                &obj,
                "umask",
                format!("{:#o} is out of range", f.umask),
            ));
        }
    }
    let sighands = unique("signal table", st.sighands.iter().map(|h| h.id))?;
    for h in &st.sighands {
        if h.actions.len() != 64 {
            return Err(bad(
                format!("signal table {}", h.id),
                "actions",
                "are not 64",
            ));
        }
    }
    check_processes(st, &mms, &tables, &fss, &sighands)?;
    for m in &st.mms {
        let users = st.tasks.iter().filter(|t| t.mm == m.id).count();
        if users == 0 || m.users as usize != users {
            return Err(bad(
                format!("address space {}", m.id),
                "users",
                format!("is {} but {users} tasks use it", m.users),
            ));
        }
    }
    check_mounts(&st.mounts)?;
    check_mount_namespaces(st)?;
    // After the tasks themselves: a namespace names only tasks known to be sound.
    let tids: Vec<i32> = st.tasks.iter().map(|t| t.tid).collect();
    crate::kernel::uts::validate(&st.uts, &tids)?;
    check_net_namespaces(st)?;
    check_user_namespaces(st)?;
    st.key_quota.validate()?;
    Ok(())
}

/// The user namespaces are sound, and every credential and UTS namespace names one of them
/// (or the initial one).
fn check_user_namespaces(st: &KernelState) -> Result<(), Invalid> {
    use crate::creds::UserNsRef;
    UserNsRef::validate(&st.user_namespaces)
        .map_err(|e| bad("the kernel", "user_namespaces", e))?;
    let known = |ino: u64| {
        ino == UserNsRef::init().ino() || st.user_namespaces.iter().any(|n| n.ino == ino)
    };
    let named = st
        .tasks
        .iter()
        .map(|t| (format!("task {}", t.tid), t.creds.userns))
        .chain(
            st.thread_groups
                .iter()
                .map(|g| (format!("process {}", g.pid), g.creds.userns)),
        )
        .chain(
            st.uts
                .iter()
                .enumerate()
                .map(|(i, u)| (format!("UTS namespace {i}"), u.owner)),
        )
        .chain(
            st.net_namespaces
                .iter()
                .map(|n| (format!("network namespace {}", n.ino), n.owner)),
        )
        .chain(st.files.iter().filter_map(|f| {
            f.opener
                .map(|o| (format!("open file {} opener", f.id), o.userns))
        }));
    for (obj, ino) in named {
        if !known(ino) {
            return Err(bad(obj, "user namespace", format!("{ino} is not saved")));
        }
    }
    Ok(())
}

/// The network namespaces are sound, and every task and socket names one of them.
fn check_net_namespaces(st: &KernelState) -> Result<(), Invalid> {
    use crate::kinds::{FileKindState, SharedState};
    use crate::net::ns::check_socket_ns;
    let saved = &st.net_namespaces;
    crate::net::ns::validate(saved)?;
    for t in &st.tasks {
        check_socket_ns(&format!("task {}", t.tid), t.net, saved)?;
    }
    for e in &st.shared {
        let ino = match &e.object {
            SharedState::UnixEndpoint(s) => s.netns,
            SharedState::InetEndpoint(s) => s.netns,
            _ => continue,
        };
        check_socket_ns(&format!("shared object {}", e.id), ino, saved)?;
    }
    for f in &st.files {
        if let FileKindState::Netlink(s) = &f.kind {
            check_socket_ns(&format!("open file {}", f.id), s.netns, saved)?;
        }
    }
    Ok(())
}

fn check_memory(st: &KernelState) -> Result<(), Invalid> {
    let mut last = 0;
    for &(s, e, n) in &st.memory {
        if s % 4096 != 0 || e % 4096 != 0 || s < last || e <= s || n == 0 {
            return Err(bad(
                "the memory file",
                "allocated range",
                format!("{s:#x}-{e:#x} x{n} is not page-aligned, ordered and referenced"),
            ));
        }
        last = e;
    }
    Ok(())
}

/// Whether every byte of `[off, off + len)` lies in the allocated ranges.
fn allocated(memory: &[(u64, u64, u32)], off: u64, len: u64) -> bool {
    let Some(end) = off.checked_add(len) else {
        return false;
    };
    let mut cur = off;
    for &(s, e, _) in memory {
        if e <= cur {
            continue;
        }
        if s > cur {
            return false;
        }
        cur = e;
        if cur >= end {
            return true;
        }
    }
    cur >= end
}

fn check_mappings(
    obj: &str,
    vmas: &[crate::mm::state::VmaState],
    memory: &[(u64, u64, u32)],
) -> Result<(), Invalid> {
    let mut last_end = 0;
    for v in vmas {
        let start = &v.start;
        let r = GuestRange::bounds(*start, v.end).map_err(|e| {
            bad(
                obj,
                "mapping",
                format!(
                    "{start:#x}-{:#x} is not inside the guest range ({e:?})",
                    v.end
                ),
            )
        })?;
        if r.start() < last_end {
            return Err(bad(
                obj,
                "mapping",
                format!("{start:#x} overlaps the one before it"),
            ));
        }
        last_end = r.end();
        if v.prot & !(libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) != 0 {
            return Err(bad(
                obj,
                "mapping protection",
                format!("{:#x} is not rwx", v.prot),
            ));
        }
        if v.off % 4096 != 0 || !allocated(memory, v.off, r.len()) {
            return Err(bad(
                obj,
                "mapping",
                format!(
                    "{start:#x}-{:#x} is backed by memory-file offset {:#x}, outside the image's memory",
                    v.end, v.off
                ),
            ));
        }
        if v.name.len() > PATH_MAX {
            return Err(bad(obj, "mapping name", "is too long"));
        }
        check_mapping_objects(obj, v, r.len(), memory)?;
    }
    Ok(())
}

/// A mapping's file pages and shared-memory object: allocated memory-file bytes, of a
/// private mapping (file pages) or a shared one (object, pages past its end), the
/// mapping's own pages inside its object.
fn check_mapping_objects(
    obj: &str,
    v: &crate::mm::state::VmaState,
    len: u64,
    memory: &[(u64, u64, u32)],
) -> Result<(), Invalid> {
    if let Some(f) = v.file_pages {
        if v.shared || f % 4096 != 0 || !allocated(memory, f, len) {
            return Err(bad(
                obj,
                "mapping file pages",
                format!(
                    "{:#x}: {f:#x} is not allocated memory of a private mapping",
                    v.start
                ),
            ));
        }
    }
    if let Some((base, size)) = v.shm {
        let inside = v.off >= base && base.checked_add(size).is_some_and(|e| v.off + len <= e);
        if !v.shared
            || v.past_end
            || v.file_pages.is_some()
            || base % 4096 != 0
            || size == 0
            || size % 4096 != 0
            || !allocated(memory, base, size)
            || !inside
        {
            return Err(bad(
                obj,
                "mapping object",
                format!(
                    "{:#x}: {base:#x}+{size:#x} is not allocated memory holding the mapping's pages",
                    v.start
                ),
            ));
        }
    }
    if v.past_end && (!v.shared || v.file_pages.is_some()) {
        return Err(bad(
            obj,
            "mapping",
            format!(
                "{:#x}: pages past an object's end in a private mapping",
                v.start
            ),
        ));
    }
    Ok(())
}

fn check_processes(
    st: &KernelState,
    mms: &HashSet<u64>,
    tables: &HashSet<u64>,
    fss: &HashSet<u64>,
    sighands: &HashSet<u64>,
) -> Result<(), Invalid> {
    let pid_ok = |obj: &str, field, p: i32| {
        if !(1..=PID_MAX).contains(&p) {
            return Err(bad(obj, field, format!("{p} is not a valid pid")));
        }
        Ok(())
    };
    for g in &st.thread_groups {
        pid_ok(&format!("process {}", g.pid), "pid", g.pid)?;
    }
    for t in &st.tasks {
        pid_ok(&format!("task {}", t.tid), "tid", t.tid)?;
    }
    unique("process", st.thread_groups.iter().map(|g| g.pid))?;
    unique("task", st.tasks.iter().map(|t| t.tid))?;
    let groups: BTreeMap<i32, &crate::kernel::state::ThreadGroupState> =
        st.thread_groups.iter().map(|g| (g.pid, g)).collect();
    let tasks: HashMap<i32, &crate::kernel::state::TaskState> =
        st.tasks.iter().map(|t| (t.tid, t)).collect();
    let live = st
        .tasks
        .iter()
        .map(|t| (t.tid, (t.tgid, t.state == RunStateState::TraceStopped)))
        .collect();
    let zombies = st
        .thread_groups
        .iter()
        .filter(|g| g.zombie.is_some())
        .map(|g| g.pid)
        .collect();
    crate::kernel::ptrace::check_tracees(&st.tracees, &live, &zombies)
        .map_err(|e| bad("ptrace", "tracees", e))?;
    for t in &st.tasks {
        let obj = format!("task {}", t.tid);
        let Some(g) = groups.get(&t.tgid) else {
            return Err(bad(&obj, "process", format!("{} does not exist", t.tgid)));
        };
        if !g.threads.contains(&t.tid) {
            return Err(bad(&obj, "process", format!("{} does not list it", t.tgid)));
        }
        for (field, id, set) in [
            ("address space", t.mm, mms),
            ("fd table", t.files, tables),
            ("fs context", t.fs, fss),
            ("signal table", t.sighand, sighands),
        ] {
            if !set.contains(&id) {
                return Err(bad(&obj, field, format!("{id} does not exist")));
            }
        }
        if t.creds.groups.len() > 65536 {
            return Err(bad(&obj, "supplementary groups", "are too many"));
        }
        if t.creds_id > crate::checks::CREDS_ID_MAX {
            let why = format!("{} is out of range", t.creds_id);
            return Err(bad(&obj, "credentials id", why));
        }
        let r = &t.regs;
        user_addr(&obj, "rip", r[16], USER_END)?;
        user_addr(&obj, "rsp", r[19], USER_END)?;
        user_addr(&obj, "fs_base", r[21], GUEST_TOP)?;
        user_addr(&obj, "gs_base", r[22], GUEST_TOP)?;
        if t.fpu.len() > FPU_MAX || (!t.fpu.is_empty() && t.fpu.len() < 512) {
            return Err(bad(
                &obj,
                "FPU state",
                format!("of {} bytes is not an XSAVE area", t.fpu.len()),
            ));
        }
        if t.pending.len() > SIGQUEUE_MAX {
            return Err(bad(&obj, "pending signals", "are too many"));
        }
        for s in &t.pending {
            signo_ok(&obj, "pending signal", s.signo)?;
            if s.fields.len() != 112 {
                return Err(bad(
                    &obj,
                    "pending signal",
                    "has a siginfo of the wrong size",
                ));
            }
        }
        if t.comm.len() > 64 {
            return Err(bad(&obj, "comm", "is too long"));
        }
        if let Err(e) = crate::kernel::sched::check_saved(&t.sched) {
            return Err(bad(&obj, "scheduling attributes", e));
        }
        match &t.state {
            RunStateState::VforkWait(c) if !tasks.contains_key(c) => {
                return Err(bad(&obj, "vfork child", format!("{c} does not exist")));
            }
            _ => {}
        }
        if let Some(p) = t.vfork_parent {
            if !tasks.contains_key(&p) {
                return Err(bad(&obj, "vfork parent", format!("{p} does not exist")));
            }
        }
    }
    for g in &st.thread_groups {
        let obj = format!("process {}", g.pid);
        unique("thread", g.threads.iter().copied())
            .map_err(|e| bad(&obj, "threads", e.to_string()))?;
        for th in &g.threads {
            if tasks.get(th).is_none_or(|t| t.tgid != g.pid) {
                return Err(bad(&obj, "threads", format!("{th} is not a task of it")));
            }
        }
        if g.zombie.is_none() && g.threads.is_empty() {
            return Err(bad(&obj, "threads", "are none, yet it is not a zombie"));
        }
        if g.ppid != 0 && !groups.contains_key(&g.ppid) {
            return Err(bad(&obj, "parent", format!("{} does not exist", g.ppid)));
        }
        for c in &g.children {
            if groups.get(c).is_none_or(|cg| cg.ppid != g.pid) {
                return Err(bad(&obj, "children", format!("{c} is not a child of it")));
            }
        }
        pid_ok(&obj, "process group", g.pgid)?;
        pid_ok(&obj, "session", g.sid)?;
        if !(0..=64).contains(&g.exit_signal) {
            return Err(bad(
                &obj,
                "exit signal",
                format!("{} is not a signal", g.exit_signal),
            ));
        }
        if g.rlimits.len() != 16 || g.rlimits.iter().any(|&(s, h)| s > h) {
            return Err(bad(&obj, "rlimits", "are not 16 soft <= hard pairs"));
        }
        if g.creds.groups.len() > 65536 {
            return Err(bad(&obj, "supplementary groups", "are too many"));
        }
        if g.shared_pending.len() > SIGQUEUE_MAX {
            return Err(bad(&obj, "pending signals", "are too many"));
        }
        for s in &g.shared_pending {
            signo_ok(&obj, "pending signal", s.signo)?;
            if s.fields.len() != 112 {
                return Err(bad(
                    &obj,
                    "pending signal",
                    "has a siginfo of the wrong size",
                ));
            }
        }
        if let Some((sig, _)) = g.stopped {
            signo_ok(&obj, "stop signal", sig)?;
        }
        // The timer-marked signals queued in it, by timer id.
        let queued: Vec<i32> = g
            .shared_pending
            .iter()
            .chain(g.threads.iter().flat_map(|th| &tasks[th].pending))
            .filter(|s| s.timer)
            .map(|s| i32::from_le_bytes(s.fields[0..4].try_into().expect("4")))
            .collect();
        crate::kernel::posix_timer::check(&obj, &g.posix_timers, &g.threads, &queued)?;
        if g.itimer_cpu
            .iter()
            .flatten()
            .any(|&(next, interval)| next > i64::MAX as u64 || interval > i64::MAX as u64)
        {
            return Err(bad(
                &obj,
                "CPU-time interval timer",
                "is beyond the clock's range",
            ));
        }
        path_ok(&obj, "exe", &g.exe, false)?;
    }
    if st.init_status.is_none() && groups.get(&1).is_none_or(|g| g.zombie.is_some()) {
        return Err(bad(
            "process 1",
            "pid",
            "is missing, yet the init has not exited",
        ));
    }
    for w in &st.futex_waiters {
        let obj = format!("futex waiter {}", w.tid);
        if !tasks
            .get(&w.tid)
            .is_some_and(|t| matches!(t.state, RunStateState::Parked { .. }))
        {
            return Err(bad(&obj, "task", "is not a parked task"));
        }
        use crate::kernel::futex::FutexKeyState;
        for key in std::iter::once(w.key).chain(w.requeue_pi) {
            if let FutexKeyState::Private { mm, .. } | FutexKeyState::MmShared { mm, .. } = key {
                if !mms.contains(&mm) {
                    return Err(bad(&obj, "address space", format!("{mm} does not exist")));
                }
            }
        }
        if w.pi && w.requeue_pi.is_some() {
            return Err(bad(&obj, "requeue_pi", "is set on a PI waiter"));
        }
    }
    Ok(())
}

/// The mount namespaces: the sandbox's first, distinct, each owned by a saved user
/// namespace; every task and mount names saved ones; a mount the guest made is a tmpfs or
/// a procfs, a copy follows a mount at its place.
fn check_mount_namespaces(st: &KernelState) -> Result<(), Invalid> {
    use crate::fs::mounts::INIT_MNT_NS;
    let inos: Vec<u64> = st.mount_namespaces.iter().map(|n| n.ino).collect();
    if inos.first() != Some(&INIT_MNT_NS) {
        return Err(bad(
            "the kernel",
            "mount_namespaces",
            "do not start with the sandbox's",
        ));
    }
    unique("mount namespace", inos.iter().copied())?;
    let users = |ino: u64| {
        ino == crate::creds::UserNsRef::init().ino()
            || st.user_namespaces.iter().any(|n| n.ino == ino)
    };
    if let Some(n) = st.mount_namespaces.iter().find(|n| !users(n.owner)) {
        return Err(bad(
            format!("mount namespace {}", n.ino),
            "owner",
            format!("{} is not a saved user namespace", n.owner),
        ));
    }
    if let Some(t) = st.tasks.iter().find(|t| !inos.contains(&t.mnt)) {
        return Err(bad(
            format!("task {}", t.tid),
            "mnt",
            "is not a saved mount namespace",
        ));
    }
    for (i, m) in st.mounts.iter().enumerate() {
        let obj = format!("mount {}", crate::fs::join(&m.at));
        if let Some(n) = m.seen.iter().find(|n| !inos.contains(n)) {
            return Err(bad(
                &obj,
                "seen",
                format!("names {n}, not a saved mount namespace"),
            ));
        }
        if m.made && !m.copy && !matches!(m.fstype.as_str(), "tmpfs" | "proc") {
            return Err(bad(&obj, "fstype", "is not one the guest mounts"));
        }
        if m.copy && !st.mounts[..i].iter().any(|o| o.at == m.at && !o.copy) {
            return Err(bad(&obj, "copy", "follows no mount at its place"));
        }
        if m.copy && !m.contents.is_empty() {
            return Err(bad(&obj, "contents", "are saved for a copy"));
        }
        if m.root.0 > 0o7777 {
            return Err(bad(&obj, "root", "has a mode beyond 07777"));
        }
    }
    Ok(())
}

fn check_mounts(mounts: &[MountState]) -> Result<(), Invalid> {
    for m in mounts {
        let at = crate::fs::join(&m.at);
        let obj = format!("mount {at}");
        if m.at
            .iter()
            .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('/'))
            || at.len() > PATH_MAX
        {
            return Err(bad(&obj, "destination", "is not a clean absolute path"));
        }
        if !m.contents.is_empty() && m.kind != crate::kernel::state::MountKindState::Tmpfs {
            return Err(bad(&obj, "contents", "are saved, but it is not a tmpfs"));
        }
        check_tree(&obj, &m.contents)?;
    }
    Ok(())
}
