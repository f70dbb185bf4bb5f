//! procfs: what real programs read about themselves and the system, generated from the
//! kernel's state at lookup time.

use crate::fs::SynthNode;
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
        for n in [
            "meminfo",
            "cpuinfo",
            "mounts",
            "uptime",
            "loadavg",
            "version",
            "filesystems",
            "stat",
        ] {
            names.push((n.to_string(), libc::DT_REG));
        }
        for (&pid, g) in &k.tgs {
            if g.zombie.is_none() {
                names.push((pid.to_string(), libc::DT_DIR));
            }
        }
        return Ok(dir(names));
    };
    match (first.as_str(), rel.len()) {
        ("self", 1) => return Ok(SynthNode::Symlink(me.to_string())),
        ("thread-self", 1) => return Ok(SynthNode::Symlink(format!("{me}/task/{tid}"))),
        ("meminfo", 1) => return Ok(file(meminfo(k))),
        ("cpuinfo", 1) => return Ok(file(crate::host::cpuinfo().to_string())),
        ("mounts", 1) => return Ok(file(mounts(k))),
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
        ("filesystems", 1) => {
            return Ok(file("nodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\n".into()))
        }
        ("stat", 1) => {
            return Ok(file(format!(
                "cpu  0 0 0 0 0 0 0 0 0 0\nbtime {}\nprocesses {}\n",
                k.clocks.realtime() / 1_000_000_000,
                k.tgs.len()
            )))
        }
        _ => {}
    }
    let pid: i32 = first.parse().map_err(|_| libc::ENOENT)?;
    let g = k
        .tgs
        .get(&pid)
        .filter(|g| g.zombie.is_none())
        .ok_or(libc::ENOENT)?;
    let t = g
        .threads
        .first()
        .and_then(|t| k.tasks.get(t))
        .ok_or(libc::ENOENT)?;
    let rest: Vec<&str> = rel[1..].iter().map(String::as_str).collect();
    let mm = &k.mms[&t.mm].mm;
    let c = &g.creds;
    match rest.as_slice() {
        [] => Ok(dir(["stat", "status", "cmdline", "environ", "maps", "comm", "mounts", "statm"]
            .iter()
            .map(|n| (n.to_string(), libc::DT_REG))
            .chain(["exe", "cwd", "root"].iter().map(|n| (n.to_string(), libc::DT_LNK)))
            .chain(["fd", "task"].iter().map(|n| (n.to_string(), libc::DT_DIR)))
            .collect())),
        ["exe"] => Ok(SynthNode::Symlink(g.exe.clone())),
        ["cwd"] => Ok(SynthNode::Symlink(t.fs.borrow().cwd.clone())),
        ["root"] => Ok(SynthNode::Symlink("/".into())),
        ["comm"] => Ok(file(format!("{}\n", t.comm))),
        ["mounts"] => Ok(file(mounts(k))),
        ["cmdline"] => Ok(SynthNode::File(read_range(k, t.tid, mm.arg_range))),
        ["environ"] => Ok(SynthNode::File(read_range(k, t.tid, mm.env_range))),
        ["maps"] => Ok(file(maps(mm))),
        ["statm"] => {
            let pages: u64 = mm.vmas.iter().map(|(s, v)| (v.end - s) / 4096).sum();
            Ok(file(format!("{pages} 0 0 0 0 0 0\n")))
        }
        ["stat"] => {
            let state = 'S';
            let vsize: u64 = mm.vmas.iter().map(|(s, v)| v.end - s).sum();
            let start_ticks = (g.start_ns.saturating_sub(k.boot_ns)) / 10_000_000;
            Ok(file(format!(
                "{pid} ({}) {state} {} {} {} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 {} 0 {start_ticks} {vsize} 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
                t.comm, g.ppid, g.pgid, g.sid, g.threads.len()
            )))
        }
        ["status"] => Ok(file(format!(
            "Name:\t{}\nState:\tS (sleeping)\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t{}\nUid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nGroups:\t{}\nThreads:\t{}\nVmRSS:\t0 kB\nSigBlk:\t{:016x}\nCapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\nCapAmb:\t{:016x}\nNoNewPrivs:\t{}\n",
            t.comm,
            g.ppid,
            c.uid, c.euid, c.suid, c.fsuid,
            c.gid, c.egid, c.sgid, c.fsgid,
            c.groups.iter().map(|g| format!("{g} ")).collect::<String>(),
            g.threads.len(),
            t.sigmask,
            c.inheritable, c.permitted, c.effective, c.bounding, c.ambient,
            c.no_new_privs as u8,
        ))),
        ["fd"] => Ok(dir(t.files.borrow().fds.keys().map(|fd| (fd.to_string(), libc::DT_LNK)).collect())),
        ["fd", n] => {
            let fd: i32 = n.parse().map_err(|_| libc::ENOENT)?;
            let file = t.files.borrow().get(fd).ok_or(libc::ENOENT)?;
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
        ["task"] => Ok(dir(g.threads.iter().map(|t| (t.to_string(), libc::DT_DIR)).collect())),
        ["task", t2] => {
            let t2: i32 = t2.parse().map_err(|_| libc::ENOENT)?;
            if g.threads.contains(&t2) {
                Ok(dir(vec![("stat".into(), libc::DT_REG), ("comm".into(), libc::DT_REG)]))
            } else {
                Err(libc::ENOENT)
            }
        }
        ["task", _, "comm"] => Ok(file(format!("{}\n", t.comm))),
        _ => Err(libc::ENOENT),
    }
}

fn read_range(k: &Kernel, tid: i32, (s, e): (u64, u64)) -> Vec<u8> {
    if e <= s || e - s > 1 << 20 {
        return Vec::new();
    }
    k.read_mem(tid, s, (e - s) as usize).unwrap_or_default()
}

fn maps(mm: &crate::mm::Mm) -> String {
    let mut out = String::new();
    for (&s, v) in &mm.vmas {
        let p = |b: i32, c: char| if v.prot & b != 0 { c } else { '-' };
        out += &format!(
            "{s:08x}-{:08x} {}{}{}{} 00000000 00:00 0 {}\n",
            v.end,
            p(libc::PROT_READ, 'r'),
            p(libc::PROT_WRITE, 'w'),
            p(libc::PROT_EXEC, 'x'),
            if v.shared { 's' } else { 'p' },
            v.name
        );
    }
    out
}

fn mounts(k: &Kernel) -> String {
    let mut out = String::new();
    for m in &k.vfs.mounts {
        let at = crate::fs::join(&m.at);
        let opt = if m.readonly { "ro" } else { "rw" };
        let (dev, ty) = match m.fstype.as_str() {
            "rootfs" | "bind" => ("none", "9p"),
            t => (t, t),
        };
        out += &format!("{dev} {at} {ty} {opt} 0 0\n");
    }
    out
}

fn meminfo(k: &Kernel) -> String {
    let total_kb = 2u64 << 20; // 2 GiB as the sandbox's nominal size
    let used_kb = k.mf.allocated / 1024;
    let free_kb = total_kb.saturating_sub(used_kb);
    format!(
        "MemTotal:       {total_kb:8} kB\nMemFree:        {free_kb:8} kB\nMemAvailable:   {free_kb:8} kB\nBuffers:               0 kB\nCached:                0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n"
    )
}
