// SubscriptionQueueStressTests.swift: the in-process bus's lock-free subscription queue under
// concurrent publishers, every overflow policy, and cancellation racing delivery. CI also runs this
// suite under ThreadSanitizer (.ci/run), which checks the queue's orderings, not only its outcomes;
// so its own shared state uses the library's `LockedState` (a pthread mutex ThreadSanitizer sees),
// not `Synchronization.Mutex` (which it cannot see, and would report as races).

import Foundation
@testable import RingBus
import Testing

/// Checks, per publisher, that event numbers only go up (gaps allowed or not), and counts them.
final class OrderChecker: EventHandler, @unchecked Sendable {
    private let state = LockedState<(last: [Int64: Int64], count: Int, outOfOrder: Int, gaps: Int)>(([:], 0, 0, 0))

    func handle(_ event: Event) async throws {
        guard let p = event.payload["p"]?.intValue, let i = event.payload["i"]?.intValue else { return }
        state.withLock { s in
            let last = s.last[p] ?? -1
            if i <= last { s.outOfOrder += 1 }
            if i > last + 1 { s.gaps += 1 }
            s.last[p] = i
            s.count += 1
        }
    }

    var count: Int { state.withLock { $0.count } }
    var outOfOrder: Int { state.withLock { $0.outOfOrder } }
    var gaps: Int { state.withLock { $0.gaps } }
}

/// Publishes `perPublisher` numbered events from each of `publishers` concurrent tasks.
func publishConcurrently(_ bus: InMemoryEventBus, publishers: Int, perPublisher: Int) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for p in 0..<publishers {
            group.addTask {
                for i in 0..<perPublisher {
                    try await bus.publish(Event(topic: "s.x", payload: ["p": .int(Int64(p)), "i": .int(Int64(i))]))
                }
            }
        }
        try await group.waitForAll()
    }
}

/// Runs `body` on a new thread; the returned function joins it (with a deadline).
func onThread(_ body: @escaping @Sendable () -> Void) -> @Sendable (Duration) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread {
        body()
        done.signal()
    }.start()
    return { deadline in
        done.wait(timeout: .now() + .nanoseconds(Int(deadline.components.seconds) * 1_000_000_000)) == .success
    }
}

@Suite("subscription queue under stress")
struct SubscriptionQueueStressTests {
    @Test("one publisher thread and one consumer thread spinning on the queue: every event once, in order",
          arguments: [1, 3, 64])
    func rawThreadsHandOff(capacity: Int) async throws {
        // Plain threads, no Swift concurrency: nothing but the queue's own atomics orders the slot
        // accesses, so ThreadSanitizer (in CI) sees exactly the queue's synchronisation.
        let core = SubscriptionCore(id: 1, filters: nil, capacity: capacity, policy: .wait)
        let n = 100_000
        let publisher = onThread {
            for i in 0..<n {
                let e = Event(topic: "t", payload: .string("event \(i) with a heap-allocated string payload"),
                              timestamp: Date(timeIntervalSince1970: 0), identity: EventIdentity(incarnation: 1, stream: 0, sequence: UInt64(i)))
                while core.tryOffer(e) == nil {} // full: spin (policy .wait's slow path is async)
            }
        }
        let result = LockedState<(received: Int, wrong: Int)>((0, 0))
        let consumer = onThread {
            var next: UInt64 = 0
            var wrong = 0
            let end = ContinuousClock.now + .seconds(120)
            while next < UInt64(n) && ContinuousClock.now < end {
                guard let e = core.poll() else { continue }
                if e.identity.sequence != next || e.payload.stringValue != "event \(next) with a heap-allocated string payload" {
                    wrong += 1
                }
                next += 1
                core.complete()
            }
            result.withLock { $0 = (Int(next), wrong) }
        }
        #expect(publisher(.seconds(120)) && consumer(.seconds(120)), "a thread did not finish within its deadline")
        let r = result.withLock { $0 }
        #expect(r.received == n)
        #expect(r.wrong == 0)
        #expect(core.queuedCount == 0)
    }

    @Test("4 publishers into buffers of 8 of 3 subscriptions: every event arrives once, in each publisher's order")
    func concurrentPublishersWait() async throws {
        let bus = InMemoryEventBus(config: config { $0.bufferSize = 8 })
        let fast = OrderChecker(), slow = OrderChecker(), third = OrderChecker() // 3: the fan-out path
        try await bus.subscribe(toTopics: ["s.>"], fast)
        try await bus.subscribe(toTopics: ["s.x"], third)
        try await bus.subscribe(toTopics: ["s.*"], ClosureHandler { e in
            if (e.payload["i"]?.intValue ?? 0) % 64 == 0 { await Task.yield() } // now and then behind
            try await slow.handle(e)
        })
        try await publishConcurrently(bus, publishers: 4, perPublisher: 5_000)
        #expect(await flushed(bus), "flush did not return within its deadline")
        for c in [fast, slow, third] {
            #expect(c.count == 20_000)
            #expect(c.outOfOrder == 0)
            #expect(c.gaps == 0)
        }
        let s = await bus.stats()
        #expect(s.dropped == 0 && s.totalEventsDelivered == 60_000 && s.queuedEvents == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("drop policies under 4 publishers: delivered + dropped == published, order kept",
          arguments: [OverflowPolicy.dropOldest, .dropNewest])
    func concurrentPublishersDrop(policy: OverflowPolicy) async throws {
        let bus = InMemoryEventBus(config: config {
            $0.bufferSize = 4
            $0.overflowPolicy = policy
        })
        let checker = OrderChecker()
        try await bus.subscribe(toTopics: ["s.x"], ClosureHandler { e in
            await Task.yield() // slower than four publishers, so the buffer overflows
            try await checker.handle(e)
        })
        try await publishConcurrently(bus, publishers: 4, perPublisher: 5_000)
        #expect(await flushed(bus), "flush did not return within its deadline")
        let s = await bus.stats()
        #expect(s.dropped > 0, "the buffer never overflowed: the test did not test dropping")
        #expect(UInt64(checker.count) + s.dropped == 20_000)
        #expect(s.totalEventsDelivered == UInt64(checker.count))
        #expect(checker.outOfOrder == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("cancel racing delivery: the handler saw a gapless prefix, and at most the taken event after cancel",
          arguments: 0..<20)
    func cancelRacingDelivery(round: Int) async throws {
        let bus = InMemoryEventBus(config: config { $0.bufferSize = 16 })
        let checker = OrderChecker()
        let afterCancel = LockedState<(cancelled: Bool, inFlight: Int, late: Int)>((false, 0, 0))
        let sub = try await bus.subscribe(toTopics: ["s.x"], ClosureHandler { e in
            afterCancel.withLock { s in
                if s.cancelled { s.late += 1 }
                s.inFlight += 1
            }
            try await checker.handle(e)
            afterCancel.withLock { $0.inFlight -= 1 }
        })
        let publisher = Task { try await publishConcurrently(bus, publishers: 1, perPublisher: 4_000) }
        while checker.count < 100 + round * 50 { await Task.yield() }
        await sub.cancel()
        // The one event the consumer had already taken may still start; no other may.
        let busy = afterCancel.withLock { s -> Int in
            s.cancelled = true
            return s.inFlight
        }
        try await publisher.value
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(checker.gaps == 0 && checker.outOfOrder == 0)
        #expect(afterCancel.withLock { $0.late } <= 1, "events kept starting after cancel returned (\(busy) in flight)")
        let s = await bus.stats()
        #expect(s.activeHandlers == 0 && s.queuedEvents == 0)
        #expect(s.totalEventsPublished == 4_000)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("an AsyncSequence cancelled while a publisher waits for room frees the publisher")
    func streamCancelFreesWaitingPublisher() async throws {
        let bus = InMemoryEventBus(config: config { $0.bufferSize = 2 })
        let stream = try await bus.subscribe(to: ["s.x"])
        let publisher = Task { try await publishConcurrently(bus, publishers: 2, perPublisher: 50) }
        var seen = 0
        for await _ in stream {
            seen += 1
            if seen == 10 { break }
        }
        await stream.cancel()
        #expect(await finishes { _ = try? await publisher.value }, "a publisher stayed blocked on a cancelled subscription")
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("subscribers share the payload: a 1 MiB string reaches 20 handlers as one copy (PARITY 11)")
    func payloadIsNotCopiedPerHandler() async throws {
        let bus = InMemoryEventBus(config: config())
        let big = String(repeating: "x", count: 1 << 20)
        @Sendable func address(_ s: String) -> UInt? {
            s.utf8.withContiguousStorageIfAvailable { UInt(bitPattern: $0.baseAddress) }
        }
        let published = try #require(address(big))
        let seen = LockedState<[UInt?]>([])
        for _ in 0..<20 {
            try await bus.subscribe(toTopics: ["big"], ClosureHandler { e in
                guard case .string(let s) = e.payload else { return }
                seen.withLock { $0.append(address(s)) }
            })
        }
        try await bus.publish(Event(topic: "big", payload: .string(big)))
        #expect(await flushed(bus), "flush did not return within its deadline")
        let addresses = seen.withLock { $0 }
        #expect(addresses.count == 20)
        #expect(addresses.allSatisfy { $0 == published }, "a handler received a copy of the payload's bytes")
        #expect(await closed(bus), "close did not return within its deadline")
    }
}
