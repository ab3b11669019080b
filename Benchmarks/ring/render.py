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

## Against the peers

`python3 Benchmarks/compare/run.py` measures RingBus beside the floor, the C references (the minimal
C ring and a near-limit C ring moving 64-message batches with `rep movsb`) and what users would pick
instead (pipe, Unix domain socket, POSIX message queue, ZeroMQ over ipc://, Redis and NATS pub/sub on
loopback servers it starts) for 64 B, 1 KiB and 64 KiB messages in one run, with the floor probed
before every row, and writes `Docs/COMPARISON.md`: the machine, tables, SVG plots of the latency
percentiles and throughputs, fixed-rate runs at 10k, 100k and 1M events/s (latency from each event's
intended send time), and the ratios against the targets of issue 6.

![latency percentiles, 64 B](compare-latency-64.svg)

![throughput, 64 B](compare-throughput-64.svg)

A plain reading of the 64 B run (all numbers from `Docs/COMPARISON.md`; the host had the vCPUs 110-190
ns apart, a far placement, for most rows):

- **The floor** is one cache line crossing between the two CPUs: 127 ns one way at p50. Nothing between
  two processes can be faster; a bare C ring moving 64-message batches with `rep movsb` (194 M msgs/s)
  and the minimal C ring (86 M msgs/s, one index store per message) are what the hardware allows for
  throughput.
- **RingBus's zero-copy path** is 0.45 µs one way at p50 (3.5x the floor: a hand-off costs the tail's
  line, the record's lines and a fence), 4.87 M msgs/s with one commit per message and 26.4 M/s with 64
  per commit; with a sleeping consumer it is within 1.2x of a raw futex ping-pong (a kernel wake is the
  cost there). The `Event` API with async handlers adds JSON, allocations and task switches: 3.8 µs
  busy and 15 µs sleeping, 0.52-0.54 M msgs/s in this runner (a new payload per publish).
- **Kernel IPC** (pipe, Unix socket, POSIX message queue) is 5.8-6.8 µs one way, 12.8-15x RingBus's
  zero-copy path, because every message crosses the kernel twice and usually wakes the other side;
  one write per message gives 0.8-2.3 M msgs/s. Batched 64 messages per write, a Unix socket (28.5 M/s)
  matches RingBus's batch (0.9x): batching amortises the kernel as well as the ring.
- **Brokers** add a hop through a server process: ZeroMQ over ipc:// 20 µs, Redis and NATS pub/sub on
  loopback 27-31 µs one way (45-70x RingBus); 0.4-3.1 M msgs/s 1 -> 1.
- **Against issue 6's targets** the sleeping ratio and the batch-versus-one-write-per-message ratio are
  met; the busy-poll ratios to the floor, per-event against the minimal C ring, batch against the
  socket's batch and against the `rep movsb` ring, and 5x the best broker are missed, each by the
  amount `Docs/COMPARISON.md` states.

## Micro-benchmarks (ordo-one/benchmark)

```sh
swift package --package-path Benchmarks --allow-writing-to-package-directory benchmark              # all
swift package --package-path Benchmarks --allow-writing-to-package-directory benchmark --format markdown
```

One thread, no second CPU: what each operation costs by itself, with its heap allocations counted by
the package's malloc interposer (which also slows every allocation, so allocating rows read slower
here than in EventBusBench). p50 of one run on this machine (2026-11-29; the full tables are in
`Benchmarks/micro-results.md`):

| operation | p50 | mallocs |
|---|---|---|
| ring: claim + copy + commit one 64 B event, Swift (`StreamWriter`) | 219 ns | 0 |
| ring: the same through the C function (`rbus_producer_publish`) | 196 ns | 0 |
| ring: 64 claims, one commit | 2123 ns (33 ns per event) | 0 |
| ring: publish 256, then poll 256 with borrowed views | 23 µs (45 ns per event each way) | 0 |
| in-process bus: publish one `Event` to one subscriber (per publish, 1000 per sample, flushed) | 528 ns | 0 |
| shared-memory bus: publish one `Event` (encode, claim, commit), no subscriber | 655 ns | 0 |
| `JSONValue` encode, 5-member object | 2.47 µs | 3 |
| `JSONValue` decode, same object | 2.94 µs | 9 |
| Foundation `JSONEncoder`, same object | 5.72 µs | 21 |
| Foundation `JSONDecoder`, same object | 14 µs | 45 |

(The cross-process costs, where the second CPU and the cache-line transfers come in, are in the
sections below and in `Docs/COMPARISON.md`.)

## The main job

```sh
scripts/bench                         # = swift build -c release; ringbus bench; ringbus bench --mode pingpong
scripts/bench --mode pingpong --wait block    # one run with these options (see Docs/CLI.md)
```

`ringbus bench` measures the one-cache-line floor first, then runs the producer in this process and
its consumers in processes it starts, pinned to different CPUs when there are enough, and reads the
result against the floor. Its numbers come from the same code as the zero-copy rows below (raw API)
and the convenience rows (`--api event`); `Docs/CLI.md` shows its output and JSON.

"""
bench = root / "Benchmarks/EventBusBench/results.jsonl"
if bench.exists():
    rows = [json.loads(l) for l in bench.read_text().splitlines() if l.strip()]
    runs = sorted({r.get("run", 1) for r in rows})

    def med(name, field):
        xs = sorted(r[field] for r in rows if r["bench"] == name)
        return xs[len(xs) // 2]

    def rng(name, field, scale=1e6, fmt="{:.2f}"):
        xs = sorted(r[field] for r in rows if r["bench"] == name)
        return fmt.format(xs[0] / scale) + "–" + fmt.format(xs[-1] / scale)

    def floor(name):
        xs = sorted(r.get("floor_ns_before", 0) for r in rows if r["bench"] == name)
        return f"{xs[len(xs) // 2]:.0f} ns [{xs[0]:.0f}–{xs[-1]:.0f}]" if xs and xs[-1] > 0 else "—"

    def verdict(ok):
        return "met" if ok else "**missed**"

    def per_run_ratio(a, fa, b, fb):
        """Median [min, max] over runs of a's field / b's field, both from the same run."""
        xs = []
        for run in runs:
            ra = [r for r in rows if r.get("run", 1) == run and r["bench"] == a]
            rb = [r for r in rows if r.get("run", 1) == run and r["bench"] == b]
            if ra and rb: xs.append(ra[0][fa] / rb[0][fb])
        xs.sort()
        return (xs[len(xs) // 2], xs[0], xs[-1]) if xs else (float("nan"),) * 3

    same = med("inmemory-1to1-same-event", "events_per_sec")
    new_event = med("inmemory-1to1-new-event", "events_per_sec")
    new_payload = med("inmemory-1to1-new-payload", "events_per_sec")
    fifty = med("inmemory-1to50-atleastonce", "deliveries_per_sec")
    fifty_new = med("inmemory-1to50-atleastonce-new-payload", "deliveries_per_sec")
    fifty_dropped = max(r["dropped"] for r in rows if r["bench"].startswith("inmemory-1to50"))
    sem50, idle50 = med("semaphore-handoff", "p50_ns"), med("inmemory-idle-latency", "p50_ns")
    ratio = med("inmemory-idle-latency", "p50_over_semaphore_p50")
    idle99, busy50 = med("inmemory-idle-latency", "p99_ns"), med("inmemory-busy-100k-per-sec", "p50_ns")
    busy99 = med("inmemory-busy-100k-per-sec", "p99_ns")
    enc, dec = med("json-93B", "encode_speedup"), med("json-93B", "decode_speedup")
    enc_ns, fenc_ns = med("json-93B", "jsonvalue_encode_ns"), med("json-93B", "foundation_encode_ns")
    dec_ns, fdec_ns = med("json-93B", "jsonvalue_decode_ns"), med("json-93B", "foundation_decode_ns")
    doc += f"""
## The in-process bus (issue 3)

```sh
Benchmarks/EventBusBench/run.sh 5      # writes Benchmarks/EventBusBench/results.jsonl
python3 Benchmarks/ring/render.py
```

{len(runs)} runs on the machine above, idle; the table gives medians, with the range over the runs in
brackets. This VM's host moves its two vCPUs between near and far placements, and single runs vary by
up to ±30 % with it: before each throughput measure the benchmark bounces one cache line between two
threads pinned to different CPUs and records the one-way time ("floor before it", including half a
clock read per round trip; the project calls a probe over 100 ns a far placement). Latencies
are publish → handler, from `DispatchTime` (uptime ns); the busy subscriber's are measured from the
*intended* send time of a publisher paced at 100k events/s, so queueing is not hidden.

| measure | median [range] | floor before it | target (issue 3) | verdict |
|---|---|---|---|---|
| 1 → 1, one `Event` value published repeatedly | {same / 1e6:.2f} M events/s [{rng("inmemory-1to1-same-event", "events_per_sec")}] | {floor("inmemory-1to1-same-event")} | ≥ 2 M | {verdict(same >= 2e6)} |
| 1 → 1, a new `Event` per publish (shared payload object) | {new_event / 1e6:.2f} M events/s [{rng("inmemory-1to1-new-event", "events_per_sec")}] | {floor("inmemory-1to1-new-event")} | (≥ 2 M) | {verdict(new_event >= 2e6)} |
| 1 → 1, a new `Event` and a new one-key payload object per publish | {new_payload / 1e6:.2f} M events/s [{rng("inmemory-1to1-new-payload", "events_per_sec")}] | {floor("inmemory-1to1-new-payload")} | — | (includes building the dictionary) |
| 1 → 50 subscribers, at-least-once, one `Event` value published repeatedly | {fifty / 1e6:.2f} M deliveries/s [{rng("inmemory-1to50-atleastonce", "deliveries_per_sec")}] | {floor("inmemory-1to50-atleastonce")} | ≥ 5 M | {verdict(fifty >= 5e6)} |
| 1 → 50 subscribers, at-least-once, a new payload object per publish | {fifty_new / 1e6:.2f} M deliveries/s [{rng("inmemory-1to50-atleastonce-new-payload", "deliveries_per_sec")}] | {floor("inmemory-1to50-atleastonce-new-payload")} | (≥ 5 M) | {verdict(fifty_new >= 5e6)} |
| 1 → 50: events dropped, any run | {fifty_dropped:.0f} | — | 0 | {verdict(fifty_dropped == 0)} |
| idle subscriber p50 | {idle50 / 1000:.1f} µs = {ratio}× a semaphore hand-off ({sem50 / 1000:.1f} µs) | — | ≤ 2× | {verdict(ratio <= 2)} |
| idle subscriber p99 | {idle99 / 1000:.1f} µs | — | ≤ 200 µs | {verdict(idle99 <= 200_000)} |
| busy subscriber at 100k/s, p50 (p99) | {busy50 / 1000:.1f} µs ({busy99 / 1000:.1f} µs) | — | ≤ 5 µs | {verdict(busy50 <= 5000)} |
| `JSONValue` encode, 93-byte object | {enc_ns:.0f} ns vs Foundation {fenc_ns:.0f} ns ({enc}×) [{rng("json-93B", "encode_speedup", 1, "{:.1f}")}×] | — | ≥ 3× | {verdict(enc >= 3)} |
| `JSONValue` decode, same object | {dec_ns:.0f} ns vs Foundation {fdec_ns:.0f} ns ({dec}×) [{rng("json-93B", "decode_speedup", 1, "{:.1f}")}×] | — | ≥ 3× | {verdict(dec >= 3)} |

How it got here (each step measured with `perf record -e cpu-clock` on this benchmark, and kept only
when it helped): the subscription queue became a ring of `bufferSize` slots with a lock only publishers
take and a consumer that takes without a lock (`head`/`tail` on separate cache lines, each side caching
the other's counter, slots outside [head, tail) left uninitialized so the consumer only loads a slot and
the publisher only stores it, the publisher prefetching the next slot for write); counters moved from a
bus-wide lock to per-subscription atomics, and the published count is the sequence; publish became
synchronous unless a subscription is full, consumes its event and moves it into the last matching
subscription; the consumer runs the first handler attempt inline and borrows the event; `Event` became a
plain struct (the copy-on-write class cost an allocation per event, freed on the consumer's thread); a
consumer polls up to 40 µs before it sleeps (64 polls with a CPU pause between yields; yielding on every
poll made the pool wake its other thread every few events), at most one poller per spare CPU; and a
consumer that emptied its ring after a burst waits 4 µs before it reads the publishers' `tail` line again,
so one transfer of that line serves several events (about +25 % for 1 → 1 on this VM; only while every
subscription could have a CPU, and never after single events, so paced latency is unchanged). From 0.69 /
1.6 M (1 → 1 / 1 → 50) at the start of this work.

Why "one `Event` value published repeatedly" is the row the targets are judged on, and what the other
rows say: it measures the bus's own cost. The others add the application's: a new `Event` per publish
is a timestamp read; a new payload object is two allocations (the literal's array and the dictionary),
freed on the subscriber's thread.

Sensitivity, 1 → 50 with one `Event` value: all ten million deliveries then share one payload object,
so the publisher's retains (one per subscription's slot, now taken in one burst per publish) and the 50
subscribers' releases all write the same reference count from both CPUs. It is the row that moves most
with the vCPU placement: an earlier 5-run set of this session, with the floor at 175 ns [127–199],
measured 4.78 M/s [4.62–5.53] (below the 5 M target) before the burst and cache-line-aligned locks; this
set's floor is in the table. With a new payload per publish the retains and releases touch different
objects. Removing the per-subscription retain altogether needs a shared log with per-subscription
cursors (one reference per publish, not per slot); it is not built.
"""

    if any(r["bench"].startswith("zc-") for r in rows):
        zs50 = med("zc-pingpong-spin-64", "p50_ns")
        zs99 = med("zc-pingpong-spin-64", "p99_ns")
        zb50 = med("zc-pingpong-block-64", "p50_ns")
        cfl, cfu = med("c-floor", "p50"), med("c-futex", "p50")
        cspin = med("c-rbus-spin-64", "p50")
        z1, z64 = med("zc-tput-b1-64", "events_per_sec"), med("zc-tput-b64-64", "events_per_sec")
        c1, c64 = med("c-rbus-tput-b1-64", "events_per_sec"), med("c-rbus-tput-b64-64", "events_per_sec")
        cring = med("c-cring", "events_per_sec")
        r_spin = per_run_ratio("zc-pingpong-spin-64", "p50_ns", "c-floor", "p50")
        r_block = per_run_ratio("zc-pingpong-block-64", "p50_ns", "c-futex", "p50")
        r_b1 = per_run_ratio("zc-tput-b1-64", "events_per_sec", "c-rbus-tput-b1-64", "events_per_sec")
        doc += f"""
## The shared-memory bus, zero-copy path in Swift (issue 4)

Same command and runs (`EventBusBench --only zc` runs just these rows). The Swift zero-copy path is
`StreamWriter.claim` / `commit` and `StreamReader.poll(max:)` with borrowed `EventView`s, in two
processes, each side on a thread pinned to its own CPU, 64-byte payloads. The references come from
the C ring benchmark (`.build/ringbench`, built by `run.sh`) run by the same benchmark just before
these rows, so each ratio below is taken within one run (median of the per-run ratios [range]).

| measure | Swift zero-copy | reference, same run | ratio [range] | target (issue 4) | verdict |
|---|---|---|---|---|---|
| ping-pong one-way, polling, p50 | {zs50:.0f} ns (p99 {zs99:.0f} ns) | floor {cfl:.0f} ns; RingBus C path {cspin:.0f} ns | {r_spin[0]:.2f}× the floor [{r_spin[1]:.2f}–{r_spin[2]:.2f}] | ≤ 2.3× the floor | {verdict(r_spin[0] <= 2.3)} |
| ping-pong one-way, sleeping consumer, p50 | {zb50 / 1000:.1f} µs | raw futex ping-pong {cfu / 1000:.1f} µs | {r_block[0]:.2f}× [{r_block[1]:.2f}–{r_block[2]:.2f}] | ≤ 1.3× | {verdict(r_block[0] <= 1.3)} |
| 1 → 1, one commit per event | {z1 / 1e6:.2f} M events/s | RingBus C path {c1 / 1e6:.2f} M/s; minimal C SPSC ring {cring / 1e6:.1f} M/s | {r_b1[0]:.2f}× the C path [{r_b1[1]:.2f}–{r_b1[2]:.2f}] | ≥ 0.8× the C path | {verdict(r_b1[0] >= 0.8)} |
| 1 → 1, batch of 64 per commit | {z64 / 1e6:.1f} M events/s | RingBus C path {c64 / 1e6:.1f} M/s | — | ≥ 50 M | {verdict(z64 >= 50e6)} |

The Swift layer adds nothing measurable to the C path (the hot path is the C header's inline code,
inlined into Swift). What separates these rows from their targets is the ring itself, as in the C
section above: a one-way hand-off costs at least two cache-line transfers (the tail's line, then the
record's), plus the commit's fence; a batch of 64 is bounded by the copy and the consumer's per-record
validation.
"""

    if any(r["bench"].startswith("shm-") for r in rows):
        amo, alo, eo = (med(f"shm-1to1-{g}", "events_per_sec") for g in ("amo", "alo", "eo"))
        amo_new = med("shm-1to1-amo-new-payload", "events_per_sec")
        pub_amo = med("shm-1to1-amo", "publish_per_sec")
        r_alo = per_run_ratio("shm-1to1-alo", "events_per_sec", "shm-1to1-amo", "events_per_sec")
        r_eo = per_run_ratio("shm-1to1-eo", "events_per_sec", "shm-1to1-amo", "events_per_sec")
        lossy_lost = max(r["dropped"] for r in rows if r["bench"].startswith("shm-1to1-amo"))
        gating_lost = max(r["dropped"] for r in rows if r["bench"] in ("shm-1to1-alo", "shm-1to1-eo"))
        full = med("shm-1to1-alo-full-ring", "events_per_sec")
        lost_note = ("a lossy subscriber the publisher laps loses events, counted, as at-most-once promises"
                     if lossy_lost else "the rings held each run, so even the lossy subscriber lost none")
        sem50b = med("semaphore-handoff", "p50_ns")
        block50, block99 = med("shm-pingpong-async-block", "p50_ns"), med("shm-pingpong-async-block", "p99_ns")
        spin50, spin99 = med("shm-pingpong-async-spin", "p50_ns"), med("shm-pingpong-async-spin", "p99_ns")
        r_sleep = per_run_ratio("shm-pingpong-async-block", "p50_ns", "c-futex", "p50")
        doc += f"""
## The shared-memory bus, convenience API (issue 4)

Same command and runs (`EventBusBench --only shm` runs just these rows). Two processes: the benchmark
publishes `Event(topic: "t", payload: ["user_id": 123])` (one `Event` value, encoded at every publish;
the last row builds a new payload per publish) on a fresh bus (2 streams of 8 MiB) and re-runs itself
as the subscriber process, whose async handler counts; events/s is the subscriber's, from its first
event to the last of 1,000,000. Ping-pong: the subscriber's handler publishes each "ping" back as a
"pong"; one-way = round trip / 2, 5,000 rounds sleeping (`.block`, a 50 µs pause before each ping so
both sides are asleep when it lands) and 20,000 polling (`.spin`). The sleeping reference is the raw
futex ping-pong of the same run (C, two processes).

| measure | median [range] | floor before it | target (issue 4) | verdict |
|---|---|---|---|---|
| 1 → 1 across processes, at-most-once, `Event` + async handler | {amo / 1e6:.2f} M events/s [{rng("shm-1to1-amo", "events_per_sec")}] (publisher {pub_amo / 1e6:.2f} M/s) | {floor("shm-1to1-amo")} | ≥ 2 M | {verdict(amo >= 2e6)} |
| same, at-least-once (gating, commit after each handler) | {alo / 1e6:.2f} M events/s [{rng("shm-1to1-alo", "events_per_sec")}] = {r_alo[0]:.2f}× at-most-once [{r_alo[1]:.2f}–{r_alo[2]:.2f}] | {floor("shm-1to1-alo")} | ≥ 0.7× | {verdict(r_alo[0] >= 0.7)} |
| same, exactly-once | {eo / 1e6:.2f} M events/s [{rng("shm-1to1-eo", "events_per_sec")}] = {r_eo[0]:.2f}× at-most-once [{r_eo[1]:.2f}–{r_eo[2]:.2f}] | {floor("shm-1to1-eo")} | ≥ 0.5× | {verdict(r_eo[0] >= 0.5)} |
| at-most-once, a new payload object per publish | {amo_new / 1e6:.2f} M events/s [{rng("shm-1to1-amo-new-payload", "events_per_sec")}] | {floor("shm-1to1-amo-new-payload")} | — | (includes building the dictionary) |
| at-least-once, a 1 MiB ring (full for most of the run) | {full / 1e6:.2f} M events/s [{rng("shm-1to1-alo-full-ring", "events_per_sec")}] | {floor("shm-1to1-alo-full-ring")} | — | (publisher and subscriber in lockstep at the full ring) |
| events lost, worst run | at-most-once {lossy_lost:.0f} of 1,000,000; at-least-once and exactly-once {gating_lost:.0f} | — | — | {lost_note} |
| ping-pong one-way, async handlers, sleeping, p50 (p99) | {block50 / 1000:.1f} µs ({block99 / 1000:.1f} µs) = {r_sleep[0]:.2f}× the raw futex ping-pong [{r_sleep[1]:.2f}–{r_sleep[2]:.2f}] (semaphore hand-off {sem50b / 1000:.1f} µs) | — | ≤ 2.5× | {verdict(r_sleep[0] <= 2.5)} |
| ping-pong one-way, async handlers, polling, p50 (p99) | {spin50:.0f} ns ({spin99 / 1000:.1f} µs) | {floor("shm-pingpong-async-spin")} | — | (the polling target is the zero-copy path's, above) |

Where the time goes (`perf record -e cpu-clock -p` on each process): the subscriber is the bound. Per
event it decodes the JSON payload into a dictionary (hashing, an allocation), builds the `Event`, and
makes two async calls (the handler existential and its closure), each a task-allocator frame; at
at-least-once it also commits after each handler (a fence), and the full ring makes producer and
consumer trade the cursor and tail lines for every record. The publisher alone runs at about twice
the at-most-once subscriber's rate, so the lossy subscriber is lapped (and counts it). Changes that
were measured and kept: the body encoded into a reused buffer, JSON object keys sorted on the stack,
strings without escapes copied at once, the topic validated only when it changes and cached as text
on the subscriber, the first handler attempt inline, and the subscriptions run on their bus thread
(a `TaskExecutor`), which removed a thread wake per delivery to a sleeping subscriber (sleeping p50
from 19.6 µs to about 10 µs).
"""

(root / "Docs/BENCHMARKS.md").write_text(doc)
