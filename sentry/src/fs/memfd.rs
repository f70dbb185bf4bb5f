//! memfd_create(2): anonymous files whose bytes live in the memory file.
//!
//! A memfd's inode ([`Memfd`]) owns ranges of the memory file (the memfd all guest memory
//! lives in), one reference each: its pages, from file offset 0 up to its capacity, in
//! extents that are each contiguous in the memory file. read/write/ftruncate/fallocate
//! work on those bytes; a mapping of the file maps the same memory-file ranges (a
//! `MAP_SHARED` mapping writes them, a `MAP_PRIVATE` one shares them copy-on-write, as
//! any memory two address spaces share), so the stubs map nothing but the memory file.
//! Several descriptions (dup, fork, SCM_RIGHTS, an open of `/proc/PID/fd/N`) share one
//! inode; its pages go back to the memory file when the last description and the last
//! mapping are gone (each mapping holds references of its own).
//!
//! Capacity only grows: an ftruncate that shrinks the file zeroes what lies past the new
//! end (a mapping beyond the end reads zeroes there rather than getting SIGBUS, as on
//! Linux). A checkpoint saves the inode (name, size, seals, extents); the bytes are in
//! the memory file's allocated ranges, which the image carries as segments.

use std::cell::RefCell;
use std::rc::Rc;

use crate::checks::{bad, Invalid};
use crate::fs::file::{anon_stat, seek_in, FileImpl, IoErr};
use crate::fs::persist::{
    CheckCtx, FileMeta, KindError, Persist, RestoreCtx, SaveCtx, SharedPersist,
};
use crate::mm::{page_up, Errno, MemoryFile, PAGE};

/// `F_SEAL_*` (fcntl.h).
pub(crate) const F_SEAL_SEAL: i32 = 0x1;
pub(crate) const F_SEAL_SHRINK: i32 = 0x2;
pub(crate) const F_SEAL_GROW: i32 = 0x4;
pub(crate) const F_SEAL_WRITE: i32 = 0x8;
pub(crate) const F_SEAL_FUTURE_WRITE: i32 = 0x10;
pub(crate) const F_SEAL_EXEC: i32 = 0x20;
const ALL_SEALS: i32 =
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

/// The longest name memfd_create takes: NAME_MAX less "memfd:".
pub(crate) const NAME_MAX: usize = 255 - "memfd:".len();

/// The most bytes of pages a memfd may have here: what fits the memory file with room to
/// spare (Linux's tmpfs allows more; EFBIG for a write or fallocate beyond, as past its
/// limit). Its size may be larger: ftruncate gives no pages.
const MAX_SIZE: u64 = 1 << 36;

/// Capacity grows by at least this much, so that a file written a page at a time does
/// not become one extent (and one host mapping) per page.
const MIN_GROWTH: u64 = 64 * 1024;

/// A memfd's inode.
pub struct Memfd {
    /// The kernel object id: the inode number, and the key in the image's shared table.
    id: u64,
    mf: Option<Rc<MemoryFile>>,
    /// The name memfd_create was given (without "memfd:").
    name: String,
    size: u64,
    /// `F_SEAL_*` set on it.
    seals: i32,
    /// Made with MFD_HUGETLB: Linux makes it on hugetlbfs, which this sandbox has no
    /// pages for (as a host without huge pages reserved: its mmap is ENOMEM).
    hugetlb: bool,
    /// The pages: (memory-file offset, length), each following the previous one in the
    /// file, from offset 0.
    extents: Vec<(u64, u64)>,
}

impl Memfd {
    pub(crate) fn new(id: u64, mf: Rc<MemoryFile>, name: String, sealing: bool) -> Memfd {
        Memfd {
            id,
            mf: Some(mf),
            name,
            size: 0,
            seals: if sealing { 0 } else { F_SEAL_SEAL },
            hugetlb: false,
            extents: Vec::new(),
        }
    }

    fn mf(&self) -> Result<&MemoryFile, Errno> {
        self.mf.as_deref().ok_or(libc::EIO)
    }

    fn capacity(&self) -> u64 {
        self.extents.iter().map(|&(_, l)| l).sum()
    }

    /// Makes the pages reach at least `end` (a byte offset).
    fn reserve(&mut self, end: u64) -> Result<(), Errno> {
        let cap = self.capacity();
        if end <= cap {
            return Ok(());
        }
        if end > MAX_SIZE {
            return Err(libc::EFBIG);
        }
        let want = page_up(end).max(cap + MIN_GROWTH).min(MAX_SIZE) - cap;
        let off = self.mf()?.alloc(want).map_err(|_| libc::ENOSPC)?;
        self.extents.push((off, want));
        Ok(())
    }

    /// The memory-file pieces (offset, length) of file bytes `[off, off + len)`, which
    /// lie within the capacity.
    pub(crate) fn pieces(&self, off: u64, len: u64) -> Vec<(u64, u64)> {
        let end = off + len;
        let mut out = Vec::new();
        let mut at = 0;
        for &(m, l) in &self.extents {
            let (a, b) = (off.max(at), end.min(at + l));
            if a < b {
                out.push((m + (a - at), b - a));
            }
            at += l;
        }
        out
    }

    fn read_at(&self, off: u64, len: usize) -> Result<Vec<u8>, Errno> {
        if off >= self.size {
            return Ok(Vec::new());
        }
        let n = (len as u64).min(self.size - off) as usize;
        let mut buf = vec![0; n];
        let mut done = 0;
        let mf = self.mf()?;
        for (m, l) in self.pieces(off, n as u64) {
            mf.read(m, &mut buf[done..done + l as usize]);
            done += l as usize;
        }
        Ok(buf)
    }

    fn write_at(&mut self, off: u64, data: &[u8]) -> Result<usize, Errno> {
        if self.hugetlb {
            return Err(libc::EINVAL);
        }
        if data.is_empty() {
            return Ok(0);
        }
        if self.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(libc::EPERM);
        }
        let mut end = off.checked_add(data.len() as u64).ok_or(libc::EFBIG)?;
        if end > self.size && self.seals & F_SEAL_GROW != 0 {
            // As Linux before 6.12 (and gVisor): the write is cut at the last page
            // boundary before the end of the file; a write that would then write
            // nothing is EPERM (6.12 refuses every write that grows it).
            end = self.size & !(PAGE - 1);
            if end <= off {
                return Err(libc::EPERM);
            }
        }
        if off >= MAX_SIZE {
            return Err(libc::EFBIG);
        }
        // As Linux past its limit: what fits is written.
        let end = end.min(MAX_SIZE);
        self.reserve(end)?;
        let mut done = 0;
        let mf = self.mf()?;
        for (m, l) in self.pieces(off, end - off) {
            mf.write(m, &data[done..done + l as usize]);
            done += l as usize;
        }
        self.size = self.size.max(end);
        Ok(done)
    }

    /// ftruncate.
    fn set_size(&mut self, len: u64) -> Result<(), Errno> {
        if len < self.size && self.seals & F_SEAL_SHRINK != 0
            || len > self.size && self.seals & F_SEAL_GROW != 0
        {
            return Err(libc::EPERM);
        }
        if len > i64::MAX as u64 {
            return Err(libc::EFBIG);
        }
        if len < self.size {
            // What lies past the new end reads back as zeroes if the file grows again.
            let cap = self.capacity();
            let mf = self.mf()?;
            for (m, l) in self.pieces(len, cap.saturating_sub(len)) {
                mf.zero(m, l);
            }
        }
        // Growing gives no pages: bytes past them read as zeroes until written or mapped
        // (which reserve them), so the size may reach Linux's limit (MAX_LFS_FILESIZE).
        self.size = len;
        Ok(())
    }

    /// fallocate: mode 0 (and KEEP_SIZE) allocates, PUNCH_HOLE|KEEP_SIZE zeroes.
    fn allocate(&mut self, mode: i32, off: i64, len: i64) -> Result<(), Errno> {
        if off < 0 || len <= 0 {
            return Err(libc::EINVAL);
        }
        let (off, len) = (off as u64, len as u64);
        let end = off.checked_add(len).ok_or(libc::EFBIG)?;
        if end > i64::MAX as u64 {
            return Err(libc::EFBIG);
        }
        const KEEP: i32 = libc::FALLOC_FL_KEEP_SIZE;
        const PUNCH: i32 = libc::FALLOC_FL_PUNCH_HOLE;
        match mode {
            0 | KEEP => {
                if mode == 0 && end > self.size && self.seals & F_SEAL_GROW != 0 {
                    return Err(libc::EPERM);
                }
                if end > MAX_SIZE {
                    return Err(libc::EFBIG);
                }
                self.reserve(end)?;
                if mode == 0 {
                    self.size = self.size.max(end);
                }
                Ok(())
            }
            m if m == PUNCH | KEEP => {
                if self.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
                    return Err(libc::EPERM);
                }
                let end = end.min(self.capacity());
                if off < end {
                    let mf = self.mf()?;
                    for (m, l) in self.pieces(off, end - off) {
                        mf.zero(m, l);
                    }
                }
                Ok(())
            }
            _ => Err(libc::EOPNOTSUPP),
        }
    }

    fn stat(&self) -> libc::stat {
        let mut st = anon_stat(libc::S_IFREG | 0o777);
        st.st_ino = self.id;
        st.st_dev = 0x1;
        st.st_nlink = 0;
        st.st_size = self.size as i64;
        st.st_blocks = (page_up(self.size).min(self.capacity()) / 512) as i64;
        st
    }

    pub(crate) fn seals(&self) -> i32 {
        self.seals
    }

    /// F_ADD_SEALS, once the caller checked that no shared mapping prevents F_SEAL_WRITE.
    pub(crate) fn add_seals(&mut self, seals: i32) -> Result<(), Errno> {
        if seals & !ALL_SEALS != 0 {
            return Err(libc::EINVAL);
        }
        if self.seals & F_SEAL_SEAL != 0 {
            return Err(libc::EPERM);
        }
        self.seals |= seals;
        Ok(())
    }

    /// The memory-file pieces a mapping of `[off, off + len)` maps: the pages are made to
    /// reach that far. EPERM for a shared writable mapping of a file sealed against writes,
    /// ENOMEM for one made with MFD_HUGETLB.
    pub(crate) fn map_pieces(
        &mut self,
        off: u64,
        len: u64,
        shared_write: bool,
    ) -> Result<Vec<(u64, u64)>, Errno> {
        if self.hugetlb {
            return Err(libc::ENOMEM);
        }
        if shared_write && self.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(libc::EPERM);
        }
        let end = off.checked_add(len).ok_or(libc::EOVERFLOW)?;
        if end > MAX_SIZE {
            return Err(libc::ENOMEM);
        }
        self.reserve(end)?;
        Ok(self.pieces(off, len))
    }

    /// Its pages, as (memory-file offset, length): what shared mappings of it map.
    pub(crate) fn extents(&self) -> &[(u64, u64)] {
        &self.extents
    }

    fn link_text(&self) -> String {
        format!("/memfd:{} (deleted)", self.name)
    }
}

impl Drop for Memfd {
    fn drop(&mut self) {
        if let Some(mf) = &self.mf {
            for &(m, l) in &self.extents {
                mf.dec_ref(m, l);
            }
        }
    }
}

/// An open description of a memfd.
pub struct MemfdFile {
    pub(crate) inode: Rc<RefCell<Memfd>>,
    /// O_APPEND: writes go to the end.
    append: bool,
}

impl MemfdFile {
    pub(crate) fn new(inode: Rc<RefCell<Memfd>>, flags: i32) -> MemfdFile {
        MemfdFile {
            inode,
            append: flags & libc::O_APPEND != 0,
        }
    }

    /// A memfd made with MFD_HUGETLB.
    pub(crate) fn hugetlb(inode: &Rc<RefCell<Memfd>>) {
        inode.borrow_mut().hugetlb = true;
    }

    /// The text its /proc/PID/fd link and its mappings in /proc/PID/maps show.
    pub(crate) fn path(&self) -> String {
        self.inode.borrow().link_text()
    }
}

impl FileImpl for MemfdFile {
    fn read(&mut self, pos: &mut u64, len: usize, off: Option<u64>) -> Result<Vec<u8>, IoErr> {
        let ino = self.inode.borrow();
        if ino.hugetlb {
            return Err(IoErr::Errno(libc::EINVAL));
        }
        let at = off.unwrap_or(*pos);
        let d = ino.read_at(at, len)?;
        if off.is_none() {
            *pos += d.len() as u64;
        }
        Ok(d)
    }

    fn write(&mut self, pos: &mut u64, data: &[u8], off: Option<u64>) -> Result<usize, IoErr> {
        let mut ino = self.inode.borrow_mut();
        let at = match off {
            Some(o) => o,
            None if self.append => ino.size,
            None => *pos,
        };
        if at > i64::MAX as u64 {
            return Err(IoErr::Errno(libc::EINVAL));
        }
        let n = ino.write_at(at, data)?;
        if off.is_none() {
            *pos = at + n as u64;
        }
        Ok(n)
    }

    fn seek(&mut self, pos: &mut u64, off: i64, whence: i32) -> Result<i64, Errno> {
        let size = self.inode.borrow().size;
        match whence {
            libc::SEEK_DATA | libc::SEEK_HOLE => {
                if off < 0 || off as u64 >= size {
                    return Err(libc::ENXIO);
                }
                let to = if whence == libc::SEEK_DATA {
                    off
                } else {
                    size as i64
                };
                *pos = to as u64;
                Ok(to)
            }
            _ => seek_in(pos, size as i64, off, whence),
        }
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        Ok(self.inode.borrow().stat())
    }

    fn statfs(&self) -> Option<Result<libc::statfs, Errno>> {
        Some(Ok(crate::fs::synth_statfs(libc::TMPFS_MAGIC)))
    }

    fn epoll_watchable(&self) -> bool {
        false
    }

    fn truncate(&mut self, len: u64) -> Result<(), Errno> {
        if len > i64::MAX as u64 {
            return Err(libc::EINVAL);
        }
        self.inode.borrow_mut().set_size(len)
    }

    fn allocate(&mut self, mode: i32, off: i64, len: i64) -> Result<(), Errno> {
        self.inode.borrow_mut().allocate(mode, off, len)
    }

    fn chmod(&mut self, mode_for: crate::fs::file::Allowed<u32>) -> Result<(), Errno> {
        let st = self.inode.borrow().stat();
        mode_for(&st).map(|_| ())
    }

    fn set_status_flags(&mut self, flags: i32) {
        self.append = flags & libc::O_APPEND != 0;
    }

    fn reopen(&self, flags: i32) -> Result<Box<dyn FileImpl>, Errno> {
        Ok(Box::new(MemfdFile::new(self.inode.clone(), flags)))
    }

    fn link_text(&self, _path: &str) -> String {
        self.path()
    }
}

/// The saved form of a memfd's inode; its bytes are the memory file's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemfdState {
    pub name: String,
    pub size: u64,
    pub seals: i32,
    pub hugetlb: bool,
    /// (memory-file offset, length) of its pages, in file order.
    pub extents: Vec<(u64, u64)>,
}

impl SharedPersist for Memfd {
    type State = MemfdState;
    const WHAT: &'static str = "memfd";

    fn save(&self, _: &mut SaveCtx) -> MemfdState {
        let Memfd {
            id: _, // the key of the shared table
            mf: _, // the restored kernel's
            name,
            size,
            seals,
            hugetlb,
            extents,
        } = self;
        MemfdState {
            name: name.clone(),
            size: *size,
            seals: *seals,
            hugetlb: *hugetlb,
            extents: extents.clone(),
        }
    }

    fn restore(id: u64, s: &MemfdState) -> Memfd {
        // The memory file comes with `relink`; until then it holds no references.
        Memfd {
            id,
            mf: None,
            name: s.name.clone(),
            size: s.size,
            seals: s.seals,
            hugetlb: s.hugetlb,
            extents: Vec::new(),
        }
    }

    fn relink(
        this: &Rc<RefCell<Memfd>>,
        s: &MemfdState,
        cx: &mut RestoreCtx,
    ) -> Result<(), KindError> {
        let mf = cx.memory().ok_or(KindError::Missing {
            what: "the memory file of memfd",
            id: this.borrow().id,
        })?;
        for &(m, l) in &s.extents {
            if !mf.is_allocated(m, l) {
                return Err(KindError::Missing {
                    what: "the memory of memfd",
                    id: this.borrow().id,
                });
            }
        }
        let mut ino = this.borrow_mut();
        ino.extents = s.extents.clone();
        ino.mf = Some(mf);
        Ok(())
    }

    fn check(object: &str, s: &MemfdState) -> Result<(), Invalid> {
        if s.name.len() > NAME_MAX || s.name.contains('\0') {
            return Err(bad(object, "name", "too long or holds a NUL"));
        }
        if s.seals & !ALL_SEALS != 0 {
            return Err(bad(
                object,
                "seals",
                format!("{:#x} are not seals", s.seals),
            ));
        }
        let mut cap = 0u64;
        for &(m, l) in &s.extents {
            if m % PAGE != 0 || l % PAGE != 0 || l == 0 || m.checked_add(l).is_none() {
                return Err(bad(
                    object,
                    "extents",
                    format!("{m:#x}+{l:#x} is not pages"),
                ));
            }
            cap = cap.saturating_add(l);
        }
        if cap > MAX_SIZE || s.size > i64::MAX as u64 {
            return Err(bad(
                object,
                "size",
                format!("{} (with {cap} bytes of pages) is past the limits", s.size),
            ));
        }
        Ok(())
    }
}

impl Persist for MemfdFile {
    type State = MemfdFileState;

    fn save(&self, cx: &mut SaveCtx) -> MemfdFileState {
        let MemfdFile { inode, append } = self;
        let id = inode.borrow().id;
        cx.share(id, &*inode.borrow());
        MemfdFileState {
            inode: id,
            append: *append,
        }
    }

    fn restore(cx: &mut RestoreCtx, _: &FileMeta, s: &MemfdFileState) -> Result<Self, KindError> {
        Ok(MemfdFile {
            inode: cx.shared::<Memfd>(s.inode)?,
            append: s.append,
        })
    }

    fn check(cx: &CheckCtx, s: &MemfdFileState) -> Result<(), Invalid> {
        if !cx.has_shared::<Memfd>(s.inode) {
            return Err(cx.bad("inode", format!("memfd {} does not exist", s.inode)));
        }
        Ok(())
    }
}

/// The saved form of a memfd description: its inode in the shared table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemfdFileState {
    pub inode: u64,
    pub append: bool,
}
