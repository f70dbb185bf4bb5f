/* Scheduling attributes as Linux keeps them: policies with sched_setscheduler and
 * sched_setattr (nice inside the record), reset-on-fork, what fork inherits, nice with
 * setpriority for a thread, a process group and a user, CPU affinity, /proc/self/stat's
 * priority, nice, rt_priority and policy fields, and bad arguments (negative and unknown
 * pids, null records, sizes, flags, policies, priorities). One line per check. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "checks.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif
#define SCHED_DEADLINE 6

/* Linux's struct sched_attr (SCHED_ATTR_SIZE_VER1). */
struct sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
    uint32_t sched_util_min, sched_util_max;
};

static long setattr(pid_t pid, void *attr, unsigned flags) {
    return syscall(SYS_sched_setattr, pid, attr, flags);
}

static long getattr(pid_t pid, void *attr, unsigned size, unsigned flags) {
    return syscall(SYS_sched_getattr, pid, attr, size, flags);
}

/* Fields 18, 19, 40 and 41 of /proc/self/stat: priority, nice, rt_priority, policy. */
static void show_stat(const char *who) {
    char buf[1024] = {0};
    int fd = open("/proc/self/stat", O_RDONLY);
    read(fd, buf, sizeof buf - 1);
    close(fd);
    char *p = strrchr(buf, ')') + 2; /* field 3 */
    long f[64] = {0};
    for (int i = 3; i <= 41 && p; i++) {
        f[i] = strtol(p, NULL, 10);
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    printf("%s stat: priority %ld nice %ld rt_priority %ld policy %ld\n", who, f[18], f[19], f[40],
           f[41]);
}

static void show(const char *who) {
    struct sched_attr a = {0};
    long r = getattr(0, &a, sizeof a, 0);
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0);
    printf("%s: getattr %s size %u policy %u flags %llu nice %d prio %u; scheduler %#x; "
           "getpriority %d\n",
           who, en(r), a.size, a.sched_policy, (unsigned long long)a.sched_flags, a.sched_nice,
           a.sched_priority, sched_getscheduler(0), prio);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    (void)show_fd;
    /* A process group of its own: PRIO_PGRP below must reach nothing but this test. */
    setpgid(0, 0);
    show("start");
    show_stat("start");
    struct sched_param sp = {0};
    printf("batch: %s\n", en(sched_setscheduler(0, SCHED_BATCH, &sp)));
    show("batch");
    struct sched_attr a = {.size = sizeof a, .sched_policy = SCHED_OTHER, .sched_nice = 5};
    printf("setattr other nice 5: %s\n", en(setattr(0, &a, 0)));
    show("nice 5");
    show_stat("nice 5");

    /* Bad arguments. */
    printf("getparam -1: %s\n", en(sched_getparam(-1, &sp)));
    printf("getparam null: %s\n", en(syscall(SYS_sched_getparam, 0, NULL)));
    printf("getparam missing pid: %s\n", en(sched_getparam((1 << 29) + 1, &sp)));
    printf("getscheduler -1: %s\n", en(sched_getscheduler(-1)));
    printf("setscheduler null: %s\n", en(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL)));
    printf("setscheduler 42: %s\n", en(sched_setscheduler(0, 42, &sp)));
    printf("setscheduler fifo priority 0: %s\n", en(sched_setscheduler(0, SCHED_FIFO, &sp)));
    sp.sched_priority = 100;
    printf("setscheduler rr priority 100: %s\n", en(sched_setscheduler(0, SCHED_RR, &sp)));
    sp.sched_priority = 3;
    printf("setscheduler other priority 3: %s\n", en(sched_setscheduler(0, SCHED_OTHER, &sp)));
    sp.sched_priority = 0;
    printf("setattr null: %s\n", en(setattr(0, NULL, 0)));
    printf("setattr flags 2: %s\n", en(setattr(0, &a, 2)));
    a.sched_flags = 0x1000;
    printf("setattr unknown sched_flags: %s\n", en(setattr(0, &a, 0)));
    a.sched_flags = 0;
    a.sched_nice = 20;
    printf("setattr nice 20: %s\n", en(setattr(0, &a, 0)));
    a.sched_nice = 5;
    a.sched_policy = SCHED_DEADLINE;
    printf("setattr deadline without parameters: %s\n", en(setattr(0, &a, 0)));
    a.sched_policy = SCHED_OTHER;
    a.size = 12;
    long r = setattr(0, &a, 0);
    printf("setattr size 12: %s, size written back %u\n", r < 0 && errno == E2BIG ? "E2BIG" : en(r),
           a.size);
    char big[128];
    memset(big, 0, sizeof big);
    memcpy(big, &a, sizeof a);
    ((struct sched_attr *)big)->size = sizeof big;
    ((struct sched_attr *)big)->sched_nice = 5;
    printf("setattr larger record, zero tail: %s\n", en(setattr(0, big, 0)));
    big[100] = 1;
    r = setattr(0, big, 0);
    printf("setattr larger record, non-zero tail: %s, size written back %u\n",
           r < 0 && errno == E2BIG ? "E2BIG" : en(r), ((struct sched_attr *)big)->size);
    printf("getattr size 8: %s\n", en(getattr(0, &a, 8, 0)));
    printf("getattr flags 1: %s\n", en(getattr(0, &a, sizeof a, 1)));
    printf("getattr -1: %s\n", en(getattr(-1, &a, sizeof a, 0)));
    struct sched_attr v0 = {0};
    printf("getattr first version: %s policy %u\n", en(getattr(0, &v0, 48, 0)), v0.sched_policy);
    printf("priority max/min fifo %d %d other %d %d bad %s\n", sched_get_priority_max(SCHED_FIFO),
           sched_get_priority_min(SCHED_FIFO), sched_get_priority_max(SCHED_OTHER),
           sched_get_priority_min(SCHED_OTHER), en(sched_get_priority_max(42)));

    /* Nice through setpriority, for the process group and the user too. */
    printf("setpriority 9: %s\n", en(setpriority(PRIO_PROCESS, 0, 9)));
    printf("setpriority pgrp 11: %s\n", en(setpriority(PRIO_PGRP, 0, 11)));
    errno = 0;
    int pg = getpriority(PRIO_PGRP, 0);
    printf("getpriority pgrp: %d\n", pg);
    /* PRIO_USER reaches every process of a user: only in a child that became a user
     * nothing else runs as, so a native run changes nothing else on the machine. */
    pid_t u = fork();
    if (u == 0) {
        if (setresuid(54321, 54321, 54321))
            _exit(1);
        printf("setpriority user 12: %s\n", en(setpriority(PRIO_USER, 0, 12)));
        errno = 0;
        int pu = getpriority(PRIO_USER, 54321);
        printf("getpriority user: %d\n", pu);
        printf("unprivileged lower nice: %s\n",
               setpriority(PRIO_PROCESS, 0, 3) < 0 && errno == EACCES ? "EACCES" : "ok");
        printf("unprivileged nice of another user's process: %s\n",
               setpriority(PRIO_PROCESS, getppid(), 15) < 0 && errno == EPERM ? "EPERM" : "ok");
        _exit(0);
    }
    waitpid(u, NULL, 0);
    setpriority(PRIO_PROCESS, 0, 12);
    printf("setpriority 100 clamps: %s, now %d\n", en(setpriority(PRIO_PROCESS, 0, 100)),
           getpriority(PRIO_PROCESS, 0));
    printf("setpriority which 7: %s\n", en(setpriority(7, 0, 1)));
    printf("setpriority missing pid: %s\n", en(setpriority(PRIO_PROCESS, (1 << 29) + 1, 1)));
    printf("setpriority 10: %s\n", en(setpriority(PRIO_PROCESS, 0, 10)));

    /* Affinity: CPU 0 only, inherited by a child. */
    cpu_set_t one, got;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    printf("setaffinity cpu 0: %s\n", en(sched_setaffinity(0, sizeof one, &one)));
    CPU_ZERO(&got);
    r = sched_getaffinity(0, sizeof got, &got);
    printf("getaffinity: %s count %d cpu0 %d\n", en(r), CPU_COUNT(&got), CPU_ISSET(0, &got));
    printf("getaffinity length 3: %s\n", en(syscall(SYS_sched_getaffinity, 0, 3, &got)));
    cpu_set_t none;
    CPU_ZERO(&none);
    printf("setaffinity no cpu: %s\n", en(sched_setaffinity(0, sizeof none, &none)));

    /* fork inherits the policy and nice; with reset-on-fork a child's nice is at least 0. */
    sched_setscheduler(0, SCHED_BATCH, &sp);
    pid_t c = fork();
    if (c == 0) {
        show("child");
        CPU_ZERO(&got);
        sched_getaffinity(0, sizeof got, &got);
        printf("child affinity count %d\n", CPU_COUNT(&got));
        /* The record's nice is the thread's (Linux shows the record's in stat's priority
         * field for SCHED_IDLE, but keeps the thread's nice). */
        struct sched_attr ca = {.size = sizeof ca, .sched_policy = SCHED_IDLE, .sched_nice = 10};
        printf("child to idle: %s\n", en(setattr(0, &ca, 0)));
        show_stat("child idle");
        _exit(0);
    }
    waitpid(c, NULL, 0);
    show("parent after the child went idle");
    printf("reset on fork: %s\n", en(sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp)));
    show("reset on fork");
    c = fork();
    if (c == 0) {
        show("child of reset on fork");
        _exit(0);
    }
    waitpid(c, NULL, 0);

    /* A parent sets its child's attributes; the child reads them. */
    int pfd[2];
    pipe(pfd);
    c = fork();
    if (c == 0) {
        char x;
        read(pfd[0], &x, 1);
        show("child set by its parent");
        _exit(0);
    }
    struct sched_attr ia = {.size = sizeof ia, .sched_policy = SCHED_IDLE};
    printf("parent sets child idle: %s\n", en(setattr(c, &ia, 0)));
    printf("parent sets child nice 15: %s\n", en(setpriority(PRIO_PROCESS, c, 15)));
    write(pfd[1], "x", 1);
    waitpid(c, NULL, 0);
    return 0;
}
