/* File locks across a checkpoint: this process holds a flock on /tmp/lk-flock, a
 * write record lock on bytes 0-9 of /lk and an OFD read lock on bytes 100-199; a child
 * holds a write record lock on bytes 20-29; a second child waits in F_SETLKW for bytes
 * 0-9. Afterwards every lock is held by the same owner (F_OFD_GETLK from a new open
 * file), the flock still excludes, the waiting child has not got its lock, and gets it
 * once this process lets bytes 0-9 go. */
#include "cr.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>

static int lock(int fd, int cmd, short type, off_t start, off_t len) {
	struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	return fcntl(fd, cmd, &l);
}

/* An open file of /lk of its own, to ask who holds what (never closed: closing any fd of
 * a file drops the process's record locks on it). */
static int probe;

/* Who holds a lock conflicting with a write lock on START..+LEN, as seen from the probe:
 * its type and pid (F_UNLCK when none). */
static struct flock holder(off_t start, off_t len) {
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	if (fcntl(probe, F_OFD_GETLK, &l))
		l.l_type = -1;
	return l;
}

int main(void) {
	start("locks");
	int f = open("/tmp/lk-flock", O_RDWR | O_CREAT, 0600);
	int r = open("/lk", O_RDWR | O_CREAT | O_TRUNC, 0600);
	int o = open("/lk", O_RDWR);
	probe = open("/lk", O_RDWR);
	if (f < 0 || r < 0 || o < 0 || probe < 0)
		die("open");
	if (flock(f, LOCK_EX | LOCK_NB) || lock(r, F_SETLK, F_WRLCK, 0, 10) || lock(o, F_OFD_SETLK, F_RDLCK, 100, 100))
		die("lock");
	int held[2], got[2];
	if (pipe(held) || pipe(got))
		die("pipe");
	pid_t c1 = fork();
	if (c1 == 0) {
		int fd = open("/lk", O_RDWR);
		if (fd < 0 || lock(fd, F_SETLK, F_WRLCK, 20, 10))
			_exit(1);
		if (write(held[1], "h", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char c;
	if (read(held[0], &c, 1) != 1)
		die("the child's lock");
	pid_t c2 = fork();
	if (c2 == 0) {
		int fd = open("/lk", O_RDWR);
		if (fd < 0 || lock(fd, F_SETLKW, F_WRLCK, 0, 10))
			_exit(1);
		if (write(got[1], "g", 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(got[1]);
	usleep(200 * 1000); /* let the second child reach its F_SETLKW */
	ready();
	wait_term();

	struct flock l = holder(0, 10);
	check(l.l_type == F_WRLCK && l.l_pid == getpid(), "bytes 0-9: type %d pid %d, want %d", l.l_type, l.l_pid,
	      getpid());
	l = holder(20, 10);
	check(l.l_type == F_WRLCK && l.l_pid == c1, "bytes 20-29: type %d pid %d, want the child %d", l.l_type, l.l_pid,
	      c1);
	l = holder(100, 100);
	check(l.l_type == F_RDLCK && l.l_pid == -1, "bytes 100-199: type %d pid %d, want an OFD read lock", l.l_type,
	      l.l_pid);
	l = holder(10, 10);
	check(l.l_type == F_UNLCK, "bytes 10-19 are locked (type %d pid %d)", l.l_type, l.l_pid);
	int f2 = open("/tmp/lk-flock", O_RDWR);
	check(f2 >= 0 && flock(f2, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK, "the flock no longer excludes: %s",
	      strerror(errno));
	fcntl(got[0], F_SETFL, O_NONBLOCK);
	check(read(got[0], &c, 1) < 0 && errno == EAGAIN, "the waiting child got its lock while it was held");
	fcntl(got[0], F_SETFL, 0);
	check(lock(r, F_SETLK, F_UNLCK, 0, 10) == 0, "unlock: %s", strerror(errno));
	check(read(got[0], &c, 1) == 1 && c == 'g', "the waiting child did not get the lock once it was free");
	int st = -1;
	check(waitpid(c2, &st, 0) == c2 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the waiting child: status %x", st);
	kill(c1, SIGKILL);
	waitpid(c1, NULL, 0);
	l = holder(20, 10);
	check(l.l_type == F_UNLCK, "the killed child's lock stays (type %d pid %d)", l.l_type, l.l_pid);
	return finish();
}
