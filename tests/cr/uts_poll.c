/* A change of the host name not yet reported to a poller of /proc/sys/kernel/hostname
 * across a checkpoint: after the restore epoll reports it (EPOLLERR) once, a description
 * that had reported the change before the checkpoint reports nothing, and a change after
 * the restore is reported to both. */
#include "cr.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/epoll.h>

static int events(int ep) {
	struct epoll_event ev = {0};
	int n = epoll_wait(ep, &ev, 1, 0);
	return n > 0 ? (int)ev.events : n;
}

static int watch(void) {
	int fd = open("/proc/sys/kernel/hostname", O_RDONLY);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = 0};
	if (fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll on /proc/sys/kernel/hostname");
	return ep;
}

int main(void) {
	start("uts_poll");
	if (unshare(CLONE_NEWUTS))
		die("unshare");
	int due = watch(), told = watch();
	if (sethostname("before", 6))
		die("sethostname");
	if (events(told) != EPOLLERR)
		die("no EPOLLERR before the checkpoint");
	ready();
	wait_term();

	check(events(due) == EPOLLERR, "the change not reported before the checkpoint is lost");
	check(events(due) == 0, "reported twice");
	check(events(told) == 0, "a change reported before the checkpoint is reported again");
	check(sethostname("after", 5) == 0, "sethostname");
	check(events(due) == EPOLLERR && events(told) == EPOLLERR, "a change after the restore not reported");
	return finish();
}
