// OwnerTrust.swift: whose bus a process joins. Bus names live in /dev/shm, which every user may write:
// another user can create `ringbus.NAME` first (mode 666), and a process that then opens NAME would
// publish its events into that user's bus and read events that user wrote (found by an outside attack,
// issue 13). A read-write attach therefore checks who owns the segment's file (fstat on the descriptor
// it mapped, not the name: no race with a rename) before the segment is used.

#if canImport(Glibc)
import Glibc
#endif

/// Whose shared-memory buses this process attaches read-write (Docs/GUARANTEES.md, "The name is not
/// yours until you created it").
///
/// ```swift
/// var options = SharedMemoryBusOptions()
/// options.ownerTrust = .alsoUsers([1001])          // a bus that user 1001 creates with mode 666
/// let bus = try SharedMemoryEventBus(name: "orders", options: options)
/// ```
public enum OwnerTrust: Sendable, Hashable {
    /// Buses whose file belongs to this process's effective user or to root (the default).
    case selfAndRoot
    /// Those, and buses of these users (uids).
    case alsoUsers(Set<UInt32>)
    /// Any owner: whoever holds the name is trusted (the behaviour before this check).
    case anyOwner

    /// Throws ``SegmentError/untrustedOwner(bus:uid:)`` when the file behind `fd` belongs to a user
    /// this trust does not cover.
    func check(fd: Int32, bus: String) throws(SegmentError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SegmentError.system(bus: bus, SystemCallError(call: "fstat", errno: errno)) }
        // A bus has one name (it is made under a temporary name and renamed). A second name is a hard
        // link: another user with write access to some bus of yours or root's could link it under a
        // name you will use, and read what you publish there (found by an outside attack).
        if st.st_nlink != 1 { throw SegmentError.linked(bus: bus, names: Int(st.st_nlink)) }
        let owner = UInt32(st.st_uid)
        if owner == UInt32(geteuid()) || owner == 0 { return }
        switch self {
        case .anyOwner: return // (a hard link is refused whatever the trust, above)
        case .alsoUsers(let uids) where uids.contains(owner): return
        default: throw SegmentError.untrustedOwner(bus: bus, uid: owner)
        }
    }
}
