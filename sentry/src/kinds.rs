//! The one registration of open-file kinds and of the objects they share: the only code
//! that names every kind, and the image's enums of their saved forms.
//!
//! The list at the end of this file names every kind once, as `Variant(Type)`. From it come
//! the saved-kind enum of the image ([`FileKindState`], one variant per kind holding the
//! kind's [`Persist::State`]), the enum of shared objects ([`SharedState`]), the restore
//! dispatch and the validation dispatch.
//!
//! The persistence framework (`crate::fs::persist`) sits below every kind and does not
//! name these enums; the list maps between them and the kinds. For each kind it implements
//! [`Registered`], whose `wrap` puts the kind's state in its variant, handed to the
//! framework as a `Box<dyn Any>` and taken back here as the enum
//! (`FileKindState::from_wrapped`) by the walk in `crate::persist`; for each shared
//! object [`RegisteredShared`], whose `unwrap` finds its state in a [`SharedState`] the
//! framework holds as `&dyn Any`. Restoring and checking go the other way, by `match` on
//! the variant (`restore_kind`, `check_kind`, `check_shared`). A type that
//! implements [`FileImpl`] but is not listed here does not compile: [`FileImpl`] needs
//! [`Kind`](crate::fs::file::Kind), which only [`Registered`] kinds get, and
//! [`Registered`] needs [`Persist`]. So every open file has its saved form and a variant
//! of the image to be saved in.
//!
//! # How to add a file kind
//!
//! 1. Write the kind in one file of the module of its concept (`ipc/timerfd.rs`,
//!    `fs/tmpfs.rs`, `net/unix.rs`): the live struct and `impl FileImpl` with the
//!    operations it has (the trait's defaults answer as Linux does for the rest).
//! 2. Beside it, its saved form: a plain serde `State` struct (no host fd, no live type) and
//!    `impl Persist` (from `crate::fs::persist`) — `save` destructures the live struct, so
//!    every field is saved or named as not saved with the reason; `restore` builds it
//!    again from the state and the [`RestoreCtx`]; `check` refuses hostile values.
//!    Objects that several descriptions share (a socket pair's buffers) implement
//!    [`SharedPersist`] and are saved once with
//!    [`SaveCtx::share`](crate::fs::persist::SaveCtx::share).
//! 3. Add one line to the list below (`TimerFd(crate::ipc::timerfd::TimerFd),`, or to
//!    `shared` for a shared object). Append: the position is the variant's tag in the
//!    image.
//! 4. The image format changed: bump `STATE_SCHEMA` in `kernel/state.rs`, write the new
//!    golden fixture and regenerate the fuzz seeds (`fuzz/seeds-kernel-state/`), as
//!    `docs/statefile.md` says.
//! 5. Unit tests beside the kind: its semantics, and a round trip of its state
//!    (`crate::persist::testing`).
//!
//! The system call that creates the kind (`timerfd_create`) is the only other code that
//! names it; calls that must act on the concrete kind ask for it with
//! [`OpenFile::kind`](crate::fs::file::OpenFile::kind).

use std::any::Any;

use crate::checks::Invalid;
use crate::fs::file::FileImpl;
use crate::fs::persist::{
    CheckCtx, FileMeta, KindError, Persist, Registered, RegisteredShared, RestoreCtx, SharedPersist,
};

macro_rules! register {
    (
        files { $($kind:ident($kty:ty),)* }
        shared { $($obj:ident($oty:ty),)* }
    ) => {
        /// The saved form of an open file's kind: one variant per registered kind.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum FileKindState {
            $($kind(<$kty as Persist>::State),)*
        }

        /// The saved form of a shared object: one variant per registered kind of object.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum SharedState {
            $($obj(<$oty as SharedPersist>::State),)*
        }

        impl FileKindState {
            /// The saved kind a registered kind's [`Registered::wrap`] made, as the enum it
            /// is.
            pub(crate) fn from_wrapped(state: Box<dyn Any>) -> Self {
                *state
                    .downcast()
                    .expect("only the registration implements Registered")
            }
        }

        impl SharedState {
            /// The saved object a registered object's [`RegisteredShared::wrap`] made, as
            /// the enum it is.
            pub(crate) fn from_wrapped(state: Box<dyn Any>) -> Self {
                *state
                    .downcast()
                    .expect("only the registration implements RegisteredShared")
            }
        }

        $(
            impl Registered for $kty {
                fn wrap(state: Self::State) -> Box<dyn Any> {
                    Box::new(FileKindState::$kind(state))
                }
            }
        )*

        $(
            impl RegisteredShared for $oty {
                fn wrap(state: Self::State) -> Box<dyn Any> {
                    Box::new(SharedState::$obj(state))
                }

                #[allow(unreachable_patterns)] // with a single shared kind
                fn unwrap(state: &dyn Any) -> Option<&Self::State> {
                    match state.downcast_ref::<SharedState>()? {
                        SharedState::$obj(s) => Some(s),
                        _ => None,
                    }
                }
            }
        )*

        /// Builds the live kind of a saved open file.
        pub(crate) fn restore_kind(
            cx: &mut RestoreCtx,
            file: &FileMeta,
            kind: &FileKindState,
        ) -> Result<Box<dyn FileImpl>, KindError> {
            Ok(match kind {
                $(FileKindState::$kind(s) => Box::new(<$kty as Persist>::restore(cx, file, s)?),)*
            })
        }

        /// Checks a saved kind.
        pub(crate) fn check_kind(cx: &CheckCtx, kind: &FileKindState) -> Result<(), Invalid> {
            match kind {
                $(FileKindState::$kind(s) => <$kty as Persist>::check(cx, s),)*
            }
        }

        /// Checks a saved shared object.
        pub(crate) fn check_shared(object: &str, state: &SharedState) -> Result<(), Invalid> {
            match state {
                $(SharedState::$obj(s) => <$oty as SharedPersist>::check(object, s),)*
            }
        }
    };
}

register! {
    files {
        Host(crate::fs::host::HostFile),
        Stdio(crate::fs::stdio::HostStream),
        PipeRead(crate::ipc::pipe::PipeReader),
        PipeWrite(crate::ipc::pipe::PipeWriter),
        Dev(crate::fs::dev::DevFile),
        Synthetic(crate::fs::synthetic::SynthFile),
        SynthDir(crate::fs::synthetic::SynthDir),
        EventFd(crate::ipc::eventfd::EventFd),
        Epoll(crate::ipc::epoll::EpollFile),
        PipeRdwr(crate::ipc::pipe::PipeDuplex),
        Unix(crate::net::unix::UnixSocket),
        TimerFd(crate::ipc::timerfd::TimerFd),
        SignalFd(crate::ipc::signalfd::SignalFd),
        Inet(crate::net::inet::InetSocket),
        Netlink(crate::net::netlink::NetlinkSocket),
        Inotify(crate::fs::inotify::InotifyFile),
        PtyMaster(crate::fs::devpts::PtyMaster),
        PtyReplica(crate::fs::devpts::PtyReplica),
        Memfd(crate::fs::memfd::MemfdFile),
        ProcMem(crate::fs::procmem::ProcMem),
        ProcComm(crate::fs::proccomm::ProcComm),
    }
    shared {
        Pipe(crate::ipc::pipe::Pipe),
        UnixEndpoint(crate::net::unix::Endpoint),
        InetEndpoint(crate::net::inet::Endpoint),
        Pty(crate::fs::devpts::Pty),
        Memfd(crate::fs::memfd::Memfd),
    }
}
