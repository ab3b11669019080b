// RingBus.swift: module-level facts.

#if !os(Linux)
#error("RingBus supports Linux only: it needs POSIX shared memory with futexes and OFD locks (see README, Requirements)")
#endif

internal import CRingBus

/// RingBus's version and the shared-memory layout version it speaks.
public enum RingBusVersion {
    /// The library version.
    public static let string = "0.1.0"
    /// The segment layout version (`RBUS_LAYOUT_VERSION`); attach refuses any other.
    public static var layout: Int { Int(RBUS_LAYOUT_VERSION) }
}

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
