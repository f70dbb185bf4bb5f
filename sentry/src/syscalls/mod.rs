//! The system call table: from number to handler. One file per area. An unimplemented
//! call returns ENOSYS and is logged once by name.

pub mod creds;
pub mod epoll;
pub mod file;
pub mod fs;
pub mod futex;
pub mod mm;
mod names;
pub mod poll;
pub mod process;
pub mod signal;
pub mod time;

use crate::kernel::{err, Kernel, Sys};

/// The name of system call `nr`.
pub fn name(nr: u64) -> &'static str {
    names::NAMES
        .get(nr as usize)
        .copied()
        .filter(|n| !n.is_empty())
        .unwrap_or("unknown")
}

/// Calls that SA_RESTART restarts after a handler (the rest fail with EINTR).
#[allow(non_upper_case_globals)]
pub fn restartable(nr: u64) -> bool {
    use libc::*;
    !matches!(
        nr as i64,
        SYS_poll
            | SYS_ppoll
            | SYS_select
            | SYS_pselect6
            | SYS_nanosleep
            | SYS_clock_nanosleep
            | SYS_rt_sigsuspend
            | SYS_pause
            | SYS_rt_sigtimedwait
            | SYS_epoll_wait
            | SYS_epoll_pwait
            | SYS_epoll_pwait2
    )
}

/// A millisecond timeout argument: negative waits forever.
fn ms_timeout(ms: u64) -> Option<u64> {
    let ms = ms as i32;
    (ms >= 0).then(|| ms as u64 * 1_000_000)
}

/// Return value of a call that succeeded with `v`, or failed with an errno.
pub fn ret(r: Result<i64, i32>) -> Sys {
    match r {
        Ok(v) => Sys::Ret(v),
        Err(e) => err(e),
    }
}

impl Kernel {
    /// Serves system call `nr` of task `tid`.
    #[allow(non_upper_case_globals)]
    pub fn dispatch(&mut self, tid: i32, nr: u64, a: [u64; 6]) -> Sys {
        use libc::*;
        let nr_i = nr as i64;
        match nr_i {
            SYS_read => self.sys_read(tid, a),
            SYS_write => self.sys_write(tid, a),
            SYS_pread64 => self.sys_pread(tid, a),
            SYS_pwrite64 => self.sys_pwrite(tid, a),
            SYS_readv => self.sys_readv(tid, a, false),
            SYS_preadv => self.sys_readv(tid, a, true),
            SYS_writev => self.sys_writev(tid, a, false),
            SYS_pwritev => self.sys_writev(tid, a, true),
            SYS_open => self.sys_openat(tid, AT_FDCWD as u64, a[0], a[1], a[2]),
            SYS_openat => self.sys_openat(tid, a[0], a[1], a[2], a[3]),
            SYS_creat => self.sys_openat(
                tid,
                AT_FDCWD as u64,
                a[0],
                (O_CREAT | O_WRONLY | O_TRUNC) as u64,
                a[1],
            ),
            SYS_close => self.sys_close(tid, a),
            SYS_close_range => self.sys_close_range(tid, a),
            SYS_lseek => self.sys_lseek(tid, a),
            SYS_dup => self.sys_dup(tid, a),
            SYS_dup2 => self.sys_dup3(tid, a[0], a[1], 0, true),
            SYS_dup3 => self.sys_dup3(tid, a[0], a[1], a[2], false),
            SYS_fcntl => self.sys_fcntl(tid, a),
            SYS_ioctl => self.sys_ioctl(tid, a),
            SYS_pipe => self.sys_pipe2(tid, a[0], 0),
            SYS_pipe2 => self.sys_pipe2(tid, a[0], a[1]),
            SYS_fstat => self.sys_fstat(tid, a),
            SYS_stat => self.sys_fstatat(tid, AT_FDCWD as u64, a[0], a[1], 0),
            SYS_lstat => {
                self.sys_fstatat(tid, AT_FDCWD as u64, a[0], a[1], AT_SYMLINK_NOFOLLOW as u64)
            }
            SYS_newfstatat => self.sys_fstatat(tid, a[0], a[1], a[2], a[3]),
            SYS_statx => self.sys_statx(tid, a),
            SYS_getdents64 => self.sys_getdents64(tid, a),
            SYS_fsync | SYS_fdatasync | SYS_syncfs => self.sys_fsync(tid, a),
            SYS_sync => Sys::Ret(0),
            SYS_ftruncate => self.sys_ftruncate(tid, a),
            SYS_truncate => self.sys_truncate(tid, a),
            SYS_fallocate => self.sys_fallocate(tid, a),
            SYS_access => self.sys_faccessat(tid, AT_FDCWD as u64, a[0], a[1], 0),
            SYS_faccessat => self.sys_faccessat(tid, a[0], a[1], a[2], 0),
            SYS_faccessat2 => self.sys_faccessat(tid, a[0], a[1], a[2], a[3]),
            SYS_mkdir => self.sys_mkdirat(tid, AT_FDCWD as u64, a[0], a[1]),
            SYS_mkdirat => self.sys_mkdirat(tid, a[0], a[1], a[2]),
            SYS_rmdir => self.sys_unlinkat(tid, AT_FDCWD as u64, a[0], AT_REMOVEDIR as u64),
            SYS_unlink => self.sys_unlinkat(tid, AT_FDCWD as u64, a[0], 0),
            SYS_unlinkat => self.sys_unlinkat(tid, a[0], a[1], a[2]),
            SYS_rename => self.sys_renameat(tid, AT_FDCWD as u64, a[0], AT_FDCWD as u64, a[1], 0),
            SYS_renameat => self.sys_renameat(tid, a[0], a[1], a[2], a[3], 0),
            SYS_renameat2 => self.sys_renameat(tid, a[0], a[1], a[2], a[3], a[4]),
            SYS_link => self.sys_linkat(tid, AT_FDCWD as u64, a[0], AT_FDCWD as u64, a[1], 0),
            SYS_linkat => self.sys_linkat(tid, a[0], a[1], a[2], a[3], a[4]),
            SYS_symlink => self.sys_symlinkat(tid, a[0], AT_FDCWD as u64, a[1]),
            SYS_symlinkat => self.sys_symlinkat(tid, a[0], a[1], a[2]),
            SYS_readlink => self.sys_readlinkat(tid, AT_FDCWD as u64, a[0], a[1], a[2]),
            SYS_readlinkat => self.sys_readlinkat(tid, a[0], a[1], a[2], a[3]),
            SYS_chmod => self.sys_fchmodat(tid, AT_FDCWD as u64, a[0], a[1]),
            SYS_fchmodat => self.sys_fchmodat(tid, a[0], a[1], a[2]),
            SYS_fchmod => self.sys_fchmod(tid, a),
            SYS_chown | SYS_lchown => self.sys_fchownat(tid, AT_FDCWD as u64, a[0], a[1], a[2], 0),
            SYS_fchownat => self.sys_fchownat(tid, a[0], a[1], a[2], a[3], a[4]),
            SYS_fchown => self.sys_fchown(tid, a),
            SYS_utimensat => self.sys_utimensat(tid, a),
            SYS_chdir => self.sys_chdir(tid, a),
            SYS_fchdir => self.sys_fchdir(tid, a),
            SYS_getcwd => self.sys_getcwd(tid, a),
            SYS_umask => self.sys_umask(tid, a),
            SYS_statfs | SYS_fstatfs => self.sys_statfs(tid, a),
            SYS_mknod | SYS_mknodat => err(EPERM),
            SYS_sendfile => self.sys_sendfile(tid, a),

            SYS_brk => self.sys_brk(tid, a),
            SYS_mmap => self.sys_mmap(tid, a),
            SYS_munmap => self.sys_munmap(tid, a),
            SYS_mprotect => self.sys_mprotect(tid, a),
            SYS_mremap => self.sys_mremap(tid, a),
            SYS_madvise => self.sys_madvise(tid, a),
            SYS_msync | SYS_mlock | SYS_munlock | SYS_mlockall | SYS_munlockall
            | SYS_membarrier => Sys::Ret(0),
            SYS_mincore => err(ENOSYS),

            SYS_exit => self.sys_exit(tid, a),
            SYS_exit_group => self.sys_exit_group(tid, a),
            SYS_getpid => Sys::Ret(self.tasks[&tid].tgid as i64),
            SYS_gettid => Sys::Ret(tid as i64),
            SYS_getppid => Sys::Ret(self.tg_of(tid).ppid as i64),
            SYS_clone => self.sys_clone(tid, a[0], a[1], a[2], a[3], a[4]),
            SYS_clone3 => err(ENOSYS),
            SYS_fork => self.sys_clone(tid, SIGCHLD as u64, 0, 0, 0, 0),
            SYS_vfork => self.sys_clone(tid, (CLONE_VM | CLONE_VFORK | SIGCHLD) as u64, 0, 0, 0, 0),
            SYS_execve => self.sys_execveat(tid, AT_FDCWD as u64, a[0], a[1], a[2], 0),
            SYS_execveat => self.sys_execveat(tid, a[0], a[1], a[2], a[3], a[4]),
            SYS_wait4 => self.sys_wait4(tid, a),
            SYS_waitid => self.sys_waitid(tid, a),
            SYS_set_tid_address => {
                self.task_mut(tid).clear_child_tid = a[0];
                Sys::Ret(tid as i64)
            }
            SYS_set_robust_list => {
                self.task_mut(tid).robust_list = a[0];
                Sys::Ret(0)
            }
            SYS_get_robust_list => err(ENOSYS),
            SYS_rseq => err(ENOSYS),
            SYS_getuid | SYS_geteuid | SYS_getgid | SYS_getegid => self.sys_getid(tid, nr_i),
            SYS_setuid | SYS_setgid | SYS_setreuid | SYS_setregid | SYS_setresuid
            | SYS_setresgid | SYS_setfsuid | SYS_setfsgid => self.sys_setid(tid, nr_i, a),
            SYS_getresuid | SYS_getresgid => self.sys_getresid(tid, nr_i, a),
            SYS_getgroups => self.sys_getgroups(tid, a),
            SYS_setgroups => self.sys_setgroups(tid, a),
            SYS_getpgid => self.sys_getpgid(tid, a),
            SYS_getpgrp => Sys::Ret(self.tg_of(tid).pgid as i64),
            SYS_setpgid => self.sys_setpgid(tid, a),
            SYS_getsid => self.sys_getsid(tid, a),
            SYS_setsid => self.sys_setsid(tid),
            SYS_getrlimit => self.sys_prlimit(tid, [0, a[0], 0, a[1], 0, 0]),
            SYS_setrlimit => self.sys_prlimit(tid, [0, a[0], a[1], 0, 0, 0]),
            SYS_prlimit64 => self.sys_prlimit(tid, a),
            SYS_uname => self.sys_uname(tid, a),
            SYS_sethostname => self.sys_sethostname(tid, a),
            SYS_prctl => self.sys_prctl(tid, a),
            SYS_arch_prctl => self.sys_arch_prctl(tid, a),
            SYS_sched_yield => Sys::Ret(0),
            SYS_sched_getaffinity => self.sys_sched_getaffinity(tid, a),
            SYS_sched_setaffinity => Sys::Ret(0),
            SYS_sched_getscheduler => Sys::Ret(0),
            SYS_sched_getparam => self.write_zeroes(tid, a[1], 4),
            SYS_sched_setscheduler | SYS_sched_setparam => Sys::Ret(0),
            SYS_sched_get_priority_max | SYS_sched_get_priority_min => Sys::Ret(0),
            SYS_getpriority => Sys::Ret(20),
            SYS_setpriority => Sys::Ret(0),
            SYS_getrusage => self.write_zeroes(tid, a[1], 144),
            SYS_times => self.sys_times(tid, a),
            SYS_sysinfo => self.sys_sysinfo(tid, a),
            SYS_getrandom => self.sys_getrandom(tid, a),
            SYS_getcpu => self.sys_getcpu(tid, a),
            SYS_personality => Sys::Ret(0),
            SYS_capget => self.sys_capget(tid, a),
            SYS_capset => self.sys_capset(tid, a),
            SYS_mount | SYS_umount2 | SYS_init_module | SYS_finit_module | SYS_delete_module
            | SYS_pivot_root | SYS_chroot | SYS_swapon | SYS_swapoff | SYS_reboot
            | SYS_kexec_load | SYS_bpf | SYS_perf_event_open | SYS_ptrace | SYS_unshare
            | SYS_setns => err(EPERM),

            SYS_rt_sigaction => self.sys_rt_sigaction(tid, a),
            SYS_rt_sigprocmask => self.sys_rt_sigprocmask(tid, a),
            SYS_rt_sigreturn => self.sys_rt_sigreturn(tid),
            SYS_kill => self.sys_kill(tid, a),
            SYS_tkill => self.sys_tgkill(tid, -1, a[0] as i32, a[1] as i32),
            SYS_tgkill => self.sys_tgkill(tid, a[0] as i32, a[1] as i32, a[2] as i32),
            SYS_sigaltstack => self.sys_sigaltstack(tid, a),
            SYS_rt_sigsuspend => self.sys_rt_sigsuspend(tid, a),
            SYS_pause => Sys::Park(crate::kernel::task::Park {
                keys: vec![crate::kernel::task::WaitKey::Nothing],
                deadline: None,
            }),
            SYS_rt_sigtimedwait => self.sys_rt_sigtimedwait(tid, a),
            SYS_rt_sigpending => self.sys_rt_sigpending(tid, a),
            SYS_rt_sigqueueinfo | SYS_rt_tgsigqueueinfo => self.sys_rt_sigqueueinfo(tid, nr_i, a),

            SYS_clock_gettime => self.sys_clock_gettime(tid, a),
            SYS_clock_getres => self.sys_clock_getres(tid, a),
            SYS_gettimeofday => self.sys_gettimeofday(tid, a),
            SYS_time => self.sys_time(tid, a),
            SYS_nanosleep => self.sys_nanosleep(tid, a),
            SYS_clock_nanosleep => self.sys_clock_nanosleep(tid, a),
            SYS_alarm => self.sys_alarm(tid, a),
            SYS_setitimer => self.sys_setitimer(tid, a),
            SYS_getitimer => self.sys_getitimer(tid, a),

            SYS_futex => self.sys_futex(tid, a),

            SYS_poll => self.sys_poll(tid, a[0], a[1], a[2] as i32 as i64, None, false),
            SYS_ppoll => self.sys_ppoll(tid, a),
            SYS_select => self.sys_select(tid, a, false),
            SYS_pselect6 => self.sys_select(tid, a, true),

            SYS_socket | SYS_socketpair => err(EAFNOSUPPORT),
            SYS_eventfd => self.sys_eventfd2(tid, a[0], 0),
            SYS_eventfd2 => self.sys_eventfd2(tid, a[0], a[1]),
            SYS_epoll_create => {
                if (a[0] as i32) <= 0 {
                    err(EINVAL)
                } else {
                    self.sys_epoll_create1(tid, 0)
                }
            }
            SYS_epoll_create1 => self.sys_epoll_create1(tid, a[0]),
            SYS_epoll_ctl => self.sys_epoll_ctl(tid, a),
            SYS_epoll_wait => self.sys_epoll_wait(tid, a[0], a[1], a[2], ms_timeout(a[3]), 0),
            SYS_epoll_pwait => {
                if a[4] != 0 && a[5] != 8 {
                    return err(EINVAL);
                }
                self.sys_epoll_wait(tid, a[0], a[1], a[2], ms_timeout(a[3]), a[4])
            }
            SYS_epoll_pwait2 => {
                let t = if a[3] == 0 {
                    None
                } else {
                    match self.read_mem(tid, a[3], 16) {
                        Ok(b) => match crate::kernel::time::ts_to_ns(
                            i64::from_le_bytes(b[..8].try_into().expect("8")),
                            i64::from_le_bytes(b[8..].try_into().expect("8")),
                        ) {
                            Some(ns) => Some(ns),
                            None => return err(EINVAL),
                        },
                        Err(e) => return err(e),
                    }
                };
                if a[4] != 0 && a[5] != 8 {
                    return err(EINVAL);
                }
                self.sys_epoll_wait(tid, a[0], a[1], a[2], t, a[4])
            }
            SYS_getxattr | SYS_lgetxattr => {
                self.sys_path_xattr(tid, a[0], nr_i == SYS_getxattr, ENODATA)
            }
            SYS_listxattr | SYS_llistxattr => {
                self.sys_path_xattr(tid, a[0], nr_i == SYS_listxattr, 0)
            }
            SYS_setxattr | SYS_lsetxattr => {
                self.sys_path_xattr(tid, a[0], nr_i == SYS_setxattr, EOPNOTSUPP)
            }
            SYS_removexattr | SYS_lremovexattr => {
                self.sys_path_xattr(tid, a[0], nr_i == SYS_removexattr, ENODATA)
            }
            SYS_fgetxattr | SYS_fremovexattr => self.sys_fd_xattr(tid, a[0], ENODATA),
            SYS_flistxattr => self.sys_fd_xattr(tid, a[0], 0),
            SYS_fsetxattr => self.sys_fd_xattr(tid, a[0], EOPNOTSUPP),
            SYS_fadvise64 => self.sys_fadvise(tid, a),
            _ => {
                self.log_unimplemented(nr);
                err(ENOSYS)
            }
        }
    }

    /// Extended attributes are not kept: the node must exist, then reads find none,
    /// lists are empty and writes are not supported.
    fn sys_path_xattr(&mut self, tid: i32, path: u64, follow: bool, e: i32) -> Sys {
        let p = match self.read_path(tid, path) {
            Ok(p) => p,
            Err(x) => return err(x),
        };
        match self.resolve(tid, &p, follow) {
            Ok(r) if r.exists => {
                if e == 0 {
                    Sys::Ret(0)
                } else {
                    err(e)
                }
            }
            Ok(_) => err(libc::ENOENT),
            Err(x) => err(x),
        }
    }

    fn sys_fd_xattr(&mut self, tid: i32, fd: u64, e: i32) -> Sys {
        match self.file(tid, fd) {
            Ok(_) if e == 0 => Sys::Ret(0),
            Ok(_) => err(e),
            Err(x) => err(x),
        }
    }

    /// posix_fadvise: advice only; checks the fd and the advice as Linux does.
    fn sys_fadvise(&mut self, tid: i32, a: [u64; 6]) -> Sys {
        let f = match self.file(tid, a[0]) {
            Ok(f) => f,
            Err(x) => return err(x),
        };
        if matches!(
            f.borrow().kind,
            crate::fs::file::FileKind::PipeRead(_) | crate::fs::file::FileKind::PipeWrite(_)
        ) {
            return err(libc::ESPIPE);
        }
        if a[3] > 5 || (a[2] as i64) < 0 {
            return err(libc::EINVAL);
        }
        Sys::Ret(0)
    }

    /// Writes `len` zero bytes to guest `addr` and returns 0.
    pub fn write_zeroes(&mut self, tid: i32, addr: u64, len: usize) -> Sys {
        ret(self.write_mem(tid, addr, &vec![0u8; len]).map(|_| 0))
    }
}
