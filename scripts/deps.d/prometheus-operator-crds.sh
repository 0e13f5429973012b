#!/usr/bin/env bash
# Fetches prometheus-operator's CRDs (v0.85.0, the only version of its root
# module the Go module proxy serves here) from its module zip: the
# monitoring.coreos.com/v1 CustomResourceDefinitions ServiceMonitor,
# PrometheusRule and the rest, as the project publishes them in
# example/prometheus-operator-crd/. crates/ward/tests/deploy.rs installs them
# in the test control plane and applies ward's ServiceMonitors and
# PrometheusRules (plain manifests and the chart's) against their schemas.
# Nothing is built; the files go to
# $WARD_TOOLS_DIR/share/prometheus-operator-<version>/crds/. Idempotent.
set -euo pipefail

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
VERSION="${WARD_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
out="$WARD_TOOLS_DIR/share/prometheus-operator-$VERSION/crds"

if [ -s "$out/monitoring.coreos.com_servicemonitors.yaml" ] && [ -s "$out/monitoring.coreos.com_prometheusrules.yaml" ]; then
  exit 0
fi

GO="$(command -v go || echo /usr/local/go/bin/go)"
echo "deps.d/prometheus-operator-crds: go mod download github.com/prometheus-operator/prometheus-operator@$VERSION" >&2
dir="$(cd /tmp && GOTOOLCHAIN=local GOFLAGS=-mod=mod "$GO" mod download -json \
  "github.com/prometheus-operator/prometheus-operator@$VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$dir" ] || [ ! -d "$dir/example/prometheus-operator-crd" ]; then
  echo "deps.d/prometheus-operator-crds: no example/prometheus-operator-crd in the module ($dir)" >&2
  exit 1
fi
mkdir -p "$out"
cp "$dir"/example/prometheus-operator-crd/*.yaml "$out/"
chmod u+w "$out"/*.yaml
ls "$out" >&2
