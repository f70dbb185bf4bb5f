//! Support for unit tests of the kernel and its system calls, without root or host
//! processes: a kernel on the fake platform, processes that exist without a program, and a
//! direct way to make a system call as one of them.

use crate::creds::{CapSets, Creds};
use crate::fs::file::FdTable;
use crate::kernel::{default_rlimits, Kernel, Sys};
use crate::mm::MemoryFile;
use crate::platform::fake::FakePlatform;
use crate::SandboxConfig;

/// Where a test process has memory to pass buffers in (read-write, 1 MiB).
pub(crate) const SCRATCH: u64 = 0x10_0000;
pub(crate) const SCRATCH_LEN: u64 = 1 << 20;

/// A kernel on the fake platform whose root file system is the host directory `root`
/// (read-write), with the sentry's /proc and /dev and a /tmp tmpfs.
pub(crate) fn kernel(root: &std::path::Path) -> Kernel {
    let mut config = SandboxConfig::host_root(vec!["/none".into()], "test");
    config.root = root.to_path_buf();
    config.root_readonly = false;
    let mf = MemoryFile::new().expect("memory file");
    Kernel::with_platform(
        &config,
        &crate::syscalls::SYSCALLS,
        mf,
        Box::new(FakePlatform::new()),
    )
    .expect("kernel")
}

impl Kernel {
    /// A process running as `uid`/`gid` with Linux's default capabilities for the uid, no
    /// open files, cwd `/`, and the scratch memory mapped. Returns its pid.
    pub(crate) fn test_process(&mut self, uid: u32, gid: u32) -> i32 {
        let creds = Creds::new(uid, gid, vec![], CapSets::default_for(uid), false);
        let pid = self
            .new_process(&creds, &default_rlimits(), "/", FdTable::new())
            .expect("process");
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        self.with_mm(pid, |mm, cx| {
            mm.map_anon(cx, SCRATCH, SCRATCH_LEN, prot, false, true, "")
        })
        .expect("scratch memory");
        pid
    }

    /// Makes system call `nr` as task `tid` and returns what the guest would see in rax
    /// (a parked call returns `None`; the task stays as the handler left it).
    pub(crate) fn call(&mut self, tid: i32, nr: i64, args: [u64; 6]) -> Option<i64> {
        let out = self.dispatch(tid, nr as u64, args);
        if let (Sys::Ret(_) | Sys::Regs, Some(t)) = (&out, self.tasks.get_mut(&tid)) {
            // What the event loop does when a call ends.
            t.sys_deadline = None;
            t.sys_progress = 0;
        }
        match out {
            Sys::Ret(v) => Some(v),
            Sys::Regs | Sys::Gone => Some(self.tasks.get(&tid).map_or(0, |t| t.regs.rax as i64)),
            Sys::Park(_) => None,
        }
    }

    /// Writes `bytes` into the task's memory at `addr` (a test's input buffer).
    pub(crate) fn put(&mut self, tid: i32, addr: u64, bytes: &[u8]) {
        self.write_mem(tid, addr, bytes).expect("guest memory");
    }

    /// Reads `len` bytes of the task's memory at `addr`.
    pub(crate) fn get(&self, tid: i32, addr: u64, len: usize) -> Vec<u8> {
        self.read_mem(tid, addr, len).expect("guest memory")
    }

    /// Writes a NUL-terminated string at `addr` and returns `addr`.
    pub(crate) fn put_str(&mut self, tid: i32, addr: u64, s: &str) -> u64 {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(tid, addr, &b);
        addr
    }
}
