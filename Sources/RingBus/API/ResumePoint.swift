// ResumePoint.swift: where a durable subscription resumes, as an opaque token of the backend that made
// it: bytes the application stores atomically with its own effects (one write, one transaction) and
// hands back after a crash, so that each effect happens exactly once.

/// An opaque, per-backend position of a durable subscription: everything up to and including the event
/// being handled when it was taken.
///
/// Take one inside a handler with ``EventBus/currentResumePoint()``, store ``bytes`` with the handler's
/// effect, and after a restart subscribe with
/// ``EventBus/subscribe(toTopics:durableName:resumingAfter:_:)``: events the point covers are not
/// delivered again.
///
/// ```swift
/// try await bus.subscribe(toTopics: ["orders.>"], durableName: "billing", ClosureHandler { event in
///     let point = bus.currentResumePoint()!
///     try store.apply(effect(of: event), resumeAt: point.bytes)   // one transaction
/// })
/// // after a crash:
/// let saved = ResumePoint(bytes: try store.savedResumeBytes())
/// try await bus.subscribe(toTopics: ["orders.>"], durableName: "billing", resumingAfter: saved, handler)
/// ```
public struct ResumePoint: Sendable, Hashable {
    /// The token's bytes: store them as they are. Their format is the backend's (documented in
    /// Docs/API.md); a bus refuses a point made by another backend or another incarnation of the bus.
    public var bytes: [UInt8]

    /// A resume point from bytes stored earlier.
    public init(bytes: [UInt8]) { self.bytes = bytes }
}

/// The bytes of a resume point: `RBRP`, the backend's kind, a format version, two reserved bytes, the
/// bus incarnation (little-endian 64-bit), then the backend's positions as little-endian 64-bit words.
/// Each backend encodes and decodes its own; this is the common frame.
struct ResumePointFrame {
    enum Kind: UInt8 { case inMemory = 1, sharedMemory = 2 }
    static let magic: [UInt8] = Array("RBRP".utf8)
    static let version: UInt8 = 1

    let kind: Kind
    let incarnation: UInt64
    let positions: [UInt64]

    var point: ResumePoint {
        var b = Self.magic + [kind.rawValue, Self.version, 0, 0]
        for word in [incarnation] + positions { withUnsafeBytes(of: word.littleEndian) { b.append(contentsOf: $0) } }
        return ResumePoint(bytes: b)
    }

    /// Decodes `point` for a bus of `kind` and `incarnation`; the reason when it is not one of its points.
    static func decode(_ point: ResumePoint, kind: Kind, incarnation: UInt64) -> Result<[UInt64], EventBusError> {
        let b = point.bytes
        guard b.count >= 16, (b.count - 16) % 8 == 0, Array(b[0..<4]) == magic else {
            return .failure(.subscribeError("not a resume point (\(b.count) bytes)"))
        }
        guard b[4] == kind.rawValue else { return .failure(.subscribeError("a resume point of another kind of bus")) }
        guard b[5] == version else { return .failure(.subscribeError("a resume point of format version \(b[5])")) }
        let words = stride(from: 8, to: b.count, by: 8).map { i in
            b[i..<(i + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        }
        guard words[0] == incarnation else {
            return .failure(.subscribeError("a resume point of another incarnation of the bus (it was removed and made again)"))
        }
        return .success(Array(words.dropFirst()))
    }
}
