#!/usr/bin/env bash
# Builds the cargo-fuzz targets for the parsers of untrusted bytes and runs each for N
# seconds: read_image (checkpoint.img), parse_elf (guest executables), parse_config
# (config.json). New inputs go to fuzz/corpus/<target> (gitignored); fuzz/seeds holds the
# committed seeds of read_image.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install -q cargo-fuzz --locked
fi
cd fuzz
for target in read_image parse_elf parse_config kernel_state; do
    mkdir -p "corpus/$target"
    seeds=()
    [ "$target" = read_image ] && seeds=(seeds)
    [ "$target" = kernel_state ] && seeds=(seeds-kernel-state)
    echo "== fuzz $target for ${secs}s"
    log="corpus/$target.log"
    st=0
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 > "$log" 2>&1 || st=$?
    # libFuzzer's progress lines stay in the log; a failing run shows its end.
    grep -E "^(Done|INFO: seed)" "$log" || true
    if [ "$st" -ne 0 ]; then
        tail -n 60 "$log"
        exit "$st"
    fi
done
