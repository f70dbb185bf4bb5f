// Polling /proc/sys/kernel/hostname and domainname, in a UTS namespace of its own: epoll
// takes them (any events, even none), a sethostname or setdomainname after the open is
// POLLERR once for each description (then no more until the next change), poll sees
// POLLIN always and POLLERR|POLLPRI after a change, and a description opened after a
// change has nothing to report. Prints one line per check: the same lines natively and in
// the sandbox.
#define _GNU_SOURCE
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>

#include "checks.h"

static void wait_on(const char *what, int ep) {
    struct epoll_event ev = {0};
    int n = epoll_wait(ep, &ev, 1, 0);
    printf("%s: %d events=%#x\n", what, n, n > 0 ? ev.events : 0);
}

static void poll_on(const char *what, int fd, short events) {
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, 0);
    printf("%s: %d revents=%#x\n", what, n, p.revents);
}

int main(void) {
    printf("unshare: %s\n", en(unshare(CLONE_NEWUTS)));
    int h1 = open("/proc/sys/kernel/hostname", O_RDONLY);
    int h2 = open("/proc/sys/kernel/hostname", O_RDONLY);
    int d = open("/proc/sys/kernel/domainname", O_RDONLY);
    int e1 = epoll_create1(0), e2 = epoll_create1(0), ed = epoll_create1(0);
    struct epoll_event ev = {.events = 0};
    printf("add h1: %s\n", en(epoll_ctl(e1, EPOLL_CTL_ADD, h1, &ev)));
    ev.events = EPOLLIN | EPOLLPRI;
    printf("add h2: %s\n", en(epoll_ctl(e2, EPOLL_CTL_ADD, h2, &ev)));
    ev.events = 0;
    printf("add d: %s\n", en(epoll_ctl(ed, EPOLL_CTL_ADD, d, &ev)));
    wait_on("h1 before", e1);
    printf("sethostname: %s\n", en(sethostname("polled", 6)));
    wait_on("h1 after", e1);
    wait_on("h1 again", e1);
    wait_on("h2 after", e2);
    wait_on("d after hostname", ed);
    printf("setdomainname: %s\n", en(setdomainname("dom", 3)));
    wait_on("d after", ed);
    wait_on("d again", ed);
    int h3 = open("/proc/sys/kernel/hostname", O_RDONLY);
    poll_on("h3 fresh", h3, POLLIN);
    sethostname("again", 5);
    poll_on("h3 changed", h3, POLLIN | POLLPRI);
    poll_on("h3 again", h3, POLLIN | POLLPRI);
    return 0;
}
