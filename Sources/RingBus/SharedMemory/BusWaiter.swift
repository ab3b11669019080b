// BusWaiter.swift: one thread per bus that sleeps for every waiting reader of the process, so async
// code awaits data without blocking a thread of Swift's cooperative pool.
//
// A task whose reader has nothing to poll calls `waitForData(_:)`: it registers its reader and
// suspends. The waiter thread waits for the whole set with rule W (rbus_bus_thread_wait: one
// doorbell, one futex sleep for all of them), then resumes every task whose reader has data. When the
// set changes while the thread sleeps, the registering task bumps a change counter and rings the
// doorbell; the thread checks that counter after setting its sleeper bits, so either it sees the
// change or the ring finds its bits (the Dekker pair of rule W, here between two threads of one
// process). A reader is not touched by its task while it is registered (the task is suspended), and
// the thread only reads its cursors.

#if canImport(Dispatch)
import Dispatch
#endif
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
internal import CRingBus

/// Waits, on one thread of its own, for the readers and writers of one bus that async tasks are waiting
/// on (readers for data, writers for room in a ring that gating readers hold).
public final class BusWaiter: @unchecked Sendable { // state under `state`; C words are atomics
    private let segment: SharedSegment
    private let state = LockedState(State())
    /// Bumped (seq_cst, in C) whenever the set of waiting readers grows; read by the thread after W1.
    private let changes: UnsafeMutablePointer<UInt64>
    /// Signalled when a reader registers while the thread has none to wait for.
    private let idle = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    private struct Waiting {
        let consumer: UnsafeMutablePointer<rbus_consumer>
        /// Set for waits that ``cancelWait(id:)`` may end; `nil` for public ``waitForData(_:)`` calls.
        let id: UInt64?
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct WaitingWriter {
        let producer: UnsafeMutablePointer<rbus_producer>
        /// The end of the claim it needs room for (rbus_producer_claim_end).
        let needEnd: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var writers: [WaitingWriter] = []
        var running = true
        /// Ids whose waits end at once with `false` (a cancelled subscription): see ``cancelWait(id:)``.
        var cancelled: Set<UInt64> = []
        /// True while the thread is in (or about to enter) the futex wait.
        var sleeping = false
        /// Sleeps that ended by their 1 s safety timeout while a reader had data: lost wakeups.
        var lostWakeups = 0
        /// Jobs of tasks that prefer this waiter as their executor, run by the thread between waits.
        var jobs: [UnownedJob] = []
        /// True while the thread waits on `idle` (nothing to wait for on the bus).
        var idling = false
        /// The thread, once it runs.
        var thread: pthread_t?
    }

    /// Sleeps that ended by their safety timeout while a reader had data (0 unless a wakeup was lost).
    var lostWakeups: Int { state.withLock { $0.lostWakeups } }

    /// Starts the waiter thread for `segment`'s bus. Call ``stop()`` when done: the thread keeps the
    /// waiter alive until then.
    public init(segment: SharedSegment) {
        self.segment = segment
        changes = .allocate(capacity: 1)
        changes.initialize(to: 0)
        startDetachedThread { [self] in run() }
    }

    deinit { changes.deallocate() }

    /// Suspends until `reader` may have data (`true`), or the bus was removed or the waiter stopped
    /// (`false`). Never blocks the calling thread. `reader` must not be used until this returns.
    public func waitForData(_ reader: StreamReader) async -> Bool {
        precondition(reader.segment === segment, "the reader belongs to another bus")
        if rbus_wait_has_data(reader.c) != 0 { return true }
        return await register { s, c in
            s.waiting.append(Waiting(consumer: reader.c, id: nil, continuation: c))
            return true
        }
    }

    /// Like ``waitForData(_:)`` for a consumer the caller owns, with an `id` that ``cancelWait(id:)``
    /// can end early (the wait then returns `false`). The consumer must stay allocated and untouched
    /// until this returns: the thread may be reading its cursors.
    func waitForData(_ reader: StreamReader, id: UInt64) async -> Bool { await waitForData(consumer: reader.c, id: id) }

    func waitForData(consumer: UnsafeMutablePointer<rbus_consumer>, id: UInt64) async -> Bool {
        if state.withLock({ $0.cancelled.contains(id) }) { return false }
        if rbus_wait_has_data(consumer) != 0 { return true }
        return await register { s, c in
            if s.cancelled.contains(id) { return false }
            s.waiting.append(Waiting(consumer: consumer, id: id, continuation: c))
            return true
        }
    }

    /// Ends the wait of `id` (now, or the next one it starts) with `false`. The thread resumes it
    /// after its current round, so the consumer is never freed while the thread still reads it.
    func cancelWait(id: UInt64) {
        let sleeping = state.withLock { s -> Bool in
            s.cancelled.insert(id)
            return s.sleeping && s.waiting.contains { $0.id == id }
        }
        rbus_bus_thread_kick(segment.bus, changes, sleeping ? 1 : 0) // the thread re-reads its set
    }

    /// Suspends until `writer` has room for an event of `topic` and `payloadLength` bytes (`true`), or
    /// the bus was removed or the waiter stopped (`false`). Never blocks the calling thread; a dead
    /// gating consumer holding the ring is evicted after its grace meanwhile (the thread rescans every
    /// 10 ms). `writer` must not be used until this returns.
    public nonisolated(nonsending) func waitForRoom(_ writer: StreamWriter, topic: PreparedTopic, payloadLength: Int) async -> Bool {
        await waitForRoom(writer, upTo: writer.claimEnd(topic: topic, payloadLength: payloadLength))
    }

    /// Like ``waitForRoom(_:topic:payloadLength:)`` for a claim whose end (``StreamWriter/claimEnd(topic:payloadLength:)``)
    /// the caller computed already.
    public nonisolated(nonsending) func waitForRoom(_ writer: StreamWriter, upTo needEnd: UInt64) async -> Bool {
        precondition(writer.segment === segment, "the writer belongs to another bus")
        if rbus_producer_has_room(writer.p, needEnd) != 0 { return true }
        return await register { s, c in
            s.writers.append(WaitingWriter(producer: writer.p, needEnd: needEnd, continuation: c))
            return true
        }
    }

    /// Suspends the caller after `add` put its continuation into the thread's set, and makes the thread
    /// notice: the change counter for a thread that is about to sleep or asleep (it reads the counter
    /// after W1, in rbus_bus_thread_wait), the doorbell for one that is asleep, the idle semaphore for
    /// one that had nothing to wait for.
    private nonisolated(nonsending) func register(_ add: (inout State, CheckedContinuation<Bool, Never>) -> Bool) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let (accepted, wasEmpty, sleeping) = state.withLock { s -> (Bool, Bool, Bool) in
                guard s.running, add(&s, c) else { return (false, false, false) }
                return (true, s.waiting.count + s.writers.count == 1, s.sleeping)
            }
            guard accepted else {
                c.resume(returning: false)
                return
            }
            rbus_bus_thread_kick(segment.bus, changes, sleeping ? 1 : 0) // seq_cst bump, then wake it if asleep
            if wasEmpty { idle.signal() }
        }
    }

    /// True on the waiter's own thread.
    private var isBusThread: Bool {
        let me = pthread_self()
        return state.withLock { s in s.thread.map { pthread_equal($0, me) != 0 } ?? false }
    }

    /// Stops the thread; waiting tasks resume with `false`. Returns when the thread has ended (called
    /// from a job on the thread itself, it returns at once and the thread ends after that job). Jobs of
    /// tasks that prefer this executor go to the global executor from then on.
    public func stop() { stop(waitingAtMost: nil) }

    /// ``stop()``, waiting at most `limit` for the thread to end (`nil`: until it ended). A thread kept
    /// by a job that never returns (a handler blocking it) ends after that job.
    func stop(waitingAtMost limit: Duration?) {
        let wasRunning = state.withLock { s -> Bool in
            defer { s.running = false }
            return s.running
        }
        guard wasRunning else { return }
        rbus_bus_thread_kick(segment.bus, changes, 1)
        idle.signal()
        // From a job on the thread itself (a handler closing its bus), waiting would wait for ourselves:
        // the thread ends after this job returns.
        guard !isBusThread else { return }
        if let limit {
            let ns = Int(limit.components.seconds) * 1_000_000_000 + Int(limit.components.attoseconds / 1_000_000_000)
            _ = finished.wait(timeout: .now() + .nanoseconds(ns))
        } else {
            finished.wait()
        }
    }

    private func run() {
        defer { finished.signal() }
        state.withLock { $0.thread = pthread_self() }
        let executor = asUnownedTaskExecutor()
        // Two job lists that trade places each round, both keeping their capacity: taking the jobs out
        // as a new array left `s.jobs` without storage, so the next enqueue allocated one (two heap
        // allocations per resumed subscription, found with heaptrack, issue 13).
        var jobs: [UnownedJob] = []
        jobs.reserveCapacity(16)
        var readers: [UnsafeMutablePointer<rbus_consumer>?] = [], writers: [UnsafeMutablePointer<rbus_producer>?] = []
        var needEnds: [UInt64] = [], ready: [(CheckedContinuation<Bool, Never>, Bool)] = []
        while true {
            // The jobs of tasks that prefer this executor (subscriptions resumed by the round before,
            // or woken by someone else): run here, so a resumed subscription costs no second wake.
            state.withLock { s in swap(&jobs, &s.jobs) }
            for job in jobs { job.runSynchronously(on: executor) }
            jobs.removeAll(keepingCapacity: true)
            let dropped = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
                guard !s.cancelled.isEmpty else { return [] }
                var out: [CheckedContinuation<Bool, Never>] = []
                s.waiting.removeAll { w in
                    guard let id = w.id, s.cancelled.contains(id) else { return false }
                    out.append(w.continuation)
                    return true
                }
                return out
            }
            for c in dropped { c.resume(returning: false) }
            // The snapshot and the ready list live in buffers kept across rounds (refilled in place
            // under the lock): a new array per round was an allocation per wait (gdb on the test peer's
            // malloc, issue 13).
            let now: (seen: UInt64, running: Bool)? = state.withLock { s in
                if !s.jobs.isEmpty && s.running { return nil } // more jobs first
                s.sleeping = s.running && !(s.waiting.isEmpty && s.writers.isEmpty)
                s.idling = s.running && s.waiting.isEmpty && s.writers.isEmpty
                readers.removeAll(keepingCapacity: true)
                writers.removeAll(keepingCapacity: true)
                needEnds.removeAll(keepingCapacity: true)
                for w in s.waiting { readers.append(w.consumer) }
                // Past 126 waiting writers the rest wait for a later round (futex_waitv takes 128 words:
                // the doorbell, the kick word, 126 space doorbells).
                for w in s.writers.prefix(126) {
                    writers.append(w.producer)
                    needEnds.append(w.needEnd)
                }
                return (changesNow(), s.running)
            }
            guard let now else { continue }
            guard now.running else { break }
            if readers.isEmpty && writers.isEmpty {
                _ = idle.wait(timeout: .now() + .seconds(1))
                state.withLock { $0.idling = false }
                continue
            }
            let status = readers.withUnsafeBufferPointer { cs in
                writers.withUnsafeBufferPointer { ps in
                    needEnds.withUnsafeBufferPointer { ends in
                        rbus_bus_thread_wait(segment.bus, cs.baseAddress, UInt32(cs.count), ps.baseAddress,
                                             ends.baseAddress, UInt32(ps.count), Int64(1_000_000_000), changes, now.seen)
                    }
                }
            }
            let removed = status == RBUS_E_REMOVED
            state.withLock { s in
                s.sleeping = false
                s.waiting.removeAll { w in
                    guard removed || rbus_wait_has_data(w.consumer) != 0 else { return false }
                    ready.append((w.continuation, !removed))
                    return true
                }
                let readersReady = ready.count
                s.writers.removeAll { w in
                    guard removed || rbus_producer_has_room(w.producer, w.needEnd) != 0 else { return false }
                    ready.append((w.continuation, !removed))
                    return true
                }
                if status == RBUS_TIMEOUT && readersReady > 0 { s.lostWakeups += 1 }
            }
            for (c, value) in ready { c.resume(returning: value) }
            ready.removeAll(keepingCapacity: true)
        }
        let (left, jobsLeft) = state.withLock { s -> ([CheckedContinuation<Bool, Never>], [UnownedJob]) in
            defer {
                s.waiting.removeAll()
                s.writers.removeAll()
                s.jobs.removeAll()
            }
            return (s.waiting.map(\.continuation) + s.writers.map(\.continuation), s.jobs)
        }
        for c in left { c.resume(returning: false) }
        for job in jobsLeft { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }

    /// The change counter, read under the state lock before the wait (so a registration that comes
    /// later bumps it past this value).
    private func changesNow() -> UInt64 { rbus_counter_load(changes) }
}

extension BusWaiter {
    /// True when someone else needs the thread: a queued job (another subscription was resumed), or a
    /// subscription or publisher waiting, whose wake needs the thread's round. A polling subscription
    /// yields then, and otherwise keeps the thread (Task.yield allocates a job).
    var othersNeedThread: Bool { state.withLock { !$0.jobs.isEmpty || !$0.waiting.isEmpty || !$0.writers.isEmpty } }
}

extension BusWaiter: TaskExecutor {
    /// Runs `job` on the waiter's thread, between its waits: a task that prefers this executor (a
    /// subscription of the shared-memory bus) is resumed by the thread that saw its data, without
    /// waking a second thread. After ``stop()``, jobs go to the global concurrent executor.
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let (accepted, sleeping, idling) = state.withLock { s -> (Bool, Bool, Bool) in
            guard s.running else { return (false, false, false) }
            s.jobs.append(unowned)
            return (true, s.sleeping, s.idling)
        }
        guard accepted else {
            globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
            return
        }
        rbus_bus_thread_kick(segment.bus, changes, sleeping ? 1 : 0)
        if idling { idle.signal() }
    }
}
