#!/usr/bin/env bash
# ward nurse vs kubenurse on a fake cluster (the testkit control plane,
# unmanaged nodes, one pod per node), one after the other in one run with the
# same work (neighbourhood check only, every second, limit 10): RSS, CPU per
# check round, API requests per minute. The bench fails unless each really
# checked its 10 neighbours (crates/ward/benches/nurse.rs).
#   KUBENURSE_BIN=/path/to/kubenurse bash scripts/bench/nurse.sh     # 100 nodes, 60 s
#   KUBENURSE_BIN=… WARD_BENCH_NODES=1000 bash scripts/bench/nurse.sh
#   DROP_PAGE_CACHE=1 bash scripts/bench/nurse.sh   # drop ward's file from the page cache first
# KUBENURSE_BIN is kubenurse v1.15.3 built with `go build` from its source
# repository (docs/benchmarks.md, "Building the peers"); without it ward is
# measured alone. WARD_BIN skips scripts/build-release.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
export PATH="$WARD_TOOLS_DIR/bin:$PATH"
if [ -n "${KUBENURSE_BIN:-}" ]; then
  export KUBENURSE_BIN="$(realpath "$KUBENURSE_BIN")"
else
  echo "nurse.sh: KUBENURSE_BIN not set; measuring ward alone" >&2
  export WARD_BENCH_TOOLS="${WARD_BENCH_TOOLS:-ward}"
fi
WARD_BIN="${WARD_BIN:-$(bash scripts/build-release.sh)}"
export WARD_BIN="$(realpath "$WARD_BIN")"
if [ "${DROP_PAGE_CACHE:-0}" = 1 ]; then
  bash scripts/bench/drop-page-cache.sh "$WARD_BIN"
fi
cargo bench -p ward --bench nurse
