#!/usr/bin/env bash
# Builds prometheus-operator v0.85.0 (`operator` and `prometheus-config-reloader`)
# from its Go module: the real-node test (crates/ward/tests/real_cluster.rs)
# runs the operator against the cluster so that an operator-managed
# Prometheus discovers ward's pods through the chart's ServiceMonitors and
# loads its PrometheusRules. v0.85.0 is the only version of the root module
# the proxy serves here; its go.mod replaces two of its own submodules with
# paths inside the repository, so `go install` cannot work: a throwaway module
# requires the commands as tools instead (all their packages resolve).
# Binaries go to $WARD_TOOLS_DIR/bin; the test packs them (and prometheus3)
# into images with scripts/oci-image.sh. Idempotent: skipped when built.
set -euo pipefail

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
VERSION="${WARD_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
dir="$WARD_TOOLS_DIR/prometheus-operator-$VERSION"
module="github.com/prometheus-operator/prometheus-operator"

if [ -x "$WARD_TOOLS_DIR/bin/prometheus-operator" ] && [ -x "$WARD_TOOLS_DIR/bin/prometheus-config-reloader" ] &&
  [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi

GO="$(command -v go || echo /usr/local/go/bin/go)"
mkdir -p "$dir/bin" "$WARD_TOOLS_DIR/bin"
cd "$dir"
printf 'module local/pobuild\n\ngo 1.26\n' > go.mod
echo "deps.d/prometheus-operator: building $module/cmd/{operator,prometheus-config-reloader}@$VERSION in $dir" >&2
start=$(date +%s)
export GOTOOLCHAIN=local CGO_ENABLED=0
"$GO" get -tool "$module/cmd/operator@$VERSION" "$module/cmd/prometheus-config-reloader@$VERSION"
ldflags="-s -w -X github.com/prometheus/common/version.Version=${VERSION#v}"
nice -n 15 "$GO" build -p 1 -trimpath -ldflags "$ldflags" -o bin/operator "$module/cmd/operator"
nice -n 15 "$GO" build -p 1 -trimpath -ldflags "$ldflags" -o bin/prometheus-config-reloader "$module/cmd/prometheus-config-reloader"
ln -sf "$dir/bin/operator" "$WARD_TOOLS_DIR/bin/prometheus-operator"
ln -sf "$dir/bin/prometheus-config-reloader" "$WARD_TOOLS_DIR/bin/prometheus-config-reloader"
printf '%s\n' "$VERSION" > .stamp
echo "deps.d/prometheus-operator: built in $(( $(date +%s) - start )) s" >&2
