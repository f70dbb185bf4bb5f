/* Memory across a checkpoint: anonymous private memory with a pattern, a mapping with a
 * hole (a page unmapped in its middle), mprotect'ed pages (read-only, no access), anonymous
 * shared memory between a parent and its child (still shared afterwards), private and
 * read-only shared mappings of a file (a private page written stays private). */
#include "cr.h"
#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096
static sigjmp_buf probe_env;

static void on_segv(int sig) {
	(void)sig;
	siglongjmp(probe_env, 1);
}

/* 1 when reading (or writing, if write) p faults. */
static int faults(volatile char *p, int write) {
	if (sigsetjmp(probe_env, 1))
		return 1;
	if (write)
		*p = *p;
	else
		(void)*p;
	return 0;
}

static uint32_t pat(uint32_t i) { return i * 2654435761u ^ 0xc0ffee; }

int main(void) {
	start("mem");
	struct sigaction sa = {0};
	sa.sa_handler = on_segv;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);

	size_t plen = 64 * PG;
	uint32_t *priv = mmap(NULL, plen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *holed = mmap(NULL, 5 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *prot = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile int *shared = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (priv == MAP_FAILED || holed == MAP_FAILED || prot == MAP_FAILED || shared == MAP_FAILED)
		die("mmap");
	for (uint32_t i = 0; i < plen / 4; i += 7)
		priv[i] = pat(i);
	for (int i = 0; i < 5; i++)
		memset(holed + i * PG, 'a' + i, PG);
	if (munmap(holed + 2 * PG, PG))
		die("munmap");
	memset(prot, 'r', PG);
	memset(prot + PG, 'n', PG);
	memset(prot + 2 * PG, 'w', PG);
	if (mprotect(prot, PG, PROT_READ) || mprotect(prot + PG, PG, PROT_NONE))
		die("mprotect");

	/* A file, mapped privately (one page then written) and shared read-only. */
	int fd = open("/cr-mem.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("open");
	char buf[2 * PG];
	memset(buf, 'F', PG);
	memset(buf + PG, 'G', PG);
	if (write(fd, buf, sizeof buf) != sizeof buf)
		die("write");
	char *fpriv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	char *fshr = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
	if (fpriv == MAP_FAILED || fshr == MAP_FAILED)
		die("mmap file");
	close(fd);
	memset(fpriv, 'P', 16);

	int go[2];
	if (pipe(go))
		die("pipe");
	shared[0] = 1;
	pid_t child = fork();
	if (child == 0) {
		char c;
		shared[1] = 1;
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		/* The parent wrote 2 after the checkpoint: the page is still shared. */
		int ok = shared[0] == 2;
		shared[1] = 3;
		_exit(ok ? 0 : 4);
	}
	while (shared[1] != 1)
		usleep(1000);
	ready();
	wait_term();

	uint32_t bad = 0;
	for (uint32_t i = 0; i < plen / 4; i++)
		if (priv[i] != (i % 7 ? 0 : pat(i)))
			bad++;
	check(bad == 0, "anonymous private memory: %u words differ", bad);
	for (int i = 0; i < 5; i++) {
		if (i == 2) {
			check(faults(holed + 2 * PG, 0), "the hole is mapped");
			continue;
		}
		int same = 1;
		for (int j = 0; j < PG; j++)
			same &= holed[i * PG + j] == 'a' + i;
		check(same, "page %d around the hole differs", i);
	}
	check(!faults(prot, 0) && prot[0] == 'r' && prot[PG - 1] == 'r', "read-only page unreadable or changed");
	check(faults(prot, 1), "read-only page is writable");
	check(faults(prot + PG, 0), "PROT_NONE page is readable");
	check(!faults(prot + 2 * PG, 1) && prot[2 * PG] == 'w', "read-write page lost");
	check(memcmp(fpriv, "PPPPPPPPPPPPPPPPF", 17) == 0 && fpriv[PG] == 'G', "private file mapping: %.17s", fpriv);
	check(fshr[0] == 'F' && fshr[PG] == 'G', "shared file mapping: %c %c", fshr[0], fshr[PG]);
	check(faults(fshr, 1), "read-only shared file mapping is writable");

	check(shared[0] == 1 && shared[1] == 1, "shared memory: %d %d", shared[0], shared[1]);
	shared[0] = 2;
	if (write(go[1], "g", 1) != 1)
		die("write go");
	int st = 0;
	check(waitpid(child, &st, 0) == child, "waitpid: %s", strerror(errno));
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %#x (4: it did not see the parent's write)", st);
	check(shared[1] == 3, "the parent does not see the child's write: %d", shared[1]);
	return finish();
}
