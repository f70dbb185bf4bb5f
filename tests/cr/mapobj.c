/* What mappings keep of their objects across a checkpoint. Before it: a private mapping
 * of a file with one page written (a private copy) and one not; shared anonymous memory
 * of two pages shrunk to one (its object keeps the second); shared anonymous memory of
 * one page grown by mremap to two (the second past its object's end), and forked child
 * sharing the first. After the restore MADV_DONTNEED brings the file's bytes back in the
 * private mapping; the shrunk memory grown again maps its object's second page with its
 * bytes; the page past the end still gets SIGBUS, and the shared page is still shared
 * with the child. */
#include "cr.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096

static int all(const char *p, char c) {
	for (int i = 0; i < PG; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

/* The child, after the restore: sees the parent's write, writes its own. */
static int sees_parent(void *arg) {
	char *gm = arg;
	int ok = gm[0] == 'P';
	gm[1] = 'C';
	return ok;
}

int main(void) {
	start("mapobj");
	signal(SIGBUS, cr_on_bus);
	int fd = open("/tmp/cr-mapobj", O_RDWR | O_CREAT | O_TRUNC, 0600);
	char buf[2 * PG];
	memset(buf, 'f', PG);
	memset(buf + PG, 'g', PG);
	if (fd < 0 || write(fd, buf, sizeof buf) != sizeof buf)
		die("file");
	char *pv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (pv == MAP_FAILED)
		die("mmap private");
	memset(pv, 'p', PG);
	/* A reservation: the shared memory grows and moves inside it. */
	char *r = mmap(NULL, 8 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *s = mmap(r, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (r == MAP_FAILED || s != r)
		die("mmap shared");
	memset(s, 'a', PG);
	memset(s + PG, 'b', PG);
	if (mremap(s, 2 * PG, PG, 0) != s)
		die("mremap shrink");
	char *g = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED)
		die("mmap grown");
	memset(g, 'c', PG);
	char *gm = mremap(g, PG, 2 * PG, MREMAP_MAYMOVE);
	if (gm == MAP_FAILED)
		die("mremap grow");
	struct cr_child child = fork_probe(sees_parent, gm);
	ready();
	wait_term();

	check(all(pv, 'p') && all(pv + PG, 'g'), "the private mapping lost its bytes");
	check(madvise(pv, 2 * PG, MADV_DONTNEED) == 0, "MADV_DONTNEED");
	check(all(pv, 'f') && all(pv + PG, 'g'), "MADV_DONTNEED did not bring the file's bytes back");
	pv[0] = 'q';
	char b = 0;
	check(pread(fd, &b, 1, 0) == 1 && b == 'f', "a private write reached the file");
	char *sm = mremap(s, PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, r + 4 * PG);
	check(sm == r + 4 * PG, "mremap of the shrunk shared memory");
	check(all(sm, 'a') && all(sm + PG, 'b'), "the object's second page lost its bytes");
	check(all(gm, 'c'), "the grown shared memory lost its bytes");
	check(bus_at(gm + PG), "the page past the object's end does not get SIGBUS");
	int p2[2];
	if (pipe(p2))
		die("pipe");
	errno = 0;
	check(write(p2[1], gm + PG, 1) == -1 && errno == EFAULT, "a write(2) from past the end is not EFAULT");
	gm[0] = 'P';
	check(probe_verdict(child), "the child does not see the parent's write (or failed)");
	check(gm[1] == 'C', "the child's write not seen");
	unlink("/tmp/cr-mapobj");
	return finish();
}
