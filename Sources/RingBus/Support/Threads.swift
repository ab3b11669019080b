// Threads.swift: plain threads of our own (FoundationEssentials has no Thread): the bus waiter's.

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
