//! Helpers for the end-to-end tests: they drive the built `runsc` binary as a user would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace's target directory, honouring `CARGO_TARGET_DIR`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// Path of the `runsc` binary, built once per test process with the same profile as the tests.
pub fn runsc_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let release = !cfg!(debug_assertions);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "runsc"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build -p runsc");
        assert!(status.success(), "cargo build -p runsc failed");
        target_dir()
            .join(if release { "release" } else { "debug" })
            .join("runsc")
    })
    .clone()
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A temporary directory removed when dropped (also when the test panics).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("runsc-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `--root` state directory for one test, with bundles beside it. When dropped it kills
/// the sandbox process of every container still recorded there, then removes everything.
pub struct Runtime {
    pub dir: TempDir,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        Runtime {
            dir: TempDir::new("rt"),
        }
    }

    /// The `--root` directory.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A `runsc --root ROOT ARGS...` command.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runsc_bin());
        c.arg("--root").arg(self.root()).args(args);
        c.stdin(std::process::Stdio::null());
        c
    }

    /// Runs `runsc --root ROOT ARGS...` and returns its output.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().expect("run runsc")
    }

    /// Makes a bundle `NAME` whose rootfs holds a copy of busybox-static as /bin/busybox,
    /// with /bin/sh, /bin/sleep, /bin/cat, /bin/echo, /bin/true linking to it, and a
    /// config.json running `args`. Returns the bundle directory.
    pub fn busybox_bundle(&self, name: &str, args: &[&str]) -> PathBuf {
        self.busybox_bundle_ns(name, args, false)
    }

    /// `busybox_bundle`, with a new pid namespace when `pid_ns`.
    pub fn busybox_bundle_ns(&self, name: &str, args: &[&str], pid_ns: bool) -> PathBuf {
        let bundle = self.dir.path().join(name);
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "dev", "tmp", "sys", "etc"] {
            std::fs::create_dir_all(bundle.join("rootfs").join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static is installed");
        for applet in [
            "sh", "sleep", "cat", "echo", "true", "false", "ls", "ps", "env",
        ] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let config = format!(
            r#"{{
  "ociVersion": "1.0.2",
  "root": {{"path": "rootfs", "readonly": false}},
  "process": {{
    "terminal": false,
    "user": {{"uid": 0, "gid": 0}},
    "args": [{}],
    "env": ["PATH=/bin", "HOME=/"],
    "cwd": "/"
  }},
  "hostname": "test",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}},
    {{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}}
  ],
  "linux": {{"namespaces": [{}{{"type": "ipc"}}, {{"type": "uts"}}, {{"type": "mount"}}]}}
}}"#,
            args.join(", "),
            if pid_ns { "{\"type\": \"pid\"}, " } else { "" }
        );
        std::fs::write(bundle.join("config.json"), config).unwrap();
        bundle
    }

    /// Host pids of the sandbox processes recorded under the root.
    pub fn sandbox_pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for e in std::fs::read_dir(self.root())
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(text) = std::fs::read_to_string(e.path().join("state.json")) else {
                continue;
            };
            if let Some(Json::Num(pid)) = Json::parse(&text).ok().as_ref().map(|j| j.get("pid")) {
                if *pid > 0.0 {
                    pids.push(*pid as i32);
                }
            }
        }
        pids
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for pid in self.sandbox_pids() {
            // Only our own sandboxes: a reused pid belongs to someone else.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("runsc") {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}

/// The error a failed runsc command reported: without `--log`, its stderr is exactly one
/// line, `runsc: ERROR`, where ERROR is the whole chain, `: `-separated. Returns ERROR.
pub fn the_error(stderr: &str) -> &str {
    let line = stderr
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no error line on stderr: {stderr:?}"));
    assert!(
        !line.contains('\n'),
        "more than one line on stderr: {stderr:?}"
    );
    line.strip_prefix("runsc: ")
        .unwrap_or_else(|| panic!("not a runsc error: {stderr:?}"))
}

/// Asserts that `part` (a cause, a name) appears in `text` exactly once.
pub fn assert_once(text: &str, part: &str) {
    assert_eq!(
        text.matches(part).count(),
        1,
        "{part:?} is not in {text:?} exactly once"
    );
}

/// A JSON value, parsed by the small reader below (the tests crate has no dependencies).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

static NULL: Json = Json::Null;

impl Json {
    /// Parses a whole document.
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonReader {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing text at byte {}", p.i));
        }
        Ok(v)
    }

    /// The member `key` of an object (Null when absent or not an object).
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn keys(&self) -> Vec<&str> {
        match self {
            Json::Obj(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }
}

struct JsonReader<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonReader<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    m.push((k, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(m));
                        }
                        _ => return Err(format!("bad object at byte {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(a));
                        }
                        _ => return Err(format!("bad array at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad value at byte {start}"))
            }
            None => Err("unexpected end".into()),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("expected string at byte {}", self.i));
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|e| e.to_string());
                }
                Some(b'\\') => {
                    let c = *self.s.get(self.i + 1).ok_or("bad escape")?;
                    self.i += 2;
                    match c {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = std::str::from_utf8(
                                self.s.get(self.i..self.i + 4).ok_or("bad \\u")?,
                            )
                            .map_err(|e| e.to_string())?;
                            let cp = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            self.i += 4;
                            let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
                            out.extend_from_slice(ch.to_string().as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                Some(&c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

/// What a runsc command that starts a sandbox left: its status and its stderr. Its stdout
/// and stderr are files (a pipe would stay open as long as the container runs).
pub struct Outcome {
    pub status: std::process::ExitStatus,
    pub stderr: String,
}

impl Runtime {
    /// Runs `runsc --root ROOT ARGS...` with stdout and stderr going to `NAME.out` and
    /// `NAME.err` in the test directory (the container's stdio when it is `create`).
    pub fn run_to_files(&self, name: &str, args: &[&str]) -> Outcome {
        let out = std::fs::File::create(self.dir.path().join(format!("{name}.out"))).unwrap();
        let err_path = self.dir.path().join(format!("{name}.err"));
        let err = std::fs::File::create(&err_path).unwrap();
        let status = self
            .cmd(args)
            .stdout(out)
            .stderr(err)
            .status()
            .expect("run runsc");
        Outcome {
            status,
            stderr: std::fs::read_to_string(err_path).unwrap_or_default(),
        }
    }

    /// `restore --detach` of the image in `image` into container `id` of `bundle`, run as
    /// [`Runtime::run_to_files`] with output files `NAME.out` and `NAME.err`.
    pub fn restore_to_files(&self, name: &str, id: &str, bundle: &Path, image: &Path) -> Outcome {
        self.run_to_files(
            name,
            &[
                "restore",
                "--detach",
                "--image-path",
                image.to_str().unwrap(),
                "--bundle",
                bundle.to_str().unwrap(),
                id,
            ],
        )
    }

    /// What a container wrote to the stdout of the command `NAME` that created it.
    pub fn output_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.out"))).unwrap_or_default()
    }

    /// `runsc state ID` parsed, or None when it fails.
    pub fn state(&self, id: &str) -> Option<Json> {
        let o = self.run(&["state", id]);
        if !o.status.success() {
            return None;
        }
        Json::parse(&String::from_utf8_lossy(&o.stdout)).ok()
    }

    /// The status `runsc state` reports.
    pub fn status(&self, id: &str) -> Option<String> {
        self.state(id)
            .and_then(|s| s.get("status").as_str().map(String::from))
    }

    /// Polls `runsc state` until the status is `want` (or `secs` pass); returns the last
    /// status seen.
    pub fn wait_for_status(&self, id: &str, want: &str, secs: u64) -> Option<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let s = self.status(id);
            if s.as_deref() == Some(want) || std::time::Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Polls until `NAME.out` (the container's stdout) contains `text`.
    pub fn wait_for_output(&self, name: &str, text: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let out = self.output_of(name);
            if out.contains(text) || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Runtime {
    /// Runs `runsc --root ROOT ARGS...` like `run`, but kills it after `secs` seconds
    /// (then the output holds what it printed and the status is a kill).
    pub fn run_with_timeout(&self, args: &[&str], secs: u64) -> std::process::Output {
        use std::io::Read;
        let mut child = self
            .cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run runsc");
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let t_out = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = out.read_to_end(&mut b);
            b
        });
        let t_err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = err.read_to_end(&mut b);
            b
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        // The pipes close when the sandbox (which may hold them) is killed by the caller;
        // do not wait for that.
        let grab = |t: std::thread::JoinHandle<Vec<u8>>| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if t.is_finished() {
                t.join().unwrap_or_default()
            } else {
                Vec::new()
            }
        };
        std::process::Output {
            status,
            stdout: grab(t_out),
            stderr: grab(t_err),
        }
    }
}

/// Flips one byte in the middle of the first memory segment of an image (whose table
/// offset and first entry are read from the header: docs/statefile.md).
pub fn corrupt_a_segment(image: &std::path::Path) {
    corrupt_segment(image, |_| 0);
}

/// Flips a byte in the middle of segment `pick(count)` of the image at `image`; returns
/// the segment's index.
pub fn corrupt_segment(image: &std::path::Path, pick: impl Fn(u64) -> u64) -> u64 {
    let mut b = std::fs::read(image).unwrap();
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let table = u64_at(&b, 72) as usize;
    let count = u64_at(&b, 80);
    assert!(count > 0, "the image has segments");
    let index = pick(count);
    assert!(index < count, "segment {index} of {count}");
    let entry = table + 32 * index as usize;
    let file_offset = u64_at(&b, entry + 8) as usize;
    let len = u64_at(&b, entry + 16) as usize;
    b[file_offset + len / 2] ^= 0x5a;
    std::fs::write(image, b).unwrap();
    index
}

/// A finished command's status, stdout and stderr, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Runtime {
    /// `run --detach` of a busybox bundle `id` running `args`, its stdout in `ID.out`;
    /// returns the bundle.
    pub fn run_detached(&self, id: &str, args: &[&str]) -> PathBuf {
        let bundle = self.busybox_bundle(id, args);
        self.start_detached(id, &bundle);
        bundle
    }

    /// Makes `file` in container `id` (`echo > FILE` run by a detached `runsc exec`) to
    /// let a guest that waits for it go on. Detached, because a guest that is the
    /// container's init often ends as soon as it sees the file, and its end kills the
    /// exec'd shell before that shell exits (status 137, as under runc): the exec is
    /// asked to start, not to finish.
    pub fn let_go(&self, id: &str, file: &str) {
        let script = format!("echo > {file}");
        let o = self.run_with_timeout(&["exec", "--detach", id, "sh", "-c", &script], 20);
        assert!(o.status.success(), "exec --detach: {}", text(&o));
    }

    /// `run --detach` of container `id` from `bundle`, its stdout in `ID.out`.
    pub fn start_detached(&self, id: &str, bundle: &Path) {
        let o = self.run_to_files(
            id,
            &["run", "--detach", "--bundle", bundle.to_str().unwrap(), id],
        );
        assert!(o.status.success(), "run {id}: {}", o.stderr);
    }
}
