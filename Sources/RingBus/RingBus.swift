// RingBus.swift: module-level facts.

internal import CRingBus

/// RingBus's version and the shared-memory layout version it speaks.
public enum RingBusVersion {
    /// The library version.
    public static let string = "0.1.0"
    /// The segment layout version (`RBUS_LAYOUT_VERSION`); attach refuses any other.
    public static var layout: Int { Int(RBUS_LAYOUT_VERSION) }
}
