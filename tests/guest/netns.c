/* Network namespaces: a child that unshares its user and network namespaces has a new
 * /proc/self/ns/net, only `lo`, down (no address; loopback unreachable, binding 127.0.0.1
 * refused), brought up by SIOCSIFFLAGS or by RTM_NEWLINK; then 127.0.0.1 and ::1 work
 * inside it and nothing else is reachable; the parent's abstract unix name is not seen
 * (the child binds the same name), its path-named socket is; the parent's port on
 * 127.0.0.1 is free in the child, and each side reaches its own listener; a grandchild
 * shares the child's namespace; setns back to the parent's namespace is EPERM (its owner
 * is the first user namespace), setns to a namespace of the child's user namespace works.
 * Prints one line per check, the same natively (as root) and in the sandbox. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ename(int e) {
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

static void res(const char *what, long r) {
    if (r < 0)
        printf("%s: %s\n", what, ename(errno));
    else
        printf("%s: ok\n", what);
    fflush(stdout);
}

static unsigned short port;

static struct sockaddr_in in4(const char *ip, int p) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

/* A TCP connect to `a`, on a socket of its family closed after. */
static long connect_to(const struct sockaddr *a, socklen_t len) {
    int s = socket(a->sa_family, SOCK_STREAM, 0);
    long r = connect(s, a, len);
    int e = errno;
    close(s);
    errno = e;
    return r;
}

static long tcp_connect(const char *ip, int p) {
    struct sockaddr_in a = in4(ip, p);
    return connect_to((struct sockaddr *)&a, sizeof a);
}

static long tcp6_connect(int p) {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(p)};
    a.sin6_addr = in6addr_loopback;
    return connect_to((struct sockaddr *)&a, sizeof a);
}

static long udp_send(const char *ip, int p) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = in4(ip, p);
    long r = sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(s);
    errno = e;
    return r;
}

static long bind_to(const char *ip, int p) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = in4(ip, p);
    long r = bind(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(s);
    errno = e;
    return r;
}

/* A TCP listener on 127.0.0.1:p, or -1. */
static int listener(int p) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = in4("127.0.0.1", p);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 4) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* Connects to 127.0.0.1:p and reads the byte the accepting side sends. */
static void talk(const char *what, int l, int p) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = in4("127.0.0.1", p);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("%s: connect %s\n", what, ename(errno));
        close(c);
        return;
    }
    int s = accept(l, NULL, NULL);
    char b = 0;
    write(s, what, 1);
    read(c, &b, 1);
    printf("%s: got %c\n", what, b);
    close(s);
    close(c);
}

static void ns_link(char *out, size_t n) {
    memset(out, 0, n);
    readlink("/proc/self/ns/net", out, n - 1);
}

/* The interfaces: SIOCGIFFLAGS and SIOCGIFINDEX of lo, if_nameindex, SIOCGIFCONF's
 * length, getifaddrs' entries of each family. */
static void show_ifaces(const char *when) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r = {0};
    strcpy(r.ifr_name, "lo");
    long x = ioctl(s, SIOCGIFFLAGS, &r);
    printf("%s: flags %s %#x", when, x < 0 ? ename(errno) : "ok", (unsigned short)r.ifr_flags);
    x = ioctl(s, SIOCGIFINDEX, &r);
    printf(" index %d", x < 0 ? -1 : r.ifr_ifindex);
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    x = ioctl(s, SIOCGIFADDR, &r);
    char ip[INET_ADDRSTRLEN] = "-";
    if (x == 0)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&r.ifr_addr)->sin_addr, ip, sizeof ip);
    printf(" addr %s %s", x < 0 ? ename(errno) : "ok", ip);
    struct ifconf c = {0};
    x = ioctl(s, SIOCGIFCONF, &c);
    printf(" ifconf %ld", x < 0 ? -1L : (long)(c.ifc_len / sizeof(struct ifreq)));
    struct if_nameindex *ni = if_nameindex();
    printf(" names");
    for (struct if_nameindex *i = ni; i && i->if_index; i++)
        printf(" %u:%s", i->if_index, i->if_name);
    if (ni)
        if_freenameindex(ni);
    struct ifaddrs *ifa;
    int v4 = 0, v6 = 0, pk = 0;
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
            if (!i->ifa_addr)
                continue;
            v4 += i->ifa_addr->sa_family == AF_INET;
            v6 += i->ifa_addr->sa_family == AF_INET6;
            pk += i->ifa_addr->sa_family == AF_PACKET;
            if (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6) {
                char b[INET6_ADDRSTRLEN];
                void *p = i->ifa_addr->sa_family == AF_INET
                              ? (void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                              : (void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
                inet_ntop(i->ifa_addr->sa_family, p, b, sizeof b);
                printf(" %s=%s/%#x", i->ifa_name, b, i->ifa_flags & 0xffff);
            }
        }
        freeifaddrs(ifa);
    }
    printf(" getifaddrs inet=%d inet6=%d packet=%d\n", v4, v6, pk);
    close(s);
    fflush(stdout);
}

/* Sets or clears IFF_UP of lo with SIOCSIFFLAGS. */
static long lo_up_ioctl(int up) {
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct ifreq r = {0};
    strcpy(r.ifr_name, "lo");
    ioctl(s, SIOCGIFFLAGS, &r);
    if (up)
        r.ifr_flags |= IFF_UP;
    else
        r.ifr_flags &= ~IFF_UP;
    long x = ioctl(s, SIOCSIFFLAGS, &r);
    int e = errno;
    close(s);
    errno = e;
    return x;
}

/* Sets or clears IFF_UP of lo (by `index`, or by name when 0) with RTM_NEWLINK, as
 * `ip link set lo up` does; returns the acknowledgement's error. */
static int lo_up_netlink(int up, int index) {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
        char attrs[16];
    } req = {0};
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.i);
    req.h.nlmsg_type = RTM_NEWLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = 7;
    req.i.ifi_family = AF_UNSPEC;
    req.i.ifi_index = index;
    req.i.ifi_change = IFF_UP;
    req.i.ifi_flags = up ? IFF_UP : 0;
    if (!index) {
        struct rtattr *a = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.h.nlmsg_len));
        a->rta_type = IFLA_IFNAME;
        a->rta_len = RTA_LENGTH(3);
        memcpy(RTA_DATA(a), "lo", 3);
        req.h.nlmsg_len = NLMSG_ALIGN(req.h.nlmsg_len) + RTA_ALIGN(a->rta_len);
    }
    if (send(s, &req, req.h.nlmsg_len, 0) < 0) {
        int e = errno;
        close(s);
        return e;
    }
    char b[4096];
    long n = recv(s, b, sizeof b, 0);
    close(s);
    struct nlmsghdr *h = (struct nlmsghdr *)b;
    if (n < (long)sizeof *h || h->nlmsg_type != NLMSG_ERROR)
        return -1;
    return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
}

static void unix_checks(const char *abs, const char *path) {
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path + 1, abs, strlen(abs));
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abs);
    res("child: connect to the parent's abstract name", connect(c, (struct sockaddr *)&a, len));
    close(c);
    int b = socket(AF_UNIX, SOCK_STREAM, 0);
    res("child: bind the parent's abstract name", bind(b, (struct sockaddr *)&a, len));
    c = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un p = {.sun_family = AF_UNIX};
    strcpy(p.sun_path, path);
    res("child: connect to the parent's socket file", connect(c, (struct sockaddr *)&p, sizeof p));
    close(c);
    close(b);
}

int main(void) {
    port = 20000 + getpid() % 20000;
    char init_ns[64], ns[64];
    ns_link(init_ns, sizeof init_ns);
    /* The parent's names, in the first namespace. */
    char abs[64], path[64];
    snprintf(abs, sizeof abs, "netns-test-%d", getpid());
    snprintf(path, sizeof path, "/tmp/netns-test-%d", getpid());
    unlink(path);
    int ua = socket(AF_UNIX, SOCK_STREAM, 0), up = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path + 1, abs, strlen(abs));
    bind(ua, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abs));
    listen(ua, 4);
    struct sockaddr_un p = {.sun_family = AF_UNIX};
    strcpy(p.sun_path, path);
    bind(up, (struct sockaddr *)&p, sizeof p);
    listen(up, 4);
    int pl = listener(port);
    res("parent: listen on 127.0.0.1:P", pl);
    int init_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    res("parent: open /proc/self/ns/net", init_fd);

    pid_t child = fork();
    if (child == 0) {
        res("child: unshare(CLONE_NEWUSER|CLONE_NEWNET)", unshare(CLONE_NEWUSER | CLONE_NEWNET));
        ns_link(ns, sizeof ns);
        printf("child: ns/net differs from the parent's: %d, named net:[: %d\n",
               strcmp(ns, init_ns) != 0, strncmp(ns, "net:[", 5) == 0);
        show_ifaces("child, lo down");
        res("child, lo down: connect 127.0.0.1", tcp_connect("127.0.0.1", port));
        res("child, lo down: connect ::1", tcp6_connect(port));
        res("child, lo down: connect 10.1.2.3", tcp_connect("10.1.2.3", 80));
        res("child, lo down: sendto 127.0.0.1", udp_send("127.0.0.1", port));
        res("child, lo down: sendto 8.8.8.8", udp_send("8.8.8.8", 53));
        res("child, lo down: bind 127.0.0.1", bind_to("127.0.0.1", 0));
        res("child, lo down: bind 0.0.0.0", bind_to("0.0.0.0", 0));
        res("child, lo down: bind 10.1.2.3", bind_to("10.1.2.3", 0));
        res("child: SIOCSIFFLAGS lo up", lo_up_ioctl(1));
        show_ifaces("child, lo up");
        printf("child: RTM_NEWLINK lo down by index: %s\n", ename(lo_up_netlink(0, 1)));
        show_ifaces("child, lo down by netlink");
        printf("child: RTM_NEWLINK lo up by name: %s\n", ename(lo_up_netlink(1, 0)));
        printf("child: RTM_NEWLINK index 9: %s\n", ename(lo_up_netlink(1, 9)));
        show_ifaces("child, lo up by netlink");
        res("child, lo up: connect to the parent's port", tcp_connect("127.0.0.1", port));
        res("child, lo up: connect 10.1.2.3", tcp_connect("10.1.2.3", 80));
        res("child, lo up: connect 192.168.1.1", tcp_connect("192.168.1.1", 80));
        res("child, lo up: sendto 8.8.8.8", udp_send("8.8.8.8", 53));
        res("child, lo up: sendto 127.0.0.1", udp_send("127.0.0.1", port));
        res("child, lo up: bind 10.1.2.3", bind_to("10.1.2.3", 0));
        int cl = listener(port);
        res("child: listen on 127.0.0.1:P as the parent does", cl);
        talk("c", cl, port);
        res("child, lo up: connect ::1 (no listener)", tcp6_connect(port));
        unix_checks(abs, path);
        /* A grandchild shares the namespace. */
        pid_t g = fork();
        if (g == 0) {
            char gns[64];
            ns_link(gns, sizeof gns);
            printf("grandchild: same ns/net as the child: %d\n", strcmp(gns, ns) == 0);
            talk("g", cl, port);
            /* setns: into a namespace of its user namespace, then back. */
            int mine = open("/proc/self/ns/net", O_RDONLY);
            res("grandchild: unshare(CLONE_NEWNET)", unshare(CLONE_NEWNET));
            ns_link(gns, sizeof gns);
            printf("grandchild: a third ns/net: %d\n",
                   strcmp(gns, ns) != 0 && strcmp(gns, init_ns) != 0);
            res("grandchild, own namespace: connect to the child's listener",
                tcp_connect("127.0.0.1", port));
            res("grandchild: setns(the child's, CLONE_NEWUTS)", setns(mine, CLONE_NEWUTS));
            res("grandchild: setns(the first, CLONE_NEWNET)", setns(init_fd, CLONE_NEWNET));
            res("grandchild: setns(the child's, 0)", setns(mine, 0));
            ns_link(gns, sizeof gns);
            printf("grandchild: back in the child's: %d\n", strcmp(gns, ns) == 0);
            talk("h", cl, port);
            _exit(0);
        }
        waitpid(g, NULL, 0);
        close(cl);
        _exit(0);
    }
    int st;
    waitpid(child, &st, 0);
    printf("child exited %d\n", WEXITSTATUS(st));
    ns_link(ns, sizeof ns);
    printf("parent: same ns/net: %d\n", strcmp(ns, init_ns) == 0);
    talk("p", pl, port);
    unlink(path);
    return 0;
}
