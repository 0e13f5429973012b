#!/usr/bin/env bash
# Soak and fault matrix (issue 22): `ward lab` (the shipped static build: real
# nurses and DNS probers on kube-sim, all in the lab's one process) for an
# hour, with one fault applied at the start of every 5-minute cycle and
# cleared after FAULT_SECONDS, through the lab's fault API. A sampler polls
# `/status` every POLL seconds and prints:
#   - per fault: what ward reported (the checks red or slow while it was on,
#     with their error class and on how many nodes at most), the time from
#     applying it to the first poll showing it, and from clearing it to the
#     first poll where nothing is red or slow and every node reports again;
#   - per cycle: the lab's RSS at the end of the cycle and its open file
#     descriptors in the clean part (the fewest seen: checks in flight hold
#     connections for a moment), the API requests per minute in that clean part,
#     and whether any error counter moved there (path failures, failed
#     checks, failed DNS lookups, counted from 10 s after recovery);
#   - the verdicts the issue asks for: RSS growth after warm-up (the first
#     WARMUP_CYCLES cycles, default 1) under 10%, no fd growth, no error counter moving after faults
#     clear, API request rate flat (max/min of the clean parts).
# Exit status 1 when a verdict fails or a fault was not detected or did not
# recover within the cycle.
#
#   bash scripts/bench/soak.sh                                    # 60 min, 12 cycles of 300 s
#   MINUTES=10 CYCLE=60 FAULT_SECONDS=20 bash scripts/bench/soak.sh   # a quick look
#   WARD_BIN=/path/to/ward NODES=20 bash scripts/bench/soak.sh
#
# Everything runs on 127.0.0.0/8; the lab stops at the end (and on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/../.."

MINUTES="${MINUTES:-60}"
CYCLE="${CYCLE:-300}"
FAULT_SECONDS="${FAULT_SECONDS:-60}"
NODES="${NODES:-20}"
INTERVAL="${CHECK_INTERVAL:-2s}"
POLL="${POLL:-0.5}"
# RSS and fds are compared with their values at the end of this cycle.
WARMUP_CYCLES="${WARMUP_CYCLES:-1}"
# Cycled in this order; a cycle's fault is FAULTS[cycle % len].
FAULTS="${FAULTS:-cut:node-3 delay:node-2:200ms api-down api-delay:5s kill:node-4 dns-down dns-servfail dns-delay:200ms cordon:node-5}"

WARD="${WARD_BIN:-$(bash scripts/build-release.sh)}"

work="$(mktemp -d)"
cleanup() {
  if [ -n "${lab:-}" ]; then kill -INT "$lab" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$WARD" lab --nodes "$NODES" --check-interval "$INTERVAL" --listen "127.0.0.1:$port" \
  --live=false --duration "$((MINUTES * 60 + 360))s" >"$work/lab.out" 2>"$work/lab.err" &
lab=$!

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ward: $WARD ($("$WARD" --version))"
echo "ward lab --nodes $NODES --check-interval $INTERVAL; $MINUTES min, a fault per ${CYCLE} s cycle for ${FAULT_SECONDS} s"
python3 - "$lab" "http://127.0.0.1:$port" "$MINUTES" "$CYCLE" "$FAULT_SECONDS" "$POLL" "$NODES" "$WARMUP_CYCLES" $FAULTS <<'EOF'
import json, os, re, sys, time, urllib.request

pid, base = int(sys.argv[1]), sys.argv[2]
minutes, cycle, fault_s, poll, nodes = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
warmup = max(1, int(sys.argv[8]))
faults = sys.argv[9:]
SLOW = 0.1  # ward_nurse::status::SLOW


def get(path):
    with urllib.request.urlopen(base + path, timeout=5) as r:
        return json.loads(r.read())


def post(path):
    req = urllib.request.Request(base + path, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 204, (path, r.status)


def proc():
    rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS"))
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def errors():
    s = get("/lab/summary")
    # Failed DNS lookups are among the failing checks (as `#dns:NAME`).
    failed = s["path_failures"] + sum(f["failed"] for f in s["failing_checks"])
    return failed, s["api_requests"]


def bad(status):
    """Checks red or slow now: {(node, check): class or 'slow'}."""
    out = {}
    for node, st in status["nodes"].items():
        for check, cell in st["checks"].items():
            if not cell["ok"]:
                out[(node, check)] = cell.get("class") or "error"
            elif cell["seconds"] >= SLOW:
                out[(node, check)] = "slow"
    return out


def kind(check):
    return re.sub(r"^api_server_instance_.*", "api_server_instance", check)


def shows(fault, status):
    """Whether `status` shows `fault` (a cordoned node: its paths are gone)."""
    if fault.startswith("cordon:"):
        node = fault.split(":")[1]
        return all(f"path_{node}" not in st["checks"] for st in status["nodes"].values())
    return bool(bad(status))


def healthy(fault, status):
    if bad(status) or len(status["nodes"]) < nodes:
        return False
    if fault.startswith("cordon:"):
        node = fault.split(":")[1]
        return any(f"path_{node}" in st["checks"] for st in status["nodes"].values())
    return True


deadline = time.monotonic() + 300
while True:
    try:
        status = get("/status")
        if len(status["nodes"]) == nodes and not bad(status):
            break
    except OSError:
        pass
    assert time.monotonic() < deadline, "the lab did not come up healthy within 300 s"
    time.sleep(0.5)

rows, cycles, ok = [], [], True
start = time.monotonic()
for c in range(minutes * 60 // cycle):
    t0 = start + c * cycle
    fault = faults[c % len(faults)]
    post(f"/lab/fault?spec={fault}")
    applied = time.monotonic()
    detect, seen = None, {}
    while time.monotonic() < applied + fault_s:
        status = get("/status")
        now = bad(status)
        if detect is None and shows(fault, status):
            detect = time.monotonic() - applied
        by = {}
        for (node, check), cls in now.items():
            by.setdefault((kind(check), cls), set()).add(node)
        for key, ns in by.items():
            seen[key] = max(seen.get(key, 0), len(ns))
        time.sleep(poll)
    post(f"/lab/clear?spec={fault}")
    cleared = time.monotonic()
    recover = None
    while time.monotonic() < t0 + cycle - 20:
        if healthy(fault, get("/status")):
            recover = time.monotonic() - cleared
            break
        time.sleep(poll)
    # The clean part: from 10 s after recovery to the end of the cycle.
    # Open fds there: the fewest seen (each check holds a connection for a
    # moment, so one look counts the checks in flight too).
    moved, rate, fds = None, None, None
    if recover is not None:
        time.sleep(10)
        e0, a0, s0 = *errors(), time.monotonic()
        while time.monotonic() < t0 + cycle - 1:
            n = proc()[1]
            fds = n if fds is None else min(fds, n)
            time.sleep(min(poll * 4, max(0.0, t0 + cycle - 1 - time.monotonic())))
        e1, a1, s1 = *errors(), time.monotonic()
        moved, rate = e1 - e0, (a1 - a0) / (s1 - s0) * 60
    rss = proc()[0]
    fds = proc()[1] if fds is None else fds
    reported = "; ".join(f"{k} {'slow' if cls == 'slow' else '✗ ' + cls} ({n} node{'s' if n > 1 else ''})"
                          for (k, cls), n in sorted(seen.items()))
    fmt = lambda s: "not seen" if s is None else f"{s:.1f} s"
    if not reported and fault.startswith("cordon:") and detect is not None:
        reported = f"{fault.split(':')[1]} out of every ring, nothing red or slow"
    rows.append((fault, reported or "nothing", fmt(detect), fmt(recover)))
    cycles.append((c + 1, fault, rss, fds, rate, moved))
    if detect is None or recover is None:
        ok = False
    print(f"cycle {c + 1}: {fault}: detect {fmt(detect)}, recover {fmt(recover)}, RSS {rss:.1f} MiB, fds {fds}, "
          f"API {rate if rate is None else round(rate, 1)}/min, errors after recovery {moved}", flush=True)
    while time.monotonic() < t0 + cycle:
        time.sleep(min(1.0, max(0.0, t0 + cycle - time.monotonic())))

print()
print("| fault | what ward reported (checks red or slow, at most on N nodes) | time to detect | time to recover |")
print("|---|---|---|---|")
for r in rows:
    print("| `%s` | %s | %s | %s |" % r)
print()
print("| cycle | fault | RSS at its end | open fds (fewest in the clean part) | API requests/min (clean part) | errors counted after recovery |")
print("|---|---|---|---|---|---|")
for n, f, rss, fds, rate, moved in cycles:
    print(f"| {n} | `{f}` | {rss:.1f} MiB | {fds} | {'-' if rate is None else f'{rate:.1f}'} | {'-' if moved is None else moved} |")
print()
warm = cycles[min(warmup, len(cycles)) - 1]
after = cycles[warmup:] or cycles
growth = (max(c[2] for c in after) - warm[2]) / warm[2] * 100
fd_growth = max(c[3] for c in after) - warm[3]
rates = [c[4] for c in after if c[4] is not None]
moved = [c[5] for c in cycles if c[5]]
flat = max(rates) / min(rates) if rates and min(rates) > 0 else float("inf")
verdicts = [
    (f"RSS growth after warm-up (cycle {warm[0]} {warm[2]:.1f} MiB, peak after {max(c[2] for c in after):.1f} MiB): {growth:+.1f}%", growth < 10),
    (f"open fds after warm-up (fewest per clean part): {warm[3]} -> max {max(c[3] for c in after)} ({fd_growth:+d})",
     fd_growth <= 0),
    (f"error counters moving after faults clear: {len(moved)} of {len(cycles)} cycles", not moved),
    (f"API requests/min in the clean parts: {min(rates):.1f}-{max(rates):.1f} (max/min {flat:.2f})" if rates else "API rate: no clean part", flat < 1.2),
]
for text, good in verdicts:
    print(f"- {'ok' if good else 'FAIL'}: {text}")
    ok = ok and good
sys.exit(0 if ok else 1)
EOF
