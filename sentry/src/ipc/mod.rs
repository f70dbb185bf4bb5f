//! Inter-process communication: pipes (and FIFOs, their named form), eventfd and epoll, each an open-file kind; poll and
//! select live in the syscalls layer.

pub(crate) mod epoll;
pub(crate) mod eventfd;
pub(crate) mod fifo;
pub(crate) mod pipe;
pub(crate) mod signalfd;
pub(crate) mod timerfd;
