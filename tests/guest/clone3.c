/* clone3: the checks of struct clone_args (size, unknown fields, flags, exit_signal,
 * stack, set_tid, cgroup), a fork through it with SIGCHLD and with no exit signal, a
 * child sharing memory on its own stack or, with CLONE_VFORK, on the parent's, CLONE_CLEAR_SIGHAND, and set_tid (a
 * free pid, one in use, one out of range). Prints one line per check; the test compares
 * them with the same program run natively (as root). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

struct args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
};

static long clone3(struct args *a, size_t size) { return syscall(SYS_clone3, a, size); }

/* clone3 with `a`: in the child exit(7) at once; in the parent the child's status. */
static const char *forked(struct args *a, size_t size) {
    long r = clone3(a, size);
    if (r == 0)
        _exit(7);
    if (r < 0)
        return en(r);
    int st;
    static char out[64];
    long w = waitpid(r, &st, __WALL);
    snprintf(out, sizeof out, "ok, child exit %d waited=%d", WEXITSTATUS(st), w == r);
    return out;
}

/* clone3 whose child, touching no stack, stores its stack pointer at `*sp` and exits. */
static long clone3_sp(struct args *a, size_t size, volatile uint64_t *sp) {
    long r;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov %%rsp, (%%rdx)\n\t"
                     "mov $60, %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "syscall\n\t"
                     "1:\n\t"
                     : "=a"(r)
                     : "a"((long)SYS_clone3), "D"(a), "S"(size), "d"(sp)
                     : "rcx", "r11", "memory");
    return r;
}

static volatile uint64_t child_sp;
static char stack[4096] __attribute__((aligned(16)));

static void on_usr1(int s) { (void)s; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct args a;
    unsigned char big[200];
    memset(&a, 0, sizeof a);
    a.exit_signal = SIGCHLD;
    printf("size 0: %s\n", en(clone3(&a, 0)));
    printf("size 63: %s\n", en(clone3(&a, 63)));
    printf("size 4097: %s\n", en(clone3(&a, 4097)));
    printf("bad pointer: %s\n", en(clone3((void *)8, sizeof a)));
    memset(big, 0, sizeof big);
    memcpy(big, &a, sizeof a);
    big[150] = 1;
    printf("unknown field set: %s\n", en(clone3((void *)big, sizeof big)));
    big[150] = 0;
    printf("unknown fields zero: %s\n", forked((void *)big, sizeof big));
    printf("size 64 (version 0): %s\n", forked(&a, 64));
    a.exit_signal = 65;
    printf("exit signal 65: %s\n", en(clone3(&a, sizeof a)));
    a.exit_signal = 0x100 | SIGCHLD;
    printf("exit signal beyond CSIGNAL: %s\n", en(clone3(&a, sizeof a)));
    a.exit_signal = 0;
    printf("no exit signal: %s\n", forked(&a, sizeof a));
    a.flags = SIGCHLD;
    printf("signal in flags: %s\n", en(clone3(&a, sizeof a)));
    a.flags = CLONE_DETACHED;
    printf("CLONE_DETACHED: %s\n", en(clone3(&a, sizeof a)));
    a.flags = 1ULL << 40;
    printf("unknown flag: %s\n", en(clone3(&a, sizeof a)));
    a.flags = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
    a.exit_signal = SIGCHLD;
    printf("thread with exit signal: %s\n", en(clone3(&a, sizeof a)));
    a.flags = CLONE_PARENT;
    printf("parent with exit signal: %s\n", en(clone3(&a, sizeof a)));
    a.flags = CLONE_SIGHAND | CLONE_VM | CLONE_CLEAR_SIGHAND;
    a.exit_signal = 0;
    printf("sighand and clear sighand: %s\n", en(clone3(&a, sizeof a)));
    a.flags = CLONE_THREAD;
    printf("thread without sighand: %s\n", en(clone3(&a, sizeof a)));
    a.flags = 0;
    a.exit_signal = SIGCHLD;
    a.stack = (uintptr_t)stack;
    printf("stack without size: %s\n", en(clone3(&a, sizeof a)));
    a.stack = 0;
    a.stack_size = sizeof stack;
    printf("size without stack: %s\n", en(clone3(&a, sizeof a)));
    a.stack = 0xffffffffffff0000ULL;
    printf("stack out of user space: %s\n", en(clone3(&a, sizeof a)));
    a.stack = 0;
    a.stack_size = 0;
    pid_t tids[2] = {1, 1};
    a.set_tid_size = 1;
    printf("set_tid_size without set_tid: %s\n", en(clone3(&a, sizeof a)));
    a.set_tid = (uintptr_t)tids;
    a.set_tid_size = 0;
    printf("set_tid without size: %s\n", en(clone3(&a, sizeof a)));
    a.set_tid_size = 33;
    printf("set_tid_size 33: %s\n", en(clone3(&a, sizeof a)));
    a.set_tid_size = 2;
    printf("two tids: %s\n", en(clone3(&a, sizeof a)));
    a.set_tid_size = 1;
    a.set_tid = 8;
    printf("set_tid bad pointer: %s\n", en(clone3(&a, sizeof a)));
    a.set_tid = (uintptr_t)tids;
    printf("set_tid in use: %s\n", en(clone3(&a, sizeof a)));
    tids[0] = 0;
    printf("set_tid 0: %s\n", en(clone3(&a, sizeof a)));
    tids[0] = 1 << 23;
    printf("set_tid beyond pid_max: %s\n", en(clone3(&a, sizeof a)));
    pid_t free = 300;
    while (kill(free, 0) == 0 || errno != ESRCH)
        free++;
    tids[0] = free;
    long r = clone3(&a, sizeof a);
    if (r == 0)
        _exit(getpid() == free ? 3 : 4);
    int st;
    waitpid(r, &st, 0);
    printf("set_tid free: parent sees it=%d child sees it=%d\n", r == free,
           WEXITSTATUS(st) == 3);
    a.set_tid = 0;
    a.set_tid_size = 0;
    a.flags = CLONE_INTO_CGROUP;
    printf("into cgroup, version 0 size: %s\n", en(clone3(&a, 64)));
    a.cgroup = 1ULL << 32;
    printf("into cgroup, fd beyond INT_MAX: %s\n", en(clone3(&a, sizeof a)));
    a.cgroup = 999;
    printf("into cgroup, not an fd: %s\n", en(clone3(&a, sizeof a)));
    a.flags = 0;
    a.cgroup = 0;

    /* Sharing memory on its own stack: it starts at the stack's top; with CLONE_VFORK on
     * the parent's, which waits. */
    a.flags = CLONE_VM;
    a.stack = (uintptr_t)stack;
    a.stack_size = sizeof stack;
    r = clone3_sp(&a, sizeof a, &child_sp);
    waitpid(r, &st, 0);
    printf("CLONE_VM: child's sp is the stack's top=%d\n",
           child_sp == (uintptr_t)stack + sizeof stack);
    a.flags = CLONE_VM | CLONE_VFORK;
    a.stack = 0;
    a.stack_size = 0;
    child_sp = 0;
    uint64_t here = (uintptr_t)&r;
    r = clone3_sp(&a, sizeof a, &child_sp);
    printf("CLONE_VFORK: child ran first on the parent's stack=%d\n",
           child_sp != 0 && child_sp < here && here - child_sp < 4096);
    waitpid(r, &st, 0);
    a.flags = 0;

    /* CLONE_CLEAR_SIGHAND: handlers back to the default, ignored stays ignored. */
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, SIG_IGN);
    a.flags = CLONE_CLEAR_SIGHAND;
    r = clone3(&a, sizeof a);
    if (r == 0) {
        struct sigaction s1, s2;
        sigaction(SIGUSR1, NULL, &s1);
        sigaction(SIGUSR2, NULL, &s2);
        _exit((s1.sa_handler == SIG_DFL) | (s2.sa_handler == SIG_IGN) << 1);
    }
    waitpid(r, &st, 0);
    printf("clear sighand: handler reset=%d ignored kept=%d\n", WEXITSTATUS(st) & 1,
           WEXITSTATUS(st) >> 1 & 1);
    return 0;
}
