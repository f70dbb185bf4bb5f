// Declares `cfg(fuzzing)` (set by cargo-fuzz), under which the reader ignores
// checksum mismatches so that the fuzzer reaches the code behind them.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
}
