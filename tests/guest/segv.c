// A SIGSEGV handler that recovers with siglongjmp, twice, with the right si_addr.
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static sigjmp_buf env;
static void *fault_addr;
static int code;
static void h(int s, siginfo_t *si, void *uc) { (void)s; (void)uc; fault_addr = si->si_addr; code = si->si_code; siglongjmp(env, 1); }

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    int recovered = 0;
    if (sigsetjmp(env, 1) == 0) {
        *(volatile int *)0x1234 = 1;
    } else {
        recovered++;
        printf("null: addr=%p maperr=%d\n", fault_addr, code == SEGV_MAPERR);
    }
    char *ro = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sigsetjmp(env, 1) == 0) {
        ro[10] = 1;
    } else {
        recovered++;
        printf("ro: off=%ld accerr=%d\n", (char *)fault_addr - ro, code == SEGV_ACCERR);
    }
    printf("recovered=%d\n", recovered);
    return 0;
}
