// SharedPublisher.swift: the publish pipeline of one SharedMemoryEventBus object.
//
// Owns this object's stream (a StreamWriter taken at the first publish) and everything on the way to
// it: the topic cache, exactly-once dedupe by idempotency key, the body encoded once into a reused
// buffer, the wait for room when gating consumers hold the ring (suspended, resumed by the bus thread;
// other publishers of this object queue behind it, since a stream has one writer at a time), eviction
// announcements and dead letters. Calls no rbus_* function: it goes through StreamWriter, StreamReader
// and SharedSegment.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

final class SharedPublisher: @unchecked Sendable { // state under its lock
    private let segment: SharedSegment
    private let config: EventBusConfig
    private let options: SharedMemoryBusOptions
    private let waiter: BusWaiter
    private let telemetry: BusTelemetry
    private let logger: Logger
    /// The gating subscription of this bus object whose handler the calling task runs, if any: a wait
    /// for room that subscription holds would wait for itself.
    private let currentSubscription: @Sendable () -> SharedSubscription?
    private let state = LockedState(Publishing())

    private struct Publishing {
        var writer: StreamWriter?
        var lastTopic: (name: String, prepared: PreparedTopic)?
        /// The body being published (EventRecord), reused so that encoding allocates nothing; kept
        /// across a wait for room, so an event is encoded once however long it waits.
        var body: [UInt8] = []
        /// Exactly-once: idempotency keys (by their 64-bit hash, as stored in record headers) committed
        /// on this object's stream within the dedupe window.
        var dedupe: [UInt64: (identity: EventIdentity, at: ContinuousClock.Instant)] = [:]
        /// True while a publisher waits for room with the writer (and `body`): others queue in `queue`.
        var busy = false
        /// While busy: where the waiting claim ends in the stream.
        var waitingEnd: UInt64 = 0
        var queue: [CheckedContinuation<Void, Never>] = []
        var closed = false
        /// Evictions already announced on `$sys.evicted`, per consumer slot (its evictions counter).
        var announced: [Int: UInt64] = [:]
        /// Publishes not yet added to the metrics counter (reported every 1024, and at stats/close).
        var unreported: Int64 = 0
        /// Publishes skipped as duplicates of an idempotency key (exactly-once).
        var duplicatesSkipped: UInt64 = 0
    }

    init(segment: SharedSegment, config: EventBusConfig, options: SharedMemoryBusOptions, waiter: BusWaiter,
         telemetry: BusTelemetry, logger: Logger, currentSubscription: @escaping @Sendable () -> SharedSubscription?) {
        self.segment = segment
        self.config = config
        self.options = options
        self.waiter = waiter
        self.telemetry = telemetry
        self.logger = logger
        self.currentSubscription = currentSubscription
    }

    /// This object's stream, once it published.
    var stream: Int? { state.withLock { $0.writer?.stream } }
    /// Publishes skipped as duplicates so far.
    var duplicatesSkipped: UInt64 { state.withLock { $0.duplicatesSkipped } }
    private var name: String { segment.name }

    // MARK: Publish

    /// Publishes `event`, suspending while gating consumers hold the ring.
    ///
    /// `nonisolated(nonsending)`, like the façade's `publish` that calls it: a plain `async` function
    /// runs on the global executor, so every publish from the main actor, an actor or a bus thread hopped
    /// there and back (two executor switches per event; the build before issue 12 did the synchronous
    /// part inline). LayeringTests keeps the publish path free of such hops.
    nonisolated(nonsending) func publish(_ event: Event) async throws -> EventIdentity {
        while true {
            switch try publishNow(event, mayWait: true) {
            case .committed(let identity):
                return identity
            case .queued:
                await withCheckedContinuation { c in
                    let resumeNow = state.withLock { p -> Bool in
                        if !p.busy { return true }
                        p.queue.append(c)
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            case .mustWait(let writer, let topic, let keyHash, let needEnd):
                return try await waitAndCommit(writer, topic: topic, keyHash: keyHash, needEnd: needEnd)
        }
        }
    }

    private enum PublishStep {
        case committed(EventIdentity)
        /// Another publisher waits for room with the writer: wait for it, then try again.
        case queued
        /// The ring is full: the caller now owns the writer and the encoded body (busy) and waits for
        /// room up to `needEnd`.
        case mustWait(StreamWriter, PreparedTopic, keyHash: UInt64?, needEnd: UInt64)
    }

    /// The caller owns the writer and the encoded body (busy): waits for room (the bus thread rescans the
    /// gate meanwhile and evicts a dead durable consumer after its grace, G4 and G5), commits the body
    /// kept from before the wait, then hands the writer to the next queued publisher.
    private nonisolated(nonsending) func waitAndCommit(_ writer: StreamWriter, topic: PreparedTopic, keyHash: UInt64?, needEnd: UInt64) async throws
        -> EventIdentity
    {
        let evictionsBefore = segment.evictions(stream: writer.stream)
        var outcome: Result<EventIdentity, EventBusError>
        while true {
            guard await waiter.waitForRoom(writer, upTo: needEnd) else {
                outcome = .failure(segment.isRemoved ? .publishError("bus '\(name)' was removed") : .closed)
                break
            }
            // Still full only if a gating consumer joined meanwhile: wait again.
            if let committed = state.withLock({ p in commitBody(&p, writer: writer, topic: topic, keyHash: keyHash) }) {
                outcome = committed
                break
            }
        }
        let queued = state.withLock { p -> [CheckedContinuation<Void, Never>] in
            p.busy = false
            defer { p.queue.removeAll() }
            return p.queue
        }
        for c in queued { c.resume() }
        if segment.evictions(stream: writer.stream) != evictionsBefore { announceEvictions() }
        return try outcome.get()
    }

    /// Commits `p.body` on `writer`: the identity, a typed failure, or `nil` when the ring is full.
    private func commitBody(_ p: inout Publishing, writer: StreamWriter, topic: PreparedTopic, keyHash: UInt64?)
        -> Result<EventIdentity, EventBusError>?
    {
        let attempt = p.body.withUnsafeBytes { b in
            Result { () throws(SegmentError) in try writer.publish(topic: topic, payload: b, key: keyHash) }
        }
        switch attempt {
        case .success(.published(let sequence)):
            let identity = EventIdentity(incarnation: segment.incarnation, stream: writer.stream, sequence: sequence)
            if let keyHash, config.deliveryGuarantee == .exactlyOnce {
                let now = ContinuousClock.now
                if p.dedupe.count > 100_000 { p.dedupe = p.dedupe.filter { now - $0.value.at < config.dedupeWindow } }
                p.dedupe[keyHash] = (identity, now)
            }
            p.unreported += 1
            if p.unreported >= 1024 {
                telemetry.published.increment(by: p.unreported)
                p.unreported = 0
            }
            return .success(identity)
        case .success(.full): return nil
        case .failure(.payloadTooLarge(let size, let limit)): return .failure(.payloadTooLarge(size: size, limit: limit))
        case .failure(let error): return .failure(.publishError(error.description))
        }
    }

    /// The synchronous part of a publish: validate, dedupe, encode the body (into a buffer reused
    /// from publish to publish), claim, copy, commit. With `mayWait` false (dead letters, announcements)
    /// a full ring fails instead of waiting.
    private func publishNow(_ event: Event, mayWait: Bool) throws -> PublishStep {
        let key = event.idempotencyKey
        let keyHash = key.map(EventRecord.keyHash)
        let outcome = try state.withLock { p throws -> Result<PublishStep, EventBusError> in
            if p.closed { return .failure(.closed) }
            if p.busy {
                // The writer waits for room up to `waitingEnd`; a handler whose own uncommitted cursor
                // holds that room must not queue behind it.
                if let writer = p.writer, let why = selfBlockingProblem(writer: writer, needEnd: p.waitingEnd) {
                    return .failure(.wouldDeadlock(why))
                }
                return .success(.queued)
            }
            // Most publishers repeat one topic: comparing a short string is cheaper than validating
            // and hashing it again.
            let topic: PreparedTopic
            if let last = p.lastTopic, last.name == event.topic { topic = last.prepared } else {
                if let why = Topic.problem(with: event.topic, allowWildcards: false) { return .failure(.invalidTopic(why)) }
                do { topic = try PreparedTopic(event.topic) } catch { return .failure(.invalidTopic("\(error)")) }
                p.lastTopic = (event.topic, topic)
            }
            if segment.isRemoved { return .failure(.publishError("bus '\(name)' was removed")) }
            let writer: StreamWriter
            if let w = p.writer { writer = w } else {
                writer = try openWriter()
                p.writer = writer
                if config.deliveryGuarantee == .exactlyOnce { p.dedupe = try keysCommitted(on: writer.stream) }
            }
            if let keyHash, config.deliveryGuarantee == .exactlyOnce, let prior = p.dedupe[keyHash],
               ContinuousClock.now - prior.at < config.dedupeWindow {
                p.duplicatesSkipped &+= 1
                return .success(.committed(prior.identity))
            }
            // A value built in code deeper than every subscriber's decoder accepts would reach each of
            // them only as a dead letter: refused here, as Event(topic:jsonBytes:) refuses such bytes.
            if case .value(let v) = event.body, v.nestsDeeper(than: JSONValue.maximumDepth) {
                return .failure(.publishError("the payload nests deeper than \(JSONValue.maximumDepth) arrays and objects"))
            }
            p.body.removeAll(keepingCapacity: true)
            do { try EventRecord.appendHeader(of: event, to: &p.body) } catch { return .failure(.publishError("\(error)")) }
            event.body.append(to: &p.body) // bytes as they are; a value encoded once
            if let committed = commitBody(&p, writer: writer, topic: topic, keyHash: keyHash) {
                return committed.map { .committed($0) }
            }
            if !mayWait { return .failure(.publishError("the ring of bus '\(name)' is full")) }
            // Where this claim ends, computed once: for the self-blocking check, the wait, and a publisher
            // that finds the writer busy.
            let needEnd = writer.claimEnd(topic: topic, payloadLength: p.body.count)
            if let why = selfBlockingProblem(writer: writer, needEnd: needEnd) { return .failure(.wouldDeadlock(why)) }
            p.busy = true
            p.waitingEnd = needEnd
            return .success(.mustWait(writer, topic, keyHash: keyHash, needEnd: needEnd))
        }
        return try outcome.get()
    }

    private func openWriter() throws -> StreamWriter {
        do {
            return try StreamWriter(segment: segment, durableName: options.producerName)
        } catch {
            throw EventBusError.publishError(error.description)
        }
    }

    /// Exactly-once, when this object takes its stream: the idempotency keys already committed on it
    /// within the dedupe window and still in the ring (a restarted publisher with a durable producer
    /// name gets its stream back, and a retried publish of a key its previous run committed is not
    /// committed again). Read with a lossy reader from the earliest record; never slows anyone.
    private func keysCommitted(on stream: Int) throws -> [UInt64: (identity: EventIdentity, at: ContinuousClock.Instant)] {
        let reader: StreamReader
        do { reader = try StreamReader(segment: segment, mode: .lossy, start: .earliest) } catch {
            throw EventBusError.publishError("reading the committed idempotency keys: \(error)")
        }
        defer { reader.close() }
        var keys: [UInt64: (identity: EventIdentity, at: ContinuousClock.Instant)] = [:]
        let now = ContinuousClock.now
        let wallNow = UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
        let window = config.dedupeWindow
        let incarnation = segment.incarnation
        while reader.poll(max: 4096, { (v: borrowing RecordView) in
            guard v.stream == stream, let key = v.key else { return }
            let wall = segment.wallClockNanoseconds(ticks: v.timestampTicks)
            let age = Duration.nanoseconds(Int64(clamping: wallNow > wall ? wallNow - wall : 0))
            guard age < window else { return }
            keys[key] = (EventIdentity(incarnation: incarnation, stream: stream, sequence: v.sequence), now - age)
        }) > 0 {}
        return keys
    }

    /// When the calling task is the handler of a gating subscription of this bus whose own uncommitted
    /// cursor holds the room a claim ending at `needEnd` needs, waiting would wait for itself: the reason,
    /// else nil.
    private func selfBlockingProblem(writer: StreamWriter, needEnd: UInt64) -> String? {
        guard let sub = currentSubscription(), sub.gating else { return nil }
        let committed = sub.reader.committedPosition(stream: writer.stream)
        guard committed &+ UInt64(segment.capacity) < needEnd else { return nil }
        return "a handler published into a ring that its own subscription holds full (bus '\(name)')"
    }

    // MARK: Announcements and dead letters (never wait for room)

    /// Publishes `$sys.evicted` for each durable consumer evicted since the last announcement (name,
    /// slot, how many times it has been evicted), failing fast: an announcement never waits for room.
    private func announceEvictions() {
        let evicted = segment.snapshot().consumers.filter { $0.state == .evicted && $0.durableName != nil }
        let fresh = state.withLock { p in
            evicted.filter { c in
                defer { p.announced[c.slot] = c.evictions }
                return p.announced[c.slot] != c.evictions
            }
        }
        for c in fresh {
            telemetry.evictions.increment()
            logger.warning("evicted a durable consumer that stayed away longer than its grace", metadata: [
                "durable-name": "\(c.durableName ?? "")", "slot": "\(c.slot)", "evictions": "\(c.evictions)",
            ])
            let event = Event(topic: "$sys.evicted", payload: [
                "bus": .string(name), "name": .string(c.durableName ?? ""), "slot": .int(Int64(c.slot)),
                "evictions": .int(Int64(clamping: c.evictions)),
            ])
            _ = try? publishNow(event, mayWait: false)
        }
    }

    /// What became of a dead letter.
    enum LetterOutcome {
        case published
        /// The calling subscription's own place keeps the ring full: the letter is published after the
        /// subscription has moved past the failed event (``publishLetter(_:)`` again).
        case deferred(Event)
        case failed
    }

    /// The dead letter of a failed event (``deadLetter(for:error:prefix:maxPayloadBytes:)``), sized for
    /// this bus: its envelope header (Docs/LAYOUT.md §8.4: 24 bytes for a letter, which has no key,
    /// origin or headers) counts in the bus's largest event too; 64 bytes leave room for it. `nil` for
    /// a dead letter's own failure (never dead-lettered again).
    func letter(for event: Event, error: any Error) -> Event? {
        deadLetter(for: event, error: error, prefix: config.deadLetterPrefix, maxPayloadBytes: segment.maxEventSize - 64)
    }

    /// Publishes a dead letter as any publish: waiting for room while other subscriptions hold the ring
    /// (failing fast lost the letter, and so the event, whenever a consumer was slow: second outside
    /// attack). When the calling subscription's own place is what keeps the ring full, waiting would
    /// wait for itself: the letter is `deferred`, to be published again after the subscription moved on.
    nonisolated(nonsending) func publishLetter(_ letter: Event) async -> LetterOutcome {
        do {
            _ = try await publish(letter)
            logger.warning("dead-lettered an event", metadata: ["topic": "\(letter.topic)"])
            return .published
        } catch EventBusError.wouldDeadlock {
            return .deferred(letter)
        } catch { // closed, removed, a bus too small for any letter
            logger.warning("could not publish the dead letter of an event", metadata: ["topic": "\(letter.topic)", "error": "\(error)"])
            return .failed
        }
    }

    // MARK: Metrics and close

    /// Adds the publishes not yet reported to the metrics counter.
    func reportPublished() {
        let n = state.withLock { p in
            defer { p.unreported = 0 }
            return p.unreported
        }
        if n > 0 { telemetry.published.increment(by: n) }
    }

    /// Refuses new publishes and resumes the queued ones (they then throw `closed`). A publish waiting
    /// for room ends when the bus thread stops.
    func close() {
        let queued = state.withLock { p -> [CheckedContinuation<Void, Never>] in
            p.closed = true
            defer { p.queue.removeAll() }
            return p.queue
        }
        for c in queued { c.resume() }
    }

    /// Releases this object's stream (after the bus thread stopped).
    func releaseStream() {
        reportPublished()
        state.withLock { p in
            p.writer?.close()
            p.writer = nil
        }
    }
}
