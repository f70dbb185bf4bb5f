/* Threads waiting in FUTEX_WAIT_REQUEUE_PI across a checkpoint: one still on the condition
 * word, one already moved by FUTEX_CMP_REQUEUE_PI to the PI futex the main thread holds.
 * After the restore the main thread's unlock hands the futex to the moved one, and a
 * requeue of the other (the futex free again by then) gives it the futex. */
#include "cr.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>

static uint32_t cond, mutex;
static _Atomic int got[2];
static _Atomic pid_t tids[2];

static long futex(uint32_t *w, int op, uint32_t val, long val2, uint32_t *w2, uint32_t val3) {
	return syscall(SYS_futex, w, op | FUTEX_PRIVATE_FLAG, val, val2, w2, val3);
}

static void *waiter(void *arg) {
	int i = (int)(intptr_t)arg;
	tids[i] = (pid_t)syscall(SYS_gettid);
	long r;
	do
		r = futex(&cond, FUTEX_WAIT_REQUEUE_PI, 0, 0, &mutex, 0);
	while (r == -1 && errno == EINTR);
	if (r == 0 && (__atomic_load_n(&mutex, __ATOMIC_SEQ_CST) & FUTEX_TID_MASK) == (uint32_t)tids[i])
		got[i] = 1;
	else
		got[i] = -1;
	if (r == 0)
		futex(&mutex, FUTEX_UNLOCK_PI, 0, 0, 0, 0);
	return NULL;
}

int main(void) {
	start("requeue_pi");
	mutex = (uint32_t)syscall(SYS_gettid);
	pthread_t th[2];
	/* The first waiter moved to the PI futex once it waits (the requeue moves one, not
	 * none); the second left waiting on the condition word (a plain wake of the word is
	 * refused then, rather than waking nobody). */
	if (pthread_create(&th[0], NULL, waiter, (void *)0))
		die("pthread_create");
	while (futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 0, &mutex, 0) != 1)
		usleep(1000);
	if (pthread_create(&th[1], NULL, waiter, (void *)1))
		die("pthread_create");
	while (futex(&cond, FUTEX_WAKE, 1, 0, 0, 0) != -1 || errno != EINVAL)
		usleep(1000);
	if (!(mutex & FUTEX_WAITERS))
		die("no FUTEX_WAITERS after the requeue");
	ready();
	wait_term();

	check(got[0] == 0 && got[1] == 0, "a waiter returned before the unlock: %d %d", got[0], got[1]);
	check(futex(&mutex, FUTEX_UNLOCK_PI, 0, 0, 0, 0) == 0, "FUTEX_UNLOCK_PI: %s", strerror(errno));
	pthread_join(th[0], NULL);
	check(got[0] == 1, "the moved waiter did not get the PI futex: %d", got[0]);
	check(mutex == 0, "the PI futex not released: %#x", mutex);
	long n = futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 0, &mutex, 0);
	check(n == 1, "FUTEX_CMP_REQUEUE_PI of the other waiter: %ld", n);
	pthread_join(th[1], NULL);
	check(got[1] == 1, "the other waiter did not get the PI futex: %d", got[1]);
	check(mutex == 0, "the PI futex not released at the end: %#x", mutex);
	return finish();
}
