//! Real Debian programs in the sandbox, on a Debian bookworm root filesystem built once by
//! scripts/debian-rootfs.sh (cached), mounted read-only, with Docker's default capability
//! set — what `docker run debian:bookworm` gives.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::netns::Netns;
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

/// A network namespace to run in, and the /etc/hosts file to mount there (as Docker
/// writes one).
struct Net<'a> {
    ns: &'a Netns,
    hosts: &'a Path,
}

/// A bundle running `script` with bash as root on the Debian rootfs, in `net` if given;
/// returns its directory.
fn bundle(rt: &Runtime, name: &str, script: &str, net: Option<&Net>) -> PathBuf {
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
    {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "nodev"]}},
    {{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}},
    {{"destination": "/run", "type": "tmpfs", "source": "tmpfs"}}{hosts}
  ],
  "linux": {{"namespaces": [{{"type": "mount"}}, {{"type": "pid"}}{netns}]}}
}}"#,
        root = rootfs().display().to_string(),
        caps = DOCKER_CAPS,
        hosts = net.map_or(String::new(), |n| format!(
            r#", {{"destination": "/etc/hosts", "type": "bind", "source": {:?}, "options": ["rbind", "ro"]}}"#,
            n.hosts.display().to_string()
        )),
        netns = net.map_or(String::new(), |n| format!(
            r#", {{"type": "network", "path": {:?}}}"#,
            n.ns.path()
        )),
    );
    std::fs::write(b.join("config.json"), config).unwrap();
    b
}

/// (exit status, stdout, stderr) of a finished command.
fn outcome(o: &std::process::Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `script` in a Debian container; returns (exit status, stdout, stderr).
fn run(script: &str) -> (i32, String, String) {
    run_in(script, None)
}

/// Runs `script` in a Debian container in `net` if given.
fn run_in(script: &str, net: Option<&Net>) -> (i32, String, String) {
    let rt = Runtime::new();
    let b = bundle(&rt, "deb", script, net);
    // A sandbox that hangs fails the test after two minutes (and is killed with `rt`).
    let o = rt.run_with_timeout(&["run", "--bundle", b.to_str().unwrap(), "deb"], 120);
    outcome(&o)
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
    outcome(&o)
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
fn tar_czf_xzf_and_cjf_xjf_of_a_tree_as_root_keep_modes_and_links() {
    same_as_host(
        r#"mkdir -p "$T/src/a/b" && cd "$T" && echo data > src/a/b/f && chmod 750 src/a &&
chmod 4755 src/a/b/f && ln -s b src/a/l && mkfifo src/p 2>/dev/null; rm -f src/p
tar czf t.tgz src && mkdir out && tar xzf t.tgz -C out && cd out &&
find . | sort && stat -c '%A %N' src/a src/a/b/f src/a/l && stat -c %s src/a/b/f &&
cat src/a/l/f && cd .. && tar cJf t.txz src && mkdir outj && tar xJf t.txz -C outj &&
diff -r out/src outj/src && xz -t t.txz && tar tJf t.txz | sort"#,
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

/// Runs `script` natively on the same root filesystem: the host's kernel, chrooted, in new
/// mount, pid, UTS and network namespaces holding what the container has (the rootfs
/// read-only, proc, tmpfs on /tmp and /run, a loopback interface, hostname debian; the
/// host's /dev). What Linux gives for the same programs; nothing outlives the call. With
/// `net`, in its namespace instead of a new one, its hosts file on /etc/hosts (through an
/// overlay of /etc).
fn natively_in(script: &str, net: Option<&Net>) -> (i32, String, String) {
    let setup = r#"set -e
r=$1
mount --bind "$r" "$r"; mount -o remount,bind,ro "$r"
mount -t proc proc "$r/proc"; mount -t tmpfs tmpfs "$r/tmp"; mount -t tmpfs tmpfs "$r/run"
mount --rbind /dev "$r/dev"
if [ -n "$3" ]; then
    u=$(mktemp -d); mount -t tmpfs tmpfs "$u"; mkdir "$u/up" "$u/work"
    mount -t overlay overlay -o "lowerdir=$r/etc,upperdir=$u/up,workdir=$u/work" "$r/etc"
    cp "$3" "$r/etc/hosts"
fi
hostname debian; ip link set lo up
exec chroot "$r" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root /bin/bash -c "cd /; $2""#;
    let mut cmd = match net {
        Some(n) => {
            let mut c = std::process::Command::new("ip");
            c.args(["netns", "exec", &n.ns.name, "unshare"]);
            c
        }
        None => {
            let mut c = std::process::Command::new("unshare");
            c.arg("--net");
            c
        }
    };
    let o = cmd
        .args(["--mount", "--pid", "--fork", "--uts", "--propagation"])
        .args(["private", "bash", "-c", setup, "setup"])
        .arg(rootfs())
        .arg(script)
        .arg(net.map_or(Path::new(""), |n| n.hosts))
        .output()
        .expect("unshare");
    outcome(&o)
}

/// Runs `script` in the sandbox and natively on the same rootfs; asserts the same status,
/// stdout and stderr, and returns the output.
fn same_as_native(script: &str) -> String {
    same_as_native_in(script, None)
}

/// `same_as_native`, both runs in `net` if given.
fn same_as_native_in(script: &str, net: Option<&Net>) -> String {
    let (code, out, err) = run_in(script, net);
    let native = natively_in(script, net);
    assert_eq!(
        (code, &out, &err),
        (native.0, &native.1, &native.2),
        "sandbox vs native"
    );
    out
}

/// Waits (at most 10 s) until `$1` answers; a shell function for the scripts below.
const WAIT_FOR: &str = r#"wait_for() { for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timed out: $*"; return 1; }
"#;

#[test]
fn script_and_python_pty_run_commands_on_a_pseudo_terminal() {
    // script(1) opens a pty (openpty: /dev/ptmx, TIOCGPTPEER), gives its child a session
    // whose controlling terminal it is, and copies its output; python's pty.fork does the
    // same and reads the master until EIO. The pty's number is masked (the host's differ).
    let out = same_as_native(
        r#"script -qc 'tty; stty -a | head -1; echo hi; stty size' /dev/null | sed 's,/dev/pts/[0-9]*,/dev/pts/N,'
python3 - <<'PY'
import os, pty
pid, fd = pty.fork()
if pid == 0:
    print("child", os.isatty(0), os.ttyname(0).startswith("/dev/pts/"), os.getsid(0) == os.getpid())
    print(input("name? "))
    os._exit(3)
# Type only once the prompt is there, and read until the echo and the child's line are
# both in: the order is then the same natively and in the sandbox (typing at once races
# with the child's first line, and a read after the child is gone may lose its output).
out = b""
while b"name? " not in out:
    out += os.read(fd, 1024)
os.write(fd, b"typed\n")
while out.count(b"typed") < 2:
    out += os.read(fd, 1024)
print(out, os.waitpid(pid, 0)[1] >> 8)
PY"#,
    );
    assert!(out.starts_with("/dev/pts/N\r\nspeed 38400 baud;"), "{out}");
}

#[test]
fn python_asyncio_runs_a_subprocess() {
    let out = same_as_native(
        r#"python3 - <<'PY'
import asyncio, sys
async def main():
    p = await asyncio.create_subprocess_exec(
        'sh', '-c', 'read x; echo "got $x"; echo err >&2; exit 3',
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await p.communicate(b'ping\n')
    print(out, err, p.returncode)
    r, w = await asyncio.open_connection(*await serve())
    w.write(b'hello\n'); await w.drain()
    print(await r.readline())
    w.close(); await w.wait_closed()
async def serve():
    async def echo(r, w):
        w.write((await r.readline()).upper()); await w.drain(); w.close()
    s = await asyncio.start_server(echo, '127.0.0.1', 0)
    return s.sockets[0].getsockname()[:2]
asyncio.run(main())
PY"#,
    );
    assert_eq!(out, "b'got ping\\n' b'err\\n' 3\nb'HELLO\\n'\n");
}

#[test]
fn python_multiprocessing_pool_queue_and_sqlite_wal_with_two_connections() {
    // multiprocessing's locks are POSIX semaphores in shared mappings of /dev/shm files
    // (a tmpfs, as Docker mounts one)
    // (unlinked at once), its Pool and Queue pass work between processes through them;
    // sqlite's WAL mode keeps its index in a shared mapping of the -shm file that both
    // connections map. The same output as natively.
    let out = same_as_native(
        r#"python3 - <<'PY'
import multiprocessing as mp, sqlite3
def sq(x): return x * x
def put(q, i): q.put(i * 10)
if __name__ == '__main__':
    with mp.Pool(4) as p:
        print(sum(p.map(sq, range(100))))
    q = mp.Queue()
    ps = [mp.Process(target=put, args=(q, i)) for i in range(4)]
    for x in ps: x.start()
    print(sorted(q.get() for _ in ps))
    for x in ps: x.join()
    a = sqlite3.connect('/tmp/db'); b = sqlite3.connect('/tmp/db')
    print(a.execute('pragma journal_mode=wal').fetchone()[0])
    a.execute('create table t(x)'); a.commit()
    a.execute('insert into t values (1)'); a.commit()
    print(b.execute('select count(*) from t').fetchone()[0])
    b.execute('insert into t values (2)'); b.commit()
    print(a.execute('select sum(x) from t').fetchone()[0])
PY"#,
    );
    assert_eq!(out, "328350\n[0, 10, 20, 30]\nwal\n1\n3\n");
}

#[test]
fn node_child_process_exec_sync() {
    let out = same_as_native(
        r#"node -e '
const cp = require("child_process");
console.log(cp.execSync("echo from-child; echo to-err >&2", {stdio: ["pipe", "pipe", "ignore"]}).toString().trim());
try { cp.execSync("exit 4", {stdio: "ignore"}); } catch (e) { console.log("status", e.status); }
console.log(cp.spawnSync("cat", {input: "through stdin"}).stdout.toString());
'"#,
    );
    assert_eq!(out, "from-child\nstatus 4\nthrough stdin\n");
}

#[test]
fn python_http_server_serves_curl() {
    let out = same_as_native(&format!(
        r#"{WAIT_FOR}mkdir /tmp/www && cd /tmp/www && printf 'served\n' > f.txt
python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 & s=$!
wait_for curl -sf http://127.0.0.1:8000/f.txt
curl -s -w '%{{http_code}} %{{content_type}} %{{size_download}}\n' http://127.0.0.1:8000/f.txt
curl -s -o /dev/null -w '%{{http_code}}\n' http://127.0.0.1:8000/missing
kill $s; wait $s; echo "server: $?""#
    ));
    assert_eq!(out, "served\n200 text/plain 7\n404\nserver: 143\n");
}

#[test]
fn redis_server_on_a_unix_socket_with_redis_cli() {
    let out = same_as_native(&format!(
        r#"{WAIT_FOR}redis-server --port 0 --unixsocket /tmp/redis.sock --dir /tmp --save '' \
    --logfile /tmp/redis.log --daemonize yes
wait_for redis-cli -s /tmp/redis.sock ping
c() {{ redis-cli -s /tmp/redis.sock "$@"; }}
c set k v; c get k; c incr n; c incr n; c rpush l a b c; c lrange l 0 -1
c shutdown nosave; wait_for sh -c '! test -S /tmp/redis.sock'; echo down"#
    ));
    assert_eq!(out, "OK\nv\n1\n2\n3\na\nb\nc\ndown\n");
}
#[test]
fn nginx_serves_a_file_on_loopback() {
    let out = same_as_native(&format!(
        r#"{WAIT_FOR}mkdir /tmp/www && printf '<p>served</p>\n' > /tmp/www/index.html
cat > /tmp/nginx.conf <<'C'
daemon off; error_log stderr crit; pid /tmp/nginx.pid; worker_processes 2;
events {{}}
http {{ access_log off; client_body_temp_path /tmp/b; proxy_temp_path /tmp/p;
  fastcgi_temp_path /tmp/f; uwsgi_temp_path /tmp/u; scgi_temp_path /tmp/s;
  server {{ listen 127.0.0.1:8080; root /tmp/www; }} }}
C
nginx -e stderr -c /tmp/nginx.conf & n=$!
wait_for curl -sf http://127.0.0.1:8080/
curl -s -w '%{{http_code}} %{{content_type}}\n' http://127.0.0.1:8080/
curl -s -o /dev/null -w '%{{http_code}}\n' http://127.0.0.1:8080/missing
kill -QUIT $n; wait $n; echo "nginx: $?""#
    ));
    assert_eq!(out, "<p>served</p>\n200 text/html\n404\nnginx: 0\n");
}

#[test]
fn ulimit_v_refuses_a_large_allocation() {
    let out = same_as_native(
        r#"(ulimit -v 200000; python3 -c 'b = bytearray(500 * 1024 * 1024)' 2>&1 | tail -1; echo "status=${PIPESTATUS[0]}")
(ulimit -v 200000; python3 -c 'b = bytearray(50 * 1024 * 1024); print(len(b))')"#,
    );
    assert_eq!(out, "MemoryError\nstatus=1\n52428800\n");
}

#[test]
fn ip_and_name_lookups_see_the_network_namespace() {
    // iproute2's dumps, getaddrinfo with and without AI_ADDRCONFIG, the container's own
    // name through /etc/hosts (as Docker writes it) and `hostname -I` (getifaddrs), in a
    // namespace with lo, a veth with an address and a default route: the same output as
    // Linux gives in that namespace.
    let ns = Netns::new(5);
    let o = std::process::Command::new("ip")
        .args([
            "-n",
            &ns.name,
            "route",
            "add",
            "default",
            "via",
            &ns.host_ip,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    // Both runs must see the link-local address after duplicate address detection (it
    // says "tentative" until then).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let o = std::process::Command::new("ip")
            .args(["-n", &ns.name, "-6", "addr"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        if text.contains("fe80") && !text.contains("tentative") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let dir = tests::TempDir::new("debian-net");
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n{}\tdebian\n",
            ns.ns_ip
        ),
    )
    .unwrap();
    let net = Net {
        ns: &ns,
        hosts: &hosts,
    };
    let out = same_as_native_in(
        r#"ip addr; ip -4 route; ip -6 route; ip link show lo; ip -o -4 addr show dev lo
python3 - <<'PY'
import socket
print(socket.getaddrinfo('localhost', 80, proto=6))
print(socket.getaddrinfo('localhost', 80, proto=6, flags=socket.AI_ADDRCONFIG))
print(socket.getaddrinfo(socket.gethostname(), 80, proto=6, flags=socket.AI_ADDRCONFIG))
print(sorted(i[1] for i in socket.if_nameindex()))
PY
getent hosts debian; getent ahostsv4 localhost; hostname -I"#,
        Some(&net),
    );
    assert!(out.contains(&format!("inet {}/24", ns.ns_ip)), "{out}");
    assert!(
        out.contains(&format!("default via {}", ns.host_ip)),
        "{out}"
    );
    let own = [ns.ns_ip.as_str(), "debian"];
    assert!(out.lines().any(|l| l.split_whitespace().eq(own)), "{out}");
}

#[test]
fn inotify_reports_what_touch_mv_and_rm_do_and_tail_f_follows_a_file() {
    let out = same_as_native(
        r#"python3 -c '
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
os.mkdir("/tmp/w")
wd = libc.inotify_add_watch(fd, b"/tmp/w", 0xfff)
os.system("touch /tmp/w/a; mv /tmp/w/a /tmp/w/b; echo x >> /tmp/w/b; rm /tmp/w/b")
buf, i = os.read(fd, 4096), 0
while i < len(buf):
    w, m, c, l = struct.unpack_from("iIII", buf, i)
    print(w, hex(m), c != 0, buf[i + 16:i + 16 + l].rstrip(b"\0").decode())
    i += 16 + l
'
: > /tmp/log
(for i in 1 2 3; do sleep 0.2; echo line $i >> /tmp/log; done) & tail -f -s 0.1 --pid=$! /tmp/log"#,
    );
    assert!(out.contains("1 0x100 False a\n"), "{out}");
    assert!(out.ends_with("line 1\nline 2\nline 3\n"), "{out}");
}

/// Where a `ps aux` line's columns line up: the start of each left-aligned column (USER,
/// TTY, STAT, START, COMMAND) and the end of each right-aligned one (PID, %CPU, %MEM, VSZ,
/// RSS, TIME).
fn ps_columns(line: &str) -> Vec<usize> {
    let b = line.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while spans.len() < 11 && i < b.len() {
        let start = (i..b.len()).find(|&j| b[j] != b' ').unwrap_or(b.len());
        let end = (start..b.len()).find(|&j| b[j] == b' ').unwrap_or(b.len());
        spans.push((start, end));
        i = end;
    }
    let left = [0, 6, 7, 8, 10];
    spans
        .iter()
        .enumerate()
        .map(|(k, &(s, e))| if left.contains(&k) { s } else { e })
        .collect()
}

#[test]
fn ps_aux_lines_up_its_columns_as_natively() {
    // ps reads /proc/PID/stat, status, statm and cmdline of every process: the same
    // header, the same processes (by command, user, terminal), and every row's columns
    // end where the header's do, as natively (the figures themselves differ: pids,
    // memory, start times).
    let script = "sleep 30 & sleep 0.2; ps aux; kill %1";
    let (code, out, err) = run(script);
    let native = natively_in(script, None);
    assert_eq!((code, native.0), (0, 0), "{err}\n{}", native.2);
    let rows = |text: &str| -> Vec<String> { text.lines().map(str::to_string).collect() };
    let (ours, theirs) = (rows(&out), rows(&native.1));
    assert_eq!(ours.first(), theirs.first(), "{out}\n{}", native.1);
    assert_eq!(ours.len(), theirs.len(), "{out}\n{}", native.1);
    let header = ps_columns(&ours[0]);
    let what = |l: &str| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f[0].to_string(), f[6].to_string(), f[10..].join(" "))
    };
    for (a, b) in ours.iter().zip(&theirs).skip(1) {
        assert_eq!(ps_columns(a), header, "{a}\n{out}");
        assert_eq!(ps_columns(b), header, "{b}\n{}", native.1);
        let (wa, wb) = (what(a), what(b));
        // Natively the script runs behind `cd /;`.
        assert_eq!(
            wa,
            (wb.0, wb.1, wb.2.replace("cd /; ", "")),
            "{out}\n{}",
            native.1
        );
    }
}

#[test]
fn flock_1_excludes_a_second_holder_and_lets_a_waiter_in_after() {
    // util-linux's flock(1): a held exclusive lock refuses -n (status 1) and a shared
    // one, a waiter gets it once the holder is done, shared locks coexist, -u on an fd.
    same_as_native(
        r#"cd /tmp
(flock l -c 'echo holder; touch held; while [ ! -e release ]; do sleep 0.01; done; echo released') &
while [ ! -e held ]; do sleep 0.01; done
flock -n l true; echo "exclusive -n: $?"
flock -s -n l true; echo "shared -n: $?"
(flock l -c 'echo waiter got it') & touch release; wait
flock -s l -c 'flock -s -n l -c "echo two shared"'
exec 9> l; flock -x 9; flock -n l true; echo "held by fd 9: $?"; flock -u 9; flock -n l true; echo "after -u: $?""#,
    );
}
