// Threads.swift: plain threads of our own (FoundationEssentials has no Thread): the bus waiter's, and
// pinned ones for measuring loops that must not run on Swift's cooperative pool.

#if canImport(Dispatch)
import Dispatch
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Starts a detached pthread running `body`.
func startDetachedThread(_ body: @escaping () -> Void) {
    final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
    let box = Unmanaged.passRetained(Body(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        Unmanaged<Body>.fromOpaque(arg!).takeRetainedValue().run()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)") // only without memory or thread quota
    pthread_detach(tid)
}

extension RingBusSystem {
    /// Runs `body` on a new thread pinned to `cpu` (see ``pinCurrentThread(toCPU:)``) and waits for it:
    /// for measuring loops that need a CPU of their own, not a thread of Swift's cooperative pool.
    /// Blocks the calling thread.
    public static func onPinnedThread<T: Sendable>(_ cpu: Int, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let result = LockedState<Result<T, any Error>?>(nil) // seen by ThreadSanitizer, unlike Mutex
        let done = DispatchSemaphore(value: 0)
        startDetachedThread {
            pinCurrentThread(toCPU: cpu)
            let r = Result { try body() }
            result.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}
