// LayoutDocTests.swift: Docs/LAYOUT.md is the normative twin of rbus_layout.h. This test reads the
// field tables of the document and checks every offset against the C structs, so the two cannot
// drift apart silently.

import CRingBus
import Foundation
import Testing

@Suite("layout document")
struct LayoutDocTests {
    /// `| offset | size | `field` | …` rows of the section whose heading starts with `heading`.
    static func rows(_ doc: String, section heading: String) -> [(offset: Int, size: Int, field: String)] {
        guard let start = doc.range(of: "\n" + heading) else { return [] }
        let rest = doc[start.upperBound...]
        let body = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
        return body.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, let offset = Int(cells[0]),
                  cells[2].hasPrefix("`") else { return nil }
            return (offset, Int(cells[1]) ?? -1, String(cells[2].dropFirst().prefix { $0 != "`" && $0 != "[" }))
        }
    }

    static let doc: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Docs/LAYOUT.md")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    @Test("every bus-header field in LAYOUT.md is at the offset rbus_layout.h gives it")
    func busHeader() {
        let offsets: [String: Int?] = [
            "magic": MemoryLayout<rbus_bus_hdr>.offset(of: \.magic),
            "layout_version": MemoryLayout<rbus_bus_hdr>.offset(of: \.layout_version),
            "layout_hash": MemoryLayout<rbus_bus_hdr>.offset(of: \.layout_hash),
            "header_size": MemoryLayout<rbus_bus_hdr>.offset(of: \.header_size),
            "stream_count": MemoryLayout<rbus_bus_hdr>.offset(of: \.stream_count),
            "consumer_count": MemoryLayout<rbus_bus_hdr>.offset(of: \.consumer_count),
            "slot_stride": MemoryLayout<rbus_bus_hdr>.offset(of: \.slot_stride),
            "capacity": MemoryLayout<rbus_bus_hdr>.offset(of: \.capacity),
            "max_event_size": MemoryLayout<rbus_bus_hdr>.offset(of: \.max_event_size),
            "clock_kind": MemoryLayout<rbus_bus_hdr>.offset(of: \.clock_kind),
            "stream_stride": MemoryLayout<rbus_bus_hdr>.offset(of: \.stream_stride),
            "consumers_offset": MemoryLayout<rbus_bus_hdr>.offset(of: \.consumers_offset),
            "streams_offset": MemoryLayout<rbus_bus_hdr>.offset(of: \.streams_offset),
            "total_size": MemoryLayout<rbus_bus_hdr>.offset(of: \.total_size),
            "incarnation": MemoryLayout<rbus_bus_hdr>.offset(of: \.incarnation),
            "create_time_ns": MemoryLayout<rbus_bus_hdr>.offset(of: \.create_time_ns),
            "tsc_base": MemoryLayout<rbus_bus_hdr>.offset(of: \.tsc_base),
            "realtime_base_ns": MemoryLayout<rbus_bus_hdr>.offset(of: \.realtime_base_ns),
            "tsc_mult": MemoryLayout<rbus_bus_hdr>.offset(of: \.tsc_mult),
            "eviction_grace_ns": MemoryLayout<rbus_bus_hdr>.offset(of: \.eviction_grace_ns),
            "creator_uid": MemoryLayout<rbus_bus_hdr>.offset(of: \.creator_uid),
            "creator_pid": MemoryLayout<rbus_bus_hdr>.offset(of: \.creator_pid),
            "removed": MemoryLayout<rbus_bus_hdr>.offset(of: \.removed),
            "sleepers": MemoryLayout<rbus_bus_hdr>.offset(of: \.sleepers),
            "doorbell": MemoryLayout<rbus_bus_hdr>.offset(of: \.doorbell),
        ]
        check(Self.rows(Self.doc, section: "## 2. Bus header"), offsets)
    }

    @Test("every consumer-slot field in LAYOUT.md is at the offset rbus_layout.h gives it")
    func consumerSlot() {
        let offsets: [String: Int?] = [
            "claim": MemoryLayout<rbus_slot_meta>.offset(of: \.claim),
            "mode": MemoryLayout<rbus_slot_meta>.offset(of: \.mode),
            "spinning": MemoryLayout<rbus_slot_meta>.offset(of: \.spinning),
            "start_time_ns": MemoryLayout<rbus_slot_meta>.offset(of: \.start_time_ns),
            "heartbeat_ns": MemoryLayout<rbus_slot_meta>.offset(of: \.heartbeat_ns),
            "evictions": MemoryLayout<rbus_slot_meta>.offset(of: \.evictions),
            "name": MemoryLayout<rbus_slot_meta>.offset(of: \.name),
            "demote_lag": MemoryLayout<rbus_slot_meta>.offset(of: \.demote_lag),
            "cursor": Int(RBUS_SLOT_META_SIZE),
        ]
        check(Self.rows(Self.doc, section: "## 3. Consumer slot"), offsets)
    }

    @Test("every stream-header field in LAYOUT.md is at the offset rbus_layout.h gives it")
    func streamHeader() {
        let offsets: [String: Int?] = [
            "claim": MemoryLayout<rbus_stream_hdr>.offset(of: \.claim),
            "start_time_ns": MemoryLayout<rbus_stream_hdr>.offset(of: \.start_time_ns),
            "name": MemoryLayout<rbus_stream_hdr>.offset(of: \.name),
            "tail": MemoryLayout<rbus_stream_hdr>.offset(of: \.tail),
            "intent": MemoryLayout<rbus_stream_hdr>.offset(of: \.intent),
            "latest": MemoryLayout<rbus_stream_hdr>.offset(of: \.latest),
            "gate_limit": MemoryLayout<rbus_stream_hdr>.offset(of: \.gate_limit),
            "published": MemoryLayout<rbus_stream_hdr>.offset(of: \.published),
            "full_events": MemoryLayout<rbus_stream_hdr>.offset(of: \.full_events),
            "rescans": MemoryLayout<rbus_stream_hdr>.offset(of: \.rescans),
            "wakes": MemoryLayout<rbus_stream_hdr>.offset(of: \.wakes),
            "evictions": MemoryLayout<rbus_stream_hdr>.offset(of: \.evictions),
            "spinning": MemoryLayout<rbus_stream_hdr>.offset(of: \.spinning),
            "space_waiter": MemoryLayout<rbus_stream_hdr>.offset(of: \.space_waiter),
            "space_doorbell": MemoryLayout<rbus_stream_hdr>.offset(of: \.space_doorbell),
            "space_wanted": MemoryLayout<rbus_stream_hdr>.offset(of: \.space_wanted),
        ]
        check(Self.rows(Self.doc, section: "## 4. Stream header"), offsets)
    }

    func check(_ rows: [(offset: Int, size: Int, field: String)], _ offsets: [String: Int?]) {
        #expect(!rows.isEmpty, "no field table found in Docs/LAYOUT.md")
        var seen = Set<String>()
        for row in rows {
            guard let expected = offsets[row.field] else {
                Issue.record("LAYOUT.md names a field the test does not know: \(row.field)")
                continue
            }
            seen.insert(row.field)
            #expect(row.offset == expected, "LAYOUT.md puts \(row.field) at \(row.offset), rbus_layout.h at \(String(describing: expected))")
        }
        #expect(seen == Set(offsets.keys), "fields missing from LAYOUT.md: \(Set(offsets.keys).subtracting(seen).sorted())")
    }
}
