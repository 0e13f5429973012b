#!/usr/bin/env bash
# Builds the real sloth v0.16.0 from its Go module, the oracle for the
# differential test of `ward slo` (crates/ward/tests/slo_differential.rs) and
# the peer in scripts/bench/slo.sh. Idempotent: skipped when the binary exists.
set -euo pipefail

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
SLOTH_VERSION="v0.16.0"
bin="$WARD_TOOLS_DIR/bin/sloth"

if [ -x "$bin" ] && [ "$("$bin" version 2>/dev/null || true)" = "$SLOTH_VERSION" ]; then
  exit 0
fi

mkdir -p "$WARD_TOOLS_DIR/bin"
echo "deps.d/sloth: go install github.com/slok/sloth/cmd/sloth@$SLOTH_VERSION" >&2
GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$WARD_TOOLS_DIR/bin" \
  go install -ldflags "-X github.com/slok/sloth/internal/info.Version=$SLOTH_VERSION" \
  "github.com/slok/sloth/cmd/sloth@$SLOTH_VERSION"
"$bin" version >/dev/null
