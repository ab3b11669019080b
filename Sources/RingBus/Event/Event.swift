// Event.swift: what flows through a bus: a topic, a JSON payload, a timestamp and an identity.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where an event was committed: unique per bus for the bus's life.
public struct EventIdentity: Sendable, Hashable, CustomStringConvertible {
    /// Random per bus creation (0 before the event is published).
    public var incarnation: UInt64
    /// The stream (producer) that committed the event.
    public var stream: Int
    /// Dense per-stream sequence number.
    public var sequence: UInt64

    /// An identity from its three parts.
    public init(incarnation: UInt64, stream: Int, sequence: UInt64) {
        self.incarnation = incarnation
        self.stream = stream
        self.sequence = sequence
    }

    /// The identity of an event not published yet.
    public static let unassigned = EventIdentity(incarnation: 0, stream: 0, sequence: 0)

    public var description: String { "\(String(incarnation, radix: 16)):\(stream):\(sequence)" }
}

/// An event: a topic, a JSON payload, when it was created, and (once published) its identity.
///
/// A plain value: a bus copies an event once per subscription, and a copy shares the payload's storage
/// (one reference-count increment for an object, array or long string), never a deep copy. Making an
/// event allocates nothing beyond its payload. (An earlier version kept the fields in a copy-on-write
/// class; that cost a heap allocation per event, freed on the subscriber's thread, which made the
/// in-process bus slower, not faster.)
public struct Event: Sendable, Hashable {
    /// The topic, e.g. `"user.login"`.
    public var topic: String
    /// The payload.
    public var payload: JSONValue
    /// Wall-clock creation time.
    public var timestamp: Date
    /// Assigned by the bus when the event is committed.
    public var identity: EventIdentity
    /// A caller-chosen key: with exactly-once delivery, a second publish with the same key within the
    /// dedupe window is not committed again.
    public var idempotencyKey: String?
    /// True when this delivery repeats one that may already have reached the handler (at-least-once).
    public var redelivered: Bool

    /// An event stamped now (the original's `Event::new(topic, payload)`).
    public init(topic: String, payload: JSONValue, idempotencyKey: String? = nil) {
        self.init(topic: topic, payload: payload, timestamp: Date(), idempotencyKey: idempotencyKey)
    }

    /// An event with every field given (a bus sets `identity` and `redelivered` itself).
    public init(topic: String, payload: JSONValue, timestamp: Date, identity: EventIdentity = .unassigned,
                idempotencyKey: String? = nil, redelivered: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.timestamp = timestamp
        self.identity = identity
        self.idempotencyKey = idempotencyKey
        self.redelivered = redelivered
    }
}
