#!/usr/bin/env bash
# The coverage-guided fuzz run: every harness of crates/fuzz under cargo-fuzz
# (libFuzzer, nightly, address sanitizer) for SECONDS each (default 60). Not
# part of the test command, which runs the same harnesses bounded and seeded
# (cargo test -p ward-fuzz). A crash is saved under fuzz/artifacts/TARGET/;
# add it to the target's seeds or a regression test of the reader.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
case "$seconds" in
  ''|*[!0-9]*) printf 'fuzz.sh: error: SECONDS %s is not a whole number\n' "$seconds" >&2; exit 2 ;;
esac
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^ward-fuzz-targets$')
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus"
  echo "fuzz.sh: $t for ${seconds}s" >&2
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$corpus" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
