#!/bin/sh
# Runs the CIM-XML decoder fuzz targets (cargo-fuzz, libFuzzer).
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on stable.
# Usage: cim/fuzz/run.sh [seconds per target, default 60]
# Needs: cargo install cargo-fuzz
set -eu
cd "$(dirname "$0")"
secs="${1:-60}"
export RUSTC_BOOTSTRAP=1
for target in decode decode_embedded; do
    mkdir -p "corpus/$target"
    cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$secs" -max_len=65536
done
