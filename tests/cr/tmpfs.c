/* A tmpfs tree across a checkpoint (it travels inside the image): directories with modes,
 * a file with content, owner and mtime, a sparse file, a symlink, a hard link, an empty
 * directory, a FIFO with a second name, and an open descriptor of a directory. Afterwards
 * it is all there with the same inode numbers (stat, fstat, statx and getdents agree),
 * times and link counts, and the tree takes new files, with numbers of their own. */
#include "cr.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The d_ino getdents gives for NAME in directory PATH (0 if not listed). */
static unsigned long d_ino_of(const char *path, const char *name) {
	DIR *d = opendir(path);
	unsigned long ino = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strcmp(e->d_name, name) == 0)
			ino = e->d_ino;
	if (d)
		closedir(d);
	return ino;
}

int main(void) {
	start("tmpfs");
	if (mkdir("/tmp/t", 0750) || mkdir("/tmp/t/d", 0711) || mkdir("/tmp/t/empty", 0700))
		die("mkdir");
	int f = open("/tmp/t/d/file", O_RDWR | O_CREAT, 0604);
	int s = open("/tmp/t/sparse", O_RDWR | O_CREAT, 0600);
	if (f < 0 || s < 0 || write(f, "file content", 12) != 12 || pwrite(s, "end", 3, 3 << 20) != 3)
		die("write");
	close(s);
	if (fchown(f, 123, 456))
		die("fchown");
	struct timespec ts[2] = {{1000000000, 0}, {1234567890, 123456789}};
	if (futimens(f, ts))
		die("futimens");
	close(f);
	if (symlink("d/file", "/tmp/t/link") || link("/tmp/t/d/file", "/tmp/t/hard"))
		die("link");
	if (mkfifo("/tmp/t/fifo", 0604) || link("/tmp/t/fifo", "/tmp/t/fifo2"))
		die("fifo");
	struct stat before, dir_before, fifo_before, sparse_before;
	if (stat("/tmp/t/d/file", &before) || stat("/tmp/t/d", &dir_before) || stat("/tmp/t/fifo", &fifo_before) ||
	    stat("/tmp/t/sparse", &sparse_before))
		die("stat");
	int dir = open("/tmp/t/d", O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		die("open dir");
	ready();
	wait_term();

	struct stat st;
	check(stat("/tmp/t", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0750, "/tmp/t mode %o",
	      st.st_mode);
	check(stat("/tmp/t/d", &st) == 0 && (st.st_mode & 0777) == 0711, "/tmp/t/d mode %o", st.st_mode);
	check(stat("/tmp/t/d/file", &st) == 0, "file: %s", strerror(errno));
	check(st.st_ino == before.st_ino, "file: inode number %lu, was %lu", st.st_ino, before.st_ino);
	check(st.st_nlink == 2 && st.st_size == 12 && (st.st_mode & 0777) == 0604, "file: nlink %lu size %ld mode %o",
	      st.st_nlink, (long)st.st_size, st.st_mode & 0777);
	check(st.st_uid == 123 && st.st_gid == 456, "owner %d:%d", st.st_uid, st.st_gid);
	check(st.st_mtim.tv_sec == 1234567890 && st.st_mtim.tv_nsec == 123456789, "mtime %ld.%09ld",
	      (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	check(st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 0, "atime %ld.%09ld", (long)st.st_atim.tv_sec,
	      st.st_atim.tv_nsec);
	check(st.st_ctim.tv_sec == before.st_ctim.tv_sec && st.st_ctim.tv_nsec == before.st_ctim.tv_nsec,
	      "ctime %ld.%09ld, was %ld.%09ld", (long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, (long)before.st_ctim.tv_sec,
	      before.st_ctim.tv_nsec);
	check(d_ino_of("/tmp/t/d", "file") == before.st_ino, "getdents: file's d_ino %lu, was %lu",
	      d_ino_of("/tmp/t/d", "file"), before.st_ino);
	check(d_ino_of("/tmp/t", "d") == dir_before.st_ino, "getdents: d's d_ino %lu, was %lu", d_ino_of("/tmp/t", "d"),
	      dir_before.st_ino);
	struct statx sx;
	check(statx(AT_FDCWD, "/tmp/t/hard", 0, STATX_INO, &sx) == 0 && sx.stx_ino == before.st_ino && sx.stx_nlink == 2,
	      "statx: inode %llu nlink %u, was %lu", sx.stx_ino, sx.stx_nlink, before.st_ino);
	struct stat x;
	check(stat("/tmp/t/d", &x) == 0 && x.st_ino == dir_before.st_ino && x.st_nlink == dir_before.st_nlink &&
	          x.st_mtim.tv_sec == dir_before.st_mtim.tv_sec && x.st_mtim.tv_nsec == dir_before.st_mtim.tv_nsec,
	      "directory d: inode %lu nlink %lu mtime %ld, was %lu %lu %ld", x.st_ino, x.st_nlink, (long)x.st_mtim.tv_sec,
	      dir_before.st_ino, dir_before.st_nlink, (long)dir_before.st_mtim.tv_sec);
	check(stat("/tmp/t/fifo2", &x) == 0 && S_ISFIFO(x.st_mode) && x.st_ino == fifo_before.st_ino &&
	          x.st_nlink == 2 && (x.st_mode & 0777) == 0604,
	      "fifo's second name: mode %o inode %lu nlink %lu, was inode %lu", x.st_mode, x.st_ino, x.st_nlink,
	      fifo_before.st_ino);
	char buf[64] = {0};
	int fd = openat(dir, "file", O_RDONLY);
	struct stat fs;
	check(fd >= 0 && fstat(fd, &fs) == 0 && fs.st_ino == before.st_ino, "fstat: inode %lu, was %lu", fs.st_ino,
	      before.st_ino);
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	check(stat(link, &fs) == 0 && fs.st_ino == before.st_ino, "%s: inode %lu, was %lu", link, fs.st_ino,
	      before.st_ino);
	check(fd >= 0 && read(fd, buf, sizeof buf) == 12 && strcmp(buf, "file content") == 0, "through the dir fd: %s",
	      buf);
	struct stat h;
	check(stat("/tmp/t/hard", &h) == 0 && h.st_ino == st.st_ino, "the hard link is another file");
	memset(buf, 0, sizeof buf);
	check(readlink("/tmp/t/link", buf, sizeof buf) == 6 && strcmp(buf, "d/file") == 0, "symlink -> %s", buf);
	check(stat("/tmp/t/link", &h) == 0 && h.st_ino == st.st_ino, "the symlink does not resolve");
	check(stat("/tmp/t/sparse", &st) == 0 && st.st_size == (3 << 20) + 3, "sparse size %ld", (long)st.st_size);
	fd = open("/tmp/t/sparse", O_RDONLY);
	char z[8] = {1};
	check(pread(fd, z, 8, 4096) == 8 && memcmp(z, "\0\0\0\0\0\0\0\0", 8) == 0, "the hole is not zeros");
	memset(buf, 0, sizeof buf);
	check(pread(fd, buf, 8, 3 << 20) == 3 && strcmp(buf, "end") == 0, "sparse end: %s", buf);
	DIR *d = opendir("/tmp/t/empty");
	int entries = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		entries++;
	check(d && entries == 2, "the empty directory has %d entries", entries);
	check(mkdirat(dir, "new", 0700) == 0 && access("/tmp/t/d/new", F_OK) == 0, "a new directory: %s",
	      strerror(errno));
	/* New files get numbers no saved inode has. */
	unsigned long saved[] = {before.st_ino, dir_before.st_ino, fifo_before.st_ino, sparse_before.st_ino};
	for (int i = 0; i < 64; i++) {
		char name[32];
		snprintf(name, sizeof name, "/tmp/t/new%d", i);
		int n = open(name, O_CREAT | O_WRONLY, 0600);
		struct stat ns;
		if (n < 0 || fstat(n, &ns)) {
			check(0, "a new file: %s", strerror(errno));
			break;
		}
		close(n);
		for (unsigned j = 0; j < sizeof saved / sizeof saved[0]; j++)
			check(ns.st_ino != saved[j], "new file %s has the inode number %lu of a saved one", name, ns.st_ino);
		check(d_ino_of("/tmp/t", name + 7) == ns.st_ino, "getdents of new file %s: %lu, stat %lu", name,
		      d_ino_of("/tmp/t", name + 7), ns.st_ino);
	}
	return finish();
}
