// Credential probe: each argument is one operation, `op:arg[:arg]`; each prints one line
// `op arg = result` where result is "ok" (plus detail) or the errno name.
//
//   ids                 real/effective/saved uid and gid, effective capabilities
//   read:PATH           open for reading
//   write:PATH          open for writing
//   create:PATH         create (O_EXCL) and report the new file's owner
//   mkdir:PATH          mkdir and report the owner
//   unlink:PATH  rmdir:PATH  chmod:PATH:OCTAL  chown:PATH:UID  utime:PATH
//   rename:FROM:TO      link:FROM:TO
//   hostname:NAME       sethostname
//   setuid:UID  setgid:GID  seteuid:UID
//   exec:PATH           execve PATH ids (the new program prints its ids)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <utime.h>

static const char *en(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EROFS: return "EROFS";
    default: {
        static char b[32];
        snprintf(b, sizeof b, "errno%d", e);
        return b;
    }
    }
}

static void owner(const char *p) {
    struct stat st;
    if (lstat(p, &st) == 0) printf(" owner %u:%u mode %o", st.st_uid, st.st_gid, st.st_mode & 07777);
}

static void done(const char *op, const char *arg, int r) {
    printf("%s %s = %s", op, arg, r < 0 ? en(errno) : "ok");
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", argv[i]);
        char *op = buf, *a = strchr(buf, ':'), *b = NULL;
        if (a) {
            *a++ = 0;
            b = strchr(a, ':');
            if (b) *b++ = 0;
        } else {
            a = "";
        }
        int r;
        if (!strcmp(op, "ids")) {
            uid_t ru, eu, su;
            gid_t rg, eg, sg;
            getresuid(&ru, &eu, &su);
            getresgid(&rg, &eg, &sg);
            struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
            struct __user_cap_data_struct d[2];
            syscall(SYS_capget, &h, d);
            printf("ids = uid %u %u %u gid %u %u %u capeff %08x%08x", ru, eu, su, rg, eg, sg,
                   d[1].effective, d[0].effective);
        } else if (!strcmp(op, "read") || !strcmp(op, "write")) {
            r = open(a, op[0] == 'r' ? O_RDONLY : O_WRONLY);
            done(op, a, r);
        } else if (!strcmp(op, "create")) {
            r = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644);
            done(op, a, r);
            if (r >= 0) owner(a);
        } else if (!strcmp(op, "mkdir")) {
            r = mkdir(a, 0755);
            done(op, a, r);
            if (r == 0) owner(a);
        } else if (!strcmp(op, "unlink")) {
            done(op, a, unlink(a));
        } else if (!strcmp(op, "rmdir")) {
            done(op, a, rmdir(a));
        } else if (!strcmp(op, "chmod")) {
            done(op, a, chmod(a, strtol(b, 0, 8)));
        } else if (!strcmp(op, "chown")) {
            done(op, a, chown(a, atoi(b), -1));
        } else if (!strcmp(op, "utime")) {
            struct utimbuf t = {1, 1};
            done(op, a, utime(a, &t));
        } else if (!strcmp(op, "rename")) {
            done(op, a, rename(a, b));
        } else if (!strcmp(op, "link")) {
            done(op, a, link(a, b));
        } else if (!strcmp(op, "hostname")) {
            done(op, a, sethostname(a, strlen(a)));
        } else if (!strcmp(op, "setuid")) {
            done(op, a, setuid(atoi(a)));
        } else if (!strcmp(op, "setgid")) {
            done(op, a, setgid(atoi(a)));
        } else if (!strcmp(op, "seteuid")) {
            done(op, a, seteuid(atoi(a)));
        } else if (!strcmp(op, "exec")) {
            fflush(stdout);
            char *args[] = {a, "ids", NULL};
            execv(a, args);
            done(op, a, -1);
        } else {
            printf("%s = unknown op", op);
        }
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
