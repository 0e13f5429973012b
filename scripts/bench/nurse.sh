#!/usr/bin/env bash
# ward nurse on a fake cluster (the testkit control plane, unmanaged nodes, one
# pod per node): RSS, CPU per check round, API requests per minute.
#   bash scripts/bench/nurse.sh                  # 100 nodes, 60 s
#   WARD_BENCH_NODES=1000 bash scripts/bench/nurse.sh
#   DROP_PAGE_CACHE=1 bash scripts/bench/nurse.sh   # drop ward's file from the page cache first
# kubenurse is compared in the same run when a `kubenurse` binary is on PATH or
# in the tools folder. Its Go module is not served by the module proxy this
# project can reach (every version answers 403), so it cannot be built here.
set -euo pipefail
cd "$(dirname "$0")/../.."
WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
if [ ! -x "$WARD_TOOLS_DIR/bin/kubenurse" ]; then
  GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$WARD_TOOLS_DIR/bin" \
    go install -ldflags "-X main.version=v1.15.3" github.com/postfinance/kubenurse@v1.15.3 \
    || echo "nurse.sh: kubenurse could not be built; measuring ward alone" >&2
fi
export PATH="$WARD_TOOLS_DIR/bin:$PATH"
WARD_BIN="${WARD_BIN:-$(bash scripts/build-release.sh)}"
export WARD_BIN="$(realpath "$WARD_BIN")"
if [ "${DROP_PAGE_CACHE:-0}" = 1 ]; then
  bash scripts/bench/drop-page-cache.sh "$WARD_BIN"
fi
cargo bench -p ward --bench nurse
