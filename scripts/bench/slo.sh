#!/usr/bin/env bash
# Benchmark: generate Prometheus rules for 10,000 SLOs (a generated spec
# directory: 1,000 prometheus/v1 files x 10 SLOs) with ward (release build),
# the real sloth v0.16.0, and slokit's CLI if installed, in one run. Prints
# wall time, user and system CPU time and peak RSS (GNU time) for each, the
# load average, and ratios against ward (wall, CPU = user+sys, RSS).
#
#   bash scripts/bench/slo.sh            # defaults: 1000 files x 10 SLOs
#   FILES=100 SLOS_PER_FILE=100 bash scripts/bench/slo.sh
#   WARD_BIN=/path/to/ward bash scripts/bench/slo.sh   # skip scripts/build-release.sh (the shipped static build)
#
# Tools: sloth from scripts/deps.d/sloth.sh; slokit via
# `cargo install slokit --locked --root $WARD_TOOLS_DIR` (optional).
set -euo pipefail
cd "$(dirname "$0")/../.."

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
export PATH="$WARD_TOOLS_DIR/bin:$PATH"
FILES="${FILES:-1000}"
SLOS_PER_FILE="${SLOS_PER_FILE:-10}"

WARD="${WARD_BIN:-$(bash scripts/build-release.sh)}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/specs"

python3 - "$work/specs" "$FILES" "$SLOS_PER_FILE" <<'PY'
import os, sys
out, files, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
objectives = ["99.9", "99.5", "99", "99.95", "95"]
for f in range(files):
    lines = ['version: "prometheus/v1"', f'service: "svc{f:04d}"', "labels:", "  owner: \"team-%d\"" % (f % 17), "  tier: \"%d\"" % (f % 3), "slos:"]
    for s in range(per):
        job = f"svc{f:04d}"
        lines += [
            f'  - name: "slo{s:02d}"',
            f"    objective: {objectives[(f + s) % len(objectives)]}",
            "    labels:",
            "      category: availability",
            "    sli:",
            "      events:",
            f'        error_query: sum(rate(http_requests_total{{job="{job}",handler="/api/{s}",code=~"(5..|429)"}}[{{{{.window}}}}]))',
            f'        total_query: sum(rate(http_requests_total{{job="{job}",handler="/api/{s}"}}[{{{{.window}}}}]))',
            "    alerting:",
            f"      name: Svc{f:04d}Slo{s:02d}HighErrorRate",
            "      labels:",
            "        category: availability",
            "      annotations:",
            f'        summary: "High error rate on svc{f:04d} handler /api/{s}"',
            "      page_alert:",
            "        labels:",
            "          severity: critical",
            "      ticket_alert:",
            "        labels:",
            "          severity: warning",
        ]
    with open(os.path.join(out, f"svc{f:04d}.yaml"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
PY

total=$((FILES * SLOS_PER_FILE))
echo "specs: $FILES files x $SLOS_PER_FILE SLOs = $total SLOs ($(du -sh "$work/specs" | cut -f1))"

# run NAME CMD...: one timed run (the command writes under $work/out-NAME);
# prints "NAME wall_s user_s sys_s rss_kb rules".
run() {
  local name="$1"; shift
  local out="$work/out-$name"
  local log="$work/time-$name.log"
  if ! /usr/bin/time -v "$@" >/dev/null 2>"$log"; then
    echo "$name FAILED: $(grep -v '^\s' "$log" | tail -3)" >&2
    return 1
  fi
  local wall user sys rss
  user=$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$log")
  sys=$(awk -F': ' '/System time \(seconds\)/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  local rules
  rules=$(find "$out" -type f -exec cat {} + | grep -c -E '^ *- (record|alert):|^ *(record|alert): ' || true)
  echo "$name $wall $user $sys $rss $rules"
}

echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
results=()
# Warm the page cache once so every tool reads the specs from memory.
cat "$work"/specs/*.yaml >/dev/null
mkdir -p "$work/out-ward" "$work/out-sloth" "$work/out-slokit"
results+=("$(run ward "$WARD" slo generate -i "$work/specs" -o "$work/out-ward")")
if command -v sloth >/dev/null; then
  results+=("$(SLOTH_NO_LOG=true run sloth sloth generate -i "$work/specs" -o "$work/out-sloth")") || true
else
  echo "sloth not installed (run scripts/install-test-deps.sh)" >&2
fi
if command -v slokit >/dev/null; then
  # slokit writes one file for the whole directory.
  results+=("$(run slokit slokit generate -i "$work/specs" -o "$work/out-slokit/rules.yaml")") || echo "slokit: generate failed (see above)" >&2
else
  echo "slokit not installed: cargo install slokit --locked --root $WARD_TOOLS_DIR" >&2
fi

read -r _ ward_wall ward_user ward_sys ward_rss _ <<<"${results[0]}"
printf '\n%-8s %8s %8s %7s %12s %8s %13s %12s %12s\n' tool wall_s user_s sys_s peak_rss_MB rules wall_vs_ward cpu_vs_ward rss_vs_ward
for r in "${results[@]}"; do
  [ -n "$r" ] || continue
  read -r name wall user sys rss rules <<<"$r"
  awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v ru="$rules" \
    -v ww="$ward_wall" -v wc="$(awk -v a="$ward_user" -v b="$ward_sys" 'BEGIN { print a + b }')" -v wr="$ward_rss" 'BEGIN {
    printf "%-8s %8.3f %8.2f %7.2f %12.1f %8d %12.1fx %11.1fx %11.1fx\n", n, w, u, s, r/1024, ru,
      (ww > 0 ? w/ww : 0), (wc > 0 ? (u+s)/wc : 0), (wr > 0 ? r/wr : 0) }'
done
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
