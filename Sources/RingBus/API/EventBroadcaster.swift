// EventBroadcaster.swift: the original's thin convenience wrapper.

/// Publishes topic + payload pairs and subscribes handlers on a bus.
public struct EventBroadcaster: Sendable {
    public let bus: any EventBus

    public init(_ bus: any EventBus) { self.bus = bus }

    /// Publishes `payload` on `topic` as a new event stamped now.
    @discardableResult
    public func publish(_ topic: String, _ payload: JSONValue) async throws -> EventIdentity {
        try await bus.publish(Event(topic: topic, payload: payload))
    }

    @discardableResult
    public func subscribe(_ handler: any EventHandler) async throws -> Subscription {
        try await bus.subscribe(handler)
    }

    @discardableResult
    public func subscribe(toTopics topics: [String], _ handler: any EventHandler) async throws -> Subscription {
        try await bus.subscribe(toTopics: topics, handler)
    }
}
