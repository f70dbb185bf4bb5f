// File I/O across a directory tree: mkdir, create, write, read back, rename, link,
// symlink, readdir, stat, unlink, rmdir.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(x) do { if (!(x)) { printf("FAIL %s:%d %s errno=%d\n", __FILE__, __LINE__, #x, errno); exit(1); } } while (0)

int main(int argc, char **argv) {
    const char *base = argc > 1 ? argv[1] : "/tmp/tree";
    char p[512];
    CHECK(mkdir(base, 0755) == 0);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/d%d", base, i);
        CHECK(mkdir(p, 0755) == 0);
        for (int j = 0; j < 4; j++) {
            snprintf(p, sizeof p, "%s/d%d/f%d", base, i, j);
            int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
            CHECK(fd >= 0);
            char buf[64];
            int n = snprintf(buf, sizeof buf, "file %d %d\n", i, j);
            CHECK(write(fd, buf, n) == n);
            CHECK(close(fd) == 0);
        }
    }
    // Read one back with pread and lseek.
    snprintf(p, sizeof p, "%s/d3/f2", base);
    int fd = open(p, O_RDWR | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, "more\n", 5) == 5);
    char buf[64] = {0};
    CHECK(pread(fd, buf, sizeof buf - 1, 0) == 14);
    CHECK(strcmp(buf, "file 3 2\nmore\n") == 0);
    CHECK(lseek(fd, 5, SEEK_SET) == 5);
    memset(buf, 0, sizeof buf);
    CHECK(read(fd, buf, 3) == 3 && strcmp(buf, "3 2") == 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 14 && S_ISREG(st.st_mode));
    close(fd);
    // Count the tree.
    int files = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/d%d", base, i);
        DIR *d = opendir(p);
        CHECK(d);
        struct dirent *e;
        while ((e = readdir(d))) if (e->d_name[0] == 'f') files++;
        closedir(d);
    }
    CHECK(files == 20);
    // rename, link, symlink, readlink.
    char q[512];
    snprintf(p, sizeof p, "%s/d0/f0", base);
    snprintf(q, sizeof q, "%s/d1/moved", base);
    CHECK(rename(p, q) == 0);
    CHECK(access(p, F_OK) == -1 && errno == ENOENT);
    snprintf(p, sizeof p, "%s/d1/hard", base);
    CHECK(link(q, p) == 0);
    CHECK(stat(p, &st) == 0 && st.st_nlink == 2);
    snprintf(p, sizeof p, "%s/d1/soft", base);
    CHECK(symlink("moved", p) == 0);
    char t[64] = {0};
    CHECK(readlink(p, t, sizeof t) == 5 && strcmp(t, "moved") == 0);
    fd = open(p, O_RDONLY);
    CHECK(fd >= 0);
    memset(buf, 0, sizeof buf);
    CHECK(read(fd, buf, sizeof buf) == 9 && strcmp(buf, "file 0 0\n") == 0);
    close(fd);
    CHECK(lstat(p, &st) == 0 && S_ISLNK(st.st_mode));
    // chdir + relative paths + getcwd.
    snprintf(p, sizeof p, "%s/d2", base);
    CHECK(chdir(p) == 0);
    CHECK(getcwd(t, sizeof t) && strcmp(t, p) == 0);
    CHECK(unlink("f1") == 0);
    CHECK(open("f1", O_RDONLY) == -1 && errno == ENOENT);
    CHECK(rmdir("../d4") == -1 && errno == ENOTEMPTY);
    CHECK(truncate("f2", 3) == 0 && stat("f2", &st) == 0 && st.st_size == 3);
    CHECK(mkdir("f2", 0755) == -1 && errno == EEXIST);
    CHECK(open("f3/x", O_RDONLY) == -1 && errno == ENOTDIR);
    printf("fileio ok %d\n", files);
    return 0;
}
