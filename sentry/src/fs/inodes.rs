//! The inode numbers (and change times) the guest sees for files of host mounts.
//!
//! A file of a host mount shows its host inode number, except where a restore rebuilt it:
//! a tmpfs's files and the deleted files a checkpoint saved are new host inodes after a
//! restore, with new host numbers, while the guest must see the numbers it saw before (a
//! program may have kept them: `find -inum`, a cache keyed by inode, the two names of a
//! hard link). A restore binds each rebuilt host inode to its saved number
//! ([`InodeNumbers::bind`]), and every stat, fstat, statx and getdents of a host file
//! presents the number through this table ([`InodeNumbers::present`]). A host inode
//! created after the restore whose own number is one of the saved ones gets a number of
//! its own, from a range host file systems do not hand out ([`FRESH`]).
//!
//! Linux sets a file's change time itself, so the rebuilt file's host ctime is the
//! restore's: the saved one is shown as long as the host ctime is the one the restore
//! left (until the guest changes the file, when the host's new ctime is right again).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// Numbers given to host inodes whose own number a restored one took: far above what a
/// host file system numbers its inodes from.
const FRESH: u64 = 1 << 60;

/// A host inode's number and, while it is unchanged since the restore, change time.
#[derive(Debug, Clone, Copy)]
struct Bound {
    ino: u64,
    /// (host ctime the restore left, the saved ctime), as (seconds, nanoseconds).
    ctime: Option<((i64, i64), (i64, i64))>,
}

#[derive(Default)]
struct Table {
    /// By host (device, inode).
    bound: HashMap<(u64, u64), Bound>,
    /// (host device, guest number) taken by a bound inode.
    taken: HashSet<(u64, u64)>,
    next_fresh: u64,
}

/// The guest's inode numbers of host files (one per VFS).
#[derive(Default)]
pub(crate) struct InodeNumbers {
    table: RefCell<Table>,
}

impl InodeNumbers {
    /// The inode number the guest sees for host inode `(dev, ino)`.
    pub(crate) fn guest(&self, dev: u64, ino: u64) -> u64 {
        let mut t = self.table.borrow_mut();
        if let Some(b) = t.bound.get(&(dev, ino)) {
            return b.ino;
        }
        if !t.taken.contains(&(dev, ino)) {
            return ino;
        }
        // A new host inode whose number a restored one shows: a number of its own.
        let fresh = loop {
            t.next_fresh += 1;
            let n = FRESH + t.next_fresh;
            if !t.taken.contains(&(dev, n)) {
                break n;
            }
        };
        t.taken.insert((dev, fresh));
        t.bound.insert(
            (dev, ino),
            Bound {
                ino: fresh,
                ctime: None,
            },
        );
        fresh
    }

    /// Makes host `st` what the guest sees: its inode number and change time.
    pub(crate) fn present(&self, st: &mut libc::stat) {
        let key = (st.st_dev, st.st_ino);
        st.st_ino = self.guest(key.0, key.1);
        let t = self.table.borrow();
        if let Some(Bound {
            ctime: Some((host, saved)),
            ..
        }) = t.bound.get(&key)
        {
            if (st.st_ctime, st.st_ctime_nsec) == *host {
                (st.st_ctime, st.st_ctime_nsec) = *saved;
            }
        }
    }

    /// The restore rebuilt the file the guest knew as inode `ino` (with change time
    /// `ctime`, if kept) as host inode `st` (as it is once rebuilt).
    pub(crate) fn bind(&self, st: &libc::stat, ino: u64, ctime: Option<(i64, i64)>) {
        let mut t = self.table.borrow_mut();
        t.taken.insert((st.st_dev, ino));
        t.bound.insert(
            (st.st_dev, st.st_ino),
            Bound {
                ino,
                ctime: ctime.map(|c| ((st.st_ctime, st.st_ctime_nsec), c)),
            },
        );
    }

    /// Rewrites the inode numbers of the `linux_dirent64` records in `buf` (a host
    /// getdents of a directory on host device `dev`).
    pub(crate) fn present_dirents(&self, dev: u64, buf: &mut [u8]) {
        let mut off = 0;
        while off + 19 <= buf.len() {
            let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen < 19 || off + reclen > buf.len() {
                return;
            }
            let host = u64::from_le_bytes(buf[off..off + 8].try_into().expect("8 bytes"));
            let ino = self.guest(dev, host);
            buf[off..off + 8].copy_from_slice(&ino.to_le_bytes());
            off += reclen;
        }
    }
}
