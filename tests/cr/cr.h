/* The checkpoint/restore suite's common part (tests/tests/cr_suite.rs runs each program).
 *
 * A program sets up its state, calls ready() (prints "ready"), then wait_term() until
 * SIGTERM arrives (after a checkpoint and restore, after a --leave-running checkpoint, or
 * at once), checks everything it set up, reporting each difference with check(), and ends
 * with finish(), which prints "PASS NAME" or, after the FAIL lines, "FAILED NAME". */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cr_name;
static int cr_fails;
static volatile sig_atomic_t cr_term;

static void cr_on_term(int sig) {
	(void)sig;
	cr_term = 1;
}

/* Setup failed: nothing to check. */
static void die(const char *what) {
	printf("FAIL %s: setup: %s: %s\n", cr_name, what, strerror(errno));
	printf("FAILED %s\n", cr_name);
	exit(1);
}

/* Installs the SIGTERM handler; stdout unbuffered (the driver reads it as it comes). */
static void start(const char *name) {
	cr_name = name;
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cr_on_term;
	if (sigaction(SIGTERM, &sa, NULL))
		die("sigaction SIGTERM");
}

static void ready(void) { printf("ready\n"); }

/* Waits for SIGTERM (which must not be blocked). */
static void wait_term(void) {
	while (!cr_term)
		pause();
}

/* Reports a FAIL line when !ok. */
static void check(int ok, const char *fmt, ...) {
	if (ok)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL %s: ", cr_name);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	cr_fails++;
}

static int finish(void) {
	if (cr_fails)
		printf("FAILED %s\n", cr_name);
	else
		printf("PASS %s\n", cr_name);
	return 0;
}

/* Reads exactly n bytes (or what there is, up to n) from fd into buf; returns the count. */
__attribute__((unused)) static ssize_t read_all(int fd, void *buf, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return got ? (ssize_t)got : r;
		got += r;
	}
	return got;
}

static sigjmp_buf cr_bus_jb;

__attribute__((unused)) static void cr_on_bus(int s) {
	(void)s;
	siglongjmp(cr_bus_jb, 1);
}

/* Whether reading the byte at p gets SIGBUS (cr_on_bus must be SIGBUS's handler). */
__attribute__((unused)) static int bus_at(volatile char *p) {
	if (sigsetjmp(cr_bus_jb, 1) == 0) {
		(void)*p;
		return 0;
	}
	return 1;
}

/* A child forked at setup that runs a probe only when told to (after the restore), for
 * checks that another process sees what this one wrote through shared memory. */
struct cr_child {
	pid_t pid;
	int up, down;
};

/* Forks the child: once told, it calls probe(arg) and reports its verdict (1: ok). */
__attribute__((unused)) static struct cr_child fork_probe(int (*probe)(void *), void *arg) {
	int up[2], down[2];
	if (pipe(up) || pipe(down))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char c;
		if (read(down[0], &c, 1) != 1)
			_exit(2);
		int ok = probe(arg);
		if (write(up[1], &ok, sizeof ok) != sizeof ok)
			_exit(3);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	return (struct cr_child){pid, up[0], down[1]};
}

/* Tells the child to run its probe; whether it found what it looked for and exited 0. */
__attribute__((unused)) static int probe_verdict(struct cr_child c) {
	char go = 1;
	int ok = 0, status = 0;
	int told = write(c.down, &go, 1) == 1 && read_all(c.up, &ok, sizeof ok) == sizeof ok;
	int ended = waitpid(c.pid, &status, 0) == c.pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	return told && ok && ended;
}
