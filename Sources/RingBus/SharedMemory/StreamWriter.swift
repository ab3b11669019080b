// StreamWriter.swift: the single producer of one stream (claim, write in place, commit).
//
// Thin Swift face of rbus_producer_*: the hot path is the C static inline code, inlined into these
// methods in release builds. Not Sendable: one thread publishes through a writer.

internal import CRingBus

/// What a publish attempt did.
public enum PublishOutcome: Equatable, Sendable {
    /// Committed with this sequence number.
    case published(sequence: UInt64)
    /// Gating consumers hold the space this event needs (fail-fast mode).
    case full
}

/// The single producer of one stream of a bus. Claim a stream by creating a writer; close it with `close()`
/// or by dropping the last reference. A crashed writer's stream is reclaimed by the next writer, which
/// continues the sequence from committed state.
public final class StreamWriter {
    let segment: SharedSegment
    /// The C producer; its owner (``OwnedHandle``) closes it exactly once.
    private let handle: OwnedHandle<rbus_producer>
    /// `handle.pointer`, kept beside it for the hot path.
    let p: UnsafeMutablePointer<rbus_producer>

    /// Claims a stream. With `durableName`, a restarted producer finds its own stream again.
    /// The corresponding C function is `rbus_producer_open`.
    /// - Throws: ``SegmentError/noFreeSlot(bus:what:)`` (`"stream"`), ``SegmentError/durableNameInUse(bus:name:)``,
    ///   ``SegmentError/invalidName(_:)`` (the durable name), ``SegmentError/busRemoved(bus:)``,
    ///   ``SegmentError/forked(bus:)``, ``SegmentError/corrupt(bus:reason:)``, ``SegmentError/busy(bus:)``
    ///   or ``SegmentError/system(bus:_:)``.
    public init(segment: SharedSegment, durableName: String? = nil) throws(SegmentError) {
        if let durableName, durableName.utf8.contains(0) { // C would see only the part before the NUL
            throw .invalidParameter("producer name '\(durableName)' holds a NUL byte")
        }
        handle = try OwnedHandle(acquire: { (p) throws(SegmentError) in
            var err = rbus_error()
            let s = rbus_producer_open(segment.bus, durableName, p, &err)
            guard s == RBUS_OK else {
                throw SegmentError.from(s.rawValue, err, bus: segment.name, what: "stream", name: durableName)
            }
        }, release: { rbus_producer_close($0) })
        p = handle.pointer
        self.segment = segment
        try FaultInjection.fail(at: .streamWriterOpened, bus: segment.name)
    }

    /// Releases the stream (a durable name keeps it reserved). Uncommitted claims are discarded.
    public func close() { handle.release() }

    /// The stream index this writer owns.
    public var stream: Int { Int(p.pointee.stream) }
    /// The sequence the next claimed event gets.
    public var nextSequence: UInt64 { p.pointee.next_seq }

    /// Claims room for one event and writes its header and topic; returns the payload bytes to fill, or
    /// `nil` when the ring is full. Visible to consumers at the next ``commit()``.
    /// The corresponding C function is `rbus_producer_claim`.
    @inline(__always)
    public func claim(topic: PreparedTopic, payloadLength: Int, key: UInt64? = nil) throws(SegmentError)
        -> UnsafeMutableRawBufferPointer?
    {
        var dst: UnsafeMutablePointer<UInt8>? = nil
        let s = topic.bytes.withUnsafeBufferPointer {
            rbus_producer_claim(p, $0.baseAddress, UInt32($0.count), topic.hash, UInt32(clamping: payloadLength),
                                key ?? 0, key == nil ? 0 : UInt32(RBUS_REC_FLAG_KEY), &dst)
        }
        switch s {
        case RBUS_OK: return UnsafeMutableRawBufferPointer(start: dst, count: payloadLength)
        case RBUS_FULL: return nil
        case RBUS_E_TOO_LARGE: throw .payloadTooLarge(size: payloadLength, limit: segment.maxEventSize)
        default: throw .forked(bus: segment.name)
        }
    }

    /// Where a claim for `topic` and `payloadLength` bytes would end in the stream (the position the
    /// ring must have room up to). The corresponding C function is `rbus_producer_claim_end`.
    public func claimEnd(topic: PreparedTopic, payloadLength: Int) -> UInt64 {
        rbus_producer_claim_end(p, UInt32(topic.bytes.count), UInt32(clamping: payloadLength))
    }

    /// Makes every claimed event visible with one release store, and wakes sleeping consumers if any
    /// (no system call while nobody sleeps). Returns the number of events committed.
    /// The corresponding C function is `rbus_producer_commit`.
    @inline(__always) @discardableResult
    public func commit() -> Int { Int(rbus_producer_commit(p)) }

    /// Claims, copies and commits one event; returns ``PublishOutcome/full`` instead of waiting.
    @inline(__always)
    public func publish(topic: PreparedTopic, payload: UnsafeRawBufferPointer, key: UInt64? = nil) throws(SegmentError)
        -> PublishOutcome
    {
        guard let dst = try claim(topic: topic, payloadLength: payload.count, key: key) else { return .full }
        if payload.count > 0 { dst.copyMemory(from: payload) }
        let seq = p.pointee.next_seq &- 1
        commit()
        return .published(sequence: seq)
    }

    /// Like ``publish(topic:payload:key:)`` but waits up to `timeout` for room when gating consumers hold
    /// the ring; blocks the calling thread, so it is not for async code. Returns `.full` on timeout.
    public func publish(topic: PreparedTopic, payload: UnsafeRawBufferPointer, key: UInt64? = nil,
                        waitingUpTo timeout: Duration) throws(SegmentError) -> PublishOutcome {
        let s = topic.bytes.withUnsafeBufferPointer {
            rbus_producer_publish_wait(p, $0.baseAddress, UInt32($0.count), topic.hash, payload.baseAddress,
                                       UInt32(clamping: payload.count), key ?? 0,
                                       key == nil ? 0 : UInt32(RBUS_REC_FLAG_KEY), timeout.nanoseconds)
        }
        switch s {
        case RBUS_OK: return .published(sequence: p.pointee.next_seq &- 1)
        case RBUS_TIMEOUT, RBUS_FULL: return .full
        case RBUS_E_TOO_LARGE: throw .payloadTooLarge(size: payload.count, limit: segment.maxEventSize)
        case RBUS_E_REMOVED: throw .busRemoved(bus: segment.name)
        default: throw .forked(bus: segment.name)
        }
    }
}

extension StreamWriter {
    /// Publishes one event, suspending (never blocking the thread) while gating readers hold the ring:
    /// `waiter`'s thread wakes this task when there is room. Returns ``PublishOutcome/full`` only when
    /// the bus was removed or the waiter stopped meanwhile.
    public func publish(topic: PreparedTopic, payload: [UInt8], key: UInt64? = nil, waiter: BusWaiter) async throws(SegmentError)
        -> PublishOutcome
    {
        while true {
            let attempt = payload.withUnsafeBytes { b in Result { () throws(SegmentError) in try publish(topic: topic, payload: b, key: key) } }
            let outcome = try attempt.get()
            if case .published = outcome { return outcome }
            guard await waiter.waitForRoom(self, topic: topic, payloadLength: payload.count) else {
                if segment.isRemoved { throw .busRemoved(bus: segment.name) }
                return .full
            }
        }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (s, a) = components
        let (ns, o) = s.multipliedReportingOverflow(by: 1_000_000_000)
        return o ? .max : ns &+ a / 1_000_000_000
    }
}
