#!/usr/bin/env python3
"""Heap allocations per delivered event on the Event face's default path (issue 13's target: 0 when the
handler does not read `payload`, at most 2 when it does), counted by the test peer's malloc interposer.

    swift build -c release --product ringbus && swift build -c release --product RingBusTestPeer &&
        python3 Benchmarks/ab/event_allocs.py

A bus made by the CLI; the peer (`RingBusTestPeer alloc-event`, Tests/Support/RingBusTestPeer/
AllocEventMode.swift) subscribes at-least-once with a per-event ClosureHandler and counts the process's
allocations from event 5,000 to event 55,000; the CLI publishes {"i": n, "name": "…"} objects.
A measurement, not a test: the target is not met yet (Docs/BENCHMARKS.md, issue 13).
"""
import json, os, subprocess, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI, PEER = ROOT / ".build/release/ringbus", ROOT / ".build/release/RingBusTestPeer"
for read in ("0", "1"):
    bus = f"allocs-{os.getpid()}-{read}"
    subprocess.run([CLI, "create", bus], check=True, capture_output=True)
    try:
        peer = subprocess.Popen([PEER, "alloc-event", bus, "5000", "50000", "60", read], stdout=subprocess.PIPE, text=True)
        assert "ready" in peer.stdout.readline()
        lines = "\n".join(json.dumps({"i": i, "name": "a string of the row's size"}) for i in range(56000)) + "\n"
        subprocess.run([CLI, "pub", bus, "a", "-"], input=lines, text=True, check=True, capture_output=True)
        out = json.loads(peer.stdout.readline())
        peer.wait(timeout=60)
        print(f"handler {'reads' if read == '1' else 'does not read'} payload: "
              f"{out['allocations'] / out['events']:.2f} allocations per delivered event ({out})")
    finally:
        subprocess.run([CLI, "rm", bus], capture_output=True)
