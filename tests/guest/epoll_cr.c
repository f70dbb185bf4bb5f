/* epoll sets across a checkpoint: an edge-triggered interest whose change was reported
 * before it stays quiet after the restore, one whose change was not reported fires once,
 * a level-triggered one keeps firing, a oneshot one that fired stays disarmed, and a child
 * parked in epoll_wait on a drained pipe wakes when the parent writes after the restore.
 * Prints "ready", waits for /tmp/go (made after the restore), then waits again. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* One wait of `ms` on `ep`, printed under `what` with the data reported, sorted. */
static void w(const char *what, int ep, int ms) {
    struct epoll_event out[8];
    int n = epoll_wait(ep, out, 8, ms);
    uint64_t d[8];
    for (int i = 0; i < n; i++)
        d[i] = out[i].data.u64;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (d[j] < d[i]) {
                uint64_t t = d[i];
                d[i] = d[j];
                d[j] = t;
            }
    printf("%s: n=%d", what, n);
    for (int i = 0; i < n; i++)
        printf(" %lu", (unsigned long)d[i]);
    printf("\n");
}

static void add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        perror("epoll_ctl");
        exit(1);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int a[2], b[2], c[2], e[2];
    pipe2(a, O_NONBLOCK);
    pipe2(b, O_NONBLOCK);
    pipe2(c, O_NONBLOCK);
    pipe2(e, O_NONBLOCK);
    int d = eventfd(0, EFD_NONBLOCK);
    int ep1 = epoll_create1(0), ep2 = epoll_create1(0), ep3 = epoll_create1(0);
    add(ep1, a[0], EPOLLIN | EPOLLET, 1);
    add(ep1, d, EPOLLIN | EPOLLONESHOT, 4);
    add(ep2, b[0], EPOLLIN | EPOLLET, 2);
    add(ep2, c[0], EPOLLIN, 3);
    add(ep3, e[0], EPOLLIN | EPOLLET, 5);
    write(a[1], "a", 1);
    uint64_t v = 1;
    write(d, &v, 8);
    w("before", ep1, 0);
    write(b[1], "b", 1);
    write(c[1], "c", 1);
    /* The child's first wait sees nothing: it parks until the parent writes to e. */
    pid_t child = fork();
    if (child == 0) {
        w("child", ep3, 10000);
        exit(0);
    }
    printf("ready\n");
    struct stat st;
    while (stat("/tmp/go", &st) != 0)
        usleep(10000);
    w("reported before", ep1, 0);
    w("unreported before", ep2, 0);
    w("unreported again", ep2, 0);
    write(a[1], "a", 1);
    w("new data", ep1, 0);
    write(e[1], "e", 1);
    int status;
    waitpid(child, &status, 0);
    printf("done\n");
    return 0;
}
