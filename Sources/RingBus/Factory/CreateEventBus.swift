// CreateEventBus.swift: the factory, the one place of the library that names every backend (the API
// layer knows none: it defines the protocol and the configuration).

import Logging

/// Each backend's own options for ``createEventBus(_:options:)``: one configuration line
/// (`config.busType`) switches the backend, and every backend's options can sit ready beside it.
///
/// ```swift
/// var config = EventBusConfig().withDeliveryGuarantee(.atLeastOnce)
/// config.busType = .sharedMemory(name: "orders")
/// var options = EventBusOptions()
/// options.sharedMemory.segment.capacity = 4 << 20
/// options.sharedMemory.logger = logger
/// let bus = try createEventBus(config, options: options)   // any EventBus
/// ```
public struct EventBusOptions: Sendable {
    /// Used when `busType` is `.sharedMemory(name:)`: segment sizes, streams, slots, waiting, commit
    /// batches, slow-consumer policy, logger, metrics.
    public var sharedMemory = SharedMemoryBusOptions()
    /// Used when `busType` is `.inMemory` or `.enhanced`: where failing handlers are logged (default:
    /// discards; the library never bootstraps logging).
    public var inMemoryLogger = Logger(label: "ringbus", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Every backend's defaults.
    public init() {}
}

/// Builds the bus the configuration names, with that backend's options.
/// - Throws: ``EventBusError/subscribeError(_:)`` for an invalid configuration (its message unchanged
///   since the original); the backend's own errors as they are, e.g. a ``SegmentError`` naming the bus
///   and what failed for a shared-memory bus that cannot be created or attached.
public func createEventBus(_ config: EventBusConfig, options: EventBusOptions = EventBusOptions()) throws -> any EventBus {
    guard config.bufferSize >= 1 else { throw EventBusError.subscribeError("bufferSize must be at least 1") }
    guard config.bufferSize <= EventBusConfig.maximumBufferSize else {
        throw EventBusError.subscribeError(
            "bufferSize \(config.bufferSize) exceeds the maximum of \(EventBusConfig.maximumBufferSize)")
    }
    switch config.busType {
    case .inMemory, .enhanced:
        return InMemoryEventBus(config: config, logger: options.inMemoryLogger)
    case .sharedMemory(let name):
        return try SharedMemoryEventBus(name: name, config: config, options: options.sharedMemory)
    }
}
