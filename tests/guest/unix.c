/* Unix sockets: stream, datagram and seqpacket; socketpair, path and abstract names,
 * SCM_RIGHTS (pipes and sockets), SCM_CREDENTIALS, shutdown, MSG_PEEK/TRUNC/DONTWAIT/
 * NOSIGNAL/WAITALL, poll, the common options, and hostile arguments. Prints one line per
 * check, the same on the host and in the sandbox (no pids, inodes or paths). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define R(label, expr)                                                                 \
    do {                                                                               \
        long r_ = (long)(expr);                                                        \
        if (r_ < 0)                                                                    \
            printf("%s: -1 %s\n", label, strerrorname_np(errno));                      \
        else                                                                           \
            printf("%s: %ld\n", label, r_);                                            \
    } while (0)

static int send_fds(int s, const int *fds, int n, const char *data) {
    char buf[CMSG_SPACE(sizeof(int) * 8)];
    memset(buf, 0, sizeof buf);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = buf;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    return sendmsg(s, &m, 0);
}

/* Receives into buf; returns the count and puts up to 8 fds in fds, their number in *nfds,
 * msg_flags in *flags. `space` is the control room in fds. */
static int recv_fds(int s, char *buf, int len, int *fds, int *nfds, int space, int *flags,
                    int rflags) {
    char cbuf[CMSG_SPACE(sizeof(int) * 8)];
    struct iovec iov = {buf, len};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = space ? cbuf : NULL;
    m.msg_controllen = space ? CMSG_SPACE(sizeof(int) * space) : 0;
    int n = recvmsg(s, &m, rflags);
    *nfds = 0;
    if (n < 0)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(fds + *nfds, CMSG_DATA(c), k * sizeof(int));
            *nfds += k;
        }
    }
    *flags = m.msg_flags;
    return n;
}

static void stream_pair(void) {
    int sv[2], p[2];
    char buf[64];
    R("pair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    R("write", write(sv[0], "hello", 5));
    R("write2", write(sv[0], " world", 6));
    int q = -1;
    ioctl(sv[1], FIONREAD, &q);
    printf("fionread: %d\n", q);
    R("peek", recv(sv[1], buf, 3, MSG_PEEK));
    R("read", read(sv[1], buf, sizeof buf));
    buf[11] = 0;
    printf("data: %s\n", buf);
    R("dontwait", recv(sv[1], buf, 4, MSG_DONTWAIT));
    /* A pipe's read end passed over the pair. */
    R("pipe", pipe(p));
    R("pipe write", write(p[1], "via pipe", 8));
    R("send fd", send_fds(sv[0], &p[0], 1, "F"));
    close(p[0]);
    int fds[8], nfds, flags;
    R("recv fd", recv_fds(sv[1], buf, sizeof buf, fds, &nfds, 1, &flags, MSG_CMSG_CLOEXEC));
    printf("nfds: %d flags: %d cloexec: %d\n", nfds, flags,
           nfds ? fcntl(fds[0], F_GETFD) : -1);
    memset(buf, 0, sizeof buf);
    R("read passed pipe", read(fds[0], buf, sizeof buf));
    printf("passed: %s\n", buf);
    close(fds[0]);
    close(p[1]);
    /* Three fds, room for one: MSG_CTRUNC. */
    int three[3] = {0, 1, 2};
    R("send 3", send_fds(sv[0], three, 3, "T"));
    R("recv 1 of 3", recv_fds(sv[1], buf, sizeof buf, fds, &nfds, 1, &flags, 0));
    printf("nfds: %d ctrunc: %d\n", nfds, !!(flags & MSG_CTRUNC));
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    /* Fds with no control buffer: dropped, MSG_CTRUNC. */
    R("send 1", send_fds(sv[0], three, 1, "U"));
    R("recv 0 of 1", recv_fds(sv[1], buf, sizeof buf, fds, &nfds, 0, &flags, 0));
    printf("nfds: %d ctrunc: %d\n", nfds, !!(flags & MSG_CTRUNC));
    /* poll, shutdown and EOF. */
    struct pollfd pf = {sv[1], POLLIN | POLLOUT | POLLRDHUP, 0};
    R("poll", poll(&pf, 1, 0));
    printf("revents: %#x\n", pf.revents);
    R("shutdown wr", shutdown(sv[0], SHUT_WR));
    pf.revents = 0;
    poll(&pf, 1, 0);
    printf("revents after shutdown: %#x\n", pf.revents);
    R("eof", read(sv[1], buf, sizeof buf));
    R("send after shutdown", send(sv[0], "x", 1, MSG_NOSIGNAL));
    close(sv[1]);
    R("send to closed", send(sv[0], "x", 1, MSG_NOSIGNAL));
    signal(SIGPIPE, SIG_IGN);
    R("write to closed", write(sv[0], "x", 1));
    signal(SIGPIPE, SIG_DFL);
    close(sv[0]);
    /* MSG_WAITALL across two writes from a child. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t c = fork();
    if (c == 0) {
        close(sv[1]);
        write(sv[0], "abc", 3);
        usleep(20000);
        write(sv[0], "def", 3);
        _exit(0);
    }
    close(sv[0]);
    R("waitall", recv(sv[1], buf, 6, MSG_WAITALL));
    waitpid(c, NULL, 0);
    R("after child", read(sv[1], buf, 6));
    close(sv[1]);
}

static void dgram_and_seqpacket(void) {
    int sv[2], flags, fds[8], nfds;
    char buf[64];
    R("dgram pair", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    R("d send", send(sv[0], "one", 3, 0));
    R("d send", send(sv[0], "second", 6, 0));
    int q = -1;
    ioctl(sv[1], FIONREAD, &q);
    printf("d fionread: %d\n", q);
    R("d recv trunc", recv_fds(sv[1], buf, 2, fds, &nfds, 0, &flags, 0));
    printf("d trunc flag: %d\n", !!(flags & MSG_TRUNC));
    R("d recv MSG_TRUNC", recv(sv[1], buf, 2, MSG_TRUNC));
    R("d empty", recv(sv[1], buf, 2, MSG_DONTWAIT));
    int p[2];
    pipe(p);
    R("d send fd", send_fds(sv[1], &p[1], 1, "P"));
    R("d recv fd", recv_fds(sv[0], buf, sizeof buf, fds, &nfds, 2, &flags, 0));
    R("d write via passed", write(fds[0], "zz", 2));
    R("d read pipe", read(p[0], buf, 2));
    close(fds[0]);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);

    R("seq pair", socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    R("s send", send(sv[0], "abcdef", 6, 0));
    R("s send", send(sv[0], "gh", 2, 0));
    R("s recv trunc", recv_fds(sv[1], buf, 4, fds, &nfds, 0, &flags, 0));
    printf("s trunc flag: %d\n", !!(flags & MSG_TRUNC));
    R("s recv", recv(sv[1], buf, 64, 0));
    /* A socket passed over a seqpacket socket. */
    int inner[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, inner);
    R("s send sock", send_fds(sv[0], &inner[1], 1, "S"));
    close(inner[1]);
    R("s recv sock", recv_fds(sv[1], buf, 64, fds, &nfds, 1, &flags, 0));
    R("inner write", write(fds[0], "through", 7));
    memset(buf, 0, sizeof buf);
    R("inner read", read(inner[0], buf, 64));
    printf("inner: %s\n", buf);
    close(fds[0]);
    R("inner eof", read(inner[0], buf, 64));
    close(inner[0]);
    close(sv[0]);
    R("s after close", recv(sv[1], buf, 64, 0));
    close(sv[1]);
}

static socklen_t mkaddr(struct sockaddr_un *a, const char *path, int abstract) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (abstract) {
        memcpy(a->sun_path + 1, path, strlen(path));
        return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path);
    }
    strcpy(a->sun_path, path);
    return sizeof *a;
}

static void named(void) {
    struct sockaddr_un a, b;
    socklen_t len;
    char buf[64];
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    R("connect missing", connect(l, (void *)&a, mkaddr(&a, "nosuch", 0)));
    R("bind path", bind(l, (void *)&a, mkaddr(&a, "sock", 0)));
    struct stat st;
    R("stat", stat("sock", &st));
    printf("is sock: %d\n", S_ISSOCK(st.st_mode));
    int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
    R("bind again", bind(l2, (void *)&a, mkaddr(&a, "sock", 0)));
    R("connect not listening", connect(l2, (void *)&a, mkaddr(&a, "sock", 0)));
    R("listen", listen(l, 1));
    int acc = 0;
    len = sizeof acc;
    getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
    printf("acceptconn: %d\n", acc);
    fcntl(l, F_SETFL, O_NONBLOCK);
    R("accept empty", accept(l, NULL, NULL));
    int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    R("connect", connect(c1, (void *)&a, mkaddr(&a, "sock", 0)));
    R("connect again", connect(c1, (void *)&a, mkaddr(&a, "sock", 0)));
    int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    R("connect 2", connect(c2, (void *)&a, mkaddr(&a, "sock", 0)));
    int c3 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    R("connect over backlog", connect(c3, (void *)&a, mkaddr(&a, "sock", 0)));
    R("send before accept", send(c1, "early", 5, 0));
    struct pollfd pf = {l, POLLIN, 0};
    R("poll listener", poll(&pf, 1, 0));
    len = sizeof b;
    int s1 = accept4(l, (void *)&b, &len, SOCK_CLOEXEC);
    R("accept", s1 >= 0);
    printf("accept addrlen: %d cloexec: %d\n", len, fcntl(s1, F_GETFD));
    R("recv early", recv(s1, buf, 64, 0));
    len = sizeof b;
    getsockname(s1, (void *)&b, &len);
    printf("accepted name: %s len %d\n", b.sun_path, len);
    len = sizeof b;
    R("getpeername client", getpeername(c1, (void *)&b, &len));
    printf("peer: %s len %d\n", b.sun_path, len);
    len = sizeof b;
    R("getpeername unnamed", getpeername(s1, (void *)&b, &len));
    printf("len %d\n", len);
    struct ucred cr;
    len = sizeof cr;
    R("peercred", getsockopt(c1, SOL_SOCKET, SO_PEERCRED, &cr, &len));
    printf("peercred pid ok: %d uid ok: %d len %d\n", cr.pid == getpid(), cr.uid == geteuid(),
           len);
    int s2 = accept(l, NULL, NULL);
    R("accept 2", s2 >= 0);
    close(s2);
    R("read reset?", recv(c2, buf, 64, 0));
    close(c1);
    close(c2);
    close(c3);
    close(s1);
    close(l);
    R("connect after close", connect(l2, (void *)&a, mkaddr(&a, "sock", 0)));
    R("unlink", unlink("sock"));
    close(l2);

    /* Abstract datagrams with addresses. */
    int d1 = socket(AF_UNIX, SOCK_DGRAM, 0), d2 = socket(AF_UNIX, SOCK_DGRAM, 0);
    socklen_t al = mkaddr(&a, "unixtest-abs-1", 1);
    R("bind abstract", bind(d1, (void *)&a, al));
    R("bind abstract again", bind(d2, (void *)&a, al));
    R("autobind", bind(d2, (void *)&b, offsetof(struct sockaddr_un, sun_path)));
    len = sizeof b;
    getsockname(d2, (void *)&b, &len);
    printf("autobind len %d first %d\n", len, b.sun_path[0]);
    R("sendto", sendto(d2, "dg", 2, 0, (void *)&a, al));
    len = sizeof b;
    memset(&b, 0, sizeof b);
    R("recvfrom", recvfrom(d1, buf, 64, 0, (void *)&b, &len));
    printf("from len %d abstract %d\n", len, b.sun_path[0] == 0);
    R("sendto missing", sendto(d2, "dg", 2, 0, (void *)&a, mkaddr(&a, "unixtest-none", 1)));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    R("connect stream to dgram",
      connect(s, (void *)&a, mkaddr(&a, "unixtest-abs-1", 1)));
    close(s);
    /* Credentials. */
    int on = 1;
    R("passcred", setsockopt(d1, SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    R("sendto 2", sendto(d2, "cr", 2, 0, (void *)&a, mkaddr(&a, "unixtest-abs-1", 1)));
    char cbuf[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {buf, 64};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    R("recv creds", recvmsg(d1, &m, 0));
    struct cmsghdr *ch = CMSG_FIRSTHDR(&m);
    if (ch && ch->cmsg_type == SCM_CREDENTIALS) {
        struct ucred *u = (void *)CMSG_DATA(ch);
        printf("creds pid ok %d uid ok %d\n", u->pid == getpid(), u->uid == getuid());
    } else {
        printf("no creds\n");
    }
    close(d1);
    close(d2);
}

static void options_and_hostile(void) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0), v;
    socklen_t len = sizeof v;
    getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len);
    printf("type %d", v);
    getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &len);
    printf(" domain %d", v);
    v = 10000;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &len);
    printf(" sndbuf %d", v);
    getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &len);
    printf(" error %d\n", v);
    struct timeval tv = {0, 20000};
    R("rcvtimeo", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    R("bad optlen", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, (socklen_t *)1));
    R("unknown opt", getsockopt(s, SOL_SOCKET, 9999, &v, &len));
    R("read unconnected", read(s, &v, 4));
    R("write unconnected", send(s, &v, 4, MSG_NOSIGNAL));
    R("listen unbound", listen(s, 1));
    R("shutdown unconnected", shutdown(s, SHUT_RD));
    struct pollfd pf = {s, POLLIN | POLLOUT, 0};
    poll(&pf, 1, 0);
    printf("fresh revents %#x\n", pf.revents);
    close(s);
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    R("timeout", recv(sv[1], &v, 4, 0));
    R("bad msghdr", sendmsg(sv[0], (void *)8, 0));
    R("bad buf", send(sv[0], (void *)8, 4, 0));
    char cbuf[64] = {0};
    struct iovec iov = {"x", 1};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = (void *)cbuf;
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = 1000;
    R("cmsg too long", sendmsg(sv[0], &m, 0));
    c->cmsg_len = 8;
    R("cmsg too short", sendmsg(sv[0], &m, 0));
    c->cmsg_len = CMSG_LEN(4);
    int bad = 999;
    memcpy(CMSG_DATA(c), &bad, 4);
    R("fd not open", sendmsg(sv[0], &m, 0));
    c->cmsg_type = 77;
    R("bad cmsg type", sendmsg(sv[0], &m, 0));
    m.msg_iovlen = 5000;
    R("too many iovecs", sendmsg(sv[0], &m, 0));
    m.msg_iovlen = 1;
    m.msg_controllen = 1 << 30;
    R("huge control", sendmsg(sv[0], &m, 0));
    R("huge len", send(sv[0], "x", 1L << 40, 0));
    R("not a socket", send(0 + 100, "x", 1, 0));
    int p[2];
    pipe(p);
    R("enotsock", send(p[0], "x", 1, 0));
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    struct sockaddr_un a;
    memset(&a, 'a', sizeof a);
    a.sun_family = AF_UNIX;
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    R("bind 108 no NUL", bind(s, (void *)&a, sizeof a));
    len = 200;
    char big[200];
    R("getsockname", getsockname(s, (void *)big, &len));
    printf("long name len %d\n", len);
    char name[109];
    memset(name, 'a', 108);
    name[108] = 0;
    unlink(name);
    close(s);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    R("addrlen too long", bind(s, (void *)&a, sizeof a + 1));
    R("addrlen 1", bind(s, (void *)&a, 1));
    a.sun_family = AF_INET;
    R("wrong family", bind(s, (void *)&a, sizeof a));
    R("bad addr ptr", bind(s, (void *)8, sizeof a));
    R("raw unix", socket(AF_UNIX, SOCK_RAW, 0));
    R("bad type", socket(AF_UNIX, 77, 0));
    R("bad protocol", socket(AF_UNIX, SOCK_STREAM, 5));
    close(s);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char dir[] = "/tmp/unixtestXXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        perror("tmp");
        return 1;
    }
    stream_pair();
    dgram_and_seqpacket();
    named();
    options_and_hostile();
    chdir("/");
    rmdir(dir);
    return 0;
}
