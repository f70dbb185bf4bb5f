//! The system call table, as data: for every x86-64 system call number, its name, its
//! handler, what a signal handler does to it when it is blocked, how far the sentry serves
//! it and a note. `Kernel::dispatch`, `name`, `restartable` and docs/syscalls.md (made by
//! `super::doc`) all read this one list.
//!
//! Numbers and names: 0..=450 as the host's asm/unistd_64.h has them, 451..=469 as Linux
//! 6.18's arch/x86/entry/syscalls/syscall_64.tbl has them; 335..=423 are unused on x86-64.
//!
//! An entry is written `sys(nr, "name")` followed by what is known of it:
//! - `.serves(handler)`: the sentry serves it (implemented); `.note(..)` adds a remark;
//!   `.partial(..)` says what is missing; `.noop(..)` says why doing nothing is enough (or
//!   what is lost), for a call that returns success and does nothing;
//! - `.refused(errno, ..)`: refused by design: a container has no business making it;
//! - no handler: not implemented; it fails with ENOSYS and is logged once by name, unless
//!   `.quiet()` (programs call it and cope);
//! - `.eintr()` / `.time_left()`: the restart rule, when it is not the usual SA_RESTART one.
//!
//! The list is checked when the crate compiles: numbers ascending (so none twice), a
//! handler exactly for the served statuses, a note for every partial and no-op call.

use libc::{AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, O_CREAT, O_TRUNC, O_WRONLY};

use super::xattr::{xattr, At, Op};
use super::{
    creds, epoll, file, fs, futex, inotify, lock, memfd, mm, mount, poll, posix_timer, process,
    sched, signal, socket, splice, time, timerfd,
};
use super::{fadvise, ret};
use crate::kernel::task::{Park, WaitKey};
use crate::kernel::RestartRule;
use crate::kernel::{err, Sys, SysCtx};

/// A system call handler: it gets the call's context (the calling task, the six argument
/// registers and the kernel services a handler may use).
pub(crate) type Handler = fn(&mut SysCtx) -> Sys;

/// How far the sentry serves a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Served as Linux serves it (a note may say how).
    Implemented,
    /// Served, with a gap the note names.
    Partial,
    /// Returns success and does nothing; the note says why that is enough, or what is lost.
    NoOp,
    /// Refused by design with this errno, as Linux refuses an unprivileged process.
    Refused(i32),
    /// Not implemented: fails with `errno` (ENOSYS unless the note says otherwise), logged
    /// once by name when `logged`.
    Missing { errno: i32, logged: bool },
}

impl Status {
    /// Whether calls of this status have a handler.
    const fn served(self) -> bool {
        matches!(self, Status::Implemented | Status::Partial | Status::NoOp)
    }
}

/// One system call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Syscall {
    pub(crate) nr: u16,
    pub(crate) name: &'static str,
    pub(crate) handler: Option<Handler>,
    pub(crate) restart: RestartRule,
    pub(crate) status: Status,
    pub(crate) note: &'static str,
}

/// A call the sentry does not serve (yet): ENOSYS, logged once.
const fn sys(nr: u16, name: &'static str) -> Syscall {
    Syscall {
        nr,
        name,
        handler: None,
        restart: RestartRule::SaRestart,
        status: Status::Missing {
            errno: libc::ENOSYS,
            logged: true,
        },
        note: "",
    }
}

impl Syscall {
    const fn serves(mut self, h: Handler) -> Self {
        self.handler = Some(h);
        self.status = Status::Implemented;
        self
    }

    const fn note(mut self, note: &'static str) -> Self {
        self.note = note;
        self
    }

    const fn partial(mut self, missing: &'static str) -> Self {
        self.status = Status::Partial;
        self.note = missing;
        self
    }

    const fn noop(mut self, why: &'static str) -> Self {
        self.status = Status::NoOp;
        self.note = why;
        self
    }

    const fn refused(mut self, errno: i32, why: &'static str) -> Self {
        self.status = Status::Refused(errno);
        self.note = why;
        self
    }

    const fn missing(mut self, note: &'static str) -> Self {
        self.note = note;
        self
    }

    /// Not implemented and not logged: programs make the call and cope with ENOSYS.
    const fn quiet(mut self) -> Self {
        if let Status::Missing { errno, .. } = self.status {
            self.status = Status::Missing {
                errno,
                logged: false,
            };
        }
        self
    }

    const fn eintr(mut self) -> Self {
        self.restart = RestartRule::Never;
        self
    }

    const fn time_left(mut self) -> Self {
        self.restart = RestartRule::TimeLeft;
        self
    }
}

/// The highest number in the table.
pub(crate) const MAX_NR: usize = 469;

/// The table by number, built once when the crate compiles: dispatch is one index.
pub(crate) static TABLE: [Option<Syscall>; MAX_NR + 1] = by_number(LIST);

/// The entry for `nr`, if Linux defines it.
pub(crate) fn get(nr: u64) -> Option<&'static Syscall> {
    TABLE.get(usize::try_from(nr).ok()?)?.as_ref()
}

/// The handler for `nr`: the hot path of every system call.
#[inline]
pub(crate) fn handler(nr: u64) -> Option<Handler> {
    match TABLE.get(nr as usize) {
        Some(Some(s)) => s.handler,
        _ => None,
    }
}

/// Every entry, in number order.
#[cfg(test)]
pub(crate) fn all() -> impl Iterator<Item = &'static Syscall> {
    TABLE.iter().flatten()
}

/// Serves a call that has no handler: refused, not implemented or unknown.
#[cold]
pub(crate) fn unserved(c: &mut SysCtx, nr: u64) -> Sys {
    match get(nr).map(|s| s.status) {
        Some(Status::Refused(e)) => err(e),
        Some(Status::Missing { errno, logged }) => {
            if logged {
                c.log_unimplemented(nr);
            }
            err(errno)
        }
        _ => {
            c.log_unimplemented(nr);
            err(libc::ENOSYS)
        }
    }
}

/// Lays the list out by number, refusing (at compile time) a list out of order, a handler
/// on a call that is not served or a served call without one, and a partial or no-op call
/// without a note.
const fn by_number(list: &[Syscall]) -> [Option<Syscall>; MAX_NR + 1] {
    let mut out = [None; MAX_NR + 1];
    let mut i = 0;
    while i < list.len() {
        let s = list[i];
        if i > 0 && s.nr <= list[i - 1].nr {
            panic!("syscall table: numbers must be listed in ascending order, once each");
        }
        if s.nr as usize > MAX_NR {
            panic!("syscall table: a number above MAX_NR");
        }
        if s.handler.is_some() != s.status.served() {
            panic!("syscall table: a handler exactly for implemented, partial and no-op calls");
        }
        if matches!(s.status, Status::Partial | Status::NoOp) && s.note.is_empty() {
            panic!("syscall table: a partial or no-op call needs a note");
        }
        out[s.nr as usize] = Some(s);
        i += 1;
    }
    out
}

// Arguments of the calls that share a handler.
const CWD: u64 = AT_FDCWD as u64;
const NOFOLLOW: u64 = AT_SYMLINK_NOFOLLOW as u64;
const REMOVEDIR: u64 = AT_REMOVEDIR as u64;
const CREAT: u64 = (O_CREAT | O_WRONLY | O_TRUNC) as u64;
const SIGCHLD: u64 = libc::SIGCHLD as u64;
const VFORK: u64 = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64;

// Notes shared by several calls.
const OPEN_GAPS: &str =
    "O_TMPFILE fails with EOPNOTSUPP; FIFOs, sockets and device nodes on host mounts are not \
    opened (EACCES)";
const ITIMER_GAPS: &str =
    "ITIMER_VIRTUAL and ITIMER_PROF count the same CPU time (the host thread running guest \
    code plus the sentry's time serving its stops), checked every 4 ms";
const RLIMIT_GAPS: &str =
    "limits are kept and reported; enforced: RLIMIT_NOFILE, RLIMIT_AS (mmap, \
    mremap, brk), RLIMIT_DATA (brk only, not private writable mappings), RLIMIT_FSIZE \
    (write, pwrite, writev, truncate, ftruncate of regular files: cut at the limit, then \
    EFBIG and SIGXFSZ; not fallocate, sendfile or copy_file_range), RLIMIT_CPU (SIGXCPU \
    at the soft limit and each second after, SIGKILL at the hard one, checked every 4 ms)";
const STATFS: &str = "a host mount answers with the host file system's figures (its type \
    too; /proc/mounts names it 9p), procfs, devfs, pipes and anonymous inodes with their \
    magic numbers; f_fsid is 0";
const SCHED: &str = "kept per thread, inherited by fork (SCHED_RESET_ON_FORK honoured), \
    saved with the thread and read back; the host schedules the guest's threads, so the \
    values do not change how they run";
const SCHED_DEADLINE_GAP: &str =
    "SCHED_DEADLINE is refused with EINVAL (its runtime, deadline and period are not kept)";
const MLOCK: &str =
    "returns 0 and locks nothing: guest memory is a host file the sentry never pages out \
    itself; RLIMIT_MEMLOCK is not checked";
const XATTR: &str = "user.* attributes of regular files and directories of host-backed \
    mounts (the rootfs, bind mounts, tmpfs) are the host file's own, with Linux's checks \
    (namespace, flags, name and value limits, permissions, sticky directories, EROFS) and \
    IN_ATTRIB; a tmpfs's are saved by a checkpoint. trusted.* and security.* are never \
    passed to the host and not kept: with CAP_SYS_ADMIN a set or remove is EOPNOTSUPP and \
    reads find none, without it as Linux (EPERM to write, trusted.* ENODATA to read); \
    system.* (ACLs) is EOPNOTSUPP, and files other than host files (pipes, sockets, memfds, \
    procfs, /dev) keep none";
const MKNOD: &str =
    "FIFOs and regular files; device nodes are refused by design (EPERM), socket nodes too \
    (bind(2) makes them)";
const SOCKETS: &str = "AF_UNIX, AF_INET/AF_INET6 TCP and UDP, and AF_NETLINK NETLINK_ROUTE \
    (link, address and route dumps of the container's network namespace; changes are EPERM, \
    no notifications); the other families fail with EAFNOSUPPORT, raw sockets and other \
    netlink protocols with EPROTONOSUPPORT";
const UNIX_GAPS: &str = "a unix stream or seqpacket connect to a socket file of a host mount \
    that no socket of the sandbox is bound to reaches the host socket, but no files cross that \
    connection (SCM_RIGHTS to it is EOPNOTSUPP) and a full backlog there says EAGAIN even to a \
    blocking connect; a unix datagram socket does not reach host socket files (ECONNREFUSED)";
const SOCKOPT_GAPS: &str = "SOL_SOCKET options, and for TCP and UDP the common IPPROTO_TCP, \
    IPPROTO_IP and IPPROTO_IPV6 ones (kept and reported); other levels fail with EOPNOTSUPP";
const MOUNTS: &str = "a container does not change its root";
const MOUNT_API: &str = "the new mount API: a container changes its mounts with mount(2) only";
const MOUNT: &str = "the sandbox's own mount table, never the host's: a tmpfs (a directory of the \
    sandbox's scratch tmpfs; size= and the other sizing options are taken and not enforced) or \
    a procfs on a directory, with MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC and the atime flags \
    (statfs and /proc/PID/mounts show them; noexec refuses execve), MS_REMOUNT of those flags, \
    propagation changes (taken; every mount behaves as a private one); other file systems, \
    MS_BIND and MS_MOVE ENODEV; CAP_SYS_ADMIN in the user namespace owning the mount namespace";
const UMOUNT: &str = "of the caller's mount namespace only; EBUSY for a mount with mounts below \
    it or a cwd or open file in it (by path), unless MNT_DETACH; MNT_EXPIRE always EAGAIN";
const MODULES: &str = "a container does not load kernel modules";
const SETNS: &str = "network namespaces only, from an open /proc/PID/ns/net, with \
    CAP_SYS_ADMIN over the namespace and in the caller's user namespace; a namespace no task \
    or socket holds any more is gone (EINVAL: the open file does not keep it); other \
    namespace types EPERM";
const UNSHARE: &str = "private fd table, fs context, and user, mount, UTS and network \
     namespaces (a user namespace first, whose capabilities then make the others); a new \
     network namespace is the sentry's own: only a loopback `lo`, down until SIOCSIFFLAGS or \
     RTM_NEWLINK brings it up, its own ports and abstract unix names, no host socket (nothing \
     outside it is reachable); CLONE_NEWIPC is taken with the capability Linux asks (there \
     are no IPC objects to share); pid, cgroup and time namespaces EPERM";
const HOST: &str = "the host's business, not a container's";

/// A call that succeeds at once and does nothing (the notes say why).
fn ok(_: &mut SysCtx) -> Sys {
    Sys::Ret(0)
}

/// A millisecond timeout argument: negative waits forever.
fn ms_timeout(ms: u64) -> Option<u64> {
    let ms = ms as i32;
    (ms >= 0).then(|| ms as u64 * 1_000_000)
}

fn set_tid_address(c: &mut SysCtx) -> Sys {
    c.set_clear_child_tid(c.arg(0));
    Sys::Ret(c.tid() as i64)
}

/// The size of `struct robust_list_head`, the only length set_robust_list accepts.
const ROBUST_LIST_HEAD_LEN: u64 = 24;

fn set_robust_list(c: &mut SysCtx) -> Sys {
    if c.arg(1) != ROBUST_LIST_HEAD_LEN {
        return err(libc::EINVAL);
    }
    c.set_robust_list(c.arg(0));
    Sys::Ret(0)
}

/// get_robust_list(tid, head_ptr, len_ptr): tid 0 is the caller; another thread's needs
/// the right to read its process (same real ids, or CAP_SYS_PTRACE).
fn get_robust_list(c: &mut SysCtx) -> Sys {
    let [tid, head_ptr, len_ptr, ..] = c.args();
    let tid = match tid as i32 {
        0 => c.tid(),
        t if t < 0 => return err(libc::ESRCH),
        t => t,
    };
    let Some(head) = c.robust_list_of(tid) else {
        return err(libc::ESRCH);
    };
    let allowed = c
        .thread_creds(tid)
        .is_some_and(|target| c.creds().may_read_process(target));
    if !allowed {
        return err(libc::EPERM);
    }
    if let Err(e) = c.write_mem(len_ptr, &ROBUST_LIST_HEAD_LEN.to_le_bytes()) {
        return err(e);
    }
    ret(c.write_mem(head_ptr, &head.to_le_bytes()).map(|_| 0))
}

fn epoll_create(c: &mut SysCtx) -> Sys {
    if (c.arg(0) as i32) <= 0 {
        err(libc::EINVAL)
    } else {
        epoll::epoll_create1(c, 0)
    }
}

fn epoll_pwait(c: &mut SysCtx) -> Sys {
    let a = c.args();
    if a[4] != 0 && a[5] != 8 {
        return err(libc::EINVAL);
    }
    epoll::epoll_wait(c, a[0], a[1], a[2], ms_timeout(a[3]), a[4])
}

fn epoll_pwait2(c: &mut SysCtx) -> Sys {
    let a = c.args();
    let t = if a[3] == 0 {
        None
    } else {
        match c.read_timespec(a[3]) {
            Ok(ns) => Some(ns),
            Err(e) => return err(e),
        }
    };
    if a[4] != 0 && a[5] != 8 {
        return err(libc::EINVAL);
    }
    epoll::epoll_wait(c, a[0], a[1], a[2], t, a[4])
}

/// Every x86-64 system call, by number: one call per line where it fits (rustfmt would give up
/// on the long notes anyway).
#[rustfmt::skip]
const LIST: &[Syscall] = &[
    sys(0, "read").serves(file::read),
    sys(1, "write").serves(file::write),
    sys(2, "open").serves(|c| fs::openat(c, CWD, c.arg(0), c.arg(1), c.arg(2))).partial(OPEN_GAPS),
    sys(3, "close").serves(file::close),
    sys(4, "stat").serves(|c| fs::fstatat(c, CWD, c.arg(0), c.arg(1), 0)),
    sys(5, "fstat").serves(file::fstat),
    sys(6, "lstat").serves(|c| fs::fstatat(c, CWD, c.arg(0), c.arg(1), NOFOLLOW)),
    sys(7, "poll")
        .serves(|c| poll::poll(c, c.arg(0), c.arg(1), c.arg(2) as i32 as i64, None))
        .eintr(),
    sys(8, "lseek").serves(file::lseek),
    sys(9, "mmap").serves(mm::mmap).partial(
        "a host or tmpfs file's mappings map its page cache (shared with read/write, written \
         back at msync, fsync, its last unmap, a checkpoint); generated files (procfs) are \
         copies, and writable MAP_SHARED mappings of them fail with ENODEV",
    ),
    sys(10, "mprotect").serves(mm::mprotect),
    sys(11, "munmap").serves(mm::munmap),
    sys(12, "brk").serves(mm::brk),
    sys(13, "rt_sigaction").serves(signal::rt_sigaction),
    sys(14, "rt_sigprocmask").serves(signal::rt_sigprocmask),
    sys(15, "rt_sigreturn").serves(|c| c.sigreturn()),
    sys(16, "ioctl").serves(file::ioctl).partial(
        "FIONBIO, FIOASYNC, FIOCLEX, FIONCLEX, FIONREAD (a pipe's or socket's count, 0 for the \
         rest), a socket's FIOSETOWN/SIOCSPGRP/FIOGETOWN/SIOCGPGRP, a socket's SIOCGIFCONF, \
         SIOCGIFNAME, SIOCGIFINDEX, SIOCGIFFLAGS, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFTXQLEN, \
         SIOCGIFMETRIC (and on AF_INET SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR, \
         SIOCGIFDSTADDR) from the container's network namespace, SIOCSIF* EPERM; on a terminal, \
         the termios and window-size requests pass to the host terminal and TIOCSPGRP, TIOCSCTTY, \
         TIOCNOTTY, TCFLSH, TCXONC and TCSBRK are accepted and ignored; the rest fail with ENOTTY",
    ),
    sys(17, "pread64").serves(file::pread),
    sys(18, "pwrite64").serves(file::pwrite),
    sys(19, "readv").serves(|c| file::readv(c, false)),
    sys(20, "writev").serves(|c| file::writev(c, false)),
    sys(21, "access").serves(|c| fs::faccessat(c, CWD, c.arg(0), c.arg(1), 0)),
    sys(22, "pipe").serves(|c| file::pipe2(c, c.arg(0), 0)),
    sys(23, "select").serves(|c| poll::select(c, false)).eintr(),
    sys(24, "sched_yield").serves(ok).note(
        "returns at once: the host schedules the guest's threads",
    ),
    sys(25, "mremap").serves(mm::mremap).partial(
        "a grown file mapping gets zeroes rather than the file's further pages (shared anonymous \
         memory gets the rest of its object, SIGBUS past its end, as Linux)",
    ),
    sys(26, "msync").serves(mm::msync).partial(
        "writes every page cache back (not only the range's); MS_INVALIDATE has nothing to do \
         (mappings map the page cache itself)",
    ),
    sys(27, "mincore").missing("glibc does not need it").quiet(),
    sys(28, "madvise").serves(mm::madvise).partial(
        "MADV_DONTNEED gives private anonymous memory fresh zero pages and a private file \
         mapping its file's pages again; MADV_DONTFORK and MADV_DOFORK mark mappings a fork \
         leaves out or copies; every other advice is accepted and ignored, MADV_WIPEONFORK \
         included",
    ),
    sys(29, "shmget"),
    sys(30, "shmat"),
    sys(31, "shmctl"),
    sys(32, "dup").serves(file::dup),
    sys(33, "dup2").serves(|c| file::dup3(c, c.arg(0), c.arg(1), 0, true)),
    sys(34, "pause")
        .serves(|_| Sys::Park(Park { keys: vec![WaitKey::Nothing], deadline: None }))
        .eintr(),
    sys(35, "nanosleep").serves(time::nanosleep).time_left(),
    sys(36, "getitimer").serves(time::getitimer).partial(ITIMER_GAPS),
    sys(37, "alarm").serves(time::alarm),
    sys(38, "setitimer").serves(time::setitimer).partial(ITIMER_GAPS),
    sys(39, "getpid").serves(|c| Sys::Ret(c.tgid() as i64)),
    sys(40, "sendfile").serves(splice::sendfile),
    sys(41, "socket").serves(socket::socket).partial(SOCKETS),
    sys(42, "connect").serves(socket::connect).partial(UNIX_GAPS),
    sys(43, "accept").serves(|c| socket::accept(c, 0)),
    sys(44, "sendto").serves(socket::sendto),
    sys(45, "recvfrom").serves(socket::recvfrom),
    sys(46, "sendmsg").serves(socket::sendmsg),
    sys(47, "recvmsg").serves(socket::recvmsg),
    sys(48, "shutdown").serves(socket::shutdown),
    sys(49, "bind").serves(socket::bind),
    sys(50, "listen").serves(socket::listen),
    sys(51, "getsockname").serves(|c| socket::getname(c, false)),
    sys(52, "getpeername").serves(|c| socket::getname(c, true)),
    sys(53, "socketpair").serves(socket::socketpair).partial(SOCKETS),
    sys(54, "setsockopt").serves(socket::setsockopt).partial(SOCKOPT_GAPS),
    sys(55, "getsockopt").serves(socket::getsockopt).partial(SOCKOPT_GAPS),
    sys(56, "clone").serves(|c| process::clone(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3), c.arg(4))).partial(
        "new namespaces as unshare makes them (pid, cgroup and time ones EPERM); CLONE_PIDFD \
         fails with EINVAL",
    ),
    sys(57, "fork").serves(|c| process::clone(c, SIGCHLD, 0, 0, 0, 0)),
    sys(58, "vfork").serves(|c| process::clone(c, VFORK, 0, 0, 0, 0)),
    sys(59, "execve").serves(|c| process::execveat(c, CWD, c.arg(0), c.arg(1), c.arg(2), 0)),
    sys(60, "exit").serves(process::exit),
    sys(61, "wait4").serves(process::wait4).partial(
        "the rusage it reports has the child's CPU time, all as user time, and no other counts",
    ),
    sys(62, "kill").serves(signal::kill),
    sys(63, "uname").serves(process::uname).note("reports release 4.4.0, as gVisor does"),
    sys(64, "semget"),
    sys(65, "semop").eintr(),
    sys(66, "semctl"),
    sys(67, "shmdt"),
    sys(68, "msgget"),
    sys(69, "msgsnd").eintr(),
    sys(70, "msgrcv").eintr(),
    sys(71, "msgctl"),
    sys(72, "fcntl").serves(file::fcntl).partial(
        "record and OFD locks as Linux keeps them (a process's record locks are its thread \
         group's, not its fd table's); O_ASYNC with F_SETOWN/F_SETOWN_EX/F_SETSIG signals \
         pipes' and sockets' owners (a socket's room for output only after a read of its \
         peer, not only once it was full); seals fail with EINVAL",
    ),
    sys(73, "flock").serves(lock::flock),
    sys(74, "fsync").serves(file::fsync),
    sys(75, "fdatasync").serves(file::fsync).note("as fsync"),
    sys(76, "truncate").serves(fs::truncate),
    sys(77, "ftruncate").serves(file::ftruncate),
    sys(78, "getdents").serves(file::getdents),
    sys(79, "getcwd").serves(fs::getcwd),
    sys(80, "chdir").serves(fs::chdir),
    sys(81, "fchdir").serves(fs::fchdir),
    sys(82, "rename").serves(|c| fs::renameat(c, CWD, c.arg(0), CWD, c.arg(1), 0)),
    sys(83, "mkdir").serves(|c| fs::mkdirat(c, CWD, c.arg(0), c.arg(1))),
    sys(84, "rmdir").serves(|c| fs::unlinkat(c, CWD, c.arg(0), REMOVEDIR)),
    sys(85, "creat").serves(|c| fs::openat(c, CWD, c.arg(0), CREAT, c.arg(1))).partial(
        "as open: FIFOs, sockets and device nodes on host mounts are not opened (EACCES)",
    ),
    sys(86, "link").serves(|c| fs::linkat(c, CWD, c.arg(0), CWD, c.arg(1), 0)),
    sys(87, "unlink").serves(|c| fs::unlinkat(c, CWD, c.arg(0), 0)),
    sys(88, "symlink").serves(|c| fs::symlinkat(c, c.arg(0), CWD, c.arg(1))),
    sys(89, "readlink").serves(|c| fs::readlinkat(c, CWD, c.arg(0), c.arg(1), c.arg(2))),
    sys(90, "chmod").serves(|c| fs::fchmodat(c, CWD, c.arg(0), c.arg(1))),
    sys(91, "fchmod").serves(fs::fchmod),
    sys(92, "chown").serves(|c| fs::fchownat(c, CWD, c.arg(0), c.arg(1), c.arg(2), 0)),
    sys(93, "fchown").serves(fs::fchown),
    sys(94, "lchown").serves(|c| fs::fchownat(c, CWD, c.arg(0), c.arg(1), c.arg(2), libc::AT_SYMLINK_NOFOLLOW as u64)),
    sys(95, "umask").serves(fs::umask),
    sys(96, "gettimeofday").serves(time::gettimeofday),
    sys(97, "getrlimit")
        .serves(|c| process::prlimit(c, 0, c.arg(0), 0, c.arg(1)))
        .partial(RLIMIT_GAPS),
    sys(98, "getrusage").serves(process::getrusage).partial(
        "CPU time is real (of the process, the thread or the reaped children) but all reported \
         as user time; the memory, I/O and context-switch counts are zero",
    ),
    sys(99, "sysinfo").serves(process::sysinfo).partial(
        "uptime, free memory and the process count are real; total memory is a fixed 2 GiB, load \
         averages and swap are zero",
    ),
    sys(100, "times").serves(process::times).partial(
        "the CPU times of the process and its reaped children are real, all reported as user time",
    ),
    sys(101, "ptrace").serves(process::ptrace).partial(
        "emulated in the sentry (a guest's tracing never reaches the host's ptrace): TRACEME, \
         ATTACH, SEIZE, INTERRUPT, LISTEN, CONT, SYSCALL, SINGLESTEP, DETACH and KILL with \
         signal injection; signal-delivery, group, exec, exit, system call and \
         fork/vfork/clone/vfork-done event stops, the new child traced with its parent's \
         options (CLONE_PTRACE, CLONE_UNTRACED), so strace -f and gdb of forking programs \
         work; PEEK/POKE of text, data (forced into read-only private memory, as Linux) and \
         user registers, GETREGS, SETREGS, GETFPREGS, GETREGSET (NT_PRSTATUS, NT_PRFPREG), \
         SETOPTIONS, GETEVENTMSG, GETSIGINFO, SETSIGINFO, GET_SYSCALL_INFO; the tracer's wait \
         and exit as Linux's. Missing: hardware breakpoints (the debug registers read 0 and \
         only clear), PTRACE_EVENT_SECCOMP (no seccomp filters: TRACESECCOMP is taken and \
         never stops), SYSEMU",
    ),
    sys(102, "getuid").serves(|c| creds::getid(c, libc::SYS_getuid)),
    sys(103, "syslog"),
    sys(104, "getgid").serves(|c| creds::getid(c, libc::SYS_getgid)),
    sys(105, "setuid").serves(|c| creds::setid(c, libc::SYS_setuid)),
    sys(106, "setgid").serves(|c| creds::setid(c, libc::SYS_setgid)),
    sys(107, "geteuid").serves(|c| creds::getid(c, libc::SYS_geteuid)),
    sys(108, "getegid").serves(|c| creds::getid(c, libc::SYS_getegid)),
    sys(109, "setpgid").serves(process::setpgid),
    sys(110, "getppid").serves(|c| Sys::Ret(c.ppid() as i64)),
    sys(111, "getpgrp").serves(|c| Sys::Ret(c.pgid() as i64)),
    sys(112, "setsid").serves(process::setsid),
    sys(113, "setreuid").serves(|c| creds::setid(c, libc::SYS_setreuid)),
    sys(114, "setregid").serves(|c| creds::setid(c, libc::SYS_setregid)),
    sys(115, "getgroups").serves(creds::getgroups),
    sys(116, "setgroups").serves(creds::setgroups),
    sys(117, "setresuid").serves(|c| creds::setid(c, libc::SYS_setresuid)),
    sys(118, "getresuid").serves(|c| creds::getresid(c, libc::SYS_getresuid)),
    sys(119, "setresgid").serves(|c| creds::setid(c, libc::SYS_setresgid)),
    sys(120, "getresgid").serves(|c| creds::getresid(c, libc::SYS_getresgid)),
    sys(121, "getpgid").serves(process::getpgid),
    sys(122, "setfsuid").serves(|c| creds::setid(c, libc::SYS_setfsuid)),
    sys(123, "setfsgid").serves(|c| creds::setid(c, libc::SYS_setfsgid)),
    sys(124, "getsid").serves(process::getsid),
    sys(125, "capget").serves(creds::capget),
    sys(126, "capset").serves(creds::capset),
    sys(127, "rt_sigpending").serves(signal::rt_sigpending),
    sys(128, "rt_sigtimedwait").serves(signal::rt_sigtimedwait).eintr(),
    sys(129, "rt_sigqueueinfo")
        .serves(|c| signal::rt_sigqueueinfo(c, libc::SYS_rt_sigqueueinfo)),
    sys(130, "rt_sigsuspend").serves(signal::rt_sigsuspend).eintr(),
    sys(131, "sigaltstack").serves(signal::sigaltstack),
    sys(132, "utime").serves(|c| fs::utimes(c, CWD as i32, c.arg(0), c.arg(1), false)),
    sys(133, "mknod").serves(|c| fs::mknodat(c, CWD, c.arg(0), c.arg(1))).partial(MKNOD),
    sys(134, "uselib"),
    sys(135, "personality").serves(ok).noop(
        "returns 0 (PER_LINUX) and changes nothing: a query answers right, a new personality is \
         not applied",
    ),
    sys(136, "ustat"),
    sys(137, "statfs").serves(fs::statfs).partial(STATFS),
    sys(138, "fstatfs").serves(fs::fstatfs).partial(STATFS),
    sys(139, "sysfs"),
    sys(140, "getpriority").serves(sched::getpriority).note(SCHED),
    sys(141, "setpriority").serves(sched::setpriority).note(SCHED),
    sys(142, "sched_setparam").serves(sched::sched_setparam).note(SCHED),
    sys(143, "sched_getparam").serves(sched::sched_getparam).note(SCHED),
    sys(144, "sched_setscheduler").serves(sched::sched_setscheduler).partial(SCHED_DEADLINE_GAP),
    sys(145, "sched_getscheduler").serves(sched::sched_getscheduler).note(SCHED),
    sys(146, "sched_get_priority_max").serves(sched::sched_get_priority_max),
    sys(147, "sched_get_priority_min").serves(sched::sched_get_priority_min),
    sys(148, "sched_rr_get_interval").serves(sched::sched_rr_get_interval).partial(
        "SCHED_RR 100 ms, SCHED_FIFO 0, the fair policies a fixed 4 ms",
    ),
    sys(149, "mlock").serves(ok).noop(MLOCK),
    sys(150, "munlock").serves(ok).noop(MLOCK),
    sys(151, "mlockall").serves(ok).noop(MLOCK),
    sys(152, "munlockall").serves(ok).noop(MLOCK),
    sys(153, "vhangup"),
    sys(154, "modify_ldt"),
    sys(155, "pivot_root").refused(libc::EPERM, MOUNTS),
    sys(156, "_sysctl"),
    sys(157, "prctl").serves(process::prctl).partial(
        "names, keep-caps, no_new_privs, the capability bounding set and ambient capabilities, \
         the child subreaper, dumpable and the death signal (a process's, sent when the thread \
         that created it exits); PR_SET_TIMERSLACK is accepted and ignored; the rest fail \
         with EINVAL",
    ),
    sys(158, "arch_prctl").serves(process::arch_prctl).note(
        "ARCH_SET_FS/GS, ARCH_GET_FS/GS, ARCH_GET_CPUID; the rest EINVAL",
    ),
    sys(159, "adjtimex"),
    sys(160, "setrlimit")
        .serves(|c| process::prlimit(c, 0, c.arg(0), c.arg(1), 0))
        .partial(RLIMIT_GAPS),
    sys(161, "chroot").refused(libc::EPERM, MOUNTS),
    sys(162, "sync").serves(ok).noop(
        "returns 0 at once: guest files are host files, written through; the host flushes them",
    ),
    sys(163, "acct"),
    sys(164, "settimeofday"),
    sys(165, "mount").serves(mount::mount).partial(MOUNT),
    sys(166, "umount2").serves(mount::umount2).partial(UMOUNT),
    sys(167, "swapon").refused(libc::EPERM, HOST),
    sys(168, "swapoff").refused(libc::EPERM, HOST),
    sys(169, "reboot").refused(libc::EPERM, HOST),
    sys(170, "sethostname").serves(|c| process::set_uts_name(c, false)),
    sys(171, "setdomainname").serves(|c| process::set_uts_name(c, true)),
    sys(172, "iopl"),
    sys(173, "ioperm"),
    sys(174, "create_module"),
    sys(175, "init_module").refused(libc::EPERM, MODULES),
    sys(176, "delete_module").refused(libc::EPERM, MODULES),
    sys(177, "get_kernel_syms"),
    sys(178, "query_module"),
    sys(179, "quotactl"),
    sys(180, "nfsservctl"),
    sys(181, "getpmsg"),
    sys(182, "putpmsg"),
    sys(183, "afs_syscall"),
    sys(184, "tuxcall"),
    sys(185, "security"),
    sys(186, "gettid").serves(|c| Sys::Ret(c.tid() as i64)),
    sys(187, "readahead"),
    sys(188, "setxattr")
        .serves(|c| xattr(c, Op::Set, At::Path { follow: true }))
        .partial(XATTR),
    sys(189, "lsetxattr")
        .serves(|c| xattr(c, Op::Set, At::Path { follow: false }))
        .partial(XATTR),
    sys(190, "fsetxattr")
        .serves(|c| xattr(c, Op::Set, At::Fd))
        .partial(XATTR),
    sys(191, "getxattr")
        .serves(|c| xattr(c, Op::Get, At::Path { follow: true }))
        .partial(XATTR),
    sys(192, "lgetxattr")
        .serves(|c| xattr(c, Op::Get, At::Path { follow: false }))
        .partial(XATTR),
    sys(193, "fgetxattr")
        .serves(|c| xattr(c, Op::Get, At::Fd))
        .partial(XATTR),
    sys(194, "listxattr")
        .serves(|c| xattr(c, Op::List, At::Path { follow: true }))
        .partial(XATTR),
    sys(195, "llistxattr")
        .serves(|c| xattr(c, Op::List, At::Path { follow: false }))
        .partial(XATTR),
    sys(196, "flistxattr")
        .serves(|c| xattr(c, Op::List, At::Fd))
        .partial(XATTR),
    sys(197, "removexattr")
        .serves(|c| xattr(c, Op::Remove, At::Path { follow: true }))
        .partial(XATTR),
    sys(198, "lremovexattr")
        .serves(|c| xattr(c, Op::Remove, At::Path { follow: false }))
        .partial(XATTR),
    sys(199, "fremovexattr")
        .serves(|c| xattr(c, Op::Remove, At::Fd))
        .partial(XATTR),
    sys(200, "tkill").serves(signal::tkill),
    sys(201, "time").serves(time::time),
    sys(202, "futex").serves(futex::futex).partial(
        "wait, wake, requeue, wake-op, the bitset forms and the priority-inheritance locks \
         (FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_TRYLOCK_PI, FUTEX_UNLOCK_PI: the owner's id in \
         the word, FUTEX_WAITERS, a hand-over to the first waiter), private and shared; no \
         priority is inherited (the host schedules), a PI futex's owner that exits without \
         it on its robust list leaves its waiters waiting; FUTEX_WAIT_REQUEUE_PI and \
         FUTEX_CMP_REQUEUE_PI move waiters to a PI futex (the first given it when free)",
    ),
    sys(203, "sched_setaffinity").serves(sched::sched_setaffinity).partial(
        "the mask is kept and read back (up to 64 CPUs, those of the host), not applied: the \
         host runs the guest's threads where it likes",
    ),
    sys(204, "sched_getaffinity").serves(sched::sched_getaffinity).note(SCHED),
    sys(205, "set_thread_area"),
    sys(206, "io_setup"),
    sys(207, "io_destroy"),
    sys(208, "io_getevents").eintr(),
    sys(209, "io_submit"),
    sys(210, "io_cancel"),
    sys(211, "get_thread_area"),
    sys(212, "lookup_dcookie"),
    sys(213, "epoll_create").serves(epoll_create),
    sys(214, "epoll_ctl_old"),
    sys(215, "epoll_wait_old"),
    sys(216, "remap_file_pages"),
    sys(217, "getdents64").serves(file::getdents64),
    sys(218, "set_tid_address").serves(set_tid_address),
    sys(219, "restart_syscall"),
    sys(220, "semtimedop").eintr(),
    sys(221, "fadvise64").serves(fadvise).note(
        "advice only: the fd and the advice are checked, then ignored",
    ),
    sys(222, "timer_create").serves(posix_timer::timer_create).partial(
        "timers on CPU-time clocks are checked every 4 ms (their CPU time as clock_gettime's)",
    ),
    sys(223, "timer_settime").serves(posix_timer::timer_settime),
    sys(224, "timer_gettime").serves(posix_timer::timer_gettime),
    sys(225, "timer_getoverrun").serves(posix_timer::timer_getoverrun),
    sys(226, "timer_delete").serves(posix_timer::timer_delete),
    sys(227, "clock_settime"),
    sys(228, "clock_gettime").serves(time::clock_gettime).partial(
        "the CPU-time clocks count the host thread running guest code plus the sentry's time \
         serving its stops; user and system time are one figure",
    ),
    sys(229, "clock_getres").serves(time::clock_getres).partial(
        "1 ns for every clock, where Linux reports the tick for the coarse clocks",
    ),
    sys(230, "clock_nanosleep").serves(time::clock_nanosleep).time_left(),
    sys(231, "exit_group").serves(process::exit_group),
    sys(232, "epoll_wait")
        .serves(|c| epoll::epoll_wait(c, c.arg(0), c.arg(1), c.arg(2), ms_timeout(c.arg(3)), 0))
        .eintr(),
    sys(233, "epoll_ctl").serves(epoll::epoll_ctl).partial(
        "EPOLLEXCLUSIVE and EPOLLWAKEUP are ignored; a signalfd in an epoll set watched by another set never reads as ready there; the nesting limit counts the sets below the one added, not those above the one adding",
    ),
    sys(234, "tgkill").serves(signal::tgkill),
    sys(235, "utimes").serves(|c| fs::utimes(c, CWD as i32, c.arg(0), c.arg(1), true)),
    sys(236, "vserver"),
    sys(237, "mbind"),
    sys(238, "set_mempolicy"),
    sys(239, "get_mempolicy"),
    sys(240, "mq_open"),
    sys(241, "mq_unlink"),
    sys(242, "mq_timedsend"),
    sys(243, "mq_timedreceive"),
    sys(244, "mq_notify"),
    sys(245, "mq_getsetattr"),
    sys(246, "kexec_load").refused(libc::EPERM, HOST),
    sys(247, "waitid").serves(process::waitid),
    sys(248, "add_key"),
    sys(249, "request_key"),
    sys(250, "keyctl"),
    sys(251, "ioprio_set"),
    sys(252, "ioprio_get"),
    sys(253, "inotify_init").serves(|c| inotify::init(c, 0)),
    sys(254, "inotify_add_watch").serves(inotify::inotify_add_watch).partial(
        "events of the files on host mounts (the rootfs, tmpfs, bind mounts); none for /proc and /dev; \
         changes made outside the sandbox are not seen",
    ),
    sys(255, "inotify_rm_watch").serves(inotify::inotify_rm_watch),
    sys(256, "migrate_pages"),
    sys(257, "openat").serves(|c| fs::openat(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3))).partial(OPEN_GAPS),
    sys(258, "mkdirat").serves(|c| fs::mkdirat(c, c.arg(0), c.arg(1), c.arg(2))),
    sys(259, "mknodat").serves(|c| fs::mknodat(c, c.arg(0), c.arg(1), c.arg(2))).partial(MKNOD),
    sys(260, "fchownat").serves(|c| fs::fchownat(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3), c.arg(4))),
    sys(261, "futimesat").serves(|c| fs::utimes(c, c.arg(0) as i32, c.arg(1), c.arg(2), true)),
    sys(262, "newfstatat").serves(|c| fs::fstatat(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3))),
    sys(263, "unlinkat").serves(|c| fs::unlinkat(c, c.arg(0), c.arg(1), c.arg(2))),
    sys(264, "renameat").serves(|c| fs::renameat(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3), 0)),
    sys(265, "linkat").serves(|c| fs::linkat(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3), c.arg(4))),
    sys(266, "symlinkat").serves(|c| fs::symlinkat(c, c.arg(0), c.arg(1), c.arg(2))),
    sys(267, "readlinkat").serves(|c| fs::readlinkat(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3))),
    sys(268, "fchmodat").serves(|c| fs::fchmodat(c, c.arg(0), c.arg(1), c.arg(2))),
    sys(269, "faccessat").serves(|c| fs::faccessat(c, c.arg(0), c.arg(1), c.arg(2), 0)),
    sys(270, "pselect6").serves(|c| poll::select(c, true)).eintr(),
    sys(271, "ppoll").serves(poll::ppoll).eintr(),
    sys(272, "unshare").serves(process::unshare).partial(UNSHARE),
    sys(273, "set_robust_list").serves(set_robust_list).note(
        "walked when the thread exits or execs, as Linux: each futex it still owns gets \
         FUTEX_OWNER_DIED and a waiter woken (a PI one is handed to its first waiter)",
    ),
    sys(274, "get_robust_list").serves(get_robust_list),
    sys(275, "splice").serves(splice::splice),
    sys(276, "tee").serves(splice::tee),
    sys(277, "sync_file_range")
        .serves(file::sync_file_range)
        .note("any flag syncs the whole file"),
    sys(278, "vmsplice")
        .serves(splice::vmsplice)
        .note("copies (SPLICE_F_GIFT gives no pages away)"),
    sys(279, "move_pages"),
    sys(280, "utimensat").serves(fs::utimensat).note(
        "files of the synthetic file systems (proc, dev) keep their times: the call succeeds and \
         changes nothing",
    ),
    sys(281, "epoll_pwait").serves(epoll_pwait).eintr(),
    sys(282, "signalfd").serves(|c| signal::signalfd4(c, c.arg(0), c.arg(1), c.arg(2), 0)),
    sys(283, "timerfd_create").serves(timerfd::timerfd_create).partial(
        "CLOCK_REALTIME, CLOCK_MONOTONIC and CLOCK_BOOTTIME; the alarm clocks are EINVAL",
    ),
    sys(284, "eventfd").serves(|c| epoll::eventfd2(c, c.arg(0), 0)),
    sys(285, "fallocate").serves(file::fallocate).note(
        "regular files only; other files fail with EBADF",
    ),
    sys(286, "timerfd_settime").serves(timerfd::timerfd_settime).partial(
        "TFD_TIMER_CANCEL_ON_SET is accepted and never cancels: the guest cannot set the clock",
    ),
    sys(287, "timerfd_gettime").serves(timerfd::timerfd_gettime),
    sys(288, "accept4").serves(|c| socket::accept(c, c.arg(3))),
    sys(289, "signalfd4").serves(|c| signal::signalfd4(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3))),
    sys(290, "eventfd2").serves(|c| epoll::eventfd2(c, c.arg(0), c.arg(1))),
    sys(291, "epoll_create1").serves(|c| epoll::epoll_create1(c, c.arg(0))),
    sys(292, "dup3").serves(|c| file::dup3(c, c.arg(0), c.arg(1), c.arg(2), false)),
    sys(293, "pipe2").serves(|c| file::pipe2(c, c.arg(0), c.arg(1))).partial(
        "O_DIRECT is accepted but the pipe stays a byte stream, not packets",
    ),
    sys(294, "inotify_init1").serves(|c| inotify::init(c, c.arg(0))),
    sys(295, "preadv").serves(|c| file::readv(c, true)),
    sys(296, "pwritev").serves(|c| file::writev(c, true)),
    sys(297, "rt_tgsigqueueinfo")
        .serves(|c| signal::rt_sigqueueinfo(c, libc::SYS_rt_tgsigqueueinfo)),
    sys(298, "perf_event_open").refused(libc::EPERM, HOST),
    sys(299, "recvmmsg").serves(socket::recvmmsg).partial(
        "after the first message it takes only those already queued; the timeout bounds the wait for the first",
    ),
    sys(300, "fanotify_init"),
    sys(301, "fanotify_mark"),
    sys(302, "prlimit64").serves(|c| process::prlimit(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3))).partial(RLIMIT_GAPS),
    sys(303, "name_to_handle_at"),
    sys(304, "open_by_handle_at"),
    sys(305, "clock_adjtime"),
    sys(306, "syncfs").serves(file::fsync).partial(
        "flushes the given file only, not the whole file system holding it",
    ),
    sys(307, "sendmmsg").serves(socket::sendmmsg),
    sys(308, "setns").serves(process::setns).partial(SETNS),
    sys(309, "getcpu").serves(process::getcpu).note("always CPU 0, node 0"),
    sys(310, "process_vm_readv"),
    sys(311, "process_vm_writev"),
    sys(312, "kcmp"),
    sys(313, "finit_module").refused(libc::EPERM, MODULES),
    sys(314, "sched_setattr").serves(sched::sched_setattr).partial(SCHED_DEADLINE_GAP),
    sys(315, "sched_getattr").serves(sched::sched_getattr).note(SCHED),
    sys(316, "renameat2").serves(|c| fs::renameat(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3), c.arg(4))),
    sys(317, "seccomp"),
    sys(318, "getrandom").serves(process::getrandom),
    sys(319, "memfd_create").serves(memfd::memfd_create),
    sys(320, "kexec_file_load"),
    sys(321, "bpf").refused(libc::EPERM, HOST),
    sys(322, "execveat").serves(|c| {
        let [dirfd, path, argv, envp, flags, _] = c.args();
        process::execveat(c, dirfd, path, argv, envp, flags)
    }),
    sys(323, "userfaultfd"),
    sys(324, "membarrier").serves(ok).noop(
        "returns 0 for every command: MEMBARRIER_CMD_QUERY so reports no supported command, and \
         the other commands are not carried out",
    ),
    sys(325, "mlock2"),
    sys(326, "copy_file_range").serves(splice::copy_file_range),
    sys(327, "preadv2").serves(file::preadv2),
    sys(328, "pwritev2").serves(file::pwritev2).partial(
        "RWF_NOAPPEND is taken but an O_APPEND file still writes at its end; RWF_ATOMIC \
         and RWF_DONTCACHE EOPNOTSUPP",
    ),
    sys(329, "pkey_mprotect"),
    sys(330, "pkey_alloc"),
    sys(331, "pkey_free"),
    sys(332, "statx").serves(fs::statx).note(
        "the basic fields (STATX_BASIC_STATS), whatever the mask asks; no birth time",
    ),
    sys(333, "io_pgetevents").eintr(),
    sys(334, "rseq")
        .missing("glibc registers restartable sequences at start-up and copes with ENOSYS")
        .quiet(),
    sys(424, "pidfd_send_signal"),
    sys(425, "io_uring_setup"),
    sys(426, "io_uring_enter"),
    sys(427, "io_uring_register"),
    sys(428, "open_tree").missing(MOUNT_API),
    sys(429, "move_mount").missing(MOUNT_API),
    sys(430, "fsopen").missing(MOUNT_API),
    sys(431, "fsconfig").missing(MOUNT_API),
    sys(432, "fsmount").missing(MOUNT_API),
    sys(433, "fspick").missing(MOUNT_API),
    sys(434, "pidfd_open"),
    sys(435, "clone3").serves(process::clone3).partial(
        "as clone: new namespaces as unshare makes them (pid, cgroup and time ones EPERM) and \
         CLONE_PIDFD fails with EINVAL; CLONE_INTO_CGROUP fails with EBADF (no fd names a cgroup)",
    ),
    sys(436, "close_range").serves(file::close_range).partial(
        "CLOSE_RANGE_UNSHARE is ignored: the fds are closed in the (possibly shared) table",
    ),
    sys(437, "openat2"),
    sys(438, "pidfd_getfd"),
    sys(439, "faccessat2").serves(|c| fs::faccessat(c, c.arg(0), c.arg(1), c.arg(2), c.arg(3))),
    sys(440, "process_madvise"),
    sys(441, "epoll_pwait2").serves(epoll_pwait2).eintr(),
    sys(442, "mount_setattr").missing(MOUNT_API),
    sys(443, "quotactl_fd"),
    sys(444, "landlock_create_ruleset"),
    sys(445, "landlock_add_rule"),
    sys(446, "landlock_restrict_self"),
    sys(447, "memfd_secret"),
    sys(448, "process_mrelease"),
    sys(449, "futex_waitv"),
    sys(450, "set_mempolicy_home_node"),
    sys(451, "cachestat"),
    sys(452, "fchmodat2"),
    sys(453, "map_shadow_stack"),
    sys(454, "futex_wake"),
    sys(455, "futex_wait"),
    sys(456, "futex_requeue"),
    sys(457, "statmount"),
    sys(458, "listmount"),
    sys(459, "lsm_get_self_attr"),
    sys(460, "lsm_set_self_attr"),
    sys(461, "lsm_list_modules"),
    sys(462, "mseal"),
    sys(463, "setxattrat"),
    sys(464, "getxattrat"),
    sys(465, "listxattrat"),
    sys(466, "removexattrat"),
    sys(467, "open_tree_attr").missing(MOUNT_API),
    sys(468, "file_getattr"),
    sys(469, "file_setattr"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every number the host's kernel headers define has its name here, and no other.
    #[test]
    fn names_agree_with_the_host_headers() {
        let path = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
        let Ok(h) = std::fs::read_to_string(path) else {
            eprintln!("{path} is missing (apt-get install linux-libc-dev): not checked");
            return;
        };
        let mut seen = 0;
        for line in h.lines() {
            let mut w = line.split_whitespace();
            let (Some("#define"), Some(nr_name), Some(nr)) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            let Some(name) = nr_name.strip_prefix("__NR_") else {
                continue;
            };
            let nr: u64 = nr.parse().expect("a number");
            assert_eq!(get(nr).map(|s| s.name), Some(name), "number {nr}");
            seen += 1;
        }
        assert!(seen > 300, "{path} has only {seen} system calls");
    }

    #[test]
    fn numbers_agree_with_libc() {
        for (nr, name) in [
            (libc::SYS_read, "read"),
            (libc::SYS_open, "open"),
            (libc::SYS_poll, "poll"),
            (libc::SYS_mmap, "mmap"),
            (libc::SYS_rt_sigreturn, "rt_sigreturn"),
            (libc::SYS_select, "select"),
            (libc::SYS_pause, "pause"),
            (libc::SYS_nanosleep, "nanosleep"),
            (libc::SYS_getpid, "getpid"),
            (libc::SYS_socket, "socket"),
            (libc::SYS_clone, "clone"),
            (libc::SYS_execve, "execve"),
            (libc::SYS_wait4, "wait4"),
            (libc::SYS_msgrcv, "msgrcv"),
            (libc::SYS_getdents, "getdents"),
            (libc::SYS_ptrace, "ptrace"),
            (libc::SYS_rt_sigtimedwait, "rt_sigtimedwait"),
            (libc::SYS_rt_sigsuspend, "rt_sigsuspend"),
            (libc::SYS__sysctl, "_sysctl"),
            (libc::SYS_mount, "mount"),
            (libc::SYS_futex, "futex"),
            (libc::SYS_epoll_wait, "epoll_wait"),
            (libc::SYS_clock_nanosleep, "clock_nanosleep"),
            (libc::SYS_exit_group, "exit_group"),
            (libc::SYS_openat, "openat"),
            (libc::SYS_pselect6, "pselect6"),
            (libc::SYS_ppoll, "ppoll"),
            (libc::SYS_epoll_pwait, "epoll_pwait"),
            (libc::SYS_prlimit64, "prlimit64"),
            (libc::SYS_renameat2, "renameat2"),
            (libc::SYS_statx, "statx"),
            (libc::SYS_rseq, "rseq"),
            (libc::SYS_pidfd_send_signal, "pidfd_send_signal"),
            (libc::SYS_clone3, "clone3"),
            (libc::SYS_epoll_pwait2, "epoll_pwait2"),
            (libc::SYS_set_mempolicy_home_node, "set_mempolicy_home_node"),
            (libc::SYS_fchmodat2, "fchmodat2"),
            (libc::SYS_mseal, "mseal"),
        ] {
            assert_eq!(get(nr as u64).map(|s| s.name), Some(name), "number {nr}");
            assert_eq!(super::super::name(nr as u64), name);
        }
        assert_eq!(super::super::name(335), "unknown");
        assert_eq!(super::super::name(MAX_NR as u64 + 1), "unknown");
        assert_eq!(super::super::name(u64::MAX), "unknown");
    }

    #[test]
    fn each_number_once_in_order_at_its_index() {
        for (i, e) in LIST.iter().enumerate() {
            if i > 0 {
                assert!(
                    e.nr > LIST[i - 1].nr,
                    "{} listed after {}",
                    e.name,
                    LIST[i - 1].name
                );
            }
            let at = TABLE[e.nr as usize].expect("in the table");
            assert_eq!((at.nr, at.name), (e.nr, e.name));
        }
        assert_eq!(TABLE.iter().flatten().count(), LIST.len());
        // x86-64 defines 0..=334 and 424..=MAX_NR, nothing between.
        for nr in 0..=MAX_NR as u64 {
            assert_eq!(get(nr).is_some(), !(335..424).contains(&nr), "number {nr}");
        }
        let mut names: Vec<&str> = LIST.iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LIST.len(), "a name listed twice");
    }

    #[test]
    fn every_handler_is_reachable_by_its_number() {
        // The listed calls are the table's, one for one (handlers compared by presence: a
        // closure in a constant may be instantiated more than once).
        for e in LIST {
            let at = get(e.nr as u64).expect("in the table");
            assert_eq!(
                (at.name, at.status, at.restart),
                (e.name, e.status, e.restart)
            );
            assert_eq!(at.handler.is_some(), e.handler.is_some(), "{}", e.name);
        }
        // Dispatch by number finds the table's own handler.
        for e in TABLE.iter().flatten() {
            let h = handler(e.nr as u64);
            assert_eq!(h.is_some(), e.status.served(), "{}", e.name);
            if let (Some(a), Some(b)) = (h, e.handler) {
                assert!(std::ptr::fn_addr_eq(a, b), "{}", e.name);
            }
        }
        assert!(handler(335).is_none());
        assert!(handler(MAX_NR as u64 + 1).is_none());
        assert!(handler(u64::MAX).is_none());
    }

    #[test]
    fn waits_are_never_restarted() {
        for nr in [
            libc::SYS_poll,
            libc::SYS_ppoll,
            libc::SYS_select,
            libc::SYS_pselect6,
            libc::SYS_epoll_wait,
            libc::SYS_epoll_pwait,
            libc::SYS_epoll_pwait2,
            libc::SYS_pause,
            libc::SYS_rt_sigsuspend,
            libc::SYS_rt_sigtimedwait,
        ] {
            assert_eq!(
                get(nr as u64).expect("listed").restart,
                RestartRule::Never,
                "{nr}"
            );
            assert!(!super::super::restartable(nr as u64));
        }
        for nr in [libc::SYS_nanosleep, libc::SYS_clock_nanosleep] {
            assert_eq!(
                get(nr as u64).expect("listed").restart,
                RestartRule::TimeLeft
            );
            assert!(!super::super::restartable(nr as u64));
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_wait4,
            libc::SYS_futex,
        ] {
            assert!(super::super::restartable(nr as u64), "{nr}");
        }
        // An unknown number keeps the usual rule.
        assert!(super::super::restartable(u64::MAX));
    }

    #[test]
    fn statuses_are_consistent() {
        for e in LIST {
            match e.status {
                Status::Partial | Status::NoOp => assert!(!e.note.is_empty(), "{}", e.name),
                Status::Refused(errno) => assert!(errno != libc::ENOSYS, "{}", e.name),
                Status::Missing { errno, logged } => {
                    assert!(!logged || errno == libc::ENOSYS, "{}", e.name)
                }
                Status::Implemented => {}
            }
            // Notes go into a Markdown table.
            assert!(
                !e.note.contains('|') && !e.note.contains('\n'),
                "{}",
                e.name
            );
        }
    }

    /// Through `Kernel::dispatch` on the fake platform: a served call reaches its handler, a
    /// refused or missing one fails with its errno, and only the logged gaps are logged.
    #[test]
    fn dispatch_serves_from_the_table() {
        let root = tempfile::tempdir().unwrap();
        let mut k = crate::testing::kernel(root.path());
        let t = k.test_process(0, 0);
        let e = |errno: i32| Some(-(errno as i64));
        assert_eq!(k.call(t, libc::SYS_getpid, [0; 6]), Some(t as i64));
        assert_eq!(k.call(t, libc::SYS_gettid, [0; 6]), Some(t as i64));
        assert_eq!(k.call(t, libc::SYS_msync, [0; 6]), Some(0));
        assert_eq!(k.call(t, libc::SYS_epoll_create, [0; 6]), e(libc::EINVAL));
        assert_eq!(k.call(t, libc::SYS_pause, [0; 6]), None, "pause parks");
        assert_eq!(k.call(t, libc::SYS_mount, [0; 6]), e(libc::EFAULT));
        assert_eq!(k.call(t, libc::SYS_socket, [0; 6]), e(libc::EAFNOSUPPORT));
        assert_eq!(
            k.call(t, libc::SYS_socket, [libc::AF_PACKET as u64, 1, 0, 0, 0, 0]),
            e(libc::EAFNOSUPPORT)
        );
        assert_eq!(k.call(t, libc::SYS_rseq, [0; 6]), e(libc::ENOSYS));
        assert!(
            k.logged_unimplemented().is_empty(),
            "refusals and quiet gaps are not logged"
        );
        for _ in 0..2 {
            assert_eq!(k.call(t, libc::SYS_ioprio_get, [0; 6]), e(libc::ENOSYS));
            assert_eq!(k.call(t, 400, [0; 6]), e(libc::ENOSYS));
            assert_eq!(k.call(t, -1, [0; 6]), e(libc::ENOSYS));
        }
        assert_eq!(
            k.logged_unimplemented(),
            [libc::SYS_ioprio_get as u64, 400, u64::MAX]
        );
    }
}
