/* File locks across a checkpoint: in each directory given, takes a record lock, an OFD
 * lock and a flock lock on a file, and starts a child that waits (F_SETLKW) for the
 * record lock; prints "ready", waits for /tmp/go (made after the restore), then checks
 * from a new process that every lock still conflicts, releases the record lock and
 * sees the waiting child get it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX 4

static int lk(int fd, int cmd, short type, off_t start, off_t len, struct flock *out) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    int r = fcntl(fd, cmd, &fl) == 0 ? 0 : errno;
    if (out)
        *out = fl;
    return r;
}

static const char *en(int e) {
    return e == 0 ? "0" : e == EAGAIN ? "EAGAIN" : strerror(e);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int n = argc - 1 > MAX ? MAX : argc - 1;
    char path[MAX][256];
    int fd[MAX];
    pid_t waiter[MAX];
    for (int i = 0; i < n; i++) {
        snprintf(path[i], sizeof path[i], "%s/locked", argv[i + 1]);
        fd[i] = open(path[i], O_RDWR | O_CREAT | O_TRUNC, 0644);
        int ofd = open(path[i], O_RDWR), fl = open(path[i], O_RDONLY);
        if (fd[i] < 0 || ofd < 0 || fl < 0 || lk(fd[i], F_SETLK, F_WRLCK, 0, 10, NULL) ||
            lk(ofd, F_OFD_SETLK, F_WRLCK, 100, 10, NULL) || flock(fl, LOCK_EX)) {
            perror("setup");
            return 1;
        }
        waiter[i] = fork();
        if (waiter[i] == 0) {
            int w = open(path[i], O_RDWR);
            int r = lk(w, F_SETLKW, F_WRLCK, 0, 10, NULL);
            struct stat st;
            /* Got it: only after the restore, when the parent released it. */
            printf("%s waiter: %s after go=%d\n", argv[i + 1], en(r), stat("/tmp/go", &st) == 0);
            _exit(0);
        }
    }
    usleep(300000);
    printf("ready\n");
    struct stat st;
    while (stat("/tmp/go", &st) != 0)
        usleep(20000);

    pid_t me = getpid();
    pid_t c = fork();
    if (c == 0) {
        for (int i = 0; i < n; i++) {
            int f = open(path[i], O_RDWR);
            struct flock got;
            int r = lk(f, F_SETLK, F_WRLCK, 5, 1, NULL);
            printf("%s record: setlk %s\n", argv[i + 1], en(r));
            lk(f, F_GETLK, F_WRLCK, 0, 0, &got);
            printf("%s record: getlk type=%s start=%lld len=%lld by=%s\n", argv[i + 1],
                   got.l_type == F_WRLCK ? "write" : got.l_type == F_UNLCK ? "none" : "read",
                   (long long)got.l_start, (long long)got.l_len,
                   got.l_pid == me ? "parent" : "other");
            lk(f, F_OFD_GETLK, F_RDLCK, 105, 1, &got);
            printf("%s ofd: getlk type=%s start=%lld pid=%d\n", argv[i + 1],
                   got.l_type == F_WRLCK ? "write" : "none", (long long)got.l_start,
                   (int)got.l_pid);
            r = flock(f, LOCK_SH | LOCK_NB) == 0 ? 0 : errno;
            printf("%s flock: %s\n", argv[i + 1], en(r));
        }
        _exit(0);
    }
    int status;
    waitpid(c, &status, 0);
    for (int i = 0; i < n; i++) {
        lk(fd[i], F_SETLK, F_UNLCK, 0, 0, NULL);
        waitpid(waiter[i], &status, 0);
    }
    printf("done\n");
    return 0;
}
