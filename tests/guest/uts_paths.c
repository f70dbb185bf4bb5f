// UTS namespaces, sysfs's CPU lists, and path calls' argument errors (empty paths,
// AT_EMPTY_PATH, dots, trailing slashes, times): compared line by line with the host.
// Natively the program changes names only after it has a UTS namespace of its own.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"
#include <utime.h>


static void names(const char *who) {
    struct utsname u;
    uname(&u);
    printf("%s: node=%s domain=%s\n", who, u.nodename, u.domainname);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    // sysfs: the CPUs glibc counts are the ones listed online.
    char buf[256] = {0};
    FILE *f = fopen("/sys/devices/system/cpu/online", "r");
    if (!f || !fgets(buf, sizeof buf, f)) {
        printf("no online list\n");
        return 1;
    }
    int first, last = -1;
    if (sscanf(buf, "%d-%d", &first, &last) < 2)
        last = first;
    printf("online list matches get_nprocs: %d\n", last - first + 1 == get_nprocs_conf());
    struct stat st;
    outcome("stat /sys/devices/system/cpu/cpu0 is a dir",
         stat("/sys/devices/system/cpu/cpu0", &st) == 0 && S_ISDIR(st.st_mode));
    outcome("lseek SEEK_END of a proc file", lseek(open("/proc/self/stat", O_RDONLY), 0, SEEK_END));

    // A thread of its own UTS namespace: its names do not leak to the parent.
    char before[65];
    gethostname(before, sizeof before);
    pid_t child = fork();
    if (child == 0) {
        if (unshare(CLONE_NEWUTS) != 0) {
            printf("unshare: %s\n", strerrorname_np(errno));
            _exit(1);
        }
        outcome("sethostname 3 of 10", sethostname("0123456789", 3));
        names("child");
        outcome("sethostname with a NUL", sethostname("abcdef\0xyz", 10));
        outcome("setdomainname", setdomainname("dom.example", 11));
        char long_name[66];
        memset(long_name, 'n', sizeof long_name);
        outcome("sethostname 65", sethostname(long_name, 65));
        names("child");
        f = fopen("/proc/sys/kernel/domainname", "r");
        if (f && fgets(buf, sizeof buf, f))
            printf("proc domainname: %s", buf);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            names("grandchild");
            _exit(0);
        }
        waitpid(grandchild, NULL, 0);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    char after[65];
    gethostname(after, sizeof after);
    printf("child ok: %d, parent's name unchanged: %d\n",
           WIFEXITED(status) && WEXITSTATUS(status) == 0, strcmp(before, after) == 0);
    outcome("unshare of an unknown flag", unshare(0x40));
    outcome("unshare CLONE_FILES", unshare(CLONE_FILES));
    outcome("unshare CLONE_FS", unshare(CLONE_FS));

    // Path calls' argument checks.
    char dir[] = "/tmp/uts_paths.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char file[256], name[300];
    snprintf(file, sizeof file, "%s/file", dir);
    int fd = open(file, O_CREAT | O_RDWR, 0644);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    snprintf(name, sizeof name, "%s/.", file);
    outcome("unlink file/.", unlink(name));
    snprintf(name, sizeof name, "%s/..", file);
    outcome("unlink file/..", unlink(name));
    outcome("unlinkat fd empty", unlinkat(fd, "", 0));
    outcome("linkat bad flags", linkat(fd, "x", dfd, "y", 3));
    snprintf(name, sizeof name, "%s/new/", dir);
    outcome("link to a trailing slash", link(file, name));
    outcome("linkat AT_EMPTY_PATH", linkat(fd, "", dfd, "again", AT_EMPTY_PATH));
    outcome("stat again", fstatat(dfd, "again", &st, 0) == 0 && st.st_nlink == 2);
    outcome("link to /sys", link(file, "/sys/newfile"));
    struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    outcome("utimensat both omitted, missing path", utimensat(AT_FDCWD, "/nonexistent/x", omit, 0));
    struct timespec times[2] = {{10, 0}, {20, 0}};
    outcome("utimensat AT_EMPTY_PATH", utimensat(fd, "", times, AT_EMPTY_PATH));
    fstat(fd, &st);
    printf("times: %ld %ld\n", (long)st.st_atime, (long)st.st_mtime);
    outcome("utimensat bad nsec", utimensat(fd, "", (struct timespec[2]){{1, 2000000000}, {1, 0}}, AT_EMPTY_PATH));
    outcome("utimensat bad flags", utimensat(dfd, "file", times, 0x8000));
    outcome("futimesat AT_FDCWD NULL", syscall(SYS_futimesat, AT_FDCWD, NULL, NULL));
    struct timeval tv[2] = {{30, 0}, {40, 5}};
    outcome("utimes", utimes(file, tv));
    fstat(fd, &st);
    printf("times: %ld %ld %ld\n", (long)st.st_atime, (long)st.st_mtime, st.st_mtim.tv_nsec);
    struct timeval badtv[2] = {{30, 1000000}, {40, 0}};
    outcome("utimes bad usec", utimes(file, badtv));
    struct utimbuf ub = {50, 60};
    outcome("utime", utime(file, &ub));
    fstat(fd, &st);
    printf("times: %ld %ld\n", (long)st.st_atime, (long)st.st_mtime);
    outcome("futimesat fd NULL path", syscall(SYS_futimesat, fd, NULL, tv));
    outcome("rename to itself", rename(file, file));
    snprintf(name, sizeof name, "%s/.", dir);
    outcome("renameat2 NOREPLACE onto a dot", renameat2(AT_FDCWD, file, AT_FDCWD, name, RENAME_NOREPLACE));
    outcome("rename onto a dot", rename(file, name));
    unlinkat(dfd, "again", 0);
    unlink(file);
    rmdir(dir);
    return 0;
}
