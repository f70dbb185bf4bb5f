// epoll over a pipe and an eventfd, written to by a child and a thread; timeouts; oneshot.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

static int efd;
static void *bump(void *arg) { (void)arg; usleep(50000); uint64_t v = 3; write(efd, &v, 8); return 0; }

int main(void) {
    int p[2];
    pipe(p);
    efd = eventfd(0, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 111};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    ev.data.u64 = 222;
    ev.events = EPOLLIN | EPOLLONESHOT;
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 20);
    printf("timeout n=%d\n", n);
    pthread_t t;
    pthread_create(&t, 0, bump, 0);
    n = epoll_wait(ep, out, 4, 5000);
    uint64_t v = 0;
    read(efd, &v, 8);
    printf("eventfd n=%d data=%lu value=%lu\n", n, (unsigned long)out[0].data.u64, (unsigned long)v);
    pthread_join(t, 0);
    if (fork() == 0) { usleep(50000); write(p[1], "x", 1); _exit(0); }
    n = epoll_wait(ep, out, 4, 5000);
    printf("pipe n=%d data=%lu\n", n, (unsigned long)out[0].data.u64);
    wait(0);
    // The oneshot eventfd stays quiet until re-armed.
    v = 1;
    write(efd, &v, 8);
    char c;
    read(p[0], &c, 1);
    n = epoll_wait(ep, out, 4, 50);
    printf("oneshot n=%d\n", n);
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev);
    n = epoll_wait(ep, out, 4, 50);
    printf("rearmed n=%d data=%lu\n", n, (unsigned long)out[0].data.u64);
    return 0;
}
