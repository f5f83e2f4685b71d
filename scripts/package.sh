#!/usr/bin/env bash
# Builds the Debian package of cimomd, iiadm, mofc and iimgr with cargo-deb:
#   target/debian/cimomd_<version>-1_<arch>.deb
#
# Steps: build the four binaries in one cargo run (PROFILE, default release;
# tests use dev), generate the man pages and bash/zsh/fish completions from their clap
# definitions (`<binary> --generate-docs DIR`, crate clidoc), gzip the pages,
# then `cargo deb --no-build`. The package's contents are declared in
# cimomd/Cargo.toml ([package.metadata.deb]) and packaging/.
# Installs cargo-deb when missing. Prints the path of the .deb last.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
case "$PROFILE" in dev) DIR=debug ;; *) DIR=$PROFILE ;; esac

if ! command -v cargo-deb >/dev/null; then
  cargo install --locked cargo-deb
fi
cargo build --profile "$PROFILE" -p cimomd --bin cimomd -p client --bin iiadm -p mof --bin mofc \
  -p iiconsole --bin iimgr
DOCS=target/package-docs
rm -rf "$DOCS"
for b in cimomd iiadm mofc iimgr; do
  "target/$DIR/$b" --generate-docs "$DOCS"
done
gzip -9n "$DOCS"/man/*
mkdir -p target/debian
args=(-p cimomd --no-build --profile "$PROFILE" -o target/debian/ --quiet)
# Debug builds are for tests: keep them quick to pack.
[ "$PROFILE" = dev ] && args+=(--fast --strip)
out=$(cargo deb "${args[@]}")
echo "$out"
