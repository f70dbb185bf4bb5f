/* ptrace(2) following children: the fork, vfork and clone event stops with the new pid
 * from PTRACE_GETEVENTMSG, the new child attached to the same tracer with the same
 * options (a SIGSTOP first, or PTRACE_EVENT_STOP when seized), CLONE_UNTRACED and
 * CLONE_PTRACE, PTRACE_EVENT_VFORK_DONE, PTRACE_GET_SYSCALL_INFO, PTRACE_LISTEN, and
 * POKEDATA into read-only memory. Pids are printed as names ("parent", "child"); one line
 * per check. */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "checks.h"

static const char *self;
static pid_t parent_pid, child_pid;

static const char *name(pid_t p) {
    if (p == parent_pid)
        return "parent";
    if (p == child_pid)
        return "child";
    return "other";
}

static const char *event_name(int ev) {
    switch (ev) {
    case 0: return "-";
    case PTRACE_EVENT_FORK: return "fork";
    case PTRACE_EVENT_VFORK: return "vfork";
    case PTRACE_EVENT_CLONE: return "clone";
    case PTRACE_EVENT_EXEC: return "exec";
    case PTRACE_EVENT_VFORK_DONE: return "vfork_done";
    case PTRACE_EVENT_EXIT: return "exit";
    case PTRACE_EVENT_STOP: return "stop";
    default: return "?";
    }
}

/* Prints what pid's wait status says. */
static void show(pid_t pid, int st) {
    const char *who = name(pid);
    if (WIFEXITED(st))
        printf("%s: exited %d\n", who, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by %d\n", who, WTERMSIG(st));
    else if (WIFSTOPPED(st))
        printf("%s: stopped by %d event %s\n", who, WSTOPSIG(st), event_name(st >> 16));
    else
        printf("%s: status %#x\n", who, st);
}

/* Waits for pid (-1: any tracee or child) and prints its status; returns the pid. */
static pid_t wait_show(pid_t pid) {
    int st = 0;
    pid_t r = waitpid(pid, &st, __WALL);
    if (r < 0) {
        printf("waitpid %s: %s\n", pid < 0 ? "any" : name(pid), en(r));
        return r;
    }
    show(r, st);
    return r;
}

/* The new pid of the event the parent is stopped at: becomes the child's. */
static void event_child(void) {
    unsigned long msg = 0;
    long r = ptrace(PTRACE_GETEVENTMSG, parent_pid, 0, &msg);
    child_pid = msg;
    printf("eventmsg: %s, a new pid %d\n", en(r), msg > 0 && (pid_t)msg != parent_pid);
}

static void tracer_of_child(void) {
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/status", child_pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        int tp;
        if (sscanf(line, "TracerPid: %d", &tp) == 1)
            printf("child's tracer is me: %d\n", tp == getpid());
    }
    if (f)
        fclose(f);
}

static void stop_self(void) { syscall(SYS_kill, getpid(), SIGSTOP); }

/* Runs pid to its end, each stop shown and its signal suppressed. */
static void run_to_end(pid_t pid) {
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, __WALL);
        if (r < 0) {
            printf("waitpid %s: %s\n", name(pid), en(r));
            return;
        }
        show(r, st);
        if (!WIFSTOPPED(st))
            return;
        ptrace(PTRACE_CONT, r, 0, 0);
    }
}

/* The parent of a traced fork, seized or traced with TRACEME, forks a child that execs
 * (this program with "exit3") and waits for it. `any`: the tracer waits for whichever
 * stops first. */
static void fork_event(int seize, int any) {
    printf("-- fork seize %d any %d\n", seize, any);
    int go[2];
    pipe(go);
    child_pid = 0;
    parent_pid = fork();
    if (parent_pid == 0) {
        if (!seize) {
            ptrace(PTRACE_TRACEME, 0, 0, 0);
            stop_self();
        } else {
            char b;
            read(go[0], &b, 1);
        }
        pid_t g = fork();
        if (g == 0) {
            execl(self, self, "exit3", (char *)0);
            _exit(1);
        }
        int st = 0;
        waitpid(g, &st, 0);
        _exit(WIFEXITED(st) ? 10 + WEXITSTATUS(st) : 1);
    }
    long opts = PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC;
    if (seize) {
        printf("seize: %s\n", en(ptrace(PTRACE_SEIZE, parent_pid, 0, (void *)opts)));
        write(go[1], "x", 1);
    } else {
        wait_show(parent_pid);
        printf("setoptions: %s\n", en(ptrace(PTRACE_SETOPTIONS, parent_pid, 0, (void *)opts)));
        printf("cont: %s\n", en(ptrace(PTRACE_CONT, parent_pid, 0, 0)));
    }
    if (any) {
        /* Both stops, in whatever order they come; printed in a fixed one. */
        int st[2] = {0, 0};
        pid_t who[2];
        for (int i = 0; i < 2; i++)
            who[i] = waitpid(-1, &st[i], __WALL);
        int p = who[0] == parent_pid ? 0 : 1;
        show(who[p], st[p]);
        event_child();
        printf("the other stop is the new child's: %d\n", who[1 - p] == child_pid);
        show(who[1 - p], st[1 - p]);
    } else {
        wait_show(parent_pid);
        event_child();
        wait_show(child_pid);
    }
    siginfo_t si;
    printf("child getsiginfo: %s\n", en(ptrace(PTRACE_GETSIGINFO, child_pid, 0, &si)));
    printf("signo %d code %#x pid %s\n", si.si_signo, si.si_code, si.si_pid ? name(si.si_pid) : "0");
    tracer_of_child();
    printf("cont child: %s\n", en(ptrace(PTRACE_CONT, child_pid, 0, 0)));
    wait_show(child_pid); /* its exec, the option inherited */
    printf("cont child: %s\n", en(ptrace(PTRACE_CONT, child_pid, 0, 0)));
    printf("cont parent: %s\n", en(ptrace(PTRACE_CONT, parent_pid, 0, 0)));
    wait_show(child_pid);
    run_to_end(parent_pid);
    close(go[0]);
    close(go[1]);
}

/* A child traced with PTRACE_TRACEME that stops itself, then vforks a grandchild that
 * execs `exit3`; it exits with 10 + the grandchild's status (100 + its signal if killed). */
static pid_t traced_vforker(void) {
    pid_t p = fork();
    if (p == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        pid_t g = vfork();
        if (g == 0) {
            execl(self, self, "exit3", (char *)0);
            _exit(1);
        }
        int st = 0;
        waitpid(g, &st, 0);
        _exit(WIFEXITED(st) ? 10 + WEXITSTATUS(st) : WIFSIGNALED(st) ? 100 + WTERMSIG(st) : 1);
    }
    return p;
}

/* vfork with PTRACE_O_TRACEVFORK and PTRACE_O_TRACEVFORKDONE: the parent's vfork stop,
 * then (its child exec'd) its vfork-done stop. */
static void vfork_events(void) {
    printf("-- vfork\n");
    child_pid = 0;
    parent_pid = traced_vforker();
    wait_show(parent_pid);
    long opts = PTRACE_O_TRACEVFORK | PTRACE_O_TRACEVFORKDONE;
    printf("setoptions: %s\n", en(ptrace(PTRACE_SETOPTIONS, parent_pid, 0, (void *)opts)));
    ptrace(PTRACE_CONT, parent_pid, 0, 0);
    wait_show(parent_pid);
    event_child();
    wait_show(child_pid);
    printf("cont parent: %s\n", en(ptrace(PTRACE_CONT, parent_pid, 0, 0)));
    int st;
    printf("parent waits for its child: %d\n", waitpid(parent_pid, &st, __WALL | WNOHANG) == 0);
    printf("cont child: %s\n", en(ptrace(PTRACE_CONT, child_pid, 0, 0)));
    wait_show(child_pid); /* the SIGTRAP after exec (no PTRACE_O_TRACEEXEC) */
    wait_show(parent_pid);
    unsigned long msg = 0;
    ptrace(PTRACE_GETEVENTMSG, parent_pid, 0, &msg);
    printf("vfork_done eventmsg is the child: %d\n", (pid_t)msg == child_pid);
    ptrace(PTRACE_CONT, child_pid, 0, 0);
    ptrace(PTRACE_CONT, parent_pid, 0, 0);
    wait_show(child_pid);
    run_to_end(parent_pid);
}

/* A debugger's detach of a vfork child (gdb's): a single step, the detach, the parent's
 * vfork-done stop; the child runs on untraced. */
static void vfork_detach(void) {
    printf("-- vfork detach\n");
    child_pid = 0;
    parent_pid = traced_vforker();
    wait_show(parent_pid);
    long opts = PTRACE_O_TRACEVFORK | PTRACE_O_TRACEVFORKDONE | PTRACE_O_TRACEFORK |
                PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD;
    ptrace(PTRACE_SETOPTIONS, parent_pid, 0, (void *)opts);
    ptrace(PTRACE_CONT, parent_pid, 0, 0);
    wait_show(parent_pid);
    event_child();
    wait_show(child_pid);
    printf("setoptions child: %s\n", en(ptrace(PTRACE_SETOPTIONS, child_pid, 0, 0)));
    printf("singlestep child: %s\n", en(ptrace(PTRACE_SINGLESTEP, child_pid, 0, 0)));
    wait_show(child_pid);
    printf("detach child: %s\n", en(ptrace(PTRACE_DETACH, child_pid, 0, 0)));
    ptrace(PTRACE_CONT, parent_pid, 0, 0);
    run_to_end(parent_pid);
}

static char stack[65536] __attribute__((aligned(16)));

static int clone_child(void *arg) {
    (void)arg;
    return 4;
}

/* clone with another exit signal (PTRACE_EVENT_CLONE), CLONE_UNTRACED (no event, not
 * traced), and CLONE_PTRACE without options (traced, no event). */
static void clone_events(int flags, long opts) {
    printf("-- clone %#x options %#lx\n", flags, opts);
    child_pid = 0;
    parent_pid = fork();
    if (parent_pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        pid_t g = clone(clone_child, stack + sizeof stack, flags, 0);
        int st = 0;
        waitpid(g, &st, __WALL);
        _exit(WIFEXITED(st) ? 10 + WEXITSTATUS(st) : 1);
    }
    wait_show(parent_pid);
    printf("setoptions: %s\n", en(ptrace(PTRACE_SETOPTIONS, parent_pid, 0, (void *)opts)));
    ptrace(PTRACE_CONT, parent_pid, 0, 0);
    for (;;) {
        int st = 0;
        pid_t r = waitpid(-1, &st, __WALL);
        if (r < 0)
            break;
        if (r != parent_pid && child_pid == 0)
            child_pid = r;
        show(r, st);
        if (r == parent_pid && WIFSTOPPED(st) && (st >> 16) != 0)
            event_child();
        if (WIFSTOPPED(st))
            ptrace(PTRACE_CONT, r, 0, 0);
        if (r == parent_pid && !WIFSTOPPED(st))
            break;
    }
}

static void *thread_body(void *arg) { return arg; }

/* A thread of a tracee (PTRACE_O_TRACECLONE): the clone event, the thread's SIGSTOP, and
 * its exit reported to the tracer by its tid (waited for while its process runs: once
 * the process has exited as a whole, Linux reports the process's status). */
static void thread_events(void) {
    printf("-- thread\n");
    child_pid = 0;
    parent_pid = fork();
    if (parent_pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        pthread_t th;
        pthread_create(&th, 0, thread_body, 0);
        pthread_join(th, 0);
        _exit(9);
    }
    wait_show(parent_pid);
    ptrace(PTRACE_SETOPTIONS, parent_pid, 0, (void *)PTRACE_O_TRACECLONE);
    ptrace(PTRACE_CONT, parent_pid, 0, 0);
    wait_show(parent_pid);
    event_child();
    wait_show(child_pid);
    printf("cont thread: %s\n", en(ptrace(PTRACE_CONT, child_pid, 0, 0)));
    wait_show(child_pid); /* its own exit status: its process still runs */
    printf("cont parent: %s\n", en(ptrace(PTRACE_CONT, parent_pid, 0, 0)));
    run_to_end(parent_pid);
}

/* PTRACE_GET_SYSCALL_INFO at system call entry and exit, at a signal stop, without
 * PTRACE_O_TRACESYSGOOD; the sizes it answers; a short buffer; a bad pointer. */
static void syscall_info(void) {
    printf("-- syscall info\n");
    parent_pid = fork();
    if (parent_pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        syscall(SYS_getppid, 11, 22, 33);
        syscall(SYS_close, -1);
        syscall(SYS_getppid);
        syscall(SYS_exit_group, 5);
    }
    wait_show(parent_pid);
    struct __ptrace_syscall_info info;
    long n = ptrace(PTRACE_GET_SYSCALL_INFO, parent_pid, (void *)sizeof info, &info);
    printf("at a signal stop: %ld op %d arch ok %d\n", n, info.op, info.arch == AUDIT_ARCH_X86_64);
    ptrace(PTRACE_SETOPTIONS, parent_pid, 0, (void *)PTRACE_O_TRACESYSGOOD);
    for (int i = 0; i < 4; i++) {
        ptrace(PTRACE_SYSCALL, parent_pid, 0, 0);
        wait_show(parent_pid);
        memset(&info, 0xee, sizeof info);
        n = ptrace(PTRACE_GET_SYSCALL_INFO, parent_pid, (void *)sizeof info, &info);
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, parent_pid, 0, &regs);
        unsigned long msg = 99;
        ptrace(PTRACE_GETEVENTMSG, parent_pid, 0, &msg);
        printf("info: %ld op %d arch ok %d ip ok %d sp ok %d eventmsg %lu\n", n, info.op,
               info.arch == AUDIT_ARCH_X86_64, info.instruction_pointer == regs.rip,
               info.stack_pointer == regs.rsp, msg);
        if (info.op == PTRACE_SYSCALL_INFO_ENTRY)
            printf("entry nr %llu arg0 %lld\n", (unsigned long long)info.entry.nr,
                   (long long)info.entry.args[0]);
        else if (info.op == PTRACE_SYSCALL_INFO_EXIT)
            printf("exit rval is ppid %d rval %lld is_error %d\n",
                   info.exit.rval == getpid(), info.exit.rval == getpid() ? 0 : (long long)info.exit.rval,
                   info.exit.is_error);
    }
    unsigned char small[4] = {9, 9, 9, 9};
    n = ptrace(PTRACE_GET_SYSCALL_INFO, parent_pid, (void *)1, small);
    printf("short buffer: %ld bytes %d %d\n", n, small[0], small[1]);
    printf("bad pointer: %s\n", en(ptrace(PTRACE_GET_SYSCALL_INFO, parent_pid,
                                          (void *)sizeof info, (void *)8)));
    n = ptrace(PTRACE_GET_SYSCALL_INFO, parent_pid, 0, (void *)8);
    printf("bad pointer, no size: %ld\n", n);
    printf("geteventmsg bad pointer: %s\n",
           en(ptrace(PTRACE_GETEVENTMSG, parent_pid, 0, (void *)8)));
    /* Without PTRACE_O_TRACESYSGOOD the syscall stops say nothing (op none). */
    ptrace(PTRACE_SETOPTIONS, parent_pid, 0, 0);
    ptrace(PTRACE_SYSCALL, parent_pid, 0, 0);
    wait_show(parent_pid);
    n = ptrace(PTRACE_GET_SYSCALL_INFO, parent_pid, (void *)sizeof info, &info);
    printf("no sysgood: %ld op %d\n", n, info.op);
    ptrace(PTRACE_CONT, parent_pid, 0, 0);
    wait_show(parent_pid);
}

/* PTRACE_LISTEN: a seized tracee in a group stop listens (not a ptrace-stop: requests
 * fail, wait sees nothing) until SIGCONT or PTRACE_INTERRUPT traps it again. */
static void listen(void) {
    printf("-- listen\n");
    parent_pid = fork();
    if (parent_pid == 0) {
        for (;;)
            pause();
    }
    printf("seize: %s\n", en(ptrace(PTRACE_SEIZE, parent_pid, 0, 0)));
    printf("listen running: %s\n", en(ptrace(PTRACE_LISTEN, parent_pid, 0, 0)));
    kill(parent_pid, SIGSTOP);
    wait_show(parent_pid); /* the signal-delivery stop */
    ptrace(PTRACE_CONT, parent_pid, 0, (void *)SIGSTOP);
    wait_show(parent_pid); /* the group stop */
    printf("listen: %s\n", en(ptrace(PTRACE_LISTEN, parent_pid, 0, 0)));
    printf("cont while listening: %s\n", en(ptrace(PTRACE_CONT, parent_pid, 0, 0)));
    int st = 0;
    printf("nothing to wait for: %d\n", waitpid(parent_pid, &st, __WALL | WNOHANG));
    kill(parent_pid, SIGCONT);
    wait_show(parent_pid);
    siginfo_t si;
    printf("getsiginfo: %s\n", en(ptrace(PTRACE_GETSIGINFO, parent_pid, 0, &si)));
    printf("signo %d code %#x\n", si.si_signo, si.si_code);
    printf("listen at an event stop: %s\n", en(ptrace(PTRACE_LISTEN, parent_pid, 0, 0)));
    printf("interrupt: %s\n", en(ptrace(PTRACE_INTERRUPT, parent_pid, 0, 0)));
    wait_show(parent_pid);
    printf("cont: %s\n", en(ptrace(PTRACE_CONT, parent_pid, 0, 0)));
    /* A SIGCONT that the tracee is to get is a signal-delivery stop. */
    wait_show(parent_pid);
    printf("cont: %s\n", en(ptrace(PTRACE_CONT, parent_pid, 0, 0)));
    printf("kill: %s\n", en(ptrace(PTRACE_KILL, parent_pid, 0, 0)));
    wait_show(parent_pid);

    /* PTRACE_LISTEN of a tracee attached with PTRACE_ATTACH: EIO. */
    parent_pid = fork();
    if (parent_pid == 0) {
        for (;;)
            pause();
    }
    ptrace(PTRACE_ATTACH, parent_pid, 0, 0);
    wait_show(parent_pid);
    printf("listen attached: %s\n", en(ptrace(PTRACE_LISTEN, parent_pid, 0, 0)));
    ptrace(PTRACE_KILL, parent_pid, 0, 0);
    wait_show(parent_pid);
}

static const volatile long rodata = 5;

/* POKEDATA into read-only private memory writes (copy-on-write broken: the tracer's
 * copy keeps its value); into a read-only shared mapping or nothing, EIO. */
static void poke_readonly(void) {
    printf("-- poke\n");
    long *ro = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *ro = 6;
    mprotect(ro, 4096, PROT_READ);
    long *none = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *none = 7;
    mprotect(none, 4096, PROT_NONE);
    long *shared = mmap(0, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *hole = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 4096);
    parent_pid = fork();
    if (parent_pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        mprotect(none, 4096, PROT_READ);
        printf("tracee sees rodata %ld ro %ld none %ld\n", rodata, *ro, *none);
        _exit(0);
    }
    wait_show(parent_pid);
    errno = 0;
    long v = ptrace(PTRACE_PEEKDATA, parent_pid, none, 0);
    printf("peek prot_none: %ld %s\n", v, en(errno ? -1 : 0));
    printf("poke rodata: %s\n", en(ptrace(PTRACE_POKEDATA, parent_pid, &rodata, (void *)50)));
    printf("poke ro: %s\n", en(ptrace(PTRACE_POKEDATA, parent_pid, ro, (void *)60)));
    printf("poketext ro: %s\n", en(ptrace(PTRACE_POKETEXT, parent_pid, ro + 1, (void *)61)));
    printf("poke prot_none: %s\n", en(ptrace(PTRACE_POKEDATA, parent_pid, none, (void *)70)));
    printf("poke shared ro: %s\n", en(ptrace(PTRACE_POKEDATA, parent_pid, shared, (void *)1)));
    printf("poke hole: %s\n", en(ptrace(PTRACE_POKEDATA, parent_pid, hole, (void *)1)));
    errno = 0;
    ptrace(PTRACE_PEEKDATA, parent_pid, hole, 0);
    printf("peek hole: %s\n", en(errno ? -1 : 0));
    printf("peek across into the hole: %s\n",
           en(ptrace(PTRACE_POKEDATA, parent_pid, hole - 4, (void *)1)));
    v = ptrace(PTRACE_PEEKDATA, parent_pid, ro + 1, 0);
    printf("peek ro: %ld\n", v);
    ptrace(PTRACE_CONT, parent_pid, 0, 0);
    wait_show(parent_pid);
    mprotect(none, 4096, PROT_READ);
    printf("mine: rodata %ld ro %ld none %ld\n", rodata, *ro, *none);
}

/* PTRACE_SINGLESTEP: a SIGTRAP stop (TRAP_TRACE) after each instruction, even with every
 * signal blocked (a trap is forced), the trap flag gone after it; detached, the tracee
 * runs on untouched. */
static void singlestep(void) {
    printf("-- singlestep\n");
    parent_pid = fork();
    if (parent_pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, 0);
        stop_self();
        volatile int n = 0;
        for (int i = 0; i < 1000; i++)
            n += i;
        _exit(n == 499500 ? 6 : 1);
    }
    wait_show(parent_pid);
    struct user_regs_struct before, after;
    ptrace(PTRACE_GETREGS, parent_pid, 0, &before);
    for (int i = 0; i < 3; i++) {
        printf("singlestep: %s\n", en(ptrace(PTRACE_SINGLESTEP, parent_pid, 0, 0)));
        wait_show(parent_pid);
        siginfo_t si;
        ptrace(PTRACE_GETSIGINFO, parent_pid, 0, &si);
        ptrace(PTRACE_GETREGS, parent_pid, 0, &after);
        printf("signo %d code %d moved %d trap flag %d\n", si.si_signo, si.si_code,
               after.rip != before.rip, !!(after.eflags & 0x100));
        before = after;
    }
    printf("detach: %s\n", en(ptrace(PTRACE_DETACH, parent_pid, 0, 0)));
    wait_show(parent_pid);
}

/* Bad option bits and requests. */
static void hostile(void) {
    printf("-- hostile\n");
    parent_pid = fork();
    if (parent_pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        _exit(0);
    }
    wait_show(parent_pid);
    printf("setoptions all follow: %s\n",
           en(ptrace(PTRACE_SETOPTIONS, parent_pid, 0,
                     (void *)(PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                              PTRACE_O_TRACEVFORKDONE))));
    printf("setoptions bit 8: %s\n", en(ptrace(PTRACE_SETOPTIONS, parent_pid, 0, (void *)0x100)));
    printf("setoptions high: %s\n", en(ptrace(PTRACE_SETOPTIONS, parent_pid, 0, (void *)(1UL << 33))));
    ptrace(PTRACE_CONT, parent_pid, 0, 0);
    wait_show(parent_pid);
}

int main(int argc, char **argv) {
    if (argc > 1)
        return 3;
    self = argv[0];
    setvbuf(stdout, NULL, _IONBF, 0);
    fork_event(0, 0);
    fork_event(1, 0);
    fork_event(0, 1);
    fork_event(1, 1);
    vfork_events();
    vfork_detach();
    clone_events(SIGUSR1, PTRACE_O_TRACECLONE);
    clone_events(SIGCHLD, PTRACE_O_TRACEFORK | PTRACE_O_TRACECLONE);
    clone_events(SIGCHLD | CLONE_UNTRACED, PTRACE_O_TRACEFORK | PTRACE_O_TRACECLONE);
    clone_events(SIGCHLD | CLONE_PTRACE, 0);
    clone_events(SIGCHLD | CLONE_PTRACE | CLONE_UNTRACED, 0);
    clone_events(SIGCHLD | CLONE_VFORK | CLONE_VM, PTRACE_O_TRACEVFORK);
    thread_events();
    syscall_info();
    listen();
    poke_readonly();
    singlestep();
    hostile();
    return 0;
}
