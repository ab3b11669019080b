// BusSnapshot.swift: a read-only look at a bus any process can take without joining it (for stats
// and the `ringbus` command). A Swift face of rbus_snapshot.h: liveness is the owner's lock, names and
// counters are validated copies of another process's writes.

internal import CRingBus

/// What a stream or consumer slot's claim word says (display; liveness is ``StreamSnapshot/alive``).
public enum ClaimState: Sendable, Hashable {
    /// Never used, or released by a non-durable owner.
    case free
    /// Owned (if its lock is free, the owner died).
    case active
    /// A durable owner closed cleanly and keeps its place.
    case detached
    /// A dead durable gating consumer past its grace; it no longer gates.
    case evicted
    /// A value no build of RingBus writes (the segment was tampered with).
    case unknown(UInt32)

    init(_ raw: UInt32) {
        switch raw {
        case UInt32(RBUS_STATE_FREE): self = .free
        case UInt32(RBUS_STATE_ACTIVE): self = .active
        case UInt32(RBUS_STATE_DETACHED): self = .detached
        case UInt32(RBUS_STATE_EVICTED): self = .evicted
        default: self = .unknown(raw)
        }
    }
}

/// One producer stream, as seen from outside.
public struct StreamSnapshot: Sendable, Hashable {
    /// The stream's index.
    public var stream: Int
    /// What its claim word says.
    public var state: ClaimState
    /// The last claimant's pid (display only: liveness is ``alive``).
    public var pid: Int32
    /// True while a producer holds the stream's lock.
    public var alive: Bool
    /// The durable producer name, if any.
    public var durableName: String?
    /// Events committed: the next event's sequence.
    public var published: UInt64
    /// Claims refused because gating consumers held the ring (back-pressure).
    public var fullEvents: UInt64
    /// Times a producer rang the doorbell for sleeping consumers.
    public var wakes: UInt64
    /// Gating consumers evicted by this stream's producers.
    public var evictions: UInt64
}

/// One consumer slot in use (or keeping a durable name's place), as seen from outside.
public struct ConsumerSnapshot: Sendable, Hashable {
    /// The slot's index.
    public var slot: Int
    /// What its claim word says.
    public var state: ClaimState
    /// The last claimant's pid (display only).
    public var pid: Int32
    /// True while a consumer holds the slot's lock.
    public var alive: Bool
    /// Lossy or gating; `nil` for a value no build of RingBus writes.
    public var mode: ReaderMode?
    /// The durable name, if any.
    public var durableName: String?
    /// Events committed on every stream and not yet consumed by this slot.
    public var lag: UInt64
    /// Events delivered to it.
    public var received: UInt64
    /// Events a lossy consumer lost to being lapped.
    public var dropped: UInt64
    /// Events that went by before it joined or while it was evicted.
    public var missed: UInt64
    /// Records it refused as corrupt.
    public var corrupt: UInt64
    /// Times it was evicted.
    public var evictions: UInt64
    /// CLOCK_MONOTONIC nanoseconds of its last poll batch (0 before the first).
    public var heartbeatNanoseconds: UInt64
}

/// A read-only look at one bus: its producers and consumers.
public struct BusSnapshot: Sendable, Hashable {
    /// The bus name.
    public var name: String
    /// Size of the segment in bytes.
    public var sizeBytes: UInt64
    /// Every stream, claimed or not.
    public var streams: [StreamSnapshot]
    /// Slots in use or keeping a durable name's place (free, nameless slots are left out).
    public var consumers: [ConsumerSnapshot]

    /// Attaches `name` read-only, copies its state, and detaches; never joins the bus or writes to it.
    /// - Throws: the ``SegmentError`` of attaching (unknown bus, permission, corrupt or other layout).
    public static func take(bus name: String) throws(SegmentError) -> BusSnapshot {
        let segment = try SharedSegment.attach(name: name, readOnly: true)
        try FaultInjection.fail(at: .snapshotAttached, bus: name) // the mapping is released with `segment`
        return segment.snapshot()
    }

    /// Events committed on all streams.
    public var published: UInt64 { streams.reduce(0) { $0 &+ $1.published } }
}

extension SharedSegment {
    /// A read-only snapshot of this bus's producers and consumers.
    public func snapshot() -> BusSnapshot {
        var streams: [StreamSnapshot] = []
        for i in 0..<self.streams {
            var s = rbus_stream_snapshot()
            guard rbus_snapshot_stream(bus, UInt32(i), &s) == RBUS_OK else { continue }
            let durable = Self.name(s.name)
            streams.append(StreamSnapshot(
                stream: i, state: ClaimState(s.state), pid: Int32(bitPattern: s.pid), alive: s.alive == 1,
                durableName: durable.isEmpty ? nil : durable, published: s.published, fullEvents: s.full_events,
                wakes: s.wakes, evictions: s.evictions))
        }
        var consumers: [ConsumerSnapshot] = []
        for j in 0..<consumerSlots {
            var c = rbus_consumer_snapshot()
            guard rbus_snapshot_consumer(bus, UInt32(j), &c) == RBUS_OK else { continue }
            let durable = Self.name(c.name)
            let state = ClaimState(c.state)
            if state == .free && durable.isEmpty && c.alive != 1 { continue }
            let mode: ReaderMode? = switch c.mode {
            case UInt32(RBUS_MODE_LOSSY): .lossy
            case UInt32(RBUS_MODE_GATING): .gating
            default: nil
            }
            consumers.append(ConsumerSnapshot(
                slot: j, state: state, pid: Int32(bitPattern: c.pid), alive: c.alive == 1, mode: mode,
                durableName: durable.isEmpty ? nil : durable, lag: c.lag, received: c.received, dropped: c.dropped,
                missed: c.missed, corrupt: c.corrupt, evictions: c.evictions, heartbeatNanoseconds: c.heartbeat_ns))
        }
        return BusSnapshot(name: name, sizeBytes: size, streams: streams, consumers: consumers)
    }

    /// A NUL-terminated C name (a tuple of CChar) as text; invalid UTF-8 is replaced, not trusted.
    private static func name<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
