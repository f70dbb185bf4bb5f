/* Files deleted while open across a checkpoint: a host file unlinked (with a hole), a
 * tmpfs file unlinked, a host file with a new file created under its old name, and a
 * read-only mapping of an unlinked file, and one unlinked file opened twice. Afterwards
 * each descriptor reads its own old content at its offset, fstat says no links, the new
 * file is untouched, and the two opens of one file still share it. */
#include "cr.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

static int make(const char *path, const char *data, off_t at) {
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0 || pwrite(fd, data, strlen(data), at) != (ssize_t)strlen(data))
		die(path);
	return fd;
}

static void same(const char *what, int fd, off_t at, const char *want) {
	char buf[64] = {0};
	ssize_t n = pread(fd, buf, strlen(want), at);
	check(n == (ssize_t)strlen(want) && memcmp(buf, want, n) == 0, "%s: read %s at %ld", what, buf, (long)at);
}

int main(void) {
	start("deleted");
	int h = make("/cr-del-host", "host data", 0);
	if (pwrite(h, "tail", 4, 1 << 20) != 4)
		die("pwrite");
	int t = make("/tmp/cr-del-tmp", "tmpfs data", 0);
	int r = make("/cr-del-replaced", "the old one", 0);
	int m = make("/cr-del-mapped", "mapped data", 0);
	int twice = make("/cr-del-twice", "one file", 0);
	int twice2 = open("/cr-del-twice", O_RDWR);
	if (twice2 < 0)
		die("open twice");
	char *map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, m, 0);
	if (map == MAP_FAILED)
		die("mmap");
	close(m);
	lseek(h, 5, SEEK_SET);
	if (unlink("/cr-del-host") || unlink("/tmp/cr-del-tmp") || unlink("/cr-del-replaced") || unlink("/cr-del-mapped") ||
	    unlink("/cr-del-twice"))
		die("unlink");
	int n = make("/cr-del-replaced", "new", 0);
	close(n);
	ready();
	wait_term();

	same("host file", h, 0, "host data");
	same("host file's tail", h, 1 << 20, "tail");
	char z[16], zero[16] = {0};
	check(pread(h, z, 16, 4096) == 16 && memcmp(z, zero, 16) == 0, "the hole is not zeros");
	check(lseek(h, 0, SEEK_CUR) == 5, "offset %ld", (long)lseek(h, 0, SEEK_CUR));
	struct stat st;
	check(fstat(h, &st) == 0 && st.st_nlink == 0 && st.st_size == (1 << 20) + 4 && (st.st_mode & 0777) == 0640,
	      "host file: nlink %lu size %ld mode %o", st.st_nlink, (long)st.st_size, st.st_mode & 0777);
	same("tmpfs file", t, 0, "tmpfs data");
	check(fstat(t, &st) == 0 && st.st_nlink == 0, "tmpfs file: nlink %lu", st.st_nlink);
	same("replaced file", r, 0, "the old one");
	check(fstat(r, &st) == 0 && st.st_nlink == 0 && st.st_size == 11, "replaced file: nlink %lu size %ld",
	      st.st_nlink, (long)st.st_size);
	check(memcmp(map, "mapped data", 11) == 0, "mapping: %.11s", map);
	int fd = open("/cr-del-replaced", O_RDONLY);
	char buf[8] = {0};
	check(fd >= 0 && read(fd, buf, sizeof buf) == 3 && strcmp(buf, "new") == 0, "the new file: %s", buf);
	check(pwrite(h, "more", 4, 0) == 4, "a ghost file is not writable");
	same("host file after a write", h, 0, "more data");
	struct stat a = {0}, b = {0};
	int fa = fstat(twice, &a), fb = fstat(twice2, &b);
	check(fa == 0 && fb == 0, "fstat of the file opened twice: %s", strerror(errno));
	check(a.st_ino == b.st_ino && a.st_dev == b.st_dev,
	      "the two opens of one deleted file are two files (inodes %lu and %lu)", a.st_ino, b.st_ino);
	check(pwrite(twice, "ONE", 3, 0) == 3, "write through the first open");
	same("the second open of the file", twice2, 0, "ONE file");
	return finish();
}
