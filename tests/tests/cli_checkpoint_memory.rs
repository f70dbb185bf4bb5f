//! Guest memory across checkpoint and restore through the runsc binary: a
//! `checkpoint --leave-running` taken while the guest keeps rewriting its memory (the
//! image is written while the guest runs) restores to exactly the memory of the moment
//! it was taken, and several clones restored from one image run side by side, each with
//! its own memory. The guest (`tests/guest/memnoise.c`) checks every page itself.

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
    let bundle = memnoise_bundle(&rt, "ended", 64, 64);
    run_detached(&rt, "ended", &bundle);
    let image = rt.dir.path().join("image");
    checkpoint(&rt, "ended", &image, false);
    assert_eq!(rt.status("ended").as_deref(), Some("stopped"));
    // Complete and on disk when checkpoint returned: it restores.
    restore(&rt, "again", &bundle, &image);
    assert_verified(&rt, "again");
}

#[test]
fn clones_restored_from_one_image_run_side_by_side_each_with_its_own_memory() {
    let rt = Runtime::new();
    let bundle = memnoise_bundle(&rt, "origin", 32, 16);
    run_detached(&rt, "origin", &bundle);
    let image = rt.dir.path().join("image");
    checkpoint(&rt, "origin", &image, false);
    let clones: Vec<String> = (0..4).map(|i| format!("clone{i}")).collect();
    std::thread::scope(|s| {
        for id in &clones {
            let (rt, bundle, image) = (&rt, &bundle, &image);
            s.spawn(move || restore(rt, id, bundle, image));
        }
    });
    for id in &clones {
        assert_verified(&rt, id);
    }
    // One clone going away leaves the others whole.
    let o = rt.run(&["kill", &clones[0], "KILL"]);
    assert!(o.status.success(), "kill: {o:?}");
    for id in &clones[1..] {
        assert_verified(&rt, id);
    }
}
