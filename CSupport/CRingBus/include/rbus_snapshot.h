/*
 * rbus_snapshot.h: a read-only look at a bus for observers (stats, the CLI), without joining it.
 *
 * Every field comes from memory that participants write, so it is copied with atomic loads, checked
 * and clamped: names are cut at the first NUL and at RBUS_NAME_MAX, a state or mode outside its enum is
 * reported as is (callers show it as unknown), lags never go below zero. Liveness is the lock (rule O),
 * never the pid. Nothing here writes to the segment.
 */
#ifndef RBUS_SNAPSHOT_H
#define RBUS_SNAPSHOT_H

#include <stdint.h>

#include "rbus_segment.h"

typedef struct rbus_stream_snapshot {
    uint32_t state;                 /* RBUS_STATE_* as stored (display) */
    uint32_t pid;                   /* the claimant's pid as stored (display) */
    int32_t alive;                  /* 1 a producer holds the stream's lock, 0 not, < 0 -errno */
    uint32_t reserved;
    char name[RBUS_NAME_MAX + 1];   /* durable producer name, NUL-terminated; "" if none */
    uint64_t published;             /* events committed (the next sequence) */
    uint64_t tail;                  /* commit position in bytes */
    uint64_t full_events;           /* claims refused because gating consumers held the ring */
    uint64_t wakes;                 /* doorbell rings */
    uint64_t evictions;             /* gating consumers this stream's producers evicted */
} rbus_stream_snapshot;

typedef struct rbus_consumer_snapshot {
    uint32_t state;                 /* RBUS_STATE_* as stored (display) */
    uint32_t pid;
    int32_t alive;                  /* 1 a consumer holds the slot's lock, 0 not, < 0 -errno */
    uint32_t mode;                  /* RBUS_MODE_* as stored; other values: unknown */
    char name[RBUS_NAME_MAX + 1];   /* durable name; "" for an anonymous consumer */
    uint64_t lag;                   /* events committed but not yet consumed, summed over streams */
    uint64_t received, dropped, missed, corrupt, evictions;
    uint64_t heartbeat_ns;          /* CLOCK_MONOTONIC of the last poll batch (display) */
} rbus_consumer_snapshot;

/* Stream `i` (< b->streams). RBUS_E_PARAM for an index out of range. */
rbus_status rbus_snapshot_stream(const rbus_bus *b, uint32_t i, rbus_stream_snapshot *out);
/* Consumer slot `j` (< b->consumers). A free, never-named slot has state RBUS_STATE_FREE. */
rbus_status rbus_snapshot_consumer(const rbus_bus *b, uint32_t j, rbus_consumer_snapshot *out);

/* Stream `i`'s commit position (acquire: pairs with the producer's P1), for waits such as flush. */
uint64_t rbus_stream_tail(const rbus_bus *b, uint32_t i);
/* Events committed on stream `i` (relaxed: a counter). */
uint64_t rbus_stream_published(const rbus_bus *b, uint32_t i);
/* Gating consumers evicted by stream `i`'s producers (relaxed: a counter). */
uint64_t rbus_stream_evictions(const rbus_bus *b, uint32_t i);
/* Slot `j`'s committed cursor on stream `i` (acquire: pairs with the consumer's G1 release). */
uint64_t rbus_slot_cursor(const rbus_bus *b, uint32_t j, uint32_t i);
/* Slot `j`'s mode word as stored (RBUS_MODE_*; anything else: unknown). */
uint32_t rbus_slot_mode(const rbus_bus *b, uint32_t j);

#endif /* RBUS_SNAPSHOT_H */
