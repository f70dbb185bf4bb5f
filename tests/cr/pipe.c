/* Pipes across a checkpoint: a pipe with bytes buffered (both ends open, non-blocking read
 * end), a pipe filled to its capacity (a write would block), and a pipe whose writer is
 * closed after writing (bytes, then EOF). */
#include "cr.h"
#include <fcntl.h>

int main(void) {
	start("pipe");
	int a[2], full[2], eof[2];
	if (pipe2(a, 0) || pipe(full) || pipe(eof))
		die("pipe");
	if (fcntl(a[0], F_SETFL, O_NONBLOCK))
		die("fcntl");
	if (write(a[1], "hello ", 6) != 6 || write(a[1], "pipe", 4) != 4)
		die("write");
	int cap = fcntl(full[1], F_GETPIPE_SZ);
	if (cap <= 0 || fcntl(full[1], F_SETFL, O_NONBLOCK))
		die("F_GETPIPE_SZ");
	char *fill = malloc(cap);
	for (int i = 0; i < cap; i++)
		fill[i] = (char)(i * 7);
	if (write(full[1], fill, cap) != cap)
		die("fill");
	if (write(eof[1], "last words", 10) != 10)
		die("write eof");
	close(eof[1]);
	ready();
	wait_term();

	char buf[64] = {0};
	check(read(a[0], buf, sizeof buf) == 10 && memcmp(buf, "hello pipe", 10) == 0, "bytes: %s", buf);
	check(read(a[0], buf, 1) == -1 && errno == EAGAIN, "non-blocking read of the empty pipe: %s",
	      strerror(errno));
	check(write(a[1], "more", 4) == 4 && read(a[0], buf, 4) == 4, "the pipe no longer carries bytes");
	check(fcntl(full[1], F_GETPIPE_SZ) == cap, "capacity %d, was %d", fcntl(full[1], F_GETPIPE_SZ), cap);
	check(write(full[1], "x", 1) == -1 && errno == EAGAIN, "a full pipe took a byte");
	char *back = malloc(cap);
	check(read_all(full[0], back, cap) == cap && memcmp(back, fill, cap) == 0, "full pipe's bytes differ");
	memset(buf, 0, sizeof buf);
	check(read(eof[0], buf, sizeof buf) == 10 && memcmp(buf, "last words", 10) == 0, "before EOF: %s", buf);
	check(read(eof[0], buf, sizeof buf) == 0, "no EOF after the closed writer's bytes");
	return finish();
}
