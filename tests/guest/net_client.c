/* A client of the outside: argv[1] is a host's IPv4 address, argv[2] a TCP port serving
 * one line, argv[3] a UDP port echoing a datagram, argv[4] a port nothing listens on.
 * Non-blocking connect (EINPROGRESS, poll, SO_ERROR), reads before the answer (EAGAIN) and
 * into a bad buffer (EFAULT), the exchange (readv), getpeername, UDP
 * sendto/recvfrom, and a refused blocking connect; one line per step. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static struct sockaddr_in at(const char *ip, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 5)
        return 2;
    struct sockaddr_in a = at(argv[1], atoi(argv[2]));
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    printf("connect: %s\n", r == 0 ? "ok" : errno == EINPROGRESS ? "EINPROGRESS" : strerror(errno));
    struct pollfd p = {.fd = s, .events = POLLOUT};
    printf("poll: %d\n", poll(&p, 1, 10000));
    int err = -1;
    socklen_t el = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
    printf("SO_ERROR: %d\n", err);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    getpeername(s, (struct sockaddr *)&peer, &pl);
    printf("peer: %s:%d\n", inet_ntoa(peer.sin_addr), ntohs(peer.sin_port));
    // Nothing to read yet (the server answers the line): a non-blocking read and a
    // MSG_DONTWAIT receive say EAGAIN.
    char b[256];
    int early = read(s, b, sizeof b);
    printf("early read: %s\n", early < 0 && errno == EAGAIN ? "EAGAIN" : "data?");
    early = recv(s, b, sizeof b, MSG_DONTWAIT);
    printf("early recv: %s\n", early < 0 && errno == EAGAIN ? "EAGAIN" : "data?");
    write(s, "hello from the sandbox\n", 23);
    struct pollfd w = {.fd = s, .events = POLLIN};
    poll(&w, 1, 10000);
    // A buffer the guest cannot write: EFAULT, and the bytes stay for the next read.
    int bad = read(s, (char *)8, 16);
    printf("bad buffer: %s\n", bad < 0 ? strerror(errno) : "read?");
    int got = 0;
    for (;;) {
        struct pollfd q = {.fd = s, .events = POLLIN};
        poll(&q, 1, 10000);
        // Into two buffers: 3 bytes, then the rest.
        struct iovec iov[2] = {{b + got, 3}, {b + got + 3, sizeof b - 4 - got}};
        int n = readv(s, iov, 2);
        if (n <= 0)
            break;
        got += n;
    }
    b[got] = 0;
    printf("tcp got: %s", b);
    close(s);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = at(argv[1], atoi(argv[3]));
    sendto(u, "udp ping", 8, 0, (struct sockaddr *)&ua, sizeof ua);
    struct pollfd q = {.fd = u, .events = POLLIN};
    printf("udp poll: %d\n", poll(&q, 1, 10000));
    struct sockaddr_in from = {0};
    socklen_t fl = sizeof from;
    int n = recvfrom(u, b, sizeof b - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    b[n > 0 ? n : 0] = 0;
    printf("udp got: %s from %s:%d\n", b, inet_ntoa(from.sin_addr), ntohs(from.sin_port));

    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in closed = at(argv[1], atoi(argv[4]));
    r = connect(c, (struct sockaddr *)&closed, sizeof closed);
    printf("closed port: %s\n", r == 0 ? "ok" : strerror(errno));
    return 0;
}
