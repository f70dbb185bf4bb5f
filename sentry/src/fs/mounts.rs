//! The guest's own mounts: mount(2) of a tmpfs or a procfs on a directory, remounts with
//! other flags, umount2(2), and mount namespaces (mount_namespaces(7)). All of it is the
//! sentry's mount table: no host mount is made or changed. A guest tmpfs is a fresh
//! directory of the sandbox's own scratch tmpfs (`SandboxConfig::guest_mounts`, which
//! the sandbox process mounted for it before confining itself), so a guest mount never
//! reaches a host path outside the sandbox.
//!
//! Every mount lists the mount namespaces that see it. A new namespace sees what its
//! parent saw then; a mount made later is seen only by the namespace that made it, an
//! unmount hides the mount from that namespace alone, and a remount in a namespace that
//! shares the mount with others changes a copy of its own. Propagation types are taken
//! and not modelled: every mount behaves as a private one.

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use crate::fs::{host_sys, Mount, MountFs, Vfs};
use crate::mm::Errno;

/// The inode number of the sandbox's mount namespace (Linux's first).
pub(crate) const INIT_MNT_NS: u64 = 4026531841;
/// A walk that sees the mounts of every namespace (restore reopening saved files).
pub(crate) const ANY_MNT_NS: u64 = u64::MAX;

pub(crate) const MS_RDONLY: u64 = 1;
pub(crate) const MS_NOSUID: u64 = 2;
pub(crate) const MS_NODEV: u64 = 4;
pub(crate) const MS_NOEXEC: u64 = 8;
pub(crate) const MS_REMOUNT: u64 = 32;
pub(crate) const MS_NOATIME: u64 = 1024;
pub(crate) const MS_NODIRATIME: u64 = 2048;
pub(crate) const MS_BIND: u64 = 4096;
pub(crate) const MS_MOVE: u64 = 8192;
pub(crate) const MS_REC: u64 = 16384;
pub(crate) const MS_SILENT: u64 = 32768;
pub(crate) const MS_UNBINDABLE: u64 = 1 << 17;
pub(crate) const MS_PRIVATE: u64 = 1 << 18;
pub(crate) const MS_SLAVE: u64 = 1 << 19;
pub(crate) const MS_SHARED: u64 = 1 << 20;
pub(crate) const MS_RELATIME: u64 = 1 << 21;
pub(crate) const MS_STRICTATIME: u64 = 1 << 24;
pub(crate) const MS_NOUSER: u64 = 1 << 31;
/// The old magic number callers put in the high bits (ignored).
const MS_MGC_VAL: u64 = 0xC0ED_0000;
const MS_MGC_MSK: u64 = 0xffff_0000;
/// The propagation types.
const PROPAGATION: u64 = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
/// The flags of a mount (rather than of its file system) a mount keeps in `Mount::flags`
/// (MS_RDONLY and MS_NOSUID are `readonly` and `nosuid`).
pub(crate) const MOUNT_FLAGS: u64 = MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME;

pub(crate) const MNT_FORCE: u64 = 1;
pub(crate) const MNT_DETACH: u64 = 2;
pub(crate) const MNT_EXPIRE: u64 = 4;
pub(crate) const UMOUNT_NOFOLLOW: u64 = 8;

/// The guest's mounts' side of the VFS: the namespace of the task walking now, and where
/// guest tmpfs mounts live.
pub(crate) struct GuestMounts {
    /// The mount namespace of the task whose call is being served.
    pub ns: Cell<u64>,
    /// The host directory (the sandbox's scratch tmpfs) new tmpfs mounts are made in.
    pub(crate) backing: Option<PathBuf>,
    /// The backing directory, opened at the first tmpfs mount.
    dir: std::cell::RefCell<Option<OwnedFd>>,
    /// How many tmpfs mounts were made (the next one's directory name).
    made: Cell<u64>,
}

impl Default for GuestMounts {
    fn default() -> Self {
        GuestMounts {
            ns: Cell::new(INIT_MNT_NS),
            backing: None,
            dir: Default::default(),
            made: Cell::new(0),
        }
    }
}

impl GuestMounts {
    pub(crate) fn new(backing: Option<PathBuf>) -> Self {
        GuestMounts {
            backing,
            ..Default::default()
        }
    }
}

/// What a new mount(2) asks for, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountRequest {
    /// A new tmpfs: its mount flags and the mode of its root.
    Tmpfs { flags: u64, mode: u32 },
    /// A new procfs.
    Proc { flags: u64 },
    /// MS_REMOUNT: new flags for the mount (its atime flags kept when `keep_atime`: the
    /// request names none).
    Remount { flags: u64, keep_atime: bool },
    /// A propagation change (taken, not modelled).
    Propagation,
}

/// Decodes mount(2)'s flags, type and data as path_mount does (the target resolved and the
/// capability checked by the caller): EINVAL for contradictory flags, ENODEV for a file
/// system type the sandbox does not make, EINVAL for a bad tmpfs option.
pub(crate) fn decode(
    flags: u64,
    fstype: Option<&str>,
    data: Option<&str>,
) -> Result<MountRequest, Errno> {
    let mut flags = flags;
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    if flags & MS_NOUSER != 0 {
        return Err(libc::EINVAL);
    }
    // The per-mount flags, relatime by default (unless noatime or strictatime).
    let mut mnt =
        flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME);
    if flags & (MS_NOATIME | MS_STRICTATIME) == 0 {
        mnt |= MS_RELATIME;
    }
    if flags & MS_REMOUNT != 0 {
        let atime = MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;
        return Ok(MountRequest::Remount {
            flags: mnt,
            keep_atime: flags & atime == 0,
        });
    }
    if flags & MS_BIND != 0 {
        // Bind mounts are not made (refused as an unsupported file system).
        return Err(libc::ENODEV);
    }
    if flags & PROPAGATION != 0 {
        // Exactly one type, with at most MS_REC and MS_SILENT beside it.
        let ty = flags & PROPAGATION;
        if ty.count_ones() != 1 || flags & !(PROPAGATION | MS_REC | MS_SILENT) != 0 {
            return Err(libc::EINVAL);
        }
        return Ok(MountRequest::Propagation);
    }
    if flags & MS_MOVE != 0 {
        return Err(libc::ENODEV);
    }
    match fstype {
        Some("tmpfs") => Ok(MountRequest::Tmpfs {
            flags: mnt,
            mode: tmpfs_mode(data.unwrap_or(""))?,
        }),
        Some("proc") => Ok(MountRequest::Proc { flags: mnt }),
        _ => Err(libc::ENODEV),
    }
}

/// The mode of a tmpfs root its options give (mode=, octal; 01777 by default). Options
/// tmpfs knows but the sandbox does not model (size=, nr_inodes=, uid=, gid= …) are
/// taken; an unknown one is EINVAL, as tmpfs says.
fn tmpfs_mode(data: &str) -> Result<u32, Errno> {
    let mut mode = 0o1777;
    for opt in data.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
        match key {
            "mode" => {
                mode = u32::from_str_radix(value, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or(libc::EINVAL)?;
            }
            "size" | "nr_blocks" | "nr_inodes" | "uid" | "gid" | "huge" | "mpol" | "inode32"
            | "inode64" | "noswap" | "quota" | "usrquota" | "grpquota" => {}
            _ => return Err(libc::EINVAL),
        }
    }
    Ok(mode)
}

impl Vfs {
    /// Whether the task walking now sees mount `m`.
    pub(crate) fn visible(&self, m: &Mount) -> bool {
        let ns = self.guest.ns.get();
        ns == ANY_MNT_NS || m.seen.contains(&ns)
    }

    /// A new mount namespace `to` sees what namespace `from` sees (CLONE_NEWNS).
    pub(crate) fn copy_namespace(&mut self, from: u64, to: u64) {
        for m in &mut self.mounts {
            if m.seen.contains(&from) {
                m.seen.push(to);
            }
        }
    }

    /// The mount of the current namespace whose root is exactly `comps` (the last one
    /// there), if any.
    pub(crate) fn mount_at(&self, comps: &[String]) -> Option<usize> {
        (0..self.mounts.len())
            .rev()
            .find(|&i| self.visible(&self.mounts[i]) && self.mounts[i].at == comps)
    }

    /// A new mount at `at` (a directory), seen by the current namespace only; a tmpfs root
    /// owned by `owner` with `mode`.
    pub(crate) fn add_mount(
        &mut self,
        at: Vec<String>,
        req: &MountRequest,
        owner: (u32, u32),
    ) -> Result<(), Errno> {
        let (fs, fstype, flags) = match *req {
            MountRequest::Tmpfs { flags, mode } => {
                let (root, host_path) = self.new_tmpfs(mode, owner)?;
                (MountFs::Host { root, host_path }, "tmpfs", flags)
            }
            MountRequest::Proc { flags } => (MountFs::Proc, "proc", flags),
            _ => return Err(libc::EINVAL),
        };
        self.mounts.push(Mount {
            at,
            fs,
            readonly: flags & MS_RDONLY != 0,
            nosuid: flags & MS_NOSUID != 0,
            fstype: fstype.into(),
            flags: flags & MOUNT_FLAGS,
            seen: vec![self.guest.ns.get()],
            guest: true,
            copy: false,
        });
        Ok(())
    }

    /// MS_REMOUNT of mount `m` in the current namespace: its flags become `flags`. A
    /// mount other namespaces see too is copied first, the copy taking the change.
    pub(crate) fn remount(&mut self, m: usize, flags: u64, keep_atime: bool) -> Result<(), Errno> {
        let ns = self.guest.ns.get();
        let m = if self.mounts[m].seen.len() > 1 {
            let copy = self.mounts[m].copy_for(ns)?;
            self.mounts[m].seen.retain(|&n| n != ns);
            self.mounts.push(copy);
            self.mounts.len() - 1
        } else {
            m
        };
        let mount = &mut self.mounts[m];
        let atime = MS_NOATIME | MS_NODIRATIME | MS_RELATIME;
        let flags = if keep_atime {
            (flags & !atime) | (mount.flags & atime)
        } else {
            flags
        };
        mount.readonly = flags & MS_RDONLY != 0;
        mount.nosuid = flags & MS_NOSUID != 0;
        mount.flags = flags & MOUNT_FLAGS;
        Ok(())
    }

    /// umount2 of mount `m` in the current namespace: the mount and those below it vanish
    /// from the namespace (with MNT_DETACH), or only `m` when nothing is mounted below it
    /// (EBUSY otherwise). Files open on it keep working.
    pub(crate) fn unmount(&mut self, m: usize, detach: bool) -> Result<(), Errno> {
        let ns = self.guest.ns.get();
        let at = self.mounts[m].at.clone();
        let below: Vec<usize> = (0..self.mounts.len())
            .filter(|&i| {
                i != m
                    && self.mounts[i].seen.contains(&ns)
                    && self.mounts[i].at.len() > at.len()
                    && self.mounts[i].at[..at.len()] == at[..]
            })
            .collect();
        if !below.is_empty() && !detach {
            return Err(libc::EBUSY);
        }
        for i in below.into_iter().chain([m]) {
            self.mounts[i].seen.retain(|&n| n != ns);
        }
        Ok(())
    }

    /// Restores a mount the guest made (a tmpfs, empty, or a procfs), or a namespace's
    /// copy of the last mount at the same place (`copy`), at the end of the table.
    pub(crate) fn restore_guest_mount(
        &mut self,
        at: Vec<String>,
        fstype: &str,
        copy: bool,
        root: (u32, u32, u32),
    ) -> Result<(), Errno> {
        let fs = if copy {
            let orig = (0..self.mounts.len())
                .rev()
                .find(|&i| self.mounts[i].at == at && !self.mounts[i].copy)
                .ok_or(libc::EINVAL)?;
            self.mounts[orig].copy_for(0)?.fs
        } else {
            match fstype {
                "tmpfs" => {
                    let (root, host_path) = self.new_tmpfs(root.0, (root.1, root.2))?;
                    MountFs::Host { root, host_path }
                }
                "proc" => MountFs::Proc,
                _ => return Err(libc::EINVAL),
            }
        };
        self.mounts.push(Mount {
            at,
            fs,
            readonly: false,
            nosuid: false,
            fstype: fstype.into(),
            flags: 0,
            seen: Vec::new(),
            guest: true,
            copy,
        });
        Ok(())
    }

    /// A fresh directory of the scratch tmpfs for a guest tmpfs mount.
    fn new_tmpfs(&self, mode: u32, owner: (u32, u32)) -> Result<(OwnedFd, PathBuf), Errno> {
        use std::os::fd::AsRawFd;
        let mut dir = self.guest.dir.borrow_mut();
        if dir.is_none() {
            let Some(backing) = &self.guest.backing else {
                // No scratch tmpfs was given to this sandbox: no tmpfs to make.
                return Err(libc::ENODEV);
            };
            let fd = nix::fcntl::open(
                backing,
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| e as i32)?;
            // SAFETY: open just returned this fd and nothing else owns it.
            *dir = Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        }
        let base = dir.as_ref().expect("opened");
        let n = self.guest.made.get();
        self.guest.made.set(n + 1);
        let name = format!("{n}");
        let at = Some(base.as_raw_fd());
        nix::sys::stat::mkdirat(
            at,
            name.as_str(),
            nix::sys::stat::Mode::from_bits_truncate(0o700),
        )
        .map_err(|e| e as i32)?;
        let root = host_sys::openat2(base.as_fd(), &name, libc::O_PATH | libc::O_DIRECTORY, 0)?;
        nix::unistd::fchownat(
            at,
            name.as_str(),
            Some(nix::unistd::Uid::from_raw(owner.0)),
            Some(nix::unistd::Gid::from_raw(owner.1)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| e as i32)?;
        nix::sys::stat::fchmodat(
            at,
            name.as_str(),
            nix::sys::stat::Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| e as i32)?;
        let host_path = self.guest.backing.as_ref().expect("backing").join(&name);
        Ok((root, host_path))
    }
}

impl Mount {
    /// The same mount, for namespace `ns` alone.
    fn copy_for(&self, ns: u64) -> Result<Mount, Errno> {
        let fs = match &self.fs {
            MountFs::Host { root, host_path } => MountFs::Host {
                root: root
                    .try_clone()
                    .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?,
                host_path: host_path.clone(),
            },
            MountFs::Dev => MountFs::Dev,
            MountFs::Proc => MountFs::Proc,
            MountFs::Empty => MountFs::Empty,
        };
        Ok(Mount {
            at: self.at.clone(),
            fs,
            readonly: self.readonly,
            nosuid: self.nosuid,
            fstype: self.fstype.clone(),
            flags: self.flags,
            seen: vec![ns],
            guest: self.guest,
            copy: true,
        })
    }

    /// Its flags as statfs's f_flags and /proc/mounts show them (ST_* are MS_*).
    pub(crate) fn st_flags(&self) -> u64 {
        self.flags
            | if self.readonly { MS_RDONLY } else { 0 }
            | if self.nosuid { MS_NOSUID } else { 0 }
    }

    /// Its options as /proc/mounts writes them.
    pub(crate) fn options(&self) -> String {
        let mut o = vec![if self.readonly { "ro" } else { "rw" }];
        for (bit, name) in [
            (MS_NOSUID, "nosuid"),
            (MS_NODEV, "nodev"),
            (MS_NOEXEC, "noexec"),
            (MS_NOATIME, "noatime"),
            (MS_NODIRATIME, "nodiratime"),
            (MS_RELATIME, "relatime"),
        ] {
            if self.st_flags() & bit != 0 {
                o.push(name);
            }
        }
        o.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_as_linux_reads_them() {
        assert_eq!(
            decode(MS_NOEXEC, Some("tmpfs"), Some("mode=0777")),
            Ok(MountRequest::Tmpfs {
                flags: MS_NOEXEC | MS_RELATIME,
                mode: 0o777
            })
        );
        assert_eq!(
            decode(MS_MGC_VAL | MS_NOATIME, Some("tmpfs"), None),
            Ok(MountRequest::Tmpfs {
                flags: MS_NOATIME,
                mode: 0o1777
            })
        );
        assert_eq!(decode(0, Some("tmpfs"), Some("mode=9")), Err(libc::EINVAL));
        assert_eq!(decode(0, Some("tmpfs"), Some("bogus")), Err(libc::EINVAL));
        assert_eq!(decode(0, Some("ext4"), None), Err(libc::ENODEV));
        assert_eq!(decode(0, None, None), Err(libc::ENODEV));
        assert_eq!(
            decode(MS_REC | MS_PRIVATE, None, None),
            Ok(MountRequest::Propagation)
        );
        assert_eq!(
            decode(MS_PRIVATE | MS_SHARED, None, None),
            Err(libc::EINVAL)
        );
        assert_eq!(
            decode(MS_PRIVATE | MS_RDONLY, None, None),
            Err(libc::EINVAL)
        );
        assert_eq!(decode(MS_NOUSER, Some("tmpfs"), None), Err(libc::EINVAL));
        assert_eq!(
            decode(MS_REMOUNT | MS_RDONLY, None, None),
            Ok(MountRequest::Remount {
                flags: MS_RDONLY | MS_RELATIME,
                keep_atime: true
            })
        );
        assert_eq!(decode(MS_BIND, None, None), Err(libc::ENODEV));
    }
}
