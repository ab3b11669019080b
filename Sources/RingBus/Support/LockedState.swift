// LockedState.swift: state behind a lock (rbus_lock.h: one futex word, inlined atomics).
//
// Why not `Synchronization.Mutex`: ThreadSanitizer cannot see its lock and unlock (they run inside
// the uninstrumented Synchronization library), so it reports every access the mutex protects as a
// race, which would hide real ones in the lock-free code beside it. rbus_lock.h's atomics are compiled
// into this module, so ThreadSanitizer sees them, and uncontended they cost what Mutex costs (a
// pthread mutex, tried first, cost the in-process bus about a fifth of its throughput).

internal import CRingBus

/// A value that is only read or written while its lock is held.
final class LockedState<State>: @unchecked Sendable { // `state` is only touched under `word`
    private let block: UnsafeMutableRawPointer
    private let word: UnsafeMutablePointer<UInt32>
    /// Behind a pointer rather than a `var`: the lock already excludes other accesses, and a class's
    /// `var` would add a dynamic exclusivity check (`swift_beginAccess`) to every lock.
    private let state: UnsafeMutablePointer<State>

    init(_ initial: State) {
        // The word and the state share one block of whole cache lines, so two locks (a publisher's
        // and a consumer's, or two subscriptions') never share a line through the allocator packing
        // small allocations together.
        let offset = max(8, MemoryLayout<State>.alignment)
        let size = (offset + MemoryLayout<State>.size + 63) & ~63
        block = .allocate(byteCount: size, alignment: max(64, MemoryLayout<State>.alignment))
        word = block.bindMemory(to: UInt32.self, capacity: 1)
        word.initialize(to: 0)
        state = (block + offset).bindMemory(to: State.self, capacity: 1)
        state.initialize(to: initial)
    }

    deinit {
        state.deinitialize(count: 1)
        block.deallocate()
    }

    /// Runs `body` with the state while holding the lock. `body` must not suspend or re-enter.
    @inline(__always)
    func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        rbus_lock_acquire(word)
        defer { rbus_lock_release(word) }
        return try body(&state.pointee)
    }
}

/// A bus's state that can be closed once.
protocol ClosableState {
    var closed: Bool { get set }
}

extension LockedState where State: ClosableState {
    /// Marks the state closed; true for the one caller that closed it (later calls get false).
    func closeOnce() -> Bool {
        withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
    }
}
