/* Threads across a checkpoint: one parked in FUTEX_WAIT on a private word, one blocked in
 * read() on a pipe, one busy in guest code, one with its own signal mask, and a child
 * process parked in FUTEX_WAIT on a shared anonymous page. Afterwards each wakes when told,
 * keeps its thread id, its robust list head and its mask. */
#include "cr.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int w1;
static int pfd[2];
static volatile int stop_spin;
static volatile int started;

struct info {
	pid_t tid, tid_after;
	void *robust, *robust_after;
	long result;
};
static struct info inf[4];

static long futex(int *uaddr, int op, int val) { return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0); }

static void who(struct info *i, int after) {
	struct robust_list_head *h;
	size_t len;
	pid_t t = syscall(SYS_gettid);
	syscall(SYS_get_robust_list, 0, &h, &len);
	if (after) {
		i->tid_after = t;
		i->robust_after = h;
	} else {
		i->tid = t;
		i->robust = h;
		__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	}
}

static void *futex_waiter(void *a) {
	struct info *i = a;
	who(i, 0);
	while (__atomic_load_n(&w1, __ATOMIC_SEQ_CST) == 0)
		futex(&w1, FUTEX_WAIT_PRIVATE, 0);
	who(i, 1);
	i->result = w1;
	return NULL;
}

static void *reader(void *a) {
	struct info *i = a;
	who(i, 0);
	char buf[16] = {0};
	i->result = read_all(pfd[0], buf, 5) == 5 && strcmp(buf, "wake!") == 0;
	who(i, 1);
	return NULL;
}

static void *spinner(void *a) {
	struct info *i = a;
	who(i, 0);
	uint64_t x = 1;
	while (!stop_spin)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	who(i, 1);
	i->result = x != 0;
	return NULL;
}

static void *masked(void *a) {
	struct info *i = a;
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigaddset(&m, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	who(i, 0);
	while (!stop_spin)
		usleep(2000);
	sigset_t now;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	who(i, 1);
	i->result = sigismember(&now, SIGUSR2) && sigismember(&now, SIGTERM);
	return NULL;
}

int main(void) {
	start("threads");
	if (pipe(pfd))
		die("pipe");
	int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("mmap");
	pid_t child = fork();
	if (child == 0) {
		__atomic_store_n(&shared[1], 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&shared[0], __ATOMIC_SEQ_CST) == 0)
			futex(&shared[0], FUTEX_WAIT, 0);
		_exit(shared[0] == 7 ? 0 : 1);
	}
	/* SIGTERM goes to the main thread, which waits for it. */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, NULL);
	pthread_t th[4];
	void *(*fns[4])(void *) = {futex_waiter, reader, spinner, masked};
	for (int i = 0; i < 4; i++)
		if (pthread_create(&th[i], NULL, fns[i], &inf[i]))
			die("pthread_create");
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	while (started < 4 || !__atomic_load_n(&shared[1], __ATOMIC_SEQ_CST))
		usleep(1000);
	usleep(50000); /* let the waiters park */
	ready();
	wait_term();

	__atomic_store_n(&w1, 5, __ATOMIC_SEQ_CST);
	futex(&w1, FUTEX_WAKE_PRIVATE, 1);
	check(write(pfd[1], "wake!", 5) == 5, "write");
	stop_spin = 1;
	__atomic_store_n(&shared[0], 7, __ATOMIC_SEQ_CST);
	futex(&shared[0], FUTEX_WAKE, 1);
	const char *names[] = {"futex waiter", "pipe reader", "spinner", "masked thread"};
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		check(inf[i].tid == inf[i].tid_after, "%s: tid %d, was %d", names[i], inf[i].tid_after, inf[i].tid);
		check(inf[i].robust && inf[i].robust == inf[i].robust_after, "%s: robust list %p, was %p", names[i],
		      inf[i].robust_after, inf[i].robust);
	}
	check(inf[0].result == 5, "futex waiter saw %ld", inf[0].result);
	check(inf[1].result == 1, "pipe reader did not read its bytes");
	check(inf[2].result == 1, "spinner");
	check(inf[3].result == 1, "the masked thread's mask changed");
	int st = 0;
	check(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the child waiting on the shared futex: status %#x", st);
	return finish();
}
