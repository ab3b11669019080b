// BatchEventHandler.swift: the opt-in handler form that receives, in one call, the events one read of
// the bus made available: one async call per batch instead of per event.

/// Handles the events a subscription read at once, in publish order. A subscription runs its handler
/// serially: `handle(batch:)` never runs concurrently with itself.
///
/// The guarantees hold per batch: with at-least-once or exactly-once the subscription's place moves past
/// the batch only after `handle(batch:)` returned; a throw retries the whole batch per the retry policy
/// (marked `redelivered`), then dead-letters each of its events. A backend that does not batch (the
/// in-process bus) calls it with one event at a time.
///
/// ```swift
/// try await bus.subscribe(toTopics: ["metrics.>"], batchHandler: BatchClosureHandler { events in
///     try await store.insert(events.map { try $0.decode(Sample.self) })   // one write per batch
/// })
/// ```
public protocol BatchEventHandler: Sendable {
    /// Handles the batch (never empty). A thrown error fails the whole batch.
    func handle(batch events: [Event]) async throws
}

/// A batch handler made from a closure.
public struct BatchClosureHandler: BatchEventHandler {
    let body: @Sendable ([Event]) async throws -> Void

    /// A handler that runs `body` for each batch.
    public init(_ body: @escaping @Sendable ([Event]) async throws -> Void) { self.body = body }

    /// Runs the closure.
    public func handle(batch events: [Event]) async throws { try await body(events) }
}

/// A batch handler subscribed through the per-event path: one event per batch, unless the backend's
/// delivery loop recognises it and hands it whole batches (the shared-memory bus does).
struct BatchAdapter: EventHandler {
    let handler: any BatchEventHandler
    func handle(_ event: Event) async throws { try await handler.handle(batch: [event]) }
}
