/* I/O accounting across a checkpoint: /proc/self/io and a thread's /proc/self/task/TID/io
 * go on from what they were (at least the calls made since added), and a thread
 * that exited before the checkpoint still counts in its process's. */
#include "cr.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>

struct io {
	unsigned long rchar, wchar, syscr, syscw;
};

/* One open, one read, one close. */
static struct io io_of(const char *path) {
	struct io v = {0, 0, 0, 0};
	char buf[512] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
		die(path);
	close(fd);
	sscanf(buf, "rchar: %lu\nwchar: %lu\nsyscr: %lu\nsyscw: %lu", &v.rchar, &v.wchar, &v.syscr, &v.syscw);
	return v;
}

static void *writer(void *arg) {
	int fd = *(int *)arg;
	for (int i = 0; i < 5; i++)
		if (write(fd, "12345678", 8) != 8)
			return NULL;
	return NULL;
}

int main(void) {
	start("ioacct");
	int p[2];
	if (pipe(p))
		die("pipe");
	pthread_t th;
	if (pthread_create(&th, NULL, writer, &p[1]) || pthread_join(th, NULL))
		die("thread");
	char buf[40];
	if (read(p[0], buf, sizeof buf) != 40)
		die("read");
	char task[64];
	snprintf(task, sizeof task, "/proc/self/task/%ld/io", (long)syscall(SYS_gettid));
	struct io t0 = io_of(task);
	struct io a = io_of("/proc/self/io");
	check(a.syscw >= 5 && a.wchar >= 40 && a.syscr >= 2 && a.rchar >= 40,
	      "the process's io does not count its exited thread: %lu %lu %lu %lu", a.rchar, a.wchar, a.syscr,
	      a.syscw);
	check(a.syscw >= t0.syscw + 5, "the thread's writes counted in the main thread");
	ready(); /* a write of 6 bytes */
	wait_term();

	struct io b = io_of("/proc/self/io");
	check(b.syscw >= a.syscw + 1 && b.wchar >= a.wchar + 6, "wrote: %lu %lu then %lu %lu", a.syscw, a.wchar,
	      b.syscw, b.wchar);
	check(b.syscr >= a.syscr + 1 && b.rchar > a.rchar, "read: %lu %lu then %lu %lu", a.syscr, a.rchar, b.syscr,
	      b.rchar);
	struct io t1 = io_of(task);
	check(t1.syscw >= t0.syscw + 1 && t1.syscr >= t0.syscr + 2, "the thread's: %lu %lu then %lu %lu", t0.syscw,
	      t0.syscr, t1.syscw, t1.syscr);
	return finish();
}
