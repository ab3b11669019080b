// EventExtras.swift: the event-level metadata most events do not carry (origin, headers, the identity
// of the first commit) and the other payload forms (raw bytes, JSON bytes, Codable values).
//
// The extras sit behind one optional reference in Event, so an event without them (the common case)
// copies no dictionary and allocates nothing for them. They travel in envelope version 2
// (EventRecord.swift, Docs/LAYOUT.md §8.4) and, later, in NATS headers.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Origin, headers and source identity of an event (immutable: Event replaces it on a change).
final class EventExtras: Hashable, Sendable {
    let contentType: String?
    let origin: String?
    let headers: [String: String]
    let sourceIdentity: EventIdentity?

    /// Extras holding these fields, or `nil` when none is set. A static function, not a failable
    /// `init?`: a class's failable initialiser allocates the object before it can return `nil`, which
    /// was one heap allocation per delivered event (gdb on the test peer's malloc, issue 13).
    static func make(contentType: String?, origin: String?, headers: [String: String],
                     sourceIdentity: EventIdentity?) -> EventExtras? {
        if contentType == nil && origin == nil && headers.isEmpty && sourceIdentity == nil { return nil }
        return EventExtras(contentType: contentType, origin: origin, headers: headers, sourceIdentity: sourceIdentity)
    }

    private init(contentType: String?, origin: String?, headers: [String: String], sourceIdentity: EventIdentity?) {
        self.contentType = contentType
        self.origin = origin
        self.headers = headers
        self.sourceIdentity = sourceIdentity
    }

    static func == (a: EventExtras, b: EventExtras) -> Bool {
        a === b || (a.contentType == b.contentType && a.origin == b.origin && a.headers == b.headers
            && a.sourceIdentity == b.sourceIdentity)
    }

    func hash(into h: inout Hasher) {
        h.combine(contentType)
        h.combine(origin)
        h.combine(headers)
        h.combine(sourceIdentity)
    }
}

extension Event {
    /// The payload's content type; `nil` means JSON (`application/json`).
    ///
    /// Setting it relabels the payload's bytes: a JSON payload given a content type becomes raw bytes
    /// (its JSON text); raw bytes set to `nil` become a JSON payload when they are one JSON document, and
    /// otherwise stay raw bytes without a type, which publishing refuses.
    public var contentType: String? {
        get { extras?.contentType }
        set {
            extras = EventExtras.make(contentType: newValue, origin: origin, headers: headers, sourceIdentity: sourceIdentity)
            if newValue != nil, body.isJSON {
                body = .bytes(PayloadBytes(validated: body.encoded, isJSON: false))
            } else if newValue == nil, !body.isJSON {
                let bytes = body.encoded
                let valid = bytes.withUnsafeBytes { (try? JSONValidation.validate($0)) != nil }
                if valid { body = .bytes(PayloadBytes(validated: bytes, isJSON: true)) }
            }
        }
    }

    /// Where the event entered the system, e.g. `"host-a/orders"`: set by a bridge so that an event is
    /// never sent back where it came from. `nil` for an event published here. At most 255 UTF-8 bytes.
    public var origin: String? {
        get { extras?.origin }
        set { extras = EventExtras.make(contentType: contentType, origin: newValue, headers: headers, sourceIdentity: sourceIdentity) }
    }

    /// Application headers (names of 1–255 bytes of visible ASCII, values of UTF-8 without line breaks;
    /// at most 64 KiB in all, checked at publish). They cross to NATS as NATS headers.
    public var headers: [String: String] {
        get { extras?.headers ?? [:] }
        set { extras = EventExtras.make(contentType: contentType, origin: origin, headers: newValue, sourceIdentity: sourceIdentity) }
    }

    /// The identity of the event's first commit, when it was committed again elsewhere (a replay into
    /// a new incarnation of a bus, a bridge): the same event keeps this identity however often it is
    /// forwarded, so a consumer can deduplicate across buses. `nil` for an event committed once.
    /// Setting ``EventIdentity/unassigned`` (no event has it) sets `nil`.
    public var sourceIdentity: EventIdentity? {
        get { extras?.sourceIdentity }
        set {
            let identity = newValue == .unassigned ? nil : newValue
            extras = EventExtras.make(contentType: contentType, origin: origin, headers: headers, sourceIdentity: identity)
        }
    }

    /// The identity that names this event across buses: ``sourceIdentity`` when it was forwarded, else
    /// ``identity``.
    public var originalIdentity: EventIdentity { sourceIdentity ?? identity }

    /// An event with a raw payload of another content type (protobuf, an image, …): the bytes travel as
    /// they are, are never parsed, and ``payload`` reads `.null`. `contentType` is 1–255 bytes of
    /// visible ASCII, e.g. `"application/x-protobuf"` (checked at publish).
    public init(topic: String, bytes: some Sequence<UInt8>, contentType: String, idempotencyKey: String? = nil) {
        self.init(topic: topic, body: .bytes(PayloadBytes(validated: Array(bytes), isJSON: false)), timestamp: Date(),
                  idempotencyKey: idempotencyKey, contentType: contentType)
    }

    /// A new event (stamped now, not yet published) with `other`'s payload and content type, shared as
    /// they are: forwarding a payload this way neither decodes nor copies it (`Event(topic:payload:
    /// other.payload)` would decode and encode again).
    ///
    /// ```swift
    /// try await bus.subscribe(toTopics: ["ping"], ClosureHandler { e in
    ///     try await bus.publish(Event(topic: "pong", payloadOf: e))
    /// })
    /// ```
    public init(topic: String, payloadOf other: Event, idempotencyKey: String? = nil) {
        self.init(topic: topic, body: other.body, timestamp: Date(), idempotencyKey: idempotencyKey,
                  contentType: other.contentType)
    }

    /// An event whose JSON payload is given as bytes (validated here, strictly; published as they are).
    /// - Throws: ``JSONDecodingError`` naming the first invalid byte.
    public init(topic: String, jsonBytes: some Sequence<UInt8>, idempotencyKey: String? = nil) throws(JSONDecodingError) {
        let json = Array(jsonBytes)
        let problem: JSONDecodingError? = json.withUnsafeBytes { b in
            do throws(JSONDecodingError) { try JSONValidation.validate(b); return nil } catch { return error }
        }
        if let problem { throw problem }
        self.init(topic: topic, body: .bytes(PayloadBytes(validated: json, isJSON: true)), timestamp: Date(),
                  idempotencyKey: idempotencyKey)
    }

    /// An event whose payload is `value` encoded as JSON by RingBus's own encoder (PayloadEncoder.swift:
    /// members in the order the value encodes them; what Foundation's `JSONDecoder` with its defaults,
    /// and ``decode(_:using:)``, read back as `value`: `Data` as base64, `URL` as a string, `Date` as
    /// its own encoding). About ten times faster than Foundation's `JSONEncoder`; to use that one (other
    /// strategies, sorted keys), encode yourself and pass the bytes to ``init(topic:jsonBytes:idempotencyKey:)``.
    /// - Throws: `EncodingError.invalidValue` for a NaN or infinite number or a value nested deeper than
    ///   512; the value's own encoding errors.
    public init(topic: String, encoding value: some Encodable, idempotencyKey: String? = nil) throws {
        try self.init(topic: topic, jsonBytes: try encodePayload(value), idempotencyKey: idempotencyKey)
    }

    /// The JSON payload decoded as `T` (Foundation's `JSONDecoder`).
    /// - Throws: `DecodingError` when the payload does not fit `T` or is not JSON.
    public func decode<T: Decodable>(_ type: T.Type, using decoder: JSONDecoder = JSONDecoder()) throws -> T {
        guard isJSON else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription:
                "the payload is \(contentType ?? "?"), not JSON"))
        }
        return try decoder.decode(type, from: Data(payloadBytes))
    }
}
