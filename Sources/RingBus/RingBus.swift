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

/// The machine, as the library itself needs it (its spinners never outnumber the CPUs).
enum MachineFacts {
    /// Online CPUs (at least 1).
    static var onlineCPUs: Int { Int(rbus_online_cpus()) }
}
