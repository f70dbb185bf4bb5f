// Benchmark: loopback TCP between two processes. `bulk MIB` prints the MB/s of MIB MiB
// written by a child in 64 KiB writes and read by the parent; `conn N` prints the
// connections per second of N connect + accept + close. `sink PORT MIB` listens on
// 0.0.0.0:PORT, takes one connection and prints the MB/s of the MIB MiB it reads from it
// (from the accept to the end of file): the receiving end of a transfer from outside.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    if (strcmp(argv[1], "sink") == 0 && argc == 4) {
        struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        long want = atol(argv[3]) << 20;
        int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(l, (struct sockaddr *)&any, sizeof any) || listen(l, 1))
            return 3;
        int s = accept(l, NULL, NULL);
        double t0 = now();
        char *buf = malloc(1 << 16);
        long got = 0, r;
        for (;;) {
            r = read(s, buf, 1 << 16);
            if (r > 0) {
                got += r;
                continue;
            }
            // gVisor's host network (2022) may say EAGAIN on a blocking socket: wait.
            struct pollfd p = {.fd = s, .events = POLLIN};
            if (r < 0 && errno == EAGAIN && poll(&p, 1, 10000) > 0)
                continue;
            break;
        }
        double dt = now() - t0;
        if (got != want) {
            fprintf(stderr, "sink: %ld of %ld bytes, then %s\n", got, want,
                    r < 0 ? strerror(errno) : "end of file");
            return 6;
        }
        printf("%.0f\n", want / dt / 1e6);
        return 0;
    }
    long n = atol(argv[2]);
    int bulk = strcmp(argv[1], "bulk") == 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int l = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t al = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 128) ||
        getsockname(l, (struct sockaddr *)&a, &al))
        return 3;
    enum { CHUNK = 64 << 10 };
    pid_t pid = fork();
    if (pid == 0) {
        if (bulk) {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(c, (struct sockaddr *)&a, sizeof a))
                _exit(4);
            char *buf = calloc(1, CHUNK);
            for (long left = n << 20; left > 0;) {
                long w = write(c, buf, left < CHUNK ? left : CHUNK);
                if (w <= 0)
                    _exit(5);
                left -= w;
            }
        } else {
            for (long i = 0; i < n; i++) {
                int c = socket(AF_INET, SOCK_STREAM, 0);
                if (connect(c, (struct sockaddr *)&a, sizeof a))
                    _exit(4);
                char b;
                // The server closes first, so the client's port is free at once.
                if (read(c, &b, 1) != 0)
                    _exit(5);
                close(c);
            }
        }
        _exit(0);
    }
    double t0 = now();
    if (bulk) {
        int s = accept(l, NULL, NULL);
        char *buf = malloc(CHUNK);
        long got = 0, r;
        while ((r = read(s, buf, CHUNK)) > 0)
            got += r;
        if (got != n << 20)
            return 6;
    } else {
        for (long i = 0; i < n; i++) {
            int s = accept(l, NULL, NULL);
            if (s < 0)
                return 6;
            close(s);
        }
    }
    int st;
    waitpid(pid, &st, 0);
    double dt = now() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 7;
    printf("%.0f\n", bulk ? (n << 20) / dt / 1e6 : n / dt);
    return 0;
}
