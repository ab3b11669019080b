#!/usr/bin/env python3
"""Renders Docs/BENCHMARKS.md from Benchmarks/ring/results.json (written by Benchmarks/ring/run.sh)."""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parents[2]
r = json.loads((root / "Benchmarks/ring/results.json").read_text())
m, q = r["medians"], r["ratios_median_of_runs"]


def lat(b):
    x = m[b]
    return f"| {x['p50']:.0f} | {x['p90']:.0f} | {x['p99']:.0f} | {x['p999']:.0f} | {x['max']:.0f} |"


def mps(b):
    return m[b]["events_per_sec"] / 1e6


far = all(f > 100 for f in r["floor_p50_per_run"])
doc = f"""# Benchmarks

Every number here comes from a run on this machine with the command given; numbers from different
runs are compared only as ratios measured in the same run (the host moves this VM's two vCPUs between
near and far placements, so the one-cache-line floor itself drifts between runs). This file is
rendered from `Benchmarks/ring/results.json` by `Benchmarks/ring/render.py`.

## Machine

2 vCPUs of an `Intel(R) Xeon(R) Processor` (model name as the hypervisor reports it), KVM guest
(full virtualisation), 24 GiB, L2 4 MiB (2 instances), L3 300 MiB; Linux 6.18.44, Debian bookworm,
glibc 2.36; C compiled by gcc 12.2 `-O2`; invariant TSC (`constant_tsc nonstop_tsc`), so records carry
raw TSC timestamps. Measured 2026-11-29 on an otherwise idle machine.

## The C path of the ring (issue 2)

```sh
Benchmarks/ring/run.sh 5      # builds .build/ringbench, runs it 5 times, writes Benchmarks/ring/results.json
python3 Benchmarks/ring/render.py   # renders this file
```

Each run measures, back to back, with the two processes pinned to CPUs 0 and 1:
- **floor**: one 64-byte line bounced between two processes (spin); one-way = round trip / 2;
- **futex**: raw futex ping-pong between two processes (the floor for a sleeping consumer);
- **cring**: a minimal C SPSC ring, 64-byte slots, head and tail published per message, 1 MiB;
- **rbus-spin / rbus-block**: RingBus ping-pong over two buses (ping, pong), 64-byte payloads, gating
  readers, busy-polling (`rbus_consumer_next` in a loop) or sleeping (`rbus_consumer_wait(BLOCK)`);
- **rbus-tput**: RingBus 1 → 1, 64-byte payloads, gating reader releasing space every 256 events,
  1 MiB ring (the same bytes as cring), one commit per event (`b1`) or per 64 events (`b64`);
- **syscalls**: `strace -c` of a producer publishing 1 event vs 1,000,000 events while nobody sleeps.

### Latency, one-way, ns (medians over {r['runs']} runs of each percentile)

| bench | p50 | p90 | p99 | p99.9 | max |
|---|---|---|---|---|---|
| floor (one cache line) {lat('floor')}
| RingBus busy-polling {lat('rbus-spin-64')}
| raw futex ping-pong {lat('futex')}
| RingBus sleeping consumer {lat('rbus-block-64')}

Floor p50 per run: {', '.join(str(x) for x in r['floor_p50_per_run'])} ns{' (all above 100 ns: far placement)' if far else ''}.
The max of every row and the p99.9 of the sleeping rows are hypervisor preemptions, not the ring.

### Throughput, 64-byte payloads, 1 → 1 processes

| bench | events/s | MB/s of payload |
|---|---|---|
| minimal C SPSC ring (per message) | {mps('cring'):.1f} M | {m['cring']['events_per_sec'] * 64 / 1e6:.0f} |
| RingBus, one commit per event | {mps('rbus-tput-b1-64'):.1f} M | {m['rbus-tput-b1-64']['mb_per_sec']:.0f} |
| RingBus, batch commit of 64 | {mps('rbus-tput-b64-64'):.1f} M | {m['rbus-tput-b64-64']['mb_per_sec']:.0f} |

### System calls while nobody sleeps

`strace -c` counts {r['syscalls']['one_event']} system calls for a producer run publishing 1 event and
{r['syscalls']['million_events']} for 1,000,000 events: **{r['syscalls']['per_million_publishes']} per million publishes** (all of them are
process start-up and bus creation).

### Against the targets of issue 2 (ratios: median over the runs of the same-run ratio)

| target | measured | verdict |
|---|---|---|
| busy-poll one-way p50 ≤ 2.0× floor | {q['spin_p50_over_floor_p50']}× | **missed** by {q['spin_p50_over_floor_p50'] / 2:.1f}× |
| busy-poll one-way p99 ≤ 3× floor | {q['spin_p99_over_floor_p99']}× | **missed** by {q['spin_p99_over_floor_p99'] / 3:.1f}× |
| sleeping one-way p50 ≤ 1.3× raw futex | {q['block_p50_over_futex_p50']}× | met |
| one commit per event ≥ 0.8× minimal C ring | {q['per_event_commit_over_cring']}× | **missed** by {0.8 / q['per_event_commit_over_cring']:.1f}× |
| batch commit of 64 ≥ 50 M events/s | {mps('rbus-tput-b64-64'):.1f} M | **missed** by {50 / mps('rbus-tput-b64-64'):.1f}× |
| no system call per publish while nobody sleeps | {r['syscalls']['per_million_publishes']} per million | met |

### Why the misses, and what was measured on the way

The exploratory measurements below ran while a stray test process (a hung run of an early version of
the gating test) was spinning on CPU 1; they compare variants within one session and were not
repeated on the idle machine. The table above was.

- **A full fence per commit, on a contended line.** Rule W's P2 (`atomic_thread_fence(seq_cst)` after
  the tail store) makes the producer wait until its tail store is visible. While a caught-up reader
  polls the tail, that line lives in the reader's cache, so every commit waits one cross-core round
  trip. Replacing P2 by a compiler barrier (an unsafe experiment, benchmark binary only) raised
  one-commit-per-event throughput from ~3.3 M/s to 8–9 M/s in the same session. The safe way to drop
  it is an asymmetric fence (`membarrier` on the sleeper's side): built, measured (per-event producer
  cost 49 → 35 ns), and rejected for now because the wakeup litmus lost a wakeup inside the
  multi-threaded test process (LAYOUT.md §6.3 gives the suspected kernel mechanism).
- **A clock read per event.** `rdtsc` costs 18.6 ns here (a loop of 20 M reads); a producer-only loop
  publishes in 13–17 ns without it and 25–35 ns with it. The ring reads the clock once per commit
  batch, so batch commits amortise it, per-event commits do not.
- **Records span cache lines.** A 64-byte payload with a 12-byte topic is a 120-byte record, not
  line-aligned, so consecutive records share lines: the producer writes into the line whose first half
  the reader is still reading. The minimal C ring moves one aligned line per message.
- **Busy-poll latency** is 3–4 line transfers per hop (the tail line; the record's lines, which the
  producer must first take back from the reader's cache) against one for the floor. Prefetching the
  record's lines as soon as a new tail is seen took p50 from 579 to ~490–560 ns; reaching 2× needs
  the reader to learn of a record from the record's own line (a per-record commit word, as Aeron does)
  instead of a separate tail line.
- Kept: the consumer hot path went from 16–17 to 10–11 ns per event (cached stream addresses, a
  constant-size header copy instead of a `memcpy` call); the numbers above include it.

## The main job

```sh
scripts/demo                 # = swift build -c release && .build/release/ringbus demo
scripts/demo --wait block    # the same with a consumer that sleeps on the futex between events
```

The demo is the Swift path (`StreamWriter` / `StreamReader`): 2 M events with one commit per event
(throughput), then 20,000 events paced 20 µs apart, whose one-way latency comes from the records' TSC
timestamps. A run on the idle machine printed:

```
{(root / 'Benchmarks/ring/demo-sample.txt').read_text().strip()}
```

Open item: with `--wait adaptive` or `--wait block` the demo's p90 reaches milliseconds, while the C
benchmark's sleeping ping-pong stays at a few µs at p90; not yet explained (suspects: the host's wake
of a halted vCPU under the demo's pattern of a 20 µs-paced producer, or Foundation's helper threads
sharing the consumer's CPU).
"""
bench = root / "Benchmarks/EventBusBench/results.jsonl"
if bench.exists():
    b = {x["bench"]: x for x in (json.loads(l) for l in bench.read_text().splitlines() if l.strip())}
    one, fifty = b["inmemory-1to1"], b["inmemory-1to50-atleastonce"]
    sem, idle, busy, js = b["semaphore-handoff"], b["inmemory-idle-latency"], b["inmemory-busy-100k-per-sec"], b["json-93B"]
    doc += f"""
## The in-process bus (issue 3, in progress)

```sh
swift run -c release --package-path Benchmarks/EventBusBench > Benchmarks/EventBusBench/results.jsonl
python3 Benchmarks/ring/render.py
```

One run, idle machine. Latencies are publish → handler, from `DispatchTime` (uptime ns); the busy
subscriber's are measured from the *intended* send time of a publisher paced at 100k events/s.

| measure | result | target (issue 3) | verdict |
|---|---|---|---|
| 1 publisher → 1 subscriber | {one['events_per_sec'] / 1e6:.2f} M events/s | ≥ 2 M | **missed** |
| 1 → 50 subscribers, at-least-once | {fifty['deliveries_per_sec'] / 1e6:.2f} M deliveries/s, dropped {fifty['dropped']:.0f} | ≥ 5 M, dropped 0 | **missed** (dropped met) |
| idle subscriber p50 | {idle['p50_ns'] / 1000:.1f} µs = {idle['p50_over_semaphore_p50']}× a semaphore hand-off ({sem['p50_ns'] / 1000:.1f} µs) | ≤ 2× | met |
| idle subscriber p99 | {idle['p99_ns'] / 1000:.1f} µs | ≤ 200 µs | met |
| busy subscriber at 100k/s p50 | {busy['p50_ns'] / 1000:.1f} µs | ≤ 5 µs | **missed** |
| `JSONValue` encode, 93-byte object | {js['jsonvalue_encode_ns']:.0f} ns vs Foundation {js['foundation_encode_ns']:.0f} ns ({js['encode_speedup']}×) | ≥ 3× | met |
| `JSONValue` decode, same object | {js['jsonvalue_decode_ns']:.0f} ns vs Foundation {js['foundation_decode_ns']:.0f} ns ({js['decode_speedup']}×) | ≥ 3× | this run {'met' if js['decode_speedup'] >= 3 else 'missed'}; 2.6–5.4× over the session's runs |

Where the time goes (`perf record -e cpu-clock`): retain/release of `Event`'s fields on every copy
(publish, enqueue, batch take, delivery), per-event task allocations, and task switches between the
publisher and each consumer. Done so far: a per-topic route cache, a synchronous enqueue fast path,
no clock read unless a handler failed, a consumer that yields twice before it sleeps, copy-on-write
`Event` storage (one retain per copy; 1 → 50 went from 1.0 to 1.6–1.9 M/s over three runs). Tried and
reverted: consumer batches of 64, because events taken in a batch left the bounded queue, so
publishers ran further ahead than `bufferSize` (the back-pressure test caught it in CI). Next: a
shared log with per-subscription cursors, where a batch can stay inside the bound.
"""

(root / "Docs/BENCHMARKS.md").write_text(doc)
