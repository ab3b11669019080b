// StreamReader.swift: one consumer of every stream of a bus (lossy or gating), polling or waiting.
//
// Thin Swift face of rbus_consumer_*. Records are handed to a closure as a borrowed ``RecordView``
// valid only inside it: a view into the ring for gating readers (the producer cannot overwrite it
// before the batch is committed), a private validated copy for lossy ones. Not Sendable.

internal import CRingBus

/// How a reader treats the producer.
public enum ReaderMode: Sendable, Hashable {
    /// At-most-once: never slows the producer; a reader that falls a lap behind loses events, counted.
    case lossy
    /// The producer never overwrites what this reader has not committed (at-least-once building block).
    case gating
}

/// Where a new reader starts.
public enum StartPosition: Sendable, Hashable {
    /// Events committed after the reader opens.
    case latest
    /// The oldest lap boundary still in each ring.
    case earliest
    /// The durable name's committed cursor (``latest`` for a new name).
    case committed
    /// The durable name's committed cursor (``earliest`` for a new name): a new durable consumer that
    /// reads what the rings still hold, then resumes where it left off.
    case committedOrEarliest
    /// These per-stream positions (an application-stored resume point).
    case positions([UInt64])
}

/// How ``StreamReader/wait(timeout:strategy:)`` waits.
public enum WaitStrategy: Sendable, Hashable {
    /// Busy-poll (one CPU per waiter).
    case spin
    /// Spin briefly if the machine has a spare CPU, then sleep on the doorbell futex.
    case adaptive(spin: Duration = .microseconds(50))
    /// Sleep on the doorbell futex at once.
    case block
}

/// One event, borrowed: its bytes are valid only inside the closure that received it.
public struct RecordView: ~Copyable {
    /// Topic bytes (UTF-8).
    public let topic: UnsafeRawBufferPointer
    /// Payload bytes.
    public let payload: UnsafeRawBufferPointer
    /// The stream (producer) index.
    public let stream: Int
    /// Dense per-stream sequence number.
    public let sequence: UInt64
    /// Raw clock ticks; ``SharedSegment/wallClockNanoseconds(ticks:)`` converts.
    public let timestampTicks: UInt64
    /// FNV-1a 32 of the topic.
    public let topicHash: UInt32
    /// The idempotency key, if the publisher gave one.
    public let key: UInt64?
    /// Where this record starts in its stream (move the reader back here to read it again).
    public let position: UInt64
    /// The cursor just past this record (store it to resume after it).
    public let nextPosition: UInt64
    /// True when the bytes are a private copy (lossy readers), false for a view into the ring.
    public let isCopy: Bool
}

/// The design's name for a borrowed record: `poll(max:) { (view: borrowing EventView) in … }`.
public typealias EventView = RecordView

/// Counters of one reader (also published into its slot for observers).
public struct ReaderCounters: Sendable, Hashable {
    /// Records delivered to this reader.
    public var received: UInt64
    /// Records a lossy reader lost to being lapped.
    public var dropped: UInt64
    /// Records that went by before this reader joined or while it was evicted.
    public var missed: UInt64
    /// Futex sleeps.
    public var futexWaits: UInt64
    /// Sleeps that ended by their safety timeout rather than a wake (a lost wakeup would count here).
    public var wakeupsByTimeout: UInt64
    /// Times the producer overwrote what this lossy reader was about to read.
    public var laps: UInt64
    /// Records refused as corrupt.
    public var corrupt: UInt64
}

/// A consumer of every stream of one bus. Create one per consuming thread.
public final class StreamReader {
    let segment: SharedSegment
    /// The C consumer; its owner (``OwnedHandle``) closes it exactly once.
    private let handle: OwnedHandle<rbus_consumer>
    /// A lossy reader's validated copies land here; freed in `deinit`, after the consumer is closed.
    private let scratch: UnsafeMutableRawPointer
    /// `handle.pointer`, kept beside it for the hot path.
    let c: UnsafeMutablePointer<rbus_consumer>
    /// Whether this reader resumed a durable name's place, and whether it had been evicted meanwhile.
    public let resumed: Bool
    /// True when the durable name had been evicted while its owner was away.
    public let wasEvicted: Bool
    /// True when the durable name's previous owner died holding it (rather than closing): what it had
    /// handled but not committed is read again.
    public let previousOwnerDied: Bool

    /// Claims a consumer slot. The corresponding C function is `rbus_consumer_open`.
    /// - Throws: ``SegmentError/noFreeSlot(bus:what:)`` (`"consumer slot"`), ``SegmentError/durableNameInUse(bus:name:)``,
    ///   ``SegmentError/invalidName(_:)`` (the durable name), ``SegmentError/invalidParameter(_:)`` (resume
    ///   positions), ``SegmentError/busRemoved(bus:)``, ``SegmentError/forked(bus:)``, ``SegmentError/busy(bus:)``
    ///   or ``SegmentError/system(bus:_:)``.
    public init(segment: SharedSegment, mode: ReaderMode, durableName: String? = nil,
                start: StartPosition = .latest) throws(SegmentError) {
        let m = UInt32(mode == .lossy ? RBUS_MODE_LOSSY : RBUS_MODE_GATING)
        var positions: [UInt64] = []
        let startC: rbus_start
        switch start {
        case .latest: startC = RBUS_START_LATEST
        case .earliest: startC = RBUS_START_EARLIEST
        case .committed: startC = RBUS_START_COMMITTED
        case .committedOrEarliest: startC = RBUS_START_COMMITTED_OR_EARLIEST
        case .positions(let p): startC = RBUS_START_POSITION; positions = p
        }
        if case .positions = start, positions.count != segment.streams {
            throw .invalidParameter("resume positions: expected \(segment.streams), got \(positions.count)")
        }
        var info = rbus_open_info()
        if let durableName, durableName.utf8.contains(0) { // C would see only the part before the NUL
            throw .invalidParameter("durable name '\(durableName)' holds a NUL byte")
        }
        // Allocated just before the open and freed here if the open fails; after it, `deinit` frees it.
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: Int(segment.bus.pointee.max_record), alignment: 16)
        do {
            handle = try OwnedHandle(acquire: { (c) throws(SegmentError) in
                var err = rbus_error()
                let s = positions.withUnsafeBufferPointer {
                    rbus_consumer_open(segment.bus, durableName, m, startC, $0.baseAddress,
                                       scratch.assumingMemoryBound(to: UInt8.self), c, &info, &err)
                }
                guard s == RBUS_OK else {
                    throw SegmentError.from(s.rawValue, err, bus: segment.name, what: "consumer slot", name: durableName)
                }
            }, release: { rbus_consumer_close($0) })
        } catch {
            scratch.deallocate()
            throw error
        }
        c = handle.pointer
        self.scratch = scratch
        self.segment = segment
        resumed = info.resumed != 0
        wasEvicted = info.was_evicted != 0
        previousOwnerDied = info.crashed != 0
        try FaultInjection.fail(at: .streamReaderOpened, bus: segment.name)
    }

    deinit {
        handle.release() // the consumer may point into scratch until it is closed
        scratch.deallocate()
    }

    /// Commits and releases the slot (a durable reader keeps its place and its cursor).
    public func close() { handle.release() }

    /// The slot index this reader holds.
    public var slot: Int { Int(c.pointee.slot) }

    /// Counters so far.
    public var counters: ReaderCounters {
        let k = c.pointee
        return ReaderCounters(received: k.received, dropped: k.dropped, missed: k.missed, futexWaits: k.futex_waits,
                              wakeupsByTimeout: k.wakeups_by_timeout, laps: k.laps, corrupt: k.corrupt)
    }

    /// Delivers up to `max` events to `body`, then commits the cursor once (gating: the producer may now
    /// reuse that space). If `body` throws, the failing event is not committed and the error propagates.
    /// Records that fail validation are skipped and counted in ``ReaderCounters/corrupt``.
    /// - Returns: the number of events delivered.
    @inline(__always)
    public func poll<E: Error>(max: Int = 256, _ body: (borrowing RecordView) throws(E) -> Void) throws(E) -> Int {
        var v = rbus_event_view()
        var n = 0
        while n < max {
            guard nextRecord(&v) else { break }
            do {
                try body(Self.view(of: v))
            } catch {
                rbus_consumer_rewind(c, &v)
                rbus_consumer_commit(c)
                throw error
            }
            n += 1
        }
        rbus_consumer_commit(c)
        return n
    }

    // MARK: Reading without committing: the steps of a consumer that commits after its handler ran

    /// The next valid record into `v`: false when nothing is committed past the cursor (or the handle
    /// was inherited across fork). Records that fail validation are skipped, counted in `corrupt`.
    @inline(__always)
    private func nextRecord(_ v: inout rbus_event_view) -> Bool {
        while true {
            let s = rbus_consumer_next(c, &v)
            if s == RBUS_OK { return true }
            if s != RBUS_E_CORRUPT { return false } // empty, or forked: the handle is unusable here
        }
    }

    @inline(__always)
    private static func view(of v: rbus_event_view) -> RecordView {
        RecordView(
            topic: UnsafeRawBufferPointer(start: v.topic, count: Int(v.topic_len)),
            payload: UnsafeRawBufferPointer(start: v.payload, count: Int(v.payload_len)),
            stream: Int(v.stream), sequence: v.sequence, timestampTicks: v.timestamp, topicHash: v.topic_hash,
            key: v.flags & UInt32(RBUS_REC_FLAG_KEY) != 0 ? v.key : nil, position: v.position,
            nextPosition: v.next_position, isCopy: v.copied != 0)
    }

    /// Hands records to `body` until it returns `false` or nothing more is committed, and commits
    /// nothing: the caller commits with ``commit()`` or ``commit(stream:through:nextSequence:)`` after its
    /// handler ran, or moves back with ``reposition(stream:to:sequence:)``. A gating reader's views stay
    /// valid until that commit; a lossy reader's only inside `body`.
    /// The corresponding C function is `rbus_consumer_next`.
    @inline(__always)
    public func readUncommitted(_ body: (borrowing RecordView) -> Bool) {
        var v = rbus_event_view()
        while nextRecord(&v) {
            if !body(Self.view(of: v)) { return }
        }
    }

    /// Commits every stream's cursor at the read position (gating: the producer may reuse what is below).
    /// The corresponding C function is `rbus_consumer_commit`.
    public func commit() { rbus_consumer_commit(c) }

    /// Commits `stream`'s cursor at `position` (just past a handled record whose sequence was
    /// `nextSequence - 1`), leaving the read position where it is.
    /// The corresponding C function is `rbus_consumer_commit_at`.
    public func commit(stream: Int, through position: UInt64, nextSequence: UInt64) {
        rbus_consumer_commit_at(c, UInt32(stream), position, nextSequence)
    }

    /// Moves `stream`'s read position back to `position` (a record read but not handled, whose sequence
    /// is `sequence`), so that it is read again. The corresponding C function is `rbus_consumer_reposition`.
    public func reposition(stream: Int, to position: UInt64, sequence: UInt64) {
        rbus_consumer_reposition(c, UInt32(stream), position, sequence)
    }

    /// `stream`'s read position. The corresponding C function is `rbus_consumer_position`.
    public func position(stream: Int) -> UInt64 { rbus_consumer_position(c, UInt32(stream)) }

    /// `stream`'s committed cursor. The corresponding C function is `rbus_consumer_committed`.
    public func committedPosition(stream: Int) -> UInt64 { rbus_consumer_committed(c, UInt32(stream)) }

    /// Stores this reader's heartbeat (observers show its age); once per batch, never per event.
    /// The corresponding C function is `rbus_consumer_heartbeat`.
    public func heartbeat() { rbus_consumer_heartbeat(c) }

    /// True when some stream has a record past this reader's cursor. The corresponding C function is
    /// `rbus_wait_has_data`.
    public var hasData: Bool { rbus_wait_has_data(c) != 0 }

    /// Rule G6: lets producers stop waiting for this gating reader once it is more than `lag` bytes
    /// behind; from now on it reads validated copies. The corresponding C function is
    /// `rbus_consumer_set_demote_lag`.
    public func allowDemotion(afterLag lag: Int) { rbus_consumer_set_demote_lag(c, UInt64(lag)) }

    /// Marks this reader as spinning when the bus's one spinning rule allows it (fewer than online CPUs
    /// - 1 participants spin; `always`: an explicit `.spin` strategy); returns whether it may spin. Pair
    /// with ``endSpinning()``. The corresponding C function is `rbus_consumer_spin_begin`.
    public func beginSpinning(always: Bool) -> Bool { rbus_consumer_spin_begin(c, always ? 1 : 0) != 0 }

    /// The bus's spinning rule alone (no mark): whether a waiter may spin now. It reads a line per
    /// slot and stream, so a caller that waits often asks now and then, not at every wait.
    /// The corresponding C function is `rbus_bus_may_spin`.
    public var spinRuleAllows: Bool { rbus_bus_may_spin(segment.bus) != 0 }

    /// Clears the spinning mark. The corresponding C function is `rbus_consumer_spin_end`.
    public func endSpinning() { rbus_consumer_spin_end(c) }

    /// Records lost to being lapped (lossy or demoted) and records that went by before this reader could
    /// read them, so far.
    public var losses: (dropped: UInt64, missed: UInt64) { (c.pointee.dropped, c.pointee.missed) }

    /// Waits until some stream has data, `timeout` passes (`nil`: no limit), or the bus is removed.
    /// Blocks the calling thread: use it on a dedicated thread, never on Swift's cooperative pool.
    /// - Returns: `true` if data may be available, `false` on timeout.
    public func wait(timeout: Duration?, strategy: WaitStrategy = .adaptive()) throws(SegmentError) -> Bool {
        let (st, spin): (rbus_wait_strategy, Int64) = switch strategy {
        case .spin: (RBUS_WAIT_SPIN, 0)
        case .adaptive(let s): (RBUS_WAIT_ADAPTIVE, s.nanoseconds)
        case .block: (RBUS_WAIT_BLOCK, 0)
        }
        let s = rbus_consumer_wait(c, timeout?.nanoseconds ?? -1, st, UInt64(max(0, spin)))
        switch s {
        case RBUS_OK: return true
        case RBUS_TIMEOUT: return false
        case RBUS_E_REMOVED: throw .busRemoved(bus: segment.name)
        default: throw .forked(bus: segment.name)
        }
    }
}
