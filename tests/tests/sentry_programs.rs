//! Static C programs compiled by the test, run inside the sandbox with `runsc do`.

mod common;
use common::{expect, guest, run_do, stdout};

fn run(name: &str, args: &[&str]) -> std::process::Output {
    let bin = guest(name);
    let mut v = vec![bin.to_str().unwrap()];
    v.extend_from_slice(args);
    run_do(None, &v)
}

#[test]
fn static_hello_exit_status() {
    expect(&run("hello", &[]), 7, "hello\n");
}

#[test]
fn file_io_across_a_directory_tree() {
    expect(&run("fileio", &["/tmp/tree"]), 0, "fileio ok 20\n");
}

#[test]
fn fork_exec_wait_statuses() {
    expect(
        &run("forkexec", &[]),
        0,
        "sum=100 signaled=1 sig=15 ppid_ok=1\nvfork=42\n",
    );
}

#[test]
fn signal_handler_interrupts_blocking_read() {
    expect(
        &run("sigread", &[]),
        0,
        "read=-1 errno=EINTR got=14\nrestarted read=1 c=x got=14\n",
    );
}

#[test]
fn the_parent_runs_first_after_fork() {
    // A SIGCHLD handler that needs a store the parent makes right after fork (CRIU's zdtm
    // test library): it must not run before that store (issue 12's lost wakeup).
    expect(&run("parent_first", &["200"]), 0, "0/200 hung\n");
}

#[test]
fn sigsegv_handler_recovers_with_siglongjmp() {
    expect(
        &run("segv", &[]),
        0,
        "null: addr=0x1234 maperr=1\nro: off=10 accerr=1\nrecovered=2\n",
    );
}

#[test]
fn eight_threads_on_mutex_and_condvar() {
    expect(&run("threads", &[]), 0, "counter=160000 turn=8 sum=56\n");
}

#[test]
fn mmap_mprotect_mremap_and_fork_sharing() {
    expect(&run("mmap", &[]), 0, "mmap ok=1\n");
}

#[test]
fn interval_timer_ticks() {
    expect(&run("itimer", &[]), 0, "ticks=5 interval=50000\n");
}

#[test]
fn uncaught_sigsegv_kills_with_signal_status() {
    // A null write with no handler: the shell-style status is 128 + SIGSEGV.
    let o = run("isolation", &["crash"]);
    assert_eq!(o.status.code(), Some(139), "{}", stdout(&o));
}

#[test]
fn bad_pointers_get_efault_as_on_the_host() {
    let bin = guest("badptr");
    let host = std::process::Command::new(&bin)
        .arg("efault-only")
        .output()
        .unwrap();
    let o = run_do(None, &[bin.to_str().unwrap(), "efault-only"]);
    expect(&o, 0, &String::from_utf8_lossy(&host.stdout));
}

#[test]
fn a_storm_of_random_system_calls_leaves_the_sandbox_alive() {
    let o = run("badptr", &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).ends_with(" alive\n"), "{}", stdout(&o));
}

#[test]
fn epoll_over_pipes_and_eventfd_behaves_as_on_the_host() {
    let bin = guest("epoll");
    let host = std::process::Command::new(&bin).output().unwrap();
    assert!(host.status.success());
    let o = run_do(None, &[bin.to_str().unwrap()]);
    expect(&o, 0, &String::from_utf8_lossy(&host.stdout));
}

#[test]
fn unix_sockets_behave_as_on_the_host() {
    // Stream, datagram and seqpacket sockets with SCM_RIGHTS, names, options and hostile
    // arguments: the same lines as the program prints run natively.
    let bin = guest("unix");
    let host = std::process::Command::new(&bin).output().unwrap();
    assert!(host.status.success(), "{host:?}");
    let o = run_do(None, &[bin.to_str().unwrap()]);
    expect(&o, 0, &String::from_utf8_lossy(&host.stdout));
}

#[test]
fn file_locks_behave_as_on_the_host() {
    // fcntl record locks, OFD locks and flock between a parent and a child, on the tmpfs
    // /tmp and on a host directory: owners, conflicts, F_GETLK, blocking waits, EINTR and
    // SA_RESTART, EDEADLK, bad requests. The same lines as the program prints natively
    // (where /tmp is the host's).
    let dir = common::TempDir::new("locks");
    same_as_on_the_host("locks", &["/tmp", dir.0.to_str().unwrap()]);
}

#[test]
fn shared_file_mappings_behave_as_on_the_host() {
    // MAP_SHARED pages of a tmpfs file and of a host file shared by a parent and a forked
    // child, read/write of the file agreeing with the mappings, a private mapping seeing
    // write() until it writes, msync reaching the file, ftruncate down (SIGBUS past the
    // end, EFAULT in a system call, zeroes in the tail) and up, an O_APPEND fd, and the
    // refused mappings (O_WRONLY, O_RDONLY shared writable, bad offsets, a huge length):
    // the same lines as natively.
    let dir = common::TempDir::new("shmfile");
    same_as_on_the_host("shmfile", &["/tmp", dir.0.to_str().unwrap()]);
}

#[test]
fn faults_no_handler_can_fix_end_as_on_the_host() {
    // Code run from a writable page without PROT_EXEC gets SIGSEGV (SEGV_ACCERR at the
    // code) rather than being taken for a copy-on-write fault again and again, and a
    // SIGSEGV handler whose nested frames would run off the bottom of its alternate stack
    // is killed by SIGSEGV rather than going on below it: the same lines as natively.
    same_as_on_the_host("badfaults", &[]);
}

#[test]
fn madvise_dontfork_behaves_as_on_the_host() {
    // MADV_DONTFORK leaves marked private anonymous and shared file pages out of a
    // forked child (the pages beside them it gets), MADV_DOFORK undoes it, the mark
    // follows mprotect's split and mremap's growth and move, bad ranges are refused (a
    // gap after marking the mapped part): the same lines as natively.
    let dir = common::TempDir::new("dontfork");
    same_as_on_the_host("dontfork", &[dir.0.to_str().unwrap()]);
}

#[test]
fn splice_tee_sendfile_and_copy_file_range_behave_as_on_the_host() {
    // splice (file to pipe, pipe to file, pipe to pipe, with offsets and without), tee,
    // vmsplice both ways, sendfile, copy_file_range, preadv2/pwritev2 with their flags
    // and sync_file_range: bytes moved, offsets and positions after, waiting for a
    // writer and for room, EAGAIN, EPIPE, and the errors for bad fds, flags, offsets and
    // pointers: the same lines as natively, on a host directory and on /tmp (the
    // sandbox's tmpfs).
    let dir = common::TempDir::new("splice");
    same_as_on_the_host("splice", &[dir.0.to_str().unwrap()]);
    // The program makes the directory: inside, /tmp is the sandbox's own.
    let tmp = format!("/tmp/splice-guest-{}", std::process::id());
    same_as_on_the_host("splice", &[&tmp]);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn mappings_keep_their_objects_as_on_the_host() {
    // MADV_DONTNEED of a private file mapping brings the file's bytes back (in a forked
    // child too, the parent's copy staying), of private anonymous memory zeroes, of
    // shared memory nothing; shared anonymous memory shrunk keeps its object's pages for
    // a growth, pages grown or copied past its object's end get SIGBUS (a system call
    // EFAULT), even after an mprotect; MAP_POPULATE commits writable memory in the RSS:
    // the same lines as natively.
    let dir = common::TempDir::new("mapobj");
    same_as_on_the_host("mapobj", &[dir.0.to_str().unwrap()]);
}

#[test]
fn uts_names_in_proc_sys_are_polled_as_on_the_host() {
    // In a UTS namespace of its own: epoll takes /proc/sys/kernel/hostname and
    // domainname, a change of the name after the open is POLLERR once for each
    // description, poll sees POLLIN always and POLLERR|POLLPRI after a change: the same
    // lines as natively.
    same_as_on_the_host("uts_poll", &[]);
}

#[test]
fn requeue_pi_behaves_as_on_the_host() {
    // FUTEX_WAIT_REQUEUE_PI waiters moved by FUTEX_CMP_REQUEUE_PI to a free PI futex (the
    // first given it, the others owning it in turn) and to a held one (moved, woken at
    // the unlock), a plain wake of their word refused, bad arguments and timeouts: the
    // same lines as natively.
    same_as_on_the_host("requeue_pi", &[]);
}

#[test]
fn ptrace_behaves_as_on_the_host() {
    // A tracer and its tracees: the wait statuses of signal-delivery, group, exec,
    // system call and PTRACE_INTERRUPT stops, registers, siginfo and memory read and
    // written, signals injected and suppressed, PTRACE_ATTACH's and PTRACE_SEIZE's errors,
    // /proc status of a stopped tracee, detaching and killing: the same lines as natively.
    same_as_on_the_host("ptrace", &[]);
}

#[test]
fn extended_attributes_behave_as_on_the_host() {
    // user.* attributes of a tmpfs file and a host file: set, get, list and remove through
    // paths, symlinks and fds, XATTR_CREATE and XATTR_REPLACE, name and value limits,
    // sizes 0, too small and huge, symlinks, FIFOs and pipes refused, O_PATH and bad fds,
    // bad pointers, IN_ATTRIB and the change time; as nobody: read and write permission,
    // a sticky directory, trusted.* and security.* (security.capability too) refused. The
    // same lines as natively (where /tmp is the host's).
    let dir = common::TempDir::new("xattr");
    same_as_on_the_host("xattr", &["/tmp", dir.0.to_str().unwrap()]);
}

#[test]
fn ptrace_following_children_behaves_as_on_the_host() {
    // The fork, vfork and clone event stops (traced with PTRACE_TRACEME and seized, the
    // parent's and the new child's stops waited for in order or as they come), the child
    // attached with its parent's options (its SIGSTOP or PTRACE_EVENT_STOP, its exec
    // event), CLONE_UNTRACED and CLONE_PTRACE, PTRACE_EVENT_VFORK_DONE,
    // PTRACE_GET_SYSCALL_INFO and the event message at system call stops, PTRACE_LISTEN,
    // pokes into read-only and PROT_NONE private memory (EIO for a shared read-only
    // mapping or a hole), bad options: the same lines as natively.
    same_as_on_the_host("ptrace_fork", &[]);
}

/// A run's stdout and stderr with what differs between runs named the same way: pids
/// (after "[pid", "Process", "si_pid=", "process") by order of appearance, addresses
/// (0x...) and CPU times (si_utime, si_stime, with strace's comment on them) elided, runs
/// of blanks made one.
fn normalise_trace(out: &str) -> String {
    let mut pids: Vec<String> = Vec::new();
    let mut name = |p: &str| {
        let i = pids.iter().position(|x| x == p).unwrap_or_else(|| {
            pids.push(p.to_string());
            pids.len() - 1
        });
        format!("P{}", i + 1)
    };
    let mut lines = Vec::new();
    for line in out.lines() {
        let mut words: Vec<String> = Vec::new();
        let mut prev = "";
        // strace's comment after a CPU time it can show (`si_stime=1 /* 0.01 s */}`): gone
        // with the time (and the brace its word carried, as for `si_stime=0}`).
        let mut in_comment = false;
        for w in line.split_whitespace() {
            if in_comment || (w == "/*" && prev.starts_with("si_")) {
                in_comment = !w.starts_with("*/");
                continue;
            }
            let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).count();
            let after_pid = matches!(prev.trim_start_matches('('), "[pid" | "Process" | "process");
            let w2 = if after_pid && digits(w) > 0 {
                let n = digits(w);
                format!("{}{}", name(&w[..n]), &w[n..])
            } else if let Some(rest) = w.strip_prefix("si_pid=") {
                let n = digits(rest);
                format!("si_pid={}{}", name(&rest[..n]), &rest[n..])
            } else if w.starts_with("si_utime=") || w.starts_with("si_stime=") {
                "si_time".to_string()
            } else if let Some(i) = w.find("0x") {
                let rest = &w[i + 2..];
                let n = rest.chars().take_while(char::is_ascii_hexdigit).count();
                format!("{}0x?{}", &w[..i], &rest[n..])
            } else {
                w.to_string()
            };
            prev = w;
            words.push(w2);
        }
        lines.push(words.join(" "));
    }
    lines.join("\n")
}

/// Runs `argv` natively and in the sandbox: the same status, and the same stdout and
/// stderr once normalised (`normalise_trace`) and lines in `skip` dropped.
fn trace_same_as_on_the_host(argv: &[&str], skip: &[&str]) -> String {
    let host = std::process::Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{} on the host: {e}", argv[0]));
    let ours = run_do(None, argv);
    let both = |o: &std::process::Output| {
        let all =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        let kept: Vec<&str> = all
            .lines()
            .filter(|l| !skip.iter().any(|s| l.contains(s)))
            .collect();
        normalise_trace(&kept.join("\n"))
    };
    let want = both(&host);
    assert_eq!(
        (both(&ours), ours.status.code()),
        (want.clone(), host.status.code())
    );
    want
}

#[test]
fn strace_follows_forks_as_on_the_host() {
    // strace -f (PTRACE_SEIZE with PTRACE_O_TRACEFORK/VFORK/CLONE, PTRACE_SYSCALL,
    // PTRACE_GET_SYSCALL_INFO, the new children's PTRACE_EVENT_STOP, the tracees' exits
    // before their parents' SIGCHLD) of a shell that runs a program, a subshell that runs
    // one and exits 3, and another shell: the same lines as natively, pids named by order
    // of appearance.
    let out = trace_same_as_on_the_host(
        &[
            "/usr/bin/strace",
            "-f",
            "-e",
            "trace=execve,exit_group",
            "/bin/sh",
            "-c",
            "true; /bin/echo x; (/bin/echo y; exit 3); /bin/sh -c 'exit 4'; echo $?",
        ],
        &[],
    );
    assert!(
        out.contains("[pid P3] execve(\"/bin/echo\", [\"/bin/echo\", \"y\"]")
            && out.contains("+++ exited with 3 +++"),
        "{out}"
    );
    // A shell's blocking wait4 interrupted by SIGCHLD: the entry and exit stops stay
    // paired (strace complains when they do not).
    let o = run_do(
        None,
        &[
            "/usr/bin/strace",
            "-f",
            "-qq",
            "-e",
            "trace=wait4,rt_sigreturn",
            "/bin/sh",
            "-c",
            "/bin/sleep 0.1; (/bin/true); echo $?",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.contains("wait4(") && !err.contains("strace:"),
        "{err}"
    );
}

#[test]
fn gdb_follows_a_vfork_as_on_the_host() {
    // gdb (catchpoints on fork, vfork and exec, breakpoints written through
    // /proc/PID/mem into read-only text, PTRACE_SINGLESTEP and PTRACE_DETACH of the vfork
    // child, PTRACE_EVENT_VFORK_DONE) runs a shell whose child prints: the same lines as
    // natively (less the warning that address space randomization stays on).
    let out = trace_same_as_on_the_host(
        &[
            "/usr/bin/gdb",
            "-nx",
            "-batch",
            "-ex",
            "catch fork",
            "-ex",
            "catch vfork",
            "-ex",
            "catch exec",
            "-ex",
            "run",
            "-ex",
            "info inferiors",
            "-ex",
            "continue",
            "-ex",
            "continue",
            "--args",
            "/bin/sh",
            "-c",
            "/bin/echo hi; exit 5",
        ],
        &["disabling address space randomization"],
    );
    assert!(
        out.contains("Catchpoint 2 (vforked process P1)") && out.contains("\nhi\n"),
        "{out}"
    );
}

/// Runs guest `name` with `args` natively and in the sandbox: it must succeed and print
/// the same lines in both.
fn same_as_on_the_host(name: &str, args: &[&str]) {
    let bin = guest(name);
    let host = std::process::Command::new(&bin)
        .args(args)
        .output()
        .unwrap();
    assert!(host.status.success(), "{host:?}");
    let mut argv = vec![bin.to_str().unwrap()];
    argv.extend_from_slice(args);
    let o = run_do(None, &argv);
    expect(&o, 0, &String::from_utf8_lossy(&host.stdout));
}

#[test]
fn prctl_subreaper_death_signal_and_dumpable_behave_as_on_the_host() {
    // An orphan below a child subreaper is adopted and reaped by it, a death signal comes
    // when the thread that forked the child exits (its process lives on), fork clears the
    // death signal and keeps dumpable, and bad values and pointers are refused: the same
    // lines as natively.
    same_as_on_the_host("prctl_family", &[]);
}

#[test]
fn pseudo_terminals_behave_as_on_the_host() {
    // /dev/ptmx and devpts, the lock, ttyname, termios editing and echo, raw mode and
    // VMIN/VTIME, the window size, a session's controlling terminal and its signals, the
    // hangup, and bad arguments: the same lines as natively.
    same_as_on_the_host("pty", &[]);
}

#[test]
fn pty_packet_mode_and_the_masters_tiocsctty_behave_as_on_the_host() {
    // TIOCPKT on the master only: TIOCPKT_DATA before data, the replica's flushes
    // (TCFLSH, TCSETSF, ^C), its output stopped and started (^S, ^Q, TCOOFF, TCOON) and
    // IXON changes as status bytes read alone, POLLPRI while one waits, nothing for the
    // master's own flushes; TIOCSCTTY on the master for a session leader: the same lines as
    // natively.
    same_as_on_the_host("pty_packet", &[]);
}

#[test]
fn timerfd_behaves_as_on_the_host() {
    // Create flags and clocks, relative and absolute settime with the old value, reads of
    // expirations, poll and epoll readiness, a periodic count, an inherited timer, and the
    // calls a timerfd refuses: the same lines as natively.
    same_as_on_the_host("timerfd", &[]);
}

#[test]
fn posix_timers_behave_as_on_the_host() {
    // timer_create's clocks, sigevents and ids, settime/gettime (relative, absolute, old
    // value, disarm), SIGEV_NONE, a blocked periodic signal queued once with its overruns
    // and value, a kill'd signal of the same number beside it, re-set and delete taking
    // the signal back, the default SIGALRM, fork and exec, and every bad argument: the
    // same lines as natively.
    same_as_on_the_host("posix_timers", &[]);
}

#[test]
fn cpu_time_clocks_and_timers_behave_as_on_the_host() {
    // The process and thread CPU clocks count a busy loop in user space and not a sleep,
    // another thread's time counts for the process, ITIMER_VIRTUAL, ITIMER_PROF and a
    // POSIX timer on the thread's CPU clock fire once their CPU time is used, a child's
    // time shows in wait4's rusage, RUSAGE_CHILDREN and its zombie's clock, and
    // RLIMIT_CPU sends SIGXCPU then SIGKILL: the same lines as natively (in the confined
    // sandbox, which has no /proc of the host to read CPU time from).
    same_as_on_the_host("cputime", &[]);
}

#[test]
fn clone3_behaves_as_on_the_host() {
    // struct clone_args's checks (size, unknown fields, flags, exit signal, stack,
    // set_tid, cgroup), forks through it with and without an exit signal, a vfork-like
    // child sharing memory, CLONE_CLEAR_SIGHAND and set_tid: the same lines as natively.
    same_as_on_the_host("clone3", &[]);
}

#[test]
fn epoll_sets_inside_epoll_sets_behave_as_on_the_host() {
    // An epoll set polls readable while a wait on it would report something (level and
    // edge-triggered, without taking the edge), a wait on an outer set wakes when a file
    // of the inner set becomes ready, and epoll_ctl refuses a set watching itself, a
    // loop of sets and a chain deeper than five: the same lines as natively.
    same_as_on_the_host("epoll_nest", &[]);
}

#[test]
fn epoll_edge_triggered_oneshot_and_dups_behave_as_on_the_host() {
    // Edge-triggered interests on a pipe's two ends, an eventfd and a unix stream socket
    // report once per change (data, a peer closing, space freed), a waiter that drained
    // its file blocks until new data; oneshot ones report once until EPOLL_CTL_MOD; a dup
    // is an interest of its own and outlives the closing of the other fd: the same lines
    // as natively.
    same_as_on_the_host("epoll_et", &[]);
}

#[test]
fn signalfd_behaves_as_on_the_host() {
    // Argument checks, records of kill, sigqueue, real-time, tgkill and SIGCHLD signals,
    // poll and epoll readiness, a new mask, a blocking read woken by another process and
    // one interrupted by a handler: the same lines as natively.
    same_as_on_the_host("signalfd", &[]);
}

#[test]
fn address_space_and_data_limits_refuse_as_on_the_host() {
    // RLIMIT_AS: mmap, a fixed mapping over pages already mapped, mremap; RLIMIT_DATA:
    // brk — within the limit they succeed, past it ENOMEM: the same lines as natively.
    same_as_on_the_host("rlimit_as", &[]);
}

#[test]
fn signal_driven_io_behaves_as_on_the_host() {
    // O_ASYNC (fcntl and FIOASYNC), owners (F_SETOWN, F_SETOWN_EX, FIOSETOWN), F_SETSIG's
    // si_code/si_band/si_fd, the fd a dup'd description reports, an owner in another
    // process, files that never signal, hostile arguments: the same lines as natively.
    same_as_on_the_host("sigio", &[]);
}

#[test]
fn tcp_and_udp_over_loopback_behave_as_on_the_host() {
    // IPv4 and IPv6, TCP and UDP: ports, listen/accept, blocking and non-blocking
    // connect, resets, options, readiness, two processes, and hostile arguments: the same
    // lines as the program prints run natively.
    same_as_on_the_host("inet", &[]);
}

#[test]
fn partial_transfers_file_size_limits_and_held_files_behave_as_on_the_host() {
    // Reads, writes and getdents into buffers that end at an unmapped page stop there (EFAULT
    // when nothing fits, nothing consumed), iovecs outside the address space are EFAULT, the
    // old getdents form lists what getdents64 lists, RLIMIT_FSIZE cuts a write at the limit
    // and then refuses with EFBIG and SIGXFSZ from the writer, and a read blocked on a pipe
    // gets its bytes after another thread closed its fd: the same lines as natively.
    same_as_on_the_host("partial_io", &[]);
}

#[test]
fn scheduling_attributes_behave_as_on_the_host() {
    // Policies through sched_setscheduler and sched_setattr (nice in the record, E2BIG
    // sizes), reset-on-fork, fork's inheritance, nice through setpriority for a thread, a
    // process group and a user, CPU affinity, /proc/self/stat's fields, a parent setting its
    // child's, unprivileged refusals and bad arguments: the same lines as natively.
    same_as_on_the_host("sched", &[]);
}

#[test]
fn user_and_mount_namespaces_behave_as_on_the_host() {
    // unshare(CLONE_NEWUSER): overflow ids until the maps are written, the maps' rules
    // (once, the writer's own id, gid only after setgroups "deny", bad lines), setgroups
    // and setuid as the maps allow; capabilities of the new namespace not reaching a file
    // of an unmapped owner; in a user and mount namespace of its own a tmpfs with its
    // flags in statfs and /proc/self/mounts, noexec, a read-only tmpfs stacked on it,
    // remount, umount2's EBUSY, EINVAL and MNT_DETACH, bad requests; clone with every
    // namespace flag; a distinct /proc/self/ns/user: the same lines as natively.
    same_as_on_the_host("userns", &["/tmp/sentry-userns-guest"]);
}

#[test]
fn uts_namespaces_sysfs_and_path_argument_checks_behave_as_on_the_host() {
    // unshare(CLONE_NEWUTS) in a child, host and domain names cut at a NUL and refused
    // past 64 bytes, a grandchild sharing the namespace and the parent's name untouched;
    // sysfs's CPU list agreeing with get_nprocs; empty paths, AT_EMPTY_PATH, dots,
    // trailing slashes, utime/utimes/futimesat and rename to itself: the same lines as
    // natively.
    same_as_on_the_host("uts_paths", &[]);
}

#[test]
fn proc_pid_mem_and_comm_files_behave_as_on_the_host() {
    // /proc/self/mem and a child's /proc/PID/mem read and written by address, positions,
    // SEEK_END refused, EIO on unmapped memory, a read cut where the mapping ends, writes
    // forced into read-only and PROT_NONE private memory (a file's mapping copied, the
    // file untouched) but EIO into a shared read-only one, end of file after the child is
    // gone, EBADF through a read-only description; a thread's name
    // written through its comm file (cut at 15 bytes), EINVAL from another process: the
    // same lines as natively.
    same_as_on_the_host("procmem", &[]);
}

#[test]
fn proc_files_of_a_gone_process_open_of_directories_and_offset_limits_behave_as_on_the_host() {
    // A process's /proc files opened while it ran and read when it is a zombie (empty
    // command line and maps, one thread) and once reaped (ESRCH but for the id maps), its
    // task directory listed (ENOENT) and walked (ESRCH) after; /proc/cpuinfo opened for
    // writing by root and its writes refused; O_CREAT and O_DIRECT on directories; pread
    // and pwrite past the largest offset (EINVAL) of a memfd grown to it; files in
    // /dev/shm; the open-file limit the program was started with, an fd above 1024 listed
    // once: the same lines as natively.
    same_as_on_the_host("procfiles", &[]);
}

#[test]
fn network_namespaces_behave_as_on_the_host() {
    // A child that unshares its user and network namespaces: a new /proc/self/ns/net,
    // only lo, down (no address; 127.0.0.1 unreachable, ::1 EADDRNOTAVAIL, every IPv4
    // address bindable), brought up by SIOCSIFFLAGS and down and up by RTM_NEWLINK (by
    // index and by name; 127.0.0.1 stays when down, ::1 goes); then its own 127.0.0.1 and
    // ::1 and nothing else (ENETUNREACH, EADDRNOTAVAIL for a foreign address); the parent's
    // port free and each side reaching its own listener; the parent's abstract name unseen
    // and bound again, its socket file reached; a grandchild sharing the namespace, making
    // a third, refused setns into the first one (owned by the first user namespace) and
    // setns back into the child's: the same lines as natively.
    same_as_on_the_host("netns", &[]);
}

#[test]
fn trace_normalising_drops_cpu_times_and_their_comments() {
    // A child that used CPU time gets strace's comment; one that did not, none: both
    // read the same once normalised.
    let busy = "[pid 7] --- SIGCHLD {si_code=CLD_EXITED, si_pid=9, si_utime=0, si_stime=1 /* 0.01 s */} ---";
    let idle = "[pid 7] --- SIGCHLD {si_code=CLD_EXITED, si_pid=9, si_utime=0, si_stime=0} ---";
    assert_eq!(normalise_trace(busy), normalise_trace(idle));
    assert_eq!(
        normalise_trace(idle),
        "[pid P1] --- SIGCHLD {si_code=CLD_EXITED, si_pid=P2, si_time si_time ---"
    );
}
