//! Builds a sandbox process.
