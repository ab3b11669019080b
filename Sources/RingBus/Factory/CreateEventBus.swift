// CreateEventBus.swift: the factory, the one place of the library that names every backend (the API
// layer knows none: it defines the protocol and the configuration).

/// Builds the bus the configuration names.
/// - Throws: ``EventBusError/subscribeError(_:)`` for an invalid configuration or a backend that is not
///   available in this build.
public func createEventBus(_ config: EventBusConfig) throws -> any EventBus {
    guard config.bufferSize >= 1 else { throw EventBusError.subscribeError("bufferSize must be at least 1") }
    guard config.bufferSize <= EventBusConfig.maximumBufferSize else {
        throw EventBusError.subscribeError(
            "bufferSize \(config.bufferSize) exceeds the maximum of \(EventBusConfig.maximumBufferSize)")
    }
    switch config.busType {
    case .inMemory, .enhanced:
        return InMemoryEventBus(config: config)
    case .sharedMemory(let name):
        do { return try SharedMemoryEventBus(name: name, config: config) } catch {
            throw EventBusError.subscribeError(error.description)
        }
    }
}
