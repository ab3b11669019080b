#!/usr/bin/env python3
"""Issue 13's rows of the Event face, as interleaved pairs within one placement.

    python3 Benchmarks/ab/event_rows.py --pairs 5 --new .build/release/ringbus --old OLD/.build/release/ringbus

Per pair, back to back: a pipe (one write per message, Benchmarks/compare/ipc.c built to .build/ipc),
RingBus's Event face at-most-once and at-least-once (the new build) and at-most-once (the old build), at
64 B and 1 KiB (a new {"i": n, "pad": "x…"} object per publish, the per-event handler, the delivered
rate); then 64 KiB throughput and ping-pong (busy) of the Event face against the zero-copy path, and
64 B ping-pong; the same throughput with a Codable struct per publish (`--api codable`, the new build
only); and the sleeping 64 B Event ping-pong against a raw futex ping-pong (`.build/ringbench futex`,
built by Benchmarks/ring/run.sh; the row is left out without it). Prints each pair and the median and
range of each ratio.
"""
import argparse, json, statistics, subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def j(cmd):
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")][0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--new", default=str(ROOT / ".build/release/ringbus"))
    p.add_argument("--old", required=True)
    a = p.parse_args()
    ipc = ROOT / ".build/ipc"
    if not ipc.exists():
        subprocess.run(["cc", "-O2", "-o", str(ipc), str(ROOT / "Benchmarks/compare/ipc.c"), "-lrt"], check=True)
    bench = lambda binary, *args: j([binary, "bench", "--json", *args])
    res = {}
    put = lambda k, v: res.setdefault(k, []).append(v)
    for i in range(a.pairs):
        shown = []
        for size in (64, 1024):
            n = 300000 if size <= 64 else 100000
            pipe = j([ipc, "tput", "pipe", size, n, 1])["events_per_sec"]
            ev = lambda binary, g: bench(binary, "--api", "event", "--guarantee", g, "--wait", "adaptive", "--events", n, "--size", size)["events_per_sec"]
            new, alo, old = ev(a.new, "at-most-once"), ev(a.new, "at-least-once"), ev(a.old, "at-most-once")
            put(f"{size} B Event at-most-once / pipe", new / pipe)
            put(f"{size} B Event at-least-once / at-most-once", alo / new)
            put(f"{size} B Event, new build / old build", new / old)
            codable = bench(a.new, "--api", "codable", "--guarantee", "at-most-once", "--wait", "adaptive", "--events", n,
                            "--size", size)["events_per_sec"]
            put(f"{size} B Event of a Codable struct, at-most-once / pipe", codable / pipe)
            shown.append(f"{size} B pipe {pipe / 1e6:.2f} event {new / 1e6:.2f} (old {old / 1e6:.2f}, alo {alo / 1e6:.2f}) M/s")
        zc = bench(a.new, "--guarantee", "at-least-once", "--events", 20000, "--size", 65536)["events_per_sec"]
        ev = bench(a.new, "--api", "event", "--guarantee", "at-least-once", "--wait", "adaptive", "--events", 20000, "--size", 65536)["events_per_sec"]
        put("64 KiB Event throughput / zero-copy", ev / zc)
        shown.append(f"64 KiB zero-copy {zc:.0f} event {ev:.0f} /s")
        for size, n in ((64, 20000), (65536, 5000)):
            z = bench(a.new, "--mode", "pingpong", "--events", n, "--size", size)["latency_ns"]["p50"]
            e = bench(a.new, "--mode", "pingpong", "--api", "event", "--events", n, "--size", size)["latency_ns"]["p50"]
            o = bench(a.old, "--mode", "pingpong", "--api", "event", "--events", n, "--size", size)["latency_ns"]["p50"]
            put(f"{size} B Event ping-pong (busy) / zero-copy", e / z)
            put(f"{size} B Event ping-pong, old build / new build", o / e)
            shown.append(f"ping-pong {size} B zero-copy {z} event {e} (old {o}) ns")
        ringbench = ROOT / ".build/ringbench"
        if ringbench.exists():
            futex = j([ringbench, "futex", 5000])["p50"]
            sleeping = bench(a.new, "--mode", "pingpong", "--api", "event", "--wait", "block", "--events", 5000, "--size", 64)
            put("64 B Event ping-pong (sleeping) / raw futex ping-pong", sleeping["latency_ns"]["p50"] / futex)
            shown.append(f"sleeping: futex {futex} event {sleeping['latency_ns']['p50']} ns")
        print(f"pair {i + 1}: " + "; ".join(shown), flush=True)
    print("\nratio: median [range]")
    for k, v in sorted(res.items()):
        print(f"{k}: {statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]")


main()
