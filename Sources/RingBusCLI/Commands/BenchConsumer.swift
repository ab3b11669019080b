// BenchConsumer.swift: `ringbus bench-consumer` (hidden), the consumer process `ringbus bench` starts:
// it attaches the temporary bus, reads (raw, batch or event API; lossy or gating), answers ping-pongs,
// reports what it received as one JSON line, and exits when its parent is gone.

import ArgumentParser
import Dispatch
import Foundation
import Histogram
import RingBus
import RingBusBenchSupport
import Synchronization

struct BenchConsumer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-consumer", shouldDisplay: false)

    @Argument var bus: String
    @Argument var mode: String
    @Argument var api: String
    @Argument var guarantee: String
    @Argument var wait: String
    @Argument var events: Int
    @Argument var cpu: Int
    @Argument var paced: Int = 0

    /// The arguments `bench` passes; anything else is a usage error (exit 64), never a run.
    func validate() throws {
        try validateBusName(bus)
        guard ["throughput", "pingpong", "fanout"].contains(mode) else { throw ValidationError("MODE must be throughput, pingpong or fanout") }
        guard ["raw", "batch", "event"].contains(api) else { throw ValidationError("API must be raw, batch or event") }
        guard ["at-most-once", "at-least-once", "exactly-once"].contains(guarantee) else {
            throw ValidationError("GUARANTEE must be at-most-once, at-least-once or exactly-once")
        }
        guard ["spin", "adaptive", "block"].contains(wait) else { throw ValidationError("WAIT must be spin, adaptive or block") }
        try checkRange("EVENTS", events, 1...1_000_000_000, "1 to 1000000000")
        try checkRange("CPU", cpu, 0...1023, "0 to 1023")
        try checkRange("PACED", paced, 0...1, "0 or 1")
    }

    func run() async throws {
        try await reporting {
            let parent = getppid()
            if api == "event" { try await eventConsumer(parent: parent) } else { try rawConsumer(parent: parent) }
        }
    }

    /// `parent`: the `bench` process; when it is gone the consumer exits.
    private func rawConsumer(parent: pid_t) throws {
        let segment = try SharedSegment.attach(name: bus)
        let replies = mode == "pingpong" ? try SharedSegment.attach(name: bus + "-reply") : nil
        let (bus, mode, wait, events, cpu, gating, paced) = (bus, mode, wait, events, cpu, guarantee != "at-most-once", paced == 1)
        let line: String = try RingBusSystem.onPinnedThread(cpu) {
            let r = try StreamReader(segment: segment, mode: gating ? .gating : .lossy)
            let w = try replies.map { try StreamWriter(segment: $0) }
            let topic = try PreparedTopic("bench")
            writeLine("ready")
            let strategy: WaitStrategy = wait == "block" ? .block : .adaptive()
            var received = 0, t0: UInt64 = 0, last: UInt64 = 0, lastIndex: UInt64 = 0, touched: UInt8 = 0
            var idleSince = DispatchTime.now().uptimeNanoseconds, parentChecked: UInt64 = 0
            var h = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
            while true {
                let n = r.poll(max: 256) { (v: borrowing EventView) in
                    lastIndex = v.payload.count >= 8 ? v.payload.loadUnaligned(as: UInt64.self) : 0
                    if paced && v.payload.count >= 16 { // latency from the intended send time (CLOCK_MONOTONIC)
                        let intended = v.payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                        let now = DispatchTime.now().uptimeNanoseconds
                        _ = h.record(now > intended ? now - intended : 0)
                    }
                    var line = 0 // read every cache line of the payload in place (a consumer looks at its data)
                    while line < v.payload.count { touched &+= v.payload[line]; line += 64 }
                    if let w { // ping-pong: the whole payload back, as the pipe and socket rows do
                        while true {
                            guard let dst = try? w.claim(topic: topic, payloadLength: v.payload.count) else { continue }
                            dst.copyMemory(from: v.payload)
                            w.commit()
                            break
                        }
                    }
                }
                let now = DispatchTime.now().uptimeNanoseconds
                if n > 0 {
                    if received == 0 { t0 = now }
                    received += n
                    last = now
                    idleSince = now
                    if mode != "pingpong" && (received >= events || lastIndex + 1 >= UInt64(events)) { break }
                    continue
                }
                // Lossy consumers may never see every event; two idle seconds after the last one end it.
                if received > 0 && now - idleSince > 2_000_000_000 { break }
                // `bench` gone (killed, or interrupted before the first event): nobody will publish or
                // read the report; exit rather than spin forever. Checked at most every 100 ms idle.
                if now - idleSince > 100_000_000 && now - parentChecked > 100_000_000 {
                    parentChecked = now
                    if getppid() != parent { _exit(Exit.runtime) }
                }
                if wait != "spin" { _ = try r.wait(timeout: .seconds(1), strategy: strategy) }
            }
            let c = r.counters
            _ = (bus, touched)
            let latency = paced && h.totalCount > 0
                ? "{\"p50\":\(h.valueAtPercentile(50)),\"p90\":\(h.valueAtPercentile(90)),\"p99\":\(h.valueAtPercentile(99)),\"p999\":\(h.valueAtPercentile(99.9)),\"max\":\(h.max)}"
                : "null"
            return "{\"secs\":\(Double(last - t0) / 1e9),\"received\":\(received),\"dropped\":\(c.dropped + c.missed),\"latency_ns\":\(latency)}"
        }
        writeLine(line)
    }

    private func eventConsumer(parent: pid_t) async throws {
        let shm = try SharedMemoryEventBus(name: bus, config: benchConfig(guarantee), options: attachOnly(wait))
        let state = Mutex((n: 0, first: UInt64(0), last: UInt64(0)))
        let pingpong = mode == "pingpong"
        try await shm.subscribe(toTopics: ["bench"], ClosureHandler { e in
            if pingpong {
                try await shm.publish(Event(topic: "pong", payloadOf: e)) // the bytes forwarded, never decoded
                return
            }
            let now = DispatchTime.now().uptimeNanoseconds
            state.withLock { s in
                if s.n == 0 { s.first = now }
                s.n += 1
                s.last = now
            }
        })
        writeLine("ready")
        var lastCount = 0, idleSince = ContinuousClock.now
        while true {
            try await Task.sleep(for: .milliseconds(2))
            if getppid() != parent { _exit(Exit.runtime) } // `bench` gone: nobody will publish or read the report
            let (n, first, last) = state.withLock { ($0.n, $0.first, $0.last) }
            let lost = Int(await shm.stats().dropped)
            if !pingpong && n + lost >= events {
                writeLine("{\"secs\":\(Double(last - first) / 1e9),\"received\":\(n),\"dropped\":\(lost)}")
                break
            }
            if n != lastCount { lastCount = n; idleSince = .now } else if n > 0 && ContinuousClock.now - idleSince > .seconds(2) {
                writeLine("{\"secs\":\(Double(last - first) / 1e9),\"received\":\(n),\"dropped\":\(lost)}")
                break
            }
        }
        await shm.close()
    }
}
