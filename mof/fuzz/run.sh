#!/bin/sh
# Runs the MOF parser fuzz target for N seconds (default 60) on stable Rust.
#   mof/fuzz/run.sh [SECONDS]
# Installs cargo-fuzz when missing. Crashes land in
# mof/fuzz/artifacts/parse/; the corpus grows in mof/fuzz/corpus/parse/.
set -eu
secs="${1:-60}"
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p corpus/parse
cp -n seeds/*.mof corpus/parse/ 2>/dev/null || true
# cargo-fuzz needs nightly-only flags (-Z sanitizer); RUSTC_BOOTSTRAP lets stable accept them.
RUSTC_BOOTSTRAP=1 exec cargo fuzz run parse --fuzz-dir . -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384
