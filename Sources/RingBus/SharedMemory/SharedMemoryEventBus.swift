// SharedMemoryEventBus.swift: the EventBus protocol across the processes of one host, through the
// rings of one shared-memory segment.
//
// Publishing: the event's body (EventRecord: timestamp, key, JSON payload) is encoded once, then
// claimed, copied and committed on this bus object's own stream (one stream per publishing bus
// object, taken at its first publish). When gating consumers hold the ring, `publish` suspends and the
// bus thread (BusWaiter) resumes it when there is room; other publishers of this object queue behind
// it, because a stream has one writer at a time.
//
// Subscribing: each subscription holds a consumer slot (lossy for at-most-once, gating for
// at-least-once and exactly-once) and one task that reads up to `bufferSize` matching events, runs the
// handler on each in order and, gating, commits after the handler (SharedSubscription). With nothing
// to read the task waits per `waitStrategy`, sleeping on the bus thread, never blocking a thread of
// the cooperative pool. Docs/GUARANTEES.md states what each guarantee promises here.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CoreMetrics
import Logging
import Synchronization

/// An event bus shared by the processes of one host: publish in one process, handle in another.
///
/// ```swift
/// var config = EventBusConfig()
/// config.deliveryGuarantee = .atLeastOnce
/// let bus = try SharedMemoryEventBus(name: "orders", config: config)
/// try await bus.subscribe(toTopics: ["order.*"], durableName: "billing", handler)
/// try await bus.publish(Event(topic: "order.created", payload: ["id": 7]))
/// await bus.close()                        // detaches; the bus persists until removed
/// try SharedMemoryEventBus.remove(name: "orders")
/// ```
public final class SharedMemoryEventBus: EventBus, @unchecked Sendable { // state under its locks
    /// The bus name (`/dev/shm/ringbus.<name>`).
    public let name: String
    /// The configuration it was made with (`busType` is not consulted; `overflowPolicy` does not apply:
    /// see Docs/GUARANTEES.md).
    public let config: EventBusConfig
    /// The options it was made with.
    public let options: SharedMemoryBusOptions
    /// The mapped segment (shared by every participant of the bus).
    public let segment: SharedSegment
    let waiter: BusWaiter
    let telemetry: BusTelemetry
    private let logger: Logger
    private let state = LockedState(State())
    private let publishing = LockedState(Publishing())

    private struct State {
        var subscriptions: [UInt64: SharedSubscription] = [:]
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var closed = false
        /// Counters of subscriptions whose task ended.
        var retired = EventBusStats()
    }

    private struct Publishing {
        var writer: StreamWriter?
        var lastTopic: (name: String, prepared: PreparedTopic)?
        /// The body being published (EventRecord), reused so that encoding allocates nothing.
        var body: [UInt8] = []
        /// Exactly-once: idempotency keys (by their 64-bit hash, as stored in record headers) committed
        /// on this object's stream within the dedupe window.
        var dedupe: [UInt64: (identity: EventIdentity, at: ContinuousClock.Instant)] = [:]
        /// True while a publisher waits for room with the writer: others queue in `queue`.
        var busy = false
        var queue: [CheckedContinuation<Void, Never>] = []
        var closed = false
        /// Evictions already announced on `$sys.evicted`, per consumer slot (its evictions counter).
        var announced: [Int: UInt64] = [:]
        /// Publishes not yet added to the metrics counter (reported every 1024, and at stats/close).
        var unreported: Int64 = 0
        /// Publishes skipped as duplicates of an idempotency key (exactly-once).
        var duplicatesSkipped: UInt64 = 0
    }

    /// Random per bus creation: the incarnation of every identity on this bus.
    public var incarnation: UInt64 { segment.incarnation }

    /// Attaches the bus `name`, creating it with `options.segment` if it does not exist.
    /// - Throws: ``SegmentError`` naming the bus and what failed (invalid name or sizes, permission
    ///   denied, an incompatible or corrupt segment, no space in /dev/shm, …).
    public init(name: String, config: EventBusConfig = EventBusConfig(),
                options: SharedMemoryBusOptions = SharedMemoryBusOptions()) throws(SegmentError)
    {
        var c = config
        c.bufferSize = min(max(1, c.bufferSize), EventBusConfig.maximumBufferSize)
        self.name = name
        self.config = c
        self.options = options
        segment = options.createIfMissing ? try SharedSegment.open(name: name, parameters: options.segment)
                                          : try SharedSegment.attach(name: name)
        // Everything that can throw comes before the waiter: its thread owns itself until `stop()`.
        try FaultInjection.fail(at: .eventBusAttached, bus: name)
        waiter = BusWaiter(segment: segment)
        var log = options.logger
        log[metadataKey: "bus"] = "\(name)"
        logger = log
        telemetry = BusTelemetry(bus: name, factory: options.metricsFactory ?? MetricsSystem.factory)
        logger.debug("attached", metadata: [
            "streams": "\(segment.streams)", "capacity": "\(segment.capacity)",
            "incarnation": "\(String(segment.incarnation, radix: 16))",
        ])
    }

    /// Marks the bus removed (attached processes see it on their next wait or publish) and unlinks it.
    public static func remove(name: String) throws(SegmentError) {
        try SharedSegment.remove(name: name)
    }

    // MARK: Publish

    @discardableResult
    public nonisolated(nonsending) func publish(_ event: consuming Event) async throws -> EventIdentity {
        let e = event
        while true {
            switch try publishNow(e, mayWait: true) {
            case .committed(let identity):
                return identity
            case .queued:
                await withCheckedContinuation { c in
                    let resumeNow = publishing.withLock { p -> Bool in
                        if !p.busy { return true }
                        p.queue.append(c)
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            case .mustWait(let writer, let topic, let bodyLength):
                // This task owns the writer (busy) until it has published or given up. The bus thread
                // rescans the gate meanwhile and evicts a dead durable consumer after its grace (G4, G5).
                let evictionsBefore = segment.evictions(stream: writer.stream)
                let room = await waiter.waitForRoom(writer, topic: topic, payloadLength: bodyLength)
                let evicted = segment.evictions(stream: writer.stream) != evictionsBefore
                let queued = publishing.withLock { p -> [CheckedContinuation<Void, Never>] in
                    p.busy = false
                    defer { p.queue.removeAll() }
                    return p.queue
                }
                for c in queued { c.resume() }
                if evicted { announceEvictions() }
                if !room {
                    if segment.isRemoved { throw EventBusError.publishError("bus '\(name)' was removed") }
                    throw EventBusError.closed
                }
            }
        }
    }

    private enum PublishStep {
        case committed(EventIdentity)
        /// Another publisher waits for room with the writer: wait for it, then try again.
        case queued
        /// The ring is full: the caller now owns the writer and waits for room for a body of this size.
        case mustWait(StreamWriter, PreparedTopic, Int)
    }

    /// The synchronous part of a publish: validate, dedupe, encode the body (into a buffer reused
    /// from publish to publish), claim, copy, commit. With `mayWait` false (dead letters) a full ring
    /// fails instead of waiting.
    private func publishNow(_ event: Event, mayWait: Bool) throws -> PublishStep {
        let exactlyOnce = config.deliveryGuarantee == .exactlyOnce
        let window = config.dedupeWindow
        let key = event.idempotencyKey
        let keyHash = key.map(EventRecord.keyHash)
        let outcome = try publishing.withLock { p throws -> Result<PublishStep, EventBusError> in
            if p.closed { return .failure(.closed) }
            if p.busy {
                // The writer waits for room for the body in `p.body`; a handler whose own uncommitted
                // cursor holds that room must not queue behind it.
                if let writer = p.writer, let topic = try? PreparedTopic(event.topic),
                   let why = selfBlockingProblem(writer: writer, topic: topic, payloadLength: p.body.count) {
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
                if exactlyOnce { p.dedupe = try keysCommitted(on: writer.stream) }
            }
            let now: ContinuousClock.Instant? = exactlyOnce && key != nil ? .now : nil
            if let keyHash, let now, let prior = p.dedupe[keyHash], now - prior.at < window {
                p.duplicatesSkipped &+= 1
                return .success(.committed(prior.identity))
            }
            p.body.removeAll(keepingCapacity: true)
            do { try EventRecord.appendHeader(of: event, to: &p.body) } catch { return .failure(.publishError("\(error)")) }
            event.payload.encode(into: &p.body)
            let bodyCount = p.body.count
            let attempt = p.body.withUnsafeBytes { b in
                Result { () throws(SegmentError) in try writer.publish(topic: topic, payload: b, key: keyHash) }
            }
            let result: PublishOutcome
            switch attempt {
            case .success(let r): result = r
            case .failure(.payloadTooLarge(let size, let limit)): return .failure(.payloadTooLarge(size: size, limit: limit))
            case .failure(let error): return .failure(.publishError(error.description))
            }
            switch result {
            case .published(let sequence):
                let identity = EventIdentity(incarnation: segment.incarnation, stream: writer.stream, sequence: sequence)
                if let keyHash, let now {
                    if p.dedupe.count > 100_000 { p.dedupe = p.dedupe.filter { now - $0.value.at < window } }
                    p.dedupe[keyHash] = (identity, now)
                }
                p.unreported += 1
                if p.unreported >= 1024 {
                    telemetry.published.increment(by: p.unreported)
                    p.unreported = 0
                }
                return .success(.committed(identity))
            case .full:
                if !mayWait { return .failure(.publishError("the ring of bus '\(name)' is full")) }
                if let why = selfBlockingProblem(writer: writer, topic: topic, payloadLength: bodyCount) {
                    return .failure(.wouldDeadlock(why))
                }
                p.busy = true
                return .success(.mustWait(writer, topic, bodyCount))
            }
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
    /// cursor holds the room this claim needs, waiting would wait for itself: the reason, else nil.
    private func selfBlockingProblem(writer: StreamWriter, topic: PreparedTopic, payloadLength: Int) -> String? {
        guard let me = SubscriptionContext.current,
              let sub = state.withLock({ $0.subscriptions[me] }), sub.gating else { return nil }
        let needEnd = writer.claimEnd(topic: topic, payloadLength: payloadLength)
        let committed = sub.reader.committedPosition(stream: writer.stream)
        guard committed &+ UInt64(segment.capacity) < needEnd else { return nil }
        return "a handler published into a ring that its own subscription holds full (bus '\(name)')"
    }

    /// Publishes `$sys.evicted` for each durable consumer evicted since the last announcement (name,
    /// slot, how many times it has been evicted), failing fast: an announcement never waits for room.
    private func announceEvictions() {
        let evicted = segment.snapshot().consumers.filter { $0.state == .evicted && $0.durableName != nil }
        let fresh = publishing.withLock { p in
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

    /// Publishes a failed event's dead letter, failing fast (never waits for room). The letter is
    /// committed before the caller commits its cursor past the failed event.
    private func publishDeadLetter(_ event: Event, error: any Error) -> Bool {
        guard let letter = deadLetter(for: event, error: error, prefix: config.deadLetterPrefix) else { return false }
        let committed: Bool
        if case .committed = try? publishNow(letter, mayWait: false) { committed = true } else { committed = false }
        logger.warning(committed ? "dead-lettered an event after its retries" : "could not dead-letter an event (ring full)",
                       metadata: ["topic": "\(event.topic)", "identity": "\(event.identity)", "error": "\(error)"])
        return committed
    }

    // MARK: Subscribe

    @discardableResult
    public func subscribe(_ handler: any EventHandler) async throws -> Subscription {
        let filters = try handler.topics.map { try Self.filters($0) }
        return try startSubscription(filters, durableName: nil, start: .latest, handler)
    }

    @discardableResult
    public func subscribe(toTopics topics: [String], _ handler: any EventHandler) async throws -> Subscription {
        try startSubscription(try Self.filters(topics), durableName: nil, start: .latest, handler)
    }

    /// Subscribes `handler` to `topics` under a durable name: with at-least-once or exactly-once the
    /// name's place in every stream is kept while its process is away (for the bus's eviction grace),
    /// and a process that subscribes with the name again resumes there. One process at a time may use a
    /// name (``SegmentError/durableNameInUse(bus:name:)`` otherwise).
    /// - Parameters:
    ///   - start: where to begin; `.committed` (default) resumes the name's place (new names start at
    ///     the latest event), `.positions` resumes from a place the application stored itself.
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, start: StartPosition = .committed,
                          _ handler: any EventHandler) async throws -> Subscription
    {
        try startSubscription(try Self.filters(topics), durableName: durableName, start: start, handler)
    }

    /// Subscribes `handler` to `topics` from `start`, optionally under a durable name, ending the
    /// subscription by itself after `limit` events were handled (and, gating, committed): no event
    /// after the last is read into the handler or committed.
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String? = nil, start: StartPosition, limit: Int?,
                          _ handler: any EventHandler) async throws -> Subscription
    {
        if let limit, limit < 1 { throw EventBusError.subscribeError("limit must be at least 1, got \(limit)") }
        return try startSubscription(try Self.filters(topics), durableName: durableName, start: start, handler, limit: limit)
    }

    /// Subscribes `handler` under a durable name, resuming from `resumeFrom`: per-stream positions the
    /// application stored atomically with its own effects (from ``resumePoint()`` in the handler). Events
    /// at or before that point are not delivered again; with the effects stored the same way, each
    /// effect happens exactly once (Docs/GUARANTEES.md, rule C (c)).
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, resumeFrom positions: [UInt64],
                          _ handler: any EventHandler) async throws -> Subscription
    {
        try startSubscription(try Self.filters(topics), durableName: durableName, start: .positions(positions), handler)
    }

    public func subscribe(to topics: [String]) async throws -> EventStream {
        let filters = try Self.filters(topics)
        let core = SubscriptionCore(id: 0, filters: nil, capacity: config.bufferSize, policy: .wait)
        let gating = config.deliveryGuarantee != .atMostOnce
        // The stream's iterator is the handler: an event is handed over into `core`; a gating
        // subscription waits until the iterator asked for the next one before its cursor moves on.
        let handOver = ClosureHandler { e in
            guard await core.offer(e) == .queued, gating else { return }
            await core.waitUntilCompleted(core.enqueuedCount)
        }
        let sub = try startSubscription(filters, durableName: nil, start: .latest, handOver, onEnd: { core.cancel() })
        return EventStream(core: core) { [weak self] in
            await self?.unsubscribe(sub.id)
            core.cancel()
        }
    }

    private static func filters(_ topics: [String]) throws(EventBusError) -> [TopicFilter] {
        guard !topics.isEmpty else { throw .subscribeError("no topics given (use \">\" for every topic)") }
        return try topics.map { (t) throws(EventBusError) in try TopicFilter(t) }
    }

    private func startSubscription(_ filters: [TopicFilter]?, durableName: String?, start: StartPosition,
                                   _ handler: any EventHandler, limit: Int? = nil,
                                   onEnd: @escaping @Sendable () -> Void = {}) throws -> Subscription
    {
        if state.withLock({ $0.closed }) { throw EventBusError.closed }
        // Segment errors (no free slot, durable name in use, bus removed) are thrown as they are: typed,
        // with the bus name.
        let sub = try SharedSubscription(segment: segment, filters: filters, gating: config.deliveryGuarantee != .atMostOnce,
                                         durableName: durableName, start: start, batchLimit: config.bufferSize,
                                         commitBatch: options.commitBatch, slowConsumerPolicy: options.slowConsumerPolicy)
        if sub.reader.wasEvicted {
            logger.notice("durable name returns after an eviction: events that went by are counted as missed",
                          metadata: ["durable-name": "\(durableName ?? "")"])
        } else if sub.reader.previousOwnerDied {
            logger.info("durable name resumed after its previous owner died: up to commitBatch events per stream are redelivered, marked",
                        metadata: ["durable-name": "\(durableName ?? "")", "commit-batch": "\(options.commitBatch)"])
        }
        // The subscription runs on the bus thread (the waiter is its task executor): the thread that
        // sees its data resumes it directly, one wake instead of two. The task is created and registered
        // under one lock, so its handler (which may call resumePoint()) and its end (retire) find it
        // registered: they take the same lock (issue 11 item 7).
        let registered = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.subscriptions[sub.id] = sub
            s.tasks[sub.id] = Task(executorPreference: waiter) { [self] in
                await SubscriptionContext.$current.withValue(sub.id) { await run(sub, handler, limit: limit) }
                retire(sub)
                onEnd()
            }
            FaultInjection.pause(at: .subscriptionTaskStarted) // tests hold the window open here
            return true
        }
        if !registered {
            sub.end() // no task ever ran: release its consumer slot here
            throw EventBusError.closed
        }
        return Subscription(id: sub.id) { [weak self] in await self?.unsubscribe(sub.id) }
    }

    /// Stops the subscription; returns when its task has ended (unless called from that task).
    func unsubscribe(_ id: UInt64) async {
        let (sub, task) = state.withLock { s in (s.subscriptions.removeValue(forKey: id), s.tasks.removeValue(forKey: id)) }
        guard let sub else { return }
        sub.stop(waiter: waiter)
        if SubscriptionContext.current != id { await task?.value }
    }

    private func retire(_ sub: SharedSubscription) {
        state.withLock { s in
            sub.add(into: &s.retired)
            s.subscriptions[sub.id] = nil
            s.tasks[sub.id] = nil
        }
    }

    // MARK: Delivery

    /// The subscription's task: read a batch, handle it in order, commit, wait when there is nothing.
    private func run(_ sub: SharedSubscription, _ handler: any EventHandler, limit: Int? = nil) async {
        var remaining = limit ?? Int.max
        var batch: [SharedSubscription.Taken] = []
        batch.reserveCapacity(min(sub.batchLimit, 1024))
        var sinceCommit = [Int](repeating: 0, count: sub.streams)
        let closure = (handler as? ClosureHandler)?.body
        var reported = ReportedCounters()
        var warnedUndecodable = false
        let incarnation = segment.incarnation
        func report() {
            var now = EventBusStats()
            sub.add(into: &now)
            reported.report(now, to: telemetry)
            if now.undecodable > 0 && !warnedUndecodable {
                warnedUndecodable = true
                logger.warning("skipping records that are not events (a raw publish of other bytes, or corrupt)",
                               metadata: ["count": "\(now.undecodable)"])
            }
        }
        defer { report() }
        reading: while !sub.stopping.load(ordering: .acquiring) {
            sub.read(into: &batch, incarnation: incarnation)
            if batch.isEmpty {
                sub.handledAllRead()
                report()
                if await waitForData(sub) { continue } else { break }
            }
            sub.queued.store(batch.count, ordering: .relaxed)
            for i in batch.indices {
                if sub.stopping.load(ordering: .acquiring) {
                    sub.unread(batch[i...])
                    break reading
                }
                sub.willHandle(batch[i])
                // The first attempt inline (one async frame fewer per event); failures go to deliver().
                // A closure handler's body is called directly: one async call (and task switch) fewer.
                do {
                    if let closure { try await closure(batch[i].event) } else { try await handler.handle(batch[i].event) }
                    sub.counters.delivered.incrementBySoleWriter()
                } catch {
                    await handleFailure(batch[i].event, error, handler: handler, counters: sub.counters)
                }
                sub.queued.store(batch.count - i - 1, ordering: .relaxed)
                sub.handledOne(batch[i], sinceCommit: &sinceCommit)
                remaining -= 1
                if remaining == 0 { // the limit: commit what was handled, give back the rest, end
                    if i + 1 < batch.count { sub.unread(batch[(i + 1)...]) }
                    sub.reader.commit(stream: Int(batch[i].stream), through: batch[i].nextPosition,
                                      nextSequence: batch[i].sequence &+ 1)
                    break reading
                }
            }
            batch.removeAll(keepingCapacity: true)
            sub.handledAllRead()
        }
        sub.end()
    }

    /// Called from a handler of this bus: the per-stream positions at which a subscription resumed with
    /// `start: .positions(…)` delivers neither the event being handled nor any before it. Store it
    /// atomically with the handler's effect (one `write`, one transaction) and resume from it after a
    /// crash: the effects are then applied exactly once (Docs/GUARANTEES.md). `nil` outside a handler of
    /// this bus.
    public func resumePoint() -> [UInt64]? {
        guard let me = SubscriptionContext.current, let sub = state.withLock({ $0.subscriptions[me] }) else { return nil }
        return sub.resumePoint()
    }

    /// After a handler's first attempt threw: counted (at-most-once), or retried and dead-lettered.
    private func handleFailure(_ e: Event, _ error: any Error, handler: any EventHandler, counters: SubscriptionCounters) async {
        if config.deliveryGuarantee == .atMostOnce {
            counters.failed.add(1, ordering: .relaxed)
            logger.warning("a handler threw; at-most-once: the event is not retried",
                           metadata: ["topic": "\(e.topic)", "identity": "\(e.identity)", "error": "\(error)"])
        } else if await retryFailedDelivery(e, after: error, to: handler, policy: config.retry, counters: counters,
                                            deadLetter: publishDeadLetter) {
            counters.delivered.incrementBySoleWriter()
        }
    }

    /// Waits per `waitStrategy` until the subscription may have data (`true`), or it is stopping or the
    /// bus was removed (`false`).
    private func waitForData(_ sub: SharedSubscription) async -> Bool {
        let c = sub.reader.c
        var spinUntil: ContinuousClock.Instant?
        switch options.waitStrategy {
        case .spin: spinUntil = nil
        case .adaptive(let spin): spinUntil = Self.hasSpareCPU ? .now + spin : .now
        case .block: spinUntil = .now
        }
        // Polling, with the thread given back to the pool between polls.
        while spinUntil.map({ ContinuousClock.now < $0 }) ?? true {
            if sub.stopping.load(ordering: .acquiring) || segment.isRemoved { return false }
            if sub.reader.hasData { return true }
            await Task.yield()
        }
        if sub.stopping.load(ordering: .acquiring) { return false }
        return await waiter.waitForData(consumer: c, id: sub.id)
    }

    private static let hasSpareCPU = ProcessInfo.processInfo.activeProcessorCount > 1

    // MARK: Stats, flush, close

    public func stats() async -> EventBusStats {
        reportPublished()
        var total = state.withLock { s -> EventBusStats in
            var t = s.retired
            for sub in s.subscriptions.values {
                sub.add(into: &t)
                t.queuedEvents += sub.queued.load(ordering: .relaxed)
            }
            t.activeHandlers = s.subscriptions.count
            return t
        }
        for si in 0..<segment.streams { total.totalEventsPublished &+= segment.published(stream: si) }
        total.duplicatesSkipped = publishing.withLock { $0.duplicatesSkipped }
        return total
    }

    private func reportPublished() {
        let n = publishing.withLock { p in
            defer { p.unreported = 0 }
            return p.unreported
        }
        if n > 0 { telemetry.published.increment(by: n) }
    }

    /// Returns when every event committed on the bus before the call has been handled by this bus
    /// object's subscriptions, and every gating consumer of other processes that is attached at the call
    /// has committed past this object's stream's tail.
    /// - Throws: ``EventBusError/timedOut(_:)`` after `options.flushTimeout`;
    ///   ``EventBusError/wouldDeadlock(_:)`` when called from a handler that has events to handle.
    public func flush() async throws {
        let tails = (0..<segment.streams).map { segment.tail(stream: $0) }
        let subs = state.withLock { Array($0.subscriptions.values) }
        if let me = SubscriptionContext.current, let mine = subs.first(where: { $0.id == me }), !mine.hasHandled(upTo: tails) {
            throw EventBusError.wouldDeadlock("flush() called from a handler would wait for that handler")
        }
        let ours = Set(subs.map(\.slot))
        let stream = publishing.withLock { $0.writer?.stream }
        let remote = stream == nil ? [] : (0..<segment.consumerSlots).filter { j in
            !ours.contains(j) && segment.isLiveGatingConsumer(slot: j)
        }
        let deadline = ContinuousClock.now + options.flushTimeout
        var pause = Duration.microseconds(20)
        while true {
            let localDone = subs.allSatisfy { $0.ended.load(ordering: .acquiring) || $0.hasHandled(upTo: tails) }
            let remoteDone = stream.map { si in
                remote.allSatisfy { j in segment.cursor(slot: j, stream: si) >= tails[si] || !segment.isConsumerAlive(slot: j) }
            } ?? true
            if localDone && remoteDone { return }
            if segment.isRemoved { throw EventBusError.publishError("bus '\(name)' was removed") }
            if ContinuousClock.now > deadline {
                throw EventBusError.timedOut("flush of bus '\(name)' after \(options.flushTimeout)")
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(1))
        }
    }

    /// Drains (flush), ends every subscription, releases this object's stream and consumer slots, and
    /// stops the bus thread. The bus itself persists until ``remove(name:)``.
    public func close() async {
        let wasOpen = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        guard wasOpen else { return }
        try? await flush()
        let queued = publishing.withLock { p -> [CheckedContinuation<Void, Never>] in
            p.closed = true
            defer { p.queue.removeAll() }
            return p.queue
        }
        for c in queued { c.resume() }
        let (subs, tasks) = state.withLock { s in (Array(s.subscriptions.values), Array(s.tasks)) }
        for sub in subs { sub.stop(waiter: waiter) }
        let me = SubscriptionContext.current
        for (id, task) in tasks where id != me { await task.value }
        waiter.stop()
        reportPublished()
        publishing.withLock { p in
            p.writer?.close()
            p.writer = nil
        }
        logger.debug("closed")
    }
}
