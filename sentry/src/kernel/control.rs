//! Control requests from the runtime (signals, pause, exec, checkpoint…), served by the
//! event loop; some need the world stopped first. Failures are answered typed
//! (`crate::control::Error`).

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::signal::{self, SigInfo};
use super::spawn::Spawn;
use super::task::{RunState, WaitStatus};
use super::{default_rlimits, Kernel};
use crate::control::{
    CheckpointError, CheckpointStats, Envelope, ExecError, ExecProcess, Request, RequestError,
    Response, SignalError,
};
use crate::creds;
use crate::mm::{MmCtx, Snapshot};

/// How much guest memory is made read-only ahead of a checkpoint's snapshot, or gets
/// its write protection back after it, per event-loop round: one `mprotect` of resident
/// memory holds the event loop for about 1 ms per 10 MiB.
const REPROTECT_STEP: u64 = 16 << 20;

/// A signal number a request may carry.
fn check_signal(signo: i32) -> Result<(), SignalError> {
    if (1..=64).contains(&signo) {
        Ok(())
    } else {
        Err(SignalError::Invalid(signo))
    }
}

/// Checks that a request came with `count` fds (`needs` says which).
fn check_fds(
    request: &'static str,
    fds: &[OwnedFd],
    count: usize,
    needs: &'static str,
) -> Result<(), RequestError> {
    if fds.len() == count {
        Ok(())
    } else {
        Err(RequestError::Fds {
            request,
            needs,
            got: fds.len(),
        })
    }
}

impl Kernel {
    // ---- control ----

    /// Takes a request: a wait joins the runtime waits, a request that needs the world
    /// stopped is deferred until it is, any other is answered now.
    pub(crate) fn control(&mut self, env: Envelope) {
        match env.request {
            Request::WaitPid { pid } => self.pid_waiters.push((pid, env.reply)),
            Request::SaveState | Request::Checkpoint { .. } => {
                // The image file, for a checkpoint; checked before the world stops.
                let (count, needs) = match env.request {
                    Request::Checkpoint { .. } => (1, "the image file's fd"),
                    _ => (0, "no fds"),
                };
                if let Err(e) = check_fds(env.request.name(), &env.fds, count, needs) {
                    let _ = env.reply.send(Response::Error(e.into()));
                    return;
                }
                if matches!(
                    env.request,
                    Request::Checkpoint {
                        leave_running: true,
                        ..
                    }
                ) {
                    // The guest runs on: its mappings are made read-only ahead of the
                    // stop, a piece at a time (`preprotect_some`), and the stop protects
                    // only what became writable since (the pause stays short).
                    if self.preparing.is_empty() {
                        self.mf.start_tracking();
                        self.preprotect = self.writable_pieces();
                    }
                    self.preparing.push(env);
                    return;
                }
                self.freeze_started.get_or_insert_with(Instant::now);
                self.stop_world();
                self.deferred.push(env);
            }
            request => {
                let _ = env.reply.send(self.serve_control(request, env.fds).into());
            }
        }
    }

    fn serve_control(
        &mut self,
        req: Request,
        fds: Vec<OwnedFd>,
    ) -> Result<Response, crate::control::Error> {
        match req {
            Request::Signal { signo, all } => {
                check_signal(signo)?;
                let mut info = SigInfo::new(signo, signal::SI_USER);
                info.forced = true;
                if all {
                    let pids: Vec<i32> = self.tgs.keys().copied().collect();
                    for p in pids.into_iter().rev() {
                        self.signal_group(p, info.clone());
                    }
                } else {
                    self.signal_group(1, info);
                }
                Ok(Response::Ok)
            }
            Request::Pause => {
                self.user_paused = true;
                self.stop_world();
                Ok(Response::Ok)
            }
            Request::Resume => {
                self.user_paused = false;
                if self.deferred.is_empty() {
                    self.paused = false;
                    self.resume_stopped();
                }
                Ok(Response::Ok)
            }
            Request::HostPids => {
                let mut v = vec![std::process::id() as i32];
                v.extend(self.plat.host_pids());
                Ok(Response::HostPids(v))
            }
            Request::Exec(p) => {
                check_fds("exec", &fds, 3, "3 stdio fds")?;
                let pid = self.exec_process(p, fds)?;
                Ok(Response::Started { pid })
            }
            Request::SignalProcess { pid, signo } => {
                check_signal(signo)?;
                match self.tgs.get(&pid) {
                    Some(g) if g.zombie.is_none() => {
                        let mut info = SigInfo::new(signo, signal::SI_USER);
                        info.forced = true;
                        self.signal_group(pid, info);
                        Ok(Response::Ok)
                    }
                    _ => Err(SignalError::NoSuchProcess(pid).into()),
                }
            }
            Request::WaitPid { .. } | Request::SaveState | Request::Checkpoint { .. } => {
                unreachable!("{} is routed by `control`", req.name())
            }
        }
    }

    /// Starts a runtime `exec`: a guest process with no parent in the sandbox, with the
    /// init's rlimits.
    fn exec_process(&mut self, p: ExecProcess, stdio: Vec<OwnedFd>) -> Result<i32, ExecError> {
        let rlimits = self
            .tgs
            .get(&1)
            .map(|g| g.rlimits.clone())
            .unwrap_or_else(default_rlimits);
        let spec = Spawn {
            argv: p.argv,
            env: p.env,
            cwd: p.cwd,
            creds: creds::Creds::new(
                p.uid,
                p.gid,
                p.groups,
                p.capabilities
                    .unwrap_or_else(|| creds::CapSets::default_for(p.uid)),
                p.no_new_privileges,
            ),
            rlimits,
        };
        self.spawn(&spec, stdio)
            .map_err(|e| ExecError::Start(Box::new(e)))
    }

    /// Whether process `pid` was started by a runtime `exec`: no parent in the sandbox,
    /// and not the init.
    fn exec_started(&self, pid: i32) -> bool {
        pid != 1 && self.tgs.get(&pid).is_some_and(|g| g.ppid == 0)
    }

    /// The exit statuses of `Exec`'d processes (no parent in the sandbox) that ended and
    /// were not waited for: `(pid, shell code)`.
    /// None when a checkpoint ended the sandbox (the processes are in the image).
    pub(crate) fn exec_exits(&self) -> Vec<(i32, i32)> {
        if self.ended_by_checkpoint {
            return Vec::new();
        }
        self.tgs
            .iter()
            .filter(|&(&pid, _)| self.exec_started(pid))
            .filter_map(|(&pid, g)| g.zombie.map(|z| (pid, z.shell_code())))
            .collect()
    }

    /// Answers runtime waits whose process has exited, reaping it.
    pub(crate) fn answer_pid_waiters(&mut self) {
        if self.ended_by_checkpoint {
            // The processes are in the image, not ended: the callers hear that the
            // container is not running when the sandbox is gone.
            return;
        }
        let mut i = 0;
        while i < self.pid_waiters.len() {
            let pid = self.pid_waiters[i].0;
            let status = match self.tgs.get(&pid) {
                None => Some(Err(ExecError::NoSuchProcess(pid))),
                Some(g) => g.zombie.map(Ok),
            };
            if let Some(st) = status {
                let (_, reply) = self.pid_waiters.remove(i);
                if st.is_ok() && self.exec_started(pid) {
                    self.tgs.remove(&pid);
                }
                let _ = reply.send(
                    st.map(|s| Response::Exited {
                        status: s.shell_code(),
                    })
                    .into(),
                );
            } else {
                i += 1;
            }
        }
    }

    /// Asks every running guest thread to stop; they park as GroupStopped.
    pub(crate) fn stop_world(&mut self) {
        self.paused = true;
        let running: Vec<i32> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.state == RunState::Running)
            .map(|(&k, _)| k)
            .collect();
        for t in running {
            self.kick(t);
        }
    }

    /// True when no guest thread runs guest code.
    pub(crate) fn world_stopped(&self) -> bool {
        self.tasks.values().all(|t| t.state != RunState::Running)
    }

    /// Lets threads stopped by a pause or a world stop run again.
    pub(crate) fn resume_stopped(&mut self) {
        let stopped: Vec<i32> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.state == RunState::GroupStopped && self.tgs[&t.tgid].stopped.is_none()
            })
            .map(|(&k, _)| k)
            .collect();
        for t in stopped {
            self.deliver_and_resume(t);
        }
    }

    /// Serves a request that needs the world stopped (it is) and answers it. A
    /// checkpoint is answered from the thread that writes its image, once it is on disk.
    /// `waker` wakes the event loop (the writer uses it once it has answered, so that a
    /// sandbox ending with its checkpoint ends at once).
    pub(crate) fn stopped_world_request(
        &mut self,
        env: crate::control::Envelope,
        waker: Option<std::sync::Arc<nix::sys::eventfd::EventFd>>,
    ) {
        let crate::control::Envelope {
            request,
            fds,
            reply,
        } = env;
        let stopped = Instant::now();
        let freezing = self
            .freeze_started
            .take()
            .map_or(Duration::ZERO, |t| stopped - t);
        match request {
            Request::SaveState => {
                let resp = self
                    .save_state(crate::control::DEFAULT_GHOST_LIMIT)
                    .map_err(CheckpointError::Save)
                    .and_then(|s| {
                        statefile::codec::encode(&s)
                            .map(Response::State)
                            .map_err(|e| CheckpointError::Save(std::io::Error::other(e)))
                    })
                    .into();
                let _ = reply.send(resp);
            }
            Request::Checkpoint {
                leave_running,
                image,
                ghost_limit,
                compression,
            } => {
                let Some(file) = fds.into_iter().next() else {
                    unreachable!("`control` checked the fds");
                };
                // One image at a time: an earlier one is finished first.
                self.reap_checkpoint(true);
                let capture = match self.capture(ghost_limit, !leave_running) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = reply.send(Response::Error(e.into()));
                        return;
                    }
                };
                let memdump = stopped.elapsed();
                // The writer starts before the guest's processes are killed: its first
                // pass (finding the zero pages) overlaps with the kills, whose stubs'
                // ends unmap all of guest memory (0.2 s a GiB here). Until `guest_gone`
                // it reads as it does while a guest runs (copying each piece).
                let snapshot = capture.snapshot.clone();
                let (frozen_tx, frozen_rx) = std::sync::mpsc::channel();
                let file = std::fs::File::from(file);
                self.checkpoint_job = Some(std::thread::spawn(move || {
                    let start = Instant::now();
                    let written = capture.write(&file, &image, compression);
                    let frozen = frozen_rx.recv().unwrap_or_default();
                    let resp = written.map(|written| {
                        let page = crate::platform::PAGE_SIZE;
                        Response::Checkpointed(CheckpointStats {
                            freezing_us: freezing.as_micros() as u64,
                            frozen_us: frozen,
                            memdump_us: memdump.as_micros() as u64,
                            memwrite_us: start.elapsed().as_micros() as u64,
                            pages_scanned: written.range_bytes / page,
                            pages_written: written.saved_bytes / page,
                        })
                    });
                    let _ = reply.send(resp.into());
                    if let Some(w) = waker {
                        let _ = w.write(1);
                    }
                }));
                if !leave_running {
                    // The sandbox ends now; its memory stays for the snapshot until the
                    // image is written (the event loop waits for that before it returns).
                    // The sandbox ends as the checkpoint asked, not by a crash or a kill:
                    // every process exits with status 0 (as gVisor reports it; runc's
                    // CRIU dump SIGKILLs them, and Docker then shows Exited (137), which
                    // a restart policy takes for a failure). docs/checkpoint.md.
                    self.ended_by_checkpoint = true;
                    let mut all: Vec<i32> = self.tgs.keys().copied().collect();
                    all.sort_unstable_by(|a, b| b.cmp(a));
                    for p in all {
                        self.kill_group(p, WaitStatus::Exited(0));
                    }
                    snapshot.guest_gone(self.mf.fd());
                }
                // The guest runs again (or is gone) once this returns: frozen until now.
                let _ = frozen_tx.send(stopped.elapsed().as_micros() as u64);
            }
            req => unreachable!("{} is not deferred by `control`", req.name()),
        }
    }

    /// The consistency point of a checkpoint (the world is stopped): the kernel's saved
    /// form, the image's metadata and a copy-on-write snapshot of the memory file, every
    /// guest mapping made read-only so that the guest's first write to a page the image
    /// still needs faults and has it copied aside first — unless `ending`: every guest
    /// process is killed before it runs again (a checkpoint without `--leave-running`),
    /// so no guest write can come (the sentry's own writes, such as an exit's
    /// clear_child_tid, copy aside first as always), and write-protecting each resident
    /// page (about 0.1 s per GiB here) would only delay the write.
    /// A deleted file brings at most `ghost_limit` bytes of data.
    fn capture(&mut self, ghost_limit: u64, ending: bool) -> Result<Capture, CheckpointError> {
        // A sandbox restored on demand may still be loading its memory: the image needs
        // all of it, and every mapping open.
        if self.mf.still_loading() || self.mms.values().any(|e| e.mm.has_unopened()) {
            self.mf.finish_loading();
            let mut cx = MmCtx {
                mf: &self.mf,
                plat: &mut *self.plat,
            };
            for e in self.mms.values_mut() {
                e.mm.open_all(&mut cx).map_err(|p| {
                    CheckpointError::Save(std::io::Error::other(format!(
                        "segment {} of the image this sandbox was restored from is bad",
                        p.segment
                    )))
                })?;
            }
        }
        let state = self
            .save_state(ghost_limit)
            .map_err(CheckpointError::Save)?;
        let mut meta = statefile::Metadata::for_this_host(
            concat!("runsc ", env!("CARGO_PKG_VERSION")),
            &self.container_id,
        );
        meta.cpu = super::restore::host_cpu();
        // Made read-only ahead of the stop (all of it): only what became writable since
        // needs protecting now.
        let ahead = self.mf.tracking() && self.preprotect.is_empty();
        self.preprotect.clear();
        let snapshot = self.mf.begin_snapshot();
        let mut cx = MmCtx {
            mf: &self.mf,
            plat: &mut *self.plat,
        };
        for e in self.mms.values_mut() {
            let r = if ending {
                e.mm.forget_dirty();
                Ok(())
            } else if ahead {
                e.mm.protect_dirty_for_snapshot(&mut cx)
            } else {
                e.mm.forget_dirty();
                e.mm.protect_for_snapshot(&mut cx)
            };
            if let Err(e) = r {
                self.end_snapshot();
                return Err(CheckpointError::Save(e));
            }
        }
        Ok(Capture {
            state,
            meta,
            snapshot,
        })
    }

    /// Ends the snapshot of a checkpoint whose image is written: memory freed meanwhile
    /// is released, and guest mappings get their protection back, a piece at a time
    /// (`reprotect_some`), so that the event loop is never held up for long; until
    /// then a write fault makes its chunk writable.
    fn end_snapshot(&mut self) {
        self.mf.end_snapshot();
        self.reprotect = self.writable_pieces();
    }

    /// Every writable mapping as (address space, start, end) pieces of at most
    /// `REPROTECT_STEP` bytes.
    fn writable_pieces(&self) -> Vec<(u64, u64, u64)> {
        self.mms
            .iter()
            .flat_map(|(&k, e)| {
                e.mm.writable_pieces(REPROTECT_STEP)
                    .into_iter()
                    .map(move |(s, end)| (k, s, end))
            })
            .collect()
    }

    /// Makes up to `REPROTECT_STEP` bytes of guest mappings read-only ahead of a
    /// checkpoint's stop (the memory file tracks writes meanwhile); when all are, the
    /// world stops for the checkpoints waiting on it.
    pub(crate) fn preprotect_some(&mut self) {
        if self.preparing.is_empty() {
            return;
        }
        self.protect_pieces(true);
        if self.preprotect.is_empty() {
            self.freeze_started.get_or_insert_with(Instant::now);
            self.stop_world();
            self.deferred.append(&mut self.preparing);
        }
    }

    /// Gives up to `REPROTECT_STEP` bytes of the pieces of `preprotect` (`ahead`) or of
    /// `reprotect` the protection their mappings have now.
    fn protect_pieces(&mut self, ahead: bool) {
        let mut budget = REPROTECT_STEP;
        while budget > 0 {
            let next = if ahead {
                self.preprotect.pop()
            } else {
                self.reprotect.pop()
            };
            let Some((k, s, e)) = next else {
                return;
            };
            budget = budget.saturating_sub(e - s);
            // An address space that is gone, or changed meanwhile, is skipped: its
            // mappings have the right protection (a change went through `host_prot`).
            if let Some(entry) = self.mms.get(&k) {
                let mut cx = MmCtx {
                    mf: &self.mf,
                    plat: &mut *self.plat,
                };
                if let Err(err) = entry.mm.reprotect(&mut cx, s, e) {
                    log::warn!("address space {:?} around a checkpoint: {err}", entry.mm.id);
                }
            }
        }
    }

    /// Gives up to `REPROTECT_STEP` bytes of guest mappings their protection back after a
    /// snapshot (see `end_snapshot`).
    pub(crate) fn reprotect_some(&mut self) {
        self.protect_pieces(false);
    }

    /// Finishes a checkpoint whose image was being written in the background once its
    /// writer is done (`wait`: waits for it).
    pub(crate) fn reap_checkpoint(&mut self, wait: bool) {
        match &self.checkpoint_job {
            Some(job) if wait || job.is_finished() => {}
            _ => return,
        }
        if let Some(job) = self.checkpoint_job.take() {
            if job.join().is_err() {
                log::error!("the checkpoint writer panicked");
            }
            self.end_snapshot();
        }
    }

    /// Writes the checkpoint image into `file` (from its start; fsync'd) on this thread:
    /// the kernel's saved form and every allocated page of the memory file (zero pages
    /// are skipped by the writer). Naming the file is the caller's business (`runsc
    /// checkpoint` renames it to `checkpoint.img`); `image` is that name, for errors. A
    /// deleted file brings at most `ghost_limit` bytes of data.
    #[cfg(test)]
    pub(crate) fn checkpoint(
        &mut self,
        file: &std::fs::File,
        image: &str,
        ghost_limit: u64,
    ) -> Result<(), CheckpointError> {
        let capture = self.capture(ghost_limit, false)?;
        let written = capture
            .write(file, image, statefile::Compression::None)
            .map(drop);
        self.end_snapshot();
        written
    }
}

/// What a checkpoint captured at its consistency point, to be written while the guest
/// runs on.
struct Capture {
    state: super::state::KernelState,
    meta: statefile::Metadata,
    snapshot: std::sync::Arc<Snapshot>,
}

impl Capture {
    /// Writes the image into `file` (from its start; fsync'd), stored as `compression`
    /// says; `image` is its name, for errors.
    fn write(
        &self,
        file: &std::fs::File,
        image: &str,
        compression: statefile::Compression,
    ) -> Result<statefile::WriteStats, CheckpointError> {
        let (meta, state) = (&self.meta, &self.state);
        statefile::write_image_from(file, meta, state, &*self.snapshot, compression).map_err(
            |source| CheckpointError::Write {
                image: image.to_string(),
                source,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Error, ErrorKind};

    /// The messages of an error and its sources, outermost first.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        std::iter::successors(Some(e), |e| e.source())
            .map(|e| e.to_string())
            .collect()
    }

    fn failure(r: Result<Response, Error>) -> Error {
        match r {
            Err(e) => e,
            Ok(r) => panic!("expected an error, got {r:?}"),
        }
    }

    fn null_fds(n: usize) -> Vec<OwnedFd> {
        (0..n)
            .map(|_| std::fs::File::open("/dev/null").unwrap().into())
            .collect()
    }

    fn exec(argv0: &str) -> Request {
        Request::Exec(ExecProcess {
            argv: vec![argv0.into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            groups: vec![],
            capabilities: None,
            no_new_privileges: false,
        })
    }

    #[test]
    fn a_signal_to_a_missing_process_names_it() {
        let root = tempfile::tempdir().unwrap();
        let mut k = crate::testing::kernel(root.path());
        let e = failure(k.serve_control(
            Request::SignalProcess {
                pid: 42,
                signo: libc::SIGTERM,
            },
            vec![],
        ));
        assert_eq!(e.kind(), ErrorKind::NoSuchProcess);
        assert_eq!(chain(&e), ["no such process 42"]);
        let e = failure(k.serve_control(
            Request::Signal {
                signo: 65,
                all: false,
            },
            vec![],
        ));
        assert_eq!(e.kind(), ErrorKind::InvalidSignal);
        assert_eq!(chain(&e), ["invalid signal 65"]);
    }

    #[test]
    fn an_exec_of_a_missing_program_gives_the_errno_once() {
        let root = tempfile::tempdir().unwrap();
        let mut k = crate::testing::kernel(root.path());
        let init = k.test_process(0, 0);
        let e = failure(k.serve_control(exec("/no/such/program"), null_fds(3)));
        assert_eq!(e.kind(), ErrorKind::Exec);
        assert_eq!(
            chain(&e),
            [
                "cannot start /no/such/program",
                "No such file or directory (os error 2)"
            ]
        );
        // Nothing is left of it.
        assert_eq!(k.tgs.keys().copied().collect::<Vec<_>>(), [init]);

        let e = failure(k.serve_control(exec("/bin/true"), null_fds(1)));
        assert_eq!(e.kind(), ErrorKind::Fds);
        assert_eq!(chain(&e), ["exec needs 3 stdio fds, got 1 fds"]);
    }

    #[test]
    fn an_exec_started_process_that_ended_before_the_init_keeps_its_status_for_the_caller() {
        // The exec'd process ends, then the init ends before the exec caller's wait reached
        // the kernel: the status is still among those the kernel leaves behind.
        let root = tempfile::tempdir().unwrap();
        let mut k = crate::testing::kernel(root.path());
        let init = k.test_process(0, 0);
        let execd = k.test_process(0, 0);
        assert_eq!(init, 1);
        k.call(execd, libc::SYS_exit_group, [3, 0, 0, 0, 0, 0]);
        assert!(k.tgs[&execd].zombie.is_some());
        k.call(init, libc::SYS_exit_group, [0, 0, 0, 0, 0, 0]);
        assert!(k.init_status.is_some());
        assert_eq!(k.exec_exits(), [(execd, 3)]);
    }

    #[test]
    fn a_sandbox_a_checkpoint_ended_leaves_no_exit_status_for_exec_callers() {
        let root = tempfile::tempdir().unwrap();
        let mut k = crate::testing::kernel(root.path());
        let init = k.test_process(0, 0);
        let execd = k.test_process(0, 0);
        k.ended_by_checkpoint = true;
        k.call(execd, libc::SYS_exit_group, [0, 0, 0, 0, 0, 0]);
        k.call(init, libc::SYS_exit_group, [0, 0, 0, 0, 0, 0]);
        assert!(k.tgs.contains_key(&execd));
        assert_eq!(k.exec_exits(), []);
    }

    #[test]
    fn a_checkpoint_into_an_unwritable_file_names_the_image_and_the_errno_once() {
        let root = tempfile::tempdir().unwrap();
        let mut k = crate::testing::kernel(root.path());
        k.test_process(0, 0);
        // /dev/full cannot even be truncated.
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let e: Error = k
            .checkpoint(
                &full,
                "/img/checkpoint.img",
                crate::control::DEFAULT_GHOST_LIMIT,
            )
            .unwrap_err()
            .into();
        assert_eq!(e.kind(), ErrorKind::WriteImage);
        assert_eq!(
            chain(&e),
            [
                "writing the checkpoint image /img/checkpoint.img",
                "cannot truncate the image file",
                "Invalid argument (os error 22)"
            ]
        );
    }

    #[test]
    fn a_checkpoint_without_its_image_fd_is_refused_before_the_world_stops() {
        let root = tempfile::tempdir().unwrap();
        let mut k = crate::testing::kernel(root.path());
        let (reply, answer) = std::sync::mpsc::channel();
        k.control(Envelope {
            request: Request::Checkpoint {
                leave_running: true,
                image: "img".into(),
                ghost_limit: crate::control::DEFAULT_GHOST_LIMIT,
                compression: statefile::Compression::None,
            },
            fds: vec![],
            reply,
        });
        assert!(!k.paused);
        assert!(k.deferred.is_empty());
        let e = answer.recv().unwrap().into_result().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fds);
        assert_eq!(
            e.to_string(),
            "checkpoint needs the image file's fd, got 0 fds"
        );
    }
}
