/* Signal-driven I/O across a checkpoint: a pipe's read end with O_ASYNC, this process as
 * owner and SIGUSR1 as its signal (set through fd 'r', then dup'd and 'r' closed), a
 * socket owned by the process group with plain SIGIO. Prints "ready", waits for /tmp/go
 * (made after the restore), then makes each ready and prints what arrived. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile int sig, code, fd, count;

static void on(int s, siginfo_t *si, void *u) {
    (void)u;
    sig = s, code = si->si_code, fd = si->si_fd, count++;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGIO, &sa, NULL);
    int p[2], s[2];
    pipe(p);
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    int r = p[0];
    fcntl(r, F_SETOWN, getpid());
    fcntl(r, F_SETSIG, SIGUSR1);
    fcntl(r, F_SETFL, O_ASYNC);
    int d = dup(r);
    close(r);
    fcntl(s[0], F_SETOWN, -getpgrp());
    fcntl(s[0], F_SETFL, O_ASYNC | O_NONBLOCK);
    printf("ready\n");
    struct stat st;
    while (stat("/tmp/go", &st) != 0)
        usleep(20000);
    struct f_owner_ex o;
    fcntl(s[0], F_GETOWN_EX, &o);
    printf("kept: sig=%d async=%d owner=%d socket owner type=%d is_pgrp=%d\n",
           fcntl(d, F_GETSIG) == SIGUSR1, !!(fcntl(d, F_GETFL) & O_ASYNC),
           fcntl(d, F_GETOWN) == getpid(), o.type, o.pid == getpgrp());
    write(p[1], "x", 1);
    printf("pipe: count=%d sig=%d code=%d fd is the closed one=%d\n", count, sig, code,
           fd == r);
    count = 0;
    write(s[1], "y", 1);
    printf("socket: count=%d sig=%d\n", count, sig);
    printf("done\n");
    return 0;
}
