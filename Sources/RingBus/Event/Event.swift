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

/// An event: a topic, a payload, when it was created, and (once published) its identity.
///
/// A plain value: a bus copies an event once per subscription, and a copy shares the payload's storage
/// (one reference-count increment), never a deep copy. The payload is a `JSONValue` the application
/// built, or the bytes the event arrived as (from another process or a server), decoded only when
/// ``payload`` is first read and then kept: forwarding or recording an event never decodes it, and a
/// handler that does not read ``payload`` pays nothing for it. Raw payloads of other content types
/// (protobuf, images) travel as bytes and are never treated as JSON.
///
/// ```swift
/// let e = Event(topic: "user.login", payload: ["user_id": 123])                 // JSON, as the original
/// let t = try Event(topic: "order.created", encoding: Order(id: 7, total: 12.5)) // a Codable value
/// let r = Event(topic: "camera.frame", bytes: jpeg, contentType: "image/jpeg")   // raw bytes
/// let order = try t.decode(Order.self)
/// ```
///
/// Equality and hashing are the same on every backend: topic, timestamp, identity, key, `redelivered`,
/// content type, origin, headers, source identity, and the payload compared as decoded JSON (so JSON that
/// arrived with other spacing or key order equals the value it encodes), or byte for byte when it is not
/// JSON.
public struct Event: Sendable, Hashable {
    /// The topic, e.g. `"user.login"`.
    public var topic: String
    /// The payload's storage: a value or bytes (EventPayload.swift).
    var body: EventPayload
    /// Wall-clock creation time.
    public var timestamp: Date
    /// Assigned by the bus when the event is committed.
    public var identity: EventIdentity
    /// A caller-chosen key: with exactly-once delivery, a second publish with the same key within the
    /// dedupe window is not committed again.
    public var idempotencyKey: String?
    /// True when this delivery repeats one that may already have reached the handler (at-least-once).
    public var redelivered: Bool
    /// Content type, origin, headers and source identity, when any is set (one optional reference:
    /// nothing to allocate or copy for the common event that has none, and an Event stays as small as
    /// it was before them: the in-process bus copies one per subscription).
    var extras: EventExtras?

    /// An event stamped now (the original's `Event::new(topic, payload)`).
    public init(topic: String, payload: JSONValue, idempotencyKey: String? = nil) {
        self.init(topic: topic, payload: payload, timestamp: Date(), idempotencyKey: idempotencyKey)
    }

    /// An event with every field given (a bus sets `identity` and `redelivered` itself).
    public init(topic: String, payload: JSONValue, timestamp: Date, identity: EventIdentity = .unassigned,
                idempotencyKey: String? = nil, redelivered: Bool = false) {
        self.init(topic: topic, body: .value(payload), timestamp: timestamp, identity: identity,
                  idempotencyKey: idempotencyKey, redelivered: redelivered)
    }

    init(topic: String, body: EventPayload, timestamp: Date, identity: EventIdentity = .unassigned,
         idempotencyKey: String? = nil, redelivered: Bool = false, contentType: String? = nil, extras: EventExtras? = nil) {
        self.topic = topic
        self.body = body
        self.timestamp = timestamp
        self.identity = identity
        self.idempotencyKey = idempotencyKey
        self.redelivered = redelivered
        self.extras = contentType == nil ? extras
            : EventExtras.make(contentType: contentType, origin: extras?.origin, headers: extras?.headers ?? [:],
                          sourceIdentity: extras?.sourceIdentity)
    }

    /// The payload as JSON. For an event that arrived as bytes, the first read decodes them (they were
    /// validated when they arrived) and later reads return the same value; `.null` when the payload is
    /// not JSON (``contentType`` says what it is; read ``payloadBytes``). Setting it replaces the payload
    /// with a JSON value.
    public var payload: JSONValue {
        get { body.json }
        set {
            body = .value(newValue)
            if contentType != nil { contentType = nil }
        }
    }

    /// The payload's bytes: JSON text for a JSON payload (a value's compact encoding, object keys
    /// sorted), or the raw bytes as given.
    public var payloadBytes: [UInt8] { body.encoded }

    /// True when the payload is JSON (``contentType`` is `nil`).
    public var isJSON: Bool { body.isJSON }

    public static func == (a: Event, b: Event) -> Bool {
        a.topic == b.topic && a.timestamp == b.timestamp && a.identity == b.identity && a.idempotencyKey == b.idempotencyKey
            && a.redelivered == b.redelivered && a.extras == b.extras
            && EventPayload.same(a.body, b.body)
    }

    public func hash(into h: inout Hasher) {
        h.combine(topic)
        h.combine(timestamp)
        h.combine(identity)
        h.combine(idempotencyKey)
        h.combine(redelivered)
        h.combine(extras)
        body.hash(into: &h)
    }
}
