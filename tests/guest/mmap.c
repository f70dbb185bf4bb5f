// mmap, mprotect, mremap, munmap, MAP_SHARED across fork, file mappings.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    size_t sz = 1 << 20;
    char *a = mmap(0, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < sz; i += 4096) a[i] = (char)(i >> 12);
    char *b = mremap(a, sz, 4 * sz, MREMAP_MAYMOVE);
    int ok = 1;
    for (size_t i = 0; i < sz; i += 4096) ok &= b[i] == (char)(i >> 12);
    b[3 * sz] = 7;
    ok &= mprotect(b, 4096, PROT_READ) == 0;
    // Private copy-on-write across fork; shared memory across fork.
    int *shared = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    b[4096] = 1;
    pid_t p = fork();
    if (p == 0) { b[4096] = 2; *shared = 99; _exit(0); }
    waitpid(p, 0, 0);
    ok &= b[4096] == 1 && *shared == 99;
    ok &= munmap(b, 4 * sz) == 0;
    int fd = open("/proc/self/exe", O_RDONLY);
    char *f = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    ok &= f != MAP_FAILED && memcmp(f, "\177ELF", 4) == 0;
    printf("mmap ok=%d\n", ok);
    return !ok;
}
