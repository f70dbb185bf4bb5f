/* Extended attributes of tmpfs nodes across a checkpoint (they travel in the image with
 * the tmpfs tree): user.* attributes of a /tmp file (one of them empty, one of 64 KiB)
 * and of a directory, and of a file of two names. Afterwards they read back the same,
 * the lists agree, and they can be replaced (XATTR_REPLACE), created (XATTR_CREATE fails
 * for an existing one) and removed. */
#include "cr.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static char big[65536];

/* Whether PATH's attribute NAME holds the LEN bytes at WANT. */
static int has(const char *path, const char *name, const void *want, size_t len) {
	static char buf[65536];
	ssize_t n = getxattr(path, name, buf, sizeof buf);
	return n == (ssize_t)len && memcmp(buf, want, len) == 0;
}

int main(void) {
	start("xattr");
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7);
	if (mkdir("/tmp/x", 0755))
		die("mkdir");
	int f = open("/tmp/x/f", O_RDWR | O_CREAT, 0644);
	if (f < 0 || link("/tmp/x/f", "/tmp/x/g"))
		die("open");
	if (setxattr("/tmp/x/f", "user.a", "one", 3, 0) || setxattr("/tmp/x/f", "user.empty", "", 0, 0))
		die("setxattr file");
	if (setxattr("/tmp/x", "user.dir", "directory", 9, 0))
		die("setxattr dir");
	if (setxattr("/tmp/x/f", "user.big", big, sizeof big, 0)) {
		if (errno != ENOSPC)
			die("setxattr big");
		big[0] = 0; /* the host tmpfs has no room for it: not part of the check */
	}
	if (fsetxattr(f, "user.fd", "through fd", 10, 0))
		die("fsetxattr");
	ready();
	wait_term();

	check(has("/tmp/x/f", "user.a", "one", 3), "user.a of the file");
	check(has("/tmp/x/g", "user.a", "one", 3), "user.a through the second name");
	check(has("/tmp/x/f", "user.empty", "", 0), "the empty user.empty");
	check(has("/tmp/x", "user.dir", "directory", 9), "user.dir of the directory");
	char fd_val[16];
	check(fgetxattr(f, "user.fd", fd_val, sizeof fd_val) == 10 && !memcmp(fd_val, "through fd", 10),
	      "user.fd through the open fd");
	if (big[0] == 0 && big[1] == 7)
		check(has("/tmp/x/f", "user.big", big, sizeof big), "the 64 KiB user.big");
	char list[256];
	ssize_t n = listxattr("/tmp/x/f", list, sizeof list);
	size_t want = sizeof "user.a" + sizeof "user.empty" + sizeof "user.fd" +
		      (big[0] == 0 && big[1] == 7 ? sizeof "user.big" : 0);
	check(n == (ssize_t)want, "list of %zd bytes, not %zu", n, want);
	check(listxattr("/tmp/x/g", NULL, 0) == n, "both names list the same");

	check(setxattr("/tmp/x/f", "user.a", "two", 3, XATTR_REPLACE) == 0, "replace: %s",
	      strerror(errno));
	check(has("/tmp/x/g", "user.a", "two", 3), "replaced value");
	check(setxattr("/tmp/x/f", "user.a", "x", 1, XATTR_CREATE) < 0 && errno == EEXIST,
	      "XATTR_CREATE of an existing one");
	check(setxattr("/tmp/x/f", "user.new", "n", 1, XATTR_CREATE) == 0, "a new one");
	check(removexattr("/tmp/x", "user.dir") == 0, "remove: %s", strerror(errno));
	check(getxattr("/tmp/x", "user.dir", NULL, 0) < 0 && errno == ENODATA, "removed");
	check(fremovexattr(f, "user.fd") == 0, "fremove: %s", strerror(errno));
	check(removexattr("/tmp/x/f", "user.fd") < 0 && errno == ENODATA, "removed through fd");
	return finish();
}
