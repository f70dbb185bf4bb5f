/* Following children across a checkpoint: a tracee stopped at PTRACE_EVENT_FORK whose new
 * child, auto-attached, sits in its first stop (SIGSTOP) that its tracer has not waited
 * for yet; and a seized tracee listening in its group stop (PTRACE_LISTEN). Afterwards the
 * event message still names the child, the child's stop is reported once, it is traced
 * and runs on when resumed (its exit to the tracer first), the parent reaps it; the
 * listening tracee is not waited for until SIGCONT traps it again. */
#include "cr.h"
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int tracer_of(pid_t pid) {
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	int tracer = -1;
	while (f && fgets(line, sizeof line, f))
		sscanf(line, "TracerPid: %d", &tracer);
	if (f)
		fclose(f);
	return tracer;
}

int main(void) {
	start("ptrace_fork");
	int st = 0;
	pid_t p = fork();
	if (p == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0))
			_exit(100 + errno);
		syscall(SYS_kill, getpid(), SIGSTOP);
		pid_t g = fork();
		if (g == 0)
			_exit(7);
		int gs = 0;
		waitpid(g, &gs, 0);
		_exit(WIFEXITED(gs) ? 10 + WEXITSTATUS(gs) : 1);
	}
	if (waitpid(p, &st, 0) != p || !WIFSTOPPED(st))
		die("p's first stop");
	if (ptrace(PTRACE_SETOPTIONS, p, 0, (void *)(PTRACE_O_TRACEFORK | PTRACE_O_TRACESYSGOOD)))
		die("setoptions");
	ptrace(PTRACE_CONT, p, 0, 0);
	if (waitpid(p, &st, 0) != p || st >> 16 != PTRACE_EVENT_FORK)
		die("p's fork event");
	unsigned long g = 0;
	if (ptrace(PTRACE_GETEVENTMSG, p, 0, &g) || g == 0)
		die("eventmsg");

	pid_t l = fork();
	if (l == 0) {
		for (;;)
			pause();
	}
	if (ptrace(PTRACE_SEIZE, l, 0, 0))
		die("seize");
	kill(l, SIGSTOP);
	if (waitpid(l, &st, 0) != l || WSTOPSIG(st) != SIGSTOP)
		die("l's signal stop");
	ptrace(PTRACE_CONT, l, 0, (void *)SIGSTOP);
	if (waitpid(l, &st, 0) != l || st >> 16 != PTRACE_EVENT_STOP)
		die("l's group stop");
	if (ptrace(PTRACE_LISTEN, l, 0, 0))
		die("listen");
	ready();
	wait_term();

	unsigned long again = 0;
	check(ptrace(PTRACE_GETEVENTMSG, p, 0, &again) == 0 && again == g, "eventmsg %lu, was %lu",
	      again, g);
	check(tracer_of(g) == getpid(), "g's tracer %d", tracer_of(g));
	check(waitpid(g, &st, __WALL) == (pid_t)g && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP,
	      "g's first stop %#x", st);
	check(waitpid(g, &st, __WALL | WNOHANG) == 0, "g's stop reported again");
	check(ptrace(PTRACE_CONT, g, 0, 0) == 0, "g: cont: %s", strerror(errno));
	check(waitpid(g, &st, __WALL) == (pid_t)g && WIFEXITED(st) && WEXITSTATUS(st) == 7,
	      "g's exit %#x", st);
	check(ptrace(PTRACE_CONT, p, 0, 0) == 0, "p: cont: %s", strerror(errno));
	for (;;) {
		pid_t r = waitpid(p, &st, __WALL);
		if (r != p || !WIFSTOPPED(st))
			break;
		ptrace(PTRACE_CONT, p, 0, 0); /* its SIGCHLD, suppressed */
	}
	check(WIFEXITED(st) && WEXITSTATUS(st) == 17, "p's exit %#x", st);

	check(waitpid(l, &st, __WALL | WNOHANG) == 0, "l reported while listening");
	check(ptrace(PTRACE_CONT, l, 0, 0) == -1 && errno == ESRCH, "l: cont while listening");
	kill(l, SIGCONT);
	check(waitpid(l, &st, __WALL) == l && WSTOPSIG(st) == SIGTRAP && st >> 16 == PTRACE_EVENT_STOP,
	      "l's trap at SIGCONT %#x", st);
	check(ptrace(PTRACE_KILL, l, 0, 0) == 0, "l: kill: %s", strerror(errno));
	check(waitpid(l, &st, 0) == l && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "l's end %#x", st);
	return finish();
}
