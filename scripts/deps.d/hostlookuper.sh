#!/usr/bin/env bash
# Builds the real hostlookuper v1.0.9 from its Go module: the oracle for the
# drop-in test of `ward lookup` (crates/lookup/tests/dropin.rs) and a peer in
# scripts/bench/lookup.sh. Idempotent: skipped when the binary exists.
set -euo pipefail

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
HOSTLOOKUPER_VERSION="v1.0.9"
bin="$WARD_TOOLS_DIR/bin/hostlookuper"
stamp="$WARD_TOOLS_DIR/bin/.hostlookuper.version"

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$HOSTLOOKUPER_VERSION" ]; then
  exit 0
fi

mkdir -p "$WARD_TOOLS_DIR/bin"
echo "deps.d/hostlookuper: go install github.com/postfinance/hostlookuper@$HOSTLOOKUPER_VERSION" >&2
GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$WARD_TOOLS_DIR/bin" \
  go install "github.com/postfinance/hostlookuper@$HOSTLOOKUPER_VERSION"
echo "$HOSTLOOKUPER_VERSION" >"$stamp"
