// SubscriptionCore.swift: one subscription's bounded queue between publishers and its single consumer
// (every backend's: the in-process bus's subscriptions, and any bus's AsyncSequence subscriptions).
//
// A ring of `capacity` events indexed by two monotonic counters: `tail` (publishers, serialised by a
// lock only publishers take) and `head` (the consumer). The common path takes no lock the other side
// also takes: a publisher writes a slot and stores `tail`; the consumer reads it and stores `head`.
// Slot i (mod ring size) is written by a publisher only while `tail - head < capacity`, i.e. after the
// consumer moved the previous occupant out and advanced `head` past it, so the two never touch one slot
// at the same time. Slots in [head, tail) hold initialized events; the others are uninitialized memory:
// the consumer moves an event out (a load, no store to the slot's line, which the publisher will want
// back) and the publisher initializes the slot. `.dropOldest` is the exception to "only the consumer
// takes": publishers then drop events too, so the consumer takes under the publishers' lock.
//
// Sleeping uses the Dekker pattern of rule W: the sleeper publishes "I am waiting" (sequentially
// consistent) and re-checks the counter; the waker stores the counter (sequentially consistent) and
// then reads "waiting". One of the two sees the other, so no wakeup is lost. Continuations live under a
// second lock (`waiters`) taken only on those slow paths.

import Synchronization

final class SubscriptionCore: @unchecked Sendable { // slots: see the header for who touches which
    /// Keeps the fields below off the object header's line, whose reference count publishers write.
    private let padHeader = CacheLinePad()
    let id: UInt64
    /// The sequence of the event the consumer's handler is running (consumer task only: written before
    /// the handler runs, read by the handler through its bus's `currentResumePoint()`).
    var handlingSequence: UInt64 = 0
    /// `nil`: every topic.
    let filters: [TopicFilter]?
    let capacity: Int
    let policy: OverflowPolicy
    let counters = SubscriptionCounters()

    private let slots: UnsafeMutablePointer<Event>
    /// Set by `cancel` (under `publishing`, read by deinit): where the discarded events begin, which
    /// stay initialized in their slots until deinit (cancel never touches slots, see takeLocked).
    private var discardedFrom: UInt64?
    private let mask: UInt64

    // Each group below is written by a different side, so each gets its own cache line (a final class
    // lays its stored properties out in declaration order; the pads keep the groups 64 bytes apart).
    // Without them the publisher's tail store and the consumer's head store invalidate one line for
    // each other on every event, and the object header's reference count shares it too.
    private let pad0 = CacheLinePad()
    /// Events ever enqueued. Stored by publishers under `publishing`.
    private let tail = Atomic<UInt64>(0)
    /// Publishers' lock; it holds the last `head` they read, so that a publisher reads the consumer's
    /// line only when the ring looks full by that (stale, lower) value, not on every event.
    private let publishing = LockedState<UInt64>(0)
    private let pad1 = CacheLinePad()
    /// Events ever taken out of the ring (by the consumer, a dropping publisher, or cancel).
    private let head = Atomic<UInt64>(0)
    /// Events finished: handled, failed, dead-lettered, or dropped as oldest. For `flush`.
    private let completed = Atomic<UInt64>(0)
    /// The last `tail` the consumer read (only the consumer uses it): it reads the publishers' line
    /// only when it has taken everything up to that value.
    private let tailSeen = Atomic<UInt64>(0)
    /// Events taken since the ring was last found empty (only the consumer uses it).
    private let takenSinceEmpty = Atomic<Int>(0)
    private let pad2 = CacheLinePad()
    // Read on every event by the other side, written rarely.
    private let cancelled = Atomic<Bool>(false)
    /// True while the consumer's continuation is registered (set and cleared under `waiters`).
    private let consumerSleeping = Atomic<Bool>(false)
    /// Publishers waiting for room, and flush waiters (changed under `waiters`).
    private let spaceWaiters = Atomic<Int>(0)
    private let flushWaiters = Atomic<Int>(0)
    private let waiters = LockedState(Waiters())

    private struct Waiters {
        var consumer: CheckedContinuation<Void, Never>?
        var publishers: [(token: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var nextToken: UInt64 = 0
        var flush: [(target: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    }

    init(id: UInt64, filters: [TopicFilter]?, capacity: Int, policy: OverflowPolicy) {
        self.id = id
        self.filters = filters
        // Clamped (createEventBus rejects values outside this range with an error; a bus made with
        // `InMemoryEventBus(config:)` directly gets the nearest valid size instead of a trap).
        self.capacity = min(max(1, capacity), EventBusConfig.maximumBufferSize)
        self.policy = policy
        var size = 1
        while size < self.capacity { size <<= 1 }
        mask = UInt64(size - 1)
        slots = .allocate(capacity: size) // uninitialized: the ring is empty
        Self.liveSubscriptions.add(1, ordering: .relaxed)
    }

    deinit {
        Self.liveSubscriptions.subtract(1, ordering: .relaxed)
        var i = discardedFrom ?? head.load(ordering: .relaxed)
        let end = tail.load(ordering: .relaxed)
        while i != end { // the events still in the ring
            (slots + Int(i & mask)).deinitialize(count: 1)
            i &+= 1
        }
        slots.deallocate()
    }

    /// True when an event on `topic` belongs to this subscription (once, however many filters match).
    func matches(_ topic: String) -> Bool {
        guard let filters else { return true }
        return filters.contains { $0.matches(topic) }
    }

    // MARK: Publishers

    enum OfferResult { case queued, dropped, droppedOldest, cancelled }

    /// The synchronous fast path of `offer`: appends when there is room (or the policy drops);
    /// `nil` when the caller must wait (policy `.wait` and full).
    func tryOffer(_ event: Event) -> OfferResult? {
        var e: Event? = event
        return tryOffer(moving: &e)
    }

    /// `tryOffer` that moves the event into the ring instead of copying it (`event` is `nil` afterwards
    /// when it was queued): a copy is a reference-count increment on the payload, which the consumer's
    /// release of an earlier event may be contending for.
    func tryOffer(moving event: inout Event?) -> OfferResult? {
        let result: OfferResult? = publishing.withLock { headSeen in
            if cancelled.load(ordering: .relaxed) { return .cancelled } // set under this lock
            let t = tail.load(ordering: .relaxed) // only we store it, under this lock
            var outcome = OfferResult.queued
            if t &- headSeen >= UInt64(capacity) {
                // Acquiring: pairs with the head update of whoever emptied the slot we reuse.
                headSeen = head.load(ordering: .acquiring)
            }
            if t &- headSeen >= UInt64(capacity) {
                switch policy {
                case .wait: return nil
                case .dropNewest:
                    counters.dropped.add(1, ordering: .relaxed)
                    return .dropped
                case .dropOldest:
                    dropOldestLocked()
                    headSeen &+= 1
                    outcome = .droppedOldest
                }
            }
            (slots + Int(t & mask)).initialize(to: event.take()!) // uninitialized: see the header
            // Ask for the next slot's lines now, so the next publish's store does not wait for them
            // behind the sequentially consistent tail store below (which drains the store buffer).
            let next = UnsafeRawPointer(slots + Int((t &+ 1) & mask))
            CPUHints.prefetchForWrite(next)
            CPUHints.prefetchForWrite(next + MemoryLayout<Event>.stride - 1)
            // Sequentially consistent: releases the slot to the consumer (its acquiring tail load) and
            // orders this store before the `consumerSleeping` load below (Dekker, with `waitForEvent`).
            tail.store(t &+ 1, ordering: .sequentiallyConsistent)
            return outcome
        }
        if result == .queued || result == .droppedOldest, consumerSleeping.load(ordering: .sequentiallyConsistent) {
            wakeConsumer()
        }
        return result
    }

    /// Under `publishing`, policy `.dropOldest`, ring full: discards the oldest event, counted.
    private func dropOldestLocked() {
        let h = head.load(ordering: .relaxed) // consumers take under `publishing` in this policy
        (slots + Int(h & mask)).deinitialize(count: 1)
        head.store(h &+ 1, ordering: .releasing)
        counters.dropped.add(1, ordering: .relaxed)
        finish(1) // the dropped event is done, as far as flush is concerned
    }

    /// Appends `event`, applying the overflow policy when full: under `.wait`, waits (FIFO) for room.
    func offer(_ event: Event) async -> OfferResult {
        while true {
            if let fast = tryOffer(event) { return fast }
            await waitForSpace()
        }
    }

    private func waitForSpace() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let token = waiters.withLock { w -> UInt64 in
                w.nextToken += 1
                w.publishers.append((w.nextToken, c))
                spaceWaiters.add(1, ordering: .sequentiallyConsistent) // Dekker with takeLocked's load
                return w.nextToken
            }
            // Sequentially consistent: pairs with the consumer's head store; one of us sees the other.
            if cancelled.load(ordering: .sequentiallyConsistent)
                || tail.load(ordering: .acquiring) &- head.load(ordering: .sequentiallyConsistent) < UInt64(capacity)
            {
                let mine = waiters.withLock { w -> CheckedContinuation<Void, Never>? in
                    guard let i = w.publishers.firstIndex(where: { $0.token == token }) else { return nil }
                    spaceWaiters.subtract(1, ordering: .relaxed)
                    return w.publishers.remove(at: i).continuation
                }
                mine?.resume() // nil: the consumer already took it and resumes it
            }
        }
    }

    private func wakeConsumer() {
        let c = waiters.withLock { w -> CheckedContinuation<Void, Never>? in
            defer { w.consumer = nil }
            if w.consumer != nil { consumerSleeping.store(false, ordering: .relaxed) }
            return w.consumer
        }
        c?.resume()
    }

    // MARK: The consumer

    /// The next event in order without waiting; `nil` when the ring is empty or the subscription ended.
    func poll() -> Event? {
        if policy == .dropOldest { return publishing.withLock { _ in takeLocked() } }
        return takeLocked()
    }

    /// Takes the oldest event. Only the consumer calls it (under `publishing` for `.dropOldest`).
    private func takeLocked() -> Event? {
        if cancelled.load(ordering: .relaxed) { return nil }
        let h = head.load(ordering: .relaxed)
        if h >= tailSeen.load(ordering: .relaxed) { // ">": cancel may have moved head past it
            // Acquiring: pairs with the publisher's tail store, so the slots up to it are visible.
            let t = tail.load(ordering: .acquiring)
            guard h < t else { return nil }
            tailSeen.store(t, ordering: .relaxed)
        }
        let slot = slots + Int(h & mask)
        let e = slot.move() // stable: no publisher writes slot h while head <= h
        // Cancel may have moved head on (it never touches slots): then the event is discarded, counted
        // by cancel, and deinit releases it, so put it back (no publisher writes after cancel).
        // Sequentially consistent: frees the slot for publishers (releasing) and orders the store
        // before the `spaceWaiters` load (Dekker, with waitForSpace).
        guard head.compareExchange(expected: h, desired: h &+ 1, ordering: .sequentiallyConsistent).exchanged else {
            slot.initialize(to: e)
            return nil
        }
        takenSinceEmpty.store(takenSinceEmpty.load(ordering: .relaxed) &+ 1, ordering: .relaxed) // consumer only
        if spaceWaiters.load(ordering: .sequentiallyConsistent) > 0 {
            // Hysteresis: wake waiting publishers when half the ring is free (or it is empty), so a
            // publisher that outruns its consumer is resumed once per half ring, not once per event.
            let t = tail.load(ordering: .relaxed)
            if t &- (h &+ 1) <= UInt64(capacity / 2) { wakePublishers() }
        }
        return e
    }

    private func wakePublishers() {
        let ready = waiters.withLock { w -> [(token: UInt64, continuation: CheckedContinuation<Void, Never>)] in
            defer { w.publishers.removeAll() }
            spaceWaiters.subtract(w.publishers.count, ordering: .relaxed)
            return w.publishers
        }
        for p in ready { p.continuation.resume() } // in arrival order
    }

    /// Waits until an event may be there; false once the subscription ended.
    func waitForEvent() async -> Bool {
        if let ready = await spinBeforeSleeping() { return ready }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            waiters.withLock { w in
                w.consumer = c
                consumerSleeping.store(true, ordering: .sequentiallyConsistent) // Dekker with tryOffer
            }
            if isReadable || cancelled.load(ordering: .sequentiallyConsistent) { wakeConsumer() }
        }
        return !cancelled.load(ordering: .relaxed)
    }

    /// How long a consumer keeps polling (yielding its thread between polls) before it suspends: about
    /// twice what a wakeup costs on this kind of machine (~20 µs for the hypervisor to wake an idle
    /// vCPU), the classic bound for spin-then-block. Publishers then rarely pay for a resume, and an
    /// event that arrives within the window is seen in about a microsecond instead of twenty.
    static let spinWindow = Duration.microseconds(40)
    /// At most one spinning consumer per CPU beyond the first (the publisher needs one), process-wide:
    /// fifty idle subscriptions must not spin fifty loops on two CPUs.
    private static let maxSpinners = MachineFacts.onlineCPUs - 1
    private static let spinners = Atomic<Int>(0)
    /// Subscriptions alive in the process (cores not yet deinitialized).
    private static let liveSubscriptions = Atomic<Int>(0)
    /// Tight polls between two yields while spinning (each with a CPU pause: 1–3 µs in all).
    private static let pollsPerYield = 64

    /// How long a consumer that just emptied its ring after a burst (two or more events since it last
    /// found it empty) waits, without looking, before it looks again (when it holds a spinning slot).
    /// Looking means reading the publishers' `tail` line, and every look while the publisher is
    /// writing moves that line between the CPUs twice; a consumer that keeps up with a fast publisher
    /// would otherwise look once or twice per event. After this pause it finds several events and one
    /// look serves them all (1 → 1 went from about 1.8 to 2.2–2.8 M events/s on this VM; measured with
    /// 2, 4 and 8 µs). A consumer that takes one event at a time (a paced or idle publisher) does not
    /// pause, so its latency is not affected.
    static let batchWindow = Duration.microseconds(4)

    /// Polls for up to `spinWindow` when a spinning slot is free; true: readable, false: cancelled,
    /// nil: still empty, go to sleep.
    private func spinBeforeSleeping() async -> Bool? {
        guard Self.spinners.add(1, ordering: .relaxed).newValue <= Self.maxSpinners else {
            Self.spinners.subtract(1, ordering: .relaxed)
            takenSinceEmpty.store(0, ordering: .relaxed)
            // No spinning slot: give a publisher on the same pool a turn or two (it will likely
            // enqueue more, and one resume then covers a batch instead of each event), then sleep.
            for _ in 0..<2 {
                if isReadable { return true }
                if cancelled.load(ordering: .relaxed) { return false }
                await Task.yield()
            }
            return isReadable ? true : nil
        }
        let start = ContinuousClock.now
        // After a burst, let the next one build up; but only while every subscription in the process
        // could have a CPU of its own: with more, others have work this thread should do instead.
        if takenSinceEmpty.exchange(0, ordering: .relaxed) >= 2,
           Self.liveSubscriptions.load(ordering: .relaxed) <= Self.maxSpinners
        {
            let lookAgain = start + Self.batchWindow
            while ContinuousClock.now < lookAgain {
                for _ in 0..<16 { CPUHints.relax() } // ~0.3 µs here between clock reads
            }
        }
        var outcome: Bool? = nil
        let deadline = start + Self.spinWindow
        spinning: repeat {
            // A short tight poll first (a few µs), then one yield so other tasks on this thread run:
            // yielding on every poll made the pool wake its other thread (a futex call) every few
            // events.
            for _ in 0..<Self.pollsPerYield {
                if isReadable { outcome = true; break spinning }
                CPUHints.relax()
            }
            if cancelled.load(ordering: .relaxed) { outcome = false; break }
            await Task.yield()
        } while ContinuousClock.now < deadline
        Self.spinners.subtract(1, ordering: .relaxed)
        return outcome
    }

    /// Sequentially consistent: the re-check half of the consumer's Dekker pair.
    private var isReadable: Bool {
        head.load(ordering: .relaxed) != tail.load(ordering: .sequentiallyConsistent)
    }

    /// The next event in order; suspends while empty; `nil` once cancelled.
    func take() async -> Event? {
        while true {
            if let e = poll() { return e }
            if !(await waitForEvent()) { return nil }
        }
    }

    /// The consumer finished one taken event (handled, failed, or dead-lettered).
    func complete() { finish(1) }

    private func finish(_ n: UInt64) {
        // Sequentially consistent: orders the count before the `flushWaiters` load (Dekker, with
        // waitUntilCompleted).
        completed.add(n, ordering: .sequentiallyConsistent)
        if flushWaiters.load(ordering: .sequentiallyConsistent) > 0 { resumeFlushWaiters() }
    }

    private func resumeFlushWaiters() {
        let done = completed.load(ordering: .sequentiallyConsistent)
        let over = cancelled.load(ordering: .sequentiallyConsistent)
        let ready = waiters.withLock { w -> [CheckedContinuation<Void, Never>] in
            var ready: [CheckedContinuation<Void, Never>] = []
            w.flush.removeAll { f in
                guard f.target <= done || over else { return false }
                ready.append(f.continuation)
                return true
            }
            flushWaiters.subtract(ready.count, ordering: .relaxed)
            return ready
        }
        ready.forEach { $0.resume() }
    }

    // MARK: Everyone

    /// Events enqueued so far (a flush target).
    var enqueuedCount: UInt64 { tail.load(ordering: .acquiring) }

    /// Events queued and not yet taken.
    var queuedCount: Int {
        let h = head.load(ordering: .acquiring)
        return Int(truncatingIfNeeded: tail.load(ordering: .acquiring) &- h)
    }

    /// True when the queue is full now.
    var isFull: Bool { queuedCount >= capacity }

    /// Returns once `target` events have been completed (or the subscription ended).
    func waitUntilCompleted(_ target: UInt64) async {
        if completed.load(ordering: .acquiring) >= target { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            waiters.withLock { w in
                w.flush.append((target, c))
                flushWaiters.add(1, ordering: .sequentiallyConsistent) // Dekker with finish
            }
            resumeFlushWaiters() // re-check: the count may have reached the target before we registered
        }
    }

    /// Ends the subscription: wakes everyone; returns how many queued events were discarded.
    @discardableResult
    func cancel() -> Int {
        let discarded = publishing.withLock { _ -> UInt64 in
            if cancelled.load(ordering: .relaxed) { return 0 }
            // Under `publishing`: no publisher writes a slot after this. Sequentially consistent:
            // pairs with the re-checks of the sleeping consumer and waiting publishers.
            cancelled.store(true, ordering: .sequentiallyConsistent)
            let t = tail.load(ordering: .relaxed)
            while true { // the consumer may take one concurrently; whoever moves head owns the event
                let h = head.load(ordering: .acquiring)
                if h == t { return 0 }
                if head.compareExchange(expected: h, desired: t, ordering: .sequentiallyConsistent).exchanged {
                    discardedFrom = h
                    return t &- h
                }
            }
        }
        counters.dropped.add(discarded, ordering: .relaxed)
        wakeConsumer()
        wakePublishers()
        resumeFlushWaiters()
        return Int(discarded)
    }
}
