/* Signal state across a checkpoint: an SA_SIGINFO|SA_ONSTACK|SA_RESTART handler with a
 * mask, an ignored signal, an alternate signal stack, a blocked mask, and queued signals
 * with their siginfo payload (two real-time signals queued twice and once, a standard
 * signal sent twice, which stays one). Afterwards the dispositions, mask, pending set and
 * stack are the same, and unblocking delivers every queued signal in order, with its
 * value, code and sender, on the alternate stack, in Linux's order. */
#include "cr.h"
#include <stdint.h>

#define ALT (64 * 1024)
static char *alt;
static struct {
	int sig, value, code, pid, onstack;
} got[16];
static volatile int ngot;

static void handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	char here;
	if (ngot < 16) {
		got[ngot].sig = sig;
		got[ngot].value = si->si_value.sival_int;
		got[ngot].code = si->si_code;
		got[ngot].pid = si->si_pid;
		got[ngot].onstack = &here >= alt && &here < alt + ALT;
		ngot++;
	}
}

int main(void) {
	start("signals");
	int r1 = SIGRTMIN + 1, r2 = SIGRTMIN + 2;
	alt = malloc(ALT);
	stack_t ss = {.ss_sp = alt, .ss_size = ALT, .ss_flags = 0};
	if (sigaltstack(&ss, NULL))
		die("sigaltstack");
	struct sigaction sa = {0};
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, SIGRTMIN + 5);
	if (sigaction(SIGUSR1, &sa, NULL) || sigaction(r1, &sa, NULL) || sigaction(r2, &sa, NULL))
		die("sigaction");
	signal(SIGUSR2, SIG_IGN);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, r1);
	sigaddset(&block, r2);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, NULL))
		die("sigprocmask");
	union sigval v;
	v.sival_int = 44;
	sigqueue(getpid(), SIGUSR1, v);
	kill(getpid(), SIGUSR1);
	v.sival_int = 33;
	sigqueue(getpid(), r2, v);
	v.sival_int = 11;
	sigqueue(getpid(), r1, v);
	v.sival_int = 22;
	sigqueue(getpid(), r1, v);
	ready();
	wait_term();

	struct sigaction now;
	sigaction(SIGUSR1, NULL, &now);
	check(now.sa_sigaction == handler, "SIGUSR1 handler changed");
	check((now.sa_flags & (SA_SIGINFO | SA_ONSTACK | SA_RESTART)) == (SA_SIGINFO | SA_ONSTACK | SA_RESTART),
	      "SIGUSR1 flags %#x", now.sa_flags);
	check(sigismember(&now.sa_mask, SIGUSR2) && sigismember(&now.sa_mask, SIGRTMIN + 5) &&
	          !sigismember(&now.sa_mask, SIGHUP),
	      "SIGUSR1 handler mask changed");
	sigaction(SIGUSR2, NULL, &now);
	check(now.sa_handler == SIG_IGN, "SIGUSR2 no longer ignored");
	sigaction(SIGINT, NULL, &now);
	check(now.sa_handler == SIG_DFL, "SIGINT not default");
	sigset_t mask, pend;
	sigprocmask(SIG_BLOCK, NULL, &mask);
	check(sigismember(&mask, SIGUSR1) && sigismember(&mask, r1) && sigismember(&mask, r2) &&
	          sigismember(&mask, SIGHUP) && !sigismember(&mask, SIGTERM) && !sigismember(&mask, SIGUSR2),
	      "blocked mask changed");
	sigpending(&pend);
	check(sigismember(&pend, SIGUSR1) && sigismember(&pend, r1) && sigismember(&pend, r2) &&
	          !sigismember(&pend, SIGHUP),
	      "pending set changed");
	stack_t cur;
	sigaltstack(NULL, &cur);
	check(cur.ss_sp == alt && cur.ss_size == ALT && cur.ss_flags == 0, "sigaltstack: %p %zu %d",
	      cur.ss_sp, cur.ss_size, cur.ss_flags);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	/* As Linux: unblocking sets up a frame for each deliverable signal, lowest number first,
	 * each handler's mask blocking the signal it handles; the last frame runs first. */
	int want_sig[] = {r2, r1, r1, SIGUSR1}, want_val[] = {33, 11, 22, 44};
	check(ngot == 4, "%d signals delivered, want 4", ngot);
	for (int i = 0; i < ngot && i < 4; i++) {
		check(got[i].sig == want_sig[i] && got[i].value == want_val[i] && got[i].code == SI_QUEUE,
		      "signal %d: %d value %d code %d, want %d value %d code SI_QUEUE", i, got[i].sig, got[i].value,
		      got[i].code, want_sig[i], want_val[i]);
		check(got[i].pid == getpid(), "signal %d: sender %d, want %d", i, got[i].pid, getpid());
		check(got[i].onstack, "signal %d not on the alternate stack", i);
	}
	return finish();
}
