// EventRecordTests.swift: an Event's record body round-trips, through bytes and through a real ring,
// and hostile bodies are refused with the offset of what is wrong, never a trap.

import Foundation
import RingBus
import Testing

private func decode(_ topic: String, _ body: [UInt8], _ identity: EventIdentity = .unassigned) throws -> Event {
    let t = Array(topic.utf8)
    return try t.withUnsafeBytes { tp in
        try body.withUnsafeBytes { bp in try EventRecord.decode(topic: tp, body: bp, identity: identity) }
    }
}

private func recordError(_ body: [UInt8], topic: String = "t") -> EventRecordError? {
    do {
        _ = try decode(topic, body)
        return nil
    } catch let e as EventRecordError {
        return e
    } catch {
        return EventRecordError(offset: -1, reason: "unexpected error \(error)")
    }
}

@Suite("event records")
struct EventRecordTests {
    static let samples: [Event] = [
        Event(topic: "user.login", payload: ["user_id": 123, "name": "alice", "tags": ["a", "b"], "ok": true]),
        Event(topic: "orders.created", payload: ["id": 7, "total": 12.5], idempotencyKey: "order-7"),
        Event(topic: "ünïcødé.tøpic", payload: .string("héllo \u{1F600}"), idempotencyKey: "clé-\u{1F511}"),
        Event(topic: "t", payload: nil),
        Event(topic: "big", payload: .string(String(repeating: "x", count: 100_000))),
        Event(topic: "old", payload: .int(.min), timestamp: Date(timeIntervalSince1970: -1_000_000.25)),
    ]

    @Test("an event survives encode and decode: topic, payload, timestamp (to the µs), key, identity",
          arguments: samples)
    func roundTrip(event: Event) throws {
        let body = try EventRecord.body(of: event)
        let id = EventIdentity(incarnation: 0xABCD, stream: 3, sequence: 42)
        let back = try decode(event.topic, body, id)
        #expect(back.topic == event.topic)
        #expect(back.payload == event.payload)
        #expect(back.idempotencyKey == event.idempotencyKey)
        #expect(back.identity == id)
        #expect(abs(back.timestamp.timeIntervalSince(event.timestamp)) < 1e-6)
        #expect(back.redelivered == false)
    }

    @Test("the key hash is FNV-1a 64 and stable across processes")
    func keyHash() {
        #expect(EventRecord.keyHash("") == 0xcbf2_9ce4_8422_2325)
        #expect(EventRecord.keyHash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(EventRecord.keyHash("order-7") != EventRecord.keyHash("order-8"))
    }

    @Test("a key longer than the limit is refused when encoding")
    func longKey() {
        let e = Event(topic: "t", payload: nil, idempotencyKey: String(repeating: "k", count: EventRecord.maxKeyLength + 1))
        #expect(throws: EventRecordError.self) { try EventRecord.body(of: e) }
    }

    @Test("every truncation of a valid body is refused")
    func truncations() throws {
        let body = try EventRecord.body(of: Self.samples[1])
        for n in 0..<body.count {
            #expect(recordError(Array(body[..<n])) != nil, "a body cut to \(n) of \(body.count) bytes was accepted")
        }
    }

    @Test("each header field's corruption is refused with its own offset")
    func headerCorruptions() throws {
        let good = try EventRecord.body(of: Self.samples[1]) // has a key
        func corrupt(_ edit: (inout [UInt8]) -> Void) -> EventRecordError? {
            var b = good
            edit(&b)
            return recordError(b)
        }
        #expect(corrupt { $0[0] = 3 }?.offset == 0) // version
        #expect(corrupt { $0[1] = 0x82 }?.offset == 1) // unknown flag
        #expect(corrupt { $0[4] = 1 }?.offset == 4) // a content-type length without the flag
        #expect(corrupt { $0[2] = 0xFF; $0[3] = 0xFF }?.offset == 2) // key length past the end
        #expect(corrupt { $0[1] = 0 }?.offset == 2) // a key length without the flag
        #expect(corrupt { $0[16] = 0xFF }?.offset == 16) // the key is not UTF-8
        let keyEnd = 16 + "order-7".utf8.count
        #expect((corrupt { $0[keyEnd] = UInt8(ascii: "]") }?.offset ?? -1) >= keyEnd) // the payload is not JSON
        #expect(recordError(good, topic: "") != nil) // empty topic
        #expect(recordError(good, topic: "\u{FFFD}") == nil) // a valid non-ASCII topic is fine
    }

    @Test("20,000 random bodies: refused or decoded, never a trap")
    func randomBodies() {
        var rng = SystemRandomNumberGenerator()
        var seed = UInt64.random(in: 0...UInt64.max, using: &rng)
        func next() -> UInt64 { // splitmix64, so a failure can be reproduced from the printed seed
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let start = seed
        var accepted = 0
        for _ in 0..<20_000 {
            let n = Int(next() % 64)
            var body = (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) }
            if n >= 1, next() % 2 == 0 { body[0] = EventRecord.formatVersion } // get past the first check
            if n >= 8, next() % 2 == 0 { body[1] = 0; body[2] = 0; body[3] = 0; body[4...7] = [0, 0, 0, 0] }
            if recordError(body) == nil { accepted += 1 }
        }
        #expect(accepted < 20_000, "seed \(start)")
    }

    @Test("events travel through a real ring: the record header's key and sequence, the body's fields")
    func throughARing() throws {
        let name = "evrec-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let segment = try SharedSegment.create(name: name)
        defer { try? SharedSegment.remove(name: name) }
        let writer = try StreamWriter(segment: segment)
        let reader = try StreamReader(segment: segment, mode: .gating)
        defer { reader.close(); writer.close() }
        let events = Self.samples.filter { $0.topic != "big" } // 100 KB exceeds the default 64 KiB events
        for e in events {
            let body = try EventRecord.body(of: e)
            let outcome = try body.withUnsafeBytes { b in
                try writer.publish(topic: PreparedTopic(e.topic), payload: b, key: e.idempotencyKey.map(EventRecord.keyHash))
            }
            #expect(outcome != .full)
        }
        var received: [Event] = []
        var keys: [UInt64?] = []
        var failures: [String] = []
        let n = reader.poll(max: 100) { (view: borrowing RecordView) in
            keys.append(view.key)
            do {
                let id = EventIdentity(incarnation: segment.incarnation, stream: view.stream, sequence: view.sequence)
                received.append(try EventRecord.decode(topic: view.topic, body: view.payload, identity: id))
            } catch {
                failures.append("\(error)")
            }
        }
        #expect(n == events.count && failures.isEmpty, "\(failures)")
        #expect(received.map(\.topic) == events.map(\.topic))
        #expect(received.map(\.payload) == events.map(\.payload))
        #expect(received.map(\.idempotencyKey) == events.map(\.idempotencyKey))
        #expect(keys == events.map { $0.idempotencyKey.map(EventRecord.keyHash) })
        #expect(received.map(\.identity.sequence) == Array(0..<UInt64(events.count)))
        #expect(received.allSatisfy { $0.identity.incarnation == segment.incarnation })
    }
}
