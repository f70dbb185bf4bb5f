/* Transfers that stop part way as Linux stops them: buffers that end in an unmapped page
 * (read, readv, write, pwritev, getdents), iovecs outside the address space, the old
 * getdents form beside getdents64, RLIMIT_FSIZE (a write cut at the limit, then EFBIG and
 * SIGXFSZ from the writer itself), ftruncate of a directory, and a read blocked on a pipe
 * that still gets its bytes after another thread closed its fd. One line per check. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include "checks.h"

static long page;

/* Two pages, the second unmapped: `room` bytes before the hole. */
static char *before_hole(size_t room) {
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p + page, page);
    return p + page - room;
}

static void partial_transfers(const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/data", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char big[3000];
    memset(big, 'x', sizeof big);
    printf("write 3000: %ld\n", (long)write(fd, big, sizeof big));

    char *b = before_hole(100);
    printf("pread into 100 of 1000: %ld\n", (long)pread(fd, b, 1000, 0));
    char *none = before_hole(0);
    long r = pread(fd, none, 1000, 0);
    printf("pread into nothing: %ld %s\n", r, en(r));
    struct iovec rv[2] = {{big, 10}, {b, 1000}};
    printf("preadv 10 + 100 of 1000: %ld\n", (long)preadv(fd, rv, 2, 0));

    memset(b, 'y', 100);
    printf("pwrite from 100 of 1000: %ld\n", (long)pwrite(fd, b, 1000, 0));
    struct iovec wv[3] = {{big, 7}, {NULL, 0}, {b, 1000}};
    printf("pwritev 7 + 0 + 100 of 1000: %ld\n", (long)pwritev(fd, wv, 3, 0));
    struct iovec bad[2] = {{(void *)~(uintptr_t)0, 0}, {big, 10}};
    r = preadv(fd, bad, 2, 0);
    printf("preadv with an empty iovec outside the address space: %s\n", en(r));
    close(fd);

    for (int i = 0; i < 40; i++) {
        snprintf(path, sizeof path, "%s/entry-with-a-longish-name-%02d", dir, i);
        close(open(path, O_CREAT | O_WRONLY, 0600));
    }
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    char *db = before_hole(256);
    long total = 0, got;
    while ((got = syscall(SYS_getdents64, d, db, 4096)) > 0) {
        if (got > 256)
            printf("getdents64 wrote past the hole: %ld\n", got);
        total++;
    }
    printf("getdents64 into 256 of 4096 ends: %s, more than one call: %d\n", en(got),
           total > 1);
    r = syscall(SYS_getdents64, d, db, (unsigned)INT32_MAX + 1);
    printf("getdents64 count past INT_MAX at the end: %s\n", en(r));
    lseek(d, 0, SEEK_SET);
    r = syscall(SYS_getdents64, d, before_hole(0), 4096);
    printf("getdents64 into nothing: %s\n", en(r));
    r = syscall(SYS_getdents64, d, db, (unsigned)INT32_MAX + 1);
    printf("getdents64 count past INT_MAX: %s\n", en(r));
    r = syscall(SYS_getdents, d, db, (unsigned)-1);
    printf("getdents count past INT_MAX: %s\n", en(r));
    r = syscall(SYS_getdents, d, db, 10);
    printf("getdents count too small for one entry: %s\n", en(r));

    /* The old form names the same entries with the same types as the new one. */
    char new_buf[8192], old_buf[8192];
    lseek(d, 0, SEEK_SET);
    long n64 = syscall(SYS_getdents64, d, new_buf, sizeof new_buf);
    lseek(d, 0, SEEK_SET);
    long nold = syscall(SYS_getdents, d, old_buf, sizeof old_buf);
    printf("both forms: same length %d\n", n64 == nold);
    int same = 1, count = 0;
    for (long a = 0, o = 0; a < n64 && o < nold; count++) {
        struct dirent64 *e = (struct dirent64 *)(new_buf + a);
        unsigned short oreclen = *(unsigned short *)(old_buf + o + 16);
        const char *oname = old_buf + o + 18;
        char otype = old_buf[o + oreclen - 1];
        if (strcmp(e->d_name, oname) || e->d_type != otype || e->d_reclen != oreclen ||
            e->d_ino != *(uint64_t *)(old_buf + o))
            same = 0;
        a += e->d_reclen;
        o += oreclen;
    }
    printf("both forms: same entries %d (%d of them)\n", same, count);
    close(d);
}

static void file_size_limit(const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/limited", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    sigset_t xfsz;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    sigprocmask(SIG_BLOCK, &xfsz, NULL);
    struct rlimit lim = {1024, RLIM_INFINITY};
    setrlimit(RLIMIT_FSIZE, &lim);
    char buf[2048];
    memset(buf, 'a', sizeof buf);
    printf("write 1025 under a 1024 limit: %ld\n", (long)write(fd, buf, 1025));
    long r = write(fd, buf, 1);
    printf("write at the limit: %s\n", r < 0 && errno == EFBIG ? "EFBIG" : en(r));
    siginfo_t si;
    struct timespec zero = {0, 0};
    int sig = sigtimedwait(&xfsz, &si, &zero);
    printf("signal %d from itself %d code %d\n", sig, si.si_pid == getpid(), si.si_code);
    printf("pwrite 2000 at 1000: %ld\n", (long)pwrite(fd, buf, 2000, 1000));
    printf("write of nothing at the limit: %ld\n", (long)write(fd, buf, 0));
    r = ftruncate(fd, 1025);
    printf("ftruncate past the limit: %s\n", r < 0 && errno == EFBIG ? "EFBIG" : en(r));
    printf("ftruncate to the limit: %s\n", en(ftruncate(fd, 1024)));
    sig = sigtimedwait(&xfsz, &si, &zero);
    printf("signal %d\n", sig);
    int p[2];
    pipe(p);
    printf("a pipe has no size limit: %ld\n", (long)write(p[1], buf, 2000));
    lim.rlim_cur = RLIM_INFINITY;
    setrlimit(RLIMIT_FSIZE, &lim);
    close(fd);
    close(p[0]);
    close(p[1]);

    int d = open(dir, O_RDONLY | O_DIRECTORY);
    printf("ftruncate of a directory: %s\n", en(ftruncate(d, 0)));
    close(d);
}

static int pipe_r, pipe_w;

static void *blocked_reader(void *arg) {
    (void)arg;
    int v = 0;
    long r = read(pipe_r, &v, sizeof v);
    printf("blocked read after its fd was closed: %ld value %d\n", r, v);
    return NULL;
}

static void read_outlives_its_fd(void) {
    int p[2];
    pipe(p);
    pipe_r = p[0];
    pipe_w = p[1];
    pthread_t t;
    pthread_create(&t, NULL, blocked_reader, NULL);
    struct timespec ms200 = {0, 200 * 1000 * 1000};
    nanosleep(&ms200, NULL);
    close(pipe_r);
    int v = 42;
    long r = write(pipe_w, &v, sizeof v);
    pthread_join(t, NULL);
    printf("write to the pipe whose reader is blocked: %ld\n", r);
    r = write(pipe_w, &v, sizeof v);
    printf("write once the reader is gone: %s\n", r < 0 && errno == EPIPE ? "EPIPE" : en(r));
}

int main(int argc, char **argv) {
    (void)show_fd;
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    page = sysconf(_SC_PAGESIZE);
    char dir[] = "/tmp/partial_io.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    (void)argc;
    (void)argv;
    partial_transfers(dir);
    file_size_limit(dir);
    read_outlives_its_fd();
    /* Leave nothing behind: the entries, then the directory. */
    DIR *dd = opendir(dir);
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(dd);
    rmdir(dir);
    return 0;
}
