/* TCP and UDP over loopback across a checkpoint: a child connects to the parent's listener
 * on 127.0.0.1 and writes 8 MiB (more than the connection holds, so its write is blocked
 * with bytes in flight), a second connection waits in the listener's queue with bytes
 * sent, a v6 UDP socket holds a datagram; prints "ready", waits for /tmp/go (made after
 * the restore), then reads everything back (checking every byte), answers the child,
 * accepts the pending connection, and connects to the listener again. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { N = 8 << 20 };

static void fail(const char *what) {
    perror(what);
    _exit(1);
}

static char byte_at(long i) {
    return (char)(i * 13 + i / 4093);
}

static int port_of(int s) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4))
        fail("listener");
    a.sin_port = htons(port_of(l));
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a))
            fail("child connect");
        char *buf = malloc(N);
        for (long i = 0; i < N; i++)
            buf[i] = byte_at(i);
        long n = 0;
        while (n < N) {
            long w = write(c, buf + n, N - n);
            if (w <= 0)
                fail("child write");
            n += w;
        }
        char reply[16] = {0};
        if (read(c, reply, sizeof reply) != 5 || memcmp(reply, "thank", 5))
            _exit(3);
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    if (s < 0)
        fail("accept");
    int p = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(p, (struct sockaddr *)&a, sizeof a) || write(p, "early", 5) != 5)
        fail("pending");
    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 u6 = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    socklen_t ul = sizeof u6;
    if (bind(u, (struct sockaddr *)&u6, sizeof u6) || getsockname(u, (struct sockaddr *)&u6, &ul))
        fail("udp");
    int us = socket(AF_INET6, SOCK_DGRAM, 0);
    if (sendto(us, "datagram", 8, 0, (struct sockaddr *)&u6, sizeof u6) != 8)
        fail("udp send");
    /* Let the child fill the connection. */
    char peek[1];
    if (recv(s, peek, 1, MSG_PEEK) != 1)
        fail("peek");
    usleep(200000);
    printf("ready\n");
    struct stat st;
    while (stat("/tmp/go", &st) != 0)
        usleep(20000);

    char *buf = malloc(N);
    long got = recv(s, buf, N, MSG_WAITALL);
    int ok = got == N;
    for (long i = 0; ok && i < N; i++)
        ok = buf[i] == byte_at(i);
    printf("stream: %ld intact=%d\n", got, ok);
    write(s, "thank", 5);
    int status;
    waitpid(pid, &status, 0);
    printf("child: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    printf("eof: %zd\n", read(s, buf, 16));
    int ps = accept(l, NULL, NULL);
    int n = read(ps, buf, 16);
    printf("pending: %.*s\n", n, buf);
    write(ps, "answer", 6);
    n = read(p, buf, 16);
    printf("client: %.*s\n", n, buf);
    struct sockaddr_in6 from;
    socklen_t fl = sizeof from;
    n = recvfrom(u, buf, 16, 0, (struct sockaddr *)&from, &fl);
    printf("udp: %.*s from port ok=%d\n", n, buf, from.sin6_port != 0);
    int c2 = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c2, (struct sockaddr *)&a, sizeof a))
        fail("connect after restore");
    int s2 = accept(l, NULL, NULL);
    write(c2, "new", 3);
    n = read(s2, buf, 16);
    printf("new connection: %.*s\n", n, buf);
    int taken = socket(AF_INET, SOCK_STREAM, 0);
    printf("port still bound: %d\n", bind(taken, (struct sockaddr *)&a, sizeof a) < 0);
    printf("done\n");
    return 0;
}
