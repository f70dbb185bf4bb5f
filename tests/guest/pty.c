/* Pseudo-terminals: posix_openpt/grantpt/unlockpt/ptsname, the lock, /dev/pts, stat and
 * ttyname of the replica, termios (canonical editing, echo, raw mode, VMIN/VTIME, output
 * processing), the window size, FIONREAD, the controlling terminal of a new session
 * (/dev/tty, TIOCGSID, tcgetpgrp, /proc/self/stat), ^C's SIGINT, the hangup when the
 * master closes, EIO on the master once the replica closed, and bad arguments. Prints one
 * line per check; the test compares them with the same program run natively (pty numbers
 * are only compared with each other). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "checks.h"

static void shown(const char *what, const char *b, long n) {
    printf("%s: %ld \"", what, n);
    for (long i = 0; i < n; i++) {
        unsigned char c = b[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    printf("\"\n");
}

static void rd(const char *what, int fd) {
    char b[256];
    long n = read(fd, b, sizeof b);
    if (n < 0)
        printf("%s: %s\n", what, en(n));
    else
        shown(what, b, n);
}

static int readable(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1 ? p.revents : 0;
}

static volatile sig_atomic_t got;
static void on_sig(int sig) { got = sig; }

/* A child in a session of its own whose controlling terminal is replica `name`. */
static void child_session(const char *name, int report) {
    setsid();
    int fd = open(name, O_RDWR);
    int tty = open("/dev/tty", O_RDWR);
    pid_t sid = -1;
    int r = ioctl(fd, TIOCGSID, &sid);
    char line[512] = {0};
    int sf = open("/proc/self/stat", O_RDONLY);
    read(sf, line, sizeof line - 1);
    int tty_nr = 0, tpgid = 0;
    char *p = strrchr(line, ')');
    sscanf(p + 2, "%*c %*d %*d %*d %d %d", &tty_nr, &tpgid);
    struct stat st;
    fstat(fd, &st);
    dprintf(report, "ctty: open=%s dev_tty=%s sid=%s/%d pgrp=%d tty_nr=%d tpgid=%d\n", en(fd),
            en(tty), en(r), sid == getpid(), tcgetpgrp(fd) == getpid(),
            tty_nr == (int)(minor(st.st_rdev) | (major(st.st_rdev) << 8)), tpgid == getpid());
    struct sigaction sa = {0};
    sa.sa_handler = on_sig;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    dprintf(report, "R");
    while (got != SIGINT)
        usleep(1000);
    dprintf(report, "sigint: %d\n", got == SIGINT);
    while (got != SIGHUP)
        usleep(1000);
    char b[8];
    long n = read(fd, b, sizeof b);
    long w = write(fd, "x", 1);
    dprintf(report, "hangup: sighup=1 read=%ld write=%s\n", n, en(w));
    _exit(0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    printf("posix_openpt: %s\n", en(m));
    int n = -1, lck = -1;
    ioctl(m, TIOCGPTN, &n);
    ioctl(m, TIOCGPTLCK, &lck);
    printf("locked at first: %d\n", lck);
    char *name = ptsname(m);
    char want[64];
    snprintf(want, sizeof want, "/dev/pts/%d", n);
    printf("ptsname is /dev/pts/TIOCGPTN: %d\n", name && !strcmp(name, want));
    printf("open locked replica: %s\n", en(open(want, O_RDWR | O_NOCTTY)));
    printf("grantpt: %s unlockpt: %s\n", en(grantpt(m)), en(unlockpt(m)));
    ioctl(m, TIOCGPTLCK, &lck);
    printf("locked after unlockpt: %d\n", lck);
    int s = open(want, O_RDWR | O_NOCTTY);
    printf("open replica: %s\n", en(s));

    struct stat st, ms;
    fstat(s, &st);
    fstat(m, &ms);
    printf("replica: chr=%d major=%d minor_is_n=%d owner_rw=%d\n", S_ISCHR(st.st_mode),
           major(st.st_rdev), (int)minor(st.st_rdev) == n, (st.st_mode & 0600) == 0600);
    printf("master: chr=%d rdev=%d,%d\n", S_ISCHR(ms.st_mode), major(ms.st_rdev),
           minor(ms.st_rdev));
    char *tn = ttyname(s);
    printf("ttyname is ptsname: %d isatty=%d\n", tn && !strcmp(tn, want), isatty(s));
    int pfd[2];
    pipe(pfd);
    errno = 0;
    printf("isatty(pipe)=%d %s\n", isatty(pfd[0]), en(-1));
    int listed = 0;
    DIR *d = opendir("/dev/pts");
    for (struct dirent *e; d && (e = readdir(d));)
        listed |= atoi(e->d_name) == n && e->d_name[0] != 'p';
    printf("/dev/pts lists it: %d\n", listed);

    struct termios t;
    tcgetattr(s, &t);
    printf("termios: i=%x o=%x c=%x l=%x vmin=%d vtime=%d veof=%d verase=%d speed=%d\n",
           t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag, t.c_cc[VMIN], t.c_cc[VTIME], t.c_cc[VEOF],
           t.c_cc[VERASE], cfgetospeed(&t) == B38400);
    struct termios mt;
    tcgetattr(m, &mt);
    printf("master sees the replica's settings: %d\n", mt.c_lflag == t.c_lflag);

    /* Canonical mode: erase, a line, echo. */
    write(m, "abc\x7f" "d\r", 6);
    rd("line", s);
    rd("echo", m);
    write(m, "one\x15two\x17" "three\x04", 14);
    int q = -1;
    readable(s, 1000); /* Linux hands input to the line discipline in a worker */
    ioctl(s, FIONREAD, &q);
    printf("FIONREAD replica: %d\n", q);
    rd("killed and word-erased", s);
    rd("echo", m);
    write(m, "\x04", 1);
    rd("EOF", s);
    write(s, "a\nb\tc", 5);
    readable(m, 1000);
    ioctl(m, FIONREAD, &q);
    printf("FIONREAD master: %d\n", q);
    rd("output", m);

    /* Raw mode. */
    struct termios raw = t;
    cfmakeraw(&raw);
    printf("TCSETS raw: %s\n", en(tcsetattr(s, TCSANOW, &raw)));
    write(m, "x\ry\x03", 4);
    rd("raw", s);
    printf("no echo: %d\n", readable(m, 0));
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(s, TCSANOW, &raw);
    rd("VMIN 0 VTIME 0", s);
    raw.c_cc[VTIME] = 1;
    tcsetattr(s, TCSANOW, &raw);
    rd("VMIN 0 VTIME 1", s);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    tcsetattr(s, TCSAFLUSH, &raw);
    write(s, "a\n", 2);
    rd("raw output", m);
    fcntl(s, F_SETFL, O_NONBLOCK);
    rd("non-blocking empty", s);
    fcntl(s, F_SETFL, 0);
    tcsetattr(s, TCSANOW, &t);

    /* Window size. */
    struct winsize ws = {.ws_row = 24, .ws_col = 80}, got_ws = {0};
    printf("TIOCSWINSZ: %s\n", en(ioctl(m, TIOCSWINSZ, &ws)));
    ioctl(s, TIOCGWINSZ, &got_ws);
    printf("winsize: %d %d\n", got_ws.ws_row, got_ws.ws_col);

    /* Bad arguments. */
    printf("TCGETS bad pointer: %s\n", en(ioctl(s, TCGETS, (void *)8)));
    printf("TIOCSWINSZ bad pointer: %s\n", en(ioctl(m, TIOCSWINSZ, (void *)8)));
    printf("TIOCGPTN bad pointer: %s\n", en(ioctl(m, TIOCGPTN, (void *)8)));
    printf("TIOCGPTN on the replica: %s\n", en(ioctl(s, TIOCGPTN, &q)));
    printf("unknown ioctl: %s\n", en(ioctl(s, 0x54ff, &q)));
    printf("TCFLSH 9: %s\n", en(ioctl(s, TCFLSH, 9)));
    printf("TCGETS on a pipe: %s\n", en(ioctl(pfd[0], TCGETS, &t)));
    printf("TIOCGPGRP without ctty: %s\n", en(ioctl(s, TIOCGPGRP, &q)));
    if (fork() == 0) {
        printf("TIOCSCTTY by a non-leader: %s\n", en(ioctl(s, TIOCSCTTY, 0)));
        _exit(0);
    }
    wait(NULL);
    printf("pread: %s\n", en(pread(s, &q, 1, 0)));
    printf("open /dev/pts/999999: %s\n", en(open("/dev/pts/999999", O_RDWR)));

    /* No controlling terminal in a new session: /dev/tty is ENXIO. */
    pid_t c = fork();
    if (c == 0) {
        setsid();
        printf("/dev/tty without ctty: %s\n", en(open("/dev/tty", O_RDWR)));
        _exit(0);
    }
    waitpid(c, NULL, 0);

    /* A session whose terminal it is: ^C, then the master closes. */
    int rep[2];
    pipe(rep);
    c = fork();
    if (c == 0) {
        close(m);
        close(s);
        child_session(want, rep[1]);
    }
    close(rep[1]);
    char b[256];
    long k = 0;
    while (k == 0 || b[k - 1] != 'R')
        k += read(rep[0], b + k, 1);
    fwrite(b, 1, k - 1, stdout);
    printf("\n");
    write(m, "\x03", 1);
    k = read(rep[0], b, sizeof b);
    fwrite(b, 1, k, stdout);
    rd("^C echo", m);
    close(m);
    k = read(rep[0], b, sizeof b);
    fwrite(b, 1, k, stdout);
    waitpid(c, NULL, 0);
    printf("replica after hangup: read=%ld write=%s\n", (long)read(s, b, 1), en(write(s, "x", 1)));
    close(s);

    /* The master reads what is left, then EIO. */
    m = posix_openpt(O_RDWR | O_NOCTTY);
    unlockpt(m);
    s = open(ptsname(m), O_RDWR | O_NOCTTY);
    write(s, "bye", 3);
    close(s);
    printf("poll master: %x\n", readable(m, 0));
    rd("left", m);
    rd("after the replica closed", m);
    return 0;
}
