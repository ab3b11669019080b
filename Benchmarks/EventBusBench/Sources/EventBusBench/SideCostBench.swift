// SideCostBench.swift: the CPU cost of each side of the shared-memory EventBus face, one side at a time
// (no cross-core traffic, so less at the mercy of where the host puts the vCPUs than the 1 -> 1 rows):
//   side-publish-*: N publishes into a ring nobody reads (never full, never wakes anyone);
//   side-deliver-*: 2N events already in the ring, read by a new subscription from .earliest.
// The best of 3 runs per row. `--only side`.

import Dispatch
import Foundation
import RingBus
import Synchronization

func sideCosts(_ n: Int) async throws {
    var o = SharedMemoryBusOptions()
    o.segment.streams = 1
    o.segment.consumerSlots = 4
    o.segment.capacity = 64 << 20 // holds 2N events of either kind for N up to 150,000
    for g in [DeliveryGuarantee.atMostOnce, .atLeastOnce, .exactlyOnce] {
        var bestSame = 0.0, bestNew = 0.0, bestDeliver = 0.0
        for run in 0..<3 {
            let name = "bench-\(getpid())-side-\(guaranteeName(g))-\(run)"
            let bus = try SharedMemoryEventBus(name: name, config: shmConfig(g), options: o)
            defer { try? SharedMemoryEventBus.remove(name: name) }
            let e = Event(topic: "t", payload: ["user_id": 123])
            var t0 = nowNs()
            for _ in 0..<n { try await bus.publish(e) }
            bestSame = max(bestSame, Double(n) / (Double(nowNs() - t0) / 1e9))
            t0 = nowNs()
            for i in 0..<n {
                try await bus.publish(Event(topic: "t", payload: ["user_id": .int(Int64(i)), "name": "abcdefghijklmnopqrstuvwxyz"]))
            }
            bestNew = max(bestNew, Double(n) / (Double(nowNs() - t0) / 1e9))
            let total = 2 * n
            let count = Atomic<Int>(0), end = Atomic<UInt64>(0)
            t0 = nowNs()
            try await bus.subscribe(toTopics: ["t"], durableName: nil, start: .earliest, limit: total, ClosureHandler { _ in
                if count.wrappingAdd(1, ordering: .relaxed).newValue == total { end.store(nowNs(), ordering: .releasing) }
            })
            let deadline = nowNs() + 60_000_000_000
            while end.load(ordering: .acquiring) == 0 {
                guard nowNs() < deadline else { throw EventBusError.timedOut("delivered \(count.load(ordering: .relaxed)) of \(total)") }
                try await Task.sleep(for: .milliseconds(1))
            }
            bestDeliver = max(bestDeliver, Double(total) / (Double(end.load(ordering: .acquiring) - t0) / 1e9))
            await bus.close()
        }
        emit("side-publish-same-\(guaranteeName(g))", [("events_per_sec", bestSame)])
        emit("side-publish-new-payload-\(guaranteeName(g))", [("events_per_sec", bestNew)])
        emit("side-deliver-\(guaranteeName(g))", [("events_per_sec", bestDeliver)])
    }
}
