// EventBus.swift: the one protocol every backend fronts (in-process now; shared memory and a
// distributed engine later), and the handler protocol of the original design.

/// Handles events delivered by a subscription. A subscription runs its handler serially, in publish
/// order: `handle` never runs concurrently with itself for one subscription.
public protocol EventHandler: Sendable {
    /// Handles one event. A thrown error counts as a failure; with at-least-once or exactly-once the
    /// bus retries with backoff, then dead-letters the event.
    func handle(_ event: Event) async throws
    /// The topics (filters) this handler wants when subscribed with `subscribe(_:)`; `nil` means all.
    var topics: [String]? { get }
}

extension EventHandler {
    /// All topics, unless a handler says otherwise.
    public var topics: [String]? { nil }
}

/// A handler made from a closure.
public struct ClosureHandler: EventHandler {
    let body: @Sendable (Event) async throws -> Void
    /// The topics (filters) it wants when subscribed with `subscribe(_:)`; `nil` means all.
    public let topics: [String]?

    /// A handler that runs `body` for each event.
    public init(topics: [String]? = nil, _ body: @escaping @Sendable (Event) async throws -> Void) {
        self.topics = topics
        self.body = body
    }

    /// Runs the closure.
    public func handle(_ event: Event) async throws { try await body(event) }
}

/// A publish/subscribe event bus.
public protocol EventBus: Sendable {
    /// Publishes an event to every matching subscription and returns the identity it was committed with
    /// (for a deduplicated publish, the original's identity).
    /// - Throws: ``EventBusError/invalidTopic(_:)`` for an empty or wildcard topic, ``EventBusError/closed``.
    @discardableResult
    nonisolated(nonsending) func publish(_ event: consuming Event) async throws -> EventIdentity

    /// Subscribes `handler` to its own `topics` (all topics when `nil`).
    @discardableResult
    func subscribe(_ handler: any EventHandler) async throws -> Subscription

    /// Subscribes `handler` to the given topics or filters (`user.*`, `user.>`). Each event reaches the
    /// subscription once, however many of its filters match.
    @discardableResult
    func subscribe(toTopics topics: [String], _ handler: any EventHandler) async throws -> Subscription

    /// A subscription consumed as an `AsyncSequence`. It is registered before this returns, so no event
    /// published afterwards is missed.
    func subscribe(to topics: [String]) async throws -> EventStream

    /// Counters of the bus.
    func stats() async -> EventBusStats

    /// Returns when every event published before the call has been handled (or dead-lettered, or
    /// dropped by an overflow policy).
    func flush() async throws

    /// Drains, then rejects new publishes with ``EventBusError/closed`` and ends every subscription.
    func close() async
}

extension EventBus {
    /// A subscription consumed as an `AsyncSequence` (variadic form).
    public func subscribe(to topics: String...) async throws -> EventStream {
        try await subscribe(to: topics)
    }

    /// Runs `body` with a subscription that is cancelled when the scope ends, however it ends.
    public func withSubscription<R: Sendable>(to topics: String..., body: (EventStream) async throws -> R)
        async throws -> R
    {
        let stream = try await subscribe(to: topics)
        do {
            let r = try await body(stream)
            await stream.cancel()
            return r
        } catch {
            await stream.cancel()
            throw error
        }
    }
}
