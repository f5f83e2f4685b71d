#!/usr/bin/env bash
# Runs every test of the project on a fresh machine of this kind.
#
# Installs what the tests need when it is missing (Debian: sblim-wbemcli,
# libnbd-bin, qemu-utils, openssl, util-linux, man-db, chromium, libxml2-utils; PyPI, in ./.venv:
# pywbem, pywbemtools, pytest, prometheus_client, playwright; cargo-nextest, cargo-deb), builds
# the binaries, then runs the Rust tests (cargo nextest), the end-to-end tests
# against a real cimomd (pytest, tests/e2e) and short fuzzing runs.
#
# Environment: FUZZ_SECONDS (per fuzz target, default 12; 0 skips fuzzing), MOF_CORPUS (default
# ../shared/corpus), NATIVE_LONG=1 for the long crash/model suites.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\n== %s\n' "$*"; }

need_apt=()
command -v wbemcli >/dev/null || need_apt+=(sblim-wbemcli)
command -v nbdinfo >/dev/null || need_apt+=(libnbd-bin)
command -v nbdcopy >/dev/null || need_apt+=(libnbd-bin)
command -v qemu-io >/dev/null || need_apt+=(qemu-utils)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v man >/dev/null || need_apt+=(man-db)
# The copy-session fixtures are checked against the XSD with xmllint.
command -v xmllint >/dev/null || need_apt+=(libxml2-utils)
# The console tests drive Debian's chromium through Playwright (never a browser download).
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/pytest ] || ! .venv/bin/python -c 'import pywbem, pywbemtools, prometheus_client' 2>/dev/null; then
  log "creating .venv with pywbem, pywbemtools, pytest, prometheus_client"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q pywbem pywbemtools pytest prometheus_client
fi
if ! .venv/bin/python -c 'import playwright' 2>/dev/null; then
  log "installing playwright (the Python driver only; tests use Debian's chromium)"
  .venv/bin/pip install -q playwright
fi
export PATH="$ROOT/.venv/bin:$PATH"

if ! command -v cargo-nextest >/dev/null; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
# The package test (tests/e2e/service/test_package.py) runs scripts/package.sh.
if ! command -v cargo-deb >/dev/null; then
  log "installing cargo-deb"
  cargo install --locked cargo-deb
fi

log "building the binaries"
cargo build --workspace --bins

log "Rust tests (cargo nextest)"
cargo nextest run --workspace --no-fail-fast

log "end-to-end tests (pytest against a real cimomd)"
CIMOMD="$ROOT/target/debug/cimomd" IIADM="$ROOT/target/debug/iiadm" \
  python -m pytest -q tests/e2e

# Seven targets (cim 2, mof 1, native 2, cimom 1, sessions 1) take about the short CI budget
# the first four did (4 x 20 s); the long modes (FUZZ_RUNS, see each run.sh) go deep.
FUZZ_SECONDS=${FUZZ_SECONDS:-12}
if [ "$FUZZ_SECONDS" != 0 ]; then
  if ! command -v cargo-fuzz >/dev/null; then
    log "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
  fi
  for script in cim/fuzz/run.sh mof/fuzz/run.sh native/fuzz/run.sh cimom/fuzz/run.sh sessions/fuzz/run.sh; do
    if [ -x "$script" ]; then
      log "fuzzing: $script for ${FUZZ_SECONDS}s per target"
      "$script" "$FUZZ_SECONDS"
    fi
  done
fi
log "all tests passed"
