//! Inter-process communication: pipes; poll and select live in the syscalls layer.

pub mod epoll;
pub mod pipe;
