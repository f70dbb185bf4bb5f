/* Timerfds across a checkpoint: a one-shot CLOCK_MONOTONIC timer 30 s away, an interval
 * timer (1 s) armed at an absolute time 5.5 s in the past (6 expirations already, none
 * read), and an absolute CLOCK_REALTIME timer 4 s ahead. Afterwards the one-shot timer
 * has less time left but has not fired, the interval timer reports every expiration since
 * it was armed (no fewer, and no more than time allows) with its interval, and the
 * realtime timer fires at its absolute time: not before it, and not late. */
#include "cr.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <time.h>

static double now(clockid_t c) {
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static struct timespec at(double s) {
	struct timespec t = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	return t;
}

static double secs(struct timespec t) { return t.tv_sec + t.tv_nsec / 1e9; }

int main(void) {
	start("timerfd");
	int once = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int every = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int real = timerfd_create(CLOCK_REALTIME, 0);
	if (once < 0 || every < 0 || real < 0)
		die("timerfd_create");
	struct itimerspec a = {.it_value = {30, 0}};
	if (timerfd_settime(once, 0, &a, NULL))
		die("settime once");
	double armed = now(CLOCK_MONOTONIC);
	struct itimerspec e = {.it_interval = {1, 0}, .it_value = at(armed - 5.5)};
	if (timerfd_settime(every, TFD_TIMER_ABSTIME, &e, NULL))
		die("settime every");
	double target = now(CLOCK_REALTIME) + 4;
	struct itimerspec r = {.it_value = at(target)};
	if (timerfd_settime(real, TFD_TIMER_ABSTIME, &r, NULL))
		die("settime real");
	ready();
	wait_term();
	double woke = now(CLOCK_REALTIME);

	struct itimerspec g;
	uint64_t n = 0;
	check(timerfd_gettime(once, &g) == 0, "gettime once: %s", strerror(errno));
	double left = secs(g.it_value);
	double since = now(CLOCK_MONOTONIC) - armed;
	check(left > 0 && left <= 30 - since + 0.01 && left >= 30 - since - 1, "one-shot: %.3f s left after %.3f s", left,
	      since);
	check(g.it_interval.tv_sec == 0 && g.it_interval.tv_nsec == 0, "one-shot has an interval");
	check(read(once, &n, 8) < 0 && errno == EAGAIN, "the one-shot timer fired early (%lu)", (unsigned long)n);

	double elapsed = now(CLOCK_MONOTONIC) - (armed - 5.5);
	check(timerfd_gettime(every, &g) == 0 && g.it_interval.tv_sec == 1 && g.it_interval.tv_nsec == 0,
	      "interval timer: interval %ld.%09ld", (long)g.it_interval.tv_sec, g.it_interval.tv_nsec);
	check(secs(g.it_value) > 0 && secs(g.it_value) <= 1, "interval timer: %.3f s to the next", secs(g.it_value));
	n = 0;
	check(read(every, &n, 8) == 8, "interval timer: read %s", strerror(errno));
	check(n >= 6 && n <= (uint64_t)elapsed + 1, "interval timer: %lu expirations after %.3f s", (unsigned long)n,
	      elapsed);

	n = 0;
	check(read(real, &n, 8) == 8 && n == 1, "realtime timer: read %lu: %s", (unsigned long)n, strerror(errno));
	double fired = now(CLOCK_REALTIME);
	double due = woke > target ? woke : target;
	check(fired >= target, "the realtime timer fired %.3f s before its time", target - fired);
	check(fired <= due + 1, "the realtime timer fired %.3f s late", fired - due);
	return finish();
}
