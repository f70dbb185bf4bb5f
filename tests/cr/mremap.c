/* Moved and copied mappings, and a PI futex with a waiter, across a checkpoint. Before it:
 * a private mapping moved (mremap MREMAP_MAYMOVE, grown), a shared anonymous mapping
 * shared with a forked child then moved by the parent and mapped a second time (old_size
 * 0), a memfd mapping moved to a fixed address; a thread blocked in FUTEX_LOCK_PI on a
 * futex the main thread owns. After the restore the moved mappings hold their bytes, a
 * write through any view of the shared memory is seen through the others and by the
 * child, the private one is still private, the memfd's file sees its mapping, and the
 * main thread's FUTEX_UNLOCK_PI hands the futex to the waiting thread. */
#include "cr.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define PG 4096

static _Atomic uint32_t pi_word;
static volatile int waiter_got;

static long futex(void *w, int op) { return syscall(SYS_futex, w, op, 0, NULL, NULL, 0); }

static void *waiter(void *arg) {
	(void)arg;
	long r;
	do
		r = futex((void *)&pi_word, FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG);
	while (r == -1 && errno == EINTR);
	if (r == 0 && (pi_word & FUTEX_TID_MASK) == (uint32_t)syscall(SYS_gettid))
		waiter_got = 1;
	else
		waiter_got = -1;
	futex((void *)&pi_word, FUTEX_UNLOCK_PI | FUTEX_PRIVATE_FLAG);
	return NULL;
}

/* The child, after the restore: the parent's write through its moved view is seen here. */
static int sees_parent(void *arg) {
	char *s = arg;
	int ok = memcmp(s + PG, "from parent", 11) == 0;
	memcpy(s + 100, "from child", 10);
	return ok;
}

int main(void) {
	start("mremap");
	/* Where the moves go: a reservation. */
	char *r = mmap(NULL, 32 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Private: two pages (a third without access after them: no room to grow), moved and
	 * grown to four. */
	char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED || p == MAP_FAILED || mprotect(p + 2 * PG, PG, PROT_NONE))
		die("mmap private");
	memcpy(p, "private one", 11);
	memcpy(p + PG, "private two", 11);
	char *pm = mremap(p, 2 * PG, 4 * PG, MREMAP_MAYMOVE);
	if (pm == MAP_FAILED || pm == p)
		die("mremap private");
	if (msync(p, PG, MS_ASYNC) != -1 || errno != ENOMEM)
		die("the private mapping's old place is still mapped");
	/* Shared anonymous, shared with a child forked before the move. */
	char *s = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		die("mmap shared");
	memcpy(s, "shared", 6);
	struct cr_child child = fork_probe(sees_parent, s);
	char *sm = mremap(s, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	char *sc = mremap(sm, 0, 2 * PG, MREMAP_MAYMOVE);
	if (sm != r || sc == MAP_FAILED || sc == sm)
		die("mremap shared");
	/* A memfd's shared mapping moved to a fixed place. */
	int m = syscall(SYS_memfd_create, "cr-mremap", 0);
	if (m < 0 || ftruncate(m, 2 * PG))
		die("memfd");
	char *f = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	if (f == MAP_FAILED)
		die("mmap memfd");
	memcpy(f + PG, "memfd page", 10);
	char *fm = mremap(f, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, r + 16 * PG);
	if (fm != r + 16 * PG)
		die("mremap memfd");
	/* A PI futex the main thread owns, a thread waiting for it. */
	pi_word = 0;
	if (futex((void *)&pi_word, FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG))
		die("FUTEX_LOCK_PI");
	pthread_t th;
	if (pthread_create(&th, NULL, waiter, NULL))
		die("pthread_create");
	while (!(pi_word & FUTEX_WAITERS))
		usleep(1000);
	ready();
	wait_term();

	check(memcmp(pm, "private one", 11) == 0 && memcmp(pm + PG, "private two", 11) == 0,
	      "the moved private mapping lost its bytes");
	check(pm[2 * PG] == 0 && pm[3 * PG] == 0, "the grown pages are not zero");
	pm[0] = 'P';
	check(memcmp(sm, "shared", 6) == 0 && memcmp(sc, "shared", 6) == 0, "the shared mapping lost its bytes");
	memcpy(sm + PG, "from parent", 11);
	check(memcmp(sc + PG, "from parent", 11) == 0, "the copy does not share with the moved mapping");
	check(probe_verdict(child), "the child does not see the parent's write (or failed)");
	check(memcmp(sm + 100, "from child", 10) == 0 && memcmp(sc + 100, "from child", 10) == 0,
	      "the child's write not seen through the moved mapping and its copy");
	char buf[16] = {0};
	check(memcmp(fm + PG, "memfd page", 10) == 0, "the moved memfd mapping lost its bytes");
	memcpy(fm, "via map", 7);
	check(pread(m, buf, 7, 0) == 7 && memcmp(buf, "via map", 7) == 0, "the memfd does not see its moved mapping");
	check(pi_word == ((uint32_t)syscall(SYS_gettid) | FUTEX_WAITERS), "the PI futex word changed: %#x",
	      pi_word);
	check(futex((void *)&pi_word, FUTEX_UNLOCK_PI | FUTEX_PRIVATE_FLAG) == 0, "FUTEX_UNLOCK_PI");
	pthread_join(th, NULL);
	check(waiter_got == 1, "the waiting thread did not get the PI futex: %d", waiter_got);
	check(pi_word == 0, "the PI futex not released: %#x", pi_word);
	/* Hostile arguments. */
	errno = 0;
	check(mremap(pm + 1, PG, PG, 0) == MAP_FAILED && errno == EINVAL, "unaligned");
	errno = 0;
	check(mremap(pm, PG, 2 * PG, MREMAP_FIXED, r + 24 * PG) == MAP_FAILED && errno == EINVAL,
	      "MREMAP_FIXED without MREMAP_MAYMOVE");
	errno = 0;
	check(mremap(pm, 0, PG, MREMAP_MAYMOVE) == MAP_FAILED && errno == EINVAL, "a copy of private memory");
	errno = 0;
	check(mremap(pm, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, pm + PG) == MAP_FAILED && errno == EINVAL,
	      "an overlapping destination");
	errno = 0;
	check(futex((void *)8, FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG) == -1 && errno == EFAULT, "a bad futex pointer");
	return finish();
}
