//! A guest's unix socket connection to a socket file of a host bind mount reaches the host
//! socket there, as with runc (sentry/src/net/unix/host.rs): the test listens on the
//! host, in a directory bind-mounted into the container at /mnt.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tests::{text, Runtime};

/// A host process stopped (by its pid) when the test ends, also when it fails.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A busybox bundle `id` running `unix_host ARGS...`, with host directory `shared`
/// bind-mounted at /mnt.
fn bundle(rt: &Runtime, id: &str, shared: &Path, args: &[&str]) -> PathBuf {
    let mut all = vec!["/bin/unix_host"];
    all.extend_from_slice(args);
    let bundle = rt.busybox_bundle(id, &all);
    std::fs::copy(
        common::guest("unix_host"),
        bundle.join("rootfs/bin/unix_host"),
    )
    .unwrap();
    std::fs::create_dir_all(bundle.join("rootfs/mnt")).unwrap();
    let cfg = std::fs::read_to_string(bundle.join("config.json")).unwrap();
    let extra = format!(
        r#"{{"destination": "/mnt", "type": "bind", "source": "{}", "options": ["rbind", "rw"]}},
    {{"destination": "/proc""#,
        shared.display()
    );
    let cfg = cfg.replacen(r#"{"destination": "/proc""#, &extra, 1);
    std::fs::write(bundle.join("config.json"), cfg).unwrap();
    bundle
}

/// Takes no connection: `l` (non-blocking) has none pending.
fn none_pending(l: &UnixListener) -> bool {
    l.set_nonblocking(true).unwrap();
    matches!(l.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[test]
fn a_guest_connects_to_a_host_socket_of_a_bind_mount_and_no_further() {
    let rt = Runtime::new();
    let shared = rt.dir.path().join("shared");
    let outside = rt.dir.path().join("outside");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(shared.join("plain"), "not a socket\n").unwrap();
    // A socket file nobody listens on any more.
    drop(UnixListener::bind(shared.join("stale.sock")).unwrap());
    // A socket outside the mount, and links to it from inside: absolute, and climbing out.
    let out_sock = outside.join("o.sock");
    let out_l = UnixListener::bind(&out_sock).unwrap();
    std::os::unix::fs::symlink(&out_sock, shared.join("out-abs")).unwrap();
    std::os::unix::fs::symlink("../outside/o.sock", shared.join("out-rel")).unwrap();

    let mut server = Reaped(
        Command::new(common::guest("unix_host"))
            .arg("serve")
            .arg(&shared)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(server.0.stdout.take().unwrap());
    let mut ready = String::new();
    lines.read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");

    let b = bundle(&rt, "uh", &shared, &["client", "/mnt"]);
    let o = rt.run_to_files("uh", &["run", "--bundle", b.to_str().unwrap(), "uh"]);
    let out = rt.output_of("uh");
    assert!(o.status.success(), "run: {}\n{out}", o.stderr);
    assert_eq!(
        out,
        "stream connect: ok\npeer: /mnt/s.sock\npeer pid: 0\nrights: Operation not supported\n\
         stream got: pong: ping\nseqpacket connect: ok\nseqpacket got: re:one\n\
         seqpacket got: re:two\nstream to seqpacket: Protocol wrong type for socket\n\
         regular file: Connection refused\nnobody listening: Connection refused\n\
         absolute link: No such file or directory\nrelative link: No such file or directory\n\
         dgram: Connection refused\n"
    );
    // The host side saw the same exchange, and the end of each connection; it stops
    // listening once its stdin ends.
    drop(server.0.stdin.take());
    let mut seen = String::new();
    lines.read_to_string(&mut seen).unwrap();
    assert_eq!(
        seen,
        "stream got: ping\nseqpacket got: one\nseqpacket got: two\nseqpacket then: 0\n"
    );
    // Nothing reached the socket outside the mount.
    assert!(none_pending(&out_l), "a link led out of the mount");
}

#[test]
fn a_host_socket_connection_is_reset_at_restore() {
    let rt = Runtime::new();
    let shared = rt.dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let l = UnixListener::bind(shared.join("s.sock")).unwrap();
    l.set_nonblocking(true).unwrap();
    let b = bundle(&rt, "uhc", &shared, &["hold", "/mnt"]);
    rt.start_detached("uhc", &b);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut s = loop {
        match l.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("accept: {e}\n{}", rt.output_of("uhc")),
        }
    };
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut line = [0u8; 5];
    s.read_exact(&mut line).unwrap();
    assert_eq!(&line, b"hold\n");
    s.write_all(b"ack\n").unwrap();
    let out = rt.wait_for_output("uhc", "holding", 20);
    assert_eq!(out, "holding after 4 bytes\n");

    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), "uhc"]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    // The old sandbox is gone, its host socket with it.
    let mut b1 = [0u8; 8];
    assert!(
        matches!(s.read(&mut b1), Ok(0) | Err(_)),
        "the connection ended"
    );

    let o = rt.restore_to_files("uhc2", "uhc2", &b, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    let out = rt.wait_for_output("uhc2", "peer: ", 20);
    assert_eq!(
        out,
        "read: Connection reset by peer\nwrite: Broken pipe\nread again: end of file\n\
         peer: /mnt/s.sock\n"
    );
    // The restored guest did not connect again.
    assert!(none_pending(&l));
    assert!(rt.run(&["delete", "uhc"]).status.success());
    let o = rt.run(&["delete", "--force", "uhc2"]);
    assert!(o.status.success(), "{}", text(&o));
}
