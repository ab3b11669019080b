// CPUHints.swift: the two CPU hints the in-process queue uses (a spin-wait hint, a prefetch for
// write), as inlined C (`rbus_cpu_relax`, `rbus_prefetch_for_write`). A leaf: backend-neutral code
// calls these instead of the C shim.

internal import CRingBus

enum CPUHints {
    /// x86 `pause` (a no-op elsewhere): for loops that poll.
    @inline(__always)
    static func relax() { rbus_cpu_relax() }

    /// Asks for the line holding `address` in a state this CPU may write.
    @inline(__always)
    static func prefetchForWrite(_ address: UnsafeRawPointer) { rbus_prefetch_for_write(address) }
}

/// The topic hash of the layout (FNV-1a 32 over the topic's bytes; Docs/LAYOUT.md): record headers carry
/// it, filters compare it first. The corresponding C function is `rbus_topic_hash`.
enum TopicHash {
    static func of(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { rbus_topic_hash($0.baseAddress, $0.count) }
    }
}
