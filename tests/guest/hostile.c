// Hostile guest probes: attempts to reach the host through the memory manager and to
// crash the sentry. Each prints what the sandbox answered; the tests check that from the
// host side too.
//
//   hostile mm [SECS [MARKER]]  moves, maps, unmaps and protects over the stub trampoline, page 0
//                      and above the guest range; prints each result; then sleeps SECS
//                      (so the host can look at the stub) and proves the sandbox still
//                      serves calls.
//   hostile pipes      fills the fd table with pipes until EMFILE, then goes on.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TRAMPOLINE 0x7e0000000000UL

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EPERM: return "EPERM";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case EMFILE: return "EMFILE";
    case EACCES: return "EACCES";
    default: return "other";
    }
}

static void report(const char *what, long r) {
    printf("%s=%s\n", what, r == -1 ? ename(errno) : (r == 0 ? "0" : "ok"));
}

static long remap_to(void *src, size_t len, unsigned long dest) {
    void *r = (void *)syscall(SYS_mremap, src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
    return r == MAP_FAILED ? -1 : 1;
}

static long map_at(unsigned long addr, int extra) {
    void *r = mmap((void *)addr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | extra, -1, 0);
    return r == MAP_FAILED ? -1 : 1;
}

static int mm(int secs, const char *marker) {
    // A page of our own code: `mkdir(path)` and a trap. If it ever ran in place of the
    // trampoline, a directory would appear on the host.
    unsigned char *p = mmap(0, 8192, PROT_READ | PROT_WRITE | PROT_EXEC,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    static const unsigned char code[] = {
        0x48, 0x8d, 0x3d, 0x0d, 0x00, 0x00, 0x00, // lea rdi, [rip+13]
        0xbe, 0xed, 0x01, 0x00, 0x00,             // mov esi, 0755
        0xb8, 0x53, 0x00, 0x00, 0x00,             // mov eax, SYS_mkdir
        0x0f, 0x05,                               // syscall
        0xcc,                                     // int3
    };
    memcpy(p, code, sizeof code);
    snprintf((char *)p + sizeof code, 256, "%s", marker);

    report("mremap_onto_trampoline", remap_to(p, 4096, TRAMPOLINE));
    report("mremap_onto_page0", remap_to(p, 4096, 0));
    report("mremap_below_bottom", remap_to(p, 4096, 0x1000));
    report("mremap_above_top", remap_to(p, 4096, 0x7f0000000000UL));
    report("mremap_to_kernel", remap_to(p, 4096, 0xffffffffff600000UL));
    report("mremap_overlapping", remap_to(p, 8192, (unsigned long)p + 4096));
    report("mremap_grow_into_trampoline",
           remap_to(p, 4096, TRAMPOLINE - 4096) == 1 &&
                   syscall(SYS_mremap, TRAMPOLINE - 4096, 4096, 8192, 0) != -1
               ? 1 : -1);
    report("mmap_fixed_trampoline", map_at(TRAMPOLINE, 0));
    report("mmap_fixed_page0", map_at(0, 0));
    report("mmap_fixed_above_top", map_at(0x7f0000000000UL, 0));
    report("mmap_noreplace_trampoline", map_at(TRAMPOLINE, MAP_FIXED_NOREPLACE));
    report("munmap_trampoline", munmap((void *)TRAMPOLINE, 4096));
    report("munmap_past_top", munmap((void *)(TRAMPOLINE - 4096), 8192));
    report("mprotect_trampoline", mprotect((void *)TRAMPOLINE, 4096, PROT_READ | PROT_WRITE));
    report("madvise_trampoline", madvise((void *)TRAMPOLINE, 4096, MADV_DONTNEED));
    // A huge length must not wrap around to a small one.
    report("mmap_huge_len", mmap(0, (size_t)-4096 + 1, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 1);
    report("munmap_huge_len", munmap(p, (size_t)-1));
    fflush(stdout);
    if (secs > 0) {
        printf("ready\n");
        fflush(stdout);
        sleep(secs);
    }
    // The sandbox still serves calls, including ones the sentry injects into the stub.
    void *q = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(q, 1, 1 << 20);
    printf("alive %d\n", q != MAP_FAILED && ((char *)q)[12345] == 1);
    return 0;
}

static int pipes(void) {
    struct rlimit rl = {64, 64};
    if (setrlimit(RLIMIT_NOFILE, &rl)) return 1;
    int fds[2], n = 0;
    while (pipe(fds) == 0) n++;
    int e = errno;
    printf("pipes=%d %s\n", n, ename(e));
    // One fd left: pipe2 must fail without leaving half a pipe behind.
    close(63);
    int r = pipe(fds);
    printf("one_left=%s\n", r == -1 ? ename(errno) : "ok");
    int fd = open("/dev/null", O_RDONLY);
    printf("open_after=%s\n", fd == 63 ? "63" : "bad");
    close(62);
    close(61);
    if (pipe(fds) == 0 && write(fds[1], "x", 1) == 1) {
        char c;
        printf("alive %d\n", read(fds[0], &c, 1) == 1 && c == 'x');
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "mm"))
        return mm(argc > 2 ? atoi(argv[2]) : 0, argc > 3 ? argv[3] : "/tmp/runsc-pwned");
    if (!strcmp(what, "pipes")) return pipes();
    return 2;
}
