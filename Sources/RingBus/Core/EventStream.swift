// EventStream.swift: a subscription consumed as an AsyncSequence, over a SubscriptionCore queue (every
// backend's `subscribe(to:)`).

/// A subscription consumed as an `AsyncSequence`. Event *n* counts as handled when `next()` is called
/// for *n + 1* (or the sequence is cancelled).
public struct EventStream: AsyncSequence, Sendable {
    /// Each element is one delivered event.
    public typealias Element = Event
    let core: SubscriptionCore
    let onCancel: @Sendable () async -> Void

    /// Takes the subscription's events in order; one iterator per stream (it is the single consumer).
    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: SubscriptionCore
        var holding = false

        /// The next event (counting the previous one as handled); `nil` once the subscription ended.
        public mutating func next() async -> Event? {
            if holding {
                holding = false
                core.counters.delivered.incrementBySoleWriter()
                core.complete()
            }
            guard let e = await core.take() else {
                core.counters.final.store(true, ordering: .releasing)
                return nil
            }
            holding = true
            return e
        }
    }

    /// The stream's iterator.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(core: core) }

    /// Ends the sequence (an iteration in progress returns `nil`).
    public func cancel() async { await onCancel() }
}
