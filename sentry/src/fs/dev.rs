//! devfs: the device nodes a container expects (null, zero, full, random, urandom), the
//! links to stdio, and empty pts and shm directories. Its nodes are served by the sentry;
//! no host device is ever opened.

use serde::{Deserialize, Serialize};

use crate::checks::Invalid;
use crate::fs::devpts::Devpts;
use crate::fs::file::{FileImpl, IoErr, Mappable};
use crate::fs::host_sys;
use crate::fs::persist::{CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx};
use crate::fs::{SynthNode, TtyNode};
use crate::mm::Errno;

/// Device nodes of devfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevNode {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
}

impl DevNode {
    /// Its device number, as Linux's.
    pub fn rdev(self) -> u64 {
        match self {
            DevNode::Null => libc::makedev(1, 3),
            DevNode::Zero => libc::makedev(1, 5),
            DevNode::Full => libc::makedev(1, 7),
            DevNode::Random => libc::makedev(1, 8),
            DevNode::Urandom => libc::makedev(1, 9),
        }
    }
}

/// Fills `buf` with random bytes from the host.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    if let Err(e) = host_sys::getrandom(buf) {
        // Never on Linux >= 3.17 with a valid buffer; zeros would be a silent disaster.
        panic!("getrandom failed: errno {e}");
    }
}

/// Looks up `rel` (components below the devfs mount); /dev/pts shows `devpts`.
pub(crate) fn lookup(rel: &[String], devpts: &Devpts) -> Result<SynthNode, Errno> {
    let dir = |names: &[(&str, u8)]| {
        SynthNode::Dir(names.iter().map(|(n, t)| (n.to_string(), *t)).collect())
    };
    match rel
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => Ok(dir(&[
            ("null", libc::DT_CHR),
            ("zero", libc::DT_CHR),
            ("full", libc::DT_CHR),
            ("random", libc::DT_CHR),
            ("urandom", libc::DT_CHR),
            ("fd", libc::DT_LNK),
            ("stdin", libc::DT_LNK),
            ("stdout", libc::DT_LNK),
            ("stderr", libc::DT_LNK),
            ("pts", libc::DT_DIR),
            ("shm", libc::DT_DIR),
            ("ptmx", libc::DT_CHR),
            ("tty", libc::DT_CHR),
        ])),
        ["null"] => Ok(SynthNode::Dev(DevNode::Null)),
        ["zero"] => Ok(SynthNode::Dev(DevNode::Zero)),
        ["full"] => Ok(SynthNode::Dev(DevNode::Full)),
        ["random"] => Ok(SynthNode::Dev(DevNode::Random)),
        ["urandom"] => Ok(SynthNode::Dev(DevNode::Urandom)),
        ["fd"] => Ok(SynthNode::Symlink("/proc/self/fd".into())),
        ["stdin"] => Ok(SynthNode::Symlink("/proc/self/fd/0".into())),
        ["stdout"] => Ok(SynthNode::Symlink("/proc/self/fd/1".into())),
        ["stderr"] => Ok(SynthNode::Symlink("/proc/self/fd/2".into())),
        ["ptmx"] | ["pts", "ptmx"] => Ok(SynthNode::Tty(TtyNode::Ptmx)),
        ["tty"] => Ok(SynthNode::Tty(TtyNode::Tty)),
        ["pts"] => {
            let mut names = vec![("ptmx".to_string(), libc::DT_CHR)];
            names.extend(
                devpts
                    .entries()
                    .into_iter()
                    .map(|(i, _)| (i.to_string(), libc::DT_CHR)),
            );
            Ok(SynthNode::Dir(names))
        }
        ["pts", n] => {
            // Only the canonical spelling of a number names a replica.
            let index: u32 = n.parse().map_err(|_| libc::ENOENT)?;
            if index.to_string() != *n {
                return Err(libc::ENOENT);
            }
            let uid = devpts
                .entries()
                .into_iter()
                .find(|&(i, _)| i == index)
                .ok_or(libc::ENOENT)?
                .1;
            Ok(SynthNode::Tty(TtyNode::Pts { index, uid }))
        }
        ["shm"] => Ok(dir(&[])),
        _ => Err(libc::ENOENT),
    }
}

/// An open device node.
pub struct DevFile {
    node: DevNode,
}

impl DevFile {
    pub fn new(node: DevNode) -> Self {
        DevFile { node }
    }
}

impl FileImpl for DevFile {
    fn read(&mut self, _pos: &mut u64, len: usize, _off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        Ok(match self.node {
            DevNode::Null => Vec::new(),
            DevNode::Zero | DevNode::Full => vec![0u8; len],
            DevNode::Random | DevNode::Urandom => {
                let mut b = vec![0u8; len];
                random_bytes(&mut b);
                b
            }
        })
    }

    fn write(&mut self, _pos: &mut u64, data: &[u8], _off: Option<u64>) -> Result<usize, IoErr> {
        match self.node {
            DevNode::Full => Err(IoErr::Errno(libc::ENOSPC)),
            _ => Ok(data.len()),
        }
    }

    /// Devices have no position: every seek lands at 0.
    fn seek(&mut self, _pos: &mut u64, _off: i64, _whence: i32) -> Result<i64, Errno> {
        Ok(0)
    }

    fn reopen(&self, _flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
        Ok(Box::new(DevFile::new(self.node)))
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        Ok(crate::fs::synth_stat(&SynthNode::Dev(self.node), 1))
    }

    /// /dev/zero maps as fresh zeroed memory (shared writable too: its writes go nowhere).
    fn mmap(&self, _off: u64, _len: u64) -> Result<Mappable, Errno> {
        match self.node {
            DevNode::Zero => Ok(Mappable {
                bytes: Vec::new(),
                shared_writable: true,
            }),
            _ => Err(libc::ENODEV),
        }
    }
}

/// A saved device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DevNodeState {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
}

/// A saved open device node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevFileState {
    pub node: DevNodeState,
}

impl Persist for DevFile {
    type State = DevFileState;

    fn save(&self, _: &mut SaveCtx) -> DevFileState {
        let DevFile { node } = self;
        DevFileState {
            node: match node {
                DevNode::Null => DevNodeState::Null,
                DevNode::Zero => DevNodeState::Zero,
                DevNode::Full => DevNodeState::Full,
                DevNode::Random => DevNodeState::Random,
                DevNode::Urandom => DevNodeState::Urandom,
            },
        }
    }

    fn restore(_: &mut RestoreCtx, _: &FileMeta, s: &DevFileState) -> Result<Self, KindError> {
        Ok(DevFile::new(match s.node {
            DevNodeState::Null => DevNode::Null,
            DevNodeState::Zero => DevNode::Zero,
            DevNodeState::Full => DevNode::Full,
            DevNodeState::Random => DevNode::Random,
            DevNodeState::Urandom => DevNode::Urandom,
        }))
    }

    /// Every node the state can name exists.
    fn check(_: &CheckCtx, _: &DevFileState) -> Result<(), Invalid> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str) -> DevFile {
        match lookup(&[name.to_string()], &Devpts::default()) {
            Ok(SynthNode::Dev(d)) => DevFile::new(d),
            _ => panic!("{name} is not a device"),
        }
    }

    #[test]
    fn null_zero_and_full_read_and_write_as_on_linux() {
        assert_eq!(dev("null").read(&mut 0, 5, None).unwrap(), b"");
        assert_eq!(dev("zero").read(&mut 0, 3, None).unwrap(), [0, 0, 0]);
        assert_eq!(dev("full").read(&mut 0, 2, None).unwrap(), [0, 0]);
        assert_eq!(dev("null").write(&mut 0, b"abc", None), Ok(3));
        assert_eq!(
            dev("full").write(&mut 0, b"abc", None),
            Err(IoErr::Errno(libc::ENOSPC))
        );
        assert_eq!(dev("urandom").read(&mut 0, 64, None).unwrap().len(), 64);
    }

    #[test]
    fn only_zero_maps() {
        assert!(dev("zero").mmap(0, 4096).unwrap().shared_writable);
        assert_eq!(dev("null").mmap(0, 4096), Err(libc::ENODEV));
        assert_eq!(dev("zero").seek(&mut 0, 100, libc::SEEK_SET), Ok(0));
        let st = dev("urandom").stat().unwrap();
        assert_eq!(st.st_mode, libc::S_IFCHR | 0o666);
        assert_eq!(st.st_rdev, libc::makedev(1, 9));
    }

    #[test]
    fn every_node_comes_back_as_itself() {
        use crate::fs::file::OpenFile;
        use crate::persist::testing::{at, round_trip, table};

        let names = ["null", "zero", "full", "random", "urandom"];
        let files: Vec<_> = names
            .iter()
            .map(|n| OpenFile::new(Box::new(dev(n)), libc::O_RDWR, format!("/dev/{n}")))
            .collect();
        let (_, back) = round_trip(&[&table(&files.iter().collect::<Vec<_>>())]);
        for (fd, f) in files.iter().enumerate() {
            let f2 = at(&back[0], fd as i32);
            assert_eq!(
                f2.borrow().imp.stat().unwrap().st_rdev,
                f.borrow().imp.stat().unwrap().st_rdev
            );
            assert_eq!(f2.borrow().path, f.borrow().path);
        }
    }
}
