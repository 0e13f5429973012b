#!/usr/bin/env bash
# Cost of one HTTP check on loopback: `ward probe` vs prometheus-blackbox-exporter's
# http_2xx module, against the same nginx, in one run. Prints CPU seconds per
# 10,000 checks and peak RSS of each, and the ratios.
#   bash scripts/bench/probe.sh            # 10,000 checks each
#   CHECKS=50000 bash scripts/bench/probe.sh
#   WARD_BIN=/path/to/ward bash scripts/bench/probe.sh   # skip scripts/build-release.sh (the shipped static build)
set -euo pipefail
cd "$(dirname "$0")/../.."
CHECKS="${CHECKS:-10000}"
work="$(mktemp -d)"; trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ward="${WARD_BIN:-$(bash scripts/build-release.sh)}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NGINX_PORT=$(free_port); BB_PORT=$(free_port)
mkdir -p "$work/html" "$work/logs"; echo ok > "$work/html/index.html"
cat > "$work/nginx.conf" <<CONF
daemon off; user root; worker_processes 1; pid $work/nginx.pid; error_log $work/logs/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$NGINX_PORT; root $work/html; } }
CONF
nginx -p "$work" -c "$work/nginx.conf" & 
cat > "$work/blackbox.yml" <<CONF
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
CONF
prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$BB_PORT" --log.level=error &
BB_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$NGINX_PORT/" >/dev/null && curl -fs "http://127.0.0.1:$BB_PORT/metrics" >/dev/null && break; sleep 0.1; done

cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
hwm_of() { awk '/VmHWM/ {print $2/1024}' "/proc/$1/status"; }

# blackbox_exporter: each /probe request runs one check; driven by 2 concurrent clients.
bb_cpu0=$(cpu_of $BB_PID)
start=$(date +%s.%N)
seq "$CHECKS" | xargs -P 2 -n 500 sh -c 'for _ in "$@"; do curl -s -o /dev/null "http://127.0.0.1:'"$BB_PORT"'/probe?module=http_2xx&target=http://127.0.0.1:'"$NGINX_PORT"'/"; done' sh
bb_wall=$(echo "$(date +%s.%N) - $start" | bc)
bb_cpu=$(echo "$(cpu_of $BB_PID) - $bb_cpu0" | bc)
bb_rss=$(hwm_of $BB_PID)

# ward: the same number of checks, fresh connection each (as blackbox does).
/usr/bin/time -f '%U %S %M' -o "$work/ward.time" "$ward" probe --count "$CHECKS" --interval 0 "http://127.0.0.1:$NGINX_PORT/" >/dev/null
read -r wu ws wm < "$work/ward.time"
ward_cpu=$(echo "$wu + $ws" | bc); ward_rss=$(echo "scale=1; $wm / 1024" | bc)

per10k() { echo "scale=3; $1 * 10000 / $CHECKS" | bc; }
printf '%-22s %16s %12s\n' tool "CPU s/10k checks" "peak RSS MB"
printf '%-22s %16s %12.1f\n' blackbox_exporter "$(per10k "$bb_cpu")" "$bb_rss"
printf '%-22s %16s %12.1f\n' "ward probe" "$(per10k "$ward_cpu")" "$ward_rss"
echo "ratios blackbox/ward: CPU $(echo "scale=1; $bb_cpu / $ward_cpu" | bc)x, RSS $(echo "scale=1; $bb_rss / $ward_rss" | bc)x  (blackbox wall ${bb_wall}s for $CHECKS probes)"
