#!/usr/bin/env bash
# Builds Prometheus 3 (v3.14.0, Go module tag v0.314.0) from its Go module: the
# real OTLP receiver (--web.enable-otlp-receiver) that the OTLP test of
# `ward e2e` (crates/e2e/tests/otlp.rs) pushes metrics to. Debian's prometheus
# 2.42 has no OTLP receiver. Idempotent: skipped when the binary is there.
#
# prometheus' go.mod has excludes and a replace, so `go install` cannot work: a
# throwaway module copies those lines (see ../shared/reference/go-modules.md §8).
# `-tags remove_all_sd,enable_kubernetes_sd` drops the cloud service
# discoveries but keeps Kubernetes' (the real-node test discovers ward's pods
# with it); no `builtinassets` (the web UI is absent, the API and OTLP work).
set -euo pipefail

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
PROM_MODULE_VERSION="${WARD_PROMETHEUS3_VERSION:-v0.314.0}"   # == Prometheus v3.14.0
minor="${PROM_MODULE_VERSION#v0.}"; minor="${minor%%.*}"
PROM_VERSION="3.$((minor - 300)).${PROM_MODULE_VERSION##*.}"                 # v0.314.0 -> 3.14.0
dir="$WARD_TOOLS_DIR/prometheus-$PROM_MODULE_VERSION"
bin="$WARD_TOOLS_DIR/bin/prometheus3"

TAGS="remove_all_sd,enable_kubernetes_sd"
if [ -x "$bin" ] && grep -qs "tags=$TAGS" "$dir/.stamp"; then
  exit 0
fi

GO="$(command -v go || echo /usr/local/go/bin/go)"
mkdir -p "$dir/bin" "$WARD_TOOLS_DIR/bin"
cd "$dir"
cat > go.mod <<MOD
module local/pbuild

go 1.25.8

exclude (
	github.com/linode/linodego v1.0.0
	github.com/grpc-ecosystem/grpc-gateway v1.14.7
	google.golang.org/api v0.30.0
)

replace cloud.google.com/go => cloud.google.com/go v0.123.0
MOD
echo "deps.d/prometheus3: building github.com/prometheus/prometheus/cmd/prometheus@$PROM_MODULE_VERSION in $dir" >&2
start=$(date +%s)
export GOTOOLCHAIN=local CGO_ENABLED=0
"$GO" get -tool "github.com/prometheus/prometheus/cmd/prometheus@$PROM_MODULE_VERSION"
nice -n 10 "$GO" build -p 2 -trimpath -tags "$TAGS" \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROM_VERSION" \
  -o bin/prometheus github.com/prometheus/prometheus/cmd/prometheus
ln -sf "$dir/bin/prometheus" "$bin"
"$bin" --version >/dev/null
echo "$PROM_MODULE_VERSION tags=$TAGS built in $(( $(date +%s) - start ))s" > .stamp
