/* Extended attributes on a tmpfs directory and a host directory (argv[1], argv[2]):
 * user.* set, get, list and remove through paths, symlinks and fds, the flags, the name
 * and value limits, sizes 0 and too small, symlinks and FIFOs (EPERM/ENODATA), O_PATH
 * and bad fds, bad pointers, inotify's IN_ATTRIB and the change time; then, as an
 * unprivileged user, read and write permission, a sticky directory, and trusted.* and
 * security.* refused. Prints one line per check, the same natively and in the sandbox
 * (lists sorted: file systems list in their own order). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include "checks.h"

/* An address nothing is mapped at (volatile: the compiler would warn of its size). */
static void *volatile bad_ptr = (void *)1;
#define BAD bad_ptr

/* Hidden from the compiler, which would warn of a size larger than any object. */
static volatile size_t huge = (size_t)-1;

static void show(const char *what, long r) { outcome(what, r); }

/* Prints a list of names (n bytes of NUL-terminated names), sorted. */
static void show_list(const char *what, const char *buf, long n) {
    if (n < 0) {
        outcome(what, n);
        return;
    }
    const char *names[64];
    int k = 0;
    for (long i = 0; i < n && k < 64; i += strlen(buf + i) + 1)
        names[k++] = buf + i;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            if (strcmp(names[j], names[i]) < 0) {
                const char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    printf("%s: %ld [", what, n);
    for (int i = 0; i < k; i++)
        printf("%s%s", i ? " " : "", names[i]);
    printf("]\n");
}

static void get(const char *what, const char *path, const char *name, size_t size) {
    char buf[256] = {0};
    long r = getxattr(path, name, size ? buf : NULL, size);
    if (r > 0 && size)
        printf("%s: %ld \"%.*s\"\n", what, r, (int)r, buf);
    else
        show(what, r);
}

static void ctime_of(const char *path, struct timespec *t) {
    struct stat st;
    stat(path, &st);
    *t = st.st_ctim;
}

static int events(int in) {
    char buf[4096];
    long n = read(in, buf, sizeof buf);
    int mask = 0;
    for (long i = 0; i < n;) {
        struct inotify_event *e = (struct inotify_event *)(buf + i);
        mask |= e->mask;
        i += sizeof *e + e->len;
    }
    return mask;
}

static void pause_tick(void) {
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
}

static void as_root(const char *label, const char *dir) {
    char f[512], d[512], l[512], p[512], sd[512];
    snprintf(f, sizeof f, "%s/f", dir);
    snprintf(d, sizeof d, "%s/d", dir);
    snprintf(l, sizeof l, "%s/l", dir);
    snprintf(p, sizeof p, "%s/p", dir);
    snprintf(sd, sizeof sd, "%s/sticky", dir);
    close(open(f, O_CREAT | O_WRONLY, 0644));
    mkdir(d, 0777);
    chmod(d, 0777);
    mkdir(sd, 0777);
    chmod(sd, 01777);
    symlink("f", l);
    mkfifo(p, 0666);
    printf("== %s\n", label);

    show("set user.a", setxattr(f, "user.a", "one", 3, 0));
    get("get user.a", f, "user.a", sizeof(char[256]));
    get("get size 0", f, "user.a", 0);
    get("get small", f, "user.a", 2);
    get("get missing", f, "user.zz", 10);
    show("create existing", setxattr(f, "user.a", "x", 1, XATTR_CREATE));
    show("replace missing", setxattr(f, "user.zz", "x", 1, XATTR_REPLACE));
    show("replace", setxattr(f, "user.a", "two", 3, XATTR_REPLACE));
    show("create", setxattr(f, "user.b", "", 0, XATTR_CREATE));
    show("flags 3", setxattr(f, "user.a", "x", 1, XATTR_CREATE | XATTR_REPLACE));
    show("flags 4", setxattr(f, "user.a", "x", 1, 4));
    show("flags -1", setxattr(f, "user.a", "x", 1, -1));
    get("get replaced", f, "user.a", 10);
    get("get empty value", f, "user.b", 10);

    char name[300];
    memset(name, 'n', sizeof name);
    memcpy(name, "user.", 5);
    name[255] = 0;
    show("name 255", setxattr(f, name, "x", 1, 0));
    show("remove name 255", removexattr(f, name));
    name[255] = 'n';
    name[256] = 0;
    show("name 256", setxattr(f, name, "x", 1, 0));
    get("get name 256", f, name, 10);
    show("remove name 256", removexattr(f, name));
    name[299] = 0;
    show("name 299", setxattr(f, name, "x", 1, 0));
    show("empty name", setxattr(f, "", "x", 1, 0));
    get("get empty name", f, "", 10);
    show("prefix only", setxattr(f, "user.", "x", 1, 0));
    show("unknown namespace", setxattr(f, "foo.a", "x", 1, 0));
    get("get unknown namespace", f, "foo.a", 10);
    show("remove unknown namespace", removexattr(f, "foo.a"));
    get("get system", f, "system.x", 10);
    get("get security (root)", f, "security.x", 10);
    get("get trusted (root)", f, "trusted.x", 10);

    static char big[65537];
    show("value 65537", setxattr(f, "user.big", big, sizeof big, 0));
    show("value huge", setxattr(f, "user.big", big, huge, 0));

    char list[256];
    show_list("list", list, listxattr(f, list, sizeof list));
    show("list size 0", listxattr(f, NULL, 0));
    show("list small", listxattr(f, list, 3));
    show_list("list huge size", list, listxattr(f, list, huge));
    get("get huge size", f, "user.a", huge);

    /* Symlinks and FIFOs keep no user.* attributes. */
    show("lset symlink", lsetxattr(l, "user.a", "x", 1, 0));
    char b2[16];
    show("lget symlink", lgetxattr(l, "user.a", b2, sizeof b2));
    show("lremove symlink", lremovexattr(l, "user.a"));
    show_list("llist symlink", list, llistxattr(l, list, sizeof list));
    show("get through symlink", getxattr(l, "user.a", b2, sizeof b2));
    show("lget file", lgetxattr(f, "user.a", b2, sizeof b2));
    show("set fifo", setxattr(p, "user.a", "x", 1, 0));
    show("get fifo", getxattr(p, "user.a", b2, sizeof b2));
    show_list("list fifo", list, listxattr(p, list, sizeof list));

    /* Directories. */
    show("set dir", setxattr(d, "user.d", "dir", 3, 0));
    get("get dir", d, "user.d", 10);
    show_list("list dir", list, listxattr(d, list, sizeof list));

    /* Through fds. */
    int fd = open(f, O_RDONLY);
    show("fset", fsetxattr(fd, "user.c", "fd", 2, 0));
    show("fget", fgetxattr(fd, "user.c", b2, sizeof b2));
    show_list("flist", list, flistxattr(fd, list, sizeof list));
    show("fremove", fremovexattr(fd, "user.c"));
    show("fremove again", fremovexattr(fd, "user.c"));
    int dfd = open(d, O_RDONLY | O_DIRECTORY);
    show("fget dir", fgetxattr(dfd, "user.d", b2, sizeof b2));
    close(dfd);
    int pfd = open(f, O_PATH);
    show("fset O_PATH", fsetxattr(pfd, "user.c", "x", 1, 0));
    show("fget O_PATH", fgetxattr(pfd, "user.a", b2, sizeof b2));
    show("flist O_PATH", flistxattr(pfd, list, sizeof list));
    show("fremove O_PATH", fremovexattr(pfd, "user.a"));
    close(pfd);
    show("fget bad fd", fgetxattr(999, "user.a", b2, sizeof b2));
    int pipefd[2];
    pipe(pipefd);
    show("fset pipe", fsetxattr(pipefd[0], "user.a", "x", 1, 0));
    show("fget pipe", fgetxattr(pipefd[0], "user.a", b2, sizeof b2));
    close(pipefd[0]);
    close(pipefd[1]);

    /* Bad pointers and paths. */
    show("set bad name", setxattr(f, BAD, "x", 1, 0));
    show("set bad value", setxattr(f, "user.a", BAD, 4, 0));
    show("set bad path", setxattr(BAD, "user.a", "x", 1, 0));
    show("get bad buffer", getxattr(f, "user.a", BAD, 10));
    show("list bad buffer", listxattr(f, BAD, 100));
    show("remove bad name", removexattr(f, BAD));
    show("fget bad buffer", fgetxattr(fd, "user.a", BAD, 10));
    char missing[512];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    show("set missing file", setxattr(missing, "user.a", "x", 1, 0));
    show("list missing file", listxattr(missing, list, sizeof list));

    /* inotify and the change time. */
    int in = inotify_init1(IN_NONBLOCK);
    inotify_add_watch(in, f, IN_ALL_EVENTS);
    struct timespec t0, t1;
    ctime_of(f, &t0);
    pause_tick();
    show("set watched", setxattr(f, "user.w", "w", 1, 0));
    ctime_of(f, &t1);
    printf("set: events %#x ctime changed %d\n", events(in),
           t0.tv_sec != t1.tv_sec || t0.tv_nsec != t1.tv_nsec);
    getxattr(f, "user.w", b2, sizeof b2);
    listxattr(f, list, sizeof list);
    printf("get and list: events %#x\n", events(in));
    show("set failing", setxattr(f, "user.w", "w", 1, XATTR_CREATE));
    printf("failed set: events %#x\n", events(in));
    pause_tick();
    show("fremove watched", fremovexattr(fd, "user.w"));
    ctime_of(f, &t0);
    printf("remove: events %#x ctime changed %d\n", events(in),
           t0.tv_sec != t1.tv_sec || t0.tv_nsec != t1.tv_nsec);
    close(in);
    close(fd);

    /* As an unprivileged user: permissions, the sticky directory, trusted and security. */
    char priv[512], open_f[512];
    snprintf(priv, sizeof priv, "%s/private", dir);
    snprintf(open_f, sizeof open_f, "%s/open", dir);
    close(open(priv, O_CREAT | O_WRONLY, 0600));
    chmod(priv, 0600);
    setxattr(priv, "user.p", "p", 1, 0);
    close(open(open_f, O_CREAT | O_WRONLY, 0666));
    chmod(open_f, 0666);
    setxattr(sd, "user.s", "s", 1, 0);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) {
            printf("setresuid failed\n");
            _exit(1);
        }
        get("nobody: get readable", f, "user.a", 10);
        show("nobody: set read-only file", setxattr(f, "user.n", "x", 1, 0));
        show("nobody: remove read-only file", removexattr(f, "user.a"));
        get("nobody: get private", priv, "user.p", 10);
        show_list("nobody: list private", list, listxattr(priv, list, sizeof list));
        show("nobody: set writable", setxattr(open_f, "user.n", "x", 1, 0));
        get("nobody: get writable", open_f, "user.n", 10);
        show("nobody: remove writable", removexattr(open_f, "user.n"));
        show("nobody: set world-writable dir", setxattr(d, "user.n", "x", 1, 0));
        show("nobody: set sticky dir", setxattr(sd, "user.n", "x", 1, 0));
        show("nobody: remove sticky dir", removexattr(sd, "user.s"));
        get("nobody: get sticky dir", sd, "user.s", 10);
        show("nobody: set trusted", setxattr(open_f, "trusted.t", "x", 1, 0));
        get("nobody: get trusted", open_f, "trusted.t", 10);
        show("nobody: remove trusted", removexattr(open_f, "trusted.t"));
        show("nobody: set security", setxattr(open_f, "security.s", "x", 1, 0));
        show("nobody: set bad security.capability",
             setxattr(open_f, "security.capability", "xxxxxxxxxxxxxxxxxxxx", 20, 0));
        /* A valid version 2 header (all capabilities permitted and effective). */
        unsigned int caps[5] = {0x02000001, ~0u, 0, ~0u, 0};
        show("nobody: set security.capability",
             setxattr(open_f, "security.capability", caps, sizeof caps, 0));
        get("nobody: get security", open_f, "security.s", 10);
        show("nobody: remove security", removexattr(open_f, "security.s"));
        show("nobody: set unknown on read-only", setxattr(f, "foo.x", "x", 1, 0));
        show_list("nobody: list", list, listxattr(open_f, list, sizeof list));
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child: %d\n", WEXITSTATUS(status));
    show_list("list after", list, listxattr(f, list, sizeof list));

    unlink(f);
    unlink(l);
    unlink(p);
    unlink(priv);
    unlink(open_f);
    rmdir(d);
    rmdir(sd);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/xattr-%d", argv[i], getpid());
        if (mkdir(dir, 0755)) {
            perror("mkdir");
            return 1;
        }
        as_root(i == 1 ? "tmpfs" : "host", dir);
        rmdir(dir);
    }
    return 0;
}
