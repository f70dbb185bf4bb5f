//! Hostile checkpoint images: a real image of a busybox container, decoded with the
//! sentry's saved types, changed in one place and written again with the statefile crate
//! (so every checksum is valid), then handed to `runsc restore` as a user would. Each must
//! be refused with an error that names what is wrong, leave no container or sandbox
//! behind, and touch nothing on the host.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sentry::state::Xattr;
use sentry::state::{FileIdentity, GhostExtent, GhostFile, HostFileState};
use sentry::state::{FileKindState, FileState, KernelState, Timestamp, TmpfsEntry, TmpfsNode};
use tests::Runtime;

/// A checkpoint of a busybox shell sleeping with a file in its /tmp tmpfs: its metadata,
/// state, and memory (allocated ranges with their bytes).
struct Original {
    meta: statefile::Metadata,
    state: KernelState,
    memory: Vec<(u64, Vec<u8>)>,
}

fn original() -> &'static Original {
    static IMG: OnceLock<Original> = OnceLock::new();
    IMG.get_or_init(|| {
        let rt = Runtime::new();
        let bundle = rt.busybox_bundle(
            "orig",
            &["sh", "-c", "echo kept > /tmp/f; echo ready; sleep 1000"],
        );
        let o = rt.run_to_files(
            "orig",
            &[
                "run",
                "--detach",
                "--bundle",
                bundle.to_str().unwrap(),
                "orig",
            ],
        );
        assert!(o.status.success(), "run: {}", o.stderr);
        assert!(rt.wait_for_output("orig", "ready", 20).contains("ready"));
        let img = rt.dir.path().join("img");
        let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), "orig"]);
        assert!(o.status.success(), "checkpoint: {o:?}");
        let image = statefile::Image::open(&img.join("checkpoint.img")).unwrap();
        let state: KernelState = image.state().unwrap();
        let mut memory: Vec<(u64, Vec<u8>)> = state
            .memory
            .iter()
            .map(|&(s, e, _)| (s, vec![0u8; (e - s) as usize]))
            .collect();
        for seg in image.segments() {
            let seg = seg.unwrap();
            let (start, buf) = memory
                .iter_mut()
                .find(|(s, b)| seg.memory_offset >= *s && seg.memory_offset < *s + b.len() as u64)
                .unwrap();
            let at = (seg.memory_offset - *start) as usize;
            buf[at..at + seg.data.len()].copy_from_slice(&seg.data);
        }
        let _ = rt.run(&["delete", "--force", "orig"]);
        Original {
            meta: image.metadata().clone(),
            state,
            memory,
        }
    })
}

/// Writes `state` (with the original's metadata and memory) as `DIR/checkpoint.img`.
fn write(dir: &Path, state: &KernelState) {
    let o = original();
    std::fs::create_dir_all(dir).unwrap();
    let ranges = o.memory.iter().map(|(s, b)| (*s, b.as_slice()));
    statefile::write_image(dir, &o.meta, state, ranges).unwrap();
}

/// Restores `image` into a new container of `bundle`; returns its stderr, after checking
/// that it failed and left no container and no sandbox process.
fn refused(rt: &Runtime, bundle: &Path, image: &Path) -> String {
    let o = rt.restore_to_files("restore", "hostile", bundle, image);
    assert!(!o.status.success(), "the image was restored");
    let list = rt.run(&["list", "-q"]);
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).trim(),
        "",
        "a container was left"
    );
    assert!(rt.sandbox_pids().is_empty(), "a sandbox was left");
    o.stderr
}

fn restore_changed(change: impl FnOnce(&mut KernelState)) -> String {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("b", &["sleep", "1000"]);
    let mut st = original().state.clone();
    change(&mut st);
    let img = rt.dir.path().join("img");
    write(&img, &st);
    refused(&rt, &bundle, &img)
}

fn assert_names(err: &str, what: &[&str]) {
    for w in what {
        assert!(err.contains(w), "the error does not say {w:?}: {err}");
    }
}

/// The saved /tmp tmpfs.
fn tmp_mount(st: &mut KernelState) -> &mut Vec<TmpfsEntry> {
    &mut st
        .mounts
        .iter_mut()
        .find(|m| m.at == ["tmp"])
        .expect("the image has /tmp")
        .contents
}

/// A tmpfs entry of inode `ino` (one name, saved times of 2001).
fn entry(path: &str, ino: u64, mode: u32, node: TmpfsNode) -> TmpfsEntry {
    let t = Timestamp {
        sec: 1_000_000_000,
        nsec: 0,
    };
    TmpfsEntry {
        path: path.into(),
        ino,
        mode,
        uid: 0,
        gid: 0,
        nlink: 1,
        atime: t,
        mtime: t,
        ctime: t,
        node,
        xattrs: vec![],
    }
}

/// An inode number no entry of the original image has.
fn new_ino(path: &str) -> u64 {
    1_000_000 + path.len() as u64
}

fn file_entry(path: &str, mode: u32, data: &[u8]) -> TmpfsEntry {
    entry(
        path,
        new_ino(path),
        mode,
        TmpfsNode::File {
            size: data.len() as u64,
            extents: vec![GhostExtent {
                offset: 0,
                data: data.to_vec(),
            }],
        },
    )
}

fn link_entry(path: &str, target: &Path) -> TmpfsEntry {
    entry(
        path,
        new_ino(path) + 7,
        0o777,
        TmpfsNode::Symlink(target.display().to_string()),
    )
}

/// A host file the attacks aim at, and a check that it is as it was.
struct Victim {
    dir: tests::TempDir,
    file: PathBuf,
}

impl Victim {
    fn new() -> Victim {
        let dir = tests::TempDir::new("victim");
        let file = dir.path().join("victim");
        std::fs::write(&file, b"host data\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        Victim { dir, file }
    }

    fn untouched(&self) {
        assert_eq!(std::fs::read(&self.file).unwrap(), b"host data\n");
        let mode = std::fs::metadata(&self.file).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o644, "the victim's mode changed");
        let names: Vec<_> = std::fs::read_dir(self.dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "something was created beside the victim");
    }
}

#[test]
fn a_tmpfs_symlink_then_a_file_of_the_same_name_is_refused() {
    let v = Victim::new();
    let err = restore_changed(|st| {
        let t = tmp_mount(st);
        t.push(link_entry("evil", &v.file));
        t.push(file_entry("evil", 0o4777, b"owned\n"));
    });
    assert_names(&err, &["mount /tmp", "\"evil\" appears twice"]);
    v.untouched();
}

#[test]
fn a_tmpfs_symlink_to_a_host_directory_then_a_file_below_it_is_refused() {
    let v = Victim::new();
    let err = restore_changed(|st| {
        let t = tmp_mount(st);
        t.push(link_entry("dir", v.dir.path()));
        t.push(file_entry("dir/victim", 0o4777, b"owned\n"));
        t.push(file_entry("dir/new", 0o644, b"new\n"));
    });
    assert_names(&err, &["mount /tmp", "dir/victim"]);
    v.untouched();
}

#[test]
fn tmpfs_paths_that_climb_out_are_refused() {
    for path in ["../../../victim", "/etc/victim", "a/../../victim"] {
        let err = restore_changed(|st| tmp_mount(st).push(file_entry(path, 0o644, b"x")));
        assert_names(&err, &["mount /tmp", "is not a clean relative path"]);
    }
}

/// The saved /tmp's file `f` (the original's `echo kept > /tmp/f`).
fn saved_f(t: &mut [TmpfsEntry]) -> &mut TmpfsEntry {
    t.iter_mut()
        .find(|e| e.path == "f")
        .expect("/tmp/f is saved")
}

#[test]
fn tmpfs_inodes_that_do_not_add_up_are_refused() {
    type Change = Box<dyn Fn(&mut Vec<TmpfsEntry>)>;
    let xattr = |name: &str, len: usize| Xattr {
        name: name.as_bytes().to_vec(),
        value: vec![b'v'; len],
    };
    let cases: [(Change, &str); 8] = [
        (
            Box::new(|t| saved_f(t).nlink = 5),
            "entry link count 5 is saved, but \"f\" has 1 names",
        ),
        (
            Box::new(|t| t.push(entry("g", 424242, 0o644, TmpfsNode::Link))),
            "\"g\" is another name of inode 424242, which no earlier entry saves",
        ),
        (
            Box::new(|t| {
                let ino = saved_f(t).ino;
                t.push(entry("p", ino, 0o644, TmpfsNode::Fifo));
            }),
            "\"p\" saves inode",
        ),
        (
            Box::new(|t| {
                saved_f(t).mtime = Timestamp {
                    sec: i64::MAX,
                    nsec: (1 << 30) - 1, // UTIME_NOW
                }
            }),
            "entry time mtime 9223372036854775807.1073741823 of \"f\" is not a time",
        ),
        (
            Box::new(|t| saved_f(t).ino = 0),
            "entry inode number 0 of \"f\" is no inode",
        ),
        // File capabilities on a host file of the sandbox's tmpfs: never.
        (
            Box::new(move |t| saved_f(t).xattrs = vec![xattr("security.capability", 20)]),
            "\"security.capability\" is not of the user namespace",
        ),
        (
            Box::new(move |t| saved_f(t).xattrs = vec![xattr("user.big", 65537)]),
            "\"user.big\" has a value of 65537 bytes",
        ),
        (
            Box::new(move |t| saved_f(t).xattrs = vec![xattr("user.a", 1), xattr("user.a", 2)]),
            "\"user.a\" is saved twice",
        ),
    ];
    for (change, says) in cases {
        let err = restore_changed(|st| change(tmp_mount(st)));
        assert_names(&err, &["mount /tmp", says]);
    }
}

#[test]
fn a_tmpfs_in_the_image_over_a_bind_mount_in_the_bundle_is_refused() {
    // The bundle binds a host directory at /tmp: the image's tmpfs tree must not be
    // written into it.
    let v = Victim::new();
    for ro in [false, true] {
        let rt = Runtime::new();
        let bundle = rt.busybox_bundle("b", &["sleep", "1000"]);
        let config = bundle.join("config.json");
        let text = std::fs::read_to_string(&config).unwrap();
        let bind = format!(
            r#"{{"destination": "/tmp", "type": "bind", "source": "{}", "options": ["rbind"{}]}}"#,
            v.dir.path().display(),
            if ro { r#", "ro""# } else { "" }
        );
        let text = text.replace(
            r#"{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}"#,
            &bind,
        );
        std::fs::write(&config, text).unwrap();
        let mut st = original().state.clone();
        tmp_mount(&mut st).push(file_entry("victim", 0o4777, b"owned\n"));
        let img = rt.dir.path().join("img");
        write(&img, &st);
        let err = refused(&rt, &bundle, &img);
        assert_names(
            &err,
            &["/tmp is a tmpfs mount in the image but a bind mount here"],
        );
        v.untouched();
    }
}

#[test]
fn the_rootfs_called_a_tmpfs_is_refused() {
    let err = restore_changed(|st| {
        let root = st.mounts.iter_mut().find(|m| m.at.is_empty()).unwrap();
        root.kind = sentry::state::MountKindState::Tmpfs;
        root.fstype = "tmpfs".into();
        root.contents
            .push(file_entry("bin/busybox", 0o4755, b"owned"));
    });
    assert_names(&err, &["mount /"]);
}

#[test]
fn a_read_only_mount_cannot_be_reopened_for_writing() {
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("b", &["sleep", "1000"]);
    let config = bundle.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(r#""readonly": false"#, r#""readonly": true"#),
    )
    .unwrap();
    let busybox = bundle.join("rootfs/bin/busybox");
    let before = std::fs::read(&busybox).unwrap();
    let mut st = original().state.clone();
    st.mounts
        .iter_mut()
        .find(|m| m.at.is_empty())
        .unwrap()
        .readonly = true;
    let id = st.files.iter().map(|f| f.id).max().unwrap() + 1;
    st.files.push(FileState {
        id,
        kind: FileKindState::Host(HostFileState {
            dir: false,
            offset: 0,
            identity: None,
            ghost: None,
            ghost_of: None,
        }),
        flags: 2, // O_RDWR
        pos: 0,
        path: "/bin/busybox".into(),
        async_io: Default::default(),
        opener: None,
    });
    st.fd_tables[0].fds.push((100, id, false));
    let img = rt.dir.path().join("img");
    write(&img, &st);
    let err = refused(&rt, &bundle, &img);
    assert_names(&err, &["reopening /bin/busybox", "Read-only file system"]);
    assert_eq!(std::fs::read(&busybox).unwrap(), before);
}

/// `st` with one more host file open at fd 100: `kind` at guest `path`, read-write.
fn with_host_file(st: &mut KernelState, path: &str, kind: HostFileState) {
    let id = st.files.iter().map(|f| f.id).max().unwrap() + 1;
    st.files.push(FileState {
        id,
        kind: FileKindState::Host(kind),
        flags: 2, // O_RDWR
        pos: 0,
        path: path.into(),
        async_io: Default::default(),
        opener: None,
    });
    st.fd_tables[0].fds.push((100, id, false));
}

fn ghost(size: u64, extents: Vec<GhostExtent>) -> HostFileState {
    HostFileState {
        dir: false,
        offset: 0,
        identity: None,
        ghost: Some(GhostFile {
            ino: 99,
            mode: 0o644,
            size,
            extents,
        }),
        ghost_of: None,
    }
}

#[test]
fn a_ghost_file_whose_data_ends_past_its_size_is_refused() {
    let err = restore_changed(|st| {
        let data = GhostExtent {
            offset: 10,
            data: vec![7; 4096],
        };
        with_host_file(st, "/tmp/g", ghost(100, vec![data]));
    });
    assert_names(
        &err,
        &["ghost extent at 10 of 4096 bytes ends past the size 100"],
    );
}

#[test]
fn a_ghost_file_with_a_path_out_of_the_sandbox_stays_inside_it() {
    let victim = Victim::new();
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("b", &["sleep", "1000"]);
    let mut st = original().state.clone();
    // A path climbing out, to the victim's directory on the host, and a huge (sparse)
    // size: the ghost is an unlinked file in the sandbox's own root, as large as a
    // guest's own ftruncate could make it.
    let path = format!("/../../..{}/g", victim.dir.path().display());
    let data = GhostExtent {
        offset: 0,
        data: b"ghost".to_vec(),
    };
    with_host_file(&mut st, &path, ghost(i64::MAX as u64 / 2, vec![data]));
    let img = rt.dir.path().join("img");
    write(&img, &st);
    let o = rt.restore_to_files("restore", "ghost", &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    victim.untouched();
    let mut names: Vec<_> = std::fs::read_dir(bundle.join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["bin", "dev", "etc", "proc", "sys", "tmp"]);
    assert!(rt.run(&["delete", "--force", "ghost"]).status.success());
}

#[test]
fn a_file_changed_since_the_checkpoint_is_refused_not_reopened() {
    let err = restore_changed(|st| {
        let mut kind = ghost(0, vec![]);
        kind.ghost = None;
        kind.identity = Some(FileIdentity { size: 1, mtime: 0 });
        with_host_file(st, "/bin/busybox", kind);
    });
    assert_names(
        &err,
        &["the file /bin/busybox changed since the checkpoint: size"],
    );
}

#[test]
fn a_kernel_address_in_fs_base_is_refused() {
    let err = restore_changed(|st| st.tasks[0].regs[21] = 0xffff_ffff_8100_0000);
    let tid = original().state.tasks[0].tid;
    assert_names(
        &err,
        &[&format!(
            "task {tid}: fs_base 0xffffffff81000000 is not a user address"
        )],
    );
}

#[test]
fn a_non_canonical_instruction_pointer_is_refused() {
    let err = restore_changed(|st| st.tasks[0].regs[16] = 0x8000_0000_0000);
    assert_names(&err, &["rip 0x800000000000 is not a user address"]);
}

#[test]
fn a_pid_of_minus_one_is_refused() {
    let err = restore_changed(|st| {
        let old = st.tasks[0].tid;
        st.tasks[0].tid = -1;
        for g in &mut st.thread_groups {
            for t in &mut g.threads {
                if *t == old {
                    *t = -1;
                }
            }
        }
    });
    assert_names(&err, &["task -1: tid -1 is not a valid pid"]);
}

#[test]
fn a_duplicated_task_is_refused() {
    let err = restore_changed(|st| {
        let t = st.tasks[0].clone();
        st.tasks.push(t);
    });
    let tid = original().state.tasks[0].tid;
    assert_names(&err, &[&format!("task {tid}: id appears twice")]);
}

#[test]
fn a_mapping_at_address_zero_is_refused() {
    let err = restore_changed(|st| {
        let off = st.memory[0].0;
        st.mms[0].vmas.insert(
            0,
            sentry::state::VmaState {
                start: 0,
                end: 0x1000,
                prot: 7,
                shared: false,
                off,
                name: String::new(),
                dontfork: false,
                file_pages: None,
                shm: None,
                past_end: false,
            },
        );
    });
    assert_names(&err, &["mapping 0x0-0x1000 is not inside the guest range"]);
}

#[test]
fn a_mapping_with_file_pages_or_an_object_outside_the_memory_file_is_refused() {
    let err = restore_changed(|st| {
        let end = st.memory.last().unwrap().1;
        let v = &mut st.mms[0].vmas[0];
        v.shared = false;
        v.file_pages = Some(end + 0x10_0000);
    });
    assert_names(&err, &["is not allocated memory of a private mapping"]);
    let err = restore_changed(|st| {
        let v = &mut st.mms[0].vmas[0];
        v.shared = true;
        // An object that does not hold the mapping's own pages.
        v.shm = Some((v.off + 0x1000_0000, 0x1000));
    });
    assert_names(
        &err,
        &["is not allocated memory holding the mapping's pages"],
    );
    let err = restore_changed(|st| {
        let v = &mut st.mms[0].vmas[0];
        v.shared = false;
        v.past_end = true;
    });
    assert_names(&err, &["pages past an object's end in a private mapping"]);
}

#[test]
fn a_mapping_past_the_memory_file_is_refused() {
    let err = restore_changed(|st| {
        let end = st.memory.last().unwrap().1;
        st.mms[0].vmas[0].off = end + 0x10_0000;
    });
    assert_names(&err, &["outside the image's memory"]);
}

#[test]
fn an_fd_past_the_limit_is_refused() {
    let err = restore_changed(|st| {
        let file = st.fd_tables[0].fds[0].1;
        st.fd_tables[0].fds.push((0x7fff_ffff, file, false));
    });
    assert_names(&err, &["fd 2147483647 is not below the limit"]);
}

#[test]
fn a_parent_that_does_not_exist_is_refused() {
    let err = restore_changed(|st| st.thread_groups[0].ppid = 4242);
    assert_names(&err, &["parent 4242 does not exist"]);
}

/// A state section of the right schema version whose bytes are not a kernel state.
#[derive(serde::Serialize)]
struct Wrong(Vec<u8>);

impl statefile::StateSchema for Wrong {
    const VERSION: u32 = sentry::state::STATE_SCHEMA;
}

#[test]
fn garbage_in_the_state_names_where_decoding_stopped() {
    // Valid checksums around state bytes that are not a kernel state.
    let rt = Runtime::new();
    let bundle = rt.busybox_bundle("b", &["sleep", "1000"]);
    let img = rt.dir.path().join("img");
    std::fs::create_dir_all(&img).unwrap();
    let o = original();
    let ranges = o.memory.iter().map(|(s, b)| (*s, b.as_slice()));
    statefile::write_image(&img, &o.meta, &Wrong(vec![1, 2, 3]), ranges).unwrap();
    let err = refused(&rt, &bundle, &img);
    assert_names(&err, &["cannot decode state at"]);
}

#[test]
fn a_requeue_pi_waiter_bound_for_no_address_space_is_refused() {
    use sentry::state::{FutexKeyState, RunStateState, WaiterState};
    let err = restore_changed(|st| {
        let tid = st
            .tasks
            .iter()
            .find(|t| matches!(t.state, RunStateState::Parked { .. }))
            .expect("a parked task")
            .tid;
        let mm = st.mms[0].id;
        st.futex_waiters.push(WaiterState {
            tid,
            key: FutexKeyState::Private { mm, addr: 0x1000 },
            bitset: u32::MAX,
            pi: false,
            requeue_pi: Some(FutexKeyState::Private {
                mm: 999_999,
                addr: 0x2000,
            }),
        });
    });
    assert_names(&err, &["futex waiter", "999999 does not exist"]);
}
