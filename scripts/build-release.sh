#!/usr/bin/env bash
# Builds the ward binary we ship and prints its path: release profile,
# statically linked against glibc (static-pie: the image keeps ASLR), with
# packed relative relocations (DT_RELR). Compared with the default dynamic
# build this saves ~1.5-2 MB of resident memory in every agent: no libc, libm,
# libgcc_s or loader mappings, and no 0.9 MB relocation table to read at start
# (docs/benchmarks.md, "Memory floor"). The benchmarks measure this binary.
#
# The functions the agents run are linked first, in one block, from the list
# in scripts/release/code-order.txt (lld's symbol ordering file): an agent
# then maps ~2 MiB of code instead of ~10 MiB scattered over the whole binary
# (docs/design-notes.md, "Hot code first"). The build prints how many listed
# symbols it did not find; scripts/release/profile-code-order.sh renews the
# list when that number grows.
#
#   bash scripts/build-release.sh            # -> target/<host>/release/ward
#   KEEP_SYMBOLS=1 bash scripts/build-release.sh   # same code, symbol table kept (for profiling)
#
# `--target` is required: with crt-static in RUSTFLAGS and no target, cargo
# would apply it to proc-macro crates too, which cannot be static. The link
# arguments go to the ward binary only (`cargo rustc -- ...`), so changing
# them relinks ward without rebuilding its dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

host="$(rustc -vV | sed -n 's/^host: //p')"
list=scripts/release/code-order.txt
# ThinLTO's shared local functions are named after their codegen unit
# (`..._cgu_N`, see below), and an edit can move one to another unit of its
# crate: such a name is listed for each unit (`codegen-units` of the release
# profile in Cargo.toml), once (lld warns of a name listed twice).
units="$(sed -n '/^\[profile.release\]/,/^\[/ s/^codegen-units = \([0-9]*\)$/\1/p' Cargo.toml)"
expanded="$(awk -v units="$units" '/_cgu_[0-9]+$/ { sub(/[0-9]+$/, ""); for (i = 0; i < units; i++) print $0 i; next } 1' "$list" \
  | awk '!seen[$0]++')"
# The list is linked from a copy named by its hash: cargo relinks when the
# arguments change, not when a file they name does.
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
order="$target/code-order-$(printf '%s\n' "$expanded" | sha256sum | cut -c1-16).txt"
mkdir -p "$target"
printf '%s\n' "$expanded" >"$order"
# ThinLTO renames the local functions it shares between modules to
# `name.llvm.<hash of the module's code>`, so any edit would rename them; with
# this LLVM option the suffix names the module instead, which edits leave alone.
link=(-C "link-arg=-Wl,--symbol-ordering-file=$order" -W linker-messages
  -C llvm-args=-use-source-filename-for-promoted-locals)
if [ "${KEEP_SYMBOLS:-0}" = 1 ]; then
  link+=(-C strip=none)
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs" \
  cargo rustc --release --locked -p ward --bin ward --target "$host" -- "${link[@]}" 2>&1 \
  | tee "$log" | { grep --line-buffered -v 'symbol ordering file: no such symbol' || true; } >&2
# A listed function is missing when none of its names is in the build.
missing="$({ grep -o 'symbol ordering file: no such symbol: .*' "$log" || true; } | cut -d' ' -f7- \
  | sed -E 's/_cgu_[0-9]+$/_cgu_/' | sort | uniq -c \
  | awk -v units="$units" '{ if ($1 >= ($2 ~ /_cgu_$/ ? units : 1)) n++ } END { print n + 0 }')"
listed="$(wc -l <"$list")"
echo "build-release.sh: $missing of $listed symbols in $list not in this build" >&2
# Scattered hot code costs resident memory in every agent (10.5 instead of
# 7.6 MiB for the nurse with 500 of 2,347 missing: docs/benchmarks.md).
if [ $((missing * 20)) -gt "$listed" ]; then
  echo "build-release.sh: more than 5% missing: renew the list with scripts/release/profile-code-order.sh" >&2
fi
echo "${CARGO_TARGET_DIR:-target}/$host/release/ward"
