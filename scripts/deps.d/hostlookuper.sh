#!/usr/bin/env bash
# Builds the real hostlookuper v1.0.9 from its Go module: the oracle for the
# drop-in test of `ward lookup` (crates/ward/tests/lookup.rs) and a peer in
# scripts/bench/lookup.sh. Idempotent: skipped when the binary exists.
#
# When the Go module proxy refuses the module (seen here: "This module version
# is not available"), the reason is written to bin/.hostlookuper.unavailable and
# the script succeeds: the drop-in test then compares against hostlookuper's
# documented series only and says so; without that file a missing binary fails it.
set -euo pipefail

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
HOSTLOOKUPER_VERSION="v1.0.9"
bin="$WARD_TOOLS_DIR/bin/hostlookuper"
stamp="$WARD_TOOLS_DIR/bin/.hostlookuper.version"
unavailable="$WARD_TOOLS_DIR/bin/.hostlookuper.unavailable"

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$HOSTLOOKUPER_VERSION" ]; then
  exit 0
fi

mkdir -p "$WARD_TOOLS_DIR/bin"
echo "deps.d/hostlookuper: go install github.com/postfinance/hostlookuper@$HOSTLOOKUPER_VERSION" >&2
if out="$(GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$WARD_TOOLS_DIR/bin" \
  go install "github.com/postfinance/hostlookuper@$HOSTLOOKUPER_VERSION" 2>&1)"; then
  echo "$HOSTLOOKUPER_VERSION" >"$stamp"
  rm -f "$unavailable"
else
  echo "$out" >&2
  echo "deps.d/hostlookuper: WARNING: could not build hostlookuper; the drop-in test compares with its documented series only" >&2
  printf 'go install github.com/postfinance/hostlookuper@%s failed: %s\n' "$HOSTLOOKUPER_VERSION" \
    "$(echo "$out" | tail -1)" >"$unavailable"
fi
