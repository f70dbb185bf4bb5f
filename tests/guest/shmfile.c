/* Shared mappings of regular files (the page cache): for each directory given (the
 * tmpfs /tmp and a host directory), a parent and a forked child share a MAP_SHARED page of
 * a file and see each other's stores, read()/write() of the file agree with the mapping,
 * a MAP_PRIVATE mapping sees write() until it writes, msync reaches the file (read back
 * through a fresh descriptor after the mapping is gone), ftruncate down makes the pages
 * past the end SIGBUS (the page holding the end reads zeroes past it, and a system call
 * given them fails with EFAULT, and a private mapping's copies of them go too),
 * ftruncate up brings zeroed pages back; and the hostile
 * cases: an O_WRONLY fd, PROT_WRITE MAP_SHARED of an O_RDONLY fd, an O_APPEND fd,
 * offsets past the end, unaligned and negative offsets, a huge length. One line per check:
 * the same lines natively and in the sandbox. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "checks.h"

#define PG 4096

static sigjmp_buf jb;
static volatile int sig;

static void on_sig(int s) {
    sig = s;
    siglongjmp(jb, 1);
}

/* What touching `p` gives: "ok", "SIGBUS" or "SIGSEGV"; a store when `store`. */
static const char *touch(volatile char *p, int store) {
    sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        if (store)
            *p = 'z';
        else
            (void)*p;
        return "ok";
    }
    return sig == SIGBUS ? "SIGBUS" : sig == SIGSEGV ? "SIGSEGV" : "other";
}

static const char *mres(void *p) {
    return p == MAP_FAILED ? en(-1) : "ok";
}

/* Creates `path` afresh with one page for each character of `pages`, filled with it. */
static int new_file(const char *path, const char *pages) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[PG];
    for (const char *c = pages; fd >= 0 && *c; c++) {
        memset(page, *c, PG);
        write(fd, page, PG);
    }
    return fd;
}

/* A private mapping's copies of pages (written) wholly past a new end of its file go
 * with the truncation: a touch gets SIGBUS, and the file grown again shows its own
 * zeroes there; the copy of the page holding the end stays. */
static void private_copies(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/shmfile-cow.%d", dir, getpid());
    int fd = new_file(path, "ff");
    char *pv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("map private two pages: %s\n", mres(pv));
    if (pv != MAP_FAILED) {
        pv[0] = 'x';
        pv[PG] = 'y';
        printf("truncate below the second copy: %s\n", en(ftruncate(fd, PG - 10)));
        printf("copy holding the end: %s value %c\n", touch(pv, 0), pv[0]);
        printf("copy past the end: %s\n", touch(pv + PG, 0));
        printf("ftruncate up: %s\n", en(ftruncate(fd, 2 * PG)));
        printf("page past the old end: %s value %d\n", touch(pv + PG, 0), pv[PG]);
        munmap(pv, 2 * PG);
    }
    close(fd);
    unlink(path);
}

static void run(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/shmfile.%d", dir, getpid());
    int fd = new_file(path, "aa");
    if (fd < 0) {
        printf("open %s: %s\n", dir, strerror(errno));
        return;
    }
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("map shared: %s\n", mres(m));
    char *pv = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("map private: %s\n", mres(pv));

    /* A store through the mapping is read() at once; write() is seen by the mappings. */
    memcpy(m + 10, "mapped", 6);
    char buf[16] = {0};
    pread(fd, buf, 6, 10);
    printf("read sees store: %s\n", buf);
    pwrite(fd, "written", 7, 100);
    printf("mapping sees write: %.7s private sees write: %.7s\n", m + 100, pv + 100);
    pv[100] = 'P';
    pwrite(fd, "again", 5, 100);
    printf("after its own store private keeps: %.5s shared: %.5s\n", pv + 100, m + 100);

    /* A child shares the page: its stores reach the parent's mapping and the file. */
    pid_t c = fork();
    if (c == 0) {
        printf("child sees: %.6s\n", m + 10);
        memcpy(m + 200, "from child", 10);
        msync(m, 2 * PG, MS_SYNC);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    fflush(stdout);
    printf("parent sees child's store: %.10s\n", m + 200);
    memset(buf, 0, sizeof buf);
    pread(fd, buf, 10, 200);
    printf("file has child's store: %s\n", buf);

    /* msync, then a fresh descriptor reads what the mapping wrote. */
    memcpy(m + PG + 1, "second page", 11);
    printf("msync: %s\n", en(msync(m, 2 * PG, MS_SYNC)));
    int fd2 = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    pread(fd2, buf, 11, PG + 1);
    printf("fresh fd reads: %s\n", buf);

    /* ftruncate down to the middle of the first page. */
    printf("ftruncate down: %s\n", en(ftruncate(fd, 1000)));
    printf("touch page past end: %s\n", touch(m + PG + 5, 0));
    printf("store page past end: %s\n", touch(m + PG + 5, 1));
    printf("touch tail of last page: %s value %d\n", touch(m + 2000, 0), m[2000]);
    printf("store tail of last page: %s\n", touch(m + 2000, 1));
    printf("private past end: %s\n", touch(pv + 3000, 0));
    int p[2];
    pipe(p);
    printf("write from past end: %s\n", en(write(p[1], m + PG, 16)));
    /* ftruncate up: the pages come back, zeroed, and the tail store is not in the file. */
    printf("ftruncate up: %s\n", en(ftruncate(fd, 2 * PG)));
    printf("touch page again: %s value %d\n", touch(m + PG + 5, 0), m[PG + 5]);
    memset(buf, 1, sizeof buf);
    pread(fd, buf, 1, 2000);
    printf("file at 2000: %d\n", buf[0]);
    printf("stat size: %ld\n", (long)lseek(fd2, 0, SEEK_END));

    /* Append-only descriptors map too; writes through a mapping of one land in place. */
    int fa = open(path, O_RDWR | O_APPEND);
    char *ma = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fa, 0);
    printf("map O_APPEND: %s\n", mres(ma));
    if (ma != MAP_FAILED) {
        memcpy(ma, "head", 4);
        msync(ma, PG, MS_SYNC);
        munmap(ma, PG);
    }
    memset(buf, 0, sizeof buf);
    pread(fd2, buf, 4, 0);
    printf("file head: %s size %ld\n", buf, (long)lseek(fd2, 0, SEEK_END));

    /* Hostile. */
    int wo = open(path, O_WRONLY);
    printf("O_WRONLY shared read: %s\n", mres(mmap(NULL, PG, PROT_READ, MAP_SHARED, wo, 0)));
    int ro = open(path, O_RDONLY);
    printf("O_RDONLY shared write: %s\n",
           mres(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0)));
    printf("O_RDONLY private write: %s\n",
           mres(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0)));
    printf("unaligned offset: %s\n", mres(mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 100)));
    printf("negative offset: %s\n", mres(mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, -PG)));
    printf("offset at off_t max: %s\n",
           mres(mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, INT64_MAX & ~(PG - 1))));
    printf("huge length: %s\n",
           mres(mmap(NULL, (size_t)-PG, PROT_READ, MAP_SHARED, fd, 0)));
    char *far = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 100 * PG);
    printf("map far past end: %s\n", mres(far));
    if (far != MAP_FAILED)
        printf("touch far past end: %s\n", touch(far, 1));
    printf("size unchanged: %ld\n", (long)lseek(fd2, 0, SEEK_END));

    munmap(m, 2 * PG);
    munmap(pv, PG);
    close(fd);
    close(fd2);
    close(fa);
    close(wo);
    close(ro);
    close(p[0]);
    close(p[1]);
    unlink(path);
    private_copies(dir);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {0};
    sa.sa_handler = on_sig;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    for (int i = 1; i < argc; i++) {
        printf("== %s\n", i == 1 ? "first" : "second");
        run(argv[i]);
    }
    return 0;
}
