/* RLIMIT_AS and RLIMIT_DATA: mmap, mremap and brk past the limit fail with ENOMEM (a
 * MAP_FIXED mapping over existing pages counts only what it adds), within it succeed.
 * Prints one line per check; the test compares them with the same program run natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "checks.h"

static long vm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static const char *mm(void *p) { return en(p == MAP_FAILED ? -1 : 0); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const size_t MB = 1 << 20;
    /* Room for 64 MiB more than what is mapped now. */
    struct rlimit r = {(vm_kb() << 10) + 64 * MB, RLIM_INFINITY};
    printf("setrlimit: %s\n", en(setrlimit(RLIMIT_AS, &r)));
    void *big = mmap(NULL, 128 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("128 MiB: %s\n", mm(big));
    void *a = mmap(NULL, 32 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("32 MiB: %s\n", mm(a));
    void *b = mmap(NULL, 40 * MB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("40 MiB more: %s\n", mm(b));
    void *f = mmap(a, 32 * MB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fixed over the 32: %s same=%d\n", mm(f), f == a);
    void *g = mremap(a, 32 * MB, 96 * MB, MREMAP_MAYMOVE);
    printf("mremap to 96 MiB: %s\n", mm(g));
    g = mremap(a, 32 * MB, 48 * MB, MREMAP_MAYMOVE);
    printf("mremap to 48 MiB: %s\n", mm(g));
    if (g != MAP_FAILED)
        munmap(g, 48 * MB);
    void *h = mmap(NULL, 60 * MB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("60 MiB after unmapping: %s\n", mm(h));
    munmap(h, 60 * MB);
    /* brk: RLIMIT_DATA. */
    struct rlimit d = {1 * MB, RLIM_INFINITY};
    printf("setrlimit data: %s\n", en(setrlimit(RLIMIT_DATA, &d)));
    void *top = sbrk(0);
    printf("sbrk 8 MiB: %s\n", mm(sbrk(8 * MB)));
    printf("brk unchanged: %d\n", sbrk(0) == top);
    printf("sbrk 4 KiB: %s\n", mm(sbrk(4096)));
    return 0;
}
