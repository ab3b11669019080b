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
/// A value type with copy-on-write storage: a bus copies an event once per subscription and again on
/// its way to the handler, and each copy is one reference-count increment, not one per field.
public struct Event: Sendable, Hashable {
    private final class Storage: @unchecked Sendable { // mutated only while uniquely referenced
        var topic: String
        var payload: JSONValue
        var timestamp: Date
        var identity: EventIdentity
        var idempotencyKey: String?
        var redelivered: Bool

        init(topic: String, payload: JSONValue, timestamp: Date, identity: EventIdentity, idempotencyKey: String?,
             redelivered: Bool) {
            self.topic = topic
            self.payload = payload
            self.timestamp = timestamp
            self.identity = identity
            self.idempotencyKey = idempotencyKey
            self.redelivered = redelivered
        }

        func copy() -> Storage {
            Storage(topic: topic, payload: payload, timestamp: timestamp, identity: identity,
                    idempotencyKey: idempotencyKey, redelivered: redelivered)
        }
    }

    private var storage: Storage

    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    /// The topic, e.g. `"user.login"`.
    public var topic: String {
        get { storage.topic }
        set { unique().topic = newValue }
    }
    /// The payload.
    public var payload: JSONValue {
        get { storage.payload }
        set { unique().payload = newValue }
    }
    /// Wall-clock creation time.
    public var timestamp: Date {
        get { storage.timestamp }
        set { unique().timestamp = newValue }
    }
    /// Assigned by the bus when the event is committed.
    public var identity: EventIdentity {
        get { storage.identity }
        set { unique().identity = newValue }
    }
    /// A caller-chosen key: with exactly-once delivery, a second publish with the same key within the
    /// dedupe window is not committed again.
    public var idempotencyKey: String? {
        get { storage.idempotencyKey }
        set { unique().idempotencyKey = newValue }
    }
    /// True when this delivery repeats one that may already have reached the handler (at-least-once).
    public var redelivered: Bool {
        get { storage.redelivered }
        set { unique().redelivered = newValue }
    }

    /// An event stamped now (the original's `Event::new(topic, payload)`).
    public init(topic: String, payload: JSONValue, idempotencyKey: String? = nil) {
        self.init(topic: topic, payload: payload, timestamp: Date(), idempotencyKey: idempotencyKey)
    }

    public init(topic: String, payload: JSONValue, timestamp: Date, identity: EventIdentity = .unassigned,
                idempotencyKey: String? = nil, redelivered: Bool = false) {
        storage = Storage(topic: topic, payload: payload, timestamp: timestamp, identity: identity,
                          idempotencyKey: idempotencyKey, redelivered: redelivered)
    }

    public static func == (a: Event, b: Event) -> Bool {
        a.storage === b.storage
            || (a.topic == b.topic && a.payload == b.payload && a.timestamp == b.timestamp && a.identity == b.identity
                && a.idempotencyKey == b.idempotencyKey && a.redelivered == b.redelivered)
    }

    public func hash(into h: inout Hasher) {
        h.combine(topic)
        h.combine(payload)
        h.combine(timestamp)
        h.combine(identity)
        h.combine(idempotencyKey)
        h.combine(redelivered)
    }
}
