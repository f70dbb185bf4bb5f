//! Host-backed inet sockets end to end: each test makes its own network namespace joined to
//! the host by a veth pair (removed on drop, also when the test fails), runs a container in
//! that namespace, and talks to it from the host side of the pair.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::netns::Netns;
use tests::{text, Runtime};

/// A busybox bundle `id` running the static guest `guest` with `args` in network
/// namespace `ns`.
fn bundle_in(rt: &Runtime, ns: &Netns, id: &str, guest: &str, args: &[&str]) -> PathBuf {
    let bin = format!("/bin/{guest}");
    let mut all = vec![bin.as_str()];
    all.extend_from_slice(args);
    let bundle = rt.busybox_bundle(id, &all);
    std::fs::copy(common::guest(guest), bundle.join("rootfs").join(&bin[1..])).unwrap();
    let config = bundle.join("config.json");
    let c = std::fs::read_to_string(&config).unwrap();
    let c = c.replacen(
        r#""namespaces": ["#,
        &format!(
            r#""namespaces": [{{"type": "network", "path": "{}"}}, "#,
            ns.path()
        ),
        1,
    );
    std::fs::write(&config, c).unwrap();
    bundle
}

/// Connects to `addr`, retrying for a while (the server may not listen yet).
fn connect(addr: &str) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                return s;
            }
            Err(e) if Instant::now() > deadline => panic!("connect {addr}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Takes a connection from `l`, failing after `secs` seconds (a test never hangs).
fn accept_within(l: &TcpListener, secs: u64) -> (TcpStream, std::net::SocketAddr) {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match l.accept() {
            Ok((s, peer)) => {
                s.set_nonblocking(false).unwrap();
                return (s, peer);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Sends `line` and reads the server's answer line.
fn ask(s: &mut TcpStream, line: &str) -> String {
    s.write_all(line.as_bytes()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut answer = String::new();
    r.read_line(&mut answer).unwrap();
    answer
}

/// Starts container `id` in a new namespace (`tag`) running the echo server on port 8080,
/// past its loopback self-test; returns the namespace, the runtime (dropped first), the
/// bundle and the address the outside reaches the server at.
fn start_server(tag: u8, id: &str) -> (Netns, Runtime, PathBuf, String) {
    let ns = Netns::new(tag);
    let rt = Runtime::new();
    let bundle = bundle_in(&rt, &ns, id, "net_server", &["8080"]);
    rt.start_detached(id, &bundle);
    let out = rt.wait_for_output(id, "listening\n", 20);
    assert_eq!(out, "internal client got: echo:internal\nlistening\n");
    let addr = format!("{}:8080", ns.ns_ip);
    (ns, rt, bundle, addr)
}

#[test]
fn a_server_in_the_sandbox_serves_the_sandbox_and_the_outside() {
    let (_ns, rt, _, addr) = start_server(1, "srv");
    // Several connections from outside, one after the other and two at once.
    let mut a = connect(&addr);
    let mut b = connect(&addr);
    assert_eq!(ask(&mut a, "one\n"), "echo:one\n");
    assert_eq!(ask(&mut b, "two\n"), "echo:two\n");
    assert_eq!(ask(&mut a, "three\n"), "echo:three\n");
    drop(a);
    drop(b);
    // A larger exchange: 200 lines in one write, answered line by line.
    let mut c = connect(&addr);
    let mut all = String::new();
    for i in 0..200 {
        all.push_str(&format!("line {i}\n"));
    }
    c.write_all(all.as_bytes()).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = String::new();
    c.read_to_string(&mut back).unwrap();
    assert!(back.starts_with("echo:line 0\n"), "{back:.200}");
    assert_eq!(back.replace("echo:", ""), all, "answers come back in order");
    let o = rt.run(&["delete", "--force", "srv"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_client_in_the_sandbox_reaches_servers_outside() {
    let ns = Netns::new(2);
    let rt = Runtime::new();
    let tcp = TcpListener::bind(format!("{}:0", ns.host_ip)).unwrap();
    let udp = UdpSocket::bind(format!("{}:0", ns.host_ip)).unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let (tport, uport) = (
        tcp.local_addr().unwrap().port(),
        udp.local_addr().unwrap().port(),
    );
    // A port nothing listens on.
    let closed = TcpListener::bind(format!("{}:0", ns.host_ip)).unwrap();
    let cport = closed.local_addr().unwrap().port();
    drop(closed);
    let server = std::thread::spawn(move || {
        let (mut s, peer) = accept_within(&tcp, 60);
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut line = String::new();
        BufReader::new(s.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        s.write_all(format!("hi {line}").as_bytes()).unwrap();
        drop(s);
        let mut b = [0u8; 64];
        let (n, from) = udp.recv_from(&mut b).unwrap();
        udp.send_to(b"udp pong", from).unwrap();
        (
            line,
            peer.ip().to_string(),
            String::from_utf8_lossy(&b[..n]).to_string(),
        )
    });
    let bundle = bundle_in(
        &rt,
        &ns,
        "cli",
        "net_client",
        &[
            &ns.host_ip,
            &tport.to_string(),
            &uport.to_string(),
            &cport.to_string(),
        ],
    );
    let o = rt.run_to_files("cli", &["run", "--bundle", bundle.to_str().unwrap(), "cli"]);
    let out = rt.output_of("cli");
    assert!(o.status.success(), "run: {}\n{out}", o.stderr);
    let (line, peer, dgram) = server.join().unwrap();
    assert_eq!(line, "hello from the sandbox\n");
    assert_eq!(
        peer, ns.ns_ip,
        "the connection comes from the namespace's address"
    );
    assert_eq!(dgram, "udp ping");
    let h = &ns.host_ip;
    assert_eq!(
        out,
        format!(
            "connect: EINPROGRESS\npoll: 1\nSO_ERROR: 0\npeer: {h}:{tport}\n\
             early read: EAGAIN\nearly recv: EAGAIN\nbad buffer: Bad address\n\
             tcp got: hi hello from the sandbox\nudp poll: 1\nudp got: udp pong from {h}:{uport}\n\
             closed port: Connection refused\n"
        )
    );
}

#[test]
fn a_listening_server_answers_the_outside_after_restore_and_its_outside_connection_is_reset() {
    // Issue 9's (b): a server listening on the namespace's address is checkpointed and
    // restored under a new container id in the same namespace; the outside reaches it
    // again, and the connection it held open to the outside reads ECONNRESET.
    let (_ns, rt, bundle, addr) = start_server(3, "crs");
    let mut held = connect(&addr);
    assert_eq!(ask(&mut held, "hold\n"), "echo:hold\n");
    let out = rt.wait_for_output("crs", "holding\n", 20);
    assert!(out.ends_with("listening\nholding\n"), "{out}");

    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), "crs"]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    // The old sandbox is gone: its host sockets with it.
    let mut b = [0u8; 16];
    assert!(
        matches!(held.read(&mut b), Ok(0) | Err(_)),
        "the old connection ended"
    );

    let o = rt.restore_to_files("crs2", "crs2", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    let out = rt.wait_for_output("crs2", "read: ", 20);
    assert_eq!(out, "read: Connection reset by peer\n");
    let mut after = connect(&addr);
    assert_eq!(ask(&mut after, "after restore\n"), "echo:after restore\n");
    let mut again = connect(&addr);
    assert_eq!(ask(&mut again, "again\n"), "echo:again\n");
    assert!(rt.run(&["delete", "crs"]).status.success());
    let o = rt.run(&["delete", "--force", "crs2"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn interfaces_and_their_addresses_are_those_of_the_network_namespace() {
    // getifaddrs, if_nameindex, the SIOCGIF* ioctls on sockets of four families and a raw
    // NETLINK_ROUTE exchange, in a namespace with lo and a veth holding an address: the
    // same lines natively and in the sandbox (`runsc do`, which stays in the namespace).
    let ns = Netns::new(4);
    let bin = common::guest("ifaces");
    let in_ns = |argv: &[&str]| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns.name]).args(argv);
        common::run_limited(c, Duration::from_secs(120))
    };
    let native = in_ns(&[bin.to_str().unwrap()]);
    assert!(native.status.success(), "{}", text(&native));
    let want = String::from_utf8_lossy(&native.stdout).into_owned();
    assert!(want.contains(&format!("conf {}", ns.ns_if())), "{want}");
    let runsc = tests::runsc_bin();
    let o = in_ns(&[runsc.to_str().unwrap(), "do", "--", bin.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("the sandbox filter refused"), "{err}");
    common::expect(&o, 0, &want);
}
