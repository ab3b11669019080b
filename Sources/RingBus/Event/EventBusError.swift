// EventBusError.swift: the errors of the EventBus API.
//
// The first four cases and their messages are the original design's (`"Publish error: …"` and so on),
// so ported code and its tests keep working; the others are what a real bus needs.

/// Errors of publishing, subscribing and handling.
public enum EventBusError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Publishing failed for the reason given.
    case publishError(String)
    /// Subscribing failed for the reason given.
    case subscribeError(String)
    /// A handler failed; the text is its error's description.
    case handlerError(String)
    /// The topic or filter is not valid, e.g. `invalidTopic("Topic cannot be empty")`.
    case invalidTopic(String)
    /// The event's payload is larger than the bus allows.
    case payloadTooLarge(size: Int, limit: Int)
    /// The bus was closed; it accepts no more publishes or subscriptions.
    case closed
    /// A bounded wait (for room, for a flush) ran out.
    case timedOut(String)
    /// A handler published into a ring that its own subscription holds full: waiting would never end.
    case wouldDeadlock(String)

    public var description: String {
        switch self {
        case .publishError(let s): "Publish error: \(s)"
        case .subscribeError(let s): "Subscribe error: \(s)"
        case .handlerError(let s): "Handler error: \(s)"
        case .invalidTopic(let s): "Invalid topic: \(s)"
        case .payloadTooLarge(let size, let limit): "Publish error: payload of \(size) bytes exceeds the limit of \(limit)"
        case .closed: "the event bus is closed"
        case .timedOut(let s): "Timed out: \(s)"
        case .wouldDeadlock(let s): "Would deadlock: \(s)"
        }
    }
}
