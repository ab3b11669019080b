// Observe.swift: `ringbus stat` (read-only: it never joins the bus), `ringbus pub` and `ringbus tail`.

import ArgumentParser
import Foundation
import RingBus
import Synchronization

struct Stat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a bus's producers and consumers, without joining it.")

    @Argument(help: "The bus name.") var bus: String
    @Flag(help: "One JSON object: name, published, delivered, dropped, producers, consumers.") var json = false
    @Option(help: "Print one line every SECONDS, like redis-cli --stat (Ctrl-C stops).") var watch: Double?

    func validate() throws {
        try validateBusName(bus)
        if let w = watch, !(w > 0) { throw ValidationError("--watch must be a positive number of seconds") }
    }

    func run() async throws {
        try await reporting {
            var s = try BusSnapshot.take(bus: bus)
            guard let interval = watch else {
                if json { writeLine(jsonLine(Self.json(s))) } else { print(Self.human(s)) }
                return
            }
            writeLine("published        delivered        dropped   lag        producers consumers")
            var last = s
            while true {
                let pub = s.published, del = Self.delivered(s)
                let dp = pub &- last.published, dd = del &- Self.delivered(last)
                writeLine(String(format: "%-16@ %-16@ %-9llu %-10llu %-9d %-9d", "\(pub) (+\(dp))" as NSString,
                                 "\(del) (+\(dd))" as NSString, Self.dropped(s), s.consumers.reduce(0) { $0 &+ $1.lag },
                                 s.streams.filter(\.alive).count, s.consumers.filter(\.alive).count))
                last = s
                try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
                s = try BusSnapshot.take(bus: bus)
            }
        }
    }

    static func delivered(_ s: BusSnapshot) -> UInt64 { s.consumers.reduce(0) { $0 &+ $1.received } }
    static func dropped(_ s: BusSnapshot) -> UInt64 { s.consumers.reduce(0) { $0 &+ $1.dropped } }

    static func json(_ s: BusSnapshot) -> JSONValue {
        let producers = s.streams.filter { $0.alive || $0.state != .free }
        return ["name": .string(s.name), "published": .int(Int64(clamping: s.published)),
                "delivered": .int(Int64(clamping: delivered(s))), "dropped": .int(Int64(clamping: dropped(s))),
                "producers": .array(producers.map { p in
                    ["stream": .int(Int64(p.stream)), "pid": .int(Int64(p.pid)), "alive": .bool(p.alive),
                     "sequence": .int(Int64(clamping: p.published))]
                }),
                "consumers": .array(s.consumers.map(consumerJSON))]
    }

    static func human(_ s: BusSnapshot) -> String {
        var out = ["bus '\(s.name)': \(ByteSize(bytes: Int(s.sizeBytes))) in /dev/shm; published \(s.published), delivered \(delivered(s)), dropped \(dropped(s))"]
        let now = Double(DispatchTime.now().uptimeNanoseconds)
        for p in s.streams where p.alive || p.state != .free {
            out.append("  producer stream \(p.stream): pid \(p.pid) \(p.alive ? "alive" : "dead")\(p.durableName.map { " '\($0)'" } ?? ""), sequence \(p.published), ring-full claims \(p.fullEvents), wakes \(p.wakes), evictions \(p.evictions)")
        }
        for c in s.consumers {
            let age = c.heartbeatNanoseconds > 0 ? String(format: ", heartbeat %.1f s ago", max(0, now - Double(c.heartbeatNanoseconds)) / 1e9) : ""
            out.append("  consumer \(c.durableName.map { "'\($0)'" } ?? "(anonymous)") slot \(c.slot): pid \(c.pid) \(c.alive ? "alive" : "dead"), \(modeName(c.mode)), \(stateName(c.state)), lag \(c.lag), received \(c.received), dropped \(c.dropped), missed \(c.missed), corrupt \(c.corrupt)\(age)")
        }
        if s.streams.allSatisfy({ !$0.alive && $0.state == .free }) && s.consumers.isEmpty { out.append("  no producers or consumers") }
        return out.joined(separator: "\n")
    }
}

struct Pub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a JSON payload (validated); with -, one JSON document per line of standard input.")

    @Argument(help: "The bus name.") var bus: String
    @Argument(help: "The topic, e.g. orders.created (no wildcards).") var topic: String
    @Argument(help: "The payload: one JSON document, or - for one per line of standard input.") var payload: String = "null"
    @Option(help: "Publish the payload this many times.") var count: Int = 1
    @Option(help: "At most this many events per second.") var rate: Double?
    @Option(help: "An idempotency key: a repeat within the dedupe window is not committed again.") var key: String?

    func validate() throws {
        try validateBusName(bus)
        if let why = Topic.problem(with: topic, allowWildcards: false) { throw ValidationError("invalid topic '\(topic)': \(why)") }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        if let r = rate, !(r > 0) { throw ValidationError("--rate must be a positive number of events per second") }
        if payload != "-" { _ = try Self.parse(payload, line: nil) }
    }

    static func parse(_ text: String, line: Int?) throws -> JSONValue {
        do { return try JSONValue(decoding: Array(text.utf8)) } catch {
            let at = line.map { "line \($0): " } ?? ""
            throw ValidationError("\(at)invalid JSON payload: \(error)")
        }
    }

    func run() async throws {
        try await reporting {
            var config = EventBusConfig()
            config.deliveryGuarantee = key == nil ? .atMostOnce : .exactlyOnce
            var options = SharedMemoryBusOptions()
            options.createIfMissing = false
            let shm = try SharedMemoryEventBus(name: bus, config: config, options: options)
            var published = 0
            let interval = rate.map { Duration.nanoseconds(Int64(1e9 / $0)) }
            var next = ContinuousClock.now
            func send(_ value: JSONValue) async throws {
                if let interval {
                    try await Task.sleep(until: next, clock: .continuous)
                    next = next + interval
                }
                try await shm.publish(Event(topic: topic, payload: value, idempotencyKey: key))
                published += 1
            }
            do {
                if payload == "-" {
                    var lineNumber = 0
                    while let line = readLine(strippingNewline: true) {
                        lineNumber += 1
                        if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                        let value: JSONValue
                        do { value = try Self.parse(line, line: lineNumber) } catch { throw failure("\(error)") }
                        for _ in 0..<count { try await send(value) }
                    }
                } else {
                    let value = try Self.parse(payload, line: nil)
                    for _ in 0..<count { try await send(value) }
                }
            } catch {
                await shm.close()
                throw error
            }
            await shm.close()
            FileHandle.standardError.write(Data("published \(published) event\(published == 1 ? "" : "s") to \(bus) \(topic)\n".utf8))
        }
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print matching events as they arrive. Without --durable: a lossy consumer that never slows producers.")

    @Argument(help: "The bus name.") var bus: String
    @Argument(help: "Topic patterns (`*` one token, `>` the rest); none: every topic.") var patterns: [String] = []
    @Option(help: "Exit 0 after this many events.") var count: Int?
    @Option(help: "Exit 0 after this many seconds without an event.") var timeout: Double?
    @Option(help: "An at-least-once consumer with this durable name: killed and restarted, it prints every event at least once.") var durable: String?
    @Option(help: "Where a new consumer starts: latest or earliest.") var from: String = "latest"
    @Flag(help: "One JSON object per line: topic, payload, timestamp, stream, sequence (and redelivered).") var json = false

    func validate() throws {
        try validateBusName(bus)
        for p in patterns { do { _ = try TopicFilter(p) } catch { throw ValidationError("invalid pattern '\(p)': \(error)") } }
        if let c = count, c < 1 { throw ValidationError("--count must be at least 1") }
        if let t = timeout, !(t > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        guard ["latest", "earliest"].contains(from) else { throw ValidationError("--from must be latest or earliest") }
        if let d = durable {
            let ok = !d.isEmpty && d.utf8.count <= 64 && d != "." && d != ".."
                && d.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0)) }
            guard ok else { throw ValidationError("invalid durable name '\(d)': use 1-64 of A-Z a-z 0-9 _ . -") }
        }
    }

    /// RFC 3339 in UTC with nanoseconds (the event's timestamp, a Double: exact to about 0.25 µs today).
    static func rfc3339(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var seconds = time_t(t.rounded(.down))
        var nanos = Int(((t - Double(seconds)) * 1e9).rounded())
        if nanos >= 1_000_000_000 { seconds += 1; nanos -= 1_000_000_000 }
        var tm = tm()
        gmtime_r(&seconds, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), nanos)
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN) // a closed pipe is an EPIPE from write(2), handled below
        try await reporting {
            var config = EventBusConfig()
            config.deliveryGuarantee = durable == nil ? .atMostOnce : .atLeastOnce
            config.bufferSize = 64
            var options = SharedMemoryBusOptions()
            options.createIfMissing = false
            let shm = try SharedMemoryEventBus(name: bus, config: config, options: options)
            let seen = Atomic<Int>(0)
            let lastEvent = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)
            let json = self.json
            let handler = ClosureHandler { e in
                let line: String
                if json {
                    var o: [String: JSONValue] = ["topic": .string(e.topic), "payload": e.payload,
                                                  "timestamp": .string(Tail.rfc3339(e.timestamp)),
                                                  "stream": .int(Int64(e.identity.stream)),
                                                  "sequence": .int(Int64(clamping: e.identity.sequence))]
                    if e.redelivered { o["redelivered"] = true }
                    line = jsonLine(.object(o))
                } else {
                    line = "\(Tail.rfc3339(e.timestamp)) \(e.topic) \(jsonLine(e.payload))\(e.redelivered ? " (redelivered)" : "")"
                }
                // The whole line is written before this returns; only then is the event committed
                // (durable). A reader that went away: exit without committing this event.
                if !writeLine(line) { _exit(Exit.brokenPipe) }
                seen.add(1, ordering: .relaxed)
                lastEvent.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            }
            let filters = patterns.isEmpty ? [">"] : patterns
            let start: StartPosition = durable != nil ? .committed : (from == "earliest" ? .earliest : .latest)
            try await shm.subscribe(toTopics: filters, durableName: durable, start: start, limit: count, handler)
            while true {
                if let c = count, seen.load(ordering: .relaxed) >= c { break }
                if let t = timeout, Double(DispatchTime.now().uptimeNanoseconds - lastEvent.load(ordering: .relaxed)) / 1e9 >= t { break }
                if shm.segment.isRemoved { throw failure("bus '\(bus)' was removed") }
                try await Task.sleep(for: .milliseconds(5))
            }
            await shm.close()
        }
    }
}
