//! Guest memory across checkpoint and restore through the runsc binary: a
//! `checkpoint --leave-running` taken while the guest keeps rewriting its memory (the
//! image is written while the guest runs) restores to exactly the memory of the moment
//! it was taken, and several clones restored from one image run side by side, each with
//! its own memory (16 restored at once); every restore runs the guest before its memory
//! is checked and the guest still finds every page; a bad segment found after the start
//! ends the sandbox naming it (with `--background`: costs the guest that touches it a
//! SIGBUS), never wrong bytes. Clones restored from one
//! image share its pages (mapped from the image, read-only) until they write them, and
//! what each writes stays its own: the image file never changes. The guest
//! (`tests/guest/memnoise.c`) checks every page itself.

mod common;

use std::path::{Path, PathBuf};

use tests::Runtime;

/// A bundle `id` whose init is `memnoise MIB PAGES_PER_TICK`.
fn memnoise_bundle(rt: &Runtime, id: &str, mib: u32, per_tick: u32) -> PathBuf {
    let (mib, per_tick) = (mib.to_string(), per_tick.to_string());
    let bundle = rt.busybox_bundle(id, &["/bin/memnoise", &mib, &per_tick]);
    std::fs::copy(
        common::guest("memnoise"),
        bundle.join("rootfs/bin/memnoise"),
    )
    .unwrap();
    bundle
}

fn run_detached(rt: &Runtime, id: &str, bundle: &Path) {
    let o = rt.run_to_files(
        id,
        &["run", "--detach", "--bundle", bundle.to_str().unwrap(), id],
    );
    assert!(o.status.success(), "run {id}: {}", o.stderr);
    let out = rt.wait_for_output(id, "ready", 60);
    assert!(
        out.contains("ready"),
        "{id} did not fill its memory: {out:?}"
    );
}

fn restore(rt: &Runtime, id: &str, bundle: &Path, image: &Path) {
    let o = rt.restore_to_files(id, id, bundle, image);
    assert!(o.status.success(), "restore {id}: {}", o.stderr);
}

/// `restore --background --detach`: the guest runs before its memory is loaded.
fn restore_on_demand(rt: &Runtime, id: &str, bundle: &Path, image: &Path) {
    restore_on_demand_logged(
        rt,
        id,
        bundle,
        image,
        &rt.dir.path().join(format!("{id}.log")),
    );
}

/// `restore_on_demand`, logging to `log`.
fn restore_on_demand_logged(rt: &Runtime, id: &str, bundle: &Path, image: &Path, log: &Path) {
    let o = rt.run_to_files(
        id,
        &[
            "--log",
            log.to_str().unwrap(),
            "restore",
            "--background",
            "--detach",
            "--image-path",
            image.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            id,
        ],
    );
    assert!(
        o.status.success(),
        "restore --background {id}: {}",
        o.stderr
    );
}

/// A guest `id` holding `mib` MiB of noise (rewriting `per_tick` pages a tick), run
/// until its memory is filled, then checkpointed (ending it): its bundle and the image.
fn checkpointed(rt: &Runtime, id: &str, mib: u32, per_tick: u32) -> (PathBuf, PathBuf) {
    let bundle = memnoise_bundle(rt, id, mib, per_tick);
    run_detached(rt, id, &bundle);
    let image = rt.dir.path().join("image");
    checkpoint(rt, id, &image, false);
    (bundle, image)
}

/// `checkpoint [--leave-running] --image-path IMAGE ID`, which must succeed.
fn checkpoint(rt: &Runtime, id: &str, image: &Path, leave_running: bool) {
    let mut args = vec!["checkpoint", "--image-path", image.to_str().unwrap()];
    if leave_running {
        args.push("--leave-running");
    }
    args.push(id);
    let o = rt.run_with_timeout(&args, 120);
    assert!(o.status.success(), "checkpoint of {id}: {o:?}");
}

/// Asks the guest `id` to check all of its memory; returns its answer.
fn verify(rt: &Runtime, id: &str) -> String {
    let before = rt.output_of(id).matches("verified").count();
    let o = rt.run(&["kill", id, "USR1"]);
    assert!(o.status.success(), "kill {id}: {o:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = rt.output_of(id);
        if out.contains("CORRUPT") || out.matches("verified").count() > before {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} did not answer: {out:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Every clone's memory is whole, and still is in the others once the first is killed.
fn clones_whole(rt: &Runtime, clones: &[String]) {
    for id in clones {
        assert_verified(rt, id);
    }
    let o = rt.run(&["kill", &clones[0], "KILL"]);
    assert!(o.status.success(), "kill: {o:?}");
    for id in &clones[1..] {
        assert_verified(rt, id);
    }
}

fn assert_verified(rt: &Runtime, id: &str) {
    let out = verify(rt, id);
    assert!(
        !out.contains("CORRUPT") && out.contains("verified"),
        "{id}: {out}"
    );
}

#[test]
fn a_leave_running_checkpoint_of_a_guest_rewriting_its_memory_restores_its_memory_exactly() {
    let rt = Runtime::new();
    // 128 MiB, 128 pages (512 KiB) rewritten every 2 ms tick: the guest changes many
    // pages while the image is being written.
    let bundle = memnoise_bundle(&rt, "writer", 128, 128);
    run_detached(&rt, "writer", &bundle);
    let image = rt.dir.path().join("image");
    for round in 0..2 {
        checkpoint(&rt, "writer", &image, true);
        // The original runs on, its memory whole.
        assert_verified(&rt, "writer");
        let id = format!("copy{round}");
        restore(&rt, &id, &bundle, &image);
        assert_verified(&rt, &id);
        let o = rt.run(&["kill", &id, "KILL"]);
        assert!(o.status.success(), "kill {id}: {o:?}");
    }
}

#[test]
fn a_checkpoint_that_ends_the_sandbox_leaves_a_complete_image() {
    let rt = Runtime::new();
    let (bundle, image) = checkpointed(&rt, "ended", 64, 64);
    assert_eq!(rt.status("ended").as_deref(), Some("stopped"));
    // Complete and on disk when checkpoint returned: it restores.
    restore(&rt, "again", &bundle, &image);
    assert_verified(&rt, "again");
}

#[test]
fn sixteen_clones_restored_at_once_from_one_image_each_have_their_own_memory() {
    let rt = Runtime::new();
    // Small guests (16 clones on a 2-CPU machine): 64 MiB, one page rewritten every 2 ms
    // tick (round-robin), so that each clone holds pages of its own at once and still
    // shares most of the image for the 30 s it takes to write all of its memory (each
    // write copies the MiB around it).
    let (bundle, image) = checkpointed(&rt, "origin", 64, 1);
    let file = image.join("checkpoint.img");
    let bytes = std::fs::read(&file).unwrap();
    let clones: Vec<String> = (0..16).map(|i| format!("clone{i}")).collect();
    // All 16 `runsc restore` at once.
    std::thread::scope(|s| {
        for id in &clones {
            let (rt, bundle, image) = (&rt, &bundle, &image);
            s.spawn(move || restore(rt, id, bundle, image));
        }
    });
    for id in &clones {
        assert_eq!(rt.status(id).as_deref(), Some("running"), "{id}");
        // Each maps the one image's pages rather than holding a copy.
        let kib = image_mapped_kib(&rt, id, "checkpoint.img");
        assert!(kib > 0, "{id} does not share the image");
    }
    // Each one's memory is whole (its own checks of every page), and stays so in the
    // others when one is killed; none of their writes reached the image.
    clones_whole(&rt, &clones);
    assert!(
        std::fs::read(&file).unwrap() == bytes,
        "the image file changed under its clones"
    );
    for id in &clones[1..] {
        let _ = rt.run(&["kill", id, "KILL"]);
    }
}

#[test]
fn a_guest_restored_on_demand_finds_all_of_its_memory_and_can_be_checkpointed_again() {
    let rt = Runtime::new();
    let (bundle, image) = checkpointed(&rt, "first", 64, 16);
    restore_on_demand(&rt, "lazy", &bundle, &image);
    assert_verified(&rt, "lazy");
    // Checkpointed again (whatever of its memory was still loading is loaded first),
    // the copy restores whole, on demand too.
    let again = rt.dir.path().join("again");
    checkpoint(&rt, "lazy", &again, true);
    assert_verified(&rt, "lazy");
    restore_on_demand(&rt, "lazy2", &bundle, &again);
    assert_verified(&rt, "lazy2");
    // Clones restored on demand from one image are independent.
    let clones: Vec<String> = (0..3).map(|i| format!("clone{i}")).collect();
    std::thread::scope(|s| {
        for id in &clones {
            let (rt, bundle, image) = (&rt, &bundle, &image);
            s.spawn(move || restore_on_demand(rt, id, bundle, image));
        }
    });
    let o = rt.run(&["kill", &clones[0], "KILL"]);
    assert!(o.status.success(), "kill: {o:?}");
    for id in &clones[1..] {
        assert_verified(&rt, id);
    }
    for id in ["lazy", "lazy2", &clones[1], &clones[2]] {
        let _ = rt.run(&["kill", id, "KILL"]);
    }
}

/// A shell counting in a loop (each step forks and execs sleep), checkpointed, goes on
/// from where it was once restored by `restore_it(rt, id, bundle, image)`.
fn a_restored_shell_goes_on_forking(restore_it: fn(&Runtime, &str, &Path, &Path)) {
    let rt = Runtime::new();
    let bundle = rt.run_detached(
        "counter",
        &[
            "/bin/sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo n$i; sleep 0.05; done",
        ],
    );
    rt.wait_for_output("counter", "n3", 30);
    let image = rt.dir.path().join("image");
    checkpoint(&rt, "counter", &image, false);
    let before = rt.output_of("counter");
    let last: u64 = before
        .lines()
        .filter_map(|l| l.strip_prefix('n')?.parse().ok())
        .max()
        .expect("counted");
    restore_it(&rt, "resumed", &bundle, &image);
    let want = format!("n{}", last + 3);
    let out = rt.wait_for_output("resumed", &want, 30);
    assert!(out.contains(&want), "resumed: {out:?} (stopped at n{last})");
    assert!(!out.contains("n1\n"), "started over: {out:?}");
    let _ = rt.run(&["kill", "resumed", "KILL"]);
}

#[test]
fn a_shell_restored_on_demand_goes_on_forking() {
    a_restored_shell_goes_on_forking(restore_on_demand);
}

#[test]
fn a_bad_segment_found_after_an_on_demand_restore_is_a_sigbus_never_wrong_bytes() {
    let rt = Runtime::new();
    let (bundle, image) = checkpointed(&rt, "origin", 32, 0);
    // A segment of the noise (most of the memory): the guest runs, then meets it.
    let bad = tests::corrupt_segment(&image.join("checkpoint.img"), |n| n / 2);
    let log = rt.dir.path().join("damaged.log");
    restore_on_demand_logged(&rt, "damaged", &bundle, &image, &log);
    let o = rt.run(&["kill", "damaged", "USR1"]);
    assert!(o.status.success(), "kill: {o:?}");
    assert_eq!(
        rt.wait_for_status("damaged", "stopped", 60).as_deref(),
        Some("stopped"),
        "the guest reading the bad segment ends"
    );
    let out = rt.output_of("damaged");
    assert!(
        !out.contains("verified") && !out.contains("CORRUPT"),
        "the guest saw bytes of a bad segment: {out:?}"
    );
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        err.contains(&format!("segment {bad} checksum mismatch")),
        "segment {bad} is not named: {err:?}"
    );
}

/// KiB of the image file `name` (a file name) mapped by the processes of sandbox `id`
/// (the sandbox and its stubs, its descendants).
fn image_mapped_kib(rt: &Runtime, id: &str, name: &str) -> u64 {
    let pid = rt
        .state(id)
        .and_then(|s| s.get("pid").as_f64())
        .expect("sandbox pid") as i32;
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let kids = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children", p = all[i]))
            .unwrap_or_default();
        all.extend(
            kids.split_whitespace()
                .filter_map(|k| k.parse::<i32>().ok()),
        );
        i += 1;
    }
    let mut kib = 0;
    for p in &all[1..] {
        let maps = std::fs::read_to_string(format!("/proc/{p}/maps")).unwrap_or_default();
        for l in maps.lines().filter(|l| l.ends_with(name)) {
            let range = l.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = range.split_once('-') {
                let a = u64::from_str_radix(a, 16).unwrap_or(0);
                let b = u64::from_str_radix(b, 16).unwrap_or(0);
                kib += b.saturating_sub(a) / 1024;
            }
        }
    }
    kib
}

#[test]
fn clones_share_the_image_pages_and_what_each_writes_stays_its_own() {
    let rt = Runtime::new();
    // 64 MiB, 16 pages (64 KiB) rewritten every 2 ms tick.
    let (bundle, image) = checkpointed(&rt, "origin", 64, 16);
    let file = image.join("checkpoint.img");
    let bytes = std::fs::read(&file).unwrap();
    let clones: Vec<String> = (0..3).map(|i| format!("clone{i}")).collect();
    for id in &clones {
        restore(&rt, id, &bundle, &image);
        // The guest's pages are the image's (its stubs map them), not copies; it has
        // rewritten a few MiB of them at most by now.
        let kib = image_mapped_kib(&rt, id, "checkpoint.img");
        assert!(kib >= 16 << 10, "{id} maps {kib} KiB of the image");
    }
    // Each rewrites its pages (every one within 2 s): its own, as its check says.
    std::thread::sleep(std::time::Duration::from_secs(2));
    clones_whole(&rt, &clones);
    assert!(
        std::fs::read(&file).unwrap() == bytes,
        "the image file changed under its clones"
    );
    // A checkpoint of a clone (part of its memory still the image's) restores whole,
    // itself sharing its image.
    let again = rt.dir.path().join("again");
    checkpoint(&rt, &clones[1], &again, true);
    assert_verified(&rt, &clones[1]);
    restore(&rt, "again", &bundle, &again);
    assert_verified(&rt, "again");
    for id in ["again", &clones[1], &clones[2]] {
        let _ = rt.run(&["kill", id, "KILL"]);
    }
}

#[test]
fn an_image_others_than_root_may_change_is_copied_not_shared() {
    use std::os::unix::fs::PermissionsExt;
    let rt = Runtime::new();
    let (bundle, image) = checkpointed(&rt, "origin", 16, 16);
    let file = image.join("checkpoint.img");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
    restore(&rt, "copied", &bundle, &image);
    assert_eq!(image_mapped_kib(&rt, "copied", "checkpoint.img"), 0);
    assert_verified(&rt, "copied");
    let _ = rt.run(&["kill", "copied", "KILL"]);
}

#[test]
fn a_shell_restored_sharing_its_image_goes_on_forking() {
    // The restored processes' pages, and those of the children they fork, are the
    // image's until written.
    a_restored_shell_goes_on_forking(|rt, id, bundle, image| {
        restore(rt, id, bundle, image);
        assert!(image_mapped_kib(rt, id, "checkpoint.img") > 0);
    });
}

#[test]
fn a_bad_segment_ends_a_restore_naming_it_and_the_guest_never_reads_its_bytes() {
    let rt = Runtime::new();
    // 64 MiB: the guest runs before the background loader reaches the middle.
    let (bundle, image) = checkpointed(&rt, "origin", 64, 0);
    // A segment of the noise, in a run of image pages that would be shared.
    let file = image.join("checkpoint.img");
    let bad = tests::corrupt_segment(&file, |n| n / 2);
    // In the foreground: found before the guest runs (the restore fails) or after (the
    // sandbox ends): either way runsc fails with the same error, and nothing is left.
    let o = rt.run_with_timeout(
        &[
            "restore",
            "--image-path",
            image.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            "damaged",
        ],
        60,
    );
    let _ = rt.run(&["kill", "damaged", "KILL"]);
    let _ = rt.run(&["delete", "--force", "damaged"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(!o.status.success(), "restored from a bad image: {o:?}");
    assert_eq!(
        tests::the_error(&err),
        format!(
            "restore of container damaged: restoring from {}: reading the checkpoint image: \
             segment {bad} checksum mismatch",
            file.display()
        )
    );
    assert!(
        !out.contains("CORRUPT"),
        "the guest saw bytes of a bad segment: {out:?}"
    );
    assert!(
        rt.state("damaged").is_none(),
        "a failed restore leaves nothing"
    );
}

#[test]
fn a_bad_segment_found_while_the_guest_runs_ends_it_never_wrong_bytes() {
    let rt = Runtime::new();
    // The guest touches the middle of its memory at once (it checks every page on
    // SIGUSR1), before the background loader gets there: the segment is met by the
    // guest's fault or by the loader, and either ends the sandbox.
    let (bundle, image) = checkpointed(&rt, "origin", 64, 0);
    let bad = tests::corrupt_segment(&image.join("checkpoint.img"), |n| n - 1);
    let o = rt.restore_to_files("damaged", "damaged", &bundle, &image);
    if o.status.success() {
        // The guest ran: it is ended, its checks never pass nor see the bad bytes.
        let _ = rt.run(&["kill", "damaged", "USR1"]);
        assert_eq!(
            rt.wait_for_status("damaged", "stopped", 60).as_deref(),
            Some("stopped"),
            "the sandbox goes on with a bad segment"
        );
        let w = rt.run(&["wait", "damaged"]);
        let err = String::from_utf8_lossy(&w.stderr);
        assert!(
            err.contains(&format!("segment {bad} checksum mismatch")),
            "segment {bad} is not named: {err:?}"
        );
        let _ = rt.run(&["delete", "--force", "damaged"]);
    } else {
        assert!(
            o.stderr
                .contains(&format!("segment {bad} checksum mismatch")),
            "{}",
            o.stderr
        );
    }
    let out = rt.output_of("damaged");
    assert!(
        !out.contains("verified") && !out.contains("CORRUPT"),
        "the guest saw bytes of a bad segment: {out:?}"
    );
}
