#!/usr/bin/env bash
# The README's second command: installs every test dependency, then runs the
# quality gates and every test. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
# Components built from Go modules put their binaries here (see scripts/deps.d).
export WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
export PATH="$WARD_TOOLS_DIR/bin:$PATH"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# No dependency a crate does not use (ignore a false positive in the crate's
# [package.metadata.cargo-machete]).
cargo machete
# The image the real-cluster test installs: the shipped static binary, packed
# (a no-op rebuild when nothing changed).
WARD_IMAGE_ARCHIVE="$(bash scripts/build-image.sh)"
export WARD_IMAGE_ARCHIVE
cargo nextest run --workspace --locked --no-fail-fast
cargo test --workspace --doc --locked
