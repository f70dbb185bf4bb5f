/* Packet mode of a pseudo-terminal (TIOCPKT, tty_ioctl(4)): only the master has it; its
 * reads start with TIOCPKT_DATA before data and return a status byte alone when the
 * replica flushed its queues (TCFLSH, TCSETSF, a signal character), stopped or started its
 * output (^S, ^Q, TCOOFF, TCOON) or changed whether ^S/^Q stop it (IXON); poll says
 * POLLPRI while a status waits; the master's own flushes report nothing. Also TIOCSCTTY
 * on the master, which takes the terminal for a session leader. One line per check. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "checks.h"

static int master, replica;

/* A read of the master (up to `n` bytes), shown as bytes, after waiting for it. */
static void rd(const char *what, int n) {
    struct pollfd p = {master, POLLIN, 0};
    poll(&p, 1, 1000);
    unsigned char b[64];
    long r = read(master, b, n);
    printf("%s:", what);
    if (r < 0)
        printf(" %s", en(r));
    for (long i = 0; i < r; i++)
        printf(" %02x", b[i]);
    printf("\n");
}

/* Linux takes what is written to either end in asynchronously: a step that must see the
 * bytes written before it waits for them. */
static void settle(void) { usleep(100 * 1000); }

/* The master's poll for input and priority, not waiting. */
static void pl(const char *what) {
    struct pollfd p = {master, POLLIN | POLLPRI, 0};
    int n = poll(&p, 1, 0);
    printf("%s: n=%d revents=%#x\n", what, n, p.revents);
}

int main(void) {
    signal(SIGINT, SIG_IGN);
    master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    grantpt(master);
    unlockpt(master);
    replica = open(ptsname(master), O_RDWR | O_NOCTTY | O_NONBLOCK);
    int one = 1, zero = 0, got = -1;

    outcome("TIOCPKT on the replica", ioctl(replica, TIOCPKT, &one));
    outcome("TIOCGPKT before", ioctl(master, TIOCGPKT, &got));
    printf("packet: %d\n", got);
    outcome("TIOCPKT on", ioctl(master, TIOCPKT, &one));
    outcome("TIOCGPKT", ioctl(master, TIOCGPKT, &got));
    printf("packet: %d\n", got);
    outcome("TIOCPKT bad pointer", ioctl(master, TIOCPKT, (void *)8));
    pl("nothing yet");

    write(replica, "hello\n", 6);
    rd("data from the replica", 64);
    write(replica, "ab\n", 3);
    rd("a read of one byte", 1);
    rd("the rest", 64);
    write(master, "typed\n", 6);
    char buf[16] = {0};
    settle();
    outcome("the replica reads no status", read(replica, buf, sizeof buf));
    printf("replica got: %s", buf);
    rd("the echo", 64);

    outcome("master TCIFLUSH", ioctl(master, TCFLSH, TCIFLUSH));
    pl("after the master's flush");
    outcome("master TCIOFLUSH", ioctl(master, TCFLSH, TCIOFLUSH));
    pl("after the master's flushes");
    outcome("replica TCIFLUSH", ioctl(replica, TCFLSH, TCIFLUSH));
    pl("after the replica's flush");
    write(replica, "x\n", 2);
    rd("the status comes first, alone", 64);
    rd("then the data", 64);
    outcome("replica TCOFLUSH", ioctl(replica, TCFLSH, TCOFLUSH));
    outcome("replica TCIOFLUSH", ioctl(replica, TCFLSH, TCIOFLUSH));
    rd("statuses merge", 64);
    rd("nothing left", 64);

    /* Flow control typed on the master and asked by the replica. */
    write(master, "\x13", 1);
    rd("^S stops output", 64);
    write(master, "\x11", 1);
    rd("^Q starts it", 64);
    write(master, "\x13\x11", 2);
    rd("stop then start", 64);
    outcome("replica TCOOFF", tcflow(replica, TCOOFF));
    outcome("replica TCOOFF again", tcflow(replica, TCOOFF));
    rd("TCOOFF", 64);
    outcome("replica TCOON", tcflow(replica, TCOON));
    rd("TCOON", 64);
    outcome("master TCOOFF", tcflow(master, TCOOFF));
    pl("after the master's TCOOFF");
    outcome("master TCOON", tcflow(master, TCOON));

    struct termios t;
    tcgetattr(replica, &t);
    t.c_iflag &= ~IXON;
    outcome("IXON off", tcsetattr(replica, TCSANOW, &t));
    rd("NOSTOP", 64);
    t.c_iflag |= IXON;
    outcome("IXON on, from the master", tcsetattr(master, TCSANOW, &t));
    rd("DOSTOP", 64);
    t.c_cc[VSTOP] = 'S' & 0x1f ^ 1;
    outcome("another STOP character", tcsetattr(replica, TCSANOW, &t));
    rd("NOSTOP again", 64);
    t.c_cc[VSTOP] = 0x13;
    tcsetattr(replica, TCSANOW, &t);
    rd("DOSTOP again", 64);
    write(master, "pending", 7);
    settle();
    outcome("TCSETSF", tcsetattr(replica, TCSAFLUSH, &t));
    rd("a flush of the settings", 64);
    rd("the echo stays", 64);

    /* ^C: the signal character flushes both ways. */
    write(master, "\x03", 1);
    settle();
    rd("^C flushes", 64);
    t.c_lflag |= NOFLSH;
    tcsetattr(replica, TCSANOW, &t);
    write(master, "\x03", 1);
    settle();
    pl("^C with NOFLSH");
    rd("only the echo", 64);

    /* Off and on again: the status is dropped. */
    outcome("replica TCIFLUSH", ioctl(replica, TCFLSH, TCIFLUSH));
    outcome("TIOCPKT off", ioctl(master, TIOCPKT, &zero));
    pl("a status while off");
    write(replica, "plain\n", 6);
    rd("data without the prefix", 64);
    outcome("TIOCPKT on again", ioctl(master, TIOCPKT, &one));
    pl("on again");

    /* TIOCSCTTY on the master: a session leader takes the terminal. */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        setsid();
        printf("child TIOCSCTTY on the master: %s\n", en(ioctl(master, TIOCSCTTY, 0)));
        pid_t sid = -1;
        printf("child TIOCGSID of the replica: %s\n", en(ioctl(replica, TIOCGSID, &sid)));
        printf("it is the child's session: %d\n", sid == getsid(0));
        printf("child TIOCNOTTY on the master: %s\n", en(ioctl(master, TIOCNOTTY)));
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        printf("non-leader TIOCSCTTY on the master: %s\n",
               en(ioctl(master, TIOCSCTTY, 0)));
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    return 0;
}
