//! memfd_create, and the seals of F_ADD_SEALS/F_GET_SEALS.

use std::cell::RefCell;
use std::rc::Rc;

use super::ret;
use crate::fs::file::{FileRef, OpenFile};
use crate::fs::memfd::{Memfd, MemfdFile, F_SEAL_WRITE, NAME_MAX};
use crate::kernel::{err, Sys, SysCtx};

const MFD_CLOEXEC: u64 = 0x1;
const MFD_ALLOW_SEALING: u64 = 0x2;
const MFD_HUGETLB: u64 = 0x4;
const MFD_NOEXEC_SEAL: u64 = 0x8;
const MFD_EXEC: u64 = 0x10;
/// The huge page size bits that may come with MFD_HUGETLB (MFD_HUGE_MASK << 26).
const MFD_HUGE_BITS: u64 = 0x3f << 26;

pub(super) fn memfd_create(c: &mut SysCtx) -> Sys {
    let [name_addr, flags, ..] = c.args();
    let known = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
    let hugetlb = flags & MFD_HUGETLB != 0;
    if flags & !(known | MFD_HUGE_BITS) != 0
        || (!hugetlb && flags & MFD_HUGE_BITS != 0)
        || (flags & MFD_NOEXEC_SEAL != 0 && flags & MFD_EXEC != 0)
    {
        return err(libc::EINVAL);
    }
    let name = match c.read_cstr(name_addr, NAME_MAX) {
        Ok(n) if n.len() <= NAME_MAX => n,
        Ok(_) | Err(libc::ENAMETOOLONG) => return err(libc::EINVAL),
        Err(e) => return err(e),
    };
    let name = String::from_utf8_lossy(&name).into_owned();
    let id = c.new_obj_id();
    // MFD_NOEXEC_SEAL allows sealing and seals the exec bits, as Linux.
    let sealing = flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL) != 0;
    let ino = Rc::new(RefCell::new(Memfd::new(id, c.memory_file(), name, sealing)));
    if flags & MFD_NOEXEC_SEAL != 0 {
        let _ = ino.borrow_mut().add_seals(crate::fs::memfd::F_SEAL_EXEC);
    }
    if hugetlb {
        MemfdFile::hugetlb(&ino);
    }
    let file = MemfdFile::new(ino, libc::O_RDWR);
    let path = file.path();
    let f = OpenFile::new(Box::new(file), libc::O_RDWR | libc::O_LARGEFILE, path);
    ret(c.install(f, flags & MFD_CLOEXEC != 0).map(|fd| fd as i64))
}

/// F_GET_SEALS and F_ADD_SEALS on `f`: EINVAL for a file without seals.
pub(super) fn fcntl_seals(c: &mut SysCtx, f: &FileRef, add: Option<u64>) -> Sys {
    let fb = f.borrow();
    let Some(m) = fb.kind::<MemfdFile>() else {
        // A host file (tmpfs, the rootfs): its seals are the host's. The sentry never
        // seals one: a tmpfs file has F_SEAL_SEAL, so adding is EPERM as Linux says.
        return match fb.kind::<crate::fs::host::HostFile>().map(|h| h.seals()) {
            Some(Ok(s)) if add.is_none() => Sys::Ret(s as i64),
            Some(Ok(_)) => err(libc::EPERM),
            Some(Err(e)) => err(e),
            None => err(libc::EINVAL),
        };
    };
    let Some(seals) = add else {
        return Sys::Ret(m.inode.borrow().seals() as i64);
    };
    if !fb.writable() {
        return err(libc::EPERM);
    }
    let seals = seals as u32 as i32;
    let ino = m.inode.clone();
    drop(fb);
    let sealed_already = ino.borrow().seals() & crate::fs::memfd::F_SEAL_SEAL != 0;
    if !sealed_already
        && seals & F_SEAL_WRITE != 0
        && ino.borrow().seals() & F_SEAL_WRITE == 0
        && c.shared_mapping_of(ino.borrow().extents())
    {
        return err(libc::EBUSY);
    }
    let r = ino.borrow_mut().add_seals(seals).map(|()| 0);
    ret(r)
}

#[cfg(test)]
mod tests {
    use crate::testing::{errno, kernel, SCRATCH};

    const RW: u64 = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    const SHARED: u64 = libc::MAP_SHARED as u64;
    const PRIVATE: u64 = libc::MAP_PRIVATE as u64;

    #[test]
    fn a_memfds_mappings_are_its_pages_and_seals_refuse_what_they_seal() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let name = k.put_str(t, SCRATCH, "unit");
        let fd = k
            .call(t, libc::SYS_memfd_create, [name, 2, 0, 0, 0, 0])
            .unwrap() as u64;
        assert_eq!(
            k.call(t, libc::SYS_ftruncate, [fd, 8192, 0, 0, 0, 0]),
            Some(0)
        );
        let sh = k
            .call(t, libc::SYS_mmap, [0, 8192, RW, SHARED, fd, 0])
            .unwrap() as u64;
        let pr = k
            .call(t, libc::SYS_mmap, [0, 8192, RW, PRIVATE, fd, 0])
            .unwrap() as u64;
        // A write through the shared mapping is the file's, and the private one sees it
        // until it writes its own copy.
        k.put(t, sh + 4096, b"shared");
        let buf = SCRATCH + 0x1000;
        assert_eq!(
            k.call(t, libc::SYS_pread64, [fd, buf, 6, 4096, 0, 0]),
            Some(6)
        );
        assert_eq!(k.get(t, buf, 6), b"shared");
        assert_eq!(k.get(t, pr + 4096, 6), b"shared");
        k.put(t, pr + 4096, b"PRIVAT");
        assert_eq!(k.get(t, sh + 4096, 6), b"shared");
        // A write to the file is seen through the shared mapping.
        k.put(t, buf, b"by write");
        assert_eq!(
            k.call(t, libc::SYS_pwrite64, [fd, buf, 8, 100, 0, 0]),
            Some(8)
        );
        assert_eq!(k.get(t, sh + 100, 8), b"by write");
        // F_SEAL_WRITE waits for the shared mapping to go.
        let seal = |k: &mut crate::kernel::Kernel, s: u64| {
            k.call(
                t,
                libc::SYS_fcntl,
                [fd, libc::F_ADD_SEALS as u64, s, 0, 0, 0],
            )
        };
        assert_eq!(seal(&mut k, 8), errno(libc::EBUSY));
        assert_eq!(k.call(t, libc::SYS_munmap, [sh, 8192, 0, 0, 0, 0]), Some(0));
        assert_eq!(seal(&mut k, 8 | 4), Some(0));
        assert_eq!(
            k.call(t, libc::SYS_pwrite64, [fd, buf, 1, 0, 0, 0]),
            errno(libc::EPERM)
        );
        assert_eq!(
            k.call(t, libc::SYS_mmap, [0, 4096, RW, SHARED, fd, 0]),
            errno(libc::EPERM)
        );
        assert_eq!(seal(&mut k, 0x1000), errno(libc::EINVAL));
        assert_eq!(
            k.call(
                t,
                libc::SYS_fcntl,
                [fd, libc::F_GET_SEALS as u64, 0, 0, 0, 0]
            ),
            Some(12)
        );
    }

    #[test]
    fn memfd_create_refuses_hostile_names_and_flags() {
        let root = tempfile::tempdir().unwrap();
        let mut k = kernel(root.path());
        let t = k.test_process(0, 0);
        let long = k.put_str(t, SCRATCH, &"n".repeat(250));
        let create = |k: &mut crate::kernel::Kernel, a: u64, f: u64| {
            k.call(t, libc::SYS_memfd_create, [a, f, 0, 0, 0, 0])
        };
        assert_eq!(create(&mut k, long, 0), errno(libc::EINVAL));
        assert!(create(&mut k, long + 1, 0).unwrap() >= 0, "249 bytes");
        assert_eq!(create(&mut k, 8, 0), errno(libc::EFAULT));
        assert_eq!(create(&mut k, u64::MAX, 0), errno(libc::EFAULT));
        assert_eq!(create(&mut k, long, 0x100), errno(libc::EINVAL));
        assert_eq!(create(&mut k, long + 1, 8 | 0x10), errno(libc::EINVAL));
        // Without MFD_ALLOW_SEALING it is sealed against seals.
        let fd = create(&mut k, long + 1, 0).unwrap() as u64;
        assert_eq!(
            k.call(
                t,
                libc::SYS_fcntl,
                [fd, libc::F_ADD_SEALS as u64, 4, 0, 0, 0]
            ),
            errno(libc::EPERM)
        );
        // An offset that wraps.
        assert_eq!(
            k.call(
                t,
                libc::SYS_mmap,
                [0, 8192, RW, SHARED, fd, u64::MAX - 4095]
            ),
            errno(libc::EOVERFLOW)
        );
    }
}
