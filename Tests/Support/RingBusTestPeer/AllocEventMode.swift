// AllocEventMode.swift: heap allocations per delivered event on the Event face's default path (issue 13).
//
//   alloc-event BUS WARM COUNT TIMEOUT_S READ(0|1)
//       an at-least-once subscription with a per-event ClosureHandler on topic "a"; counts the process's
//       heap allocations (PeerAllocCounter) from the handler of event WARM to the handler of event
//       WARM+COUNT. READ=1: the handler reads payload["name"] (the first read decodes the bytes).
//       Prints {"ready":1} once subscribed, then {"events":…,"allocations":…}. The main thread waits on
//       a semaphore meanwhile (a polling sleep would allocate).

import Dispatch
import Glibc
import PeerAllocCounter
import RingBus
import Synchronization

func allocEventMode(_ args: [String]) async -> Int32 {
    guard args.count >= 7, let warm = Int(args[3]), let count = Int(args[4]), let timeout = Int(args[5]) else { return 2 }
    let read = args[6] == "1"
    var config = EventBusConfig()
    config.deliveryGuarantee = .atLeastOnce
    do {
        let bus = try SharedMemoryEventBus(name: args[2], config: config)
        let seen = Atomic<Int>(0), before = Atomic<UInt64>(0), after = Atomic<UInt64>(0), names = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        try await bus.subscribe(toTopics: ["a"], ClosureHandler { e in
            let n = seen.wrappingAdd(1, ordering: .relaxed).newValue
            if read, e.payload["name"]?.stringValue != nil { names.wrappingAdd(1, ordering: .relaxed) }
            if n == warm { before.store(alloc_counter_allocations(), ordering: .relaxed) }
            if n == warm + count {
                after.store(alloc_counter_allocations(), ordering: .relaxed)
                done.signal()
            }
        })
        say("{\"ready\":1}")
        let finished = await withCheckedContinuation { c in
            DispatchQueue.global().async { c.resume(returning: done.wait(timeout: .now() + .seconds(timeout)) == .success) }
        }
        guard finished else { return 4 }
        emit([("events", UInt64(count)), ("allocations", after.load(ordering: .relaxed) &- before.load(ordering: .relaxed)),
              ("names", UInt64(names.load(ordering: .relaxed)))])
        await bus.close()
        return 0
    } catch {
        fail(3, "\(error)")
    }
}
