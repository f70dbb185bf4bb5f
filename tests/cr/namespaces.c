/* User and mount namespaces across a checkpoint: an outer process in a user and mount
 * namespace of its own (maps written by the main process) mounted a tmpfs (noexec, nosuid,
 * mode 0751) with a file; an inner one, in a mount namespace of its own below it, stacked
 * a tmpfs there and remounted it read-only. After the restore each checks its ids, maps,
 * namespaces, mounts and files, and that it does not see the others' mounts. */
#include "cr.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#define TOP "/tmp/crns"
#define INNER TOP "/inner"
#define MAP "         0          0          1\n         1       1000         10\n"

static int put(const char *path, const char *s) {
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		return -1;
	int n = write(fd, s, strlen(s));
	close(fd);
	return n == (int)strlen(s) ? 0 : -1;
}

static void get(const char *path, char *buf, int n) {
	memset(buf, 0, n);
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		snprintf(buf, n, "(%s)", strerror(errno));
		return;
	}
	read_all(fd, buf, n - 1);
	close(fd);
}

static int listed(const char *pid, const char *path) {
	char buf[8192], want[64], file[64];
	snprintf(file, sizeof file, "/proc/%s/mounts", pid);
	get(file, buf, sizeof buf);
	snprintf(want, sizeof want, " %s ", path);
	return strstr(buf, want) != NULL;
}

static volatile sig_atomic_t go;
static void on_usr1(int s) {
	(void)s;
	go = 1;
}

static void wait_go(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* The inner process: a mount namespace of its own (in the outer one's user namespace),
 * with a read-only tmpfs stacked on the outer one's. Its exit status counts what differs. */
static int inner(int to_main) {
	wait_go();
	if (unshare(CLONE_NEWNS) || mkdir(INNER, 0755) || mount("none", INNER, "tmpfs", 0, "mode=0700") ||
	    put(INNER "/g", "inner") || mount(NULL, INNER, NULL, MS_REMOUNT | MS_RDONLY, NULL))
		return 101;
	if (write(to_main, "i", 1) != 1)
		return 102;
	while (!go)
		pause();
	int bad = 0;
	char buf[256];
	get(INNER "/g", buf, sizeof buf);
	bad += strcmp(buf, "inner") != 0;
	get(TOP "/f", buf, sizeof buf);
	bad += strcmp(buf, "outer") != 0;
	bad += open(INNER "/h", O_CREAT | O_WRONLY, 0644) != -1 || errno != EROFS;
	struct statfs s;
	bad += statfs(INNER, &s) || !(s.f_flags & ST_RDONLY);
	bad += !listed("self", INNER) || !listed("self", TOP);
	return bad;
}

/* The outer process: a user and mount namespace of its own, whose maps the main process
 * writes, with a tmpfs (nosuid, noexec, mode 0751) and the inner process below it. */
static int outer(int to_main, int from_main) {
	wait_go();
	char b = 0;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) || write(to_main, "u", 1) != 1 || read(from_main, &b, 1) != 1)
		return 100;
	mkdir(TOP, 0755);
	if (mount("none", TOP, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0751") || put(TOP "/f", "outer"))
		return 101;
	pid_t c = fork();
	if (c == 0)
		_exit(inner(to_main));
	while (!go)
		pause();
	int bad = 0;
	char buf[256];
	bad += getuid() != 0 || geteuid() != 0;
	get("/proc/self/uid_map", buf, sizeof buf);
	bad += strcmp(buf, MAP) != 0;
	get("/proc/self/gid_map", buf, sizeof buf);
	bad += strcmp(buf, MAP) != 0;
	get(TOP "/f", buf, sizeof buf);
	bad += strcmp(buf, "outer") != 0;
	bad += access(INNER "/g", F_OK) == 0 || errno != ENOENT;
	struct statfs s;
	bad += statfs(TOP, &s) || (s.f_flags & (ST_NOEXEC | ST_NOSUID)) != (ST_NOEXEC | ST_NOSUID);
	struct stat st;
	bad += stat(TOP, &st) || (st.st_mode & 07777) != 0751;
	bad += listed("self", INNER) || !listed("self", TOP);
	bad += open(TOP "/x", O_CREAT | O_WRONLY, 0755) < 0;
	bad += execl(TOP "/x", "x", NULL) != -1 || errno != EACCES;
	kill(c, SIGUSR1);
	int status = 0;
	waitpid(c, &status, 0);
	bad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	/* A uid the map gives: 5 is kernel uid 1004, shown as 5. */
	bad += setresuid(5, 5, 5) || getuid() != 5;
	bad += stat(TOP "/f", &st) || st.st_uid != 0;
	return bad;
}

int main(void) {
	start("namespaces");
	int up[2], down[2];
	if (pipe(up) || pipe(down))
		die("pipe");
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		close(up[0]);
		close(down[1]);
		_exit(outer(up[1], down[0]));
	}
	close(up[1]);
	close(down[0]);
	char b, path[64], pid[16];
	if (read(up[0], &b, 1) != 1) {
		int status = 0;
		waitpid(c, &status, 0);
		printf("FAIL namespaces: setup: the outer process exited with status %#x\n", status);
		die("outer unshare");
	}
	snprintf(pid, sizeof pid, "%d", c);
	snprintf(path, sizeof path, "/proc/%d/uid_map", c);
	if (put(path, "0 0 1\n1 1000 10\n"))
		die("uid_map");
	snprintf(path, sizeof path, "/proc/%d/gid_map", c);
	if (put(path, "0 0 1\n1 1000 10\n"))
		die("gid_map");
	if (write(down[1], "g", 1) != 1 || read(up[0], &b, 1) != 1)
		die("the mounts");
	char mine[64] = {0}, theirs[64] = {0};
	snprintf(path, sizeof path, "/proc/%d/ns/user", c);
	readlink("/proc/self/ns/user", mine, sizeof mine - 1);
	readlink(path, theirs, sizeof theirs - 1);
	ready();
	wait_term();

	char buf[256], now[64] = {0};
	check(access(TOP "/f", F_OK) && errno == ENOENT, "the outer mount is seen: %s", strerror(errno));
	check(!listed("self", TOP), "own mounts list " TOP);
	check(listed(pid, TOP) && !listed(pid, INNER), "the outer mounts");
	snprintf(path, sizeof path, "/proc/%d/uid_map", c);
	get(path, buf, sizeof buf);
	check(strcmp(buf, MAP) == 0, "outer uid_map [%s]", buf);
	check(put(path, "0 0 1\n") == -1 && errno == EPERM, "second uid_map write: %s", strerror(errno));
	snprintf(path, sizeof path, "/proc/%d/ns/user", c);
	readlink(path, now, sizeof now - 1);
	check(strcmp(now, theirs) == 0 && strcmp(mine, theirs) != 0, "user namespaces %s %s, were %s", mine, now,
	      theirs);
	kill(c, SIGUSR1);
	int status = 0;
	waitpid(c, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "outer: status %#x", status);
	return finish();
}
