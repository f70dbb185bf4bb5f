/* eventfds across a checkpoint: a counter (non-blocking), a semaphore-mode one, and one
 * at zero. */
#include "cr.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>

int main(void) {
	start("eventfd");
	int e = eventfd(5, EFD_NONBLOCK | EFD_CLOEXEC);
	int s = eventfd(2, EFD_SEMAPHORE);
	int z = eventfd(0, EFD_NONBLOCK);
	if (e < 0 || s < 0 || z < 0)
		die("eventfd");
	uint64_t v = 37;
	if (write(e, &v, 8) != 8)
		die("write");
	ready();
	wait_term();

	check(fcntl(e, F_GETFL) & O_NONBLOCK, "O_NONBLOCK lost");
	check(fcntl(e, F_GETFD) == FD_CLOEXEC, "FD_CLOEXEC lost");
	check(read(e, &v, 8) == 8 && v == 42, "counter: %llu", (unsigned long long)v);
	check(read(e, &v, 8) == -1 && errno == EAGAIN, "counter not reset by the read");
	v = 0;
	check(read(s, &v, 8) == 8 && v == 1 && read(s, &v, 8) == 8 && v == 1, "semaphore mode lost: %llu",
	      (unsigned long long)v);
	check(read(z, &v, 8) == -1 && errno == EAGAIN, "a zero counter reads");
	v = 0xfffffffffffffffeull;
	check(write(z, &v, 8) == 8, "write the maximum");
	v = 1;
	check(write(z, &v, 8) == -1 && errno == EAGAIN, "overflow not refused");
	return finish();
}
