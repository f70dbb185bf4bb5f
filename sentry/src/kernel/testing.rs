//! The kernel's side of unit-test support (`crate::testing`): processes that exist without
//! a program, a direct way to make a system call as one of them, and looks at what tests
//! check that no system call shows.

use super::{default_rlimits, Kernel, Sys, Task};
use crate::creds::{CapSets, Creds};
use crate::fs::file::FdTable;
use crate::testing::{SCRATCH, SCRATCH_LEN};

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

    /// A new thread of task `tid`'s process, made by clone(2) as pthread_create does
    /// (without a stack or TLS of its own). Returns its tid.
    pub(crate) fn test_thread(&mut self, tid: i32) -> i32 {
        let flags = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        self.call(tid, libc::SYS_clone, [flags, 0, 0, 0, 0, 0])
            .expect("clone returns") as i32
    }

    /// Makes system call `nr` as task `tid` and returns what the guest would see in rax
    /// (a parked call returns `None`; the task stays as the handler left it).
    pub(crate) fn call(&mut self, tid: i32, nr: i64, args: [u64; 6]) -> Option<i64> {
        let out = self.dispatch(tid, nr as u64, args);
        if let (Sys::Ret(_) | Sys::Regs, Some(t)) = (&out, self.tasks.get_mut(&tid)) {
            // What the event loop does when a call ends.
            t.end_call();
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

    /// Task `tid`.
    pub(crate) fn task(&self, tid: i32) -> &Task {
        &self.tasks[&tid]
    }

    /// Whether task `tid` exists.
    pub(crate) fn task_exists(&self, tid: i32) -> bool {
        self.tasks.contains_key(&tid)
    }

    /// Gives task `tid` the fd table `files` (a restored one).
    pub(crate) fn set_files(
        &mut self,
        tid: i32,
        files: std::rc::Rc<std::cell::RefCell<crate::fs::file::FdTable>>,
    ) {
        self.task_mut(tid).files = files;
    }

    /// Registers the restored sockets in `tid`'s fd table as a restore does.
    pub(crate) fn register_restored_sockets(&mut self, tid: i32) {
        let files: Vec<_> = self
            .task(tid)
            .files
            .borrow()
            .fds
            .values()
            .map(|e| e.file.clone())
            .collect();
        crate::net::inet::register_restored(files.iter().cloned());
        crate::net::netlink::register_restored(files.into_iter());
    }

    /// Runs `f` (a restore of files) as a restore into this kernel does: its sockets find
    /// this kernel's network namespaces.
    pub(crate) fn restoring<T>(&self, f: impl FnOnce() -> T) -> T {
        crate::net::ns::while_restoring(&self.net_namespaces(), f)
    }

    /// Task `tid`'s network namespace.
    pub(crate) fn task_net(&self, tid: i32) -> crate::net::ns::NetRef {
        self.task(tid).net.clone()
    }

    /// Task `tid`'s user namespace.
    pub(crate) fn task_userns(&self, tid: i32) -> crate::creds::UserNsRef {
        self.task(tid).creds.userns.clone()
    }

    /// The sandbox's hostname.
    pub(crate) fn hostname(&self) -> String {
        String::from_utf8_lossy(&self.uts.borrow().hostname).into_owned()
    }

    /// The system calls logged as unimplemented, in number order.
    pub(crate) fn logged_unimplemented(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.logged.iter().copied().collect();
        v.sort_unstable();
        v
    }
}
