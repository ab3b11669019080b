// InMemoryEventBus.swift: the in-process bus. Each subscription has one serial consumer task and a
// bounded queue (SubscriptionCore); publish validates, deduplicates, assigns the identity, and offers
// the event to every matching subscription, waiting for room by default. Guarantees: DeliveryGuarantee.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// A handle on a subscription; cancel it to unsubscribe.
public final class Subscription: Sendable {
    /// Unique within its bus.
    public let id: UInt64
    private let onCancel: @Sendable () async -> Void

    init(id: UInt64, onCancel: @escaping @Sendable () async -> Void) {
        self.id = id
        self.onCancel = onCancel
    }

    /// Unsubscribes: no event is delivered after this returns; events still queued are discarded
    /// (counted as dropped). Safe to call more than once, and from the subscription's own handler.
    public func cancel() async { await onCancel() }
}

/// A subscription consumed as an `AsyncSequence`. Event *n* counts as handled when `next()` is called
/// for *n + 1* (or the sequence is cancelled).
public struct EventStream: AsyncSequence, Sendable {
    public typealias Element = Event
    let core: SubscriptionCore
    let bus: InMemoryEventBus

    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: SubscriptionCore
        let bus: InMemoryEventBus
        var holding = false

        public mutating func next() async -> Event? {
            if holding {
                holding = false
                bus.count { $0.totalEventsDelivered += 1 }
                core.complete()
            }
            guard let e = await core.take() else { return nil }
            holding = true
            return e
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(core: core, bus: bus) }

    /// Ends the sequence (an iteration in progress returns `nil`).
    public func cancel() async { await bus.unsubscribe(core) }
}

/// The in-process event bus.
public final class InMemoryEventBus: EventBus {
    public let config: EventBusConfig
    /// Random per bus: the incarnation of every identity it assigns.
    public let incarnation: UInt64
    private let state: Mutex<State>
    private let counters: Mutex<EventBusStats>

    private struct State {
        var subscriptions: [UInt64: SubscriptionCore] = [:]
        var consumers: [UInt64: Task<Void, Never>] = [:]
        var nextSubscription: UInt64 = 1
        var nextSequence: UInt64 = 0
        var closed = false
        var dedupe: [String: (identity: EventIdentity, at: ContinuousClock.Instant)] = [:]
        /// Matching subscriptions per topic, in subscription order; cleared when subscriptions change.
        var routes: [String: [SubscriptionCore]] = [:]

        mutating func targets(for topic: String) -> [SubscriptionCore] {
            if let r = routes[topic] { return r }
            if routes.count > 10_000 { routes.removeAll() }
            let r = subscriptions.values.filter { $0.matches(topic) }.sorted { $0.id < $1.id }
            routes[topic] = r
            return r
        }
    }

    /// A bus with the original's defaults (buffer size 100, at-most-once).
    public convenience init() { self.init(config: EventBusConfig()) }

    public init(config: EventBusConfig) {
        self.config = config
        incarnation = UInt64.random(in: 1...UInt64.max)
        state = Mutex(State())
        counters = Mutex(EventBusStats())
    }

    func count(_ update: (inout EventBusStats) -> Void) { counters.withLock { update(&$0) } }

    // MARK: Publish

    @discardableResult
    public func publish(_ event: Event) async throws -> EventIdentity {
        try await publish(event, failFast: false)
    }

    private func publish(_ event: Event, failFast: Bool) async throws(EventBusError) -> EventIdentity {
        if let why = Topic.problem(with: event.topic, allowWildcards: false) { throw .invalidTopic(why) }
        let dedupe = config.deliveryGuarantee == .exactlyOnce ? event.idempotencyKey : nil
        let window = config.dedupeWindow
        let incarnation = self.incarnation
        let (identity, targets, duplicate) = try state.withLock { (s) throws(EventBusError) in
            if s.closed { throw EventBusError.closed }
            let now = ContinuousClock.now
            if let key = dedupe, let prior = s.dedupe[key], now - prior.at < window {
                return (prior.identity, [SubscriptionCore](), true)
            }
            let id = EventIdentity(incarnation: incarnation, stream: 0, sequence: s.nextSequence)
            s.nextSequence += 1
            if let key = dedupe {
                if s.dedupe.count > 100_000 { s.dedupe = s.dedupe.filter { now - $0.value.at < window } }
                s.dedupe[key] = (id, now)
            }
            return (id, s.targets(for: event.topic), false)
        }
        if duplicate { return identity }
        count { $0.totalEventsPublished += 1 }
        // A handler publishing into its own full subscription would wait for itself.
        if config.overflowPolicy == .wait, !failFast, let me = SubscriptionContext.current,
           let own = targets.first(where: { $0.id == me }), own.isFull
        {
            throw .wouldDeadlock("a handler published into its own full subscription (bufferSize \(own.capacity))")
        }
        var e = event
        e.identity = identity
        for core in targets {
            let r: SubscriptionCore.OfferResult
            if let fast = core.tryOffer(e) {
                r = fast
            } else if failFast {
                r = .dropped
            } else {
                r = await core.offer(e)
            }
            if r == .dropped || r == .droppedOldest { count { $0.dropped += 1 } }
        }
        return identity
    }

    // MARK: Subscribe

    @discardableResult
    public func subscribe(_ handler: any EventHandler) async throws -> Subscription {
        let filters = try handler.topics.map { try Self.filters($0) }
        return try register(filters, handler)
    }

    @discardableResult
    public func subscribe(toTopics topics: [String], _ handler: any EventHandler) async throws -> Subscription {
        try register(try Self.filters(topics), handler)
    }

    public func subscribe(to topics: [String]) async throws -> EventStream {
        let core = try makeCore(try Self.filters(topics))
        return EventStream(core: core, bus: self)
    }

    private static func filters(_ topics: [String]) throws(EventBusError) -> [TopicFilter] {
        guard !topics.isEmpty else { throw .subscribeError("no topics given (use \">\" for every topic)") }
        return try topics.map { (t) throws(EventBusError) in try TopicFilter(t) }
    }

    private func makeCore(_ filters: [TopicFilter]?) throws(EventBusError) -> SubscriptionCore {
        try state.withLock { (s) throws(EventBusError) in
            if s.closed { throw EventBusError.subscribeError("the event bus is closed") }
            let core = SubscriptionCore(id: s.nextSubscription, filters: filters, capacity: config.bufferSize,
                                        policy: config.overflowPolicy)
            s.nextSubscription += 1
            s.subscriptions[core.id] = core
            s.routes.removeAll()
            return core
        }
    }

    private func register(_ filters: [TopicFilter]?, _ handler: any EventHandler) throws(EventBusError) -> Subscription {
        let core = try makeCore(filters)
        let task = Task { [self] in
            await SubscriptionContext.$current.withValue(core.id) {
                // One event at a time: taking a batch would move events out of the bounded queue into
                // the consumer's hands and let publishers run further ahead than bufferSize.
                while let e = await core.take() {
                    if await deliver(e, to: handler) { count { $0.totalEventsDelivered += 1 } }
                    core.complete()
                }
            }
        }
        state.withLock { $0.consumers[core.id] = task }
        return Subscription(id: core.id) { [weak self] in await self?.unsubscribe(core) }
    }

    func unsubscribe(_ core: SubscriptionCore) async {
        state.withLock { s in
            s.subscriptions[core.id] = nil
            s.consumers[core.id] = nil
            s.routes.removeAll()
        }
        let discarded = core.cancel()
        if discarded > 0 { count { $0.dropped += UInt64(discarded) } }
    }

    // MARK: Delivery

    /// Runs the handler on one event under the configured guarantee; true when it completed.
    private func deliver(_ event: Event, to handler: any EventHandler) async -> Bool {
        if config.deliveryGuarantee == .atMostOnce {
            do {
                try await handler.handle(event)
                return true
            } catch {
                count { $0.failed += 1 }
                return false
            }
        }
        let retry = config.retry
        var deadline: ContinuousClock.Instant? = nil // read the clock only once something failed
        var backoff = retry.initialBackoff
        var attempt = 1
        var e = event
        while true {
            do {
                try await handler.handle(e)
                return true
            } catch {
                let now = ContinuousClock.now
                if deadline == nil { deadline = now + retry.maxTotalTime }
                if attempt >= retry.maxAttempts || now + backoff > deadline! {
                    count { $0.failed += 1 }
                    await deadLetter(e, error: error)
                    return false
                }
                count { $0.retried += 1 }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, retry.maxBackoff)
                attempt += 1
                e.redelivered = true
            }
        }
    }

    /// Publishes a failed event to `<prefix>.<topic>`, failing fast (never waits for room), and never
    /// dead-letters a dead letter again.
    private func deadLetter(_ event: Event, error: any Error) async {
        guard !event.topic.hasPrefix(config.deadLetterPrefix + ".") else { return }
        let letter = Event(topic: config.deadLetterPrefix + "." + event.topic, payload: [
            "topic": .string(event.topic), "payload": event.payload, "error": .string("\(error)"),
            "identity": .string(event.identity.description),
        ])
        if (try? await publish(letter, failFast: true)) != nil { count { $0.deadLettered += 1 } }
    }

    // MARK: Stats, flush, close

    public func stats() async -> EventBusStats {
        let cores = state.withLock { Array($0.subscriptions.values) }
        var s = counters.withLock { $0 }
        s.activeHandlers = cores.count
        s.queuedEvents = cores.reduce(0) { $0 + $1.queuedCount }
        return s
    }

    public func flush() async throws {
        let targets = state.withLock { s in s.subscriptions.values.map { ($0, $0.enqueuedCount) } }
        if let me = SubscriptionContext.current, targets.contains(where: { $0.0.id == me && $0.1 > 0 }) {
            throw EventBusError.wouldDeadlock("flush() called from a handler would wait for that handler")
        }
        for (core, target) in targets { await core.waitUntilCompleted(target) }
    }

    public func close() async {
        let wasOpen = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        guard wasOpen else { return }
        try? await flush()
        let (cores, tasks) = state.withLock { s -> ([SubscriptionCore], [Task<Void, Never>]) in
            let r = (Array(s.subscriptions.values), Array(s.consumers.values))
            s.subscriptions.removeAll()
            s.consumers.removeAll()
            s.routes.removeAll()
            return r
        }
        for core in cores { core.cancel() }
        if SubscriptionContext.current == nil { for t in tasks { await t.value } }
    }
}
