/* Mappings marked MADV_DONTFORK across a checkpoint. Before it: the middle page of three
 * private anonymous pages and the second of two shared anonymous pages are marked. After
 * the restore a forked child gets neither marked page and gets the others (private ones
 * copy-on-write, shared ones shared); the parent keeps all its bytes; MADV_DOFORK undoes
 * the mark. */
#include "cr.h"
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096

static int mapped(void *p) { return msync(p, PG, MS_ASYNC) == 0; }

/* What a child sees of the n pages at m: a bit per mapped page; it writes 'c' to the
 * first byte of each mapped one. */
static int child_map(char *m, int n) {
	pid_t pid = fork();
	if (pid == 0) {
		int bits = 0;
		for (int i = 0; i < n; i++)
			if (mapped(m + i * PG)) {
				bits |= 1 << i;
				m[i * PG] = 'c';
			}
		_exit(bits);
	}
	int st = 0;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int main(void) {
	start("dontfork");
	char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *s = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || s == MAP_FAILED)
		die("mmap");
	memset(p, 'p', 3 * PG);
	memset(s, 's', 2 * PG);
	if (madvise(p + PG, PG, MADV_DONTFORK) || madvise(s + PG, PG, MADV_DONTFORK))
		die("madvise MADV_DONTFORK");
	ready();
	wait_term();

	int bits = child_map(p, 3);
	check(bits == 5, "the child's private pages: %#x, not 0x5", bits);
	check(p[0] == 'p' && p[PG] == 'p' && p[2 * PG] == 'p', "the child's writes reached the parent's private pages");
	bits = child_map(s, 2);
	check(bits == 1, "the child's shared pages: %#x, not 0x1", bits);
	check(s[0] == 'c' && s[PG] == 's', "the shared pages: %c %c, not c s", s[0], s[PG]);
	check(madvise(p + PG, PG, MADV_DOFORK) == 0, "MADV_DOFORK");
	bits = child_map(p, 3);
	check(bits == 7, "after MADV_DOFORK the child's private pages: %#x, not 0x7", bits);
	errno = 0;
	check(madvise(p + 1, PG, MADV_DONTFORK) == -1 && errno == EINVAL, "unaligned");
	return finish();
}
