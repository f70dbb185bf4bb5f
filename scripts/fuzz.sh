#!/usr/bin/env bash
# Builds the cargo-fuzz target for the checkpoint-image reader and runs it for N seconds.
# New inputs go to fuzz/corpus/read_image (gitignored); fuzz/seeds holds committed seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install -q cargo-fuzz --locked
fi
cd fuzz
mkdir -p corpus/read_image
RUSTC_BOOTSTRAP=1 cargo fuzz run read_image corpus/read_image seeds -- -max_total_time="$secs" -rss_limit_mb=2048
