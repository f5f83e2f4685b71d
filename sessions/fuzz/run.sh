#!/bin/sh
# Runs the copy-session/1 parser fuzz target on stable Rust.
#   sessions/fuzz/run.sh [SECONDS]   fuzz for SECONDS (default 60; CI passes FUZZ_SECONDS)
#   sessions/fuzz/run.sh long        the long mode: 10 M executions (FUZZ_RUNS overrides)
# Installs cargo-fuzz when missing. Seeds are the fixtures (good and bad);
# crashes land in sessions/fuzz/artifacts/parse/, the corpus grows in
# sessions/fuzz/corpus/parse/. libFuzzer prints exec/s.
set -eu
arg="${1:-60}"
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p corpus/parse
cp -n ../fixtures/good/*.xml ../fixtures/bad/*.xml corpus/parse/ 2>/dev/null || true
if [ "$arg" = long ]; then
    limit="-runs=${FUZZ_RUNS:-10000000}"
else
    limit="-max_total_time=$arg"
fi
# cargo-fuzz needs nightly-only flags (-Z sanitizer); RUSTC_BOOTSTRAP lets stable accept them.
RUSTC_BOOTSTRAP=1 exec cargo fuzz run parse --fuzz-dir . -- \
    "$limit" -timeout=10 -rss_limit_mb=2048 -max_len=16384 -dict=copy-session.dict
