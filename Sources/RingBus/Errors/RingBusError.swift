// RingBusError.swift: the typed errors of the shared-memory layer.
//
// Every error names what failed (the bus, the system call) and carries the errno when the kernel said
// no, so a message reads well without a debugger. Expected outcomes of the hot path (empty, full,
// lapped) are not errors and never appear here.

internal import CRingBus
import Glibc

/// A failed system call: its name and the `errno` it returned.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The system call that failed, e.g. `"shm_open"`.
    public var call: String
    /// The raw `errno` value.
    public var errno: Int32

    /// The failure of `call` with `errno`.
    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Errors of creating, attaching, joining and using a shared-memory bus segment.
public enum SegmentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bus name is not 1–64 characters of `A-Z a-z 0-9 _ . -` (or is `.` / `..`).
    case invalidName(String)
    /// A creation parameter is out of range; the text says which.
    case invalidParameter(String)
    /// `create`: a bus of that name exists.
    case alreadyExists(bus: String)
    /// `attach`: no bus of that name.
    case notFound(bus: String)
    /// The segment's file mode refuses this user.
    case permissionDenied(bus: String, SystemCallError)
    /// `/dev/shm` has no room for the segment.
    case noSpace(bus: String, bytes: UInt64)
    /// The segment is of another layout version or build.
    case incompatibleLayout(bus: String, reason: String)
    /// The segment's header or a record failed validation.
    case corrupt(bus: String, reason: String)
    /// The bus was removed while attached.
    case busRemoved(bus: String)
    /// `/dev/shm/ringbus.<bus>` is not a regular file (a directory, a link, a FIFO, a device): not a bus.
    case notARegularFile(bus: String)
    /// Every stream (producers) or consumer slot is taken.
    case noFreeSlot(bus: String, what: String)
    /// A live participant holds that durable name.
    case durableNameInUse(bus: String, name: String)
    /// The registry lock stayed held past its deadline.
    case busy(bus: String)
    /// The handle was inherited across `fork()`.
    case forked(bus: String)
    /// The event is larger than the bus allows.
    case payloadTooLarge(size: Int, limit: Int)
    /// The topic is longer than 255 bytes.
    case topicTooLong(length: Int)
    /// A system call failed.
    case system(bus: String, SystemCallError)
    /// `attach` (read-write): the segment's file belongs to a user this process does not trust (not
    /// itself, not root, not in ``OwnerTrust``): someone else may have created the name first.
    case untrustedOwner(bus: String, uid: UInt32)
    /// The segment's file has more than one name in `/dev/shm` (a hard link: a bus is made by a rename
    /// and has one name): someone may have linked another user's bus under this name.
    case linked(bus: String, names: Int)

    public var description: String {
        switch self {
        case .invalidName(let n): "invalid bus name '\(n)': use 1-64 of A-Z a-z 0-9 _ . - (not . or ..)"
        case .invalidParameter(let why): "invalid parameter: \(why)"
        case .alreadyExists(let bus): "bus '\(bus)' already exists"
        case .notFound(let bus): "bus '\(bus)' does not exist"
        case .permissionDenied(let bus, let e): "permission denied for bus '\(bus)': \(e)"
        case .noSpace(let bus, let bytes):
            bytes > 0 ? "no space in /dev/shm for bus '\(bus)' (it needs \(bytes) bytes)" : "no space in /dev/shm for bus '\(bus)'"
        case .incompatibleLayout(let bus, let why): "bus '\(bus)' is incompatible: \(why)"
        case .corrupt(let bus, let why): "bus '\(bus)' is corrupt: \(why)"
        case .busRemoved(let bus): "bus '\(bus)' was removed"
        case .notARegularFile(let bus): "/dev/shm/ringbus.\(bus) is not a regular file (a directory, link, FIFO or device): not a bus"
        case .noFreeSlot(let bus, let what): "bus '\(bus)' has no free \(what)"
        case .durableNameInUse(let bus, let name): "durable name '\(name)' is in use on bus '\(bus)'"
        case .busy(let bus): "bus '\(bus)' registry is busy (another participant holds its lock)"
        case .forked(let bus): "bus '\(bus)' handle was inherited across fork(); attach again"
        case .payloadTooLarge(let size, let limit): "event of \(size) bytes exceeds the maximum of \(limit)"
        case .topicTooLong(let n): "topic of \(n) bytes exceeds 255"
        case .system(let bus, let e): "bus '\(bus)': \(e)"
        case .untrustedOwner(let bus, let uid):
            "bus '\(bus)' belongs to uid \(uid), not to this user or root: another user may have created the name first "
                + "(trust that owner with SharedMemoryBusOptions.ownerTrust, or --trust-owner \(uid) on pub and tail)"
        case .linked(let bus, let names):
            "/dev/shm/ringbus.\(bus) has \(names) names (a hard link, which RingBus never makes): someone may have "
                + "linked another bus under this name to read what you publish; refused (remove the extra name with rm(1))"
        }
    }

    /// Maps a C status (and its error details) to a typed error.
    static func from(_ status: Int32, _ err: rbus_error, bus: String, what: String = "consumer slot",
                     name: String? = nil) -> SegmentError {
        let sys = SystemCallError(call: err.call.map { String(cString: $0) } ?? "?", errno: err.sys_errno)
        let text = String(cString: rbus_status_describe(status))
        switch rbus_status(rawValue: status) {
        case RBUS_E_NAME: return .invalidName(name ?? bus)
        case RBUS_E_PARAM: return .invalidParameter(text)
        case RBUS_E_EXISTS: return .alreadyExists(bus: bus)
        case RBUS_E_NOT_FOUND: return .notFound(bus: bus)
        case RBUS_E_PERMISSION: return .permissionDenied(bus: bus, sys)
        case RBUS_E_NO_SPACE: return .noSpace(bus: bus, bytes: 0)
        case RBUS_E_MAGIC, RBUS_E_VERSION, RBUS_E_LAYOUT_HASH: return .incompatibleLayout(bus: bus, reason: text)
        case RBUS_E_TOO_SMALL, RBUS_E_GEOMETRY, RBUS_E_SIZE, RBUS_E_OWNER, RBUS_E_CORRUPT:
            return .corrupt(bus: bus, reason: text)
        case RBUS_E_REMOVED: return .busRemoved(bus: bus)
        case RBUS_E_NOT_FILE: return .notARegularFile(bus: bus)
        case RBUS_E_NO_SLOT: return .noFreeSlot(bus: bus, what: what)
        case RBUS_E_NAME_IN_USE: return .durableNameInUse(bus: bus, name: name ?? "")
        case RBUS_E_BUSY: return .busy(bus: bus)
        case RBUS_E_FORKED: return .forked(bus: bus)
        default: return .system(bus: bus, sys)
        }
    }
}
