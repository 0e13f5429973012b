#!/usr/bin/env bash
# Installs everything the test suite needs, idempotently: Debian packages for the
# real servers the tests start (nginx, Prometheus + promtool, unbound, dnsmasq,
# Tomcat, wrk, blackbox_exporter, tinyproxy, Chromium, containerd and the rest
# of a real node), cargo-nextest, cargo-machete, and the components
# built from Go modules (see scripts/go-components.sh), cached outside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  nginx-light prometheus unbound dnsmasq-base tomcat10 wrk
  prometheus-blackbox-exporter iproute2 openssl procps
  # a real forward proxy (HTTP and CONNECT) for the nurse's HTTP_PROXY tests
  tinyproxy
  chromium chromium-driver
  # the real node (testkit::RealNode) and the daemonless image build
  containerd runc containernetworking-plugins iptables conntrack skopeo busybox-static gcc libc6-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-test-deps: apt-get install ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start system services; tests start their own copies on loopback.
for svc in nginx unbound prometheus prometheus-blackbox-exporter tomcat10 prometheus-node-exporter containerd tinyproxy; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-test-deps: cargo install cargo-nextest" >&2
  cargo install --locked cargo-nextest >/dev/null
fi
# The unused-dependency check scripts/test.sh runs.
if ! cargo machete --version >/dev/null 2>&1; then
  echo "install-test-deps: cargo install cargo-machete" >&2
  cargo install --locked cargo-machete >/dev/null
fi

for script in scripts/deps.d/*.sh; do
  [ -e "$script" ] || continue
  echo "install-test-deps: $script" >&2
  bash "$script"
done
