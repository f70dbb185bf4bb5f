//! Mounts of config.json as a container sees them: bind-mounted files (Docker gives
//! /etc/hosts, /etc/resolv.conf, /etc/hostname this way), read-only binds, tmpfs.

use tests::Runtime;

#[test]
fn bind_mounted_files_and_read_only_binds() {
    let rt = Runtime::new();
    let host = rt.dir.path().join("host");
    std::fs::create_dir_all(host.join("ro")).unwrap();
    std::fs::write(host.join("hosts"), "127.0.0.1 from-host\n").unwrap();
    std::fs::write(host.join("ro/data"), "read-only data\n").unwrap();
    let script = "cat /etc/hosts; echo appended >> /etc/hosts; cat /mnt/ro/data; \
                  echo x > /mnt/ro/new 2>/dev/null || echo ro-refused; \
                  echo t > /tmp/t && cat /tmp/t";
    let bundle = rt.busybox_bundle("b", &["sh", "-c", script]);
    std::fs::write(bundle.join("rootfs/etc/hosts"), "").unwrap();
    std::fs::create_dir_all(bundle.join("rootfs/mnt/ro")).unwrap();
    // Add the two bind mounts to the generated config.
    let cfg = std::fs::read_to_string(bundle.join("config.json")).unwrap();
    let extra = format!(
        r#"{{"destination": "/etc/hosts", "type": "bind", "source": "{}", "options": ["rbind", "rw"]}},
    {{"destination": "/mnt/ro", "type": "bind", "source": "{}", "options": ["rbind", "ro"]}},
    {{"destination": "/proc""#,
        host.join("hosts").display(),
        host.join("ro").display()
    );
    let cfg = cfg.replacen(r#"{"destination": "/proc""#, &extra, 1);
    std::fs::write(bundle.join("config.json"), cfg).unwrap();
    let o = rt.run(&["run", "--bundle", bundle.to_str().unwrap(), "mounts"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "127.0.0.1 from-host\nread-only data\nro-refused\nt\n",
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0));
    // The write went through to the host file; the read-only bind took none.
    assert_eq!(
        std::fs::read_to_string(host.join("hosts")).unwrap(),
        "127.0.0.1 from-host\nappended\n"
    );
    assert!(!host.join("ro/new").exists());
}
