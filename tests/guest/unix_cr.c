/* Unix sockets across a checkpoint: sets up a stream pair with bytes and a pipe's read end
 * in flight, a datagram pair with a message queued, and a listener bound to /tmp/l.sock
 * with a pending connection that already sent something; prints "ready", waits for
 * /tmp/go (made after the restore), then reads everything back and connects to the
 * listener again by its path. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void fail(const char *what) {
    perror(what);
    _exit(1);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int sp[2], dp[2], p[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dp) ||
        pipe(p))
        fail("setup");
    if (write(p[1], "pipe bytes", 10) != 10)
        fail("pipe write");
    char cbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {"in flight", 9};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[0], sizeof(int));
    if (sendmsg(sp[0], &m, 0) != 9)
        fail("sendmsg");
    close(p[0]);
    if (send(dp[0], "datagram", 8, 0) != 8)
        fail("dgram");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, "/tmp/l.sock");
    int l = socket(AF_UNIX, SOCK_STREAM, 0), cl = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(l, (void *)&a, sizeof a) || listen(l, 4) || connect(cl, (void *)&a, sizeof a))
        fail("listener");
    if (write(cl, "early", 5) != 5)
        fail("early");
    printf("ready\n");
    struct stat st;
    while (stat("/tmp/go", &st) != 0)
        usleep(20000);

    char buf[64] = {0}, cb[CMSG_SPACE(sizeof(int))];
    struct iovec riov = {buf, sizeof buf};
    struct msghdr r = {0};
    r.msg_iov = &riov;
    r.msg_iovlen = 1;
    r.msg_control = cb;
    r.msg_controllen = sizeof cb;
    int n = recvmsg(sp[1], &r, 0);
    struct cmsghdr *rc = CMSG_FIRSTHDR(&r);
    int fd = -1;
    if (rc && rc->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(rc), sizeof fd);
    printf("pair: %.*s\n", n, buf);
    memset(buf, 0, sizeof buf);
    n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    printf("passed pipe: %.*s\n", n, buf);
    n = recv(dp[1], buf, sizeof buf, 0);
    printf("dgram: %.*s\n", n, buf);
    int s = accept(l, NULL, NULL);
    n = read(s, buf, sizeof buf);
    printf("pending: %.*s\n", n, buf);
    write(s, "answer", 6);
    n = read(cl, buf, sizeof buf);
    printf("client: %.*s\n", n, buf);
    int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(c2, (void *)&a, sizeof a))
        fail("connect after restore");
    int s2 = accept(l, NULL, NULL);
    write(c2, "new", 3);
    n = read(s2, buf, sizeof buf);
    printf("new connection: %.*s\n", n, buf);
    close(sp[0]);
    printf("eof: %zd\n", read(sp[1], buf, sizeof buf));
    printf("done\n");
    return 0;
}
