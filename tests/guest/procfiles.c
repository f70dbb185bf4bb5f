// procfs files and directories of a process opened while it lived and read after it is a
// zombie and after it is reaped, a walk from a gone process's directory, writes to a
// generated file as root, another user's access to a process's private files, the key
// quota tunables, the namespace links; statx's mount ids; a symlink's access time; open(2) of directories with
// O_CREAT and O_DIRECT; pread/pwrite whose end passes the largest offset; a memfd grown
// to it; /dev/shm; the sandbox's open-file limit: compared line by line with the host.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <linux/stat.h>
#include <unistd.h>

#include "checks.h"

static const char *files[] = {"cmdline", "comm", "io", "maps", "stat", "status",
                              "uid_map", "gid_map", "oom_score_adj", "coredump_filter"};
#define NFILES (sizeof files / sizeof files[0])

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int p[2];
    if (pipe(p) != 0)
        return 1;
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        write(p[1], "x", 1);
        for (;;)
            pause();
    }
    close(p[1]);
    char c;
    read(p[0], &c, 1);
    char path[64];
    int fds[NFILES], zfds[NFILES];
    for (unsigned i = 0; i < NFILES; i++) {
        snprintf(path, sizeof path, "/proc/%d/%s", child, files[i]);
        fds[i] = open(path, O_RDONLY);
        zfds[i] = open(path, O_RDONLY);
    }
    snprintf(path, sizeof path, "/proc/%d/task", child);
    int task = open(path, O_RDONLY | O_DIRECTORY);
    snprintf(path, sizeof path, "/proc/%d", child);
    int dir = open(path, O_RDONLY | O_DIRECTORY);
    kill(child, SIGKILL);
    siginfo_t si;
    waitid(P_PID, child, &si, WEXITED | WNOWAIT);
    char buf[4096];
    for (unsigned i = 0; i < NFILES; i++) {
        long n = read(zfds[i], buf, 1);
        printf("zombie %s: %s %ld\n", files[i], en(n), n < 0 ? 0 : n);
    }
    long n = pread(zfds[5], buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    char *th = strstr(buf, "Threads:");
    if (th)
        *strchrnul(th, '\n') = 0;
    printf("zombie threads: %s\n", th ? th + 8 : "none");
    waitpid(child, NULL, 0);
    for (unsigned i = 0; i < NFILES; i++) {
        long r = read(fds[i], buf, 1);
        printf("exited %s: %s %ld\n", files[i], r < 0 ? strerrorname_np(errno) : "ok",
               r < 0 ? 0 : r);
    }
    outcome("getdents of the gone task dir", syscall(SYS_getdents64, task, buf, sizeof buf));
    outcome("readlinkat exe of the gone dir", readlinkat(dir, "exe", buf, sizeof buf));
    outcome("openat stat of the gone dir", openat(dir, "stat", O_RDONLY));

    // A generated file: root opens it for writing (its mode allows), writes fail.
    int w = open("/proc/cpuinfo", O_WRONLY);
    outcome("open cpuinfo for writing", w >= 0 ? 0 : -1);
    outcome("write cpuinfo", write(w, "x", 1));
    outcome("pwrite cpuinfo", pwrite(w, "x", 1, 123));
    close(w);

    // Directories with O_CREAT (EISDIR) and O_DIRECT (EINVAL).
    mkdir("/tmp/pf-dir", 0755);
    outcome("O_CREAT dir", open("/tmp/pf-dir", O_RDONLY | O_CREAT, 0666));
    outcome("O_CREAT dir/", open("/tmp/pf-dir/", O_RDONLY | O_CREAT, 0666));
    outcome("O_CREAT missing/", open("/tmp/pf-dir/none/", O_RDONLY | O_CREAT, 0666));
    outcome("O_CREAT dir/.", open("/tmp/pf-dir/.", O_RDONLY | O_CREAT, 0666));
    outcome("O_CREAT|O_EXCL dir", open("/tmp/pf-dir", O_RDONLY | O_CREAT | O_EXCL, 0666));
    outcome("O_DIRECT dir", open("/tmp/pf-dir", O_RDONLY | O_DIRECT));
    outcome("O_DIRECT|O_DIRECTORY dir",
            open("/tmp/pf-dir", O_RDONLY | O_DIRECT | O_DIRECTORY));
    rmdir("/tmp/pf-dir");

    // A memfd grown to the largest offset: reads there are EINVAL when they would pass it.
    int m = memfd_create("big", 0);
    outcome("ftruncate memfd to LLONG_MAX", ftruncate(m, LLONG_MAX));
    struct stat st;
    fstat(m, &st);
    printf("size %lld\n", (long long)st.st_size);
    outcome("pread at LLONG_MAX", pread(m, buf, 10, LLONG_MAX));
    outcome("pread at LLONG_MAX - 10", pread(m, buf, 10, LLONG_MAX - 10));
    outcome("pread zeroes far in", pread(m, buf, 10, 1LL << 40));
    printf("zero: %d\n", buf[0] == 0 && buf[9] == 0);
    outcome("pwrite at LLONG_MAX", pwrite(m, buf, 10, LLONG_MAX));
    outcome("pwrite small", pwrite(m, "abc", 3, 4096));
    outcome("pread back", pread(m, buf, 3, 4096));
    printf("back: %.3s\n", buf);
    outcome("ftruncate memfd down", ftruncate(m, 4098));
    outcome("pread past", pread(m, buf, 3, 4096));
    outcome("pread bad fd", pread(999, buf, 10, LLONG_MAX));
    outcome("pread write-only", pread(open("/dev/null", O_WRONLY), buf, 10, LLONG_MAX));

    // /dev/shm takes files.
    int s = open("/dev/shm/pf-shm", O_RDWR | O_CREAT | O_EXCL, 0);
    outcome("create in /dev/shm", s >= 0 ? 0 : -1);
    outcome("ftruncate it", ftruncate(s, 100));
    unlink("/dev/shm/pf-shm");

    // Another user may not look into a root process's memory or open files.
    if (pipe(p) != 0)
        return 1;
    pid_t root_child = fork();
    if (root_child == 0) {
        close(p[1]);
        read(p[0], &c, 1);
        _exit(0);
    }
    close(p[0]);
    pid_t nobody = fork();
    if (nobody == 0) {
        if (syscall(SYS_setuid, 65534) != 0)
            _exit(1);
        snprintf(path, sizeof path, "/proc/%d", root_child);
        int d = open(path, O_RDONLY);
        const char *priv[] = {"auxv", "environ", "maps", "smaps", "fd", "fd/0", "fdinfo",
                              "stat", "status", "cmdline", "task", 0};
        for (int i = 0; priv[i]; i++) {
            int r = openat(d, priv[i], O_RDONLY);
            printf("nobody opens %s: %s\n", priv[i], r >= 0 ? "ok" : strerrorname_np(errno));
        }
        _exit(0);
    }
    waitpid(nobody, NULL, 0);
    write(p[1], "x", 1);
    waitpid(root_child, NULL, 0);
    int sm = open("/proc/self/smaps", O_RDONLY);
    n = read(sm, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("smaps has Size and Rss: %d\n", strstr(buf, "\nSize:") && strstr(buf, "\nRss:"));

    // The key quotas (only read and refused here: a write natively would change the
    // host's): a positive number, mode 0644, bad values EINVAL from the start.
    int k = open("/proc/sys/kernel/keys/maxkeys", O_RDWR);
    n = read(k, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("maxkeys positive: %d\n", atoi(buf) > 0 && buf[n - 1] == '\n');
    outcome("pwrite -1", pwrite(k, "-1", 2, 0));
    outcome("pwrite 0", pwrite(k, "0\n", 2, 0));
    outcome("pwrite x", pwrite(k, "x", 1, 0));
    outcome("pwrite 2^31", pwrite(k, "2147483648", 10, 0));
    struct stat kst;
    stat("/proc/sys/kernel/keys/maxkeys", &kst);
    printf("maxkeys mode %o\n", kst.st_mode & 07777);
    close(k);
    k = open("/proc/sys/kernel/keys/maxkeys", O_WRONLY);
    outcome("read from a write-only description", read(k, buf, 1));
    close(k);

    // Namespace links lead somewhere.
    outcome("access ns/pid", access("/proc/self/ns/pid", F_OK));
    outcome("stat ns/net", stat("/proc/self/ns/net", &kst));
    n = readlink("/proc/self/ns/pid", buf, sizeof buf);
    printf("pid link starts pid:[ %d\n", n > 5 && !strncmp(buf, "pid:[", 5));

    // statx's mount id: the same for two files of a mount, the one mountinfo gives it.
    struct statx sx1, sx2, sx3;
    int tf = open("/tmp/pf-a", O_CREAT | O_RDWR, 0600);
    close(open("/tmp/pf-b", O_CREAT | O_RDWR, 0600));
    statx(AT_FDCWD, "/tmp/pf-a", 0, STATX_MNT_ID, &sx1);
    statx(AT_FDCWD, "/tmp/pf-b", 0, STATX_MNT_ID, &sx2);
    statx(tf, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx3);
    printf("mnt id given: %d\n", !!(sx1.stx_mask & STATX_MNT_ID) && sx1.stx_mnt_id != 0);
    printf("same mount same id: %d\n",
           sx1.stx_mnt_id == sx2.stx_mnt_id && sx1.stx_mnt_id == sx3.stx_mnt_id);
    statx(AT_FDCWD, "/proc/self/stat", 0, STATX_MNT_ID, &sx2);
    printf("proc has another: %d\n", sx1.stx_mnt_id != sx2.stx_mnt_id);
    // The mount of each: the line of mountinfo whose mount point is the longest that
    // holds the file.
    FILE *mi = fopen("/proc/self/mountinfo", "r");
    char line[1024];
    unsigned long long tmp_id = 0, proc_id = 0;
    size_t tmp_len = 0, proc_len = 0;
    while (fgets(line, sizeof line, mi)) {
        unsigned long long id;
        char at[512];
        if (sscanf(line, "%llu %*u %*s %*s %511s", &id, at) != 2)
            continue;
        size_t l = strlen(at);
        int root = !strcmp(at, "/");
        if ((root || (!strncmp("/tmp/pf-a", at, l) && "/tmp/pf-a"[l] == '/')) && l >= tmp_len) {
            tmp_id = id;
            tmp_len = l;
        }
        if ((root || (!strncmp("/proc/self", at, l) && "/proc/self"[l] == '/')) &&
            l >= proc_len) {
            proc_id = id;
            proc_len = l;
        }
    }
    printf("mountinfo ids match: tmp %d proc %d\n", tmp_id == sx1.stx_mnt_id,
           proc_id == sx2.stx_mnt_id);
    unlink("/tmp/pf-a");
    unlink("/tmp/pf-b");

    // Following a symlink reads it (its access time moves); lstat does not.
    close(open("/tmp/pf-target", O_CREAT | O_RDWR, 0644));
    symlink("/tmp/pf-target", "/tmp/pf-link");
    struct stat l1, l2;
    lstat("/tmp/pf-link", &l1);
    sleep(1);
    lstat("/tmp/pf-link", &l2);
    printf("lstat leaves atime: %d\n", l1.st_atime == l2.st_atime);
    close(open("/tmp/pf-link", O_RDWR));
    lstat("/tmp/pf-link", &l2);
    printf("follow moves atime: %d\n", l1.st_atime < l2.st_atime);
    unlink("/tmp/pf-link");
    unlink("/tmp/pf-target");

    // The open-file limit is the one the program was started with.
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("nofile %llu %llu\n", (unsigned long long)rl.rlim_cur,
           (unsigned long long)rl.rlim_max);
    int hi = fcntl(0, F_DUPFD, rl.rlim_cur > 1100 ? 1024 : 0);
    printf("dup above 1024 when allowed: %d\n", rl.rlim_cur > 1100 ? hi >= 1024 : 1);
    DIR *d = opendir("/proc/self/fd");
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        seen += atoi(e->d_name) == hi;
    printf("listed once: %d\n", seen);
    return 0;
}
