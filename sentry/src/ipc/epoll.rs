//! epoll and eventfd.
//!
//! An epoll set holds its targets weakly: when the last fd of a file is closed, the file
//! leaves every set, as Linux does. Edge-triggered interest is served level-triggered
//! (programs that use EPOLLET read until EAGAIN, so they see the same events; they may be
//! woken once more than on Linux).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use crate::fs::file::OpenFile;

/// The largest value an eventfd counter holds.
pub const EVENTFD_MAX: u64 = 0xffff_ffff_ffff_fffe;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventFd {
    pub id: u64,
    pub count: u64,
    pub semaphore: bool,
}

/// One watched file of an epoll set.
pub struct Interest {
    pub file: Weak<RefCell<OpenFile>>,
    pub events: u32,
    pub data: u64,
    /// EPOLLONESHOT fired: no more events until EPOLL_CTL_MOD.
    pub disabled: bool,
}

pub struct EpollSet {
    pub id: u64,
    /// By target fd number (as given to EPOLL_CTL_ADD).
    pub interests: BTreeMap<i32, Interest>,
}

impl EpollSet {
    pub fn new(id: u64) -> Self {
        EpollSet {
            id,
            interests: BTreeMap::new(),
        }
    }

    /// Drops interests whose file is gone.
    pub fn prune(&mut self) {
        self.interests.retain(|_, i| i.file.strong_count() > 0);
    }
}

pub type EpollRef = Rc<RefCell<EpollSet>>;
