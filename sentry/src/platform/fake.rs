//! A platform without host processes, for unit tests of the kernel and its system calls:
//! address spaces are tables of what was mapped where, threads are register files, and the
//! stops a test wants the kernel to see are scripted. Guest memory itself is the real
//! memory file (a memfd, which needs no privilege), so what a system call writes to guest
//! memory can be read back through the kernel's memory manager.
//!
//! Nothing here runs guest code: a test drives the kernel by calling a system call's
//! handler for a task, or by scripting `Event`s that `next_event` hands out.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;

use super::{AddressSpaceId, Event, GuestRange, Platform, Regs, GUEST_BOTTOM, GUEST_TOP};

/// One mapping of a fake address space: (end, protection, memory-file offset).
pub(crate) type FakeMapping = (u64, i32, u64);

#[derive(Default)]
struct Space {
    /// By start address.
    maps: BTreeMap<u64, FakeMapping>,
}

struct Thread {
    space: i32,
    regs: Regs,
    fpu: Vec<u8>,
    running: bool,
    /// CPU time used: each resume counts as a millisecond of guest code.
    cpu_ns: u64,
}

/// The fake platform. Ids of spaces and threads count up from 1000.
#[derive(Default)]
pub(crate) struct FakePlatform {
    spaces: HashMap<i32, Space>,
    threads: HashMap<i32, Thread>,
    next_id: i32,
    events: VecDeque<Event>,
    /// An image is shared (`share_image`).
    image: bool,
}

/// Marks, in a fake mapping's offset, a mapping of the shared image (at the offset
/// without this bit).
pub(crate) const FAKE_IMAGE: u64 = 1 << 63;

/// The registers of a fresh 64-bit user thread: zero, but for the user code and stack
/// segment selectors x86-64 Linux gives every thread.
fn zero_regs() -> Regs {
    // SAFETY: user_regs_struct is plain integers; all-zero is a valid value.
    let mut r: Regs = unsafe { std::mem::zeroed() };
    r.cs = 0x33;
    r.ss = 0x2b;
    r
}

impl FakePlatform {
    pub(crate) fn new() -> FakePlatform {
        FakePlatform {
            next_id: 1000,
            ..Default::default()
        }
    }

    fn id(&mut self) -> i32 {
        self.next_id += 1;
        self.next_id
    }

    /// The mappings of address space `a`, by start address.
    #[cfg(test)]
    pub(crate) fn mappings(&self, a: AddressSpaceId) -> Vec<(u64, FakeMapping)> {
        self.spaces
            .get(&a.0)
            .map(|s| s.maps.iter().map(|(&k, &v)| (k, v)).collect())
            .unwrap_or_default()
    }

    fn space(&mut self, a: AddressSpaceId) -> io::Result<&mut Space> {
        self.spaces
            .get_mut(&a.0)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
    }

    fn thread(&mut self, tid: i32) -> io::Result<&mut Thread> {
        self.threads
            .get_mut(&tid)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
    }

    /// Removes `[r.start, r.end)` from a space, splitting mappings that straddle it.
    fn cut(space: &mut Space, r: GuestRange) {
        let overlapping: Vec<(u64, FakeMapping)> = space
            .maps
            .range(..r.end())
            .filter(|(_, m)| m.0 > r.start())
            .map(|(&k, &v)| (k, v))
            .collect();
        for (start, (end, prot, off)) in overlapping {
            space.maps.remove(&start);
            if start < r.start() {
                space.maps.insert(start, (r.start(), prot, off));
            }
            if end > r.end() {
                space
                    .maps
                    .insert(r.end(), (end, prot, off + (r.end() - start)));
            }
        }
    }
}

/// The same second-line check the ptrace platform makes.
fn check(r: GuestRange) -> io::Result<()> {
    if r.start() < GUEST_BOTTOM || r.end() > GUEST_TOP {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    Ok(())
}

impl Platform for FakePlatform {
    fn new_address_space(&mut self) -> io::Result<AddressSpaceId> {
        let id = self.id();
        self.spaces.insert(id, Space::default());
        Ok(AddressSpaceId(id))
    }

    fn destroy_address_space(&mut self, a: AddressSpaceId) {
        self.spaces.remove(&a.0);
        self.threads.retain(|_, t| t.space != a.0);
    }

    fn new_thread(&mut self, a: AddressSpaceId) -> io::Result<i32> {
        self.space(a)?;
        let id = self.id();
        self.threads.insert(
            id,
            Thread {
                space: a.0,
                regs: zero_regs(),
                fpu: vec![0; 512],
                running: false,
                cpu_ns: 0,
            },
        );
        Ok(id)
    }

    fn destroy_thread(&mut self, _a: AddressSpaceId, tid: i32) {
        self.threads.remove(&tid);
    }

    fn map(&mut self, a: AddressSpaceId, r: GuestRange, prot: i32, offset: u64) -> io::Result<()> {
        check(r)?;
        let s = self.space(a)?;
        Self::cut(s, r);
        s.maps.insert(r.start(), (r.end(), prot, offset));
        Ok(())
    }

    fn map_image(
        &mut self,
        a: AddressSpaceId,
        r: GuestRange,
        prot: i32,
        offset: u64,
    ) -> io::Result<()> {
        if !self.image {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // As the host would: the image's fd is read-only.
        if prot & libc::PROT_WRITE != 0 {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        self.map(a, r, prot, offset | FAKE_IMAGE)
    }

    fn share_image(&mut self, _fd: i32) -> io::Result<()> {
        self.image = true;
        Ok(())
    }

    fn unmap(&mut self, a: AddressSpaceId, r: GuestRange) -> io::Result<()> {
        check(r)?;
        Self::cut(self.space(a)?, r);
        Ok(())
    }

    fn protect(&mut self, a: AddressSpaceId, r: GuestRange, prot: i32) -> io::Result<()> {
        check(r)?;
        let s = self.space(a)?;
        // As the host would: a mapping of the image (read-only fd) never becomes writable.
        if prot & libc::PROT_WRITE != 0
            && s.maps
                .range(..r.end())
                .any(|(_, m)| m.0 > r.start() && m.2 & FAKE_IMAGE != 0)
        {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        let pieces: Vec<(u64, FakeMapping)> = s
            .maps
            .range(..r.end())
            .filter(|(_, m)| m.0 > r.start())
            .map(|(&k, &v)| (k, v))
            .collect();
        Self::cut(s, r);
        for (start, (end, _, off)) in pieces {
            let (ns, ne) = (start.max(r.start()), end.min(r.end()));
            s.maps.insert(ns, (ne, prot, off + (ns - start)));
        }
        Ok(())
    }

    fn get_regs(&mut self, tid: i32) -> io::Result<Regs> {
        Ok(self.thread(tid)?.regs)
    }

    fn set_regs(&mut self, tid: i32, regs: &Regs) -> io::Result<()> {
        self.thread(tid)?.regs = *regs;
        Ok(())
    }

    fn get_fpu(&mut self, tid: i32) -> io::Result<Vec<u8>> {
        Ok(self.thread(tid)?.fpu.clone())
    }

    fn set_fpu(&mut self, tid: i32, fpu: &[u8]) -> io::Result<()> {
        self.thread(tid)?.fpu = fpu.to_vec();
        Ok(())
    }

    fn resume(&mut self, tid: i32) -> io::Result<()> {
        let t = self.thread(tid)?;
        t.running = true;
        t.cpu_ns += 1_000_000;
        Ok(())
    }

    fn cpu_time(&self, tid: i32) -> u64 {
        self.threads.get(&tid).map_or(0, |t| t.cpu_ns)
    }

    fn interrupt(&mut self, tid: i32) -> io::Result<()> {
        let t = self.thread(tid)?;
        if t.running {
            t.running = false;
            self.events.push_back(Event {
                tid,
                stop: super::Stop::Interrupted,
            });
        }
        Ok(())
    }

    fn next_event(&mut self) -> io::Result<Option<Event>> {
        let ev = self.events.pop_front();
        if let Some(e) = &ev {
            if let Some(t) = self.threads.get_mut(&e.tid) {
                t.running = false;
            }
        }
        Ok(ev)
    }

    fn host_pids(&self) -> Vec<i32> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_cut_and_reprotected_like_host_mappings() {
        let mut p = FakePlatform::new();
        let a = p.new_address_space().unwrap();
        let r = |s: u64, l: u64| GuestRange::new(s, l).unwrap();
        p.map(a, r(0x10000, 0x4000), 3, 0x1000).unwrap();
        p.unmap(a, r(0x11000, 0x1000)).unwrap();
        p.protect(a, r(0x12000, 0x1000), 1).unwrap();
        assert_eq!(
            p.mappings(a),
            vec![
                (0x10000, (0x11000, 3, 0x1000)),
                (0x12000, (0x13000, 1, 0x3000)),
                (0x13000, (0x14000, 3, 0x4000)),
            ]
        );
    }
}
