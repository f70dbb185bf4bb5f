/* POSIX timers across a checkpoint: a periodic one every 50ms counted by a SIGUSR1
 * handler, a one-shot one a minute away, a one-shot one due a second after "ready" whose
 * blocked SIGRTMIN carries a value, a periodic one every 20ms whose blocked signal stays
 * queued across the checkpoint (its overruns counted on both sides), and a silent
 * (SIGEV_NONE) periodic one. Prints "ready", waits for /tmp/go (made after the restore),
 * then what each holds. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;

static void on_usr1(int sig) {
    (void)sig;
    ticks++;
}

static int make(int notify, int signo, int value) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = notify;
    ev.sigev_signo = signo;
    ev.sigev_value.sival_int = value;
    ev._sigev_un._tid = gettid();
    int id = -1;
    syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &id);
    return id;
}

static void arm(int id, long value_ms, long interval_ms) {
    struct itimerspec its = {{interval_ms / 1000, interval_ms % 1000 * 1000000},
                             {value_ms / 1000, value_ms % 1000 * 1000000}};
    syscall(SYS_timer_settime, id, 0, &its, NULL);
}

/* sigtimedwait through the periodic timer's handler interrupting it. */
static int wait_for(int sig, siginfo_t *si) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    struct timespec wait = {5, 0};
    int s;
    while ((s = sigtimedwait(&one, si, &wait)) < 0 && errno == EINTR)
        ;
    return s;
}

static long left_ms(int id) {
    struct itimerspec its;
    if (syscall(SYS_timer_gettime, id, &its))
        return -1;
    return its.it_value.tv_sec * 1000 + its.it_value.tv_nsec / 1000000;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGRTMIN);
    sigaddset(&blocked, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    int periodic = make(SIGEV_SIGNAL, SIGUSR1, 0);
    int minute = make(SIGEV_SIGNAL, SIGUSR1, 0);
    int second = make(SIGEV_THREAD_ID, SIGRTMIN, 7);
    int queued = make(SIGEV_THREAD_ID, SIGRTMIN + 1, 9);
    int silent = make(SIGEV_NONE, 0, 0);
    arm(periodic, 50, 50);
    arm(minute, 60000, 0);
    arm(second, 1000, 0);
    arm(queued, 20, 20);
    arm(silent, 30, 30);
    usleep(100000);
    printf("ready\n");
    struct stat st;
    while (stat("/tmp/go", &st) != 0)
        usleep(20000);
    int before = ticks;
    usleep(300000);
    printf("periodic: goes on=%d\n", ticks > before);
    long l = left_ms(minute);
    printf("minute: left in [40s,60s)=%d\n", l >= 40000 && l < 60000);
    siginfo_t si;
    int s = wait_for(SIGRTMIN, &si);
    printf("second: fired=%d code=%d value=%d left=%ld\n", s == SIGRTMIN, si.si_code,
           si.si_value.sival_int, left_ms(second));
    s = wait_for(SIGRTMIN + 1, &si);
    printf("queued: once=%d value=%d overruns>5=%d\n", s == SIGRTMIN + 1,
           si.si_value.sival_int, si.si_overrun > 5);
    long ov = syscall(SYS_timer_getoverrun, queued);
    printf("queued: getoverrun is si_overrun=%d\n", ov == si.si_overrun);
    l = left_ms(silent);
    printf("silent: left in [0,30ms]=%d\n", l >= 0 && l <= 30);
    printf("done\n");
    return 0;
}
