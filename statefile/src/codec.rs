//! The state codec: the one module that knows the state section is postcard.
//!
//! postcard 1.x, not bincode: the `bincode` crate is unmaintained (3.0 is an
//! empty tombstone release, RUSTSEC-2025-0141). postcard has a stable,
//! documented wire format and no schema evolution, which is why the state
//! section carries its own schema version (see [`crate::StateSchema`]).
//!
//! Decoding hostile bytes is bounded: postcard never pre-allocates more than
//! the input could fill (its sequence size hint is withheld when the input is
//! shorter than the claimed length, and serde caps pre-allocation anyway), and
//! the input itself is bounded by the image's state size cap.
#![forbid(unsafe_code)]

use std::io::Write;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// What went wrong encoding or decoding the state section.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value's `Serialize` impl failed, or postcard could not encode it.
    #[error("cannot encode state")]
    Encode(#[source] postcard::Error),
    /// The bytes are not a valid encoding of the requested type; `path` names the field
    /// being decoded when it failed (`tasks[3].regs`, or `.` for the top level).
    #[error("cannot decode state at {path}")]
    Decode {
        path: String,
        #[source]
        source: postcard::Error,
    },
    /// The value decoded but did not use all of the state section.
    #[error("state has {0} trailing bytes after the decoded value")]
    TrailingBytes(usize),
}

/// Encodes `value` into `out`, streaming (no intermediate buffer of the whole state).
///
/// If `out` fails, postcard reports only that it could not write; the caller
/// that owns `out` knows the real cause.
pub fn encode_to<T, W>(value: &T, out: W) -> Result<W, CodecError>
where
    T: Serialize + ?Sized,
    W: Write,
{
    postcard::to_io(value, out).map_err(CodecError::Encode)
}

/// Encodes `value` into a new vector (for small values and tests).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(value).map_err(CodecError::Encode)
}

/// Decodes a `T` that must occupy all of `bytes`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| CodecError::Decode {
        path: e.path().to_string(),
        source: e.into_inner(),
    })?;
    let rest = de.finalize().map_err(|source| CodecError::Decode {
        path: ".".into(),
        source,
    })?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes(rest.len()));
    }
    Ok(value)
}
