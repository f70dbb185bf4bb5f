//! The raw host calls of `boot` that have no safe wrapper: signal handlers, `fork`/`clone`
//! of the sandbox process and `exec`. Every `unsafe` of the crate is here.

use std::sync::atomic::{AtomicUsize, Ordering};

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
