// The parent runs first after fork. CRIU's zdtm test library (test_init), reduced: the
// parent records that it is the parent only after fork returned, then waits on a shared
// futex word for its child to be ready; the child exits early, and the parent's SIGCHLD
// handler (SA_RESTART) sets the word to FAIL -- if it knows it is the parent. Should the
// handler run before the parent's first store after fork, the parent waits forever. On
// Linux fork returns to the parent without a reschedule, so that never happens; each
// round here counts as hung if the parent is still waiting after 2 s.
// Prints "H/N hung"; stops after 3 hung rounds.
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile uint32_t sig_received;
static volatile uint32_t *stage;
static int parent;
static void wake(volatile uint32_t *f, uint32_t v) {
    __atomic_store_n(f, v, __ATOMIC_SEQ_CST);
    if (syscall(SYS_futex, f, FUTEX_WAKE, 0x7fffffff, 0, 0, 0) < 0) abort();
}
static void sig_hand(int signo) {
    if (parent) wake(stage, 3);
    wake(&sig_received, signo);
}
static void alarm_hand(int s) { (void)s; _exit(99); }
static void wait_while(volatile uint32_t *f, uint32_t v) {
    for (;;) {
        uint32_t tmp = *f;
        if (tmp != v) break;
        int r = syscall(SYS_futex, f, FUTEX_WAIT, tmp, 0, 0, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    }
}
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100, hangs = 0;
    for (int i = 0; i < n; i++) {
        pid_t top = fork();
        if (top == 0) {
            struct sigaction sa = {.sa_handler = sig_hand, .sa_flags = SA_RESTART};
            sigemptyset(&sa.sa_mask);
            sigaction(SIGTERM, &sa, 0);
            sigaction(SIGCHLD, &sa, 0);
            signal(SIGALRM, alarm_hand);
            alarm(2);
            stage = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_SHARED, -1, 0);
            *stage = 0;
            pid_t pid = fork();
            parent = 1;
            if (pid) {
                wait_while(stage, 0);
                int st;
                if (*stage == 3) waitpid(pid, &st, 0);
                _exit(0);
            }
            parent = 0;
            setsid();
            sa.sa_handler = SIG_DFL;
            sigaction(SIGCHLD, &sa, 0);
            exit(1); // early exit, before test_daemon()
        }
        int st;
        waitpid(top, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) hangs++;
        if (hangs == 3) { n = i + 1; break; }
    }
    printf("%d/%d hung\n", hangs, n);
    return 0;
}
