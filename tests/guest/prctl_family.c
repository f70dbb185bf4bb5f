/* prctl's process settings: PR_SET/GET_CHILD_SUBREAPER (orphans below a subreaper are
 * reparented to it, and it reaps them), PR_SET/GET_PDEATHSIG (sent when the thread that
 * created the process exits, even while its process lives on; cleared by fork),
 * PR_SET/GET_DUMPABLE (0 and 1 only, inherited by fork). Prints lines a native run prints
 * the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int pipefd[2];

static void on_sig(int sig) {
	char c = (char)sig;
	(void)!write(pipefd[1], &c, 1);
}

static int get_int(int op) {
	int v = -1;
	int r = prctl(op, &v, 0, 0, 0);
	return r < 0 ? -errno : v;
}

/* A child whose death signal is SIGUSR1: it reports the signal it gets on the pipe. */
static pid_t child_with_pdeathsig(void) {
	pid_t c = fork();
	if (c == 0) {
		signal(SIGUSR1, on_sig);
		prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
		printf("child: pdeathsig %d, dumpable %d\n", get_int(PR_GET_PDEATHSIG), prctl(PR_GET_DUMPABLE));
		fflush(stdout);
		for (int i = 0; i < 500; i++)
			usleep(10000);
		_exit(3);
	}
	return c;
}

static void *thread_forks(void *arg) {
	*(pid_t *)arg = child_with_pdeathsig();
	usleep(200000);
	return NULL; /* the creating thread exits: the child gets SIGUSR1 */
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (pipe(pipefd))
		return 1;
	printf("subreaper at start: %d\n", get_int(PR_GET_CHILD_SUBREAPER));
	prctl(PR_SET_CHILD_SUBREAPER, 42, 0, 0, 0);
	printf("subreaper after set 42: %d\n", get_int(PR_GET_CHILD_SUBREAPER));
	printf("pdeathsig at start: %d\n", get_int(PR_GET_PDEATHSIG));
	int r = prctl(PR_SET_PDEATHSIG, 99, 0, 0, 0);
	printf("set pdeathsig 99: %d %s\n", r, r ? strerror(errno) : "");
	printf("dumpable: %d\n", prctl(PR_GET_DUMPABLE));
	r = prctl(PR_SET_DUMPABLE, 2, 0, 0, 0);
	printf("set dumpable 2: %d %s\n", r, r ? strerror(errno) : "");
	r = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	printf("set dumpable 0: %d, now %d\n", r, prctl(PR_GET_DUMPABLE));
	r = prctl(PR_GET_PDEATHSIG, (void *)8, 0, 0, 0);
	printf("bad pointer for GET_PDEATHSIG: %d %s\n", r, r ? strerror(errno) : "");

	/* An orphan is adopted by the subreaper (us), not by init. */
	pid_t me = getpid();
	int p2[2];
	if (pipe(p2))
		return 1;
	pid_t mid = fork();
	if (mid == 0) {
		pid_t g = fork();
		if (g == 0) {
			close(p2[1]);
			char x;
			(void)!read(p2[0], &x, 1); /* until the middle process is gone */
			printf("grandchild: my parent is the subreaper: %s\n", getppid() == me ? "yes" : "no");
			_exit(7);
		}
		_exit(0);
	}
	int st;
	waitpid(mid, &st, 0);
	close(p2[1]); /* the middle process is reaped: let the grandchild look */
	pid_t g = wait(&st);
	printf("reaped the grandchild: %s, status %d\n", g > 0 ? "yes" : "no", WEXITSTATUS(st));

	/* The death signal: sent when the thread that forked the child exits. */
	pthread_t th;
	pid_t c = 0;
	pthread_create(&th, NULL, thread_forks, &c);
	pthread_join(th, NULL);
	char sig = 0;
	(void)!read(pipefd[0], &sig, 1);
	printf("child got signal %d after its creating thread exited\n", sig);
	kill(c, SIGKILL);
	waitpid(c, &st, 0);
	printf("child ended by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);

	/* Fork clears the death signal and keeps dumpable. */
	prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0);
	pid_t f = fork();
	if (f == 0) {
		printf("forked: pdeathsig %d, dumpable %d, subreaper %d\n", get_int(PR_GET_PDEATHSIG),
		       prctl(PR_GET_DUMPABLE), get_int(PR_GET_CHILD_SUBREAPER));
		_exit(0);
	}
	waitpid(f, &st, 0);
	printf("pdeathsig kept here: %d\n", get_int(PR_GET_PDEATHSIG));
	return 0;
}
