//! Shared helpers of the end-to-end tests that drive runsc through the real container
//! clients (Docker, containerd's ctr, Podman): a scratch directory that owns every daemon
//! a test starts and cleans up after it (also when the test fails), commands bounded in
//! time, and busybox images built from busybox-static.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// PATH for the clients and their daemons: Debian's packages first (a newer `docker`
/// CLI in /usr/local/bin must not shadow the docker.io one).
pub const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The installed program `name` from Debian's packages (scripts/deps.sh installs them).
/// A missing one fails the test: these tests are never skipped.
pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{name} is not installed: run `bash scripts/deps.sh` (docker.io, containerd, podman, tmux)"
    );
}

/// What a bounded command left.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn ok(&self) -> bool {
        self.status.success()
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A daemon started by a test.
struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

/// A scratch directory for one test: the daemons' data roots, sockets and logs live in
/// it. When dropped (also on panic) it stops its daemons (SIGTERM, then SIGKILL, by
/// pid), runs the cleanup commands it was given, kills by pid whatever process still
/// names the directory in its command line (shims, conmon, runsc sandboxes and exec
/// proxies, tmux), unmounts every mount under it (`umount -R`) and removes it.
pub struct Scratch {
    pub dir: PathBuf,
    daemons: Vec<Daemon>,
    cleanup: Vec<(Command, u64)>,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("runsc-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch {
            dir,
            daemons: Vec::new(),
            cleanup: Vec::new(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// `path(rel)` as a string.
    pub fn p(&self, rel: &str) -> String {
        self.path(rel).to_str().expect("utf-8 path").to_string()
    }

    /// Starts `cmd` as a daemon whose output goes to `NAME.log` here.
    pub fn spawn_daemon(&mut self, name: &str, mut cmd: Command) {
        let log = self.path(&format!("{name}.log"));
        let f = std::fs::File::create(&log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .env("PATH", PATH);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        self.daemons.push(Daemon {
            name: name.into(),
            child,
            log,
        });
    }

    /// Runs `cmd` (with `secs` as its bound) when the scratch directory is dropped, before
    /// its daemons are stopped.
    pub fn on_cleanup(&mut self, cmd: Command, secs: u64) {
        self.cleanup.push((cmd, secs));
    }

    /// The last lines of every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for d in &self.daemons {
            let text = std::fs::read_to_string(&d.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            s.push_str(&format!(
                "--- last lines of {} log\n{}\n",
                d.name,
                tail.join("\n")
            ));
        }
        s
    }

    /// Fails the test with `msg` and the daemons' logs.
    pub fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\n{}", self.logs());
    }

    /// Runs `cmd` to completion with stdin from /dev/null and stdout and stderr going to
    /// files here (a daemon the client starts may keep an inherited pipe open). After
    /// `secs` seconds it is killed and the test fails.
    pub fn run(&self, cmd: Command, secs: u64) -> Ran {
        self.run_input(cmd, b"", secs)
    }

    /// `run`, with `input` (from a file) as the command's stdin.
    pub fn run_input(&self, mut cmd: Command, input: &[u8], secs: u64) -> Ran {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let inp = self.path(&format!("cmd-{n}.in"));
        std::fs::write(&inp, input).unwrap();
        let out = self.path(&format!("cmd-{n}.out"));
        let err = self.path(&format!("cmd-{n}.err"));
        cmd.stdin(std::fs::File::open(&inp).unwrap())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        let desc = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("running {desc}: {e}"));
        let status = wait_bounded(&mut child, Duration::from_secs(secs));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let Some(status) = status else {
            self.fail(&format!(
                "timed out after {secs}s: {desc}\n--- stdout\n{}--- stderr\n{}",
                read(&out),
                read(&err)
            ));
        };
        let ran = Ran {
            status,
            stdout: read(&out),
            stderr: read(&err),
        };
        let _ = std::fs::remove_file(&inp);
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(&err);
        ran
    }

    /// Runs `cmd` until it succeeds, for at most `secs` seconds (each try bounded too).
    pub fn retry_until_ok(&self, what: &str, make: impl Fn() -> Command, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let r = self.run(make(), secs.min(15));
            if r.ok() {
                return;
            }
            if let Some(d) = self.daemons.iter().find(|d| {
                std::fs::read_to_string(format!("/proc/{}/stat", d.child.id()))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
            }) {
                self.fail(&format!("{} exited while waiting for {what}: {r}", d.name));
            }
            if Instant::now() > deadline {
                self.fail(&format!("{what} not ready after {secs}s: {r}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Waits for `child` at most `limit`; kills it (SIGKILL) and returns None past that.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Pids of the processes (but this one) whose command line mentions `needle`.
fn processes_naming(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Mount points under `dir` (or `dir` itself), deepest first.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| {
            m.replace("\\040", " ")
                .replace("\\011", "\t")
                .replace("\\134", "\\")
        })
        .filter(|m| m == dir || m.starts_with(&format!("{dir}/")))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v.dedup();
    v
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for (cmd, secs) in &mut self.cleanup {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Ok(mut c) = cmd.spawn() {
                wait_bounded(&mut c, Duration::from_secs(*secs));
            }
        }
        // Daemons last started first.
        for d in self.daemons.iter_mut().rev() {
            signal(d.child.id(), "TERM");
            if wait_bounded(&mut d.child, Duration::from_secs(20)).is_none() {
                eprintln!("{} did not stop on SIGTERM; killed", d.name);
            }
        }
        // With the trailing slash: scratch directories are numbered, and `…-1` is a prefix
        // of `…-12`, another test's directory (whose podman this once killed).
        let needle = format!("{}/", self.dir.to_str().unwrap());
        for _ in 0..20 {
            let left = processes_naming(&needle);
            if left.is_empty() {
                break;
            }
            for pid in left {
                signal(pid, "KILL");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for _ in 0..3 {
            let mounts = mounts_under(&self.dir);
            if mounts.is_empty() {
                break;
            }
            for m in mounts {
                let ok = Command::new("umount")
                    .args(["-R", &m])
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if !ok {
                    let _ = Command::new("umount")
                        .args(["-l", &m])
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The busybox applets the images link to /bin/busybox.
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "true", "false", "ls", "ps", "env", "tty", "id", "hostname",
    "stty", "test", "seq", "wc",
];

/// Makes `dir` a root filesystem: /bin/busybox (a copy of busybox-static) and its
/// applets, and the usual empty directories. /sbin is there as in most images: `docker
/// run --init` bind-mounts /sbin/docker-init, and the sentry does not make the missing
/// parent directories of a mount point.
pub fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["proc", "dev", "tmp", "sys", "etc", "root", "sbin"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static is installed");
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
    }
}

/// A tar of a busybox root filesystem (for `docker import`, `podman import`).
pub fn busybox_tar(s: &Scratch) -> PathBuf {
    let rootfs = s.path("image-rootfs");
    busybox_rootfs(&rootfs);
    let tar = s.path("busybox.tar");
    let r = s.run(
        {
            let mut c = Command::new("tar");
            c.arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".");
            c
        },
        60,
    );
    assert!(r.ok(), "tar: {r}");
    tar
}

/// Writes `data` as a blob of the OCI layout `layout`; returns its digest and size.
fn blob(s: &Scratch, layout: &Path, data: &[u8]) -> (String, usize) {
    let tmp = layout.join("blob.tmp");
    std::fs::write(&tmp, data).unwrap();
    let r = s.run(
        {
            let mut c = Command::new("sha256sum");
            c.arg(&tmp);
            c
        },
        60,
    );
    assert!(r.ok(), "sha256sum: {r}");
    let hex = r.stdout.split_whitespace().next().unwrap().to_string();
    std::fs::rename(&tmp, layout.join("blobs/sha256").join(&hex)).unwrap();
    (format!("sha256:{hex}"), data.len())
}

/// An OCI image archive (image layout in a tar) of a busybox root filesystem, named
/// `name` (for `ctr images import`).
pub fn busybox_oci_archive(s: &Scratch, name: &str) -> PathBuf {
    let layer = std::fs::read(busybox_tar(s)).unwrap();
    let layout = s.path("oci-layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let (layer_digest, layer_size) = blob(s, &layout, &layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/bin"],"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
    );
    let (config_digest, config_size) = blob(s, &layout, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{layer_size}}}]}}"#
    );
    let (manifest_digest, manifest_size) = blob(s, &layout, manifest.as_bytes());
    let tag = name.rsplit(':').next().unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{manifest_size},"platform":{{"architecture":"amd64","os":"linux"}},"annotations":{{"io.containerd.image.name":"{name}","org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#
    );
    std::fs::write(layout.join("index.json"), index).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let tar = s.path("busybox-oci.tar");
    let r = s.run(
        {
            let mut c = Command::new("tar");
            c.arg("-C").arg(&layout).arg("-cf").arg(&tar).arg(".");
            c
        },
        60,
    );
    assert!(r.ok(), "tar: {r}");
    tar
}

/// The runsc binary under test (built by the tests crate).
pub fn runsc() -> String {
    tests::runsc_bin().to_str().unwrap().to_string()
}

/// Polls `f` every 100 ms until it returns Some, for at most `secs` seconds.
/// A shell loop that prints 1, 2, 3… ten times a second (for checkpoints: a restored one
/// goes on from where it was).
pub const COUNTER: &str = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done";

pub fn poll<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tmux server on a private socket in the scratch directory, running one command in a
/// window of a fixed size; the screen is read with `capture-pane`. The scratch
/// directory's cleanup kills the server (its command line names the socket).
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a detached 100x30 window of a tmux
    /// server of its own, `NAME.tmux`. When the command ends, `[exit=STATUS]` is written
    /// on the screen and the window stays.
    pub fn start(s: &mut Scratch, name: &str, command: &str) -> Tmux {
        let socket = s.p(&format!("{name}.tmux"));
        let t = Tmux { socket };
        let mut c = t.cmd();
        c.args(["new-session", "-d", "-x", "100", "-y", "30", "-s", "t"])
            .arg(format!("{command}; echo \"[exit=$?]\"; sleep 600"))
            .env("PATH", PATH)
            .env("TERM", "xterm");
        let r = s.run(c, 30);
        assert!(r.ok(), "tmux new-session: {r}");
        let mut kill = t.cmd();
        kill.arg("kill-server");
        s.on_cleanup(kill, 10);
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(tool("tmux"));
        c.args(["-f", "/dev/null", "-S", &self.socket]);
        c
    }

    /// The text on the screen.
    pub fn screen(&self, s: &Scratch) -> String {
        let mut c = self.cmd();
        c.args(["capture-pane", "-p", "-t", "t"]);
        s.run(c, 10).stdout
    }

    /// Types `keys` (tmux key names, e.g. "hello", "Enter").
    pub fn send(&self, s: &Scratch, keys: &[&str]) {
        let mut c = self.cmd();
        c.args(["send-keys", "-t", "t"]).args(keys);
        let r = s.run(c, 10);
        assert!(r.ok(), "tmux send-keys: {r}");
    }

    /// Waits until the screen shows `text`; fails the test with the screen otherwise.
    pub fn wait_for(&self, s: &Scratch, text: &str, secs: u64) -> String {
        let mut last = String::new();
        if let Some(screen) = poll(secs, || {
            last = self.screen(s);
            last.contains(text).then(|| last.clone())
        }) {
            return screen;
        }
        s.fail(&format!(
            "{text:?} not on the screen after {secs}s:\n{last}"
        ));
    }
}
