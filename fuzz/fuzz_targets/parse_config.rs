//! config.json of a bundle is untrusted input of the runtime.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = boot::spec::Spec::from_slice(data) {
        if let Ok(b) = boot::bundle::Bundle::from_spec(std::path::PathBuf::from("/nonexistent-bundle"), spec) {
            let _ = b.sandbox_config("fuzz");
        }
    }
});
