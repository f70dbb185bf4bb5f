//! Thin wrappers over the host calls the ptrace platform makes. All `unsafe` of the
//! platform lives here.

use std::io;

pub(crate) use libc::user_regs_struct as Regs;

/// The result of a raw host call: `Ok(value)` or the host errno.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn ptrace(req: libc::c_uint, pid: i32, addr: usize, data: usize) -> io::Result<libc::c_long> {
    // SAFETY: ptrace requests used here either take plain integers or point at buffers
    // owned by the caller that are valid for the request's size (see each wrapper).
    let ret = unsafe {
        libc::ptrace(
            req,
            pid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    };
    check(ret)
}

pub(crate) fn seize(pid: i32, options: i32) -> io::Result<()> {
    ptrace(libc::PTRACE_SEIZE, pid, 0, options as usize).map(drop)
}

pub(crate) fn interrupt(pid: i32) -> io::Result<()> {
    ptrace(libc::PTRACE_INTERRUPT, pid, 0, 0).map(drop)
}

pub(crate) fn cont(pid: i32, sig: i32) -> io::Result<()> {
    ptrace(libc::PTRACE_CONT, pid, 0, sig as usize).map(drop)
}

pub(crate) fn sysemu(pid: i32, sig: i32) -> io::Result<()> {
    ptrace(libc::PTRACE_SYSEMU, pid, 0, sig as usize).map(drop)
}

pub(crate) fn get_regs(pid: i32) -> io::Result<Regs> {
    // SAFETY: user_regs_struct is plain integers; all-zero is a valid value.
    let mut regs: Regs = unsafe { std::mem::zeroed() };
    ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs as *mut _ as usize)?;
    Ok(regs)
}

pub(crate) fn set_regs(pid: i32, regs: &Regs) -> io::Result<()> {
    ptrace(libc::PTRACE_SETREGS, pid, 0, regs as *const _ as usize).map(drop)
}

/// The CPU time process `pid` has used (all its threads, live and exited), in ns: its
/// process CPU clock (`MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)`), which Linux lets any
/// process read. None once it is gone.
pub(crate) fn process_cpu_time(pid: i32) -> Option<u64> {
    const CPUCLOCK_SCHED: libc::clockid_t = 2;
    let clock = (!pid << 3) | CPUCLOCK_SCHED;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the valid pointer given.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    (r == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

pub(crate) fn get_siginfo(pid: i32) -> io::Result<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    ptrace(
        libc::PTRACE_GETSIGINFO,
        pid,
        0,
        &mut info as *mut _ as usize,
    )?;
    Ok(info)
}

const NT_X86_XSTATE: usize = 0x202;

/// Reads the tracee's whole XSAVE area into `buf`; returns how many bytes the host filled.
pub(crate) fn get_xstate(pid: i32, buf: &mut [u8]) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    ptrace(
        libc::PTRACE_GETREGSET,
        pid,
        NT_X86_XSTATE,
        &mut iov as *mut _ as usize,
    )?;
    Ok(iov.iov_len)
}

pub(crate) fn set_xstate(pid: i32, buf: &[u8]) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut _,
        iov_len: buf.len(),
    };
    ptrace(
        libc::PTRACE_SETREGSET,
        pid,
        NT_X86_XSTATE,
        &mut iov as *mut _ as usize,
    )
    .map(drop)
}

/// `PTRACE_GET_SYSCALL_INFO`: returns the audit arch of the syscall the tracee is stopped
/// at (AUDIT_ARCH_X86_64 or AUDIT_ARCH_I386 for `int $0x80`).
pub(crate) fn syscall_arch(pid: i32) -> io::Result<u32> {
    // struct ptrace_syscall_info { u8 op; u8 pad[3]; u32 arch; u64 ip; u64 sp; ... }
    let mut buf = [0u8; 88];
    ptrace(0x420e, pid, buf.len(), buf.as_mut_ptr() as usize)?;
    Ok(u32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]))
}

pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// `waitpid(pid, WNOHANG?|__WALL|__WNOTHREAD)`. Returns `None` when nothing is waiting.
/// Only the calling thread's children and tracees are waited for: every ptrace request
/// comes from the thread that forked and attached the stubs, and another sandbox's thread
/// in the same process (unit tests run several) keeps its own.
pub(crate) fn wait(pid: i32, nohang: bool) -> io::Result<Option<(i32, i32)>> {
    let mut status = 0;
    let flags =
        libc::__WALL | libc::__WNOTHREAD | libc::WUNTRACED | if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: status is a valid out-pointer.
        let ret = unsafe { libc::waitpid(pid, &mut status, flags) };
        if ret < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        return Ok(if ret == 0 { None } else { Some((ret, status)) });
    }
}

pub(crate) fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::kill(pid, sig) } as libc::c_long).map(drop)
}

/// A classic BPF instruction, as `struct sock_filter`.
pub(crate) type SockFilter = libc::sock_filter;

/// Forks the master stub. The child maps the trampoline page at `trampoline`, keeps only
/// the fds in `keep` open, detaches from the session, arranges to die with its parent, ignores
/// SIGCHLD (so stubs it forks are reaped), drops every capability (all five sets, so
/// nothing it or its clones do is privileged), sets no_new_privs, and stops itself. It
/// exits instead of stopping when any of that fails. Returns the child's pid. The seccomp
/// filter is installed later by injection.
pub(crate) fn fork_master_stub(trampoline: usize, keep: [i32; 2]) -> io::Result<i32> {
    // Reserve the trampoline's address in this process, once, so the child can map it
    // there (the child replaces the reservation; nothing of ours lives in it).
    static RESERVED: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let r = *RESERVED.get_or_init(|| {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        unsafe {
            libc::mmap(
                trampoline as *mut libc::c_void,
                4096,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            ) as usize
        }
    });
    if r != trampoline {
        return Err(io::Error::other(format!(
            "the stub trampoline address {trampoline:#x} is taken in the sentry"
        )));
    }
    // Everything the child needs is computed before fork: the child may only make raw
    // system calls (the parent may have other threads).
    let code: [u8; 4] = [0x0f, 0x05, 0xcc, 0xcc]; // syscall; int3; int3
    let cap_header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let no_caps = [CapData::default(); 2];
    // The fd ranges to close around the kept ones: [lo, hi] pairs.
    let (a, b) = (keep[0].min(keep[1]) as u32, keep[0].max(keep[1]) as u32);
    let mut close = [(1u32, 0u32); 3];
    if a > 0 {
        close[0] = (0, a - 1);
    }
    if b > a + 1 {
        close[1] = (a + 1, b - 1);
    }
    close[2] = (b + 1, u32::MAX);
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: fork has no memory-safety preconditions; the child below only makes
    // async-signal-safe raw system calls and never returns into Rust code of the parent.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(pid);
    }
    // Child.
    // SAFETY: raw system calls on plain values and on the freshly mapped page, which is
    // writable and 4096 bytes long; the child exits on any failure.
    unsafe {
        // glibc registered this thread's rseq area, which is about to be unmapped: the
        // kernel would fault on it at the next preemption.
        unregister_rseq();
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
        libc::setsid();
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = libc::SIG_IGN;
        libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut());
        let p = libc::mmap(
            trampoline as *mut libc::c_void,
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        );
        if p as usize != trampoline {
            libc::_exit(2);
        }
        std::ptr::copy_nonoverlapping(code.as_ptr(), p.cast::<u8>(), code.len());
        libc::mprotect(p, 4096, libc::PROT_READ | libc::PROT_EXEC);
        // Keep only the memory file (and the image, when it is shared).
        for (lo, hi) in close {
            if lo <= hi {
                libc::syscall(libc::SYS_close_range, lo, hi, 0);
            }
        }
        // No capability in any set: the bounding set first (that needs CAP_SETPCAP, which
        // goes with the rest), then the ambient set, then capset of all-zero sets.
        for cap in 0..64 {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        if libc::syscall(libc::SYS_capset, &cap_header, no_caps.as_ptr()) != 0
            || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
        {
            libc::_exit(4);
        }
        libc::kill(libc::getpid(), libc::SIGSTOP);
        // The parent seizes us while stopped and never lets execution reach here.
        libc::_exit(3);
    }
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct` (two of them for version 3).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The process-wide eventfd a SIGCHLD handler writes to (created, and the handler
/// installed, on first use). SIGCHLD is blocked on every thread that runs a sandbox's
/// event loop, which then reads it from its signalfd; a thread that does not block it
/// (a test harness's, say) may take it instead, and the handler turns that into a
/// wakeup of every event loop.
pub(crate) fn sigchld_eventfd() -> io::Result<i32> {
    use std::sync::atomic::{AtomicI32, Ordering};
    static FD: AtomicI32 = AtomicI32::new(-1);
    extern "C" fn on_sigchld(_: libc::c_int) {
        let fd = FD.load(Ordering::Relaxed);
        if fd >= 0 {
            let one = 1u64;
            // SAFETY: write(2) is async-signal-safe; `one` is valid for 8 bytes.
            unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        }
    }
    static INIT: std::sync::OnceLock<io::Result<i32>> = std::sync::OnceLock::new();
    let r = INIT.get_or_init(|| {
        // SAFETY: plain flags; the fd is kept for the life of the process.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        FD.store(fd, Ordering::Relaxed);
        // SAFETY: the handler only makes one async-signal-safe call.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_sigchld as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: sa is a valid sigaction; the old action is not needed.
        if unsafe { libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    });
    match r {
        Ok(fd) => Ok(*fd),
        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
    }
}

/// Empties an eventfd (non-blocking).
pub(crate) fn drain_eventfd(fd: i32) {
    let mut v = 0u64;
    // SAFETY: v is valid for 8 bytes.
    while unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) } == 8 {}
}

/// Writes a seccomp program into the memory of the calling process and returns the
/// address of its `sock_fprog`, for a stub forked later to install by injection. The
/// memory is leaked on purpose: forked stubs read it at the same address.
pub(crate) fn leak_filter(prog: Vec<SockFilter>) -> usize {
    let filter = Box::leak(prog.into_boxed_slice());
    let fprog = Box::new(libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    });
    Box::leak(fprog) as *const libc::sock_fprog as usize
}

pub(crate) fn memfd_create(name: &str) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let name = std::ffi::CString::new(name).expect("no nul in name");
    // SAFETY: name is a valid C string.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Where the sentry maps its memory file: far from the host's own mappings (the binary at
/// 0x55.., libraries and stacks at 0x7f..) and from the stub trampoline.
const MEMORY_FILE_BASE: usize = 0x1000_0000_0000;

/// Maps `len` bytes of `fd` shared and read-write into the sentry. The mapping is never
/// unmapped (it lives as long as the sandbox).
pub(crate) fn map_shared(fd: i32, len: usize) -> io::Result<*mut u8> {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; the new mapping
    // aliases no Rust object.
    let p = unsafe {
        libc::mmap(
            MEMORY_FILE_BASE as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE,
            fd,
            0,
        )
    };
    if p != libc::MAP_FAILED {
        return Ok(p.cast());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EEXIST) {
        return Err(e);
    }
    // A second memory file in this process (unit tests run several kernels): anywhere.
    // SAFETY: no fixed address, so nothing existing is replaced; the new mapping aliases
    // no Rust object.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_NORESERVE,
            fd,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

pub(crate) fn punch_hole(fd: i32, off: u64, len: u64) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    let r = unsafe {
        libc::fallocate(
            fd,
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            off as i64,
            len as i64,
        )
    };
    check(r as libc::c_long).map(drop)
}

/// Gives the `len` bytes of a shared file mapping at `at` their memory now, as a write
/// fault would (MADV_POPULATE_WRITE: the pages count as data, which pages fallocate
/// gives a shmem file do not until written).
pub(crate) fn populate_write(at: *mut u8, len: usize) -> io::Result<()> {
    populate(at, len, libc::MADV_POPULATE_WRITE)
}

/// Lowers the calling thread's scheduling priority to the least (nice 19: on Linux
/// `setpriority(PRIO_PROCESS, 0, ..)` is the calling thread's alone), so that the work it
/// does yields to every thread of normal priority: the guest's and the sentry's own.
pub(crate) fn lowest_priority() -> io::Result<()> {
    // SAFETY: no memory is passed.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    check(r as libc::c_long).map(drop)
}

fn populate(at: *mut u8, len: usize, advice: i32) -> io::Result<()> {
    // SAFETY: the caller's range is of a mapping it owns; the advice changes no byte.
    let r = unsafe { libc::madvise(at.cast(), len, advice) };
    check(r as libc::c_long).map(drop)
}

/// Replaces the sentry's mapping at `at` (`len` bytes, page-aligned) with `len` bytes of
/// `fd` from `off`, shared, with `prot`.
///
/// # Safety
/// `at..at + len` must be a part of a mapping the caller owns (the memory file's) that
/// no Rust reference points into.
pub(crate) unsafe fn remap_fixed(
    at: *mut u8,
    len: usize,
    prot: i32,
    fd: i32,
    off: u64,
) -> io::Result<()> {
    // SAFETY: the caller owns the replaced range.
    let p = unsafe {
        libc::mmap(
            at.cast(),
            len,
            prot,
            libc::MAP_SHARED | libc::MAP_NORESERVE | libc::MAP_FIXED,
            fd,
            off as i64,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the first page of `fd` can be mapped shared, readable and executable (a file on
/// a noexec mount cannot).
pub(crate) fn can_map_exec(fd: i32) -> io::Result<()> {
    // SAFETY: a fresh mapping at an address of the host's choosing, unmapped right away.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_SHARED,
            fd,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        libc::munmap(p, 4096);
    }
    Ok(())
}

/// Writes `len` bytes from `from` into `fd` at `off`.
///
/// # Safety
/// `from` must be readable for `len` bytes.
pub(crate) unsafe fn pwrite_all(fd: i32, from: *const u8, len: usize, off: u64) -> io::Result<()> {
    let mut done = 0;
    while done < len {
        // SAFETY: the caller guarantees the source range.
        let n = unsafe {
            libc::pwrite(
                fd,
                from.add(done).cast(),
                len - done,
                (off + done as u64) as i64,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        done += n as usize;
    }
    Ok(())
}

/// Copies `len` bytes between sentry addresses that may be concurrently written by guest
/// threads (guest memory is never borrowed as a Rust reference).
///
/// # Safety
/// `src` must be readable and `dst` writable for `len` bytes.
pub(crate) unsafe fn copy_raw(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller guarantees both ranges; they may overlap only if they are the
    // same memory-file pages, which `copy` handles.
    unsafe { std::ptr::copy(src, dst, len) }
}

/// poll(2) on the sentry's own fds; an interrupted call just returns.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> i32 {
    // SAFETY: fds is a valid slice of pollfd for its length.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) }
}

extern "C" {
    static __rseq_offset: isize;
    static __rseq_size: u32;
}

/// Unregisters the calling thread's rseq area (registered by glibc at thread start).
///
/// # Safety
/// Must run in a thread whose rseq area glibc registered (or none); makes raw syscalls only.
unsafe fn unregister_rseq() {
    let tp: usize;
    // SAFETY: on x86-64 glibc, %fs:0 holds the thread pointer itself.
    unsafe { std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly)) };
    // SAFETY: glibc (2.35+) defines both symbols.
    let (off, size) = unsafe { (__rseq_offset, __rseq_size) };
    if size == 0 {
        return;
    }
    let area = (tp as isize + off) as usize;
    for len in [32u32, size] {
        // SAFETY: unregistering takes the same area and length that were registered.
        let r = unsafe { libc::syscall(libc::SYS_rseq, area, len, 1, 0x5305_3053u32) };
        if r == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    /// The loader's priority is its thread's alone: the thread that asked is at nice 19,
    /// the one that started it as it was.
    #[test]
    fn lowest_priority_lowers_the_calling_thread_only() {
        fn nice() -> i32 {
            // SAFETY: getpriority takes no memory.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        }
        let before = nice();
        let theirs = std::thread::spawn(|| {
            super::lowest_priority().unwrap();
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(theirs, 19);
        assert_eq!(nice(), before);
    }
}
