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
