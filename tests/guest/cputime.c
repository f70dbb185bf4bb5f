/* CPU time: the process and thread CPU clocks (and their clock_getcpuclockid forms)
 * count a busy loop and not a sleep, a second thread's time counts for the process, and
 * ITIMER_VIRTUAL, ITIMER_PROF and a POSIX timer on the thread's CPU clock fire after
 * their CPU time was used; a child's time shows in wait4's rusage, RUSAGE_CHILDREN and
 * its clock while it is a zombie; RLIMIT_CPU sends SIGXCPU at the soft limit (raising
 * it by a second) and SIGKILL at the hard one. The busy loops run mostly in user space
 * (a clock read every million iterations). Prints one line per check; the test compares them with the
 * same program run natively. CPU times are only compared as bounds. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

#define MS 1000000LL

static long long ns(clockid_t c) {
    struct timespec t;
    if (clock_gettime(c, &t))
        return -errno;
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static volatile sig_atomic_t got[65];
static void on(int s) { got[s]++; }

/* Spins until `*flag` is set or `cpu_ms` of this thread's CPU time went by. */
static void spin(volatile sig_atomic_t *flag, long long cpu_ms) {
    long long end = ns(CLOCK_THREAD_CPUTIME_ID) + cpu_ms * MS;
    while (!(flag && *flag) && ns(CLOCK_THREAD_CPUTIME_ID) < end)
        for (volatile int i = 0; i < 1000000 && !(flag && *flag); i++)
            ;
}

static double secs(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

/* A child that spins for 300 ms of CPU time: wait4's rusage, RUSAGE_CHILDREN and the
 * zombie's process clock (read before it is reaped) count it. */
static void child_time(void) {
    pid_t c = fork();
    if (c == 0) {
        spin(NULL, 300);
        _exit(0);
    }
    siginfo_t si;
    waitid(P_PID, c, &si, WEXITED | WNOWAIT);
    clockid_t zc;
    clock_getcpuclockid(c, &zc);
    long long z = ns(zc);
    printf("a zombie's clock reads what it used: %d\n", z >= 300 * MS && z < 5000 * MS);
    struct rusage ru, all;
    int st;
    wait4(c, &st, 0, &ru);
    getrusage(RUSAGE_CHILDREN, &all);
    double used = secs(ru.ru_utime) + secs(ru.ru_stime);
    printf("wait4 rusage counts the child: %d, children's: %d\n", used >= 0.29 && used < 5,
           secs(all.ru_utime) + secs(all.ru_stime) >= 0.29);
    printf("reaped, its clock: %s\n", en(clock_gettime(zc, &(struct timespec){0})));
}

/* RLIMIT_CPU of (1, 2) s: SIGXCPU at 1 s, after which getrlimit shows a soft limit of 2;
 * SIGKILL at 2 s. */
static void rlimit_cpu(void) {
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        signal(SIGXCPU, on);
        struct rlimit l = {1, 2};
        setrlimit(RLIMIT_CPU, &l);
        spin(&got[SIGXCPU], 10000);
        getrlimit(RLIMIT_CPU, &l);
        char b[64];
        int n = snprintf(b, sizeof b, "%d %ld %ld", got[SIGXCPU], (long)l.rlim_cur, (long)l.rlim_max);
        write(p[1], b, n);
        close(p[1]);
        spin(NULL, 10000);
        _exit(0);
    }
    close(p[1]);
    char b[64] = {0};
    read(p[0], b, sizeof b - 1);
    printf("SIGXCPU at the soft limit; then signals, soft, hard: %s\n", b);
    int st;
    struct rusage ru;
    wait4(c, &st, 0, &ru);
    printf("killed at the hard limit: %d by %d, used >= 2 s: %d\n", WIFSIGNALED(st),
           WIFSIGNALED(st) ? WTERMSIG(st) : -1, secs(ru.ru_utime) + secs(ru.ru_stime) >= 1.8);
}

static void *worker(void *arg) {
    (void)arg;
    spin(NULL, 60);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    long long p0 = ns(CLOCK_PROCESS_CPUTIME_ID), t0 = ns(CLOCK_THREAD_CPUTIME_ID);
    usleep(100000);
    long long p1 = ns(CLOCK_PROCESS_CPUTIME_ID);
    printf("a sleep uses little: %d\n", p1 - p0 < 50 * MS);
    spin(NULL, 50);
    long long p2 = ns(CLOCK_PROCESS_CPUTIME_ID), t2 = ns(CLOCK_THREAD_CPUTIME_ID);
    printf("a busy loop counts: process %d thread %d\n", p2 - p1 >= 50 * MS, t2 - t0 >= 50 * MS);
    clockid_t pc, tc;
    clock_getcpuclockid(getpid(), &pc);
    pthread_getcpuclockid(pthread_self(), &tc);
    long long a = ns(pc), b = ns(tc);
    printf("getcpuclockid: process %d thread %d\n", a >= p2, b >= t2);
    struct timespec res;
    printf("getres: %s\n", en(clock_getres(CLOCK_THREAD_CPUTIME_ID, &res)));
    printf("resolution: %ld\n", res.tv_nsec);
    printf("bad kind: %s\n", en(clock_gettime(((~(clockid_t)getpid()) << 3) | 3, &res)));
    pthread_t th;
    pthread_create(&th, NULL, worker, NULL);
    pthread_join(th, NULL);
    long long p3 = ns(CLOCK_PROCESS_CPUTIME_ID), t3 = ns(CLOCK_THREAD_CPUTIME_ID);
    printf("another thread's time counts for the process only: %d %d\n", p3 - p2 >= 55 * MS,
           t3 - t2 < 30 * MS);

    signal(SIGVTALRM, on);
    signal(SIGPROF, on);
    signal(SIGUSR1, on);
    struct itimerval it = {{0, 0}, {0, 30000}}, old;
    printf("setitimer virtual: %s\n", en(setitimer(ITIMER_VIRTUAL, &it, NULL)));
    getitimer(ITIMER_VIRTUAL, &old);
    printf("getitimer virtual: armed=%d\n", old.it_value.tv_sec > 0 || old.it_value.tv_usec > 0);
    spin(&got[SIGVTALRM], 2000);
    printf("virtual fired: %d\n", got[SIGVTALRM]);
    it.it_interval.tv_usec = 20000;
    setitimer(ITIMER_PROF, &it, NULL);
    spin(NULL, 200);
    it.it_value.tv_usec = 0;
    setitimer(ITIMER_PROF, &it, &old);
    printf("prof fired periodically: %d, old interval %ld\n", got[SIGPROF] >= 3,
           (long)old.it_interval.tv_usec);
    printf("bad which: %s\n", en(setitimer(7, &it, NULL)));

    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    timer_t id;
    printf("timer on the thread clock: %s\n", en(timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &id)));
    struct itimerspec its = {{0, 0}, {0, 30 * MS}};
    timer_settime(id, 0, &its, NULL);
    timer_gettime(id, &its);
    printf("gettime: left in (0,30ms]=%d\n", its.it_value.tv_nsec > 0 && its.it_value.tv_nsec <= 30 * MS);
    spin(&got[SIGUSR1], 2000);
    printf("thread-clock timer fired: %d\n", got[SIGUSR1]);
    timer_t pid_timer;
    printf("timer on the process clock: %s\n",
           en(timer_create(CLOCK_PROCESS_CPUTIME_ID, NULL, &pid_timer)));
    struct itimerspec neg = {{0, -2}, {0, MS}};
    printf("negative interval: %s\n", en(timer_settime(pid_timer, 0, &neg, NULL)));
    child_time();
    rlimit_cpu();
    return 0;
}
