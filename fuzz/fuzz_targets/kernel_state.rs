//! Arbitrary bytes as the state section of a checkpoint image: decoded as the sentry's
//! kernel state and, when that succeeds, put through the restore validation pass that
//! stands between an image and every host call. Nothing may panic, hang or allocate
//! without bound; whatever validation accepts must hold together (every reference
//! resolves), which the assertions below check for the parts restore indexes blindly.
//!
//! Seeds: `fuzz/seeds-kernel-state/` holds the state sections of real checkpoints of a
//! busybox container: `busybox-sleep` (a shell exec'd into sleep, a file in its /tmp
//! tmpfs) and `busybox-pipeline` (`sleep 1000 | cat`: a pipe in the shared table, its two
//! ends, three fd tables).
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use sentry::state::{FileKindState, KernelState, SharedState};

fuzz_target!(|data: &[u8]| {
    let Ok(st) = statefile::codec::decode::<KernelState>(data) else {
        return;
    };
    if sentry::state::validate(&st).is_err() {
        return;
    }
    let files: HashSet<u64> = st.files.iter().map(|f| f.id).collect();
    let pipes: HashSet<u64> = st
        .shared
        .iter()
        .filter(|s| matches!(s.object, SharedState::Pipe(_)))
        .map(|s| s.id)
        .collect();
    for f in &st.files {
        match &f.kind {
            FileKindState::PipeRead(e) | FileKindState::PipeWrite(e) => {
                assert!(pipes.contains(&e.pipe))
            }
            FileKindState::Epoll(e) => assert!(e.interests.iter().all(|i| files.contains(&i.file))),
            _ => {}
        }
    }
    for t in &st.fd_tables {
        for &(fd, file, _) in &t.fds {
            assert!(fd >= 0 && fd < t.limit && files.contains(&file));
        }
    }
    for t in &st.tasks {
        assert!(t.tid > 0 && st.thread_groups.iter().any(|g| g.pid == t.tgid));
        assert!(t.regs[21] < sentry::GUEST_TOP);
    }
});
