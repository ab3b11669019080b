// OutsideUserRegressionTests.swift: library-level regressions found by outside users (issue 11):
// resumePoint() inside the first handler calls of a durable subscription with a backlog (item 7, with a
// hook that holds the registration window open), strict UTF-8 in topics and JSON (item 8), the typed
// `closed` error for subscribing after close (item 17), and the original's names and handler-error
// logging (item 18).

import Foundation
import Logging
@testable import RingBus
import Synchronization
import Testing

@Suite("outside users' regressions", .serialized)
struct OutsideUserRegressionTests {
    @Test("resumePoint() is set in every handler call, even while subscribe is still registering (item 7)")
    func resumePointDuringRegistration() async throws {
        let name = uniqueBusName("resume-window")
        let bus = try SharedMemoryEventBus(name: name, config: config { $0.deliveryGuarantee = .exactlyOnce })
        for i in 0..<20 { try await bus.publish(Event(topic: "r", payload: .int(Int64(i)))) }
        // Hold the window between starting the subscription's task and finishing its registration open
        // for 200 ms: the backlog's handler calls all land inside it.
        FaultInjection.arm(.subscriptionTaskStarted) { usleep(200_000) }
        let points = Mutex<[[UInt64]?]>([])
        try await bus.subscribe(toTopics: ["r"], durableName: "eo", start: .committedOrEarliest, ClosureHandler { _ in
            points.withLock { $0.append(bus.resumePoint()) }
        })
        #expect(await flushed(bus))
        let seen = points.withLock { $0 }
        #expect(seen.count == 20)
        #expect(seen.allSatisfy { $0 != nil }, "resumePoint() was nil in \(seen.filter { $0 == nil }.count) handler calls")
        #expect(await closed(bus))
        try? SharedMemoryEventBus.remove(name: name)
    }

    @Test("strict UTF-8: overlong, surrogate and stray bytes are refused with their offset (item 8)")
    func strictUTF8() throws {
        #expect(UTF8Validation.firstInvalidOffset(in: Array("héllo €𝄞".utf8)) == nil)
        #expect(UTF8Validation.firstInvalidOffset(in: [0x61, 0xFF, 0x62] as [UInt8]) == 1)
        #expect(UTF8Validation.firstInvalidOffset(in: [0x61, 0xC0, 0xAF] as [UInt8]) == 1) // overlong '/'
        #expect(UTF8Validation.firstInvalidOffset(in: [0x61, 0x62, 0xED, 0xA0, 0x80] as [UInt8]) == 2) // surrogate
        #expect(UTF8Validation.firstInvalidOffset(in: [0xF4, 0x90, 0x80, 0x80] as [UInt8]) == 0) // > U+10FFFF
        #expect(UTF8Validation.firstInvalidOffset(in: [0x61, 0xE2, 0x82] as [UInt8]) == 1) // truncated
        #expect(Topic.problem(withBytes: [0x61, 0xFF, 0x62] as [UInt8], allowWildcards: false)?.contains("byte offset 1") == true)
        #expect(Topic.problem(withBytes: Array("a.b".utf8), allowWildcards: false) == nil)
        for bad: [UInt8] in [[0x22, 0x61, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            #expect(throws: JSONDecodingError.self) { _ = try JSONValue(decoding: bad) }
        }
        do {
            _ = try JSONValue(decoding: [0x7B, 0x22, 0x6B, 0x22, 0x3A, 0x22, 0x61, 0xED, 0xA0, 0x80, 0x22, 0x7D] as [UInt8])
            Issue.record("an encoded surrogate was accepted")
        } catch let e as JSONDecodingError {
            #expect(e.offset == 7, "the offset names the bad byte: \(e)")
        }
    }

    @Test("subscribing after close throws EventBusError.closed on both backends (item 17)")
    func subscribeAfterClose() async throws {
        let memory = InMemoryEventBus()
        await memory.close()
        await #expect(throws: EventBusError.closed) { try await memory.subscribe(ClosureHandler { _ in }) }
        let name = uniqueBusName("closed")
        let shm = try SharedMemoryEventBus(name: name)
        await shm.close()
        await #expect(throws: EventBusError.closed) { try await shm.subscribe(toTopics: ["t"], ClosureHandler { _ in }) }
        try? SharedMemoryEventBus.remove(name: name)
    }

    @Test("EnhancedEventBus and withDeliveryGuarantee(_:), the original's spellings (item 18)")
    func originalNames() async throws {
        let bus: EnhancedEventBus = EnhancedEventBus().withDeliveryGuarantee(.atLeastOnce)
        #expect(bus.config.deliveryGuarantee == .atLeastOnce)
        #expect(EventBusConfig().withDeliveryGuarantee(.exactlyOnce).deliveryGuarantee == .exactlyOnce)
        var c = EventBusConfig()
        c.busType = .enhanced
        #expect(try createEventBus(c.withDeliveryGuarantee(.exactlyOnce)) is EnhancedEventBus)
    }

    @Test("the in-process bus logs a failing handler's error through swift-log (item 18)")
    func inMemoryLogsHandlerErrors() async throws {
        struct Boom: Error, CustomStringConvertible { var description: String { "boom-42" } }
        let logs = CapturedLogs()
        let bus = InMemoryEventBus(config: EventBusConfig(), logger: Logger(label: "test") { _ in CapturingLogHandler(logs) })
        try await bus.subscribe(toTopics: ["x"], ClosureHandler { _ in throw Boom() })
        try await bus.publish(Event(topic: "x", payload: 1))
        #expect(await flushed(bus))
        #expect(await bus.stats().failed == 1)
        #expect(logs.messages.contains { $0.level == .warning && $0.text.contains("handler threw") })
        #expect(await closed(bus))
    }
}
