//! Kernel objects of the Linux issue across checkpoint and restore through the runsc
//! binary: file locks (held and waited for), each checked by a static guest
//! (tests/guest/*_cr.c) that sets the state, prints "ready", waits for /tmp/go (made by
//! `runsc exec` after the restore) and prints what it finds.

use tests::{text, Runtime};

mod common;

/// Runs guest `name` with `args` in a busybox container `id` (with an empty /work in its
/// rootfs), checkpoints it once it is ready, restores it as `ID2`, lets it go on and
/// returns what it printed after the restore (the restored container's stdout).
fn across_a_checkpoint(name: &str, id: &str, args: &[&str]) -> String {
    let rt = Runtime::new();
    let guest = format!("/bin/{name}");
    let mut argv = vec![guest.as_str()];
    argv.extend_from_slice(args);
    let bundle = rt.busybox_bundle(id, &argv);
    std::fs::copy(common::guest(name), bundle.join("rootfs").join(&guest[1..])).unwrap();
    std::fs::create_dir(bundle.join("rootfs/work")).unwrap();
    let o = rt.run_to_files(
        id,
        &["run", "--detach", "--bundle", bundle.to_str().unwrap(), id],
    );
    assert!(o.status.success(), "run: {}", o.stderr);
    let out = rt.wait_for_output(id, "ready\n", 20);
    assert!(out.ends_with("ready\n"), "{out}");

    let img = rt.dir.path().join("img");
    let o = rt.run(&["checkpoint", "--image-path", img.to_str().unwrap(), id]);
    assert!(o.status.success(), "checkpoint: {}", text(&o));
    let id2 = format!("{id}2");
    let o = rt.restore_to_files(&id2, &id2, &bundle, &img);
    assert!(o.status.success(), "restore: {}", o.stderr);
    rt.let_go(&id2, "/tmp/go");
    let out = rt.wait_for_output(&id2, "done\n", 20);
    let _ = rt.run(&["delete", "--force", id]);
    let o = rt.run(&["delete", "--force", &id2]);
    assert!(o.status.success(), "{}", text(&o));
    out
}

#[test]
fn file_locks_and_their_waiters_survive_a_checkpoint() {
    // On the tmpfs /tmp and on the rootfs's /work: a record lock, an OFD lock and a flock
    // lock held before the checkpoint still conflict for a new process after the restore,
    // and a child parked in F_SETLKW before the checkpoint gets the lock once the holder
    // releases it.
    let out = across_a_checkpoint("locks_cr", "lcr", &["/tmp", "/work"]);
    let mut want = String::new();
    for d in ["/tmp", "/work"] {
        want += &format!(
            "{d} record: setlk EAGAIN\n{d} record: getlk type=write start=0 len=10 by=parent\n\
             {d} ofd: getlk type=write start=100 pid=-1\n{d} flock: EAGAIN\n"
        );
    }
    let (checks, rest) = out.split_at(want.len().min(out.len()));
    assert_eq!(checks, want, "{out}");
    // The waiters print as they get their locks, in either order.
    for d in ["/tmp", "/work"] {
        assert!(
            rest.contains(&format!("{d} waiter: 0 after go=1\n")),
            "{out}"
        );
    }
    assert!(rest.ends_with("done\n"), "{out}");
}

#[test]
fn timerfds_keep_their_time_left_and_expirations_across_a_checkpoint() {
    // An expired timer not read still has its expiration; a timer a minute away is not
    // restarted (less than a minute left, more than 40 s); timers due after the restore
    // expire there, and a child parked reading one before the checkpoint reads it after.
    let out = across_a_checkpoint("timerfd_cr", "tcr", &[]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "child: waited 1, after go=1",
            "done",
            "expired: 1",
            "minute: left in [40s,60s)=1, not expired=1",
            "periodic: some=1",
            "second: 1",
        ],
        "{out}"
    );
}

#[test]
fn posix_timers_keep_their_time_left_and_go_on_firing_across_a_checkpoint() {
    // A periodic timer goes on signalling its handler after the restore; a one-shot timer
    // a minute away keeps what was left (less than a minute, more than 40 s); a one-shot
    // timer due after the restore fires there with its value; a periodic timer whose
    // blocked signal was queued before the checkpoint still has it queued once, with the
    // overruns of both sides; a silent periodic timer still shows its next period.
    let out = across_a_checkpoint("posix_timers_cr", "ptcr", &[]);
    assert_eq!(
        out,
        "periodic: goes on=1\n\
         minute: left in [40s,60s)=1\n\
         second: fired=1 code=-2 value=7 left=0\n\
         queued: once=1 value=9 overruns>5=1\n\
         queued: getoverrun is si_overrun=1\n\
         silent: left in [0,30ms]=1\n\
         done\n"
    );
}

#[test]
fn signalfds_keep_their_mask_and_readers_across_a_checkpoint() {
    // A signal queued with a value before the checkpoint is read after it, the mask still
    // holds both signals, and a child parked reading its own signalfd gets the signal sent
    // after the restore.
    let out = across_a_checkpoint("signalfd_cr", "scr", &[]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "child: 128 signo=12 int=9 after go=1",
            "done",
            "mask kept: 128 signo=12",
            "queued before: 128 signo=10 int=7",
        ],
        "{out}"
    );
}

#[test]
fn epoll_edges_and_waiters_survive_a_checkpoint() {
    // An edge-triggered interest whose change was reported before the checkpoint stays
    // quiet after the restore and one whose change was not reported fires once; a
    // level-triggered one keeps firing, a oneshot one that fired stays disarmed, and a
    // child parked in epoll_wait wakes on data written after the restore: as natively.
    let out = across_a_checkpoint("epoll_cr", "ecr", &[]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "child: n=1 5",
            "done",
            "new data: n=1 1",
            "reported before: n=0",
            "unreported again: n=1 3",
            "unreported before: n=2 2 3",
        ],
        "{out}"
    );
}

#[test]
fn signal_driven_io_keeps_its_owner_signal_and_fd_across_a_checkpoint() {
    // O_ASYNC, the owner (a process, a process group), F_SETSIG and the fd O_ASYNC was set
    // through (since closed, a dup remaining) are kept: data written after the restore
    // signals as before.
    let out = across_a_checkpoint("sigio_cr", "sio", &[]);
    assert_eq!(
        out,
        "kept: sig=1 async=1 owner=1 socket owner type=2 is_pgrp=1\n\
         pipe: count=1 sig=10 code=1 fd is the closed one=1\n\
         socket: count=1 sig=29\n\
         done\n"
    );
}
