/* Shared file mappings across a checkpoint: a host file of the root and a tmpfs file,
 * each mapped MAP_SHARED by a parent and its forked child, with stores through the
 * mappings of both processes that no msync wrote back, and a private mapping with a page
 * of its own. After the restore the files hold the stores (read() and a fresh open), the
 * mappings still are the files (stores and writes after the restore are seen both ways,
 * in both processes), the private page stays private, and an ftruncate still makes the
 * pages past the end SIGBUS. */
#include "cr.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096

static int make(const char *path) {
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 2 * PG))
		die(path);
	if (pwrite(fd, "file bytes", 10, 0) != 10)
		die("pwrite");
	return fd;
}

static int has(int fd, off_t at, const char *want) {
	char buf[64] = {0};
	size_t n = strlen(want);
	return pread(fd, buf, n, at) == (ssize_t)n && memcmp(buf, want, n) == 0;
}

int main(void) {
	start("shmfile");
	int h = make("/cr-shm-host");
	int t = make("/tmp/cr-shm-tmp");
	char *hm = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, h, 0);
	char *tm = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, t, 0);
	char *pv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, h, 0);
	if (hm == MAP_FAILED || tm == MAP_FAILED || pv == MAP_FAILED)
		die("mmap");
	memcpy(hm + 100, "parent host", 11);
	memcpy(tm + PG + 100, "parent tmpfs", 12);
	memcpy(pv + 300, "private", 7);
	int up[2], down[2];
	if (pipe(up) || pipe(down))
		die("pipe");
	pid_t child = fork();
	if (child == 0) {
		memcpy(hm + 200, "child host", 10);
		memcpy(tm + 200, "child tmpfs", 11);
		char c = 1;
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(2);
		/* After the restore: the parent's stores are here, and this one goes there. */
		int ok = memcmp(hm + 300, "after parent", 12) == 0 && memcmp(tm + 300, "after pwrite", 12) == 0;
		memcpy(hm + 400, "after child", 11);
		if (write(up[1], &ok, sizeof ok) != sizeof ok)
			_exit(3);
		_exit(0);
	}
	char c;
	if (read(up[0], &c, 1) != 1)
		die("child");
	ready();
	wait_term();

	/* The stores made before the checkpoint are the files'. */
	check(has(h, 100, "parent host") && has(h, 200, "child host"), "host file lost the mappings' stores");
	check(has(t, PG + 100, "parent tmpfs") && has(t, 200, "child tmpfs"), "tmpfs file lost the mappings' stores");
	check(has(h, 0, "file bytes") && has(t, 0, "file bytes"), "files lost their bytes");
	check(memcmp(hm + 200, "child host", 10) == 0 && memcmp(tm + 200, "child tmpfs", 11) == 0,
	      "mappings lost the child's stores");
	check(memcmp(pv + 300, "private", 7) == 0 && !has(h, 300, "private"), "private page lost or leaked");
	check(memcmp(pv + 100, "parent host", 11) == 0, "private mapping lost the file's bytes");
	/* The mappings are still the files. */
	memcpy(hm + 300, "after parent", 12);
	check(has(h, 300, "after parent"), "a store after the restore not read()");
	check(pwrite(t, "after pwrite", 12, 300) == 12 && memcmp(tm + 300, "after pwrite", 12) == 0,
	      "a write after the restore not in the mapping");
	c = 1;
	int ok = 0;
	check(write(down[1], &c, 1) == 1 && read(up[0], &ok, sizeof ok) == sizeof ok && ok,
	      "the child does not see the parent's stores after the restore");
	int st;
	check(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	check(memcmp(hm + 400, "after child", 11) == 0 && has(h, 400, "after child"),
	      "the child's store after the restore not seen");
	/* msync reaches the host file: a fresh open reads it. */
	memcpy(hm + PG + 8, "synced", 6);
	check(msync(hm, 2 * PG, MS_SYNC) == 0, "msync");
	int h2 = open("/cr-shm-host", O_RDONLY);
	check(h2 >= 0 && has(h2, PG + 8, "synced") && has(h2, 100, "parent host"), "fresh open misses the stores");
	/* Pages past the end still SIGBUS. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cr_on_bus;
	sigaction(SIGBUS, &sa, NULL);
	check(ftruncate(t, 100) == 0, "ftruncate");
	check(bus_at(tm + PG), "no SIGBUS past the end");
	check(!bus_at(tm + 50) && tm[150] == 0, "the page holding the end is gone or not zeroed");
	unlink("/cr-shm-host");
	unlink("/tmp/cr-shm-tmp");
	return finish();
}
