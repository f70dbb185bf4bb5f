//! Signals: sets, actions, siginfo, and x86-64 signal frames.

use crate::platform::Regs;

/// A set of signals 1..=64; bit `n-1` is signal `n`.
pub(crate) type SigSet = u64;

pub(crate) fn bit(sig: i32) -> SigSet {
    1u64 << (sig - 1)
}

/// Signals that can be neither caught, blocked nor ignored.
pub(crate) const UNBLOCKABLE: SigSet = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));

pub(crate) const SIG_DFL: u64 = 0;
pub(crate) const SIG_IGN: u64 = 1;

/// The kernel's `struct sigaction` on x86-64.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: SigSet,
}

impl SigAction {
    pub(crate) fn from_bytes(b: &[u8; 32]) -> Self {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8"));
        SigAction {
            handler: w(0),
            flags: w(1),
            restorer: w(2),
            mask: w(3),
        }
    }
    pub(crate) fn to_bytes(self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, w) in [self.handler, self.flags, self.restorer, self.mask]
            .iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }
}

pub(crate) const SA_ONSTACK: u64 = 0x0800_0000;
pub(crate) const SA_RESTART: u64 = 0x1000_0000;
pub(crate) const SA_NODEFER: u64 = 0x4000_0000;
pub(crate) const SA_RESETHAND: u64 = 0x8000_0000;
pub(crate) const SA_NOCLDSTOP: u64 = 1;
pub(crate) const SA_NOCLDWAIT: u64 = 2;

/// What a signal does by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Default {
    Terminate,
    Core,
    Stop,
    Continue,
    Ignore,
}

pub(crate) fn default_action(sig: i32) -> Default {
    match sig {
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH => Default::Ignore,
        libc::SIGCONT => Default::Continue,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => Default::Stop,
        libc::SIGQUIT
        | libc::SIGILL
        | libc::SIGTRAP
        | libc::SIGABRT
        | libc::SIGBUS
        | libc::SIGFPE
        | libc::SIGSEGV
        | libc::SIGXCPU
        | libc::SIGXFSZ
        | libc::SIGSYS => Default::Core,
        _ => Default::Terminate,
    }
}

/// A queued signal with its 128-byte siginfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SigInfo {
    pub signo: i32,
    pub code: i32,
    /// The union part of siginfo (bytes 16..128), as the guest sees it.
    pub fields: Vec<u8>,
    /// Sent by the fault path or by the runtime: delivered even to init.
    pub forced: bool,
    /// Queued by a POSIX timer of its process (`kernel::posix_timer`), whose id is the
    /// siginfo's si_timerid: taking it counts the timer's overruns in.
    pub timer: bool,
}

pub(crate) const SI_USER: i32 = 0;
pub(crate) const SI_KERNEL: i32 = 0x80;
pub(crate) const SI_TKILL: i32 = -6;
pub(crate) const SI_TIMER: i32 = -2;

impl SigInfo {
    pub(crate) fn new(signo: i32, code: i32) -> Self {
        SigInfo {
            signo,
            code,
            fields: vec![0; 112],
            forced: false,
            timer: false,
        }
    }

    /// si_timerid of a timer's signal.
    pub(crate) fn timer_id(&self) -> i32 {
        i32::from_le_bytes(self.fields[0..4].try_into().expect("4"))
    }

    /// A signal sent by process `pid` with user `uid` (kill, tkill).
    pub(crate) fn from_process(signo: i32, code: i32, pid: i32, uid: u32) -> Self {
        let mut s = Self::new(signo, code);
        s.fields[0..4].copy_from_slice(&pid.to_le_bytes());
        s.fields[4..8].copy_from_slice(&uid.to_le_bytes());
        s
    }

    /// A fault at `addr`.
    pub(crate) fn fault(signo: i32, code: i32, addr: u64) -> Self {
        let mut s = Self::new(signo, code);
        s.fields[0..8].copy_from_slice(&addr.to_le_bytes());
        s.forced = true;
        s
    }

    /// SIGCHLD for a child's state change.
    pub(crate) fn child(pid: i32, uid: u32, code: i32, status: i32) -> Self {
        let mut s = Self::from_process(libc::SIGCHLD, code, pid, uid);
        s.fields[8..12].copy_from_slice(&status.to_le_bytes());
        s
    }

    pub(crate) fn to_bytes(&self) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&self.signo.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        let n = self.fields.len().min(112);
        b[16..16 + n].copy_from_slice(&self.fields[..n]);
        b
    }
}

/// Size of `struct signalfd_siginfo`.
pub(crate) const SIGNALFD_SIGINFO_SIZE: usize = 128;

impl SigInfo {
    /// The `struct signalfd_siginfo` of a signal taken from a signalfd: the fields of its
    /// siginfo as Linux copies them for its kind (kill, timer, poll, fault, child, queued).
    pub(crate) fn signalfd_record(&self) -> [u8; SIGNALFD_SIGINFO_SIZE] {
        let info = self;
        let mut b = [0u8; SIGNALFD_SIGINFO_SIZE];
        let f = &info.fields;
        let u32_at = |o: usize| u32::from_le_bytes(f[o..o + 4].try_into().expect("4"));
        let u64_at = |o: usize| u64::from_le_bytes(f[o..o + 8].try_into().expect("8"));
        let put32 = |b: &mut [u8; SIGNALFD_SIGINFO_SIZE], off: usize, v: u32| {
            b[off..off + 4].copy_from_slice(&v.to_le_bytes())
        };
        put32(&mut b, 0, info.signo as u32);
        put32(&mut b, 8, info.code as u32);
        let put64 = |b: &mut [u8; SIGNALFD_SIGINFO_SIZE], off: usize, v: u64| {
            b[off..off + 8].copy_from_slice(&v.to_le_bytes())
        };
        const SI_SIGIO: i32 = -5;
        let kernel_code = info.code > 0 && info.code < 0x80;
        let fault = matches!(
            info.signo,
            libc::SIGILL | libc::SIGFPE | libc::SIGSEGV | libc::SIGBUS | libc::SIGTRAP
        );
        if kernel_code && fault {
            put64(&mut b, 72, u64_at(0)); // ssi_addr
        } else if kernel_code && info.signo == libc::SIGCHLD {
            put32(&mut b, 12, u32_at(0)); // ssi_pid
            put32(&mut b, 16, u32_at(4)); // ssi_uid
            put32(&mut b, 40, u32_at(8)); // ssi_status
            put64(&mut b, 56, u64_at(16)); // ssi_utime
            put64(&mut b, 64, u64_at(24)); // ssi_stime
        } else if kernel_code || info.code == SI_SIGIO {
            put32(&mut b, 28, u32_at(0)); // ssi_band
            put32(&mut b, 20, u32_at(8)); // ssi_fd
        } else if info.code == SI_TIMER {
            put32(&mut b, 24, u32_at(0)); // ssi_tid
            put32(&mut b, 32, u32_at(4)); // ssi_overrun
            put32(&mut b, 44, u32_at(8)); // ssi_int
            put64(&mut b, 48, u64_at(8)); // ssi_ptr
        } else {
            put32(&mut b, 12, u32_at(0)); // ssi_pid
            put32(&mut b, 16, u32_at(4)); // ssi_uid
            if info.code < 0 {
                put32(&mut b, 44, u32_at(8)); // ssi_int
                put64(&mut b, 48, u64_at(8)); // ssi_ptr
            }
        }
        b
    }
}

/// Size of `struct ucontext` up to and including `uc_sigmask` (8 + 8 + 24 + 256 + 8).
const UCONTEXT_SIZE: u64 = 304;
const SIGINFO_SIZE: u64 = 128;
const UC_FP_XSTATE: u64 = 1;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;

/// The bytes of a signal frame and where it goes.
pub(crate) struct Frame {
    pub addr: u64,
    pub bytes: Vec<u8>,
    pub info_addr: u64,
    pub uc_addr: u64,
}

fn put(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
fn get(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8"))
}

/// The sigcontext registers in kernel order (r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip).
fn gprs(r: &Regs) -> [u64; 17] {
    [
        r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx,
        r.rax, r.rcx, r.rsp, r.rip,
    ]
}

/// Builds an rt_sigframe below `sp` (already adjusted for the alternate stack and red zone).
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_frame(
    sp: u64,
    regs: &Regs,
    fpu: &[u8],
    info: &SigInfo,
    action: &SigAction,
    old_mask: SigSet,
    altstack: (u64, i32, u64),
) -> Frame {
    // fpstate (64-byte aligned), then the frame: pretcode, ucontext, siginfo.
    let fp_len = fpu.len() as u64 + 4; // + FP_XSTATE_MAGIC2
    let fp_addr = (sp - fp_len) & !63;
    let frame_len = 8 + UCONTEXT_SIZE + SIGINFO_SIZE;
    // At handler entry (rsp + 8) must be 16-byte aligned.
    let addr = ((fp_addr - frame_len) & !15) - 8;
    let total = (sp - addr) as usize;
    let mut b = vec![0u8; total];
    put(&mut b, 0, action.restorer);
    let uc = 8;
    put(&mut b, uc, UC_FP_XSTATE); // uc_flags
    put(&mut b, uc + 8, 0); // uc_link
    put(&mut b, uc + 16, altstack.0);
    b[uc + 24..uc + 28].copy_from_slice(&altstack.1.to_le_bytes());
    put(&mut b, uc + 32, altstack.2);
    let mc = uc + 40;
    for (i, v) in gprs(regs).iter().enumerate() {
        put(&mut b, mc + i * 8, *v);
    }
    put(&mut b, mc + 17 * 8, regs.eflags);
    // cs, gs, fs, ss as u16s.
    let seg = (regs.cs & 0xffff)
        | ((regs.gs & 0xffff) << 16)
        | ((regs.fs & 0xffff) << 32)
        | ((regs.ss & 0xffff) << 48);
    put(&mut b, mc + 18 * 8, seg);
    put(&mut b, mc + 19 * 8, 0); // err
    put(
        &mut b,
        mc + 20 * 8,
        if info.signo == libc::SIGSEGV { 14 } else { 0 },
    ); // trapno
    put(&mut b, mc + 21 * 8, old_mask); // oldmask
    let cr2 = if matches!(info.signo, libc::SIGSEGV | libc::SIGBUS) {
        get(&info.to_bytes(), 16)
    } else {
        0
    };
    put(&mut b, mc + 22 * 8, cr2);
    put(&mut b, mc + 23 * 8, fp_addr); // fpstate
    put(&mut b, uc + 40 + 256, old_mask); // uc_sigmask
    let info_off = 8 + UCONTEXT_SIZE as usize;
    b[info_off..info_off + 128].copy_from_slice(&info.to_bytes());
    // The XSAVE area, with the software-reserved bytes that mark it as extended.
    let fo = (fp_addr - addr) as usize;
    b[fo..fo + fpu.len()].copy_from_slice(fpu);
    if fpu.len() >= 512 {
        let sw = fo + 464;
        b[sw..sw + 4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
        b[sw + 4..sw + 8].copy_from_slice(&(fpu.len() as u32 + 4).to_le_bytes());
        let xfeatures = if fpu.len() >= 520 { get(fpu, 512) } else { 3 };
        b[sw + 8..sw + 16].copy_from_slice(&xfeatures.to_le_bytes());
        b[sw + 16..sw + 20].copy_from_slice(&(fpu.len() as u32).to_le_bytes());
        b[fo + fpu.len()..fo + fpu.len() + 4].copy_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
    }
    Frame {
        addr,
        bytes: b,
        info_addr: addr + info_off as u64,
        uc_addr: addr + 8,
    }
}

/// What rt_sigreturn reads back from a ucontext.
pub(crate) struct Restored {
    pub mask: SigSet,
    pub fp_addr: u64,
}

/// Restores registers from the ucontext bytes (`UCONTEXT_SIZE` of them) into `regs`.
/// Segment registers and privileged flags are not taken from the guest.
pub(crate) fn restore_frame(uc: &[u8], regs: &mut Regs) -> Restored {
    let mc = 40;
    let g: Vec<u64> = (0..17).map(|i| get(uc, mc + i * 8)).collect();
    regs.r8 = g[0];
    regs.r9 = g[1];
    regs.r10 = g[2];
    regs.r11 = g[3];
    regs.r12 = g[4];
    regs.r13 = g[5];
    regs.r14 = g[6];
    regs.r15 = g[7];
    regs.rdi = g[8];
    regs.rsi = g[9];
    regs.rbp = g[10];
    regs.rbx = g[11];
    regs.rdx = g[12];
    regs.rax = g[13];
    regs.rcx = g[14];
    regs.rsp = g[15];
    regs.rip = g[16];
    // Only the user-changeable flags (CF PF AF ZF SF TF DF OF AC).
    const USER_FLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x40000;
    let fl = get(uc, mc + 17 * 8);
    regs.eflags = (regs.eflags & !USER_FLAGS) | (fl & USER_FLAGS);
    regs.orig_rax = u64::MAX;
    Restored {
        mask: get(uc, 40 + 256),
        fp_addr: get(uc, mc + 23 * 8),
    }
}

pub(crate) const UCONTEXT_LEN: usize = UCONTEXT_SIZE as usize;

/// The saved form of a signal action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SigActionState {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: SigSet,
}

impl SigAction {
    pub(crate) fn save(&self) -> SigActionState {
        let SigAction {
            handler,
            flags,
            restorer,
            mask,
        } = *self;
        SigActionState {
            handler,
            flags,
            restorer,
            mask,
        }
    }

    pub(crate) fn restore(s: &SigActionState) -> SigAction {
        SigAction {
            handler: s.handler,
            flags: s.flags,
            restorer: s.restorer,
            mask: s.mask & !UNBLOCKABLE,
        }
    }
}

/// The saved form of a queued signal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SigInfoState {
    pub signo: i32,
    pub code: i32,
    /// Bytes 16..128 of the siginfo.
    pub fields: Vec<u8>,
    pub forced: bool,
    /// Queued by the POSIX timer its si_timerid names.
    pub timer: bool,
}

impl SigInfo {
    pub(crate) fn save(&self) -> SigInfoState {
        let SigInfo {
            signo,
            code,
            fields,
            forced,
            timer,
        } = self;
        SigInfoState {
            signo: *signo,
            code: *code,
            fields: fields.clone(),
            forced: *forced,
            timer: *timer,
        }
    }

    /// Restores a checked state (`validate` refuses a bad signal number or payload size).
    pub(crate) fn restore(s: &SigInfoState) -> SigInfo {
        let mut fields = s.fields.clone();
        fields.resize(112, 0);
        SigInfo {
            signo: s.signo,
            code: s.code,
            fields,
            forced: s.forced,
            timer: s.timer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_the_fields_of_each_kind_of_signal() {
        let kill = SigInfo::from_process(libc::SIGUSR1, 0, 42, 1000);
        let r = kill.signalfd_record();
        assert_eq!(r[0..4], (libc::SIGUSR1 as u32).to_le_bytes());
        assert_eq!(r[12..16], 42u32.to_le_bytes());
        assert_eq!(r[16..20], 1000u32.to_le_bytes());
        let mut queued = SigInfo::from_process(40, -1, 7, 0);
        queued.fields[8..16].copy_from_slice(&0x1234_5678_9abcu64.to_le_bytes());
        let r = queued.signalfd_record();
        assert_eq!(r[44..48], 0x5678_9abcu32.to_le_bytes());
        assert_eq!(r[48..56], 0x1234_5678_9abcu64.to_le_bytes());
        let child = SigInfo::child(9, 0, libc::CLD_EXITED, 3);
        let r = child.signalfd_record();
        assert_eq!(r[12..16], 9u32.to_le_bytes());
        assert_eq!(r[40..44], 3u32.to_le_bytes());
        let fault = SigInfo::fault(libc::SIGSEGV, 1, 0xdead);
        assert_eq!(fault.signalfd_record()[72..80], 0xdeadu64.to_le_bytes());
    }
}
