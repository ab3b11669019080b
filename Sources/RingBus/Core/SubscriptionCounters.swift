// SubscriptionCounters.swift: per-subscription counters every backend keeps, and the small atomics
// helpers they use.

import Synchronization

/// Per-subscription counters, written without locks by the side that owns each one.
final class SubscriptionCounters: Sendable {
    /// Written by the subscription's consumer only (``Atomic/incrementBySoleWriter()``).
    let delivered = Atomic<UInt64>(0)
    let failed = Atomic<UInt64>(0)
    let retried = Atomic<UInt64>(0)
    let deadLettered = Atomic<UInt64>(0)
    let dropped = Atomic<UInt64>(0)
    /// Set once nobody will update these counters again (the consumer ended).
    let final = Atomic<Bool>(false)

    func add(into s: inout EventBusStats) {
        s.totalEventsDelivered &+= delivered.load(ordering: .relaxed)
        s.failed &+= failed.load(ordering: .relaxed)
        s.retried &+= retried.load(ordering: .relaxed)
        s.deadLettered &+= deadLettered.load(ordering: .relaxed)
        s.dropped &+= dropped.load(ordering: .relaxed)
    }
}

extension Atomic where Value == UInt64 {
    /// +1 for a counter that one thread writes and others only read: a load and a store instead of a
    /// locked read-modify-write, on the consumer's per-event path.
    func incrementBySoleWriter() { store(load(ordering: .relaxed) &+ 1, ordering: .relaxed) }
}

/// 64 bytes of nothing, to keep what two threads write on different cache lines.
struct CacheLinePad: Sendable {
    private var bytes: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
}
