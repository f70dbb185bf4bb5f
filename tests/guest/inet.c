/* TCP and UDP over loopback, IPv4 and IPv6: bind (ephemeral ports, EADDRINUSE,
 * SO_REUSEADDR/SO_REUSEPORT, IPV6_V6ONLY), listen/accept4 with a backlog, blocking and
 * non-blocking connect (EINPROGRESS, SO_ERROR, ECONNREFUSED), a wildcard listener taking
 * 127.0.0.1, 127.0.0.2, ::1 and v4-mapped clients, send/recv with MSG_PEEK/DONTWAIT/
 * WAITALL/NOSIGNAL/TRUNC, shutdown, reset, poll and epoll readiness, the common options,
 * a bulk transfer between two processes, and hostile arguments. Prints one line per check,
 * the same on the host and in the sandbox (no port numbers, no pids). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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

static struct sockaddr_in sin4(const char *ip, int port) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 sin6(const char *ip, int port) {
    struct sockaddr_in6 a = {0};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

/* The port a socket is bound to. */
static int port_of(int s) {
    struct sockaddr_storage a;
    socklen_t l = sizeof a;
    if (getsockname(s, (struct sockaddr *)&a, &l) < 0)
        return -1;
    if (a.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&a)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
}

/* An address as text, without its port: "family ip". */
static const char *name(struct sockaddr_storage *a) {
    static char out[80];
    char ip[64] = "?";
    if (a->ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)a)->sin_addr, ip, sizeof ip);
    else if (a->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a)->sin6_addr, ip, sizeof ip);
    snprintf(out, sizeof out, "%s %s", a->ss_family == AF_INET ? "inet" : "inet6", ip);
    return out;
}

static void print_name(const char *label, int s, int peer) {
    struct sockaddr_storage a;
    socklen_t l = sizeof a;
    int r = peer ? getpeername(s, (struct sockaddr *)&a, &l)
                 : getsockname(s, (struct sockaddr *)&a, &l);
    if (r < 0)
        printf("%s: -1 %s\n", label, strerrorname_np(errno));
    else
        printf("%s: %s len=%u\n", label, name(&a), l);
}

static int revents(int fd, int events, int ms) {
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, ms);
    return n < 0 ? -1 : p.revents;
}

static int intopt(int s, int level, int opt) {
    int v = -7;
    socklen_t l = sizeof v;
    if (getsockopt(s, level, opt, &v, &l) < 0)
        return -errno;
    return v;
}

/* A listener on `ip` (v4 or v6 text) and port 0; returns it and its port. */
static int listener(int family, const char *ip, int backlog, int *port) {
    int s = socket(family, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int r;
    if (family == AF_INET) {
        struct sockaddr_in a = sin4(ip, 0);
        r = bind(s, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a = sin6(ip, 0);
        r = bind(s, (struct sockaddr *)&a, sizeof a);
    }
    if (r < 0 || listen(s, backlog) < 0) {
        printf("listener %s: %s\n", ip, strerrorname_np(errno));
        exit(1);
    }
    *port = port_of(s);
    return s;
}

static int connect4(const char *ip, int port, int flags) {
    int c = socket(AF_INET, SOCK_STREAM | flags, 0);
    struct sockaddr_in a = sin4(ip, port);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        printf("connect4 %s: %s\n", ip, strerrorname_np(errno));
        close(c);
        return -1;
    }
    return c;
}

static int connect6(const char *ip, int port) {
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = sin6(ip, port);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("connect6 %s: %s\n", ip, strerrorname_np(errno));
        close(c);
        return -1;
    }
    return c;
}

/* A port nothing listens on: bound, then closed. */
static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sin4("127.0.0.1", 0);
    bind(s, (struct sockaddr *)&a, sizeof a);
    int p = port_of(s);
    close(s);
    return p;
}

static void tcp_basics(void) {
    int port;
    int l = listener(AF_INET, "127.0.0.1", 5, &port);
    printf("port nonzero: %d\n", port > 0);
    print_name("listener name", l, 0);
    print_name("listener peer", l, 1);
    R("acceptconn", intopt(l, SOL_SOCKET, SO_ACCEPTCONN));
    R("listener poll", revents(l, POLLIN | POLLOUT, 0));
    int c = connect4("127.0.0.1", port, 0);
    R("listener poll after connect", revents(l, POLLIN | POLLOUT, 0));
    struct sockaddr_storage pa;
    socklen_t pl = sizeof pa;
    int s = accept4(l, (struct sockaddr *)&pa, &pl, SOCK_CLOEXEC);
    printf("accepted from: %s same port: %d\n", name(&pa), ntohs(((struct sockaddr_in *)&pa)->sin_port) == port_of(c));
    R("cloexec", fcntl(s, F_GETFD));
    print_name("server name", s, 0);
    print_name("server peer", s, 1);
    print_name("client peer", c, 1);
    printf("server port is the listener's: %d\n", port_of(s) == port);
    R("client poll", revents(c, POLLIN | POLLOUT | POLLRDHUP, 0));
    R("acceptconn conn", intopt(s, SOL_SOCKET, SO_ACCEPTCONN));

    char buf[256];
    R("send", send(c, "hello tcp", 9, 0));
    R("write", write(c, " again", 6));
    int q = -1;
    ioctl(s, FIONREAD, &q);
    printf("fionread: %d\n", q);
    R("server poll", revents(s, POLLIN | POLLOUT, 0));
    R("peek", recv(s, buf, 5, MSG_PEEK));
    printf("peeked: %.5s\n", buf);
    R("recv", recv(s, buf, sizeof buf, 0));
    printf("got: %.15s\n", buf);
    R("dontwait empty", recv(s, buf, sizeof buf, MSG_DONTWAIT));
    R("recv zero len", recv(s, buf, 0, MSG_DONTWAIT));

    /* Read timeout. */
    struct timeval tv = {0, 20000};
    R("rcvtimeo", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    R("read times out", read(s, buf, 1));

    /* Half close: the server reads end of file, and can still send. */
    R("shutdown wr", shutdown(c, SHUT_WR));
    R("server poll after fin", revents(s, POLLIN | POLLRDHUP | POLLOUT, 0));
    R("eof", read(s, buf, sizeof buf));
    R("eof again", read(s, buf, sizeof buf));
    R("client send after shut", send(c, "x", 1, MSG_NOSIGNAL));
    R("server still sends", send(s, "back", 4, 0));
    R("client reads", recv(c, buf, sizeof buf, 0));
    printf("client got: %.4s\n", buf);

    /* The server closes: the client reads end of file. */
    close(s);
    R("client eof", recv(c, buf, sizeof buf, 0));
    R("client poll after close", revents(c, POLLIN | POLLOUT | POLLRDHUP, 0));
    close(c);
    close(l);
}

static void peer_gone(void) {
    int port;
    int l = listener(AF_INET, "127.0.0.1", 5, &port);
    int c = connect4("127.0.0.1", port, 0);
    int s = accept(l, NULL, NULL);
    char buf[64];
    /* A normal close: the first send is answered by a reset, the next is EPIPE. */
    close(s);
    R("send to closed", send(c, "abc", 3, MSG_NOSIGNAL));
    R("poll after reset", revents(c, POLLIN | POLLOUT, 1000));
    R("send after reset", send(c, "abc", 3, MSG_NOSIGNAL));
    R("write after reset", write(c, "abc", 3));
    R("recv after reset", recv(c, buf, sizeof buf, 0));
    close(c);

    /* Closing with unread data resets: the peer reads ECONNRESET. */
    c = connect4("127.0.0.1", port, 0);
    s = accept(l, NULL, NULL);
    R("send unread", send(c, "unread", 6, 0));
    R("poll before close", revents(s, POLLIN, 1000));
    close(s);
    R("poll reset", revents(c, POLLIN | POLLOUT, 1000));
    R("read reset", read(c, buf, sizeof buf));
    R("read after reset", read(c, buf, sizeof buf));
    print_name("peer after reset", c, 1);
    R("error after reset", intopt(c, SOL_SOCKET, SO_ERROR));
    close(c);

    /* SO_LINGER with no time resets too. */
    c = connect4("127.0.0.1", port, 0);
    s = accept(l, NULL, NULL);
    struct linger lg = {1, 0};
    R("linger", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    struct linger lg2;
    socklen_t ll = sizeof lg2;
    R("linger get", getsockopt(s, SOL_SOCKET, SO_LINGER, &lg2, &ll));
    printf("linger: %d %d\n", lg2.l_onoff, lg2.l_linger);
    close(s);
    revents(c, POLLIN, 1000);
    R("read after linger reset", read(c, buf, sizeof buf));
    close(c);
    close(l);
}

static void connect_states(void) {
    /* Nothing listens: refused, blocking and not. */
    int port = free_port();
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sin4("127.0.0.1", port);
    R("connect refused", connect(c, (struct sockaddr *)&a, sizeof a));
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    R("nonblock connect refused", connect(c, (struct sockaddr *)&a, sizeof a));
    R("poll refused", revents(c, POLLIN | POLLOUT, 1000));
    R("so_error refused", intopt(c, SOL_SOCKET, SO_ERROR));
    R("so_error again", intopt(c, SOL_SOCKET, SO_ERROR));
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(c, (struct sockaddr *)&a, sizeof a);
    revents(c, POLLOUT, 1000);
    R("connect after refusal", connect(c, (struct sockaddr *)&a, sizeof a));
    close(c);

    /* A listener: non-blocking connect completes, then connect says so once. */
    int l = listener(AF_INET, "127.0.0.1", 5, &port);
    a = sin4("127.0.0.1", port);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    R("fresh poll", revents(c, POLLIN | POLLOUT, 0));
    R("nonblock connect", connect(c, (struct sockaddr *)&a, sizeof a));
    R("poll connected", revents(c, POLLIN | POLLOUT, 1000));
    R("so_error connected", intopt(c, SOL_SOCKET, SO_ERROR));
    R("connect again", connect(c, (struct sockaddr *)&a, sizeof a));
    R("connect third", connect(c, (struct sockaddr *)&a, sizeof a));
    R("listen connected", listen(c, 1));
    R("connect listener", connect(l, (struct sockaddr *)&a, sizeof a));
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    R("accepted nonblock", fcntl(s, F_GETFL) & O_NONBLOCK);
    close(s);
    close(c);

    /* Backlog 0: one connection waits for accept; the next waits for room. */
    R("listen backlog 0", listen(l, 0));
    int c1 = connect4("127.0.0.1", port, SOCK_NONBLOCK);
    int c2 = connect4("127.0.0.1", port, SOCK_NONBLOCK);
    R("first connected", revents(c1, POLLOUT, 1000));
    R("second waits", revents(c2, POLLOUT, 0));
    R("second connect again", connect(c2, (struct sockaddr *)&a, sizeof a));
    s = accept(l, NULL, NULL);
    close(s);
    R("second connected after accept", revents(c2, POLLOUT, 5000));
    s = accept(l, NULL, NULL);
    R("second accepted", s >= 0);
    close(s);
    close(c1);
    close(c2);

    /* Closing a listener resets connections not accepted. */
    c = connect4("127.0.0.1", port, 0);
    close(l);
    char buf[8];
    revents(c, POLLIN, 1000);
    R("pending reset", read(c, buf, sizeof buf));
    close(c);
    c = socket(AF_INET, SOCK_STREAM, 0);
    R("listener gone", connect(c, (struct sockaddr *)&a, sizeof a));
    close(c);
}

static void wildcard_and_v6(void) {
    int port;
    int l = listener(AF_INET6, "::", 16, &port);
    R("v6only default", intopt(l, IPPROTO_IPV6, IPV6_V6ONLY));
    print_name("v6 listener", l, 0);
    const char *v4[] = {"127.0.0.1", "127.0.0.2"};
    for (int i = 0; i < 2; i++) {
        int c = connect4(v4[i], port, 0);
        int s = accept(l, NULL, NULL);
        print_name("v4 client name", c, 0);
        print_name("v4 client peer", c, 1);
        print_name("server of v4 name", s, 0);
        print_name("server of v4 peer", s, 1);
        close(s);
        close(c);
    }
    const char *v6[] = {"::1", "::ffff:127.0.0.1"};
    for (int i = 0; i < 2; i++) {
        int c = connect6(v6[i], port);
        int s = accept(l, NULL, NULL);
        print_name("v6 client name", c, 0);
        print_name("v6 server peer", s, 1);
        R("v6 send", send(c, "six", 3, 0));
        char buf[8];
        R("v6 recv", recv(s, buf, sizeof buf, 0));
        close(s);
        close(c);
    }
    close(l);

    /* A v4 wildcard listener does not take ::1. */
    l = listener(AF_INET, "0.0.0.0", 4, &port);
    int c = connect4("127.0.0.3", port, 0);
    int s = accept(l, NULL, NULL);
    print_name("wildcard v4 server name", s, 0);
    close(s);
    close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = sin6("::1", port);
    R("v6 to v4 listener", connect(c, (struct sockaddr *)&a6, sizeof a6));
    close(c);
    close(l);

    /* A v6only listener does not take v4. */
    l = socket(AF_INET6, SOCK_STREAM, 0);
    int one = 1;
    R("set v6only", setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    a6 = sin6("::", 0);
    R("bind v6only", bind(l, (struct sockaddr *)&a6, sizeof a6));
    R("v6only after bind", setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    listen(l, 1);
    port = port_of(l);
    c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a4 = sin4("127.0.0.1", port);
    R("v4 to v6only", connect(c, (struct sockaddr *)&a4, sizeof a4));
    close(c);
    /* A v4 socket may take the same port then. */
    int l4 = socket(AF_INET, SOCK_STREAM, 0);
    R("v4 beside v6only", bind(l4, (struct sockaddr *)&a4, sizeof a4));
    close(l4);
    close(l);
}

static void bind_rules(void) {
    int s1 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sin4("127.0.0.1", 0);
    R("bind", bind(s1, (struct sockaddr *)&a, sizeof a));
    R("bind twice", bind(s1, (struct sockaddr *)&a, sizeof a));
    int port = port_of(s1);
    a = sin4("127.0.0.1", port);
    int s2 = socket(AF_INET, SOCK_STREAM, 0);
    R("same port", bind(s2, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in any = sin4("0.0.0.0", port);
    R("wildcard same port", bind(s2, (struct sockaddr *)&any, sizeof any));
    struct sockaddr_in other = sin4("127.0.0.2", port);
    R("other address same port", bind(s2, (struct sockaddr *)&other, sizeof other));
    close(s2);
    int s6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = sin6("::", port);
    R("v6 wildcard on a v4 port", bind(s6, (struct sockaddr *)&a6, sizeof a6));
    a6 = sin6("::1", port);
    R("v6 loopback on a v4 port", bind(s6, (struct sockaddr *)&a6, sizeof a6));
    close(s6);
    close(s1);

    /* SO_REUSEADDR: both, neither listening. Then listen once. */
    int one = 1;
    s1 = socket(AF_INET, SOCK_STREAM, 0);
    s2 = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    a = sin4("127.0.0.1", 0);
    bind(s1, (struct sockaddr *)&a, sizeof a);
    a = sin4("127.0.0.1", port_of(s1));
    R("reuseaddr bind", bind(s2, (struct sockaddr *)&a, sizeof a));
    R("reuseaddr listen first", listen(s1, 1));
    R("reuseaddr listen second", listen(s2, 1));
    int s3 = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s3, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    R("reuseaddr beside listener", bind(s3, (struct sockaddr *)&a, sizeof a));
    close(s3);
    close(s2);
    close(s1);

    /* SO_REUSEPORT: two listeners. */
    s1 = socket(AF_INET, SOCK_STREAM, 0);
    s2 = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s1, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(s2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    a = sin4("127.0.0.1", 0);
    bind(s1, (struct sockaddr *)&a, sizeof a);
    a = sin4("127.0.0.1", port_of(s1));
    R("reuseport bind", bind(s2, (struct sockaddr *)&a, sizeof a));
    R("reuseport listen", listen(s1, 1) | listen(s2, 1));
    close(s1);
    close(s2);
    /* The port is free again once its sockets are closed. */
    s1 = socket(AF_INET, SOCK_STREAM, 0);
    R("rebind after close", bind(s1, (struct sockaddr *)&a, sizeof a));
    close(s1);

    /* A connection accepted holds its port against a new listener without reuse. */
    int l = listener(AF_INET, "127.0.0.1", 1, &port);
    int c = connect4("127.0.0.1", port, 0);
    int s = accept(l, NULL, NULL);
    close(l);
    l = socket(AF_INET, SOCK_STREAM, 0);
    a = sin4("127.0.0.1", port);
    R("port held by a connection", bind(l, (struct sockaddr *)&a, sizeof a));
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    R("and with reuseaddr", bind(l, (struct sockaddr *)&a, sizeof a));
    close(l);
    close(s);
    close(c);

    /* listen on an unbound socket picks a port. */
    l = socket(AF_INET, SOCK_STREAM, 0);
    R("listen unbound", listen(l, 1));
    printf("listen picked a port: %d\n", port_of(l) > 0);
    print_name("unbound listener", l, 0);
    close(l);
}

static void tcp_options(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1, v;
    R("type", intopt(s, SOL_SOCKET, SO_TYPE));
    R("domain", intopt(s, SOL_SOCKET, SO_DOMAIN));
    R("protocol", intopt(s, SOL_SOCKET, SO_PROTOCOL));
    R("nodelay default", intopt(s, IPPROTO_TCP, TCP_NODELAY));
    R("nodelay set", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    R("nodelay", intopt(s, IPPROTO_TCP, TCP_NODELAY));
    v = 5;
    R("nodelay nonzero", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v));
    R("nodelay is 1", intopt(s, IPPROTO_TCP, TCP_NODELAY));
    R("cork", setsockopt(s, IPPROTO_TCP, TCP_CORK, &one, sizeof one));
    R("cork get", intopt(s, IPPROTO_TCP, TCP_CORK));
    R("keepalive", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    R("keepalive get", intopt(s, SOL_SOCKET, SO_KEEPALIVE));
    v = 30;
    R("keepidle", setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));
    R("keepidle get", intopt(s, IPPROTO_TCP, TCP_KEEPIDLE));
    v = 0;
    R("keepidle zero", setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));
    R("keepcnt default", intopt(s, IPPROTO_TCP, TCP_KEEPCNT));
    v = 4096;
    R("rcvbuf", setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
    R("rcvbuf get", intopt(s, SOL_SOCKET, SO_RCVBUF));
    R("sndbuf", setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
    R("sndbuf get", intopt(s, SOL_SOCKET, SO_SNDBUF));
    v = 1;
    R("rcvbuf tiny", setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
    R("rcvbuf min", intopt(s, SOL_SOCKET, SO_RCVBUF));
    v = 0x11;
    R("tos", setsockopt(s, IPPROTO_IP, IP_TOS, &v, sizeof v));
    R("tos get", intopt(s, IPPROTO_IP, IP_TOS));
    R("ttl default", intopt(s, IPPROTO_IP, IP_TTL));
    v = 0;
    R("ttl zero", setsockopt(s, IPPROTO_IP, IP_TTL, &v, sizeof v));
    R("v6 option on v4", intopt(s, IPPROTO_IPV6, IPV6_V6ONLY));
    R("udp option on tcp", intopt(s, IPPROTO_UDP, 1));
    R("unknown option", intopt(s, SOL_SOCKET, 9999));
    short sh = 1;
    R("short option", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &sh, sizeof sh));
    R("bad option pointer", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (void *)8, 4));
    socklen_t l = 4;
    R("bad getsockopt pointer", getsockopt(s, SOL_SOCKET, SO_TYPE, (void *)8, &l));
    R("bad getsockopt len pointer", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, (void *)8));
    char small = 0;
    l = 1;
    R("short getsockopt", getsockopt(s, SOL_SOCKET, SO_TYPE, &small, &l));
    printf("short len: %u value %d\n", l, small);
    R("set v6 option on v4", setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    v = 1 << 20;
    R("rcvbufforce as root", setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v));
    R("rcvbufforce get", intopt(s, SOL_SOCKET, SO_RCVBUF));
    close(s);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    R("multicast ttl default", intopt(s, IPPROTO_IP, IP_MULTICAST_TTL));
    unsigned char ch = 7;
    R("multicast ttl char", setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &ch, 1));
    R("multicast ttl get", intopt(s, IPPROTO_IP, IP_MULTICAST_TTL));
    R("errqueue empty", recv(s, &ch, 1, MSG_ERRQUEUE));
    close(s);
    s = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 b6 = sin6("::1", 0);
    bind(s, (struct sockaddr *)&b6, sizeof b6);
    struct sockaddr_in6 m6 = sin6("::ffff:127.0.0.1", 9);
    R("v6 bound to ::1 sends to v4", sendto(s, "x", 1, 0, (struct sockaddr *)&m6, sizeof m6));
    close(s);
    s = socket(AF_INET6, SOCK_DGRAM, 0);
    v = 10;
    R("tclass", setsockopt(s, IPPROTO_IPV6, IPV6_TCLASS, &v, sizeof v));
    R("tclass get", intopt(s, IPPROTO_IPV6, IPV6_TCLASS));
    v = -1;
    R("tclass default", setsockopt(s, IPPROTO_IPV6, IPV6_TCLASS, &v, sizeof v));
    R("tclass back", intopt(s, IPPROTO_IPV6, IPV6_TCLASS));
    close(s);
}

static void udp(void) {
    int a = socket(AF_INET, SOCK_DGRAM, 0);
    int b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ba = sin4("127.0.0.1", 0);
    R("udp bind", bind(b, (struct sockaddr *)&ba, sizeof ba));
    ba = sin4("127.0.0.1", port_of(b));
    R("udp poll empty", revents(b, POLLIN | POLLOUT, 0));
    R("udp send unconnected", send(a, "x", 1, 0));
    R("udp sendto", sendto(a, "datagram one", 12, 0, (struct sockaddr *)&ba, sizeof ba));
    R("udp sendto 2", sendto(a, "two", 3, 0, (struct sockaddr *)&ba, sizeof ba));
    print_name("udp autobound", a, 0);
    R("udp poll", revents(b, POLLIN | POLLOUT, 0));
    int q = -1;
    ioctl(b, FIONREAD, &q);
    printf("udp fionread: %d\n", q);
    char buf[64];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    R("udp peek", recvfrom(b, buf, sizeof buf, MSG_PEEK, (struct sockaddr *)&from, &fl));
    printf("udp from: %s same port: %d\n", name(&from),
           ntohs(((struct sockaddr_in *)&from)->sin_port) == port_of(a));
    R("udp trunc", recv(b, buf, 4, MSG_TRUNC));
    R("udp second", recv(b, buf, sizeof buf, 0));
    printf("udp got: %.3s\n", buf);
    R("udp empty", recv(b, buf, sizeof buf, MSG_DONTWAIT));
    R("udp port 0", sendto(a, "x", 1, 0, (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}, sizeof(struct sockaddr_in)));
    static char big[70000];
    R("udp too big", sendto(a, big, sizeof big, 0, (struct sockaddr *)&ba, sizeof ba));
    R("udp max", sendto(a, big, 65507, 0, (struct sockaddr *)&ba, sizeof ba));
    R("udp max recv", recv(b, big, sizeof big, 0));
    R("udp listen", listen(b, 1));
    R("udp accept", accept(b, NULL, NULL));

    /* Connected: write and read, and only the peer's datagrams arrive. */
    struct sockaddr_in aa = sin4("127.0.0.1", port_of(a));
    R("udp connect", connect(b, (struct sockaddr *)&aa, sizeof aa));
    print_name("udp peer", b, 1);
    R("udp write", write(b, "to a", 4));
    R("udp read", read(a, buf, sizeof buf));
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    R("udp stranger", sendto(c, "no", 2, 0, (struct sockaddr *)&ba, sizeof ba));
    R("udp filtered", recv(b, buf, sizeof buf, MSG_DONTWAIT));
    R("udp from peer", sendto(a, "yes", 3, 0, (struct sockaddr *)&ba, sizeof ba));
    R("udp from peer got", recv(b, buf, sizeof buf, MSG_DONTWAIT));
    R("udp disconnect", connect(b, (struct sockaddr *)&(struct sockaddr){.sa_family = AF_UNSPEC}, sizeof(struct sockaddr)));
    print_name("udp peer after disconnect", b, 1);
    close(c);

    /* A connected socket learns that nothing listens. */
    int gone = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ga = sin4("127.0.0.1", 0);
    bind(gone, (struct sockaddr *)&ga, sizeof ga);
    ga = sin4("127.0.0.1", port_of(gone));
    close(gone);
    R("udp connect to nothing", connect(a, (struct sockaddr *)&ga, sizeof ga));
    R("udp send to nothing", send(a, "x", 1, 0));
    R("udp poll refused", revents(a, POLLIN | POLLOUT, 1000) & POLLERR);
    R("udp recv refused", recv(a, buf, sizeof buf, MSG_DONTWAIT));
    R("udp recv after", recv(a, buf, sizeof buf, MSG_DONTWAIT));
    R("udp shutdown unconnected", shutdown(c = socket(AF_INET, SOCK_DGRAM, 0), SHUT_RD));
    close(c);
    close(a);
    close(b);

    /* SO_REUSEADDR: the socket bound last receives. */
    int r1 = socket(AF_INET, SOCK_DGRAM, 0), r2 = socket(AF_INET, SOCK_DGRAM, 0);
    setsockopt(r1, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
    setsockopt(r2, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
    struct sockaddr_in ra = sin4("127.0.0.1", 0);
    bind(r1, (struct sockaddr *)&ra, sizeof ra);
    ra = sin4("127.0.0.1", port_of(r1));
    R("udp reuseaddr bind", bind(r2, (struct sockaddr *)&ra, sizeof ra));
    c = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(c, "r", 1, 0, (struct sockaddr *)&ra, sizeof ra);
    R("udp newest gets it", revents(r2, POLLIN, 1000));
    R("udp oldest does not", recv(r1, buf, sizeof buf, MSG_DONTWAIT));
    close(c);
    close(r1);
    close(r2);

    /* v6: a v4 datagram to a dual-stack socket comes from a v4-mapped address. */
    int s6 = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a6 = sin6("::", 0);
    bind(s6, (struct sockaddr *)&a6, sizeof a6);
    int s4 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sin4("127.0.0.1", port_of(s6));
    R("udp v4 to v6", sendto(s4, "mapped", 6, 0, (struct sockaddr *)&to, sizeof to));
    fl = sizeof from;
    R("udp v6 recv", recvfrom(s6, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
    printf("udp v6 from: %s len=%u\n", name(&from), fl);
    R("udp v6 sendto v4 addr", sendto(s6, "back", 4, 0, (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port_of(s4)), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}, sizeof(struct sockaddr_in)));
    R("udp v4 recv", recv(s4, buf, sizeof buf, 0));
    close(s4);
    close(s6);
}

static void two_processes(void) {
    int port;
    int l = listener(AF_INET, "127.0.0.1", 5, &port);
    enum { N = 3 << 20 };
    pid_t pid = fork();
    if (pid == 0) {
        int c = connect4("127.0.0.1", port, 0);
        char *buf = malloc(N);
        for (int i = 0; i < N; i++)
            buf[i] = (char)(i * 7 + i / 251);
        long n = 0;
        while (n < N) {
            long w = write(c, buf + n, N - n);
            if (w <= 0)
                _exit(2);
            n += w;
        }
        char ack;
        if (read(c, &ack, 1) != 1 || ack != 'k')
            _exit(3);
        close(c);
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    char *buf = malloc(N);
    R("waitall", recv(s, buf, N, MSG_WAITALL));
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= buf[i] == (char)(i * 7 + i / 251);
    printf("bytes intact: %d\n", ok);
    R("ack", write(s, "k", 1));
    R("eof after child", read(s, buf, 1));
    int st;
    waitpid(pid, &st, 0);
    printf("child: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(s);
    close(l);
    free(buf);
}

static void with_epoll(void) {
    int port;
    int l = listener(AF_INET, "127.0.0.1", 5, &port);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    struct epoll_event out[4];
    R("epoll idle", epoll_wait(ep, out, 4, 0));
    int c = connect4("127.0.0.1", port, 0);
    int n = epoll_wait(ep, out, 4, 1000);
    printf("epoll listener: %d events=%x\n", n, n > 0 ? out[0].events : 0);
    int s = accept(l, NULL, NULL);
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = 2;
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    write(c, "e", 1);
    n = epoll_wait(ep, out, 4, 1000);
    printf("epoll data: %d id=%u events=%x\n", n, n > 0 ? out[0].data.u32 : 0, n > 0 ? out[0].events : 0);
    char b;
    read(s, &b, 1);
    close(c);
    n = epoll_wait(ep, out, 4, 1000);
    printf("epoll hangup: %d events=%x\n", n, n > 0 ? out[0].events : 0);
    fd_set rf;
    FD_ZERO(&rf);
    FD_SET(s, &rf);
    struct timeval tv = {1, 0};
    R("select", select(s + 1, &rf, NULL, NULL, &tv));
    close(s);
    close(ep);
    close(l);
}

static void hostile(void) {
    R("seqpacket", socket(AF_INET, SOCK_SEQPACKET, 0));
    R("stream udp", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    R("dgram tcp", socket(AF_INET6, SOCK_DGRAM, IPPROTO_TCP));
    R("bad type", socket(AF_INET, 77, 0));
    int sv[2];
    R("socketpair inet", socketpair(AF_INET, SOCK_STREAM, 0, sv));
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sin4("127.0.0.1", 0);
    R("bind short", bind(s, (struct sockaddr *)&a, 8));
    R("bind zero len", bind(s, (struct sockaddr *)&a, 0));
    R("bind huge len", bind(s, (struct sockaddr *)&a, 4096));
    R("bind negative len", bind(s, (struct sockaddr *)&a, -1));
    R("bind bad pointer", bind(s, (struct sockaddr *)8, sizeof a));
    struct sockaddr_in6 a6 = sin6("::1", 0);
    R("bind v6 address on v4", bind(s, (struct sockaddr *)&a6, sizeof a6));
    struct sockaddr_in far = sin4("192.0.2.1", 0);
    R("bind not local", bind(s, (struct sockaddr *)&far, sizeof far));
    struct sockaddr_in unspec = a;
    unspec.sin_family = AF_UNSPEC;
    unspec.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    R("bind unspec loopback", bind(s, (struct sockaddr *)&unspec, sizeof unspec));
    R("connect short", connect(s, (struct sockaddr *)&a, 4));
    R("connect zero", connect(s, (struct sockaddr *)&a, 0));
    R("connect bad pointer", connect(s, (struct sockaddr *)8, sizeof a));
    R("connect v6 addr on v4", connect(s, (struct sockaddr *)&a6, sizeof a6));
    char buf[8];
    R("recv unconnected", recv(s, buf, sizeof buf, 0));
    R("send unconnected", send(s, "x", 1, MSG_NOSIGNAL));
    R("shutdown unconnected", shutdown(s, SHUT_WR));
    R("shutdown bad how", shutdown(s, 7));
    print_name("peer unconnected", s, 1);
    R("accept unlistening", accept(s, NULL, NULL));
    socklen_t l = sizeof a;
    R("getsockname bad len ptr", getsockname(s, (struct sockaddr *)&a, (socklen_t *)8));
    R("getsockname bad addr", getsockname(s, (struct sockaddr *)8, &l));
    l = (socklen_t)-1;
    R("getsockname negative len", getsockname(s, (struct sockaddr *)&a, &l));
    l = 2;
    R("getsockname short", getsockname(s, (struct sockaddr *)&a, &l));
    printf("short name len: %u family %d\n", l, a.sin_family);
    int s6 = socket(AF_INET6, SOCK_STREAM, 0);
    a6 = sin6("::1", 0);
    R("bind v6 short", bind(s6, (struct sockaddr *)&a6, 20));
    R("bind v6 rfc2133 len", bind(s6, (struct sockaddr *)&a6, 24));
    close(s6);
    s6 = socket(AF_INET6, SOCK_STREAM, 0);
    R("bind v4 addr on v6", bind(s6, (struct sockaddr *)&a, sizeof a));
    close(s6);
    /* Privileged ports need CAP_NET_BIND_SERVICE: this runs as root. */
    struct sockaddr_in low = sin4("127.0.0.1", 1);
    R("privileged port as root", bind(s, (struct sockaddr *)&low, sizeof low));
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
    R("sendmsg rights on tcp", ({
          int port;
          int ls = listener(AF_INET, "127.0.0.1", 1, &port);
          int c = connect4("127.0.0.1", port, 0);
          char cb[CMSG_SPACE(sizeof(int))] = {0};
          struct iovec iov = {"x", 1};
          struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb, .msg_controllen = sizeof cb};
          struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
          cm->cmsg_level = SOL_SOCKET;
          cm->cmsg_type = SCM_RIGHTS;
          cm->cmsg_len = CMSG_LEN(sizeof(int));
          memcpy(CMSG_DATA(cm), &s, sizeof s);
          long r = sendmsg(c, &m, 0);
          int e = errno;
          close(c);
          close(ls);
          errno = e;
          r;
      }));
    close(s);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    tcp_basics();
    peer_gone();
    connect_states();
    wildcard_and_v6();
    bind_rules();
    tcp_options();
    udp();
    two_processes();
    with_epoll();
    hostile();
    printf("done\n");
    return 0;
}
