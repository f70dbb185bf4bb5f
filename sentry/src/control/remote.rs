//! An error as data: what crosses the control socket (and the sandbox's exit record) in
//! place of a typed error. Nothing is re-worded: each level of the original's source
//! chain keeps its own message, and the copy chains them the same way.

use std::fmt;

use super::ErrorKind;

/// An error's kind and the message of each level of its source chain, outermost first.
/// It displays its own message (`{:#}`: the whole chain, `: `-separated) and returns the
/// next level as its `source()`, as the original did. On the wire:
/// `{"kind": "WriteImage", "chain": ["writing the checkpoint image …", "cannot write …", "No space left on device (os error 28)"]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    kind: ErrorKind,
    top: Level,
}

/// One level of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Level {
    message: String,
    source: Option<Box<Level>>,
}

impl RemoteError {
    /// The data form of `error` and its sources.
    pub fn new(kind: ErrorKind, error: &dyn std::error::Error) -> RemoteError {
        let mut messages = vec![error.to_string()];
        let mut cur = error.source();
        while let Some(e) = cur {
            messages.push(e.to_string());
            cur = e.source();
        }
        RemoteError::from_messages(kind, messages).expect("an error has a message")
    }

    /// An error from its messages, outermost first (`None` without any).
    pub fn from_messages(kind: ErrorKind, messages: Vec<String>) -> Option<RemoteError> {
        let mut levels = messages.into_iter().rev();
        let mut top = Level {
            message: levels.next()?,
            source: None,
        };
        for message in levels {
            top = Level {
                message,
                source: Some(Box::new(top)),
            };
        }
        Some(RemoteError { kind, top })
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The messages of the chain, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &str> {
        std::iter::successors(Some(&self.top), |l| l.source.as_deref()).map(|l| &*l.message)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Level {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|l| l as _)
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return f.write_str(&self.top.message);
        }
        for (i, m) in self.chain().enumerate() {
            if i > 0 {
                f.write_str(": ")?;
            }
            f.write_str(m)?;
        }
        Ok(())
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.top.source.as_deref().map(|l| l as _)
    }
}

#[derive(serde::Serialize)]
struct WireOut<'a> {
    kind: ErrorKind,
    chain: Vec<&'a str>,
}

/// What is accepted: the form above, or a bare message (as exit records of earlier
/// versions hold).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum WireIn {
    Chain { kind: ErrorKind, chain: Vec<String> },
    Message(String),
}

impl serde::Serialize for RemoteError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireOut {
            kind: self.kind,
            chain: self.chain().collect(),
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for RemoteError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (kind, chain) = match WireIn::deserialize(d)? {
            WireIn::Chain { kind, chain } => (kind, chain),
            WireIn::Message(m) => (ErrorKind::Other, vec![m]),
        };
        RemoteError::from_messages(kind, chain)
            .ok_or_else(|| serde::de::Error::custom("an error with an empty chain"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{CheckpointError, Error, Response};

    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        std::iter::successors(Some(e), |e| e.source())
            .map(|e| e.to_string())
            .collect()
    }

    /// A checkpoint that failed three levels down, as the kernel answers it.
    fn no_space() -> Error {
        CheckpointError::Write {
            image: "/img/checkpoint.img".into(),
            source: statefile::Error::File {
                op: "cannot write",
                source: std::io::Error::from_raw_os_error(libc::ENOSPC),
            },
        }
        .into()
    }

    #[test]
    fn an_error_crosses_as_its_kind_and_every_message_of_its_chain() {
        let typed = no_space();
        let json = serde_json::to_string(&Response::Error(no_space())).unwrap();
        assert_eq!(
            json,
            r#"{"Error":{"kind":"WriteImage","chain":["writing the checkpoint image /img/checkpoint.img","cannot write the image file","No space left on device (os error 28)"]}}"#
        );
        let Response::Error(back) = serde_json::from_str(&json).unwrap() else {
            panic!("not an error: {json}");
        };
        assert!(matches!(back, Error::Remote(_)));
        assert_eq!(back.kind(), ErrorKind::WriteImage);
        // It prints and chains as the original: each message once, in order.
        assert_eq!(chain(&back), chain(&typed));
        assert_eq!(back.to_string(), typed.to_string());
        // And it crosses again unchanged.
        assert_eq!(serde_json::to_string(&Response::Error(back)).unwrap(), json);
    }

    #[test]
    fn the_alternate_form_prints_the_whole_chain() {
        let e = RemoteError::new(ErrorKind::WriteImage, &no_space());
        assert_eq!(
            e.to_string(),
            "writing the checkpoint image /img/checkpoint.img"
        );
        assert_eq!(
            format!("{e:#}"),
            "writing the checkpoint image /img/checkpoint.img: cannot write the image file: \
             No space left on device (os error 28)"
        );
        assert_eq!(e.chain().count(), 3);
    }

    #[test]
    fn an_unknown_kind_or_a_bare_message_is_read_as_other() {
        let e: RemoteError =
            serde_json::from_str(r#"{"kind":"SomethingNew","chain":["a","b"]}"#).unwrap();
        assert_eq!(e.kind(), ErrorKind::Other);
        assert_eq!(chain(&e), ["a", "b"]);
        let e: RemoteError = serde_json::from_str(r#""restoring: bad magic""#).unwrap();
        assert_eq!(e.kind(), ErrorKind::Other);
        assert_eq!(chain(&e), ["restoring: bad magic"]);
    }

    #[test]
    fn an_empty_chain_is_refused() {
        assert!(serde_json::from_str::<RemoteError>(r#"{"kind":"Other","chain":[]}"#).is_err());
        assert!(RemoteError::from_messages(ErrorKind::Other, vec![]).is_none());
    }
}
