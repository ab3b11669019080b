// Observe.swift: `ringbus stat` (read-only: it never joins the bus), `ringbus pub` and `ringbus tail`.

import ArgumentParser
import Foundation
import RingBus
import Synchronization

struct Stat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a bus's producers and consumers, without joining it.")

    @Argument(help: "The bus name.") var bus: String
    @Flag(help: "One JSON object: name, published, delivered, dropped, producers, consumers.") var json = false
    @Option(parsing: .unconditional, help: "Print one line every SECONDS (0.01 to 86400), like redis-cli --stat (Ctrl-C stops).") var watch: Double?

    func validate() throws {
        try validateBusName(bus)
        // Bounded so the interval converts to a Duration exactly and never busy-loops.
        try checkRange("--watch", watch, 0.01...86_400, "0.01 to 86400 seconds")
    }

    func run() async throws {
        try await reporting {
            var s = try BusSnapshot.take(bus: bus)
            guard let interval = watch else {
                if json { try writeOutput(jsonLine(Self.json(s))) } else { print(Self.human(s)) }
                return
            }
            try writeOutput("published        delivered        dropped   lag        producers consumers")
            var last = s
            while true {
                let pub = s.published, del = Self.delivered(s)
                let dp = pub &- last.published, dd = del &- Self.delivered(last)
                try writeOutput(String(format: "%-16@ %-16@ %-9llu %-10llu %-9d %-9d", "\(pub) (+\(dp))" as NSString,
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
    @Option(parsing: .unconditional, help: "Publish the payload this many times, 1 to 1000000000000.") var count: Int = 1
    @Option(parsing: .unconditional, help: "At most this many events per second, 0.001 to 1000000000.") var rate: Double?
    @Option(help: "An idempotency key, 1 to 1024 bytes: a repeat within the dedupe window is not committed again (with -, one key for every line).") var key: String?
    @Option(name: .customLong("trust-owner"), parsing: .unconditionalSingleValue, help: "Also join the bus when this user (a uid) owns it; by default only your own user's and root's buses are joined, since another user can create a bus name first. Repeatable.") var trustOwner: [UInt32] = []

    func validate() throws {
        try validateBusName(bus)
        if let why = Topic.problem(with: topic, allowWildcards: false) { throw ValidationError("invalid topic '\(topic)': \(why)") }
        try checkRange("--count", count, 1...1_000_000_000_000, "1 to 1000000000000")
        // Bounded so 1e9 / rate nanoseconds (1 ns to 1000 s) converts to Int64 and a Duration exactly.
        try checkRange("--rate", rate, 0.001...1e9, "0.001 to 1000000000 events per second")
        if let key, !(1...EventRecord.maxKeyLength).contains(key.utf8.count) {
            throw ValidationError("--key must be 1 to \(EventRecord.maxKeyLength) bytes, got \(key.utf8.count)")
        }
        if payload != "-" { _ = try Self.parse(payload, line: nil) }
    }

    static func parse(_ text: String, line: Int?) throws -> JSONValue { try parse(bytes: Array(text.utf8), line: line) }

    /// Parses one JSON document; invalid UTF-8 and invalid JSON are refused with the byte offset.
    static func parse(bytes: [UInt8], line: Int?) throws -> JSONValue {
        do { return try JSONValue(decoding: bytes) } catch {
            let at = line.map { "line \($0): " } ?? ""
            throw ValidationError("\(at)invalid JSON payload: \(error)")
        }
    }

    func run() async throws {
        try await reporting {
            var config = EventBusConfig()
            config.deliveryGuarantee = key == nil ? .atMostOnce : .exactlyOnce
            // Its events are committed when publish returns; closing need not wait for other processes'
            // consumers to read them (a stuck one held `pub` for the whole drain: second outside attack).
            config.closeTimeout = .zero
            var options = SharedMemoryBusOptions()
            options.createIfMissing = false
            options.ownerTrust = trustOwner.isEmpty ? .selfAndRoot : .alsoUsers(Set(trustOwner))
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
            // A line longer than this cannot become an event of this bus, however much whitespace its
            // JSON sheds: refused without reading (or parsing) the rest of it.
            let lineLimit = max(1 << 20, 8 * shm.segment.maxEventSize)
            var currentLine: Int? // with -, the line being published (named in a failure)
            do {
                if payload == "-" {
                    var lines = StandardInputLines(limit: lineLimit)
                    var lineNumber = 0
                    while let line = lines.next() {
                        lineNumber += 1
                        currentLine = lineNumber
                        guard let line else {
                            throw PubStop(message: "line \(lineNumber) is longer than \(lineLimit) bytes: no event of bus '\(bus)' (largest payload \(shm.segment.maxEventSize) bytes) can hold it", status: Exit.runtime)
                        }
                        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                        let value: JSONValue
                        do { value = try Self.parse(bytes: line, line: lineNumber) } catch {
                            throw PubStop(message: "\(error)", status: Exit.usage)
                        }
                        for _ in 0..<count { try await send(value) }
                    }
                } else {
                    let value = try Self.parse(payload, line: nil)
                    for _ in 0..<count { try await send(value) }
                }
            } catch {
                // One line: the failure, and what was published before it (when anything was).
                let done = published > 0 ? " (\(await summary(shm, published: published)) before this)" : ""
                await shm.close()
                let (message, status): (String, Int32) = switch error {
                case let stop as PubStop: (stop.message, stop.status)
                case let e as EventBusError: ((currentLine.map { "line \($0): " } ?? "") + e.description, Exit.runtime)
                case let e as SegmentError: (e.description, Exit.runtime)
                default: ("\(error)", Exit.runtime)
                }
                writeError("ringbus: \(message)\(done)\n")
                throw ExitCode(status)
            }
            writeError(await summary(shm, published: published) + "\n")
            await shm.close()
        }
    }

    /// What was committed (and what was a duplicate of the key).
    private func summary(_ shm: SharedMemoryEventBus, published: Int) async -> String {
        let skipped = Int(await shm.stats().duplicatesSkipped)
        let committed = published - skipped
        if let key, skipped > 0 {
            return "\(committed) committed, \(skipped) \(skipped == 1 ? "was a duplicate" : "were duplicates") of key \(key) (not committed again), to \(bus) \(topic)"
        }
        return "published \(committed) event\(committed == 1 ? "" : "s") to \(bus) \(topic)"
    }
}

/// Why `pub` stops reading its input, and its exit status.
private struct PubStop: Error {
    let message: String
    let status: Int32
}

/// Standard input as lines of raw bytes (no newline), so that invalid UTF-8 is seen, not repaired.
/// Linear in the input: each byte is scanned for a newline once, and a line longer than `limit` is
/// reported (as `.some(nil)`) without reading the rest of it.
struct StandardInputLines {
    private let limit: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes from `start` already known to hold no newline.
    private var scanned = 0
    private var eof = false

    init(limit: Int) { self.limit = limit }

    /// The next line; `nil` at the end of input; `.some(nil)` for a line longer than `limit`.
    mutating func next() -> [UInt8]?? {
        while true {
            if let nl = buffer[(start + scanned)...].firstIndex(of: 10) {
                defer { start = nl + 1; scanned = 0 }
                return nl - start > limit ? .some(nil) : Array(buffer[start..<nl])
            }
            scanned = buffer.count - start
            if scanned > limit { return .some(nil) }
            if eof {
                guard start < buffer.count else { return nil }
                defer { start = buffer.count; scanned = 0 }
                return Array(buffer[start...])
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let before = buffer.count
            buffer.reserveCapacity(before + (64 << 10))
            buffer.append(contentsOf: repeatElement(0, count: 64 << 10))
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress! + before, 64 << 10) }
            buffer.removeLast(64 << 10 - max(0, n))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { eof = true }
        }
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print matching events as they arrive. Without --durable: a lossy consumer that never slows producers.")

    @Argument(help: "The bus name.") var bus: String
    @Argument(help: "Topic patterns (`*` one token, `>` the rest); none: every topic.") var patterns: [String] = []
    @Option(parsing: .unconditional, help: "Exit 0 after this many events (at least 1).") var count: Int?
    @Option(parsing: .unconditional, help: "Exit 0 after this many seconds without an event, 0.001 to 10000000.") var timeout: Double?
    @Option(help: "An at-least-once consumer with this durable name: killed and restarted, it prints every event at least once.") var durable: String?
    @Option(help: "Where a new consumer starts: latest or earliest.") var from: String = "latest"
    @Option(name: .customLong("trust-owner"), parsing: .unconditionalSingleValue, help: "Also join the bus when this user (a uid) owns it; by default only your own user's and root's buses are joined, since another user can create a bus name first. Repeatable.") var trustOwner: [UInt32] = []
    @Flag(help: "One JSON object per line: topic, payload (or content_type and payload_base64 for a raw payload), timestamp, stream, sequence (and redelivered, headers, origin).") var json = false

    func validate() throws {
        try validateBusName(bus)
        for p in patterns { do { _ = try TopicFilter(p) } catch { throw ValidationError("invalid pattern '\(p)': \(error)") } }
        try checkRange("--count", count, 1...Int.max, "at least 1")
        try checkRange("--timeout", timeout, 0.001...1e7, "0.001 to 10000000 seconds")
        guard ["latest", "earliest"].contains(from) else { throw ValidationError("--from must be latest or earliest") }
        if let d = durable { try validateDurableName(d) }
    }

    /// Test hook (RINGBUS_TEST_TAIL_PROBE_DELAY_MS): how long the idle check waits between reading the
    /// clock and reading the event count, to let events land in that window on purpose.
    static func testIdleProbeDelay() -> Duration? {
        guard let v = ProcessInfo.processInfo.environment["RINGBUS_TEST_TAIL_PROBE_DELAY_MS"], let ms = Int(v),
              (1...10_000).contains(ms) else { return nil }
        return .milliseconds(ms)
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
            options.ownerTrust = trustOwner.isEmpty ? .selfAndRoot : .alsoUsers(Set(trustOwner))
            let shm = try SharedMemoryEventBus(name: bus, config: config, options: options)
            let seen = Atomic<Int>(0)
            let json = self.json
            let handler = ClosureHandler { e in
                let line: String
                // A raw payload (not JSON) is shown as its content type and its bytes in base64, never
                // as a JSON null; headers and origin when the event has them.
                let raw = e.contentType.map { _ in Data(e.payloadBytes).base64EncodedString() }
                if json {
                    var o: [String: JSONValue] = ["topic": .string(e.topic), "timestamp": .string(Tail.rfc3339(e.timestamp)),
                                                  "stream": .int(Int64(e.identity.stream)),
                                                  "sequence": .int(Int64(clamping: e.identity.sequence))]
                    if let raw, let type = e.contentType {
                        o["content_type"] = .string(type)
                        o["payload_base64"] = .string(raw)
                    } else {
                        o["payload"] = e.payload
                    }
                    if !e.headers.isEmpty { o["headers"] = .object(e.headers.mapValues { .string($0) }) }
                    if let origin = e.origin { o["origin"] = .string(origin) }
                    if e.redelivered { o["redelivered"] = true }
                    line = jsonLine(.object(o))
                } else {
                    let shown = raw.map { "(\(e.contentType ?? ""), \(e.payloadBytes.count) bytes, base64) \($0)" } ?? jsonLine(e.payload)
                    line = "\(Tail.rfc3339(e.timestamp)) \(e.topic) \(shown)\(e.redelivered ? " (redelivered)" : "")"
                }
                // The whole line is written before this returns; only then is the event committed
                // (durable). A reader that went away: exit without committing this event.
                if !writeLine(line) { _exit(Exit.brokenPipe) }
                seen.add(1, ordering: .relaxed)
            }
            let filters = patterns.isEmpty ? [">"] : patterns
            // A durable name resumes where it was; --from says where a new one starts.
            let start: StartPosition = switch (durable != nil, from == "earliest") {
            case (true, true): .committedOrEarliest
            case (true, false): .committed
            case (false, true): .earliest
            case (false, false): .latest
            }
            try await shm.subscribe(toTopics: filters, durableName: durable, start: start, limit: count, handler)
            // Idle time is measured by this loop alone: it notices a new event by the count and restarts
            // its own clock. The handler stores no time, so no clock read on this thread is ever compared
            // with a newer one stored by another (that subtraction trapped: issue 11 item 5).
            let probeDelay = Self.testIdleProbeDelay()
            var lastSeen = 0
            var idleSince = ContinuousClock.now
            var missedTold: UInt64 = 0
            while true {
                // A durable name that stayed away longer than the bus's eviction grace lost what went by
                // meanwhile: say so (once per new loss) instead of resuming silently.
                if let durable {
                    let missed = await shm.stats().missed
                    if missed > missedTold {
                        writeError("ringbus: \(missed - missedTold) events went by while durable consumer '\(durable)' was away longer than the bus's eviction grace; they are lost to it\n")
                        missedTold = missed
                    }
                }
                let now = ContinuousClock.now
                if let probeDelay { try await Task.sleep(for: probeDelay) } // tests: events arrive in the window
                let n = seen.load(ordering: .relaxed)
                if let c = count, n >= c { break }
                if n != lastSeen {
                    lastSeen = n
                    idleSince = now
                } else if let t = timeout, now - idleSince >= .nanoseconds(Int64(t * 1e9)) {
                    break
                }
                if shm.segment.isRemoved { throw failure("bus '\(bus)' was removed") }
                try await Task.sleep(for: .milliseconds(5))
            }
            await shm.close()
        }
    }
}
