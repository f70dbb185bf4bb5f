/* epoll as Linux serves it: edge-triggered interests on pipes, eventfds and unix stream
 * sockets report once per change (new data, a peer closing, space freed), oneshot ones
 * once until EPOLL_CTL_MOD, and interests are keyed by open file and fd (a dup is added
 * on its own, and an interest outlives its fd while the file is open elsewhere). Prints
 * one line per wait: the count and the (sorted) data and events reported. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int ep = -1;

static int by_data(const void *a, const void *b) {
    uint64_t x = ((const struct epoll_event *)a)->data.u64;
    uint64_t y = ((const struct epoll_event *)b)->data.u64;
    return x < y ? -1 : x > y;
}

/* One epoll_wait of `ms`, printed under `what`. */
static void w(const char *what, int ms) {
    struct epoll_event out[8];
    int n = epoll_wait(ep, out, 8, ms);
    printf("%s: n=%d", what, n);
    if (n > 0) {
        qsort(out, n, sizeof out[0], by_data);
        for (int i = 0; i < n; i++)
            printf(" %lu:%#x", (unsigned long)out[i].data.u64, out[i].events);
    }
    printf("\n");
}

/* A wait labelled `what` `how`. */
static void w2(const char *what, const char *how, int ms) {
    char l[96];
    snprintf(l, sizeof l, "%s %s", what, how);
    w(l, ms);
}

/* Two waits of 0 ms: an edge is reported by the first only. */
static void twice(const char *what) {
    w(what, 0);
    w2(what, "again", 0);
}

static void add(int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    int r = epoll_ctl(ep, op, fd, &ev);
    printf("ctl %d fd-data %lu: %s\n", op, (unsigned long)data, r == 0 ? "ok" : (errno == EEXIST ? "EEXIST" : errno == EBADF ? "EBADF" : errno == ENOENT ? "ENOENT" : "other"));
}

/* Writes `s` to `fd` from a child after 50 ms. */
static void later(int fd, const char *s, int n) {
    if (fork() == 0) {
        usleep(50000);
        write(fd, s, n);
        _exit(0);
    }
}

/* A new set for the next part (the old one, if any, closed). */
static void section(const char *what) {
    if (ep >= 0)
        close(ep);
    ep = epoll_create1(0);
    printf("-- %s\n", what);
}

static void drain(int fd) {
    char b[256];
    while (read(fd, b, sizeof b) > 0) {
    }
}

/* Data while `rd` still has some is a new edge; once drained, a waiter blocks until a
 * child writes, and that child's exit (closing its fd of a description still open here)
 * is no change. */
static void more_then_drain(const char *what, int rd, int wr) {
    write(wr, "x", 1);
    w2(what, "more data", 0);
    drain(rd);
    w2(what, "drained", 0);
    later(wr, "y", 1);
    w2(what, "blocked until data", 5000);
    wait(NULL);
    w2(what, "after", 0);
    drain(rd);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    char b[64];

    section("a pipe's read end, edge-triggered");
    int p[2];
    pipe2(p, O_NONBLOCK);
    add(EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 1);
    w("pipe empty", 0);
    write(p[1], "0123456789", 10);
    w("pipe data", 0);
    w("pipe again", 0);
    read(p[0], b, 4);
    w("pipe partial read", 0);
    more_then_drain("pipe", p[0], p[1]);
    close(p[1]);
    w("pipe writer closed", 0);
    w("pipe closed again", 0);
    close(p[0]);

    section("a pipe's write end, edge-triggered: writable once");
    pipe2(p, O_NONBLOCK);
    add(EPOLL_CTL_ADD, p[1], EPOLLOUT | EPOLLET, 2);
    twice("writer");
    write(p[1], "z", 1);
    w("writer wrote", 0);
    close(p[0]);
    w("reader closed", 0);
    close(p[1]);

    section("an eventfd, both ways");
    int e = eventfd(0, EFD_NONBLOCK);
    add(EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET, 3);
    w("eventfd zero", 0);
    uint64_t v = 1;
    write(e, &v, 8);
    w("eventfd written", 0);
    w("eventfd again", 0);
    write(e, &v, 8);
    w("eventfd written twice", 0);
    add(EPOLL_CTL_MOD, e, EPOLLOUT | EPOLLET, 4);
    twice("eventfd out");
    v = 0xfffffffffffffffeULL - 2;
    write(e, &v, 8);
    w("eventfd full", 0);
    read(e, &v, 8);
    twice("eventfd read");
    close(e);

    section("a unix stream socket pair");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    add(EPOLL_CTL_ADD, sv[1], EPOLLIN | EPOLLRDHUP | EPOLLET, 5);
    w("socket empty", 0);
    send(sv[0], "hello", 5, 0);
    w("socket data", 0);
    w("socket again", 0);
    more_then_drain("socket", sv[1], sv[0]);
    close(sv[0]);
    twice("socket peer closed");
    close(sv[1]);

    section("oneshot: once until EPOLL_CTL_MOD, with and without EPOLLET");
    pipe2(p, O_NONBLOCK);
    add(EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLONESHOT, 6);
    write(p[1], "a", 1);
    w("oneshot", 0);
    write(p[1], "b", 1);
    w("oneshot disarmed", 0);
    add(EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT | EPOLLET, 7);
    w("oneshot rearmed", 0);
    write(p[1], "c", 1);
    w("oneshot et disarmed", 0);
    add(EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, 8);
    twice("rearmed et");
    close(p[0]);
    close(p[1]);

    section("interests by open file and fd");
    pipe2(p, O_NONBLOCK);
    int d = dup(p[0]);
    add(EPOLL_CTL_ADD, p[0], EPOLLIN, 10);
    add(EPOLL_CTL_ADD, d, EPOLLIN, 11);
    add(EPOLL_CTL_ADD, p[0], EPOLLIN, 12);
    write(p[1], "d", 1);
    w("dup", 0);
    int fd0 = p[0];
    close(fd0);
    w("closed one of two", 0);
    add(EPOLL_CTL_MOD, fd0, EPOLLIN, 13);
    add(EPOLL_CTL_DEL, fd0, 0, 14);
    int q[2];
    pipe2(q, O_NONBLOCK);
    dup2(q[0], fd0);
    add(EPOLL_CTL_MOD, fd0, EPOLLIN, 15);
    add(EPOLL_CTL_ADD, fd0, EPOLLIN, 16);
    write(q[1], "e", 1);
    w("reused fd", 0);
    close(d);
    w("old file closed", 0);
    add(EPOLL_CTL_DEL, fd0, 0, 17);
    w("new file deleted", 0);
    return 0;
}
