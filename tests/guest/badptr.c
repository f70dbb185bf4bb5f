// Hostile guest input: bad pointers must give EFAULT (never crash the sentry), and a
// storm of system calls with random arguments must leave the sandbox alive.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sc(long n, long a, long b, long c, long d, long e, long f) { return syscall(n, a, b, c, d, e, f); }

int main(int argc, char **argv) {
    long bad[] = {0, 1, -1L, 0xffff800000000000L, 0x7e0000000000L, 0x1000};
    int efault = 0, total = 0;
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long p = bad[i];
        long calls[][4] = {
            {SYS_read, 0, p, 16}, {SYS_write, 1, p, 16}, {SYS_open, p, 0, 0}, {SYS_stat, p, p, 0},
            {SYS_uname, p, 0, 0}, {SYS_pipe, p, 0, 0}, {SYS_clock_gettime, 1, p, 0}, {SYS_getcwd, p, 100, 0},
            {SYS_rt_sigaction, SIGUSR1, p, 0}, {SYS_nanosleep, p, 0, 0}, {SYS_readv, 0, p, 2}, {SYS_gettimeofday, p, 0, 0},
        };
        int pipefd[2];
        pipe(pipefd);
        write(pipefd[1], "0123456789abcdef", 16);
        calls[0][1] = pipefd[0];
        for (unsigned j = 0; j < sizeof calls / sizeof calls[0]; j++) {
            long r = sc(calls[j][0], calls[j][1], calls[j][2], calls[j][3], 0, 0, 0);
            total++;
            if (r == -1 && errno == EFAULT) efault++;
        }
        close(pipefd[0]);
        close(pipefd[1]);
    }
    if (argc > 1 && strcmp(argv[1], "efault-only") == 0) {
        printf("efault=%d/%d\n", efault, total);
        return 0;
    }
    // Random arguments to many calls; skip the ones that end or fork the process, block,
    // or signal others.
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, SIG_IGN);
    signal(SIGCHLD, SIG_IGN);
    srand(12345);
    int storm = 0;
    for (int k = 0; k < 20000; k++) {
        long n = rand() % 335;
        switch (n) {
        case SYS_exit: case SYS_exit_group: case SYS_fork: case SYS_vfork: case SYS_clone: case SYS_clone3:
        case SYS_execve: case SYS_execveat: case SYS_kill: case SYS_tkill: case SYS_tgkill: case SYS_pause:
        case SYS_rt_sigsuspend: case SYS_rt_sigreturn: case SYS_rt_sigprocmask: case SYS_sigaltstack:
        case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_select: case SYS_pselect6: case SYS_poll: case SYS_ppoll:
        case SYS_wait4: case SYS_waitid: case SYS_futex: case SYS_read: case SYS_readv: case SYS_pread64:
        case SYS_munmap: case SYS_mremap: case SYS_mprotect: case SYS_brk: case SYS_madvise: case SYS_mmap:
        case SYS_arch_prctl: case SYS_set_tid_address: case SYS_rt_sigtimedwait: case SYS_alarm: case SYS_setitimer:
        case SYS_close: case SYS_close_range: case SYS_dup2: case SYS_dup3: case SYS_setsid: case SYS_setpgid:
        case SYS_prctl: case SYS_setuid: case SYS_setgid: case SYS_setresuid: case SYS_setresgid: case SYS_setreuid:
        case SYS_setregid: case SYS_chdir: case SYS_fchdir: case SYS_setrlimit: case SYS_prlimit64: case SYS_rt_sigaction:
        case SYS_unlink: case SYS_unlinkat: case SYS_rmdir: case SYS_rename: case SYS_renameat: case SYS_renameat2:
        case SYS_truncate: case SYS_ftruncate: case SYS_fallocate: case SYS_chmod: case SYS_fchmod: case SYS_fchmodat:
        case SYS_chown: case SYS_fchown: case SYS_lchown: case SYS_fchownat: case SYS_mkdir: case SYS_mkdirat:
        case SYS_link: case SYS_linkat: case SYS_symlink: case SYS_symlinkat: case SYS_utimensat: case SYS_open:
        case SYS_openat: case SYS_creat: case SYS_write: case SYS_writev: case SYS_pwrite64: case SYS_pwritev: case SYS_sendfile:
            continue;
        }
        long a[6];
        for (int x = 0; x < 6; x++) {
            switch (rand() % 4) {
            case 0: a[x] = rand() % 64; break;
            case 1: a[x] = -(long)(rand() % 5); break;
            case 2: a[x] = ((long)rand() << 16) ^ rand(); break;
            default: a[x] = (long)&a[rand() % 6]; break;
            }
        }
        syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
        storm++;
    }
    printf("efault=%d/%d storm=%d alive\n", efault, total, storm);
    return 0;
}
