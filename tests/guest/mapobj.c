// What mappings keep of their objects: MADV_DONTNEED of a private file mapping brings the
// file's bytes back (written pages and pages not written, after a write(2) to the file
// too), of private anonymous memory zeroes, of shared memory nothing; shared anonymous
// memory shrunk keeps its object's pages for a growth, and pages grown past its object's
// end get SIGBUS (a system call EFAULT), as does a copy (old size 0) past the end; the
// RSS after MAP_POPULATE of writable memory. Prints one line per check: the same lines
// natively and in the sandbox. argv[1]: a directory for the file.
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "checks.h"

#define P 4096L

static sigjmp_buf jb;

static void on_bus(int s) { siglongjmp(jb, s); }

/* The signal reading the byte at p gives (0: none) */
static int sig_at(volatile char *p) {
    int s = sigsetjmp(jb, 1);
    if (s == 0) {
        (void)*p;
        return 0;
    }
    return s;
}

/* The byte every byte of the page at p is, '?' if they differ. */
static char page(const char *p) {
    for (long i = 1; i < P; i++)
        if (p[i] != p[0])
            return '?';
    return p[0] ? p[0] : '0';
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = 0;
    if (f) {
        fscanf(f, "%ld %ld", &size, &rss);
        fclose(f);
    }
    return rss * 4;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    signal(SIGBUS, on_bus);
    signal(SIGSEGV, on_bus);
    char path[512];
    snprintf(path, sizeof path, "%s/mapobj-XXXXXX", dir);
    int fd = mkstemp(path);
    unlink(path);
    char buf[3 * P];
    memset(buf, 'a', P);
    memset(buf + P, 'b', P);
    memset(buf + 2 * P, 'c', P);
    write(fd, buf, sizeof buf);

    // A private file mapping: one page written, the others not.
    char *pv = mmap(0, 3 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    memset(pv + P, 'x', P);
    printf("private: %c %c %c\n", page(pv), page(pv + P), page(pv + 2 * P));
    printf("dontneed middle: %s\n", en(madvise(pv + P, P, MADV_DONTNEED)));
    printf("private: %c %c %c\n", page(pv), page(pv + P), page(pv + 2 * P));
    memset(pv, 'y', 2 * P);
    pwrite(fd, "B", 1, P + 10);
    printf("dontneed all: %s\n", en(madvise(pv, 3 * P, MADV_DONTNEED)));
    printf("private: %c %c%c %c\n", page(pv), pv[P], pv[P + 10], page(pv + 2 * P));
    char c = 0;
    pv[0] = 'z';
    pread(fd, &c, 1, 0);
    printf("file after a private write: %c\n", c);
    // A read-only private mapping, then mprotect and a write, then MADV_DONTNEED.
    char *ro = mmap(0, P, PROT_READ, MAP_PRIVATE, fd, 2 * P);
    mprotect(ro, P, PROT_READ | PROT_WRITE);
    ro[5] = 'w';
    madvise(ro, P, MADV_DONTNEED);
    printf("mprotected private: %c\n", page(ro));
    // A forked child's MADV_DONTNEED: the file again for it, the parent's copy stays.
    memset(pv + 2 * P, 'p', P);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        madvise(pv, 3 * P, MADV_DONTNEED);
        printf("child: %c %c\n", page(pv), page(pv + 2 * P));
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("parent: %c %c\n", page(pv), page(pv + 2 * P));

    // Private and shared anonymous memory.
    char *pa = mmap(0, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *sa = mmap(0, P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(pa, 'q', P);
    memset(sa, 's', P);
    madvise(pa, P, MADV_DONTNEED);
    madvise(sa, P, MADV_DONTNEED);
    printf("anonymous: private %c shared %c\n", page(pa), page(sa));

    // Shared anonymous memory shrunk, then grown again and moved: its object's pages.
    char *r = mmap(0, 8 * P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *s = mmap(r, 2 * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    memset(s, 'a', P);
    memset(s + P, 'b', P);
    printf("shrink: %s\n", en((long)mremap(s, 2 * P, P, 0) - (long)s));
    char *m = mremap(s, P, 3 * P, MREMAP_MAYMOVE | MREMAP_FIXED, r + 4 * P);
    printf("grow: %s\n", m == r + 4 * P ? "ok" : "moved elsewhere");
    printf("grown: %c %c signal %d\n", page(m), page(m + P), sig_at(m + 2 * P));
    int pp[2];
    pipe(pp);
    errno = 0;
    printf("write from past the end: %s\n", en(write(pp[1], m + 2 * P, 1)));
    // Grown in place past the end.
    char *g = mmap(r, P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    g[0] = 'g';
    printf("grow in place: %s\n", en((long)mremap(g, P, 2 * P, 0) - (long)g));
    printf("in place: %c signal %d\n", g[0], sig_at(g + P));
    // A copy (old size 0) longer than the object.
    char *cp = mremap(m, 0, 4 * P, MREMAP_MAYMOVE);
    printf("copy: %c %c signal %d\n", page(cp), page(cp + P), sig_at(cp + 3 * P));
    cp[0] = 'C';
    printf("copy shares: %c\n", m[0]);
    // Moved again, and the source shrunk in place: still the same object.
    printf("mprotect past the end: %s, signal %d\n", en(mprotect(m, 3 * P, PROT_READ)), sig_at(m + 2 * P));

    // RSS after MAP_POPULATE: writable memory is committed, PROT_NONE is not.
    long before = rss_kb();
    char *w = mmap(0, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    long grew = rss_kb() - before;
    printf("populate writable: %s\n", w != MAP_FAILED && grew > 60 * 1024 ? "committed" : "not committed");
    before = rss_kb();
    char *n = mmap(0, 64 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    grew = rss_kb() - before;
    printf("populate none: %s\n", n != MAP_FAILED && grew > 60 * 1024 ? "committed" : "not committed");
    return 0;
}
