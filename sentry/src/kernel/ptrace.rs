//! ptrace(2) for guests, emulated inside the sentry as Linux does it (the ptrace(2) man
//! page): a guest thread traces other guest threads; nothing of it reaches the host's
//! ptrace, which the sentry uses on its stubs.
//!
//! A tracee has an entry in `Kernel::tracees` (by tid) naming its tracer thread. It stops
//! (`RunState::TraceStopped`) where Linux stops a tracee: before a signal is delivered
//! (every signal but SIGKILL), in a group stop, at the events its options ask for
//! (PTRACE_EVENT_EXEC, the SIGTRAP after execve without it), and at system call entry and
//! exit under PTRACE_SYSCALL. The tracer's wait reports each stop once (WIFSTOPPED,
//! whatever the kind options) and the exit of a traced process before its real parent
//! sees it; the tracer resumes it with PTRACE_CONT, PTRACE_SYSCALL or PTRACE_DETACH,
//! injecting or suppressing the stopped signal. A tracer thread's exit detaches its
//! tracees (or kills them, PTRACE_O_EXITKILL).
//!
//!
//! Children are followed as Linux does: with PTRACE_O_TRACEFORK, TRACEVFORK or TRACECLONE
//! (or CLONE_PTRACE) a tracee's new child is traced by the same tracer with the same
//! options and stops first (SIGSTOP, or PTRACE_EVENT_STOP when seized), its parent stops
//! at the event (then at PTRACE_EVENT_VFORK_DONE) with the child's pid as the event
//! message. A seized tracee at a PTRACE_EVENT_STOP may listen (PTRACE_LISTEN) until SIGCONT
//! or PTRACE_INTERRUPT; PTRACE_SINGLESTEP runs it with the trap flag.
//!
//! A traced thread other than its process's leader is reported to its tracer when it
//! exits (by its tid, with its exit status, or its process's once the process has ended).
//!
//! Not done: hardware breakpoints, PTRACE_EVENT_SECCOMP (no seccomp filters), and
//! PTRACE_EVENT_EXIT of an exit other than the thread's own exit or exit_group call.

use super::exit::ChildEvent;
use super::signal::{self, SigInfo};
use super::task::{RunState, WaitKey, WaitStatus};
use super::{Kernel, Sys};
use crate::mm::Errno;

const TRACEME: i64 = 0;
const PEEKTEXT: i64 = 1;
const PEEKDATA: i64 = 2;
const PEEKUSER: i64 = 3;
const POKETEXT: i64 = 4;
const POKEDATA: i64 = 5;
const POKEUSER: i64 = 6;
const CONT: i64 = 7;
const KILL: i64 = 8;
const SINGLESTEP: i64 = 9;
const GETREGS: i64 = 12;
const SETREGS: i64 = 13;
const GETFPREGS: i64 = 14;
const ATTACH: i64 = 16;
const DETACH: i64 = 17;
const SYSCALL: i64 = 24;
const SETOPTIONS: i64 = 0x4200;
const GETEVENTMSG: i64 = 0x4201;
const GETSIGINFO: i64 = 0x4202;
const SETSIGINFO: i64 = 0x4203;
const GETREGSET: i64 = 0x4204;
const SEIZE: i64 = 0x4206;
const INTERRUPT: i64 = 0x4207;
const LISTEN: i64 = 0x4208;
const GET_SYSCALL_INFO: i64 = 0x420e;

pub(crate) const O_TRACESYSGOOD: u32 = 1;
const O_TRACEFORK: u32 = 2;
const O_TRACEVFORK: u32 = 4;
const O_TRACECLONE: u32 = 8;
pub(crate) const O_TRACEEXEC: u32 = 0x10;
const O_TRACEVFORKDONE: u32 = 0x20;
pub(crate) const O_TRACEEXIT: u32 = 0x40;
pub(crate) const O_EXITKILL: u32 = 0x10_0000;
/// The options PTRACE_SETOPTIONS and PTRACE_SEIZE take: Linux's PTRACE_O_MASK but
/// PTRACE_O_SUSPEND_SECCOMP, which needs CAP_SYS_ADMIN and a seccomp filter.
/// PTRACE_O_TRACESECCOMP (0x80) is taken and has no effect: the sandbox has no seccomp
/// filters (seccomp(2) is ENOSYS), so no PTRACE_EVENT_SECCOMP stop ever comes.
const O_MASK: u32 = 0xff | O_EXITKILL;

const EVENT_FORK: i32 = 1;
const EVENT_VFORK: i32 = 2;
const EVENT_CLONE: i32 = 3;
pub(crate) const EVENT_EXEC: i32 = 4;
const EVENT_VFORK_DONE: i32 = 5;
pub(crate) const EVENT_EXIT: i32 = 6;
pub(crate) const EVENT_STOP: i32 = 128;
/// The events a saved tracee may be stopped at or have due (PTRACE_EVENT_SECCOMP never
/// comes).
const EVENTS: [i32; 7] = [
    EVENT_FORK,
    EVENT_VFORK,
    EVENT_CLONE,
    EVENT_EXEC,
    EVENT_VFORK_DONE,
    EVENT_EXIT,
    EVENT_STOP,
];
/// PTRACE_GETEVENTMSG at a system call entry and exit stop (Linux 5.3's
/// PTRACE_EVENTMSG_SYSCALL_ENTRY and _EXIT).
const MSG_SYSCALL_ENTRY: u64 = 1;
const MSG_SYSCALL_EXIT: u64 = 2;
/// What a system call interrupted to restart shows at its exit stop (Linux's
/// kernel-internal errnos).
const ERESTARTSYS: i64 = 512;
const ERESTARTNOHAND: i64 = 514;
const ERESTART_RESTARTBLOCK: i64 = 516;
/// AUDIT_ARCH_X86_64, PTRACE_GET_SYSCALL_INFO's `arch`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// `struct user`'s size and where its debug registers are (PEEKUSER reads them as 0).
const USER_LEN: u64 = 912;
const DEBUGREG: u64 = 848;
/// EFLAGS.TF: PTRACE_SINGLESTEP's trap after one instruction.
const TRAP_FLAG: u64 = 0x100;
/// The si_code of the SIGTRAP of a single step over a system call.
const TRAP_BRKPT: i32 = 1;
/// The general registers, as `struct user_regs_struct`: 27 words.
const REGS_LEN: usize = 27 * 8;
/// `struct user_fpregs_struct` (the FXSAVE area).
const FPREGS_LEN: usize = 512;
const NT_PRSTATUS: u64 = 1;
const NT_PRFPREG: u64 = 2;

/// Where a tracee is stopped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TraceStop {
    /// Before delivering this signal (the tracer may change or suppress it).
    Signal(SigInfo),
    /// A group stop by this signal.
    Group(i32),
    /// A PTRACE_EVENT_* stop; `then_exit`: a system call's exit stop comes next.
    Event {
        event: i32,
        then_exit: bool,
    },
    /// At system call entry (the call is served when resumed) and exit.
    SyscallEnter,
    SyscallExit,
}

/// A traced thread.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tracee {
    /// The tracing thread.
    pub tracer: i32,
    /// Attached with PTRACE_SEIZE.
    pub seized: bool,
    pub options: u32,
    /// The ptrace-stop it is in (it is `TraceStopped`).
    pub stop: Option<TraceStop>,
    /// The tracer's wait has reported the stop.
    pub reported: bool,
    /// The signal to deliver when it runs on (the tracer's choice at a signal stop).
    pub inject: Option<SigInfo>,
    /// An event stop due next (PTRACE_EVENT_EXEC, PTRACE_INTERRUPT's).
    pub event: Option<i32>,
    /// PTRACE_GETEVENTMSG's value.
    pub event_msg: u64,
    /// Resumed with PTRACE_SYSCALL: stops at the next system call entry or exit.
    pub syscalls: bool,
    /// Stopped at PTRACE_EVENT_EXIT of exit (false) or exit_group (true) with this code:
    /// the exit goes on when it is resumed.
    pub exiting: Option<(i32, bool)>,
    /// PTRACE_LISTEN: still stopped (`stop` is its PTRACE_EVENT_STOP), but not in a
    /// ptrace-stop until SIGCONT or PTRACE_INTERRUPT traps it again.
    pub listening: bool,
    /// Resumed with PTRACE_SINGLESTEP: it runs with the trap flag, which its next stop
    /// (the trap's SIGTRAP, or any other) clears.
    pub stepping: bool,
    /// A traced thread other than its process's leader has exited with this status, from
    /// this process: its tracer's wait reports it once (its process's status if the
    /// process has ended as a whole by then, as Linux's group exit code).
    pub exited: Option<(WaitStatus, i32)>,
}

impl Tracee {
    fn new(tracer: i32, seized: bool, options: u32) -> Tracee {
        Tracee {
            tracer,
            seized,
            options,
            stop: None,
            reported: false,
            inject: None,
            event: None,
            event_msg: 0,
            syscalls: false,
            exiting: None,
            listening: false,
            stepping: false,
            exited: None,
        }
    }

    /// The wait status word of its stop.
    fn status(&self) -> i32 {
        let sig = match &self.stop {
            Some(TraceStop::Signal(i)) => i.signo,
            Some(TraceStop::Group(s)) if self.seized => s | EVENT_STOP << 8,
            Some(TraceStop::Group(s)) => *s,
            Some(TraceStop::Event { event, .. }) => libc::SIGTRAP | event << 8,
            Some(TraceStop::SyscallEnter | TraceStop::SyscallExit) => self.syscall_sig(),
            None => 0,
        };
        (sig << 8) | 0x7f
    }

    fn syscall_sig(&self) -> i32 {
        if self.options & O_TRACESYSGOOD != 0 {
            libc::SIGTRAP | 0x80
        } else {
            libc::SIGTRAP
        }
    }
}

impl Kernel {
    /// The tracee entry of live thread `tid`, if it is traced.
    fn traced(&self, tid: i32) -> Option<&Tracee> {
        self.tracees
            .get(&tid)
            .filter(|_| self.tasks.contains_key(&tid))
    }

    /// Whether a thread of process `pid` is traced (its ignored signals still stop it).
    pub(crate) fn group_traced(&self, pid: i32) -> bool {
        self.tracees
            .keys()
            .any(|t| self.tasks.get(t).is_some_and(|t| t.tgid == pid))
    }

    /// The tracer of thread `tid` (0: none), as /proc/PID/status shows it: its process.
    pub(crate) fn tracer_pid(&self, tid: i32) -> i32 {
        self.traced(tid)
            .and_then(|e| self.tasks.get(&e.tracer))
            .map_or(0, |t| t.tgid)
    }

    /// Puts task `tid` (stopped, being served) in a ptrace-stop and tells its tracer.
    fn trace_stop(&mut self, tid: i32, stop: TraceStop) {
        let e = self.tracees.get_mut(&tid).expect("tracee");
        match stop {
            TraceStop::SyscallEnter => e.event_msg = MSG_SYSCALL_ENTRY,
            TraceStop::SyscallExit => e.event_msg = MSG_SYSCALL_EXIT,
            _ => {}
        }
        e.stop = Some(stop);
        e.reported = false;
        e.listening = false;
        if std::mem::take(&mut e.stepping) {
            self.task_mut(tid).regs.eflags &= !TRAP_FLAG;
        }
        let e = &self.tracees[&tid];
        let (tracer, status) = (e.tracer, e.status() >> 8);
        self.task_mut(tid).state = RunState::TraceStopped;
        let Some(tracer_pid) = self.tasks.get(&tracer).map(|t| t.tgid) else {
            return;
        };
        let act = self.tasks[&tracer].sighand.borrow()[(libc::SIGCHLD - 1) as usize];
        if act.flags & signal::SA_NOCLDSTOP == 0 {
            let uid = self.creds(tid).uid;
            let info = SigInfo::child(tid, uid, libc::CLD_TRAPPED, status & 0xff);
            self.signal_group(tracer_pid, info);
        }
        self.notify(&WaitKey::Child(tracer_pid));
    }

    /// Delivery of `info` to traced task `tid` stops it first (signal-delivery-stop).
    /// Returns whether it stopped.
    pub(crate) fn ptrace_signal_stop(&mut self, tid: i32, info: &SigInfo) -> bool {
        if info.signo == libc::SIGKILL || self.traced(tid).is_none() {
            return false;
        }
        self.trace_stop(tid, TraceStop::Signal(info.clone()));
        true
    }

    /// A group stop by `sig` of traced task `tid` is a ptrace-stop its tracer sees.
    /// Returns whether it stopped.
    pub(crate) fn ptrace_group_stop(&mut self, tid: i32, sig: i32) -> bool {
        if self.traced(tid).is_none() {
            return false;
        }
        self.trace_stop(tid, TraceStop::Group(sig));
        true
    }

    /// The signal the tracer chose for traced task `tid` to get now, if any.
    pub(crate) fn take_injected(&mut self, tid: i32) -> Option<SigInfo> {
        self.tracees.get_mut(&tid)?.inject.take()
    }

    /// An event stop due for traced task `tid` is entered. Returns whether it stopped.
    pub(crate) fn ptrace_event_stop(&mut self, tid: i32, then_exit: bool) -> bool {
        let Some(e) = self.tracees.get_mut(&tid) else {
            return false;
        };
        let Some(event) = e.event.take() else {
            return false;
        };
        self.trace_stop(tid, TraceStop::Event { event, then_exit });
        true
    }

    /// Task `tid` stopped at a system call's entry: a tracee resumed with PTRACE_SYSCALL
    /// stops there (rax -ENOSYS, as Linux shows it). Returns whether it stopped.
    pub(crate) fn ptrace_syscall_enter(&mut self, tid: i32) -> bool {
        if !self.traced(tid).is_some_and(|e| e.syscalls) {
            return false;
        }
        self.task_mut(tid).regs.rax = (-libc::ENOSYS) as i64 as u64;
        self.trace_stop(tid, TraceStop::SyscallEnter);
        true
    }

    /// Task `tid` ended a system call (its result in rax): an event due stops it (the
    /// exec one), then, under PTRACE_SYSCALL, the exit stop. Returns whether it stopped.
    pub(crate) fn ptrace_syscall_exit(&mut self, tid: i32) -> bool {
        let Some(e) = self.traced(tid) else {
            return false;
        };
        let syscalls = e.syscalls;
        if e.stepping {
            // Single-stepped over the system call instruction: it traps as it returns
            // (Linux's user_single_step_report: SIGTRAP, TRAP_BRKPT).
            let info = SigInfo::new(libc::SIGTRAP, TRAP_BRKPT);
            self.task_mut(tid).pending.push(info);
        }
        if self.ptrace_event_stop(tid, syscalls) {
            return true;
        }
        if !syscalls {
            return false;
        }
        self.trace_stop(tid, TraceStop::SyscallExit);
        true
    }

    /// The blocked call of task `tid` was interrupted by a signal: it is to restart
    /// (`restart`), or return what its rax holds. A tracee resumed with PTRACE_SYSCALL
    /// stops at the call's exit first (the signal's stop comes after), showing Linux's
    /// -ERESTART* code for a restart (by the call's rule: -ERESTARTSYS,
    /// -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK); the restart is done when it is resumed
    /// with that code still in rax. Returns whether it stopped.
    pub(crate) fn ptrace_interrupted_exit(&mut self, tid: i32, restart: bool) -> bool {
        if !self.traced(tid).is_some_and(|e| e.syscalls) {
            return false;
        }
        if restart {
            let t = &self.tasks[&tid];
            let code = match self.table.restart(t.regs.orig_rax) {
                super::RestartRule::SaRestart => ERESTARTSYS,
                super::RestartRule::Never => ERESTARTNOHAND,
                super::RestartRule::TimeLeft => ERESTART_RESTARTBLOCK,
            };
            self.task_mut(tid).regs.rax = (-code) as u64;
        }
        self.trace_stop(tid, TraceStop::SyscallExit);
        true
    }

    /// Task `tid` calls exit (`group` false) or exit_group with `code`: a tracee with
    /// PTRACE_O_TRACEEXIT stops first (PTRACE_EVENT_EXIT, event message the wait status
    /// it will exit with); the exit goes on when its tracer resumes it. Returns whether
    /// it stopped.
    pub(crate) fn ptrace_exit_stop(&mut self, tid: i32, code: i32, group: bool) -> bool {
        if self
            .traced(tid)
            .is_none_or(|e| e.options & O_TRACEEXIT == 0)
        {
            return false;
        }
        let e = self.tracees.get_mut(&tid).expect("tracee");
        e.exiting = Some((code, group));
        e.event_msg = WaitStatus::Exited(code & 0xff).raw() as u64;
        self.task_mut(tid).end_call();
        self.trace_stop(
            tid,
            TraceStop::Event {
                event: EVENT_EXIT,
                then_exit: false,
            },
        );
        true
    }

    /// Traced task `tid` has run a new program: PTRACE_EVENT_EXEC (event message: its
    /// former tid) with PTRACE_O_TRACEEXEC, else a SIGTRAP.
    pub(crate) fn ptrace_exec(&mut self, tid: i32) {
        let Some(e) = self.tracees.get_mut(&tid) else {
            return;
        };
        if e.options & O_TRACEEXEC != 0 {
            e.event = Some(EVENT_EXEC);
            e.event_msg = tid as u64;
        } else if !e.seized {
            let info = SigInfo::new(libc::SIGTRAP, signal::SI_USER);
            self.task_mut(tid).pending.push(info);
        }
    }

    /// Task `tid` has made task `child` with clone `flags` (the exit signal in the low
    /// byte). When `tid` is traced and its tracer asked for this kind of child
    /// (PTRACE_O_TRACEFORK, TRACEVFORK, TRACECLONE; not with CLONE_UNTRACED), or the call
    /// asked for it (CLONE_PTRACE), the child is traced by the same tracer with the same
    /// options, and stops first: a SIGSTOP, or PTRACE_EVENT_STOP when its parent was
    /// seized. The parent's event stop (event message: the child's pid) is due at the
    /// call's exit. Returns whether the child is traced.
    pub(crate) fn ptrace_cloned(&mut self, tid: i32, child: i32, flags: i32) -> bool {
        if self.tracees.get(&tid).is_some_and(|e| e.stepping) {
            // The trap flag its tracer set is not the child's (Linux's
            // user_disable_single_step in copy_process).
            self.task_mut(child).regs.eflags &= !TRAP_FLAG;
        }
        let Some(e) = self.traced(tid) else {
            return false;
        };
        let (event, option) = if flags & libc::CLONE_UNTRACED != 0 {
            (0, 0)
        } else if flags & libc::CLONE_VFORK != 0 {
            (EVENT_VFORK, O_TRACEVFORK)
        } else if flags & 0xff != libc::SIGCHLD {
            (EVENT_CLONE, O_TRACECLONE)
        } else {
            (EVENT_FORK, O_TRACEFORK)
        };
        let reported = e.options & option != 0;
        if !reported && flags & libc::CLONE_PTRACE == 0 {
            return false;
        }
        let mut t = Tracee::new(e.tracer, e.seized, e.options);
        if t.seized {
            t.event = Some(EVENT_STOP);
        } else {
            let info = SigInfo::new(libc::SIGSTOP, signal::SI_USER);
            self.task_mut(child).pending.push(info);
        }
        self.tracees.insert(child, t);
        if reported {
            let e = self.tracees.get_mut(&tid).expect("tracee");
            e.event = Some(event);
            e.event_msg = child as u64;
        }
        true
    }

    /// Whether traced task `tid` is to stop at the PTRACE_EVENT_VFORK of its vfork call
    /// before it waits for its child.
    pub(crate) fn ptrace_vfork_stop_due(&self, tid: i32) -> bool {
        self.traced(tid)
            .is_some_and(|e| e.event == Some(EVENT_VFORK))
    }

    /// Task `tid`, resumed from its PTRACE_EVENT_VFORK stop, waits for its vfork child
    /// `child` to exec or exit, unless it has.
    fn vfork_wait(&mut self, tid: i32, child: i32) {
        let waits = self
            .tasks
            .get(&child)
            .is_some_and(|c| c.vfork_parent == Some(tid));
        if waits {
            self.task_mut(tid).state = RunState::VforkWait(child);
        } else {
            self.vfork_returns(tid, child);
        }
    }

    /// The vfork call of task `tid` returns, its child `child` having exec'd or exited:
    /// PTRACE_EVENT_VFORK_DONE (event message: the child's pid) with
    /// PTRACE_O_TRACEVFORKDONE, the system call exit stop under PTRACE_SYSCALL.
    pub(crate) fn vfork_returns(&mut self, tid: i32, child: i32) {
        self.task_mut(tid).end_call();
        if let Some(e) = self.tracees.get_mut(&tid) {
            if e.options & O_TRACEVFORKDONE != 0 && self.tasks.contains_key(&e.tracer) {
                e.event = Some(EVENT_VFORK_DONE);
                e.event_msg = child as u64;
            }
        }
        if !self.ptrace_syscall_exit(tid) {
            self.deliver_and_resume(tid);
        }
    }

    /// Resumes traced task `tid` from its ptrace-stop, delivering `sig` (0: none) when the
    /// stop was a signal's (another signal number replaces it) or a system call's. With
    /// `detach` its tracing ends first (the signal is then queued first in line).
    fn trace_resume(&mut self, tid: i32, sig: i32, detach: bool) {
        let (tracer_pid, tracer_uid) = self
            .tracees
            .get(&tid)
            .and_then(|e| self.tasks.get(&e.tracer))
            .map_or((0, 0), |t| (t.tgid, t.creds.uid));
        let Some(e) = self.tracees.get_mut(&tid) else {
            return;
        };
        let stop = e.stop.take();
        let msg = e.event_msg;
        if let Some((code, group)) = e.exiting.take() {
            // Resumed (or detached) at PTRACE_EVENT_EXIT: the exit goes on.
            if detach {
                self.tracees.remove(&tid);
            }
            self.task_mut(tid).state = RunState::Stopped;
            if group {
                self.exit_group(tid, code);
            } else {
                self.exit_thread(tid, code);
            }
            return;
        }
        let from_tracer = || SigInfo::from_process(sig, signal::SI_USER, tracer_pid, tracer_uid);
        let inject = match &stop {
            _ if sig == 0 => None,
            Some(TraceStop::Signal(info)) if info.signo == sig => Some(info.clone()),
            Some(TraceStop::Signal(_) | TraceStop::SyscallEnter | TraceStop::SyscallExit) => {
                Some(from_tracer())
            }
            _ => None,
        };
        if detach {
            self.tracees.remove(&tid);
            if let Some(info) = inject {
                self.task_mut(tid).pending.insert(0, info);
            }
        } else {
            e.inject = inject;
        }
        self.task_mut(tid).state = RunState::Stopped;
        match stop {
            Some(TraceStop::Event {
                event: EVENT_VFORK, ..
            }) => {
                // The vfork goes on: the wait for the child, then its return.
                self.vfork_wait(tid, msg as i32);
            }
            Some(TraceStop::SyscallEnter) => {
                if self.tasks[&tid].regs.orig_rax as i64 == -1 {
                    // The tracer skipped the call: rax stays as it left it.
                    self.finish(tid, Sys::Regs);
                } else {
                    self.serve(tid);
                }
            }
            Some(TraceStop::Event {
                then_exit: true, ..
            }) if self.tracees.get(&tid).is_some_and(|e| e.syscalls) => {
                self.trace_stop(tid, TraceStop::SyscallExit);
            }
            Some(TraceStop::SyscallExit) => {
                // A call interrupted to restart (its exit shows -ERESTART*) restarts.
                let t = self.task_mut(tid);
                if (ERESTARTSYS..=ERESTART_RESTARTBLOCK).contains(&-(t.regs.rax as i64)) {
                    t.regs.rip -= 2;
                    t.regs.rax = t.regs.orig_rax;
                }
                self.deliver_and_resume(tid);
            }
            Some(TraceStop::Group(_)) => {
                // Running on from a group stop ends it for the process.
                let tgid = self.tasks[&tid].tgid;
                self.tgs.get_mut(&tgid).expect("tg").stopped = None;
                self.deliver_and_resume(tid);
            }
            _ => self.deliver_and_resume(tid),
        }
    }

    /// Ends the tracing of `tid` (PTRACE_DETACH, the tracer's exit): a stopped tracee
    /// runs on with `sig` delivered.
    fn detach(&mut self, tid: i32, sig: i32) {
        let stopped = self
            .tasks
            .get(&tid)
            .is_some_and(|t| t.state == RunState::TraceStopped);
        if stopped {
            self.trace_resume(tid, sig, true);
        } else {
            self.tracees.remove(&tid);
        }
    }

    /// Thread `tid` is exiting: its tracees are detached (or killed, with
    /// PTRACE_O_EXITKILL); the exits of traced processes it had not waited for go to
    /// their real parents. Its own tracing ends (the exit of a traced process's leader
    /// stays for the tracer's wait).
    pub(crate) fn ptrace_thread_exits(&mut self, tid: i32) {
        // A tracee in a signal-delivery-stop gets the signal it stopped for.
        let mine: Vec<(i32, u32, i32)> = self
            .tracees
            .iter()
            .filter(|(_, e)| e.tracer == tid)
            .map(|(&t, e)| {
                let sig = match &e.stop {
                    Some(TraceStop::Signal(i)) => i.signo,
                    _ => 0,
                };
                (t, e.options, sig)
            })
            .collect();
        for (t, options, sig) in mine {
            match self.tasks.get(&t).map(|t| t.tgid) {
                Some(pid) if options & O_EXITKILL != 0 => {
                    self.tracees.remove(&t);
                    self.kill_group(pid, WaitStatus::Signaled(libc::SIGKILL, false));
                }
                Some(_) => self.detach(t, sig),
                None => {
                    self.tracees.remove(&t);
                    if self.tgs.get(&t).is_some_and(|g| g.zombie.is_some()) {
                        self.tell_parent_exit(t);
                    }
                }
            }
        }
        let leader = self.tasks.get(&tid).is_some_and(|t| t.tgid == tid);
        let tgid = self.tasks.get(&tid).map_or(tid, |t| t.tgid);
        let group_status = self.tgs.get(&tgid).and_then(|g| g.exiting);
        let tracer_lives = self
            .tracees
            .get(&tid)
            .is_some_and(|e| self.tasks.contains_key(&e.tracer));
        if let Some(e) = self.tracees.get_mut(&tid) {
            e.stop = None;
            if leader {
                // Its process's exit is reported (as a zombie's).
                e.exited = None;
            } else {
                if tracer_lives {
                    // Its exit is its tracer's to wait for (the status of its exit call,
                    // or its process's).
                    let st = e
                        .exited
                        .map(|x| x.0)
                        .or(group_status)
                        .unwrap_or(WaitStatus::Exited(0));
                    e.exited = Some((st, tgid));
                    let tracer_pid = self.tasks[&e.tracer].tgid;
                    self.notify(&WaitKey::Child(tracer_pid));
                } else {
                    self.tracees.remove(&tid);
                }
            }
        }
    }

    /// Traced task `tid` calls exit with `code`: the status its tracer is told when it is
    /// not its process's leader.
    pub(crate) fn ptrace_thread_exit_code(&mut self, tid: i32, code: i32) {
        if let Some(e) = self.tracees.get_mut(&tid) {
            e.exited = Some((WaitStatus::Exited(code & 0xff), 0));
        }
    }

    /// The traced process `pid` has exited: its tracer is told (its real parent hears of
    /// it once the tracer has waited for it). Returns false when it is not traced, or
    /// traced by its real parent (which is told as usual).
    pub(crate) fn ptrace_group_exited(&mut self, pid: i32) -> bool {
        let Some(e) = self.tracees.get(&pid) else {
            return false;
        };
        let Some(tracer_pid) = self.tasks.get(&e.tracer).map(|t| t.tgid) else {
            self.tracees.remove(&pid);
            return false;
        };
        if self.tgs[&pid].ppid == tracer_pid {
            return false;
        }
        let (code, st) = exit_code(self.tgs[&pid].zombie.unwrap_or(WaitStatus::Exited(0)));
        let uid = self.tgs[&pid].creds.uid;
        self.signal_group(tracer_pid, SigInfo::child(pid, uid, code, st));
        self.notify(&WaitKey::Child(tracer_pid));
        true
    }

    /// Zombie `pid`'s real parent is told of its exit.
    fn tell_parent_exit(&mut self, pid: i32) {
        let (code, st) = exit_code(self.tgs[&pid].zombie.unwrap_or(WaitStatus::Exited(0)));
        self.notify_parent(pid, code, st);
    }

    /// Whether process `pid`'s state changes are reported to process `me` through
    /// ptrace (its leader is traced by a thread of `me`) rather than as a child's.
    pub(crate) fn traced_by_process(&self, pid: i32, me: i32) -> bool {
        self.tracees
            .get(&pid)
            .and_then(|e| self.tasks.get(&e.tracer))
            .is_some_and(|t| t.tgid == me)
    }

    /// Whether zombie `pid`'s exit waits for a tracer other than its parent `me`.
    pub(crate) fn exit_held_by_tracer(&self, pid: i32, me: i32) -> bool {
        self.tracees
            .get(&pid)
            .and_then(|e| self.tasks.get(&e.tracer))
            .is_some_and(|t| t.tgid != me)
    }

    /// wait by task `tid` (of process `me`) among the tracees of its process's threads:
    /// an unreported ptrace-stop (whatever the kind options ask), or the exit of a traced
    /// process. Returns whether a tracee is selected, and the event.
    pub(crate) fn wait_tracees(
        &mut self,
        tid: i32,
        pid: i64,
        options: i32,
        peek: bool,
    ) -> (bool, Option<ChildEvent>) {
        let me = self.tasks[&tid].tgid;
        let my_pgid = self.tgs[&me].pgid;
        let mine: Vec<i32> = self
            .tracees
            .iter()
            .filter(|(_, e)| {
                self.tasks.get(&e.tracer).is_some_and(|t| t.tgid == me)
                    && (options & libc::__WNOTHREAD == 0 || e.tracer == tid)
            })
            .map(|(&t, _)| t)
            .collect();
        let mut selected = false;
        for t in mine {
            if let Some((own, group)) = self.tracees[&t]
                .exited
                .filter(|_| !self.tasks.contains_key(&t))
            {
                let st = self
                    .tgs
                    .get(&group)
                    .and_then(|g| g.zombie.or(g.exiting))
                    .unwrap_or(own);
                // A traced thread's exit (not its process's): chosen by its tid or any.
                if pid != -1 && pid != t as i64 {
                    continue;
                }
                selected = true;
                if options & libc::WEXITED == 0 {
                    continue;
                }
                if !peek {
                    self.tracees.remove(&t);
                }
                let uid = self.tgs[&me].creds.uid;
                return (true, Some(exit_event(t, st, uid, 0)));
            }
            let group = self.tasks.get(&t).map_or(t, |x| x.tgid);
            let Some(g) = self.tgs.get(&group) else {
                self.tracees.remove(&t);
                continue;
            };
            let chosen = match pid {
                -1 => true,
                0 => g.pgid == my_pgid,
                p if p > 0 => t as i64 == p,
                p => g.pgid as i64 == -p,
            };
            if !chosen {
                continue;
            }
            selected = true;
            let uid = g.creds.uid;
            if self.tasks.contains_key(&t) {
                let e = &self.tracees[&t];
                if e.stop.is_none() || e.reported {
                    continue;
                }
                let status = e.status();
                if !peek {
                    self.tracees.get_mut(&t).expect("tracee").reported = true;
                }
                return (
                    true,
                    Some(ChildEvent {
                        pid: t,
                        status,
                        code: libc::CLD_TRAPPED,
                        si_status: status >> 8 & 0xff,
                        uid,
                        cpu_ns: self.task_cpu(t),
                    }),
                );
            }
            let Some(st) = g.zombie else { continue };
            if options & libc::WEXITED == 0 {
                continue;
            }
            let cpu_ns = g.cpu_exited.saturating_add(g.cpu_children);
            let parent = g.ppid;
            if !peek {
                self.tracees.remove(&t);
                if parent == me {
                    self.tgs.remove(&t);
                    let mine = self.tgs.get_mut(&me).expect("me");
                    mine.children.retain(|&x| x != t);
                    mine.cpu_children = mine.cpu_children.saturating_add(cpu_ns);
                } else {
                    self.tell_parent_exit(t);
                }
            }
            return (true, Some(exit_event(t, st, uid, cpu_ns)));
        }
        (selected, None)
    }

    // ---- the requests ----

    /// ptrace(2) by task `tid`.
    pub(crate) fn ptrace(
        &mut self,
        tid: i32,
        req: i64,
        pid: i32,
        addr: u64,
        data: u64,
    ) -> Result<i64, Errno> {
        match req {
            TRACEME => return self.traceme(tid),
            ATTACH | SEIZE => return self.attach(tid, pid, req == SEIZE, addr, data),
            _ => {}
        }
        let e = match self.traced(pid) {
            Some(e) if e.tracer == tid => e,
            _ => return Err(libc::ESRCH),
        };
        match req {
            KILL => {
                let tgid = self.tasks[&pid].tgid;
                self.kill_group(tgid, WaitStatus::Signaled(libc::SIGKILL, false));
                return Ok(0);
            }
            INTERRUPT => {
                if !e.seized {
                    return Err(libc::EIO);
                }
                self.interrupt(pid);
                return Ok(0);
            }
            _ => {}
        }
        // A listening tracee is stopped, but not in a ptrace-stop.
        if self.tasks[&pid].state != RunState::TraceStopped || e.listening {
            return Err(libc::ESRCH);
        }
        let signo = |data: u64| {
            if data > 64 {
                Err(libc::EIO)
            } else {
                Ok(data as i32)
            }
        };
        match req {
            CONT | SYSCALL | SINGLESTEP => {
                let sig = signo(data)?;
                let e = self.tracees.get_mut(&pid).expect("tracee");
                e.syscalls = req == SYSCALL;
                e.stepping = req == SINGLESTEP;
                if e.stepping {
                    // The CPU traps after one instruction (the host's SIGTRAP is the
                    // guest's, TRAP_TRACE, a signal-delivery stop).
                    self.task_mut(pid).regs.eflags |= TRAP_FLAG;
                }
                self.trace_resume(pid, sig, false);
                Ok(0)
            }
            DETACH => {
                let sig = signo(data)?;
                self.detach(pid, sig);
                Ok(0)
            }
            PEEKTEXT | PEEKDATA => {
                let word = self.peek_forced(pid, addr)?;
                self.write_u64(tid, data, word)?;
                Ok(0)
            }
            POKETEXT | POKEDATA => {
                self.poke_forced(pid, addr, data)?;
                Ok(0)
            }
            PEEKUSER => {
                if !addr.is_multiple_of(8) || addr >= USER_LEN {
                    return Err(libc::EIO);
                }
                let regs = super::task::regs_to_state(&self.tasks[&pid].regs);
                let word = regs.get(addr as usize / 8).copied().unwrap_or(0);
                self.write_u64(tid, data, word)?;
                Ok(0)
            }
            POKEUSER => {
                if !addr.is_multiple_of(8) || addr >= USER_LEN {
                    return Err(libc::EIO);
                }
                if addr >= DEBUGREG {
                    // No hardware breakpoints: clearing DR0-3, DR6 or DR7 (what a
                    // debugger does at a detach or a stop) is taken; setting one, and
                    // DR4/DR5 (as Linux), are EIO.
                    let n = (addr - DEBUGREG) / 8;
                    return if data == 0 && n != 4 && n != 5 {
                        Ok(0)
                    } else {
                        Err(libc::EIO)
                    };
                }
                if addr as usize >= REGS_LEN {
                    return Err(libc::EIO);
                }
                let mut regs = super::task::regs_to_state(&self.tasks[&pid].regs);
                regs[addr as usize / 8] = data;
                self.set_tracee_regs(pid, &regs)?;
                Ok(0)
            }
            GETREGS => {
                self.write_mem(tid, data, &self.regs_bytes(pid))?;
                Ok(0)
            }
            SETREGS => {
                let b = self.read_mem(tid, data, REGS_LEN)?;
                let mut regs = [0u64; 27];
                for (r, w) in regs.iter_mut().zip(b.chunks_exact(8)) {
                    *r = u64::from_le_bytes(w.try_into().expect("8"));
                }
                self.set_tracee_regs(pid, &regs)?;
                Ok(0)
            }
            GETFPREGS => {
                let fp = self.fpregs(pid)?;
                self.write_mem(tid, data, &fp)?;
                Ok(0)
            }
            GETREGSET => {
                let bytes = match addr {
                    NT_PRSTATUS => self.regs_bytes(pid),
                    NT_PRFPREG => self.fpregs(pid)?,
                    _ => return Err(libc::EINVAL),
                };
                let base = self.read_u64(tid, data)?;
                let len = self.read_u64(tid, data + 8)?;
                let n = bytes.len().min(len as usize);
                self.write_mem(tid, base, &bytes[..n])?;
                self.write_u64(tid, data + 8, n as u64)?;
                Ok(0)
            }
            SETOPTIONS => {
                let options = options(data)?;
                self.tracees.get_mut(&pid).expect("tracee").options = options;
                Ok(0)
            }
            GETEVENTMSG => {
                let msg = self.tracees[&pid].event_msg;
                self.write_u64(tid, data, msg)?;
                Ok(0)
            }
            GETSIGINFO => {
                // An event's or a system call's stop tells the tracee's own pid and uid
                // (Linux's ptrace_do_notify).
                let me =
                    |code| SigInfo::from_process(libc::SIGTRAP, code, pid, self.creds(pid).uid);
                let info = match &self.tracees[&pid].stop {
                    Some(TraceStop::Signal(i)) => i.clone(),
                    Some(TraceStop::Group(s)) if self.tracees[&pid].seized => {
                        SigInfo::from_process(*s, s | EVENT_STOP << 8, pid, self.creds(pid).uid)
                    }
                    Some(TraceStop::Event { event, .. }) => me(libc::SIGTRAP | event << 8),
                    Some(TraceStop::SyscallEnter | TraceStop::SyscallExit) => {
                        me(self.tracees[&pid].syscall_sig())
                    }
                    _ => return Err(libc::EINVAL),
                };
                self.write_mem(tid, data, &info.to_bytes())?;
                Ok(0)
            }
            LISTEN => {
                // Only a seized tracee, at a PTRACE_EVENT_STOP (its group stop's or
                // PTRACE_INTERRUPT's).
                let e = self.tracees.get_mut(&pid).expect("tracee");
                let event_stop = match e.stop {
                    Some(TraceStop::Group(_)) => e.seized,
                    Some(TraceStop::Event { event, .. }) => event == EVENT_STOP,
                    _ => false,
                };
                if !e.seized || !event_stop {
                    return Err(libc::EIO);
                }
                e.listening = true;
                e.reported = true;
                Ok(0)
            }
            GET_SYSCALL_INFO => self.syscall_info(pid, tid, addr, data),
            SETSIGINFO => {
                let b = self.read_mem(tid, data, 128)?;
                let e = self.tracees.get_mut(&pid).expect("tracee");
                let Some(TraceStop::Signal(info)) = &mut e.stop else {
                    return Err(libc::EINVAL);
                };
                info.code = i32::from_le_bytes(b[8..12].try_into().expect("4"));
                info.fields = b[16..].to_vec();
                Ok(0)
            }
            _ => Err(libc::EIO),
        }
    }

    /// PTRACE_GET_SYSCALL_INFO of stopped tracee `pid` by `tid`: `struct
    /// ptrace_syscall_info` for its stop (system call entry or exit under
    /// PTRACE_O_TRACESYSGOOD, else nothing but the registers), at most `size` bytes of it
    /// copied to `addr`. Returns its full size.
    fn syscall_info(&mut self, pid: i32, tid: i32, size: u64, addr: u64) -> Result<i64, Errno> {
        let e = &self.tracees[&pid];
        let r = self.tasks[&pid].regs;
        let sysgood = e.options & O_TRACESYSGOOD != 0;
        let mut b = Vec::with_capacity(80);
        let op: u8 = match e.stop {
            Some(TraceStop::SyscallEnter) if sysgood => 1,
            Some(TraceStop::SyscallExit) if sysgood => 2,
            _ => 0,
        };
        b.extend_from_slice(&[op, 0, 0, 0]);
        b.extend_from_slice(&AUDIT_ARCH_X86_64.to_le_bytes());
        b.extend_from_slice(&r.rip.to_le_bytes());
        b.extend_from_slice(&r.rsp.to_le_bytes());
        match op {
            1 => {
                for w in [r.orig_rax, r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9] {
                    b.extend_from_slice(&w.to_le_bytes());
                }
            }
            2 => {
                b.extend_from_slice(&r.rax.to_le_bytes());
                let is_error = (r.rax as i64) < 0 && (r.rax as i64) >= -4095;
                b.push(is_error as u8);
            }
            _ => {}
        }
        let n = b.len().min(size.min(usize::MAX as u64) as usize);
        if n > 0 {
            self.write_mem(tid, addr, &b[..n])?;
        }
        Ok(b.len() as i64)
    }

    /// PTRACE_TRACEME: the caller's parent thread (the one that created its process, or
    /// adopted it) traces it.
    fn traceme(&mut self, tid: i32) -> Result<i64, Errno> {
        if self.tracees.contains_key(&tid) {
            return Err(libc::EPERM);
        }
        let g = self.tg_of(tid);
        let parent = g.prctl.parent_tid;
        let tracer = if self.tasks.contains_key(&parent) {
            parent
        } else {
            match self.tgs.get(&g.ppid).and_then(|p| p.threads.first()) {
                Some(&t) => t,
                None => return Err(libc::EPERM),
            }
        };
        self.tracees.insert(tid, Tracee::new(tracer, false, 0));
        Ok(0)
    }

    /// PTRACE_ATTACH (a SIGSTOP stops the tracee) and PTRACE_SEIZE (`data` the options).
    fn attach(
        &mut self,
        tid: i32,
        pid: i32,
        seize: bool,
        addr: u64,
        data: u64,
    ) -> Result<i64, Errno> {
        let options = if seize {
            if addr != 0 {
                return Err(libc::EIO);
            }
            options(data).map_err(|_| libc::EIO)?
        } else {
            0
        };
        let Some(target) = self.tasks.get(&pid) else {
            return Err(libc::ESRCH);
        };
        let tg = &self.tgs[&target.tgid];
        let creds = self.creds(tid);
        let allowed = creds.may_read_process(&target.creds)
            && (!tg.prctl.not_dumpable || creds.has(crate::creds::CAP_SYS_PTRACE));
        if target.tgid == self.tasks[&tid].tgid
            || self.tracees.contains_key(&pid)
            || tg.exiting.is_some()
            || !allowed
        {
            return Err(libc::EPERM);
        }
        self.tracees.insert(pid, Tracee::new(tid, seize, options));
        if !seize {
            let info = SigInfo::new(libc::SIGSTOP, signal::SI_USER);
            self.signal_task(pid, info);
        }
        Ok(0)
    }

    /// PTRACE_INTERRUPT of seized task `tid`: it stops (PTRACE_EVENT_STOP) as soon as it
    /// can; a call it is blocked in restarts when it runs on.
    fn interrupt(&mut self, tid: i32) {
        let t = &self.tasks[&tid];
        match t.state {
            RunState::TraceStopped => self.listen_ends(tid),
            RunState::Parked(_) => {
                self.tracees.get_mut(&tid).expect("tracee").event = Some(EVENT_STOP);
                let t = self.task_mut(tid);
                t.regs.rip -= 2;
                t.regs.rax = t.regs.orig_rax;
                t.state = RunState::Stopped;
                t.end_call();
                self.futex_waiters.retain(|w| w.tid != tid);
                self.deliver_and_resume(tid);
            }
            _ => {
                self.tracees.get_mut(&tid).expect("tracee").event = Some(EVENT_STOP);
                self.kick(tid);
            }
        }
    }

    /// A listening tracee `tid` (PTRACE_LISTEN) traps again, its tracer told: a
    /// PTRACE_EVENT_STOP with its group's stop signal while the group stop lasts, SIGTRAP
    /// after it.
    fn listen_ends(&mut self, tid: i32) {
        if !self.tracees.get(&tid).is_some_and(|e| e.listening) {
            return;
        }
        let tgid = self.tasks[&tid].tgid;
        let stop = match self.tgs[&tgid].stopped {
            Some((sig, _)) => TraceStop::Group(sig),
            None => TraceStop::Event {
                event: EVENT_STOP,
                then_exit: false,
            },
        };
        self.trace_stop(tid, stop);
    }

    /// Process `pid` got SIGCONT: its listening tracees trap again.
    pub(crate) fn ptrace_continued(&mut self, pid: i32) {
        let threads = self
            .tgs
            .get(&pid)
            .map(|g| g.threads.clone())
            .unwrap_or_default();
        for t in threads {
            self.listen_ends(t);
        }
    }

    fn regs_bytes(&self, tid: i32) -> Vec<u8> {
        super::task::regs_to_state(&self.tasks[&tid].regs)
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }

    fn fpregs(&mut self, tid: i32) -> Result<Vec<u8>, Errno> {
        let host = self.tasks[&tid].host_tid;
        let mut fp = self.plat.get_fpu(host).map_err(|_| libc::EIO)?;
        fp.resize(FPREGS_LEN, 0);
        Ok(fp)
    }

    /// New general registers for stopped tracee `tid` (in `user_regs_struct` order): the
    /// segment selectors stay; flags only as a user may change them; EIO for a TLS base
    /// outside the user half.
    fn set_tracee_regs(&mut self, tid: i32, regs: &[u64; 27]) -> Result<(), Errno> {
        const USER_FLAGS: u64 = 0xcd5;
        if regs[21] >= 1 << 47 || regs[22] >= 1 << 47 {
            return Err(libc::EIO);
        }
        let t = self.task_mut(tid);
        let flags = (t.regs.eflags & !USER_FLAGS) | (regs[18] & USER_FLAGS);
        super::task::regs_from_state(regs, &mut t.regs);
        t.regs.eflags = flags;
        Ok(())
    }
}

/// The options in `data`; EINVAL for unknown ones.
fn options(data: u64) -> Result<u32, Errno> {
    if data & !(O_MASK as u64) != 0 {
        return Err(libc::EINVAL);
    }
    Ok(data as u32)
}

/// The wait event of `pid`'s exit with `st`.
fn exit_event(pid: i32, st: WaitStatus, uid: u32, cpu_ns: u64) -> ChildEvent {
    let (code, si_status) = exit_code(st);
    ChildEvent {
        pid,
        status: st.raw(),
        code,
        si_status,
        uid,
        cpu_ns,
    }
}

/// waitid's si_code and si_status for an exit status.
pub(crate) fn exit_code(st: WaitStatus) -> (i32, i32) {
    match st {
        WaitStatus::Exited(c) => (libc::CLD_EXITED, c),
        WaitStatus::Signaled(s, true) => (libc::CLD_DUMPED, s),
        WaitStatus::Signaled(s, false) => (libc::CLD_KILLED, s),
    }
}

// ---- saved form ----

/// The saved form of a ptrace-stop.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TraceStopState {
    Signal(super::signal::SigInfoState),
    Group(i32),
    Event { event: i32, then_exit: bool },
    SyscallEnter,
    SyscallExit,
}

/// The saved form of a traced thread (a live one, or the leader of a traced process
/// whose exit its tracer has not waited for).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TraceeState {
    pub tid: i32,
    pub tracer: i32,
    pub seized: bool,
    pub options: u32,
    pub stop: Option<TraceStopState>,
    pub reported: bool,
    pub inject: Option<super::signal::SigInfoState>,
    pub event: Option<i32>,
    pub event_msg: u64,
    pub syscalls: bool,
    /// Stopped at PTRACE_EVENT_EXIT of exit_group (true) or exit with this code.
    pub exiting: Option<(i32, bool)>,
    /// PTRACE_LISTEN: stopped at its PTRACE_EVENT_STOP, not in a ptrace-stop.
    pub listening: bool,
    /// PTRACE_SINGLESTEP: runs with the trap flag its next stop clears.
    pub stepping: bool,
    /// A traced thread (not a leader) gone: its exit's wait status, not yet reported, and
    /// its process.
    pub exited: Option<(i32, i32)>,
}

impl Kernel {
    pub(crate) fn save_tracees(&self) -> Vec<TraceeState> {
        self.tracees
            .iter()
            .map(|(&tid, e)| {
                let Tracee {
                    tracer,
                    seized,
                    options,
                    stop,
                    reported,
                    inject,
                    event,
                    event_msg,
                    syscalls,
                    exiting,
                    listening,
                    stepping,
                    exited,
                } = e;
                TraceeState {
                    tid,
                    tracer: *tracer,
                    seized: *seized,
                    options: *options,
                    stop: stop.as_ref().map(|s| match s {
                        TraceStop::Signal(i) => TraceStopState::Signal(i.save()),
                        TraceStop::Group(s) => TraceStopState::Group(*s),
                        TraceStop::Event { event, then_exit } => TraceStopState::Event {
                            event: *event,
                            then_exit: *then_exit,
                        },
                        TraceStop::SyscallEnter => TraceStopState::SyscallEnter,
                        TraceStop::SyscallExit => TraceStopState::SyscallExit,
                    }),
                    reported: *reported,
                    inject: inject.as_ref().map(SigInfo::save),
                    event: *event,
                    event_msg: *event_msg,
                    syscalls: *syscalls,
                    exiting: *exiting,
                    listening: *listening,
                    stepping: *stepping,
                    exited: exited.map(|(st, pid)| (st.raw(), pid)),
                }
            })
            .collect()
    }

    /// Restores checked tracees (`check_tracees`).
    pub(crate) fn restore_tracees(&mut self, saved: &[TraceeState]) {
        self.tracees = saved
            .iter()
            .map(|s| {
                let stop = s.stop.as_ref().map(|st| match st {
                    TraceStopState::Signal(i) => TraceStop::Signal(SigInfo::restore(i)),
                    TraceStopState::Group(s) => TraceStop::Group(*s),
                    TraceStopState::Event { event, then_exit } => TraceStop::Event {
                        event: *event,
                        then_exit: *then_exit,
                    },
                    TraceStopState::SyscallEnter => TraceStop::SyscallEnter,
                    TraceStopState::SyscallExit => TraceStop::SyscallExit,
                });
                let e = Tracee {
                    tracer: s.tracer,
                    seized: s.seized,
                    options: s.options,
                    stop,
                    reported: s.reported,
                    inject: s.inject.as_ref().map(SigInfo::restore),
                    event: s.event,
                    event_msg: s.event_msg,
                    syscalls: s.syscalls,
                    exiting: s.exiting,
                    listening: s.listening,
                    stepping: s.stepping,
                    exited: s.exited.map(|(raw, pid)| {
                        let st = match raw & 0x7f {
                            0 => WaitStatus::Exited(raw >> 8 & 0xff),
                            sig => WaitStatus::Signaled(sig, raw & 0x80 != 0),
                        };
                        (st, pid)
                    }),
                };
                (s.tid, e)
            })
            .collect();
    }
}

/// Checks saved tracees against the saved tasks (`live`: tid to its state is a
/// ptrace-stop) and zombie processes: each names a live tracer in another process, a live
/// tracee (stopped exactly when it has a stop) or a zombie's leader, known options and
/// signal numbers.
pub(crate) fn check_tracees(
    saved: &[TraceeState],
    live: &std::collections::HashMap<i32, (i32, bool)>,
    zombies: &std::collections::HashSet<i32>,
) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (tid, &(_, stopped)) in live {
        if stopped && !saved.iter().any(|s| s.tid == *tid && s.stop.is_some()) {
            return Err(format!("task {tid} is in a ptrace-stop but not traced"));
        }
    }
    for s in saved {
        let me = format!("tracee {}", s.tid);
        if !seen.insert(s.tid) {
            return Err(format!("{me} is saved twice"));
        }
        let Some(&(tracer_pid, _)) = live.get(&s.tracer) else {
            return Err(format!("{me}: tracer {} does not exist", s.tracer));
        };
        match live.get(&s.tid) {
            Some(&(pid, stopped)) => {
                if pid == tracer_pid {
                    return Err(format!("{me} is traced by its own process"));
                }
                if stopped != s.stop.is_some() {
                    return Err(format!("{me}: its stop and its run state disagree"));
                }
            }
            None if zombies.contains(&s.tid) && s.stop.is_none() => {}
            None if s.exited.is_some() && s.stop.is_none() => {}
            None => return Err(format!("{me} is neither a task nor a zombie process")),
        }
        if s.options & !O_MASK != 0 {
            return Err(format!("{me}: options {:#x}", s.options));
        }
        let sig_ok =
            |i: &super::signal::SigInfoState| (1..=64).contains(&i.signo) && i.fields.len() == 112;
        let stop_ok = match &s.stop {
            Some(TraceStopState::Signal(i)) => sig_ok(i),
            Some(TraceStopState::Group(g)) => (1..=64).contains(g),
            _ => true,
        };
        if !stop_ok || !s.inject.as_ref().is_none_or(sig_ok) {
            return Err(format!("{me}: a bad signal"));
        }
        let at_exit = matches!(
            s.stop,
            Some(TraceStopState::Event {
                event: EVENT_EXIT,
                ..
            })
        );
        if s.exiting.is_some() && !at_exit {
            return Err(format!("{me}: exiting but not stopped at its exit"));
        }
        let known = |ev: &i32| EVENTS.contains(ev);
        let stop_event = match &s.stop {
            Some(TraceStopState::Event { event, .. }) => Some(event),
            _ => None,
        };
        if !s.event.iter().chain(stop_event).all(known) {
            return Err(format!("{me}: an unknown event"));
        }
        let listens_at = match &s.stop {
            Some(TraceStopState::Group(_)) => s.seized,
            Some(TraceStopState::Event { event, .. }) => *event == EVENT_STOP,
            _ => false,
        };
        let status_ok = |raw: &i32| {
            raw & !0xffff == 0 && (raw & 0x7f == 0 || (raw & 0x7f <= 64 && raw & 0xff00 == 0))
        };
        if !s.exited.as_ref().is_none_or(|(raw, _)| status_ok(raw))
            || (s.exited.is_some() && live.contains_key(&s.tid))
        {
            return Err(format!("{me}: a bad exit status, or exited but alive"));
        }
        if s.stepping && s.stop.is_some() {
            return Err(format!("{me}: single-stepping but stopped"));
        }
        if s.listening && !(s.seized && listens_at) {
            return Err(format!(
                "{me}: listening but not seized at a PTRACE_EVENT_STOP"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::kernel::task::RunState;
    use crate::kernel::Kernel;
    use crate::testing::{errno, kernel, SCRATCH};

    const SIGCHLD: u64 = libc::SIGCHLD as u64;

    fn fork(k: &mut Kernel, t: i32) -> i32 {
        k.call(t, libc::SYS_clone, [SIGCHLD, 0, 0, 0, 0, 0])
            .expect("clone returns") as i32
    }

    fn ptrace(k: &mut Kernel, t: i32, req: i64, pid: i32, addr: u64, data: u64) -> Option<i64> {
        let args = [req as u64, pid as u64, addr, data, 0, 0];
        k.call(t, libc::SYS_ptrace, args)
    }

    /// wait4(pid, SCRATCH, options | WNOHANG) by `t`: (its return, the status).
    fn wait(k: &mut Kernel, t: i32, pid: i32, options: i32) -> (Option<i64>, i32) {
        let args = [
            pid as u64,
            SCRATCH,
            (options | libc::WNOHANG) as u64,
            0,
            0,
            0,
        ];
        k.put(t, SCRATCH, &[0; 4]);
        let r = k.call(t, libc::SYS_wait4, args);
        let st = i32::from_le_bytes(k.get(t, SCRATCH, 4).try_into().unwrap());
        (r, st)
    }

    fn kill(k: &mut Kernel, t: i32, pid: i32, sig: i32) {
        let r = k.call(t, libc::SYS_kill, [pid as u64, sig as u64, 0, 0, 0, 0]);
        assert_eq!(r, Some(0));
    }

    /// A child of `t` traced with PTRACE_TRACEME, in a signal-delivery stop (SIGUSR1).
    fn stopped_tracee(k: &mut Kernel, t: i32) -> i32 {
        let c = fork(k, t);
        assert_eq!(ptrace(k, c, super::TRACEME, 0, 0, 0), Some(0));
        kill(k, t, c, libc::SIGUSR1);
        k.deliver_and_resume(c);
        c
    }

    /// The kernel's saved state, which a restore saves again with the same tracees.
    fn saved(k: &mut Kernel, root: &std::path::Path) -> crate::kernel::state::KernelState {
        let st = k
            .save_state(crate::control::DEFAULT_GHOST_LIMIT)
            .expect("save");
        let again = crate::state::restore_and_save(root, &st).expect("restore");
        assert_eq!(again.tracees, st.tracees);
        st
    }

    /// PTRACE_TRACEME: the parent sees each signal its child is to get as a stop (once),
    /// reads its registers and siginfo, suppresses one signal, and detaching with a
    /// signal delivers that one.
    #[test]
    fn a_tracee_stops_at_each_signal_and_its_tracer_chooses_what_it_gets() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let c = fork(&mut k, t);
        assert_eq!(ptrace(&mut k, c, super::TRACEME, 0, 0, 0), Some(0));
        assert_eq!(
            ptrace(&mut k, c, super::TRACEME, 0, 0, 0),
            errno(libc::EPERM)
        );
        assert_eq!(k.tracer_pid(c), t);
        // Not stopped: requests fail with ESRCH.
        assert_eq!(ptrace(&mut k, t, super::CONT, c, 0, 0), errno(libc::ESRCH));
        kill(&mut k, t, c, libc::SIGUSR1);
        k.deliver_and_resume(c);
        assert_eq!(k.task(c).state, RunState::TraceStopped);
        assert_eq!(
            wait(&mut k, t, c, 0),
            (Some(c as i64), (libc::SIGUSR1 << 8) | 0x7f)
        );
        assert_eq!(wait(&mut k, t, c, 0).0, Some(0), "reported once");
        assert_eq!(
            ptrace(&mut k, t, super::GETSIGINFO, c, 0, SCRATCH + 64),
            Some(0)
        );
        let signo = i32::from_le_bytes(k.get(t, SCRATCH + 64, 4).try_into().unwrap());
        assert_eq!(signo, libc::SIGUSR1);
        // Registers: GETREGS and PEEKUSER agree with the task's; SETREGS changes them.
        k.task_mut(c).regs.r12 = 0x1234;
        assert_eq!(
            ptrace(&mut k, t, super::GETREGS, c, 0, SCRATCH + 256),
            Some(0)
        );
        let r12 = u64::from_le_bytes(k.get(t, SCRATCH + 256 + 3 * 8, 8).try_into().unwrap());
        assert_eq!(r12, 0x1234);
        assert_eq!(
            ptrace(&mut k, t, super::PEEKUSER, c, 3 * 8, SCRATCH + 128),
            Some(0)
        );
        assert_eq!(k.get(t, SCRATCH + 128, 8), 0x1234u64.to_le_bytes());
        assert_eq!(
            ptrace(&mut k, t, super::PEEKUSER, c, 3, SCRATCH + 128),
            errno(libc::EIO)
        );
        k.put(t, SCRATCH + 256 + 3 * 8, &0x5678u64.to_le_bytes());
        assert_eq!(
            ptrace(&mut k, t, super::SETREGS, c, 0, SCRATCH + 256),
            Some(0)
        );
        assert_eq!(k.task(c).regs.r12, 0x5678);
        // Memory: POKEDATA then PEEKDATA; a bad address is EIO.
        assert_eq!(
            ptrace(&mut k, t, super::POKEDATA, c, SCRATCH + 512, 0xfeed),
            Some(0)
        );
        assert_eq!(
            ptrace(&mut k, t, super::PEEKDATA, c, SCRATCH + 512, SCRATCH + 128),
            Some(0)
        );
        assert_eq!(k.get(t, SCRATCH + 128, 8), 0xfeedu64.to_le_bytes());
        assert_eq!(
            ptrace(&mut k, t, super::PEEKDATA, c, 8, SCRATCH + 128),
            errno(libc::EIO)
        );
        assert_eq!(ptrace(&mut k, t, super::CONT, c, 0, 65), errno(libc::EIO));
        // Resumed with no signal: SIGUSR1 (fatal by default) is suppressed.
        assert_eq!(ptrace(&mut k, t, super::CONT, c, 0, 0), Some(0));
        assert_ne!(k.task(c).state, RunState::TraceStopped);
        assert!(k.task_exists(c));
        // SIGCHLD to the tracer told of the stop; a second signal, detached with SIGTERM.
        kill(&mut k, t, c, libc::SIGUSR2);
        k.deliver_and_resume(c);
        assert_eq!(wait(&mut k, t, -1, 0).1, (libc::SIGUSR2 << 8) | 0x7f);
        assert_eq!(
            ptrace(&mut k, t, super::DETACH, c, 0, libc::SIGTERM as u64),
            Some(0)
        );
        assert!(!k.task_exists(c));
        assert_eq!(k.tracer_pid(c), 0);
        assert_eq!(wait(&mut k, t, c, 0), (Some(c as i64), libc::SIGTERM));
    }

    /// gVisor's TraceeWALL: a tracee's exit is waited for whatever the kind options ask
    /// (__WCLONE selects a child that exits with SIGCHLD when it is traced).
    #[test]
    fn a_tracee_is_waited_for_with_wclone() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let c = fork(&mut k, t);
        assert_eq!(ptrace(&mut k, c, super::TRACEME, 0, 0, 0), Some(0));
        k.exit_group(c, 0);
        assert_eq!(wait(&mut k, t, c, libc::__WCLONE), (Some(c as i64), 0));
        assert_eq!(wait(&mut k, t, c, 0).0, errno(libc::ECHILD));
        assert!(k.tracees.is_empty());
    }

    /// PTRACE_ATTACH by another process: permission checks; the SIGSTOP it sends is a
    /// signal stop, then (resumed with it) a group stop the tracer sees and the real
    /// parent sees as a stop too; the tracee's exit goes to its tracer before its parent;
    /// a tracer's exit detaches a tracee it had seized.
    #[test]
    fn attach_checks_permissions_and_reports_to_the_tracer_before_the_parent() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let parent = k.test_process(0, 0);
        let c = fork(&mut k, parent);
        let tracer = k.test_process(0, 0);
        let stranger = k.test_process(1000, 1000);
        let attach = super::ATTACH;
        assert_eq!(
            ptrace(&mut k, stranger, attach, c, 0, 0),
            errno(libc::EPERM)
        );
        assert_eq!(
            ptrace(&mut k, tracer, attach, tracer, 0, 0),
            errno(libc::EPERM)
        );
        assert_eq!(
            ptrace(&mut k, tracer, attach, 99_999, 0, 0),
            errno(libc::ESRCH)
        );
        assert_eq!(
            ptrace(&mut k, tracer, super::SEIZE, c, 0, 1 << 30),
            errno(libc::EIO)
        );
        assert_eq!(ptrace(&mut k, tracer, attach, c, 0, 0), Some(0));
        assert_eq!(
            ptrace(&mut k, stranger, attach, c, 0, 0),
            errno(libc::EPERM)
        );
        assert_eq!(
            ptrace(&mut k, parent, super::CONT, c, 0, 0),
            errno(libc::ESRCH),
            "the parent is not its tracer"
        );
        k.deliver_and_resume(c);
        assert_eq!(
            wait(&mut k, tracer, c, libc::__WALL).1,
            (libc::SIGSTOP << 8) | 0x7f
        );
        let sigstop = libc::SIGSTOP as u64;
        assert_eq!(ptrace(&mut k, tracer, super::CONT, c, 0, sigstop), Some(0));
        assert_eq!(k.task(c).state, RunState::TraceStopped, "group stop");
        assert_eq!(wait(&mut k, tracer, -1, 0).1, (libc::SIGSTOP << 8) | 0x7f);
        assert_eq!(
            wait(&mut k, parent, c, libc::WUNTRACED).1,
            (libc::SIGSTOP << 8) | 0x7f
        );
        // Killed while stopped: the tracer hears first, then the parent.
        kill(&mut k, parent, c, libc::SIGKILL);
        assert_eq!(wait(&mut k, parent, c, 0).0, Some(0));
        assert_eq!(wait(&mut k, tracer, c, 0), (Some(c as i64), libc::SIGKILL));
        assert_eq!(wait(&mut k, tracer, c, 0).0, errno(libc::ECHILD));
        assert_eq!(wait(&mut k, parent, c, 0), (Some(c as i64), libc::SIGKILL));
        // A seized tracee in a stop runs on when its tracer exits.
        let d = fork(&mut k, parent);
        assert_eq!(ptrace(&mut k, tracer, super::SEIZE, d, 0, 0), Some(0));
        kill(&mut k, parent, d, libc::SIGUSR1);
        k.deliver_and_resume(d);
        assert_eq!(k.task(d).state, RunState::TraceStopped);
        k.exit_group(tracer, 0);
        assert!(k.tracees.is_empty());
        // It gets the signal it stopped for (SIGUSR1 ends it).
        assert_eq!(wait(&mut k, parent, d, 0), (Some(d as i64), libc::SIGUSR1));
        // PTRACE_O_EXITKILL: the tracer's exit kills the tracee.
        let e = fork(&mut k, parent);
        let tracer2 = k.test_process(0, 0);
        let exitkill = super::O_EXITKILL as u64;
        assert_eq!(
            ptrace(&mut k, tracer2, super::SEIZE, e, 0, exitkill),
            Some(0)
        );
        k.exit_group(tracer2, 0);
        assert_eq!(wait(&mut k, parent, e, 0), (Some(e as i64), libc::SIGKILL));
    }

    /// A tracee in a ptrace-stop is saved with its tracing: after a restore it is still
    /// stopped, still traced, and its tracer can resume it.
    #[test]
    fn a_stopped_tracee_survives_save_and_restore() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let c = stopped_tracee(&mut k, t);
        let st = saved(&mut k, root.path());
        assert_eq!(st.tracees.len(), 1);
        let task = st.tasks.iter().find(|x| x.tid == c).unwrap();
        assert_eq!(task.state, crate::kernel::task::RunStateState::TraceStopped);
        // A tracee naming a tracer that does not exist is refused.
        let mut bad = st.clone();
        bad.tracees[0].tracer = 4242;
        assert!(crate::kernel::validate::validate(&bad).is_err());
        let mut bad = st.clone();
        bad.tracees.clear();
        assert!(
            crate::kernel::validate::validate(&bad).is_err(),
            "stopped, untraced"
        );
    }

    /// PTRACE_O_TRACEFORK: the new child is traced by its parent's tracer, stopped at its
    /// SIGSTOP (waited for before its parent's event stop here), and the parent's
    /// PTRACE_EVENT_FORK tells its pid; both stops survive a save and restore, and bad
    /// saved tracing (an unknown event, listening while not seized, stepping while
    /// stopped) is refused.
    #[test]
    fn a_traced_fork_attaches_the_child_and_both_stops_are_saved() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let c = stopped_tracee(&mut k, t);
        assert_eq!(wait(&mut k, t, c, 0).0, Some(c as i64));
        let opts = (super::O_TRACEFORK | super::O_TRACESYSGOOD) as u64;
        assert_eq!(ptrace(&mut k, t, super::SETOPTIONS, c, 0, opts), Some(0));
        assert_eq!(
            ptrace(&mut k, t, super::SETOPTIONS, c, 0, 0x200),
            errno(libc::EINVAL)
        );
        assert_eq!(ptrace(&mut k, t, super::CONT, c, 0, 0), Some(0));
        let g = fork(&mut k, c);
        assert_eq!(k.tracer_pid(g), t, "the child is traced too");
        assert_eq!(k.task(g).state, RunState::TraceStopped);
        assert_eq!(
            k.tracees[&g].options,
            super::O_TRACEFORK | super::O_TRACESYSGOOD
        );
        // The child's stop first, then its parent's event (the call's exit).
        assert_eq!(
            wait(&mut k, t, -1, libc::__WALL),
            (Some(g as i64), (libc::SIGSTOP << 8) | 0x7f)
        );
        assert!(k.ptrace_syscall_exit(c));
        let fork_stop = (libc::SIGTRAP << 8) | 0x7f | (super::EVENT_FORK << 16);
        assert_eq!(
            wait(&mut k, t, -1, libc::__WALL),
            (Some(c as i64), fork_stop)
        );
        assert_eq!(
            ptrace(&mut k, t, super::GETEVENTMSG, c, 0, SCRATCH + 64),
            Some(0)
        );
        assert_eq!(k.get(t, SCRATCH + 64, 8), (g as u64).to_le_bytes());
        assert_eq!(
            ptrace(&mut k, t, super::GETEVENTMSG, c, 0, 8),
            errno(libc::EFAULT)
        );
        let st = saved(&mut k, root.path());
        assert_eq!(st.tracees.len(), 2);
        let at = |s: &crate::kernel::state::KernelState, tid| {
            s.tracees.iter().position(|e| e.tid == tid).unwrap()
        };
        let (ci, gi) = (at(&st, c), at(&st, g));
        let mut bad = st.clone();
        bad.tracees[ci].event = Some(99);
        assert!(crate::kernel::validate::validate(&bad).is_err(), "event 99");
        let mut bad = st.clone();
        bad.tracees[gi].listening = true;
        assert!(
            crate::kernel::validate::validate(&bad).is_err(),
            "listening"
        );
        let mut bad = st.clone();
        bad.tracees[gi].stepping = true;
        assert!(crate::kernel::validate::validate(&bad).is_err(), "stepping");
        // Resumed, the child runs untraced once detached; CLONE_UNTRACED makes none.
        assert_eq!(ptrace(&mut k, t, super::DETACH, g, 0, 0), Some(0));
        assert_eq!(k.tracer_pid(g), 0);
        assert_eq!(ptrace(&mut k, t, super::CONT, c, 0, 0), Some(0));
        let flags = (libc::CLONE_UNTRACED | libc::SIGCHLD) as u64;
        let h = k.call(c, libc::SYS_clone, [flags, 0, 0, 0, 0, 0]).unwrap() as i32;
        assert_eq!(k.tracer_pid(h), 0);
        assert!(!k.ptrace_syscall_exit(c), "no event");
    }

    /// PTRACE_LISTEN: only a seized tracee at its group stop; then not in a ptrace-stop
    /// (requests ESRCH, nothing to wait for) until SIGCONT traps it again with SIGTRAP;
    /// its listening is saved.
    #[test]
    fn a_listening_tracee_traps_again_at_sigcont() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let c = fork(&mut k, t);
        let tracer = k.test_process(0, 0);
        assert_eq!(ptrace(&mut k, tracer, super::SEIZE, c, 0, 0), Some(0));
        kill(&mut k, t, c, libc::SIGSTOP);
        k.deliver_and_resume(c);
        assert_eq!(wait(&mut k, tracer, c, 0).1, (libc::SIGSTOP << 8) | 0x7f);
        assert_eq!(
            ptrace(&mut k, tracer, super::LISTEN, c, 0, 0),
            errno(libc::EIO),
            "a signal-delivery stop"
        );
        let sigstop = libc::SIGSTOP as u64;
        assert_eq!(ptrace(&mut k, tracer, super::CONT, c, 0, sigstop), Some(0));
        let group = (libc::SIGSTOP << 8) | 0x7f | (super::EVENT_STOP << 16);
        assert_eq!(wait(&mut k, tracer, c, 0).1, group);
        assert_eq!(ptrace(&mut k, tracer, super::LISTEN, c, 0, 0), Some(0));
        assert_eq!(
            ptrace(&mut k, tracer, super::CONT, c, 0, 0),
            errno(libc::ESRCH)
        );
        assert_eq!(wait(&mut k, tracer, c, 0).0, Some(0));
        assert!(saved(&mut k, root.path()).tracees[0].listening);
        kill(&mut k, t, c, libc::SIGCONT);
        let trap = (libc::SIGTRAP << 8) | 0x7f | (super::EVENT_STOP << 16);
        assert_eq!(wait(&mut k, tracer, c, 0), (Some(c as i64), trap));
        assert_eq!(ptrace(&mut k, tracer, super::CONT, c, 0, 0), Some(0));
    }
}
