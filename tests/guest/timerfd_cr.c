/* timerfds across a checkpoint: one expired and not read, one a minute away, one due a
 * second after "ready", one every 50ms, and a child blocked reading a timer due two
 * seconds after "ready". Prints "ready", waits for /tmp/go (made after the restore), then
 * what each holds. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

static long long rd(int fd) {
    uint64_t v = 0;
    return read(fd, &v, sizeof v) == 8 ? (long long)v : -1;
}

static void arm(int fd, long value_ms, long interval_ms) {
    struct itimerspec its = {{interval_ms / 1000, interval_ms % 1000 * 1000000},
                             {value_ms / 1000, value_ms % 1000 * 1000000}};
    timerfd_settime(fd, 0, &its, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int expired = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    int minute = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    int second = timerfd_create(CLOCK_REALTIME, 0);
    int periodic = timerfd_create(CLOCK_BOOTTIME, 0);
    int waited = timerfd_create(CLOCK_MONOTONIC, 0);
    arm(expired, 1, 0);
    arm(minute, 60000, 0);
    arm(second, 1000, 0);
    arm(periodic, 50, 50);
    arm(waited, 2000, 0);
    pid_t c = fork();
    if (c == 0) {
        long long n = rd(waited);
        struct stat st;
        printf("child: waited %lld, after go=%d\n", n, stat("/tmp/go", &st) == 0);
        _exit(0);
    }
    usleep(10000);
    printf("ready\n");
    struct stat st;
    while (stat("/tmp/go", &st) != 0)
        usleep(20000);
    printf("expired: %lld\n", rd(expired));
    struct itimerspec its;
    timerfd_gettime(minute, &its);
    printf("minute: left in [40s,60s)=%d, not expired=%d\n",
           its.it_value.tv_sec >= 40 && its.it_value.tv_sec < 60, rd(minute) == -1);
    printf("second: %lld\n", rd(second));
    printf("periodic: some=%d\n", rd(periodic) > 0);
    int status;
    waitpid(c, &status, 0);
    printf("done\n");
    return 0;
}
