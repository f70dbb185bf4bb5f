/* signalfds across a checkpoint: a signal queued with a value before it and not read, a
 * mask of two signals, and a child blocked reading a signalfd of its own. Prints "ready",
 * waits for /tmp/go (made after the restore), then reads. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    sigaddset(&m, SIGUSR2);
    sigprocmask(SIG_BLOCK, &m, NULL);
    int fd = signalfd(-1, &m, SFD_NONBLOCK);
    union sigval v = {.sival_int = 7};
    sigqueue(getpid(), SIGUSR1, v);
    pid_t c = fork();
    if (c == 0) {
        struct signalfd_siginfo si;
        int n = read(fd, &si, sizeof si);
        /* The inherited one is non-blocking: a blocking one of the child's own. */
        int b = signalfd(-1, &m, 0);
        n = read(b, &si, sizeof si);
        struct stat st;
        printf("child: %d signo=%u int=%d after go=%d\n", n, si.ssi_signo, si.ssi_int,
               stat("/tmp/go", &st) == 0);
        _exit(0);
    }
    usleep(100000);
    printf("ready\n");
    struct stat st;
    while (stat("/tmp/go", &st) != 0)
        usleep(20000);
    struct signalfd_siginfo si;
    int n = read(fd, &si, sizeof si);
    printf("queued before: %d signo=%u int=%d\n", n, si.ssi_signo, si.ssi_int);
    kill(getpid(), SIGUSR2);
    n = read(fd, &si, sizeof si);
    printf("mask kept: %d signo=%u\n", n, si.ssi_signo);
    v.sival_int = 9;
    sigqueue(c, SIGUSR2, v);
    int status;
    waitpid(c, &status, 0);
    printf("done\n");
    return 0;
}
