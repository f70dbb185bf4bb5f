//! The seccomp filter of every stub process.
//!
//! Guest system calls never reach it: under `PTRACE_SYSEMU` the ptrace stop comes first and
//! the call is skipped. What does reach it is (a) the host system calls the sentry injects
//! into a stub, all from the trampoline's `syscall` instruction, and (b) anything else a
//! stub thread might execute: a call through the legacy vsyscall page (emulated by the host
//! without a ptrace stop), or — if a guest ever got its own bytes onto the trampoline —
//! whatever that code tries. So the filter admits only the exact calls the sentry injects,
//! with their arguments pinned where the sentry always passes the same values, and only
//! from the trampoline:
//!
//! | call | admitted when |
//! | --- | --- |
//! | `mmap` | the fd is the memory file (or, after a restore sharing its image, the image file, opened read-only so that no mapping of it can ever be writable), flags are `MAP_SHARED|MAP_FIXED`, the address lies in the guest range |
//! | `munmap`, `mprotect` | always (the stub's own address space) |
//! | `clone` | flags are exactly those of a new address space or of a new guest thread |
//! | `exit` | always (ending one guest thread) |
//!
//! A call from anywhere but the trampoline traps (`SIGSYS`, which the sentry turns into the
//! guest's `SIGSEGV`); any other call from the trampoline, or a non-x86-64 one, kills the
//! stub outright.

use super::sys::SockFilter;
use super::{GUEST_BOTTOM, GUEST_TOP};

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

pub(super) const RET_ALLOW: u32 = 0x7fff_0000;
pub(super) const RET_TRAP: u32 = 0x0003_0000;
pub(super) const RET_KILL_PROCESS: u32 = 0x8000_0000;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_IP: u32 = 8;
const fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}
const fn off_arg_hi(i: u32) -> u32 {
    20 + 8 * i
}

/// Clone flags of a new address space (a fork of the master stub).
pub(super) const CLONE_ADDRESS_SPACE: u64 = libc::SIGCHLD as u64;
/// Clone flags of a new guest thread in a stub.
pub(super) const CLONE_THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM) as u64;
/// The only mmap flags the sentry injects.
pub(super) const MMAP_FLAGS: u64 = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;

/// A jump target in the program being built.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    Allow,
    Trap,
    Kill,
    Mmap,
    /// An mmap's fd is admitted: its address is checked next.
    MmapAddr,
    Clone,
    /// The next instruction.
    Next,
}

enum Insn {
    Load(u32),
    /// Jump to `t` when the accumulator == k, else to `f`.
    Eq(u32, Label, Label),
    /// Jump to `t` when the accumulator >= k, else to `f`.
    Ge(u32, Label, Label),
    Ret(u32),
    Mark(Label),
}

fn assemble(prog: &[Insn]) -> Vec<SockFilter> {
    // Where each label lands, in emitted instructions.
    let mut at = Vec::new();
    let mut n = 0usize;
    for i in prog {
        match i {
            Insn::Mark(l) => at.push((*l, n)),
            _ => n += 1,
        }
    }
    let target = |l: Label, pc: usize| -> u8 {
        let to = if l == Label::Next {
            pc + 1
        } else {
            at.iter()
                .find(|(x, _)| *x == l)
                .map(|&(_, p)| p)
                .expect("label defined")
        };
        u8::try_from(to - pc - 1).expect("short jump")
    };
    let mut out = Vec::new();
    for i in prog {
        let pc = out.len();
        let f = |code, jt, jf, k| SockFilter { code, jt, jf, k };
        match *i {
            Insn::Load(off) => out.push(f(LD_W_ABS, 0, 0, off)),
            Insn::Eq(k, t, e) => out.push(f(JEQ_K, target(t, pc), target(e, pc), k)),
            Insn::Ge(k, t, e) => out.push(f(JGE_K, target(t, pc), target(e, pc), k)),
            Insn::Ret(k) => out.push(f(RET_K, 0, 0, k)),
            Insn::Mark(_) => {}
        }
    }
    out
}

/// Requires the 64-bit argument `i` to equal `v` (else kill).
fn arg_eq(i: u32, v: u64, prog: &mut Vec<Insn>) {
    use Label::*;
    prog.push(Insn::Load(off_arg_lo(i)));
    prog.push(Insn::Eq(v as u32, Next, Kill));
    prog.push(Insn::Load(off_arg_hi(i)));
    prog.push(Insn::Eq((v >> 32) as u32, Next, Kill));
}

/// The filter, for a stub whose trampoline `syscall` instruction is at `trampoline`,
/// whose memory file is fd `memfd` and whose checkpoint image (a read-only fd, after a
/// restore that shares its pages) is `image`.
pub(super) fn program(trampoline: u64, memfd: i32, image: Option<i32>) -> Vec<SockFilter> {
    use Insn::*;
    use Label::*;
    let ip = trampoline + 2; // the address after the 2-byte `syscall`
    let mut p = vec![
        Load(OFF_ARCH),
        Eq(AUDIT_ARCH_X86_64, Next, Kill),
        Load(OFF_IP),
        Eq(ip as u32, Next, Trap),
        Load(OFF_IP + 4),
        Eq((ip >> 32) as u32, Next, Trap),
        Load(OFF_NR),
        Eq(libc::SYS_mmap as u32, Mmap, Next),
        Eq(libc::SYS_munmap as u32, Allow, Next),
        Eq(libc::SYS_mprotect as u32, Allow, Next),
        Eq(libc::SYS_clone as u32, Clone, Next),
        Eq(libc::SYS_exit as u32, Allow, Kill),
        Mark(Mmap),
    ];
    arg_eq(3, MMAP_FLAGS, &mut p);
    // The fd: the memory file, or the image.
    p.extend([
        Load(off_arg_hi(4)),
        Eq(0, Next, Kill),
        Load(off_arg_lo(4)),
        Eq(memfd as u32, MmapAddr, Next),
        Eq(image.unwrap_or(memfd) as u32, MmapAddr, Kill),
        Mark(MmapAddr),
    ]);
    // GUEST_BOTTOM <= addr < GUEST_TOP: the high word below GUEST_TOP's, and when it is
    // zero, the low word at least GUEST_BOTTOM.
    p.extend([
        Load(off_arg_hi(0)),
        Ge((GUEST_TOP >> 32) as u32, Kill, Next),
        Eq(0, Next, Allow),
        Load(off_arg_lo(0)),
        Ge(GUEST_BOTTOM as u32, Allow, Kill),
        Mark(Clone),
        Load(off_arg_hi(0)),
        Eq(0, Next, Kill),
        Load(off_arg_lo(0)),
        Eq(CLONE_ADDRESS_SPACE as u32, Allow, Next),
        Eq(CLONE_THREAD_FLAGS as u32, Allow, Kill),
        Mark(Allow),
        Ret(RET_ALLOW),
        Mark(Trap),
        Ret(RET_TRAP),
        Mark(Kill),
        Ret(RET_KILL_PROCESS),
    ]);
    assemble(&p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRAMP: u64 = GUEST_TOP;
    const MEMFD: i32 = 5;

    /// A classic-BPF interpreter for the instructions the filter uses.
    fn run(prog: &[SockFilter], nr: i64, arch: u32, ip: u64, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend_from_slice(&(nr as u32).to_le_bytes());
        data.extend_from_slice(&arch.to_le_bytes());
        data.extend_from_slice(&ip.to_le_bytes());
        for a in args {
            data.extend_from_slice(&a.to_le_bytes());
        }
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => {
                    let k = i.k as usize;
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                JEQ_K => pc += if acc == i.k { i.jt } else { i.jf } as usize,
                JGE_K => pc += if acc >= i.k { i.jt } else { i.jf } as usize,
                RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn call(nr: i64, args: [u64; 6]) -> u32 {
        run(
            &program(TRAMP, MEMFD, None),
            nr,
            AUDIT_ARCH_X86_64,
            TRAMP + 2,
            args,
        )
    }

    #[test]
    fn the_injected_calls_are_allowed() {
        let mmap = [0x40_0000, 4096, 7, MMAP_FLAGS, MEMFD as u64, 0];
        assert_eq!(call(libc::SYS_mmap, mmap), RET_ALLOW);
        assert_eq!(call(libc::SYS_munmap, [0, TRAMP, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            call(libc::SYS_mprotect, [0x40_0000, 4096, 1, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            call(libc::SYS_clone, [CLONE_ADDRESS_SPACE, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            call(libc::SYS_clone, [CLONE_THREAD_FLAGS, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(call(libc::SYS_exit, [0; 6]), RET_ALLOW);
    }

    #[test]
    fn anything_else_from_the_trampoline_kills_the_stub() {
        for nr in [
            libc::SYS_execve,
            libc::SYS_open,
            libc::SYS_openat,
            libc::SYS_ptrace,
            libc::SYS_kill,
            libc::SYS_prctl,
            libc::SYS_seccomp,
            libc::SYS_mremap,
            libc::SYS_clone3,
            libc::SYS_fork,
            libc::SYS_vfork,
            0x4000_0000 | libc::SYS_mmap, // x32
        ] {
            assert_eq!(call(nr, [0; 6]), RET_KILL_PROCESS, "syscall {nr:#x}");
        }
        // A 32-bit call from the trampoline.
        let p = program(TRAMP, MEMFD, None);
        assert_eq!(run(&p, 9, 0x4000_0003, TRAMP + 2, [0; 6]), RET_KILL_PROCESS);
    }

    #[test]
    fn pinned_arguments_are_enforced() {
        let ok = [0x40_0000, 4096, 7, MMAP_FLAGS, MEMFD as u64, 0];
        let mut other_fd = ok;
        other_fd[4] = 3;
        let mut private = ok;
        private[3] = (libc::MAP_PRIVATE | libc::MAP_FIXED) as u64;
        let mut fd_high = ok;
        fd_high[4] = (1 << 32) | MEMFD as u64;
        let mut at_trampoline = ok;
        at_trampoline[0] = TRAMP;
        let mut page_zero = ok;
        page_zero[0] = 0;
        let mut below_bottom = ok;
        below_bottom[0] = GUEST_BOTTOM - 4096;
        let mut high = ok;
        high[0] = 0xffff_ffff_ff60_0000;
        for (what, args) in [
            ("another fd", other_fd),
            ("MAP_PRIVATE", private),
            ("fd with high bits", fd_high),
            ("the trampoline", at_trampoline),
            ("page 0", page_zero),
            ("below the guest range", below_bottom),
            ("a kernel address", high),
        ] {
            assert_eq!(call(libc::SYS_mmap, args), RET_KILL_PROCESS, "{what}");
        }
        let top_page = [GUEST_TOP - 4096, 4096, 3, MMAP_FLAGS, MEMFD as u64, 0];
        assert_eq!(call(libc::SYS_mmap, top_page), RET_ALLOW);
        for flags in [
            CLONE_THREAD_FLAGS | libc::CLONE_UNTRACED as u64,
            libc::CLONE_VM as u64 | libc::SIGCHLD as u64,
            CLONE_ADDRESS_SPACE | (1 << 32),
            libc::CLONE_NEWUSER as u64,
        ] {
            assert_eq!(
                call(libc::SYS_clone, [flags, 0, 0, 0, 0, 0]),
                RET_KILL_PROCESS,
                "clone flags {flags:#x}"
            );
        }
    }

    #[test]
    fn the_image_fd_is_admitted_only_once_the_image_is_shared() {
        const IMAGE: i32 = 9;
        let map = |fd: i32| [0x40_0000, 4096, 5, MMAP_FLAGS, fd as u64, 0];
        let shared = program(TRAMP, MEMFD, Some(IMAGE));
        let at =
            |p: &[SockFilter], args| run(p, libc::SYS_mmap, AUDIT_ARCH_X86_64, TRAMP + 2, args);
        assert_eq!(at(&shared, map(IMAGE)), RET_ALLOW);
        assert_eq!(at(&shared, map(MEMFD)), RET_ALLOW);
        assert_eq!(at(&shared, map(IMAGE + 1)), RET_KILL_PROCESS);
        let mut private = map(IMAGE);
        private[3] = (libc::MAP_PRIVATE | libc::MAP_FIXED) as u64;
        assert_eq!(at(&shared, private), RET_KILL_PROCESS);
        let mut low = map(IMAGE);
        low[0] = 0;
        assert_eq!(at(&shared, low), RET_KILL_PROCESS);
        // Without an image, its fd number is nothing.
        assert_eq!(
            at(&program(TRAMP, MEMFD, None), map(IMAGE)),
            RET_KILL_PROCESS
        );
    }

    #[test]
    fn calls_from_elsewhere_trap() {
        let p = program(TRAMP, MEMFD, None);
        // The vsyscall page, the guest's own code, the trampoline's high word alone.
        for ip in [
            0xffff_ffff_ff60_0009,
            0x40_1000,
            TRAMP + 2 + (1 << 32),
            TRAMP,
        ] {
            assert_eq!(
                run(&p, libc::SYS_getpid, AUDIT_ARCH_X86_64, ip, [0; 6]),
                RET_TRAP
            );
            assert_eq!(
                run(&p, libc::SYS_mmap, AUDIT_ARCH_X86_64, ip, [0; 6]),
                RET_TRAP
            );
        }
    }
}
