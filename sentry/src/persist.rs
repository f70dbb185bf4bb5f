//! Open files and fd tables in a checkpoint image: saving them, checking a decoded image's
//! files before anything is restored, and restoring them.
//!
//! Each kind of open file keeps its saved form beside it, implementing the framework of
//! [`crate::fs::persist`] (`Persist`: `save` gives a plain serde `State`, `restore` builds
//! the live kind from it), and is registered once in [`crate::kinds`], which makes the
//! image's enums ([`FileKindState`], [`SharedState`]) and the dispatch on them. This module
//! sits above both: it walks a kernel's fd tables through the framework's contexts and
//! turns what the kinds save into the image's records (the registration's enums in them),
//! and back.
//!
//! Objects that several descriptions share (a pipe's buffer, shared by its two ends) are
//! saved once, in the image's shared table keyed by their id, and restored once. Open
//! files are saved once each, keyed by id, and fd tables (shared by CLONE_FILES) refer to
//! them by id: serde preserves neither sharing nor cycles (an epoll set may watch itself
//! through a dup).
//!
//! The kernel calls three functions: [`save`] when it writes its state, [`check`] from the
//! one validation pass, and [`restore`] when it builds a kernel from an image.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::checks::{bad, path_ok, unique, Invalid, CREDS_ID_MAX, FD_MAX};
use crate::fs::file::{AsyncIo, FdEntry, FdTable, FileImpl, FileRef, OpenerState};
use crate::fs::persist::{
    CheckCtx, FileMeta, KindError, RestoreCtx, SaveCtx, SaveError, SavedFile,
};
use crate::fs::Vfs;
use crate::kinds::{self, FileKindState, SharedState};

/// A saved open file description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileState {
    pub id: u64,
    pub kind: FileKindState,
    pub flags: i32,
    pub pos: u64,
    pub path: String,
    pub async_io: AsyncIo,
    /// The credentials it was opened with (none: not opened by the guest).
    pub opener: Option<OpenerState>,
}

impl FileState {
    /// What the description has besides its kind, as the kinds see it.
    fn meta(&self) -> FileMeta<'_> {
        let FileState {
            id,
            kind: _, // the kind's own
            flags,
            pos,
            path,
            async_io,
            opener,
        } = self;
        FileMeta {
            id: *id,
            flags: *flags,
            pos: *pos,
            path,
            async_io: *async_io,
            opener: *opener,
        }
    }
}

/// A saved fd table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FdTableState {
    pub id: u64,
    /// (fd, open file id, close-on-exec)
    pub fds: Vec<(i32, u64, bool)>,
    pub limit: i32,
}

/// One object of the shared table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedEntry {
    pub id: u64,
    pub object: SharedState,
}

/// The saved open files of a kernel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SavedFiles {
    pub shared: Vec<SharedEntry>,
    pub files: Vec<FileState>,
    pub fd_tables: Vec<FdTableState>,
}

/// The id each saved fd table got, by identity.
pub(crate) struct TableIds(HashMap<*const RefCell<FdTable>, u64>);

impl TableIds {
    /// The id of `table`, which must be one of the tables given to [`save`].
    pub(crate) fn get(&self, table: &Rc<RefCell<FdTable>>) -> u64 {
        *self
            .0
            .get(&Rc::as_ptr(table))
            .expect("every fd table of the kernel was saved")
    }
}

/// Saves every open file reachable from `tables` (each table once, however many tasks
/// share it) and `extra` (files other kernel objects name: the descriptions file locks are
/// held through), their guest paths resolving in `vfs`; a deleted file brings at most
/// `ghost_limit` bytes of data. Returns also the image ids of `extra`, in order. Every
/// guest thread must be stopped.
#[cfg(test)]
pub(crate) fn save<'a>(
    vfs: &Vfs,
    ghost_limit: u64,
    tables: impl IntoIterator<Item = &'a Rc<RefCell<FdTable>>>,
    extra: &[FileRef],
) -> Result<(SavedFiles, TableIds, Vec<u64>), SaveError> {
    save_at(vfs, ghost_limit, None, tables, extra)
}

/// [`save`], with the host's CLOCK_MONOTONIC at the instant the guest's clock was
/// captured (timers count their time left from it).
pub(crate) fn save_at<'a>(
    vfs: &Vfs,
    ghost_limit: u64,
    host_mono: Option<u64>,
    tables: impl IntoIterator<Item = &'a Rc<RefCell<FdTable>>>,
    extra: &[FileRef],
) -> Result<(SavedFiles, TableIds, Vec<u64>), SaveError> {
    let mut cx = SaveCtx::new(vfs, ghost_limit).at_host_mono(host_mono);
    let mut table_ids = HashMap::new();
    let mut fd_tables = Vec::new();
    for t in tables {
        let next = table_ids.len() as u64 + 1;
        let id = *table_ids.entry(Rc::as_ptr(t)).or_insert(next);
        if id != next {
            continue;
        }
        let tb = t.borrow();
        let FdTable { fds, limit } = &*tb;
        let fds = fds
            .iter()
            .map(|(&fd, FdEntry { file, cloexec })| (fd, cx.file_id(file), *cloexec))
            .collect();
        fd_tables.push(FdTableState {
            id,
            fds,
            limit: *limit,
        });
    }
    let extra_ids = extra.iter().map(|f| cx.file_id(f)).collect();
    let mut files = Vec::new();
    while let Some(SavedFile {
        id,
        kind,
        flags,
        pos,
        path,
        async_io,
        opener,
    }) = cx.save_next()
    {
        files.push(FileState {
            id,
            kind: FileKindState::from_wrapped(kind),
            flags,
            pos,
            path,
            async_io,
            opener,
        });
    }
    if let Some(e) = cx.take_error() {
        return Err(e);
    }
    let shared = cx
        .into_shared()
        .into_iter()
        .map(|(id, object)| SharedEntry {
            id,
            object: SharedState::from_wrapped(object),
        })
        .collect();
    Ok((
        SavedFiles {
            shared,
            files,
            fd_tables,
        },
        TableIds(table_ids),
        extra_ids,
    ))
}

/// Why the open files of an image could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreFilesError {
    #[error("open file {id}")]
    File {
        id: u64,
        #[source]
        source: KindError,
    },
    #[error("fd {fd} of fd table {table} names open file {file}, which is not in the image")]
    UnknownFile { table: u64, fd: i32, file: u64 },
    #[error("the file of a lock held through open file {file}")]
    Lock {
        file: u64,
        #[source]
        source: std::io::Error,
    },
}

/// The restored open files of an image.
pub(crate) struct RestoredFiles {
    /// The fd tables by saved id.
    pub tables: HashMap<u64, Rc<RefCell<FdTable>>>,
    /// The open files by saved id.
    pub files: HashMap<u64, FileRef>,
    /// The largest kernel object id the restored files hold.
    pub max_object_id: u64,
}

/// The shared table of an image as the framework's contexts take it: each object's
/// [`SharedState`], by id.
fn shared_by_id(shared: &[SharedEntry]) -> HashMap<u64, &dyn Any> {
    shared
        .iter()
        .map(|s| (s.id, &s.object as &dyn Any))
        .collect()
}

/// Restores the open files and fd tables of an image (already checked by [`check`]).
/// Host files are reopened in `vfs` by guest path; every saved stdio description is bound
/// to the new container's `stdio`. Without a memory file (unit tests of kinds that keep
/// no bytes there).
#[cfg(test)]
pub(crate) fn restore(
    vfs: &Vfs,
    stdio: [OwnedFd; 3],
    shared: &[SharedEntry],
    files: &[FileState],
    fd_tables: &[FdTableState],
) -> Result<RestoredFiles, RestoreFilesError> {
    restore_with_memory(vfs, stdio, shared, files, fd_tables, None, None)
}

/// [`restore`], with the restored kernel's memory file (its allocated ranges restored
/// already) for the kinds whose bytes live in it (memfds).
pub(crate) fn restore_with_memory(
    vfs: &Vfs,
    stdio: [OwnedFd; 3],
    shared: &[SharedEntry],
    files: &[FileState],
    fd_tables: &[FdTableState],
    memory: Option<std::rc::Rc<crate::mm::MemoryFile>>,
    host_mono: Option<u64>,
) -> Result<RestoredFiles, RestoreFilesError> {
    let mut cx = RestoreCtx::new(vfs, stdio, shared_by_id(shared))
        .with_memory(memory)
        .at_host_mono(host_mono);
    let mut restored: HashMap<u64, FileRef> = HashMap::new();
    for f in files {
        cx.restoring(f.id);
        let meta = f.meta();
        let imp: Box<dyn FileImpl> = kinds::restore_kind(&mut cx, &meta, &f.kind)
            .map_err(|source| RestoreFilesError::File { id: f.id, source })?;
        let file = meta.with_kind(imp);
        {
            // inotify knows a host file again by its inode and path (not saved).
            let mut fb = file.borrow_mut();
            if fb.kind::<crate::fs::host::HostFile>().is_some() && !fb.path_only() {
                let st = fb.imp.stat().ok();
                let target = vfs.notify_target(&fb.path, st.as_ref(), false);
                fb.watch = crate::fs::inotify::Node::new(target, fb.writable(), true);
            }
        }
        restored.insert(f.id, file);
    }
    for (id, link) in cx.take_links() {
        link(&restored).map_err(|source| RestoreFilesError::File { id, source })?;
    }
    let mut tables = HashMap::new();
    for t in fd_tables {
        let mut tab = FdTable::new();
        tab.limit = t.limit;
        for &(fd, file, cloexec) in &t.fds {
            let f = restored
                .get(&file)
                .cloned()
                .ok_or(RestoreFilesError::UnknownFile {
                    table: t.id,
                    fd,
                    file,
                })?;
            tab.fds.insert(fd, FdEntry { file: f, cloexec });
        }
        tables.insert(t.id, Rc::new(RefCell::new(tab)));
    }
    Ok(RestoredFiles {
        tables,
        files: restored,
        max_object_id: cx.max_object_id(),
    })
}

/// Checks the open files of a decoded image: every id unique, every reference (fd to
/// file, file to shared object, epoll set to file) resolving, every value in range.
/// Returns the ids of the fd tables, for the tasks that name them.
pub(crate) fn check(
    shared: &[SharedEntry],
    files: &[FileState],
    fd_tables: &[FdTableState],
) -> Result<HashSet<u64>, Invalid> {
    unique("shared object", shared.iter().map(|s| s.id))?;
    for s in shared {
        kinds::check_shared(&format!("shared object {}", s.id), &s.object)?;
    }
    let shared = shared_by_id(shared);
    let ids = unique("open file", files.iter().map(|f| f.id))?;
    for f in files {
        let cx = CheckCtx::new(f.meta(), &ids, &shared);
        path_ok(&cx.object, "path", &f.path, false)?;
        f.async_io
            .check()
            .map_err(|e| bad(&cx.object, "async_io", e))?;
        if let Some(o) = f.opener.filter(|o| o.creds_id > CREDS_ID_MAX) {
            let why = format!("credentials id {} is out of range", o.creds_id);
            return Err(bad(&cx.object, "opener", why));
        }
        kinds::check_kind(&cx, &f.kind)?;
    }
    let tables = unique("fd table", fd_tables.iter().map(|t| t.id))?;
    for t in fd_tables {
        let obj = format!("fd table {}", t.id);
        if !(0..=FD_MAX).contains(&t.limit) {
            return Err(bad(&obj, "limit", format!("{} is out of range", t.limit)));
        }
        unique("fd", t.fds.iter().map(|&(fd, ..)| fd))
            .map_err(|e| bad(&obj, "fds", e.to_string()))?;
        for &(fd, file, _) in &t.fds {
            if !(0..t.limit).contains(&fd) {
                return Err(bad(
                    &obj,
                    "fd",
                    format!("{fd} is not below the limit {}", t.limit),
                ));
            }
            if !ids.contains(&file) {
                return Err(bad(
                    &obj,
                    "fd",
                    format!("{fd} names open file {file}, which does not exist"),
                ));
            }
        }
    }
    Ok(tables)
}

/// Helpers for the kinds' round-trip tests: no root, no kernel.
#[cfg(test)]
pub(crate) mod testing {
    use std::cell::RefCell;
    use std::os::fd::OwnedFd;
    use std::rc::Rc;

    use super::*;
    use crate::fs::ghost::DEFAULT_GHOST_LIMIT as GHOST_LIMIT;

    /// A VFS without mounts (for kinds that reopen nothing).
    pub(crate) fn no_mounts() -> Vfs {
        Vfs {
            mounts: Vec::new(),
            scratch: Vec::new(),
            inos: Default::default(),
            devpts: Default::default(),
            cpus: 1,
            caches: Default::default(),
            uts_events: Default::default(),
            guest: Default::default(),
        }
    }

    /// Three descriptions of /dev/null, as a new container's stdio.
    pub(crate) fn null_stdio() -> [OwnedFd; 3] {
        let null = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        [null(), null(), null()]
    }

    /// An fd table holding `files` at fds 0, 1, 2, ...
    pub(crate) fn table(files: &[&FileRef]) -> Rc<RefCell<FdTable>> {
        let mut t = FdTable::new();
        for (fd, f) in files.iter().enumerate() {
            t.set(fd as i32, (*f).clone(), false);
        }
        Rc::new(RefCell::new(t))
    }

    /// Saves the files of `tables`, sends them through the image codec and the
    /// validation pass, and restores them with `vfs` and `stdio`: the saved files, and
    /// the restored tables in the order given.
    pub(crate) fn round_trip_with(
        vfs: &Vfs,
        stdio: [OwnedFd; 3],
        tables: &[&Rc<RefCell<FdTable>>],
    ) -> (SavedFiles, Vec<Rc<RefCell<FdTable>>>) {
        let (saved, ids, _) = save(vfs, GHOST_LIMIT, tables.iter().copied(), &[]).unwrap();
        let bytes =
            statefile::codec::encode(&(&saved.shared, &saved.files, &saved.fd_tables)).unwrap();
        let (shared, files, fd_tables): (Vec<SharedEntry>, Vec<FileState>, Vec<FdTableState>) =
            statefile::codec::decode(&bytes).unwrap();
        assert_eq!(
            (&shared, &files, &fd_tables),
            (&saved.shared, &saved.files, &saved.fd_tables)
        );
        check(&shared, &files, &fd_tables).unwrap();
        let back = restore(vfs, stdio, &shared, &files, &fd_tables).unwrap();
        let out = tables
            .iter()
            .map(|t| back.tables[&ids.get(t)].clone())
            .collect();
        (saved, out)
    }

    /// [`round_trip_with`] without mounts, with /dev/null as stdio.
    pub(crate) fn round_trip(
        tables: &[&Rc<RefCell<FdTable>>],
    ) -> (SavedFiles, Vec<Rc<RefCell<FdTable>>>) {
        round_trip_with(&no_mounts(), null_stdio(), tables)
    }

    /// The open file at `fd` of `table`.
    pub(crate) fn at(table: &Rc<RefCell<FdTable>>, fd: i32) -> FileRef {
        table.borrow().get(fd).expect("fd is open")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::fs::file::OpenFile;
    use crate::fs::synthetic::SynthFile;
    use crate::ipc::eventfd::{EventFdState, EVENTFD_MAX};
    use crate::ipc::pipe::{PipeEndState, PipeState};

    fn synth(data: &[u8]) -> FileRef {
        OpenFile::new(
            Box::new(SynthFile::new(data.to_vec())),
            libc::O_RDONLY,
            "/proc/x",
        )
    }

    #[test]
    fn the_credentials_a_file_was_opened_with_are_kept() {
        let (a, b) = (synth(b"a"), synth(b"b"));
        let opener = crate::fs::file::Opener {
            creds_id: 7,
            userns: crate::creds::UserNsRef::init(),
        };
        a.borrow_mut().opener = Some(opener.clone());
        let (saved, back) = round_trip(&[&table(&[&a, &b])]);
        let ino = crate::creds::UserNsRef::init().ino();
        let openers: Vec<_> = saved.files.iter().map(|f| f.opener).collect();
        let state = OpenerState {
            creds_id: 7,
            userns: ino,
        };
        assert_eq!(openers, [Some(state), None]);
        assert_eq!(at(&back[0], 0).borrow().opener, Some(opener));
        assert_eq!(at(&back[0], 1).borrow().opener, None);
    }

    #[test]
    fn tables_and_files_are_saved_once_however_shared() {
        let a = synth(b"a");
        let b = synth(b"b");
        let t1 = table(&[&a, &b, &a]);
        let t2 = table(&[&b]);
        let (saved, back) = round_trip(&[&t1, &t2, &t1]);
        assert_eq!(saved.files.len(), 2);
        assert_eq!(saved.fd_tables.len(), 2);
        assert!(
            Rc::ptr_eq(&back[0], &back[2]),
            "a shared table stays shared"
        );
        let (r1, r2) = (&back[0], &back[1]);
        assert!(Rc::ptr_eq(&at(r1, 0), &at(r1, 2)), "a dup'd file stays one");
        assert!(Rc::ptr_eq(&at(r1, 1), &at(r2, 0)));
        assert_eq!(at(r1, 1).borrow_mut().read(10, None).unwrap(), b"b");
    }

    fn file(id: u64, kind: FileKindState) -> FileState {
        FileState {
            id,
            kind,
            flags: libc::O_RDWR,
            pos: 0,
            path: "x".into(),
            async_io: AsyncIo::default(),
            opener: None,
        }
    }

    fn refused(shared: &[SharedEntry], files: &[FileState], tables: &[FdTableState]) -> String {
        check(shared, files, tables).unwrap_err().to_string()
    }

    #[test]
    fn hostile_files_are_refused_by_name() {
        let pipe = |id, capacity, n| SharedEntry {
            id,
            object: SharedState::Pipe(PipeState {
                buf: vec![0; n],
                capacity,
            }),
        };
        let end = |id, p| file(id, FileKindState::PipeRead(PipeEndState { pipe: p }));
        assert_eq!(
            refused(&[], &[end(1, 9)], &[]),
            "open file 1: pipe 9 does not exist"
        );
        assert_eq!(
            refused(&[pipe(9, 100, 0)], &[end(1, 9)], &[]),
            "shared object 9: capacity 100 is out of range"
        );
        assert_eq!(
            refused(&[pipe(9, 4096, 5000)], &[end(1, 9)], &[]),
            "shared object 9: buffer holds more than its capacity"
        );
        assert_eq!(
            refused(&[pipe(9, 4096, 0), pipe(9, 4096, 0)], &[], &[]),
            "shared object 9: id appears twice"
        );
        let eventfd = file(
            2,
            FileKindState::EventFd(EventFdState {
                id: 5,
                count: EVENTFD_MAX + 1,
                semaphore: false,
            }),
        );
        assert_eq!(
            refused(&[], &[eventfd], &[]),
            "open file 2: eventfd count is above the maximum"
        );
        let table = FdTableState {
            id: 4,
            fds: vec![(3, 77, false)],
            limit: 1024,
        };
        assert_eq!(
            refused(&[pipe(9, 4096, 0)], &[end(1, 9)], &[table]),
            "fd table 4: fd 3 names open file 77, which does not exist"
        );
        // An opener's credentials id past those a kernel may make.
        let mut far = end(1, 9);
        far.opener = Some(OpenerState {
            creds_id: CREDS_ID_MAX + 1,
            userns: crate::creds::UserNsRef::init().ino(),
        });
        assert_eq!(
            refused(&[pipe(9, 4096, 0)], &[far], &[]),
            format!(
                "open file 1: opener credentials id {} is out of range",
                CREDS_ID_MAX + 1
            )
        );
        let mut nul = end(1, 9);
        nul.path = "a\0b".into();
        assert!(refused(&[pipe(9, 4096, 0)], &[nul], &[]).contains("is not a valid guest path"));
        // Signal-driven I/O settings: a signal past the last, a negative fd, an owner id
        // that is no id.
        let owner = |id| crate::fs::file::Owner {
            kind: crate::fs::file::OwnerKind::Group,
            id,
            uid: 0,
            euid: 0,
        };
        for (io, why) in [
            (
                AsyncIo {
                    sig: 65,
                    ..AsyncIo::default()
                },
                "signal 65 is not a signal",
            ),
            (
                AsyncIo {
                    fd: -3,
                    ..AsyncIo::default()
                },
                "fd -3 is negative",
            ),
            (
                AsyncIo {
                    owner: Some(owner(0)),
                    ..AsyncIo::default()
                },
                "owner id 0 is not an id",
            ),
        ] {
            let mut f = end(1, 9);
            f.async_io = io;
            assert_eq!(
                refused(&[pipe(9, 4096, 0)], &[f], &[]),
                format!("open file 1: async_io {why}")
            );
        }
        let mut ok = end(1, 9);
        ok.async_io = AsyncIo {
            owner: Some(owner(4)),
            sig: 64,
            fd: 7,
        };
        assert!(check(&[pipe(9, 4096, 0)], &[ok], &[]).is_ok());
    }
}
