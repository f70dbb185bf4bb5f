/* What the guests that print one line per check share. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The name of a call's outcome: "ok" for a result >= 0, else the errno's name (its text
 * for the uncommon ones). */
static const char *en(long r) {
    if (r >= 0)
        return "ok";
    switch (errno) {
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ESPIPE: return "ESPIPE";
    case EFAULT: return "EFAULT";
    case EINTR: return "EINTR";
    default: return strerror(errno);
    }
}

/* Prints "what: N" for a result N >= 0, else "what: ERRNO-NAME". */
__attribute__((unused)) static void outcome(const char *what, long r) {
    if (r < 0)
        printf("%s: %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, r);
}

/* Prints fd's descriptor and status flags and what its /proc/self/fd link names. */
static void show_fd(int fd) {
    printf("cloexec=%d nonblock=%d\n", fcntl(fd, F_GETFD) & FD_CLOEXEC,
           !!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    char link[64] = {0}, proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    readlink(proc, link, sizeof link - 1);
    printf("link: %s\n", link);
}
