/*
 * rbus_registry.h: who owns a stream or a consumer slot, and who is alive (rule O). Cold, out of line.
 *
 * Stream i is owned by whoever holds an F_OFD_SETLK write lock on byte RBUS_LOCK_BASE + i of the
 * segment file; consumer slot j on RBUS_LOCK_BASE + RBUS_MAX_STREAMS + j. Every participant opens its
 * own file description (so two participants in one process exclude each other as two processes do).
 * Dead <=> lock free: the kernel drops the lock when the last fd of the description closes, so this
 * holds for SIGKILL, zombies, pid reuse and pid namespaces alike. pid and start time are display only.
 * A live owner is never reclaimed or evicted on a timeout.
 *
 * Assignment (which free slot or stream, durable-name lookups) happens under a registry lock byte so
 * two processes cannot take the same durable name at once; it is held for microseconds, acquired
 * without blocking, retried until a deadline (RBUS_E_BUSY), and released by the kernel if its holder dies.
 */
#ifndef RBUS_REGISTRY_H
#define RBUS_REGISTRY_H

#include <stdint.h>

#include "rbus_ring.h"

/* Where a new consumer starts reading. */
typedef enum rbus_start {
    RBUS_START_LATEST = 1,    /* only events committed after open */
    RBUS_START_EARLIEST = 2,  /* the oldest lap boundary still in the ring */
    RBUS_START_POSITION = 3,  /* the given per-stream positions (an application-stored resume point) */
    RBUS_START_COMMITTED = 4, /* the durable name's committed cursor (LATEST for a new name) */
    RBUS_START_COMMITTED_OR_EARLIEST = 5, /* the durable name's committed cursor (EARLIEST for a new name) */
} rbus_start;

typedef struct rbus_open_info {
    uint32_t resumed;         /* a durable name's place was found and taken over */
    uint32_t was_evicted;     /* ...and it had been evicted while away */
    uint32_t crashed;         /* ...and its previous owner died holding it (state ACTIVE, lock free):
                                 handled-but-uncommitted events will be delivered again */
    uint32_t reserved;
    uint64_t generation;      /* the claim word's generation after this open */
} rbus_open_info;

/* Claims a stream (a durable name prefers, and reserves, its own) and resumes its sequence from
 * committed state. */
rbus_status rbus_producer_open(rbus_bus *b, const char *durable_name, rbus_producer *p, rbus_error *err);
/* Releases the stream: a durable name keeps it reserved. Commits nothing that was not committed. */
void rbus_producer_close(rbus_producer *p);

/* Claims a consumer slot. `scratch` must hold b->max_record bytes and outlive the consumer.
 * `positions` (b->streams entries) is read only for RBUS_START_POSITION. */
rbus_status rbus_consumer_open(rbus_bus *b, const char *durable_name, uint32_t mode, rbus_start start,
                               const uint64_t *positions, uint8_t *scratch, rbus_consumer *c,
                               rbus_open_info *info, rbus_error *err);
/* Commits, then releases the slot: a durable consumer keeps its place (it still gates, until evicted). */
void rbus_consumer_close(rbus_consumer *c);

/* Operator action: frees the place of durable consumer `name` when no process holds it (a forgotten name
 * would otherwise keep gating producers until evicted). RBUS_OK, RBUS_E_NOT_FOUND, RBUS_E_NAME_IN_USE
 * (a live owner holds it). */
rbus_status rbus_consumer_forget(rbus_bus *b, const char *name, rbus_error *err);

/* Operator action: frees anonymous consumer slots whose owner died (ACTIVE, lock free, no name), writing
 * up to `max` slot indexes to `slots`; with `dry_run` only lists them. Returns how many, or -errno. */
int rbus_reap_dead_anonymous(rbus_bus *b, uint32_t *slots, uint32_t max, int dry_run);

/* Liveness of a stream's producer / a slot's consumer, tested with F_OFD_GETLK through `fd` (any fd of
 * the segment, read-only is enough): 1 alive (lock held by another description), 0 dead or free,
 * negative -errno. */
int rbus_stream_alive(const rbus_bus *b, uint32_t stream);
int rbus_slot_alive(const rbus_bus *b, uint32_t slot);

/* Claim-word helpers. */
static inline uint32_t rbus_claim_state(uint64_t w) { return (uint32_t)(w & 0xff); }
static inline uint32_t rbus_claim_generation(uint64_t w) { return (uint32_t)((w >> 8) & 0xffffff); }
static inline uint32_t rbus_claim_pid(uint64_t w) { return (uint32_t)(w >> 32); }

#endif /* RBUS_REGISTRY_H */
