#!/usr/bin/env bash
# Builds the ward binary we ship and prints its path: release profile,
# statically linked against glibc (static-pie: the image keeps ASLR), with
# packed relative relocations (DT_RELR). Compared with the default dynamic
# build this saves ~1.5-2 MB of resident memory in every agent: no libc, libm,
# libgcc_s or loader mappings, and no 0.9 MB relocation table to read at start
# (docs/benchmarks.md, "Memory floor"). The benchmarks measure this binary.
#
#   bash scripts/build-release.sh            # -> target/<host>/release/ward
#
# `--target` is required: with crt-static in RUSTFLAGS and no target, cargo
# would apply it to proc-macro crates too, which cannot be static.
set -euo pipefail
cd "$(dirname "$0")/.."

host="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs" \
  cargo build --release --locked -p ward --target "$host" >&2
echo "${CARGO_TARGET_DIR:-target}/$host/release/ward"
