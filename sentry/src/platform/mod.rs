//! How guest code runs. The kernel drives guest threads through the [`Platform`] trait:
//! resume a thread, learn (without blocking) which thread stopped and why, and manage
//! address spaces whose memory is ranges of the sentry's memory file.

#[doc(hidden)]
mod cpubook;
pub(crate) mod fake;
pub(crate) mod ptrace;
mod stub_filter;
pub(crate) mod sys;

pub(crate) use sys::Regs;

/// Highest guest address (exclusive). The stub trampoline page sits right above it.
pub const GUEST_TOP: u64 = 0x7e00_0000_0000;
/// Lowest guest address (Linux's default `vm.mmap_min_addr`): page 0 and everything below
/// this are never mapped, so a guest NULL dereference always faults.
pub(crate) const GUEST_BOTTOM: u64 = 0x10000;
/// Guest page size.
pub(crate) const PAGE_SIZE: u64 = 4096;

/// A non-empty, page-aligned range of guest addresses inside `[GUEST_BOTTOM, GUEST_TOP)`.
/// Every address range the memory manager hands to the platform is one: it is the only
/// way to name guest memory to `map`, `unmap` and `protect`, and it cannot be built for a
/// range that touches page 0, the stub trampoline or anything above the guest range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestRange {
    start: u64,
    end: u64,
}

/// Why a range is not a [`GuestRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// Not page-aligned, or empty.
    Unaligned,
    /// Starts below `GUEST_BOTTOM`.
    BelowBottom,
    /// Ends above `GUEST_TOP` (or wraps around).
    AboveTop,
}

impl GuestRange {
    /// `[start, start + len)`, checked.
    pub fn new(start: u64, len: u64) -> Result<GuestRange, RangeError> {
        if len == 0 || !start.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(RangeError::Unaligned);
        }
        if start < GUEST_BOTTOM {
            return Err(RangeError::BelowBottom);
        }
        match start.checked_add(len) {
            Some(end) if end <= GUEST_TOP => Ok(GuestRange { start, end }),
            _ => Err(RangeError::AboveTop),
        }
    }

    /// `[start, end)`, checked.
    pub fn bounds(start: u64, end: u64) -> Result<GuestRange, RangeError> {
        if end <= start {
            return Err(RangeError::Unaligned);
        }
        GuestRange::new(start, end - start)
    }

    pub fn start(self) -> u64 {
        self.start
    }

    pub fn end(self) -> u64 {
        self.end
    }

    /// Never zero: a `GuestRange` is not empty by construction.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> u64 {
        self.end - self.start
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(self, other: GuestRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl From<RangeError> for std::io::Error {
    fn from(e: RangeError) -> std::io::Error {
        std::io::Error::other(format!("not a guest address range: {e:?}"))
    }
}

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
    /// Maps `r.len()` bytes of the memory file at `offset` to `r` in `a` (replacing what
    /// was there). Implementations refuse, as a second line behind the memory manager, a
    /// range outside the guest range even though `GuestRange` already guarantees it.
    fn map(
        &mut self,
        a: AddressSpaceId,
        r: GuestRange,
        prot: i32,
        offset: u64,
    ) -> std::io::Result<()>;
    /// Maps `r.len()` bytes of the shared checkpoint image (`share_image`) at file offset
    /// `offset` to `r` in `a`, never writable (a write to such memory faults into the
    /// kernel, which first gives the page a copy in the memory file).
    fn map_image(
        &mut self,
        a: AddressSpaceId,
        r: GuestRange,
        prot: i32,
        offset: u64,
    ) -> std::io::Result<()>;
    /// Lets address spaces made from now on map pages of the checkpoint image open
    /// (read-only) as `fd`. Only before any address space exists (a restore).
    fn share_image(&mut self, fd: i32) -> std::io::Result<()>;
    fn unmap(&mut self, a: AddressSpaceId, r: GuestRange) -> std::io::Result<()>;
    fn protect(&mut self, a: AddressSpaceId, r: GuestRange, prot: i32) -> std::io::Result<()>;
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
    /// The CPU time host thread `tid` has used since it was made, in ns (0 when the
    /// host cannot say).
    fn cpu_time(&self, tid: i32) -> u64;
    /// Fds that become readable when a thread may have stopped (the event loop polls
    /// them; `next_event` then says which).
    fn wakeup_fds(&self) -> Vec<i32> {
        Vec::new()
    }
    /// Consumes what made the wakeup fds readable.
    fn clear_wakeups(&mut self) {}
}
