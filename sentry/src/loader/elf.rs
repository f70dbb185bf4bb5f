//! ELF64 x86-64 loading into a guest address space.

use crate::mm::{
    page_down, page_up, Errno, Mm, MmCtx, PAGE, PROT_EXEC, PROT_READ, PROT_WRITE, STACK_SIZE,
    STACK_TOP,
};

/// Where a position-independent executable is placed.
const PIE_BASE: u64 = 0x5555_5555_4000;
/// Where the program interpreter is placed.
const INTERP_BASE: u64 = 0x7d00_0000_0000 - 0x1000_0000;

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;

fn u16_at(b: &[u8], o: usize) -> Result<u16, Errno> {
    b.get(o..o.checked_add(2).ok_or(libc::ENOEXEC)?)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(libc::ENOEXEC)
}
fn u32_at(b: &[u8], o: usize) -> Result<u32, Errno> {
    b.get(o..o.checked_add(4).ok_or(libc::ENOEXEC)?)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4")))
        .ok_or(libc::ENOEXEC)
}
fn u64_at(b: &[u8], o: usize) -> Result<u64, Errno> {
    b.get(o..o.checked_add(8).ok_or(libc::ENOEXEC)?)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8")))
        .ok_or(libc::ENOEXEC)
}

#[derive(Debug, Clone, Copy)]
struct Phdr {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

/// A parsed ELF header with its program headers.
pub struct Elf<'a> {
    bytes: &'a [u8],
    dynamic: bool,
    entry: u64,
    phoff: u64,
    phnum: u16,
    phdrs: Vec<Phdr>,
}

impl<'a> Elf<'a> {
    /// Parses and checks an ELF image; anything malformed is ENOEXEC.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Errno> {
        if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
            return Err(libc::ENOEXEC);
        }
        if bytes[4] != 2 || bytes[5] != 1 {
            return Err(libc::ENOEXEC); // not 64-bit little-endian
        }
        let kind = u16_at(bytes, 16)?;
        if u16_at(bytes, 18)? != 62 {
            return Err(libc::ENOEXEC); // not x86-64
        }
        let dynamic = match kind {
            2 => false,
            3 => true,
            _ => return Err(libc::ENOEXEC),
        };
        let entry = u64_at(bytes, 24)?;
        let phoff = u64_at(bytes, 32)?;
        let phentsize = u16_at(bytes, 54)?;
        let phnum = u16_at(bytes, 56)?;
        if phentsize != 56 || phnum == 0 || phnum > 256 {
            return Err(libc::ENOEXEC);
        }
        // The whole program header table must lie inside the file.
        if phoff
            .checked_add(phnum as u64 * 56)
            .is_none_or(|end| end > bytes.len() as u64)
        {
            return Err(libc::ENOEXEC);
        }
        let mut phdrs = Vec::new();
        for i in 0..phnum as u64 {
            let o = phoff.checked_add(i * 56).ok_or(libc::ENOEXEC)? as usize;
            let p = Phdr {
                kind: u32_at(bytes, o)?,
                flags: u32_at(bytes, o + 4)?,
                offset: u64_at(bytes, o + 8)?,
                vaddr: u64_at(bytes, o + 16)?,
                filesz: u64_at(bytes, o + 32)?,
                memsz: u64_at(bytes, o + 40)?,
            };
            if p.kind == PT_LOAD
                && (p.filesz > p.memsz
                    || p.offset
                        .checked_add(p.filesz)
                        .is_none_or(|e| e > bytes.len() as u64)
                    || p.vaddr.checked_add(p.memsz).is_none_or(|e| e > 1 << 46))
            {
                return Err(libc::ENOEXEC);
            }
            phdrs.push(p);
        }
        if !phdrs.iter().any(|p| p.kind == PT_LOAD) {
            return Err(libc::ENOEXEC);
        }
        Ok(Elf {
            bytes,
            dynamic,
            entry,
            phoff,
            phnum,
            phdrs,
        })
    }

    /// The PT_INTERP path, if any.
    pub fn interp(&self) -> Result<Option<String>, Errno> {
        let Some(p) = self.phdrs.iter().find(|p| p.kind == PT_INTERP) else {
            return Ok(None);
        };
        let end = p.offset.checked_add(p.filesz).ok_or(libc::ENOEXEC)?;
        let raw = self
            .bytes
            .get(p.offset as usize..end as usize)
            .ok_or(libc::ENOEXEC)?;
        let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
        Ok(Some(String::from_utf8_lossy(raw).into_owned()))
    }

    /// Maps every PT_LOAD segment at `bias`. Returns the end of the highest segment.
    fn map(&self, mm: &mut Mm, cx: &mut MmCtx, bias: u64) -> Result<u64, Errno> {
        let loads: Vec<&Phdr> = self.phdrs.iter().filter(|p| p.kind == PT_LOAD).collect();
        let lo = page_down(loads.iter().map(|p| p.vaddr).min().expect("one load") + bias);
        let hi = page_up(
            loads
                .iter()
                .map(|p| p.vaddr + p.memsz)
                .max()
                .expect("one load")
                + bias,
        );
        mm.map_anon(cx, lo, hi - lo, PROT_READ | PROT_WRITE, false, true, "")?;
        for p in &loads {
            let data = &self.bytes[p.offset as usize..(p.offset + p.filesz) as usize];
            mm.write_force(cx.mf, p.vaddr + bias, data)?;
        }
        // Protections: a page shared by two segments gets both.
        let mut pages: std::collections::BTreeMap<u64, i32> = std::collections::BTreeMap::new();
        for p in &loads {
            let prot = (if p.flags & 4 != 0 { PROT_READ } else { 0 })
                | (if p.flags & 2 != 0 { PROT_WRITE } else { 0 })
                | (if p.flags & 1 != 0 { PROT_EXEC } else { 0 });
            let mut a = page_down(p.vaddr + bias);
            while a < page_up(p.vaddr + p.memsz + bias) {
                *pages.entry(a).or_insert(0) |= prot;
                a += PAGE;
            }
        }
        // Apply in runs of equal protection.
        let mut run: Option<(u64, u64, i32)> = None;
        for (&a, &prot) in &pages {
            run = match run {
                Some((s, e, p)) if e == a && p == prot => Some((s, a + PAGE, p)),
                Some((s, e, p)) => {
                    mm.protect(cx, s, e - s, p)?;
                    Some((a, a + PAGE, prot))
                }
                None => Some((a, a + PAGE, prot)),
            };
        }
        if let Some((s, e, p)) = run {
            mm.protect(cx, s, e - s, p)?;
        }
        Ok(hi)
    }

    fn phdr_addr(&self, bias: u64) -> u64 {
        if let Some(p) = self.phdrs.iter().find(|p| p.kind == PT_PHDR) {
            return p.vaddr + bias;
        }
        for p in self.phdrs.iter().filter(|p| p.kind == PT_LOAD) {
            if self.phoff >= p.offset && self.phoff < p.offset + p.filesz {
                return p.vaddr + (self.phoff - p.offset) + bias;
            }
        }
        0
    }
}

/// What the loader set up: where to start and the initial stack pointer.
pub struct Loaded {
    pub entry: u64,
    pub sp: u64,
}

/// The identity the auxiliary vector reports.
pub struct Ids {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// AT_SECURE: the program runs with more privilege than its caller.
    pub secure: bool,
}

fn hwcap() -> u64 {
    core::arch::x86_64::__cpuid(1).edx as u64
}

/// Loads `exe` (and its interpreter, read by `read_interp`) into the fresh `mm` and
/// builds the initial stack.
#[allow(clippy::too_many_arguments)]
pub fn load(
    mm: &mut Mm,
    cx: &mut MmCtx,
    exe: &[u8],
    read_interp: &mut dyn FnMut(&str) -> Result<Vec<u8>, Errno>,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    ids: &Ids,
    random: [u8; 16],
) -> Result<Loaded, Errno> {
    let elf = Elf::parse(exe)?;
    let bias = if elf.dynamic {
        PIE_BASE
            - page_down(
                elf.phdrs
                    .iter()
                    .filter(|p| p.kind == PT_LOAD)
                    .map(|p| p.vaddr)
                    .min()
                    .unwrap_or(0),
            )
    } else {
        0
    };
    let end = elf.map(mm, cx, bias)?;
    mm.brk_start = end;
    mm.brk = end;
    let mut entry = elf.entry + bias;
    let mut interp_base = 0;
    if let Some(path) = elf.interp()? {
        let bytes = read_interp(&path)?;
        let ie = Elf::parse(&bytes)?;
        if !ie.dynamic || ie.interp()?.is_some() {
            return Err(libc::ELIBBAD);
        }
        ie.map(mm, cx, INTERP_BASE)?;
        interp_base = INTERP_BASE;
        entry = ie.entry + INTERP_BASE;
    }

    // The stack.
    let stack_lo = STACK_TOP - STACK_SIZE;
    mm.map_anon(
        cx,
        stack_lo,
        STACK_SIZE,
        PROT_READ | PROT_WRITE,
        false,
        true,
        "[stack]",
    )?;
    let mut top = STACK_TOP;
    let mut push_bytes = |mm: &mut Mm, cx: &mut MmCtx, b: &[u8]| -> Result<u64, Errno> {
        top -= b.len() as u64;
        mm.write(cx, top, b)?;
        Ok(top)
    };
    let with_nul = |s: &[u8]| {
        let mut v = s.to_vec();
        v.push(0);
        v
    };
    let execfn_addr = push_bytes(mm, cx, &with_nul(execfn))?;
    let mut env_addrs = Vec::new();
    for e in envp.iter().rev() {
        env_addrs.push(push_bytes(mm, cx, &with_nul(e))?);
    }
    env_addrs.reverse();
    let env_range = (
        env_addrs.first().copied().unwrap_or(execfn_addr),
        execfn_addr,
    );
    let mut arg_addrs = Vec::new();
    for a in argv.iter().rev() {
        arg_addrs.push(push_bytes(mm, cx, &with_nul(a))?);
    }
    arg_addrs.reverse();
    let arg_range = (
        arg_addrs.first().copied().unwrap_or(env_range.0),
        env_range.0,
    );
    let platform = push_bytes(mm, cx, b"x86_64\0")?;
    let random_addr = push_bytes(mm, cx, &random)?;
    mm.arg_range = arg_range;
    mm.env_range = env_range;

    let auxv: Vec<(u64, u64)> = vec![
        (3, elf.phdr_addr(bias)),
        (4, 56),
        (5, elf.phnum as u64),
        (6, PAGE),
        (7, interp_base),
        (8, 0),
        (9, elf.entry + bias),
        (11, ids.uid as u64),
        (12, ids.euid as u64),
        (13, ids.gid as u64),
        (14, ids.egid as u64),
        (15, platform),
        (16, hwcap()),
        (17, 100),
        (23, ids.secure as u64),
        (25, random_addr),
        (26, 0),
        (31, execfn_addr),
        (0, 0),
    ];
    let words = 1 + arg_addrs.len() + 1 + env_addrs.len() + 1 + auxv.len() * 2;
    let sp = (top - words as u64 * 8) & !15;
    let auxv_start = sp + 8 * (3 + arg_addrs.len() + env_addrs.len()) as u64;
    mm.auxv_range = (auxv_start, auxv_start + 16 * auxv.len() as u64);
    let mut v: Vec<u64> = Vec::with_capacity(words);
    v.push(argv.len() as u64);
    v.extend(&arg_addrs);
    v.push(0);
    v.extend(&env_addrs);
    v.push(0);
    for (k, val) in auxv {
        v.push(k);
        v.push(val);
    }
    let bytes: Vec<u8> = v.iter().flat_map(|w| w.to_le_bytes()).collect();
    mm.write(cx, sp, &bytes)?;
    Ok(Loaded { entry, sp })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal x86-64 ELF header with the given program header offset and count.
    fn header(phoff: u64, phnum: u16) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&2u16.to_le_bytes());
        b[18..20].copy_from_slice(&62u16.to_le_bytes());
        b[32..40].copy_from_slice(&phoff.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&phnum.to_le_bytes());
        b
    }

    #[test]
    fn program_headers_outside_the_file_are_enoexec() {
        // Found by the parse_elf fuzz target: an offset near u64::MAX overflowed.
        assert_eq!(Elf::parse(&header(u64::MAX, 38)).err(), Some(libc::ENOEXEC));
        assert_eq!(
            Elf::parse(&header(u64::MAX - 60, 1)).err(),
            Some(libc::ENOEXEC)
        );
        assert_eq!(Elf::parse(&header(64, 2)).err(), Some(libc::ENOEXEC));
        assert_eq!(Elf::parse(b"\x7fELF").err(), Some(libc::ENOEXEC));
    }
}
