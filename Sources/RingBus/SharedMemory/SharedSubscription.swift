// SharedSubscription.swift: one subscription of a SharedMemoryEventBus: a consumer slot of the bus,
// read by one task that passes over records of other topics (by the header's hash, then the bytes),
// decodes matching ones into Events, runs the handler, and (gating) commits each stream's cursor only
// after the handler is done with the events below it.
//
// Who touches what: the consumer (`reader.c`) belongs to the subscription's task; the bus thread reads
// its cursors only while that task is suspended in its wait. The atomics below are what other tasks
// (flush, stats, cancel) read or set.

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Process-wide subscription ids for shared-memory buses, from 2^62 up: never equal to an in-process
/// bus's ids, so `SubscriptionContext` cannot confuse a handler of one bus with one of another.
private let nextSharedSubscriptionID = Atomic<UInt64>(1 << 62)

final class SharedSubscription: @unchecked Sendable { // see the header for who touches what
    let id: UInt64
    /// `nil`: every topic.
    let filters: [TopicFilter]?
    let reader: StreamReader
    let gating: Bool
    /// Events taken off the ring per batch before they are handled: the config's `bufferSize`.
    let batchLimit: Int
    /// Gating: commit a stream's cursor after this many handled events of it (1: after each).
    let commitBatch: Int
    let streams: Int
    let counters = SubscriptionCounters()
    /// Events taken off the ring and not yet handled.
    let queued = Atomic<Int>(0)
    /// Lossy events lost to laps, and events missed (eviction, late join), as the consumer counted them.
    let lapped = Atomic<UInt64>(0)
    let missed = Atomic<UInt64>(0)
    let undecodable = Atomic<UInt64>(0)
    /// Set (release) by `stop`; the task checks it (acquire) before each event.
    let stopping = Atomic<Bool>(false)
    /// Set (release) once the task has closed the consumer and will touch nothing again.
    let ended = Atomic<Bool>(false)
    /// Per stream: every record below this position is handled or was passed over (release by the
    /// task after the handler returned; acquire by flush).
    private let handled: UnsafeMutablePointer<Atomic<UInt64>>
    /// Per stream, after resuming the place of a durable owner that died: how many more events to mark
    /// `redelivered` (task only).
    private var redeliveries: [Int]
    /// The spinning rule's last answer and until when it is used (the delivery loop only).
    var spinDecision: (allowed: Bool, until: ContinuousClock.Instant)?
    /// The event being handled: its stream and the position just past it (task only).
    private(set) var inHandler: (stream: Int, nextPosition: UInt64)?
    /// A batch handler's batch, per stream the position just past its last event there (task only).
    private var batchInHandler: [(stream: Int, nextPosition: UInt64)] = []

    /// One event taken off the ring, with where it lies, so the cursor can be committed past it (or the
    /// reader moved back to it) later.
    struct Taken {
        var event: Event
        let stream: UInt32
        let position: UInt64
        let nextPosition: UInt64
        let sequence: UInt64
    }

    init(segment: SharedSegment, filters: [TopicFilter]?, gating: Bool, durableName: String?, start: StartPosition,
         batchLimit: Int, commitBatch: Int, slowConsumerPolicy: SlowConsumerPolicy = .block,
         batchHandler: Bool = false) throws(SegmentError)
    {
        if case .demoteToLossy(let lag) = slowConsumerPolicy, !(1...segment.capacity).contains(lag) {
            throw .invalidParameter("demoteToLossy(afterLag:) must be 1...\(segment.capacity) bytes (the ring), got \(lag)")
        }
        id = nextSharedSubscriptionID.wrappingAdd(1, ordering: .relaxed).oldValue
        self.filters = filters
        self.gating = gating
        self.batchLimit = max(1, batchLimit)
        self.commitBatch = max(1, commitBatch)
        reader = try StreamReader(segment: segment, mode: gating ? .gating : .lossy, durableName: durableName,
                                  start: start)
        // Before `handled` is allocated: a throw here leaves `reader` (closed by its own owner) as the
        // only resource, and `deinit` does not run for a partly initialised object.
        try FaultInjection.fail(at: .subscriptionOpened, bus: segment.name)
        streams = segment.streams
        handled = .allocate(capacity: streams)
        for si in 0..<streams {
            (handled + si).initialize(to: Atomic(reader.position(stream: si)))
        }
        // After a crash, the events that may already have reached the handler are marked: up to
        // commitBatch per stream, or for a batch handler (its place moves past a whole batch at once) up
        // to a batch, bufferSize events (the second outside attack saw only the first of a batch marked).
        let mayRepeat = batchHandler ? max(self.commitBatch, self.batchLimit) : self.commitBatch
        redeliveries = Array(repeating: reader.previousOwnerDied ? mayRepeat : 0, count: streams)
        if gating, case .demoteToLossy(let lag) = slowConsumerPolicy {
            reader.allowDemotion(afterLag: lag) // G6: reads are validated copies from now on
        }
    }

    deinit {
        handled.deinitialize(count: streams)
        handled.deallocate()
    }

    /// The consumer slot this subscription holds.
    var slot: Int { reader.slot }

    /// True once every record below `tails` (one per stream) is handled or passed over.
    func hasHandled(upTo tails: [UInt64]) -> Bool {
        for si in 0..<streams where handled[si].load(ordering: .acquiring) < tails[si] { return false }
        return true
    }

    /// Where to resume so that the event being handled and everything before it are not delivered
    /// again: per stream, past every handled event, and past the one in the handler. Called from the
    /// handler (the subscription's own task).
    func resumePoint() -> [UInt64] {
        var positions = (0..<streams).map { handled[$0].load(ordering: .acquiring) }
        if let (si, next) = inHandler { positions[si] = max(positions[si], next) }
        for (si, next) in batchInHandler { positions[si] = max(positions[si], next) }
        return positions
    }

    /// The event at (`stream`, `nextPosition`) is about to reach the handler. Scalars, not the whole
    /// `Taken`: passing that copied its event (retains and releases per event, perf).
    func willHandle(stream: UInt32, nextPosition: UInt64) { inHandler = (Int(stream), nextPosition) }

    /// A batch handler is about to run on `batch`: a resume point taken inside it covers every event
    /// of the batch, on every stream the batch spans.
    func willHandle(batch: [Taken]) {
        batchInHandler.removeAll(keepingCapacity: true)
        for t in batch { batchInHandler.append((Int(t.stream), t.nextPosition)) } // positions only grow
    }

    /// The batch handler returned (or gave up): its events are recorded as handled one by one.
    func handledBatch() { batchInHandler.removeAll(keepingCapacity: true) }

    /// Asks the task to end before its next event (it then closes the consumer).
    func stop(waiter: BusWaiter) {
        stopping.store(true, ordering: .releasing)
        waiter.cancelWait(id: id)
    }

    // MARK: The subscription's task only

    /// Reads up to `batchLimit` matching events into `batch`, never waiting. Records of other topics
    /// are passed over. A body that is not an event envelope at all (a zero-copy publish of other bytes)
    /// is counted in `undecodable` and skipped; an envelope that is invalid (a payload that is not JSON,
    /// a field out of its limits) is counted too and put in `rejected` for the dead-letter topic: it
    /// never reaches the handler.
    func read(into batch: inout [Taken], incarnation: UInt64) {
        // The properties a record touches, held in locals for the batch and put back after it: every
        // inout access to a class's stored property is checked for exclusivity at run time (swift_
        // beginAccess, a thread-local access set), which was 8% of a 64-byte event's delivery (perf).
        var pool = payloadPool, redelivering = redeliveries, last = lastTopic
        payloadPool = [] // the locals hold the only references: no copy on write
        redeliveries = []
        defer {
            payloadPool = pool
            redeliveries = redelivering
            lastTopic = last
        }
        reader.readUncommitted { (v: borrowing RecordView) -> Bool in
            if let filters, !filters.contains(where: { $0.matches(topicBytes: v.topic, hash: v.topicHash) }) { return true }
            let identity = EventIdentity(incarnation: incarnation, stream: v.stream, sequence: v.sequence)
            let slot = batch.count
            if pool.count <= slot { pool.append(nil) }
            let topicText = Self.text(of: v.topic, hash: v.topicHash, last: &last)
            var event: Event
            do throws(EventRecordError) {
                guard let topicText else { throw EventRecordError(offset: 0, reason: "the record's topic is empty or not UTF-8") }
                event = try EventRecord.decode(topicText: topicText, body: v.payload, identity: identity,
                                               reusing: &pool[slot])
            } catch {
                undecodable.add(1, ordering: .relaxed)
                if gating, EventRecord.isEnvelope(v.payload) { // as a handler failure: dead-lettered when gating
                    // At most the first 4 KiB of the body travel in the letter (base64 grows it by a third:
                    // a whole body near the bus's maximum could never be published as a letter).
                    let kept = UnsafeRawBufferPointer(rebasing: v.payload.prefix(4096))
                    var bad = Event(topic: topicText ?? "invalid-topic", bytes: kept, contentType: "application/octet-stream")
                    bad.headers = ["body-length": "\(v.payload.count)"]
                    bad.identity = identity
                    rejected.append((bad, error))
                }
                return true
            }
            if redelivering[v.stream] > 0 {
                redelivering[v.stream] -= 1
                event.redelivered = true
            }
            batch.append(Taken(event: event, stream: UInt32(v.stream), position: v.position, nextPosition: v.nextPosition,
                               sequence: v.sequence))
            return batch.count < batchLimit
        }
        publishCounters() // losses found while reading are visible to stats() before the batch is handled
    }

    /// Per place in a batch, the payload storage the last event there used: refilled in place when the
    /// handler did not keep that event (no allocation per event), replaced when it did (task only).
    private var payloadPool: [PayloadBytes?] = []
    /// Invalid event envelopes read since the delivery loop last took them, with why (task only).
    var rejected: [(event: Event, error: EventRecordError)] = []
    /// Dead letters waiting for this subscription to move past their events: its own place kept the
    /// ring full (SharedDelivery.deadLetter; task only).
    var deferredLetters: [Event] = []

    /// The topic of the last record decoded, as bytes and as text: most streams repeat a few topics,
    /// and comparing bytes is cheaper than validating them and making a String (task only).
    private var lastTopic: (hash: UInt32, bytes: [UInt8], text: String)?

    /// A record's topic bytes as text (validated UTF-8), or nil when they are not UTF-8 or empty;
    /// `last` is the topic decoded before (compared with memcmp: a generic elementsEqual was 3% of a
    /// 64-byte event's delivery).
    private static func text(of topic: UnsafeRawBufferPointer, hash: UInt32,
                             last: inout (hash: UInt32, bytes: [UInt8], text: String)?) -> String? {
        if let known = last, known.hash == hash, known.bytes.count == topic.count,
           topic.isEmpty || known.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, topic.baseAddress!, topic.count) == 0 }) {
            return known.text
        }
        guard !topic.isEmpty, let text = try? JSONParser.validUTF8(topic, at: 0) else { return nil }
        last = (hash, Array(topic), text)
        return text
    }

    /// After `taken`'s handler returned: records it as handled and, for a gating subscription, commits
    /// its stream's cursor past it once `commitBatch` events of that stream are handled.
    func handledOne(stream: UInt32, nextPosition: UInt64, sequence: UInt64, sinceCommit: inout [Int]) {
        inHandler = nil
        let si = Int(stream)
        if gating {
            sinceCommit[si] += 1
            if sinceCommit[si] >= commitBatch {
                sinceCommit[si] = 0
                reader.commit(stream: si, through: nextPosition, nextSequence: sequence &+ 1)
            }
        }
        handled[si].store(nextPosition, ordering: .releasing)
    }

    /// Everything read so far is handled (or passed over): commits every stream's cursor at the read
    /// position and publishes the counters.
    func handledAllRead() {
        reader.commit()
        for si in 0..<streams { handled[si].store(reader.position(stream: si), ordering: .releasing) }
        publishCounters()
    }

    /// Stopping with events read but not handled: moves each stream's read position back to its first
    /// unhandled event, so closing commits only what was handled (and a durable name resumes there).
    func unread(_ rest: ArraySlice<Taken>) {
        var moved = Set<UInt32>()
        for t in rest where moved.insert(t.stream).inserted {
            reader.reposition(stream: Int(t.stream), to: t.position, sequence: t.sequence)
        }
    }

    func publishCounters() {
        reader.heartbeat() // once per batch: observers show its age
        let losses = reader.losses
        lapped.store(losses.dropped, ordering: .relaxed)
        missed.store(losses.missed, ordering: .relaxed)
    }

    /// Closes the consumer (committing the read position) and marks the subscription ended.
    func end() {
        publishCounters()
        reader.close()
        queued.store(0, ordering: .relaxed)
        ended.store(true, ordering: .releasing)
    }

    /// Adds this subscription's counters to `s`.
    func add(into s: inout EventBusStats) {
        counters.add(into: &s)
        s.dropped &+= lapped.load(ordering: .relaxed)
        s.missed &+= missed.load(ordering: .relaxed)
        s.undecodable &+= undecodable.load(ordering: .relaxed)
    }
}
