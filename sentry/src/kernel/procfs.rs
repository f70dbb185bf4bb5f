//! procfs: what real programs read about themselves and the system, generated from the
//! kernel's state at lookup time.

use crate::fs::SynthNode;
use crate::kernel::task::{RunState, Task};
use crate::kernel::Kernel;
use crate::mm::Errno;

fn dir(names: Vec<(String, u8)>) -> SynthNode {
    SynthNode::Dir(names)
}

fn file(s: String) -> SynthNode {
    SynthNode::File(s.into_bytes())
}

/// Looks up `rel` (components below /proc) as seen by task `tid`.
pub(crate) fn lookup(k: &Kernel, tid: i32, rel: &[String]) -> Result<SynthNode, Errno> {
    let me = k.tasks.get(&tid).map(|t| t.tgid).unwrap_or(1);
    let Some(first) = rel.first() else {
        let mut names: Vec<(String, u8)> = ["self", "thread-self"]
            .iter()
            .map(|n| (n.to_string(), libc::DT_LNK))
            .collect();
        names.push(("mounts".to_string(), libc::DT_LNK));
        for n in [
            "meminfo",
            "cpuinfo",
            "cmdline",
            "uptime",
            "loadavg",
            "version",
            "filesystems",
            "stat",
            "devices",
        ] {
            names.push((n.to_string(), libc::DT_REG));
        }
        names.push(("sys".to_string(), libc::DT_DIR));
        for &pid in k.tgs.keys() {
            names.push((pid.to_string(), libc::DT_DIR));
        }
        return Ok(dir(names));
    };
    match (first.as_str(), rel.len()) {
        ("self", 1) => return Ok(SynthNode::Symlink(me.to_string())),
        ("thread-self", 1) => return Ok(SynthNode::Symlink(format!("{me}/task/{tid}"))),
        ("meminfo", 1) => return Ok(file(meminfo(k))),
        ("cpuinfo", 1) => return Ok(file(crate::host::cpuinfo().to_string())),
        ("mounts", 1) => return Ok(SynthNode::Symlink("self/mounts".into())),
        ("cmdline", 1) => return Ok(file("BOOT_IMAGE=/vmlinuz-4.4.0 ro\n".into())),
        ("sys", _) => return sys(k, tid, &rel[1..]),
        ("uptime", 1) => {
            let up = (k.clocks.mono().saturating_sub(k.boot_ns)) as f64 / 1e9;
            return Ok(file(format!("{up:.2} {up:.2}\n")));
        }
        ("loadavg", 1) => {
            return Ok(file(format!(
                "0.00 0.00 0.00 1/{} {}\n",
                k.tasks.len(),
                k.tasks.keys().max().unwrap_or(&1)
            )))
        }
        ("version", 1) => {
            return Ok(file(
                "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016\n".into(),
            ))
        }
        ("devices", 1) => return Ok(file(DEVICES.into())),
        ("filesystems", 1) => {
            return Ok(file("nodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\n".into()))
        }
        ("stat", 1) => {
            // In USER_HZ ticks: the CPU time the sandbox's processes used (live ones,
            // zombies and the children they reaped, so the figure only grows; all of it
            // as user time, as rusage shows it), and as idle the rest of the time since
            // boot on every CPU. Each CPU's line gets an equal share.
            let busy: u64 = k
                .tgs
                .iter()
                .map(|(&p, g)| k.group_cpu(p).saturating_add(g.cpu_children))
                .sum::<u64>()
                / TICK_NS;
            let cpus = crate::host::cpu_count().max(1) as u64;
            let up = k.clocks.mono().saturating_sub(k.boot_ns);
            let idle = (up / TICK_NS).saturating_mul(cpus).saturating_sub(busy);
            let mut out = format!("cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n");
            for i in 0..cpus {
                out += &format!("cpu{i} {} 0 0 {} 0 0 0 0 0 0\n", busy / cpus, idle / cpus);
            }
            let running = k
                .tasks
                .values()
                .filter(|t| !matches!(t.state, RunState::Parked(_)))
                .count();
            out += &format!(
                "intr 0\nctxt 0\nbtime {}\nprocesses {}\nprocs_running {running}\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n",
                k.clocks.realtime().saturating_sub(up) / 1_000_000_000,
                k.next_pid.saturating_sub(1),
            );
            return Ok(file(out));
        }
        _ => {}
    }
    let pid: i32 = first.parse().map_err(|_| libc::ENOENT)?;
    // A process's directory, or a thread's (not listed, as Linux): /proc/TID.
    let tgid = match k.tgs.get(&pid) {
        Some(_) => pid,
        None => k.tasks.get(&pid).map(|t| t.tgid).ok_or(libc::ENOENT)?,
    };
    let rest: Vec<&str> = rel[1..].iter().map(String::as_str).collect();
    match rest.as_slice() {
        ["task"] => {
            let g = &k.tgs[&tgid];
            Ok(dir(g
                .threads
                .iter()
                .map(|t| (t.to_string(), libc::DT_DIR))
                .collect()))
        }
        ["task", t2, more @ ..] => {
            let t2: i32 = t2.parse().map_err(|_| libc::ENOENT)?;
            if !k.tgs[&tgid].threads.contains(&t2) {
                return Err(libc::ENOENT);
            }
            task_node(k, tid, tgid, t2, more, false)
        }
        _ => task_node(k, tid, tgid, pid, &rest, pid == tgid),
    }
}

/// What /proc/PID/... (`whole` for a process's own directory, which also has `task`) or
/// /proc/PID/task/TID/... shows of thread `tid` of process `tgid`, to the reader `me`.
fn task_node(
    k: &Kernel,
    me: i32,
    tgid: i32,
    tid: i32,
    rest: &[&str],
    whole: bool,
) -> Result<SynthNode, Errno> {
    let g = &k.tgs[&tgid];
    // A zombie keeps its directory and its status; what lived in its memory is gone.
    let t = k
        .tasks
        .get(&tid)
        .or_else(|| g.threads.first().and_then(|t| k.tasks.get(t)));
    let c = &g.creds;
    let zombie = g.zombie.is_some();
    let comm = t.map_or_else(|| "zombie".to_string(), |t| t.comm.clone());
    // The reader itself is running, others sleep (or are zombies, or stopped by a signal).
    let traced_stop = t.is_some_and(|t| t.state == RunState::TraceStopped);
    let state = if g.zombie.is_some() {
        ('Z', "zombie")
    } else if traced_stop {
        ('t', "tracing stop")
    } else if g.stopped.is_some() {
        ('T', "stopped")
    } else if k.tasks.get(&me).is_some_and(|m| m.tgid == tgid) {
        ('R', "running")
    } else {
        ('S', "sleeping")
    };
    let mm = t.and_then(|t| k.mms.get(&t.mm)).map(|m| &m.mm);
    let vm_kb = mm.map_or(0, |m| {
        m.vmas.iter().map(|(s, v)| v.end - s).sum::<u64>() / 1024
    });
    // A zombie's leader stays to be reaped: one thread, as Linux counts it.
    let nthreads = g.threads.len().max(1);
    // Looked up only by the files that show it (stat, statm, status), not for every entry.
    let rss_kb = || mm.map_or(0, |m| resident(&k.mf, m) / 1024);
    match rest {
        [] => {
            let mut names: Vec<(String, u8)> = [
                "stat", "status", "cmdline", "environ", "maps", "smaps", "comm", "mounts", "mountinfo",
                "statm", "io", "limits", "children", "uid_map", "gid_map", "oom_score", "auxv",
                "oom_score_adj", "coredump_filter", "mem", "setgroups",
            ]
            .iter()
            .map(|n| (n.to_string(), libc::DT_REG))
            .chain(["exe", "cwd", "root"].iter().map(|n| (n.to_string(), libc::DT_LNK)))
            .chain(["fd", "fdinfo", "ns"].iter().map(|n| (n.to_string(), libc::DT_DIR)))
            .collect();
            if whole {
                names.push(("task".into(), libc::DT_DIR));
            }
            Ok(dir(names))
        }
        // A zombie's links lead nowhere (ENOENT, as Linux since 4.4 says; gVisor says
        // EACCES, as Linux up to 4.3), but for its pid and user namespaces, which a task
        // keeps until it is reaped; what lived in its memory reads empty.
        ["exe" | "cwd" | "root"] if zombie => Err(libc::ENOENT),
        ["ns", n] if zombie && !matches!(*n, "pid" | "user") => Err(libc::ENOENT),
        ["cmdline" | "environ" | "auxv" | "maps" | "smaps" | "coredump_filter"] if zombie => {
            Ok(file(String::new()))
        }
        ["mem"] => Ok(SynthNode::Mem(tgid)),
        ["exe"] => Ok(SynthNode::Symlink(live(t).map(|_| g.exe.clone())?)),
        ["cwd"] => Ok(SynthNode::Symlink(live(t)?.fs.borrow().cwd.clone())),
        ["root"] => Ok(SynthNode::Symlink("/".into())),
        ["comm"] => Ok(SynthNode::Comm(tid, comm)),
        ["mounts"] => Ok(file(mounts(k, t.map_or(crate::fs::mounts::INIT_MNT_NS, |t| t.mnt)))),
        ["mountinfo"] => Ok(file(mountinfo(
            k,
            t.map_or(crate::fs::mounts::INIT_MNT_NS, |t| t.mnt),
        ))),
        ["cmdline"] => {
            let t = live(t)?;
            Ok(SynthNode::File(read_range(k, t.tid, k.mms[&t.mm].mm.arg_range)))
        }
        ["environ"] => {
            let t = live(t)?;
            Ok(SynthNode::File(read_range(k, t.tid, k.mms[&t.mm].mm.env_range)))
        }
        ["auxv"] => {
            let t = live(t)?;
            Ok(SynthNode::File(read_range(k, t.tid, k.mms[&t.mm].mm.auxv_range)))
        }
        ["maps"] => Ok(file(t.map_or_else(String::new, |t| maps(&k.mms[&t.mm].mm)))),
        ["smaps"] => Ok(file(t.map_or_else(String::new, |t| {
            smaps(&k.mf, &k.mms[&t.mm].mm)
        }))),
        ["statm"] => Ok(file(format!("{} {} 0 0 0 0 0\n", vm_kb / 4, rss_kb() / 4))),
        ["io"] => {
            // A process's: its live threads' and its exited threads'; a thread's own.
            let io = if whole {
                g.threads
                    .iter()
                    .filter_map(|t| k.tasks.get(t))
                    .fold(g.io_exited, |mut a, t| {
                        a.add(&t.io);
                        a
                    })
            } else {
                t.map(|t| t.io).unwrap_or_default()
            };
            Ok(file(format!(
                "rchar: {}\nwchar: {}\nsyscr: {}\nsyscw: {}\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
                io.rchar, io.wchar, io.syscr, io.syscw
            )))
        }
        ["limits"] => Ok(file(limits(&g.rlimits))),
        // The process's user namespace, the outside ids as the reader's namespace sees
        // them; writable once (`write_id_map`).
        [m @ ("uid_map" | "gid_map")] => {
            let which = if *m == "uid_map" {
                crate::creds::IdMap::Uid
            } else {
                crate::creds::IdMap::Gid
            };
            let reader = k
                .tasks
                .get(&me)
                .map(|t| t.creds.userns.clone())
                .unwrap_or_default();
            let text = c.userns.map_text(which, &reader);
            Ok(SynthNode::Tunable(text.into_bytes()))
        }
        ["setgroups"] => Ok(SynthNode::Tunable(
            c.userns.setgroups_text().as_bytes().to_vec(),
        )),
        ["oom_score"] | ["oom_score_adj"] => Ok(file("0\n".into())),
        ["coredump_filter"] => Ok(file("00000033\n".into())),
        ["children"] => Ok(file(
            g.children
                .iter()
                .filter(|c| k.tgs.get(c).is_some_and(|c| c.zombie.is_none()))
                .map(|c| format!("{c} "))
                .collect(),
        )),
        ["stat"] => {
            let start_ticks = (g.start_ns.saturating_sub(k.boot_ns)) / TICK_NS;
            // utime (the process's, or the thread's in task/TID; all CPU time counts as
            // user time, as rusage shows it) and cutime (its reaped children's).
            let utime = if whole || !k.tasks.contains_key(&tid) {
                k.group_cpu(tgid)
            } else {
                k.task_cpu(tid)
            } / TICK_NS;
            let cutime = g.cpu_children / TICK_NS;
            // The controlling terminal's device (new_encode_dev) and foreground group.
            let (tty_nr, tpgid) = k.vfs.devpts.ctty_of(g.sid).map_or((0, -1), |p| {
                let p = p.borrow();
                let n = p.index();
                let dev = (n & 0xff) | (crate::fs::devpts::PTS_MAJOR << 8) | ((n & !0xff) << 12);
                (dev, p.session().1.unwrap_or(-1))
            });
            // Priority as Linux shows it: 20 + nice, or -1 - the real-time priority.
            let sched = t.map_or(crate::kernel::sched::Sched::initial(1, 0), |t| t.sched);
            let (nice, rtp, pol) = (sched.nice, sched.rt_priority, sched.policy);
            let prio = if crate::kernel::sched::is_rt(pol) {
                -1 - rtp as i32
            } else {
                20 + nice
            };
            Ok(file(format!(
                "{tid} ({comm}) {} {} {} {} {tty_nr} {tpgid} 4194560 0 0 0 0 {utime} 0 {cutime} 0 {prio} {nice} {} 0 {start_ticks} {} {} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 {rtp} {pol} 0 0 0 0 0 0 0 0 0 0 0\n",
                state.0, g.ppid, g.pgid, g.sid, nthreads, vm_kb * 1024, rss_kb() / 4
            )))
        }
        ["status"] => Ok(file(format!(
            "Name:\t{comm}\nUmask:\t{:04o}\nState:\t{} ({})\nTgid:\t{tgid}\nNgid:\t0\nPid:\t{tid}\nPPid:\t{}\nTracerPid:\t{}\nUid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{}\nGroups:\t{}\nVmSize:\t{vm_kb:8} kB\nVmRSS:\t{rss:8} kB\nVmData:\t{vm_kb:8} kB\nThreads:\t{}\nSigQ:\t0/{}\nSigPnd:\t{:016x}\nShdPnd:\t{:016x}\nSigBlk:\t{:016x}\nCapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\nCapAmb:\t{:016x}\nNoNewPrivs:\t{}\nSeccomp:\t0\nCpus_allowed_list:\t{}\n",
            t.map_or(0o022, |t| t.fs.borrow().umask),
            state.0,
            state.1,
            g.ppid,
            t.map_or(0, |t| k.tracer_pid(t.tid)),
            c.uid, c.euid, c.suid, c.fsuid,
            c.gid, c.egid, c.sgid, c.fsgid,
            t.map_or(0, |t| t.files.borrow().limit),
            c.groups.iter().map(|g| format!("{g} ")).collect::<String>(),
            nthreads,
            g.rlimits[libc::RLIMIT_SIGPENDING as usize].0,
            t.map_or(0, |t| t.pending.iter().fold(0u64, |m, s| m | 1 << (s.signo - 1))),
            g.shared_pending.iter().fold(0u64, |m, s| m | 1 << (s.signo - 1)),
            t.map_or(0, |t| t.sigmask),
            c.inheritable, c.permitted, c.effective, c.bounding, c.ambient,
            c.no_new_privs as u8,
            crate::fs::sysfs::cpu_list(t.map_or(crate::kernel::sched::online_cpus(), |t| t.sched.affinity)),
            rss = rss_kb(),
        ))),
        ["fd"] | ["fdinfo"] => {
            let t = live(t)?;
            let ty = if rest[0] == "fd" { libc::DT_LNK } else { libc::DT_REG };
            Ok(dir(t.files.borrow().fds.keys().map(|fd| (fd.to_string(), ty)).collect()))
        }
        ["fd", n] => {
            let fd: i32 = n.parse().map_err(|_| libc::ENOENT)?;
            let file = live(t)?.files.borrow().get(fd).ok_or(libc::ENOENT)?;
            let (text, flags) = {
                let fb = file.borrow();
                (fb.imp.link_text(&fb.path), fb.flags)
            };
            // r-x for reading, -wx for writing, as Linux shows the link.
            let mode = match flags & libc::O_ACCMODE {
                _ if flags & libc::O_PATH != 0 => 0o500,
                libc::O_RDONLY => 0o500,
                libc::O_WRONLY => 0o300,
                _ => 0o700,
            };
            Ok(SynthNode::FdLink { text, file, mode })
        }
        ["fdinfo", n] => {
            let fd: i32 = n.parse().map_err(|_| libc::ENOENT)?;
            let files = live(t)?.files.borrow();
            let e = files.fds.get(&fd).ok_or(libc::ENOENT)?;
            // The position the file has (a host file's own offset), else the kept one.
            let mut fb = e.file.try_borrow_mut().map_err(|_| libc::EBUSY)?;
            let pos = if fb.path_only() {
                0
            } else {
                fb.seek(0, libc::SEEK_CUR).unwrap_or(fb.pos as i64)
            };
            let flags = fb.flags | if e.cloexec { libc::O_CLOEXEC } else { 0 };
            Ok(file(format!("pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t0\n")))
        }
        ["ns"] => Ok(dir(NAMESPACES
            .iter()
            .map(|(n, _)| (n.to_string(), libc::DT_LNK))
            .collect())),
        ["ns", n] => {
            let (name, mut ino) = *NAMESPACES
                .iter()
                .find(|(x, _)| x == n)
                .ok_or(libc::ENOENT)?;
            let t = live(t)?;
            match name {
                "user" => ino = t.creds.userns.ino(),
                "net" => ino = t.net.ino,
                _ => {}
            }
            // A magic link, as Linux's: following it reaches the namespace's own (empty,
            // read-only) file, which no path names.
            let text = format!("{name}:[{ino}]");
            let file = crate::fs::file::OpenFile::new(
                Box::new(crate::fs::synthetic::SynthFile::new(Vec::new())),
                libc::O_RDONLY,
                text.clone(),
            );
            Ok(SynthNode::FdLink {
                text,
                file,
                mode: 0o777,
            })
        }
        _ => Err(libc::ENOENT),
    }
}

/// /proc/sys: the kernel's tunables programs read (read-only here).
fn sys(k: &Kernel, tid: i32, rel: &[String]) -> Result<SynthNode, Errno> {
    let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
    let names = |ns: &[&str], ty: u8| dir(ns.iter().map(|n| (n.to_string(), ty)).collect());
    let uuid = || {
        let mut b = [0u8; 16];
        crate::fs::dev::random_bytes(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}\n",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    };
    let value = |v: &str| Ok(file(format!("{v}\n")));
    let tunable = |v: i32| Ok(SynthNode::Tunable(format!("{v}\n").into_bytes()));
    match rel.as_slice() {
        [] => Ok(names(&["fs", "kernel", "net", "vm"], libc::DT_DIR)),
        ["kernel"] => {
            let mut d = names(
                &[
                    "hostname",
                    "domainname",
                    "osrelease",
                    "ostype",
                    "version",
                    "cap_last_cap",
                    "overflowuid",
                    "overflowgid",
                    "pid_max",
                    "ngroups_max",
                    "randomize_va_space",
                    "threads-max",
                ],
                libc::DT_REG,
            );
            if let SynthNode::Dir(e) = &mut d {
                e.push(("random".into(), libc::DT_DIR));
                e.push(("keys".into(), libc::DT_DIR));
            }
            Ok(d)
        }
        // The reader's UTS namespace.
        ["kernel", "hostname" | "domainname"] => {
            let uts = k
                .tasks
                .get(&tid)
                .map_or_else(|| k.uts.clone(), |t| t.uts.clone());
            let u = uts.borrow();
            let name = if rel[1] == "hostname" {
                &u.hostname
            } else {
                &u.domainname
            };
            value(&String::from_utf8_lossy(name))
        }
        ["kernel", "osrelease"] => value("4.4.0"),
        ["kernel", "ostype"] => value("Linux"),
        ["kernel", "version"] => value("#1 SMP Sun Jan 10 15:06:54 PST 2016"),
        ["kernel", "cap_last_cap"] => value("40"),
        ["kernel", "overflowuid"] | ["kernel", "overflowgid"] => value("65534"),
        ["kernel", "pid_max"] => value("4194304"),
        ["kernel", "ngroups_max"] => value("65536"),
        ["kernel", "randomize_va_space"] => value("2"),
        ["kernel", "threads-max"] => value("257262"),
        ["kernel", "random"] => Ok(names(&["boot_id", "uuid", "entropy_avail"], libc::DT_REG)),
        ["kernel", "random", "uuid"] => Ok(file(uuid())),
        ["kernel", "random", "boot_id"] => {
            // Stable for the sandbox's life: derived from its boot time.
            let b = k.boot_ns.to_le_bytes();
            let h: String = b
                .iter()
                .chain(b.iter().rev())
                .map(|x| format!("{x:02x}"))
                .collect();
            value(&format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            ))
        }
        ["kernel", "random", "entropy_avail"] => value("256"),
        ["kernel", "keys"] => Ok(names(&["maxkeys", "maxbytes"], libc::DT_REG)),
        ["kernel", "keys", "maxkeys"] => tunable(k.key_quota.maxkeys),
        ["kernel", "keys", "maxbytes"] => tunable(k.key_quota.maxbytes),
        ["vm"] => Ok(names(
            &["max_map_count", "mmap_min_addr", "overcommit_memory"],
            libc::DT_REG,
        )),
        ["vm", "max_map_count"] => value("2147483647"),
        ["vm", "mmap_min_addr"] => value("65536"),
        ["vm", "overcommit_memory"] => value("0"),
        ["fs"] => Ok(names(&["nr_open", "file-max"], libc::DT_REG)),
        ["fs", "nr_open"] => value("1048576"),
        ["fs", "file-max"] => value("9223372036854775807"),
        ["net"] => Ok(dir(Vec::new())),
        _ => Err(libc::ENOENT),
    }
}

/// The procfs path a file or directory opened at `rel` is made anew from, when it shows a
/// process (below /proc/PID; its user and group maps show the namespace, not the
/// process, and stay readable after it is gone) or a tunable (below /proc/sys).
pub(crate) fn live_source(rel: &[String]) -> Option<Vec<String>> {
    let first = rel.first()?;
    (first.parse::<i32>().is_ok() || first == "sys").then(|| rel.to_vec())
}

/// The thread and the name of an id map file of procfs (`PID/uid_map`, `gid_map` or
/// `setgroups`, or the same below `PID/task/TID`).
pub(crate) fn id_map_file(rel: &[String]) -> Option<(i32, &str)> {
    let (id, name) = match rel {
        [pid, name] => (pid, name),
        [_, task, tid, name] if task == "task" => (tid, name),
        _ => return None,
    };
    let name = name.as_str();
    matches!(name, "uid_map" | "gid_map" | "setgroups")
        .then_some(())
        .and(id.parse().ok())
        .map(|id| (id, name))
}

/// A write of `raw` by task `tid` to the id map file `source` names (`id_map_file`):
/// the process's user namespace takes it, under the rules of `creds::UserNsRef`.
pub(crate) fn write_id_map(
    k: &Kernel,
    tid: i32,
    source: &[String],
    raw: &[u8],
) -> Result<(), Errno> {
    let (of, name) = id_map_file(source).ok_or(libc::EINVAL)?;
    let target = k.tasks.get(&of).ok_or(libc::ESRCH)?;
    let ns = k.tgs[&target.tgid].creds.userns.clone();
    let writer = &k.tasks[&tid].creds;
    match name {
        "uid_map" => ns.write_map(crate::creds::IdMap::Uid, writer, raw),
        "gid_map" => ns.write_map(crate::creds::IdMap::Gid, writer, raw),
        _ => ns.write_setgroups(writer, raw),
    }
}

/// Makes a process's file or directory `f` (opened at a `live_source` path) anew as task
/// `tid` sees the process now: a file for a read from `at` 0, a directory for a listing
/// (every one: a gone process's directory lists nothing, ENOENT, and a listing from the
/// start shows its entries as they are). ESRCH for a file of a process that is gone.
pub(crate) fn refresh(
    k: &Kernel,
    tid: i32,
    f: &crate::fs::file::FileRef,
    at: Option<u64>,
) -> Result<(), Errno> {
    use crate::fs::synthetic::{SynthDir, SynthFile};
    let (source, dir, pos) = {
        let fb = f.borrow();
        let pos = fb.pos;
        if let Some(sf) = fb.kind::<SynthFile>() {
            (sf.source.clone(), false, pos)
        } else if let Some(sd) = fb.kind::<SynthDir>() {
            (sd.source.clone(), true, pos)
        } else if let Some(c) = fb.kind::<crate::fs::proccomm::ProcComm>() {
            (
                Some(vec![c.tid.to_string(), "comm".to_string()]),
                false,
                pos,
            )
        } else {
            return Ok(());
        }
    };
    let Some(source) = source else {
        return Ok(());
    };
    // Id maps show the namespace as it was at open, after the process too.
    if id_map_file(&source).is_some() {
        return Ok(());
    }
    if !dir && at.unwrap_or(pos) != 0 {
        return Ok(());
    }
    let node = lookup(k, tid, &source);
    let mut fb = f.borrow_mut();
    match node {
        Ok(SynthNode::File(data) | SynthNode::Tunable(data)) => {
            if let Some(sf) = fb.imp.as_any_mut().downcast_mut::<SynthFile>() {
                sf.refill(data);
            }
            Ok(())
        }
        Ok(SynthNode::Comm(_, name)) => {
            if let Some(c) = fb
                .imp
                .as_any_mut()
                .downcast_mut::<crate::fs::proccomm::ProcComm>()
            {
                c.refill(format!("{name}\n").into_bytes());
            }
            Ok(())
        }
        Ok(SynthNode::Dir(entries)) => {
            if pos == 0 {
                if let Some(sd) = fb.imp.as_any_mut().downcast_mut::<SynthDir>() {
                    sd.refill(entries);
                }
            }
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(_) if dir => Err(libc::ENOENT),
        Err(libc::ENOENT) => Err(libc::ESRCH),
        Err(e) => Err(e),
    }
}

/// Whether the procfs directory at `path` (a guest path) belongs to a process that is
/// gone: a walk from it is ESRCH, as Linux's permission check of a dead process's
/// directory says.
pub(crate) fn dir_of_gone_process(k: &Kernel, path: &str) -> bool {
    let comps = crate::fs::split(path);
    let (m, rel) = k.vfs.mount_for(&comps);
    if !matches!(k.vfs.mounts[m].fs, crate::fs::MountFs::Proc) {
        return false;
    }
    let ids = |i: usize| rel.get(i).and_then(|p| p.parse::<i32>().ok());
    let gone = |id: i32| !k.tgs.contains_key(&id) && !k.tasks.contains_key(&id);
    ids(0).is_some_and(gone)
        || rel.get(1).is_some_and(|t| t == "task")
            && ids(2).is_some_and(|t| !k.tasks.contains_key(&t))
}

/// The key quotas of /proc/sys/kernel/keys (for the sandbox's one user namespace): what
/// root writes there is kept and read back (the sentry has no keyrings to apply them to).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyQuota {
    pub maxkeys: i32,
    pub maxbytes: i32,
}

impl Default for KeyQuota {
    /// Linux's defaults for a user other than root.
    fn default() -> Self {
        KeyQuota {
            maxkeys: 200,
            maxbytes: 20000,
        }
    }
}

impl KeyQuota {
    /// A restored quota: at least 1, as a write can set.
    pub(crate) fn validate(&self) -> Result<(), crate::checks::Invalid> {
        for (field, v) in [("maxkeys", self.maxkeys), ("maxbytes", self.maxbytes)] {
            if v < 1 {
                return Err(crate::checks::bad(
                    "key quota",
                    field,
                    format!("{v} is below 1"),
                ));
            }
        }
        Ok(())
    }
}

/// The value of an integer tunable written as `raw`: one decimal number, with blanks and
/// a newline around it, within `min..=i32::MAX` (EINVAL otherwise, as Linux's
/// proc_dointvec_minmax).
pub(crate) fn tunable_int(raw: &[u8], min: i32) -> Result<i32, Errno> {
    let text = std::str::from_utf8(raw).map_err(|_| libc::EINVAL)?;
    let v: i64 = text.trim().parse().map_err(|_| libc::EINVAL)?;
    if v < min as i64 || v > i32::MAX as i64 {
        return Err(libc::EINVAL);
    }
    Ok(v as i32)
}

/// Writes tunable `source` (a procfs path below /proc/sys) as task `tid`: the value is
/// taken and `len` bytes consumed; EINVAL for a bad value or a read-only tunable.
pub(crate) fn write_tunable(k: &mut Kernel, source: &[String], raw: &[u8]) -> Result<(), Errno> {
    let path: Vec<&str> = source.iter().map(String::as_str).collect();
    match path.as_slice() {
        ["sys", "kernel", "keys", "maxkeys"] => k.key_quota.maxkeys = tunable_int(raw, 1)?,
        ["sys", "kernel", "keys", "maxbytes"] => k.key_quota.maxbytes = tunable_int(raw, 1)?,
        _ => return Err(libc::EINVAL),
    }
    Ok(())
}

/// A USER_HZ tick (1/100 s), the unit of /proc's CPU times, in ns.
const TICK_NS: u64 = 10_000_000;

/// The namespaces a process has, with Linux's first inode numbers of each (the user and
/// network namespaces show the task's own).
const NAMESPACES: [(&str, u64); 8] = [
    ("cgroup", 4026531835),
    ("ipc", 4026531839),
    ("mnt", 4026531841),
    ("net", 4026531840),
    ("pid", 4026531836),
    ("time", 4026531834),
    ("user", 4026531837),
    ("uts", 4026531838),
];

/// /proc/PID/limits: the resource limits as Linux tabulates them.
fn limits(rl: &[(u64, u64)]) -> String {
    const ROWS: [(&str, usize, &str); 16] = [
        ("Max cpu time", 0, "seconds"),
        ("Max file size", 1, "bytes"),
        ("Max data size", 2, "bytes"),
        ("Max stack size", 3, "bytes"),
        ("Max core file size", 4, "bytes"),
        ("Max resident set", 5, "bytes"),
        ("Max processes", 6, "processes"),
        ("Max open files", 7, "files"),
        ("Max locked memory", 8, "bytes"),
        ("Max address space", 9, "bytes"),
        ("Max file locks", 10, "locks"),
        ("Max pending signals", 11, "signals"),
        ("Max msgqueue size", 12, "bytes"),
        ("Max nice priority", 13, ""),
        ("Max realtime priority", 14, ""),
        ("Max realtime timeout", 15, "us"),
    ];
    let show = |v: u64| {
        if v == u64::MAX {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let mut out = format!(
        "{:<25} {:<20} {:<20} {:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for (name, i, unit) in ROWS {
        let (soft, hard) = rl.get(i).copied().unwrap_or((u64::MAX, u64::MAX));
        out += &format!(
            "{name:<25} {:<20} {:<20} {unit:<10}\n",
            show(soft),
            show(hard)
        );
    }
    out
}

/// The thread of a directory whose files need it live (ESRCH once it exited).
/// /proc/devices: the character devices the sentry serves (devfs, ptys), no block device.
const DEVICES: &str = "Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n  5 /dev/tty\n  5 /dev/console\n  5 /dev/ptmx\n136 pts\n\nBlock devices:\n";

fn live(t: Option<&Task>) -> Result<&Task, Errno> {
    t.ok_or(libc::ESRCH)
}

fn read_range(k: &Kernel, tid: i32, (s, e): (u64, u64)) -> Vec<u8> {
    if e <= s || e - s > 1 << 20 {
        return Vec::new();
    }
    k.read_mem(tid, s, (e - s) as usize).unwrap_or_default()
}

/// The bytes of `mm`'s mappings that have memory behind them (RSS): the memory file's
/// pages its mappings cover that are not holes. Shared pages count in each address space
/// that maps them, as on Linux.
fn resident(mf: &crate::mm::MemoryFile, mm: &crate::mm::Mm) -> u64 {
    mm.vmas
        .iter()
        .map(|(&s, v)| resident_in(mf, v.off, v.end - s))
        .sum()
}

/// The bytes of memory-file range `[off, off + len)` that are not holes.
fn resident_in(mf: &crate::mm::MemoryFile, off: u64, len: u64) -> u64 {
    let fd = mf.raw_fd();
    let mut total = 0;
    let (mut at, end) = (off as i64, (off + len) as i64);
    while at < end {
        let Ok(data) = nix::unistd::lseek(fd, at, nix::unistd::Whence::SeekData) else {
            break;
        };
        if data >= end {
            break;
        }
        let hole = nix::unistd::lseek(fd, data, nix::unistd::Whence::SeekHole).unwrap_or(end);
        total += (hole.min(end) - data) as u64;
        at = hole;
    }
    total
}

/// /proc/PID/smaps: each mapping's maps line, then its size and the memory behind it.
fn smaps(mf: &crate::mm::MemoryFile, mm: &crate::mm::Mm) -> String {
    let mut out = String::new();
    for (&s, v) in &mm.vmas {
        out += &maps_line(s, v);
        let (size, rss) = ((v.end - s) / 1024, resident_in(mf, v.off, v.end - s) / 1024);
        let anon = if v.name.is_empty() || v.name.starts_with('[') {
            rss
        } else {
            0
        };
        out += &format!(
            "Size:           {size:8} kB\nKernelPageSize:        4 kB\nMMUPageSize:           4 kB\nRss:            {rss:8} kB\nPss:            {rss:8} kB\nShared_Clean:          0 kB\nShared_Dirty:          0 kB\nPrivate_Clean:         0 kB\nPrivate_Dirty:  {rss:8} kB\nReferenced:     {rss:8} kB\nAnonymous:      {anon:8} kB\nSwap:                  0 kB\nLocked:                0 kB\n"
        );
    }
    out
}

fn maps(mm: &crate::mm::Mm) -> String {
    // Neighbours the sentry keeps apart (a split it made, a stack grown below itself) that
    // Linux would show as one mapping: same protection, kind and name.
    let mut merged: Vec<(u64, crate::mm::Vma)> = Vec::new();
    for (&s, v) in &mm.vmas {
        if let Some((_, pv)) = merged.last_mut() {
            if pv.end == s && pv.prot == v.prot && pv.shared == v.shared && pv.name == v.name {
                pv.end = v.end;
                continue;
            }
        }
        merged.push((s, v.clone()));
    }
    merged.iter().map(|(s, v)| maps_line(*s, v)).collect()
}

/// The maps line of mapping `v` at `s`.
fn maps_line(s: u64, v: &crate::mm::Vma) -> String {
    let p = |b: i32, c: char| if v.prot & b != 0 { c } else { '-' };
    let line = format!(
        "{s:08x}-{:08x} {}{}{}{} 00000000 00:00 0 ",
        v.end,
        p(libc::PROT_READ, 'r'),
        p(libc::PROT_WRITE, 'w'),
        p(libc::PROT_EXEC, 'x'),
        if v.shared { 's' } else { 'p' },
    );
    // Shared anonymous memory is a deleted /dev/zero to Linux.
    let name = match v.name.as_str() {
        "" if v.shared => "/dev/zero (deleted)",
        n => n,
    };
    if name.is_empty() {
        format!("{line}\n")
    } else {
        // Linux pads the line to 73 columns before the name.
        format!("{line:<73}{name}\n")
    }
}

/// /proc/PID/mounts: the mounts of mount namespace `ns`.
fn mounts(k: &Kernel, ns: u64) -> String {
    let mut out = String::new();
    for m in k.vfs.mounts.iter().filter(|m| m.seen.contains(&ns)) {
        let at = crate::fs::join(&m.at);
        let opt = m.options();
        let (dev, ty) = match m.fstype.as_str() {
            "rootfs" | "bind" => ("none", "9p"),
            t => (t, t),
        };
        out += &format!("{dev} {at} {ty} {opt} 0 0\n");
    }
    out
}

/// The id of mount `index` (of the mount table), as mountinfo and statx give it.
pub(crate) fn mount_id(index: usize) -> u64 {
    index as u64 + 1
}

/// /proc/PID/mountinfo: one line per mount of mount namespace `ns` (ids from 1 in mount
/// order, the root's parent its own), as Linux writes it.
fn mountinfo(k: &Kernel, ns: u64) -> String {
    let mut out = String::new();
    for (i, m) in k.vfs.mounts.iter().enumerate() {
        if !m.seen.contains(&ns) {
            continue;
        }
        let at = crate::fs::join(&m.at);
        // The parent: the last earlier mount that holds the mount point.
        let parent = k.vfs.mounts[..i]
            .iter()
            .rposition(|p| {
                p.seen.contains(&ns) && p.at.len() < m.at.len() && m.at[..p.at.len()] == p.at[..]
            })
            .map_or(i + 1, |p| p + 1);
        let opt = m.options();
        let (source, ty) = match m.fstype.as_str() {
            "rootfs" | "bind" => ("none", "9p"),
            t => (t, t),
        };
        // The device its files show in st_dev, so that df finds the mount of a path.
        let look = |rel: &[String]| lookup(k, 1, rel);
        let dev = k.vfs.lstat(&look, i, &[]).map_or(0, |(st, _)| st.st_dev);
        out += &format!(
            "{} {parent} {}:{} / {at} {opt} - {ty} {source} {}\n",
            mount_id(i),
            libc::major(dev),
            libc::minor(dev),
            if m.readonly { "ro" } else { "rw" },
        );
    }
    out
}

fn meminfo(k: &Kernel) -> String {
    let total_kb = 2u64 << 20; // 2 GiB as the sandbox's nominal size
    let used_kb = k.mf.allocated() / 1024;
    let free_kb = total_kb.saturating_sub(used_kb);
    format!(
        "MemTotal:       {total_kb:8} kB\nMemFree:        {free_kb:8} kB\nMemAvailable:   {free_kb:8} kB\nBuffers:               0 kB\nCached:                0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n"
    )
}

#[cfg(test)]
mod tests {
    use crate::fs::SynthNode;
    use crate::testing::{kernel, SCRATCH};

    fn text(n: SynthNode) -> String {
        match n {
            SynthNode::File(b) => String::from_utf8(b).unwrap(),
            _ => panic!("not a file"),
        }
    }

    fn path(p: &str) -> Vec<String> {
        crate::fs::split(p)
    }

    #[test]
    fn a_process_reads_its_state_limits_fdinfo_and_the_mounts() {
        let d = tempfile::tempdir().unwrap();
        let mut k = kernel(d.path());
        let t = k.test_process(1000, 1000);
        let other = k.test_process(0, 0);
        let status = text(super::lookup(&k, t, &path(&format!("{t}/status"))).unwrap());
        assert!(status.contains("State:\tR (running)\n"), "{status}");
        assert!(
            status.contains("Uid:\t1000\t1000\t1000\t1000\n"),
            "{status}"
        );
        let theirs = text(super::lookup(&k, t, &path(&format!("{other}/stat"))).unwrap());
        assert_eq!(theirs.split(' ').nth(2), Some("S"), "{theirs}");
        // Stopped by a signal: T, as Linux says it.
        // (the test kernel delivers no signal: the stop is set as delivery sets it)
        k.tgs.get_mut(&other).unwrap().stopped = Some((libc::SIGSTOP, true));
        let theirs = text(super::lookup(&k, t, &path(&format!("{other}/stat"))).unwrap());
        assert_eq!(theirs.split(' ').nth(2), Some("T"), "{theirs}");
        let status = text(super::lookup(&k, t, &path(&format!("{other}/status"))).unwrap());
        assert!(status.contains("State:\tT (stopped)\n"), "{status}");
        // A zombie: its links are gone (ENOENT, as Linux says) but for its pid and user
        // namespaces.
        k.tgs.get_mut(&other).unwrap().zombie = Some(crate::kernel::task::WaitStatus::Exited(0));
        for gone in ["exe", "cwd", "root", "ns/net", "ns/mnt", "ns/uts"] {
            let p = path(&format!("{other}/{gone}"));
            assert_eq!(super::lookup(&k, t, &p).err(), Some(libc::ENOENT), "{gone}");
        }
        for kept in ["ns/pid", "ns/user"] {
            let p = path(&format!("{other}/{kept}"));
            assert!(super::lookup(&k, t, &p).is_ok(), "{kept}");
        }
        k.tgs.get_mut(&other).unwrap().zombie = None;
        let limits = text(super::lookup(&k, t, &path("1/limits")).unwrap());
        assert!(limits.starts_with("Limit "), "{limits}");
        assert!(limits.contains("Max open files            1024                 1048576"));
        // fdinfo: the position and the flags (O_LARGEFILE, O_CLOEXEC included).
        std::fs::write(d.path().join("f"), b"abcdef").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.path().join("f"), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        let p = k.put_str(t, SCRATCH, "/f");
        let flags = (libc::O_RDWR | libc::O_APPEND | libc::O_CLOEXEC) as u64;
        let at = libc::AT_FDCWD as u64;
        let fd = k
            .call(t, libc::SYS_openat, [at, p, flags, 0, 0, 0])
            .unwrap();
        k.call(t, libc::SYS_lseek, [fd as u64, 4, 0, 0, 0, 0]);
        let info = text(super::lookup(&k, t, &path(&format!("{t}/fdinfo/{fd}"))).unwrap());
        assert_eq!(info, "pos:\t4\nflags:\t02102002\nmnt_id:\t0\n");
        let mountinfo = text(super::lookup(&k, t, &path(&format!("{t}/mountinfo"))).unwrap());
        assert_eq!(mountinfo.lines().count(), k.vfs.mounts.len(), "{mountinfo}");
        assert!(
            mountinfo
                .lines()
                .any(|l| l.contains(",relatime - proc proc ")),
            "{mountinfo}"
        );
        let host = text(super::lookup(&k, t, &path("sys/kernel/hostname")).unwrap());
        assert_eq!(host, format!("{}\n", k.hostname()));
        assert!(matches!(
            super::lookup(&k, t, &path("mounts")),
            Ok(SynthNode::Symlink(s)) if s == "self/mounts"
        ));
        assert_eq!(
            super::lookup(&k, t, &path("sys/kernel/nope")).err(),
            Some(libc::ENOENT)
        );
    }

    #[test]
    fn root_sets_the_key_quotas_that_others_only_read() {
        let d = tempfile::tempdir().unwrap();
        let mut k = kernel(d.path());
        let root = k.test_process(0, 0);
        let user = k.test_process(1000, 1000);
        let at = libc::AT_FDCWD as u64;
        let buf = SCRATCH + 4096;
        let open = |k: &mut crate::kernel::Kernel, t: i32, flags: i32| {
            let p = k.put_str(t, SCRATCH, "/proc/sys/kernel/keys/maxkeys");
            k.call(t, libc::SYS_openat, [at, p, flags as u64, 0, 0, 0])
                .unwrap()
        };
        let write = |k: &mut crate::kernel::Kernel, t: i32, fd: i64, s: &str| {
            let p = k.put_str(t, buf, s);
            k.call(t, libc::SYS_write, [fd as u64, p, s.len() as u64, 0, 0, 0])
                .unwrap()
        };
        let read = |k: &mut crate::kernel::Kernel, t: i32| {
            let fd = open(k, t, libc::O_RDONLY);
            let n = k
                .call(t, libc::SYS_pread64, [fd as u64, buf, 64, 0, 0, 0])
                .unwrap();
            String::from_utf8(k.get(t, buf, n as usize)).unwrap()
        };
        assert_eq!(read(&mut k, user), "200\n");
        assert_eq!(open(&mut k, user, libc::O_WRONLY), -(libc::EACCES as i64));
        let fd = open(&mut k, root, libc::O_WRONLY);
        assert!(fd >= 0);
        for bad in ["-1", "0", "x", "2147483648", ""] {
            assert_eq!(
                write(&mut k, root, fd, bad),
                -(libc::EINVAL as i64),
                "{bad:?}"
            );
        }
        assert_eq!(write(&mut k, root, fd, " 100\n"), 5);
        assert_eq!(read(&mut k, user), "100\n");
        // Past the start a write is taken and ignored, as Linux's strict sysctl writes.
        assert_eq!(write(&mut k, root, fd, "7"), 1);
        assert_eq!(read(&mut k, user), "100\n");
        assert_eq!(k.key_quota.maxkeys, 100);
        // A restored quota below 1 is refused.
        let bad = super::KeyQuota {
            maxkeys: 0,
            maxbytes: 1,
        };
        assert!(bad.validate().is_err());
        assert!(super::KeyQuota::default().validate().is_ok());
    }

    #[test]
    fn statfs_names_the_file_system_and_refuses_a_missing_path() {
        let d = tempfile::tempdir().unwrap();
        let mut k = kernel(d.path());
        let t = k.test_process(0, 0);
        let buf = SCRATCH + 4096;
        let magic = |k: &mut crate::kernel::Kernel, nr: i64, arg: u64| {
            assert_eq!(k.call(t, nr, [arg, buf, 0, 0, 0, 0]), Some(0));
            i64::from_le_bytes(k.get(t, buf, 8).try_into().unwrap())
        };
        let p = k.put_str(t, SCRATCH, "/proc/self");
        assert_eq!(
            magic(&mut k, libc::SYS_statfs, p),
            crate::fs::PROC_SUPER_MAGIC
        );
        let p = k.put_str(t, SCRATCH, "/missing");
        assert_eq!(
            k.call(t, libc::SYS_statfs, [p, buf, 0, 0, 0, 0]),
            Some(-(libc::ENOENT as i64))
        );
        assert_eq!(
            k.call(t, libc::SYS_fstatfs, [77, buf, 0, 0, 0, 0]),
            Some(-(libc::EBADF as i64))
        );
        assert_eq!(
            k.call(t, libc::SYS_pipe2, [SCRATCH + 512, 0, 0, 0, 0, 0]),
            Some(0)
        );
        let rfd = u32::from_le_bytes(k.get(t, SCRATCH + 512, 4).try_into().unwrap());
        assert_eq!(
            magic(&mut k, libc::SYS_fstatfs, rfd as u64),
            crate::fs::PIPEFS_MAGIC
        );
        let p = k.put_str(t, SCRATCH, "/");
        let host = nix::sys::statfs::statfs(d.path()).unwrap();
        assert_eq!(
            magic(&mut k, libc::SYS_statfs, p),
            host.filesystem_type().0 as i64
        );
    }
}
