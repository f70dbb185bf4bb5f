/* A pseudo-terminal across a checkpoint: its number and lock, a second locked one,
 * settings (raw-ish lflag, VMIN), the window size, input queued for the replica (a
 * complete line and a line being edited), output queued for the master, and the
 * controlling terminal of the program's session with its foreground group. */
#include "cr.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>

static long rd(int fd, char *b, long n) {
	long r = read(fd, b, n);
	if (r >= 0)
		b[r] = 0;
	return r;
}

int main(void) {
	start("pty");
	setsid();
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	int locked = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || locked < 0 || unlockpt(m))
		die("posix_openpt");
	int n = -1, n2 = -1;
	ioctl(m, TIOCGPTN, &n);
	ioctl(locked, TIOCGPTN, &n2);
	char *name = ptsname(m);
	if (!name)
		die("ptsname");
	char path[64];
	snprintf(path, sizeof path, "%s", name);
	int s = open(path, O_RDWR); /* the session's controlling terminal */
	if (s < 0)
		die("open replica");
	struct termios t;
	tcgetattr(s, &t);
	t.c_lflag &= ~ECHOCTL;
	t.c_cc[VERASE] = 8;
	tcsetattr(s, TCSANOW, &t);
	struct winsize ws = {.ws_row = 33, .ws_col = 101};
	ioctl(m, TIOCSWINSZ, &ws);
	if (write(m, "first\rsec", 9) != 9 || write(s, "to master\n", 10) != 10)
		die("write");
	ready();
	wait_term();

	int g = -1, l = -1;
	check(ioctl(m, TIOCGPTN, &g) == 0 && g == n, "number %d, was %d", g, n);
	check(ioctl(locked, TIOCGPTLCK, &l) == 0 && l == 1, "second pty's lock: %d", l);
	check(ioctl(m, TIOCGPTLCK, &l) == 0 && l == 0, "first pty's lock: %d", l);
	check(ioctl(locked, TIOCGPTN, &g) == 0 && g == n2, "second number %d, was %d", g, n2);
	char *tn = ttyname(s);
	check(tn && !strcmp(tn, path), "ttyname %s, want %s", tn ? tn : "(none)", path);
	struct termios t2;
	tcgetattr(s, &t2);
	check(!(t2.c_lflag & ECHOCTL) && (t2.c_lflag & ICANON) && t2.c_cc[VERASE] == 8,
	      "settings: lflag %x verase %d", t2.c_lflag, t2.c_cc[VERASE]);
	struct winsize w2 = {0};
	ioctl(s, TIOCGWINSZ, &w2);
	check(w2.ws_row == 33 && w2.ws_col == 101, "window %dx%d", w2.ws_row, w2.ws_col);
	char b[128];
	long r = rd(m, b, sizeof b - 1);
	check(r == 21 && !strcmp(b, "first\r\nsecto master\r\n"), "master read %ld '%s'", r, b);
	r = rd(s, b, sizeof b - 1);
	check(r == 6 && !strcmp(b, "first\n"), "replica line %ld '%s'", r, b);
	write(m, "ond\b\bnd\r", 8);
	r = rd(s, b, sizeof b - 1);
	check(r == 7 && !strcmp(b, "second\n"), "edited line %ld '%s'", r, b);
	pid_t sid = -1;
	check(ioctl(s, TIOCGSID, &sid) == 0 && sid == getpid(), "TIOCGSID %d", sid);
	check(tcgetpgrp(s) == getpgrp(), "foreground group %d", tcgetpgrp(s));
	int tty = open("/dev/tty", O_RDWR);
	check(tty >= 0, "/dev/tty: %s", strerror(errno));
	int s2 = open(path, O_RDWR | O_NOCTTY);
	check(s2 >= 0, "reopen replica: %s", strerror(errno));
	return finish();
}
