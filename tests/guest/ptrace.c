/* ptrace(2) between a tracer and its tracee: the wait statuses the tracer sees at each
 * stop (signal-delivery, group, exec, exit, system call entry and exit, PTRACE_INTERRUPT's),
 * what it reads and writes of the stopped tracee, the signals it injects or suppresses,
 * the exits it is told of, and the errors of bad requests. One line per check. */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "checks.h"

static volatile long value = 42;
static volatile int got;

static void on_usr2(int sig) { got = sig; }

/* Prints what a wait status says. */
static void show(const char *what, int st) {
    if (WIFEXITED(st))
        printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by %d\n", what, WTERMSIG(st));
    else if (WIFSTOPPED(st))
        printf("%s: stopped by %d event %d\n", what, WSTOPSIG(st), st >> 16);
    else
        printf("%s: status %#x\n", what, st);
}

static void wait_show(const char *what, pid_t pid) {
    int st = 0;
    pid_t r = waitpid(pid, &st, __WALL);
    if (r != pid)
        printf("%s: waitpid %d %s\n", what, r, en(r));
    else
        show(what, st);
}

static long peekuser(pid_t pid, long off) {
    errno = 0;
    return ptrace(PTRACE_PEEKUSER, pid, (void *)off, 0);
}

static void stop_self(void) { syscall(SYS_kill, getpid(), SIGSTOP); }

/* TRACEME, a signal stop, registers, siginfo, memory, injection and suppression. */
static void traceme(void) {
    pid_t c = fork();
    if (c == 0) {
        signal(SIGUSR2, on_usr2);
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        printf("second traceme: %s\n", en(ptrace(PTRACE_TRACEME, 0, 0, 0)));
        fflush(stdout);
        syscall(SYS_kill, getpid(), SIGUSR1); /* suppressed by the tracer */
        stop_self();                          /* replaced by SIGUSR2 */
        _exit(got == SIGUSR2 && value == 99 ? 7 : 1);
    }
    wait_show("usr1", c);
    siginfo_t si;
    printf("getsiginfo: %s\n", en(ptrace(PTRACE_GETSIGINFO, c, 0, &si)));
    printf("signo %d code %d pid is mine %d\n", si.si_signo, si.si_code, si.si_pid == c);
    struct user_regs_struct regs;
    printf("getregs: %s\n", en(ptrace(PTRACE_GETREGS, c, 0, &regs)));
    printf("orig_rax %lld, peekuser agrees %d\n", regs.orig_rax,
           peekuser(c, offsetof(struct user_regs_struct, orig_rax)) == (long)regs.orig_rax);
    printf("peekuser rip agrees %d\n",
           peekuser(c, offsetof(struct user_regs_struct, rip)) == (long)regs.rip);
    printf("peekuser debugreg: %ld\n", peekuser(c, offsetof(struct user, u_debugreg)));
    printf("peekuser misaligned: %s\n", en(peekuser(c, 3)));
    printf("peekuser past: %s\n", en(peekuser(c, 4096)));
    struct iovec iov = {&regs, sizeof regs};
    printf("getregset: %s len %zu\n",
           en(ptrace(PTRACE_GETREGSET, c, (void *)1 /* NT_PRSTATUS */, &iov)), iov.iov_len);
    struct user_fpregs_struct fp;
    printf("getfpregs: %s\n", en(ptrace(PTRACE_GETFPREGS, c, 0, &fp)));
    long v = ptrace(PTRACE_PEEKDATA, c, &value, 0);
    printf("peekdata: %ld\n", v);
    printf("pokedata: %s\n", en(ptrace(PTRACE_POKEDATA, c, &value, (void *)99)));
    printf("peek bad: %s\n", en(ptrace(PTRACE_PEEKDATA, c, (void *)8, 0)));
    printf("cont bad signal: %s\n", en(ptrace(PTRACE_CONT, c, 0, (void *)65)));
    printf("bad request: %s\n", en(ptrace(0x7777, c, 0, 0)));
    printf("cont: %s\n", en(ptrace(PTRACE_CONT, c, 0, 0)));
    wait_show("stop", c);
    printf("cont usr2: %s\n", en(ptrace(PTRACE_CONT, c, 0, (void *)SIGUSR2)));
    wait_show("end", c);
}

/* gVisor's TraceeWALL: a tracee is waited for with __WCLONE. */
static void wclone(void) {
    pid_t c = fork();
    if (c == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        _exit(0);
    }
    /* Linux before 4.7 (and a host that is one) answers ECHILD: either is right. */
    int st = 0;
    pid_t r = wait4(c, &st, __WCLONE, 0);
    if (r != c)
        r = wait4(c, &st, 0, 0);
    printf("wclone: %s\n", r == c ? "reaped" : en(r));
    show("wclone", st);
}

/* PTRACE_ATTACH: its SIGSTOP, the errors, resuming into a group stop, /proc status,
 * and a detach that delivers a signal. */
static void attach(void) {
    pid_t c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    printf("attach: %s\n", en(ptrace(PTRACE_ATTACH, c, 0, 0)));
    wait_show("attach", c);
    printf("attach again: %s\n", en(ptrace(PTRACE_ATTACH, c, 0, 0)));
    printf("attach self: %s\n", en(ptrace(PTRACE_ATTACH, getpid(), 0, 0)));
    printf("attach none: %s\n", en(ptrace(PTRACE_ATTACH, 999999, 0, 0)));
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/status", c);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "State:", 6))
            printf("%s", line);
        int tp;
        if (sscanf(line, "TracerPid: %d", &tp) == 1)
            printf("tracer is me: %d\n", tp == getpid());
    }
    if (f)
        fclose(f);
    printf("cont stop: %s\n", en(ptrace(PTRACE_CONT, c, 0, (void *)SIGSTOP)));
    wait_show("group stop", c);
    printf("cont: %s\n", en(ptrace(PTRACE_CONT, c, 0, 0)));
    printf("cont running: %s\n", en(ptrace(PTRACE_CONT, c, 0, 0)));
    kill(c, SIGTERM);
    wait_show("term", c);
    printf("detach term: %s\n", en(ptrace(PTRACE_DETACH, c, 0, (void *)SIGTERM)));
    wait_show("detached", c);
}

/* The SIGTRAP after execve, and PTRACE_EVENT_EXEC with PTRACE_O_TRACEEXEC. */
static void exec_stops(const char *self, int option) {
    pid_t c = fork();
    if (c == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        execl(self, self, "exit3", (char *)0);
        _exit(1);
    }
    wait_show("before exec", c);
    if (option)
        printf("setoptions: %s\n",
               en(ptrace(PTRACE_SETOPTIONS, c, 0, (void *)PTRACE_O_TRACEEXEC)));
    printf("setoptions bad: %s\n", en(ptrace(PTRACE_SETOPTIONS, c, 0, (void *)0x40000000)));
    ptrace(PTRACE_CONT, c, 0, 0);
    wait_show("exec", c);
    unsigned long msg = 0;
    ptrace(PTRACE_GETEVENTMSG, c, 0, &msg);
    printf("eventmsg is the pid: %d\n", option ? msg == (unsigned long)c : 1);
    ptrace(PTRACE_CONT, c, 0, 0);
    wait_show("after exec", c);
}

/* PTRACE_SYSCALL with PTRACE_O_TRACESYSGOOD: entry and exit stops. */
static void syscalls(void) {
    pid_t c = fork();
    if (c == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        syscall(SYS_getppid);
        syscall(SYS_exit_group, 5);
    }
    wait_show("syscall start", c);
    ptrace(PTRACE_SETOPTIONS, c, 0, (void *)PTRACE_O_TRACESYSGOOD);
    for (int i = 0; i < 6; i++) {
        ptrace(PTRACE_SYSCALL, c, 0, 0);
        int st;
        if (waitpid(c, &st, 0) != c)
            break;
        if (!WIFSTOPPED(st)) {
            show("syscall end", st);
            break;
        }
        long nr = peekuser(c, offsetof(struct user_regs_struct, orig_rax));
        long rax = peekuser(c, offsetof(struct user_regs_struct, rax));
        printf("stop %#x nr %ld rax %s\n", WSTOPSIG(st), nr,
               rax == -ENOSYS ? "-ENOSYS" : rax == getpid() ? "ppid" : "other");
    }
}

/* PTRACE_O_TRACEEXIT: a stop before the exit, with the status to come. */
static void exit_event(void) {
    pid_t c = fork();
    if (c == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        stop_self();
        _exit(4);
    }
    wait_show("exit start", c);
    printf("setoptions: %s\n", en(ptrace(PTRACE_SETOPTIONS, c, 0, (void *)PTRACE_O_TRACEEXIT)));
    ptrace(PTRACE_CONT, c, 0, 0);
    wait_show("exit event", c);
    unsigned long msg = 0;
    long r = ptrace(PTRACE_GETEVENTMSG, c, 0, &msg);
    printf("eventmsg: %s %#lx\n", en(r), msg);
    ptrace(PTRACE_CONT, c, 0, 0);
    wait_show("exit end", c);
}

/* PTRACE_SEIZE and PTRACE_INTERRUPT of a tracee blocked in pause(). */
static void seize(void) {
    pid_t c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    printf("seize bad: %s\n", en(ptrace(PTRACE_SEIZE, c, 0, (void *)0x40000000)));
    printf("seize: %s\n", en(ptrace(PTRACE_SEIZE, c, 0, (void *)PTRACE_O_EXITKILL)));
    printf("interrupt: %s\n", en(ptrace(PTRACE_INTERRUPT, c, 0, 0)));
    wait_show("interrupted", c);
    siginfo_t si;
    printf("getsiginfo: %s\n", en(ptrace(PTRACE_GETSIGINFO, c, 0, &si)));
    printf("signo %d code %#x\n", si.si_signo, si.si_code);
    printf("cont: %s\n", en(ptrace(PTRACE_CONT, c, 0, 0)));
    printf("kill: %s\n", en(ptrace(PTRACE_KILL, c, 0, 0)));
    wait_show("killed", c);
    printf("not traced: %s\n", en(ptrace(PTRACE_CONT, getpid(), 0, 0)));
}

int main(int argc, char **argv) {
    if (argc > 1)
        return 3;
    setvbuf(stdout, NULL, _IONBF, 0);
    traceme();
    wclone();
    attach();
    exec_stops(argv[0], 0);
    exec_stops(argv[0], 1);
    syscalls();
    exit_event();
    seize();
    return 0;
}
