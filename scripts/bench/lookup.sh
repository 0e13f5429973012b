#!/usr/bin/env bash
# Benchmark: 100 hosts x 3 DNS servers every second against unbound on
# loopback, side by side in one run:
#   - ward lookup (release build),
#   - hostlookuper v1.0.9 from HOSTLOOKUPER_BIN (built from its source
#     repository, docs/benchmarks.md), when given,
#   - prometheus-blackbox-exporter's dns prober (Debian), driven like Prometheus
#     would: one /probe per (host, server) per second, 300 probes/s.
# ward and hostlookuper have their /metrics scraped every second too.
# Prints CPU (user+sys over the window, as % of one core), RSS at the end and
# peak RSS of each, lookups per second per core (lookups answered in the
# window / CPU seconds) for ward and hostlookuper, and the ratios peer/ward.
# Fails when ward or hostlookuper answered fewer than 90% of the lookups the
# window asks for: a broken run cannot look like a win.
#
#   HOSTLOOKUPER_BIN=/path/to/hostlookuper bash scripts/bench/lookup.sh   # 60 s window after 10 s warm-up
#   SECONDS_MEASURED=30 bash scripts/bench/lookup.sh
#   WARD_BIN=/path/to/ward bash scripts/bench/lookup.sh   # skip scripts/build-release.sh (the shipped static build)
#   DROP_PAGE_CACHE=1 bash scripts/bench/lookup.sh   # drop ward's file from the page cache first
# Also prints ward's RSS split into its own memory (RssAnon) and pages of the
# binary (RssFile); SMAPS_OUT=FILE saves its /proc/PID/smaps at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
export PATH="$WARD_TOOLS_DIR/bin:$PATH"
MEASURE="${SECONDS_MEASURED:-60}"
WARMUP="${SECONDS_WARMUP:-10}"
HOSTS="${HOSTS:-100}"
IPS=(127.0.0.31 127.0.0.32 127.0.0.33)

WARD="${WARD_BIN:-$(bash scripts/build-release.sh)}"
UNBOUND="$(command -v unbound || echo /usr/sbin/unbound)"
BLACKBOX="$(command -v prometheus-blackbox-exporter || echo /usr/bin/prometheus-blackbox-exporter)"
HOSTLOOKUPER="${HOSTLOOKUPER_BIN:-}"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DNS_PORT="$(free_port)"

# --- unbound: zone bench. with h1..hN, listening on three loopback IPs -------
{
  echo "server:"
  for ip in "${IPS[@]}"; do echo "  interface: $ip@$DNS_PORT"; done
  cat <<EOF
  port: $DNS_PORT
  do-daemonize: no
  use-syslog: no
  logfile: ""
  username: ""
  chroot: ""
  directory: "$work"
  pidfile: "$work/unbound.pid"
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  verbosity: 0
  module-config: "iterator"
  num-threads: 1
  local-zone: "." static
  local-zone: "bench." static
EOF
  for i in $(seq 1 "$HOSTS"); do echo "  local-data: \"h$i.bench. 60 IN A 127.0.1.$((i % 250 + 1))\""; done
  echo "remote-control:"
  echo "  control-enable: no"
} >"$work/unbound.conf"
"$UNBOUND" -d -c "$work/unbound.conf" >"$work/unbound.log" 2>&1 &
pids+=($!)

hosts_csv="$(seq 1 "$HOSTS" | sed 's/^/h/; s/$/.bench/' | paste -sd, -)"
servers_csv="$(printf "udp://%s:$DNS_PORT," "${IPS[@]}")"
servers_csv="${servers_csv%,}"

wait_port() { # ip port
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: nothing listens on $1:$2" >&2
  return 1
}
wait_port "${IPS[0]}" "$DNS_PORT"

# --- the probers ---------------------------------------------------------------
declare -A PID
if [ "${DROP_PAGE_CACHE:-0}" = 1 ]; then
  bash scripts/bench/drop-page-cache.sh "$WARD"
fi
WARD_PORT="$(free_port)"
"$WARD" lookup -interval 1s -timeout 2s -listen "127.0.0.1:$WARD_PORT" \
  -hosts "$hosts_csv" -dns-servers "$servers_csv" >"$work/ward.log" 2>&1 &
PID[ward]=$!
pids+=("${PID[ward]}")

if [ -n "$HOSTLOOKUPER" ]; then
  # hostlookuper checks every host with the system resolver at start and exits
  # if one fails: give it an /etc/hosts with the bench names in private user
  # and mount namespaces (as ward_testkit::isolate does; no root needed).
  HL_PORT="$(free_port)"
  { cat /etc/hosts; for i in $(seq 1 "$HOSTS"); do echo "127.0.1.$((i % 250 + 1)) h$i.bench"; done; } >"$work/hosts"
  unshare --map-root-user --mount --propagation=private sh -c "mount --bind '$work/hosts' /etc/hosts && exec '$HOSTLOOKUPER' -interval 1s -timeout 2s -listen 127.0.0.1:$HL_PORT -hosts '$hosts_csv' -dns-servers '$servers_csv'" \
    >"$work/hostlookuper.log" 2>&1 &
  PID[hostlookuper]=$!
  pids+=("${PID[hostlookuper]}")
else
  echo "bench: HOSTLOOKUPER_BIN not set; measuring without hostlookuper (docs/benchmarks.md says how to build it)" >&2
fi

BB_PORT="$(free_port)"
{
  echo "modules:"
  for i in $(seq 1 "$HOSTS"); do
    cat <<EOF
  h$i:
    prober: dns
    timeout: 2s
    dns:
      query_name: "h$i.bench"
      query_type: "A"
      transport_protocol: "udp"
      preferred_ip_protocol: "ip4"
EOF
  done
} >"$work/blackbox.yml"
"$BLACKBOX" --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$BB_PORT" >"$work/blackbox.log" 2>&1 &
PID[blackbox]=$!
pids+=("${PID[blackbox]}")

wait_port 127.0.0.1 "$WARD_PORT"
wait_port 127.0.0.1 "$BB_PORT"
[ -n "$HOSTLOOKUPER" ] && { wait_port 127.0.0.1 "$HL_PORT" || true; }

# --- the scraper: Prometheus' load on each, every second -----------------------
urls="$work/urls"
: >"$urls"
for i in $(seq 1 "$HOSTS"); do
  for ip in "${IPS[@]}"; do echo "http://127.0.0.1:$BB_PORT/probe?module=h$i&target=$ip:$DNS_PORT"; done
done >>"$urls"
echo "http://127.0.0.1:$WARD_PORT/metrics" >>"$urls"
[ -n "$HOSTLOOKUPER" ] && echo "http://127.0.0.1:$HL_PORT/metrics" >>"$urls"
TOTAL=$((WARMUP + MEASURE + 2))
python3 - "$urls" "$TOTAL" >"$work/scraper.log" 2>&1 <<'PY' &
import sys, time, threading, urllib.request, queue
urls = [l.strip() for l in open(sys.argv[1]) if l.strip()]
end = time.monotonic() + float(sys.argv[2])
q = queue.Queue()
failures = [0]
def worker():
    while True:
        url = q.get()
        try:
            urllib.request.urlopen(url, timeout=5).read()
        except Exception:
            failures[0] += 1
        q.task_done()
for _ in range(32):
    threading.Thread(target=worker, daemon=True).start()
tick = time.monotonic()
while tick < end:
    for u in urls:
        q.put(u)
    tick += 1.0
    time.sleep(max(0.0, tick - time.monotonic()))
q.join()
print("scrape failures", failures[0])
PY
scraper=$!
pids+=("$scraper")

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# hostlookuper runs as a child of unshare's sh exec: same pid after exec.

# Lookups answered so far by ward or hostlookuper (every rcode counted).
declare -A PORT=([ward]="$WARD_PORT")
[ -n "$HOSTLOOKUPER" ] && PORT[hostlookuper]="$HL_PORT"
answered() {
  curl -s "http://127.0.0.1:${PORT[$1]}/metrics" \
    | awk '/^hostlookuper_dns_lookup_total\{.*rcode=/ {s += $2} END {print s + 0}'
}

sleep "$WARMUP"
declare -A START LOOKUPS0
for k in "${!PID[@]}"; do START[$k]="$(cpu_ticks "${PID[$k]}")"; done
for k in "${!PORT[@]}"; do LOOKUPS0[$k]="$(answered "$k")"; done
sleep "$MEASURE"
declare -A CPU RSS HWM LPS
hz="$(getconf CLK_TCK)"
for k in "${!PID[@]}"; do
  end="$(cpu_ticks "${PID[$k]}")"
  CPU[$k]="$(python3 -c "print(round(100.0 * ($end - ${START[$k]}) / $hz / $MEASURE, 2))")"
  RSS[$k]="$(rss_kb "${PID[$k]}")"
  HWM[$k]="$(hwm_kb "${PID[$k]}")"
done
expected=$((HOSTS * ${#IPS[@]} * MEASURE))
for k in "${!PORT[@]}"; do
  done_=$(($(answered "$k") - ${LOOKUPS0[$k]}))
  if ((done_ * 10 < expected * 9)); then
    echo "bench: $k answered $done_ lookups in ${MEASURE}s, expected about $expected" >&2
    exit 1
  fi
  # lookups per CPU second = lookups/s one core sustains at this load
  LPS[$k]="$(python3 -c "c = ${CPU[$k]} * $MEASURE / 100; print(round($done_ / c) if c > 0 else 0)")"
  echo "$k: $done_ lookups answered in the ${MEASURE}s window (${LPS[$k]} lookups/s per core)" >&2
done
# What ward's resident memory is: its own allocations, or pages of the binary.
ward_split="$(awk '/^RssAnon|^RssFile/ {printf "%s %.1f MiB  ", $1, $2 / 1024}' "/proc/${PID[ward]}/status")"
if [ -n "${SMAPS_OUT:-}" ]; then cp "/proc/${PID[ward]}/smaps" "$SMAPS_OUT"; fi
wait "$scraper" || true

echo "$(grep -c . "$urls") urls scraped per second; $(cat "$work/scraper.log")" >&2

printf '\n%-14s %10s %10s %10s %16s %12s %12s\n' "prober" "cpu %" "rss MiB" "peak MiB" "lookups/s/core" "cpu x ward" "rss x ward"
for k in ward hostlookuper blackbox; do
  [ -n "${PID[$k]:-}" ] || continue
  python3 - "$k" "${CPU[$k]}" "${RSS[$k]}" "${HWM[$k]}" "${CPU[ward]}" "${RSS[ward]}" "${LPS[$k]:--}" <<'PY'
import sys
name, lps = sys.argv[1], sys.argv[7]
cpu, rss, hwm, wcpu, wrss = map(float, sys.argv[2:7])
r = lambda a, b: f"{a / b:.1f}x" if b > 0 else "-"
print(f"{name:<14} {cpu:>10.2f} {rss / 1024:>10.1f} {hwm / 1024:>10.1f} {lps:>16} {r(cpu, wcpu):>12} {r(rss, wrss):>12}")
PY
done
echo "ward resident: $ward_split"
echo
echo "($HOSTS hosts x ${#IPS[@]} servers every 1s against unbound on loopback; CPU over ${MEASURE}s after ${WARMUP}s warm-up; $(nproc) cores)"
