/* File locks between a parent and a child, in each directory given (a tmpfs, a host
 * directory): fcntl record locks (per process, dropped on any close of the file), OFD
 * locks and flock (per open file description), F_GETLK, blocking waits, EINTR and
 * SA_RESTART, EDEADLK, and the errors of bad requests. Prints one line per check; the
 * test compares them with the same program run natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[512];
static int to_child[2], to_parent[2];
static volatile int handled;

static const char *en(int e) {
    switch (e) {
    case 0: return "0";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case EINTR: return "EINTR";
    case EDEADLK: return "EDEADLK";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EOVERFLOW: return "EOVERFLOW";
    default: return strerror(e);
    }
}

static int lk(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl) == 0 ? 0 : errno;
}

/* F_GETLK (or F_OFD_GETLK) of a write lock over [start, start+len): what it reports. */
static void show(const char *what, int fd, int cmd, off_t start, off_t len, pid_t holder) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    if (fcntl(fd, cmd, &fl) != 0) {
        printf("%s: getlk %s\n", what, en(errno));
        return;
    }
    if (fl.l_type == F_UNLCK) {
        printf("%s: unlocked\n", what);
        return;
    }
    printf("%s: %s start=%lld len=%lld pid=%s\n", what, fl.l_type == F_RDLCK ? "read" : "write",
           (long long)fl.l_start, (long long)fl.l_len,
           fl.l_pid == holder ? "holder" : fl.l_pid == -1 ? "-1" : "other");
}

static void say(int fd) {
    char c = 1;
    if (write(fd, &c, 1) != 1)
        _exit(2);
}

static void hear(int fd) {
    char c;
    if (read(fd, &c, 1) != 1)
        _exit(3);
}

static void on_alarm(int s) {
    (void)s;
    handled++;
}

static void alarm_in(int ms, int restart) {
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, ms * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void child(void) {
    int fd = open(path, O_RDWR);
    pid_t parent = getppid();
    hear(to_child[0]);
    /* The parent holds a write lock on [0, 10) and a read lock on [20, 30). */
    printf("child: setlk over the write lock: %s\n", en(lk(fd, F_SETLK, F_WRLCK, 5, 1)));
    printf("child: read lock beside it: %s\n", en(lk(fd, F_SETLK, F_RDLCK, 10, 10)));
    printf("child: read lock over the read lock: %s\n", en(lk(fd, F_SETLK, F_RDLCK, 25, 1)));
    printf("child: write over the read lock: %s\n", en(lk(fd, F_SETLK, F_WRLCK, 25, 1)));
    show("child: getlk 0..", fd, F_GETLK, 0, 0, parent);
    show("child: getlk 20..", fd, F_GETLK, 20, 100, parent);
    show("child: ofd getlk 0..", fd, F_OFD_GETLK, 0, 0, parent);
    /* OFD locks of the parent. */
    show("child: getlk 100..", fd, F_GETLK, 100, 1, parent);
    printf("child: ofd setlk over the parent's ofd lock: %s\n",
           en(lk(fd, F_OFD_SETLK, F_RDLCK, 105, 1)));
    /* flock: the inherited description shares the parent's lock; a new one conflicts. */
    int fl2 = open(path, O_RDONLY);
    printf("child: flock a new description: %s\n",
           flock(fl2, LOCK_EX | LOCK_NB) == 0 ? "0" : en(errno));
    printf("child: shared flock of it: %s\n", flock(fl2, LOCK_SH | LOCK_NB) == 0 ? "0" : en(errno));
    close(fl2);
    printf("child: convert the shared description: %s\n",
           flock(3, LOCK_EX | LOCK_NB) == 0 ? "0" : en(errno));
    say(to_parent[1]);

    /* The parent closed another descriptor of the file: its record locks are gone. */
    hear(to_child[0]);
    show("child: after the parent's close", fd, F_GETLK, 0, 0, parent);

    /* A blocking wait the parent ends by unlocking. */
    hear(to_child[0]);
    say(to_parent[1]);
    printf("child: setlkw waited: %s\n", en(lk(fd, F_SETLKW, F_WRLCK, 0, 10)));
    lk(fd, F_SETLK, F_UNLCK, 0, 0);

    /* Interrupted by a handler without SA_RESTART: EINTR. */
    hear(to_child[0]);
    handled = 0;
    alarm_in(100, 0);
    int r = lk(fd, F_SETLKW, F_WRLCK, 0, 10);
    printf("child: setlkw interrupted: %s handled=%d\n", en(r), handled);
    handled = 0;
    alarm_in(100, 0);
    r = flock(fd, LOCK_EX) == 0 ? 0 : errno;
    printf("child: flock interrupted: %s handled=%d\n", en(r), handled);
    /* With SA_RESTART: restarted, then granted when the parent unlocks. */
    handled = 0;
    alarm_in(100, 1);
    say(to_parent[1]);
    r = lk(fd, F_SETLKW, F_WRLCK, 0, 10);
    printf("child: setlkw restarted: %s handled=%d\n", en(r), handled);
    lk(fd, F_SETLK, F_UNLCK, 0, 0);

    /* Deadlock: the child holds byte 1 and waits for byte 0, which the parent holds. */
    hear(to_child[0]);
    printf("child: lock byte 1: %s\n", en(lk(fd, F_SETLK, F_WRLCK, 1, 1)));
    say(to_parent[1]);
    printf("child: wait for byte 0: %s\n", en(lk(fd, F_SETLKW, F_WRLCK, 0, 1)));
    lk(fd, F_SETLK, F_UNLCK, 0, 0);

    /* A lock the child holds when it exits goes with it. */
    lk(fd, F_SETLK, F_WRLCK, 200, 10);
    say(to_parent[1]);
    hear(to_child[0]);
    _exit(0);
}

static void run(const char *dir) {
    snprintf(path, sizeof path, "%s/locks.%d", dir, getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd != 3) {
        printf("setup: fd %d\n", fd);
        exit(1);
    }
    int ofd = open(path, O_RDWR);
    if (pipe(to_child) || pipe(to_parent))
        exit(1);
    flock(fd, LOCK_SH);
    lk(fd, F_SETLK, F_WRLCK, 0, 10);
    lk(fd, F_SETLK, F_RDLCK, 20, 10);
    lk(ofd, F_OFD_SETLK, F_WRLCK, 100, 10);
    pid_t pid = fork();
    if (pid == 0)
        child();
    say(to_child[1]);
    hear(to_parent[0]);
    /* Own locks never conflict: getlk of the parent's own range is unlocked. */
    show("parent: getlk own range", fd, F_GETLK, 0, 0, pid);
    /* OFD locks of two descriptions of one process conflict. */
    printf("parent: ofd lock of another description: %s\n",
           en(lk(fd, F_OFD_SETLK, F_WRLCK, 100, 1)));
    /* Any close of the file drops the process's record locks (not the OFD ones). */
    int other = open(path, O_RDONLY);
    close(other);
    say(to_child[1]);
    usleep(100000);

    lk(fd, F_SETLK, F_WRLCK, 0, 10);
    say(to_child[1]);
    hear(to_parent[0]);
    usleep(200000);
    lk(fd, F_SETLK, F_UNLCK, 0, 10);

    /* The child fails twice while the parent holds the lock, then waits it out. */
    usleep(100000);
    lk(fd, F_SETLK, F_WRLCK, 0, 10);
    flock(fd, LOCK_UN);
    int fresh = open(path, O_RDONLY);
    flock(fresh, LOCK_EX);
    say(to_child[1]);
    hear(to_parent[0]);
    usleep(300000);
    lk(fd, F_SETLK, F_UNLCK, 0, 10);
    flock(fresh, LOCK_UN);
    close(fresh);

    usleep(100000);
    lk(fd, F_SETLK, F_WRLCK, 0, 1);
    say(to_child[1]);
    hear(to_parent[0]);
    usleep(300000);
    printf("parent: wait for byte 1: %s\n", en(lk(fd, F_SETLKW, F_WRLCK, 1, 1)));
    lk(fd, F_SETLK, F_UNLCK, 0, 1);

    hear(to_parent[0]);
    show("parent: child's lock while it lives", fd, F_GETLK, 200, 1, pid);
    say(to_child[1]);
    int st;
    waitpid(pid, &st, 0);
    show("parent: child's lock after its exit", fd, F_GETLK, 200, 1, pid);

    /* Bad requests. */
    int ro = open(path, O_RDONLY);
    printf("write lock on a read-only fd: %s\n", en(lk(ro, F_SETLK, F_WRLCK, 0, 1)));
    printf("getlk of F_UNLCK: %s\n", en(lk(fd, F_GETLK, F_UNLCK, 0, 1)));
    printf("negative start: %s\n", en(lk(fd, F_SETLK, F_WRLCK, -5, 1)));
    printf("negative length past 0: %s\n", en(lk(fd, F_SETLK, F_WRLCK, 2, -5)));
    printf("negative length: %s\n", en(lk(fd, F_SETLK, F_WRLCK, 5, -5)));
    printf("bad type: %s\n", en(lk(fd, F_SETLK, 9, 0, 1)));
    struct flock bad = {.l_type = F_RDLCK, .l_pid = 1};
    printf("ofd with a pid: %s\n", fcntl(fd, F_OFD_SETLK, &bad) == 0 ? "0" : en(errno));
    printf("flock bad op: %s\n", flock(fd, 77) == 0 ? "0" : en(errno));
    printf("flock bad fd: %s\n", flock(99, LOCK_EX) == 0 ? "0" : en(errno));
    printf("getlk bad pointer: %s\n",
           fcntl(fd, F_GETLK, (struct flock *)8) == 0 ? "0" : en(errno));
    close(ro);
    close(ofd);
    close(fd);
    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
    unlink(path);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        printf("== %s\n", i == 1 ? "first" : "second");
        run(argv[i]);
    }
    return 0;
}
