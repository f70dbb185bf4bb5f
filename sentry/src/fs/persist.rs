//! The persistence framework of open files: what each kind implements to be saved,
//! checked and restored ([`Persist`], and [`SharedPersist`] for an object several
//! descriptions share), and the contexts its `save`, `restore` and `check` get
//! ([`SaveCtx`], [`RestoreCtx`], [`CheckCtx`]).
//!
//! This layer names no kind and no enum of the image. The kinds (here in `fs`, and in
//! `ipc`) implement its traits; the registration (`crate::kinds`), above every kind, lists
//! them once and makes the image's enums of saved kinds and of shared objects. The two
//! meet type-erased: the registration implements [`Registered`] for each kind it lists,
//! whose `wrap` turns the kind's state into the variant it is registered under, handed to
//! this layer as a `Box<dyn Any>`; likewise [`RegisteredShared`] for shared objects, whose
//! `unwrap` finds an object's state in the image's enum, given as `&dyn Any`. The walk that
//! saves, checks and restores the open files and fd tables of a kernel, which needs those
//! enums, is `crate::persist`, above the registration; it drives these contexts.
//!
//! A saved state never holds a host fd or a live type: a host file is saved as what to
//! reopen. Objects that several descriptions share (a pipe's buffer, shared by its two
//! ends) are saved once, in the image's shared table keyed by their id
//! ([`SaveCtx::share`]), and restored once ([`RestoreCtx::shared`]). Open files are saved
//! once each, keyed by id, and refer to each other by id ([`SaveCtx::file_id`],
//! [`RestoreCtx::link`]): serde preserves neither sharing nor cycles (an epoll set may
//! watch itself through a dup).

use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::checks::{bad, Invalid};
use crate::fs::file::{AsyncIo, FileImpl, FileRef, OpenFile, OpenerState};
use crate::fs::Vfs;

/// The saved form of one kind of open file, beside the kind (Firecracker's `Persist`).
///
/// `save` destructures the live struct, so that a field added to it does not compile
/// until it is saved or named as not saved, with the reason.
pub trait Persist: Sized {
    /// Plain data: no host fd, no live type.
    type State: Serialize + DeserializeOwned + Debug + Clone + PartialEq;

    fn save(&self, cx: &mut SaveCtx) -> Self::State;

    /// Builds the kind again. `file` is the description being restored (its path and
    /// flags, for kinds that reopen something).
    fn restore(
        cx: &mut RestoreCtx,
        file: &FileMeta,
        state: &Self::State,
    ) -> Result<Self, KindError>;

    /// Checks a decoded (hostile) state before any of the image is restored.
    fn check(cx: &CheckCtx, state: &Self::State) -> Result<(), Invalid>;
}

/// An object several descriptions share, saved once in the image's shared table under the
/// kernel object id it has (ids come from `Kernel::new_obj_id`, and new objects of the
/// restored kernel get ids above every restored one).
pub trait SharedPersist: Sized + 'static {
    /// Plain data: no host fd, no live type.
    type State: Serialize + DeserializeOwned + Debug + Clone + PartialEq;
    /// What it is, for messages ("pipe").
    const WHAT: &'static str;

    /// Its saved form; `cx` gives ids to the open files and other shared objects it
    /// refers to (a socket's peer, the descriptors in flight in its queue).
    fn save(&self, cx: &mut SaveCtx) -> Self::State;

    fn restore(id: u64, state: &Self::State) -> Self;

    /// Whether `id` is a kernel object id (new objects of the restored kernel get ids
    /// above it); an object whose ids come from a range of their own says no.
    fn kernel_object_id(id: u64) -> bool {
        let _ = id;
        true
    }

    /// Links the restored object `this` to the other shared objects and open files its
    /// state names, once it is in the restored table (so that two objects naming each
    /// other come back as one cycle). Objects that name nothing keep the default.
    fn relink(
        this: &Rc<RefCell<Self>>,
        state: &Self::State,
        cx: &mut RestoreCtx,
    ) -> Result<(), KindError> {
        let _ = (this, state, cx);
        Ok(())
    }

    /// Checks a decoded (hostile) state; `object` names it for the message.
    fn check(object: &str, state: &Self::State) -> Result<(), Invalid>;
}

/// A kind listed in the registration: implemented for each kind by the list in
/// `crate::kinds`, never by hand. [`FileImpl`] needs it (through
/// [`Kind`](crate::fs::file::Kind)), so a kind that is not listed does not compile as an
/// open file, and cannot be missing from an image:
///
/// ```compile_fail
/// use sentry::checks::Invalid;
/// use sentry::fs::file::FileImpl;
/// use sentry::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
///
/// struct Unlisted;
///
/// impl Persist for Unlisted {
///     type State = ();
///     fn save(&self, _: &mut SaveCtx) {}
///     fn restore(_: &mut RestoreCtx, _: &FileMeta, _: &()) -> Result<Self, KindError> {
///         Ok(Unlisted)
///     }
///     fn check(_: &CheckCtx, _: &()) -> Result<(), Invalid> {
///         Ok(())
///     }
/// }
///
/// // Saved, but not registered: `Unlisted: Registered` is not satisfied.
/// impl FileImpl for Unlisted {}
/// ```
pub trait Registered: Persist + 'static {
    /// Its saved form as the variant of the image's saved-kind enum it is registered
    /// under, type-erased (this layer does not name the enum).
    fn wrap(state: Self::State) -> Box<dyn Any>;
}

/// A shared object listed in the registration (implemented for it by the list in
/// `crate::kinds`, never by hand).
pub trait RegisteredShared: SharedPersist {
    /// Its saved form as the variant of the image's shared-object enum it is registered
    /// under, type-erased.
    fn wrap(state: Self::State) -> Box<dyn Any>;

    /// Its saved form, if `state` (a value of the image's shared-object enum) is of its
    /// variant.
    fn unwrap(state: &dyn Any) -> Option<&Self::State>;
}

/// What every saved open file description has besides its kind, as its kind's `restore`
/// and `check` see it (the image's record of a description holds these fields and the
/// kind's saved form).
#[derive(Debug, Clone, Copy)]
pub struct FileMeta<'a> {
    pub id: u64,
    /// Access mode and status flags.
    pub flags: i32,
    /// The position kept in the description.
    pub pos: u64,
    /// Guest path.
    pub path: &'a str,
    /// Signal-driven I/O settings.
    pub async_io: AsyncIo,
    /// The credentials it was opened with.
    pub opener: Option<OpenerState>,
}

impl FileMeta<'_> {
    /// The live description again, of kind `imp` (restored by the kind).
    pub fn with_kind(&self, imp: Box<dyn FileImpl>) -> FileRef {
        let &FileMeta {
            id: _, // the key of the image's files
            flags,
            pos,
            path,
            async_io,
            opener,
        } = self;
        Rc::new(RefCell::new(OpenFile {
            flags,
            pos,
            path: path.to_string(),
            imp,
            async_io,
            watch: None, // bound again by the walk that restores the files
            opener: opener.as_ref().map(OpenerState::restore),
        }))
    }
}

/// An open file description as saved, its kind as the registration wrapped it.
pub struct SavedFile {
    pub id: u64,
    /// A value of the image's saved-kind enum ([`Registered::wrap`]).
    pub kind: Box<dyn Any>,
    pub flags: i32,
    pub pos: u64,
    pub path: String,
    pub async_io: AsyncIo,
    pub opener: Option<OpenerState>,
}

/// What the kinds' `save` may use: ids for open files they refer to, the shared table,
/// the file systems the guest paths resolve in, and the ghost-file limit; a kind whose
/// object cannot be saved records why ([`SaveCtx::fail`]) and the checkpoint fails.
pub struct SaveCtx<'a> {
    file_ids: HashMap<*const RefCell<OpenFile>, u64>,
    /// Files given an id but not yet saved.
    queue: VecDeque<(u64, FileRef)>,
    /// Values of the image's shared-object enum ([`RegisteredShared::wrap`]), by id.
    shared: BTreeMap<u64, Box<dyn Any>>,
    /// The position of the description being saved.
    pos: u64,
    vfs: &'a Vfs,
    /// The guest path of the description being saved.
    path: String,
    ghost_limit: u64,
    /// The first reason a file could not be saved.
    error: Option<SaveError>,
    /// The open file being saved.
    current: u64,
    /// The open file that saved each host inode's content, by host (device, inode).
    inode_savers: HashMap<(u64, u64), u64>,
    /// The host's CLOCK_MONOTONIC at the instant the guest's clock was captured.
    host_mono: Option<u64>,
}

/// Why an open file could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(
        "the deleted file {path} holds {bytes} bytes of data, above the ghost file limit of \
         {limit} bytes (raise it with --ghost-limit)"
    )]
    GhostTooBig {
        path: String,
        bytes: u64,
        limit: u64,
    },
    #[error("reading the deleted file {path}")]
    GhostRead {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl<'a> SaveCtx<'a> {
    /// The host's CLOCK_MONOTONIC at the instant the guest's monotonic clock was captured:
    /// timers save their time left from this instant, so that it and the clock agree.
    pub fn at_host_mono(mut self, host_mono: Option<u64>) -> Self {
        self.host_mono = host_mono;
        self
    }

    pub fn host_mono(&self) -> Option<u64> {
        self.host_mono
    }

    /// A context for saving open files whose guest paths resolve in `vfs`; a deleted file
    /// is saved with its data up to `ghost_limit` bytes (for the walk in `crate::persist`).
    pub fn new(vfs: &'a Vfs, ghost_limit: u64) -> Self {
        SaveCtx {
            file_ids: HashMap::new(),
            queue: VecDeque::new(),
            shared: BTreeMap::new(),
            pos: 0,
            vfs,
            path: String::new(),
            ghost_limit,
            error: None,
            current: 0,
            inode_savers: HashMap::new(),
            host_mono: None,
        }
    }

    /// The open file that saved the content of host inode `key` (another description of
    /// the same file), or `None` when it is the one being saved, which is recorded as
    /// the one that does.
    pub fn inode_saver(&mut self, key: (u64, u64)) -> Option<u64> {
        match self.inode_savers.get(&key) {
            Some(&id) => Some(id),
            None => {
                self.inode_savers.insert(key, self.current);
                None
            }
        }
    }

    /// The file systems guest paths resolve in.
    pub fn vfs(&self) -> &'a Vfs {
        self.vfs
    }

    /// The guest path of the description being saved.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How many bytes of data a deleted file may bring into the image.
    pub fn ghost_limit(&self) -> u64 {
        self.ghost_limit
    }

    /// Records why the object being saved cannot be: the checkpoint fails with the first
    /// such reason.
    pub fn fail(&mut self, e: SaveError) {
        self.error.get_or_insert(e);
    }

    /// The first reason an object could not be saved (for the walk in `crate::persist`).
    pub fn take_error(&mut self) -> Option<SaveError> {
        self.error.take()
    }
    /// The id of open file `f` in the image; a file seen for the first time is saved too.
    pub fn file_id(&mut self, f: &FileRef) -> u64 {
        let next = self.file_ids.len() as u64 + 1;
        let id = *self.file_ids.entry(Rc::as_ptr(f)).or_insert(next);
        if id == next {
            self.queue.push_back((id, f.clone()));
        }
        id
    }

    /// Saves shared object `obj` under `id`, once however many descriptions share it.
    pub fn share<T: RegisteredShared>(&mut self, id: u64, obj: &T) {
        if self.shared.contains_key(&id) {
            return;
        }
        // A placeholder until its state is made: an object reached again while it is
        // being saved (two sockets naming each other) is saved once.
        self.shared.insert(id, Box::new(()));
        let state = T::wrap(obj.save(self));
        self.shared.insert(id, state);
    }

    /// The position kept in the description whose kind is being saved.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Saves the next file given an id and not yet saved, if any (for the walk in
    /// `crate::persist`).
    pub fn save_next(&mut self) -> Option<SavedFile> {
        let (id, f) = self.queue.pop_front()?;
        self.current = id;
        let fb = f.borrow();
        self.pos = fb.pos;
        self.path.clone_from(&fb.path);
        let kind = fb.imp.save_kind(self);
        let OpenFile {
            flags,
            pos,
            path,
            imp: _, // saved just above
            async_io,
            watch: _, // found again from the path at restore
            opener,
        } = &*fb;
        Some(SavedFile {
            id,
            kind,
            flags: *flags,
            pos: *pos,
            path: path.clone(),
            async_io: *async_io,
            opener: opener.as_ref().map(OpenerState::save),
        })
    }

    /// The shared objects saved, by id (for the walk in `crate::persist`, once every file
    /// is saved).
    pub fn into_shared(self) -> BTreeMap<u64, Box<dyn Any>> {
        self.shared
    }
}

/// Why a kind could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    #[error("reopening {path}")]
    Reopen {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("recreating the deleted file {path}")]
    Recreate {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the file {path} changed since the checkpoint: {detail}")]
    Changed { path: String, detail: String },
    #[error("{what} {id} is not in the image")]
    Missing { what: &'static str, id: u64 },
    #[error("making the host socket of {what} again")]
    HostSocket {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Links a restored kind makes to other open files once all of them exist (an epoll set
/// to the files it watches).
pub(crate) type Link<'a> = Box<dyn FnOnce(&HashMap<u64, FileRef>) -> Result<(), KindError> + 'a>;

/// What the kinds' `restore` may use: the new sandbox's file systems and stdio, the shared
/// table, and links to other open files.
pub struct RestoreCtx<'a> {
    vfs: &'a Vfs,
    stdio: [Option<OwnedFd>; 3],
    stdio_open: [Option<Rc<OwnedFd>>; 3],
    /// Values of the image's shared-object enum, by id.
    saved_shared: HashMap<u64, &'a dyn Any>,
    shared: HashMap<u64, Rc<dyn Any>>,
    links: Vec<(u64, Link<'a>)>,
    /// The open file being restored.
    current: u64,
    max_object: u64,
    /// Host files a restored description recreated, for the other descriptions of the
    /// same file ([`RestoreCtx::inode_saver`]), by the id of the one that did.
    inodes: HashMap<u64, (OwnedFd, bool)>,
    /// The restored kernel's memory file (its allocated ranges restored already), for
    /// the kinds whose bytes live in it (memfds).
    memory: Option<Rc<crate::mm::MemoryFile>>,
    /// The host's CLOCK_MONOTONIC at the instant the guest's clock was set going again.
    host_mono: Option<u64>,
}

impl<'a> RestoreCtx<'a> {
    /// A context for restoring the open files of an image into `vfs`, binding saved stdio
    /// to `stdio`, with the image's shared objects (values of its shared-object enum) by
    /// id (for the walk in `crate::persist`).
    pub fn new(vfs: &'a Vfs, stdio: [OwnedFd; 3], saved_shared: HashMap<u64, &'a dyn Any>) -> Self {
        RestoreCtx {
            vfs,
            stdio: stdio.map(Some),
            stdio_open: [None, None, None],
            saved_shared,
            shared: HashMap::new(),
            links: Vec::new(),
            current: 0,
            max_object: 0,
            inodes: HashMap::new(),
            memory: None,
            host_mono: None,
        }
    }

    /// The restored kernel's memory file, for the kinds whose bytes live in it.
    pub fn with_memory(mut self, mf: Option<Rc<crate::mm::MemoryFile>>) -> Self {
        self.memory = mf;
        self
    }

    /// The host's CLOCK_MONOTONIC when the guest's monotonic clock went on from the
    /// image's: timers restore their time left from this instant, not from whenever
    /// their file is restored.
    pub fn at_host_mono(mut self, host_mono: Option<u64>) -> Self {
        self.host_mono = host_mono;
        self
    }

    pub fn host_mono(&self) -> Option<u64> {
        self.host_mono
    }

    /// The restored kernel's memory file, if the restore has one.
    pub fn memory(&self) -> Option<Rc<crate::mm::MemoryFile>> {
        self.memory.clone()
    }

    /// The description being restored recreated host file `fd` (with a flag of its
    /// kind's), which other descriptions of the image may share.
    pub fn recreated(&mut self, fd: OwnedFd, flag: bool) {
        self.inodes.insert(self.current, (fd, flag));
    }

    /// The host file open file `id` recreated ([`RestoreCtx::recreated`]): a new fd of
    /// it (the same host description), and the flag.
    pub fn inode_saver(&self, id: u64) -> Result<(OwnedFd, bool), KindError> {
        let missing = KindError::Missing {
            what: "the recreated file of open file",
            id,
        };
        let (fd, flag) = self.inodes.get(&id).ok_or(missing)?;
        let fd = fd.try_clone().map_err(|source| KindError::Recreate {
            path: format!("(the file of open file {id})"),
            source,
        })?;
        Ok((fd, *flag))
    }

    /// The new sandbox's mounts, to reopen host files in.
    pub fn vfs(&self) -> &'a Vfs {
        self.vfs
    }

    /// The new container's stdio `index` (0, 1 or 2), made non-blocking for the event
    /// loop when first asked for; every saved description of the same stdio shares it.
    pub fn stdio(&mut self, index: usize) -> Rc<OwnedFd> {
        let i = index.min(2);
        if let Some(fd) = &self.stdio_open[i] {
            return fd.clone();
        }
        let fd = self.stdio[i]
            .take()
            .expect("a stdio fd is taken once, then shared");
        let fd = Rc::new(crate::fs::stdio::nonblocking(fd));
        self.stdio_open[i] = Some(fd.clone());
        fd
    }

    /// The shared object `id`, restored the first time it is asked for.
    pub fn shared<T: RegisteredShared>(&mut self, id: u64) -> Result<Rc<RefCell<T>>, KindError> {
        let missing = KindError::Missing { what: T::WHAT, id };
        if let Some(obj) = self.shared.get(&id) {
            return obj.clone().downcast::<RefCell<T>>().map_err(|_| missing);
        }
        let state = self
            .saved_shared
            .get(&id)
            .and_then(|s| T::unwrap(*s))
            .ok_or(missing)?;
        let obj = Rc::new(RefCell::new(T::restore(id, state)));
        self.shared.insert(id, obj.clone());
        if T::kernel_object_id(id) {
            self.object_id(id);
        }
        T::relink(&obj, state, self)?;
        Ok(obj)
    }

    /// Records a kernel object id the restored kernel holds (an eventfd's, an epoll
    /// set's), so that new objects get other ids.
    pub fn object_id(&mut self, id: u64) {
        self.max_object = self.max_object.max(id);
    }

    /// Runs `link` once every open file of the image is restored, with them by id.
    pub fn link(
        &mut self,
        link: impl FnOnce(&HashMap<u64, FileRef>) -> Result<(), KindError> + 'a,
    ) {
        self.links.push((self.current, Box::new(link)));
    }

    /// Open file `id` is the one being restored: the links its kind makes are its (for
    /// the walk in `crate::persist`).
    pub fn restoring(&mut self, id: u64) {
        self.current = id;
    }

    /// The links the kinds made, each with the open file that made it, to run once every
    /// file is restored (for the walk in `crate::persist`).
    pub fn take_links(&mut self) -> Vec<(u64, Link<'a>)> {
        std::mem::take(&mut self.links)
    }

    /// The largest kernel object id the restored files hold.
    pub fn max_object_id(&self) -> u64 {
        self.max_object
    }
}

/// What a kind's `check` may consult: the description and the other saved objects.
pub struct CheckCtx<'a> {
    /// Names the description in messages ("open file 7").
    pub object: String,
    pub file: FileMeta<'a>,
    files: &'a HashSet<u64>,
    /// Values of the image's shared-object enum, by id.
    shared: &'a HashMap<u64, &'a dyn Any>,
}

impl<'a> CheckCtx<'a> {
    /// A context for checking the kind of `file`, in an image with open files `files`
    /// and shared objects `shared` (values of its shared-object enum) by id (for the walk
    /// in `crate::persist`).
    pub fn new(
        file: FileMeta<'a>,
        files: &'a HashSet<u64>,
        shared: &'a HashMap<u64, &'a dyn Any>,
    ) -> Self {
        CheckCtx {
            object: format!("open file {}", file.id),
            file,
            files,
            shared,
        }
    }

    /// An error about `field` of this description.
    pub fn bad(&self, field: &'static str, problem: impl Into<String>) -> Invalid {
        bad(&self.object, field, problem)
    }

    /// Whether the image has open file `id`.
    pub fn has_file(&self, id: u64) -> bool {
        self.files.contains(&id)
    }

    /// Whether the shared table has a `T` under `id`.
    pub fn has_shared<T: RegisteredShared>(&self, id: u64) -> bool {
        self.shared
            .get(&id)
            .is_some_and(|s| T::unwrap(*s).is_some())
    }
}
