// BatchHandlerTests.swift: the batch handler form (issue 13) on every backend: every event once, in
// order; the shared-memory bus hands over what one read took (batches of more than one); a failing batch
// is retried whole and then dead-lettered event by event; its place moves past a batch only after the
// handler returned (a durable name resumes at the first event of an unfinished batch).

import Foundation
@testable import RingBus
import Synchronization
import Testing

@Suite("batch handlers", .serialized)
struct BatchHandlerTests {
    @Test("every event once, in order; batches as the backend reads them", arguments: Backend.all)
    func inOrder(backend: Backend) async throws {
        let bus = try backend.make(config { $0.deliveryGuarantee = .atLeastOnce; $0.bufferSize = 64 })
        let sizes = Mutex([Int]()), seen = Mutex([Int64]())
        let gate = Gate()
        try await bus.subscribe(toTopics: ["b.>"], batchHandler: BatchClosureHandler { events in
            await gate.wait() // the first batch waits: the rest piles up behind it
            sizes.withLock { $0.append(events.count) }
            seen.withLock { $0 += events.map { $0.payload.intValue! } }
        })
        // The first batch waits at the gate while more pile up behind it (the in-process bus's buffer of
        // 64 holds the publisher back meanwhile: it publishes from a task of its own).
        let publisher = Task { for i in 0..<200 { try await bus.publish(Event(topic: "b.x", payload: .int(Int64(i)))) } }
        let end = ContinuousClock.now + .seconds(30)
        while await bus.stats().totalEventsPublished < 60, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(1)) }
        gate.release()
        try await publisher.value
        #expect(await flushed(bus))
        #expect(seen.withLock { $0 } == (0..<200).map(Int64.init))
        let s = sizes.withLock { $0 }
        #expect(s.allSatisfy { (1...64).contains($0) })
        if backend.name == "shared-memory" { #expect(s.contains { $0 > 1 }, "batches: \(s)") }
        #expect(await bus.stats().totalEventsDelivered == 200)
        #expect(await closed(bus))
    }

    @Test("a failing batch is retried whole, then each of its events is dead-lettered", arguments: Backend.all)
    func failingBatch(backend: Backend) async throws {
        let bus = try backend.make(config { $0.deliveryGuarantee = .atLeastOnce; $0.retry.maxAttempts = 3 })
        let calls = Mutex([[Int64]]()), letters = Mutex([String]())
        try await bus.subscribe(toTopics: ["$dlq.>"], ClosureHandler { e in letters.withLock { $0.append(e.topic) } })
        try await bus.subscribe(toTopics: ["f"], batchHandler: BatchClosureHandler { events in
            calls.withLock { $0.append(events.map { $0.payload.intValue! }) }
            if events.contains(where: { $0.payload.intValue == 2 }) { throw EventBusError.handlerError("no 2") }
        })
        for i in 0..<4 { try await bus.publish(Event(topic: "f", payload: .int(Int64(i)))) }
        #expect(await flushed(bus))
        let c = calls.withLock { $0 }
        let failing = c.filter { $0.contains(2) }
        #expect(failing.count == 3 && Set(failing.map { $0 }).count == 1, "the same batch, three attempts: \(c)")
        #expect(Array(c.joined()).filter { $0 != 2 }.count >= 3)
        // The letters are published while the batch fails, after flush() took the tails it waits for:
        // the dead-letter subscription may still be handling them when flush() returns.
        #expect(await eventually { letters.withLock { $0.count } == failing[0].count })
        let s = await bus.stats()
        #expect(s.deadLettered == UInt64(failing[0].count) && s.retried == 2)
        #expect(await closed(bus))
    }
    /// Found by an outside attack: a batch handler could only be anonymous, so a subscriber process that
    /// died lost what was published while it was away. The durable batch forms keep the name's place.
    @Test("a durable batch subscription resumes its place: events published while it was away arrive, none twice")
    func durableBatch() async throws {
        let name = uniqueBusName("batch-durable")
        defer { try? SharedMemoryEventBus.remove(name: name) }
        let cfg = config { $0.deliveryGuarantee = .atLeastOnce }
        let first = try SharedMemoryEventBus(name: name, config: cfg)
        let seen = Mutex([Int64]())
        let handler = BatchClosureHandler { events in seen.withLock { $0 += events.map { $0.payload.intValue! } } }
        let sub = try await first.subscribe(toTopics: ["d"], durableName: "keeper", batchHandler: handler)
        for i in 0..<10 { try await first.publish(Event(topic: "d", payload: .int(Int64(i)))) }
        #expect(await eventually { seen.withLock { $0.count } == 10 })
        await sub.cancel()
        for i in 10..<20 { try await first.publish(Event(topic: "d", payload: .int(Int64(i)))) } // nobody reading
        await first.close()
        let second = try SharedMemoryEventBus(name: name, config: cfg)
        try await second.subscribe(toTopics: ["d"], durableName: "keeper", start: .committed, batchHandler: handler)
        #expect(await eventually { seen.withLock { $0.count } == 20 })
        #expect(seen.withLock { $0 } == (0..<20).map(Int64.init))
        #expect(await closed(second))
    }

    @Test("a resume point taken in a batch handler covers the whole batch, on every stream it spans")
    func resumePointCoversTheBatch() async throws {
        let name = uniqueBusName("batchresume")
        var options = SharedMemoryBusOptions()
        options.segment.streams = 2
        options.segment.capacity = 1 << 20
        let cfg = config { $0.deliveryGuarantee = .exactlyOnce; $0.bufferSize = 64 }
        let subscriber = try SharedMemoryEventBus(name: name, config: cfg, options: options)
        defer { try? SharedMemoryEventBus.remove(name: name) }
        let gate = Gate()
        let taken = Mutex<(point: ResumePoint?, handled: Set<Int64>)>((nil, []))
        try await subscriber.subscribe(toTopics: ["r"], durableName: "d", start: .committed, BatchAdapter(handler: BatchClosureHandler { events in
            await gate.wait()
            let values = events.map { $0.payload.intValue! }
            taken.withLock { t in
                guard t.point == nil else { return }
                t.handled.formUnion(values)
                if values.contains(where: { $0 < 100 }) && values.contains(where: { $0 >= 100 }) {
                    t.point = subscriber.currentResumePoint() // a batch spanning both streams
                }
            }
        }))
        // Two publishers: two streams. The first event's batch waits at the gate; the rest pile up behind it.
        let p1 = try SharedMemoryEventBus(name: name, config: cfg, options: options)
        let p2 = try SharedMemoryEventBus(name: name, config: cfg, options: options)
        try await p1.publish(Event(topic: "r", payload: 0))
        try await Task.sleep(for: .milliseconds(20))
        for i in 1..<5 {
            try await p1.publish(Event(topic: "r", payload: .int(Int64(i))))
            try await p2.publish(Event(topic: "r", payload: .int(Int64(100 + i))))
        }
        gate.release()
        #expect(await flushed(subscriber))
        let (point, handled) = taken.withLock { ($0.point, $0.handled) }
        let resumeAt = try #require(point, "no batch spanned both streams: \(handled.sorted())")
        await subscriber.close()

        // Resuming after the point delivers nothing the batch held, on either stream.
        let again = try SharedMemoryEventBus(name: name, config: cfg, options: options)
        let seen = Mutex(Set<Int64>())
        try await again.subscribe(toTopics: ["r"], durableName: "d2", resumingAfter: resumeAt, ClosureHandler { e in
            _ = seen.withLock { $0.insert(e.payload.intValue!) }
        })
        try await p1.publish(Event(topic: "r", payload: 999)) // a marker after everything
        #expect(await flushed(again))
        let redelivered = seen.withLock { $0 }.intersection(handled)
        #expect(redelivered.isEmpty, "delivered again after the resume point: \(redelivered.sorted())")
        for bus in [again, p1, p2] { await bus.close() }
    }
}
