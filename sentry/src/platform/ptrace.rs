//! The ptrace platform: guest threads are threads of stub processes traced with
//! `PTRACE_SYSEMU`, so every system call they make stops here instead of reaching the host.
//!
//! Each address space is a stub process forked from the master stub. Its leader thread
//! stays stopped at the trampoline and serves injected system calls (mmap of memory-file
//! ranges and the like); guest threads are further threads of that process.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;

use super::cpubook::CpuBook;
use super::stub_filter;
use super::sys::{self, Regs};
use super::{AddressSpaceId, Event, GuestRange, Platform, Stop, GUEST_BOTTOM, GUEST_TOP};

/// Address of the stub trampoline page: `syscall; int3`.
const TRAMPOLINE: u64 = GUEST_TOP;

const PTRACE_EVENT_STOP: i32 = 128;

struct Stub {
    /// Threads running guest code (not the leader).
    threads: Vec<i32>,
}

pub(crate) struct Ptrace {
    /// SIGCHLD for this thread, which blocks it (stops of tracees whose SIGCHLD stays
    /// pending), and the process-wide SIGCHLD eventfd (for a SIGCHLD another thread took).
    sigchld: nix::sys::signalfd::SignalFd,
    wakeup: i32,
    master: i32,
    memfd: i32,
    /// The checkpoint image whose pages address spaces may map (read-only), once a
    /// restore shares them (`share_image`).
    image: Option<i32>,
    stubs: HashMap<i32, Stub>,
    /// A thread's stub process.
    owner: HashMap<i32, i32>,
    /// What each guest thread has used (read from its stub's clock, so also by `&self`).
    cpu: RefCell<CpuBook>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// The platform's own check of every range it maps, unmaps or protects (a second line
/// behind `GuestRange`): nothing below the guest range, nothing at or above the trampoline.
fn check_range(r: GuestRange) -> io::Result<()> {
    if r.start() < GUEST_BOTTOM || r.end() > TRAMPOLINE || r.start() >= r.end() {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    Ok(())
}

impl Ptrace {
    /// Forks and prepares the master stub. Must run before the process starts threads,
    /// on the thread that will make every later ptrace call.
    pub(crate) fn new(memfd: i32) -> io::Result<Self> {
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGCHLD);
        set.thread_block().map_err(io::Error::from)?;
        let sigchld = nix::sys::signalfd::SignalFd::with_flags(
            &set,
            nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        let wakeup = sys::sigchld_eventfd()?;
        let mut p = Ptrace {
            sigchld,
            wakeup,
            master: -1,
            memfd,
            image: None,
            stubs: HashMap::new(),
            owner: HashMap::new(),
            cpu: RefCell::default(),
        };
        p.master = p.spawn_master()?;
        Ok(p)
    }

    /// Forks a master stub keeping the memory file (and the image, if shared), seizes it
    /// and confines it.
    fn spawn_master(&mut self) -> io::Result<i32> {
        let filter = sys::leak_filter(stub_filter::program(TRAMPOLINE, self.memfd, self.image));
        let keep = [self.memfd, self.image.unwrap_or(self.memfd)];
        let master = sys::fork_master_stub(TRAMPOLINE as usize, keep)?;
        // Wait for it to stop itself, then seize it.
        match sys::wait(master, false)? {
            Some((_, status)) if libc::WIFSTOPPED(status) => {}
            other => return Err(invalid(format!("master stub did not stop: {other:?}"))),
        }
        let opts = libc::PTRACE_O_EXITKILL
            | libc::PTRACE_O_TRACESYSGOOD
            | libc::PTRACE_O_TRACECLONE
            | libc::PTRACE_O_TRACEFORK;
        sys::seize(master, opts)?;
        Self::wait_stop(master)?;
        // The stub dropped every capability and set no_new_privs before it stopped; from
        // here on it can make only the calls the sentry injects (see `stub_filter`).
        self.inject_ok(
            master,
            libc::SYS_seccomp,
            [1 /* SET_MODE_FILTER */, 0, filter as u64, 0, 0, 0],
        )?;
        // Empty the address space but for the trampoline page.
        self.inject_ok(master, libc::SYS_munmap, [0, TRAMPOLINE, 0, 0, 0, 0])?;
        let top = 0x7fff_ffff_f000u64;
        self.inject_ok(
            master,
            libc::SYS_munmap,
            [TRAMPOLINE + 4096, top - TRAMPOLINE - 4096, 0, 0, 0, 0],
        )?;
        Ok(master)
    }

    /// Waits until `tid` is in a ptrace stop (any kind), resuming it past signals that
    /// are not ours to see. Returns the raw wait status.
    fn wait_stop(tid: i32) -> io::Result<i32> {
        match sys::wait(tid, false)? {
            Some((_, status)) if libc::WIFSTOPPED(status) => Ok(status),
            Some((_, status)) => Err(invalid(format!("stub {tid} ended (status {status:#x})"))),
            None => Err(invalid(format!("stub {tid} did not stop"))),
        }
    }

    /// Runs one host system call in stopped thread `tid` from the trampoline, and
    /// returns its raw result. The thread's registers are preserved.
    fn inject(&mut self, tid: i32, nr: i64, args: [u64; 6]) -> io::Result<i64> {
        let saved = sys::get_regs(tid)?;
        let mut regs = saved;
        regs.rip = TRAMPOLINE;
        regs.rax = nr as u64;
        regs.orig_rax = u64::MAX;
        regs.rdi = args[0];
        regs.rsi = args[1];
        regs.rdx = args[2];
        regs.r10 = args[3];
        regs.r8 = args[4];
        regs.r9 = args[5];
        sys::set_regs(tid, &regs)?;
        sys::cont(tid, 0)?;
        loop {
            let status = Self::wait_stop(tid)?;
            let sig = libc::WSTOPSIG(status);
            let event = status >> 16;
            if event == 0 && sig == libc::SIGTRAP {
                break;
            }
            if event == 0 && sig != libc::SIGSTOP {
                return Err(invalid(format!(
                    "injected syscall {nr} in {tid} got signal {sig}"
                )));
            }
            // A fork/clone event or the child's stop: let it go on to the int3.
            sys::cont(tid, 0)?;
        }
        let out = sys::get_regs(tid)?;
        sys::set_regs(tid, &saved)?;
        Ok(out.rax as i64)
    }

    fn inject_ok(&mut self, tid: i32, nr: i64, args: [u64; 6]) -> io::Result<i64> {
        let r = self.inject(tid, nr, args)?;
        if (-4095..0).contains(&r) {
            return Err(io::Error::from_raw_os_error(-r as i32));
        }
        Ok(r)
    }

    /// Brings the CPU book up to date with `stub`'s clock.
    fn sample_cpu(&self, stub: i32) {
        if let Some(clock) = sys::process_cpu_time(stub) {
            self.cpu.borrow_mut().sample(stub, clock);
        }
    }

    /// Counts what a guest thread ran until its stop.
    fn stopped(&mut self, tid: i32) {
        let stub = self.cpu.get_mut().stub_of(tid);
        if let Some(stub) = stub {
            self.sample_cpu(stub);
        }
        self.cpu.get_mut().set_running(tid, false);
    }

    /// Injects a clone into `parent` and returns the new, stopped child.
    fn clone_in(&mut self, parent: i32, flags: u64) -> io::Result<i32> {
        let child = self.inject_ok(parent, libc::SYS_clone, [flags, 0, 0, 0, 0, 0])? as i32;
        // The auto-attached child starts with a stop of its own.
        Self::wait_stop(child)?;
        Ok(child)
    }
}

impl Platform for Ptrace {
    fn new_address_space(&mut self) -> io::Result<AddressSpaceId> {
        let pid = self.clone_in(self.master, stub_filter::CLONE_ADDRESS_SPACE)?;
        self.stubs.insert(
            pid,
            Stub {
                threads: Vec::new(),
            },
        );
        let clock = sys::process_cpu_time(pid).unwrap_or(0);
        self.cpu.get_mut().add_stub(pid, clock);
        Ok(AddressSpaceId(pid))
    }

    fn destroy_address_space(&mut self, a: AddressSpaceId) {
        self.cpu.get_mut().remove_stub(a.0);
        if let Some(stub) = self.stubs.remove(&a.0) {
            let _ = sys::kill(a.0, libc::SIGKILL);
            // Reap the threads, then the leader (which is reapable only after them).
            for t in stub.threads {
                self.owner.remove(&t);
                while let Ok(Some((_, st))) = sys::wait(t, false) {
                    if !libc::WIFSTOPPED(st) {
                        break;
                    }
                }
            }
            while let Ok(Some((_, st))) = sys::wait(a.0, false) {
                if !libc::WIFSTOPPED(st) {
                    break;
                }
            }
        }
    }

    fn new_thread(&mut self, a: AddressSpaceId) -> io::Result<i32> {
        let tid = self.clone_in(a.0, stub_filter::CLONE_THREAD_FLAGS)?;
        self.stubs
            .get_mut(&a.0)
            .expect("known stub")
            .threads
            .push(tid);
        self.owner.insert(tid, a.0);
        self.cpu.get_mut().add_thread(a.0, tid);
        Ok(tid)
    }

    fn destroy_thread(&mut self, a: AddressSpaceId, tid: i32) {
        if let Some(stub) = self.stubs.get_mut(&a.0) {
            stub.threads.retain(|&t| t != tid);
        }
        self.owner.remove(&tid);
        self.cpu.get_mut().remove_thread(tid);
        // The thread is stopped: make it call exit(0) and reap it.
        let mut regs = match sys::get_regs(tid) {
            Ok(r) => r,
            Err(_) => return,
        };
        regs.rip = TRAMPOLINE;
        regs.rax = libc::SYS_exit as u64;
        regs.orig_rax = u64::MAX;
        regs.rdi = 0;
        if sys::set_regs(tid, &regs).is_ok() && sys::cont(tid, 0).is_ok() {
            loop {
                match sys::wait(tid, false) {
                    Ok(Some((_, st))) if libc::WIFSTOPPED(st) => {
                        let _ = sys::cont(tid, 0);
                    }
                    _ => break,
                }
            }
        }
    }

    fn map(&mut self, a: AddressSpaceId, r: GuestRange, prot: i32, offset: u64) -> io::Result<()> {
        check_range(r)?;
        self.inject_ok(
            a.0,
            libc::SYS_mmap,
            [
                r.start(),
                r.len(),
                prot as u64,
                stub_filter::MMAP_FLAGS,
                self.memfd as u64,
                offset,
            ],
        )
        .map(drop)
    }

    fn map_image(
        &mut self,
        a: AddressSpaceId,
        r: GuestRange,
        prot: i32,
        offset: u64,
    ) -> io::Result<()> {
        check_range(r)?;
        let fd = self
            .image
            .ok_or_else(|| invalid("no image is shared".into()))?;
        // The fd is read-only: the host refuses PROT_WRITE on this shared mapping, now
        // and at any later mprotect.
        self.inject_ok(
            a.0,
            libc::SYS_mmap,
            [
                r.start(),
                r.len(),
                (prot & !libc::PROT_WRITE) as u64,
                stub_filter::MMAP_FLAGS,
                fd as u64,
                offset,
            ],
        )
        .map(drop)
    }

    fn share_image(&mut self, fd: i32) -> io::Result<()> {
        if !self.stubs.is_empty() || self.image.is_some() {
            return Err(invalid(
                "the image can be shared only before any address space exists".into(),
            ));
        }
        // Address spaces are forks of the master stub, which keeps only the fds it had
        // when it was forked: a new master, with the image's fd too, replaces it.
        self.image = Some(fd);
        let old = self.master;
        match self.spawn_master() {
            Ok(m) => self.master = m,
            Err(e) => {
                self.image = None;
                return Err(e);
            }
        }
        let _ = sys::kill(old, libc::SIGKILL);
        while let Ok(Some((_, st))) = sys::wait(old, false) {
            if !libc::WIFSTOPPED(st) {
                break;
            }
        }
        Ok(())
    }

    fn unmap(&mut self, a: AddressSpaceId, r: GuestRange) -> io::Result<()> {
        check_range(r)?;
        self.inject_ok(a.0, libc::SYS_munmap, [r.start(), r.len(), 0, 0, 0, 0])
            .map(drop)
    }

    fn protect(&mut self, a: AddressSpaceId, r: GuestRange, prot: i32) -> io::Result<()> {
        check_range(r)?;
        self.inject_ok(
            a.0,
            libc::SYS_mprotect,
            [r.start(), r.len(), prot as u64, 0, 0, 0],
        )
        .map(drop)
    }

    fn get_regs(&mut self, tid: i32) -> io::Result<Regs> {
        sys::get_regs(tid)
    }

    fn set_regs(&mut self, tid: i32, regs: &Regs) -> io::Result<()> {
        sys::set_regs(tid, regs)
    }

    fn get_fpu(&mut self, tid: i32) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 16384];
        let n = sys::get_xstate(tid, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn set_fpu(&mut self, tid: i32, fpu: &[u8]) -> io::Result<()> {
        sys::set_xstate(tid, fpu)
    }

    fn resume(&mut self, tid: i32) -> io::Result<()> {
        // What its stub used so far was its running siblings'. (With none running, the
        // leader's work since the last reading was made for this thread's stop: it
        // counts at its next stop.)
        let book = self.cpu.get_mut();
        if let Some(stub) = book.stub_of(tid).filter(|_| book.others_running(tid)) {
            self.sample_cpu(stub);
        }
        sys::sysemu(tid, 0)?;
        self.cpu.get_mut().set_running(tid, true);
        Ok(())
    }

    fn interrupt(&mut self, tid: i32) -> io::Result<()> {
        sys::interrupt(tid)
    }

    fn cpu_time(&self, tid: i32) -> u64 {
        let stub = self.cpu.borrow().stub_of(tid);
        if let Some(stub) = stub {
            self.sample_cpu(stub);
        }
        self.cpu.borrow().used(tid)
    }

    fn next_event(&mut self) -> io::Result<Option<Event>> {
        loop {
            let (tid, status) = match sys::wait(-1, true) {
                Ok(Some(x)) => x,
                Ok(None) => return Ok(None),
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(None),
                Err(e) => return Err(e),
            };
            if !libc::WIFSTOPPED(status) {
                self.stopped(tid);
                if self.owner.remove(&tid).is_some() || self.stubs.contains_key(&tid) {
                    return Ok(Some(Event {
                        tid,
                        stop: Stop::Gone,
                    }));
                }
                continue; // a thread of a stub we already destroyed
            }
            let sig = libc::WSTOPSIG(status);
            let event = status >> 16;
            if !self.owner.contains_key(&tid) {
                // A leader or a dying thread: leave it stopped.
                continue;
            }
            let stop = if sig == (libc::SIGTRAP | 0x80) {
                match sys::syscall_arch(tid) {
                    Ok(sys::AUDIT_ARCH_X86_64) => Stop::Syscall,
                    Ok(_) => Stop::Syscall32,
                    Err(_) => Stop::Syscall,
                }
            } else if event == PTRACE_EVENT_STOP {
                Stop::Interrupted
            } else if event != 0 {
                // Some other ptrace event; keep the thread going.
                sys::sysemu(tid, 0)?;
                continue;
            } else {
                let info = sys::get_siginfo(tid)?;
                // SAFETY: si_addr is valid to read for any siginfo (it is a union read of plain data).
                let addr = unsafe { info.si_addr() } as u64;
                Stop::Signal {
                    signo: info.si_signo,
                    code: info.si_code,
                    addr,
                }
            };
            self.stopped(tid);
            return Ok(Some(Event { tid, stop }));
        }
    }

    fn host_pids(&self) -> Vec<i32> {
        let mut v = vec![self.master];
        v.extend(self.stubs.keys().copied());
        v
    }

    fn wakeup_fds(&self) -> Vec<i32> {
        use std::os::fd::AsRawFd;
        vec![self.sigchld.as_raw_fd(), self.wakeup]
    }

    fn clear_wakeups(&mut self) {
        while let Ok(Some(_)) = self.sigchld.read_signal() {}
        sys::drain_eventfd(self.wakeup);
    }
}

impl Drop for Ptrace {
    fn drop(&mut self) {
        let stubs: Vec<i32> = self.stubs.keys().copied().collect();
        for s in stubs {
            self.destroy_address_space(AddressSpaceId(s));
        }
        let _ = sys::kill(self.master, libc::SIGKILL);
        let _ = sys::wait(self.master, false);
    }
}
