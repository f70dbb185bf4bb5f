//! The raw host calls of `boot` that have no safe wrapper: signal handlers, `fork`/`clone`
//! of the sandbox process and `exec`. Every `unsafe` of the crate is here.

use std::io::IoSliceMut;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// Most fds one control message carries.
const MAX_FDS: usize = 8;

/// `recvmsg` on a unix socket into `buf`; fds that came along (SCM_RIGHTS, close-on-exec)
/// are appended to `fds`. Returns the byte count (0 at end of stream).
pub fn recv_with_fds(sock: RawFd, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> nix::Result<usize> {
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            for fd in raw {
                // SAFETY: SCM_RIGHTS installed this fd in our table just now; nothing else
                // owns it.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Ok(msg.bytes)
}

/// The function the SIGSYS handler reports a refused syscall to.
static SIGSYS_REPORT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for a SA_SIGINFO handler. For SIGSYS the
    // union after the three ints and padding (offset 16) is `_sigsys { void *call_addr;
    // int syscall; unsigned arch; }`, so the syscall number is the i32 at offset 24.
    let nr = unsafe { info.cast::<u8>().add(24).cast::<i32>().read_unaligned() };
    let report = SIGSYS_REPORT.load(Ordering::Relaxed);
    if report != 0 {
        // SAFETY: SIGSYS_REPORT only ever holds a `fn(i32)` stored by
        // `install_sigsys_handler`.
        let f: fn(i32) = unsafe { std::mem::transmute::<usize, fn(i32)>(report) };
        f(nr);
    }
    // SAFETY: `ctx` is the ucontext_t of the interrupted thread; the refused call returns
    // what rax holds when the handler returns, so make it -EPERM.
    unsafe {
        let uc = ctx.cast::<libc::ucontext_t>();
        (*uc).uc_mcontext.gregs[libc::REG_RAX as usize] = -(libc::EPERM as i64);
    }
}

/// Installs the process-wide SIGSYS handler that turns a syscall refused by the seccomp
/// filter (`SECCOMP_RET_TRAP`) into an `EPERM` return, after calling `report` with the
/// syscall number. `report` runs in a signal handler: it must not allocate or lock.
pub fn install_sigsys_handler(report: fn(i32)) -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    SIGSYS_REPORT.store(report as usize, Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::SigAction(on_sigsys),
        SaFlags::SA_SIGINFO,
        SigSet::empty(),
    );
    // SAFETY: the handler only reads its arguments, calls `report` (documented as
    // async-signal-safe) and writes one register of the interrupted context.
    unsafe { sigaction(Signal::SIGSYS, &action) }.map(|_| ())
}

/// Writes all of `buf` to the raw fd `fd`, ignoring errors (used from signal handlers).
pub fn write_all_raw(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: `buf` is a valid readable slice for its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
        buf = &buf[n as usize..];
    }
}

/// Test helper: runs `f` in a forked child and returns its exit status (`f`'s return
/// value, or 128 + signal). `f` must not allocate or take locks another thread may hold.
#[cfg(test)]
pub fn in_forked_child(f: impl FnOnce() -> i32) -> nix::Result<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    // SAFETY: the child runs only `f`, which the caller promises is fork-safe, and ends
    // with `_exit` without running destructors or atexit handlers.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let code = f();
            // SAFETY: `_exit` is always safe to call; it does not return.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => loop {
            match waitpid(child, None)? {
                WaitStatus::Exited(_, code) => return Ok(code),
                WaitStatus::Signaled(_, sig, _) => return Ok(128 + sig as i32),
                _ => continue,
            }
        },
    }
}

/// How to start the sandbox process: a `clone` into new namespaces, then in the child
/// `setns` into the joined ones, a wait for the parent's go-ahead (it first puts the child
/// in its cgroups), the fd shuffle, and `execveat` of the runsc binary.
pub struct SpawnPlan {
    /// The runsc binary (`/proc/self/exe` opened before any namespace changes).
    pub exe: OwnedFd,
    pub argv: Vec<std::ffi::CString>,
    pub envp: Vec<std::ffi::CString>,
    /// `(source, target)`: the child gets `source` as fd `target` (at most 8).
    pub fds: Vec<(RawFd, RawFd)>,
    /// `CLONE_NEW*` flags for the namespaces to create.
    pub clone_flags: libc::c_int,
    /// Namespaces to join in the child, in order: (fd of the ns file, CLONE_NEW* type;
    /// not a pid namespace, which only a parent can enter for its children).
    pub join: Vec<(OwnedFd, libc::c_int)>,
    /// Read end of the go-ahead pipe: the child waits for one byte `g`.
    pub go: OwnedFd,
    /// Where the child reports a failure before exec (normally `fds` maps it to 3).
    pub report_fd: RawFd,
    /// Fds the child closes at once (the write end of the go-ahead pipe, so that the
    /// parent's death reads as end-of-file).
    pub close_in_child: Vec<RawFd>,
    /// In a new user namespace: become its root (uid and gid 0) once the parent has
    /// written the id maps, so that exec keeps the namespace's capabilities.
    pub become_root: bool,
}

/// Formats `v` in decimal into `buf` without allocating (for async-signal-safe paths).
pub fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

/// Writes a static message and the errno, then exits the child.
fn child_fail(report: RawFd, msg: &[u8]) -> ! {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut digits = [0u8; 20];
    write_all_raw(report, b"error: ");
    write_all_raw(report, msg);
    write_all_raw(report, b" (errno ");
    write_all_raw(report, decimal(errno.unsigned_abs() as u64, &mut digits));
    write_all_raw(report, b")\n");
    // SAFETY: `_exit` ends the process without running any Rust code.
    unsafe { libc::_exit(127) }
}

/// The child side of `spawn`. Runs after `clone` in a copy of a single-threaded parent:
/// only raw syscalls, no allocation.
fn spawn_child(plan: &SpawnPlan, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> ! {
    use std::os::fd::AsRawFd;
    let report = plan.report_fd;
    for &fd in &plan.close_in_child {
        // SAFETY: closes a copy of a parent fd in this child.
        unsafe { libc::close(fd) };
    }
    for (fd, nstype) in &plan.join {
        // SAFETY: setns on an fd we own; it only changes this process's namespaces.
        if unsafe { libc::setns(fd.as_raw_fd(), *nstype) } != 0 {
            child_fail(report, b"joining a namespace (setns)");
        }
    }
    let mut b = 0u8;
    // SAFETY: reads one byte into a local.
    let n = unsafe { libc::read(plan.go.as_raw_fd(), (&mut b as *mut u8).cast(), 1) };
    if n != 1 || b != b'g' {
        // The parent gave up (or died): leave quietly.
        // SAFETY: ends the process.
        unsafe { libc::_exit(1) }
    }
    if plan.become_root {
        // SAFETY: credential changes of this single-threaded child; no memory is passed.
        let ok = unsafe {
            libc::setresgid(0, 0, 0) == 0
                && libc::setgroups(0, std::ptr::null()) == 0
                && libc::setresuid(0, 0, 0) == 0
        };
        if !ok {
            child_fail(report, b"becoming root of the user namespace");
        }
    }
    // Move every source out of the way first, so that a source that is also a target is
    // not overwritten before it is used.
    let mut moved = [(-1, -1); 8];
    for (slot, &(src, dst)) in moved.iter_mut().zip(&plan.fds) {
        // SAFETY: duplicates an fd; no memory is passed.
        let tmp = unsafe { libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 64) };
        if tmp < 0 {
            child_fail(report, b"duplicating an fd");
        }
        *slot = (tmp, dst);
    }
    for &(tmp, dst) in moved.iter().take(plan.fds.len()) {
        // SAFETY: dup2 onto a target fd; the result has close-on-exec cleared.
        if unsafe { libc::dup2(tmp, dst) } < 0 {
            child_fail(report, b"installing an fd (dup2)");
        }
    }
    // SAFETY: argv and envp are null-terminated arrays of pointers into CStrings that
    // live in `plan`; the empty path with AT_EMPTY_PATH executes `exe` itself.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            plan.exe.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    child_fail(
        if plan.fds.iter().any(|&(_, d)| d == 3) {
            3
        } else {
            report
        },
        b"executing runsc boot",
    )
}

/// Starts the sandbox process as `plan` says and returns its pid. The calling process must
/// be single-threaded (the child runs Rust code between `clone` and `exec`).
pub fn spawn(plan: &SpawnPlan) -> std::io::Result<nix::unistd::Pid> {
    if plan.fds.len() > 8 {
        return Err(std::io::Error::from_raw_os_error(libc::E2BIG));
    }
    let mut argv: Vec<*const libc::c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = plan.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let flags = (plan.clone_flags | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: a clone without CLONE_VM and with a null stack behaves like fork: the child
    // gets a copy of this (single-threaded) process and runs only `spawn_child`, which
    // never returns.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        spawn_child(plan, &argv, &envp);
    }
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(nix::unistd::Pid::from_raw(pid as i32))
}

/// The window size of a terminal fd (TIOCGWINSZ).
#[cfg(test)]
pub fn window_size(fd: RawFd) -> nix::Result<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the local we pass.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    nix::errno::Errno::result(r).map(|_| ws)
}

/// Takes ownership of an inherited fd if it is open.
///
/// # Safety
/// Nothing else in the process may own or use `fd`.
pub unsafe fn take_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only queries the fd's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // Not inherited further by anything this process starts.
    // SAFETY: sets the close-on-exec flag of an open fd.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: the fd is open and, by the caller's promise, owned by no one else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

// The new mount API (Linux 5.2; `mount_setattr` 5.12). The constants are the uapi's
// (`linux/mount.h`).
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
/// `struct mount_attr` (`linux/mount.h`).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn syscall_result(r: libc::c_long) -> std::io::Result<libc::c_long> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn c_path(path: &std::path::Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
}

/// A detached copy of the mount at `path` (`open_tree(OPEN_TREE_CLONE)`): a bind mount of
/// it attached nowhere yet, with the submounts beneath `path` when `recursive` (an
/// `rbind`). Symlinks in `path` are followed, as `mount --bind` follows them.
pub fn clone_tree(path: &std::path::Path, recursive: bool) -> std::io::Result<OwnedFd> {
    let p = c_path(path)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `p` is a valid C string; open_tree only reads it and returns a new fd.
    let fd = syscall_result(unsafe {
        libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, p.as_ptr(), flags)
    })?;
    // SAFETY: open_tree just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sets `MOUNT_ATTR_*` flags `set` on the mount `tree` refers to (and on its submounts
/// when `recursive`), with `mount_setattr`.
pub fn set_mount_attrs(
    tree: std::os::fd::BorrowedFd<'_>,
    set: u64,
    recursive: bool,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: `attr` is a `struct mount_attr` of the size passed, read by the kernel only;
    // the path is an empty C string.
    syscall_result(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Attaches the detached mount `tree` at `target` (`move_mount`).
pub fn attach_tree(
    tree: std::os::fd::BorrowedFd<'_>,
    target: &std::path::Path,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let t = c_path(target)?;
    // SAFETY: both paths are valid C strings, only read by the kernel.
    syscall_result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}
