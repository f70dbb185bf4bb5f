//! The saved form of an address space: its mappings (ranges of the memory file, whose
//! bytes the image carries as segments) and its brk and argument ranges. The host address
//! space (a stub process) is not saved: restore makes a new one and maps the table into it.

use serde::{Deserialize, Serialize};

use super::{Mm, MmCtx, Shm, Vma};

/// One mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmaState {
    pub start: u64,
    pub end: u64,
    pub prot: i32,
    pub shared: bool,
    /// Memory-file offset of `start`.
    pub off: u64,
    pub name: String,
    /// MADV_DONTFORK: a forked child does not get it.
    pub dontfork: bool,
    /// A private mapping of a file: memory-file offset of the file's pages from `start`
    /// (the mapping holds a reference of each).
    pub file_pages: Option<u64>,
    /// Shared anonymous memory: its object's memory-file bytes (offset, size), of which
    /// the mapping holds a reference.
    pub shm: Option<(u64, u64)>,
    /// Pages past the end of shared anonymous memory's object (SIGBUS).
    pub past_end: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MmState {
    pub id: u64,
    pub vmas: Vec<VmaState>,
    pub brk_start: u64,
    pub brk: u64,
    pub arg_range: (u64, u64),
    pub env_range: (u64, u64),
    pub auxv_range: (u64, u64),
    /// Tasks using it.
    pub users: u32,
}

impl Mm {
    /// The saved form of this address space, known to the kernel as `id`.
    pub fn save(&self, id: u64, users: u32) -> MmState {
        let Mm {
            id: _, // not saved: the host address space is made anew on restore
            vmas,
            brk_start,
            brk,
            arg_range,
            env_range,
            auxv_range,
            // Not saved: a checkpoint opens everything first (its memory is all loaded).
            unopened: _,
            // Not saved: protection bookkeeping of the checkpoint being taken.
            dirty: _,
        } = self;
        MmState {
            id,
            vmas: vmas
                .iter()
                .map(|(&start, v)| {
                    let Vma {
                        end,
                        prot,
                        shared,
                        off,
                        name,
                        dontfork,
                        file_pages,
                        shm,
                        past_end,
                    } = v;
                    VmaState {
                        start,
                        end: *end,
                        prot: *prot,
                        shared: *shared,
                        off: *off,
                        name: name.clone(),
                        dontfork: *dontfork,
                        file_pages: *file_pages,
                        shm: shm.map(|o| (o.base, o.size)),
                        past_end: *past_end,
                    }
                })
                .collect(),
            brk_start: *brk_start,
            brk: *brk,
            arg_range: *arg_range,
            env_range: *env_range,
            auxv_range: *auxv_range,
            users,
        }
    }

    /// A new host address space holding the saved mappings (already checked by the
    /// restore validation: inside the guest range, backed by restored memory).
    /// `on_demand`: the image's memory is loaded on first touch (every accessible
    /// mapping starts unopened).
    pub fn restore(cx: &mut MmCtx, s: &MmState, on_demand: bool) -> std::io::Result<Mm> {
        let mut mm = Mm::new(cx)?;
        mm.brk_start = s.brk_start;
        mm.brk = s.brk;
        mm.arg_range = s.arg_range;
        mm.env_range = s.env_range;
        mm.auxv_range = s.auxv_range;
        for v in &s.vmas {
            mm.vmas.insert(
                v.start,
                Vma {
                    end: v.end,
                    prot: v.prot,
                    shared: v.shared,
                    off: v.off,
                    name: v.name.clone(),
                    dontfork: v.dontfork,
                    file_pages: v.file_pages,
                    shm: v.shm.map(|(base, size)| Shm { base, size }),
                    past_end: v.past_end,
                },
            );
        }
        if on_demand {
            mm.start_unopened();
        }
        mm.remap_all(cx)?;
        Ok(mm)
    }
}
