/* ITIMER_REAL across a checkpoint: a one-hour timer with a one-minute interval keeps its
 * remaining time (less than at setup, not reset, not expired) and its interval; a short
 * timer set after the restore still fires SIGALRM. */
#include "cr.h"
#include <sys/time.h>

static volatile sig_atomic_t alarms;
static void on_alrm(int sig) {
	(void)sig;
	alarms++;
}

static double secs(struct timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

int main(void) {
	start("itimer");
	signal(SIGALRM, on_alrm);
	struct itimerval it = {.it_interval = {60, 0}, .it_value = {3600, 0}}, now;
	if (setitimer(ITIMER_REAL, &it, NULL))
		die("setitimer");
	getitimer(ITIMER_REAL, &now);
	double at_ready = secs(now.it_value);
	ready();
	wait_term();

	getitimer(ITIMER_REAL, &now);
	double left = secs(now.it_value);
	check(left > 3000 && left < at_ready, "remaining %.3f s, was %.3f s at setup", left, at_ready);
	check(now.it_interval.tv_sec == 60 && now.it_interval.tv_usec == 0, "interval %ld.%06ld",
	      (long)now.it_interval.tv_sec, (long)now.it_interval.tv_usec);
	check(alarms == 0, "%d alarms fired", alarms);
	struct itimerval shortt = {.it_value = {0, 50000}};
	setitimer(ITIMER_REAL, &shortt, NULL);
	for (int i = 0; i < 200 && !alarms; i++)
		usleep(10000);
	check(alarms == 1, "the short timer fired %d times", alarms);
	return finish();
}
