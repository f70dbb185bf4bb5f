//! eventfd: a 64-bit counter as an open file. A read takes the counter (or 1 of it in
//! semaphore mode) and blocks while it is 0; a write adds to it and blocks while the sum
//! would pass [`EVENTFD_MAX`].

use serde::{Deserialize, Serialize};

use crate::checks::Invalid;
use crate::fs::file::{FileImpl, IoErr};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::wait::WaitKey;

/// The largest value an eventfd counter holds.
pub(crate) const EVENTFD_MAX: u64 = 0xffff_ffff_ffff_fffe;

#[derive(Debug)]
pub struct EventFd {
    /// Kernel object id: the key its waiters park on.
    pub id: u64,
    pub count: u64,
    pub semaphore: bool,
}

impl EventFd {
    pub fn new(id: u64, count: u64, semaphore: bool) -> Self {
        EventFd {
            id,
            count,
            semaphore,
        }
    }
}

impl FileImpl for EventFd {
    fn read(&mut self, _pos: &mut u64, len: usize, _off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        if len < 8 {
            return Err(IoErr::Errno(libc::EINVAL));
        }
        if self.count == 0 {
            return Err(IoErr::Block(WaitKey::Object(self.id)));
        }
        let v = if self.semaphore { 1 } else { self.count };
        self.count -= v;
        Ok(v.to_le_bytes().to_vec())
    }

    fn write(&mut self, _pos: &mut u64, data: &[u8], _off: Option<u64>) -> Result<usize, IoErr> {
        // Exactly one 8-byte value: since Linux 6.9 a longer write is EINVAL too.
        let Ok(b) = <[u8; 8]>::try_from(data) else {
            return Err(IoErr::Errno(libc::EINVAL));
        };
        let v = u64::from_le_bytes(b);
        if v == u64::MAX {
            return Err(IoErr::Errno(libc::EINVAL));
        }
        if self.count.checked_add(v).is_none_or(|n| n > EVENTFD_MAX) {
            return Err(IoErr::Block(WaitKey::Object(self.id)));
        }
        self.count += v;
        Ok(8)
    }

    /// No position: pread and pwrite are ESPIPE, as on Linux's anonymous inodes.
    fn is_stream(&self) -> bool {
        true
    }

    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let mut r = 0;
        if self.count > 0 {
            r |= libc::POLLIN;
        }
        if self.count < EVENTFD_MAX {
            r |= libc::POLLOUT;
        }
        (r & events, vec![WaitKey::Object(self.id)])
    }

    fn notify_key(&self) -> Option<WaitKey> {
        Some(WaitKey::Object(self.id))
    }
}

/// A saved eventfd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFdState {
    pub id: u64,
    pub count: u64,
    pub semaphore: bool,
}

impl Persist for EventFd {
    type State = EventFdState;

    fn save(&self, _: &mut SaveCtx) -> EventFdState {
        let EventFd {
            id,
            count,
            semaphore,
        } = self;
        EventFdState {
            id: *id,
            count: *count,
            semaphore: *semaphore,
        }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &EventFdState) -> Result<Self, KindError> {
        cx.object_id(s.id);
        Ok(EventFd::new(s.id, s.count, s.semaphore))
    }

    fn check(cx: &CheckCtx, s: &EventFdState) -> Result<(), Invalid> {
        if s.count > EVENTFD_MAX {
            return Err(cx.bad("eventfd count", "is above the maximum"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(e: &mut EventFd) -> Result<u64, IoErr> {
        e.read(&mut 0, 8, None)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }

    fn write(e: &mut EventFd, v: u64) -> Result<usize, IoErr> {
        e.write(&mut 0, &v.to_le_bytes(), None)
    }

    #[test]
    fn a_read_takes_the_whole_counter() {
        let mut e = EventFd::new(9, 0, false);
        assert_eq!(read(&mut e), Err(IoErr::Block(WaitKey::Object(9))));
        write(&mut e, 3).unwrap();
        write(&mut e, 4).unwrap();
        assert_eq!(read(&mut e), Ok(7));
        assert_eq!(read(&mut e), Err(IoErr::Block(WaitKey::Object(9))));
    }

    #[test]
    fn a_semaphore_counts_down_by_one() {
        let mut e = EventFd::new(1, 2, true);
        assert_eq!(read(&mut e), Ok(1));
        assert_eq!(read(&mut e), Ok(1));
        assert!(matches!(read(&mut e), Err(IoErr::Block(_))));
    }

    #[test]
    fn the_counter_never_passes_its_maximum() {
        let mut e = EventFd::new(2, EVENTFD_MAX - 1, false);
        assert_eq!(
            e.readiness(libc::POLLIN | libc::POLLOUT).0,
            libc::POLLIN | libc::POLLOUT
        );
        assert_eq!(write(&mut e, 1), Ok(8));
        assert_eq!(e.readiness(libc::POLLIN | libc::POLLOUT).0, libc::POLLIN);
        assert_eq!(write(&mut e, 1), Err(IoErr::Block(WaitKey::Object(2))));
        assert_eq!(write(&mut e, u64::MAX), Err(IoErr::Errno(libc::EINVAL)));
    }

    #[test]
    fn short_buffers_and_long_writes_are_einval() {
        let mut e = EventFd::new(3, 1, false);
        assert_eq!(e.read(&mut 0, 7, None), Err(IoErr::Errno(libc::EINVAL)));
        assert_eq!(
            e.write(&mut 0, &[1; 7], None),
            Err(IoErr::Errno(libc::EINVAL))
        );
        assert_eq!(
            e.write(&mut 0, &[1; 16], None),
            Err(IoErr::Errno(libc::EINVAL))
        );
        assert_eq!(e.readiness(libc::POLLIN).0, libc::POLLIN);
    }

    #[test]
    fn a_counter_comes_back_with_its_mode() {
        use crate::fs::file::OpenFile;
        use crate::persist::testing::{at, round_trip, table};

        let e = OpenFile::new(
            Box::new(EventFd::new(21, 5, true)),
            libc::O_RDWR,
            "anon_inode:[eventfd]",
        );
        let (_, back) = round_trip(&[&table(&[&e])]);
        let e2 = at(&back[0], 0);
        let mut b = e2.borrow_mut();
        assert_eq!(b.notify_key(), Some(WaitKey::Object(21)));
        assert_eq!(b.read(8, None).unwrap(), 1u64.to_le_bytes());
        assert_eq!(b.kind::<EventFd>().unwrap().count, 4);
    }
}
