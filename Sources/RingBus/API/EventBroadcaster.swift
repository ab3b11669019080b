// EventBroadcaster.swift: the original's thin convenience wrapper.

/// Publishes topic + payload pairs and subscribes handlers on a bus.
public struct EventBroadcaster: Sendable {
    /// The bus it publishes to and subscribes on.
    public let bus: any EventBus

    /// A broadcaster over `bus` (the original's `EventBroadcaster::new(bus)`).
    public init(_ bus: any EventBus) { self.bus = bus }

    /// Publishes `payload` on `topic` as a new event stamped now.
    @discardableResult
    public func publish(_ topic: String, _ payload: JSONValue) async throws -> EventIdentity {
        try await bus.publish(Event(topic: topic, payload: payload))
    }

    /// Subscribes `handler` to its own `topics` (all topics when `nil`); see ``EventBus/subscribe(_:)``.
    @discardableResult
    public func subscribe(_ handler: any EventHandler) async throws -> Subscription {
        try await bus.subscribe(handler)
    }

    /// Subscribes `handler` to `topics` (filters allowed); see ``EventBus/subscribe(toTopics:_:)``.
    @discardableResult
    public func subscribe(toTopics topics: [String], _ handler: any EventHandler) async throws -> Subscription {
        try await bus.subscribe(toTopics: topics, handler)
    }
}
