#!/usr/bin/env bash
# Packs files into a one-layer OCI image archive without a container engine
# (umoci from Debian; no daemon, no registry). The archive is an OCI image
# layout in a tar file, which `ctr images import`, `podman load` and
# `skopeo copy oci-archive:...` accept. scripts/build-image.sh packs the ward
# binary with it; the tests' real node packs its pause, CoreDNS and busybox
# images with it.
#
#   oci-image.sh --out ARCHIVE --name REF [--user UID:GID] [--entrypoint ARG]...
#                [--cmd ARG]... [--env K=V]... [--label K=V]... SOURCE:TARGET...
#
# REF is the image's full reference (e.g. ghcr.io/ward-dev/ward:0.1.0): it is
# written as the manifest's org.opencontainers.image.ref.name (podman, skopeo)
# and io.containerd.image.name (ctr) annotations, so every tool names the
# image the same. Each SOURCE (a file or a folder) is copied to TARGET in the
# image's one layer. File times are set to SOURCE_DATE_EPOCH (default 0) so
# the same inputs give the same layer.
set -euo pipefail

die() {
  printf 'oci-image.sh: error: %s\n' "$*" >&2
  exit 2
}

out="" ref="" user="" entrypoint=() cmd=() env=() labels=() files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="${2:-}"; shift 2 ;;
    --name) ref="${2:-}"; shift 2 ;;
    --user) user="${2:-}"; shift 2 ;;
    --entrypoint) entrypoint+=("${2:-}"); shift 2 ;;
    --cmd) cmd+=("${2:-}"); shift 2 ;;
    --env) env+=("${2:-}"); shift 2 ;;
    --label) labels+=("${2:-}"); shift 2 ;;
    -*) die "unknown option $1 (see the comment at the top of $0)" ;;
    *) files+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || die "--out ARCHIVE is required"
[ -n "$ref" ] || die "--name REF is required (e.g. ghcr.io/ward-dev/ward:0.1.0)"
case "$ref" in
  *:*) ;;
  *) die "--name $ref: the reference needs a tag (NAME:TAG)" ;;
esac
[ ${#files[@]} -gt 0 ] || die "nothing to pack: give at least one SOURCE:TARGET"
command -v umoci >/dev/null || die "umoci not found; install it (Debian: apt-get install umoci)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"
for f in "${files[@]}"; do
  src="${f%%:*}" target="${f#*:}"
  [ "$src" != "$f" ] && [ -n "$target" ] || die "$f: expected SOURCE:TARGET"
  [ -e "$src" ] || die "$src: no such file or folder"
  case "$target" in
    /*) ;;
    *) die "$f: TARGET must be an absolute path in the image" ;;
  esac
  mkdir -p "$rootfs$(dirname "$target")"
  cp -aH "$src" "$rootfs$target"
done
epoch="${SOURCE_DATE_EPOCH:-0}"
find "$rootfs" -exec touch -h -d "@$epoch" {} +

layout="$work/layout"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
umoci init --layout "$layout"
umoci new --image "$layout:img"
umoci insert --image "$layout:img" --history.created "$created" "$rootfs" / >/dev/null
config=(--created "$created" --history.created "$created" --os linux --architecture amd64 --clear config.env)
[ -z "$user" ] || config+=(--config.user "$user")
for a in "${entrypoint[@]}"; do config+=(--config.entrypoint "$a"); done
for a in "${cmd[@]}"; do config+=(--config.cmd "$a"); done
for a in "${env[@]}"; do config+=(--config.env "$a"); done
for a in "${labels[@]}"; do config+=(--config.label "$a"); done
umoci config --image "$layout:img" "${config[@]}"
umoci gc --layout "$layout"

# Name the manifest with the full reference (umoci only takes a plain tag).
python3 - "$layout/index.json" "$ref" <<'PY'
import json, sys
path, ref = sys.argv[1], sys.argv[2]
index = json.load(open(path))
manifests = index["manifests"]
if len(manifests) != 1:
    sys.exit(f"oci-image.sh: expected one manifest in {path}, found {len(manifests)}")
manifests[0]["annotations"] = {
    "io.containerd.image.name": ref,
    "org.opencontainers.image.ref.name": ref,
}
json.dump(index, open(path, "w"), separators=(",", ":"))
PY
mkdir -p "$(dirname "$out")"
tar -C "$layout" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
  -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
