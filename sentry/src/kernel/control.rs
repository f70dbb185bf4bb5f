//! Control requests from the runtime (signals, pause, exec, checkpoint…), served by the
//! event loop; some need the world stopped first.

use std::os::fd::OwnedFd;

use super::signal::{self, SigInfo};
use super::spawn::Spawn;
use super::task::{RunState, WaitStatus};
use super::{creds, default_rlimits, Kernel};

impl Kernel {
    // ---- control ----

    pub(crate) fn control(
        &mut self,
        req: crate::control::Request,
        fds: Vec<OwnedFd>,
    ) -> crate::control::Response {
        use crate::control::{Request, Response};
        match req {
            Request::Signal { signo, all } => {
                if !(1..=64).contains(&signo) {
                    return Response::Error(format!("invalid signal {signo}"));
                }
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
                Response::Ok
            }
            Request::Pause => {
                self.user_paused = true;
                self.stop_world();
                Response::Ok
            }
            Request::Resume => {
                self.user_paused = false;
                if self.deferred.is_empty() {
                    self.paused = false;
                    self.resume_stopped();
                }
                Response::Ok
            }
            Request::HostPids => {
                let mut v = vec![std::process::id() as i32];
                v.extend(self.plat.host_pids());
                Response::HostPids(v)
            }
            Request::Exec {
                argv,
                env,
                cwd,
                uid,
                gid,
                groups,
                capabilities,
                no_new_privileges,
            } => {
                if fds.len() != 3 {
                    return Response::Error(format!("exec needs 3 stdio fds, got {}", fds.len()));
                }
                let rlimits = self
                    .tgs
                    .get(&1)
                    .map(|g| g.rlimits.clone())
                    .unwrap_or_else(default_rlimits);
                let spec = Spawn {
                    argv,
                    env,
                    cwd,
                    creds: creds::Creds::new(
                        uid,
                        gid,
                        groups,
                        capabilities.unwrap_or_else(|| creds::CapSets::default_for(uid)),
                        no_new_privileges,
                    ),
                    rlimits,
                };
                match self.spawn(&spec, fds) {
                    Ok(pid) => Response::Started { pid },
                    Err(e) => Response::Error(e.to_string()),
                }
            }
            Request::SignalProcess { pid, signo } => {
                if !(1..=64).contains(&signo) {
                    return Response::Error(format!("invalid signal {signo}"));
                }
                match self.tgs.get(&pid) {
                    Some(g) if g.zombie.is_none() => {
                        let mut info = SigInfo::new(signo, signal::SI_USER);
                        info.forced = true;
                        self.signal_group(pid, info);
                        Response::Ok
                    }
                    _ => Response::Error(format!("no such process {pid}")),
                }
            }
            Request::WaitPid { .. } => Response::Error("wait is served by the event loop".into()),
            Request::SaveState | Request::Checkpoint { .. } => self.stopped_world_request(req, fds),
        }
    }

    /// Answers runtime waits whose process has exited, reaping it.
    pub(crate) fn answer_pid_waiters(&mut self) {
        let mut i = 0;
        while i < self.pid_waiters.len() {
            let pid = self.pid_waiters[i].0;
            let status = match self.tgs.get(&pid) {
                None => Some(Err(format!("no such process {pid}"))),
                Some(g) => g.zombie.map(Ok),
            };
            if let Some(st) = status {
                let (_, reply) = self.pid_waiters.remove(i);
                if st.is_ok() && self.tgs[&pid].ppid == 0 && pid != 1 {
                    self.tgs.remove(&pid);
                }
                let _ = reply.send(match st {
                    Ok(s) => crate::control::Response::Exited {
                        status: s.shell_code(),
                    },
                    Err(e) => crate::control::Response::Error(e),
                });
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

    /// Serves a request that needs the world stopped (it is).
    pub(crate) fn stopped_world_request(
        &mut self,
        req: crate::control::Request,
        fds: Vec<OwnedFd>,
    ) -> crate::control::Response {
        use crate::control::{Request, Response};
        match req {
            Request::SaveState => match self.save_state() {
                Ok(s) => Response::State(Box::new(s)),
                Err(e) => Response::Error(format!("saving the kernel state: {e}")),
            },
            Request::Checkpoint { leave_running } => {
                let Some(image) = fds.into_iter().next() else {
                    return Response::Error("checkpoint needs the image file's fd".into());
                };
                match self.checkpoint(&std::fs::File::from(image)) {
                    Ok(()) => {
                        if !leave_running {
                            let mut all: Vec<i32> = self.tgs.keys().copied().collect();
                            all.sort_unstable_by(|a, b| b.cmp(a));
                            for p in all {
                                self.kill_group(p, WaitStatus::Signaled(libc::SIGKILL, false));
                            }
                        }
                        Response::Ok
                    }
                    Err(e) => Response::Error(e),
                }
            }
            _ => Response::Error("not a stopped-world request".into()),
        }
    }

    /// Writes the checkpoint image into `image` (from its start; fsync'd): the kernel's
    /// saved form and every allocated page of the memory file (zero pages are skipped by
    /// the writer). Naming the file is the caller's business (`runsc checkpoint` renames
    /// it to `checkpoint.img`).
    pub fn checkpoint(&mut self, image: &std::fs::File) -> Result<(), String> {
        let state = self
            .save_state()
            .map_err(|e| format!("saving the kernel state: {e}"))?;
        let mut meta = statefile::Metadata::for_this_host(
            concat!("runsc ", env!("CARGO_PKG_VERSION")),
            &self.hostname,
        );
        meta.cpu = super::restore::host_cpu();
        let ranges = state
            .memory
            .iter()
            .map(|&(s, e, _)| (s, self.mf.slice(s, e - s)));
        statefile::write_image_to(image, &meta, &state, ranges).map_err(|e| {
            let mut msg = format!("writing the checkpoint image: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                msg += &format!(": {c}");
                cause = c.source();
            }
            msg
        })?;
        Ok(())
    }
}
