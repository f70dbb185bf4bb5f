//! `runsc statefile inspect`: what a checkpoint image holds and where its bytes go, read
//! from a real checkpoint; a damaged image is one clear error.

use std::path::Path;

use tests::Runtime;

use tests::text;

fn inspect(rt: &Runtime, args: &[&str], img: &Path) -> std::process::Output {
    let mut a = vec!["statefile", "inspect"];
    a.extend_from_slice(args);
    a.push(img.to_str().unwrap());
    rt.run(&a)
}

#[test]
fn inspect_shows_where_an_images_bytes_go_and_refuses_a_damaged_one() {
    let rt = Runtime::new();
    // A shell waiting for a pipeline: three processes, one pipe.
    let bundle = rt.busybox_bundle("src", &["sh", "-c", "sleep 1000 | cat; true"]);
    let o = rt.run_to_files(
        "src",
        &[
            "run",
            "--detach",
            "--bundle",
            bundle.to_str().unwrap(),
            "src",
        ],
    );
    assert!(o.status.success(), "run: {}", o.stderr);
    let img = rt.dir.path().join("img");
    // Checkpoint (leaving it running) until the image shows the whole pipeline: the shell
    // has forked both sides and each has exec'd its program.
    let mut out = String::new();
    for _ in 0..100 {
        let _ = std::fs::remove_dir_all(&img);
        let o = rt.run(&[
            "checkpoint",
            "--leave-running",
            "--image-path",
            img.to_str().unwrap(),
            "src",
        ]);
        assert!(o.status.success(), "checkpoint: {}", text(&o));
        let o = inspect(&rt, &["--verify"], &img);
        assert!(o.status.success(), "inspect: {}", text(&o));
        out = String::from_utf8_lossy(&o.stdout).to_string();
        let space_of = |comm: &str| {
            out.lines()
                .any(|l| l.starts_with("  address space") && l.contains(&format!(" {comm}")))
        };
        if space_of("sleep") && space_of("cat") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(rt.run(&["delete", "--force", "src"]).status.success());

    let file = std::fs::metadata(img.join("checkpoint.img")).unwrap().len();
    assert!(out.contains("for container src;"), "{out}");
    assert!(out.contains("verified  every segment's crc32"), "{out}");
    assert!(out.contains("3 processes"), "{out}");
    assert!(out.contains("1 shared objects"), "the pipe: {out}");
    // Every process's address space is listed with what it holds, by mapping.
    for comm in ["sh", "sleep", "cat"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("  address space") && l.contains(&format!(" {comm}"))),
            "{comm}: {out}"
        );
    }
    assert!(out.contains("[stack]"), "{out}");
    // The sections add up to the file: the memory and state lines name sizes that are
    // not larger than the file itself.
    let sections = out.lines().find(|l| l.starts_with("sections")).unwrap();
    assert!(sections.contains("segments"), "{sections}");
    assert!(file > 4096, "{file}");

    // A flipped byte in guest memory: found with --verify, and named.
    let bad = rt.dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::copy(img.join("checkpoint.img"), bad.join("checkpoint.img")).unwrap();
    tests::corrupt_a_segment(&bad.join("checkpoint.img"));
    let o = inspect(&rt, &["--verify"], &bad);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("segment 0 checksum mismatch"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Without --verify the segments are not read, and the rest is intact.
    assert!(inspect(&rt, &[], &bad).status.success());

    // A truncated image: one error naming the file, no panic.
    let cut = rt.dir.path().join("cut");
    std::fs::create_dir(&cut).unwrap();
    let bytes = std::fs::read(img.join("checkpoint.img")).unwrap();
    std::fs::write(cut.join("checkpoint.img"), &bytes[..bytes.len() / 2]).unwrap();
    let o = inspect(&rt, &[], &cut);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&cut.join("checkpoint.img").display().to_string()),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // Not an image at all, and a missing path.
    let o = inspect(&rt, &[], &bundle.join("config.json"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = inspect(&rt, &[], &rt.dir.path().join("missing"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}
