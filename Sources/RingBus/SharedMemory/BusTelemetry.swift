// BusTelemetry.swift: what a SharedMemoryEventBus reports through swift-metrics. Counters are fed in
// batches (a subscription after each batch it handled, a publisher every 1024 publishes and at
// stats()/close()), never per event: the hot path stays a few stores. The library never bootstraps
// a metrics system or a log handler; the application does, or passes its own factory and logger.

import CoreMetrics

/// The bus's counters, each with the dimension `bus` = the bus name.
struct BusTelemetry: Sendable {
    let published: Counter
    let delivered: Counter
    let failed: Counter
    let retried: Counter
    let deadLettered: Counter
    let dropped: Counter
    let missed: Counter
    let undecodable: Counter
    let evictions: Counter

    init(bus: String, factory: any MetricsFactory) {
        let d = [("bus", bus)]
        func counter(_ name: String) -> Counter { Counter(label: "ringbus_\(name)_total", dimensions: d, factory: factory) }
        published = counter("events_published")
        delivered = counter("events_delivered")
        failed = counter("events_failed")
        retried = counter("events_retried")
        deadLettered = counter("events_dead_lettered")
        dropped = counter("events_dropped")
        missed = counter("events_missed")
        undecodable = counter("records_undecodable")
        evictions = counter("consumers_evicted")
    }
}

/// The values of one subscription's counters last reported, to report the differences (task only).
struct ReportedCounters {
    var delivered: UInt64 = 0, failed: UInt64 = 0, retried: UInt64 = 0, deadLettered: UInt64 = 0
    var dropped: UInt64 = 0, missed: UInt64 = 0, undecodable: UInt64 = 0

    /// Reports what `now` adds to the last report.
    mutating func report(_ now: EventBusStats, to t: BusTelemetry) {
        func delta(_ new: UInt64, _ old: inout UInt64, _ c: Counter) {
            if new > old { c.increment(by: Int64(clamping: new - old)) }
            old = new
        }
        delta(now.totalEventsDelivered, &delivered, t.delivered)
        delta(now.failed, &failed, t.failed)
        delta(now.retried, &retried, t.retried)
        delta(now.deadLettered, &deadLettered, t.deadLettered)
        delta(now.dropped, &dropped, t.dropped)
        delta(now.missed, &missed, t.missed)
        delta(now.undecodable, &undecodable, t.undecodable)
    }
}
