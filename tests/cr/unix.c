/* Unix sockets across a checkpoint: a stream pair with bytes and a pipe's read end in
 * flight, a datagram pair with two queued datagrams, a seqpacket pair with two records and
 * an eventfd in flight, a listener on /tmp/cr.sock with two pending connections (one sent
 * bytes) and an abstract listener with one. Afterwards everything reads back, the record
 * and datagram boundaries hold, the passed files work, and new connects find both names. */
#include "cr.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

static int send_fd(int s, const char *data, int fd) {
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {(void *)data, strlen(data)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return sendmsg(s, &m, 0) == (ssize_t)strlen(data) ? 0 : -1;
}

/* Receives into buf (NUL-terminated); *fd gets a passed descriptor or -1. */
static int recv_fd(int s, char *buf, size_t len, int *fd) {
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {buf, len - 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	int n = recvmsg(s, &m, MSG_DONTWAIT);
	*fd = -1;
	buf[n > 0 ? n : 0] = 0;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (n >= 0 && c && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof *fd);
	return n;
}

static socklen_t addr(struct sockaddr_un *a, const char *path, int abstract) {
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	strcpy(a->sun_path + abstract, path);
	return offsetof(struct sockaddr_un, sun_path) + abstract + strlen(path) + !abstract;
}

int main(void) {
	start("unix");
	int st[2], dg[2], sp[2], p[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) || pipe(p))
		die("socketpair");
	int ev = eventfd(9, 0);
	if (write(p[1], "piped", 5) != 5 || send_fd(st[0], "stream bytes", p[0]) || write(st[0], " more", 5) != 5)
		die("stream");
	close(p[0]);
	if (send(dg[0], "first", 5, 0) != 5 || send(dg[0], "second", 6, 0) != 6)
		die("dgram");
	if (send_fd(sp[0], "record one", ev) || send(sp[0], "record two", 10, 0) != 10)
		die("seqpacket");
	close(ev);
	struct sockaddr_un a, b;
	socklen_t al = addr(&a, "/tmp/cr.sock", 0), bl = addr(&b, "cr-abstract", 1);
	int l = socket(AF_UNIX, SOCK_STREAM, 0), la = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	int c1 = socket(AF_UNIX, SOCK_STREAM, 0), c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	int c3 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (bind(l, (void *)&a, al) || listen(l, 8) || bind(la, (void *)&b, bl) || listen(la, 8))
		die("listen");
	if (connect(c1, (void *)&a, al) || connect(c2, (void *)&a, al) || connect(c3, (void *)&b, bl))
		die("connect");
	if (write(c1, "early", 5) != 5 || send(c3, "abstract", 8, 0) != 8)
		die("early");
	ready();
	wait_term();

	char buf[64];
	int fd;
	int n = recv_fd(st[1], buf, sizeof buf, &fd);
	check(n >= 12 && strncmp(buf, "stream bytes", 12) == 0, "stream: %d %s", n, buf);
	if (n == 12)
		check(recv(st[1], buf, sizeof buf, 0) == 5, "stream: the rest");
	check(fd >= 0, "stream: no file in flight");
	if (fd >= 0) {
		memset(buf, 0, sizeof buf);
		check(read(fd, buf, sizeof buf) == 5 && strcmp(buf, "piped") == 0, "the passed pipe: %s", buf);
	}
	check(recv(dg[1], buf, sizeof buf, 0) == 5 && recv(dg[1], buf, sizeof buf, 0) == 6, "datagram boundaries");
	n = recv_fd(sp[1], buf, sizeof buf, &fd);
	check(n == 10 && strcmp(buf, "record one") == 0 && fd >= 0, "seqpacket record one: %d %s fd %d", n, buf, fd);
	if (fd >= 0) {
		uint64_t v = 0;
		check(read(fd, &v, 8) == 8 && v == 9, "the passed eventfd: %llu", (unsigned long long)v);
	}
	n = recv_fd(sp[1], buf, sizeof buf, &fd);
	check(n == 10 && strcmp(buf, "record two") == 0, "seqpacket record two: %d %s", n, buf);
	int s1 = accept(l, NULL, NULL), s2 = accept(l, NULL, NULL), s3 = accept(la, NULL, NULL);
	check(s1 >= 0 && s2 >= 0 && s3 >= 0, "accept the pending connections: %s", strerror(errno));
	memset(buf, 0, sizeof buf);
	check(s1 >= 0 && read(s1, buf, sizeof buf) == 5 && strcmp(buf, "early") == 0, "pending: %s", buf);
	check(s2 >= 0 && write(s2, "reply", 5) == 5 && read(c2, buf, sizeof buf) == 5, "second pending connection");
	memset(buf, 0, sizeof buf);
	check(s3 >= 0 && recv(s3, buf, sizeof buf, 0) == 8 && strcmp(buf, "abstract") == 0, "abstract: %s", buf);
	int n1 = socket(AF_UNIX, SOCK_STREAM, 0), n2 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	check(connect(n1, (void *)&a, al) == 0, "connect to /tmp/cr.sock again: %s", strerror(errno));
	check(connect(n2, (void *)&b, bl) == 0, "connect to the abstract name again: %s", strerror(errno));
	close(st[0]);
	check(recv(st[1], buf, sizeof buf, 0) == 0, "no EOF after the peer closed");
	return finish();
}
