/* inotify across a checkpoint: an instance watching a tmpfs directory (all events), a file
 * in it (modify, attrib, delete-self) that is renamed before the checkpoint (the watch
 * follows it), and a subdirectory (create, one-shot), with events queued and not read.
 * Afterwards the queued events read back whole and in order (the rename's two halves
 * with one cookie), the watch descriptors are the same, each watch still hears its
 * inode, the one-shot watch ends after one event, and a new watch gets the next
 * descriptor, and hostile arguments (bad pointers, masks, fds, flags, a short buffer)
 * get the errnos Linux gives. */
#include "cr.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/stat.h>

struct ev {
	int wd;
	uint32_t mask, cookie;
	char name[64];
};

/* Reads every queued event (non-blocking fd) into evs; returns the count. */
static int drain(int fd, struct ev *evs, int max) {
	char buf[4096] __attribute__((aligned(8)));
	int n = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r <= 0)
			return n;
		for (char *p = buf; p < buf + r && n < max;) {
			struct inotify_event *e = (struct inotify_event *)p;
			evs[n].wd = e->wd;
			evs[n].mask = e->mask;
			evs[n].cookie = e->cookie;
			snprintf(evs[n].name, sizeof evs[n].name, "%s", e->len ? e->name : "");
			n++;
			p += sizeof *e + e->len;
		}
	}
}

static void expect(struct ev *got, int n, int i, int wd, uint32_t mask, const char *name) {
	if (i >= n) {
		check(0, "event %d (wd %d mask %#x %s) missing: %d events", i, wd, mask, name, n);
		return;
	}
	check(got[i].wd == wd && got[i].mask == mask && !strcmp(got[i].name, name),
	      "event %d: wd %d mask %#x name '%s', want wd %d mask %#x name '%s'", i, got[i].wd, got[i].mask,
	      got[i].name, wd, mask, name);
}

int main(void) {
	start("inotify");
	if (mkdir("/tmp/ino", 0755) || mkdir("/tmp/ino/sub", 0755))
		die("mkdir");
	int a = open("/tmp/ino/a", O_WRONLY | O_CREAT, 0644);
	if (a < 0)
		die("create a");
	close(a);
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0)
		die("inotify_init1");
	int wd_dir = inotify_add_watch(in, "/tmp/ino", IN_ALL_EVENTS);
	int wd_file = inotify_add_watch(in, "/tmp/ino/a", IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF);
	int wd_sub = inotify_add_watch(in, "/tmp/ino/sub", IN_CREATE | IN_ONESHOT);
	if (wd_dir < 0 || wd_file < 0 || wd_sub < 0)
		die("inotify_add_watch");
	int b = open("/tmp/ino/before", O_WRONLY | O_CREAT, 0644);
	if (b < 0)
		die("create before");
	close(b);
	if (rename("/tmp/ino/a", "/tmp/ino/b"))
		die("rename");
	ready();
	wait_term();

	struct ev got[32];
	int n = drain(in, got, 32);
	check(n == 5, "%d events queued, want 5", n);
	expect(got, n, 0, wd_dir, IN_CREATE, "before");
	expect(got, n, 1, wd_dir, IN_OPEN, "before");
	expect(got, n, 2, wd_dir, IN_CLOSE_WRITE, "before");
	expect(got, n, 3, wd_dir, IN_MOVED_FROM, "a");
	expect(got, n, 4, wd_dir, IN_MOVED_TO, "b");
	if (n == 5)
		check(got[3].cookie && got[3].cookie == got[4].cookie, "rename cookies %u and %u", got[3].cookie,
		      got[4].cookie);

	/* The watch on the renamed file still hears it. */
	int f = open("/tmp/ino/b", O_WRONLY);
	check(f >= 0 && write(f, "x", 1) == 1, "write b: %s", strerror(errno));
	struct pollfd p = {.fd = in, .events = POLLIN};
	check(poll(&p, 1, 0) == 1 && p.revents == POLLIN, "poll after a write: %d", p.revents);
	close(f);
	n = drain(in, got, 32);
	check(n == 4, "%d events after the write, want 4", n);
	expect(got, n, 0, wd_dir, IN_OPEN, "b");
	expect(got, n, 1, wd_dir, IN_MODIFY, "b");
	expect(got, n, 2, wd_file, IN_MODIFY, "");
	expect(got, n, 3, wd_dir, IN_CLOSE_WRITE, "b");

	/* The one-shot watch hears one creation and ends. */
	check(mkdir("/tmp/ino/sub/x", 0755) == 0 && mkdir("/tmp/ino/sub/y", 0755) == 0, "mkdir in sub: %s",
	      strerror(errno));
	n = drain(in, got, 32);
	check(n == 2, "%d events after two mkdirs in sub, want 2", n);
	expect(got, n, 0, wd_sub, IN_CREATE | IN_ISDIR, "x");
	expect(got, n, 1, wd_sub, IN_IGNORED, "");
	check(inotify_rm_watch(in, wd_sub) < 0 && errno == EINVAL, "the one-shot watch is still there");

	/* Unlinking the file ends its watch. */
	check(unlink("/tmp/ino/b") == 0, "unlink b: %s", strerror(errno));
	n = drain(in, got, 32);
	check(n == 4, "%d events after the unlink, want 4", n);
	expect(got, n, 0, wd_file, IN_ATTRIB, "");
	expect(got, n, 1, wd_file, IN_DELETE_SELF, "");
	expect(got, n, 2, wd_file, IN_IGNORED, "");
	expect(got, n, 3, wd_dir, IN_DELETE, "b");

	/* Hostile arguments get Linux's errnos. */
	errno = 0;
	check(inotify_add_watch(in, (const char *)8, IN_ALL_EVENTS) < 0 && errno == EFAULT, "bad path pointer: %s",
	      strerror(errno));
	errno = 0;
	check(inotify_add_watch(in, "/tmp/ino", 0) < 0 && errno == EINVAL, "empty mask: %s", strerror(errno));
	errno = 0;
	check(inotify_add_watch(0, "/tmp/ino", IN_ALL_EVENTS) < 0 && errno == EINVAL, "not an inotify fd: %s",
	      strerror(errno));
	errno = 0;
	check(inotify_rm_watch(in, 999) < 0 && errno == EINVAL, "unknown wd: %s", strerror(errno));
	errno = 0;
	check(inotify_init1(12345) < 0 && errno == EINVAL, "bad init flags: %s", strerror(errno));
	char buf[4096];
	check(read(in, buf, sizeof buf) < 0 && errno == EAGAIN, "empty queue read: %s", strerror(errno));
	int e = open("/tmp/ino/before", O_RDONLY);
	close(e);
	char small[8];
	errno = 0;
	check(read(in, small, sizeof small) < 0 && errno == EINVAL, "short buffer: %s", strerror(errno));
	errno = 0;
	void *volatile bad = (void *)8;
	check(read(in, bad, 4096) < 0 && errno == EFAULT, "bad buffer pointer: %s", strerror(errno));
	drain(in, got, 32);

	int next = inotify_add_watch(in, "/tmp/ino/before", IN_ACCESS);
	check(next == wd_sub + 1, "a new watch got wd %d, want %d", next, wd_sub + 1);
	return finish();
}
