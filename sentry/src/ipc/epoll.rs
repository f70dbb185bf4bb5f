//! epoll: a set of watched files, itself an open file.
//!
//! An epoll set holds its targets weakly: when the last fd of a file is closed, the file
//! leaves every set, as Linux does. Edge-triggered interest is served level-triggered
//! (programs that use EPOLLET read until EAGAIN, so they see the same events; they may be
//! woken once more than on Linux).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use serde::{Deserialize, Serialize};

use crate::checks::{Invalid, FD_MAX};
use crate::fs::file::{FileImpl, OpenFile};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};

/// One watched file of an epoll set.
pub struct Interest {
    pub file: Weak<RefCell<OpenFile>>,
    pub events: u32,
    pub data: u64,
    /// EPOLLONESHOT fired: no more events until EPOLL_CTL_MOD.
    pub disabled: bool,
}

pub struct EpollSet {
    /// Kernel object id: the key epoll_wait parks on.
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

pub(crate) type EpollRef = Rc<RefCell<EpollSet>>;

/// An epoll set as an open file. The set has a cell of its own: epoll_wait polls the
/// watched files while it holds the set, and one of them may be this very description
/// (through a dup).
pub struct EpollFile {
    pub set: EpollRef,
}

impl EpollFile {
    pub fn new(id: u64) -> Self {
        EpollFile {
            set: Rc::new(RefCell::new(EpollSet::new(id))),
        }
    }
}

/// The operations an epoll set lacks answer as the trait's defaults do: read and write are
/// EINVAL, it reads as always ready, its stat is an anonymous inode.
impl FileImpl for EpollFile {}

/// A saved epoll set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpollState {
    pub id: u64,
    /// Watched files that are still open somewhere (the others are gone).
    pub interests: Vec<InterestState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterestState {
    /// The target fd number, as given to EPOLL_CTL_ADD.
    pub fd: i32,
    /// The watched open file, by id.
    pub file: u64,
    pub events: u32,
    pub data: u64,
    pub disabled: bool,
}

impl Persist for EpollFile {
    type State = EpollState;

    fn save(&self, cx: &mut SaveCtx) -> EpollState {
        let EpollFile { set } = self;
        let set = set.borrow();
        let EpollSet { id, interests } = &*set;
        let interests = interests
            .iter()
            .filter_map(|(&fd, i)| {
                let Interest {
                    file,
                    events,
                    data,
                    disabled,
                } = i;
                let file = file.upgrade()?;
                Some(InterestState {
                    fd,
                    file: cx.file_id(&file),
                    events: *events,
                    data: *data,
                    disabled: *disabled,
                })
            })
            .collect();
        EpollState { id: *id, interests }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &EpollState) -> Result<Self, KindError> {
        cx.object_id(s.id);
        let f = EpollFile::new(s.id);
        let set = f.set.clone();
        let interests = s.interests.clone();
        cx.link(move |files| {
            let mut set = set.borrow_mut();
            for i in interests {
                let target = files.get(&i.file).ok_or(KindError::Missing {
                    what: "open file",
                    id: i.file,
                })?;
                set.interests.insert(
                    i.fd,
                    Interest {
                        file: Rc::downgrade(target),
                        events: i.events,
                        data: i.data,
                        disabled: i.disabled,
                    },
                );
            }
            Ok(())
        });
        Ok(f)
    }

    fn check(cx: &CheckCtx, s: &EpollState) -> Result<(), Invalid> {
        for i in &s.interests {
            if !(0..FD_MAX).contains(&i.fd) {
                return Err(cx.bad("watched fd", format!("{} is out of range", i.fd)));
            }
            if !cx.has_file(i.file) {
                return Err(cx.bad("watched file", format!("{} does not exist", i.file)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::file::FileRef;
    use crate::ipc::pipe;
    use crate::persist::testing::{at, round_trip, table};

    fn watch(set: &EpollRef, fd: i32, f: &FileRef, events: u32) {
        set.borrow_mut().interests.insert(
            fd,
            Interest {
                file: Rc::downgrade(f),
                events,
                data: fd as u64 * 100,
                disabled: fd == 3,
            },
        );
    }

    #[test]
    fn a_set_comes_back_watching_the_restored_files() {
        let (r, w) = pipe::pair(30);
        let r = OpenFile::new(Box::new(r), libc::O_RDONLY, "pipe:[30]");
        let w = OpenFile::new(Box::new(w), libc::O_WRONLY, "pipe:[30]");
        let ep = OpenFile::new(
            Box::new(EpollFile::new(31)),
            libc::O_RDWR,
            "anon_inode:[eventpoll]",
        );
        let set = ep.borrow().kind::<EpollFile>().unwrap().set.clone();
        watch(&set, 0, &r, libc::EPOLLIN as u32);
        // A dup of the set in the set itself, and a file no longer open anywhere.
        watch(&set, 3, &ep, libc::EPOLLIN as u32);
        let gone = OpenFile::new(
            Box::new(EpollFile::new(32)),
            libc::O_RDWR,
            "anon_inode:[eventpoll]",
        );
        watch(&set, 9, &gone, libc::EPOLLIN as u32);
        drop(gone);
        let t = table(&[&r, &w, &ep, &ep]);
        let (saved, back) = round_trip(&[&t]);
        assert_eq!(saved.files.len(), 3);
        let ep2 = at(&back[0], 2);
        let set2 = ep2.borrow().kind::<EpollFile>().unwrap().set.clone();
        let s = set2.borrow();
        assert_eq!(s.id, 31);
        assert_eq!(s.interests.keys().copied().collect::<Vec<_>>(), [0, 3]);
        let i0 = &s.interests[&0];
        assert!(Rc::ptr_eq(&i0.file.upgrade().unwrap(), &at(&back[0], 0)));
        assert_eq!(
            (i0.events, i0.data, i0.disabled),
            (libc::EPOLLIN as u32, 0, false)
        );
        let i3 = &s.interests[&3];
        assert!(Rc::ptr_eq(&i3.file.upgrade().unwrap(), &ep2));
        assert_eq!((i3.data, i3.disabled), (300, true));
    }
}
