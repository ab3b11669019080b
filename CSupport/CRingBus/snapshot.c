/* snapshot.c: read-only, validated copies of stream and consumer state (rbus_snapshot.h). */
#include "rbus_snapshot.h"

#include <string.h>

#include "rbus_registry.h"

/* Copies a NUL-padded name from shared memory, stopping at the first NUL or at RBUS_NAME_MAX bytes.
 * Names are validated when written; a hostile writer's bytes come out as they are, but bounded and
 * NUL-terminated (the Swift side decodes them as UTF-8 with replacement). */
static void copy_name(char out[RBUS_NAME_MAX + 1], const uint8_t *shared) {
    size_t n = 0;
    for (; n < RBUS_NAME_MAX; n++) {
        uint8_t c = atomic_load_explicit((_Atomic uint8_t *)(void *)(uintptr_t)&shared[n], memory_order_relaxed);
        if (c == 0) break;
        out[n] = (char)c;
    }
    out[n] = 0;
}

static uint64_t load64(const uint64_t *p) {
    return atomic_load_explicit((_Atomic uint64_t *)(void *)(uintptr_t)p, memory_order_acquire);
}

rbus_status rbus_snapshot_stream(const rbus_bus *b, uint32_t i, rbus_stream_snapshot *out) {
    if (i >= b->streams || !out) return RBUS_E_PARAM;
    memset(out, 0, sizeof *out);
    const struct rbus_stream_hdr *h = rbus_bus_stream(b, i);
    uint64_t claim = load64(&h->claim);
    out->state = rbus_claim_state(claim);
    out->pid = rbus_claim_pid(claim);
    out->alive = rbus_stream_alive(b, i);
    copy_name(out->name, h->name);
    out->published = load64(&h->published);
    out->tail = load64(&h->tail);
    out->full_events = load64(&h->full_events);
    out->wakes = load64(&h->wakes);
    out->evictions = load64(&h->evictions);
    return RBUS_OK;
}

rbus_status rbus_snapshot_consumer(const rbus_bus *b, uint32_t j, rbus_consumer_snapshot *out) {
    if (j >= b->consumers || !out) return RBUS_E_PARAM;
    memset(out, 0, sizeof *out);
    const struct rbus_slot_meta *m = rbus_bus_slot(b, j);
    uint64_t claim = load64(&m->claim);
    out->state = rbus_claim_state(claim);
    out->pid = rbus_claim_pid(claim);
    out->alive = rbus_slot_alive(b, j);
    out->mode = atomic_load_explicit((_Atomic uint32_t *)(void *)(uintptr_t)&m->mode, memory_order_relaxed);
    copy_name(out->name, m->name);
    out->heartbeat_ns = load64(&m->heartbeat_ns);
    out->evictions = load64(&m->evictions);
    const struct rbus_slot_counters *k = rbus_bus_counters(b, j);
    out->received = load64(&k->received);
    out->dropped = load64(&k->dropped);
    out->missed = load64(&k->missed);
    out->corrupt = load64(&k->corrupt);
    if (out->state == RBUS_STATE_FREE) return RBUS_OK; /* no cursors worth reading */
    const struct rbus_slot_cursor *cur = rbus_bus_cursors(b, j);
    uint64_t lag = 0;
    for (uint32_t i = 0; i < b->streams; i++) {
        uint64_t published = load64(&rbus_bus_stream(b, i)->published);
        uint64_t next = load64(&cur[i].next_seq);
        if (published > next) {
            uint64_t d = published - next;
            lag = (lag + d < lag) ? UINT64_MAX : lag + d; /* saturate: the values are another process's */
        }
    }
    out->lag = lag;
    return RBUS_OK;
}

uint64_t rbus_stream_tail(const rbus_bus *b, uint32_t i) {
    if (i >= b->streams) return 0;
    return atomic_load_explicit(RBUS_A64(&rbus_bus_stream(b, i)->tail), memory_order_acquire); /* pairs P1 */
}

uint64_t rbus_stream_published(const rbus_bus *b, uint32_t i) {
    if (i >= b->streams) return 0;
    return atomic_load_explicit(RBUS_A64(&rbus_bus_stream(b, i)->published), memory_order_relaxed);
}

uint64_t rbus_slot_cursor(const rbus_bus *b, uint32_t j, uint32_t i) {
    if (j >= b->consumers || i >= b->streams) return 0;
    return atomic_load_explicit(RBUS_A64(&rbus_bus_cursors(b, j)[i].position), memory_order_acquire); /* G1 */
}

uint32_t rbus_slot_mode(const rbus_bus *b, uint32_t j) {
    if (j >= b->consumers) return 0;
    return atomic_load_explicit(RBUS_A32(&rbus_bus_slot(b, j)->mode), memory_order_relaxed);
}

uint64_t rbus_stream_evictions(const rbus_bus *b, uint32_t i) {
    if (i >= b->streams) return 0;
    return atomic_load_explicit(RBUS_A64(&rbus_bus_stream(b, i)->evictions), memory_order_relaxed);
}
