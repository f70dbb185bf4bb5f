//! Loading programs: ELF executables (static, static-PIE, dynamic with PT_INTERP), the
//! initial stack and the auxiliary vector.

pub mod elf;
