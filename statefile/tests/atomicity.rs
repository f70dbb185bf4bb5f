//! The image appears under its final name complete or not at all.

mod common;

use std::cell::RefCell;
use std::path::PathBuf;

use common::*;
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};
use statefile::{write_image, Error, Image, StateSchema, IMAGE_FILE_NAME};

/// A state whose serialisation looks at the directory mid-write (the state
/// is written after the temporary file exists and before it is renamed), and
/// can be told to fail.
struct Spy {
    dir: PathBuf,
    seen: RefCell<Vec<Vec<String>>>,
    fail: bool,
}

impl StateSchema for Spy {
    const VERSION: u32 = 1;
}

impl Serialize for Spy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(3))?;
        seq.serialize_element(&1u32)?;
        self.seen.borrow_mut().push(dir_entries(&self.dir));
        if self.fail {
            return Err(S::Error::custom("this state cannot be saved"));
        }
        seq.serialize_element(&2u32)?;
        seq.serialize_element(&3u32)?;
        seq.end()
    }
}

#[test]
fn the_temporary_file_never_has_the_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let spy = Spy {
        dir: dir.path().to_owned(),
        seen: RefCell::new(vec![]),
        fail: false,
    };
    let m = memory(4, |_| true);
    write_image(dir.path(), &test_metadata(), &spy, [(0, &m[..])]).unwrap();

    let seen = spy.seen.borrow();
    assert_eq!(seen.len(), 1);
    let during = &seen[0];
    assert_eq!(during.len(), 1, "{during:?}");
    assert_ne!(during[0], IMAGE_FILE_NAME);
    assert!(during[0].starts_with(".checkpoint.img.tmp."), "{during:?}");

    // Afterwards: only the final name, and it reads.
    assert_eq!(dir_entries(dir.path()), vec![IMAGE_FILE_NAME.to_string()]);
    let image = Image::open(&dir.path().join(IMAGE_FILE_NAME)).unwrap();
    let state: Vec<u32> = statefile::codec::decode(&image.state_bytes().unwrap()).unwrap();
    assert_eq!(state, vec![1, 2, 3]);
}

#[test]
fn a_failing_state_serializer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spy = Spy {
        dir: dir.path().to_owned(),
        seen: RefCell::new(vec![]),
        fail: true,
    };
    let m = memory(4, |_| true);
    let err = write_image(dir.path(), &test_metadata(), &spy, [(0, &m[..])]).unwrap_err();
    assert!(matches!(err, Error::Codec(_)), "{err}");
    assert_eq!(err.to_string(), "cannot encode state");
    // The temporary file existed while writing...
    assert_eq!(spy.seen.borrow()[0].len(), 1);
    // ... and is gone, and no image was made.
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn a_failed_write_keeps_the_previous_image() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(4, |_| true);
    write_image(dir.path(), &test_metadata(), &test_state(), [(0, &m[..])]).unwrap();
    let before = std::fs::read(dir.path().join(IMAGE_FILE_NAME)).unwrap();

    let spy = Spy {
        dir: dir.path().to_owned(),
        seen: RefCell::new(vec![]),
        fail: true,
    };
    write_image(dir.path(), &test_metadata(), &spy, [(0, &m[..])]).unwrap_err();
    assert_eq!(dir_entries(dir.path()), vec![IMAGE_FILE_NAME.to_string()]);
    let after = std::fs::read(dir.path().join(IMAGE_FILE_NAME)).unwrap();
    assert_eq!(before, after);
    let image = Image::open(&dir.path().join(IMAGE_FILE_NAME)).unwrap();
    assert_eq!(image.state::<TestState>().unwrap(), test_state());
}

#[test]
fn a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let none: [(u64, &[u8]); 0] = [];
    let err = write_image(&missing, &test_metadata(), &test_state(), none).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().starts_with("cannot create "), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn opening_a_missing_image_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Image::open(&dir.path().join(IMAGE_FILE_NAME)).unwrap_err();
    assert!(err.to_string().starts_with("cannot open "), "{err}");
}
