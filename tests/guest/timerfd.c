/* timerfd: create flags and clocks, settime/gettime (relative, absolute, old value,
 * disarm), reads of expirations (blocking, non-blocking, short buffer), poll and epoll
 * readiness, periodic counts, a child reading an inherited timer, and the calls a timerfd
 * refuses. Prints one line per check; the test compares them with the same program run
 * natively. Times are only compared as bounds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

#define MS 1000000L

static int arm(int fd, int flags, long value_ns, long interval_ns, struct itimerspec *old) {
    struct itimerspec its = {{interval_ns / 1000000000, interval_ns % 1000000000},
                             {value_ns / 1000000000, value_ns % 1000000000}};
    return timerfd_settime(fd, flags, &its, old);
}

static long left_ns(int fd) {
    struct itimerspec its;
    if (timerfd_gettime(fd, &its))
        return -1;
    return its.it_value.tv_sec * 1000000000L + its.it_value.tv_nsec;
}

static long long rd(int fd) {
    uint64_t v = 0;
    int r = read(fd, &v, sizeof v);
    return r == 8 ? (long long)v : -errno;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("bad clock: %s\n", en(timerfd_create(12345, 0)));
    printf("bad flags: %s\n", en(timerfd_create(CLOCK_MONOTONIC, 0x4)));
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    show_fd(fd);
    printf("initially: left=%ld read=%lld\n", left_ns(fd), rd(fd));

    /* Relative, then re-armed: the old value comes back. */
    struct itimerspec old;
    arm(fd, 0, 10000 * MS, 1000 * MS, NULL);
    long l = left_ns(fd);
    printf("armed 10s: left in (9s,10s]=%d\n", l > 9000 * MS && l <= 10000 * MS);
    arm(fd, 0, 30 * MS, 0, &old);
    printf("old: interval=%ld value>9s=%d\n", (long)old.it_interval.tv_sec,
           old.it_value.tv_sec >= 9);
    printf("before expiry: %lld\n", rd(fd));
    struct pollfd p = {fd, POLLIN, 0};
    int pr = poll(&p, 1, 5000);
    printf("poll waits: %d revents=%#x\n", pr, p.revents);
    long long first = rd(fd), second = rd(fd);
    printf("expired once: %lld then %lld, left=%ld\n", first, second, left_ns(fd));

    /* A short buffer, and the calls it refuses. */
    char small[4];
    arm(fd, 0, 1, 0, NULL);
    usleep(1000);
    printf("short read: %s\n", en(read(fd, small, sizeof small)));
    uint64_t one = 1;
    printf("write: %s\n", en(write(fd, &one, 8)));
    printf("pread: %s\n", en(pread(fd, &one, 8, 0)));
    printf("pwrite: %s\n", en(pwrite(fd, &one, 8, 0)));
    printf("settime bad flags: %s\n", en(arm(fd, 0x8, MS, 0, NULL)));
    struct itimerspec bad = {{0, 0}, {0, 1000000000}};
    printf("settime bad timespec: %s\n", en(timerfd_settime(fd, 0, &bad, NULL)));
    printf("settime bad pointer: %s\n", en(timerfd_settime(fd, 0, (void *)8, NULL)));
    int pp[2];
    pipe(pp);
    printf("settime on a pipe: %s\n", en(arm(pp[0], 0, MS, 0, NULL)));
    printf("gettime bad fd: %s\n", en(timerfd_gettime(99, &old)));
    /* settime forgets the expirations not read. */
    arm(fd, 0, 0, 0, NULL);
    long long forgotten = rd(fd);
    printf("disarmed, forgotten: %lld left=%ld\n", forgotten, left_ns(fd));

    /* Periodic: every 10ms for about 100ms. */
    arm(fd, 0, 10 * MS, 10 * MS, NULL);
    usleep(105000);
    long long n = rd(fd);
    printf("periodic: at least 5: %d\n", n >= 5);
    arm(fd, 0, 0, 0, NULL);

    /* Absolute times on both clocks; one in the past expires at once. */
    int bfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct itimerspec abs = {{0, 0}, {now.tv_sec, now.tv_nsec + 0}};
    abs.it_value.tv_nsec += 40 * MS;
    if (abs.it_value.tv_nsec >= 1000000000) {
        abs.it_value.tv_sec++;
        abs.it_value.tv_nsec -= 1000000000;
    }
    timerfd_settime(bfd, TFD_TIMER_ABSTIME, &abs, NULL);
    printf("blocking read, monotonic absolute: %lld\n", rd(bfd));
    struct timespec after;
    clock_gettime(CLOCK_MONOTONIC, &after);
    printf("not before its time: %d\n", after.tv_sec > abs.it_value.tv_sec ||
                                            (after.tv_sec == abs.it_value.tv_sec &&
                                             after.tv_nsec >= abs.it_value.tv_nsec));
    int rfd = timerfd_create(CLOCK_REALTIME, 0);
    clock_gettime(CLOCK_REALTIME, &now);
    struct itimerspec rabs = {{0, 0}, {now.tv_sec + 1, 0}};
    timerfd_settime(rfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &rabs, NULL);
    printf("blocking read, realtime absolute: %lld\n", rd(rfd));
    struct itimerspec past = {{0, 0}, {0, 1}};
    timerfd_settime(bfd, TFD_TIMER_ABSTIME, &past, NULL);
    printf("absolute in the past: %lld\n", rd(bfd));

    /* epoll sees it expire. */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77};
    epoll_ctl(ep, EPOLL_CTL_ADD, bfd, &ev);
    arm(bfd, 0, 20 * MS, 0, NULL);
    struct epoll_event got = {0};
    int k = epoll_wait(ep, &got, 1, 5000);
    printf("epoll: %d events=%#x data=%llu\n", k, got.events, (unsigned long long)got.data.u64);
    long long v = rd(bfd);
    printf("epoll again after the read: %lld %d\n", v, epoll_wait(ep, &got, 1, 0));

    /* A child reads the timer it inherited. */
    arm(bfd, 0, 20 * MS, 0, NULL);
    pid_t c = fork();
    if (c == 0) {
        printf("child read: %lld\n", rd(bfd));
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("parent after the child's read: %lld\n", rd(fd));
    return 0;
}
