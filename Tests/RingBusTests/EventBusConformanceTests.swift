// EventBusConformanceTests.swift: one suite, parameterised over backends (iceoryx2's conformance
// pattern). Every backend must pass it. Three tests are about a bounded per-subscription buffer that
// publishers wait for (or drop from), which is the in-process bus's back-pressure; the shared-memory
// bus's back-pressure is its rings, tested in SharedMemoryBusTests. No test sleeps to synchronise:
// they await flush() or gates with deadlines.

import Foundation
@testable import RingBus
import Synchronization
import Testing

/// A backend under test and what it can promise.
struct Backend: Sendable, CustomStringConvertible {
    let name: String
    let make: @Sendable (EventBusConfig) throws -> any EventBus
    /// The largest string payload the backend carries (UTF-8 bytes).
    let maxPayload: Int
    /// Publishers wait for (or an overflow policy drops from) each subscription's `bufferSize` buffer.
    let boundedByBuffer: Bool
    /// Events published before a subscription resumes are still there to deliver (rings, a stream).
    var keepsHistory = false

    var description: String { name }

    static let inMemory = Backend(name: "in-memory", make: { config in
        var c = config
        c.busType = .inMemory
        return try createEventBus(c)
    }, maxPayload: 1 << 20, boundedByBuffer: true)

    /// Its capabilities: events of up to 1 MiB (record body: 16 bytes, key, JSON) on 8 MiB rings. Built
    /// through the factory with the backend's options, as an application switches backends.
    static let sharedMemory = Backend(name: "shared-memory", make: { config in
        var c = config
        c.busType = .sharedMemory(name: uniqueBusName("conf"))
        var options = EventBusOptions()
        options.sharedMemory.segment.streams = 2
        options.sharedMemory.segment.capacity = 8 << 20
        options.sharedMemory.segment.maxEventSize = 1 << 20
        return try createEventBus(c, options: options)
    }, maxPayload: (1 << 20) - 64, boundedByBuffer: false, keepsHistory: true)

    static let all: [Backend] = [inMemory, sharedMemory]
    static let boundedByBuffer: [Backend] = all.filter(\.boundedByBuffer)
}

/// A bus name no other test (or test run) uses.
func uniqueBusName(_ prefix: String) -> String {
    "\(prefix)-\(getpid())-\(busNameCounter.wrappingAdd(1, ordering: .relaxed).oldValue)"
}
private let busNameCounter = Atomic<Int>(0)

/// Records what a handler saw, and whether it ever ran concurrently with itself.
final class Recorder: EventHandler, @unchecked Sendable {
    let topics: [String]?
    private let state = LockedState<(events: [Event], inFlight: Int, overlapped: Bool)>(([], 0, false))
    let failTimes: Int
    private let attempts = LockedState(0)

    init(topics: [String]? = nil, failTimes: Int = 0) {
        self.topics = topics
        self.failTimes = failTimes
    }

    func handle(_ event: Event) async throws {
        state.withLock { s in
            s.inFlight += 1
            if s.inFlight > 1 { s.overlapped = true }
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        await Task.yield()
        let n = attempts.withLock { a -> Int in a += 1; return a }
        if n <= failTimes { throw EventBusError.handlerError("planned failure \(n)") }
        state.withLock { $0.events.append(event) }
    }

    var events: [Event] { state.withLock { $0.events } }
    var overlapped: Bool { state.withLock { $0.overlapped } }
}

/// A gate that handlers wait at until the test opens it (with a deadline, never forever).
final class Gate: Sendable {
    private let open = LockedState(false)
    func release() { open.withLock { $0 = true } }
    func wait() async {
        let deadline = ContinuousClock.now + .seconds(60)
        while !open.withLock({ $0 }) && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(1)) }
    }
}

/// Awaits `body` for at most `deadline` (the library's own `finishes`); false if it did not finish (a
/// stuck flush or close would otherwise hang the test instead of failing it).
func finishes(within deadline: Duration = .seconds(60), _ body: @escaping @Sendable () async -> Void) async -> Bool {
    await RingBus.finishes(within: deadline, body)
}

func flushed(_ bus: any EventBus) async -> Bool { await finishes { try? await bus.flush() } }
/// Closes the bus within a deadline; a shared-memory bus is then removed (tests leave nothing in /dev/shm).
func closed(_ bus: any EventBus) async -> Bool {
    let ok = await finishes { await bus.close() }
    if let shm = bus as? SharedMemoryEventBus { try? SharedMemoryEventBus.remove(name: shm.name) }
    return ok
}

func config(_ edit: (inout EventBusConfig) -> Void = { _ in }) -> EventBusConfig {
    var c = EventBusConfig()
    c.retry.initialBackoff = .milliseconds(1)
    c.retry.maxBackoff = .milliseconds(2)
    edit(&c)
    return c
}

@Suite("EventBus conformance")
struct EventBusConformanceTests {
    /// Found by an outside attack: close() waited for ever for a handler that never returns (flush()
    /// gave up, close() did not). It now waits at most `closeTimeout` for each stage and returns.
    @Test("a payload nested deeper than 512 is refused at publish, exactly 512 is delivered", arguments: Backend.all)
    func depthLimit(backend: Backend) async throws {
        let bus = try backend.make(config())
        func nested(_ depth: Int) -> JSONValue {
            var v: JSONValue = ["leaf": 1]
            for i in 1..<depth { v = i % 2 == 0 ? .array([v]) : ["k": v] }
            return v
        }
        let got = Recorder()
        try await bus.subscribe(toTopics: ["deep"], got)
        await #expect(throws: EventBusError.self) { try await bus.publish(Event(topic: "deep", payload: nested(JSONValue.maximumDepth + 1))) }
        try await bus.publish(Event(topic: "deep", payload: nested(JSONValue.maximumDepth)))
        #expect(await flushed(bus))
        #expect(got.events.map(\.payload) == [nested(JSONValue.maximumDepth)])
        #expect(await closed(bus))
    }

    @Test("close() returns within closeTimeout while a handler never returns", arguments: Backend.all)
    func closeIsBounded(backend: Backend) async throws {
        let bus = try backend.make(config { $0.deliveryGuarantee = .atLeastOnce; $0.closeTimeout = .milliseconds(300) })
        let gate = Gate(), entered = Gate()
        try await bus.subscribe(toTopics: ["stuck"], ClosureHandler { _ in
            entered.release()
            await gate.wait() // "never" returns: until the test releases it, after close()
        })
        try await bus.publish(Event(topic: "stuck", payload: 1))
        await entered.wait()
        let start = ContinuousClock.now
        #expect(await finishes(within: .seconds(20)) { await bus.close() }, "close() returned")
        #expect(ContinuousClock.now - start < .seconds(10))
        gate.release() // the handler returns; its subscription ends on its own
        await #expect(throws: EventBusError.self) { try await bus.publish(Event(topic: "stuck", payload: 2)) }
        #expect(await closed(bus))
    }

    @Test("end to end: a published event reaches its handler with payload, topic and identity", arguments: Backend.all)
    func endToEnd(backend: Backend) async throws {
        let bus = try backend.make(config())
        let broadcaster = EventBroadcaster(bus)
        let login = Recorder(topics: ["user.login"])
        try await broadcaster.subscribe(login)
        let id = try await broadcaster.publish("user.login", ["user_id": 123])
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(login.events.count == 1)
        #expect(login.events.first?.payload["user_id"] == 123)
        #expect(login.events.first?.identity == id)
        let s = await bus.stats()
        #expect(s.totalEventsPublished == 1 && s.totalEventsDelivered == 1 && s.activeHandlers == 1 && s.queuedEvents == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("topics: exact, '*' and '>' filters, several modules, handler.topics honoured (PARITY 2)", arguments: Backend.all)
    func topicRouting(backend: Backend) async throws {
        let bus = try backend.make(config())
        let agent = Recorder(), channel = Recorder(), all = Recorder(), own = Recorder(topics: ["memory.*"])
        try await bus.subscribe(toTopics: ["agent.start", "agent.end"], agent)
        try await bus.subscribe(toTopics: ["channel.>"], channel)
        try await bus.subscribe(toTopics: [">"], all)
        try await bus.subscribe(own)
        for t in ["agent.start", "agent.end", "agent.response", "channel.in", "channel.out.web", "memory.stored", "memory.x.y"] {
            try await bus.publish(Event(topic: t, payload: .string(t)))
        }
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(agent.events.map(\.topic) == ["agent.start", "agent.end"])
        #expect(channel.events.map(\.topic) == ["channel.in", "channel.out.web"])
        #expect(all.events.count == 7)
        #expect(own.events.map(\.topic) == ["memory.stored"])
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("overlapping filters deliver each event once per subscription (PARITY 3)", arguments: Backend.all)
    func overlappingOnce(backend: Backend) async throws {
        let bus = try backend.make(config())
        let r = Recorder()
        try await bus.subscribe(toTopics: ["user.login", "user.*", ">", "user.login"], r)
        try await bus.publish(Event(topic: "user.login", payload: nil))
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(r.events.count == 1)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("a handler sees events in publish order and never runs concurrently with itself (PARITY 8)",
          arguments: Backend.all)
    func serialAndOrdered(backend: Backend) async throws {
        let bus = try backend.make(config { $0.bufferSize = 8 })
        let r = Recorder()
        try await bus.subscribe(toTopics: ["n"], r)
        for i in 0..<500 { try await bus.publish(Event(topic: "n", payload: .int(Int64(i)))) }
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(r.events.map { $0.payload.intValue! } == Array(0..<500))
        #expect(!r.overlapped)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("a full buffer makes publish wait, so a burst is never lost (PARITY 7)", arguments: Backend.boundedByBuffer)
    func backPressure(backend: Backend) async throws {
        let bus = try backend.make(config { $0.bufferSize = 2 })
        let gate = Gate()
        let seen = LockedState(0)
        try await bus.subscribe(toTopics: ["b"], ClosureHandler { _ in
            await gate.wait()
            seen.withLock { $0 += 1 }
        })
        let publisher = Task { for _ in 0..<20 { try await bus.publish(Event(topic: "b", payload: nil)) } }
        // The publisher cannot get far ahead: the handler holds one event, the buffer two.
        var queued = 0
        for _ in 0..<2000 where queued < 2 {
            queued = await bus.stats().queuedEvents
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(queued == 2)
        #expect(await bus.stats().totalEventsPublished <= 4)
        gate.release()
        try await publisher.value
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(seen.withLock { $0 } == 20)
        #expect(await bus.stats().dropped == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("opt-in overflow policies drop and count instead of waiting", arguments: Backend.boundedByBuffer)
    func overflowPolicies(backend: Backend) async throws {
        for policy in [OverflowPolicy.dropNewest, .dropOldest] {
            let bus = try backend.make(config { $0.bufferSize = 2; $0.overflowPolicy = policy })
            let gate = Gate()
            let seen = LockedState([Int64]())
            try await bus.subscribe(toTopics: ["d"], ClosureHandler { e in
                await gate.wait()
                seen.withLock { $0.append(e.payload.intValue!) }
            })
            try await bus.publish(Event(topic: "d", payload: 0))
            while await bus.stats().queuedEvents > 0 { try await Task.sleep(for: .milliseconds(1)) } // 0 in the handler
            for i in 1...5 { try await bus.publish(Event(topic: "d", payload: .int(Int64(i)))) }
            gate.release()
            #expect(await flushed(bus), "flush did not return within its deadline")
            #expect(await bus.stats().dropped == 3)
            #expect(seen.withLock { $0 } == (policy == .dropNewest ? [0, 1, 2] : [0, 4, 5]))
            #expect(await closed(bus), "close did not return within its deadline")
        }
    }

    @Test("at-least-once retries a failing handler and marks the retries redelivered", arguments: Backend.all)
    func retries(backend: Backend) async throws {
        let bus = try backend.make(config { $0.deliveryGuarantee = .atLeastOnce })
        let r = Recorder(failTimes: 2)
        try await bus.subscribe(toTopics: ["r"], r)
        try await bus.publish(Event(topic: "r", payload: "x"))
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(r.events.count == 1 && r.events[0].redelivered)
        let s = await bus.stats()
        #expect(s.retried == 2 && s.totalEventsDelivered == 1 && s.failed == 0 && s.deadLettered == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("after its retries an event goes to the dead-letter topic, counted (PARITY 6, 9)", arguments: Backend.all)
    func deadLetters(backend: Backend) async throws {
        let bus = try backend.make(config { $0.deliveryGuarantee = .atLeastOnce; $0.retry.maxAttempts = 3 })
        try await bus.subscribe(toTopics: ["orders.created"], ClosureHandler { _ in throw EventBusError.handlerError("db down") })
        let dlq = Recorder()
        try await bus.subscribe(toTopics: ["$dlq.>"], dlq)
        try await bus.publish(Event(topic: "orders.created", payload: ["id": 7]))
        #expect(await flushed(bus), "flush did not return within its deadline")
        try await bus.flush() // the dead letter was published during the first flush
        #expect(dlq.events.count == 1)
        #expect(dlq.events.first?.topic == "$dlq.orders.created")
        #expect(dlq.events.first?.payload["payload"]?["id"] == 7)
        #expect(dlq.events.first?.payload["error"]?.stringValue?.contains("db down") == true)
        let s = await bus.stats()
        #expect(s.retried == 2 && s.failed == 1 && s.deadLettered == 1 && s.totalEventsDelivered == 1)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("at-most-once counts a failure and does not count it as delivered (PARITY 5)", arguments: Backend.all)
    func honestFailures(backend: Backend) async throws {
        let bus = try backend.make(config())
        try await bus.subscribe(toTopics: ["f"], ClosureHandler { _ in throw EventBusError.handlerError("no") })
        try await bus.publish(Event(topic: "f", payload: nil))
        #expect(await flushed(bus), "flush did not return within its deadline")
        let s = await bus.stats()
        #expect(s.failed == 1 && s.totalEventsDelivered == 0 && s.retried == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("exactly-once drops a publish whose idempotency key was already published", arguments: Backend.all)
    func idempotencyKeys(backend: Backend) async throws {
        let bus = try backend.make(config { $0.deliveryGuarantee = .exactlyOnce })
        let r = Recorder()
        try await bus.subscribe(toTopics: ["pay"], r)
        let a = try await bus.publish(Event(topic: "pay", payload: 1, idempotencyKey: "k1"))
        let b = try await bus.publish(Event(topic: "pay", payload: 1, idempotencyKey: "k1"))
        let c = try await bus.publish(Event(topic: "pay", payload: 2, idempotencyKey: "k2"))
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(a == b && a != c)
        #expect(r.events.count == 2)
        #expect(await bus.stats().totalEventsPublished == 2)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("unsubscribe stops delivery and the handler count goes down (PARITY 1, 5)", arguments: Backend.all)
    func unsubscribe(backend: Backend) async throws {
        let bus = try backend.make(config())
        let r = Recorder()
        let sub = try await bus.subscribe(toTopics: ["u"], r)
        try await bus.publish(Event(topic: "u", payload: 1))
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(await bus.stats().activeHandlers == 1)
        await sub.cancel()
        await sub.cancel() // idempotent
        try await bus.publish(Event(topic: "u", payload: 2))
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(r.events.count == 1)
        #expect(await bus.stats().activeHandlers == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("close drains, then rejects publishes and subscriptions (PARITY 10)", arguments: Backend.all)
    func closeDrains(backend: Backend) async throws {
        let bus = try backend.make(config())
        let r = Recorder()
        try await bus.subscribe(toTopics: ["c"], r)
        for i in 0..<50 { try await bus.publish(Event(topic: "c", payload: .int(Int64(i)))) }
        #expect(await closed(bus), "close did not return within its deadline")
        #expect(r.events.count == 50)
        await #expect(throws: EventBusError.closed) { try await bus.publish(Event(topic: "c", payload: nil)) }
        await #expect(throws: EventBusError.self) { try await bus.subscribe(toTopics: ["c"], r) }
        #expect(await bus.stats().activeHandlers == 0)
    }

    @Test("publish validates topics; subscribe rejects the empty topic (PARITY 4)", arguments: Backend.all)
    func topicValidation(backend: Backend) async throws {
        let bus = try backend.make(config())
        await #expect(throws: EventBusError.invalidTopic("Topic cannot be empty")) {
            try await bus.publish(Event(topic: "", payload: nil))
        }
        await #expect(throws: EventBusError.self) { try await bus.publish(Event(topic: "user.*", payload: nil)) }
        await #expect(throws: EventBusError.invalidTopic("Topic cannot be empty")) {
            try await bus.subscribe(toTopics: [""], Recorder())
        }
        #expect(await bus.stats().totalEventsPublished == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("an AsyncSequence subscription is registered at once and ends when its scope ends", arguments: Backend.all)
    func asyncSequence(backend: Backend) async throws {
        let bus = try backend.make(config())
        let stream = try await bus.subscribe(to: "seq.>")
        for i in 0..<3 { try await bus.publish(Event(topic: "seq.n", payload: .int(Int64(i)))) } // before iterating
        var got: [Int64] = []
        for await e in stream {
            got.append(e.payload.intValue!)
            if got.count == 3 { break }
        }
        #expect(got == [0, 1, 2])
        await stream.cancel()
        let n = try await bus.withSubscription(to: "w") { events in
            try await bus.publish(Event(topic: "w", payload: 9))
            var it = events.makeAsyncIterator()
            return await it.next()?.payload.intValue
        }
        #expect(n == 9)
        #expect(await bus.stats().activeHandlers == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("a handler publishing into its own full subscription gets wouldDeadlock", arguments: Backend.boundedByBuffer)
    func wouldDeadlock(backend: Backend) async throws {
        let bus = try backend.make(config { $0.bufferSize = 1 })
        let outcome = LockedState<String?>(nil)
        let gate = Gate()
        try await bus.subscribe(toTopics: ["loop"], ClosureHandler { e in
            guard e.payload == "first" else { return }
            await gate.wait() // the test fills our buffer meanwhile
            do { try await bus.publish(Event(topic: "loop", payload: "again")); outcome.withLock { $0 = "published" } }
            catch { outcome.withLock { $0 = "\(error)" } }
        })
        try await bus.publish(Event(topic: "loop", payload: "first"))
        try await bus.publish(Event(topic: "loop", payload: "fills the buffer"))
        gate.release()
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(outcome.withLock { $0 }?.hasPrefix("Would deadlock") == true)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("payloads of 10 KB and the backend's largest (1 MiB) arrive intact", arguments: Backend.all)
    func largePayloads(backend: Backend) async throws {
        let bus = try backend.make(config())
        let r = Recorder()
        try await bus.subscribe(toTopics: ["big"], r)
        let sizes = [10_000, backend.maxPayload]
        for size in sizes {
            let text = String(repeating: "x", count: size)
            try await bus.publish(Event(topic: "big", payload: ["blob": .string(text)]))
        }
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(r.events.map { $0.payload["blob"]?.stringValue?.count } == sizes)
        #expect(await closed(bus), "close did not return within its deadline")
    }

    @Test("many concurrent handlers each receive every event", arguments: Backend.all)
    func manyHandlers(backend: Backend) async throws {
        let bus = try backend.make(config { $0.deliveryGuarantee = .atLeastOnce })
        let recorders = (0..<50).map { _ in Recorder() }
        for r in recorders { try await bus.subscribe(toTopics: ["fan.>"], r) }
        for i in 0..<200 { try await bus.publish(Event(topic: "fan.out", payload: .int(Int64(i)))) }
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(recorders.allSatisfy { $0.events.count == 200 && !$0.overlapped })
        let s = await bus.stats()
        #expect(s.totalEventsDelivered == 50 * 200 && s.dropped == 0)
        #expect(await closed(bus), "close did not return within its deadline")
    }
}

@Suite("factory")
struct FactoryTests {
    @Test("defaults are the original's, and every configuration builds its bus")
    func factory() throws {
        let c = EventBusConfig()
        #expect(c.busType == .inMemory && c.bufferSize == 100 && c.deliveryGuarantee == .atMostOnce)
        var e = c
        e.busType = .enhanced
        #expect(try createEventBus(e) is InMemoryEventBus)
        var bad = c
        bad.bufferSize = 0
        #expect(throws: EventBusError.self) { try createEventBus(bad) }
        bad.bufferSize = EventBusConfig.maximumBufferSize + 1
        #expect(throws: EventBusError.self) { try createEventBus(bad) }

        var shm = c
        shm.busType = .sharedMemory(name: "../x")
        // The backend's own error, typed, naming what failed (no longer a subscribeError: nothing was subscribed).
        #expect(throws: SegmentError.invalidName("../x")) { try createEventBus(shm) }
    }

    @Test("the shared-memory configuration builds a SharedMemoryEventBus on the named bus")
    func sharedMemoryFactory() async throws {
        var c = EventBusConfig()
        let name = uniqueBusName("factory")
        c.busType = .sharedMemory(name: name)
        let bus = try createEventBus(c)
        #expect((bus as? SharedMemoryEventBus)?.name == name)
        #expect(await closed(bus), "close did not return within its deadline")
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/ringbus.\(name)"))
    }

    @Test("a durable subscription through the protocol receives what is published", arguments: Backend.all)
    func durableSubscription(_ backend: Backend) async throws {
        let bus = try backend.make(config { $0.deliveryGuarantee = .atLeastOnce })
        let r = Recorder()
        let sub = try await bus.subscribe(toTopics: ["d.>"], durableName: "conformance", r)
        for i in 0..<5 { try await bus.publish(Event(topic: "d.x", payload: .int(Int64(i)))) }
        #expect(await flushed(bus))
        #expect(r.events.map { $0.payload.intValue } == [0, 1, 2, 3, 4])
        await sub.cancel()
        #expect(await closed(bus))
    }

    @Test("a resume point taken in a handler resumes after the events it covers; foreign points are refused",
          arguments: Backend.all)
    func resumePoint(_ backend: Backend) async throws {
        let bus = try backend.make(config { $0.deliveryGuarantee = .exactlyOnce })
        let saved = LockedState<ResumePoint?>(nil)
        #expect(bus.currentResumePoint() == nil, "outside a handler there is no resume point")
        let first = try await bus.subscribe(toTopics: ["r"], durableName: "effects", ClosureHandler { e in
            if e.payload.intValue == 5 { saved.withLock { $0 = bus.currentResumePoint() } }
        })
        for i in 1...10 { try await bus.publish(Event(topic: "r", payload: .int(Int64(i)))) }
        #expect(await flushed(bus))
        await first.cancel()
        let point = try #require(saved.withLock { $0 })
        let r = Recorder()
        try await bus.subscribe(toTopics: ["r"], durableName: "effects", resumingAfter: point, r)
        for i in 11...12 { try await bus.publish(Event(topic: "r", payload: .int(Int64(i)))) }
        #expect(await flushed(bus))
        let seen = r.events.compactMap { $0.payload.intValue }
        // Nothing the point covers comes again; what the backend still holds after it does.
        #expect(seen == (backend.keepsHistory ? Array(6...12) : [11, 12]), "\(backend): \(seen)")
        await #expect(throws: EventBusError.self) {
            try await bus.subscribe(toTopics: ["r"], durableName: "x", resumingAfter: ResumePoint(bytes: [1, 2, 3]), r)
        }
        let other = try backend.make(config { $0.deliveryGuarantee = .exactlyOnce })
        await #expect(throws: EventBusError.self, "a point of another bus (incarnation)") {
            try await other.subscribe(toTopics: ["r"], durableName: "effects", resumingAfter: point, r)
        }
        #expect(await closed(other))
        #expect(await closed(bus))
    }

    @Test("a bufferSize beyond the maximum, given to the initializer, is clamped: the bus works")
    func hugeBufferClamped() async throws {
        var c = config()
        c.bufferSize = .max
        let bus = InMemoryEventBus(config: c)
        let r = Recorder()
        try await bus.subscribe(toTopics: ["t"], r)
        try await bus.publish(Event(topic: "t", payload: 1))
        #expect(await flushed(bus), "flush did not return within its deadline")
        #expect(r.events.count == 1)
        #expect(await closed(bus), "close did not return within its deadline")
    }
}
