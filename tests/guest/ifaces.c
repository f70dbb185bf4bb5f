/* The network interfaces a process sees: getifaddrs() (netlink link and address dumps),
 * if_nameindex()/if_nametoindex()/if_indextoname(), the SIOCGIF* ioctls on AF_INET,
 * AF_INET6, AF_UNIX and AF_NETLINK sockets (SIOCGIFCONF with no buffer, a short one and a
 * whole one), unknown names and indexes, hostile pointers, and a raw NETLINK_ROUTE
 * exchange as iproute2 makes it (bind, getsockname, peek with MSG_TRUNC, an acknowledged
 * request, a type past the last one). Prints one line per check, the same
 * natively and in the sandbox in the same network namespace (no pids, no counters). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *ename(int e) {
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

static void addr(const char *what, const struct sockaddr *sa) {
    char b[INET6_ADDRSTRLEN] = "-";
    if (!sa) {
        printf(" %s=none", what);
        return;
    }
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, b, sizeof b);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, b, sizeof b);
    else if (sa->sa_family == AF_PACKET) {
        const struct sockaddr_ll *l = (const struct sockaddr_ll *)sa;
        int n = 0;
        n += snprintf(b + n, sizeof b - n, "idx%d/type%d/", l->sll_ifindex, l->sll_hatype);
        for (int i = 0; i < l->sll_halen && i < 8 && n < (int)sizeof b - 3; i++)
            n += snprintf(b + n, sizeof b - n, "%02x", l->sll_addr[i]);
    }
    printf(" %s=%d:%s", what, sa->sa_family, b);
}

static void show_getifaddrs(void) {
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0) {
        printf("getifaddrs: %s\n", ename(errno));
        return;
    }
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        printf("ifaddr %s flags=%#x", i->ifa_name, i->ifa_flags);
        addr("addr", i->ifa_addr);
        addr("mask", i->ifa_netmask);
        addr("brd", i->ifa_broadaddr);
        printf(" data=%s\n", i->ifa_data ? "yes" : "no");
    }
    freeifaddrs(ifs);
}

static void show_nameindex(void) {
    struct if_nameindex *ni = if_nameindex();
    if (!ni) {
        printf("if_nameindex: %s\n", ename(errno));
        return;
    }
    for (struct if_nameindex *p = ni; p->if_index; p++) {
        char name[IF_NAMESIZE] = "";
        printf("nameindex %u %s toindex=%u toname=%s\n", p->if_index, p->if_name,
               if_nametoindex(p->if_name), if_indextoname(p->if_index, name) ? name : "-");
    }
    if_freenameindex(ni);
    errno = 0;
    printf("nametoindex nosuch0=%u %s\n", if_nametoindex("nosuch0"), ename(errno));
    char name[IF_NAMESIZE];
    printf("indextoname 99999=%s %s\n", if_indextoname(99999, name) ? name : "-", ename(errno));
}

/* One SIOCGIF* request on `fd` for `name`; prints its result. */
static void ifreq(int fd, const char *label, unsigned long req, const char *name) {
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strncpy(r.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, req, &r) < 0) {
        printf("  %s %s: %s\n", label, name, ename(errno));
        return;
    }
    printf("  %s %s:", label, name);
    switch (req) {
    case SIOCGIFINDEX: printf(" %d", r.ifr_ifindex); break;
    case SIOCGIFFLAGS: printf(" %#x", (unsigned short)r.ifr_flags); break;
    case SIOCGIFMTU: printf(" %d", r.ifr_mtu); break;
    case SIOCGIFTXQLEN: printf(" %d", r.ifr_qlen); break;
    case SIOCGIFHWADDR:
        printf(" family=%d", r.ifr_hwaddr.sa_family);
        for (int i = 0; i < 6; i++)
            printf("%c%02x", i ? ':' : ' ', (unsigned char)r.ifr_hwaddr.sa_data[i]);
        break;
    default: addr("", &r.ifr_addr);
    }
    printf("\n");
}

static void show_ioctls(const char *family, int fd) {
    printf("%s socket\n", family);
    struct ifconf c = {.ifc_len = 0, .ifc_buf = NULL};
    int r = ioctl(fd, SIOCGIFCONF, &c);
    printf(" SIOCGIFCONF null: %s len=%d\n", ename(r < 0 ? errno : 0), c.ifc_len);
    int whole = c.ifc_len;
    struct ifreq reqs[16];
    c.ifc_len = sizeof(struct ifreq) + 7;
    c.ifc_req = reqs;
    r = ioctl(fd, SIOCGIFCONF, &c);
    printf(" SIOCGIFCONF short: %s len=%d\n", ename(r < 0 ? errno : 0), c.ifc_len);
    c.ifc_len = sizeof reqs;
    r = ioctl(fd, SIOCGIFCONF, &c);
    printf(" SIOCGIFCONF: %s len=%d (null said %d)\n", ename(r < 0 ? errno : 0), c.ifc_len,
           whole);
    for (int i = 0; r == 0 && i < c.ifc_len / (int)sizeof(struct ifreq); i++) {
        printf(" conf %s", reqs[i].ifr_name);
        addr("addr", &reqs[i].ifr_addr);
        printf("\n");
    }
    struct if_nameindex *ni = if_nameindex();
    for (struct if_nameindex *p = ni; p && p->if_index; p++) {
        ifreq(fd, "INDEX", SIOCGIFINDEX, p->if_name);
        ifreq(fd, "FLAGS", SIOCGIFFLAGS, p->if_name);
        ifreq(fd, "MTU", SIOCGIFMTU, p->if_name);
        ifreq(fd, "TXQLEN", SIOCGIFTXQLEN, p->if_name);
        ifreq(fd, "HWADDR", SIOCGIFHWADDR, p->if_name);
        ifreq(fd, "ADDR", SIOCGIFADDR, p->if_name);
        ifreq(fd, "NETMASK", SIOCGIFNETMASK, p->if_name);
        ifreq(fd, "BRDADDR", SIOCGIFBRDADDR, p->if_name);
        struct ifreq q;
        memset(&q, 0, sizeof q);
        q.ifr_ifindex = p->if_index;
        r = ioctl(fd, SIOCGIFNAME, &q);
        printf("  NAME %u: %s %s\n", p->if_index, ename(r < 0 ? errno : 0), r ? "" : q.ifr_name);
    }
    if (ni)
        if_freenameindex(ni);
    ifreq(fd, "FLAGS", SIOCGIFFLAGS, "nosuch0");
    ifreq(fd, "ADDR", SIOCGIFADDR, "nosuch0");
    ifreq(fd, "ADDR", SIOCGIFADDR, "lo:7");
    struct ifreq q = {.ifr_ifindex = 99999};
    r = ioctl(fd, SIOCGIFNAME, &q);
    printf(" NAME 99999: %s\n", ename(r < 0 ? errno : 0));
    r = ioctl(fd, SIOCGIFFLAGS, (void *)8);
    printf(" FLAGS at a bad pointer: %s\n", ename(r < 0 ? errno : 0));
    r = ioctl(fd, SIOCGIFCONF, (void *)8);
    printf(" CONF at a bad pointer: %s\n", ename(r < 0 ? errno : 0));
    c.ifc_len = sizeof reqs;
    c.ifc_buf = (void *)8;
    r = ioctl(fd, SIOCGIFCONF, &c);
    printf(" CONF into a bad buffer: %s\n", ename(r < 0 ? errno : 0));
}

/* A raw NETLINK_ROUTE exchange: what iproute2 does before a dump. */
static void show_netlink(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    printf("netlink socket: %s\n", ename(fd < 0 ? errno : 0));
    if (fd < 0)
        return;
    int one = 1, buf = 32768;
    printf("SO_SNDBUF: %s\n", ename(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf) ? errno : 0));
    printf("EXT_ACK: %s\n", ename(setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one) ? errno : 0));
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    printf("bind: %s\n", ename(bind(fd, (struct sockaddr *)&sa, sizeof sa) ? errno : 0));
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    printf("getsockname: len=%u family=%d pid-is-set=%d groups=%u\n", len, sa.nl_family,
           sa.nl_pid != 0, sa.nl_groups);
    __u32 me = sa.nl_pid;
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
    } req = {.h = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETLINK,
                   .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 5},
             .i = {.ifi_family = AF_UNSPEC, .ifi_index = 1}};
    printf("send getlink 1: %zd\n", send(fd, &req, sizeof req, 0));
    /* A type past the last one. */
    req.h.nlmsg_type = 250;
    req.h.nlmsg_seq = 6;
    send(fd, &req, sizeof req, 0);
    char b[65536];
    for (int n = 0; n < 3; n++) {
        ssize_t peek = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        ssize_t got = recv(fd, b, sizeof b, MSG_DONTWAIT);
        printf("datagram %d: peek=%s got=%s\n", n, peek == got ? "same" : "differs",
               got < 0 ? ename(errno) : "ok");
        for (struct nlmsghdr *h = (struct nlmsghdr *)b; got > 0 && NLMSG_OK(h, got);
             h = NLMSG_NEXT(h, got)) {
            printf(" msg type=%d flags=%#x seq=%u mine=%d", h->nlmsg_type, h->nlmsg_flags,
                   h->nlmsg_seq, h->nlmsg_pid == me);
            if (h->nlmsg_type == NLMSG_ERROR)
                printf(" error=%s", ename(-((struct nlmsgerr *)NLMSG_DATA(h))->error));
            if (h->nlmsg_type == RTM_NEWLINK)
                printf(" index=%d", ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index);
            printf(" len=%s\n", h->nlmsg_len > 16 ? ">16" : "16");
        }
    }
    printf("recv into a bad buffer: ");
    req.h.nlmsg_type = RTM_GETLINK;
    send(fd, &req, sizeof req, 0);
    printf("%s\n", ename(recv(fd, (void *)8, 4096, MSG_DONTWAIT) < 0 ? errno : 0));
    close(fd);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    show_getifaddrs();
    show_nameindex();
    show_ioctls("inet", socket(AF_INET, SOCK_DGRAM, 0));
    show_ioctls("inet6", socket(AF_INET6, SOCK_DGRAM, 0));
    show_ioctls("unix", socket(AF_UNIX, SOCK_DGRAM, 0));
    show_ioctls("netlink", socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    show_netlink();
    return 0;
}
