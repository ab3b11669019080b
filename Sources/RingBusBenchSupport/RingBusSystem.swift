// RingBusBenchSupport: what benchmarks, the CLI's `bench` and `demo`, and tests need of the machine
// (pinned threads, the one-cache-line floor, a spin hint). Not part of the library a user links: a
// target of its own, as SwiftNIO keeps NIOTestUtils apart.

internal import CRingBus
import Foundation

/// Facts about the machine and requests to it, for benchmarks and demos.
public enum RingBusSystem {
    /// Online CPUs (at least 1).
    public static var onlineCPUs: Int { Int(rbus_online_cpus()) }

    /// Pins the calling thread to `cpu` (modulo the online CPUs) when there is more than one CPU, so a
    /// spinning producer and a spinning consumer never share one (they would take turns by scheduler
    /// ticks, milliseconds apart). Best effort. The corresponding C function is `rbus_pin_thread`.
    public static func pinCurrentThread(toCPU cpu: Int) {
        if onlineCPUs > 1 { _ = rbus_pin_thread(Int32(truncatingIfNeeded: cpu)) }
    }

    /// A spin-wait hint to the CPU (x86 `pause`), for loops that poll.
    @inline(__always)
    public static func pause() { rbus_cpu_relax() }

    /// The one-cache-line floor of this machine now: the median one-way time in nanoseconds of one
    /// 64-byte line bounced `rounds` times between CPUs 0 and 1 (a clock read per round trip included).
    /// Nothing between two CPUs is faster; on virtual machines it moves as the host places the vCPUs.
    /// `nil` on a single-CPU machine. Blocks (spinning both CPUs) for the measurement.
    public static func cacheLineFloorNanoseconds(rounds: Int = 20_000) -> Double? {
        let ns = rbus_measure_floor_ns(UInt32(clamping: max(1, rounds)))
        return ns == 0 ? nil : Double(ns)
    }
}

extension RingBusSystem {
    /// Runs `body` on a new thread pinned to `cpu` (see ``pinCurrentThread(toCPU:)``) and waits for it:
    /// for measuring loops that need a CPU of their own, not a thread of Swift's cooperative pool.
    /// Blocks the calling thread.
    public static func onPinnedThread<T: Sendable>(_ cpu: Int, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            pinCurrentThread(toCPU: cpu)
            box.set(Result { try body() })
            done.signal()
        }
        thread.start()
        done.wait()
        return try box.get()
    }
}

/// The result of a pinned thread, handed to the waiting one under a lock (NSLock: ThreadSanitizer sees it).
private final class ResultBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    func set(_ r: Result<T, any Error>) { lock.withLock { result = r } }
    func get() throws -> T { try lock.withLock { result! }.get() }
}
