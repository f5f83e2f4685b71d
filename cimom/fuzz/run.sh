#!/bin/sh
# Runs the WQL parser fuzz target on stable Rust.
#   cimom/fuzz/run.sh [SECONDS]   fuzz for SECONDS (default 60; CI passes FUZZ_SECONDS)
#   cimom/fuzz/run.sh long        the long mode: 10 M executions (FUZZ_RUNS overrides)
# Installs cargo-fuzz when missing. Crashes land in cimom/fuzz/artifacts/wql/;
# the corpus grows in cimom/fuzz/corpus/wql/. libFuzzer prints exec/s.
set -eu
arg="${1:-60}"
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p corpus/wql
cp -n seeds/* corpus/wql/ 2>/dev/null || true
if [ "$arg" = long ]; then
    limit="-runs=${FUZZ_RUNS:-10000000}"
else
    limit="-max_total_time=$arg"
fi
# cargo-fuzz needs nightly-only flags (-Z sanitizer); RUSTC_BOOTSTRAP lets stable accept them.
RUSTC_BOOTSTRAP=1 exec cargo fuzz run wql --fuzz-dir . -- \
    "$limit" -timeout=10 -rss_limit_mb=2048 -max_len=4096
