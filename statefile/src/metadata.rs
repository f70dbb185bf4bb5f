//! The human-readable metadata block: JSON, small, enough for `runsc inspect`
//! and for refusing an image that cannot be restored on this host.

use serde::{Deserialize, Serialize};

/// What an image says about where and when it was taken.
///
/// Stored as JSON (at most [`crate::MAX_METADATA_LEN`] bytes). Unknown fields
/// are ignored when reading, so a later minor version may add fields; a field
/// added in a later minor version must carry `#[serde(default)]` so that
/// older images still read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// The version of the runtime that wrote the image (e.g. `runsc 0.1.0`).
    pub runtime_version: String,
    /// When the checkpoint was taken, seconds since the Unix epoch.
    pub created_unix_secs: u64,
    /// The container's id.
    pub container_id: String,
    /// The architecture, as Rust names it (`x86_64`, `aarch64`).
    pub arch: String,
    /// The host page size the guest memory was saved with.
    pub page_size: u64,
    /// The host kernel release (`uname -r`).
    pub host_kernel_release: String,
    /// The CPU features the guest may have observed.
    pub cpu: CpuFeatures,
    /// Memory totals.
    pub memory: MemoryTotals,
}

/// The CPU features an image was taken with. Restore must refuse a host whose
/// XCR0 differs or whose features are not a superset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CpuFeatures {
    /// CPU vendor string (`GenuineIntel`, `AuthenticAMD`), empty if unknown.
    pub vendor: String,
    /// Feature names, as in `/proc/cpuinfo` flags.
    pub features: Vec<String>,
    /// Raw CPUID leaves, for an exact comparison.
    pub cpuid: Vec<CpuidLeaf>,
    /// The XSAVE feature mask (XCR0).
    pub xcr0: u64,
}

/// One CPUID leaf (and sub-leaf) and the registers it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CpuidLeaf {
    pub leaf: u32,
    pub subleaf: u32,
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// Memory totals. `total_bytes` is the caller's; the rest are filled in by
/// [`crate::write_image`], which ignores the values passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryTotals {
    /// The size of the guest's memory file.
    pub total_bytes: u64,
    /// Bytes of the memory ranges handed to the writer (zero pages included).
    pub range_bytes: u64,
    /// Bytes actually saved (non-zero pages).
    pub saved_bytes: u64,
    /// Number of segments.
    pub segments: u64,
}

impl Metadata {
    /// Metadata for an image taken now on this host: fills in the creation
    /// time, the architecture, the page size and the kernel release. The CPU
    /// features and memory totals are left for the caller, which knows them.
    pub fn for_this_host(runtime_version: &str, container_id: &str) -> Metadata {
        let created_unix_secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // uname(2), not /proc/sys/kernel/osrelease: the sandbox process that writes
        // images has no /proc in its root.
        let host_kernel_release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Metadata {
            runtime_version: runtime_version.to_owned(),
            created_unix_secs,
            container_id: container_id.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            page_size: crate::PAGE_SIZE,
            host_kernel_release,
            cpu: CpuFeatures::default(),
            memory: MemoryTotals::default(),
        }
    }
}
