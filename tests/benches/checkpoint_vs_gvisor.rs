//! Benchmark program (not a timed test): checkpoint and restore of a guest holding noise
//! (`tests/guest/memnoise.c`, 64 KiB rewritten every 2 ms tick), this runtime against
//! Debian's gVisor (`runsc --network=none --platform=ptrace`), in one run:
//!
//!     cargo bench -p tests --bench checkpoint_vs_gvisor [-- --4g] [--sizes=MIB,..] [--ours-only]
//!
//! (`--sizes` picks the sizes; `--ours-only` leaves gVisor out. gVisor's 8 clones of 4
//! GiB, each a full copy, need more memory than this machine has: its clone rows read NaN
//! when 8 copies would take more than 3/4 of MemAvailable.)
//!
//! (`OURS=/path/to/runsc` measures that build of this runtime instead of this tree's.)
//!
//! For 256 MiB and 1 GiB (and 4 GiB with `--4g`) it prints: `run /bin/true` (the
//! reference), checkpoint wall time (without `--leave-running`, the sandbox ends) with
//! the raw bandwidth of the disk for as many bytes (1 MiB writes of noise to a new file
//! next to the image, and fsync, right before and right after the checkpoint: the
//! faster of the two) and their ratio, the
//! largest gap the guest's 2 ms ticker saw during `checkpoint --leave-running` (and, as
//! its reference, over as long a window right after without a checkpoint), `restore
//! --detach` (until the guest runs), restore until the guest has re-read and verified
//! all of its memory, the same two for ours with `restore --background` (a bad segment
//! poisons memory rather than ending the sandbox; compared with gVisor's plain
//! restore), the image size, and the memory (PSS, resident) of 8 clones restored from
//! one image. gVisor 2022's `checkpoint --leave-running` does not return
//! on this host, so its pause is not measured.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Pages the guest rewrites per tick (64 KiB).
const PAGES_PER_TICK: &str = "16";

/// One runtime: its command line and its state directory.
struct Rt {
    name: &'static str,
    argv: Vec<String>,
    root: PathBuf,
    work: PathBuf,
}

impl Rt {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.argv[0]);
        c.args(&self.argv[1..])
            .arg("--root")
            .arg(&self.root)
            .args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs `args` with stdout and stderr in `work/NAME.out|err`; returns the wall
    /// time in ms, or the error.
    fn timed(&self, name: &str, args: &[&str]) -> Result<f64, String> {
        let out = std::fs::File::create(self.work.join(format!("{name}.out"))).unwrap();
        let err_path = self.work.join(format!("{name}.err"));
        let err = std::fs::File::create(&err_path).unwrap();
        let start = Instant::now();
        let st = self.cmd(args).stdout(out).stderr(err).status().unwrap();
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if st.success() {
            Ok(ms)
        } else {
            Err(format!(
                "{} {args:?}: {st}: {}",
                self.name,
                std::fs::read_to_string(err_path).unwrap_or_default()
            ))
        }
    }

    fn output(&self, name: &str) -> String {
        std::fs::read_to_string(self.work.join(format!("{name}.out"))).unwrap_or_default()
    }

    /// Waits until `NAME.out` holds `text` `count` times; the time waited in ms.
    fn wait_for(&self, name: &str, text: &str, count: usize) -> Result<f64, String> {
        let start = Instant::now();
        loop {
            let out = self.output(name);
            if out.contains("CORRUPT") {
                return Err(format!("{}: {name}: {out}", self.name));
            }
            if out.matches(text).count() >= count {
                return Ok(start.elapsed().as_secs_f64() * 1e3);
            }
            if start.elapsed() > Duration::from_secs(120) {
                return Err(format!("{}: {name} never said {text:?}: {out}", self.name));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn signal(&self, id: &str, sig: &str) {
        let _ = self.cmd(&["kill", id, sig]).output();
    }

    fn remove(&self, id: &str) {
        self.signal(id, "KILL");
        let _ = self.cmd(&["delete", "--force", id]).output();
        let _ = self.cmd(&["delete", "-force", id]).output();
    }

    /// The pid of the sandbox of `id`.
    fn pid(&self, id: &str) -> Option<i32> {
        let o = self.cmd(&["state", id]).output().ok()?;
        let json = tests::Json::parse(&String::from_utf8_lossy(&o.stdout)).ok()?;
        json.get("pid").as_f64().map(|p| p as i32)
    }
}

/// The parent of each process.
fn parents() -> Vec<(i32, i32)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // The field after the command name (which may hold spaces) is the state, then
        // the parent.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                v.push((pid, ppid));
            }
        }
    }
    v
}

/// (PSS, RSS) in KiB of `roots` and all their descendants.
fn memory_of(roots: &[i32]) -> (u64, u64) {
    let tree = parents();
    let mut all: Vec<i32> = roots.to_vec();
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        all.extend(tree.iter().filter(|&&(_, pp)| pp == p).map(|&(c, _)| c));
        i += 1;
    }
    let (mut pss, mut rss) = (0, 0);
    for p in all {
        let text = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).unwrap_or_default();
        for l in text.lines() {
            let kb = || {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            if l.starts_with("Pss:") {
                pss += kb();
            } else if l.starts_with("Rss:") {
                rss += kb();
            }
        }
    }
    (pss, rss)
}

/// One runtime's figures for one size.
#[derive(Default, Clone)]
struct Figures {
    run_true: f64,
    checkpoint: f64,
    pause: Option<f64>,
    /// The ticker's largest gap over as long a window without a checkpoint, right after
    /// (the host's own scheduling delay, the pause's floor on a busy machine), in ms.
    idle_gap: Option<f64>,
    restore: f64,
    verified: f64,
    /// `restore --background` (ours only): until the guest runs, until it verified.
    restore_bg: Option<f64>,
    verified_bg: Option<f64>,
    image_mib: f64,
    /// Writing as many bytes as the image to a new file in the same directory, 1 MiB at
    /// a time, and fsync: the disk's raw bandwidth for the checkpoint, in ms.
    raw_write: f64,
    clones_pss_mib: f64,
    clones_rss_mib: f64,
}

/// Writes `bytes` bytes of noise (1 MiB writes) to a new file `path`, fsyncs it and
/// removes it: the time in ms, without the removal.
fn raw_write(path: &Path, bytes: u64) -> Result<f64, String> {
    use std::io::Write;
    let mut buf = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in buf.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.copy_from_slice(&x.to_le_bytes());
    }
    let start = Instant::now();
    let mut f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    f.sync_all().map_err(|e| e.to_string())?;
    drop(f);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let _ = std::fs::remove_file(path);
    settle();
    Ok(ms)
}

/// Waits for the file systems to have written everything and forgotten what was
/// removed (`sync`). This host mounts its root with `discard`, so a large file's removal
/// leaves block discards behind that a later fsync may wait for (a precaution: by hand
/// the effect did not stand out of this VM's noise). Called after each removal of an
/// image or a raw-write file, so that no timed step pays for an earlier one.
fn settle() {
    let _ = Command::new("sync").status();
}

/// MemAvailable of /proc/meminfo, in bytes (0 if unreadable).
fn mem_available() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib << 10)
}

fn measure(rt: &Rt, mib: u32, bundle: &Path, true_bundle: &Path) -> Result<Figures, String> {
    let mut f = Figures::default();
    let b = bundle.to_str().unwrap();
    // The reference: run /bin/true.
    let mut runs = Vec::new();
    for i in 0..3 {
        let id = format!("true{mib}-{i}");
        runs.push(rt.timed(
            &id,
            &["run", "--bundle", true_bundle.to_str().unwrap(), &id],
        )?);
        rt.remove(&id);
    }
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    f.run_true = runs[1];

    let image = rt.work.join(format!("image{mib}"));
    let _ = std::fs::remove_dir_all(&image);
    settle();
    let img = image.to_str().unwrap();
    let id = format!("noise{mib}");
    rt.timed(&id, &["run", "--detach", "--bundle", b, &id])?;
    rt.wait_for(&id, "ready", 1)?;
    if rt.name == "ours" {
        // The pause: the ticker's largest gap over a leave-running checkpoint.
        rt.signal(&id, "USR2");
        rt.wait_for(&id, "maxgap_us=", 1)?;
        let took = rt.timed(
            "ckpt-lr",
            &["checkpoint", "--leave-running", "--image-path", img, &id],
        )?;
        std::thread::sleep(Duration::from_millis(50));
        let last_gap = |n: usize| -> Result<f64, String> {
            rt.signal(&id, "USR2");
            rt.wait_for(&id, "maxgap_us=", n)?;
            let out = rt.output(&id);
            out.rsplit("maxgap_us=")
                .next()
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .map(|us| us / 1e3)
                .ok_or(format!("no gap in {out}"))
        };
        f.pause = Some(last_gap(2)?);
        // The same window's length with no checkpoint: what the machine alone costs.
        std::thread::sleep(Duration::from_secs_f64((took + 50.0) / 1e3));
        f.idle_gap = Some(last_gap(3)?);
        let _ = std::fs::remove_dir_all(&image);
        settle();
    }
    // The disk's raw bandwidth: as many bytes as the guest's memory right before the
    // checkpoint, as many as the image right after it, next to the image; the faster
    // (scaled to the image's size). A write of memory the host has not touched since it
    // booted runs at a fraction of the speed of one whose page cache is recycled, for the
    // checkpoint as for the raw write: the two ends of the checkpoint see both cases.
    std::fs::create_dir_all(&image).map_err(|e| e.to_string())?;
    let before_bytes = u64::from(mib) << 20;
    let before = raw_write(&image.join("raw-write"), before_bytes)?;
    f.checkpoint = rt.timed("ckpt", &["checkpoint", "--image-path", img, &id])?;
    rt.remove(&id);
    let file = image.join("checkpoint.img");
    let image_bytes = std::fs::metadata(&file).map_err(|e| e.to_string())?.len();
    f.image_mib = image_bytes as f64 / 1048576.0;
    let after = raw_write(&image.join("raw-write"), image_bytes)?;
    f.raw_write = after.min(before * image_bytes as f64 / before_bytes as f64);

    // Restore: until `restore --detach` returns (the guest runs), then until the guest
    // has checked every page.
    let rid = format!("restored{mib}");
    let start = Instant::now();
    f.restore = rt.timed(
        &rid,
        &[
            "restore",
            "--detach",
            "--image-path",
            img,
            "--bundle",
            b,
            &rid,
        ],
    )?;
    rt.signal(&rid, "USR1");
    rt.wait_for(&rid, "verified", 1)?;
    f.verified = start.elapsed().as_secs_f64() * 1e3;
    rt.remove(&rid);
    if rt.name == "ours" {
        // On demand: the guest runs before its memory is loaded.
        let rid = format!("lazy{mib}");
        let start = Instant::now();
        f.restore_bg = Some(rt.timed(
            &rid,
            &[
                "restore",
                "--background",
                "--detach",
                "--image-path",
                img,
                "--bundle",
                b,
                &rid,
            ],
        )?);
        rt.signal(&rid, "USR1");
        rt.wait_for(&rid, "verified", 1)?;
        f.verified_bg = Some(start.elapsed().as_secs_f64() * 1e3);
        rt.remove(&rid);
    }

    // 8 clones from the one image, all verified, then their memory together. gVisor's
    // clones are full copies: 8 of 4 GiB do not fit in this machine (NaN then).
    if rt.name != "ours" && 8 * (u64::from(mib) << 20) > mem_available() / 4 * 3 {
        f.clones_pss_mib = f64::NAN;
        f.clones_rss_mib = f64::NAN;
        let _ = std::fs::remove_dir_all(&image);
        return Ok(f);
    }
    let clones: Vec<String> = (0..8).map(|i| format!("clone{mib}-{i}")).collect();
    let mut pids = Vec::new();
    for c in &clones {
        rt.timed(
            c,
            &["restore", "--detach", "--image-path", img, "--bundle", b, c],
        )?;
        pids.extend(rt.pid(c));
    }
    for c in &clones {
        rt.signal(c, "USR1");
    }
    for c in &clones {
        rt.wait_for(c, "verified", 1)?;
    }
    let (pss, rss) = memory_of(&pids);
    f.clones_pss_mib = pss as f64 / 1024.0;
    f.clones_rss_mib = rss as f64 / 1024.0;
    for c in &clones {
        rt.remove(c);
    }
    let _ = std::fs::remove_dir_all(&image);
    settle();
    Ok(f)
}

fn main() {
    let four = std::env::args().any(|a| a == "--4g");
    let ours_only = std::env::args().any(|a| a == "--ours-only");
    let picked: Option<Vec<u32>> = std::env::args().find_map(|a| {
        a.strip_prefix("--sizes=")
            .map(|l| l.split(',').filter_map(|n| n.parse().ok()).collect())
    });
    let sizes: Vec<u32> = match picked {
        Some(s) => s,
        None if four => vec![256, 1024, 4096],
        None => vec![256, 1024],
    };
    let t = tests::Runtime::new();
    let guest = t.dir.path().join("memnoise");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/memnoise.c");
    let st = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&guest)
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(st.success(), "gcc memnoise");
    let true_bundle = t.busybox_bundle("true", &["/bin/true"]);
    // OURS=PATH measures another build of this runtime (an older one, for a before/after).
    let ours_bin = std::env::var_os("OURS").map_or_else(tests::runsc_bin, PathBuf::from);
    let runtimes = [
        Rt {
            name: "ours",
            argv: vec![ours_bin.to_string_lossy().into_owned()],
            root: t.dir.path().join("state-ours"),
            work: t.dir.path().to_path_buf(),
        },
        Rt {
            name: "gVisor",
            argv: ["/usr/bin/runsc", "--network=none", "--platform=ptrace"]
                .map(String::from)
                .to_vec(),
            root: t.dir.path().join("state-gvisor"),
            work: t.dir.path().to_path_buf(),
        },
    ];
    println!("checkpoint/restore of a guest holding N MiB of noise, ours vs gVisor (ptrace)");
    for &mib in &sizes {
        let mibs = mib.to_string();
        let bundle = t.busybox_bundle(
            &format!("noise{mib}"),
            &["/bin/memnoise", &mibs, PAGES_PER_TICK],
        );
        std::fs::copy(&guest, bundle.join("rootfs/bin/memnoise")).unwrap();
        let mut figs: Vec<Figures> = runtimes
            .iter()
            .take(if ours_only { 1 } else { 2 })
            .map(|rt| {
                measure(rt, mib, &bundle, &true_bundle).unwrap_or_else(|e| {
                    eprintln!("{e}");
                    std::process::exit(1)
                })
            })
            .collect();
        // Without gVisor its column is NaN.
        figs.resize(
            2,
            Figures {
                run_true: f64::NAN,
                checkpoint: f64::NAN,
                restore: f64::NAN,
                verified: f64::NAN,
                image_mib: f64::NAN,
                raw_write: f64::NAN,
                clones_pss_mib: f64::NAN,
                clones_rss_mib: f64::NAN,
                ..Default::default()
            },
        );
        let (o, g) = (&figs[0], &figs[1]);
        let ratio = |a: f64, b: f64| format!("{:.2}x", a / b);
        println!("\n{mib} MiB guest memory");
        println!(
            "  {:<34}{:>10}{:>10}{:>10}",
            "", "ours", "gVisor", "ours/gV"
        );
        let row = |what: &str, a: f64, b: f64, unit: &str| {
            println!(
                "  {what:<34}{:>8.0}{unit:<2}{:>8.0}{unit:<2}{:>10}",
                a,
                b,
                ratio(a, b)
            )
        };
        row("run /bin/true (reference)", o.run_true, g.run_true, "ms");
        row(
            "checkpoint (sandbox ends)",
            o.checkpoint,
            g.checkpoint,
            "ms",
        );
        row(
            "  raw write+fsync, same size & dir",
            o.raw_write,
            g.raw_write,
            "ms",
        );
        println!(
            "  {:<34}{:>10.2}{:>10.2}   (raw write time / checkpoint time)",
            "  checkpoint / raw bandwidth",
            o.raw_write / o.checkpoint,
            g.raw_write / g.checkpoint
        );
        println!(
            "  {:<34}{:>8.1}ms{:>10}{:>10}",
            "pause, checkpoint --leave-running",
            o.pause.unwrap_or(f64::NAN),
            "n/a",
            ""
        );
        println!(
            "  {:<34}{:>8.1}ms{:>10}   (the ticker's largest gap, same window, no checkpoint)",
            "  ticker alone",
            o.idle_gap.unwrap_or(f64::NAN),
            "n/a",
        );
        row("restore --detach (guest runs)", o.restore, g.restore, "ms");
        println!(
            "  {:<34}{:>8.0}ms{:>8.0}ms   (restore - run /bin/true)",
            "  over run /bin/true",
            o.restore - o.run_true,
            g.restore - g.run_true
        );
        row(
            "restore until memory verified",
            o.verified,
            g.verified,
            "ms",
        );
        let bg_restore = o.restore_bg.unwrap_or(f64::NAN);
        row(
            "restore --background (guest runs)",
            bg_restore,
            g.restore,
            "ms",
        );
        println!(
            "  {:<34}{:>8.0}ms{:>10}   (restore --background - run /bin/true)",
            "  over run /bin/true",
            bg_restore - o.run_true,
            ""
        );
        row(
            "  --background until verified",
            o.verified_bg.unwrap_or(f64::NAN),
            g.verified,
            "ms",
        );
        row("image size", o.image_mib, g.image_mib, "Mi");
        println!(
            "  {:<34}{:>10.3}{:>10.3}   (image / guest memory)",
            "",
            o.image_mib / mib as f64,
            g.image_mib / mib as f64
        );
        row(
            "8 clones, PSS together",
            o.clones_pss_mib,
            g.clones_pss_mib,
            "Mi",
        );
        row(
            "8 clones, RSS together",
            o.clones_rss_mib,
            g.clones_rss_mib,
            "Mi",
        );
    }
}
