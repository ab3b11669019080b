// StepsBench.swift: one event's cost on the Event face, step by step, on one thread (no second process,
// no cross-core traffic): what each step adds, for the rows of `ringbus bench --api event` (64 B, 1 KiB,
// 64 KiB: an object with an integer and a string of about the row's size, as `ringbus bench` builds).
//   steps-SIZE-payload:  building the JSONValue object (the application's work);
//   steps-SIZE-event:    that plus Event(topic:payload:) (its timestamp) and dropping it;
//   steps-SIZE-encode:   the payload's JSON bytes alone (payloadBytes: a new array each time);
//   steps-SIZE-publish:  building, Event and publish into a shared-memory ring nobody reads;
//   steps-SIZE-ring:     the zero-copy claim, copy of the same number of bytes and commit, alone;
//   steps-SIZE-deliver:  a subscription reading those events (validated, an Event each, the handler
//                        called, nothing read), per event;
//   steps-SIZE-read:     the same with the handler reading payload["i"] (the first read decodes);
//   steps-SIZE-poll:     a gating StreamReader polling the same records and touching each payload line.
// Each row the best of 3 runs, in ns per event. `--only steps`. Docs/BENCHMARKS.md.

import Foundation
import RingBus
import Synchronization

/// Keeps a value alive and observed, so the optimiser cannot drop the work that made it.
@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

func steps() async throws {
    // STEPS_SIZES=64,1024 (for a profiler): only these rows.
    let sizes = ProcessInfo.processInfo.environment["STEPS_SIZES"].map { Set($0.split(separator: ",").compactMap { Int($0) }) }
    for (size, n) in [(64, 200_000), (1024, 40_000), (65536, 2_000)] where sizes?.contains(size) ?? true {
        let pad = JSONValue.string(String(repeating: "x", count: max(0, size - 24)))
        func best(_ body: () async throws -> Double) async rethrows -> Double {
            var b = Double.infinity
            for _ in 0..<3 { b = min(b, try await body()) }
            return b
        }
        func timed(_ body: () async throws -> Void) async rethrows -> Double {
            let t0 = nowNs()
            try await body()
            return Double(nowNs() - t0) / Double(n)
        }
        let payload = await best { await timed { for i in 0..<n { blackHole(["i": .int(Int64(i)), "pad": pad] as JSONValue) } } }
        let event = await best {
            await timed { for i in 0..<n { blackHole(Event(topic: "bench", payload: ["i": .int(Int64(i)), "pad": pad])) } }
        }
        let one = Event(topic: "bench", payload: ["i": 1, "pad": pad])
        let encode = await best { await timed { for _ in 0..<n { blackHole(one.payloadBytes) } } }
        let bodyBytes = one.payloadBytes.count + 24 // the envelope's header (Docs/LAYOUT.md §8.4)

        var o = SharedMemoryBusOptions()
        o.segment.streams = 1
        o.segment.consumerSlots = 4
        o.segment.capacity = 16 << 20
        o.segment.maxEventSize = max(4096, bodyBytes + 256)
        // Rounds of k events, k filling half the ring: a ring in use is warm (in cache, pages mapped), as
        // `ringbus bench`'s are; n events at once would measure page faults and memory bandwidth.
        let k = min(n, o.segment.capacity / 2 / (bodyBytes + 64)) & ~1, rounds = max(2, n / k) & ~1
        let name = "bench-\(getpid())-steps-\(size)"
        let bus = try SharedMemoryEventBus(name: name, config: shmConfig(.atLeastOnce), options: o)
        defer { try? SharedMemoryEventBus.remove(name: name) }
        let seg = try SharedSegment.create(name: name + "-zc", parameters: o.segment)
        defer { try? SharedSegment.remove(name: name + "-zc") }
        let w = try StreamWriter(segment: seg)
        let r = try StreamReader(segment: seg, mode: .gating)
        let topic = try PreparedTopic("bench")
        let source = [UInt8](repeating: 0x78, count: bodyBytes)
        // Sums over the rounds of one run; the best of 3 runs is kept (the first, untimed, warms up).
        var best = [String: Double]()
        for run in 0..<4 {
            var sum = [String: UInt64]()
            for round in 0..<rounds {
                // Two durable cursors at the tail, so each delivery reads exactly this round's events.
                for slot in 0..<2 {
                    await try bus.subscribe(toTopics: ["bench"], durableName: "steps-\(slot)", start: .committed, limit: nil,
                                            ClosureHandler { _ in }).cancel()
                }
                var t0 = nowNs()
                for i in 0..<(round % 2 == 0 ? k : k / 2) {
                    try await bus.publish(Event(topic: "bench", payload: ["i": .int(Int64(i)), "pad": pad]))
                }
                sum["publish", default: 0] += nowNs() - t0
                // Rounds alternate k and k/2 events: the subscription's start (the bus thread's first pass,
                // the first batch read) is not a per-event cost, the difference of the two is.
                let m = round % 2 == 0 ? k : k / 2
                for (reads, slot) in [(false, 0), (true, 1)] {
                    sum[(reads ? "read" : "deliver") + (m == k ? "" : "-half"), default: 0]
                        += try await deliverTime(bus, slot: slot, count: m, reads: reads)
                }
                // The ring alone, on a segment of its own: claim, copy the body's bytes, commit; then poll.
                t0 = nowNs()
                for _ in 0..<k {
                    guard let dst = try w.claim(topic: topic, payloadLength: bodyBytes) else { throw EventBusError.timedOut("ring full") }
                    source.withUnsafeBytes { dst.copyMemory(from: $0) }
                    w.commit()
                }
                sum["ring", default: 0] += nowNs() - t0
                var touched: UInt8 = 0, got = 0
                t0 = nowNs()
                while got < k {
                    got += r.poll(max: 256) { (v: borrowing EventView) in
                        var line = 0
                        while line < v.payload.count { touched &+= v.payload[line]; line += 64 }
                    }
                }
                r.commit()
                sum["poll", default: 0] += nowNs() - t0
                blackHole(touched)
            }
            if run > 0 {
                let published = rounds / 2 * (k + k / 2)
                for step in ["publish"] { best[step] = min(best[step] ?? .infinity, Double(sum[step]!) / Double(published)) }
                for step in ["ring", "poll"] { best[step] = min(best[step] ?? .infinity, Double(sum[step]!) / Double(rounds * k)) }
                for step in ["deliver", "read"] {
                    let perEvent = (Double(sum[step]!) - Double(sum[step + "-half"]!)) / Double(rounds / 2 * (k - k / 2))
                    best[step] = min(best[step] ?? .infinity, perEvent)
                }
            }
        }
        await bus.close()
        let (publish, deliver, read, ring, poll) = (best["publish"]!, best["deliver"]!, best["read"]!, best["ring"]!, best["poll"]!)
        let rows: [(String, Double)] = [("payload", payload), ("event", event), ("encode", encode), ("publish", publish),
                                        ("ring", ring), ("deliver", deliver), ("read", read), ("poll", poll)]
        for (step, ns) in rows { emit("steps-\(size)-\(step)", [("ns_per_event", ns)]) }
    }
}

/// Nanoseconds from subscribing the durable cursor `steps-SLOT` to the handler's `count`th event.
private func deliverTime(_ bus: SharedMemoryEventBus, slot: Int, count k: Int, reads: Bool) async throws -> UInt64 {
    let count = Atomic<Int>(0), end = Atomic<UInt64>(0)
    let t0 = nowNs()
    let sub = try await bus.subscribe(toTopics: ["bench"], durableName: "steps-\(slot)", start: .committed, limit: k, ClosureHandler { e in
        if reads { blackHole(e.payload["i"]) }
        if count.wrappingAdd(1, ordering: .relaxed).newValue == k { end.store(nowNs(), ordering: .releasing) }
    })
    let deadline = nowNs() + 60_000_000_000
    while end.load(ordering: .acquiring) == 0 {
        guard nowNs() < deadline else { throw EventBusError.timedOut("delivered \(count.load(ordering: .relaxed)) of \(k)") }
        try await Task.sleep(for: .microseconds(100)) // not spinning: the bus thread needs this CPU
    }
    await sub.cancel()
    return end.load(ordering: .acquiring) - t0
}
