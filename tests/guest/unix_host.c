/* A unix socket file of a host mount, from both sides. `serve DIR` (run on the host) listens
 * on DIR/s.sock (stream) and DIR/q.sock (seqpacket), prints "ready", then answers one
 * stream connection ("pong: LINE", then the end of file) and one seqpacket connection
 * ("re:MSG" for each of two messages), prints what it saw, and keeps listening until its
 * stdin ends. `client DIR` (run in the
 * sandbox, DIR the mount's guest path) connects to both, exchanges, and tries the hostile
 * cases: SCM_RIGHTS, the wrong type, a regular file, a socket file nobody listens on,
 * symlinks that point out of the mount, a datagram socket. `hold DIR` connects, exchanges
 * a line, says "holding" and reads again (across a checkpoint: the connection is reset). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un at(const char *dir, const char *name) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, name);
    return a;
}

static const char *result(int r) { return r == 0 ? "ok" : strerror(errno); }

static int dial(int type, const char *dir, const char *name) {
    int s = socket(AF_UNIX, type, 0);
    struct sockaddr_un a = at(dir, name);
    if (connect(s, (struct sockaddr *)&a, sizeof a)) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

static int listener(int type, const char *dir, const char *name) {
    int l = socket(AF_UNIX, type, 0);
    struct sockaddr_un a = at(dir, name);
    unlink(a.sun_path);
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4)) {
        perror("listen");
        exit(3);
    }
    return l;
}

static int serve(const char *dir) {
    int ls = listener(SOCK_STREAM, dir, "s.sock");
    int lq = listener(SOCK_SEQPACKET, dir, "q.sock");
    printf("ready\n");
    fflush(stdout);
    int s = accept(ls, NULL, NULL);
    char b[256];
    int n = 0, r;
    while (n < (int)sizeof b - 1 && (r = read(s, b + n, 1)) == 1 && b[n++] != '\n')
        ;
    b[n] = 0;
    printf("stream got: %s", b);
    char out[300];
    int m = snprintf(out, sizeof out, "pong: %s", b);
    write(s, out, m);
    close(s);
    int q = accept(lq, NULL, NULL);
    for (int i = 0; i < 2; i++) {
        r = recv(q, b, sizeof b - 1, 0);
        b[r > 0 ? r : 0] = 0;
        printf("seqpacket got: %s\n", b);
        m = snprintf(out, sizeof out, "re:%s", b);
        send(q, out, m, 0);
    }
    r = recv(q, b, sizeof b, 0);
    printf("seqpacket then: %d\n", r);
    // Listening on until the test is done with the client (the end of stdin).
    while (read(0, b, sizeof b) > 0)
        ;
    return 0;
}

static int client(const char *dir) {
    int s = dial(SOCK_STREAM, dir, "s.sock");
    printf("stream connect: %s\n", result(s < 0 ? -1 : 0));
    if (s < 0)
        return 1;
    struct sockaddr_un peer = {0};
    socklen_t pl = sizeof peer;
    getpeername(s, (struct sockaddr *)&peer, &pl);
    printf("peer: %s\n", peer.sun_path);
    struct ucred cr = {.pid = -1};
    socklen_t cl = sizeof cr;
    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
    printf("peer pid: %d\n", cr.pid);
    // An fd across the connection: refused.
    char cbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec v = {"x", 1};
    struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int one = 1;
    memcpy(CMSG_DATA(c), &one, sizeof one);
    int r = sendmsg(s, &mh, 0);
    printf("rights: %s\n", r < 0 ? strerror(errno) : "sent");
    write(s, "ping\n", 5);
    char b[256];
    int got = 0;
    for (;;) {
        struct iovec iov[2] = {{b + got, 2}, {b + got + 2, sizeof b - 3 - got}};
        int n = readv(s, iov, 2);
        if (n <= 0)
            break;
        got += n;
    }
    b[got] = 0;
    printf("stream got: %s", b);
    close(s);

    int q = dial(SOCK_SEQPACKET, dir, "q.sock");
    printf("seqpacket connect: %s\n", result(q < 0 ? -1 : 0));
    send(q, "one", 3, 0);
    send(q, "two", 3, 0);
    for (int i = 0; i < 2; i++) {
        int n = recv(q, b, sizeof b - 1, 0);
        b[n > 0 ? n : 0] = 0;
        printf("seqpacket got: %s\n", b);
    }
    close(q);

    printf("stream to seqpacket: %s\n", result(dial(SOCK_STREAM, dir, "q.sock") < 0 ? -1 : 0));
    printf("regular file: %s\n", result(dial(SOCK_STREAM, dir, "plain") < 0 ? -1 : 0));
    printf("nobody listening: %s\n", result(dial(SOCK_STREAM, dir, "stale.sock") < 0 ? -1 : 0));
    printf("absolute link: %s\n", result(dial(SOCK_STREAM, dir, "out-abs") < 0 ? -1 : 0));
    printf("relative link: %s\n", result(dial(SOCK_STREAM, dir, "out-rel") < 0 ? -1 : 0));
    printf("dgram: %s\n", result(dial(SOCK_DGRAM, dir, "s.sock") < 0 ? -1 : 0));
    return 0;
}

static int hold(const char *dir) {
    signal(SIGPIPE, SIG_IGN);
    int s = dial(SOCK_STREAM, dir, "s.sock");
    if (s < 0) {
        printf("connect: %s\n", strerror(errno));
        return 1;
    }
    write(s, "hold\n", 5);
    char b[64];
    int n = read(s, b, sizeof b);
    printf("holding after %d bytes\n", n);
    n = read(s, b, sizeof b);
    printf("read: %s\n", n < 0 ? strerror(errno) : n == 0 ? "end of file" : "data");
    n = write(s, "x", 1);
    printf("write: %s\n", n < 0 ? strerror(errno) : "written");
    n = read(s, b, sizeof b);
    printf("read again: %s\n", n < 0 ? strerror(errno) : n == 0 ? "end of file" : "data");
    struct sockaddr_un peer = {0};
    socklen_t pl = sizeof peer;
    getpeername(s, (struct sockaddr *)&peer, &pl);
    printf("peer: %s\n", peer.sun_path);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 3)
        return 2;
    if (strcmp(argv[1], "serve") == 0)
        return serve(argv[2]);
    if (strcmp(argv[1], "client") == 0)
        return client(argv[2]);
    if (strcmp(argv[1], "hold") == 0)
        return hold(argv[2]);
    return 2;
}
