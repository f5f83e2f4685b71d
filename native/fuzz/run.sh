#!/bin/sh
# Runs the NBD server fuzz target (handshake options, STARTTLS, transmission
# headers) for N seconds (default 60) on stable Rust.
#   native/fuzz/run.sh [SECONDS]
# Crashes land in native/fuzz/artifacts/nbd_session/; the corpus grows in
# native/fuzz/corpus/nbd_session/.
set -eu
secs="${1:-60}"
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p corpus/nbd_session
cp -n seeds/* corpus/nbd_session/ 2>/dev/null || true
# cargo-fuzz needs nightly-only flags (-Z sanitizer); RUSTC_BOOTSTRAP lets stable accept them.
RUSTC_BOOTSTRAP=1 exec cargo fuzz run nbd_session --fuzz-dir . -- \
    -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=8192
