/*
 * rbus_layout.h: the RingBus shared-memory layout, version 1.
 *
 * THE one source of truth for every byte of a bus segment. C owns the layout; Swift never computes an
 * offset. Docs/LAYOUT.md is the normative prose twin of this file: change both together (the layout
 * hash below changes with any offset, and attach refuses a segment whose hash differs).
 *
 * Holds no algorithm code: offsets, sizes, field structs, constants and _Static_asserts only.
 *
 *  /dev/shm/ringbus.<bus>                   offset
 *  +---------------------------------+      0
 *  | bus header (1 KiB)              |      immutable block | flags | sleepers | doorbell | counters
 *  +---------------------------------+      RBUS_HEADER_SIZE = consumers_offset
 *  | consumer slot [0..C)            |      slot_stride bytes each (computed at create, stored)
 *  +---------------------------------+      streams_offset
 *  | stream header [0] (1 KiB)       |      claim | tail | intent | committed | producer-private | space
 *  | ring bytes [0], capacity = 2^k  |
 *  +---------------------------------+      streams_offset + stream_stride * i
 *  | ... streams 1..P-1              |
 *  +---------------------------------+      total_size
 *
 * Line rule: every 64-byte line has exactly one writer role, and each hot word (tail, intent, doorbell,
 * sleepers, the producer-private block) sits alone in its own 128-byte block, because the adjacent-line
 * prefetcher pulls lines in pairs.
 *
 * Record (8-byte aligned, never wraps; RBUS_REC_PADDING fills the end of the ring):
 *   0               4               8
 *  +---------------+---------------+
 *  | length   u32  | type     u32  |   length: header+topic+payload bytes (padding: bytes to ring end)
 *  +---------------+---------------+
 *  |          sequence  u64        |   per stream, starts at 0, +1 per event, never reused
 *  +-------------------------------+
 *  |          timestamp u64        |   raw clock ticks, see rbus_clock.h (kind in the bus header)
 *  +---------------+-------+-------+
 *  | topic hash u32| tlen16|flags16|   topic hash = FNV-1a 32 of the topic bytes
 *  +---------------+-------+-------+
 *  |          key       u64        |   idempotency key (valid iff flags & RBUS_REC_FLAG_KEY)
 *  +-------------------------------+
 *  | topic bytes (tlen) | payload (length - 40 - tlen) | pad to 8
 *
 * Lock bytes (rule O): stream i is owned by whoever holds an OFD write lock on byte
 * RBUS_LOCK_BASE + i of the segment's file; consumer slot j on RBUS_LOCK_BASE + RBUS_MAX_STREAMS + j;
 * the registry (name lookups and slot/stream assignment) on RBUS_LOCK_REGISTRY. These bytes lie far
 * past the end of the file, which POSIX locks allow.
 */
#ifndef RBUS_LAYOUT_H
#define RBUS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "RingBus needs lock-free 64-bit atomics");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "RingBus needs lock-free 32-bit atomics");

/* enums (not macros) import cleanly into Swift. */
enum {
    RBUS_CACHE_LINE = 64,
    RBUS_BLOCK = 2 * RBUS_CACHE_LINE, /* one hot word per 128 B block (adjacent-line prefetch) */
};

enum {
    RBUS_LAYOUT_VERSION = 1,
    RBUS_NAME_MAX = 64,          /* bus names and durable names: 1..64 bytes */
    RBUS_TOPIC_MAX = 255,        /* topic bytes per record */
    RBUS_MAX_STREAMS = 64,
    RBUS_MAX_CONSUMERS = 256,
    RBUS_SLEEPER_WORDS = RBUS_MAX_CONSUMERS / 64,
    RBUS_HEADER_SIZE = 1024,
    RBUS_STREAM_HEADER_SIZE = 1024,
    RBUS_SLOT_META_SIZE = 128,
    RBUS_SLOT_CURSOR_SIZE = 16,  /* {position u64, next_seq u64} per stream */
    RBUS_SLOT_COUNTERS_SIZE = 128,
    RBUS_REC_HEADER_SIZE = 40,
    RBUS_REC_ALIGN = 8,
};

/* "RINGBUS1" little-endian. */
#define RBUS_MAGIC UINT64_C(0x31535542474e4952)
#define RBUS_LOCK_BASE ((int64_t)1 << 40)
#define RBUS_LOCK_REGISTRY (RBUS_LOCK_BASE - 1)
/* Held by a creator on its temporary file (/dev/shm/.ringbus-tmp.<bus>.<pid>.<random>) from just after
 * creating it until it is renamed into place or removed: cleanup removes only unlocked temporaries. */
#define RBUS_LOCK_CREATOR (RBUS_LOCK_BASE - 2)
/* Ring and event size limits, as typed constants (Swift imports them; cast macros it does not). */
static const uint64_t RBUS_MIN_CAPACITY = 4096;
static const uint64_t RBUS_MAX_CAPACITY = (uint64_t)1 << 32;
static const uint32_t RBUS_MIN_EVENT_SIZE = 64;

/* Record types. */
enum { RBUS_REC_EVENT = 1, RBUS_REC_PADDING = 2 };
/* Record flags. */
enum { RBUS_REC_FLAG_KEY = 1, RBUS_REC_FLAG_ALL = 1 };

/* Clock kinds of the timestamps in records (bus header field clock_kind). */
enum { RBUS_CLOCK_TSC = 1, RBUS_CLOCK_REALTIME = 2 };

/* Claim-word states. A claim word is one u64 {state:8 | generation:24 | pid:32}, changed only by its
 * lock holder (rule O); readers treat it as display information and test liveness by the lock. */
enum {
    RBUS_STATE_FREE = 0,     /* never used, or released by a non-durable owner */
    RBUS_STATE_ACTIVE = 1,   /* owned (if the lock is free, the owner died) */
    RBUS_STATE_DETACHED = 2, /* a durable owner closed cleanly and keeps its place */
    RBUS_STATE_EVICTED = 3,  /* a dead durable gating consumer past its grace; no longer gates */
};

/* Consumer modes. */
enum { RBUS_MODE_LOSSY = 1, RBUS_MODE_GATING = 2 };

/* ---------------------------------------------------------------------------------------------------
 * Bus header. Blocks 0-1 are written once by the creator before the segment is renamed into place and is
 * read-only afterwards; every other block has the writer named beside it.
 */
struct rbus_bus_hdr {
    /* blocks 0-1: immutable after create (creator) */
    uint64_t magic;
    uint32_t layout_version;
    uint32_t layout_hash;
    uint32_t header_size;
    uint32_t stream_count;
    uint32_t consumer_count;
    uint32_t slot_stride;
    uint64_t capacity;
    uint32_t max_event_size;     /* largest payload of one event (the topic is bounded by RBUS_TOPIC_MAX); <= capacity / 8 */
    uint32_t clock_kind;
    uint64_t stream_stride;
    uint64_t consumers_offset;
    uint64_t streams_offset;
    uint64_t total_size;
    uint64_t incarnation;        /* random per create: identity = (incarnation, stream, sequence) */
    uint64_t create_time_ns;     /* CLOCK_REALTIME */
    uint64_t tsc_base;           /* clock calibration: realtime_ns = realtime_base + (tsc - tsc_base) * */
    uint64_t realtime_base_ns;   /*   tsc_mult >> 32                                                   */
    uint64_t tsc_mult;
    uint64_t eviction_grace_ns;  /* how long a dead durable gating consumer keeps its place */
    uint32_t creator_uid;
    uint32_t creator_pid;
    uint8_t reserved0[2 * RBUS_BLOCK - 136];
    /* block 2: flags (remover) */
    uint32_t removed;            /* set (release) before the segment is unlinked */
    uint8_t reserved1[RBUS_BLOCK - 4];
    /* block 3: sleepers mask, rule W (waiters set their bit, producers clear by exchange) */
    uint64_t sleepers[RBUS_SLEEPER_WORDS];
    uint8_t reserved2[RBUS_BLOCK - 8 * RBUS_SLEEPER_WORDS];
    /* block 4: doorbell futex word, rule W (producers increment) */
    uint32_t doorbell;
    uint8_t reserved3[RBUS_BLOCK - 4];
    /* blocks 5..7: reserved for growth */
    uint8_t reserved4[3 * RBUS_BLOCK];
};

enum {
    RBUS_HDR_MAGIC_OFFSET = 0,
    RBUS_HDR_REMOVED_OFFSET = 2 * RBUS_BLOCK,
    RBUS_HDR_SLEEPERS_OFFSET = 3 * RBUS_BLOCK,
    RBUS_HDR_DOORBELL_OFFSET = 4 * RBUS_BLOCK,
};
_Static_assert(sizeof(struct rbus_bus_hdr) == RBUS_HEADER_SIZE, "bus header size drift");
_Static_assert(offsetof(struct rbus_bus_hdr, creator_pid) == 132, "bus header block 0 drift");
_Static_assert(offsetof(struct rbus_bus_hdr, removed) == RBUS_HDR_REMOVED_OFFSET, "layout drift");
_Static_assert(offsetof(struct rbus_bus_hdr, sleepers) == RBUS_HDR_SLEEPERS_OFFSET, "layout drift");
_Static_assert(offsetof(struct rbus_bus_hdr, doorbell) == RBUS_HDR_DOORBELL_OFFSET, "layout drift");

/* ---------------------------------------------------------------------------------------------------
 * Consumer slot: metadata (owner), per-stream cursors (owner), counters (owner). The stride is
 * RBUS_SLOT_META_SIZE + round_up(P * 16, 128) + RBUS_SLOT_COUNTERS_SIZE.
 */
struct rbus_slot_meta {
    uint64_t claim;              /* {state:8 | generation:24 | pid:32} */
    uint32_t mode;               /* RBUS_MODE_* */
    uint32_t spinning;           /* 1 while the owner busy-polls (adaptive spin budget, rule W) */
    uint64_t start_time_ns;      /* display only */
    uint64_t heartbeat_ns;       /* CLOCK_MONOTONIC of the owner's last poll batch; display only */
    uint64_t evictions;          /* times this slot was evicted (written by the evicting producer) */
    uint8_t name[RBUS_NAME_MAX]; /* durable name, NUL-padded; empty = not durable */
    uint64_t demote_lag;         /* gating only: 0 = always gates; else a producer more than this many
                                    bytes ahead of the cursor stops waiting for it (slow-consumer
                                    demotion; the owner then reads with lossy validation) */
    uint8_t reserved[RBUS_SLOT_META_SIZE - 112];
};
_Static_assert(sizeof(struct rbus_slot_meta) == RBUS_SLOT_META_SIZE, "slot meta drift");

struct rbus_slot_cursor {
    uint64_t position;           /* byte position in the stream: everything below is consumed */
    uint64_t next_seq;           /* sequence expected at position (for gap counting) */
};
_Static_assert(sizeof(struct rbus_slot_cursor) == RBUS_SLOT_CURSOR_SIZE, "slot cursor drift");

struct rbus_slot_counters {
    uint64_t received;           /* events delivered to the owner */
    uint64_t dropped;            /* lossy: events lost to laps (sequence gaps) */
    uint64_t missed;             /* gating: events lost below the gate limit or to eviction */
    uint64_t futex_waits;        /* times the owner slept in futex_wait */
    uint64_t wakeups_by_timeout; /* futex_waits that ended by their safety timeout */
    uint64_t laps;               /* lap detections (L4) */
    uint64_t corrupt;            /* records rejected by validation */
    uint64_t reserved[9];
};
_Static_assert(sizeof(struct rbus_slot_counters) == RBUS_SLOT_COUNTERS_SIZE, "slot counters drift");

/* ---------------------------------------------------------------------------------------------------
 * Stream header (1 KiB) followed by the ring. Writers: block 0 the claimant (under its lock), blocks
 * 1-4 the stream's single producer, block 5 shared by the producer (sets) and gating consumers (clear).
 */
struct rbus_stream_hdr {
    /* block 0: ownership (claimant) */
    uint64_t claim;              /* {state:8 | generation:24 | pid:32} */
    uint64_t start_time_ns;      /* display only */
    uint8_t name[RBUS_NAME_MAX]; /* durable producer name, NUL-padded */
    uint8_t reserved0[RBUS_BLOCK - 80];
    /* block 1: tail = the commit point (rule P) */
    uint64_t tail;
    uint8_t reserved1[RBUS_BLOCK - 8];
    /* block 2: intent = end of the highest claim ever made (rule L1), monotonic */
    uint64_t intent;
    uint8_t reserved2[RBUS_BLOCK - 8];
    /* block 3: committed state, cold: where the last record starts, gate limit, totals */
    uint64_t latest;             /* position of the last committed record (stored after tail) */
    uint64_t gate_limit;         /* rule G2/G3: the producer may write up to gate_limit + capacity */
    uint64_t published;          /* events committed */
    uint64_t full_events;        /* claims refused because gating consumers held the ring */
    uint64_t rescans;            /* gate rescans (G2) */
    uint64_t wakes;              /* doorbell rings (rule W, P3) */
    uint64_t evictions;          /* gating consumers evicted by this stream's producers (G4) */
    uint8_t reserved3[RBUS_BLOCK - 56];
    /* block 4: producer flags read by waiters when counting spinners */
    uint32_t spinning;
    uint8_t reserved4[RBUS_BLOCK - 4];
    /* block 5: ring-full wait (rule W with roles swapped) */
    uint32_t space_waiter;       /* producer sets 1 before sleeping; consumers exchange to 0 */
    uint32_t space_doorbell;     /* futex word: consumers increment after freeing space */
    uint64_t space_wanted;       /* the cursor a waiting producer waits for: a consumer whose commit
                                    reaches it rings (stored before space_waiter) */
    uint8_t reserved5[RBUS_BLOCK - 16];
    /* blocks 6..7: reserved */
    uint8_t reserved6[2 * RBUS_BLOCK];
};

enum {
    RBUS_STREAM_CLAIM_OFFSET = 0 * RBUS_BLOCK,
    RBUS_STREAM_TAIL_OFFSET = 1 * RBUS_BLOCK,
    RBUS_STREAM_INTENT_OFFSET = 2 * RBUS_BLOCK,
    RBUS_STREAM_LATEST_OFFSET = 3 * RBUS_BLOCK,
    RBUS_STREAM_SPINNING_OFFSET = 4 * RBUS_BLOCK,
    RBUS_STREAM_SPACE_OFFSET = 5 * RBUS_BLOCK,
};
_Static_assert(sizeof(struct rbus_stream_hdr) == RBUS_STREAM_HEADER_SIZE, "stream header drift");
_Static_assert(offsetof(struct rbus_stream_hdr, tail) == RBUS_STREAM_TAIL_OFFSET, "layout drift");
_Static_assert(offsetof(struct rbus_stream_hdr, intent) == RBUS_STREAM_INTENT_OFFSET, "layout drift");
_Static_assert(offsetof(struct rbus_stream_hdr, latest) == RBUS_STREAM_LATEST_OFFSET, "layout drift");
_Static_assert(offsetof(struct rbus_stream_hdr, spinning) == RBUS_STREAM_SPINNING_OFFSET, "layout drift");
_Static_assert(offsetof(struct rbus_stream_hdr, space_waiter) == RBUS_STREAM_SPACE_OFFSET, "layout drift");
_Static_assert(offsetof(struct rbus_stream_hdr, space_wanted) == RBUS_STREAM_SPACE_OFFSET + 8, "layout drift");

/* ---------------------------------------------------------------------------------------------------
 * Record header.
 */
struct rbus_record_hdr {
    uint32_t length;
    uint32_t type;
    uint64_t sequence;
    uint64_t timestamp;
    uint32_t topic_hash;
    uint16_t topic_len;
    uint16_t flags;
    uint64_t key;
};
_Static_assert(sizeof(struct rbus_record_hdr) == RBUS_REC_HEADER_SIZE, "record header drift");
_Static_assert(offsetof(struct rbus_record_hdr, sequence) == 8, "record header drift");
_Static_assert(offsetof(struct rbus_record_hdr, topic_hash) == 24, "record header drift");
_Static_assert(offsetof(struct rbus_record_hdr, key) == 32, "record header drift");

/* Derived sizes: pure functions of the create parameters, used at create and re-checked at attach. */
static inline uint64_t rbus_align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

static inline uint32_t rbus_slot_stride_for(uint32_t streams) {
    uint64_t cursors = ((uint64_t)streams * RBUS_SLOT_CURSOR_SIZE + RBUS_BLOCK - 1) & ~(uint64_t)(RBUS_BLOCK - 1);
    return (uint32_t)(RBUS_SLOT_META_SIZE + cursors + RBUS_SLOT_COUNTERS_SIZE);
}

/* Largest record (header + topic + payload, aligned) a bus with this max event size can hold. */
static inline uint64_t rbus_max_record_for(uint32_t max_event_size) {
    return rbus_align8((uint64_t)RBUS_REC_HEADER_SIZE + RBUS_TOPIC_MAX + max_event_size);
}

/* FNV-1a 32 of the topic bytes: the record's topic hash. Fixed here so every process agrees. */
static inline uint32_t rbus_topic_hash(const uint8_t *bytes, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= bytes[i];
        h *= 16777619u;
    }
    return h;
}

/* The layout hash stamped at create: FNV-1a over every offset and size above (see segment.c). */
uint32_t rbus_layout_hash(void);

#endif /* RBUS_LAYOUT_H */
