// Demo.swift: `ringbus demo`, a real cross-process run on a temporary bus: this process publishes,
// a child `ringbus` process consumes, and the child reports throughput and one-way latency.

import ArgumentParser
import Foundation
import RingBus
import RingBusBenchSupport

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish from this process to a consumer process on a temporary bus; print events/s and latency.")

    // `.unconditional`: a value such as -1 is the option's value (then refused by its range), not a flag.
    @Option(parsing: .unconditional, help: "Events for the throughput phase, 1 to 1000000000.") var events: Int = 2_000_000
    @Option(parsing: .unconditional, help: "Events for the latency phase (paced, one at a time), 1 to 10000000.") var latencyEvents: Int = 20_000
    @Option(parsing: .unconditional, help: "Payload bytes per event, 16 to 65536.") var size: Int = 64
    @Option(help: "How the consumer waits: spin (busy-poll, the default here), adaptive or block.") var wait: String = "spin"

    func validate() throws {
        try checkRange("--events", events, 1...1_000_000_000, "1 to 1000000000")
        try checkRange("--latency-events", latencyEvents, 1...10_000_000, "1 to 10000000")
        try checkRange("--size", size, 16...65_536, "16 to 65536 bytes")
        guard ["spin", "adaptive", "block"].contains(wait) else { throw ValidationError("--wait must be spin, adaptive or block") }
    }

    func run() throws {
        let bus = "demo-\(getpid())"
        var params = SegmentParameters()
        params.capacity = 8 << 20
        params.streams = 1
        let segment = try SharedSegment.create(name: bus, parameters: params)
        defer { try? SharedSegment.remove(name: bus) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: child.executableURL!.path) {
            child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        }
        child.arguments = ["demo-consumer", bus, String(events), String(latencyEvents), String(size), wait]
        let out = Pipe()
        child.standardOutput = out
        try child.run()
        defer { if child.isRunning { child.terminate() } }
        let lines = LineReader(out.fileHandleForReading)
        guard lines.next() == "ready" else { throw ValidationError("consumer process did not start") }

        print("RingBus demo: 1 producer process -> 1 consumer process over shared memory (bus '\(bus)')")
        RingBusSystem.pinCurrentThread(toCPU: 0)
        let writer = try StreamWriter(segment: segment)
        let topic = try PreparedTopic("demo.events")
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { payload.deallocate() }
        payload.initializeMemory(as: UInt8.self, repeating: 7)
        for i in 0..<events {
            payload.storeBytes(of: UInt64(i), toByteOffset: 0, as: UInt64.self)
            guard case .published = try writer.publish(topic: topic, payload: UnsafeRawBufferPointer(payload),
                                                        waitingUpTo: .seconds(60)) else {
                throw ValidationError("consumer stopped consuming")
            }
        }
        // Latency phase, only once the consumer has drained the throughput phase (else it would
        // measure the backlog, not the latency): paced events, 20 us apart.
        guard lines.next() == "drained" else { throw ValidationError("consumer process stopped") }
        for i in 0..<latencyEvents {
            payload.storeBytes(of: UInt64(i), toByteOffset: 0, as: UInt64.self)
            _ = try writer.publish(topic: topic, payload: UnsafeRawBufferPointer(payload), waitingUpTo: .seconds(60))
            let spinUntil = ContinuousClock.now + .microseconds(20)
            while ContinuousClock.now < spinUntil {}
        }
        var reported = false
        while let line = lines.next() {
            print(line)
            reported = true
        }
        child.waitUntilExit()
        guard reported, child.terminationStatus == 0 else { throw ValidationError("consumer process failed") }
    }
}

/// `ringbus demo-consumer BUS EVENTS LATENCY_EVENTS SIZE WAIT`: the consumer half of the demo (internal).
struct DemoConsumer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo-consumer", shouldDisplay: false)
    @Argument var bus: String
    @Argument var events: Int
    @Argument var latencyEvents: Int
    @Argument var size: Int
    @Argument var wait: String

    /// The arguments `demo` passes, in the same ranges as its options (negative counts are refused).
    func validate() throws {
        try validateBusName(bus)
        try checkRange("EVENTS", events, 1...1_000_000_000, "1 to 1000000000")
        try checkRange("LATENCY_EVENTS", latencyEvents, 1...10_000_000, "1 to 10000000")
        try checkRange("SIZE", size, 16...65_536, "16 to 65536 bytes")
        guard ["spin", "adaptive", "block"].contains(wait) else { throw ValidationError("WAIT must be spin, adaptive or block") }
    }

    func run() throws {
        let segment = try SharedSegment.attach(name: bus)
        let reader = try StreamReader(segment: segment, mode: .gating, start: .earliest)
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        var received = 0
        var first: UInt64 = 0, last: UInt64 = 0
        var latencies = [UInt64]()
        latencies.reserveCapacity(latencyEvents)
        let total = events + latencyEvents
        while received < total {
            let n = reader.poll(max: 1024) { v in
                let now = segment.clockTicks()
                if received < events {
                    if received == 0 { first = now }
                    last = now
                    if received == events - 1 { FileHandle.standardOutput.write(Data("drained\n".utf8)) }
                } else {
                    let sent = segment.wallClockNanoseconds(ticks: v.timestampTicks)
                    let seen = segment.wallClockNanoseconds(ticks: now)
                    latencies.append(seen &- sent)
                }
                received += 1
            }
            let strategy: WaitStrategy = wait == "spin" ? .spin : wait == "block" ? .block : .adaptive()
            if n == 0 { guard try reader.wait(timeout: .seconds(30), strategy: strategy) else { break } }
        }
        let seconds = Double(segment.wallClockNanoseconds(ticks: last) &- segment.wallClockNanoseconds(ticks: first)) / 1e9
        let rate = seconds > 0 ? Double(events - 1) / seconds : 0
        latencies.sort()
        func pct(_ q: Double) -> UInt64 { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))] }
        print(String(format: "throughput: %.2f M events/s (%d events of %d-byte payloads, one commit per event, gating consumer)", rate / 1e6, events, size)
              + String(format: "\none-way latency (%@-wait consumer, %d events): p50 %llu ns, p90 %llu ns, p99 %llu ns, p99.9 %llu ns, max %llu ns",
                       wait, latencies.count, pct(0.5), pct(0.9), pct(0.99), pct(0.999), latencies.last ?? 0)
              + "\nreceived \(received) of \(total); dropped \(reader.counters.dropped), missed \(reader.counters.missed)"
              + "; consumer context switches: \(contextSwitches())")
    }
}

/// Reads newline-terminated lines from a pipe.
final class LineReader {
    let handle: FileHandle
    var buffer = Data()
    init(_ handle: FileHandle) { self.handle = handle }
    func next() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty {
                if buffer.isEmpty { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            buffer.append(chunk)
        }
    }
}

/// Voluntary and involuntary context switches of this process so far.
func contextSwitches() -> String {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return "\(u.ru_nvcsw) voluntary, \(u.ru_nivcsw) involuntary"
}
