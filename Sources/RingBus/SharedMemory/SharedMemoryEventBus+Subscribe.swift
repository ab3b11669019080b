// SharedMemoryEventBus+Subscribe.swift: the public ways to subscribe to a shared-memory bus (the
// EventBus requirements, durable names, start positions, limits, resume points, AsyncSequence), all
// forwarding to the façade's one `startSubscription`.

extension SharedMemoryEventBus {

    @discardableResult
    public func subscribe(_ handler: any EventHandler) async throws -> Subscription {
        let filters = try handler.topics.map { try TopicFilter.list($0) }
        return try startSubscription(filters, durableName: nil, start: .latest, handler)
    }

    @discardableResult
    public func subscribe(toTopics topics: [String], _ handler: any EventHandler) async throws -> Subscription {
        try startSubscription(try TopicFilter.list(topics), durableName: nil, start: .latest, handler)
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
        try startSubscription(try TopicFilter.list(topics), durableName: durableName, start: start, handler)
    }

    /// A batch handler (``BatchEventHandler``) under a durable name, from `start`: the durable
    /// per-event form's guarantees (the name's place kept while its process is away, resumed by the
    /// next subscriber of the name), with the events of one read handed over at once and the place
    /// committed past a batch only after the handler returned. The ``EventBus`` form without `start`
    /// resumes the name's place (`.committed`).
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, start: StartPosition,
                          batchHandler: any BatchEventHandler) async throws -> Subscription
    {
        try startSubscription(try TopicFilter.list(topics), durableName: durableName, start: start, BatchAdapter(handler: batchHandler))
    }

    /// Subscribes `handler` under a durable name, resuming its place (a new name starts at the latest
    /// event). The ``EventBus`` requirement; the form with `start:` chooses where a new name starts.
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, _ handler: any EventHandler) async throws
        -> Subscription
    {
        try startSubscription(try TopicFilter.list(topics), durableName: durableName, start: .committed, handler)
    }

    /// Subscribes `handler` under a durable name from a resume point taken with ``currentResumePoint()``
    /// in a handler of this bus (its per-stream positions): nothing the point covers is delivered again.
    /// - Throws: ``EventBusError/subscribeError(_:)`` for a point of another backend, another incarnation of
    ///   the bus, or another number of streams.
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, resumingAfter point: ResumePoint,
                          _ handler: any EventHandler) async throws -> Subscription
    {
        let positions = try ResumePointFrame.decode(point, kind: .sharedMemory, incarnation: segment.incarnation).get()
        guard positions.count == segment.streams else {
            throw EventBusError.subscribeError("a resume point of \(positions.count) streams for a bus of \(segment.streams)")
        }
        return try startSubscription(try TopicFilter.list(topics), durableName: durableName, start: .positions(positions), handler)
    }

    /// Called from a handler of this bus: ``resumePoint()`` as an opaque ``ResumePoint`` (the bus
    /// incarnation and the per-stream positions); `nil` outside a handler of this bus.
    public func currentResumePoint() -> ResumePoint? {
        resumePoint().map { ResumePointFrame(kind: .sharedMemory, incarnation: segment.incarnation, positions: $0).point }
    }

    /// Subscribes `handler` to `topics` from `start`, optionally under a durable name, ending the
    /// subscription by itself after `limit` events were handled (and, gating, committed): no event
    /// after the last is read into the handler or committed.
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String? = nil, start: StartPosition, limit: Int?,
                          _ handler: any EventHandler) async throws -> Subscription
    {
        if let limit, limit < 1 { throw EventBusError.subscribeError("limit must be at least 1, got \(limit)") }
        return try startSubscription(try TopicFilter.list(topics), durableName: durableName, start: start, handler, limit: limit)
    }

    /// Subscribes `handler` under a durable name, resuming from `resumeFrom`: per-stream positions the
    /// application stored atomically with its own effects (from ``resumePoint()`` in the handler). Events
    /// at or before that point are not delivered again; with the effects stored the same way, each
    /// effect happens exactly once (Docs/GUARANTEES.md, rule C (c)).
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, resumeFrom positions: [UInt64],
                          _ handler: any EventHandler) async throws -> Subscription
    {
        try startSubscription(try TopicFilter.list(topics), durableName: durableName, start: .positions(positions), handler)
    }

    public func subscribe(to topics: [String]) async throws -> EventStream {
        let filters = try TopicFilter.list(topics)
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
}
