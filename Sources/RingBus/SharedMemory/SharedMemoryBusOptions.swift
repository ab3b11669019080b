// SharedMemoryBusOptions.swift: what a SharedMemoryEventBus needs beyond EventBusConfig.

import CoreMetrics
import Logging

/// What a publisher does about a live gating subscription that has stopped keeping up (a dead one is
/// evicted after the bus's eviction grace either way).
public enum SlowConsumerPolicy: Sendable, Hashable {
    /// Wait for it, however long (default): at-least-once is never broken.
    case block
    /// Stop waiting for it once publishers are more than `afterLag` bytes of ring ahead of its cursor
    /// (1 ... the ring capacity). What they then overwrite before it reads is lost, counted in
    /// `dropped`, never delivered torn: such a subscription reads every event through a validated copy.
    /// Its at-least-once promise holds only while it keeps within the lag.
    case demoteToLossy(afterLag: Int)
}

/// Options of a ``SharedMemoryEventBus`` beyond its ``EventBusConfig``.
public struct SharedMemoryBusOptions: Sendable {
    /// The segment to create when the bus does not exist yet. Ignored when attaching an existing bus,
    /// which keeps the sizes it was created with. Defaults: 8 streams (publishing processes), 64
    /// consumer slots, 1 MiB rings, 64 KiB events, mode 0600, eviction grace 10 s.
    public var segment: SegmentParameters
    /// How a subscription with nothing to read waits. `.adaptive` (default) polls briefly, yielding its
    /// thread between polls, when the machine has a spare CPU, then sleeps on the bus thread.
    public var waitStrategy: WaitStrategy = .adaptive(spin: .microseconds(20))
    /// At-least-once and exactly-once: a subscription commits a stream's cursor after this many handled
    /// events of that stream (1: after every event). A crash redelivers at most this many per stream.
    public var commitBatch: Int = 1
    /// A durable producer name: a process restarted with the same name takes its own stream again and
    /// continues its sequence. `nil`: any free stream.
    public var producerName: String?
    /// At-least-once and exactly-once: what publishers do about this object's subscriptions when they
    /// are alive but stuck. `.block` (default) or `.demoteToLossy(afterLag:)`.
    public var slowConsumerPolicy: SlowConsumerPolicy = .block
    /// How long `flush()` waits before it throws ``EventBusError/timedOut(_:)``.
    public var flushTimeout: Duration = .seconds(30)
    /// Create the bus when it does not exist (default). `false`: attach only, and throw
    /// ``SegmentError/notFound(bus:)`` for an unknown bus.
    public var createIfMissing = true
    /// Whose existing bus this object joins: by default only one whose file belongs to this process's
    /// user or to root (``SegmentError/untrustedOwner(bus:uid:)`` otherwise). Another user can create
    /// a bus name first; see ``OwnerTrust``.
    public var ownerTrust: OwnerTrust = .selfAndRoot
    /// Where the bus logs what an operator should know (durable names resumed after a crash,
    /// evictions, dead letters, undecodable records), with the bus name as metadata. The default
    /// discards everything: the library never bootstraps logging; pass your application's logger.
    public var logger = Logger(label: "ringbus", factory: { _ in SwiftLogNoOpLogHandler() })
    /// Where the bus's counters go (`ringbus_events_published_total`, `…_delivered_total`,
    /// `…_dropped_total`, … with the dimension `bus`); `nil`: the application's bootstrapped
    /// `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)?

    /// The defaults listed on each property.
    public init() {
        segment = SegmentParameters()
        segment.streams = 8
        segment.consumerSlots = 64
    }
}
