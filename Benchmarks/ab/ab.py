#!/usr/bin/env python3
"""Interleaved A/B pairs of two builds of a benchmark that prints one JSON object per measurement.

    python3 Benchmarks/ab/ab.py --pairs 5 --out Benchmarks/ab/results.json -- A_BINARY B_BINARY [ARGS...]

Runs A, B, A, B, ... (PAIRS times each, A first), parses every {"bench": NAME, ...} line, and for each
row compares B with A *within its pair* (this VM's host moves the vCPUs within seconds, so only a
same-placement ratio means anything). Throughput rows (events_per_sec, deliveries_per_sec, msgs_per_sec,
ops_per_sec) give B/A; latency rows (p50_ns) give A/B; either way a ratio above 1 means B is better.
Rows that report the floor they saw (floor_ns_before) are dropped from a pair whose two floors differ by
more than 25% (the vCPUs were placed differently between A's run and B's: that pair compares placements,
not builds). Prints every pair and the median and range per row, and writes them as JSON.
"""
import argparse, json, statistics, subprocess, sys

HIGHER = ("events_per_sec", "deliveries_per_sec", "msgs_per_sec", "ops_per_sec", "events_per_second")
LOWER = ("p50_ns",)


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
    rows = {}
    for line in out.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            o = json.loads(line)
        except json.JSONDecodeError:
            continue
        name = o.get("bench")
        for key in HIGHER + LOWER:
            if name and isinstance(o.get(key), (int, float)) and o[key] > 0:
                rows[f"{name} {key}"] = (key in HIGHER, float(o[key]), o.get("floor_ns_before"))
                break
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--out")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if len(cmd) < 2:
        sys.exit("give two binaries (A then B), then their arguments")
    base, new, args = cmd[0], cmd[1], cmd[2:]
    ratios = {}
    for i in range(a.pairs):
        ra = run([base] + args)
        rb = run([new] + args)
        for row in sorted(set(ra) & set(rb)):
            higher, va, fa = ra[row]
            _, vb, fb = rb[row]
            if fa and fb and abs(fa - fb) > 0.25 * min(fa, fb):
                print(f"pair {i + 1} {row}: dropped, the floor moved ({fa:.0f} -> {fb:.0f} ns)", flush=True)
                continue
            r = vb / va if higher else va / vb
            ratios.setdefault(row, []).append(r)
            print(f"pair {i + 1} {row}: A {va:.1f} B {vb:.1f} ratio {r:.3f}", flush=True)
    summary = {row: {"median": statistics.median(rs), "min": min(rs), "max": max(rs), "pairs": rs}
               for row, rs in sorted(ratios.items())}
    print("\nrow: median ratio B vs A (above 1: B better) [range]")
    for row, s in summary.items():
        print(f"{row}: {s['median']:.3f} [{s['min']:.3f}-{s['max']:.3f}]")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"a": base, "b": new, "args": args, "pairs": a.pairs, "rows": summary}, f, indent=1)


if __name__ == "__main__":
    main()
