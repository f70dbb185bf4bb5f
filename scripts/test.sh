#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, the whole test suite (unit and end-to-end),
# and a short fuzzing run of every parser of untrusted bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --release -q -- -D warnings
echo "== cargo test"
cargo test --workspace --release --no-fail-fast
echo "== fuzz (short run)"
bash scripts/fuzz.sh 30
