#!/usr/bin/env bash
# Benchmark: `ward load` (release build) against wrk (Debian) and oha (cargo
# install) in one run, all hitting the same single-worker nginx serving a small
# static file on loopback:
#   1. maximum throughput, closed model, the same connection count for all;
#   2. latency at a fixed rate (oha -q with --latency-correction, ward --rate;
#      wrk has no fixed-rate mode), coordinated-omission corrected: ROUNDS
#      pairs run alternately (oha, ward, oha, ward, ...), each pair's p50 and
#      p99 ratios ward/oha printed, and the median ratio over the pairs; ward's
#      own send lateness (its generator's delay, not in its latency) beside;
#   3. CPU seconds the generator itself used per 100,000 requests, read from
#      /proc (cutime+cstime of a wrapper shell after it reaped the generator).
# Prints a table and ratios against wrk (throughput) and oha (CPU).
#
#   bash scripts/bench/load.sh                     # 50 connections, 10 s, 5000 req/s
#   CONNS=100 DURATION=20 RATE=10000 bash scripts/bench/load.sh
#   WARD_BIN=/path/to/ward bash scripts/bench/load.sh   # skip scripts/build-release.sh (the shipped static build)
#   OHA_INSTALL=0 bash scripts/bench/load.sh            # do not install oha when missing
#   RATE=3000 ROUNDS=5 bash scripts/bench/load.sh       # 5 alternating fixed-rate pairs
#   SOAK=1 bash scripts/bench/load.sh                   # only the memory soak (below)
#
# SOAK=1 runs only ward at SOAK_RATE req/s (default 5000) for SOAK_SECONDS
# (default 600) with CONNS workers, sampling its resident memory (VmRSS)
# every 10 s, and prints the samples, the peak and the growth from the first
# sample after warm-up (30 s) to the last.
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
ROUNDS="${ROUNDS:-1}"
SOAK="${SOAK:-0}"
SOAK_RATE="${SOAK_RATE:-5000}"
SOAK_SECONDS="${SOAK_SECONDS:-600}"

if [ "$SOAK" != 1 ] && ! command -v oha >/dev/null && [ "${OHA_INSTALL:-1}" = 1 ]; then
  echo "bench/load: installing oha into $WARD_TOOLS_DIR" >&2
  cargo install oha --locked --root "$WARD_TOOLS_DIR" >&2 || echo "bench/load: oha did not install; skipping it" >&2
fi
[ "$SOAK" = 1 ] || command -v wrk >/dev/null || { echo "bench/load: wrk missing (apt-get install wrk)" >&2; exit 2; }
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

if [ "$SOAK" = 1 ]; then
  echo "bench/load: soak: ward at ${SOAK_RATE}/s for ${SOAK_SECONDS}s, $CONNS workers" >&2
  "$WARD" load "$URL" --rate "${SOAK_RATE}/s" --vus "$CONNS" --duration "${SOAK_SECONDS}s" --quiet -o json >"$work/soak.json" &
  ward_pid=$!
  : >"$work/rss.txt"
  while kill -0 "$ward_pid" 2>/dev/null; do
    rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$ward_pid/status" 2>/dev/null || true)"
    [ -n "$rss" ] && echo "$(( $(date +%s) )) $rss" >>"$work/rss.txt"
    python3 -c 'import time; time.sleep(10)'
  done
  wait "$ward_pid"
  python3 - "$work" "$SOAK_RATE" "$SOAK_SECONDS" "$CONNS" <<'PY'
import json, sys
work, rate, secs, conns = sys.argv[1:]
rows = [tuple(map(int, l.split())) for l in open(f"{work}/rss.txt") if l.strip()]
t0 = rows[0][0]
w = json.load(open(f"{work}/soak.json"))
print(f"\n## memory soak: ward at {rate}/s for {secs}s, {conns} workers")
print(f"requests {w['requests']}  failed {w['failed']}  req/s {w['requests_per_second']:.0f}  "
      f"latency p50 {w['latency']['p50']*1e3:.3f} ms  p99 {w['latency']['p99']*1e3:.3f} ms  "
      f"send lateness p99 {w['send_lateness']['p99']*1e3:.3f} ms")
print("RSS samples (s: MiB): " + "  ".join(f"{t - t0}: {kb/1024:.1f}" for t, kb in rows))
warm = next((kb for t, kb in rows if t - t0 >= 30), rows[0][1])
print(f"RSS peak {max(kb for _, kb in rows)/1024:.1f} MiB, last {rows[-1][1]/1024:.1f} MiB, "
      f"growth after warm-up (30 s) {(rows[-1][1] - warm)/1024:+.1f} MiB")
PY
  exit 0
fi

run "wrk throughput" "$work/wrk.txt" wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$URL"
HAVE_OHA=0
if command -v oha >/dev/null; then
  HAVE_OHA=1
  run "oha throughput" "$work/oha.json" oha -z "${DURATION}s" -c "$CONNS" --no-tui --output-format json "$URL"
fi
run "ward throughput" "$work/ward.json" "$WARD" load "$URL" --vus "$CONNS" --duration "${DURATION}s" --quiet -o json
for round in $(seq "$ROUNDS"); do
  if [ "$HAVE_OHA" = 1 ]; then
    run "oha at ${RATE}/s (round $round)" "$work/oha-rate-$round.json" oha -z "${DURATION}s" -c "$CONNS" -q "$RATE" --latency-correction --no-tui --output-format json "$URL"
  fi
  run "ward at ${RATE}/s (round $round)" "$work/ward-rate-$round.json" "$WARD" load "$URL" --rate "${RATE}/s" --vus "$CONNS" --duration "${DURATION}s" --quiet -o json
done

python3 - "$work" "$TICK" "$HAVE_OHA" "$CONNS" "$DURATION" "$RATE" "$ROUNDS" <<'PY'
import json, re, statistics, sys
work, tick, have_oha, conns, dur, rate, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", *sys.argv[4:]
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
print(f"\n## fixed rate {rate}/s, {dur}s, {conns} connections, latency from the intended send time, {rounds} alternating round(s)")
print(f"{'tool':10} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'cpu s/100k':>10} {'late p50':>9} {'late p99':>9}")
ratios = []
for r in range(1, int(rounds) + 1):
    row = {}
    if have_oha:
        o = json.load(open(f"{work}/oha-rate-{r}.json"))
        lp = o.get("latencyPercentiles", {})
        total = sum(o.get("statusCodeDistribution", {}).values())
        row["oha"] = (lp.get("p50", 0) * 1e3, lp.get("p99", 0) * 1e3)
        print(f"{'oha #' + str(r):10} {o['summary']['requestsPerSec']:8.0f} {lp.get('p50',0)*1e3:8.3f} {lp.get('p90',0)*1e3:8.3f} {lp.get('p99',0)*1e3:8.3f} {o['summary']['slowest']*1e3:8.3f} {cpu(f'oha-rate-{r}.json')/max(total,1)*1e5:10.3f}")
    w = json.load(open(f"{work}/ward-rate-{r}.json"))
    l, late = w["latency"], w["send_lateness"]
    row["ward"] = (l["p50"] * 1e3, l["p99"] * 1e3)
    print(f"{'ward #' + str(r):10} {w['requests_per_second']:8.0f} {l['p50']*1e3:8.3f} {l['p90']*1e3:8.3f} {l['p99']*1e3:8.3f} {l['max']*1e3:8.3f} {cpu(f'ward-rate-{r}.json')/max(w['requests'],1)*1e5:10.3f} {late['p50']*1e3:9.3f} {late['p99']*1e3:9.3f}")
    if have_oha:
        ratios.append((row["ward"][0] / row["oha"][0], row["ward"][1] / row["oha"][1]))
for r, (p50, p99) in enumerate(ratios, 1):
    print(f"round {r}: ward/oha p50 {p50:.2f}x  p99 {p99:.2f}x")
if ratios:
    print(f"median ward/oha: p50 {statistics.median(p for p, _ in ratios):.2f}x  p99 {statistics.median(p for _, p in ratios):.2f}x")
PY
