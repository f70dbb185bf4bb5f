//! Pipes: a bounded byte queue with reader and writer counts.

use std::collections::VecDeque;

/// Default pipe capacity, as Linux.
pub const PIPE_CAPACITY: usize = 65536;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pipe {
    pub id: u64,
    pub buf: VecDeque<u8>,
    pub capacity: usize,
    pub readers: u32,
    pub writers: u32,
}

impl Pipe {
    pub fn new(id: u64) -> Self {
        Pipe {
            id,
            buf: VecDeque::new(),
            capacity: PIPE_CAPACITY,
            readers: 0,
            writers: 0,
        }
    }

    pub fn space(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    pub fn readable(&self) -> bool {
        !self.buf.is_empty() || self.writers == 0
    }

    pub fn writable(&self) -> bool {
        self.space() >= PIPE_BUF.min(self.capacity) || self.readers == 0
    }
}
