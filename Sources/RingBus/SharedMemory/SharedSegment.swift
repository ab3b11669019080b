// SharedSegment.swift: the owner of one mapped bus segment (create / attach / remove).
//
// Owns the process-local rbus_bus handle and unmaps it in deinit, after every StreamWriter and
// StreamReader holding a reference is gone. Never computes an offset into the segment: C does.

internal import CRingBus
import Glibc

/// Creation parameters of a bus segment. Defaults suit a first try.
public struct SegmentParameters: Sendable, Hashable {
    /// Producer streams (one single-producer ring each), 1…64.
    public var streams: Int = 1
    /// Consumer slots, 1…256.
    public var consumerSlots: Int = 16
    /// Ring bytes per stream: a power of two, 4 KiB…4 GiB.
    public var capacity: Int = 1 << 20
    /// Largest payload of one event, 64 bytes…capacity / 8. Unless set, 64 KiB or capacity / 8,
    /// whichever is smaller (so a small ring is valid as it is, as `ringbus create` does).
    public var maxEventSize: Int {
        get { chosenMaxEventSize ?? min(64 << 10, capacity / 8) }
        set { chosenMaxEventSize = newValue }
    }
    private var chosenMaxEventSize: Int?
    /// File mode of the segment (owner-only by default).
    public var mode: UInt32 = 0o600
    /// How long a dead durable gating consumer keeps its place before it is evicted (rule G4).
    public var evictionGrace: Duration = .seconds(10)

    /// Defaults that suit a first try.
    public init() {}

    /// Equal when every parameter is (the largest event size as it takes effect, set or not).
    public static func == (a: SegmentParameters, b: SegmentParameters) -> Bool {
        a.streams == b.streams && a.consumerSlots == b.consumerSlots && a.capacity == b.capacity
            && a.maxEventSize == b.maxEventSize && a.mode == b.mode && a.evictionGrace == b.evictionGrace
    }

    public func hash(into h: inout Hasher) {
        h.combine(streams)
        h.combine(consumerSlots)
        h.combine(capacity)
        h.combine(maxEventSize)
        h.combine(mode)
        h.combine(evictionGrace)
    }

    var c: rbus_create_params {
        var p = rbus_create_params()
        p.streams = UInt32(clamping: streams)
        p.consumers = UInt32(clamping: consumerSlots)
        p.capacity = UInt64(clamping: capacity)
        p.max_event_size = UInt32(clamping: maxEventSize)
        p.mode = mode
        let (s, a) = evictionGrace.components
        p.eviction_grace_ns = UInt64(clamping: s) &* 1_000_000_000 &+ UInt64(clamping: a / 1_000_000_000)
        return p
    }

    /// Bytes the segment of these parameters occupies in /dev/shm.
    public func segmentSize() throws(SegmentError) -> UInt64 {
        var p = c
        var why = RBUS_OK
        let size = rbus_segment_size_for(&p, &why)
        guard size != 0 else { throw .invalidParameter(Self.explain(self)) }
        return size
    }

    /// Producer streams a bus may have (the C layout's `RBUS_MAX_STREAMS`).
    public static let streamsRange = 1...Int(RBUS_MAX_STREAMS)
    /// Consumer slots a bus may have (`RBUS_MAX_CONSUMERS`).
    public static let consumerSlotsRange = 1...Int(RBUS_MAX_CONSUMERS)
    /// Ring bytes per stream: a power of two in this range (`RBUS_MIN_CAPACITY`, `RBUS_MAX_CAPACITY`).
    public static let capacityRange = Int(RBUS_MIN_CAPACITY)...Int(RBUS_MAX_CAPACITY)
    /// The smallest maximum event size (`RBUS_MIN_EVENT_SIZE`); the largest is capacity / 8.
    public static let minimumMaxEventSize = Int(RBUS_MIN_EVENT_SIZE)

    /// True when `capacity` is a power of two in ``capacityRange``.
    public static func isValidCapacity(_ capacity: Int) -> Bool {
        capacityRange.contains(capacity) && capacity & (capacity - 1) == 0
    }

    static func explain(_ p: SegmentParameters) -> String {
        if !streamsRange.contains(p.streams) { return "streams must be \(streamsRange), got \(p.streams)" }
        if !consumerSlotsRange.contains(p.consumerSlots) {
            return "consumer slots must be \(consumerSlotsRange), got \(p.consumerSlots)"
        }
        if !isValidCapacity(p.capacity) {
            return "capacity must be a power of two from 4 KiB to 4 GiB, got \(p.capacity)"
        }
        if p.maxEventSize < minimumMaxEventSize || p.maxEventSize > p.capacity / 8 {
            return "max event size must be \(minimumMaxEventSize)...\(p.capacity / 8) (capacity / 8), got \(p.maxEventSize)"
        }
        return "mode must be an octal file mode the owner can read and write (600 to 777), got \(String(p.mode, radix: 8))"
    }
}

/// One mapped bus segment. Create or attach it, then open ``StreamWriter``s and ``StreamReader``s on it.
///
/// `@unchecked Sendable`: after attach the handle's fields are immutable trusted copies, every access to
/// shared words goes through C atomics, and the mapping is unmapped only in `deinit`, when no writer or
/// reader (they hold strong references) can still use it.
public final class SharedSegment: @unchecked Sendable {
    /// The mapping; its owner (``OwnedHandle``) unmaps it exactly once, when the last writer, reader
    /// and snapshot holding this segment are gone.
    private let handle: OwnedHandle<rbus_bus>
    /// `handle.pointer`, kept beside it for the hot path.
    let bus: UnsafeMutablePointer<rbus_bus>
    /// The bus name (without the `ringbus.` prefix).
    public let name: String

    private init(name: String, handle: OwnedHandle<rbus_bus>) throws(SegmentError) {
        self.name = name
        self.handle = handle
        bus = handle.pointer
        try FaultInjection.fail(at: .segmentAttached, bus: name)
    }

    /// Creates the bus `/ringbus.<name>` and attaches it. The corresponding C function is `rbus_bus_create`.
    /// - Throws: ``SegmentError/invalidName(_:)``, ``SegmentError/invalidParameter(_:)``,
    ///   ``SegmentError/alreadyExists(bus:)``, ``SegmentError/noSpace(bus:bytes:)`` (with the bytes the
    ///   segment needs), ``SegmentError/permissionDenied(bus:_:)`` or ``SegmentError/system(bus:_:)``
    ///   (Docs/API.md, "Errors, per operation").
    public static func create(name: String, parameters: SegmentParameters = .init()) throws(SegmentError) -> SharedSegment {
        try refuseNUL(name)
        let handle = try OwnedHandle<rbus_bus>(acquire: { (bus) throws(SegmentError) in
            var p = parameters.c
            var err = rbus_error()
            let s = rbus_bus_create(name, &p, bus, &err)
            guard s == RBUS_OK else {
                if s == RBUS_E_PARAM { throw .invalidParameter(SegmentParameters.explain(parameters)) }
                if s == RBUS_E_NO_SPACE { throw .noSpace(bus: name, bytes: (try? parameters.segmentSize()) ?? 0) }
                throw SegmentError.from(s.rawValue, err, bus: name)
            }
        }, release: { rbus_bus_detach($0) })
        return try SharedSegment(name: name, handle: handle)
    }

    /// Attaches an existing bus, validating its header (magic, version, layout hash, sizes, owner).
    /// The corresponding C function is `rbus_bus_attach`.
    /// - Parameter readOnly: map read-only (observers that never join the bus).
    /// - Throws: ``SegmentError/invalidName(_:)``, ``SegmentError/notFound(bus:)``,
    ///   ``SegmentError/notARegularFile(bus:)``, ``SegmentError/permissionDenied(bus:_:)``,
    ///   ``SegmentError/incompatibleLayout(bus:reason:)``, ``SegmentError/corrupt(bus:reason:)``,
    ///   ``SegmentError/busRemoved(bus:)`` or ``SegmentError/system(bus:_:)``.
    /// - Parameter trust: whose segments a read-write attach accepts (``OwnerTrust``; a read-only attach
    ///   accepts any owner): ``SegmentError/untrustedOwner(bus:uid:)`` otherwise.
    public static func attach(name: String, readOnly: Bool = false, trust: OwnerTrust = .selfAndRoot) throws(SegmentError)
        -> SharedSegment
    {
        try refuseNUL(name)
        let handle = try OwnedHandle<rbus_bus>(acquire: { (bus) throws(SegmentError) in
            var err = rbus_error()
            let s = rbus_bus_attach(name, readOnly ? 0 : 1, bus, &err)
            guard s == RBUS_OK else { throw SegmentError.from(s.rawValue, err, bus: name) }
        }, release: { rbus_bus_detach($0) })
        if !readOnly { try trust.check(fd: handle.pointer.pointee.fd, bus: name) } // on a throw, the handle detaches
        return try SharedSegment(name: name, handle: handle)
    }

    /// Attaches the bus, or creates it with `parameters` when it does not exist.
    public static func open(name: String, parameters: SegmentParameters = .init(), trust: OwnerTrust = .selfAndRoot)
        throws(SegmentError) -> SharedSegment
    {
        for _ in 0..<3 {
            do { return try attach(name: name, trust: trust) } catch .notFound {}
            do { return try create(name: name, parameters: parameters) } catch .alreadyExists {}
        }
        return try attach(name: name, trust: trust)
    }

    /// Marks the bus removed (attached processes see ``SegmentError/busRemoved(bus:)``) and unlinks it.
    /// The corresponding C function is `rbus_bus_remove`.
    /// - Throws: ``SegmentError/invalidName(_:)``, ``SegmentError/notFound(bus:)``,
    ///   ``SegmentError/notARegularFile(bus:)``, ``SegmentError/permissionDenied(bus:_:)`` or
    ///   ``SegmentError/system(bus:_:)``.
    public static func remove(name: String) throws(SegmentError) {
        try refuseNUL(name)
        // A bus has one name; removing a second name (a hard link someone planted) would mark the
        // linked bus removed for everyone using it under its own name.
        var st = stat()
        if lstat("/dev/shm/ringbus." + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink > 1 {
            throw .linked(bus: name, names: Int(st.st_nlink))
        }
        var err = rbus_error()
        let s = rbus_bus_remove(name, &err)
        guard s == RBUS_OK else { throw SegmentError.from(s.rawValue, err, bus: name) }
    }

    /// The number of producer streams.
    public var streams: Int { Int(bus.pointee.streams) }
    /// The number of consumer slots.
    public var consumerSlots: Int { Int(bus.pointee.consumers) }
    /// Ring bytes per stream.
    public var capacity: Int { Int(bus.pointee.capacity) }
    /// The largest payload one event may carry.
    public var maxEventSize: Int { Int(bus.pointee.max_event_size) }
    /// Random per creation: with (stream, sequence) it makes an event's identity.
    public var incarnation: UInt64 { bus.pointee.incarnation }
    /// Bytes of the mapping.
    public var size: UInt64 { bus.pointee.size }
    /// The uid that created the bus (validated at attach to own the segment file).
    public var ownerUID: UInt32 { bus.pointee.creator_uid }
    /// True once someone removed the bus.
    public var isRemoved: Bool { rbus_bus_is_removed(bus) != 0 }

    /// Events committed on `stream` so far. The corresponding C function is `rbus_stream_published`.
    public func published(stream: Int) -> UInt64 { rbus_stream_published(bus, UInt32(stream)) }
    /// `stream`'s tail: the position just past its last committed record. The corresponding C function
    /// is `rbus_stream_tail`.
    public func tail(stream: Int) -> UInt64 { rbus_stream_tail(bus, UInt32(stream)) }
    /// How many durable consumers producers of `stream` evicted (rule G4). The corresponding C function
    /// is `rbus_stream_evictions`.
    public func evictions(stream: Int) -> UInt64 { rbus_stream_evictions(bus, UInt32(stream)) }
    /// True when consumer slot `slot` is held by a live gating consumer (its lock is held).
    public func isLiveGatingConsumer(slot: Int) -> Bool {
        rbus_slot_mode(bus, UInt32(slot)) == UInt32(RBUS_MODE_GATING) && rbus_slot_alive(bus, UInt32(slot)) == 1
    }
    /// True while a process holds consumer slot `slot`. The corresponding C function is `rbus_slot_alive`.
    public func isConsumerAlive(slot: Int) -> Bool { rbus_slot_alive(bus, UInt32(slot)) == 1 }
    /// Consumer slot `slot`'s committed cursor on `stream`. The corresponding C function is `rbus_slot_cursor`.
    public func cursor(slot: Int, stream: Int) -> UInt64 { rbus_slot_cursor(bus, UInt32(slot), UInt32(stream)) }

    /// The bus clock now, in the ticks records carry (raw TSC where invariant, else realtime ns).
    public func clockTicks() -> UInt64 { rbus_clock_ticks(bus.pointee.clock_kind) }

    /// Wall-clock nanoseconds since 1970 of a record timestamp of this bus.
    public func wallClockNanoseconds(ticks: UInt64) -> UInt64 { rbus_bus_timestamp_ns(bus, ticks) }
}

extension SharedSegment {
    /// Names of the buses in /dev/shm (their segments' names without the `ringbus.` prefix), sorted.
    /// Half-built segments never appear: they are built under hidden `.ringbus-tmp.…` names.
    public static func list() -> [String] {
        shmEntries().compactMap { file in
            guard file.hasPrefix("ringbus.") else { return nil }
            let name = String(file.dropFirst("ringbus.".count))
            return rbus_name_validate(name) == RBUS_OK ? name : nil
        }.sorted()
    }

    /// The entry names of /dev/shm (raw bytes decoded; names that are not UTF-8 are never ours).
    private static func shmEntries() -> [String] {
        guard let dir = opendir("/dev/shm") else { return [] }
        defer { closedir(dir) }
        var files: [String] = []
        while let entry = readdir(dir) {
            let raw = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if let file = String(validating: raw, as: UTF8.self) { files.append(file) }
        }
        return files
    }

    /// Removes `/dev/shm/ringbus.<name>` when it cannot be attached (corrupt, another layout): only a
    /// regular file the caller owns. For a bus that attaches, use ``remove(name:)``.
    /// The corresponding C function is `rbus_bus_remove_file`.
    public static func removeUnusable(name: String) throws(SegmentError) {
        try refuseNUL(name)
        var err = rbus_error()
        let s = rbus_bus_remove_file(name, &err)
        if s == RBUS_OK { return }
        throw SegmentError.from(s.rawValue, err, bus: name)
    }

    /// The uid that owns the file `/dev/shm/ringbus.<name>` (not following a link), or nil when there
    /// is none: to tell whether `removeUnusable(name:)` would be allowed before suggesting it.
    public static func fileOwner(name: String) -> UInt32? {
        guard rbus_name_validate(name) == RBUS_OK else { return nil }
        var st = stat()
        guard lstat("/dev/shm/ringbus.\(name)", &st) == 0 else { return nil }
        return st.st_uid
    }

    /// A creation temporary found by ``reapAbandonedTemporaries(grace:anyOwner:dryRun:)``.
    public struct Temporary: Sendable, Hashable {
        /// What was found, and so what was done.
        public enum State: Sendable, Hashable {
            /// Its creator died (its lock is free) and it is older than the grace period: removed (or,
            /// in a dry run, would be).
            case abandoned
            /// A create in progress holds it: kept.
            case live
            /// Changed within the grace period: kept.
            case young
            /// Not a regular file (a directory, a link): never touched.
            case notRegularFile
            /// Owned by another user: kept.
            case otherOwner
            /// Abandoned, but this user may not remove it (the sticky /dev/shm: root, its owner or the
            /// directory's owner may): kept.
            case notPermitted
            /// Looking at it failed (the reason): kept.
            case failed(String)
        }
        /// The entry name in /dev/shm (`.ringbus-tmp.<bus>.<pid>.<random>`).
        public var file: String
        public var state: State
    }

    /// Half-built segments of creators that died: entries `.ringbus-tmp.*` in /dev/shm that are regular
    /// files of this user (any user with `anyOwner`), unchanged for `grace`, whose creator no longer
    /// holds its lock. Removes those unless `dryRun`; returns every temporary seen with what was found.
    /// The corresponding C function is `rbus_temp_reap`.
    public static func reapAbandonedTemporaries(grace: Duration, anyOwner: Bool = false, dryRun: Bool) -> [Temporary] {
        var found: [Temporary] = []
        for file in shmEntries().sorted() where file.hasPrefix(".ringbus-tmp.") {
            var state = RBUS_TEMP_GONE
            var err = rbus_error()
            let s = rbus_temp_reap(file, UInt64(clamping: grace.nanoseconds), anyOwner ? 1 : 0, dryRun ? 1 : 0, &state, &err)
            if s == RBUS_E_NAME { continue } // not one of our temporaries' names: never touched
            guard s == RBUS_OK else {
                let call = err.call.map { String(cString: $0) } ?? "cleanup"
                found.append(Temporary(file: file, state: .failed("\(SystemCallError(call: call, errno: err.sys_errno))")))
                continue
            }
            let mapped: Temporary.State? = switch state {
            case RBUS_TEMP_ABANDONED: .abandoned
            case RBUS_TEMP_LIVE: .live
            case RBUS_TEMP_YOUNG: .young
            case RBUS_TEMP_NOT_FILE: .notRegularFile
            case RBUS_TEMP_OTHER_OWNER: .otherOwner
            case RBUS_TEMP_NOT_PERMITTED: .notPermitted
            default: nil
            }
            if let mapped { found.append(Temporary(file: file, state: mapped)) }
        }
        return found
    }

    /// Frees the place of durable consumer `name` when no process holds it (a forgotten durable name
    /// would otherwise hold gating producers until evicted). The corresponding C function is
    /// `rbus_consumer_forget`.
    /// - Throws: ``SegmentError/durableNameInUse(bus:name:)`` while a live process holds it,
    ///   ``SegmentError/invalidParameter(_:)`` when no consumer has that name.
    public func forgetConsumer(named durableName: String) throws(SegmentError) {
        if durableName.utf8.contains(0) { throw .invalidParameter("durable name '\(durableName)' holds a NUL byte") }
        var err = rbus_error()
        let s = rbus_consumer_forget(bus, durableName, &err)
        if s == RBUS_OK { return }
        if s == RBUS_E_NOT_FOUND { throw .invalidParameter("bus '\(name)' has no durable consumer named '\(durableName)'") }
        throw SegmentError.from(s.rawValue, err, bus: name, what: "consumer slot", name: durableName)
    }

    /// Frees anonymous consumer slots whose owner died (a dead anonymous gating consumer holds
    /// producers until one evicts it); with `dryRun` only lists them. Returns the slot indexes.
    public func reapDeadAnonymousConsumers(dryRun: Bool) throws(SegmentError) -> [Int] {
        var slots = [UInt32](repeating: 0, count: consumerSlots)
        let n = slots.withUnsafeMutableBufferPointer {
            rbus_reap_dead_anonymous(bus, $0.baseAddress, UInt32($0.count), dryRun ? 1 : 0)
        }
        guard n >= 0 else {
            throw .system(bus: name, SystemCallError(call: "reap (registry lock)", errno: -n))
        }
        return slots.prefix(Int(n)).map { Int($0) }
    }
}

/// C sees a name only up to its first NUL: "a\0b" would be the bus "a" (found by an outside attack).
func refuseNUL(_ name: String) throws(SegmentError) {
    if name.utf8.contains(0) { throw .invalidName(name) }
}
