// EventBus.swift: the one protocol every backend fronts (in-process, shared memory, and a distributed
// engine later), and the handler protocol of the original design.

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

    /// Subscribes a handler that receives the events of one read at once (``BatchEventHandler``).
    @discardableResult
    func subscribe(toTopics topics: [String], batchHandler: any BatchEventHandler) async throws -> Subscription

    /// A batch handler under a durable name: as ``subscribe(toTopics:durableName:_:)`` for a per-event
    /// handler (the name's place is kept while its process is away, and resumed), with batches.
    @discardableResult
    func subscribe(toTopics topics: [String], durableName: String, batchHandler: any BatchEventHandler) async throws
        -> Subscription

    /// A subscription consumed as an `AsyncSequence`. It is registered before this returns, so no event
    /// published afterwards is missed.
    func subscribe(to topics: [String]) async throws -> EventStream

    /// Subscribes `handler` to `topics` under a durable name. On a backend that keeps a durable
    /// subscription's place (the shared-memory bus), a process that subscribes with the name again
    /// resumes there; one process at a time may use a name. On one that keeps nothing across its
    /// process (the in-process bus), the name only labels the subscription.
    @discardableResult
    func subscribe(toTopics topics: [String], durableName: String, _ handler: any EventHandler) async throws
        -> Subscription

    /// Subscribes `handler` under a durable name, delivering only events after those `point` covers
    /// (a point taken with ``currentResumePoint()`` in a handler and stored with its effects).
    /// - Throws: ``EventBusError/subscribeError(_:)`` for a point of another backend or another
    ///   incarnation of the bus.
    @discardableResult
    func subscribe(toTopics topics: [String], durableName: String, resumingAfter point: ResumePoint,
                   _ handler: any EventHandler) async throws -> Subscription

    /// Called from a handler of this bus: the resume point that covers the event being handled and
    /// every event before it in its subscription; `nil` outside a handler of this bus.
    func currentResumePoint() -> ResumePoint?

    /// Counters of the bus.
    func stats() async -> EventBusStats

    /// Returns when every event published before the call has been handled (or dead-lettered, or
    /// dropped by an overflow policy).
    func flush() async throws

    /// Drains, then rejects new publishes with ``EventBusError/closed`` and ends every subscription.
    func close() async
}

extension EventBus {
    /// A backend that keeps nothing across its process: the durable name only labels the subscription.
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, _ handler: any EventHandler) async throws
        -> Subscription
    {
        try await subscribe(toTopics: topics, handler)
    }

    /// A backend without resume points refuses them.
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, resumingAfter point: ResumePoint,
                          _ handler: any EventHandler) async throws -> Subscription
    {
        throw EventBusError.subscribeError("this bus cannot resume a subscription from a resume point")
    }

    /// Batches as the backend's delivery loop makes them: the shared-memory bus hands over what one read
    /// took off its rings; a backend that does not batch, one event at a time.
    @discardableResult
    public func subscribe(toTopics topics: [String], batchHandler: any BatchEventHandler) async throws -> Subscription {
        try await subscribe(toTopics: topics, BatchAdapter(handler: batchHandler))
    }

    /// A durable batch subscription through the backend's durable per-event form; the shared-memory
    /// bus's delivery loop recognises the batch handler and hands it whole batches.
    @discardableResult
    public func subscribe(toTopics topics: [String], durableName: String, batchHandler: any BatchEventHandler) async throws
        -> Subscription
    {
        try await subscribe(toTopics: topics, durableName: durableName, BatchAdapter(handler: batchHandler))
    }

    /// A backend without resume points has none.
    public func currentResumePoint() -> ResumePoint? { nil }

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
