/* Tracing across a checkpoint: a tracee in a signal-delivery-stop its tracer has waited
 * for, one whose stop it has only peeked at (WNOWAIT), and a seized tracee running in
 * pause(). Afterwards the stopped ones are still stopped and traced (/proc status, their
 * memory and siginfo read through ptrace), each stop is reported as before (the peeked
 * one still once), and the tracer resumes, detaches, interrupts and kills them. */
#include "cr.h"
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile long marker = 0x5eed;

static pid_t traced_child(int sig) {
	pid_t c = fork();
	if (c == 0) {
		signal(SIGUSR2, SIG_DFL);
		if (ptrace(PTRACE_TRACEME, 0, 0, 0))
			_exit(100 + errno);
		syscall(SYS_kill, getpid(), sig);
		_exit(11);
	}
	return c;
}

static void proc_status(pid_t pid, char *state, int *tracer) {
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	*tracer = -1;
	state[0] = 0;
	while (f && fgets(line, sizeof line, f)) {
		if (!strncmp(line, "State:", 6))
			snprintf(state, 64, "%.63s", line + 7);
		sscanf(line, "TracerPid: %d", tracer);
	}
	if (f)
		fclose(f);
}

int main(void) {
	start("ptrace");
	int st = 0;
	pid_t a = traced_child(SIGUSR1);
	pid_t r = waitpid(a, &st, 0);
	if (r != a || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGUSR1) {
		printf("waitpid %d of %d: status %#x\n", r, a, st);
		die("a's stop");
	}
	pid_t b = traced_child(SIGUSR2);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, b, &si, WSTOPPED | WNOWAIT) || si.si_code != CLD_TRAPPED)
		die("b's stop");
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	if (ptrace(PTRACE_SEIZE, c, 0, (void *)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)))
		die("seize");
	ready();
	wait_term();

	char state[64];
	int tracer;
	proc_status(a, state, &tracer);
	check(!strncmp(state, "t (tracing stop)", 16) && tracer == getpid(), "a: state %s tracer %d", state,
	      tracer);
	errno = 0;
	long v = ptrace(PTRACE_PEEKDATA, a, &marker, 0);
	check(v == 0x5eed && errno == 0, "a: peekdata %lx: %s", v, strerror(errno));
	memset(&si, 0, sizeof si);
	check(ptrace(PTRACE_GETSIGINFO, a, 0, &si) == 0 && si.si_signo == SIGUSR1 && si.si_pid == a,
	      "a: siginfo signo %d pid %d", si.si_signo, si.si_pid);
	check(waitpid(a, &st, WNOHANG) == 0, "a's stop reported again");
	check(ptrace(PTRACE_CONT, a, 0, 0) == 0, "a: cont: %s", strerror(errno));
	check(waitpid(a, &st, 0) == a && WIFEXITED(st) && WEXITSTATUS(st) == 11, "a: end status %#x", st);

	proc_status(b, state, &tracer);
	check(!strncmp(state, "t (tracing stop)", 16) && tracer == getpid(), "b: state %s tracer %d", state,
	      tracer);
	check(waitpid(b, &st, 0) == b && WIFSTOPPED(st) && WSTOPSIG(st) == SIGUSR2, "b: stop %#x", st);
	check(ptrace(PTRACE_DETACH, b, 0, (void *)SIGUSR2) == 0, "b: detach: %s", strerror(errno));
	check(waitpid(b, &st, 0) == b && WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR2, "b: end status %#x", st);

	proc_status(c, state, &tracer);
	check(tracer == getpid(), "c: tracer %d", tracer);
	check(ptrace(PTRACE_INTERRUPT, c, 0, 0) == 0, "c: interrupt: %s", strerror(errno));
	check(waitpid(c, &st, 0) == c && WIFSTOPPED(st) && st >> 16 == PTRACE_EVENT_STOP, "c: stop %#x", st);
	check(ptrace(PTRACE_KILL, c, 0, 0) == 0, "c: kill: %s", strerror(errno));
	check(waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "c: end status %#x", st);
	return finish();
}
