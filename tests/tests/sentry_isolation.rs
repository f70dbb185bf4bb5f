//! Isolation: what a guest tries is checked inside the sandbox and on the host.

mod common;
use common::{expect, guest, run_do, TempDir};
use std::path::Path;

/// A root directory holding a copy of the isolation probe.
fn root_with_probe(tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    std::fs::copy(guest("isolation"), d.0.join("probe")).unwrap();
    d
}

#[test]
fn raw_mkdir_lands_inside_the_root() {
    let root = root_with_probe("iso-mkdir");
    let name = format!("/runsc-escape-test-{}", std::process::id());
    let o = run_do(Some(&root.0), &["/probe", "mkdir", &name]);
    expect(&o, 0, "mkdir=0\n");
    assert!(root.0.join(&name[1..]).is_dir(), "created inside the root");
    assert!(!Path::new(&name).exists(), "not created on the host");
}

#[test]
fn a_guest_mount_stays_inside_the_sandbox_and_host_file_systems_and_modules_are_refused() {
    // The guest's root is the host's own here: its tmpfs is the sentry's, and the host's
    // mount table does not change.
    let dir = TempDir::new("iso-mount");
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let o = run_do(
        None,
        &[
            guest("isolation").to_str().unwrap(),
            "mount",
            dir.0.to_str().unwrap(),
        ],
    );
    expect(
        &o,
        0,
        "tmpfs=0 0 ext4=-1 ENODEV bind=-1 ENODEV init_module=-1 EPERM\n",
    );
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mine = |m: &str| {
        m.lines()
            .filter(|l| l.contains(dir.0.to_str().unwrap()))
            .count()
    };
    assert_eq!(mine(&before), 0);
    assert_eq!(mine(&after), 0, "the guest's mount reached the host");
}

#[test]
fn symlink_escape_stays_inside_the_root() {
    let root = root_with_probe("iso-link");
    // A link that climbs far above the root: it must resolve to the root's own /etc.
    std::os::unix::fs::symlink("/../../../../../../etc", root.0.join("esc")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/hostname", root.0.join("esc2")).unwrap();
    assert!(Path::new("/etc/hostname").exists() || Path::new("/etc/passwd").exists());
    let o = run_do(Some(&root.0), &["/probe", "escape", "/esc/passwd"]);
    expect(&o, 0, "escape open=-1 ENOENT\n");
    let o = run_do(Some(&root.0), &["/probe", "escape", "/esc2"]);
    expect(&o, 0, "escape open=-1 ENOENT\n");
    // Inside the root, the same link reaches the root's own file.
    std::fs::create_dir(root.0.join("etc")).unwrap();
    std::fs::write(root.0.join("etc/passwd"), "inside\n").unwrap();
    let o = run_do(Some(&root.0), &["/probe", "escape", "/esc/passwd"]);
    expect(&o, 0, "escape open=3 opened\n");
}

#[test]
fn vsyscall_page_gets_sigsegv_not_host_time() {
    let o = run_do(None, &[guest("isolation").to_str().unwrap(), "vsyscall"]);
    expect(&o, 0, "vsyscall SIGSEGV\n");
}

#[test]
fn int80_is_refused() {
    let o = run_do(None, &[guest("isolation").to_str().unwrap(), "int80"]);
    expect(&o, 0, "int80=-38\n");
}

#[test]
fn guest_is_pid_1_and_host_sees_only_stubs() {
    let probe = guest("isolation");
    let mut cmd = std::process::Command::new(tests::runsc_bin());
    cmd.args(["do", "--"]).arg(&probe).args(["pid", "3"]);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "pid=1\n");
    // Every host process below the sandbox runs the runsc binary (the sentry's stubs),
    // none runs the guest program.
    let runsc = std::fs::canonicalize(tests::runsc_bin()).unwrap();
    let mut seen = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let mut anc = pid;
        let mut below = false;
        let mut s = stat;
        for _ in 0..16 {
            let ppid: u32 = s
                .rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            if ppid == child.id() || anc == child.id() {
                below = true;
                break;
            }
            if ppid <= 1 {
                break;
            }
            anc = ppid;
            match std::fs::read_to_string(format!("/proc/{ppid}/stat")) {
                Ok(x) => s = x,
                Err(_) => break,
            }
        }
        if below {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            assert_ne!(exe, probe, "the guest program runs as host process {pid}");
            if exe == runsc {
                seen += 1;
            }
        }
    }
    assert!(seen >= 2, "expected the sentry and its stubs, saw {seen}");
    let st = child.wait().unwrap();
    assert!(st.success());
}

/// Host processes whose parent is `pid` (the stubs of a `runsc do` sandbox are its
/// children).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// The first bytes at the stub trampoline of process `pid`, read from the host.
fn trampoline_bytes(pid: u32) -> Option<[u8; 4]> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut b = [0u8; 4];
    f.read_exact_at(&mut b, 0x7e00_0000_0000).ok()?;
    Some(b)
}

#[test]
fn mm_calls_never_reach_the_trampoline_page_zero_or_above_the_guest_range() {
    let root = TempDir::new("iso-mm");
    let probe = guest("hostile");
    let marker = root.0.join("pwned");
    let mut cmd = std::process::Command::new(tests::runsc_bin());
    cmd.args(["do", "--"])
        .arg(&probe)
        .args(["mm", "3"])
        .arg(&marker);
    cmd.stdout(std::process::Stdio::piped());
    cmd.stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = String::new();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut reader, &mut line).unwrap() == 0 {
            break;
        }
        out.push_str(&line);
        if line == "ready\n" {
            break;
        }
    }
    // While the guest sleeps: every stub still has its trampoline, untouched.
    let stubs: Vec<u32> = children_of(child.id())
        .into_iter()
        .flat_map(|s| {
            let mut v = vec![s];
            v.extend(children_of(s));
            v
        })
        .collect();
    let mut seen = 0;
    for s in &stubs {
        if let Some(b) = trampoline_bytes(*s) {
            assert_eq!(b, [0x0f, 0x05, 0xcc, 0xcc], "trampoline of stub {s}");
            seen += 1;
        }
    }
    assert!(seen >= 1, "no stub trampoline found among {stubs:?}");
    std::io::Read::read_to_string(&mut reader, &mut out).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{out}");
    assert_eq!(
        out,
        "mremap_onto_trampoline=EINVAL\n\
         mremap_onto_page0=EPERM\n\
         mremap_below_bottom=EPERM\n\
         mremap_above_top=EINVAL\n\
         mremap_to_kernel=EINVAL\n\
         mremap_overlapping=EINVAL\n\
         mremap_grow_into_trampoline=ENOMEM\n\
         mmap_fixed_trampoline=ENOMEM\n\
         mmap_fixed_page0=EPERM\n\
         mmap_fixed_above_top=ENOMEM\n\
         mmap_noreplace_trampoline=ENOMEM\n\
         munmap_trampoline=EINVAL\n\
         munmap_past_top=EINVAL\n\
         mprotect_trampoline=ENOMEM\n\
         madvise_trampoline=EINVAL\n\
         mmap_huge_len=ENOMEM\n\
         munmap_huge_len=EINVAL\n\
         ready\n\
         alive 1\n"
    );
    assert!(
        !marker.exists(),
        "the guest's code ran in place of the trampoline"
    );
}

#[test]
fn a_full_fd_table_is_emfile_not_a_crash() {
    let o = run_do(None, &[guest("hostile").to_str().unwrap(), "pipes"]);
    expect(
        &o,
        0,
        "pipes=30 EMFILE\none_left=EMFILE\nopen_after=63\nalive 1\n",
    );
}

#[test]
fn a_guest_in_a_network_namespace_of_its_own_reaches_nothing_outside_it() {
    // A listener on an address of the host (the host's end of a veth pair): the guest
    // reaches it from the sandbox's first network namespace, then unshares a network
    // namespace, brings its lo up and tries again by TCP and UDP, and binds the address:
    // all refused as Linux refuses them in a namespace with only lo, and the listener
    // sees the first connection alone; no datagram arrives.
    let ns = common::netns::Netns::new(41);
    let l = std::net::TcpListener::bind((ns.host_ip.as_str(), 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let u = std::net::UdpSocket::bind((ns.host_ip.as_str(), port)).unwrap();
    let o = run_do(
        None,
        &[
            guest("isolation").to_str().unwrap(),
            "netns",
            &ns.host_ip,
            &port.to_string(),
        ],
    );
    expect(
        &o,
        0,
        "first=ok unshare=ok lo_up=ok udp=ENETUNREACH tcp=ENETUNREACH bind=EADDRNOTAVAIL\n",
    );
    l.set_nonblocking(true).unwrap();
    let mut accepted = 0;
    while l.accept().is_ok() {
        accepted += 1;
    }
    assert_eq!(accepted, 1, "only the first namespace's connection arrives");
    u.set_nonblocking(true).unwrap();
    let mut b = [0u8; 16];
    assert!(u.recv_from(&mut b).is_err(), "no datagram arrives");
}
