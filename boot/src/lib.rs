//! Builds a sandbox process: from an OCI bundle (`runsc create`, `runsc run`), from a
//! host directory (`runsc do`), or from a checkpoint image (`runsc restore`).

pub mod bundle;
pub mod capabilities;
pub mod cgroup;
pub mod confine;
pub mod console;
pub mod container;
pub mod control;
pub mod defaults;
pub mod direct;
pub mod exec;
pub mod guest_creds;
pub mod hooks;
pub mod inspect;
pub mod lookup;
pub mod sandbox;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod state;
pub mod stats_dump;
mod sys;
pub mod time;
