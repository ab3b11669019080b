// Bench.swift: `ringbus bench`, a measurement on a temporary bus between this process (the producer)
// and consumer processes it starts (`ringbus bench-consumer`), pinned to different CPUs when there are
// enough; the one-cache-line floor is measured first so the numbers can be read against the machine.
// Removes its temporary buses however it ends (SIGINT and SIGTERM included).

import ArgumentParser
import Dispatch
import Foundation
import Histogram
import RingBus
import RingBusBenchSupport
import Synchronization

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a bus on this machine: producer and consumer processes on a temporary bus.")

    @Option(help: "throughput (1 -> 1), pingpong (one-way latency = round trip / 2) or fanout (1 -> K).") var mode: String = "throughput"
    // `.unconditional`: a value such as -1 is the option's value (then refused by its range), not a flag.
    @Option(parsing: .unconditional, help: "Events to send, 1 to 1000000000 (default: 2000000 throughput, 100000 fanout, 20000 pingpong).") var events: Int?
    @Option(parsing: .unconditional, help: "Payload bytes per event, 8 bytes to 1MiB.") var size: ByteSize = ByteSize(bytes: 64)
    @Option(parsing: .unconditional, help: "Consumer processes, 1 to 32 (fanout; 1 otherwise).") var consumers: Int?
    @Option(help: "How consumers wait: spin, adaptive or block.") var wait: String = "spin"
    @Option(help: "raw (claim, commit per event), batch (64 per commit), event (Event with a JSONValue payload, async handler) or codable (Event(topic:encoding:) of a Codable struct, throughput and fanout).") var api: String = "raw"
    @Option(help: "at-most-once (lossy consumers), at-least-once or exactly-once (gating).") var guarantee: String = "at-most-once"
    @Option(parsing: .unconditional, help: "Throughput with --api raw only: publish at this steady rate (1 to 50000000 events per second) and measure each event's latency from its intended send time, so queueing is not hidden.") var rate: Double?
    @Flag(help: "One JSON object with the results.") var json = false

    var eventCount: Int { events ?? (mode == "pingpong" ? 20_000 : mode == "fanout" ? 100_000 : 2_000_000) }
    var consumerCount: Int { mode == "fanout" ? (consumers ?? 4) : 1 }
    /// Never more spinners than CPUs (they would take turns by scheduler ticks): spinning consumers
    /// that would not each have a CPU beside the producer wait adaptively instead.
    var effectiveWait: String { wait == "spin" && consumerCount + 1 > RingBusSystem.onlineCPUs ? "adaptive" : wait }

    func validate() throws {
        guard ["throughput", "pingpong", "fanout"].contains(mode) else { throw ValidationError("--mode must be throughput, pingpong or fanout") }
        guard ["spin", "adaptive", "block"].contains(wait) else { throw ValidationError("--wait must be spin, adaptive or block") }
        guard ["raw", "batch", "event", "codable"].contains(api) else { throw ValidationError("--api must be raw, batch, event or codable") }
        guard ["at-most-once", "at-least-once", "exactly-once"].contains(guarantee) else {
            throw ValidationError("--guarantee must be at-most-once, at-least-once or exactly-once")
        }
        try checkRange("--events", events, 1...1_000_000_000, "1 to 1000000000")
        guard (8...(1 << 20)).contains(size.bytes) else { throw ValidationError("--size must be 8 bytes to 1MiB, got \(size)") }
        try checkRange("--consumers", consumers, 1...32, "1 to 32")
        if mode == "pingpong" && api == "batch" { throw ValidationError("pingpong sends one event at a time: use --api raw or event") }
        if mode == "pingpong" && api == "codable" { throw ValidationError("--api codable is for throughput and fanout: use --api event") }
        if mode != "fanout" && consumers != nil && consumers != 1 { throw ValidationError("--consumers is for --mode fanout") }
        if let r = rate {
            // At least 1: the paced producer's intended send times (index × 1e9 / rate ns) stay in UInt64.
            try checkRange("--rate", r, 1...50_000_000, "1 to 50000000 events per second")
            guard mode == "throughput", api == "raw" else { throw ValidationError("--rate is for --mode throughput --api raw") }
        }
    }

    func run() async throws {
        try await reporting { try await measure() }
    }

    private func measure() async throws {
        let bus = "bench-\(getpid())", reply = "bench-\(getpid())-reply"
        let cleanup = BenchCleanup([bus, reply])
        defer { cleanup.removeAll() }
        var p = SegmentParameters()
        p.streams = 2
        p.consumerSlots = consumerCount + 4
        p.maxEventSize = max(64 << 10, size.bytes + 1024)
        var capacity = 8 << 20
        while capacity < p.maxEventSize * 8 { capacity <<= 1 } // a power of two holding 8 of the largest events
        p.capacity = capacity
        let segment = try SharedSegment.create(name: bus, parameters: p)
        let replySegment = mode == "pingpong" && api == "raw" ? try SharedSegment.create(name: reply, parameters: p) : nil
        let floor = RingBusSystem.cacheLineFloorNanoseconds(rounds: 20_000)

        var children: [(Process, Pipe)] = []
        defer { for (c, _) in children where c.isRunning { kill(c.processIdentifier, SIGKILL); c.waitUntilExit() } }
        for k in 0..<consumerCount {
            let c = Process()
            c.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            c.arguments = ["bench-consumer", bus, mode, api == "codable" ? "event" : api, guarantee, effectiveWait, String(eventCount),
                           String(1 + k % max(1, RingBusSystem.onlineCPUs - 1)), rate == nil ? "0" : "1"]
            let out = Pipe()
            c.standardOutput = out
            try c.run()
            children.append((c, out))
        }
        for (c, out) in children where readLine(from: out) != "ready" {
            throw failure("a consumer process (pid \(c.processIdentifier)) did not start")
        }

        let progress = Progress(total: eventCount, enabled: !json && isatty(2) != 0)
        var latencies: Histogram<UInt64>?
        let started = DispatchTime.now().uptimeNanoseconds
        switch (mode, api) {
        case ("pingpong", "raw"):
            latencies = try rawPingPong(segment, replySegment!, progress)
        case ("pingpong", _):
            latencies = try await eventPingPong(bus, progress)
        case (_, "event"), (_, "codable"):
            try await eventProduce(bus, codable: api == "codable", progress)
        default:
            try rawProduce(segment, batch: api == "batch" ? 64 : 1, progress)
        }
        let producerSecs = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        progress.finish()

        // Each consumer reports its events and the seconds from its first to its last.
        var secs = 0.0, received = 0, dropped = 0
        var paced: JSONValue?
        for (c, out) in children {
            if mode == "pingpong" { kill(c.processIdentifier, SIGKILL); c.waitUntilExit(); continue }
            guard let line = readLine(from: out), let r = try? JSONValue(decoding: Array(line.utf8)) else {
                throw failure("a consumer process (pid \(c.processIdentifier)) did not report")
            }
            c.waitUntilExit()
            secs = max(secs, r["secs"]?.doubleValue ?? 0)
            received += Int(r["received"]?.intValue ?? 0)
            dropped += Int(r["dropped"]?.intValue ?? 0)
            if let l = r["latency_ns"], !l.isNull { paced = l }
        }
        // Delivered: what the consumers received, over their first-to-last seconds. Published: what this
        // process published, over its own seconds. At-most-once consumers may lose events (counted), so
        // the two differ exactly when something was lost; ping-pong counts round trips (nothing is lost).
        let deliveries = mode == "pingpong" ? eventCount : received
        let elapsed = mode == "pingpong" ? producerSecs : max(secs, 1e-9)
        let rates = Rates(delivered: Double(deliveries) / elapsed, published: Double(eventCount) / max(producerSecs, 1e-9),
                          received: deliveries, lost: mode == "pingpong" ? 0 : dropped)
        try output(rates, latencies: latencies, paced: paced, floor: floor)
    }

    /// What a run measured, for ``output(_:latencies:paced:floor:)``.
    private struct Rates {
        /// Deliveries per second at the consumers (all of them, for fanout).
        let delivered: Double
        /// Events per second this process published.
        let published: Double
        /// Deliveries (all consumers) and events lost by lossy consumers.
        let received: Int
        let lost: Int
    }

    // MARK: Producers

    private func rawProduce(_ segment: SharedSegment, batch: Int, _ progress: Progress) throws {
        let n = eventCount, size = size.bytes
        let interval = rate.map { UInt64(1e9 / $0) }
        try RingBusSystem.onPinnedThread(0) {
            let w = try StreamWriter(segment: segment)
            let topic = try PreparedTopic("bench")
            // The payload is written in full (copied from the application's buffer), as a real publish
            // from bytes does; the consumer reads every cache line of it in place.
            let source = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
            defer { source.deallocate() }
            source.initializeMemory(as: UInt8.self, repeating: 7)
            var i = 0
            if let interval { // paced: each event at its intended time, which it carries in bytes 8..<16
                let start = DispatchTime.now().uptimeNanoseconds + 1_000_000
                while i < n {
                    let intended = start + UInt64(i) * interval
                    while DispatchTime.now().uptimeNanoseconds < intended { RingBusSystem.pause() }
                    while true {
                        guard let dst = try w.claim(topic: topic, payloadLength: size) else { continue }
                        source.storeBytes(of: UInt64(i), as: UInt64.self)
                        source.storeBytes(of: intended, toByteOffset: 8, as: UInt64.self)
                        dst.copyMemory(from: UnsafeRawBufferPointer(source))
                        w.commit()
                        break
                    }
                    i += 1
                    progress.update(i)
                }
                return
            }
            while i < n {
                var k = 0
                while k < batch && i + k < n {
                    guard let dst = try w.claim(topic: topic, payloadLength: size) else { break } // full: commit, retry
                    source.storeBytes(of: UInt64(i + k), as: UInt64.self)
                    dst.copyMemory(from: UnsafeRawBufferPointer(source))
                    k += 1
                }
                w.commit()
                i += k
                if k == 0 { RingBusSystem.pause() }
                progress.update(i)
            }
        }
    }

    /// What a user's program publishes: a new payload per event, a JSONValue object (or, `codable`, a
    /// Codable struct encoded by Foundation's JSONEncoder) with an integer and a string of the row's size.
    private func eventProduce(_ bus: String, codable: Bool, _ progress: Progress) async throws {
        let shm = try SharedMemoryEventBus(name: bus, config: benchConfig(guarantee), options: attachOnly(effectiveWait))
        let text = String(repeating: "x", count: max(0, size.bytes - 24)), pad = JSONValue.string(text) // about `size` bytes of JSON
        for i in 0..<eventCount {
            if codable {
                try await shm.publish(try Event(topic: "bench", encoding: BenchPayload(i: i, pad: text)))
            } else {
                try await shm.publish(Event(topic: "bench", payload: ["i": .int(Int64(i)), "pad": pad]))
            }
            progress.update(i + 1)
        }
        await shm.close()
    }

    private func rawPingPong(_ segment: SharedSegment, _ replies: SharedSegment, _ progress: Progress) throws -> Histogram<UInt64> {
        let n = eventCount, size = size.bytes, block = effectiveWait == "block"
        return try RingBusSystem.onPinnedThread(0) {
            let r = try StreamReader(segment: replies, mode: .gating)
            let w = try StreamWriter(segment: segment)
            let topic = try PreparedTopic("bench")
            let source = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
            defer { source.deallocate() }
            source.initializeMemory(as: UInt8.self, repeating: 7)
            var h = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
            let warm = min(1000, n / 10)
            for i in 0..<(n + warm) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                while true {
                    guard let dst = try w.claim(topic: topic, payloadLength: size) else { continue }
                    source.storeBytes(of: UInt64(i), as: UInt64.self)
                    dst.copyMemory(from: UnsafeRawBufferPointer(source))
                    w.commit()
                    break
                }
                var got = false
                while !got {
                    if r.poll(max: 1, { (_: borrowing EventView) in got = true }) == 0, block {
                        _ = try r.wait(timeout: .seconds(1), strategy: .block)
                    }
                }
                if i >= warm { _ = h.record((DispatchTime.now().uptimeNanoseconds - t0) / 2) }
                if block { usleep(50) } // both sides asleep when the next one lands: the sleeping case
                progress.update(i + 1 - min(i + 1, warm))
            }
            return h
        }
    }

    private func eventPingPong(_ bus: String, _ progress: Progress) async throws -> Histogram<UInt64> {
        let shm = try SharedMemoryEventBus(name: bus, config: benchConfig(guarantee), options: attachOnly(effectiveWait))
        let state = Mutex((h: Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three), n: 0))
        let n = eventCount, warm = min(1000, eventCount / 10), block = effectiveWait == "block"
        let pad = JSONValue.string(String(repeating: "x", count: max(0, size.bytes - 32))) // about `size` bytes each way
        let done = Atomic<Bool>(false)
        try await shm.subscribe(toTopics: ["pong"], ClosureHandler { e in
            let sent = UInt64(e.payload["t"]?.intValue ?? 0)
            let count = state.withLock { s -> Int in
                s.n += 1
                if s.n > warm { _ = s.h.record((DispatchTime.now().uptimeNanoseconds - sent) / 2) }
                return s.n
            }
            progress.update(max(0, count - warm))
            if count >= n + warm { done.store(true, ordering: .releasing); return }
            if block { usleep(50) }
            try await shm.publish(Event(topic: "bench", payload: ["t": .int(Int64(DispatchTime.now().uptimeNanoseconds)), "pad": pad]))
        })
        try await shm.publish(Event(topic: "bench", payload: ["t": .int(Int64(DispatchTime.now().uptimeNanoseconds)), "pad": pad]))
        let deadline = ContinuousClock.now + .seconds(600)
        while !done.load(ordering: .acquiring) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
        await shm.close()
        return state.withLock { $0.h }
    }

    // MARK: Output

    private func output(_ rates: Rates, latencies: Histogram<UInt64>?, paced: JSONValue?, floor: Double?) throws {
        let eventsPerSec = rates.delivered
        let mbPerSec = eventsPerSec * Double(size.bytes) / 1e6
        let lat: JSONValue = paced ?? latencies.map { h in
            ["p50": .int(Int64(h.valueAtPercentile(50))), "p90": .int(Int64(h.valueAtPercentile(90))),
             "p99": .int(Int64(h.valueAtPercentile(99))), "p999": .int(Int64(h.valueAtPercentile(99.9))),
             "max": .int(Int64(h.max))]
        } ?? .null
        if json {
            try writeOutput(jsonLine(["mode": .string(mode), "events": .int(Int64(eventCount)), "size": .int(Int64(size.bytes)),
                                "consumers": .int(Int64(consumerCount)), "wait": .string(effectiveWait), "api": .string(api),
                                "guarantee": .string(guarantee), "events_per_sec": .double(eventsPerSec.rounded()),
                                "delivered_per_sec": .double(rates.delivered.rounded()),
                                "published_per_sec": .double(rates.published.rounded()),
                                "received": .int(Int64(rates.received)), "lost": .int(Int64(rates.lost)),
                                "mb_per_sec": .double((mbPerSec * 10).rounded() / 10), "latency_ns": lat]))
            return
        }
        let apiText = ["raw": "zero-copy, one commit per event", "batch": "zero-copy, 64 events per commit",
                       "codable": "Event of a Codable struct (JSONEncoder), async handler",
                       "event": "Event with a JSON payload, async handler"][api]!
        print("ringbus bench: \(mode), \(eventCount) events of \(size) (\(apiText)), \(consumerCount) consumer process\(consumerCount == 1 ? "" : "es"), \(guarantee), consumers \(effectiveWait == "spin" ? "spinning" : effectiveWait == "block" ? "sleeping" : "adaptive")\(effectiveWait != wait ? " (spin asked, but not every spinner would have a CPU)" : "")")
        if let floor {
            print("  this machine's floor: one cache line crosses between two CPUs in \(Int(floor)) ns (nothing between processes is faster)")
        }
        if let h = latencies {
            let p50 = Double(h.valueAtPercentile(50))
            let ratio = floor.map { String(format: " = %.1fx the floor", p50 / $0) } ?? ""
            print("  one-way latency (round trip / 2): p50 \(h.valueAtPercentile(50)) ns\(ratio), p90 \(h.valueAtPercentile(90)) ns, p99 \(h.valueAtPercentile(99)) ns, p99.9 \(h.valueAtPercentile(99.9)) ns, max \(h.max) ns")
        } else {
            // The delivered rate first: what a consumer got, the figure to compare with other transports.
            let fanout = mode == "fanout"
            print(String(format: "  delivered: %.2f M %@/s %@, %.0f MB/s of payload", eventsPerSec / 1e6,
                         fanout ? "deliveries" : "events", fanout ? "to \(consumerCount) consumers" : "to the consumer", mbPerSec))
            print(String(format: "  published: %.2f M events/s by the producer", rates.published / 1e6))
            let nsPer = 1e9 / eventsPerSec * Double(consumerCount)
            if let floor, rate == nil { print(String(format: "  that is %.0f ns per delivered event per consumer, %.1fx the floor", nsPer, nsPer / floor)) }
            let expected = eventCount * consumerCount
            let share = String(format: "%.1f%%", Double(rates.lost) * 100 / Double(max(1, expected)))
            print("  received \(rates.received) of \(expected), lost \(rates.lost)\(rates.lost > 0 ? " (\(share): lossy consumers outrun by the producer, counted, as at-most-once allows; --guarantee at-least-once loses none)" : "")")
            if let p = paced, let r = rate {
                print("  at a steady \(Int(r)) events/s, latency from each event's intended send time: p50 \(p["p50"]?.intValue ?? 0) ns, p90 \(p["p90"]?.intValue ?? 0) ns, p99 \(p["p99"]?.intValue ?? 0) ns, p99.9 \(p["p999"]?.intValue ?? 0) ns, max \(p["max"]?.intValue ?? 0) ns")
            }
        }
    }
}

/// `ringbus bench-consumer BUS MODE API GUARANTEE WAIT EVENTS CPU`: the consumer side of `bench` (hidden).
// MARK: Helpers

func benchConfig(_ guarantee: String) -> EventBusConfig {
    var c = EventBusConfig()
    c.deliveryGuarantee = guarantee == "exactly-once" ? .exactlyOnce : guarantee == "at-least-once" ? .atLeastOnce : .atMostOnce
    c.bufferSize = 256
    return c
}

func attachOnly(_ wait: String) -> SharedMemoryBusOptions {
    var o = SharedMemoryBusOptions()
    o.createIfMissing = false
    o.waitStrategy = wait == "spin" ? .spin : wait == "block" ? .block : .adaptive()
    return o
}

/// Reads one line from a child's standard output (blocking); nil at end of file.
func readLine(from pipe: Pipe) -> String? {
    var bytes: [UInt8] = []
    var b: UInt8 = 0
    while read(pipe.fileHandleForReading.fileDescriptor, &b, 1) == 1 {
        if b == 10 { return String(decoding: bytes, as: UTF8.self) }
        bytes.append(b)
    }
    return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
}

/// Removes the temporary buses at exit, and on SIGINT or SIGTERM (then exits 130 / 143).
final class BenchCleanup: @unchecked Sendable {
    private let names: [String]
    private var sources: [DispatchSourceSignal] = []

    init(_ names: [String]) {
        self.names = names
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [names] in
                for n in names { try? SharedSegment.remove(name: n) }
                _exit(128 + sig)
            }
            s.resume()
            sources.append(s)
        }
    }

    func removeAll() { for n in names { try? SharedSegment.remove(name: n) } }
}

/// A progress bar on standard error, when it is a terminal.
final class Progress: @unchecked Sendable {
    private let total: Int
    private let enabled: Bool
    private let shown = Atomic<Int>(-1)

    init(total: Int, enabled: Bool) {
        self.total = max(1, total)
        self.enabled = enabled
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let percent = min(100, done * 100 / total)
        guard shown.exchange(percent, ordering: .relaxed) != percent else { return }
        let bar = String(repeating: "#", count: percent / 4) + String(repeating: " ", count: 25 - percent / 4)
        writeError("\r[\(bar)] \(percent)%")
    }

    func finish() { if enabled { writeError("\r\u{1B}[K") } }
}

/// The Codable payload of `bench --api codable`: what `{"i": n, "pad": "x…"}` is as a user's struct.
private struct BenchPayload: Codable {
    var i: Int
    var pad: String
}
