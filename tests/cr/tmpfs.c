/* A tmpfs tree across a checkpoint (it travels inside the image): directories with modes,
 * a file with content, owner and mtime, a sparse file, a symlink, a hard link, an empty
 * directory, and an open descriptor of a directory. Afterwards it is all there with the
 * same inode numbers, and the tree takes new files. */
#include "cr.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

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
	struct stat before;
	if (stat("/tmp/t/d/file", &before))
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
	char buf[64] = {0};
	int fd = openat(dir, "file", O_RDONLY);
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
	return finish();
}
