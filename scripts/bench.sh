#!/usr/bin/env bash
# Runs every benchmark, each printing its figures and the ratio against the
# best existing tool run side by side on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# The side-by-side references: cp is always there; these come from Debian.
need=()
for tool in nbdkit:nbdkit fio:fio wrk:wrk qemu-nbd:qemu-utils qemu-storage-daemon:qemu-utils nbdcopy:libnbd-bin chromium:chromium; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || { python3 -m venv .venv && .venv/bin/pip install -q pywbem; }
.venv/bin/python -c 'import playwright, pytest' 2>/dev/null || .venv/bin/pip install -q playwright pytest
ran=0
# Every benchmark's output also goes to a log, so the rows that carry one of
# the issue's goals (they end in "yes" or "NO") can be summed up at the end.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {
  printf '\n== %s\n' "$*" | tee -a "$log"
  "$@" 2>&1 | tee -a "$log"
  ran=$((ran + 1))
}
run cargo bench -p cim --bench codec
run cargo bench -p mof
for b in native/benches/*.rs; do
  [ -e "$b" ] && run cargo bench -p native --bench "$(basename "$b" .rs)"
done
run cargo run --release -p native --example nbd_bench
run cargo run --release -p native --example engine_nbd_bench
run cargo run --release -p native --example nbd_tls_bench
run cargo run --release -p native --example nbd_client_bench
run cargo run --release -p native --example mirror_bench
[ -x cimom/benches/http_bench.sh ] && run cimom/benches/http_bench.sh
# Issue 18: start to READY=1 (DMTF 2.41 + 1,000 sets) and metrics endpoint overhead.
run .venv/bin/python cimomd/benches/service_bench.py
cargo build --release --bin iimgr --bin cimomd --bin iiadm
run env CIMOMD=target/release/cimomd IIADM=target/release/iiadm IIMGR=target/release/iimgr \
  .venv/bin/python console/benches/console_bench.py
echo "ran $ran benchmark groups"
printf '\n== summary against the issue goals (ratio, goal, met)\n'
grep -E '(yes|NO)$' "$log" || echo "(no goal rows)"
