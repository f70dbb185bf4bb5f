/* Files deleted while open, across a checkpoint: ghost DIR TMPDIR
 *
 * Opens and loses the name of four files, prints "ready", and on SIGUSR1 (after a
 * checkpoint and restore, or at once) checks each through its fd — content, size, mode,
 * offset, link count 0, holes still holes, /proc/self/fd saying "(deleted)" — and prints
 * "PASS" or what differs:
 *   a: DIR/a, 8 bytes of data at 0 and at 1 MiB with a hole between, unlinked;
 *   b: DIR/sub/b, opened write-only, in a directory then removed;
 *   c: DIR/c, unlinked and a new file of the same name created (the fd must still read
 *      the old content; the path the new one);
 *   d: TMPDIR/d on a tmpfs, unlinked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG (1 << 20)
#define ASIZE (BIG + 8192)

static volatile sig_atomic_t go;
static int fails;

static void on_usr1(int sig) {
	(void)sig;
	go = 1;
}

static void fail(const char *what, const char *detail) {
	printf("FAIL %s: %s\n", what, detail);
	fails++;
}

static int make(const char *path, int flags, const char *data, off_t at) {
	int fd = open(path, flags | O_CREAT, 0640);
	if (fd < 0 || pwrite(fd, data, strlen(data), at) != (ssize_t)strlen(data)) {
		perror(path);
		exit(2);
	}
	return fd;
}

static void check(const char *what, int fd, off_t size, const char *data, off_t at) {
	char buf[64] = {0}, link[64], target[512] = {0};
	struct stat st;
	if (fstat(fd, &st) != 0) {
		fail(what, strerror(errno));
		return;
	}
	if (st.st_nlink != 0) {
		snprintf(buf, sizeof buf, "nlink %lu", (unsigned long)st.st_nlink);
		fail(what, buf);
	}
	if (st.st_size != size) {
		snprintf(buf, sizeof buf, "size %ld, want %ld", (long)st.st_size, (long)size);
		fail(what, buf);
	}
	if ((st.st_mode & 07777) != 0640) {
		snprintf(buf, sizeof buf, "mode %o", st.st_mode & 07777);
		fail(what, buf);
	}
	memset(buf, 0, sizeof buf);
	/* A write-only one cannot be read (the test reads its data in the image). */
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_WRONLY &&
	    (pread(fd, buf, strlen(data), at) != (ssize_t)strlen(data) || strcmp(buf, data) != 0))
		fail(what, "content");
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if (readlink(link, target, sizeof target - 1) < 0)
		fail(what, "readlink");
	else if (strstr(target, " (deleted)") == NULL) {
		snprintf(buf, sizeof buf, "link %.40s", target);
		fail(what, buf);
	}
}

int main(int argc, char **argv) {
	char a[256], sub[256], b[256], c[256], d[256];
	if (argc < 3)
		return 2;
	snprintf(a, sizeof a, "%s/a", argv[1]);
	snprintf(sub, sizeof sub, "%s/sub", argv[1]);
	snprintf(b, sizeof b, "%s/sub/b", argv[1]);
	snprintf(c, sizeof c, "%s/c", argv[1]);
	snprintf(d, sizeof d, "%s/d", argv[2]);
	signal(SIGUSR1, on_usr1);

	int fa = make(a, O_RDWR, "AAAAAAAA", 0);
	close(make(a, O_RDWR, "zzzzzzzz", BIG));
	if (ftruncate(fa, ASIZE) != 0 || unlink(a) != 0)
		return 2;
	mkdir(sub, 0755);
	int fb = make(b, O_WRONLY, "in a removed directory", 0);
	if (unlink(b) != 0 || rmdir(sub) != 0)
		return 2;
	int fc = make(c, O_RDWR, "the original c", 0);
	if (unlink(c) != 0)
		return 2;
	close(make(c, O_RDWR, "new", 0));
	int fd = make(d, O_RDWR, "on the tmpfs", 0);
	if (unlink(d) != 0)
		return 2;
	lseek(fa, 3, SEEK_SET);

	printf("ready\n");
	fflush(stdout);
	while (!go)
		pause();

	if (lseek(fa, 0, SEEK_CUR) != 3)
		fail("a", "offset");
	check("a", fa, ASIZE, "AAAAAAAA", 0);
	check("a", fa, ASIZE, "zzzzzzzz", BIG);
	off_t hole = lseek(fa, 0, SEEK_HOLE);
	if (hole <= 0 || hole >= BIG)
		fail("a", "the hole is gone");
	check("b", fb, 22, "in a removed directory", 0);
	check("c", fc, 14, "the original c", 0);
	check("d", fd, 12, "on the tmpfs", 0);
	char buf[8] = {0};
	int nc = open(c, O_RDONLY);
	if (nc < 0 || read(nc, buf, sizeof buf) != 3 || strcmp(buf, "new") != 0)
		fail("c", "the new file under the name");
	if (fails == 0)
		printf("PASS\n");
	fflush(stdout);
	return fails != 0;
}
