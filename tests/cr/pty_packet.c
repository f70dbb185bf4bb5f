/* A pseudo-terminal in packet mode (TIOCPKT) across a checkpoint: the mode, the status
 * the master has not read (the replica's input flush and its output stopped), the data
 * queued behind it, and a second pty not in packet mode whose reads stay plain. */
#include "cr.h"
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>

/* A pty: its master in *m, its replica opened without becoming a controlling terminal. */
static int open_pair(int *m) {
	*m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (*m < 0 || grantpt(*m) || unlockpt(*m))
		die("posix_openpt");
	int s = open(ptsname(*m), O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (s < 0)
		die("open replica");
	return s;
}

int main(void) {
	start("pty_packet");
	int m, plain_m;
	int s = open_pair(&m), plain_s = open_pair(&plain_m);
	int one = 1;
	if (ioctl(m, TIOCPKT, &one))
		die("TIOCPKT");
	if (write(s, "queued\n", 7) != 7 || write(plain_s, "plain\n", 6) != 6)
		die("write");
	if (ioctl(s, TCFLSH, TCIFLUSH) || tcflow(s, TCOOFF))
		die("flush and stop");
	ready();
	wait_term();

	int pkt = -1;
	check(ioctl(m, TIOCGPKT, &pkt) == 0 && pkt == 1, "packet mode %d", pkt);
	check(ioctl(plain_m, TIOCGPKT, &pkt) == 0 && pkt == 0, "plain pty's mode %d", pkt);
	struct pollfd p = {m, POLLIN | POLLPRI, 0};
	check(poll(&p, 1, 0) == 1 && p.revents == (POLLIN | POLLPRI), "poll revents %#x",
	      p.revents);
	unsigned char b[64];
	long r = read(m, b, sizeof b);
	check(r == 1 && b[0] == (TIOCPKT_FLUSHREAD | TIOCPKT_STOP), "status read %ld: %#x", r,
	      r > 0 ? b[0] : 0);
	r = read(m, b, sizeof b);
	check(r == 9 && b[0] == TIOCPKT_DATA && !memcmp(b + 1, "queued\r\n", 8),
	      "data read %ld", r);
	p.revents = 0;
	check(poll(&p, 1, 0) == 0, "poll after the reads: %#x", p.revents);
	/* Output starts again: a new status. */
	check(tcflow(s, TCOON) == 0, "TCOON: %s", strerror(errno));
	r = read(m, b, sizeof b);
	check(r == 1 && b[0] == TIOCPKT_START, "start status %ld: %#x", r, r > 0 ? b[0] : 0);
	r = read(plain_m, b, sizeof b);
	check(r == 7 && !memcmp(b, "plain\r\n", 7), "plain read %ld", r);
	return finish();
}
