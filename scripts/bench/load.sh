#!/usr/bin/env bash
# Benchmark: `ward load` (release build) against wrk (Debian) and oha (cargo
# install) in one run, all hitting the same single-worker nginx serving a small
# static file on loopback:
#   1. maximum throughput, closed model, the same connection count for all;
#   2. latency at a fixed rate (oha -q with --latency-correction, ward --rate;
#      wrk has no fixed-rate mode), coordinated-omission corrected;
#   3. CPU seconds the generator itself used per 100,000 requests, read from
#      /proc (cutime+cstime of a wrapper shell after it reaped the generator).
# Prints a table and ratios against wrk (throughput) and oha (CPU).
#
#   bash scripts/bench/load.sh                     # 50 connections, 10 s, 5000 req/s
#   CONNS=100 DURATION=20 RATE=10000 bash scripts/bench/load.sh
#   WARD_BIN=/path/to/ward bash scripts/bench/load.sh   # skip scripts/build-release.sh (the shipped static build)
#   OHA_INSTALL=0 bash scripts/bench/load.sh            # do not install oha when missing
#
# oha is installed on first use with
#   cargo install oha --locked --root "$WARD_TOOLS_DIR"
set -euo pipefail
cd "$(dirname "$0")/../.."

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
export PATH="$WARD_TOOLS_DIR/bin:$PATH"
CONNS="${CONNS:-50}"
DURATION="${DURATION:-10}"
RATE="${RATE:-5000}"

if ! command -v oha >/dev/null && [ "${OHA_INSTALL:-1}" = 1 ]; then
  echo "bench/load: installing oha into $WARD_TOOLS_DIR" >&2
  cargo install oha --locked --root "$WARD_TOOLS_DIR" >&2 || echo "bench/load: oha did not install; skipping it" >&2
fi
command -v wrk >/dev/null || { echo "bench/load: wrk missing (apt-get install wrk)" >&2; exit 2; }
WARD="${WARD_BIN:-$(bash scripts/build-release.sh)}"

work="$(mktemp -d)"
nginx_pid=""
cleanup() { [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/html" "$work/logs"
printf 'hello, ward\n' > "$work/html/index.txt"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$work/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp_body;
    proxy_temp_path $work/tmp_proxy;
    fastcgi_temp_path $work/tmp_fastcgi;
    uwsgi_temp_path $work/tmp_uwsgi;
    scgi_temp_path $work/tmp_scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        root $work/html;
    }
}
CONF
nginx -p "$work/" -c "$work/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/index.txt" >/dev/null 2>&1 && break
  python3 -c 'import time; time.sleep(0.05)'
done
URL="http://127.0.0.1:$port/index.txt"
TICK="$(getconf CLK_TCK)"

# run NAME OUTFILE CMD...: runs CMD, stores its stdout in OUTFILE and its CPU seconds in OUTFILE.cpu
run() {
  local name="$1" out="$2"; shift 2
  echo "bench/load: $name: $*" >&2
  OUT="$out" bash -c '"$@" >"$OUT" 2>/dev/null; read -ra st < /proc/$$/stat; echo $(( ${st[15]} + ${st[16]} )) > "$OUT.ticks"' _ "$@"
}

run "wrk throughput" "$work/wrk.txt" wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$URL"
HAVE_OHA=0
if command -v oha >/dev/null; then
  HAVE_OHA=1
  run "oha throughput" "$work/oha.json" oha -z "${DURATION}s" -c "$CONNS" --no-tui --output-format json "$URL"
fi
run "ward throughput" "$work/ward.json" "$WARD" load "$URL" --vus "$CONNS" --duration "${DURATION}s" --quiet -o json
if [ "$HAVE_OHA" = 1 ]; then
  run "oha at ${RATE}/s" "$work/oha-rate.json" oha -z "${DURATION}s" -c "$CONNS" -q "$RATE" --latency-correction --no-tui --output-format json "$URL"
fi
run "ward at ${RATE}/s" "$work/ward-rate.json" "$WARD" load "$URL" --rate "${RATE}/s" --vus "$CONNS" --duration "${DURATION}s" --quiet -o json

python3 - "$work" "$TICK" "$HAVE_OHA" "$CONNS" "$DURATION" "$RATE" <<'PY'
import json, re, sys
work, tick, have_oha, conns, dur, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", *sys.argv[4:]
def cpu(name): return int(open(f"{work}/{name}.ticks").read()) / tick
def unit(v, u): return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u]
rows = {}
wrk = open(f"{work}/wrk.txt").read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
n = int(re.search(r"(\d+) requests in", wrk).group(1))
lat = dict((p, unit(v, u)) for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", wrk))
rows["wrk"] = dict(rps=rps, n=n, cpu=cpu("wrk.txt"), p50=lat.get("50"), p99=lat.get("99"))
if have_oha:
    o = json.load(open(f"{work}/oha.json"))
    s = o["summary"]
    lp = o.get("latencyPercentiles", {})
    total = sum(o.get("statusCodeDistribution", {}).values())
    rows["oha"] = dict(rps=s["requestsPerSec"], n=total, cpu=cpu("oha.json"),
                       p50=lp.get("p50", 0) * 1e3, p99=lp.get("p99", 0) * 1e3)
w = json.load(open(f"{work}/ward.json"))
rows["ward"] = dict(rps=w["requests_per_second"], n=w["requests"], cpu=cpu("ward.json"),
                    p50=w["latency"]["p50"] * 1e3, p99=w["latency"]["p99"] * 1e3)
print(f"\n## throughput: {conns} connections, {dur}s, nginx 1 worker, static file")
print(f"{'tool':6} {'req/s':>10} {'requests':>10} {'p50 ms':>8} {'p99 ms':>8} {'cpu s':>7} {'cpu s/100k':>10}")
for k, r in rows.items():
    per = r["cpu"] / r["n"] * 1e5 if r["n"] else float("nan")
    r["per"] = per
    print(f"{k:6} {r['rps']:10.0f} {r['n']:10d} {r['p50'] or 0:8.3f} {r['p99'] or 0:8.3f} {r['cpu']:7.2f} {per:10.3f}")
print(f"\nward/wrk throughput: {rows['ward']['rps'] / rows['wrk']['rps']:.2f}x")
if have_oha:
    print(f"oha/wrk throughput:  {rows['oha']['rps'] / rows['wrk']['rps']:.2f}x")
    print(f"ward/oha CPU per request: {rows['ward']['per'] / rows['oha']['per']:.2f}x")
print(f"ward/wrk CPU per request: {rows['ward']['per'] / rows['wrk']['per']:.2f}x")
print(f"\n## fixed rate {rate}/s, {dur}s, latency from the intended send time")
print(f"{'tool':6} {'req/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'cpu s/100k':>10}")
if have_oha:
    o = json.load(open(f"{work}/oha-rate.json"))
    lp = o.get("latencyPercentiles", {})
    total = sum(o.get("statusCodeDistribution", {}).values())
    print(f"{'oha':6} {o['summary']['requestsPerSec']:10.0f} {lp.get('p50',0)*1e3:8.3f} {lp.get('p90',0)*1e3:8.3f} {lp.get('p99',0)*1e3:8.3f} {o['summary']['slowest']*1e3:8.3f} {cpu('oha-rate.json')/max(total,1)*1e5:10.3f}")
w = json.load(open(f"{work}/ward-rate.json"))
l = w["latency"]
print(f"{'ward':6} {w['requests_per_second']:10.0f} {l['p50']*1e3:8.3f} {l['p90']*1e3:8.3f} {l['p99']*1e3:8.3f} {l['max']*1e3:8.3f} {cpu('ward-rate.json')/max(w['requests'],1)*1e5:10.3f}")
PY
