//! Real Debian programs in the sandbox, on a Debian bookworm root filesystem built once by
//! scripts/debian-rootfs.sh (cached), mounted read-only, with Docker's default capability
//! set — what `docker run debian:bookworm` gives.

use std::path::PathBuf;
use std::sync::OnceLock;

use tests::Runtime;

/// The cached Debian root filesystem (built on first use).
fn rootfs() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/debian-rootfs.sh");
        let o = std::process::Command::new("bash")
            .arg(script)
            .output()
            .expect("run scripts/debian-rootfs.sh");
        assert!(
            o.status.success(),
            "debian-rootfs.sh: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
    })
    .clone()
}

const DOCKER_CAPS: &str = r#"["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
    "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]"#;

/// A bundle running `script` with bash as root on the Debian rootfs; returns its directory.
fn bundle(rt: &Runtime, name: &str, script: &str) -> PathBuf {
    let b = rt.dir.path().join(name);
    std::fs::create_dir_all(&b).unwrap();
    let config = format!(
        r#"{{
  "ociVersion": "1.0.2",
  "root": {{"path": {root:?}, "readonly": true}},
  "process": {{
    "user": {{"uid": 0, "gid": 0}},
    "args": ["/bin/bash", "-c", {script:?}],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
    "cwd": "/",
    "capabilities": {{"bounding": {caps}, "effective": {caps}, "permitted": {caps}}}
  }},
  "hostname": "debian",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}},
    {{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}},
    {{"destination": "/run", "type": "tmpfs", "source": "tmpfs"}}
  ],
  "linux": {{"namespaces": [{{"type": "mount"}}, {{"type": "pid"}}]}}
}}"#,
        root = rootfs().display().to_string(),
        caps = DOCKER_CAPS,
    );
    std::fs::write(b.join("config.json"), config).unwrap();
    b
}

/// Runs `script` in a Debian container; returns (exit status, stdout, stderr).
fn run(script: &str) -> (i32, String, String) {
    let rt = Runtime::new();
    let b = bundle(&rt, "deb", script);
    let o = rt.run_to_files("deb", &["run", "--bundle", b.to_str().unwrap(), "deb"]);
    let err = std::fs::read_to_string(rt.dir.path().join("deb.err")).unwrap_or_default();
    (o.status.code().unwrap_or(-1), rt.output_of("deb"), err)
}

#[test]
fn su_nobody_cannot_read_etc_shadow() {
    let shadow = std::fs::read_to_string(rootfs().join("etc/shadow")).unwrap();
    // As root the file reads (Docker's capabilities include DAC_OVERRIDE)...
    let (code, out, err) = run("cat /etc/shadow");
    assert_eq!((code, out.as_str()), (0, shadow.as_str()), "{err}");
    // ...as nobody, through su (set-user-ID root, PAM, setgid/initgroups/setuid), it does not.
    let (code, out, err) =
        run("su nobody -s /bin/sh -c 'id -u; id -g; cat /etc/shadow; echo cat=$?'");
    assert_eq!((code, out.as_str()), (0, "65534\n65534\ncat=1\n"), "{err}");
    assert!(err.contains("cat: /etc/shadow: Permission denied"), "{err}");
}

/// Runs `script` with the host's bash, with `$T` a fresh scratch directory (in the
/// container `$T` is /tmp): the output Linux gives, to compare with the sandbox's.
fn on_host(script: &str) -> (i32, String, String) {
    let t = tests::TempDir::new("debian-host");
    let o = std::process::Command::new("bash")
        .args(["-c", script])
        .env("T", t.path())
        .current_dir(t.path())
        .output()
        .expect("host bash");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `script` in the sandbox (with `T=/tmp`) and on the host; asserts the same status,
/// stdout and stderr.
fn same_as_host(script: &str) -> String {
    let (code, out, err) = run(&format!("export T=/tmp; cd /tmp; {script}"));
    let (hcode, hout, herr) = on_host(script);
    assert_eq!((code, &out, &err), (hcode, &hout, &herr), "sandbox vs host");
    out
}

#[test]
fn bash_process_substitution_and_dev_stderr_logging() {
    let out = same_as_host(
        r#"cat <(echo one)
uniq -c <(printf 'a\na\nb\n')
mapfile -t lines < <(seq 3); echo "${lines[*]}"
echo to-stderr > /dev/stderr
echo logged | tee /dev/stderr
echo shout | tee >(tr a-z A-Z > "$T/up") > /dev/null
while [ ! -s "$T/up" ]; do sleep 0.05; done; cat "$T/up"
echo piped | cat /dev/stdin
echo fd | cat /dev/fd/0
readlink /proc/self/fd/1 < /dev/null | sed 's/[0-9]//g'"#,
    );
    assert!(
        out.contains("      2 a\n") && out.contains("SHOUT\n"),
        "{out}"
    );
}

#[test]
fn tar_czf_and_xzf_of_a_tree_as_root_keep_modes_and_links() {
    same_as_host(
        r#"mkdir -p "$T/src/a/b" && cd "$T" && echo data > src/a/b/f && chmod 750 src/a &&
chmod 4755 src/a/b/f && ln -s b src/a/l && mkfifo src/p 2>/dev/null; rm -f src/p
tar czf t.tgz src && mkdir out && tar xzf t.tgz -C out && cd out &&
find . | sort && stat -c '%A %N' src/a src/a/b/f src/a/l && stat -c %s src/a/b/f &&
cat src/a/l/f"#,
    );
}

#[test]
fn df_lists_the_mounts_with_their_sizes() {
    let (code, out, err) = run("df -h / /tmp && df -T /tmp | tail -1 | awk '{print $2}'");
    assert_eq!(code, 0, "{err}");
    let (_, host_header, _) = on_host("df -h / | head -1");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), host_header.lines().next(), "{out}");
    assert!(
        lines[1].ends_with(" /") && lines[2].ends_with(" /tmp"),
        "{out}"
    );
    assert_eq!(lines[3], "tmpfs", "{out}");
}

#[test]
fn mkfifo_with_a_reader_and_a_writer() {
    same_as_host(
        r#"mkfifo -m 640 "$T/f" && stat -c '%A %F' "$T/f"
(seq 3 > "$T/f") & cat "$T/f"; wait
(cat "$T/f" > "$T/out") & echo back > "$T/f"; wait; cat "$T/out""#,
    );
}
