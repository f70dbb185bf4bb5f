//! The seccomp filter of the sandbox process: the host system calls the sentry (and the
//! control-socket thread of `boot`) may make. It is installed on every thread once the
//! process is confined (its own root, its capabilities dropped, `confine.rs`) and before
//! the sentry is built, so the master stub, forked then, inherits it, and so does every
//! stub forked from that (each adds its own, narrower, filter).
//!
//! A call outside the list does not kill the sandbox: it fails with `EPERM` and a line
//! naming the syscall number goes to the log, so that a missing entry shows up as an error
//! instead of a mysterious death. (The filter traps with `SIGSYS`; the handler below writes
//! the log line and makes the call return `-EPERM`.)
//!
//! Deliberately absent: `execve`/`execveat`, `mount`/`umount2`/`pivot_root`/`chroot`,
//! the new mount API, `setns`/`unshare`, `process_vm_readv`/`process_vm_writev` (guest
//! memory is reached through the memory file), module, kexec, bpf, perf, keyring,
//! `userfaultfd`, `open_by_handle_at`, credential changes (`setuid` & co.), clock setting,
//! `personality`, `ioperm`/`iopl`, and the path-based file calls (`open`, `stat`,
//! `mkdir`, `unlink`, `rename`, `chdir` …).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

/// The allowlist: every host syscall the sandbox process may make after setup, by area.
pub const ALLOWED: &[(&str, i64)] = &[
    // Reading and writing files, pipes, sockets and the memory file.
    ("read", libc::SYS_read),
    ("write", libc::SYS_write),
    ("pread64", libc::SYS_pread64),
    ("pwrite64", libc::SYS_pwrite64),
    ("readv", libc::SYS_readv),
    ("writev", libc::SYS_writev),
    ("preadv", libc::SYS_preadv),
    ("pwritev", libc::SYS_pwritev),
    ("preadv2", libc::SYS_preadv2),
    ("pwritev2", libc::SYS_pwritev2),
    ("lseek", libc::SYS_lseek),
    ("sendfile", libc::SYS_sendfile),
    ("copy_file_range", libc::SYS_copy_file_range),
    ("splice", libc::SYS_splice),
    ("tee", libc::SYS_tee),
    // Host file systems behind passthrough mounts: only the calls relative to a
    // directory fd (openat2 beneath a mount's root, the *at calls from the directory it
    // returns); the path-based forms reached host paths, and there are none left.
    ("openat", libc::SYS_openat),
    ("openat2", libc::SYS_openat2),
    ("close", libc::SYS_close),
    ("close_range", libc::SYS_close_range),
    ("fstat", libc::SYS_fstat),
    ("newfstatat", libc::SYS_newfstatat),
    ("statx", libc::SYS_statx),
    ("fstatfs", libc::SYS_fstatfs),
    ("getdents64", libc::SYS_getdents64),
    ("faccessat", libc::SYS_faccessat),
    ("faccessat2", libc::SYS_faccessat2),
    ("mkdirat", libc::SYS_mkdirat),
    ("mknodat", libc::SYS_mknodat),
    ("unlinkat", libc::SYS_unlinkat),
    ("renameat", libc::SYS_renameat),
    ("renameat2", libc::SYS_renameat2),
    ("linkat", libc::SYS_linkat),
    ("symlinkat", libc::SYS_symlinkat),
    ("readlinkat", libc::SYS_readlinkat),
    ("fchmod", libc::SYS_fchmod),
    ("fchmodat", libc::SYS_fchmodat),
    ("fchown", libc::SYS_fchown),
    ("fchownat", libc::SYS_fchownat),
    ("utimensat", libc::SYS_utimensat),
    ("getdents", libc::SYS_getdents),
    ("ftruncate", libc::SYS_ftruncate),
    ("fallocate", libc::SYS_fallocate),
    ("fsync", libc::SYS_fsync),
    ("fdatasync", libc::SYS_fdatasync),
    ("sync_file_range", libc::SYS_sync_file_range),
    ("fadvise64", libc::SYS_fadvise64),
    ("flock", libc::SYS_flock),
    ("fcntl", libc::SYS_fcntl),
    ("ioctl", libc::SYS_ioctl),
    ("umask", libc::SYS_umask),
    ("fgetxattr", libc::SYS_fgetxattr),
    ("flistxattr", libc::SYS_flistxattr),
    ("fsetxattr", libc::SYS_fsetxattr),
    ("fremovexattr", libc::SYS_fremovexattr),
    // File descriptors.
    ("dup", libc::SYS_dup),
    ("dup2", libc::SYS_dup2),
    ("dup3", libc::SYS_dup3),
    ("pipe", libc::SYS_pipe),
    ("pipe2", libc::SYS_pipe2),
    ("memfd_create", libc::SYS_memfd_create),
    ("eventfd", libc::SYS_eventfd),
    ("eventfd2", libc::SYS_eventfd2),
    ("signalfd", libc::SYS_signalfd),
    ("signalfd4", libc::SYS_signalfd4),
    ("timerfd_create", libc::SYS_timerfd_create),
    ("timerfd_settime", libc::SYS_timerfd_settime),
    ("timerfd_gettime", libc::SYS_timerfd_gettime),
    ("pidfd_open", libc::SYS_pidfd_open),
    ("pidfd_send_signal", libc::SYS_pidfd_send_signal),
    // Waiting for events.
    ("poll", libc::SYS_poll),
    ("ppoll", libc::SYS_ppoll),
    ("select", libc::SYS_select),
    ("pselect6", libc::SYS_pselect6),
    ("epoll_create", libc::SYS_epoll_create),
    ("epoll_create1", libc::SYS_epoll_create1),
    ("epoll_ctl", libc::SYS_epoll_ctl),
    ("epoll_wait", libc::SYS_epoll_wait),
    ("epoll_pwait", libc::SYS_epoll_pwait),
    ("epoll_pwait2", libc::SYS_epoll_pwait2),
    ("futex", libc::SYS_futex),
    ("futex_waitv", libc::SYS_futex_waitv),
    ("sched_yield", libc::SYS_sched_yield),
    ("nanosleep", libc::SYS_nanosleep),
    ("clock_nanosleep", libc::SYS_clock_nanosleep),
    ("restart_syscall", libc::SYS_restart_syscall),
    // Memory: the sentry's heap and its mappings of the memory file.
    ("mmap", libc::SYS_mmap),
    ("munmap", libc::SYS_munmap),
    ("mprotect", libc::SYS_mprotect),
    ("mremap", libc::SYS_mremap),
    ("madvise", libc::SYS_madvise),
    ("msync", libc::SYS_msync),
    ("mincore", libc::SYS_mincore),
    ("brk", libc::SYS_brk),
    ("membarrier", libc::SYS_membarrier),
    // Stubs and guest threads: ptrace, waiting and signalling.
    ("ptrace", libc::SYS_ptrace),
    ("wait4", libc::SYS_wait4),
    ("waitid", libc::SYS_waitid),
    ("kill", libc::SYS_kill),
    ("tkill", libc::SYS_tkill),
    ("tgkill", libc::SYS_tgkill),
    ("clone", libc::SYS_clone),
    ("clone3", libc::SYS_clone3),
    ("exit", libc::SYS_exit),
    ("exit_group", libc::SYS_exit_group),
    // What the stubs, which inherit this filter, do on their own: the master stub
    // leaves the sentry's session when forked, and each stub drops its capabilities
    // (capset can only lower them) and installs its own filter (see ALLOWED_IF).
    ("setsid", libc::SYS_setsid),
    ("capset", libc::SYS_capset),
    // Signals of the sandbox process itself.
    ("rt_sigaction", libc::SYS_rt_sigaction),
    ("rt_sigprocmask", libc::SYS_rt_sigprocmask),
    ("rt_sigreturn", libc::SYS_rt_sigreturn),
    ("rt_sigpending", libc::SYS_rt_sigpending),
    ("rt_sigtimedwait", libc::SYS_rt_sigtimedwait),
    ("rt_sigqueueinfo", libc::SYS_rt_sigqueueinfo),
    ("rt_tgsigqueueinfo", libc::SYS_rt_tgsigqueueinfo),
    ("sigaltstack", libc::SYS_sigaltstack),
    // Threads and the process.
    ("set_tid_address", libc::SYS_set_tid_address),
    ("set_robust_list", libc::SYS_set_robust_list),
    ("get_robust_list", libc::SYS_get_robust_list),
    ("rseq", libc::SYS_rseq),
    ("arch_prctl", libc::SYS_arch_prctl),
    ("prctl", libc::SYS_prctl),
    ("sched_getaffinity", libc::SYS_sched_getaffinity),
    ("sched_setaffinity", libc::SYS_sched_setaffinity),
    ("sched_getparam", libc::SYS_sched_getparam),
    ("sched_getscheduler", libc::SYS_sched_getscheduler),
    ("getpriority", libc::SYS_getpriority),
    ("setpriority", libc::SYS_setpriority),
    ("getrlimit", libc::SYS_getrlimit),
    ("setrlimit", libc::SYS_setrlimit),
    ("prlimit64", libc::SYS_prlimit64),
    ("getrusage", libc::SYS_getrusage),
    ("times", libc::SYS_times),
    ("sysinfo", libc::SYS_sysinfo),
    ("uname", libc::SYS_uname),
    ("getpid", libc::SYS_getpid),
    ("getppid", libc::SYS_getppid),
    ("gettid", libc::SYS_gettid),
    ("getpgid", libc::SYS_getpgid),
    ("getpgrp", libc::SYS_getpgrp),
    ("getsid", libc::SYS_getsid),
    ("getuid", libc::SYS_getuid),
    ("geteuid", libc::SYS_geteuid),
    ("getgid", libc::SYS_getgid),
    ("getegid", libc::SYS_getegid),
    ("getresuid", libc::SYS_getresuid),
    ("getresgid", libc::SYS_getresgid),
    ("getgroups", libc::SYS_getgroups),
    ("capget", libc::SYS_capget),
    ("getrandom", libc::SYS_getrandom),
    // Time.
    ("clock_gettime", libc::SYS_clock_gettime),
    ("clock_getres", libc::SYS_clock_getres),
    ("gettimeofday", libc::SYS_gettimeofday),
    ("time", libc::SYS_time),
    ("getitimer", libc::SYS_getitimer),
    ("setitimer", libc::SYS_setitimer),
    ("timer_create", libc::SYS_timer_create),
    ("timer_settime", libc::SYS_timer_settime),
    ("timer_gettime", libc::SYS_timer_gettime),
    ("timer_getoverrun", libc::SYS_timer_getoverrun),
    ("timer_delete", libc::SYS_timer_delete),
    // The control socket, the console socket and host sockets (socket(2) itself is
    // allowed only for the families and types of SOCKETS).
    ("socketpair", libc::SYS_socketpair),
    ("bind", libc::SYS_bind),
    ("listen", libc::SYS_listen),
    ("accept", libc::SYS_accept),
    ("accept4", libc::SYS_accept4),
    ("connect", libc::SYS_connect),
    ("shutdown", libc::SYS_shutdown),
    ("sendto", libc::SYS_sendto),
    ("recvfrom", libc::SYS_recvfrom),
    ("sendmsg", libc::SYS_sendmsg),
    ("recvmsg", libc::SYS_recvmsg),
    ("sendmmsg", libc::SYS_sendmmsg),
    ("recvmmsg", libc::SYS_recvmmsg),
    ("getsockname", libc::SYS_getsockname),
    ("getpeername", libc::SYS_getpeername),
    ("setsockopt", libc::SYS_setsockopt),
    ("getsockopt", libc::SYS_getsockopt),
];

/// Calls allowed only with one argument equal to a value: (name, number, argument index,
/// value; the low 32 bits are compared, the argument being an int).
pub const ALLOWED_IF: &[(&str, i64, u8, u64)] = &[
    // SECCOMP_SET_MODE_FILTER: a stub adding its own filter, which can only narrow what it
    // may do (the other operations are not needed).
    ("seccomp", libc::SYS_seccomp, 0, 1),
];

/// The sockets the sandbox process may make with socket(2): (family, type without its
/// flags; None: any), always with protocol 0. AF_PACKET, raw IP sockets, netlink
/// protocols other than NETLINK_ROUTE and every other family are refused.
pub const SOCKETS: &[(i32, Option<i32>)] = &[
    // The control and console sockets (streams); a guest's stream or seqpacket
    // connection to a socket file of a host mount (sentry/src/net/unix/host.rs).
    (libc::AF_UNIX, Some(libc::SOCK_STREAM)),
    (libc::AF_UNIX, Some(libc::SOCK_SEQPACKET)),
    // A guest's TCP and UDP to and from the outside (sentry/src/net/inet/host.rs).
    (libc::AF_INET, Some(libc::SOCK_STREAM)),
    (libc::AF_INET, Some(libc::SOCK_DGRAM)),
    (libc::AF_INET6, Some(libc::SOCK_STREAM)),
    (libc::AF_INET6, Some(libc::SOCK_DGRAM)),
    // NETLINK_ROUTE (protocol 0), for the sentry's own requests of the namespace's
    // interfaces, addresses and routes (sentry/src/net/netlink/route.rs).
    (libc::AF_NETLINK, Some(libc::SOCK_RAW)),
];

/// The bits of socket(2)'s type that are the type (SOCK_TYPE_MASK); the others are flags.
const SOCK_TYPE_MASK: u64 = 0xf;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the seccomp filter")]
    Build(#[source] seccompiler::BackendError),
    #[error("installing the seccomp filter")]
    Install(#[source] seccompiler::Error),
    #[error("installing the SIGSYS handler")]
    Handler(#[source] nix::Error),
}

/// Compiles the allowlist into a BPF program (allocates: do it before forking).
pub fn build() -> Result<BpfProgram, SeccompError> {
    use seccompiler::{SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
    for &(_, nr, arg, value) in ALLOWED_IF {
        let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)
            .map_err(SeccompError::Build)?;
        let rule = SeccompRule::new(vec![cond]).map_err(SeccompError::Build)?;
        rules.entry(nr).or_default().push(rule);
    }
    for &(family, ty) in SOCKETS {
        let cond = |arg, op, value| {
            SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
                .map_err(SeccompError::Build)
        };
        let mut conds = vec![
            cond(0, SeccompCmpOp::Eq, family as u64)?,
            cond(2, SeccompCmpOp::Eq, 0)?,
        ];
        if let Some(ty) = ty {
            conds.push(cond(1, SeccompCmpOp::MaskedEq(SOCK_TYPE_MASK), ty as u64)?);
        }
        let rule = SeccompRule::new(conds).map_err(SeccompError::Build)?;
        rules.entry(libc::SYS_socket).or_default().push(rule);
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Trap,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(SeccompError::Build)?;
    BpfProgram::try_from(filter).map_err(SeccompError::Build)
}

/// Where refused syscalls are reported (a raw fd, written from the signal handler).
static LOG_FD: AtomicI32 = AtomicI32::new(-1);
/// Whether that report is a JSON line.
static LOG_JSON: AtomicBool = AtomicBool::new(false);

/// Sends the report of refused syscalls to `fd` (which must stay open), as a JSON line
/// when `json`.
pub fn set_log_fd(fd: i32, json: bool) {
    LOG_FD.store(fd, Ordering::Relaxed);
    LOG_JSON.store(json, Ordering::Relaxed);
}

/// Installs the SIGSYS handler, then `program` on every thread of this process.
pub fn apply(program: &BpfProgram) -> Result<(), SeccompError> {
    crate::sys::install_sigsys_handler(on_refused).map_err(SeccompError::Handler)?;
    seccompiler::apply_filter_all_threads(program).map_err(SeccompError::Install)
}

/// Builds and installs the filter on every thread of this process.
pub fn install() -> Result<(), SeccompError> {
    let program = build()?;
    apply(&program)?;
    log::debug!(
        "seccomp filter installed: {} syscalls allowed",
        ALLOWED.len()
    );
    Ok(())
}

/// Called from the SIGSYS handler with the refused syscall's number: writes one log line
/// without allocating.
fn on_refused(nr: i32) {
    let fd = LOG_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 160];
    let mut len = 0;
    let mut put = |s: &[u8]| {
        let n = s.len().min(buf.len() - len);
        buf[len..len + n].copy_from_slice(&s[..n]);
        len += n;
    };
    let json = LOG_JSON.load(Ordering::Relaxed);
    if json {
        put(b"{\"level\":\"warning\",\"msg\":\"");
    }
    put(b"seccomp: the sandbox filter refused host syscall ");
    let mut digits = [0u8; 20];
    put(crate::sys::decimal(nr.unsigned_abs() as u64, &mut digits));
    put(b" (EPERM); add it to boot/src/seccomp.rs if the sandbox needs it");
    put(if json { b"\"}\n" } else { b"\n" });
    crate::sys::write_all_raw(fd, &buf[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_has_no_duplicates_and_no_dangerous_calls() {
        let mut seen = std::collections::BTreeSet::new();
        for (name, nr) in ALLOWED {
            assert!(seen.insert(*nr), "{name} listed twice");
        }
        for nr in [
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_mount,
            libc::SYS_setns,
            libc::SYS_unshare,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_bpf,
            libc::SYS_setuid,
            libc::SYS_personality,
            libc::SYS_open,
            libc::SYS_open_by_handle_at,
            libc::SYS_open_tree,
            libc::SYS_move_mount,
            libc::SYS_mount_setattr,
            libc::SYS_pivot_root,
            libc::SYS_chroot,
            libc::SYS_chdir,
            libc::SYS_mkdir,
            libc::SYS_symlink,
            libc::SYS_readlink,
            libc::SYS_chmod,
            libc::SYS_unlink,
            libc::SYS_rename,
            libc::SYS_seccomp,
        ] {
            assert!(!seen.contains(&nr), "syscall {nr} must not be allowed");
        }
    }

    /// In a forked child: apply the filter, make a call outside the list (`personality`)
    /// and one inside it; the first must fail with EPERM and be reported on the log fd.
    #[test]
    fn a_syscall_outside_the_list_is_refused() {
        let program = build().unwrap();
        let (log_r, log_w) = nix::unistd::pipe().unwrap();
        let outcome = crate::sys::in_forked_child(|| {
            use std::os::fd::AsRawFd;
            set_log_fd(log_w.as_raw_fd(), false);
            if apply(&program).is_err() {
                return 10;
            }
            // SAFETY: personality(0xffffffff) only queries the persona; no memory is passed.
            let r = unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) };
            let errno = std::io::Error::last_os_error().raw_os_error();
            if r != -1 || errno != Some(libc::EPERM) {
                return 11;
            }
            // SAFETY: getppid has no arguments.
            if unsafe { libc::syscall(libc::SYS_getppid) } <= 0 {
                return 12;
            }
            // seccomp: only SECCOMP_SET_MODE_FILTER passes (here with an allow-all filter).
            let mut action = libc::SECCOMP_RET_ALLOW;
            // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from a local.
            let r = unsafe { libc::syscall(libc::SYS_seccomp, 2, 0, &mut action as *mut u32) };
            if r != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
                return 13;
            }
            let mut allow = [libc::sock_filter {
                code: 0x06, // BPF_RET | BPF_K
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ALLOW,
            }];
            let prog = libc::sock_fprog {
                len: 1,
                filter: allow.as_mut_ptr(),
            };
            // SAFETY: `prog` points at a one-instruction program that lives on the stack
            // for the duration of the call.
            if unsafe { libc::syscall(libc::SYS_seccomp, 1, 0, &prog as *const libc::sock_fprog) }
                != 0
            {
                return 14;
            }
            // socket(2): the families and types of SOCKETS only.
            let socket = |family: i32, ty: i32, proto: i32| {
                // SAFETY: socket(2) takes no pointers; a made fd is closed at once.
                let fd = unsafe { libc::socket(family, ty, proto) };
                if fd >= 0 {
                    // SAFETY: `fd` was just made by this closure.
                    unsafe { libc::close(fd) };
                    return 0;
                }
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
            };
            let cloexec = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
            for (family, ty) in [
                (libc::AF_UNIX, libc::SOCK_STREAM),
                (libc::AF_UNIX, libc::SOCK_SEQPACKET | cloexec),
                (libc::AF_INET, libc::SOCK_STREAM | cloexec),
                (libc::AF_INET6, libc::SOCK_DGRAM | cloexec),
                (libc::AF_NETLINK, libc::SOCK_RAW | cloexec),
            ] {
                if socket(family, ty, 0) != 0 {
                    return 15;
                }
            }
            for (family, ty, proto) in [
                (libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP),
                (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_SCTP),
                (libc::AF_INET6, libc::SOCK_SEQPACKET, 0),
                (libc::AF_UNIX, libc::SOCK_DGRAM, 0),
                (libc::AF_PACKET, libc::SOCK_RAW, 0),
                (libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_AUDIT),
                (
                    libc::AF_NETLINK,
                    libc::SOCK_RAW,
                    libc::NETLINK_KOBJECT_UEVENT,
                ),
                (libc::AF_NETLINK, libc::SOCK_DGRAM, libc::NETLINK_GENERIC),
                (libc::AF_VSOCK, libc::SOCK_STREAM, 0),
            ] {
                if socket(family, ty, proto) != libc::EPERM {
                    return 16;
                }
            }
            0
        })
        .unwrap();
        drop(log_w);
        assert_eq!(
            outcome, 0,
            "child status (10 apply, 11 not refused, 12 allowed call failed, 13 seccomp other \
             than SET_MODE_FILTER allowed, 14 SET_MODE_FILTER refused, 15 an allowed socket \
             refused, 16 a socket outside SOCKETS allowed)"
        );
        let mut log = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(log_r), &mut log).unwrap();
        assert!(
            log.contains(&format!("refused host syscall {}", libc::SYS_personality)),
            "{log}"
        );
        assert!(
            log.contains(&format!("refused host syscall {}", libc::SYS_seccomp)),
            "{log}"
        );
    }
}
