/* memfds across a checkpoint: one with data, a shared mapping and a private one, sealed
 * against growth and shrinking; one with no sealing allowed; a child that shares the
 * first's shared mapping. After the restore their names, sizes, bytes and seals are as
 * they were, writes through the mapping are seen by read() and by the child, the seals
 * still refuse what they refuse, and hostile arguments get Linux's errnos. */
#include "cr.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int mfd(const char *name, unsigned flags) { return syscall(SYS_memfd_create, name, flags); }

static int link_is(int fd, const char *want) {
	char p[64], l[300];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, l, sizeof l - 1);
	if (n < 0)
		return 0;
	l[n] = 0;
	return strcmp(l, want) == 0;
}

/* The child, after the restore: the parent's write is seen here, and this one there. */
static int sees_parent(void *arg) {
	char *sh = arg;
	int ok = memcmp(sh + 100, "from parent", 11) == 0;
	memcpy(sh + 200, "from child", 10);
	return ok;
}

int main(void) {
	start("memfd");
	int a = mfd("cr-a", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	int b = mfd("cr-b", 0);
	if (a < 0 || b < 0)
		die("memfd_create");
	if (ftruncate(a, 3 * 4096))
		die("ftruncate");
	if (pwrite(a, "hello memfd", 11, 4096) != 11)
		die("pwrite");
	char *sh = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
	char *pr = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, a, 0);
	if (sh == MAP_FAILED || pr == MAP_FAILED)
		die("mmap");
	memcpy(sh + 8192, "through the mapping", 19);
	pr[0] = 'P';
	if (fcntl(a, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK))
		die("F_ADD_SEALS");
	if (write(b, "bee", 3) != 3)
		die("write b");
	struct cr_child child = fork_probe(sees_parent, sh);
	ready();
	wait_term();

	char buf[64] = {0};
	struct stat st;
	check(fstat(a, &st) == 0 && st.st_size == 3 * 4096 && S_ISREG(st.st_mode), "size or mode lost");
	check(link_is(a, "/memfd:cr-a (deleted)") && link_is(b, "/memfd:cr-b (deleted)"), "names lost");
	check(fcntl(a, F_GETFD) == FD_CLOEXEC, "MFD_CLOEXEC lost");
	check(pread(a, buf, 11, 4096) == 11 && memcmp(buf, "hello memfd", 11) == 0, "bytes lost: %s", buf);
	check(pread(a, buf, 19, 8192) == 19 && memcmp(buf, "through the mapping", 19) == 0,
	      "a write through the shared mapping not in the file");
	check(memcmp(sh + 4096, "hello memfd", 11) == 0, "shared mapping lost the file's bytes");
	check(pr[0] == 'P' && sh[0] == 0, "private copy lost or leaked into the file");
	check(memcmp(pr + 4096, "hello memfd", 11) == 0, "private mapping lost the file's bytes");
	check(fcntl(a, F_GET_SEALS) == (F_SEAL_GROW | F_SEAL_SHRINK), "seals lost: %#x", fcntl(a, F_GET_SEALS));
	check(fcntl(b, F_GET_SEALS) == F_SEAL_SEAL, "b sealable");
	check(pread(b, buf, 8, 0) == 3 && memcmp(buf, "bee", 3) == 0, "b's bytes lost");
	/* The shared mapping and the file stay one after the restore. */
	check(pwrite(a, "from parent", 11, 100) == 11, "pwrite after restore");
	check(probe_verdict(child), "the child does not see the parent's write (or failed)");
	check(pread(a, buf, 10, 200) == 10 && memcmp(buf, "from child", 10) == 0,
	      "the child's write through the mapping not in the file");
	/* Seals still refuse. */
	errno = 0;
	check(ftruncate(a, 4096) == -1 && errno == EPERM, "SEAL_SHRINK not kept");
	errno = 0;
	check(pwrite(a, "x", 1, 3 * 4096) == -1 && errno == EPERM, "SEAL_GROW not kept");
	errno = 0;
	check(fcntl(a, F_ADD_SEALS, F_SEAL_WRITE) == -1 && errno == EBUSY, "SEAL_WRITE with a shared mapping: %d",
	      errno);
	check(munmap(sh, 3 * 4096) == 0, "munmap");
	check(fcntl(a, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) == 0, "SEAL_WRITE without a shared mapping");
	errno = 0;
	check(pwrite(a, "x", 1, 0) == -1 && errno == EPERM, "SEAL_WRITE does not refuse a write");
	errno = 0;
	check(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0) == MAP_FAILED && errno == EPERM,
	      "SEAL_WRITE does not refuse a shared writable mapping");
	check(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, a, 0) != MAP_FAILED,
	      "SEAL_WRITE refuses a private mapping");
	errno = 0;
	check(fcntl(a, F_ADD_SEALS, F_SEAL_GROW) == -1 && errno == EPERM, "SEAL_SEAL not kept");
	/* Reopened through /proc, the same file. */
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", b);
	int b2 = open(p, O_RDWR);
	check(b2 >= 0 && pwrite(b2, "BEE", 3, 0) == 3 && pread(b, buf, 3, 0) == 3 && memcmp(buf, "BEE", 3) == 0,
	      "reopen through /proc/self/fd");
	/* Hostile arguments. */
	char longname[300];
	memset(longname, 'n', sizeof longname);
	longname[250] = 0;
	errno = 0;
	check(mfd(longname, 0) == -1 && errno == EINVAL, "a 250-byte name: %d", errno);
	longname[249] = 0;
	int c = mfd(longname, 0);
	check(c >= 0, "a 249-byte name refused");
	errno = 0;
	check(mfd((const char *)8, 0) == -1 && errno == EFAULT, "a bad name pointer: %d", errno);
	errno = 0;
	check(mfd("x", 0x100) == -1 && errno == EINVAL, "unknown flags");
	errno = 0;
	check(fcntl(b, F_ADD_SEALS, F_SEAL_WRITE) == -1 && errno == EPERM, "sealing without MFD_ALLOW_SEALING");
	errno = 0;
	check(fcntl(0, F_GET_SEALS) == -1 && errno == EINVAL, "F_GET_SEALS of a non-memfd: %d", errno);
	errno = 0;
	check(pwrite(b, "x", 1, -1) == -1 && errno == EINVAL, "negative offset");
	errno = 0;
	check(ftruncate(b, -1) == -1 && errno == EINVAL, "negative size");
	errno = 0;
	check(mmap(NULL, 8192, PROT_READ, MAP_SHARED, b, -4096) == MAP_FAILED && errno == EOVERFLOW,
	      "an offset that wraps: %d", errno);
	return finish();
}
