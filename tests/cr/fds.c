/* File descriptors across a checkpoint: FD_CLOEXEC per descriptor (a dup'd one without
 * it), dup'd descriptors sharing one offset, a descriptor at a high number, O_APPEND and
 * O_NONBLOCK status flags, offsets in a host file and a tmpfs file, an O_RDONLY one that
 * still refuses writes, a hole in the table. */
#include "cr.h"
#include <fcntl.h>

int main(void) {
	start("fds");
	int a = open("/cr-fds.dat", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int t = open("/tmp/cr-fds", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (a < 0 || t < 0)
		die("open");
	if (write(a, "0123456789abcdef", 16) != 16 || write(t, "tmpfs content here", 18) != 18)
		die("write");
	int d = dup(a);
	int high = dup2(t, 900);
	if (d < 0 || high != 900)
		die("dup");
	lseek(a, 4, SEEK_SET);
	lseek(t, 6, SEEK_SET);
	int ap = open("/tmp/cr-append", O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK, 0600);
	int ro = open("/cr-fds.dat", O_RDONLY);
	if (ap < 0 || ro < 0 || write(ap, "one", 3) != 3)
		die("open append");
	lseek(ro, 10, SEEK_SET);
	int gap = dup(ro);
	close(gap);
	ready();
	wait_term();

	check(fcntl(a, F_GETFD) == FD_CLOEXEC && fcntl(d, F_GETFD) == 0, "FD_CLOEXEC: %d %d", fcntl(a, F_GETFD),
	      fcntl(d, F_GETFD));
	check(fcntl(gap, F_GETFD) == -1 && errno == EBADF, "the closed descriptor %d is open", gap);
	check(dup(0) == gap, "the lowest free descriptor is not %d", gap);
	check(lseek(d, 0, SEEK_CUR) == 4, "dup's offset %ld, want 4", (long)lseek(d, 0, SEEK_CUR));
	char buf[32] = {0};
	check(read(d, buf, 4) == 4 && memcmp(buf, "4567", 4) == 0, "read at the offset: %s", buf);
	check(lseek(a, 0, SEEK_CUR) == 8, "the shared offset did not move: %ld", (long)lseek(a, 0, SEEK_CUR));
	check(lseek(high, 0, SEEK_CUR) == 6 && lseek(t, 0, SEEK_CUR) == 6, "tmpfs offset");
	memset(buf, 0, sizeof buf);
	check(read(high, buf, 7) == 7 && strcmp(buf, "content") == 0, "fd 900 reads %s", buf);
	int fl = fcntl(ap, F_GETFL);
	check((fl & O_APPEND) && (fl & O_NONBLOCK) && (fl & O_ACCMODE) == O_WRONLY, "status flags %#x", fl);
	lseek(ap, 0, SEEK_SET);
	check(write(ap, "two", 3) == 3, "append write");
	int rd = open("/tmp/cr-append", O_RDONLY);
	memset(buf, 0, sizeof buf);
	check(rd >= 0 && read(rd, buf, sizeof buf) == 6 && strcmp(buf, "onetwo") == 0, "O_APPEND lost: %s", buf);
	check(lseek(ro, 0, SEEK_CUR) == 10, "read-only offset");
	check(write(ro, "x", 1) == -1 && errno == EBADF, "a read-only descriptor writes");
	return finish();
}
