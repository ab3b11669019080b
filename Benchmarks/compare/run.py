#!/usr/bin/env python3
"""The comparison runner: RingBus against the floor, the C references and what users would pick
instead (pipe, Unix socket, POSIX message queue), on this machine, in one run.

    python3 Benchmarks/compare/run.py            # the full run: results.json and Docs/COMPARISON.md
    python3 Benchmarks/compare/run.py --quick    # seconds: a few rows, small counts (what CI runs)

Every row is preceded by the one-cache-line floor probe (`.build/ringbench floor`), recorded with it;
a row whose probe exceeds 100 ns is reported but marked "far placement" (the host moved the vCPUs apart).
Processes are pinned to different CPUs by the programs themselves. Latency is one-way (round trip / 2).
Brokers: ZeroMQ (ipc://), Redis pub/sub and NATS core pub/sub (loopback servers started and stopped by
the runner), installed from Debian when the runner runs as root. Fixed-rate rows (10k, 100k, 1M
events/s) measure latency from each event's intended send time. The full run also draws SVG plots next to the document (matplotlib, installed
from PyPI when missing); the quick run draws none.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# POSIX message queues cannot carry messages above this system's limit (8192 by default).
MQ_MAX = int(Path("/proc/sys/fs/mqueue/msgsize_max").read_text()) if Path("/proc/sys/fs/mqueue/msgsize_max").exists() else 8192
BUILD = ROOT / ".build"


def sh(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, check=True, text=True, capture_output=True, **kw)


def build():
    BUILD.mkdir(exist_ok=True)
    cc = os.environ.get("CC") or ("cc" if subprocess.run(["which", "cc"], capture_output=True).returncode == 0 else "clang")
    subprocess.run(["scripts/ensure-deps"], cwd=ROOT, check=True)
    c_ring = [str(p) for p in sorted((ROOT / "CSupport/CRingBus").glob("*.c"))]
    sh([cc, "-O2", "-std=gnu11", "-ICSupport/CRingBus/include", *c_ring, "Benchmarks/ring/ringbench.c",
        "-lpthread", "-o", str(BUILD / "ringbench")])
    sh([cc, "-O2", "-o", str(BUILD / "ipc"), "Benchmarks/compare/ipc.c", "-lrt"])
    # The brokers' client libraries and servers, from Debian, when this runner may install them.
    if os.geteuid() == 0 and not all(Path(p).exists() for p in ("/usr/include/zmq.h", "/usr/include/hiredis/hiredis.h",
                                                                 "/usr/bin/redis-server", "/usr/sbin/nats-server")):
        subprocess.run(["apt-get", "install", "-y", "-qq", "libzmq3-dev", "libhiredis-dev", "redis-server", "nats-server"],
                       capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    r = subprocess.run([cc, "-O2", "-o", str(BUILD / "brokers"), "Benchmarks/compare/brokers.c", "-lzmq", "-lhiredis"],
                       cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        print("brokers.c did not build (no libzmq3-dev / libhiredis-dev?): ZeroMQ and Redis rows skipped", file=sys.stderr)
    r = subprocess.run(["swift", "build", "-c", "release", "--product", "ringbus"], cwd=ROOT, text=True, capture_output=True)
    if r.returncode != 0:
        sys.exit("swift build failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])


def json_lines(out):
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def floor():
    return json_lines(sh([str(BUILD / "ringbench"), "floor", "20000"]).stdout)[0]["p50"]


def ringbench(mode, n):
    return json_lines(sh([str(BUILD / "ringbench"), mode, str(n)]).stdout)


def ipc(*args):
    return json_lines(sh([str(BUILD / "ipc"), *map(str, args)], timeout=600).stdout)[0]


def brokers(*args):
    return json_lines(sh([str(BUILD / "brokers"), *map(str, args)], timeout=600).stdout)[0]


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A broker on a free loopback port for the run (when its binary is installed), stopped at the end."""
    def __init__(self, binary, args):
        self.port, self.proc = free_port(), None
        if Path(binary).exists() and (BUILD / "brokers").exists():
            argv = [binary] + [a.replace("PORT", str(self.port)) for a in args]
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)


REDIS = NATS = None


def ringbus_bench(*args):
    r = sh([str(BUILD / "release/ringbus"), "bench", "--json", *map(str, args)], timeout=900)
    return json_lines(r.stdout)[0]


def have_brokers():
    return (BUILD / "brokers").exists() and REDIS is not None and REDIS.proc is not None


def plan(quick):
    """(row name, family, kind, size, function returning a result dict)."""
    sizes = [64] if quick else [64, 1024, 65536]
    n_lat = 2000 if quick else 20000
    n_lat_block = 500 if quick else 5000
    rows = []

    def add(name, family, kind, size, fn):
        rows.append((name, family, kind, size, fn))

    # The references (64 B only: the C ring benchmark's message size).
    add("floor (one cache line)", "reference", "latency", 64, lambda: ringbench("floor", n_lat)[0])
    add("raw futex ping-pong", "reference", "latency", 64, lambda: ringbench("futex", n_lat_block)[0])
    add("minimal C SPSC ring", "reference", "throughput", 64, lambda: ringbench("cring", 2_000_000 if quick else 20_000_000)[0])
    add("C ring, 64-message batches by rep movsb", "reference", "throughput", 64,
        lambda: ringbench("cring-batch", 20_000_000 if quick else 200_000_000)[0])
    add("RingBus C path, busy-poll", "reference", "latency", 64, lambda: ringbench("rbus-spin", n_lat)[0])
    # Fixed rates: latency from each event's intended send time (queueing is not hidden), 64 B.
    for rate in ([100_000] if quick else [10_000, 100_000, 1_000_000]):
        n = max(2000, rate // (50 if quick else 5))
        add(f"RingBus zero-copy at {rate:,} events/s, from intended send time", "ringbus", "latency", 64,
            lambda r=rate, n=n: ringbus_bench("--rate", r, "--events", n, "--guarantee", "at-least-once"))
    for size in sizes:
        n_tput = (20_000 if size >= 65536 else 200_000) if quick else (100_000 if size >= 65536 else 2_000_000)
        n_ev = max(2000, n_tput // 10)
        add("RingBus zero-copy, busy-poll", "ringbus", "latency", size, lambda s=size: ringbus_bench("--mode", "pingpong", "--events", n_lat, "--size", s))
        add("RingBus zero-copy, sleeping", "ringbus", "latency", size, lambda s=size: ringbus_bench("--mode", "pingpong", "--wait", "block", "--events", n_lat_block, "--size", s))
        add("RingBus Event API, busy-poll", "ringbus", "latency", size, lambda s=size: ringbus_bench("--mode", "pingpong", "--api", "event", "--events", n_lat_block, "--size", s))
        add("RingBus Event API, sleeping", "ringbus", "latency", size, lambda s=size: ringbus_bench("--mode", "pingpong", "--api", "event", "--wait", "block", "--events", n_lat_block, "--size", s))
        add("pipe", "peer", "latency", size, lambda s=size: ipc("pingpong", "pipe", s, n_lat_block))
        add("Unix domain socket", "peer", "latency", size, lambda s=size: ipc("pingpong", "uds", s, n_lat_block))
        if size <= MQ_MAX:
            add("POSIX message queue", "peer", "latency", size, lambda s=size: ipc("pingpong", "mq", s, n_lat_block))
        if have_brokers():
            add("ZeroMQ PAIR, ipc://", "peer", "latency", size, lambda s=size: brokers("zmq", "pingpong", s, n_lat_block))
            add("Redis pub/sub, loopback", "peer", "latency", size, lambda s=size: brokers("redis", "pingpong", s, n_lat_block, REDIS.port))
        if NATS is not None and NATS.proc is not None:
            add("NATS core pub/sub, loopback", "peer", "latency", size, lambda s=size: brokers("nats", "pingpong", s, n_lat_block, NATS.port))
        # Gating consumers (nothing lost, the producer waits when the ring is full): flow-controlled like
        # the pipe and the socket, so the rows compare the same thing.
        add("RingBus zero-copy, commit per event", "ringbus", "throughput", size,
            lambda s=size, n=n_tput: ringbus_bench("--guarantee", "at-least-once", "--events", n, "--size", s))
        add("RingBus zero-copy, batch of 64", "ringbus", "throughput", size,
            lambda s=size, n=n_tput: ringbus_bench("--api", "batch", "--guarantee", "at-least-once", "--events", n, "--size", s))
        for g in ([] if quick else ["at-least-once", "exactly-once"]) + ["at-most-once"]:
            add(f"RingBus Event API, {g}", "ringbus", "throughput", size,
                lambda s=size, g=g, n=n_ev: ringbus_bench("--api", "event", "--guarantee", g, "--wait", "adaptive", "--events", n, "--size", s))
        add("pipe, one write per message", "peer", "throughput", size, lambda s=size, n=n_tput: ipc("tput", "pipe", s, n // 2, 1))
        add("Unix domain socket, one write per message", "peer", "throughput", size, lambda s=size, n=n_tput: ipc("tput", "uds", s, n // 2, 1))
        add("Unix domain socket, 64 messages per write", "peer", "throughput", size, lambda s=size, n=n_tput: ipc("tput", "uds", s, n, 64))
        if size <= MQ_MAX:
            add("POSIX message queue", "peer", "throughput", size, lambda s=size, n=n_tput: ipc("tput", "mq", s, n // 4, 1))
        if have_brokers():
            add("ZeroMQ PUSH/PULL, ipc://", "peer", "throughput", size, lambda s=size, n=n_tput: brokers("zmq", "tput", s, n // 4))
            add("Redis pub/sub, loopback, 64 PUBLISH pipelined", "peer", "throughput", size,
                lambda s=size, n=n_tput: brokers("redis", "tput", s, max(1000, n // 20), REDIS.port))
        if NATS is not None and NATS.proc is not None:
            add("NATS core pub/sub, loopback, 64 PUB per write", "peer", "throughput", size,
                lambda s=size, n=n_tput: brokers("nats", "tput", s, max(1000, n // 10), NATS.port))
    return rows


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    virt = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True).stdout.strip() or "unknown"
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(), "virtualisation": virt}


def run(quick):
    results = []
    for name, family, kind, size, fn in plan(quick):
        f = floor()
        try:
            r = fn()
        except subprocess.CalledProcessError as e:
            print(f"  {name} {size} B: failed: {e.stderr.strip()[:200]}", file=sys.stderr)
            continue
        row = {"name": name, "family": family, "kind": kind, "size": size, "floor_ns_before": f, "far": f > 100}
        if kind == "latency":
            lat = r.get("latency_ns") or r
            row.update({k: lat[k] for k in ("p50", "p90", "p99", "p999", "max")})
        else:
            row["events_per_sec"] = r["events_per_sec"]
        results.append(row)
        shown = f"p50 {row['p50']} ns" if kind == "latency" else f"{row['events_per_sec'] / 1e6:.2f} M/s"
        print(f"  {name}, {size} B: {shown} (floor before: {f} ns)", file=sys.stderr)
    return results


def plots(data, docs_dir):
    """SVG plots for each message size: latency percentiles (log scale) and throughput bars (log
    scale). Installs matplotlib from PyPI when it is missing; returns the file names written."""
    try:
        import matplotlib
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib"], check=True)
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = "ringbus"  # stable ids: regenerating the same data gives the same file
    written = []
    rows = data["rows"]
    for size in sorted({r["size"] for r in rows}):
        lat = [r for r in rows if r["size"] == size and r["kind"] == "latency"]
        if size == 64:
            lat = [r for r in rows if r["kind"] == "latency" and (r["size"] == 64)]
        if lat:
            fig, ax = plt.subplots(figsize=(8, 4.5))
            labels = ["p50", "p90", "p99", "p99.9", "max"]
            for r in lat:
                ys = [r["p50"], r["p90"], r["p99"], r["p999"], r["max"]]
                style = "-" if r["family"] == "ringbus" else "--" if r["family"] == "peer" else ":"
                ax.plot(labels, ys, style, marker="o", label=r["name"])
            ax.set_yscale("log")
            ax.set_ylabel("one-way latency, ns (log scale)")
            ax.set_title(f"One-way latency percentiles, {size} B messages, two processes", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="upper left")
            fig.tight_layout()
            name = f"compare-latency-{size}.svg"
            fig.savefig(Path(docs_dir) / name, metadata={"Date": None})
            plt.close(fig)
            written.append(name)
        tput = [r for r in rows if r["size"] == size and r["kind"] == "throughput"]
        if tput:
            fig, ax = plt.subplots(figsize=(8, 0.4 * len(tput) + 1.2))
            colours = ["tab:blue" if r["family"] == "ringbus" else "tab:orange" if r["family"] == "peer" else "tab:gray" for r in tput]
            ax.barh([r["name"] for r in tput], [r["events_per_sec"] for r in tput], color=colours)
            ax.set_xscale("log")
            ax.set_xlabel("messages per second, 1 -> 1 (log scale)")
            ax.set_title(f"Throughput, {size} B messages: RingBus blue, peers orange, references grey", fontsize=9)
            ax.invert_yaxis()
            ax.grid(True, axis="x", which="both", alpha=0.3)
            ax.tick_params(axis="y", labelsize=7)
            fig.tight_layout()
            name = f"compare-throughput-{size}.svg"
            fig.savefig(Path(docs_dir) / name, metadata={"Date": None})
            plt.close(fig)
            written.append(name)
    return written


def fmt_ns(v):
    return f"{v / 1000:.1f} µs" if v >= 10_000 else f"{v} ns"


def render(doc_path, data, images=()):
    rows = data["rows"]
    m = data["machine"]
    out = [
        "# RingBus against the floor and the peers",
        "",
        "Generated by `python3 Benchmarks/compare/run.py` (results in `Benchmarks/compare/results.json`), one run on",
        f"this machine: {m['cpu']}, {m['cpus']} CPUs, kernel {m['kernel']}, virtualisation: {m['virtualisation']};",
        f"{data['date']}. Each row was measured right after a one-cache-line floor probe (its value is in the",
        "row); rows measured with the probe above 100 ns are marked *far placement* (the host had moved the",
        "vCPUs apart; compare such rows with care). Latency is one-way (round trip / 2) between two processes",
        "pinned to different CPUs; throughput is 1 → 1 messages per second between two processes.",
        "",
        "Brokers: ZeroMQ over ipc:// (PAIR for ping-pong, PUSH/PULL for throughput), Redis pub/sub and NATS",
        "core pub/sub (its text protocol) on loopback servers the runner starts and stops",
        "(Benchmarks/compare/brokers.c; libzmq, hiredis, redis-server and nats-server from Debian).",
        "Fixed-rate rows publish at a steady rate and measure each event's latency from its intended send",
        "time (a paced producer, a gating consumer), so queueing is not hidden. POSIX message queues are measured up to this system's message size",
        f"limit ({MQ_MAX} bytes, /proc/sys/fs/mqueue/msgsize_max). RingBus's zero-copy rows write every payload",
        "byte into the ring and the consumer reads every cache line of it in place; ping-pong replies carry",
        "the whole payload back, as the pipe, socket and queue rows do. RingBus throughput rows use gating",
        "consumers (the producer waits when the ring is full; nothing is lost), like the flow-controlled peers.",
        "",
    ]
    for size in sorted({r["size"] for r in rows}):
        lat = [r for r in rows if r["size"] == size and r["kind"] == "latency"]
        tput = [r for r in rows if r["size"] == size and r["kind"] == "throughput"]
        out += [f"## {size} B messages", ""]
        for img in images:
            if img.endswith(f"-{size}.svg"):
                out += [f"![{img}]({img})", ""]
        if lat:
            out += ["| one-way latency | p50 | p90 | p99 | p99.9 | max | floor before |", "|---|---|---|---|---|---|---|"]
            for r in lat:
                far = " (far placement)" if r["far"] else ""
                out.append(f"| {r['name']} | {fmt_ns(r['p50'])} | {fmt_ns(r['p90'])} | {fmt_ns(r['p99'])} | "
                           f"{fmt_ns(r['p999'])} | {fmt_ns(r['max'])} | {r['floor_ns_before']} ns{far} |")
            out.append("")
        if tput:
            out += ["| 1 → 1 throughput | messages/s | MB/s | floor before |", "|---|---|---|---|"]
            for r in tput:
                far = " (far placement)" if r["far"] else ""
                rate = r['events_per_sec']
                shown_rate = f"{rate / 1e6:.2f} M" if rate >= 1e5 else f"{rate / 1e3:.1f} k"
                out.append(f"| {r['name']} | {shown_rate} | {rate * size / 1e6:.0f} | "
                           f"{r['floor_ns_before']} ns{far} |")
            out.append("")
    out += ratios(rows)
    Path(doc_path).write_text("\n".join(out) + "\n")


def ratios(rows):
    def get(name, kind, size=64, field=None):
        r = next((x for x in rows if x["name"] == name and x["kind"] == kind and x["size"] == size), None)
        return None if r is None else r[field or ("p50" if kind == "latency" else "events_per_sec")]

    def line(text, value, target, ok):
        if value is None:
            return f"| {text} | not measured | {target} | — |"
        return f"| {text} | {value:.2f}× | {target} | {'met' if ok(value) else '**missed**'} |"

    fl, cpath, zc = get("floor (one cache line)", "latency"), get("RingBus C path, busy-poll", "latency"), get("RingBus zero-copy, busy-poll", "latency")
    uds_lat, futex, sleep = get("Unix domain socket", "latency"), get("raw futex ping-pong", "latency"), get("RingBus zero-copy, sleeping", "latency")
    per, batch, cring = get("RingBus zero-copy, commit per event", "throughput"), get("RingBus zero-copy, batch of 64", "throughput"), get("minimal C SPSC ring", "throughput")
    movsb = get("C ring, 64-message batches by rep movsb", "throughput")
    uds1, uds64 = get("Unix domain socket, one write per message", "throughput"), get("Unix domain socket, 64 messages per write", "throughput")
    div = lambda a, b: None if a is None or b is None or b == 0 else a / b
    brokers_tput = [x for x in (get("ZeroMQ PUSH/PULL, ipc://", "throughput"),
                                get("Redis pub/sub, loopback, 64 PUBLISH pipelined", "throughput"),
                                get("NATS core pub/sub, loopback, 64 PUB per write", "throughput")) if x is not None]
    best_broker = max(brokers_tput) if brokers_tput else None
    return [
        "## Against the targets of issue 6 (64 B, ratios within this run)", "",
        "| target | measured | wanted | verdict |", "|---|---|---|---|",
        line("busy-poll one-way p50, C path / floor", div(cpath, fl), "≤ 2.0×", lambda v: v <= 2.0),
        line("busy-poll one-way p50, Swift zero-copy / floor", div(zc, fl), "≤ 2.3×", lambda v: v <= 2.3),
        line("Unix socket p50 / Swift zero-copy p50", div(uds_lat, zc), "≥ 50×", lambda v: v >= 50),
        line("sleeping consumer p50 / raw futex ping-pong p50", div(sleep, futex), "≤ 1.3×", lambda v: v <= 1.3),
        line("per-event commit / minimal C ring", div(per, cring), "≥ 0.8×", lambda v: v >= 0.8),
        line("batch of 64 / Unix socket with 64 messages per write", div(batch, uds64), "≥ 2×", lambda v: v >= 2),
        line("batch of 64 / Unix socket with one write per message", div(batch, uds1), "≥ 20×", lambda v: v >= 20),
        line("batch of 64 / the rep movsb ring", div(batch, movsb), "≥ 0.25×", lambda v: v >= 0.25),
        line("per-event commit / best broker (ZeroMQ, Redis or NATS)", div(per, best_broker), "≥ 5×", lambda v: v >= 5),
        "",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="seconds: few rows, small counts")
    ap.add_argument("--out", default=None, help="results JSON (default: Benchmarks/compare/results.json; quick: a temporary file)")
    ap.add_argument("--doc", default=None, help="the Markdown to write (default: Docs/COMPARISON.md; quick: none)")
    a = ap.parse_args()
    started = time.time()
    build()
    global REDIS, NATS
    REDIS = Server("/usr/bin/redis-server", ["--port", "PORT", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
    NATS = Server("/usr/sbin/nats-server", ["-a", "127.0.0.1", "-p", "PORT"])
    data = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": a.quick,
            "rows": run(a.quick)}
    REDIS.stop()
    NATS.stop()
    out = a.out or ("/tmp/ringbus-compare-quick.json" if a.quick else str(ROOT / "Benchmarks/compare/results.json"))
    Path(out).write_text(json.dumps(data, indent=1) + "\n")
    doc = a.doc or (None if a.quick else str(ROOT / "Docs/COMPARISON.md"))
    if doc:
        render(doc, data, plots(data, Path(doc).parent))
    expected = len(plan(a.quick))
    print(f"{len(data['rows'])} of {expected} rows in {time.time() - started:.0f} s; wrote {out}" + (f" and {doc}" if doc else ""), file=sys.stderr)
    if len(data["rows"]) != expected:
        sys.exit(1)


if __name__ == "__main__":
    main()
