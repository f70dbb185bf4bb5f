// /proc/PID/mem: a process reading and writing its own memory and a child's by address,
// the position moving as a file's, no end to seek from, EIO on unmapped memory, a read
// stopping where the memory does, end of file once the child is gone, and a description
// opened read-only refusing writes; and comm files: a thread's name written through
// /proc (cut at 15 bytes), refused (EINVAL) from another process: compared line by line
// with the host.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"

int main(int argc, char **argv) {
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    char secret[] = "hello-world";
    char out[sizeof secret] = {0};
    int fd = open("/proc/self/mem", O_RDWR);
    outcome("open self rw", fd >= 0);
    outcome("pread", pread(fd, out, sizeof out, (off_t)secret));
    printf("read back: %s\n", out);
    outcome("pwrite", pwrite(fd, "HELLO", 5, (off_t)secret));
    printf("secret now: %s\n", secret);
    outcome("lseek to it", lseek(fd, (off_t)secret, SEEK_SET) == (off_t)secret);
    outcome("read 4", read(fd, out, 4));
    outcome("position moved by 4", lseek(fd, 0, SEEK_CUR) == (off_t)secret + 4);
    outcome("lseek SEEK_END", lseek(fd, 0, SEEK_END));

    long page = sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(two, 'x', 2 * page);
    munmap(two + page, page);
    char big[8192];
    outcome("read across the end of a mapping", pread(fd, big, sizeof big, (off_t)(two + page - 3)));
    outcome("read of unmapped memory", pread(fd, big, 1, (off_t)(two + page)));
    outcome("write of unmapped memory", pwrite(fd, "y", 1, (off_t)(two + page)));
    char *ro = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    outcome("read of read-only memory", pread(fd, big, 8, (off_t)ro));
    /* Forced, as a debugger's breakpoint into text: private memory of any protection. */
    outcome("write of read-only memory", pwrite(fd, "w", 1, (off_t)ro));
    printf("read-only memory now: %c\n", ro[0]);
    char *none = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    outcome("write of PROT_NONE memory", pwrite(fd, "n", 1, (off_t)none));
    outcome("read of PROT_NONE memory", pread(fd, big, 8, (off_t)none));
    printf("PROT_NONE memory read: %c\n", big[0]);
    char *shro = mmap(NULL, page, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    outcome("write of shared read-only memory", pwrite(fd, "s", 1, (off_t)shro));
    outcome("read of shared read-only memory", pread(fd, big, 8, (off_t)shro));
    /* Into a private read-only mapping of a file (this program): the file and another
     * mapping of it keep their bytes. */
    int self = open(argv[0], O_RDONLY);
    char *text = mmap(NULL, page, PROT_READ, MAP_PRIVATE, self, 0);
    outcome("write of a file's private mapping", pwrite(fd, "Q", 1, (off_t)text + 1));
    char *again = mmap(NULL, page, PROT_READ, MAP_PRIVATE, self, 0);
    char first[4] = {0};
    pread(self, first, 3, 0);
    printf("mine %.3s, the file's %.3s, another mapping's %.3s\n", text + 1, first + 1, again + 1);

    int rd = open("/proc/self/mem", O_RDONLY);
    outcome("write through a read-only description", pwrite(rd, "z", 1, (off_t)secret));

    int up[2], down[2];
    pipe(up);
    pipe(down);
    pid_t child = fork();
    if (child == 0) {
        char mine[] = "child-data";
        char *p = mine;
        write(up[1], &p, sizeof p);
        char c;
        read(down[0], &c, 1);
        printf("child sees: %s\n", mine);
        _exit(0);
    }
    char *where;
    read(up[0], &where, sizeof where);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", child);
    int cfd = open(path, O_RDWR);
    outcome("open the child's", cfd >= 0);
    memset(out, 0, sizeof out);
    outcome("read the child's", pread(cfd, out, 10, (off_t)where));
    printf("child's data: %s\n", out);
    outcome("write the child's", pwrite(cfd, "CHILD", 5, (off_t)where));
    write(down[1], "g", 1);
    waitpid(child, NULL, 0);
    outcome("read after the child is gone", pread(cfd, out, 10, (off_t)where));

    char comm_path[64], name[32] = {0};
    snprintf(comm_path, sizeof comm_path, "/proc/%d/task/%d/comm", getpid(), gettid());
    int cm = open(comm_path, O_WRONLY | O_TRUNC);
    outcome("write comm", write(cm, "0123456789abcdefXYZ", 19));
    prctl(PR_GET_NAME, name);
    printf("name: %s\n", name);
    int cr = open(comm_path, O_RDONLY);
    memset(big, 0, 64);
    outcome("read comm", read(cr, big, 64));
    printf("comm file: %s", big);
    pid_t other = fork();
    if (other == 0) {
        int o = open(comm_path, O_WRONLY);
        printf("another process opens it: %d\n", o >= 0);
        outcome("another process writes it", write(o, "x", 1));
        _exit(0);
    }
    waitpid(other, NULL, 0);
    outcome("write through a read-only comm", write(cr, "y", 1));
    return 0;
}
