/* Credentials across a checkpoint: real, effective and saved uids and gids all different,
 * supplementary groups, the capability sets that follow from them; and the credentials an
 * open file was opened with: linkat with AT_EMPTY_PATH, without CAP_DAC_READ_SEARCH, links
 * a file opened with the caller's credentials and not one opened before they changed. */
#include "cr.h"
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/syscall.h>

static void caps(struct __user_cap_data_struct *d) {
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	memset(d, 0, 2 * sizeof *d);
	syscall(SYS_capget, &h, d);
}

int main(void) {
	start("creds");
	char before_path[64], mine_path[64];
	snprintf(before_path, sizeof before_path, "/tmp/creds-before.%d", getpid());
	snprintf(mine_path, sizeof mine_path, "/tmp/creds-mine.%d", getpid());
	int before_fd = open(before_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	gid_t groups[] = {5, 6, 1234};
	if (setgroups(3, groups) || setresgid(100, 101, 102) || setresuid(1000, 1001, 0))
		die("set ids");
	int mine_fd = open(mine_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (before_fd < 0 || mine_fd < 0)
		die("open");
	struct __user_cap_data_struct before[2];
	caps(before);
	ready();
	wait_term();

	uid_t r, e, s;
	gid_t rg, eg, sg;
	getresuid(&r, &e, &s);
	getresgid(&rg, &eg, &sg);
	check(r == 1000 && e == 1001 && s == 0, "uids %d %d %d", r, e, s);
	check(rg == 100 && eg == 101 && sg == 102, "gids %d %d %d", rg, eg, sg);
	gid_t now[8];
	int n = getgroups(8, now);
	check(n == 3 && now[0] == 5 && now[1] == 6 && now[2] == 1234, "%d groups", n);
	struct __user_cap_data_struct after[2];
	caps(after);
	check(memcmp(before, after, sizeof before) == 0, "capabilities changed: effective %#x permitted %#x, were %#x %#x",
	      after[0].effective, after[0].permitted, before[0].effective, before[0].permitted);
	check(before[0].effective == 0 && before[0].permitted != 0, "capabilities at setup: effective %#x permitted %#x",
	      before[0].effective, before[0].permitted);
	char link_path[80];
	snprintf(link_path, sizeof link_path, "%s.link", mine_path);
	check(linkat(mine_fd, "", AT_FDCWD, link_path, AT_EMPTY_PATH) == 0,
	      "linkat AT_EMPTY_PATH of a file opened with its credentials: %s", strerror(errno));
	unlink(link_path);
	errno = 0;
	check(linkat(before_fd, "", AT_FDCWD, link_path, AT_EMPTY_PATH) == -1 && errno == ENOENT,
	      "linkat AT_EMPTY_PATH of a file opened before its ids changed: %s", strerror(errno));
	unlink(mine_path);
	/* The saved uid 0 still lets it become root again. */
	check(setresuid(-1, 0, -1) == 0 && geteuid() == 0, "seteuid(0) with saved uid 0: %s", strerror(errno));
	unlink(before_path);
	return finish();
}
