/* Loopback TCP and UDP across a checkpoint: a TCP connection with bytes unread each way,
 * a listener with a connection not yet accepted (with bytes sent on it), and two UDP
 * sockets with two datagrams in flight. Afterwards each side reads its bytes, the pending
 * connection is accepted from its client's address with its bytes, the datagrams keep
 * their boundaries, order and sender, and the listener takes new connections. */
#include "cr.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

static struct sockaddr_in loopback(void) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	return a;
}

static struct sockaddr_in name_of(int fd, int peer) {
	struct sockaddr_in a;
	socklen_t n = sizeof a;
	memset(&a, 0, sizeof a);
	if (peer ? getpeername(fd, (void *)&a, &n) : getsockname(fd, (void *)&a, &n))
		a.sin_port = 0;
	return a;
}

static int connect_to(struct sockaddr_in a) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (void *)&a, sizeof a))
		return -1;
	return fd;
}

static void reads(const char *what, int fd, const char *want) {
	char buf[64] = {0};
	ssize_t n = read_all(fd, buf, strlen(want));
	check(n == (ssize_t)strlen(want) && memcmp(buf, want, n) == 0, "%s: read %zd %s", what, n, buf);
}

int main(void) {
	start("inet");
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = loopback();
	if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 4))
		die("listen");
	struct sockaddr_in la = name_of(l, 0);
	int c1 = connect_to(la);
	int a1 = accept(l, NULL, NULL);
	if (c1 < 0 || a1 < 0)
		die("connect");
	if (write(c1, "to the server", 13) != 13 || write(a1, "to the client", 13) != 13)
		die("write");
	int c2 = connect_to(la);
	if (c2 < 0 || write(c2, "pending", 7) != 7)
		die("pending connect");
	struct sockaddr_in c2a = name_of(c2, 0);
	int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in b = loopback();
	if (u1 < 0 || u2 < 0 || bind(u1, (void *)&b, sizeof b) || bind(u2, (void *)&b, sizeof b))
		die("udp");
	struct sockaddr_in u1a = name_of(u1, 0), u2a = name_of(u2, 0);
	if (sendto(u2, "first", 5, 0, (void *)&u1a, sizeof u1a) != 5 ||
	    sendto(u2, "second datagram", 15, 0, (void *)&u1a, sizeof u1a) != 15)
		die("sendto");
	ready();
	wait_term();

	reads("the server's bytes", a1, "to the server");
	reads("the client's bytes", c1, "to the client");
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	memset(&from, 0, sizeof from);
	int a2 = accept(l, (void *)&from, &fl);
	check(a2 >= 0, "accept of the pending connection: %s", strerror(errno));
	if (a2 >= 0) {
		check(from.sin_port == c2a.sin_port && from.sin_addr.s_addr == c2a.sin_addr.s_addr,
		      "the pending connection comes from port %d, not %d", ntohs(from.sin_port), ntohs(c2a.sin_port));
		reads("the pending connection's bytes", a2, "pending");
		check(write(a2, "back", 4) == 4, "write on the accepted connection");
		reads("the pending client", c2, "back");
	}
	struct sockaddr_in peer = name_of(c1, 1);
	check(peer.sin_port == la.sin_port, "the client's peer is port %d, not %d", ntohs(peer.sin_port),
	      ntohs(la.sin_port));
	const char *dg[2] = {"first", "second datagram"};
	for (int i = 0; i < 2; i++) {
		char buf[64] = {0};
		fl = sizeof from;
		ssize_t n = recvfrom(u1, buf, sizeof buf, MSG_DONTWAIT, (void *)&from, &fl);
		check(n == (ssize_t)strlen(dg[i]) && memcmp(buf, dg[i], n) == 0, "datagram %d: %zd %s", i, n, buf);
		check(n < 0 || from.sin_port == u2a.sin_port, "datagram %d from port %d, not %d", i, ntohs(from.sin_port),
		      ntohs(u2a.sin_port));
	}
	char buf[8];
	check(recv(u1, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN, "a third datagram");
	int c3 = connect_to(la);
	int a3 = c3 < 0 ? -1 : accept(l, NULL, NULL);
	check(c3 >= 0 && a3 >= 0, "a new connection to the listener: %s", strerror(errno));
	if (a3 >= 0) {
		check(write(c3, "new", 3) == 3, "write on the new connection");
		reads("the new connection", a3, "new");
	}
	check(write(c1, "more", 4) == 4, "write on the old connection");
	reads("more on the old connection", a1, "more");
	return finish();
}
