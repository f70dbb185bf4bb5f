//! Credentials inside the sandbox mean what they mean on Linux: a container process
//! running as another user, or as root without capabilities, is refused what Linux would
//! refuse it, files it creates are its own, and set-user-ID executables work unless
//! noNewPrivileges says otherwise. Checked inside (the probe's answers) and from the host
//! (owners and modes of the files it touched).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::guest;
use tests::Runtime;

/// Docker's default capability set.
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn file(p: &Path, text: &str, mode: u32, uid: u32, gid: u32) {
    std::fs::write(p, text).unwrap();
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn dir(p: &Path, mode: u32, uid: u32, gid: u32) {
    std::fs::create_dir_all(p).unwrap();
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A bundle whose rootfs holds the probe (also as a set-user-ID root copy), an /etc with
/// shadow (0640 root:42) and passwd, a private home, a root-only and a user-only file, and
/// a host directory bind-mounted at /shared (mode 0777) to see owners from the host.
struct Bundle {
    dir: PathBuf,
    shared: PathBuf,
}

fn bundle(rt: &Runtime, name: &str, process: &str) -> Bundle {
    let b = rt.dir.path().join(name);
    let root = b.join("rootfs");
    dir(&root, 0o755, 0, 0);
    for d in ["proc", "dev", "tmp", "shared"] {
        dir(&root.join(d), 0o755, 0, 0);
    }
    std::fs::copy(guest("creds"), root.join("probe")).unwrap();
    std::fs::set_permissions(root.join("probe"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(guest("creds"), root.join("suid-probe")).unwrap();
    std::fs::set_permissions(
        root.join("suid-probe"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    dir(&root.join("etc"), 0o755, 0, 0);
    file(&root.join("etc/shadow"), "root:*:1::::::\n", 0o640, 0, 42);
    file(
        &root.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\n",
        0o644,
        0,
        0,
    );
    dir(&root.join("home/u"), 0o700, 1000, 1000);
    file(&root.join("home/u/f"), "mine\n", 0o644, 1000, 1000);
    file(&root.join("user-secret"), "u\n", 0o600, 1000, 1000);
    let shared = b.join("shared");
    dir(&shared, 0o777, 0, 0);
    let config = format!(
        r#"{{
  "ociVersion": "1.0.2",
  "root": {{"path": "rootfs", "readonly": false}},
  "process": {process},
  "hostname": "creds",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}},
    {{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}},
    {{"destination": "/shared", "type": "bind", "source": "{}", "options": ["rbind"]}}
  ],
  "linux": {{"namespaces": [{{"type": "mount"}}]}}
}}"#,
        shared.display()
    );
    std::fs::write(b.join("config.json"), config).unwrap();
    Bundle { dir: b, shared }
}

fn process(uid: u32, gid: u32, caps: Option<&[&str]>, nnp: bool, ops: &[&str]) -> String {
    let list = |v: &[&str]| {
        let q: Vec<String> = v.iter().map(|c| format!("{c:?}")).collect();
        format!("[{}]", q.join(", "))
    };
    let caps = match caps {
        Some(c) => format!(
            r#""capabilities": {{"bounding": {l}, "effective": {l}, "permitted": {l}}},"#,
            l = list(c)
        ),
        None => String::new(),
    };
    let mut args = vec!["/probe"];
    args.extend_from_slice(ops);
    format!(
        r#"{{"user": {{"uid": {uid}, "gid": {gid}}}, "args": {}, "env": ["PATH=/"], "cwd": "/", {caps} "noNewPrivileges": {nnp}}}"#,
        list(&args)
    )
}

/// Runs the bundle in the foreground; returns what the probe printed.
fn run(rt: &Runtime, b: &Bundle, id: &str) -> String {
    let o = rt.run_to_files(id, &["run", "--bundle", b.dir.to_str().unwrap(), id]);
    assert!(o.status.success(), "run {id}: {}", o.stderr);
    rt.output_of(id)
}

#[test]
fn an_unprivileged_user_is_refused_what_linux_refuses_and_owns_what_it_creates() {
    let rt = Runtime::new();
    let ops = [
        "ids",
        "read:/etc/shadow",
        "read:/etc/passwd",
        "write:/etc/passwd",
        "create:/etc/new",
        "mkdir:/etc/d",
        "unlink:/etc/passwd",
        "rename:/etc/passwd:/etc/p2",
        "chmod:/etc/passwd:777",
        "chown:/etc/passwd:65534",
        "utime:/etc/passwd",
        "read:/home/u/f",
        "hostname:evil",
        "setuid:0",
        "create:/shared/mine",
        "mkdir:/shared/dir",
        "chmod:/shared/mine:600",
        "create:/tmp/t",
    ];
    let b = bundle(
        &rt,
        "nobody",
        &process(65534, 65534, Some(DOCKER_CAPS), false, &ops),
    );
    let out = run(&rt, &b, "nobody");
    assert_eq!(
        out,
        "ids = uid 65534 65534 65534 gid 65534 65534 65534 capeff 0000000000000000\n\
         read /etc/shadow = EACCES\n\
         read /etc/passwd = ok\n\
         write /etc/passwd = EACCES\n\
         create /etc/new = EACCES\n\
         mkdir /etc/d = EACCES\n\
         unlink /etc/passwd = EACCES\n\
         rename /etc/passwd = EACCES\n\
         chmod /etc/passwd = EPERM\n\
         chown /etc/passwd = EPERM\n\
         utime /etc/passwd = EPERM\n\
         read /home/u/f = EACCES\n\
         hostname evil = EPERM\n\
         setuid 0 = EPERM\n\
         create /shared/mine = ok owner 65534:65534 mode 644\n\
         mkdir /shared/dir = ok owner 65534:65534 mode 755\n\
         chmod /shared/mine = ok\n\
         create /tmp/t = ok owner 65534:65534 mode 644\n"
    );
    // From the host: the rootfs is as it was, and the new files are the user's.
    let etc = b.dir.join("rootfs/etc");
    let passwd = std::fs::metadata(etc.join("passwd")).unwrap();
    assert_eq!((passwd.mode() & 0o7777, passwd.uid()), (0o644, 0));
    assert!(!etc.join("new").exists() && !etc.join("d").exists() && !etc.join("p2").exists());
    let mine = std::fs::metadata(b.shared.join("mine")).unwrap();
    assert_eq!(
        (mine.uid(), mine.gid(), mine.mode() & 0o7777),
        (65534, 65534, 0o600)
    );
    let d = std::fs::metadata(b.shared.join("dir")).unwrap();
    assert_eq!((d.uid(), d.gid()), (65534, 65534));
}

#[test]
fn root_without_capabilities_is_only_uid_0() {
    let rt = Runtime::new();
    let ops = [
        "ids",
        "read:/user-secret",
        "read:/etc/shadow",
        "create:/tmp/f",
        "chown:/tmp/f:5",
        "hostname:evil",
        "setuid:1000",
        "read:/home/u/f",
    ];
    let b = bundle(&rt, "nocaps", &process(0, 0, Some(&[]), false, &ops));
    assert_eq!(
        run(&rt, &b, "nocaps"),
        "ids = uid 0 0 0 gid 0 0 0 capeff 0000000000000000\n\
         read /user-secret = EACCES\n\
         read /etc/shadow = ok\n\
         create /tmp/f = ok owner 0:0 mode 644\n\
         chown /tmp/f = EPERM\n\
         hostname evil = EPERM\n\
         setuid 1000 = EPERM\n\
         read /home/u/f = EACCES\n"
    );
}

#[test]
fn root_that_becomes_nobody_loses_its_capabilities() {
    // What `su nobody -c 'cat /etc/shadow'` does: setgid, setuid, then read.
    let rt = Runtime::new();
    let ops = [
        "setgid:65534",
        "setuid:65534",
        "ids",
        "read:/etc/shadow",
        "setuid:0",
    ];
    let b = bundle(&rt, "su", &process(0, 0, Some(DOCKER_CAPS), false, &ops));
    assert_eq!(
        run(&rt, &b, "su"),
        "setgid 65534 = ok\n\
         setuid 65534 = ok\n\
         ids = uid 65534 65534 65534 gid 65534 65534 65534 capeff 0000000000000000\n\
         read /etc/shadow = EACCES\n\
         setuid 0 = EPERM\n"
    );
}

#[test]
fn set_user_id_executables_run_as_their_owner_unless_no_new_privileges() {
    let rt = Runtime::new();
    let b = bundle(
        &rt,
        "suid",
        &process(1000, 1000, Some(DOCKER_CAPS), false, &["exec:/suid-probe"]),
    );
    let out = run(&rt, &b, "suid");
    assert!(
        out.starts_with("ids = uid 1000 0 0 gid 1000 1000 1000 capeff "),
        "{out}"
    );
    assert!(!out.ends_with("capeff 0000000000000000\n"), "{out}");
    let b = bundle(
        &rt,
        "nnp",
        &process(1000, 1000, Some(DOCKER_CAPS), true, &["exec:/suid-probe"]),
    );
    assert_eq!(
        run(&rt, &b, "nnp"),
        "ids = uid 1000 1000 1000 gid 1000 1000 1000 capeff 0000000000000000\n"
    );
}
