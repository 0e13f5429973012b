#!/usr/bin/env bash
# Benchmark: `ward lab --nodes 50` (release build) for a fixed window, with its
# dashboard open in headless Chromium (Debian chromium + chromedriver, driven
# over WebDriver with curl). Prints:
#   - the lab process's RSS at the end and peak (VmHWM), in MiB,
#   - its CPU (user+sys over the window) as % of one core,
#   - the dashboard update time measured in the page itself (performance.now()
#     around record + render + one forced style/layout, window.wardUpdates):
#     count, median and max over the window; the work of the frame after each
#     update (paint, from its animation-frame callbacks to the next task:
#     paintMs, where the page reports it); and the fetch time of the two JSON
#     endpoints for comparison,
#   - the lab's own summary (paths checked now, failing now).
#
#   bash scripts/bench/lab.sh                        # 50 nodes, k = 3, 60 s after 15 s warm-up
#   NODES=50 K=10 SECONDS_MEASURED=30 bash scripts/bench/lab.sh
#   WARD_BIN=/path/to/ward bash scripts/bench/lab.sh   # skip scripts/build-release.sh (the shipped static build)
set -euo pipefail
cd "$(dirname "$0")/../.."

NODES="${NODES:-50}"
K="${K:-3}"
INTERVAL="${CHECK_INTERVAL:-2s}"
MEASURE="${SECONDS_MEASURED:-60}"
WARMUP="${SECONDS_WARMUP:-15}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || echo /usr/bin/chromedriver)}"

WARD="${WARD_BIN:-$(bash scripts/build-release.sh)}"

work="$(mktemp -d)"
pids=()
CD=""
session=""
cleanup() {
  # Closing the session ends Chromium (killing chromedriver alone leaves it running).
  if [ -n "$session" ]; then curl -sf -X DELETE "$CD/session/$session" >/dev/null || true; fi
  # The lab stops on SIGINT (its nurses take SIGTERM for themselves); chromedriver on SIGTERM.
  if [ -n "${lab:-}" ]; then kill -INT "$lab" 2>/dev/null || true; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits (at most $2 tenths of a second) until command $1 succeeds.
wait_for() {
  local i
  for ((i = 0; i < $2; i++)); do
    if eval "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "lab.sh: timed out waiting for: $1" >&2
  return 1
}

LAB_PORT="$(free_port)"
"$WARD" lab --nodes "$NODES" --neighbour-limit "$K" --check-interval "$INTERVAL" \
  --listen "127.0.0.1:$LAB_PORT" --live=false --duration "$((WARMUP + MEASURE + 60))s" \
  >"$work/lab.out" 2>"$work/lab.err" &
lab=$!
BASE="http://127.0.0.1:$LAB_PORT"
wait_for "curl -sf $BASE/status" 300

CD_PORT="$(free_port)"
"$CHROMEDRIVER" --port="$CD_PORT" >"$work/chromedriver.log" 2>&1 &
pids+=("$!")
CD="http://127.0.0.1:$CD_PORT"
wait_for "curl -sf $CD/status" 200
caps='{"capabilities":{"alwaysMatch":{"goog:chromeOptions":{"binary":"'"$CHROMIUM"'","args":["--headless","--no-sandbox","--disable-gpu","--disable-background-networking","--no-first-run","--window-size=1400,1000"]}}}}'
session="$(curl -sf -X POST "$CD/session" -H 'Content-Type: application/json' -d "$caps" | jq -r .value.sessionId)"
script() {
  curl -sf -X POST "$CD/session/$session/execute/sync" -H 'Content-Type: application/json' \
    -d "$(jq -cn --arg s "$1" '{script: $s, args: []}')" | jq -c .value
}
curl -sf -X POST "$CD/session/$session/url" -H 'Content-Type: application/json' -d "{\"url\":\"$BASE/ui\"}" >/dev/null

sleep "$WARMUP"
ticks() { awk '{print $14 + $15}' "/proc/$lab/stat"; }
hz="$(getconf CLK_TCK)"
first="$(script 'return window.wardUpdates[0] || null')"
script 'window.wardUpdates.length = 0; return 0' >/dev/null
c0="$(ticks)"
t0="$(date +%s.%N)"
sleep "$MEASURE"
c1="$(ticks)"
t1="$(date +%s.%N)"
updates="$(script 'return window.wardUpdates')"
summary="$(curl -sf "$BASE/lab/summary")"
rss="$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$lab/status")"
hwm="$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$lab/status")"
threads="$(awk '/^Threads/ {print $2}' "/proc/$lab/status")"
cpu="$(echo "$c0 $c1 $t0 $t1 $hz" | awk '{printf "%.1f", ($2 - $1) / $5 / ($4 - $3) * 100}')"
stats() { # median and max of field $1 in $updates (updates without it left out)
  echo "$updates" | jq -r --arg f "$1" '[.[][$f] | numbers] | sort | if length == 0 then "- -" else "\(.[length / 2 | floor] * 10 | round / 10) \(.[-1] * 10 | round / 10)" end'
}
read -r upd_med upd_max <<<"$(stats updateMs)"
read -r render_med render_max <<<"$(stats renderMs)"
read -r layout_med layout_max <<<"$(stats layoutMs)"
read -r fetch_med fetch_max <<<"$(stats fetchMs)"
read -r paint_med paint_max <<<"$(stats paintMs)"
n_updates="$(echo "$updates" | jq length)"

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "browser: $("$CHROMIUM" --version 2>/dev/null | head -1), headless, window 1400x1000"
echo "ward lab --nodes $NODES --neighbour-limit $K --check-interval $INTERVAL; ${WARMUP} s warm-up, ${MEASURE} s measured"
echo "paths now: $(echo "$summary" | jq .paths_now), failing now: $(echo "$summary" | jq .paths_failing_now), path checks so far: $(echo "$summary" | jq .path_checks)"
echo
echo "| what | figure |"
echo "|---|---|"
echo "| lab RSS at the end / peak (VmHWM) | $rss MiB / $hwm MiB ($threads threads) |"
echo "| lab CPU (user+sys, % of one core) | $cpu % |"
echo "| dashboard update in the page (median / max over $n_updates updates) | $upd_med ms / $upd_max ms |"
echo "| of which script (record + patch) / style and layout (median) | $render_med ms / $layout_med ms (max $render_max ms / $layout_max ms) |"
echo "| paint: the frame after each update (median / max) | $paint_med ms / $paint_max ms |"
echo "| first update (builds the top views) | $(echo "$first" | jq -r 'if . == null then "-" else (.updateMs * 10 | round / 10 | tostring) + " ms" end') |"
echo "| views below the top, built in the next task (deferredMs) | $(echo "$first" | jq -r 'if .deferredMs == null then "-" else (.deferredMs * 10 | round / 10 | tostring) + " ms" end') |"
echo "| fetch of /status + /check_all (median / max) | $fetch_med ms / $fetch_max ms |"
