/* A process's own state across a checkpoint: its working directory (in a tmpfs), umask,
 * resource limits (RLIMIT_NOFILE enforced), its name, no_new_privs, keep-caps, child
 * subreaper, dumpable and death signal, and its scheduling attributes (nice, policy with
 * reset-on-fork, CPU affinity), its host and domain names, and a child's UTS namespace of
 * its own with other names, an open /proc/self/mem that still reads its memory, the key
 * quota root set in /proc/sys/kernel/keys, and an open /proc/self/status and
 * /proc/self/task that still show it as it is. */
#include "cr.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

int main(void) {
	start("procstate");
	if (mkdir("/tmp/wd", 0755) || mkdir("/tmp/wd/sub", 0700) || chdir("/tmp/wd/sub"))
		die("chdir");
	umask(027);
	struct rlimit nofile = {100, 1000}, core = {0, 4096}, stack = {4 << 20, 16 << 20};
	if (setrlimit(RLIMIT_NOFILE, &nofile) || setrlimit(RLIMIT_CORE, &core) || setrlimit(RLIMIT_STACK, &stack))
		die("setrlimit");
	if (prctl(PR_SET_NAME, "cr-procstate") || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_KEEPCAPS, 1) ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1) || prctl(PR_SET_DUMPABLE, 0) || prctl(PR_SET_PDEATHSIG, SIGUSR2))
		die("prctl");
	struct sched_param sp = {0};
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (setpriority(PRIO_PROCESS, 0, 7) || sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp) ||
	    sched_setaffinity(0, sizeof one, &one))
		die("scheduling attributes");
	if (sethostname("cr-host", 7) || setdomainname("cr.domain", 9))
		die("sethostname");
	int go[2];
	if (pipe(go))
		die("pipe");
	pid_t child = fork();
	if (child == 0) {
		/* Its own names, kept across the checkpoint: exit 0 when they still are. */
		if (unshare(CLONE_NEWUTS) || sethostname("cr-inner", 8) || setdomainname("inner.dom", 9))
			_exit(2);
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		struct utsname u;
		uname(&u);
		_exit(strcmp(u.nodename, "cr-inner") == 0 && strcmp(u.domainname, "inner.dom") == 0 ? 0 : 4);
	}
	static char marker[] = "memory by address";
	int mem = open("/proc/self/mem", O_RDWR);
	if (mem < 0)
		die("open /proc/self/mem");
	int keys = open("/proc/sys/kernel/keys/maxkeys", O_RDWR);
	if (keys < 0 || write(keys, "123\n", 4) != 4)
		die("set maxkeys");
	int status_fd = open("/proc/self/status", O_RDONLY), task_fd = open("/proc/self/task", O_RDONLY);
	if (status_fd < 0 || task_fd < 0)
		die("open /proc/self files");
	ready();
	wait_term();
	char text[4096] = {0};
	check(pread(keys, text, sizeof text - 1, 0) == 4 && strcmp(text, "123\n") == 0, "maxkeys %s", text);
	memset(text, 0, sizeof text);
	check(pread(status_fd, text, sizeof text - 1, 0) > 0 && strstr(text, "Name:\tcr-procstate\n"),
	      "/proc/self/status after restore: %.40s", text);
	char ents[4096];
	check(syscall(SYS_getdents64, task_fd, ents, sizeof ents) > 0, "/proc/self/task listed after restore");
	char seen[sizeof marker] = {0};
	check(pread(mem, seen, sizeof seen, (off_t)marker) == sizeof seen && strcmp(seen, marker) == 0,
	      "/proc/self/mem after restore: %s", seen);
	check(pwrite(mem, "M", 1, (off_t)marker) == 1 && marker[0] == 'M', "a write through /proc/self/mem");
	struct utsname u;
	uname(&u);
	check(strcmp(u.nodename, "cr-host") == 0 && strcmp(u.domainname, "cr.domain") == 0, "names %s %s",
	      u.nodename, u.domainname);
	int status = -1;
	check(write(go[1], "x", 1) == 1 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	          WEXITSTATUS(status) == 0,
	      "the child's own UTS namespace: status %#x", status);

	char cwd[256] = {0};
	check(getcwd(cwd, sizeof cwd) && strcmp(cwd, "/tmp/wd/sub") == 0, "cwd %s", cwd);
	int fd = open("here", O_CREAT | O_WRONLY, 0666);
	struct stat st;
	check(fd >= 0 && stat("/tmp/wd/sub/here", &st) == 0, "a relative open does not land in the cwd");
	check((st.st_mode & 0777) == 0640, "mode %o: umask lost", st.st_mode & 0777);
	mode_t old = umask(0);
	check(old == 027, "umask %o", old);
	struct rlimit r;
	getrlimit(RLIMIT_NOFILE, &r);
	check(r.rlim_cur == 100 && r.rlim_max == 1000, "RLIMIT_NOFILE %lu/%lu", r.rlim_cur, r.rlim_max);
	getrlimit(RLIMIT_CORE, &r);
	check(r.rlim_cur == 0 && r.rlim_max == 4096, "RLIMIT_CORE %lu/%lu", r.rlim_cur, r.rlim_max);
	getrlimit(RLIMIT_STACK, &r);
	check(r.rlim_cur == 4u << 20 && r.rlim_max == 16u << 20, "RLIMIT_STACK %lu/%lu", r.rlim_cur, r.rlim_max);
	check(dup2(0, 150) == -1 && errno == EBADF, "RLIMIT_NOFILE not enforced");
	char name[17] = {0};
	prctl(PR_GET_NAME, name);
	check(strcmp(name, "cr-procstate") == 0, "name %s", name);
	check(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs lost");
	check(prctl(PR_GET_KEEPCAPS) == 1, "keep-caps lost");
	int v = 0;
	check(prctl(PR_GET_CHILD_SUBREAPER, &v) == 0 && v == 1, "child subreaper lost (%d)", v);
	check(prctl(PR_GET_DUMPABLE) == 0, "dumpable 0 lost");
	v = 0;
	check(prctl(PR_GET_PDEATHSIG, &v) == 0 && v == SIGUSR2, "death signal lost (%d)", v);
	errno = 0;
	v = getpriority(PRIO_PROCESS, 0);
	check(v == 7 && errno == 0, "nice %d", v);
	v = sched_getscheduler(0);
	check(v == (SCHED_BATCH | SCHED_RESET_ON_FORK), "policy %#x", v);
	cpu_set_t got;
	CPU_ZERO(&got);
	check(sched_getaffinity(0, sizeof got, &got) == 0 && CPU_COUNT(&got) == 1 && CPU_ISSET(0, &got),
	      "affinity: %d CPUs", CPU_COUNT(&got));
	return finish();
}
