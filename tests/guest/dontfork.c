// MADV_DONTFORK and MADV_DOFORK: a forked child does not get a marked private anonymous
// or shared file page (the pages beside it it does, copy-on-write or shared), the parent
// keeps all of them, MADV_DOFORK undoes the mark, the mark moves with mremap and
// stays after an mprotect of part of the mapping, and bad ranges are refused. Prints one
// line per check: the same lines natively and in the sandbox. argv[1]: a directory for
// the file.
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "checks.h"

#define P 4096L

/* Whether the page at p is mapped: msync says ENOMEM for a page that is not. */
static int mapped(void *p) { return msync(p, P, MS_ASYNC) == 0; }

static int all(const char *p, char c) {
    for (long i = 0; i < P; i++)
        if (p[i] != c)
            return 0;
    return 1;
}

/* Forks a child that prints what it sees of the n pages at m (mapped or not, and the
 * first byte of each mapped one), writes 'x' to the mapped ones, and exits. */
static void child_sees(const char *what, char *m, int n) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("%s: child sees", what);
        for (int i = 0; i < n; i++) {
            char *p = m + i * P;
            if (mapped(p)) {
                printf(" %c", p[0] ? p[0] : '0');
                memset(p, 'x', P);
            } else {
                printf(" -");
            }
        }
        printf("\n");
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("%s: child exit=%d, parent sees", what, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    for (int i = 0; i < n; i++)
        printf(" %c", !mapped(m + i * P) ? '-' : m[i * P] ? m[i * P] : '0');
    printf("\n");
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    // Private anonymous: the middle page marked.
    char *a = mmap(0, 3 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(a, 'a', P);
    memset(a + P, 'b', P);
    memset(a + 2 * P, 'c', P);
    printf("dontfork anon: %s\n", en(madvise(a + P, P, MADV_DONTFORK)));
    child_sees("anon", a, 3);
    printf("parent intact: %d\n", all(a, 'a') && all(a + P, 'b') && all(a + 2 * P, 'c'));
    // Undone: the child gets it again (copy-on-write).
    printf("dofork anon: %s\n", en(madvise(a + P, P, MADV_DOFORK)));
    child_sees("anon again", a, 3);

    // Shared file pages: the second marked; the child's write to the first reaches the
    // parent.
    char path[512];
    snprintf(path, sizeof path, "%s/dontfork-XXXXXX", dir);
    int fd = mkstemp(path);
    unlink(path);
    char buf[2 * P];
    memset(buf, 'f', P);
    memset(buf + P, 'g', P);
    write(fd, buf, sizeof buf);
    char *s = mmap(0, 2 * P, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("dontfork shared: %s\n", en(madvise(s + P, P, MADV_DONTFORK)));
    child_sees("shared", s, 2);

    // The mark stays on the part of a mapping an mprotect split off, and moves with
    // mremap (grown in place or moved: the new pages too).
    char *m = mmap(0, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(m, 'm', 4 * P);
    printf("dontfork all: %s\n", en(madvise(m, 2 * P, MADV_DONTFORK)));
    printf("mprotect half: %s\n", en(mprotect(m, P, PROT_READ)));
    munmap(m + 2 * P, 2 * P);
    child_sees("split", m, 2);
    char *r = mremap(m + P, P, 3 * P, MREMAP_MAYMOVE);
    printf("mremap: %s\n", en(r == MAP_FAILED ? -1 : 0));
    if (r != MAP_FAILED)
        child_sees("moved", r, 3);

    // Bad ranges: unaligned EINVAL, a gap ENOMEM (the mapped part is marked still), a
    // length of 0 ok, one that wraps EINVAL.
    char *g = mmap(0, 3 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(g, 'g', 3 * P);
    munmap(g + P, P);
    printf("unaligned: %s\n", en(madvise(g + 1, P, MADV_DONTFORK)));
    printf("gap: %s\n", en(madvise(g, 3 * P, MADV_DONTFORK)));
    child_sees("gap", g, 3);
    printf("zero length: %s\n", en(madvise(g, 0, MADV_DONTFORK)));
    printf("wrapping: %s\n", en(madvise(0, (size_t)-1 - P / 2, MADV_DONTFORK)));
    printf("unmapped dofork: %s\n", en(madvise(g + P, P, MADV_DOFORK)));
    return 0;
}
