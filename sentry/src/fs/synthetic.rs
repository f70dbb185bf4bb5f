//! Generated files and directories (procfs, and the directories of devfs and of empty
//! mounts): their content is made when they are opened and read at the description's
//! position.
//!
//! A file or directory of a process (`/proc/PID/...`) keeps the procfs path it was made
//! from: the system call layer makes it anew for a read from its start and for each
//! listing (`kernel::procfs::refresh`), so that what it shows is the process as it is
//! then, and ESRCH (ENOENT for a listing) once the process is gone, as on Linux.
//!
//! Saved with their content as of the open (and their path), so a restored reader goes on
//! where it was.

use std::cell::Cell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::checks::Invalid;
use crate::fs::file::{anon_stat, read_held, seek_in, seek_without_end, FileImpl, IoErr, Mappable};
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::mm::Errno;
use crate::wait::WaitKey;

/// A synthetic directory entry (name, d_type).
pub(crate) type DirEnt = (String, u8);

/// How often each of the host name (0) and the domain name (1) was set since the
/// sentry started (or restored).
#[derive(Default)]
pub(crate) struct UtsEvents([Cell<u64>; 2]);

impl UtsEvents {
    /// The name `which` was set: its pollers are to be woken on `uts_key(which)`.
    pub(crate) fn changed(&self, which: usize) {
        let c = &self.0[which];
        c.set(c.get().wrapping_add(1));
    }
}

/// What the pollers of /proc/sys/kernel/hostname (`which` 0) or domainname (1) wait on.
/// (Kernel object ids never reach this range.)
pub(crate) fn uts_key(which: usize) -> WaitKey {
    WaitKey::Object(1 << 61 | which as u64)
}

/// A /proc/sys/kernel/{hostname,domainname} description watching its name, as Linux's
/// proc_sys_poll: a change since it last polled is POLLERR|POLLPRI once.
struct UtsWatch {
    events: Rc<UtsEvents>,
    which: usize,
    seen: Cell<u64>,
}

/// A generated file: its bytes as of open (or its last refresh).
pub struct SynthFile {
    data: Vec<u8>,
    /// The procfs path (below /proc) it is made anew from, for a process's file.
    pub(crate) source: Option<Vec<String>>,
    watch: Option<UtsWatch>,
}

impl SynthFile {
    pub fn new(data: Vec<u8>) -> Self {
        SynthFile {
            data,
            source: None,
            watch: None,
        }
    }

    /// A process's file, made from procfs path `source`.
    pub(crate) fn live(data: Vec<u8>, source: Vec<String>) -> Self {
        SynthFile {
            data,
            source: Some(source),
            watch: None,
        }
    }

    /// /proc/sys/kernel/hostname (`which` 0) or domainname (1): polls report a change of
    /// the name made after this.
    pub(crate) fn watch_uts(&mut self, events: Rc<UtsEvents>, which: usize) {
        let seen = Cell::new(events.0[which].get());
        self.watch = Some(UtsWatch {
            events,
            which,
            seen,
        });
    }

    /// Its content as it is now.
    pub(crate) fn refill(&mut self, data: Vec<u8>) {
        self.data = data;
    }
}

impl FileImpl for SynthFile {
    /// Opened again through a magic link (a /proc/PID/ns/* link's file, which has no path
    /// of its own): the same bytes, read-only (EACCES for writing, as nsfs files are).
    fn reopen(&self, flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            return Err(libc::EACCES);
        }
        Ok(Box::new(SynthFile {
            data: self.data.clone(),
            source: self.source.clone(),
            watch: None,
        }))
    }

    fn read(&mut self, pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        Ok(read_held(&self.data, pos, len, off))
    }

    /// A generated file takes no writes, as Linux's procfs files without a write handler:
    /// ESPIPE for a positioned one, EINVAL for a process's file, EIO for the others.
    fn write(&mut self, _pos: &mut u64, _data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        Err(IoErr::Errno(match (off, &self.source) {
            (Some(_), _) => libc::ESPIPE,
            (None, Some(_)) => libc::EINVAL,
            (None, None) => libc::EIO,
        }))
    }

    /// As a seq file of Linux's procfs: from the start or the position only (a generated
    /// file has no end to seek from: EINVAL).
    fn seek(&mut self, pos: &mut u64, off: i64, whence: i32) -> Result<i64, Errno> {
        seek_without_end(pos, off, whence)
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        let mut st = anon_stat(libc::S_IFREG | 0o444);
        st.st_size = self.data.len() as i64;
        Ok(st)
    }

    fn mmap(&self, off: u64, _len: u64) -> Result<Mappable, Errno> {
        Ok(Mappable {
            bytes: self.data.get(off as usize..).unwrap_or_default().to_vec(),
            shared_writable: false,
        })
    }

    fn epoll_watchable(&self) -> bool {
        self.watch.is_some()
    }

    /// Always readable; a file watching a name adds POLLERR|POLLPRI once after each
    /// change (as Linux's proc_sys_poll, whatever events were asked for).
    fn readiness(&self, events: i16) -> (i16, Vec<WaitKey>) {
        let plain = events & (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM);
        let Some(w) = &self.watch else {
            return (plain, Vec::new());
        };
        let now = w.events.0[w.which].get();
        let changed = now != w.seen.get();
        w.seen.set(now);
        let r = if changed {
            plain | libc::POLLERR | (events & libc::POLLPRI)
        } else {
            plain
        };
        (r, vec![uts_key(w.which)])
    }
}

/// A generated directory: its entries as of open (or its last refresh).
pub struct SynthDir {
    entries: Vec<DirEnt>,
    /// The procfs path (below /proc) it is made anew from, for a process's directory.
    pub(crate) source: Option<Vec<String>>,
}

impl SynthDir {
    pub fn new(entries: Vec<DirEnt>) -> Self {
        SynthDir {
            entries,
            source: None,
        }
    }

    /// A process's directory, made from procfs path `source`.
    pub(crate) fn live(entries: Vec<DirEnt>, source: Vec<String>) -> Self {
        SynthDir {
            entries,
            source: Some(source),
        }
    }

    /// Its entries as they are now.
    pub(crate) fn refill(&mut self, entries: Vec<DirEnt>) {
        self.entries = entries;
    }
}

impl FileImpl for SynthDir {
    fn read(&mut self, _pos: &mut u64, _len: usize, _off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        Err(IoErr::Errno(libc::EISDIR))
    }

    fn write(&mut self, _pos: &mut u64, _data: &[u8], _off: Option<u64>) -> Result<usize, IoErr> {
        Err(IoErr::Errno(libc::EACCES))
    }

    fn seek(&mut self, pos: &mut u64, off: i64, whence: i32) -> Result<i64, Errno> {
        seek_in(pos, 0, off, whence)
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        Ok(anon_stat(libc::S_IFDIR | 0o555))
    }

    /// The entries from the position (an index: `.` and `..` first), as many whole
    /// records as fit in `len`; EINVAL if not even one does.
    fn getdents(&mut self, pos: &mut u64, len: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut all: Vec<DirEnt> = vec![(".".into(), libc::DT_DIR), ("..".into(), libc::DT_DIR)];
        all.extend(self.entries.iter().cloned());
        let mut i = *pos as usize;
        while i < all.len() {
            let (name, ty) = &all[i];
            let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
            if out.len() + reclen > len {
                break;
            }
            let start = out.len();
            out.extend_from_slice(&(1000 + i as u64).to_le_bytes());
            out.extend_from_slice(&((i + 1) as u64).to_le_bytes());
            out.extend_from_slice(&(reclen as u16).to_le_bytes());
            out.push(*ty);
            out.extend_from_slice(name.as_bytes());
            out.resize(start + reclen, 0);
            i += 1;
        }
        if out.is_empty() && i < all.len() {
            return Err(libc::EINVAL);
        }
        *pos = i as u64;
        Ok(out)
    }

    fn is_dir(&self) -> bool {
        true
    }

    fn epoll_watchable(&self) -> bool {
        false
    }
}

/// A saved generated file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthFileState {
    pub data: Vec<u8>,
    /// The procfs path of a process's file.
    pub source: Option<Vec<String>>,
    /// A description of /proc/sys/kernel/hostname (0) or domainname (1) watching its
    /// name, and whether a change it has not reported is due.
    pub watch: Option<(u8, bool)>,
}

impl Persist for SynthFile {
    type State = SynthFileState;

    fn save(&self, _: &mut SaveCtx) -> SynthFileState {
        let SynthFile {
            data,
            source,
            watch,
        } = self;
        SynthFileState {
            data: data.clone(),
            source: source.clone(),
            watch: watch.as_ref().map(|w| {
                let due = w.events.0[w.which].get() != w.seen.get();
                (w.which as u8, due)
            }),
        }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &SynthFileState) -> Result<Self, KindError> {
        let watch = s.watch.map(|(which, due)| {
            let events = cx.vfs().uts_events.clone();
            let now = events.0[which as usize].get();
            // The counts start again: a change not yet reported stays due.
            let seen = Cell::new(if due { now.wrapping_sub(1) } else { now });
            UtsWatch {
                events,
                which: which as usize,
                seen,
            }
        });
        Ok(SynthFile {
            data: s.data.clone(),
            source: s.source.clone(),
            watch,
        })
    }

    /// Any bytes are a file's (the image's size cap bounds them), and any path is only
    /// ever looked up in procfs, which refuses names it does not have; a watched name is
    /// the host name's or the domain name's.
    fn check(_: &CheckCtx, s: &SynthFileState) -> Result<(), Invalid> {
        if let Some((which, _)) = s.watch {
            if which > 1 {
                return Err(crate::checks::bad(
                    "generated file",
                    "watch",
                    format!("{which} names no UTS name"),
                ));
            }
        }
        Ok(())
    }
}

/// A saved generated directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthDirState {
    /// (name, d_type)
    pub entries: Vec<(String, u8)>,
    /// The procfs path of a process's directory.
    pub source: Option<Vec<String>>,
}

impl Persist for SynthDir {
    type State = SynthDirState;

    fn save(&self, _: &mut SaveCtx) -> SynthDirState {
        let SynthDir { entries, source } = self;
        SynthDirState {
            entries: entries.clone(),
            source: source.clone(),
        }
    }

    fn restore(_: &mut RestoreCtx, _: &FileMeta, s: &SynthDirState) -> Result<Self, KindError> {
        Ok(SynthDir {
            entries: s.entries.clone(),
            source: s.source.clone(),
        })
    }

    /// Entries are only ever copied out to the guest as names, and a path is only ever
    /// looked up in procfs; any are harmless.
    fn check(_: &CheckCtx, _: &SynthDirState) -> Result<(), Invalid> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_on_from_the_position() {
        let mut f = SynthFile::new(b"MemTotal: 1 kB\n".to_vec());
        let mut pos = 0;
        assert_eq!(f.read(&mut pos, 3, None).unwrap(), b"Mem");
        assert_eq!(f.read(&mut pos, 100, None).unwrap(), b"Total: 1 kB\n");
        assert_eq!(f.read(&mut pos, 100, None).unwrap(), b"");
        assert_eq!(pos, 15);
        // pread leaves the position alone.
        assert_eq!(f.read(&mut pos, 5, Some(3)).unwrap(), b"Total");
        assert_eq!(f.read(&mut pos, 5, Some(99)).unwrap(), b"");
        assert_eq!(pos, 15);
    }

    #[test]
    fn seeks_move_the_position_from_the_start_or_itself_within_and_past_the_end() {
        let mut f = SynthFile::new(b"0123456789".to_vec());
        let mut pos = 0;
        // No end to seek from, as Linux's seq files.
        assert_eq!(f.seek(&mut pos, -4, libc::SEEK_END), Err(libc::EINVAL));
        assert_eq!(f.seek(&mut pos, 0, libc::SEEK_DATA), Err(libc::EINVAL));
        assert_eq!(f.seek(&mut pos, 6, libc::SEEK_SET), Ok(6));
        assert_eq!(f.read(&mut pos, 10, None).unwrap(), b"6789");
        assert_eq!(f.seek(&mut pos, 2, libc::SEEK_SET), Ok(2));
        assert_eq!(f.seek(&mut pos, 1, libc::SEEK_CUR), Ok(3));
        assert_eq!(f.read(&mut pos, 2, None).unwrap(), b"34");
        assert_eq!(f.seek(&mut pos, -10, libc::SEEK_CUR), Err(libc::EINVAL));
        assert_eq!(f.seek(&mut pos, 20, libc::SEEK_SET), Ok(20));
        assert_eq!(f.read(&mut pos, 2, None).unwrap(), b"");
        assert_eq!(f.write(&mut pos, b"x", None), Err(IoErr::Errno(libc::EIO)));
        assert_eq!(
            f.write(&mut pos, b"x", Some(1)),
            Err(IoErr::Errno(libc::ESPIPE))
        );
        let mut of_process = SynthFile::live(b"1 (init)".to_vec(), vec!["1".into(), "stat".into()]);
        assert_eq!(
            of_process.write(&mut pos, b"x", None),
            Err(IoErr::Errno(libc::EINVAL))
        );
        assert_eq!(f.stat().unwrap().st_size, 10);
        assert_eq!(f.mmap(8, 4096).unwrap().bytes, b"89");
    }

    /// Parses linux_dirent64 records into (name, d_type, d_off).
    fn parse(buf: &[u8]) -> Vec<(String, u8, u64)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < buf.len() {
            let off = u64::from_le_bytes(buf[at + 8..at + 16].try_into().unwrap());
            let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let ty = buf[at + 18];
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap()];
            out.push((String::from_utf8(name.to_vec()).unwrap(), ty, off));
            at += reclen;
        }
        out
    }

    #[test]
    fn a_directory_lists_dot_entries_then_its_own_in_pieces() {
        let mut d = SynthDir::new(vec![
            ("self".into(), libc::DT_LNK),
            ("meminfo".into(), libc::DT_REG),
        ]);
        let mut pos = 0;
        assert_eq!(
            d.getdents(&mut pos, 10),
            Err(libc::EINVAL),
            "no record fits"
        );
        let first = parse(&d.getdents(&mut pos, 48).unwrap());
        assert_eq!(
            first,
            [
                (".".into(), libc::DT_DIR, 1),
                ("..".into(), libc::DT_DIR, 2)
            ]
        );
        let rest = parse(&d.getdents(&mut pos, 4096).unwrap());
        assert_eq!(
            rest,
            [
                ("self".into(), libc::DT_LNK, 3),
                ("meminfo".into(), libc::DT_REG, 4)
            ]
        );
        assert!(d.getdents(&mut pos, 4096).unwrap().is_empty());
        assert_eq!(d.seek(&mut pos, 0, libc::SEEK_SET), Ok(0));
        assert_eq!(parse(&d.getdents(&mut pos, 4096).unwrap()).len(), 4);
        assert!(d.is_dir());
        assert_eq!(d.read(&mut pos, 1, None), Err(IoErr::Errno(libc::EISDIR)));
    }

    #[test]
    fn generated_files_come_back_at_their_position() {
        use crate::fs::file::OpenFile;
        use crate::persist::testing::{at, round_trip, table};

        let f = OpenFile::new(
            Box::new(SynthFile::new(b"0123456789".to_vec())),
            libc::O_RDONLY,
            "/proc/uptime",
        );
        f.borrow_mut().read(4, None).unwrap();
        let d = OpenFile::new(
            Box::new(SynthDir::live(
                vec![("1".into(), libc::DT_DIR)],
                vec!["7".into(), "task".into()],
            )),
            libc::O_RDONLY | libc::O_DIRECTORY,
            "/proc",
        );
        d.borrow_mut().getdents(48).unwrap();
        let (_, back) = round_trip(&[&table(&[&f, &d])]);
        let (f2, d2) = (at(&back[0], 0), at(&back[0], 1));
        assert_eq!(f2.borrow().flags, libc::O_RDONLY);
        assert_eq!(f2.borrow_mut().read(100, None).unwrap(), b"456789");
        assert!(d2.borrow().imp.is_dir());
        // A process's directory still names the procfs path it is made anew from.
        let src = d2
            .borrow()
            .kind::<SynthDir>()
            .and_then(|d| d.source.clone());
        assert_eq!(src, Some(vec!["7".to_string(), "task".to_string()]));
        assert_eq!(f2.borrow().kind::<SynthFile>().unwrap().source, None);
        let rest = parse(&d2.borrow_mut().getdents(4096).unwrap());
        assert_eq!(rest, [("1".into(), libc::DT_DIR, 3)]);
    }
}
