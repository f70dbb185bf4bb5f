/* A TCP echo server on 0.0.0.0:PORT (argv[1]) for the outside and the sandbox alike, driven
 * by edge-triggered epoll: a forked child first connects over 127.0.0.1 (a sentry
 * connection), then the outside's connections come through the host. Each line received
 * is answered with "echo:LINE"; a connection says "hold" to stay open across a
 * checkpoint, and what a held connection's next read gives is printed ("read: ..."). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void fail(const char *what) {
    printf("%s: %s\n", what, strerror(errno));
    _exit(1);
}

static void internal_client(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof a))
        fail("internal connect");
    write(s, "internal\n", 9);
    char b[64] = {0};
    int n = read(s, b, sizeof b - 1);
    printf("internal client got: %.*s", n > 0 ? n : 0, b);
    _exit(0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 16))
        fail("listen");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    pid_t child = fork();
    if (child == 0)
        internal_client(port);
    int internal_done = 0;
    for (;;) {
        struct epoll_event evs[16];
        int n = epoll_wait(ep, evs, 16, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                for (;;) { /* edge-triggered: accept until EAGAIN */
                    struct sockaddr_in peer;
                    socklen_t pl = sizeof peer;
                    int c = accept4(l, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK);
                    if (c < 0) {
                        if (errno != EAGAIN)
                            fail("accept");
                        break;
                    }
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                              .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            for (;;) { /* edge-triggered: read until EAGAIN */
                char b[512];
                int r = read(fd, b, sizeof b - 1);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    if (r < 0)
                        printf("read: %s\n", strerror(errno));
                    close(fd);
                    break;
                }
                b[r] = 0;
                char out[600];
                int m = snprintf(out, sizeof out, "echo:%s", b);
                write(fd, out, m);
                if (!strncmp(b, "internal", 8) && !internal_done) {
                    internal_done = 1;
                    int st;
                    waitpid(child, &st, 0);
                    printf("listening\n");
                }
                if (!strncmp(b, "hold", 4))
                    printf("holding\n");
            }
        }
    }
}
