// EventBusStats.swift: honest counters (the original counted spawned tasks as "delivered").

/// Counters of a bus, taken at one instant.
public struct EventBusStats: Sendable, Equatable {
    /// Events committed (a deduplicated publish is not counted again).
    public var totalEventsPublished: UInt64 = 0
    /// Handler invocations that completed without throwing.
    public var totalEventsDelivered: UInt64 = 0
    /// Handler invocations whose last attempt threw.
    public var failed: UInt64 = 0
    /// Events an overflow policy dropped, or (shared memory, at-most-once) a lossy subscription lost
    /// to being lapped by the publisher.
    public var dropped: UInt64 = 0
    /// Shared memory: events a subscription could not receive because they went by before it could read
    /// them (while its durable name was evicted, or overwritten before a late join could read them).
    public var missed: UInt64 = 0
    /// Shared memory: records a subscription skipped because their bytes are not an event (a raw
    /// publish of other bytes, or a corrupt record).
    public var undecodable: UInt64 = 0
    /// Retry attempts.
    public var retried: UInt64 = 0
    /// Events published to the dead-letter topic after their retries ran out.
    public var deadLettered: UInt64 = 0
    /// Exactly-once: publishes through this bus object that were not committed because their idempotency
    /// key was already committed within the dedupe window (each returned the original identity).
    public var duplicatesSkipped: UInt64 = 0
    /// Live subscriptions (goes down on cancel and close).
    public var activeHandlers: Int = 0
    /// Events queued in subscriptions' buffers now, not yet handed to their handler.
    public var queuedEvents: Int = 0

    public init() {}
}
