/* POSIX timers: timer_create's clocks and sigevents, the ids it gives, settime/gettime
 * (relative, absolute, old value, disarm), SIGEV_NONE, a blocked periodic signal queued
 * once with its overruns (si_overrun, timer_getoverrun) and value, a signal of the same
 * number sent by kill beside it, a timer re-set or deleted taking its signal back, the
 * default SIGALRM with the id as value, fork (the child has none) and exec (deletes them),
 * and every bad argument. Prints one line per check; the test compares them with the same
 * program run natively. Times are only compared as bounds. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

#define MS 1000000L

/* The raw calls: the C library's wrappers keep their own ids for SIGEV_THREAD. */
static long tcreate(long clock, void *sev, void *id) {
    return syscall(SYS_timer_create, clock, sev, id);
}
static long tset(long id, long flags, void *new, void *old) {
    return syscall(SYS_timer_settime, id, flags, new, old);
}
static long tget(long id, void *cur) { return syscall(SYS_timer_gettime, id, cur); }

static int arm(int id, int flags, long value_ns, long interval_ns) {
    struct itimerspec its = {{interval_ns / 1000000000, interval_ns % 1000000000},
                             {value_ns / 1000000000, value_ns % 1000000000}};
    return tset(id, flags, &its, NULL);
}

static long left_ns(int id) {
    struct itimerspec its;
    if (tget(id, &its))
        return -1;
    return its.it_value.tv_sec * 1000000000L + its.it_value.tv_nsec;
}

static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1) {
        /* Exec'd with the id of a timer made before the exec. */
        printf("after exec: gettime %s\n", en(tget(atoi(argv[1]), &(struct itimerspec){0})));
        return 0;
    }
    int id = -1, first;
    static const struct { int clock; const char *name; } clocks[] = {
        {CLOCK_REALTIME, "realtime"}, {CLOCK_MONOTONIC, "monotonic"},
        {CLOCK_BOOTTIME, "boottime"}, {CLOCK_TAI, "tai"},
        {CLOCK_MONOTONIC_RAW, "monotonic_raw"}, {CLOCK_REALTIME_COARSE, "realtime_coarse"},
        {CLOCK_MONOTONIC_COARSE, "monotonic_coarse"}, {10, "clock 10"}, {12345, "clock 12345"},
    };
    tcreate(CLOCK_MONOTONIC, NULL, &first);
    printf("first id: %d\n", first);
    for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        long r = tcreate(clocks[i].clock, NULL, &id);
        printf("%s: %s\n", clocks[i].name, en(r));
    }
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = 7;
    printf("bad notify: %s\n", en(tcreate(CLOCK_MONOTONIC, &ev, &id)));
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = 0;
    printf("signal 0: %s\n", en(tcreate(CLOCK_MONOTONIC, &ev, &id)));
    ev.sigev_signo = 65;
    printf("signal 65: %s\n", en(tcreate(CLOCK_MONOTONIC, &ev, &id)));
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGUSR1;
    ev._sigev_un._tid = 1 << 30;
    printf("thread not of it: %s\n", en(tcreate(CLOCK_MONOTONIC, &ev, &id)));
    ev.sigev_notify = SIGEV_THREAD_ID | SIGEV_NONE;
    ev._sigev_un._tid = gettid();
    printf("thread and none: %s\n", en(tcreate(CLOCK_MONOTONIC, &ev, &id)));
    printf("bad sigevent pointer: %s\n", en(tcreate(CLOCK_MONOTONIC, (void *)8, &id)));
    printf("bad id pointer: %s\n", en(tcreate(CLOCK_MONOTONIC, NULL, (void *)8)));
    int next;
    tcreate(CLOCK_MONOTONIC, NULL, &next);
    printf("ids used up so far: %d\n", next - first);

    /* Settime and gettime. */
    struct itimerspec its = {{0, 0}, {10, 0}}, old;
    printf("initially: left=%ld\n", left_ns(next));
    tset(next, 0, &its, NULL);
    long l = left_ns(next);
    printf("armed 10s: left in (9s,10s]=%d\n", l > 9000 * MS && l <= 10000 * MS);
    its.it_value.tv_sec = 20;
    its.it_interval.tv_sec = 3;
    tset(next, 0, &its, &old);
    printf("old: interval=%ld value>9s=%d\n", (long)old.it_interval.tv_sec,
           old.it_value.tv_sec >= 9);
    its.it_value.tv_sec = 0;
    tset(next, 0, &its, &old);
    tget(next, &old);
    printf("disarmed: left=%ld interval=%ld\n", left_ns(next), (long)old.it_interval.tv_sec);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    its.it_interval.tv_sec = 0;
    its.it_value.tv_sec = now.tv_sec + 30;
    its.it_value.tv_nsec = now.tv_nsec;
    tset(next, TIMER_ABSTIME, &its, NULL);
    l = left_ns(next);
    printf("absolute 30s on a monotonic timer: left>1000s=%d\n", l > 1000000 * MS);
    printf("no new value: %s\n", en(tset(next, 0, NULL, NULL)));
    printf("unknown id: %s\n", en(tset(9999, 0, &its, NULL)));
    printf("unknown id, bad pointer: %s\n", en(tset(9999, 0, (void *)8, NULL)));
    struct itimerspec bad = {{0, 0}, {0, 1000000000}};
    printf("bad value: %s\n", en(tset(next, 0, &bad, NULL)));
    bad.it_value.tv_nsec = 0;
    bad.it_interval.tv_sec = -1;
    printf("bad interval: %s\n", en(tset(next, 0, &bad, NULL)));
    arm(next, 0, 0, 0);
    printf("bad old pointer: %s\n", en(tset(next, 0, &its, (void *)8)));
    printf("set all the same: %d\n", left_ns(next) > 0);
    printf("gettime unknown id: %s\n", en(tget(9999, &old)));
    printf("gettime bad pointer: %s\n", en(tget(next, (void *)8)));
    printf("getoverrun: %ld\n", syscall(SYS_timer_getoverrun, next));
    printf("getoverrun unknown id: %s\n", en(syscall(SYS_timer_getoverrun, 9999)));
    printf("delete: %s\n", en(syscall(SYS_timer_delete, next)));
    printf("delete again: %s\n", en(syscall(SYS_timer_delete, next)));
    printf("delete -1: %s\n", en(syscall(SYS_timer_delete, -1)));

    /* SIGEV_NONE: read only. */
    ev.sigev_notify = SIGEV_NONE;
    int silent;
    tcreate(CLOCK_MONOTONIC, &ev, &silent);
    arm(silent, 0, 20 * MS, 0);
    sleep_ns(40 * MS);
    printf("silent one-shot past: left=%ld\n", left_ns(silent));
    arm(silent, 0, 10 * MS, 30 * MS);
    sleep_ns(50 * MS);
    l = left_ns(silent);
    printf("silent periodic: left in (0,30ms]=%d overrun=%ld\n", l > 0 && l <= 30 * MS,
           syscall(SYS_timer_getoverrun, silent));

    /* A blocked periodic signal to this thread: queued once, overruns counted. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGRTMIN;
    ev.sigev_value.sival_int = 42;
    ev._sigev_un._tid = gettid();
    int per;
    tcreate(CLOCK_MONOTONIC, &ev, &per);
    arm(per, 0, 20 * MS, 20 * MS);
    sleep_ns(110 * MS);
    siginfo_t si;
    struct timespec zero = {0, 0};
    int s = sigtimedwait(&set, &si, &zero);
    printf("periodic: sig=%d code=%d id is it=%d value=%d overrun>=3:%d\n", s == SIGRTMIN,
           si.si_code, si.si_timerid == per, si.si_value.sival_int, si.si_overrun >= 3);
    long ov = syscall(SYS_timer_getoverrun, per);
    printf("getoverrun is si_overrun: %d\n", ov == si.si_overrun);
    printf("only once: %s\n", en(sigtimedwait(&set, &si, &zero)));
    sleep_ns(50 * MS);
    arm(per, 0, 0, 0);
    printf("re-set takes it back: %s\n", en(sigtimedwait(&set, &si, &zero)));

    /* A SIGUSR1 sent by kill does not hold the timer's back. */
    ev.sigev_signo = SIGUSR1;
    int usr;
    tcreate(CLOCK_MONOTONIC, &ev, &usr);
    kill(getpid(), SIGUSR1);
    arm(usr, 0, 1 * MS, 0);
    sleep_ns(20 * MS);
    s = sigtimedwait(&set, &si, &zero);
    printf("first: sig=%d code=%d\n", s, si.si_code);
    s = sigtimedwait(&set, &si, &zero);
    printf("second: sig=%d code=%d overrun=%d\n", s, si.si_code, si.si_overrun);
    arm(usr, 0, 1 * MS, 0);
    sleep_ns(20 * MS);
    syscall(SYS_timer_delete, usr);
    printf("delete takes it back: %s\n", en(sigtimedwait(&set, &si, &zero)));

    /* The default: SIGALRM to the process, the id as value. */
    int dflt;
    tcreate(CLOCK_REALTIME, NULL, &dflt);
    clock_gettime(CLOCK_REALTIME, &now);
    its.it_interval.tv_sec = 0;
    its.it_value = now;
    tset(dflt, TIMER_ABSTIME, &its, NULL);
    sleep_ns(10 * MS);
    s = sigtimedwait(&set, &si, &zero);
    printf("default: SIGALRM=%d value is id=%d left=%ld\n", s == SIGALRM,
           si.si_value.sival_int == dflt, left_ns(dflt));

    /* fork: the child has none; exec: deleted. */
    pid_t c = fork();
    if (c == 0) {
        printf("child: gettime %s\n", en(tget(dflt, &old)));
        _exit(0);
    }
    int status;
    waitpid(c, &status, 0);
    char arg[16];
    snprintf(arg, sizeof arg, "%d", dflt);
    execl("/proc/self/exe", argv[0], arg, (char *)NULL);
    printf("exec failed\n");
    return 1;
}
