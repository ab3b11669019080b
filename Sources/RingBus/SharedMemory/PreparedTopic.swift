// PreparedTopic.swift: a topic validated and hashed once, for the zero-allocation publish path.

internal import CRingBus

/// A topic whose bytes and FNV-1a hash were computed once, so publishing with it neither allocates nor
/// re-validates. Topics are 1–255 bytes of UTF-8.
public struct PreparedTopic: Sendable, Hashable {
    let bytes: [UInt8]
    /// FNV-1a 32 of the topic bytes: the hash stored in every record (`rbus_topic_hash`).
    public let hash: UInt32

    /// - Throws: ``SegmentError/topicTooLong(length:)`` or ``SegmentError/invalidParameter(_:)`` (empty).
    public init(_ topic: String) throws(SegmentError) {
        let b = Array(topic.utf8)
        guard !b.isEmpty else { throw .invalidParameter("topic must not be empty") }
        guard b.count <= Int(RBUS_TOPIC_MAX) else { throw .topicTooLong(length: b.count) }
        bytes = b
        hash = TopicHash.of(b)
    }

    /// The topic as text.
    public var string: String { String(decoding: bytes, as: UTF8.self) }
}
