//! devfs: the device nodes a container expects (null, zero, full, random, urandom), the
//! links to stdio, and empty pts and shm directories. Its nodes are served by the sentry;
//! no host device is ever opened.

use crate::fs::host_sys;
use crate::fs::SynthNode;
use crate::mm::Errno;

/// Device nodes of devfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
pub fn random_bytes(buf: &mut [u8]) {
    if let Err(e) = host_sys::getrandom(buf) {
        // Never on Linux >= 3.17 with a valid buffer; zeros would be a silent disaster.
        panic!("getrandom failed: errno {e}");
    }
}

/// Looks up `rel` (components below the devfs mount).
pub fn lookup(rel: &[String]) -> Result<SynthNode, Errno> {
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
        ["pts"] | ["shm"] => Ok(dir(&[])),
        _ => Err(libc::ENOENT),
    }
}
