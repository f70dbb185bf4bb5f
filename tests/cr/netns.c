/* Network namespaces across a checkpoint: a listener on 127.0.0.1:P and an unconnected
 * TCP socket made in the sandbox's first namespace; then the process unshares its user and
 * network namespaces, brings lo up, listens on the same port there, holds a connection with
 * bytes in flight and an abstract unix listener. After the restore: the same namespace
 * (ns/net), lo up, the bytes, a new connection reaching the new namespace's listener, the
 * abstract name, nothing outside; the first namespace's socket still connects into the
 * first namespace alone (to its listener on the same port). */
#include "cr.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#define PORT 41234
#define ABSTRACT "crnetns"

static struct sockaddr_in lo4(int port) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int listener(void) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = lo4(PORT);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8))
		return -1;
	return s;
}

static struct sockaddr_un abstract_addr(socklen_t *len) {
	struct sockaddr_un u = {.sun_family = AF_UNIX};
	memcpy(u.sun_path + 1, ABSTRACT, strlen(ABSTRACT));
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(ABSTRACT);
	return u;
}

static void ns_link(char *buf, size_t n) {
	memset(buf, 0, n);
	if (readlink("/proc/self/ns/net", buf, n - 1) < 0)
		snprintf(buf, n, "(%s)", strerror(errno));
}

static int lo_flags(void) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq r = {0};
	strcpy(r.ifr_name, "lo");
	int x = ioctl(s, SIOCGIFFLAGS, &r);
	close(s);
	return x < 0 ? -errno : (unsigned short)r.ifr_flags;
}

int main(void) {
	start("netns");
	char first[64], mine[64], now[64];
	ns_link(first, sizeof first);
	int l0 = listener();
	if (l0 < 0)
		die("listen in the first namespace");
	int c0 = socket(AF_INET, SOCK_STREAM, 0);
	if (c0 < 0)
		die("socket in the first namespace");
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET))
		die("unshare");
	ns_link(mine, sizeof mine);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq r = {0};
	strcpy(r.ifr_name, "lo");
	r.ifr_flags = IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &r))
		die("lo up");
	close(s);
	int l1 = listener();
	if (l1 < 0)
		die("listen on the same port in the new namespace");
	int c1 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = lo4(PORT);
	if (connect(c1, (struct sockaddr *)&a, sizeof a))
		die("connect in the new namespace");
	int a1 = accept(l1, NULL, NULL);
	if (a1 < 0 || write(c1, "hello", 5) != 5)
		die("accept and write");
	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	socklen_t ulen;
	struct sockaddr_un ua = abstract_addr(&ulen);
	if (bind(u, (struct sockaddr *)&ua, ulen) || listen(u, 4))
		die("abstract listener");

	ready();
	wait_term();

	fcntl(l0, F_SETFL, O_NONBLOCK);
	fcntl(l1, F_SETFL, O_NONBLOCK);
	ns_link(now, sizeof now);
	check(!strcmp(now, mine), "ns/net %s, was %s", now, mine);
	check(strcmp(now, first) != 0, "ns/net %s is the first namespace's", now);
	check(lo_flags() == (IFF_UP | IFF_LOOPBACK | IFF_RUNNING), "lo flags %#x", lo_flags());
	char b[8] = {0};
	check(read(a1, b, 5) == 5 && !memcmp(b, "hello", 5), "bytes in flight: %s", b);
	int c2 = socket(AF_INET, SOCK_STREAM, 0);
	check(connect(c2, (struct sockaddr *)&a, sizeof a) == 0, "connect after restore: %s",
	      strerror(errno));
	int a2 = accept(l1, NULL, NULL);
	check(a2 >= 0, "the new namespace's listener accepts: %s", strerror(errno));
	int uc = socket(AF_UNIX, SOCK_STREAM, 0);
	check(connect(uc, (struct sockaddr *)&ua, ulen) == 0, "abstract connect: %s",
	      strerror(errno));
	struct sockaddr_in far = {.sin_family = AF_INET, .sin_port = htons(80)};
	inet_pton(AF_INET, "10.1.2.3", &far.sin_addr);
	int cf = socket(AF_INET, SOCK_STREAM, 0);
	errno = 0;
	check(connect(cf, (struct sockaddr *)&far, sizeof far) < 0 && errno == ENETUNREACH,
	      "connect outside: %s", strerror(errno));
	/* The first namespace: its listener has nothing yet, and its socket reaches it. */
	int x = accept(l0, NULL, NULL);
	check(x < 0 && errno == EAGAIN, "the first namespace's listener got a connection");
	check(connect(c0, (struct sockaddr *)&a, sizeof a) == 0, "first namespace connect: %s",
	      strerror(errno));
	x = accept(l0, NULL, NULL);
	check(x >= 0, "the first namespace's listener accepts: %s", strerror(errno));
	x = accept(l1, NULL, NULL);
	check(x < 0 && errno == EAGAIN, "the new namespace's listener got the first's connection");
	return finish();
}
