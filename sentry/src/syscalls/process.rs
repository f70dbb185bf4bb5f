//! Process calls: clone/fork/vfork, execve, exit, wait, process groups and sessions,
//! limits, uname, prctl and the other questions about the process and the machine. The
//! kernel does the work (kernel/process.rs, exec.rs, exit.rs); these decode the arguments.

use super::ret;
use crate::kernel::process::CloneArgs;
use crate::kernel::signal::SigInfo;
use crate::kernel::task::{Park, WaitKey};
use crate::kernel::{err, Sys, SysCtx};
use crate::mm::Errno;

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return err(e),
        }
    };
}

pub(super) fn exit(c: &mut SysCtx) -> Sys {
    c.exit(c.arg(0) as i32)
}

pub(super) fn exit_group(c: &mut SysCtx) -> Sys {
    c.exit_group(c.arg(0) as i32)
}

/// clone, and fork and vfork with their fixed flags.
pub(super) fn clone(c: &mut SysCtx, flags: u64, stack: u64, ptid: u64, ctid: u64, tls: u64) -> Sys {
    start_clone(
        c,
        CloneArgs {
            flags: flags as i32,
            stack,
            ptid,
            ctid,
            tls,
            clear_sighand: false,
            set_tid: None,
            creds: None,
        },
    )
}

/// The checks of clone's flags (copy_process's) that clone and clone3 share, then the
/// clone. A new user namespace comes first, and the child's capabilities there decide
/// the other namespaces.
fn start_clone(c: &mut SysCtx, mut args: CloneArgs) -> Sys {
    tryk!(check_flags(args.flags));
    args.creds = tryk!(new_namespaces_creds(c, args.flags));
    c.clone(args)
}

/// The credentials a task asking for `flags` has after its new namespaces, when it asks
/// for a new user namespace (made first); EPERM when they may not make the other
/// namespaces asked for (CAP_SYS_ADMIN in that user namespace, which owns them).
fn new_namespaces_creds(c: &SysCtx, flags: i32) -> Result<Option<crate::creds::Creds>, Errno> {
    let mut creds = c.creds().clone();
    let new_user = flags & libc::CLONE_NEWUSER != 0;
    if new_user {
        // (Linux also refuses a chrooted caller: chroot is refused in the sandbox.)
        creds.enter_new_userns()?;
    }
    let others = libc::CLONE_NEWUTS | libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET;
    if flags & others != 0 && !creds.has(crate::creds::CAP_SYS_ADMIN) {
        return Err(libc::EPERM);
    }
    Ok(new_user.then_some(creds))
}

/// Namespaces the sandbox does not make (EPERM, as for a caller without the
/// capability).
const REFUSED_NAMESPACES: i32 = libc::CLONE_NEWPID | libc::CLONE_NEWCGROUP | CLONE_NEWTIME;

/// The namespaces the sandbox makes or accepts: user, mount, UTS and network namespaces
/// (a network namespace is the sentry's own, with only its loopback: `net::ns`); an IPC
/// namespace is accepted with the capability Linux asks for (the sandbox has no SysV or
/// POSIX IPC objects to share).
const NAMESPACES: i32 = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWNET;

/// setns(2) into a network namespace, from an open /proc/PID/ns/net (`nstype` 0 or
/// CLONE_NEWNET): CAP_SYS_ADMIN over the namespace and in the caller's user namespace, as
/// Linux asks. Namespaces of other types are refused (EPERM, as before: the sandbox does
/// not move tasks between them); a file that is no namespace, or a namespace of another
/// type than `nstype`, is EINVAL. A namespace no task or socket holds any more is gone
/// (the open file does not keep it, as Linux's does): EINVAL.
pub(super) fn setns(c: &mut SysCtx) -> Sys {
    let nstype = c.arg(1) as i32;
    let f = tryk!(c.file(c.arg(0)));
    let path = f.borrow().path.clone();
    let Some((kind, ino)) = path
        .strip_suffix(']')
        .and_then(|p| p.split_once(":["))
        .and_then(|(k, n)| Some((k.to_string(), n.parse::<u64>().ok()?)))
    else {
        return err(libc::EINVAL);
    };
    let ns_types = [
        ("cgroup", libc::CLONE_NEWCGROUP),
        ("ipc", libc::CLONE_NEWIPC),
        ("mnt", libc::CLONE_NEWNS),
        ("net", libc::CLONE_NEWNET),
        ("pid", libc::CLONE_NEWPID),
        ("time", CLONE_NEWTIME),
        ("user", libc::CLONE_NEWUSER),
        ("uts", libc::CLONE_NEWUTS),
    ];
    let Some(&(_, ty)) = ns_types.iter().find(|(k, _)| *k == kind) else {
        return err(libc::EINVAL);
    };
    if nstype != 0 && nstype != ty {
        return err(libc::EINVAL);
    }
    if ty != libc::CLONE_NEWNET {
        return err(libc::EPERM);
    }
    let Some(net) = c.net_namespace(ino) else {
        return err(libc::EINVAL);
    };
    let creds = c.creds();
    if !creds.capable_in(&net.owner, crate::creds::CAP_SYS_ADMIN)
        || !creds.has(crate::creds::CAP_SYS_ADMIN)
    {
        return err(libc::EPERM);
    }
    c.set_net(net);
    Sys::Ret(0)
}

/// unshare(2): private copies of the fd table, the fs context (cwd, umask), the user,
/// mount and UTS namespaces, a new network namespace; CLONE_THREAD, CLONE_SIGHAND and CLONE_VM only while nothing
/// shares them (EINVAL otherwise), CLONE_SYSVSEM has nothing to undo; other namespaces
/// EPERM. A new user namespace implies CLONE_THREAD and CLONE_FS, a mount namespace
/// CLONE_FS (check_unshare_flags).
pub(super) fn unshare(c: &mut SysCtx) -> Sys {
    let mut flags = c.arg(0) as i32;
    let known = libc::CLONE_THREAD
        | libc::CLONE_FS
        | libc::CLONE_SIGHAND
        | libc::CLONE_VM
        | libc::CLONE_FILES
        | libc::CLONE_SYSVSEM
        | NAMESPACES
        | REFUSED_NAMESPACES;
    if flags & !known != 0 {
        return err(libc::EINVAL);
    }
    if flags & libc::CLONE_NEWUSER != 0 {
        flags |= libc::CLONE_THREAD | libc::CLONE_FS;
    }
    if flags & libc::CLONE_NEWNS != 0 {
        flags |= libc::CLONE_FS;
    }
    let threads = flags & (libc::CLONE_THREAD | libc::CLONE_SIGHAND | libc::CLONE_VM) != 0
        && c.thread_count() > 1;
    let mm = flags & (libc::CLONE_SIGHAND | libc::CLONE_VM) != 0 && c.mm_users() > 1;
    if threads || mm {
        return err(libc::EINVAL);
    }
    if flags & REFUSED_NAMESPACES != 0 {
        return err(libc::EPERM);
    }
    let creds = tryk!(new_namespaces_creds(c, flags));
    c.unshare(flags, creds);
    Sys::Ret(0)
}

fn check_flags(flags: i32) -> Result<(), Errno> {
    if (flags & libc::CLONE_THREAD != 0 && flags & libc::CLONE_SIGHAND == 0)
        || (flags & libc::CLONE_SIGHAND != 0 && flags & libc::CLONE_VM == 0)
        || flags & libc::CLONE_PIDFD != 0
        // A new user namespace is not for a thread or a task sharing its fs context; a
        // mount namespace not for the latter either.
        || (flags & libc::CLONE_NEWUSER != 0 && flags & (libc::CLONE_THREAD | libc::CLONE_FS) != 0)
        || (flags & (libc::CLONE_NEWNS | libc::CLONE_FS) == libc::CLONE_NEWNS | libc::CLONE_FS)
    {
        return Err(libc::EINVAL);
    }
    if flags & REFUSED_NAMESPACES != 0 {
        return Err(libc::EPERM);
    }
    Ok(())
}

const CLONE_NEWTIME: i32 = 0x80;
const CLONE_CLEAR_SIGHAND: u64 = 1 << 32;
const CLONE_INTO_CGROUP: u64 = 1 << 33;
const CLONE_DETACHED: u64 = 0x0040_0000;
/// `struct clone_args` up to exit_signal..tls (version 0), set_tid (1), cgroup (2).
const CLONE_ARGS_SIZE_VER0: u64 = 64;
const CLONE_ARGS_SIZE_VER2: u64 = 88;

/// clone3(2): a `struct clone_args` of `size` bytes, checked as Linux does
/// (copy_clone_args_from_user, clone3_args_valid), then clone's checks.
pub(super) fn clone3(c: &mut SysCtx) -> Sys {
    let [uargs, size, ..] = c.args();
    if size > 4096 {
        return err(libc::E2BIG);
    }
    if size < CLONE_ARGS_SIZE_VER0 {
        return err(libc::EINVAL);
    }
    let b = tryk!(c.read_mem(uargs, size as usize));
    // A newer caller's fields this kernel does not know must be zero.
    if b.iter()
        .skip(CLONE_ARGS_SIZE_VER2 as usize)
        .any(|&x| x != 0)
    {
        return err(libc::E2BIG);
    }
    let field = |i: usize| {
        b.get(i * 8..i * 8 + 8)
            .map_or(0, |w| u64::from_le_bytes(w.try_into().expect("8")))
    };
    let [flags, pidfd, ctid, ptid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup] =
        std::array::from_fn(field);
    // One pid namespace: at most one tid to set (MAX_PID_NS_LEVEL is 32).
    if set_tid_size > 32 || (set_tid == 0) != (set_tid_size == 0) {
        return err(libc::EINVAL);
    }
    if exit_signal & !0xff != 0 || exit_signal > 64 {
        return err(libc::EINVAL);
    }
    if flags & CLONE_INTO_CGROUP != 0 && (cgroup > i32::MAX as u64 || size < CLONE_ARGS_SIZE_VER2) {
        return err(libc::EINVAL);
    }
    let tids = if set_tid_size > 0 {
        tryk!(c.read_mem(set_tid, set_tid_size as usize * 4))
    } else {
        Vec::new()
    };
    if flags & !(0xffff_ffff | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP) != 0
        || flags & (CLONE_DETACHED | 0x7f) != 0
        || (flags & (libc::CLONE_THREAD | libc::CLONE_PARENT) as u64 != 0 && exit_signal != 0)
        || (flags & libc::CLONE_SIGHAND as u64 != 0 && flags & CLONE_CLEAR_SIGHAND != 0)
        || (stack == 0) != (stack_size == 0)
        || stack
            .checked_add(stack_size)
            .is_none_or(|e| e > crate::checks::USER_END)
    {
        return err(libc::EINVAL);
    }
    let legacy = (flags as u32 as i32) | exit_signal as i32;
    tryk!(check_flags(legacy));
    // More tids than the one pid namespace there is.
    if set_tid_size > 1 {
        return err(libc::EINVAL);
    }
    // CLONE_PIDFD's fd would go to `pidfd` (pidfds are not implemented: check_flags
    // refuses CLONE_PIDFD).
    let _ = pidfd;
    if flags & CLONE_INTO_CGROUP != 0 {
        // No cgroup file system in the sandbox, so no fd names a cgroup directory.
        return err(libc::EBADF);
    }
    start_clone(
        c,
        CloneArgs {
            flags: legacy,
            stack: stack.wrapping_add(stack_size),
            ptid,
            ctid,
            tls,
            clear_sighand: flags & CLONE_CLEAR_SIGHAND != 0,
            set_tid: (!tids.is_empty())
                .then(|| i32::from_le_bytes(tids[..4].try_into().expect("4"))),
            creds: None,
        },
    )
}

/// execveat, and execve relative to the cwd (flags 0). AT_EMPTY_PATH runs the file
/// `dirfd` names (fexecve); AT_SYMLINK_NOFOLLOW refuses a final symlink. A script reached
/// through an fd is named /dev/fd/N[/PATH] to its interpreter, and cannot run when that
/// fd closes on exec (ENOENT, as Linux).
pub(super) fn execveat(
    c: &mut SysCtx,
    dirfd: u64,
    path: u64,
    argv: u64,
    envp: u64,
    flags: u64,
) -> Sys {
    let flags = flags as i32;
    if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) != 0 {
        return err(libc::EINVAL);
    }
    let p = tryk!(c.read_path(path));
    let argv = tryk!(c.read_strv(argv));
    let envp = tryk!(c.read_strv(envp));
    let dirfd = dirfd as i32;
    let by_fd = p.first() != Some(&b'/') && dirfd != libc::AT_FDCWD;
    let mut script_name = None;
    if by_fd {
        tryk!(c.file(dirfd as u64));
        let mut name = format!("/dev/fd/{dirfd}").into_bytes();
        if !p.is_empty() {
            name.push(b'/');
            name.extend_from_slice(&p);
        }
        let cloexec = c.fds().borrow().fds.get(&dirfd).is_some_and(|e| e.cloexec);
        script_name = Some((name, cloexec));
    }
    if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 && by_fd {
        let full = format!("/proc/self/fd/{dirfd}").into_bytes();
        return exec_named(c, &full, script_name, argv, envp);
    }
    if p.is_empty() {
        return err(libc::ENOENT);
    }
    if flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
        let r = tryk!(c.resolve_dirfd(dirfd, &p, false));
        if r.exists && tryk!(c.lstat(&r)).st_mode & libc::S_IFMT == libc::S_IFLNK {
            return err(libc::ELOOP);
        }
    }
    let full = if !by_fd {
        p
    } else {
        let dir = tryk!(c.dirfd_path(dirfd, &p));
        format!(
            "{}/{}",
            dir.trim_end_matches('/'),
            String::from_utf8_lossy(&p)
        )
        .into_bytes()
    };
    exec_named(c, &full, script_name, argv, envp)
}

/// Runs `path`; `script_name` is (the name a script gets, whether it is gone after exec).
fn exec_named(
    c: &mut SysCtx,
    path: &[u8],
    script_name: Option<(Vec<u8>, bool)>,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> Sys {
    if let Some((_, true)) = &script_name {
        // The interpreter would open /dev/fd/N after the fd closed.
        if let Ok(f) = c.open(libc::AT_FDCWD, path, libc::O_RDONLY, 0) {
            let head = f.borrow_mut().read(2, Some(0));
            if head.as_deref() == Ok(b"#!") {
                return err(libc::ENOENT);
            }
        }
    }
    match c.exec(
        path,
        script_name.as_ref().map(|(n, _)| n.as_slice()),
        argv,
        envp,
    ) {
        Ok(()) => Sys::Regs,
        Err(e) => err(e),
    }
}

/// The options only the kernel's own waiters use: all children, clone children only,
/// the calling thread's children only.
const WAIT_KINDS: i32 = libc::__WALL | libc::__WCLONE | libc::__WNOTHREAD;

/// A `struct rusage` reporting `cpu_ns` of CPU time. The sentry counts one CPU time per
/// task (kernel/cputime.rs), not user and system apart: all of it is reported as user
/// time; the memory, I/O and context-switch counts are zero.
pub(super) fn rusage_bytes(cpu_ns: u64) -> [u8; 144] {
    let mut b = [0u8; 144];
    b[..8].copy_from_slice(&(cpu_ns / 1_000_000_000).to_le_bytes());
    b[8..16].copy_from_slice(&(cpu_ns % 1_000_000_000 / 1000).to_le_bytes());
    b
}

pub(super) fn getrusage(c: &mut SysCtx) -> Sys {
    let [who, usage, ..] = c.args();
    let Some(cpu) = c.rusage_cpu(who as i32) else {
        return err(libc::EINVAL);
    };
    ret(c.write_mem(usage, &rusage_bytes(cpu)).map(|_| 0))
}

pub(super) fn wait4(c: &mut SysCtx) -> Sys {
    let [pid, status, options, rusage, ..] = c.args();
    let (pid, options) = (pid as i32 as i64, options as i32);
    if options & !(libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED | WAIT_KINDS) != 0 {
        return err(libc::EINVAL);
    }
    match c.wait_child(pid, options | libc::WEXITED, false) {
        Err(e) => err(e),
        Ok(Some(ev)) => {
            if status != 0 {
                tryk!(c.write_u32(status, ev.status as u32));
            }
            if rusage != 0 {
                tryk!(c.write_mem(rusage, &rusage_bytes(ev.cpu_ns)));
            }
            Sys::Ret(ev.pid as i64)
        }
        Ok(None) if options & libc::WNOHANG != 0 => Sys::Ret(0),
        Ok(None) => Sys::Park(Park {
            keys: vec![WaitKey::Child(c.tgid())],
            deadline: None,
        }),
    }
}

/// waitid(2), with the raw call's fifth argument: where the child's rusage goes.
pub(super) fn waitid(c: &mut SysCtx) -> Sys {
    let [idtype, id, infop, options, rusage, ..] = c.args();
    let (idtype, id, options) = (idtype as i32, id as i32, options as i32);
    let kinds = libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED;
    if options & !(libc::WNOHANG | libc::WNOWAIT | kinds | WAIT_KINDS) != 0 || options & kinds == 0
    {
        return err(libc::EINVAL);
    }
    let pid: i64 = match idtype as u32 {
        libc::P_ALL => -1,
        libc::P_PID if id > 0 => id as i64,
        libc::P_PGID if id >= 0 => {
            if id == 0 {
                0
            } else {
                -(id as i64)
            }
        }
        _ => return err(libc::EINVAL),
    };
    let mut opts = options;
    if options & libc::WSTOPPED != 0 {
        opts |= libc::WUNTRACED;
    }
    match c.wait_child(pid, opts, options & libc::WNOWAIT != 0) {
        Err(e) => err(e),
        Ok(Some(ev)) => {
            if infop != 0 {
                let info = SigInfo::child(ev.pid, ev.uid, ev.code, ev.si_status);
                tryk!(c.write_mem(infop, &info.to_bytes()));
            }
            if rusage != 0 {
                tryk!(c.write_mem(rusage, &rusage_bytes(ev.cpu_ns)));
            }
            Sys::Ret(0)
        }
        Ok(None) if options & libc::WNOHANG != 0 => {
            if infop != 0 {
                tryk!(c.write_mem(infop, &[0u8; 128]));
            }
            Sys::Ret(0)
        }
        Ok(None) => Sys::Park(Park {
            keys: vec![WaitKey::Child(c.tgid())],
            deadline: None,
        }),
    }
}

/// ptrace(request, pid, addr, data): the kernel emulates it (kernel/ptrace.rs).
pub(super) fn ptrace(c: &mut SysCtx) -> Sys {
    let [req, pid, addr, data, ..] = c.args();
    ret(c.ptrace(req as i64, pid as i32, addr, data))
}

pub(super) fn getpgid(c: &mut SysCtx) -> Sys {
    let p = tryk!(c.find_process(c.arg(0) as i32));
    Sys::Ret(c.process_pgid(p) as i64)
}

pub(super) fn getsid(c: &mut SysCtx) -> Sys {
    let p = tryk!(c.find_process(c.arg(0) as i32));
    Sys::Ret(c.process_sid(p) as i64)
}

pub(super) fn setpgid(c: &mut SysCtx) -> Sys {
    ret(c.setpgid(c.arg(0) as i32, c.arg(1) as i32).map(|_| 0))
}

pub(super) fn setsid(c: &mut SysCtx) -> Sys {
    ret(c.setsid().map(|sid| sid as i64))
}

/// prlimit64, and getrlimit and setrlimit on the caller.
pub(super) fn prlimit(c: &mut SysCtx, pid: u64, res: u64, new: u64, old: u64) -> Sys {
    let res = res as usize;
    let target = tryk!(c.find_process(pid as i32));
    if res >= 16 {
        return err(libc::EINVAL);
    }
    let cur = c.rlimit(target, res);
    if old != 0 {
        let mut b = cur.0.to_le_bytes().to_vec();
        b.extend_from_slice(&cur.1.to_le_bytes());
        tryk!(c.write_mem(old, &b));
    }
    if new != 0 {
        let b = tryk!(c.read_mem(new, 16));
        let soft = u64::from_le_bytes(b[..8].try_into().expect("8"));
        let hard = u64::from_le_bytes(b[8..].try_into().expect("8"));
        if soft > hard {
            return err(libc::EINVAL);
        }
        if hard > cur.1 && !c.creds().has_init(crate::creds::CAP_SYS_RESOURCE) {
            return err(libc::EPERM);
        }
        c.set_rlimit(target, res, (soft, hard));
    }
    Sys::Ret(0)
}

pub(super) fn uname(c: &mut SysCtx) -> Sys {
    let mut b = vec![0u8; 65 * 6];
    let uts = c.uts();
    let uts = uts.borrow();
    let fields: [&[u8]; 6] = [
        b"Linux",
        &uts.hostname,
        b"4.4.0",
        b"#1 SMP Sun Jan 10 15:06:54 PST 2016",
        b"x86_64",
        &uts.domainname,
    ];
    for (i, f) in fields.iter().enumerate() {
        let n = f.len().min(64);
        b[i * 65..i * 65 + n].copy_from_slice(&f[..n]);
    }
    ret(c.write_mem(c.arg(0), &b).map(|_| 0))
}

/// sethostname/setdomainname: `len` bytes (at most 64) for CAP_SYS_ADMIN, into the
/// caller's UTS namespace.
pub(super) fn set_uts_name(c: &mut SysCtx, domain: bool) -> Sys {
    let [name, len, ..] = c.args();
    if len > crate::kernel::uts::NAME_MAX as u64 {
        return err(libc::EINVAL);
    }
    // CAP_SYS_ADMIN in the user namespace that owns the caller's UTS namespace.
    let owner = c.uts().borrow().owner.clone();
    if !c.creds().capable_in(&owner, crate::creds::CAP_SYS_ADMIN) {
        return err(libc::EPERM);
    }
    let b = crate::kernel::uts::name_of(&tryk!(c.read_mem(name, len as usize)));
    let uts = c.uts();
    {
        let mut u = uts.borrow_mut();
        if domain {
            u.domainname = b;
        } else {
            u.hostname = b;
        }
    }
    // Its pollers in /proc/sys/kernel get POLLERR (any namespace's change, as Linux).
    let which = domain as usize;
    c.vfs().uts_events.changed(which);
    c.notify(&crate::fs::synthetic::uts_key(which));
    Sys::Ret(0)
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
        libc::PR_SET_PDEATHSIG => {
            if a[1] > 64 {
                return err(libc::EINVAL);
            }
            c.prctl().pdeathsig = a[1] as i32;
            Sys::Ret(0)
        }
        libc::PR_GET_PDEATHSIG => {
            let sig = c.prctl().pdeathsig;
            ret(c.write_u32(a[1], sig as u32).map(|_| 0))
        }
        libc::PR_SET_DUMPABLE => match a[1] {
            0 | 1 => {
                c.prctl().not_dumpable = a[1] == 0;
                Sys::Ret(0)
            }
            _ => err(libc::EINVAL),
        },
        libc::PR_GET_DUMPABLE => Sys::Ret(!c.prctl().not_dumpable as i64),
        libc::PR_SET_CHILD_SUBREAPER => {
            c.prctl().subreaper = a[1] != 0;
            Sys::Ret(0)
        }
        libc::PR_GET_CHILD_SUBREAPER => {
            let on = c.prctl().subreaper;
            ret(c.write_u32(a[1], on as u32).map(|_| 0))
        }
        // Changing the memory map's fields needs CAP_SYS_RESOURCE; with it, the sentry
        // does not let them be changed.
        libc::PR_SET_MM if !c.creds().has_init(crate::creds::CAP_SYS_RESOURCE) => err(libc::EPERM),
        libc::PR_SET_TIMERSLACK => Sys::Ret(0),
        libc::PR_GET_SECCOMP => Sys::Ret(0),
        _ => err(libc::EINVAL),
    }
}

pub(super) fn arch_prctl(c: &mut SysCtx) -> Sys {
    const ARCH_SET_GS: u64 = 0x1001;
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    const ARCH_GET_GS: u64 = 0x1004;
    const ARCH_GET_CPUID: u64 = 0x1011;
    let [code, addr, ..] = c.args();
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= crate::platform::GUEST_TOP {
                return err(libc::EPERM);
            }
            let regs = c.regs_mut();
            if code == ARCH_SET_FS {
                regs.fs_base = addr;
            } else {
                regs.gs_base = addr;
            }
            Sys::Ret(0)
        }
        ARCH_GET_FS => {
            let v = c.regs().fs_base;
            ret(c.write_u64(addr, v).map(|_| 0))
        }
        ARCH_GET_GS => {
            let v = c.regs().gs_base;
            ret(c.write_u64(addr, v).map(|_| 0))
        }
        ARCH_GET_CPUID => Sys::Ret(1),
        _ => err(libc::EINVAL),
    }
}

/// times(2): its process's CPU time and its reaped children's, in clock ticks (100 a
/// second), all of it as user time (see `rusage_bytes`).
pub(super) fn times(c: &mut SysCtx) -> Sys {
    let buf = c.arg(0);
    if buf != 0 {
        let ticks = |ns: Option<u64>| ns.unwrap_or(0) / 10_000_000;
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&ticks(c.rusage_cpu(libc::RUSAGE_SELF)).to_le_bytes());
        b[16..24].copy_from_slice(&ticks(c.rusage_cpu(libc::RUSAGE_CHILDREN)).to_le_bytes());
        tryk!(c.write_mem(buf, &b));
    }
    Sys::Ret((c.now() / 10_000_000) as i64)
}

pub(super) fn sysinfo(c: &mut SysCtx) -> Sys {
    let mut b = vec![0u8; 112];
    let up = (c.uptime() / 1_000_000_000) as i64;
    b[0..8].copy_from_slice(&up.to_le_bytes());
    let total: u64 = 2 << 30;
    b[32..40].copy_from_slice(&total.to_le_bytes());
    b[40..48].copy_from_slice(&total.saturating_sub(c.memory_in_use()).to_le_bytes());
    b[80..82].copy_from_slice(&(c.process_count() as u16).to_le_bytes());
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    ret(c.write_mem(c.arg(0), &b).map(|_| 0))
}

pub(super) fn getrandom(c: &mut SysCtx) -> Sys {
    let [buf, len, flags, ..] = c.args();
    if flags & !7 != 0 {
        return err(libc::EINVAL);
    }
    let mut b = vec![0u8; (len as usize).min(32 << 20)];
    crate::fs::dev::random_bytes(&mut b);
    ret(c.write_mem(buf, &b).map(|_| b.len() as i64))
}

pub(super) fn getcpu(c: &mut SysCtx) -> Sys {
    for p in [c.arg(0), c.arg(1)] {
        if p != 0 {
            tryk!(c.write_u32(p, 0));
        }
    }
    Sys::Ret(0)
}

#[cfg(test)]
mod tests {
    use crate::testing::{kernel, SCRATCH};

    #[test]
    fn a_network_namespace_needs_cap_sys_admin_and_is_the_tasks_own() {
        // Without CAP_SYS_ADMIN (a task of uid 1000): EPERM, unless a new user namespace
        // comes first and gives it, as on Linux.
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(1000, 1000);
        let first = k.task_net(t);
        assert!(first.is_initial());
        let net = libc::CLONE_NEWNET as u64;
        let eperm = Some(-libc::EPERM as i64);
        assert_eq!(k.call(t, libc::SYS_unshare, [net, 0, 0, 0, 0, 0]), eperm);
        let clone = [net | libc::SIGCHLD as u64, 0, 0, 0, 0, 0];
        assert_eq!(k.call(t, libc::SYS_clone, clone), eperm);
        assert!(std::rc::Rc::ptr_eq(&k.task_net(t), &first));
        // A child of clone(CLONE_NEWUSER|CLONE_NEWNET) is in a new one, owned by its new
        // user namespace; the parent stays.
        let both = (libc::CLONE_NEWUSER | libc::CLONE_NEWNET) as u64;
        let child = k
            .call(
                t,
                libc::SYS_clone,
                [both | libc::SIGCHLD as u64, 0, 0, 0, 0, 0],
            )
            .unwrap();
        assert!(child > 0, "{child}");
        let c = k.task_net(child as i32);
        assert!(!c.is_initial() && c.owner == k.task_userns(child as i32));
        assert_eq!(c.lo(), crate::net::ns::Lo::Fresh);
        assert!(std::rc::Rc::ptr_eq(&k.task_net(t), &first));
        // unshare moves the caller; fork keeps the namespace.
        let all = both | (libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) as u64;
        assert_eq!(k.call(t, libc::SYS_unshare, [all, 0, 0, 0, 0, 0]), Some(0));
        let mine = k.task_net(t);
        assert!(!mine.is_initial() && !std::rc::Rc::ptr_eq(&mine, &c));
        let forked = k.call(t, libc::SYS_fork, [0; 6]).unwrap() as i32;
        assert!(std::rc::Rc::ptr_eq(&k.task_net(forked), &mine));
    }

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
        assert_eq!(k.hostname(), "renamed");
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
        assert_eq!(k.task(t).files.borrow().limit, 64);
    }
}
