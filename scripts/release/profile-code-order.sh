#!/usr/bin/env bash
# Renews scripts/release/code-order.txt: the functions `ward nurse` and `ward lookup`
# run, which scripts/build-release.sh links first so an agent's code sits in one block of
# pages (docs/design-notes.md, "Hot code first").
#
# It builds the shipped binary with its symbol table kept (same code and
# layout as the stripped one), runs it under valgrind's callgrind in the nurse
# benchmark (the testkit control plane with 100 nodes, the neighbourhood
# check every second, /metrics scraped) and `ward lookup` in the lookup
# benchmark (10 hosts x 3 unbound servers), and writes every function
# callgrind saw executed in ward: the nurse's sorted by name, then those only
# the lookup ran. Start-up, the kube watcher, the HTTP client and server, TLS,
# the DNS client and the metrics writer are all on those paths.
#
#   bash scripts/release/profile-code-order.sh      # needs valgrind (Debian package)
#   SECONDS_PROFILED=60 bash scripts/release/profile-code-order.sh
#
# Run it when build-release.sh reports many listed symbols missing (after a
# dependency upgrade, say), then rebuild and rerun scripts/bench/nurse.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v valgrind >/dev/null || { echo "profile-code-order.sh: valgrind not found (apt-get install valgrind)" >&2; exit 2; }
WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
export PATH="$WARD_TOOLS_DIR/bin:$PATH"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$(KEEP_SYMBOLS=1 bash scripts/build-release.sh)" "$work/ward"
# One wrapper per agent profiled, each writing callgrind.AGENT.PID.
for agent in nurse lookup; do
  cat >"$work/ward-under-callgrind-$agent" <<EOF
#!/bin/sh
# valgrind slows ward ~50x: a short lameduck lets it exit within the bench's grace.
export KUBENURSE_SHUTDOWN_DURATION=1s
exec valgrind -q --tool=callgrind --dump-instr=no --demangle=no \\
  --callgrind-out-file="$work/callgrind.$agent.%p" "$work/ward" "\$@"
EOF
  chmod +x "$work/ward-under-callgrind-$agent"
done

WARD_BIN="$work/ward-under-callgrind-nurse" WARD_BENCH_TOOLS=ward WARD_BENCH_NODES=100 \
  WARD_BENCH_SECONDS="${SECONDS_PROFILED:-30}" cargo test -q -p ward --bench nurse >&2
# 10 hosts, not 100: under valgrind ward cannot answer 300 lookups a second,
# and the bench then fails its 90% check, which does not matter here.
WARD_BIN="$work/ward-under-callgrind-lookup" HOSTS=10 SECONDS_WARMUP=5 \
  SECONDS_MEASURED="${SECONDS_PROFILED:-30}" bash scripts/bench/lookup.sh >&2 || true

for agent in nurse lookup; do
  compgen -G "$work/callgrind.$agent.*" >/dev/null \
    || { echo "profile-code-order.sh: no callgrind output of the $agent (see the bench's output above)" >&2; exit 1; }
done
python3 - "$work/ward" "$work"/callgrind.nurse.* -- "$work"/callgrind.lookup.* >"$work/code-order.txt" <<'PY'
"""Prints the symbols callgrind saw executed in the binary argv[1]: those of
the first group of outputs (the nurse's) sorted, then those only the second
group (the lookup's, after `--`) ran, sorted: each agent's code in one block,
the nurse's first.

callgrind names each file (ob=) and function (fn=) in full once, then by its
number; a function's cost lines follow its fn= line. Recursion levels are
suffixed 'N, and code without a symbol is named by its address: both are left
out, as lld looks symbols up by name.
"""
import re
import sys

binary = sys.argv[1]
split = sys.argv.index("--")
groups = [sys.argv[2:split], sys.argv[split + 1 :]]


def executed_in(outputs):
    executed = set()
    for path in outputs:
        objects, functions, in_binary = {}, {}, False
        with open(path, errors="replace") as lines:
            for line in lines:
                m = re.match(r"(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
                if not m:
                    continue
                kind, number, name = m.groups()
                table = objects if kind.endswith("ob") else functions
                if name is not None:
                    table[number] = name
                if kind == "ob":
                    in_binary = objects.get(number) == binary
                elif kind == "fn" and in_binary:
                    executed.add(functions[number].split("'")[0])
    if not executed:
        sys.exit("profile-code-order.sh: callgrind recorded no function of " + binary + " in " + " ".join(outputs))
    return {n for n in executed if not n.startswith("0x") and n != "(below main)"}


nurse = executed_in(groups[0])
lookup = executed_in(groups[1])
for name in sorted(nurse) + sorted(lookup - nurse):
    print(name)
PY
# Replaced only once the new list is whole.
mv "$work/code-order.txt" scripts/release/code-order.txt
echo "profile-code-order.sh: $(wc -l <scripts/release/code-order.txt) functions in scripts/release/code-order.txt" >&2
