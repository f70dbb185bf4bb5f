//! The sandbox's sysfs: the few nodes programs read to learn the machine (the CPU lists
//! glibc's `get_nprocs` and `nproc` read), as directories and generated files. Nothing in
//! it reaches the host's /sys.

use super::{DirEnt, SynthNode};
use crate::mm::Errno;

/// Text of a CPU list ("0-3", "0,2"), as sysfs and /proc show one, from a bit mask.
pub(crate) fn cpu_list(mask: u64) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < 64 {
        if mask & (1 << i) == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < 64 && mask & (1 << (i + 1)) != 0 {
            i += 1;
        }
        out.push(if start == i {
            start.to_string()
        } else {
            format!("{start}-{i}")
        });
        i += 1;
    }
    out.join(",")
}

/// Looks up `rel` (components below the sysfs mount); `cpus` is the CPU mask the
/// sandbox offers.
pub(crate) fn lookup(rel: &[String], cpus: u64) -> Result<SynthNode, Errno> {
    let dirs = |names: &[&str]| {
        SynthNode::Dir(
            names
                .iter()
                .map(|n| -> DirEnt { (n.to_string(), libc::DT_DIR) })
                .collect(),
        )
    };
    let list = || SynthNode::File(format!("{}\n", cpu_list(cpus)).into_bytes());
    let cpu_index = |n: &str| -> Option<u32> {
        let i: u32 = n.strip_prefix("cpu")?.parse().ok()?;
        (i < 64 && cpus & (1 << i) != 0 && n == format!("cpu{i}")).then_some(i)
    };
    let comps: Vec<&str> = rel.iter().map(String::as_str).collect();
    match comps.as_slice() {
        [] => Ok(dirs(&["block", "bus", "class", "devices", "fs", "kernel"])),
        ["block"] | ["bus"] | ["class"] | ["kernel"] => Ok(dirs(&[])),
        ["fs"] => Ok(dirs(&["cgroup"])),
        ["fs", "cgroup"] => Ok(dirs(&[])),
        ["devices"] => Ok(dirs(&["system"])),
        ["devices", "system"] => Ok(dirs(&["cpu"])),
        ["devices", "system", "cpu"] => {
            let mut names: Vec<DirEnt> = (0..64)
                .filter(|i| cpus & (1 << i) != 0)
                .map(|i| (format!("cpu{i}"), libc::DT_DIR))
                .collect();
            for f in ["online", "possible", "present"] {
                names.push((f.to_string(), libc::DT_REG));
            }
            Ok(SynthNode::Dir(names))
        }
        ["devices", "system", "cpu", "online" | "possible" | "present"] => Ok(list()),
        ["devices", "system", "cpu", n] if cpu_index(n).is_some() => Ok(dirs(&[])),
        _ => Err(libc::ENOENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_ranges_and_singles() {
        assert_eq!(cpu_list(0b1), "0");
        assert_eq!(cpu_list(0b11), "0-1");
        assert_eq!(cpu_list(0b1011), "0-1,3");
        assert_eq!(cpu_list(u64::MAX), "0-63");
        assert_eq!(cpu_list(1 << 63), "63");
    }

    #[test]
    fn the_cpu_files_list_the_online_cpus_and_nothing_else_is_there() {
        let rel = |p: &str| p.split('/').map(String::from).collect::<Vec<_>>();
        match lookup(&rel("devices/system/cpu/online"), 0b11) {
            Ok(SynthNode::File(b)) => assert_eq!(b, b"0-1\n"),
            _ => panic!("online is a file"),
        }
        assert!(matches!(
            lookup(&rel("devices/system/cpu/cpu1"), 0b11),
            Ok(SynthNode::Dir(_))
        ));
        for missing in [
            "devices/system/cpu/cpu2",
            "devices/system/cpu/cpu01",
            "devices/x",
            "power",
        ] {
            assert!(
                matches!(lookup(&rel(missing), 0b11), Err(libc::ENOENT)),
                "{missing}"
            );
        }
    }
}
