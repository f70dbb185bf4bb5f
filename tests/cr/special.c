/* The sentry's own files across a checkpoint: /dev/null, /dev/zero, /dev/full and
 * /dev/urandom open, /proc/self/status read part way (a snapshot: the rest reads on from
 * where it was), /proc/self opened as a directory and listed part way (the listing goes on
 * without repeating), and a FIFO opened read-write with bytes in it. Afterwards each
 * behaves as its kind does and keeps its place. */
#include "cr.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

struct linux_dirent64 {
	unsigned long d_ino;
	long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* The names of one getdents64 call of at most LEN bytes, "/"-separated, into OUT. */
static int list(int fd, size_t len, char *out, size_t outlen) {
	char buf[4096];
	long n = syscall(SYS_getdents64, fd, buf, len < sizeof buf ? len : sizeof buf);
	if (n < 0)
		return -1;
	out[0] = 0;
	int count = 0;
	for (long off = 0; off < n;) {
		struct linux_dirent64 *d = (void *)(buf + off);
		strncat(out, d->d_name, outlen - strlen(out) - 2);
		strcat(out, "/");
		off += d->d_reclen;
		count++;
	}
	return count;
}

int main(void) {
	start("special");
	int null = open("/dev/null", O_RDWR), zero = open("/dev/zero", O_RDONLY);
	int full = open("/dev/full", O_WRONLY), urnd = open("/dev/urandom", O_RDONLY);
	int status = open("/proc/self/status", O_RDONLY);
	int dir = open("/proc/self", O_RDONLY | O_DIRECTORY);
	if (null < 0 || zero < 0 || full < 0 || urnd < 0 || status < 0 || dir < 0)
		die("open");
	char head[6];
	if (read(status, head, 6) != 6 || memcmp(head, "Name:\t", 6))
		die("read /proc/self/status");
	char first[1024], all[4096];
	int n1 = list(dir, 80, first, sizeof first);
	if (n1 <= 0)
		die("getdents /proc/self");
	if (mkfifo("/tmp/rw.fifo", 0600))
		die("mkfifo");
	int rw = open("/tmp/rw.fifo", O_RDWR | O_NONBLOCK);
	if (rw < 0 || write(rw, "both ways", 9) != 9)
		die("fifo");
	ready();
	wait_term();

	char buf[64];
	check(read(null, buf, sizeof buf) == 0 && write(null, "x", 1) == 1, "/dev/null");
	memset(buf, 1, sizeof buf);
	check(read(zero, buf, 16) == 16 && memcmp(buf, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0, "/dev/zero");
	check(write(full, "x", 1) < 0 && errno == ENOSPC, "/dev/full: %s", strerror(errno));
	char r1[16] = {0}, r2[16] = {0};
	check(read(urnd, r1, 16) == 16 && read(urnd, r2, 16) == 16 && memcmp(r1, r2, 16), "/dev/urandom");
	memset(buf, 0, sizeof buf);
	ssize_t n = read(status, buf, 7);
	check(n == 7 && strncmp(buf, "special", 7) == 0, "/proc/self/status goes on with %zd bytes: %s", n, buf);
	/* The rest of the listing: nothing of the first part again, "status" somewhere. */
	char rest[4096] = {0};
	for (int k; (k = list(dir, 4096, all, sizeof all)) > 0;)
		strncat(rest, all, sizeof rest - strlen(rest) - 1);
	int status_first = strstr(first, "/status/") || strncmp(first, "status/", 7) == 0;
	char *tok = strtok(first, "/");
	for (; tok; tok = strtok(NULL, "/")) {
		char want[300];
		snprintf(want, sizeof want, "/%s/", tok);
		char padded[4100];
		snprintf(padded, sizeof padded, "/%s", rest);
		check(strcmp(tok, ".") == 0 || strcmp(tok, "..") == 0 || !strstr(padded, want),
		      "the listing repeats %s after the restore", tok);
	}
	check(strstr(rest, "status/") || status_first, "the listing lost status: %s", rest);
	memset(buf, 0, sizeof buf);
	check(read(rw, buf, sizeof buf) == 9 && memcmp(buf, "both ways", 9) == 0, "read-write fifo: %s", buf);
	check(write(rw, "again", 5) == 5 && read(rw, buf, 5) == 5 && memcmp(buf, "again", 5) == 0,
	      "read-write fifo after the restore");
	struct stat st;
	check(fstat(rw, &st) == 0 && S_ISFIFO(st.st_mode), "read-write fifo: mode %o", st.st_mode);
	return finish();
}
