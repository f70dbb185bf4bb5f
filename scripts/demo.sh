#!/usr/bin/env bash
# Builds runsc and shows what it can do today.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release -q -p runsc
./target/release/runsc --version
