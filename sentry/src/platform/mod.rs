//! How guest code runs. The kernel drives guest threads through the [`Platform`] trait:
//! resume a thread, learn (without blocking) which thread stopped and why, and manage
//! address spaces whose memory is ranges of the sentry's memory file.

pub mod ptrace;
pub mod sys;

pub use sys::Regs;

/// Highest guest address (exclusive). The stub trampoline page sits right above it.
pub const GUEST_TOP: u64 = 0x7e00_0000_0000;

/// Why a guest thread stopped.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// At a system call (the registers hold its number and arguments).
    Syscall,
    /// A 32-bit (`int $0x80`) system call, which the sandbox refuses.
    Syscall32,
    /// A synchronous fault or host signal: (signo, si_code, si_addr).
    Signal { signo: i32, code: i32, addr: u64 },
    /// Stopped on request (`interrupt`).
    Interrupted,
    /// The host thread is gone: exit code or killing signal.
    Gone,
}

/// An event from the platform: which host thread stopped, and why.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub tid: i32,
    pub stop: Stop,
}

/// A host address space holding guest mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressSpaceId(pub i32);

/// What the kernel needs from a platform.
pub trait Platform {
    /// A new, empty address space.
    fn new_address_space(&mut self) -> std::io::Result<AddressSpaceId>;
    /// Ends an address space and every thread in it.
    fn destroy_address_space(&mut self, a: AddressSpaceId);
    /// A new host thread that will run guest code in `a`; it starts stopped.
    fn new_thread(&mut self, a: AddressSpaceId) -> std::io::Result<i32>;
    /// Ends one host thread.
    fn destroy_thread(&mut self, a: AddressSpaceId, tid: i32);
    /// Maps `len` bytes of the memory file at `offset` to `addr` in `a` (replacing what was there).
    fn map(
        &mut self,
        a: AddressSpaceId,
        addr: u64,
        len: u64,
        prot: i32,
        offset: u64,
    ) -> std::io::Result<()>;
    fn unmap(&mut self, a: AddressSpaceId, addr: u64, len: u64) -> std::io::Result<()>;
    fn protect(&mut self, a: AddressSpaceId, addr: u64, len: u64, prot: i32)
        -> std::io::Result<()>;
    fn get_regs(&mut self, tid: i32) -> std::io::Result<Regs>;
    fn set_regs(&mut self, tid: i32, regs: &Regs) -> std::io::Result<()>;
    /// The thread's whole XSAVE area.
    fn get_fpu(&mut self, tid: i32) -> std::io::Result<Vec<u8>>;
    fn set_fpu(&mut self, tid: i32, fpu: &[u8]) -> std::io::Result<()>;
    /// Lets a stopped thread run guest code until its next stop.
    fn resume(&mut self, tid: i32) -> std::io::Result<()>;
    /// Asks a running thread to stop; an `Interrupted` event follows.
    fn interrupt(&mut self, tid: i32) -> std::io::Result<()>;
    /// The next pending event, if any; never blocks.
    fn next_event(&mut self) -> std::io::Result<Option<Event>>;
    /// Host pids of the sandbox's stub processes.
    fn host_pids(&self) -> Vec<i32>;
}
