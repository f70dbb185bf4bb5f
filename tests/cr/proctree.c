/* The process tree across a checkpoint: a zombie child (exit status 7, not reaped), two
 * children in a process group of their own, and a child that made a session of its own
 * whose own child is a zombie, and a child stopped by SIGSTOP. Afterwards the pids,
 * parents, groups and sessions are the same, the zombies reap with their statuses, a
 * signal to the group reaches both, and the stopped child is still stopped until
 * SIGCONT (which its parent sees). */
#include <fcntl.h>
#include "cr.h"
#include <sys/wait.h>

int main(void) {
	start("proctree");
	pid_t me = getpid(), pg = getpgid(0), sid = getsid(0);
	int go[2], done[2];
	if (pipe(go) || pipe(done))
		die("pipe");
	pid_t z = fork();
	if (z == 0)
		_exit(7);
	pid_t b = fork();
	if (b == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	setpgid(b, b);
	pid_t b2 = fork();
	if (b2 == 0) {
		setpgid(0, b);
		for (;;)
			pause();
	}
	setpgid(b2, b);
	pid_t s = fork();
	if (s == 0) {
		close(go[1]);
		if (setsid() != getpid())
			_exit(10);
		pid_t d = fork();
		if (d == 0)
			_exit(3);
		siginfo_t si;
		waitid(P_PID, d, &si, WEXITED | WNOWAIT);
		if (write(done[1], "s", 1) != 1)
			_exit(11);
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(12);
		int st = 0;
		if (waitpid(d, &st, 0) != d || !WIFEXITED(st) || WEXITSTATUS(st) != 3)
			_exit(13);
		if (getsid(0) != getpid() || getpgid(0) != getpid() || getppid() != me)
			_exit(14);
		_exit(0);
	}
	pid_t stopped = fork();
	if (stopped == 0) {
		for (;;)
			pause();
	}
	int st = 0;
	kill(stopped, SIGSTOP);
	if (waitpid(stopped, &st, WUNTRACED) != stopped || !WIFSTOPPED(st))
		die("stop a child");
	siginfo_t si;
	if (waitid(P_PID, z, &si, WEXITED | WNOWAIT))
		die("waitid");
	char c;
	if (read(done[0], &c, 1) != 1)
		die("the session child");
	ready();
	wait_term();

	check(getpid() == me && getpgid(0) == pg && getsid(0) == sid, "own pid/pgid/sid changed");
	check(getpgid(b) == b && getpgid(b2) == b, "group: pgid of %d is %d, of %d is %d, want %d", b, getpgid(b), b2,
	      getpgid(b2), b);
	check(getsid(s) == s && getpgid(s) == s, "session child: sid %d pgid %d, want %d", getsid(s), getpgid(s), s);
	check(getsid(b) == sid, "group children's session %d, want %d", getsid(b), sid);
	char path[64], stat[256] = {0};
	snprintf(path, sizeof path, "/proc/%d/stat", stopped);
	int fd = open(path, O_RDONLY);
	check(fd >= 0 && read(fd, stat, sizeof stat - 1) > 0, "read %s: %s", path, strerror(errno));
	char *state = strrchr(stat, ')');
	check(state && state[2] == 'T', "the stopped child is not stopped: %s", stat);
	check(kill(stopped, SIGCONT) == 0, "SIGCONT");
	check(waitpid(stopped, &st, WCONTINUED) == stopped && WIFCONTINUED(st), "no continued report: %#x", st);
	kill(stopped, SIGKILL);
	check(waitpid(stopped, &st, 0) == stopped && WIFSIGNALED(st), "reap the stopped child: %#x", st);
	check(waitpid(z, &st, WNOHANG) == z && WIFEXITED(st) && WEXITSTATUS(st) == 7, "zombie: status %#x", st);
	check(kill(-b, SIGKILL) == 0, "kill the group: %s", strerror(errno));
	check(waitpid(b, &st, 0) == b && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "group leader: %#x", st);
	check(waitpid(b2, &st, 0) == b2 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "group member: %#x", st);
	close(go[0]);
	check(write(go[1], "g", 1) == 1, "write go");
	check(waitpid(s, &st, 0) == s && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "session child: status %#x (13: its zombie, 14: its ids)", st);
	check(waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD, "children left over");
	return finish();
}
