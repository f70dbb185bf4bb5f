/* An epoll set across a checkpoint: a readable pipe (data 111), a non-zero eventfd (222,
 * edge-triggered, not yet reported), a writable pipe end (333), an empty pipe (444), a
 * one-shot eventfd already reported (555, disabled), and the set itself inside a second
 * epoll set (666). Afterwards the same events are ready with the same data. */
#include "cr.h"
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

static int add(int ep, int fd, uint32_t events, uint64_t data) {
	struct epoll_event ev = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(void) {
	start("epoll");
	int p[2], q[2], ep = epoll_create1(EPOLL_CLOEXEC), outer = epoll_create1(0);
	int ev = eventfd(3, 0), once = eventfd(1, 0);
	if (pipe(p) || pipe(q) || ep < 0 || outer < 0 || ev < 0 || once < 0)
		die("setup");
	if (write(p[1], "x", 1) != 1)
		die("write");
	if (add(ep, p[0], EPOLLIN, 111) || add(ep, ev, EPOLLIN | EPOLLET, 222) ||
	    add(ep, p[1], EPOLLOUT, 333) || add(ep, q[0], EPOLLIN, 444) ||
	    add(ep, once, EPOLLIN | EPOLLONESHOT, 555) || add(outer, ep, EPOLLIN, 666))
		die("epoll_ctl");
	/* Report everything once: the one-shot eventfd is disabled after it. */
	struct epoll_event got[8];
	int n = epoll_wait(ep, got, 8, 0);
	/* That reported everything ready, the edge-triggered eventfd too: make it new again. */
	uint64_t one = 1;
	if (n < 0 || write(ev, &one, 8) != 8)
		die("epoll_wait");
	ready();
	wait_term();

	int want[] = {111, 222, 333};
	n = epoll_wait(ep, got, 8, 0);
	uint64_t seen = 0;
	for (int i = 0; i < n; i++) {
		uint64_t d = got[i].data.u64;
		uint32_t e = got[i].events;
		check((d == 111 && e == EPOLLIN) || (d == 222 && e == EPOLLIN) || (d == 333 && e == EPOLLOUT),
		      "unexpected event: data %llu events %#x", (unsigned long long)d, e);
		for (int j = 0; j < 3; j++)
			if ((int)d == want[j])
				seen |= 1u << j;
	}
	check(n == 3 && seen == 7, "%d events ready, want 111, 222, 333 (seen mask %llx)", n,
	      (unsigned long long)seen);
	/* Edge-triggered: reported once. */
	n = epoll_wait(ep, got, 8, 0);
	int ev_again = 0;
	for (int i = 0; i < n; i++)
		ev_again |= got[i].data.u64 == 222;
	check(!ev_again, "the edge-triggered eventfd was reported twice");
	n = epoll_wait(outer, got, 8, 0);
	check(n == 1 && got[0].data.u64 == 666, "the nested set: %d events", n);
	struct epoll_event mod = {.events = EPOLLIN, .data.u64 = 777};
	check(epoll_ctl(ep, EPOLL_CTL_MOD, once, &mod) == 0, "re-arm the one-shot: %s", strerror(errno));
	n = epoll_wait(ep, got, 8, 0);
	int rearmed = 0;
	for (int i = 0; i < n; i++)
		rearmed |= got[i].data.u64 == 777;
	check(rearmed, "the re-armed one-shot eventfd is not reported");
	check(epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &mod) == -1 && errno == EEXIST, "the empty pipe is not in the set");
	return finish();
}
