// fork + exec + wait with exit statuses, and a signal-killed child.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        return atoi(argv[2]);
    }
    int total = 0;
    for (int i = 0; i < 5; i++) {
        pid_t p = fork();
        if (p == 0) {
            char code[8];
            snprintf(code, sizeof code, "%d", i * 10);
            execl("/proc/self/exe", argv[0], "child", code, (char *)0);
            _exit(127);
        }
        int st;
        if (waitpid(p, &st, 0) != p || !WIFEXITED(st)) { printf("bad wait\n"); return 1; }
        total += WEXITSTATUS(st);
    }
    pid_t p = fork();
    if (p == 0) { pause(); _exit(0); }
    kill(p, SIGTERM);
    int st;
    waitpid(p, &st, 0);
    printf("sum=%d signaled=%d sig=%d ppid_ok=%d\n", total, WIFSIGNALED(st), WTERMSIG(st), getppid() >= 0);
    // vfork + exec of a shell.
    p = vfork();
    if (p == 0) { execl("/bin/busybox", "sh", "-c", "exit 42", (char *)0); _exit(1); }
    waitpid(p, &st, 0);
    printf("vfork=%d\n", WEXITSTATUS(st));
    return 0;
}
