#!/usr/bin/env bash
# Runs the ring benchmark 5 times (each run measures the references and RingBus back to back, so the
# ratios compare numbers from the same vCPU placement), then the syscall count of publishing while
# nobody sleeps, and writes medians to Benchmarks/ring/results.json.
#   usage: Benchmarks/ring/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
OUT=Benchmarks/ring
mkdir -p .build
CC=${CC:-$(command -v cc || command -v clang)}   # a Swift toolchain brings clang even where cc is missing
scripts/ensure-deps
"$CC" -O2 -std=gnu11 -ICSupport/CRingBus/include CSupport/CRingBus/*.c Benchmarks/ring/ringbench.c \
   -lpthread -o .build/ringbench
: > "$OUT/raw.jsonl"
for i in $(seq 1 "$RUNS"); do
  echo "run $i/$RUNS" >&2
  .build/ringbench all | sed "s/^{/{\"run\":$i,/" >> "$OUT/raw.jsonl"
done
syscalls=null
if command -v strace >/dev/null 2>&1; then
  count() { strace -c -o /tmp/ringbench.strace .build/ringbench rbus-nowake "$1" >/dev/null
            awk '$NF == "total" {print $4}' /tmp/ringbench.strace; }
  base=$(count 1); million=$(count 1000000)
  syscalls="{\"one_event\":$base,\"million_events\":$million,\"per_million_publishes\":$((million - base))}"
fi
python3 - "$OUT/raw.jsonl" "$syscalls" "$RUNS" > "$OUT/results.json" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = int(sys.argv[3])
def by(run, bench): return next(r for r in rows if r["run"] == run and r["bench"] == bench)
def med(xs): return statistics.median(xs)
out = {"runs": runs, "medians": {}, "ratios_median_of_runs": {}}
benches = sorted({r["bench"] for r in rows})
for b in benches:
    rs = [r for r in rows if r["bench"] == b]
    keys = [k for k in rs[0] if k not in ("run", "bench", "samples", "events")]
    out["medians"][b] = {k: med([r[k] for r in rs]) for k in keys}
ratios = {
  "spin_p50_over_floor_p50": ("rbus-spin-64", "p50", "floor", "p50", False),
  "spin_p99_over_floor_p99": ("rbus-spin-64", "p99", "floor", "p99", False),
  "block_p50_over_futex_p50": ("rbus-block-64", "p50", "futex", "p50", False),
  "per_event_commit_over_cring": ("rbus-tput-b1-64", "events_per_sec", "cring", "events_per_sec", False),
}
for name, (a, ak, b, bk, _) in ratios.items():
    out["ratios_median_of_runs"][name] = round(med([by(i, a)[ak] / by(i, b)[bk] for i in range(1, runs + 1)]), 3)
out["floor_p50_per_run"] = [by(i, "floor")["p50"] for i in range(1, runs + 1)]
out["syscalls"] = json.loads(sys.argv[2]) if sys.argv[2] != "null" else None
print(json.dumps(out, indent=2))
PY
cat "$OUT/results.json"
