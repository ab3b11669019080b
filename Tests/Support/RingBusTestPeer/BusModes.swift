// BusModes.swift: test-peer modes that use the SharedMemoryEventBus API (the EventBus protocol across
// processes), as an application would.
//
//   bus-sub BUS GUARANTEE FILTERS UNTIL TIMEOUT_S [DURABLE|-] [OUTFILE|-] [RESUME(0|1)] [DELAY_US] [BATCH(0|1)]
//       GUARANTEE amo|alo|eo; FILTERS comma-separated; UNTIL count:N (stop after N events) or last:N
//       (stop after handling the event whose payload is N). Prints {"ready":1} once subscribed. Each
//       event: without OUTFILE one JSON line {"n","stream","seq","r","size"} (size: a string payload's
//       bytes); with OUTFILE one write(2) of
//       "n r p0,p1,...\n" (payload, redelivered, resume point) appended to the file. RESUME=1 starts
//       from the resume point on the file's last line (exactly-once), else from the durable name's
//       committed place (or the latest event). DELAY_US: the handler works that long per event first
//       (so a kill lands in the middle of a batch). A payload "fail" makes the handler throw (retries,
//       then a dead letter from this process). BATCH=1 (with DURABLE): a durable batch handler that
//       runs the same per-event work on each event of a batch. Ends with {"handled":…,"missed":…};
//       exit 4 on timeout.
//   bus-pub BUS GUARANTEE TOPIC FROM COUNT [KEYS(0|1)] [PRODUCER|-] [ATTEMPTS|-] [DELAY_US]
//       publishes payloads FROM..<FROM+COUNT (idempotency key "k<n>" with KEYS=1, durable producer name
//       PRODUCER), flushes, prints {"published":…,"stream":…}. With ATTEMPTS, a file: each n is
//       appended (one write) before its publish, and a restarted run starts again at the last n
//       attempted (the application retrying a publish it cannot know was committed). DELAY_US: a
//       pause before each publish.

import Foundation
import Glibc
import RingBus
import Synchronization

let busModes: Set<String> = ["bus-sub", "bus-pub", "alloc-event"]

/// Runs a bus mode; returns the exit status.
func runBusMode(_ args: [String]) async -> Int32 {
    func arg(_ i: Int) -> String? { i < args.count && args[i] != "-" ? args[i] : nil }
    guard args.count >= 4, let guarantee = guaranteeNamed(args[3]) else {
        say("usage: see BusModes.swift")
        return 2
    }
    var config = EventBusConfig()
    config.deliveryGuarantee = guarantee
    var options = SharedMemoryBusOptions()
    if args[1] == "bus-pub" { options.producerName = arg(8) }
    do {
        let bus = try SharedMemoryEventBus(name: args[2], config: config, options: options)
        switch args[1] {
        case "bus-sub": return try await subscribe(bus, args, arg)
        default: return try await publish(bus, args, arg)
        }
    } catch {
        FileHandle.standardError.write(Data("RingBusTestPeer: \(error)\n".utf8))
        return 3
    }
}

private func guaranteeNamed(_ s: String) -> DeliveryGuarantee? {
    switch s {
    case "amo": .atMostOnce
    case "alo": .atLeastOnce
    case "eo": .exactlyOnce
    default: nil
    }
}

private func subscribe(_ bus: SharedMemoryEventBus, _ args: [String], _ arg: (Int) -> String?) async throws -> Int32 {
    guard args.count >= 7, let timeout = Double(args[6]) else { return 2 }
    let filters = args[4].split(separator: ",").map(String.init)
    let until = args[5].split(separator: ":")
    guard until.count == 2, let limit = Int64(until[1]) else { return 2 }
    let byCount = until[0] == "count"
    let durable = arg(7), outPath = arg(8), resume = arg(9) == "1"
    let delay = arg(10).flatMap { UInt32($0) } ?? 0
    var fd: Int32 = -1
    var start = StartPosition.committed
    if let outPath {
        if resume, let text = try? String(contentsOfFile: outPath, encoding: .utf8),
           let last = text.split(separator: "\n").last {
            let fields = last.split(separator: " ")
            if fields.count == 3 { start = .positions(fields[2].split(separator: ",").compactMap { UInt64($0) }) }
        }
        fd = open(outPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { return 3 }
    }
    let handled = Atomic<Int64>(0)
    let done = Atomic<Bool>(false)
    let outFD = fd
    let handler = ClosureHandler { e in
        let n = e.payload.intValue ?? -1
        if delay > 0 { usleep(delay) }
        if e.payload == "fail" { throw EventBusError.handlerError("planned failure in pid \(getpid())") }
        if outFD >= 0 {
            let point = (bus.resumePoint() ?? []).map(String.init).joined(separator: ",")
            let line = "\(n) \(e.redelivered ? 1 : 0) \(point)\n"
            let written = line.withCString { write(outFD, $0, strlen($0)) }
            if written != line.utf8.count { throw EventBusError.handlerError("short write") }
        } else {
            let size = e.payload.stringValue?.utf8.count ?? 0
            say("{\"n\":\(n),\"stream\":\(e.identity.stream),\"seq\":\(e.identity.sequence),\"r\":\(e.redelivered ? 1 : 0),\"size\":\(size)}")
        }
        let count = handled.wrappingAdd(1, ordering: .relaxed).newValue
        if byCount ? count >= limit : n == limit { done.store(true, ordering: .releasing) }
    }
    if let durable, arg(11) == "1" {
        try await bus.subscribe(toTopics: filters, durableName: durable, start: start, batchHandler: BatchClosureHandler { events in
            for e in events { try await handler.handle(e) }
        })
    } else if let durable, case .positions(let p) = start {
        try await bus.subscribe(toTopics: filters, durableName: durable, resumeFrom: p, handler)
    } else if let durable {
        try await bus.subscribe(toTopics: filters, durableName: durable, start: start, handler)
    } else {
        try await bus.subscribe(toTopics: filters, handler)
    }
    say("{\"ready\":1}")
    let deadline = ContinuousClock.now + .seconds(timeout)
    while !done.load(ordering: .acquiring) && ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(1))
    }
    let stats = await bus.stats()
    await bus.close()
    say("{\"handled\":\(handled.load(ordering: .relaxed)),\"missed\":\(stats.missed)}")
    return done.load(ordering: .acquiring) ? 0 : 4
}

private func publish(_ bus: SharedMemoryEventBus, _ args: [String], _ arg: (Int) -> String?) async throws -> Int32 {
    guard args.count >= 7, let from = Int64(args[5]), let count = Int64(args[6]) else { return 2 }
    let keyed = arg(7) == "1"
    let attempts = arg(9)
    let delay = arg(10).flatMap { UInt32($0) } ?? 0
    var first = from
    var fd: Int32 = -1
    if let attempts {
        if let text = try? String(contentsOfFile: attempts, encoding: .utf8),
           let last = text.split(separator: "\n").last.flatMap({ Int64($0) }) { first = last }
        fd = open(attempts, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { return 3 }
    }
    var last = EventIdentity.unassigned
    for n in first..<(from + count) {
        if delay > 0 { usleep(delay) }
        if fd >= 0 {
            let line = "\(n)\n"
            _ = line.withCString { write(fd, $0, strlen($0)) }
        }
        last = try await bus.publish(Event(topic: args[4], payload: .int(n), idempotencyKey: keyed ? "k\(n)" : nil))
    }
    try await bus.flush()
    say("{\"published\":\(count),\"stream\":\(last.stream)}")
    await bus.close()
    return 0
}
