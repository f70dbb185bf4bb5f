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
