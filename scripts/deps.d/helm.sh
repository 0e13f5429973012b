#!/usr/bin/env bash
# Builds the real helm v4 from its Go module (helm.sh/helm/v4/cmd/helm): the
# chart tests run `helm lint`, `helm template` and, on the real node,
# `helm install/upgrade/uninstall` with it. Idempotent: skipped when the binary
# reports the pinned version.
set -euo pipefail

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
HELM_VERSION="${WARD_HELM_VERSION:-v4.3.2}"
dir="$WARD_TOOLS_DIR/helm-$HELM_VERSION"
bin="$WARD_TOOLS_DIR/bin/helm"

if [ -x "$bin" ] && [ -e "$dir/.stamp" ]; then
  exit 0
fi

GO="$(command -v go || echo /usr/local/go/bin/go)"
mkdir -p "$dir/bin" "$WARD_TOOLS_DIR/bin"
echo "deps.d/helm: go install helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
start=$(date +%s)
GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$dir/bin" nice -n 10 "$GO" install -p 2 -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
ln -sfn "$dir/bin/helm" "$bin"
"$bin" version --short >/dev/null
echo "$HELM_VERSION built in $(($(date +%s) - start))s" >"$dir/.stamp"
