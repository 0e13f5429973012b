#!/usr/bin/env bash
# Builds ward's container image without a container engine: the static binary
# that scripts/build-release.sh builds, alone in an image with no base (no
# shell, no libc, nothing else), run as UID/GID 65532 with entrypoint /ward and
# the OCI labels source, version and revision. The result is an OCI archive
# (scripts/oci-image.sh) that any of these take:
#
#   ctr -n k8s.io images import target/ward-image.tar          # containerd (kind: kind load image-archive)
#   podman load -i target/ward-image.tar
#   skopeo copy oci-archive:target/ward-image.tar docker://REGISTRY/ward:TAG
#
#   bash scripts/build-image.sh [--binary PATH] [--name REF] [--out ARCHIVE]
#
# Defaults: the binary build-release.sh prints (built now), the name
# ghcr.io/ward-dev/ward:<workspace version>, the archive target/ward-image.tar.
# With a container engine, the Containerfile beside the README builds the same
# image. amd64 only: the binary is built for the host.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  printf 'build-image.sh: error: %s\n' "$*" >&2
  exit 2
}

version="$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"$/\1/p' Cargo.toml)"
binary="" name="ghcr.io/ward-dev/ward:$version" out="${CARGO_TARGET_DIR:-target}/ward-image.tar"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:-}"; shift 2 ;;
    --name) name="${2:-}"; shift 2 ;;
    --out) out="${2:-}"; shift 2 ;;
    *) die "unknown argument $1 (usage: build-image.sh [--binary PATH] [--name REF] [--out ARCHIVE])" ;;
  esac
done
if [ -z "$binary" ]; then
  binary="$(bash scripts/build-release.sh | tail -1)"
fi
[ -x "$binary" ] || die "--binary $binary: not an executable file"
# A scratch image has no loader: a dynamically linked ward would not start.
if readelf -l "$binary" 2>/dev/null | grep -q 'Requesting program interpreter'; then
  die "--binary $binary is dynamically linked; build the static one with scripts/build-release.sh"
fi
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || revision="$revision-dirty"

bash scripts/oci-image.sh --out "$out" --name "$name" \
  --user 65532:65532 --entrypoint /ward \
  --label org.opencontainers.image.source=https://github.com/ward-dev/ward \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label org.opencontainers.image.title=ward \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  "$binary:/ward"
echo "build-image.sh: $name in $out ($(du -k "$out" | cut -f1) KiB)" >&2
# Absolute: tests run in their crate's directory, not here.
realpath "$out"
