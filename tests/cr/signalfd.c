/* A signalfd across a checkpoint: SIGUSR1 and SIGRTMIN+3 blocked and read through a
 * non-blocking signalfd, with SIGUSR1 raised and SIGRTMIN+3 queued twice with values.
 * Afterwards poll says it is readable and it reads SIGUSR1, then both real-time signals in
 * order with their values, code and sender; then nothing more. */
#include "cr.h"
#include <poll.h>
#include <sys/signalfd.h>

int main(void) {
	start("signalfd");
	int rt = SIGRTMIN + 3;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, rt);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		die("sigprocmask");
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		die("signalfd");
	union sigval v1 = {.sival_int = 42}, v2 = {.sival_int = 43};
	if (raise(SIGUSR1) || sigqueue(getpid(), rt, v1) || sigqueue(getpid(), rt, v2))
		die("queue");
	ready();
	wait_term();

	struct pollfd p = {.fd = fd, .events = POLLIN};
	check(poll(&p, 1, 0) == 1 && (p.revents & POLLIN), "poll: revents %x", p.revents);
	struct {
		int sig, value, code;
	} want[3] = {{SIGUSR1, 0, SI_TKILL}, {rt, 42, SI_QUEUE}, {rt, 43, SI_QUEUE}};
	for (int i = 0; i < 3; i++) {
		struct signalfd_siginfo si;
		memset(&si, 0, sizeof si);
		ssize_t n = read(fd, &si, sizeof si);
		check(n == sizeof si, "read %d: %zd %s", i, n, strerror(errno));
		check((int)si.ssi_signo == want[i].sig, "signal %d: %u, want %d", i, si.ssi_signo, want[i].sig);
		if (want[i].code == SI_QUEUE)
			check(si.ssi_int == want[i].value, "signal %d: value %d, want %d", i, si.ssi_int, want[i].value);
		check(si.ssi_code == want[i].code, "signal %d: code %d, want %d", i, si.ssi_code, want[i].code);
		check((pid_t)si.ssi_pid == getpid() && si.ssi_uid == getuid(), "signal %d: from %u (uid %u)", i, si.ssi_pid,
		      si.ssi_uid);
	}
	struct signalfd_siginfo si;
	check(read(fd, &si, sizeof si) < 0 && errno == EAGAIN, "a fourth signal: %u", si.ssi_signo);
	sigset_t pending;
	sigpending(&pending);
	check(!sigismember(&pending, SIGUSR1) && !sigismember(&pending, rt), "signals still pending after the reads");
	return finish();
}
