//! Inter-process communication: pipes, eventfd and epoll, each an open-file kind; poll and
//! select live in the syscalls layer.

pub mod epoll;
pub mod eventfd;
pub mod pipe;
