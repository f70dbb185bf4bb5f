/* epoll sets watching epoll sets, as Linux serves them: an epoll fd polls readable while
 * epoll_wait on it would report something (level- and edge-triggered interests, without
 * taking an edge as seen), a wait on the outer set wakes when a file of the inner one
 * becomes ready, an interest modified or deleted in the inner set changes what the outer
 * one sees, and epoll_ctl refuses a set watching itself (EINVAL through a dup), a loop of
 * sets (ELOOP) and a chain of sets deeper than five (ELOOP). One line per check. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

static void res(const char *what, long r) {
    if (r < 0)
        printf("%s: %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, r);
}

static int add(int ep, int fd, unsigned events) {
    struct epoll_event ev = {.events = events, .data.u64 = (unsigned)fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* One epoll_wait of `ms` on `ep`, printed with the data and events reported. */
static void w(const char *what, int ep, int ms) {
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, ms);
    printf("%s: n=%d", what, n);
    for (int i = 0; i < n; i++)
        printf(" %lu:%#x", (unsigned long)out[i].data.u64, out[i].events);
    printf("\n");
}

/* poll(2) of `fd` for everything, 0 ms. */
static void p(const char *what, int fd) {
    struct pollfd pf = {.fd = fd, .events = POLLIN | POLLOUT | POLLPRI};
    int n = poll(&pf, 1, 0);
    printf("%s: n=%d revents=%#x\n", what, n, pf.revents);
}

int main(void) {
    int pp[2];
    char buf[16];
    if (pipe2(pp, O_NONBLOCK))
        return 1;
    int inner = epoll_create1(0), outer = epoll_create1(0);
    res("add pipe to inner", add(inner, pp[0], EPOLLIN));
    res("add inner to outer", add(outer, inner, EPOLLIN | EPOLLOUT));
    p("empty inner polls", inner);
    w("outer, nothing ready", outer, 0);

    write(pp[1], "x", 1);
    p("inner with data polls", inner);
    w("outer sees inner", outer, 0);
    w("outer again (level)", outer, 0);
    w("inner reports the pipe", inner, 0);
    read(pp[0], buf, sizeof buf);
    w("outer after the read", outer, 0);

    /* A child writes later: the outer wait sleeps until then. */
    pid_t c = fork();
    if (c == 0) {
        usleep(100 * 1000);
        write(pp[1], "y", 1);
        _exit(0);
    }
    w("outer blocks until the child writes", outer, 5000);
    waitpid(c, NULL, 0);

    /* The inner interest modified to ask for output only: nothing to report. */
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (unsigned)pp[0]};
    res("mod inner to EPOLLOUT", epoll_ctl(inner, EPOLL_CTL_MOD, pp[0], &ev));
    w("outer after the mod", outer, 0);
    ev.events = EPOLLIN;
    res("mod back", epoll_ctl(inner, EPOLL_CTL_MOD, pp[0], &ev));
    w("outer after mod back", outer, 0);
    res("del pipe from inner", epoll_ctl(inner, EPOLL_CTL_DEL, pp[0], NULL));
    w("outer after the del", outer, 0);
    read(pp[0], buf, sizeof buf);

    /* Edge-triggered inner interest: the outer sees it until the inner wait takes it. */
    res("add pipe ET", add(inner, pp[0], EPOLLIN | EPOLLET));
    w("outer, ET nothing yet", outer, 0);
    write(pp[1], "z", 1);
    w("outer sees the edge", outer, 0);
    w("outer still sees it", outer, 0);
    w("inner takes the edge", inner, 0);
    w("outer after the edge is taken", outer, 0);
    p("inner polls after the edge", inner);

    /* An edge-triggered outer interest: once per change. */
    int top = epoll_create1(0);
    res("add outer to top ET", add(top, outer, EPOLLIN | EPOLLET));
    w("top, nothing", top, 0);
    write(pp[1], "w", 1);
    w("top sees the change", top, 0);
    w("top again", top, 0);

    /* Refusals. */
    int d = dup(inner);
    res("inner adds itself", add(inner, inner, EPOLLIN));
    res("inner adds a dup of itself", add(inner, d, EPOLLIN));
    res("inner adds outer (a loop)", add(inner, outer, EPOLLIN));
    res("inner adds top (a loop of three)", add(inner, top, EPOLLIN));
    int a = epoll_create1(0), b = epoll_create1(0), e = epoll_create1(0);
    res("a adds b", add(a, b, EPOLLIN));
    res("b adds e", add(b, e, EPOLLIN));
    res("e adds a (a loop of three)", add(e, a, EPOLLIN));

    /* A chain of sets: each new one watches the previous chain's head. */
    int chain[8];
    chain[0] = epoll_create1(0);
    for (int i = 1; i < 8; i++) {
        chain[i] = epoll_create1(0);
        char l[48];
        snprintf(l, sizeof l, "chain of %d", i + 1);
        int r = add(chain[i], chain[i - 1], EPOLLIN);
        res(l, r);
        if (r < 0)
            break;
    }
    res("del of a set not watched", epoll_ctl(a, EPOLL_CTL_DEL, e, NULL));
    res("del of a watched set", epoll_ctl(a, EPOLL_CTL_DEL, b, NULL));
    res("now e adds a", add(e, a, EPOLLIN));
    return 0;
}
