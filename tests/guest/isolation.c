// Isolation probes: raw mkdir, mount, init_module, symlink escape, vsyscall, int 0x80, getpid,
// a network namespace's reach.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

static sigjmp_buf env;
static void h(int s) { (void)s; siglongjmp(env, 1); }

/* "netns IP PORT": IP:PORT is reachable from the sandbox's first network namespace (a TCP
 * connect); from a new one (lo up) neither a TCP connect nor a UDP datagram reaches it, and
 * IP cannot be bound. Prints what each gave. */
static void netns_reach(const char *ip, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    long r = connect(s, (struct sockaddr *)&a, sizeof a);
    printf("first=%s", r < 0 ? strerrorname_np(errno) : "ok");
    close(s);
    r = unshare(CLONE_NEWUSER | CLONE_NEWNET);
    printf(" unshare=%s", r < 0 ? strerrorname_np(errno) : "ok");
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    s = socket(AF_INET, SOCK_DGRAM, 0);
    ioctl(s, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP;
    r = ioctl(s, SIOCSIFFLAGS, &ifr);
    printf(" lo_up=%s", r < 0 ? strerrorname_np(errno) : "ok");
    r = sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
    printf(" udp=%s", r < 0 ? strerrorname_np(errno) : "ok");
    close(s);
    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    r = connect(s, (struct sockaddr *)&a, sizeof a);
    printf(" tcp=%s", r < 0 ? strerrorname_np(errno) : "ok");
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in b = a;
    b.sin_port = 0;
    r = bind(s, (struct sockaddr *)&b, sizeof b);
    printf(" bind=%s\n", r < 0 ? strerrorname_np(errno) : "ok");
    close(s);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "mkdir")) {
        long r = syscall(SYS_mkdir, argv[2], 0755);
        printf("mkdir=%ld\n", r);
    } else if (!strcmp(what, "mount")) {
        // A tmpfs is the sentry's own (inside the sandbox); a host file system or a
        // bind of a host directory is not served; modules are refused.
        const char *dir = argc > 2 ? argv[2] : "/mnt";
        errno = 0;
        long t = syscall(SYS_mount, "none", dir, "tmpfs", 0, 0);
        int te = errno;
        errno = 0;
        long x = syscall(SYS_mount, "/dev/vda", dir, "ext4", 0, 0);
        int xe = errno;
        errno = 0;
        long b = syscall(SYS_mount, "/", dir, NULL, MS_BIND, 0);
        int be = errno;
        errno = 0;
        long m = syscall(SYS_init_module, 0, 0, "");
        int me = errno;
        printf("tmpfs=%ld %s ext4=%ld %s bind=%ld %s init_module=%ld %s\n", t, strerrorname_np(te) ? strerrorname_np(te) : "0",
               x, strerrorname_np(xe) ? strerrorname_np(xe) : "0", b, strerrorname_np(be) ? strerrorname_np(be) : "0",
               m, strerrorname_np(me) ? strerrorname_np(me) : "0");
    } else if (!strcmp(what, "escape")) {
        int fd = open(argv[2], O_RDONLY);
        printf("escape open=%d %s\n", fd, fd < 0 && errno == ENOENT ? "ENOENT" : "opened");
    } else if (!strcmp(what, "vsyscall")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = h;
        sigaction(SIGSEGV, &sa, 0);
        if (sigsetjmp(env, 1) == 0) {
            time_t t = ((time_t(*)(time_t *))0xffffffffff600400)(0);
            printf("vsyscall returned %ld\n", (long)t);
        } else {
            printf("vsyscall SIGSEGV\n");
        }
    } else if (!strcmp(what, "int80")) {
        long r;
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20) : "memory");
        printf("int80=%ld\n", r);
    } else if (!strcmp(what, "crash")) {
        *(volatile int *)0 = 1;
    } else if (!strcmp(what, "netns")) {
        netns_reach(argv[2], atoi(argv[3]));
    } else if (!strcmp(what, "pid")) {
        printf("pid=%d\n", getpid());
        fflush(stdout);
        if (argc > 2) sleep(atoi(argv[2]));
    }
    return 0;
}
