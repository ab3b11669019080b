// SharedMemoryEventBus.swift: the façade of the EventBus protocol across the processes of one host,
// through the rings of one shared-memory segment: life cycle, subscriptions' registry, stats, flush.
//
// Publishing is SharedPublisher's (this object's own stream, the body encoded once, waits for room on
// the bus thread). Each subscription is a SharedSubscription (a consumer slot, lossy for at-most-once,
// gating otherwise) run by one task on the bus thread (SharedDelivery). Neither this file nor those
// call C: they go through the thin faces (StreamWriter, StreamReader, SharedSegment, BusWaiter).
// Docs/GUARANTEES.md states what each guarantee promises here.

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
    private let state: LockedState<State>
    /// This object's publish pipeline.
    private let publisher: SharedPublisher

    private struct State: ClosableState {
        var subscriptions: [UInt64: SharedSubscription] = [:]
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var closed = false
        /// Counters of subscriptions whose task ended.
        var retired = EventBusStats()
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
        segment = options.createIfMissing ? try SharedSegment.open(name: name, parameters: options.segment, trust: options.ownerTrust)
                                          : try SharedSegment.attach(name: name, trust: options.ownerTrust)
        // Everything that can throw comes before the waiter: its thread owns itself until `stop()`.
        try FaultInjection.fail(at: .eventBusAttached, bus: name)
        waiter = BusWaiter(segment: segment)
        var log = options.logger
        log[metadataKey: "bus"] = "\(name)"
        logger = log
        telemetry = BusTelemetry(bus: name, factory: options.metricsFactory ?? MetricsSystem.factory)
        let registry = LockedState(State())
        state = registry
        // The publisher asks which of this object's subscriptions the calling task handles (a wait for
        // room that subscription holds would wait for itself).
        publisher = SharedPublisher(segment: segment, config: c, options: options, waiter: waiter, telemetry: telemetry,
                                    logger: logger, currentSubscription: {
                                        SubscriptionContext.current.flatMap { id in registry.withLock { $0.subscriptions[id] } }
                                    })
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
        try await publisher.publish(event)
    }

    // MARK: Subscriptions (the public forms are in SharedMemoryEventBus+Subscribe.swift)

    func startSubscription(_ filters: [TopicFilter]?, durableName: String?, start: StartPosition,
                                   _ handler: any EventHandler, limit: Int? = nil,
                                   onEnd: @escaping @Sendable () -> Void = {}) throws -> Subscription
    {
        if state.withLock({ $0.closed }) { throw EventBusError.closed }
        // Segment errors (no free slot, durable name in use, bus removed) are thrown as they are: typed,
        // with the bus name.
        let sub = try SharedSubscription(segment: segment, filters: filters, gating: config.deliveryGuarantee != .atMostOnce,
                                         durableName: durableName, start: start, batchLimit: config.bufferSize,
                                         commitBatch: options.commitBatch, slowConsumerPolicy: options.slowConsumerPolicy,
                                         batchHandler: handler is BatchAdapter)
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
        let delivery = DeliveryContext(config: config, waitStrategy: options.waitStrategy, segment: segment, waiter: waiter,
                                       publisher: publisher, telemetry: telemetry, logger: logger)
        let registered = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.subscriptions[sub.id] = sub
            s.tasks[sub.id] = Task(executorPreference: waiter) { [self] in
                await SubscriptionContext.$current.withValue(sub.id) { await sub.run(handler, limit: limit, context: delivery) }
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

    /// Called from a handler of this bus: the per-stream positions at which a subscription resumed with
    /// `start: .positions(…)` delivers neither the event being handled nor any before it. Store it
    /// atomically with the handler's effect (one `write`, one transaction) and resume from it after a
    /// crash: the effects are then applied exactly once (Docs/GUARANTEES.md). `nil` outside a handler of
    /// this bus.
    public func resumePoint() -> [UInt64]? {
        guard let me = SubscriptionContext.current, let sub = state.withLock({ $0.subscriptions[me] }) else { return nil }
        return sub.resumePoint()
    }

    // MARK: Stats, flush, close

    public func stats() async -> EventBusStats {
        publisher.reportPublished()
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
        total.duplicatesSkipped = publisher.duplicatesSkipped
        return total
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
        let stream = publisher.stream
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
    ///
    /// Waits at most `config.closeTimeout` for the drain (and no longer than `options.flushTimeout`)
    /// and as long again for handlers to return. A handler still running then (it never returns) is
    /// left to finish on its own: its subscription closes its consumer slot when it returns, and a
    /// handler that blocks the bus thread itself keeps that thread until it returns.
    public func close() async {
        guard state.closeOnce() else { return }
        let limit = config.closeTimeout
        let drained = await finishes(within: limit) { try? await self.flush() }
        publisher.close()
        let (subs, tasks) = state.withLock { s in (Array(s.subscriptions.values), Array(s.tasks)) }
        for sub in subs { sub.stop(waiter: waiter) }
        let me = SubscriptionContext.current
        let others = tasks.filter { $0.key != me }.map(\.value)
        let ended = await finishes(within: limit) { for task in others { await task.value } }
        if !drained || !ended {
            logger.warning("close: a handler did not return within \(limit); its subscription ends when it does",
                           metadata: ["bus": "\(name)"])
        }
        // A handler still running on the bus thread (blocking it) would keep this waiting for ever.
        waiter.stop(waitingAtMost: ended ? nil : .milliseconds(100))
        publisher.releaseStream()
        logger.debug("closed")
    }
}
