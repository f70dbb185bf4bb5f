// Faults no handler can fix: code run from a writable page mapped without PROT_EXEC
// (SIGSEGV, SEGV_ACCERR at the code's address, also to a handler that then leaves), and
// a SIGSEGV handler on the alternate stack that faults again until its frames would run
// off the bottom of that stack (the signal is forced: the process dies by SIGSEGV rather
// than the frames going on below the stack). Prints one line per check: the same lines
// natively and in the sandbox.
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "checks.h"

/* mov $42, %eax; ret */
static const unsigned char code[] = {0xb8, 0x2a, 0, 0, 0, 0xc3};

/* How a child running f ended. */
static void ends(const char *what, void (*f)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        f();
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("%s: killed by %s\n", what, strsignal(WTERMSIG(st)));
    else
        printf("%s: exit %d\n", what, WEXITSTATUS(st));
}

static unsigned char *page;

static void run_noexec(void) {
    int (*f)(void) = (int (*)(void))page;
    _exit(f());
}

static sigjmp_buf env;
static void *fault_addr;
static int fault_code;
static void recover(int s, siginfo_t *si, void *uc) {
    (void)s;
    (void)uc;
    fault_addr = si->si_addr;
    fault_code = si->si_code;
    siglongjmp(env, 1);
}

/* A handler that faults again `depth` times, each time on the alternate stack one frame
 * lower. */
static volatile int depth;
static char *low;
static void refault(int s, siginfo_t *si, void *uc) {
    (void)s;
    (void)si;
    char here;
    if (&here < low)
        low = &here;
    if (depth > 0) {
        depth--;
        *(volatile int *)8 = 1;
    }
    siglongjmp(env, 1);
}

static char altstack[4 * 65536];

static void fault_at_depth(int d) {
    depth = d;
    if (sigsetjmp(env, 0) == 0)
        *(volatile int *)8 = 1;
}

static void walk_off(void) {
    size_t half = sizeof altstack / 2;
    stack_t ss = {.ss_sp = altstack + half, .ss_size = half};
    sigaltstack(&ss, 0);
    struct sigaction sa = {.sa_sigaction = refault, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER};
    sigaction(SIGSEGV, &sa, 0);
    // The size of a frame: one fault, then two.
    low = altstack + sizeof altstack;
    fault_at_depth(0);
    char *one = low;
    fault_at_depth(1);
    size_t frame = one - low;
    // Just more nested frames than the upper half holds: the next would start in the
    // lower half, which is memory still.
    fault_at_depth((half + frame) / frame);
    // Not reached when the signal is forced.
    printf("walked below the stack: %d\n", low < altstack + half);
}

int main(void) {
    page = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(page, code, sizeof code);
    ends("noexec page", run_noexec);
    // A handler sees the fault at the code's address.
    struct sigaction sa = {.sa_sigaction = recover, .sa_flags = SA_SIGINFO};
    sigaction(SIGSEGV, &sa, 0);
    if (sigsetjmp(env, 1) == 0) {
        run_noexec();
    } else {
        printf("handler: at the code %d, accerr %d\n", fault_addr == page,
               fault_code == SEGV_ACCERR);
    }
    // With PROT_EXEC it runs.
    printf("mprotect exec: %s\n", en(mprotect(page, 4096, PROT_READ | PROT_EXEC)));
    ends("exec page", run_noexec);
    ends("walk off the alternate stack", walk_off);
    return 0;
}
