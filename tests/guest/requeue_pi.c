// FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI, as a condition variable with a PI
// mutex uses them: waiters on a condition word are moved to a PI futex, the first given
// it when it is free, the others owning it one after the other as each unlocks; with the
// mutex held, the first waiter is moved too and gets it at the unlock; a plain wake of a
// word with such a waiter, and bad arguments, are refused. Prints one line per check:
// the same lines natively and in the sandbox.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "checks.h"

static uint32_t cond, mutex;
static _Atomic int owned_ok, done;

static long futex(uint32_t *w, int op, uint32_t val, long val2, uint32_t *w2, uint32_t val3) {
    return syscall(SYS_futex, w, op | FUTEX_PRIVATE_FLAG, val, val2, w2, val3);
}

static void unlock_pi(void) {
    uint32_t me = (uint32_t)gettid();
    if (!__atomic_compare_exchange_n(&mutex, &me, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        futex(&mutex, FUTEX_UNLOCK_PI, 0, 0, 0, 0);
}

static void *waiter(void *arg) {
    (void)arg;
    long r = futex(&cond, FUTEX_WAIT_REQUEUE_PI, 0, 0, &mutex, 0);
    if (r == 0 && (__atomic_load_n(&mutex, __ATOMIC_SEQ_CST) & FUTEX_TID_MASK) == (uint32_t)gettid())
        owned_ok++;
    done++;
    if (r == 0)
        unlock_pi();
    return 0;
}

/* Starts a waiter, then waits until it waits on the condition word: a plain wake of
 * the word is refused then (EINVAL) rather than waking nobody (0). */
static void start(pthread_t *t) {
    pthread_create(t, 0, waiter, 0);
    while (futex(&cond, FUTEX_WAKE, 1, 0, 0, 0) != -1)
        usleep(1000);
}

/* Starts a waiter and moves it to the PI futex the caller holds, once it waits: the
 * requeue moves it (1) rather than nobody (0). */
static void start_moved(pthread_t *t) {
    pthread_create(t, 0, waiter, 0);
    while (futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 0, &mutex, 0) != 1)
        usleep(1000);
}

int main(void) {
    pthread_t t[3];
    // The mutex held: two waiters moved to it (each moved, not woken: 1), one left on
    // the condition word; the unlock hands the mutex to the first moved one, its unlock
    // to the second.
    cond = 0;
    mutex = (uint32_t)gettid();
    start_moved(&t[0]);
    start_moved(&t[1]);
    start(&t[2]);
    printf("plain wake of its word: %s\n", en(futex(&cond, FUTEX_WAKE, 1, 0, 0, 0)));
    printf("plain requeue of its word: %s\n", en(futex(&cond, FUTEX_CMP_REQUEUE, 1, 1, &mutex, 0)));
    printf("mutex has waiters: %d\n", !!(mutex & FUTEX_WAITERS));
    printf("done before unlock: %d\n", done);
    printf("unlock: %s\n", en(futex(&mutex, FUTEX_UNLOCK_PI, 0, 0, 0, 0)));
    pthread_join(t[0], 0);
    pthread_join(t[1], 0);
    printf("owned %d of %d, mutex %#x\n", owned_ok, done, mutex);
    // The mutex free: the last waiter is given it (1).
    cond = 1;
    printf("requeue free: %ld\n", futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 10, &mutex, 1));
    pthread_join(t[2], 0);
    printf("owned %d of %d, mutex %#x\n", owned_ok, done, mutex);
    // Nothing waits: 0.
    cond = 0;
    printf("requeue none: %ld\n", futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 1, &mutex, 0));
    // Bad arguments.
    printf("wake two: %s\n", en(futex(&cond, FUTEX_CMP_REQUEUE_PI, 2, 1, &mutex, 0)));
    printf("same word: %s\n", en(futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 1, &cond, 0)));
    printf("negative count: %s\n", en(futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, -1, &mutex, 0)));
    printf("other value: %s\n", en(futex(&cond, FUTEX_CMP_REQUEUE_PI, 1, 1, &mutex, 7)));
    printf("wait other value: %s\n", en(futex(&cond, FUTEX_WAIT_REQUEUE_PI, 7, 0, &mutex, 0)));
    printf("wait same word: %s\n", en(futex(&cond, FUTEX_WAIT_REQUEUE_PI, 0, 0, &cond, 0)));
    printf("wait unaligned: %s\n",
           en(futex(&cond, FUTEX_WAIT_REQUEUE_PI, 0, 0, (uint32_t *)((char *)&mutex + 1), 0)));
    struct timespec past;
    clock_gettime(CLOCK_MONOTONIC, &past);
    printf("wait timed out: %s\n", en(futex(&cond, FUTEX_WAIT_REQUEUE_PI, 0, (long)&past, &mutex, 0)));
    struct timespec soon;
    clock_gettime(CLOCK_REALTIME, &soon);
    soon.tv_nsec += 20 * 1000 * 1000;
    if (soon.tv_nsec >= 1000000000) {
        soon.tv_sec++;
        soon.tv_nsec -= 1000000000;
    }
    printf("wait realtime timeout: %s\n",
           en(futex(&cond, FUTEX_WAIT_REQUEUE_PI | FUTEX_CLOCK_REALTIME, 0, (long)&soon, &mutex, 0)));
    return 0;
}
