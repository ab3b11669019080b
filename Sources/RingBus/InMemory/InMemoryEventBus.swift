// InMemoryEventBus.swift: the in-process bus. Each subscription has one serial consumer task and a
// bounded queue (SubscriptionCore); publish validates, deduplicates, assigns the identity, and offers
// the event to every matching subscription, waiting for room by default. Guarantees: DeliveryGuarantee.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization

/// The in-process event bus.
public final class InMemoryEventBus: EventBus {
    /// The configuration it was made with; every field is honoured.
    public let config: EventBusConfig
    /// Where failing handlers and dead letters are reported (default: discards; the library never
    /// bootstraps logging: pass your application's logger).
    public let logger: Logger
    /// Random per bus: the incarnation of every identity it assigns.
    public let incarnation: UInt64
    private let state: LockedState<State>

    private struct State: ClosableState {
        var subscriptions: [UInt64: SubscriptionCore] = [:]
        var consumers: [UInt64: Task<Void, Never>] = [:]
        var nextSubscription: UInt64 = 1
        var nextSequence: UInt64 = 0
        var closed = false
        /// Counters of subscriptions that ended and may still be counting (an event in flight).
        var ending: [SubscriptionCounters] = []
        /// Totals of subscriptions whose counters are final.
        var retired = EventBusStats()
        var dedupe: [String: (identity: EventIdentity, at: ContinuousClock.Instant)] = [:]
        /// Matching subscriptions per topic, in subscription order; cleared when subscriptions change.
        var routes: [String: [SubscriptionCore]] = [:]

        /// The last topic published and its route: most publishers repeat one topic, and comparing a
        /// short string is cheaper than hashing it.
        var lastRoute: (topic: String, targets: [SubscriptionCore])?

        mutating func clearRoutes() {
            routes.removeAll()
            lastRoute = nil
        }

        mutating func targets(for topic: String) -> [SubscriptionCore] {
            if let last = lastRoute, last.topic == topic { return last.targets }
            if let r = routes[topic] {
                lastRoute = (topic, r)
                return r
            }
            if routes.count > 10_000 { clearRoutes() }
            let r = subscriptions.values.filter { $0.matches(topic) }.sorted { $0.id < $1.id }
            routes[topic] = r
            lastRoute = (topic, r)
            return r
        }
    }

    /// A bus with the original's defaults (buffer size 100, at-most-once).
    public convenience init() { self.init(config: EventBusConfig()) }

    /// A new bus with this one's configuration and logger but `guarantee`: the original's builder,
    /// `EnhancedEventBus().withDeliveryGuarantee(.atLeastOnce)`. Call it before subscribing (the new bus
    /// has no subscriptions).
    public func withDeliveryGuarantee(_ guarantee: DeliveryGuarantee) -> InMemoryEventBus {
        InMemoryEventBus(config: config.withDeliveryGuarantee(guarantee), logger: logger)
    }

    /// A bus with `config` (`busType` is not consulted: this is the in-process bus). A `bufferSize`
    /// outside 1 ... ``EventBusConfig/maximumBufferSize`` is clamped into it (`createEventBus(_:)`
    /// rejects it instead).
    public init(config: EventBusConfig, logger: Logger = Logger(label: "ringbus", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.config = config
        self.logger = logger
        incarnation = UInt64.random(in: 1...UInt64.max)
        state = LockedState(State())
    }

    // MARK: Publish

    @discardableResult
    public nonisolated(nonsending) func publish(_ event: consuming Event) async throws -> EventIdentity {
        // The synchronous part does everything that needs no waiting; only subscriptions that are full
        // (policy .wait) make this function suspend. Fewer async frames is most of the cost saved.
        var pending = PendingOffers()
        let identity = try publishNow(event, failFast: false, pending: &pending)
        if let e = pending.event { for core in pending.cores { _ = await core.offer(e) } }
        return identity
    }

    /// Subscriptions a publish must still wait for, and the event to offer them.
    private struct PendingOffers {
        var event: Event?
        var cores: [SubscriptionCore] = []
    }

    /// Validates, deduplicates, assigns the identity and offers `event` to every matching subscription
    /// that has room; full ones (policy .wait) are left in `pending`, or with `failFast` dropped.
    private func publishNow(_ event: consuming Event, failFast: Bool, pending: inout PendingOffers) throws(EventBusError)
        -> EventIdentity
    {
        if let why = Topic.problem(with: event.topic, allowWildcards: false) { throw .invalidTopic(why) }
        // The same limit as every other backend's (whose subscribers decode bytes), so that an event
        // this bus accepts is one any bus accepts.
        if case .value(let v) = event.body, v.nestsDeeper(than: JSONValue.maximumDepth) {
            throw .publishError("the payload nests deeper than \(JSONValue.maximumDepth) arrays and objects")
        }
        let dedupe = config.deliveryGuarantee == .exactlyOnce ? event.idempotencyKey : nil
        let window = config.dedupeWindow
        let incarnation = self.incarnation
        let (identity, targets, duplicate) = try state.withLock { (s) throws(EventBusError) in
            if s.closed { throw EventBusError.closed }
            var now: ContinuousClock.Instant?
            if let key = dedupe {
                let t = ContinuousClock.now
                now = t
                if let prior = s.dedupe[key], t - prior.at < window {
                    s.retired.duplicatesSkipped &+= 1
                    return (prior.identity, [SubscriptionCore](), true)
                }
            }
            let id = EventIdentity(incarnation: incarnation, stream: 0, sequence: s.nextSequence)
            s.nextSequence += 1
            if let key = dedupe, let now {
                if s.dedupe.count > 100_000 { s.dedupe = s.dedupe.filter { now - $0.value.at < window } }
                s.dedupe[key] = (id, now)
            }
            return (id, s.targets(for: event.topic), false)
        }
        if duplicate { return identity }
        // A handler publishing into its own full subscription would wait for itself.
        if config.overflowPolicy == .wait, !failFast, let me = SubscriptionContext.current,
           let own = targets.first(where: { $0.id == me }), own.isFull
        {
            throw .wouldDeadlock("a handler published into its own full subscription (bufferSize \(own.capacity))")
        }
        var e = event // a move: `event` is consumed
        e.identity = identity
        guard let lastCore = targets.last else { return identity }
        func full(_ core: SubscriptionCore) { // policy .wait
            if failFast { core.counters.dropped.add(1, ordering: .relaxed) } else { pending.cores.append(core) }
        }
        if targets.count > 2 {
            // Fan-out: take every copy first, in one burst, then move one into each subscription.
            // Each copy is an increment of the payload's reference count, which the subscribers'
            // releases also write from the other CPU; a burst moves that cache line here once per
            // publish instead of once per subscription.
            let n = targets.count - 1
            withUnsafeTemporaryAllocation(of: Event?.self, capacity: n) { copies in
                copies.initialize(repeating: e)
                for i in 0..<n where targets[i].tryOffer(moving: &copies[i]) == nil { full(targets[i]) }
                copies.deinitialize() // nil where moved
            }
        } else {
            for core in targets.dropLast() where core.tryOffer(e) == nil { full(core) }
        }
        // The last target takes the event itself (one payload retain fewer per publish) unless an
        // earlier one is full and the event is still needed for it.
        if pending.cores.isEmpty {
            var moving: Event? = consume e
            if lastCore.tryOffer(moving: &moving) == nil {
                full(lastCore)
                pending.event = moving
            }
        } else {
            if lastCore.tryOffer(e) == nil { full(lastCore) }
            pending.event = e
        }
        return identity
    }

    // MARK: Subscribe

    @discardableResult
    public func subscribe(_ handler: any EventHandler) async throws -> Subscription {
        let filters = try handler.topics.map { try TopicFilter.list($0) }
        return try register(filters, handler)
    }

    @discardableResult
    public func subscribe(toTopics topics: [String], _ handler: any EventHandler) async throws -> Subscription {
        try register(try TopicFilter.list(topics), handler)
    }

    public func subscribe(to topics: [String]) async throws -> EventStream {
        let core = try makeCore(try TopicFilter.list(topics))
        return EventStream(core: core) { [weak self] in await self?.unsubscribe(core) }
    }

    private func makeCore(_ filters: [TopicFilter]?) throws(EventBusError) -> SubscriptionCore {
        try state.withLock { (s) throws(EventBusError) in
            if s.closed { throw EventBusError.closed }
            let core = SubscriptionCore(id: s.nextSubscription, filters: filters, capacity: config.bufferSize,
                                        policy: config.overflowPolicy)
            s.nextSubscription += 1
            s.subscriptions[core.id] = core
            s.clearRoutes()
            return core
        }
    }

    private func register(_ filters: [TopicFilter]?, _ handler: any EventHandler) throws(EventBusError) -> Subscription {
        let core = try makeCore(filters)
        let task = Task { [self] in
            await SubscriptionContext.$current.withValue(core.id) {
                // One event at a time: taking a batch would move events out of the bounded queue into
                // the consumer's hands and let publishers run further ahead than bufferSize.
                let retries = config.deliveryGuarantee != .atMostOnce
                while true {
                    guard let e = core.poll() else {
                        if await core.waitForEvent() { continue } else { break }
                    }
                    // The first attempt inline (one async frame per event, and the event is borrowed,
                    // not copied: its reference count is shared with every other subscription).
                    core.handlingSequence = e.identity.sequence
                    do {
                        try await handler.handle(e)
                        core.counters.delivered.incrementBySoleWriter()
                    } catch {
                        if !retries {
                            core.counters.failed.add(1, ordering: .relaxed)
                            logger.warning("a handler threw; at-most-once: the event is not retried",
                                           metadata: ["topic": "\(e.topic)", "identity": "\(e.identity)", "error": "\(error)"])
                        } else if await retryFailedDelivery(e, after: error, to: handler, policy: config.retry,
                                                            counters: core.counters, deadLetter: publishDeadLetter) {
                            core.counters.delivered.incrementBySoleWriter()
                        } else {
                            logger.warning("a handler kept throwing: retries exhausted, the event was dead-lettered",
                                           metadata: ["topic": "\(e.topic)", "identity": "\(e.identity)", "error": "\(error)"])
                        }
                    }
                    core.complete()
                }
            }
            core.counters.final.store(true, ordering: .releasing)
        }
        state.withLock { $0.consumers[core.id] = task }
        return Subscription(id: core.id) { [weak self] in await self?.unsubscribe(core) }
    }

    func unsubscribe(_ core: SubscriptionCore) async {
        state.withLock { s in
            guard s.subscriptions.removeValue(forKey: core.id) != nil else { return }
            s.consumers[core.id] = nil
            s.clearRoutes()
            s.ending.append(core.counters)
        }
        core.cancel() // counts what it discards as dropped
    }

    // MARK: Resume points

    /// Inside a handler of this bus: a point covering the event being handled. Resuming from it (in
    /// this process: an in-process bus keeps nothing across processes) delivers only later events.
    public func currentResumePoint() -> ResumePoint? {
        guard let me = SubscriptionContext.current, let core = state.withLock({ $0.subscriptions[me] }) else { return nil }
        return ResumePointFrame(kind: .inMemory, incarnation: incarnation, positions: [core.handlingSequence]).point
    }

    /// Subscribes after validating that `point` is one of this bus's: every event it publishes from now
    /// on has a later sequence than any point it gave, so none of those the point covers is delivered.
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, resumingAfter point: ResumePoint,
                          _ handler: any EventHandler) async throws -> Subscription
    {
        let positions = try ResumePointFrame.decode(point, kind: .inMemory, incarnation: incarnation).get()
        guard positions.count == 1 else { throw EventBusError.subscribeError("a resume point of \(positions.count) positions") }
        return try await subscribe(toTopics: topics, handler)
    }

    // MARK: Delivery

    /// Publishes a failed event's dead letter as any publish: waiting for room in full subscriptions
    /// (failing fast lost the letter whenever a dead-letter subscriber was behind), refused with
    /// `wouldDeadlock` when the full subscription is the calling one. True when it was published.
    private func publishDeadLetter(_ event: Event, error: any Error) async -> Bool {
        guard let letter = deadLetter(for: event, error: error, prefix: config.deadLetterPrefix) else { return false }
        do {
            _ = try await publish(letter)
            return true
        } catch {
            logger.warning("could not publish the dead letter of an event", metadata: ["topic": "\(event.topic)", "error": "\(error)"])
            return false
        }
    }

    // MARK: Stats, flush, close

    public func stats() async -> EventBusStats {
        state.withLock { s -> EventBusStats in
            // Fold the counters nobody updates any more into the retired totals.
            s.ending.removeAll { c in
                guard c.final.load(ordering: .acquiring) else { return false }
                c.add(into: &s.retired)
                return true
            }
            var total = s.retired
            for c in s.ending { c.add(into: &total) }
            for core in s.subscriptions.values {
                core.counters.add(into: &total)
                total.queuedEvents += core.queuedCount
            }
            total.activeHandlers = s.subscriptions.count
            // Every committed publish took one sequence number, and only those (a deduplicated
            // publish returns the original's), so the next sequence is the count.
            total.totalEventsPublished = s.nextSequence
            return total
        }
    }

    public func flush() async throws {
        let targets = state.withLock { s in s.subscriptions.values.map { ($0, $0.enqueuedCount) } }
        if let me = SubscriptionContext.current, targets.contains(where: { $0.0.id == me && $0.1 > 0 }) {
            throw EventBusError.wouldDeadlock("flush() called from a handler would wait for that handler")
        }
        for (core, target) in targets { await core.waitUntilCompleted(target) }
    }

    /// Drains (as ``flush()``) and ends every subscription, waiting at most `config.closeTimeout` for
    /// the drain and as long again for handlers to return; a handler still running then ends its
    /// subscription when it returns.
    public func close() async {
        guard state.closeOnce() else { return }
        let drained = await finishes(within: config.closeTimeout) { try? await self.flush() }
        let (cores, tasks) = state.withLock { s -> ([SubscriptionCore], [Task<Void, Never>]) in
            let r = (Array(s.subscriptions.values), Array(s.consumers.values))
            s.ending += s.subscriptions.values.map(\.counters)
            s.subscriptions.removeAll()
            s.consumers.removeAll()
            s.clearRoutes()
            return r
        }
        for core in cores { core.cancel() }
        guard SubscriptionContext.current == nil else { return }
        let ended = await finishes(within: config.closeTimeout) { for t in tasks { await t.value } }
        if !drained || !ended {
            logger.warning("close: a handler did not return within \(config.closeTimeout); its subscription ends when it does")
        }
    }
}

/// The original's `EnhancedEventBus`: the in-process bus honouring its ``DeliveryGuarantee`` (retries,
/// dead letters, idempotency keys). Every RingBus bus honours its guarantee; this is the same type as
/// ``InMemoryEventBus`` under the original's name:
///
/// ```swift
/// let bus = EnhancedEventBus().withDeliveryGuarantee(.atLeastOnce)
/// ```
public typealias EnhancedEventBus = InMemoryEventBus
