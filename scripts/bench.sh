#!/usr/bin/env bash
# Runs every benchmark, each printing its figures and the ratio against the
# best existing tool run side by side on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ran=0
run() { printf '\n== %s\n' "$*"; "$@"; ran=$((ran + 1)); }
run cargo bench -p cim --bench codec
run cargo bench -p mof
for b in native/benches/*.rs; do
  [ -e "$b" ] && run cargo bench -p native --bench "$(basename "$b" .rs)"
done
[ -x cimom/benches/http_bench.sh ] && run cimom/benches/http_bench.sh
echo "ran $ran benchmark groups"
