//! Futex keys. Private futexes are keyed by address space and virtual address, as Linux
//! does; shared ones by memory-file offset, so two address spaces mapping the same memory
//! meet on the same key.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FutexKey {
    Private { mm: u64, addr: u64 },
    Shared { offset: u64 },
}

/// A task waiting on a futex, with its wake bitset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Waiter {
    pub tid: i32,
    pub key: FutexKey,
    pub bitset: u32,
}
