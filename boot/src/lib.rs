//! Builds a sandbox process: from an OCI bundle (`runsc create`, `runsc run`), from a
//! host directory (`runsc do`), or from a checkpoint image (`runsc restore`).

pub mod direct;
pub mod lookup;
pub mod seccomp;
mod sys;
pub mod time;
