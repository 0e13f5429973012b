#!/usr/bin/env bash
# Packs files into a one-layer OCI image archive without a container engine,
# a daemon or a registry (tar, gzip and python3's hashlib and json). The archive is an OCI image
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

# The layer: a plain tar of the staged files (sorted, owned by root, fixed
# times), gzip without a name or time stamp: the same inputs give the same
# bytes. (umoci 0.4.7's insert wrote layers without the tar's end blocks,
# which containerd takes but GNU tar and Python refuse.)
layout="$work/layout"
mkdir -p "$layout/blobs/sha256"
entries=()
while IFS= read -r -d '' e; do entries+=("${e#./}"); done < <(cd "$rootfs" && find . -mindepth 1 -maxdepth 1 -print0 | sort -z)
tar -C "$rootfs" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
  --format=gnu -cf "$work/layer.tar" "${entries[@]}"
gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"

labels_json="$(printf '%s\n' "${labels[@]+"${labels[@]}"}")"
entry_json="$(printf '%s\n' "${entrypoint[@]+"${entrypoint[@]}"}")"
cmd_json="$(printf '%s\n' "${cmd[@]+"${cmd[@]}"}")"
env_json="$(printf '%s\n' "${env[@]+"${env[@]}"}")"
python3 - "$layout" "$work" "$ref" "$user" "$epoch" "$labels_json" "$entry_json" "$cmd_json" "$env_json" <<'PY'
import hashlib, json, os, shutil, sys, time
layout, work, ref, user, epoch, labels, entry, cmd, env = sys.argv[1:10]
lines = lambda text: [l for l in text.split("\n") if l]
def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs/sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)
def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
diff_id = sha256_file(os.path.join(work, "layer.tar"))
layer_digest = sha256_file(os.path.join(work, "layer.tar.gz"))
shutil.copyfile(os.path.join(work, "layer.tar.gz"),
                os.path.join(layout, "blobs/sha256", layer_digest[7:]))
layer_size = os.path.getsize(os.path.join(work, "layer.tar.gz"))
created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))
config = {}
if user: config["User"] = user
if lines(env): config["Env"] = lines(env)
if lines(entry): config["Entrypoint"] = lines(entry)
if lines(cmd): config["Cmd"] = lines(cmd)
if lines(labels): config["Labels"] = dict(l.split("=", 1) for l in lines(labels))
image = {
    "created": created, "architecture": "amd64", "os": "linux", "config": config,
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created": created, "created_by": "scripts/oci-image.sh"}],
}
config_digest, config_size = blob(json.dumps(image, separators=(",", ":"), sort_keys=True).encode())
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": config_digest, "size": config_size},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest, "size": layer_size}],
}
manifest_digest, manifest_size = blob(json.dumps(manifest, separators=(",", ":")).encode())
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest_size,
        "platform": {"architecture": "amd64", "os": "linux"},
        # The full reference: podman and skopeo read ref.name, ctr its own.
        "annotations": {"io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref},
    }],
}
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump(index, f, separators=(",", ":"))
with open(os.path.join(layout, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
PY
mkdir -p "$(dirname "$out")"
tar -C "$layout" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
  -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
