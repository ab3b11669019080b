// EventBusConfig.swift: delivery guarantees, bus types and the configuration (the factory that builds a
// bus from it is Factory/CreateEventBus.swift).

/// What a subscription is promised (Docs/API.md defines each exactly).
public enum DeliveryGuarantee: Sendable, Hashable {
    /// Each event reaches a subscription zero or one time; a failing handler is counted, not retried.
    case atMostOnce
    /// A failing handler is retried with backoff, then the event goes to the dead-letter topic.
    case atLeastOnce
    /// At-least-once, plus: a handler is never completed twice for one identity, and a publish whose
    /// idempotency key was already published within the dedupe window is not committed again.
    case exactlyOnce
}

/// Which backend `createEventBus(_:)` builds.
public enum EventBusType: Sendable, Hashable {
    /// In-process fan-out.
    case inMemory
    /// The original's "enhanced" bus: in-process, honouring the configured guarantee (here every bus does).
    case enhanced
    /// Processes on one host, through shared-memory rings (the `SharedMemoryEventBus`).
    case sharedMemory(name: String)
}

/// What `publish` does when a subscription's buffer is full.
public enum OverflowPolicy: Sendable, Hashable {
    /// Wait for room (default): a burst is never silently lost.
    case wait
    /// Drop the event being published for that subscription (counted in `dropped`).
    case dropNewest
    /// Drop the subscription's oldest queued event to make room (counted in `dropped`).
    case dropOldest
}

/// Retries of failing handlers (at-least-once and exactly-once).
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int = 3
    /// Delay before the first retry; doubled each time, up to `maxBackoff`.
    public var initialBackoff: Duration = .milliseconds(10)
    /// The longest delay between two attempts.
    public var maxBackoff: Duration = .milliseconds(500)
    /// A bound on the total time spent retrying one event.
    public var maxTotalTime: Duration = .seconds(5)

    /// Three attempts, 10 ms doubling up to 500 ms, at most 5 s in all.
    public init() {}
}

/// The configuration of a bus. Defaults as in the original: in-memory, buffer size 100, at-most-once.
public struct EventBusConfig: Sendable, Hashable {
    /// Which backend `createEventBus(_:)` builds.
    public var busType: EventBusType = .inMemory
    /// Events each subscription may queue for its handler: 1 ... ``maximumBufferSize``.
    public var bufferSize: Int = 100
    /// The largest `bufferSize`: each subscription's ring is allocated for it up front.
    public static let maximumBufferSize = 1 << 24
    /// What delivery promises (Docs/API.md defines each exactly).
    public var deliveryGuarantee: DeliveryGuarantee = .atMostOnce
    /// What a publish does when a subscription's buffer is full: wait for room (default) or drop.
    public var overflowPolicy: OverflowPolicy = .wait
    /// Retries of failing handlers, for at-least-once and exactly-once.
    public var retry = RetryPolicy()
    /// Exactly-once: how long a publish's idempotency key is remembered.
    public var dedupeWindow: Duration = .seconds(60)
    /// Failed events are published to `<deadLetterPrefix>.<original topic>`.
    public var deadLetterPrefix: String = "$dlq"
    /// The longest `close()` waits for its drain and for handlers to return. A handler still running
    /// then is left to finish on its own (its subscription ends when it returns) and `close()` returns.
    public var closeTimeout: Duration = .seconds(30)

    /// The original's defaults: in-memory, buffer size 100, at-most-once; publish waits for room.
    public init() {}

    /// This configuration with `guarantee`: `EventBusConfig().withDeliveryGuarantee(.exactlyOnce)`.
    public func withDeliveryGuarantee(_ guarantee: DeliveryGuarantee) -> EventBusConfig {
        var c = self
        c.deliveryGuarantee = guarantee
        return c
    }
}
