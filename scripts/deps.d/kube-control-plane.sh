#!/usr/bin/env bash
# Builds (once, cached) the Kubernetes control plane the integration tests use.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/kube-control-plane.sh build
