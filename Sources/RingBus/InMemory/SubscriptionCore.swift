// SubscriptionCore.swift: one subscription's bounded queue between publishers and its single consumer.
//
// Publishers append (waiting FIFO for room, or dropping by policy); the one consumer takes in order.
// The consumer suspends only when the queue is empty and is resumed by the publish that makes it
// non-empty, then drains without suspending per event. Every suspension registers its continuation
// under the lock after re-checking, and is resumed outside the lock, so no wakeup is lost. Counts of
// enqueued and completed events let `flush` wait for exactly what was published before it.

import Synchronization

final class SubscriptionCore: Sendable {
    let id: UInt64
    /// `nil`: every topic.
    let filters: [TopicFilter]?
    let capacity: Int
    let policy: OverflowPolicy
    private let state: Mutex<State>

    struct State {
        var queue: [Event] = []
        var head = 0
        var consumer: CheckedContinuation<Void, Never>?
        var publishers: [CheckedContinuation<Void, Never>] = []
        var flushWaiters: [(target: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var enqueued: UInt64 = 0
        var completed: UInt64 = 0
        var cancelled = false

        var count: Int { queue.count - head }

        mutating func popFirst() -> Event? {
            guard head < queue.count else { return nil }
            let e = queue[head]
            head += 1
            if head >= 64 && head * 2 >= queue.count { // compact now and then: amortised O(1)
                queue.removeFirst(head)
                head = 0
            }
            return e
        }

        /// Flush waiters satisfied by `completed`, removed from the list.
        mutating func satisfiedFlushWaiters() -> [CheckedContinuation<Void, Never>] {
            var ready: [CheckedContinuation<Void, Never>] = []
            flushWaiters.removeAll { w in
                if w.target <= completed || cancelled { ready.append(w.continuation); return true }
                return false
            }
            return ready
        }
    }

    init(id: UInt64, filters: [TopicFilter]?, capacity: Int, policy: OverflowPolicy) {
        self.id = id
        self.filters = filters
        self.capacity = max(1, capacity)
        self.policy = policy
        state = Mutex(State())
    }

    /// True when an event on `topic` belongs to this subscription (once, however many filters match).
    func matches(_ topic: String) -> Bool {
        guard let filters else { return true }
        return filters.contains { $0.matches(topic) }
    }

    enum OfferResult { case queued, dropped, droppedOldest, cancelled }

    /// The synchronous fast path of `offer`: appends when there is room (or the policy drops);
    /// `nil` when the caller must wait (policy `.wait` and full).
    func tryOffer(_ event: Event) -> OfferResult? {
        let (result, consumer): (OfferResult?, CheckedContinuation<Void, Never>?) = state.withLock { s in
            if s.cancelled { return (.cancelled, nil) }
            if s.count >= capacity {
                if policy == .dropNewest { return (.dropped, nil) }
                return (nil, nil) // .wait, or .dropOldest (which has flush waiters to settle): the slow path
            }
            s.queue.append(event)
            s.enqueued += 1
            let c = s.consumer
            s.consumer = nil
            return (.queued, c)
        }
        consumer?.resume()
        return result
    }

    /// Appends `event`, applying the overflow policy when full: waits for room (FIFO) under `.wait`,
    /// evicts the oldest under `.dropOldest`.
    func offer(_ event: Event) async -> OfferResult {
        while true {
            if let fast = tryOffer(event) { return fast }
            if policy == .dropOldest {
                let (done, flushed) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
                    guard !s.cancelled, s.count >= capacity else { return (false, []) } // room appeared: fast path again
                    _ = s.popFirst()
                    s.completed += 1 // the dropped event is done, as far as flush is concerned
                    s.queue.append(event)
                    s.enqueued += 1
                    return (true, s.satisfiedFlushWaiters())
                }
                flushed.forEach { $0.resume() }
                if done { return .droppedOldest }
                continue
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.cancelled || s.count < capacity { return true }
                    s.publishers.append(c) // FIFO: the consumer resumes one per event taken
                    return false
                }
                if now { c.resume() }
            }
        }
    }

    /// The next event in order; suspends while empty; `nil` once cancelled.
    func take() async -> Event? {
        var spins = 0
        while true {
            enum Step { case event(Event, CheckedContinuation<Void, Never>?), end, wait }
            let step: Step = state.withLock { s in
                if s.cancelled { return .end }
                if let e = s.popFirst() {
                    return .event(e, s.publishers.isEmpty ? nil : s.publishers.removeFirst())
                }
                return .wait
            }
            switch step {
            case .event(let e, let publisher):
                publisher?.resume() // one slot freed: one waiting publisher goes on
                return e
            case .end:
                return nil
            case .wait:
                // Before sleeping, give a publisher on the same pool a turn or two: it will likely
                // enqueue more, and one resume then covers a batch instead of each event.
                if spins < 2 {
                    spins += 1
                    await Task.yield()
                    continue
                }
                spins = 0
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { s -> Bool in
                        if s.cancelled || s.count > 0 { return true }
                        s.consumer = c
                        return false
                    }
                    if now { c.resume() }
                }
            }
        }
    }

    /// The consumer finished one taken event (handled, failed, or dead-lettered).
    func complete() {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.completed += 1
            return s.satisfiedFlushWaiters()
        }
        ready.forEach { $0.resume() }
    }

    /// Events enqueued so far (a flush target).
    var enqueuedCount: UInt64 { state.withLock { $0.enqueued } }

    /// Events queued and not yet taken.
    var queuedCount: Int { state.withLock { $0.count } }

    /// True when the queue is full now.
    var isFull: Bool { state.withLock { $0.count >= capacity } }

    /// Returns once `target` events have been completed (or the subscription ended).
    func waitUntilCompleted(_ target: UInt64) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.completed >= target || s.cancelled { return true }
                s.flushWaiters.append((target, c))
                return false
            }
            if now { c.resume() }
        }
    }

    /// Ends the subscription: wakes everyone; returns how many queued events were discarded.
    @discardableResult
    func cancel() -> Int {
        let (discarded, wake) = state.withLock { s -> (Int, [CheckedContinuation<Void, Never>]) in
            if s.cancelled { return (0, []) }
            s.cancelled = true
            let n = s.count
            s.queue.removeAll()
            s.head = 0
            var wake = s.publishers
            s.publishers.removeAll()
            if let c = s.consumer { wake.append(c) }
            s.consumer = nil
            wake += s.satisfiedFlushWaiters()
            return (n, wake)
        }
        wake.forEach { $0.resume() }
        return discarded
    }
}

/// Which subscription's consumer the current task is (to refuse waits that would wait for itself).
enum SubscriptionContext {
    @TaskLocal static var current: UInt64?
}
