// User and mount namespaces: unshare and clone with CLONE_NEWUSER, the id maps and their
// rules, overflow ids, capabilities that do not reach files of unmapped owners, and in a
// user + mount namespace of its own a tmpfs mount with its flags, remount, umount2 and
// bad requests: compared line by line with the host. Every mount is made inside a new
// mount namespace, so natively nothing of the host's changes. Argument: a directory to
// make and remove again.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"

static char dir[256];
static char victim[300];

/* Writes s to path in one write; the outcome. */
static const char *put(const char *path, const char *s) {
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return en(-1);
    long r = write(fd, s, strlen(s));
    int e = errno;
    close(fd);
    errno = e;
    return en(r);
}

static void show(const char *what, const char *path) {
    char buf[512] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: %s\n", what, en(-1));
        return;
    }
    read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("%s: [%s]\n", what, buf);
}

/* A child that tries the id maps of a fresh user namespace on itself. */
static int maps_child(void) {
    if (unshare(CLONE_NEWUSER))
        return 10;
    printf("unmapped: uid=%d gid=%d euid=%d\n", getuid(), getgid(), geteuid());
    struct stat st;
    stat("/", &st);
    printf("unmapped: / owned by %d:%d\n", st.st_uid, st.st_gid);
    show("uid_map", "/proc/self/uid_map");
    show("setgroups", "/proc/self/setgroups");
    printf("setuid(0) unmapped: %s\n", en(setuid(0)));
    printf("bad map: %s\n", put("/proc/self/uid_map", "0 0 0\n"));
    printf("overlapping map: %s\n", put("/proc/self/uid_map", "0 0 2\n1 5 1\n"));
    printf("garbage map: %s\n", put("/proc/self/uid_map", "0 x 1\n"));
    printf("own uid: %s\n", put("/proc/self/uid_map", "0 0 1\n"));
    printf("second write: %s\n", put("/proc/self/uid_map", "0 0 1\n"));
    printf("gid before deny: %s\n", put("/proc/self/gid_map", "0 0 1\n"));
    printf("setgroups junk: %s\n", put("/proc/self/setgroups", "maybe"));
    printf("deny: %s\n", put("/proc/self/setgroups", "deny"));
    printf("allow again: %s\n", put("/proc/self/setgroups", "allow"));
    printf("own gid: %s\n", put("/proc/self/gid_map", "0 0 1\n"));
    show("uid_map", "/proc/self/uid_map");
    show("gid_map", "/proc/self/gid_map");
    show("setgroups", "/proc/self/setgroups");
    printf("mapped: uid=%d gid=%d\n", getuid(), getgid());
    gid_t g = 0;
    printf("setgroups denied: %s\n", en(setgroups(1, &g)));
    printf("setuid(0): %s setuid(1): %s\n", en(setuid(0)), en(setuid(1)));
    return 0;
}

/* Capabilities of a new user namespace do not reach a file whose owner it does not map. */
static int caps_child(const char *file) {
    if (unshare(CLONE_NEWUSER))
        return 10;
    printf("truncate 0444 root file in a new userns: %s\n", en(truncate(file, 0)));
    printf("chown it to unmapped 0: %s\n", en(chown(file, 0, 0)));
    return 0;
}

static void flags(const char *what, const char *path) {
    struct statfs s;
    if (statfs(path, &s)) {
        printf("%s: %s\n", what, en(-1));
        return;
    }
    long f = s.f_flags;
    printf("%s: tmpfs=%d ro=%d nosuid=%d nodev=%d noexec=%d noatime=%d\n", what,
           s.f_type == 0x01021994, !!(f & ST_RDONLY), !!(f & ST_NOSUID), !!(f & ST_NODEV),
           !!(f & ST_NOEXEC), !!(f & ST_NOATIME));
}

/* Whether the mount table of this task shows a mount at path. */
static int listed(const char *path) {
    char buf[8192] = {0}, want[300];
    int fd = open("/proc/self/mounts", O_RDONLY), n = 0, r;
    while (fd >= 0 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += r;
    close(fd);
    snprintf(want, sizeof want, " %s ", path);
    return strstr(buf, want) != NULL;
}

/* In a user and mount namespace of its own: a tmpfs with flags, a remount, umount2. */
static int mount_child(void) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS))
        return 10;
    // Mapped, so that the new tmpfs takes files of this owner.
    if (strcmp(put("/proc/self/setgroups", "deny"), "ok") || strcmp(put("/proc/self/uid_map", "0 0 1"), "ok") ||
        strcmp(put("/proc/self/gid_map", "0 0 1"), "ok"))
        return 11;
    char m[300], f[320], sub[320];
    snprintf(m, sizeof m, "%s/mnt", dir);
    snprintf(f, sizeof f, "%s/mnt/file", dir);
    snprintf(sub, sizeof sub, "%s/mnt/sub", dir);
    printf("propagation private: %s\n", en(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)));
    printf("two propagation types: %s\n", en(mount(NULL, "/", NULL, MS_PRIVATE | MS_SHARED, NULL)));
    printf("unknown type: %s\n", en(mount("none", m, "no-such-fs", 0, NULL)));
    printf("bad option: %s\n", en(mount("none", m, "tmpfs", 0, "bogus=1")));
    printf("on a missing dir: %s\n", en(mount("none", "/no/such/dir", "tmpfs", 0, NULL)));
    printf("on a file: %s\n", en(mount("none", victim, "tmpfs", 0, NULL)));
    printf("remount of a non-mount: %s\n", en(mount(NULL, m, NULL, MS_REMOUNT, NULL)));
    printf("umount of a non-mount: %s\n", en(umount2(m, 0)));
    printf("umount bad flags: %s\n", en(umount2(m, 0x100)));
    printf("mount: %s\n", en(mount("none", m, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=0710")));
    printf("listed: %d\n", listed(m));
    struct stat st;
    stat(m, &st);
    printf("root: mode=%o uid=%d\n", st.st_mode & 07777, st.st_uid);
    flags("flags", m);
    int fd = open(f, O_CREAT | O_WRONLY, 0755);
    printf("create: %s write: %s\n", en(fd), en(write(fd, "hi", 2)));
    close(fd);
    printf("exec on noexec: %s\n", en(execl(f, f, NULL)));
    printf("mkdir sub: %s\n", en(mkdir(sub, 0755)));
    printf("stacked: %s\n", en(mount("none", sub, "tmpfs", MS_RDONLY | MS_NOATIME, NULL)));
    flags("sub flags", sub);
    char g[340];
    snprintf(g, sizeof g, "%s/x", sub);
    printf("create in ro sub: %s\n", en(open(g, O_CREAT | O_WRONLY, 0644)));
    printf("remount sub rw: %s\n", en(mount(NULL, sub, NULL, MS_REMOUNT, NULL)));
    flags("sub flags", sub);
    printf("create in sub now: %s\n", en(fd = open(g, O_CREAT | O_WRONLY, 0644)));
    close(fd);
    printf("umount with a mount below: %s\n", en(umount2(m, 0)));
    printf("umount sub: %s\n", en(umount2(sub, 0)));
    printf("sub file after umount: %s\n", en(access(g, F_OK)));
    printf("rmdir mount point: %s\n", en(rmdir(m)));
    fd = open(f, O_RDONLY);
    printf("umount busy: %s\n", en(umount2(m, 0)));
    printf("umount detach: %s\n", en(umount2(m, MNT_DETACH)));
    char b[4] = {0};
    printf("read after detach: %s [%s]\n", en(read(fd, b, 3)), b);
    close(fd);
    printf("listed: %d file: %s\n", listed(m), en(access(f, F_OK)));
    return 0;
}

static void run(const char *what, int (*fn)(void)) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0)
        _exit(fn());
    int status;
    waitpid(c, &status, 0);
    printf("%s: exit %d\n", what, WEXITSTATUS(status));
}

static int caps_fn(void) { return caps_child(victim); }

/* clone(CLONE_NEWUSER | other namespaces): the user namespace first. */
static int clone_fn(void *arg) {
    (void)arg;
    return getuid() == 65534 && sethostname("inner", 5) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return 2;
    snprintf(dir, sizeof dir, "%s", argv[1]);
    mkdir(dir, 0755);
    char m[300];
    snprintf(m, sizeof m, "%s/mnt", dir);
    mkdir(m, 0755);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    int fd = open(victim, O_CREAT | O_WRONLY, 0444);
    write(fd, "data", 4);
    close(fd);

    run("maps", maps_child);
    run("caps", caps_fn);
    run("mounts", mount_child);
    printf("parent sees no mount: %d\n", listed(m));

    static char stack[64 << 10];
    pid_t c = clone(clone_fn, stack + sizeof stack,
                    CLONE_NEWUSER | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNS | SIGCHLD, NULL);
    int status = 0;
    waitpid(c, &status, 0);
    printf("clone all namespaces: %s exit %d\n", en(c), WEXITSTATUS(status));
    printf("clone NEWUSER|CLONE_FS: %s\n", en(clone(clone_fn, stack + sizeof stack, CLONE_NEWUSER | CLONE_FS | SIGCHLD, NULL)));

    char a[64] = {0}, b[64] = {0};
    readlink("/proc/self/ns/user", a, sizeof a - 1);
    int p[2];
    pipe(p);
    if (fork() == 0) {
        unshare(CLONE_NEWUSER);
        readlink("/proc/self/ns/user", b, sizeof b - 1);
        write(p[1], b, sizeof b);
        _exit(0);
    }
    read(p[0], b, sizeof b);
    wait(NULL);
    printf("ns/user differs: %d\n", strcmp(a, b) != 0 && strncmp(b, "user:[", 6) == 0);
    unlink(victim);
    rmdir(m);
    rmdir(dir);
    return 0;
}
