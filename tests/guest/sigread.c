// A signal handler interrupting a blocking read (EINTR), and SA_RESTART restarting it.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int got;
static void h(int s) { got = s; }

int main(void) {
    int p[2];
    pipe(p);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sigaction(SIGALRM, &sa, 0);
    alarm(1);
    char c;
    ssize_t n = read(p[0], &c, 1);
    printf("read=%zd errno=%s got=%d\n", n, n < 0 && errno == EINTR ? "EINTR" : "other", got);
    // With SA_RESTART, the read goes on; a child writes after the signal.
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, 0);
    got = 0;
    if (fork() == 0) { sleep(2); write(p[1], "x", 1); _exit(0); }
    alarm(1);
    n = read(p[0], &c, 1);
    printf("restarted read=%zd c=%c got=%d\n", n, c, got);
    return 0;
}
