// Subscription.swift: the handle every backend returns for a subscription, and the task-local that says
// which subscription's consumer the current task is.

/// A handle on a subscription; cancel it to unsubscribe.
public final class Subscription: Sendable {
    /// Unique within its bus.
    public let id: UInt64
    private let onCancel: @Sendable () async -> Void

    init(id: UInt64, onCancel: @escaping @Sendable () async -> Void) {
        self.id = id
        self.onCancel = onCancel
    }

    /// Unsubscribes: after this returns, at most the one event the subscription's consumer had already
    /// taken may still reach the handler; events still queued are discarded (counted as dropped). Safe
    /// to call more than once, and from the subscription's own handler.
    public func cancel() async { await onCancel() }
}

/// Which subscription's consumer the current task is (to refuse waits that would wait for itself).
enum SubscriptionContext {
    @TaskLocal static var current: UInt64?
}
