/* splice, tee, vmsplice, sendfile, copy_file_range, preadv2/pwritev2 and sync_file_range:
 * bytes moved, offsets and positions after, blocking and non-blocking pipes, and the
 * errors for bad fds, flags, offsets and pointers. One line per check, compared with
 * the host. argv[1]: a scratch directory (made if missing). */
#define _GNU_SOURCE
#include "checks.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

static char path[256];

/* A file in the scratch directory holding `text`, open with `flags`. */
static int file_with(const char *name, const char *text, int flags) {
	snprintf(path, sizeof path, "%s/%s", getenv("SCRATCH"), name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	close(fd);
	return open(path, flags);
}

/* Prints what the pipe (read end) holds, draining it. */
static void drain(const char *what, int r) {
	char buf[256] = {0};
	int fl = fcntl(r, F_GETFL);
	fcntl(r, F_SETFL, fl | O_NONBLOCK);
	ssize_t n = read(r, buf, sizeof buf - 1);
	fcntl(r, F_SETFL, fl);
	printf("%s holds: \"%s\"\n", what, n > 0 ? buf : "");
}

static void contents(const char *what, int fd) {
	char buf[64] = {0};
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == 0)
			buf[i] = '.';
	printf("%s: \"%s\"\n", what, n > 0 ? buf : "");
}

static void splices(void) {
	int p[2], q[2];
	pipe(p);
	pipe(q);
	int in = file_with("in", "0123456789", O_RDONLY);
	loff_t off = 2;
	outcome("splice file@2 -> pipe 5", splice(in, &off, p[1], NULL, 5, 0));
	printf("off %lld pos %ld\n", (long long)off, (long)lseek(in, 0, SEEK_CUR));
	drain("pipe", p[0]);
	outcome("splice file -> pipe 4", splice(in, NULL, p[1], NULL, 4, 0));
	printf("pos %ld\n", (long)lseek(in, 0, SEEK_CUR));
	outcome("splice pipe -> pipe 3", splice(p[0], NULL, q[1], NULL, 3, 0));
	drain("pipe", p[0]);
	drain("second pipe", q[0]);
	lseek(in, 8, SEEK_SET);
	outcome("splice file -> pipe past the end", splice(in, NULL, p[1], NULL, 100, 0));
	outcome("splice at the end of the file", splice(in, NULL, p[1], NULL, 100, 0));
	drain("pipe", p[0]);

	int out = file_with("out", "", O_RDWR);
	write(p[1], "abcdef", 6);
	loff_t o = 3;
	outcome("splice pipe -> file@3", splice(p[0], NULL, out, &o, 4, 0));
	printf("off %lld pos %ld\n", (long long)o, (long)lseek(out, 0, SEEK_CUR));
	outcome("splice pipe -> file", splice(p[0], NULL, out, NULL, 10, 0));
	printf("pos %ld\n", (long)lseek(out, 0, SEEK_CUR));
	contents("file", out);

	/* Errors. */
	write(p[1], "xy", 2);
	outcome("splice file -> file", splice(in, NULL, out, NULL, 1, 0));
	outcome("splice a pipe to itself", splice(p[0], NULL, p[1], NULL, 1, 0));
	off = 0;
	outcome("splice with an offset on the pipe", splice(p[0], &off, out, NULL, 1, 0));
	outcome("splice with unknown flags", splice(p[0], NULL, out, NULL, 1, 0x100));
	off = -1;
	outcome("splice at a negative offset", splice(p[0], NULL, out, &off, 1, 0));
	off = 0x7ffffffffffffffeLL;
	outcome("splice past the largest offset", splice(p[0], NULL, out, &off, 3, 0));
	outcome("splice from a bad fd", splice(99, NULL, p[1], NULL, 1, 0));
	outcome("splice from a write end", splice(p[1], NULL, q[1], NULL, 1, 0));
	outcome("splice with a bad offset pointer", splice(in, (loff_t *)8, p[1], NULL, 1, 0));
	outcome("splice of nothing", splice(p[0], NULL, out, NULL, 0, 0));
	int app = open(path, O_WRONLY | O_APPEND);
	outcome("splice to an O_APPEND file", splice(p[0], NULL, app, NULL, 1, 0));
	close(app);
	drain("pipe", p[0]);
	outcome("splice from an empty pipe, SPLICE_F_NONBLOCK",
		splice(p[0], NULL, out, NULL, 1, SPLICE_F_NONBLOCK));
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	outcome("splice from an empty O_NONBLOCK pipe", splice(p[0], NULL, out, NULL, 1, 0));
	fcntl(p[0], F_SETFL, 0);

	/* A pipe nearly full takes no page: it would block. */
	int s[2];
	pipe(s);
	fcntl(s[1], F_SETPIPE_SZ, 4096);
	char fill[4000];
	memset(fill, 'f', sizeof fill);
	write(s[1], fill, sizeof fill);
	lseek(in, 0, SEEK_SET);
	outcome("splice to a nearly full pipe, SPLICE_F_NONBLOCK",
		splice(in, NULL, s[1], NULL, 10, SPLICE_F_NONBLOCK));
	close(s[0]);
	signal(SIGPIPE, SIG_IGN);
	outcome("splice to a pipe without readers", splice(in, NULL, s[1], NULL, 10, 0));
	close(s[1]);
	close(p[1]);
	outcome("splice from a pipe without writers", splice(p[0], NULL, out, NULL, 1, 0));
	close(p[0]);
	close(q[0]);
	close(q[1]);
	close(in);
	close(out);
}

static void blocking(void) {
	int p[2];
	pipe(p);
	int out = file_with("blk", "", O_RDWR);
	pid_t child = fork();
	if (child == 0) {
		usleep(100 * 1000);
		write(p[1], "late", 4);
		_exit(0);
	}
	outcome("splice waits for the writer", splice(p[0], NULL, out, NULL, 10, 0));
	contents("file", out);
	waitpid(child, NULL, 0);
	/* A full pipe: the splice waits for the reader to make room. */
	int big = file_with("big", "0123456789", O_RDONLY);
	char fill[65536];
	memset(fill, 'x', sizeof fill);
	write(p[1], fill, sizeof fill);
	child = fork();
	if (child == 0) {
		usleep(100 * 1000);
		char b[8192];
		_exit(read(p[0], b, sizeof b) == sizeof b ? 0 : 1);
	}
	outcome("splice waits for room", splice(big, NULL, p[1], NULL, 10, 0));
	int st;
	waitpid(child, &st, 0);
	printf("reader: %d\n", WEXITSTATUS(st));
	close(p[0]);
	close(p[1]);
	close(out);
	close(big);
}

static void tees(void) {
	int p[2], q[2];
	pipe(p);
	pipe(q);
	write(p[1], "hello", 5);
	outcome("tee 100", tee(p[0], q[1], 100, 0));
	drain("second pipe", q[0]);
	outcome("tee 2", tee(p[0], q[1], 2, 0));
	drain("second pipe", q[0]);
	drain("first pipe", p[0]);
	int f = file_with("tee", "abc", O_RDWR);
	outcome("tee from a file", tee(f, q[1], 1, 0));
	outcome("tee to itself", tee(p[0], p[1], 1, 0));
	outcome("tee from an empty pipe, SPLICE_F_NONBLOCK", tee(p[0], q[1], 1, SPLICE_F_NONBLOCK));
	outcome("tee of nothing", tee(p[0], q[1], 0, 0));
	outcome("tee with unknown flags", tee(p[0], q[1], 1, 0x40));
	close(p[1]);
	outcome("tee from a pipe without writers", tee(p[0], q[1], 1, 0));
	close(p[0]);
	close(q[0]);
	close(q[1]);
	close(f);
}

static void vmsplices(void) {
	int p[2];
	pipe(p);
	char a[] = "vec", b[] = "tor";
	struct iovec iov[2] = {{a, 3}, {b, 3}};
	outcome("vmsplice to the write end", vmsplice(p[1], iov, 2, 0));
	char x[4] = {0}, y[4] = {0};
	struct iovec out[2] = {{x, 2}, {y, 3}};
	outcome("vmsplice from the read end", vmsplice(p[0], out, 2, 0));
	printf("got \"%s\" \"%s\"\n", x, y);
	drain("pipe", p[0]);
	int f = file_with("vm", "abc", O_RDWR);
	outcome("vmsplice to a file", vmsplice(f, iov, 2, 0));
	outcome("vmsplice with a bad iovec", vmsplice(p[1], (struct iovec *)8, 1, 0));
	struct iovec bad = {(void *)8, 4};
	outcome("vmsplice from a bad buffer", vmsplice(p[1], &bad, 1, 0));
	outcome("vmsplice from an empty pipe, SPLICE_F_NONBLOCK",
		vmsplice(p[0], out, 1, SPLICE_F_NONBLOCK));
	outcome("vmsplice with unknown flags", vmsplice(p[1], iov, 1, 0x20));
	close(p[0]);
	close(p[1]);
	close(f);
}

static void copies(void) {
	int in = file_with("cin", "abcdefgh", O_RDONLY);
	int out = file_with("cout", "", O_RDWR);
	loff_t i = 2, o = 1;
	outcome("copy_file_range 4 from @2 to @1", copy_file_range(in, &i, out, &o, 4, 0));
	printf("offsets %lld %lld positions %ld %ld\n", (long long)i, (long long)o,
	       (long)lseek(in, 0, SEEK_CUR), (long)lseek(out, 0, SEEK_CUR));
	contents("copy", out);
	outcome("copy_file_range at the positions", copy_file_range(in, NULL, out, NULL, 3, 0));
	printf("positions %ld %ld\n", (long)lseek(in, 0, SEEK_CUR), (long)lseek(out, 0, SEEK_CUR));
	contents("copy", out);
	lseek(in, 0, SEEK_END);
	outcome("copy_file_range at the end", copy_file_range(in, NULL, out, NULL, 3, 0));
	outcome("copy_file_range with flags", copy_file_range(in, NULL, out, NULL, 3, 1));
	int app = open(path, O_WRONLY | O_APPEND);
	outcome("copy_file_range to O_APPEND", copy_file_range(in, NULL, app, NULL, 3, 0));
	close(app);
	int dir = open(getenv("SCRATCH"), O_RDONLY | O_DIRECTORY);
	outcome("copy_file_range from a directory", copy_file_range(dir, NULL, out, NULL, 3, 0));
	close(dir);
	int p[2];
	pipe(p);
	write(p[1], "zz", 2);
	outcome("copy_file_range from a pipe", copy_file_range(p[0], NULL, out, NULL, 3, 0));
	int rw = file_with("same", "0123456789", O_RDWR);
	i = 0;
	o = 2;
	outcome("copy_file_range overlapping in one file", copy_file_range(rw, &i, rw, &o, 4, 0));
	o = 6;
	outcome("copy_file_range within one file", copy_file_range(rw, &i, rw, &o, 4, 0));
	contents("same", rw);
	outcome("copy_file_range from a write-only fd", copy_file_range(p[1], NULL, out, NULL, 1, 0));
	close(p[0]);
	close(p[1]);
	close(in);
	close(out);
	close(rw);
}

static void sendfiles(void) {
	int in = file_with("sin", "sendfile!", O_RDONLY);
	int p[2];
	pipe(p);
	off_t off = 4;
	outcome("sendfile @4 to a pipe", sendfile(p[1], in, &off, 100));
	printf("off %ld pos %ld\n", (long)off, (long)lseek(in, 0, SEEK_CUR));
	drain("pipe", p[0]);
	int out = file_with("sout", "", O_RDWR);
	outcome("sendfile to a file", sendfile(out, in, NULL, 4));
	printf("positions %ld %ld\n", (long)lseek(in, 0, SEEK_CUR), (long)lseek(out, 0, SEEK_CUR));
	contents("file", out);
	write(p[1], "zz", 2);
	outcome("sendfile from a pipe", sendfile(out, p[0], NULL, 2));
	outcome("sendfile of nothing", sendfile(out, in, NULL, 0));
	outcome("sendfile of a negative count", sendfile(out, in, NULL, (size_t)-1));
	int dir = open(getenv("SCRATCH"), O_RDONLY | O_DIRECTORY);
	outcome("sendfile from a directory", sendfile(out, dir, NULL, 1));
	outcome("splice from a directory", splice(dir, NULL, p[1], NULL, 1, 0));
	close(dir);
	off = -1;
	outcome("sendfile at a negative offset", sendfile(out, in, &off, 1));
	outcome("sendfile with a bad offset pointer", sendfile(out, in, (off_t *)8, 1));
	close(p[0]);
	close(p[1]);
	close(in);
	close(out);
}

static void vectored2(void) {
	int f = file_with("v2", "0123456789", O_RDWR);
	char a[4] = {0}, b[4] = {0};
	struct iovec iov[2] = {{a, 3}, {b, 3}};
	lseek(f, 1, SEEK_SET);
	outcome("preadv2 at the position", preadv2(f, iov, 2, -1, 0));
	printf("\"%s\" \"%s\" pos %ld\n", a, b, (long)lseek(f, 0, SEEK_CUR));
	outcome("preadv2 @5", preadv2(f, iov, 1, 5, 0));
	printf("\"%s\" pos %ld\n", a, (long)lseek(f, 0, SEEK_CUR));
	outcome("preadv2 unknown flag", preadv2(f, iov, 1, 0, 0x1000));
	outcome("preadv2 @-2", preadv2(f, iov, 1, -2, 0));
	outcome("preadv2 RWF_HIPRI", preadv2(f, iov, 1, 0, RWF_HIPRI));
	char w[] = "WX";
	struct iovec wv = {w, 2};
	outcome("pwritev2 @0", pwritev2(f, &wv, 1, 0, 0));
	outcome("pwritev2 RWF_APPEND @0", pwritev2(f, &wv, 1, 0, RWF_APPEND));
	printf("pos %ld\n", (long)lseek(f, 0, SEEK_CUR));
	outcome("pwritev2 RWF_APPEND at the position", pwritev2(f, &wv, 1, -1, RWF_APPEND));
	printf("pos %ld\n", (long)lseek(f, 0, SEEK_CUR));
	outcome("pwritev2 RWF_DSYNC", pwritev2(f, &wv, 1, 2, RWF_DSYNC));
	outcome("pwritev2 RWF_SYNC at the position", pwritev2(f, &wv, 1, -1, RWF_SYNC));
	contents("file", f);
	int p[2];
	pipe(p);
	outcome("preadv2 RWF_NOWAIT of an empty pipe", preadv2(p[0], iov, 1, -1, RWF_NOWAIT));
	outcome("preadv2 of a pipe at an offset", preadv2(p[0], iov, 1, 0, 0));
	outcome("sync_file_range", sync_file_range(f, 0, 0, SYNC_FILE_RANGE_WRITE));
	outcome("sync_file_range no flags", sync_file_range(f, 0, 10, 0));
	outcome("sync_file_range of a pipe", sync_file_range(p[0], 0, 0, SYNC_FILE_RANGE_WRITE));
	outcome("sync_file_range bad flags", sync_file_range(f, 0, 0, 8));
	outcome("sync_file_range negative", sync_file_range(f, -1, 0, 0));
	close(p[0]);
	close(p[1]);
	close(f);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		return 2;
	if (mkdir(argv[1], 0755) && errno != EEXIST)
		return 3;
	setenv("SCRATCH", argv[1], 1);
	splices();
	blocking();
	tees();
	vmsplices();
	copies();
	sendfiles();
	vectored2();
	return 0;
}
