// TopicTests.swift: topic validation for publishing and subscribing, and NATS-style wildcard matching.

import Foundation
import RingBus
import Testing

@Suite("topics")
struct TopicTests {
    @Test("publishing topics", arguments: [
        ("user.login", true), ("a", true), ("a.b.c-d_e", true), ("", false), (".a", false), ("a.", false),
        ("a..b", false), ("a b", false), ("a.*", false), ("a.>", false), ("*", false), ("a\tb", false),
        (String(repeating: "x", count: 255), true), (String(repeating: "x", count: 256), false),
    ])
    func publishing(topic: String, valid: Bool) {
        #expect(Topic.isValidForPublishing(topic) == valid)
    }

    @Test("the empty topic has the original's message")
    func emptyTopicMessage() {
        #expect(throws: EventBusError.invalidTopic("Topic cannot be empty")) { try TopicFilter("") }
        #expect(EventBusError.invalidTopic("Topic cannot be empty").description == "Invalid topic: Topic cannot be empty")
    }

    @Test("filters accept whole-token wildcards only, '>' last", arguments: [
        ("user.*", true), ("user.>", true), ("*", true), (">", true), ("*.*.x", true), ("a.*.>", true),
        ("user.>.x", false), ("us*er", false), ("user.*x", false), ("user.>>", false), ("a..*", false),
    ])
    func filters(pattern: String, valid: Bool) {
        if valid {
            #expect((try? TopicFilter(pattern)) != nil, "\(pattern) should be a valid filter")
        } else {
            #expect(throws: EventBusError.self) { try TopicFilter(pattern) }
        }
    }

    @Test("matching", arguments: [
        ("user.login", "user.login", true), ("user.login", "user.logout", false),
        ("user.*", "user.login", true), ("user.*", "user.login.failed", false), ("user.*", "user", false),
        ("user.>", "user.login", true), ("user.>", "user.login.failed", true), ("user.>", "user", false),
        ("*", "user", true), ("*", "user.login", false), (">", "anything.at.all", true),
        ("*.login", "user.login", true), ("*.login", "admin.logout", false), ("a.*.c", "a.b.c", true),
        ("a.*.c", "a.b.d", false), ("a.*.>", "a.b.c.d", true), ("a.*.>", "a.b", false),
    ])
    func matching(pattern: String, topic: String, matches: Bool) throws {
        #expect(try TopicFilter(pattern).matches(topic) == matches)
    }
}

@Suite("events and errors")
struct EventTests {
    @Test("the original four errors keep their messages")
    func originalMessages() {
        #expect(EventBusError.publishError("x").description == "Publish error: x")
        #expect(EventBusError.subscribeError("x").description == "Subscribe error: x")
        #expect(EventBusError.handlerError("x").description == "Handler error: x")
        #expect(EventBusError.invalidTopic("x").description == "Invalid topic: x")
    }

    @Test("a new event is stamped now, unpublished and not a redelivery")
    func newEvent() {
        let before = Date()
        let e = Event(topic: "user.login", payload: ["user_id": 123])
        #expect(e.timestamp >= before && e.timestamp <= Date())
        #expect(e.identity == .unassigned && !e.redelivered && e.idempotencyKey == nil)
        #expect(e.payload["user_id"] == 123)
    }
}

@Suite("topic filters on record bytes")
struct TopicFilterBytesTests {
    static func bytesMatch(_ f: TopicFilter, _ topic: String) throws -> Bool {
        let hash = try PreparedTopic(topic).hash
        return Array(topic.utf8).withUnsafeBytes { f.matches(topicBytes: $0, hash: hash) }
    }

    @Test("matching a record's bytes agrees with matching the String, over 30,000 random pairs")
    func agreesWithStringMatching() throws {
        var rng = SystemRandomNumberGenerator()
        let words = ["a", "b", "ab", "user", "login", "x", "ü"]
        func topic() -> String { (0..<Int.random(in: 1...4, using: &rng)).map { _ in words.randomElement(using: &rng)! }.joined(separator: ".") }
        var disagreements: [String] = []
        var matched = 0
        for _ in 0..<30_000 {
            let t = topic()
            var tokens = topic().split(separator: ".").map(String.init)
            for i in tokens.indices where Int.random(in: 0..<4, using: &rng) == 0 { tokens[i] = "*" }
            if Int.random(in: 0..<3, using: &rng) == 0 { tokens[tokens.count - 1] = ">" }
            let f = try TopicFilter(tokens.joined(separator: "."))
            let viaString = f.matches(t)
            if viaString { matched += 1 }
            if try Self.bytesMatch(f, t) != viaString { disagreements.append("\(f.pattern) vs \(t)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
        #expect(matched > 1_000, "too few matches to test anything")
    }

    @Test("edges: '>' needs one more token, '*' exactly one, exact filters compare bytes not only hashes")
    func edges() throws {
        #expect(try Self.bytesMatch(TopicFilter(">"), "a"))
        #expect(try Self.bytesMatch(TopicFilter("a.>"), "a.b.c"))
        #expect(try !Self.bytesMatch(TopicFilter("a.>"), "a"))
        #expect(try Self.bytesMatch(TopicFilter("a.*"), "a.b"))
        #expect(try !Self.bytesMatch(TopicFilter("a.*"), "a.b.c"))
        #expect(try !Self.bytesMatch(TopicFilter("a.*.c"), "a.b"))
        let f = try TopicFilter("user.login")
        let sameHashWrongBytes = Array("user.logix".utf8).withUnsafeBytes {
            f.matches(topicBytes: $0, hash: try! PreparedTopic("user.login").hash) // a forged hash
        }
        #expect(!sameHashWrongBytes)
    }
}
