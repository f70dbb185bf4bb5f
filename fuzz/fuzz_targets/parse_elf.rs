//! The ELF parser reads bytes a guest controls (any file it can execve).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(elf) = sentry::loader::elf::Elf::parse(data) {
        let _ = elf.interp();
    }
});
