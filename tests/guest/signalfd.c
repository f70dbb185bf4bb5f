/* signalfd: argument checks, reads of the caller's pending signals (kill, sigqueue with
 * its value, queued real-time signals, a child's SIGCHLD, a thread-directed signal),
 * poll and epoll readiness, a new mask on an existing signalfd, a blocking read woken by
 * another process, and a read interrupted by a handled signal. Prints one line per check;
 * the test compares them with the same program run natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"

static void show(const char *what, int fd) {
    struct signalfd_siginfo si[4];
    ssize_t n = read(fd, si, sizeof si);
    if (n < 0) {
        printf("%s: %s\n", what, en(n));
        return;
    }
    for (int i = 0; i < n / (ssize_t)sizeof si[0]; i++)
        printf("%s: signo=%u code=%d self=%d uid=%u status=%d int=%d ptr=%llu\n", what,
               si[i].ssi_signo, si[i].ssi_code, si[i].ssi_pid == (unsigned)getpid(),
               si[i].ssi_uid, si[i].ssi_status, si[i].ssi_int,
               (unsigned long long)si[i].ssi_ptr);
}

static void on_alarm(int s) { (void)s; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &block, NULL);

    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    printf("bad flags: %s\n", en(signalfd(-1, &m, 0x1)));
    printf("bad size: %s\n", en(syscall(SYS_signalfd4, -1, &m, 4, 0)));
    printf("bad mask pointer: %s\n", en(syscall(SYS_signalfd4, -1, (void *)8, 8, 0)));
    printf("bad fd: %s\n", en(signalfd(99, &m, 0)));
    int p[2];
    pipe(p);
    printf("not a signalfd: %s\n", en(signalfd(p[0], &m, 0)));

    int fd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
    show_fd(fd);
    show("empty", fd);
    char small[64];
    printf("short read: %s\n", en(read(fd, small, sizeof small)));
    struct pollfd pf = {fd, POLLIN, 0};
    int pr = poll(&pf, 1, 0);
    printf("poll before: %d\n", pr);

    kill(getpid(), SIGUSR1);
    pr = poll(&pf, 1, 0);
    printf("poll after kill: %d revents=%#x\n", pr, pf.revents);
    show("kill", fd);
    union sigval v = {.sival_int = 42};
    sigqueue(getpid(), SIGUSR1, v);
    show("sigqueue", fd);
    /* A signal outside the mask stays pending; a new mask reads it. */
    kill(getpid(), SIGUSR2);
    show("outside the mask", fd);
    sigaddset(&m, SIGUSR2);
    sigaddset(&m, SIGKILL);
    printf("new mask returns the fd: %d\n", signalfd(fd, &m, 0) == fd);
    show("new mask", fd);
    /* Queued real-time signals come out together, in order. */
    sigaddset(&m, SIGRTMIN + 1);
    signalfd(fd, &m, 0);
    v.sival_int = 1;
    sigqueue(getpid(), SIGRTMIN + 1, v);
    v.sival_int = 2;
    sigqueue(getpid(), SIGRTMIN + 1, v);
    show("rt", fd);
    syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
    show("tgkill", fd);

    /* A child's exit. */
    sigaddset(&m, SIGCHLD);
    signalfd(fd, &m, 0);
    pid_t c = fork();
    if (c == 0)
        _exit(3);
    waitid(P_PID, c, NULL, WEXITED | WNOWAIT);
    struct signalfd_siginfo si;
    read(fd, &si, sizeof si);
    printf("child: signo=%u code=%d pid=%d status=%d\n", si.ssi_signo, si.ssi_code,
           si.ssi_pid == (unsigned)c, si.ssi_status);
    waitpid(c, NULL, 0);

    /* epoll. */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 5};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    struct epoll_event got = {0};
    printf("epoll before: %d\n", epoll_wait(ep, &got, 1, 0));
    kill(getpid(), SIGUSR2);
    int k = epoll_wait(ep, &got, 1, 1000);
    printf("epoll after: %d events=%#x data=%u\n", k, got.events, got.data.u32);
    show("epoll'd", fd);

    /* A blocking read woken by another process. */
    int bfd = signalfd(-1, &m, 0);
    pid_t parent = getpid();
    c = fork();
    if (c == 0) {
        usleep(50000);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    read(bfd, &si, sizeof si);
    printf("blocking read: signo=%u from the child=%d\n", si.ssi_signo,
           si.ssi_pid == (unsigned)c);
    waitpid(c, NULL, 0);
    show("the child's SIGCHLD", bfd);

    /* A handled signal outside the mask interrupts a blocking read. */
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    long r = read(bfd, &si, sizeof si);
    printf("interrupted: %s\n", en(r));
    return 0;
}
