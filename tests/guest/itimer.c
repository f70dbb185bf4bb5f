// ITIMER_REAL interval timer: counts SIGALRMs over time.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int ticks;
static void h(int s) { (void)s; ticks++; }

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, 0);
    struct itimerval it = {{0, 50000}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, 0);
    while (ticks < 5) pause();
    struct itimerval cur;
    getitimer(ITIMER_REAL, &cur);
    it.it_value.tv_usec = 0;
    it.it_interval.tv_usec = 0;
    setitimer(ITIMER_REAL, &it, 0);
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, 0);
    printf("ticks=%d interval=%ld\n", ticks, (long)cur.it_interval.tv_usec);
    return 0;
}
