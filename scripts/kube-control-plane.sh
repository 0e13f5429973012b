#!/usr/bin/env bash
# Builds the Kubernetes control plane that the integration tests run against, from
# published Go modules (no Kubernetes source is vendored into this repo):
#   kube-apiserver, kube-controller-manager, kube-scheduler,
#   kubelet, kube-proxy (the real node)                      k8s.io/kubernetes  v1.34.10
#   pause (the pod sandbox, gcc -static from the module's build/pause/linux/pause.c)
#   etcd                                                     go.etcd.io/etcd/server/v3 v3.6.14
#   kwok (+ its default Stage definitions)                   sigs.k8s.io/kwok   v0.8.0
#   coredns                                                  github.com/coredns/coredns v1.14.7
#
# Usage:
#   scripts/kube-control-plane.sh build [component...]   build what is missing (idempotent)
#   scripts/kube-control-plane.sh status                 show what is built
#   scripts/kube-control-plane.sh path                   print the bin folder (for PATH)
#   scripts/kube-control-plane.sh clean                  remove the tools folder
# components: etcd kwok kube coredns (default: all)
#
# Everything goes to $WARD_TOOLS_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools):
#   <name>-<version>/          throwaway Go module, built binaries and a .stamp file
#   bin/<binary>               symlinks to the current version's binaries
#   share/kwok/stages.yaml     kwok's default Stages, extracted from the module cache
# A component is rebuilt only when its versioned folder has no stamp. The Go module
# and build caches are Go's defaults (go env GOMODCACHE GOCACHE).
set -euo pipefail

K8S_VERSION="${WARD_K8S_VERSION:-1.34.10}"
ETCD_VERSION="${WARD_ETCD_VERSION:-3.6.14}"
KWOK_VERSION="${WARD_KWOK_VERSION:-0.8.0}"
COREDNS_VERSION="${WARD_COREDNS_VERSION:-1.14.7}"

TOOLS="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
BIN="$TOOLS/bin"
# Go's parallelism: the CI machine and the dev boxes have 2 cores that others share.
JOBS="${WARD_GO_JOBS:-2}"

log() { printf 'kube-control-plane: %s\n' "$*" >&2; }
die() {
  printf 'kube-control-plane: error: %s\n' "$*" >&2
  exit 1
}

find_go() {
  if command -v go >/dev/null 2>&1; then
    GO="$(command -v go)"
  elif [ -x /usr/local/go/bin/go ]; then
    GO=/usr/local/go/bin/go
  else
    die "no Go toolchain found (need go >= 1.26 on PATH or at /usr/local/go/bin/go); install it from https://go.dev/dl/"
  fi
  export GOTOOLCHAIN=local CGO_ENABLED=0
  local v
  v="$("$GO" env GOVERSION)"
  case "$v" in
    go1.2[6-9]* | go1.[3-9][0-9]*) ;;
    *) die "Go $v is too old: kwok v$KWOK_VERSION needs go >= 1.26.0 (GOTOOLCHAIN=local)" ;;
  esac
}

# go with low priority, so a build does not starve the other users of the machine.
gocmd() { nice -n 10 "$GO" "$@"; }

# A build is done when its stamp exists and every binary it names is there (a
# folder built before a binary was added to the list is rebuilt).
stamp_ok() {
  local dir="$1" b
  shift
  [ -f "$dir/.stamp" ] || return 1
  for b in "$@"; do [ -x "$dir/bin/$b" ] || return 1; done
}

write_stamp() {
  local dir="$1" started="$2"
  {
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "seconds=$(($(date +%s) - started))"
    echo "go=$("$GO" env GOVERSION)"
  } >"$dir/.stamp"
}

link_bins() {
  local dir="$1"
  shift
  mkdir -p "$BIN"
  for b in "$@"; do
    [ -x "$dir/bin/$b" ] || die "$b missing from $dir/bin after the build"
    ln -sfn "$dir/bin/$b" "$BIN/$b"
  done
}

build_etcd() {
  local dir="$TOOLS/etcd-v$ETCD_VERSION"
  if stamp_ok "$dir"; then
    link_bins "$dir" etcd
    return
  fi
  log "building etcd v$ETCD_VERSION (go.etcd.io/etcd/server/v3) in $dir"
  local started
  started=$(date +%s)
  rm -rf "$dir" && mkdir -p "$dir/bin"
  (
    cd "$dir"
    # server/go.mod has replaces, so `go install` fails; a throwaway module needs none.
    printf 'module local/ebuild\n\ngo 1.25.0\n' >go.mod
    gocmd get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    gocmd build -p "$JOBS" -trimpath -ldflags "-s -w" -o bin/etcd go.etcd.io/etcd/server/v3
  )
  write_stamp "$dir" "$started"
  link_bins "$dir" etcd
}

build_kwok() {
  local dir="$TOOLS/kwok-v$KWOK_VERSION"
  if ! stamp_ok "$dir"; then
    log "building kwok v$KWOK_VERSION (sigs.k8s.io/kwok/cmd/kwok) in $dir"
    local started
    started=$(date +%s)
    rm -rf "$dir" && mkdir -p "$dir/bin"
    GOBIN="$dir/bin" gocmd install -p "$JOBS" -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
    # Standalone kwok exits with "no stages found" without Stage objects; kwokctl injects
    # these defaults, so take them from the module zip (offline once downloaded).
    local mod
    mod="$(gocmd mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
    [ -d "$mod/kustomize/stage" ] || die "kwok module has no kustomize/stage folder at $mod"
    local f first=1
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      [ -f "$mod/kustomize/stage/$f" ] || die "kwok default stage $f missing from $mod/kustomize/stage"
      [ "$first" = 1 ] || echo '---'
      first=0
      cat "$mod/kustomize/stage/$f"
    done >"$dir/stages.yaml"
    write_stamp "$dir" "$started"
  fi
  link_bins "$dir" kwok
  mkdir -p "$TOOLS/share/kwok"
  ln -sfn "$dir/stages.yaml" "$TOOLS/share/kwok/stages.yaml"
}

build_kube() {
  local dir="$TOOLS/kube-v$K8S_VERSION"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy pause)
  if stamp_ok "$dir" "${bins[@]}"; then
    link_bins "$dir" "${bins[@]}"
    return
  fi
  local minor staging
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  staging="v0.${K8S_VERSION#1.}"
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, pause v$K8S_VERSION (k8s.io/kubernetes, staging $staging) in $dir"
  local started
  started=$(date +%s)
  rm -rf "$dir" && mkdir -p "$dir/bin"
  (
    cd "$dir"
    # k8s.io/kubernetes replaces every staging module with ./staging/src/..., so
    # `go install` is impossible: pin them to the published v0.N.P tags instead,
    # generating the list from the tag's own go.mod.
    local gomod
    gomod="$(gocmd mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@v$K8S_VERSION's go.mod"
    {
      printf 'module local/kbuild\n\ngo 1.24.0\n\ngodebug default=go1.24\n\nreplace (\n'
      sed -n "s#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 $staging#p" "$gomod"
      printf ')\n'
    } >go.mod
    local n
    n="$(grep -c ' => k8s.io/' go.mod || true)"
    [ "$n" -ge 20 ] || die "generated only $n staging replaces from $gomod (expected ~31)"
    # kube-proxy needs its own `go get -tool` (else: missing go.sum entry for
    # k8s.io/kube-proxy/config/v1alpha1); all five then share one compile.
    gocmd get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kubelet@v$K8S_VERSION"
    gocmd get -tool "k8s.io/kubernetes/cmd/kube-proxy@v$K8S_VERSION"
    local v="-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION"
    v="$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    v="$v -X k8s.io/component-base/version.gitTreeState=clean"
    v="$v -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
    v="$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    gocmd build -p "$JOBS" -trimpath -ldflags "-s -w $v" -o bin/ \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
    # The pod sandbox process the real node's containerd runs (no registry here).
    local mod
    mod="$(gocmd mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
    [ -f "$mod/build/pause/linux/pause.c" ] || die "no build/pause/linux/pause.c in $mod"
    gcc -Os -static -DVERSION="v$K8S_VERSION-ward" -o bin/pause "$mod/build/pause/linux/pause.c"
    strip bin/pause
  )
  write_stamp "$dir" "$started"
  link_bins "$dir" "${bins[@]}"
}

build_coredns() {
  local dir="$TOOLS/coredns-v$COREDNS_VERSION"
  if ! stamp_ok "$dir"; then
    log "building coredns v$COREDNS_VERSION (github.com/coredns/coredns) in $dir"
    local started
    started=$(date +%s)
    rm -rf "$dir" && mkdir -p "$dir/bin"
    GOBIN="$dir/bin" gocmd install -p "$JOBS" -trimpath -ldflags "-s -w" "github.com/coredns/coredns@v$COREDNS_VERSION"
    write_stamp "$dir" "$started"
  fi
  link_bins "$dir" coredns
}

CURRENT=""
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$CURRENT" ]; then
    printf 'kube-control-plane: error: building %s failed (exit %s); see the go output above, fix the cause, then rerun: bash scripts/kube-control-plane.sh build %s\n' \
      "$CURRENT" "$rc" "$CURRENT" >&2
  fi
}

cmd_build() {
  local comps=("$@")
  [ ${#comps[@]} -gt 0 ] || comps=(etcd kwok kube coredns)
  find_go
  mkdir -p "$TOOLS"
  # One build at a time per tools folder (two test-deps runs may race).
  exec 9>"$TOOLS/.lock"
  flock 9
  local c t0
  for c in "${comps[@]}"; do
    t0=$(date +%s)
    CURRENT="$c"
    case "$c" in
      etcd) build_etcd ;;
      kwok) build_kwok ;;
      kube) build_kube ;;
      coredns) build_coredns ;;
      *) die "unknown component '$c' (expected: etcd kwok kube coredns)" ;;
    esac
    log "$c ready ($(($(date +%s) - t0)) s)"
    CURRENT=""
  done
  log "binaries in $BIN"
}

cmd_status() {
  local d
  for d in "$TOOLS"/*-v*/; do
    [ -d "$d" ] || continue
    if [ -f "$d/.stamp" ]; then
      echo "$(basename "$d"): $(tr '\n' ' ' <"$d/.stamp")"
    else
      echo "$(basename "$d"): incomplete"
    fi
  done
  ls -l "$BIN" 2>/dev/null || true
}

trap on_exit EXIT

case "${1:-}" in
  build)
    shift
    cmd_build "$@"
    ;;
  status) cmd_status ;;
  path) echo "$BIN" ;;
  clean) rm -rf "$TOOLS" ;;
  *)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
