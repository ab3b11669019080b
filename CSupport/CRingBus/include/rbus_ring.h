/*
 * rbus_ring.h: the hot path. Claim, write in place, commit; read, validate, deliver. No system calls
 * here except the rare out-of-line ones named below (rescan when the ring looks full, the wake when
 * somebody sleeps). Nothing allocates.
 *
 * Commit protocol (rule P) and lap detection (rule L); labels are cited in the code:
 *   L1  before writing any byte at a position >= intent, the producer stores intent = end of the claim
 *       plus a reservation (capacity / 16, capped at gate + capacity), then a release fence. The fence
 *       orders the intent store before the record bytes (seqlock writer side; pairs with C3).
 *   P1  write the record(s); store_release(tail) = end of the batch. Pairs with C1.
 *       latest (the last record's position) is stored after tail, so a reclaimer walks latest..tail.
 *   P2  atomic_thread_fence(seq_cst) and P3 ring the doorbell if anyone sleeps: see rbus_wait.h.
 *   C1  consumer: load_acquire(tail) once, then read every record below it (batching for free).
 *   C2  (L2) read the record's header words once into locals, check length >= 8, alignment,
 *       <= max record, <= bytes to the ring end, <= tail - position; copy (lossy) or view (gating).
 *   C3  (L3, lossy only) after the copy: atomic_thread_fence(acquire); i = load(intent); the copy is
 *       good iff i <= position + capacity. Pairs with L1. Only good copies are delivered.
 *   C4  (L4) on a lap, jump to floor(tail / capacity) * capacity (always a record boundary); losses
 *       are counted from sequence gaps, never from bytes.
 *   G1  a gating consumer commits its cursor with store_release after its last read of the records
 *       below it; the producer loads cursors with acquire (rbus_producer_rescan). Pairs both ways.
 *
 * Who may call: rbus_producer_* the stream's single producer thread; rbus_consumer_* the consumer's
 * single thread. Handles are process-local and must not be shared between threads without a lock.
 */
#ifndef RBUS_RING_H
#define RBUS_RING_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "rbus_clock.h"
#include "rbus_layout.h"
#include "rbus_segment.h"
#include "rbus_status.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RBUS_TSAN 1
#endif
#endif

#define RBUS_LIKELY(x) __builtin_expect(!!(x), 1)
#define RBUS_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Typed atomic views of plain shared fields (Swift drops _Atomic struct fields; C does every access). */
#define RBUS_A64(p) ((_Atomic uint64_t *)(void *)(p))
#define RBUS_A32(p) ((_Atomic uint32_t *)(void *)(p))

extern _Atomic uint32_t rbus__fork_generation;

/* ================================================================================================
 * Producer
 */
typedef struct rbus_producer {
    rbus_bus *bus;
    struct rbus_stream_hdr *hdr;
    uint8_t *ring;
    uint64_t capacity;
    uint64_t mask;
    uint64_t reserve;            /* L1 intent reservation */
    uint64_t tail;               /* committed: the last value stored to hdr->tail */
    uint64_t pending;            /* end of the last claim (uncommitted records lie in tail..pending) */
    uint64_t pending_latest;     /* position of the last claimed record */
    uint64_t intent;             /* the last value stored to hdr->intent */
    uint64_t gate;               /* G2 cached slowest gating cursor: may write below gate + capacity */
    uint64_t next_seq;
    uint64_t published;
    uint64_t batch_ticks;        /* clock read once per commit batch */
    uint32_t batch_open;
    uint32_t stream;
    uint32_t max_event_size;
    uint32_t clock_kind;
    uint32_t fork_generation;
    int32_t lock_fd;             /* this producer's own open file description: its OFD locks (rule O) */
    uint64_t last_liveness_check_ns;
    uint64_t dead_since_ns[RBUS_MAX_CONSUMERS]; /* G4 eviction bookkeeping; 0 = not seen dead */
} rbus_producer;

/* G2: re-reads the gating cursors (slow path, out of line). `need_end` is the end the caller wants to
 * write; dead gating consumers blocking it are evicted after their grace (G4). Updates p->gate. */
void rbus_producer_rescan(rbus_producer *p, uint64_t need_end);

/* P3 slow half: bumps the doorbell and wakes every sleeper (one syscall per sleep episode). */
void rbus_wake_sleepers(rbus_bus *b, struct rbus_stream_hdr *stream);

/* Where a claim of this size would end: records never wrap, so a record that does not fit before the
 * ring end is preceded by a padding record covering the rest of the ring. */
static inline uint64_t rbus_producer_claim_end(const rbus_producer *p, uint32_t topic_len, uint32_t payload_len) {
    const uint64_t stride = rbus_align8(RBUS_REC_HEADER_SIZE + (uint64_t)topic_len + payload_len);
    const uint64_t to_end = p->capacity - (p->pending & p->mask);
    return p->pending + (stride > to_end ? to_end : 0) + stride;
}

/*
 * Claims room for one event and writes its header and topic; *payload receives where to write
 * `payload_len` bytes. The event becomes visible at the next rbus_producer_commit.
 * Returns RBUS_OK, RBUS_FULL (gating consumers hold the space), RBUS_E_TOO_LARGE or RBUS_E_FORKED.
 */
static inline rbus_status rbus_producer_claim(rbus_producer *p, const uint8_t *topic, uint32_t topic_len,
                                              uint32_t topic_hash, uint32_t payload_len, uint64_t key,
                                              uint32_t flags, uint8_t **payload) {
    if (RBUS_UNLIKELY(topic_len > RBUS_TOPIC_MAX || payload_len > p->max_event_size)) return RBUS_E_TOO_LARGE;
    if (RBUS_UNLIKELY(p->fork_generation != atomic_load_explicit(&rbus__fork_generation, memory_order_relaxed)))
        return RBUS_E_FORKED;
    const uint64_t length = RBUS_REC_HEADER_SIZE + (uint64_t)topic_len + payload_len;
    uint64_t pos = p->pending;
    const uint64_t end = rbus_producer_claim_end(p, topic_len, payload_len);
    const uint64_t pad = end - pos - rbus_align8(length);
    if (RBUS_UNLIKELY(end > p->gate + p->capacity)) {
        rbus_producer_rescan(p, end); /* G2: rescan only when the ring looks full */
        if (end > p->gate + p->capacity) return RBUS_FULL;
    }
    if (RBUS_UNLIKELY(end > p->intent)) {
        /* L1: declare the overwrite before making it. The release fence keeps the intent store ahead of
         * every record byte stored below (pairs with the acquire fence of C3 in a lossy reader). The
         * reservation never reaches past the lap boundary above `end`: a reader anywhere in the lap
         * being written (in particular at its start, where C4 jumps) then always validates, instead of
         * being judged lapped forever once the producer goes idle just below a boundary. */
        uint64_t want = end + p->reserve;
        uint64_t limit = p->gate + p->capacity;
        uint64_t boundary = (end + p->mask) & ~p->mask;
        if (limit > boundary) limit = boundary;
        p->intent = want < limit ? want : limit;
        atomic_store_explicit(RBUS_A64(&p->hdr->intent), p->intent, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
    }
    if (pad) {
        /* An 8-byte padding header covering the rest of the ring (length = bytes to the end). */
        uint32_t *w = (uint32_t *)(void *)(p->ring + (pos & p->mask));
        w[0] = (uint32_t)pad;
        w[1] = RBUS_REC_PADDING;
        pos += pad;
    }
    if (!p->batch_open) {
        p->batch_ticks = rbus_clock_ticks(p->clock_kind); /* one clock read per commit batch */
        p->batch_open = 1;
    }
    struct rbus_record_hdr *r = (struct rbus_record_hdr *)(void *)(p->ring + (pos & p->mask));
    r->length = (uint32_t)length;
    r->type = RBUS_REC_EVENT;
    r->sequence = p->next_seq++;
    r->timestamp = p->batch_ticks;
    r->topic_hash = topic_hash;
    r->topic_len = (uint16_t)topic_len;
    r->flags = (uint16_t)(flags & RBUS_REC_FLAG_ALL);
    r->key = key;
    if (topic_len) memcpy((uint8_t *)r + RBUS_REC_HEADER_SIZE, topic, topic_len);
    *payload = (uint8_t *)r + RBUS_REC_HEADER_SIZE + topic_len;
    p->pending_latest = pos;
    p->pending = end;
    return RBUS_OK;
}

/* P1 only: makes every claimed record visible with one release store. Test hook point: a test may run
 * the wait steps between this and rbus_producer_wake. Returns the number of events committed. */
static inline uint64_t rbus_producer_publish_tail(rbus_producer *p) {
    if (p->pending == p->tail) return 0;
    uint64_t before = p->published;
    p->published = p->next_seq; /* sequences are dense: next_seq counts every event ever claimed */
    /* P1: the commit. Pairs with the consumer's load_acquire(tail) in C1. */
    atomic_store_explicit(RBUS_A64(&p->hdr->tail), p->pending, memory_order_release);
    atomic_store_explicit(RBUS_A64(&p->hdr->latest), p->pending_latest, memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&p->hdr->published), p->published, memory_order_relaxed);
    p->tail = p->pending;
    p->batch_open = 0;
    return p->published - before;
}

/* P2 + P3: after the tail store, a full fence, then wake only if someone sleeps. The fence orders the
 * tail store before the sleepers load (Dekker with the waiter's W1 fetch_or / W3 re-read of tail):
 * either the waiter sees the new tail, or this load sees its bit. Without it, x86's store buffer lets
 * both miss and the waiter sleeps through the event (the litmus and lost-wakeup tests catch it). */
static inline void rbus_producer_wake(rbus_producer *p) {
    atomic_thread_fence(memory_order_seq_cst); /* P2 */
    rbus_bus *b = p->bus;
    struct rbus_bus_hdr *h = rbus_bus_header(b);
    for (uint32_t w = 0; w < b->sleeper_words; w++) {
        if (RBUS_UNLIKELY(atomic_load_explicit(RBUS_A64(&h->sleepers[w]), memory_order_relaxed) != 0)) {
            rbus_wake_sleepers(b, p->hdr); /* P3 */
            return;
        }
    }
}

/* Commits every claimed event (P1..P3). Returns how many were committed. */
static inline uint64_t rbus_producer_commit(rbus_producer *p) {
    uint64_t n = rbus_producer_publish_tail(p);
    if (n) rbus_producer_wake(p);
    return n;
}

/* One event: claim, copy, commit. */
static inline rbus_status rbus_producer_publish(rbus_producer *p, const uint8_t *topic, uint32_t topic_len,
                                                uint32_t topic_hash, const void *payload, uint32_t payload_len,
                                                uint64_t key, uint32_t flags) {
    uint8_t *dst;
    rbus_status s = rbus_producer_claim(p, topic, topic_len, topic_hash, payload_len, key, flags, &dst);
    if (RBUS_UNLIKELY(s != RBUS_OK)) return s;
    if (payload_len) memcpy(dst, payload, payload_len);
    rbus_producer_commit(p);
    return RBUS_OK;
}

/* ================================================================================================
 * Consumer
 */
typedef struct rbus_cursor_state {
    struct rbus_stream_hdr *hdr; /* this stream's header and ring (cached addresses) */
    const uint8_t *ring;
    uint64_t position;           /* next record to read */
    uint64_t tail_seen;          /* the tail loaded by the last C1 */
    uint64_t expected;           /* next sequence expected (valid iff have_expected) */
    uint64_t lossy_until;        /* G3: positions below are read with lossy validation */
    uint32_t have_expected;
    uint32_t dirty;              /* position moved since the last commit */
    uint32_t resumed;            /* the first record after a durable resume may repeat the commit */
    uint32_t pad;
} rbus_cursor_state;

typedef struct rbus_event_view {
    const uint8_t *topic;
    const uint8_t *payload;
    uint64_t sequence;
    uint64_t timestamp;          /* raw ticks: rbus_bus_timestamp_ns converts */
    uint64_t key;
    uint64_t position;           /* where the record starts; resume from position + 1 record */
    uint64_t next_position;      /* the cursor after this record */
    uint32_t topic_len;
    uint32_t payload_len;
    uint32_t topic_hash;
    uint32_t flags;
    uint32_t stream;
    uint32_t copied;             /* 1: bytes are a private copy (lossy); 0: a view into the ring */
} rbus_event_view;

typedef struct rbus_consumer {
    rbus_bus *bus;
    struct rbus_slot_meta *meta;
    struct rbus_slot_cursor *cursors;
    struct rbus_slot_counters *shared_counters;
    uint8_t *scratch;            /* >= bus->max_record bytes: lossy copies land here */
    uint64_t capacity;
    uint64_t mask;
    uint64_t max_record;
    uint64_t received;
    uint64_t dropped;
    uint64_t missed;
    uint64_t futex_waits;
    uint64_t wakeups_by_timeout;
    uint64_t laps;
    uint64_t corrupt;
    uint32_t slot;
    uint32_t mode;
    uint32_t streams;
    uint32_t next_stream;        /* round-robin start for rbus_consumer_next */
    uint32_t fork_generation;
    int32_t lock_fd;
    uint32_t durable;
    uint32_t sleeper_word;
    uint64_t sleeper_bit;
    uint32_t demotable;          /* gating, but may be demoted (rbus_consumer_set_demote_lag): read lossy */
    uint32_t pad0;
    rbus_cursor_state s[RBUS_MAX_STREAMS];
} rbus_consumer;

enum { RBUS__READ_AGAIN = 100 }; /* internal: advanced over padding or a lap; read the next record */

/* Validates header words read once (L2/C2). Returns the record's stride, or 0 if invalid. */
static inline uint64_t rbus__record_stride(uint32_t length, uint32_t type, uint64_t to_end, uint64_t avail,
                                           uint64_t max_record) {
    if (type == RBUS_REC_PADDING) {
        return (length == to_end && length >= 8 && length <= avail) ? length : 0;
    }
    if (type != RBUS_REC_EVENT || length < RBUS_REC_HEADER_SIZE || length > max_record) return 0;
    uint64_t stride = rbus_align8(length);
    return (stride <= to_end && stride <= avail) ? stride : 0;
}

/* Fills a view from a record header that lies in trusted-size memory; 0 if its fields are inconsistent. */
static inline int rbus__fill_view(const struct rbus_record_hdr *r, const uint8_t *bytes, uint32_t length,
                                  rbus_event_view *v) {
    uint32_t tlen = r->topic_len;
    if (tlen > RBUS_TOPIC_MAX || (uint64_t)RBUS_REC_HEADER_SIZE + tlen > length) return 0;
    v->topic = bytes + RBUS_REC_HEADER_SIZE;
    v->topic_len = tlen;
    v->payload = bytes + RBUS_REC_HEADER_SIZE + tlen;
    v->payload_len = length - RBUS_REC_HEADER_SIZE - tlen;
    v->sequence = r->sequence;
    v->timestamp = r->timestamp;
    v->topic_hash = r->topic_hash;
    v->flags = r->flags;
    v->key = r->key;
    return 1;
}

/* C4 (L4): a lap. Jump to the last lap boundary below a fresh tail; the gap shows in the sequences. */
static inline void rbus__jump_lap(rbus_consumer *c, rbus_cursor_state *s, struct rbus_stream_hdr *h) {
    uint64_t t = atomic_load_explicit(RBUS_A64(&h->tail), memory_order_acquire); /* pairs with P1 */
    c->laps++;
    s->position = t & ~c->mask;
    s->tail_seen = t;
    s->dirty = 1;
}

/* Counts the events between the expected sequence and `seq`; returns 0 if the record must be skipped. */
static inline int rbus__account_sequence(rbus_consumer *c, rbus_cursor_state *s, uint64_t seq, int lossy) {
    if (RBUS_UNLIKELY(!s->have_expected)) {
        s->have_expected = 1;
        s->expected = seq;
    }
    if (RBUS_UNLIKELY(seq != s->expected)) {
        if (seq > s->expected) {
            if (lossy && (c->mode == RBUS_MODE_LOSSY || c->demotable)) c->dropped += seq - s->expected;
            else c->missed += seq - s->expected;
        } else if (s->resumed) {
            /* The cursor's next_seq was stored before its position and the owner died between: this
             * record was never committed, so deliver it again (marked by the caller as a repeat). */
        } else {
            c->corrupt++;
            return 0;
        }
    }
    s->resumed = 0;
    s->expected = seq + 1;
    c->received++;
    return 1;
}

/*
 * L2 + L3 on one record: read the header words once, copy the record into scratch, then validate the
 * copy against intent. A seqlock-style read racing with the producer's writes by design, so it is
 * exempt from ThreadSanitizer; under TSan it copies with relaxed atomic loads instead of memcpy (TSan
 * intercepts memcpy), which is also what the C11 model formally asks of a seqlock reader.
 */
__attribute__((no_sanitize("thread"))) static inline void rbus__racy_copy(uint8_t *dst, const uint8_t *src,
                                                                          uint64_t n) {
#ifdef RBUS_TSAN
    for (uint64_t i = 0; i < n; i += 8)
        *(uint64_t *)(void *)(dst + i) = atomic_load_explicit(RBUS_A64(src + i), memory_order_relaxed);
#else
    memcpy(dst, src, n);
#endif
}

static inline int rbus__read_lossy(rbus_consumer *c, uint32_t si, rbus_cursor_state *s,
                                   struct rbus_stream_hdr *h, const uint8_t *ring, rbus_event_view *v) {
    const uint64_t pos = s->position;
    const uint64_t avail = s->tail_seen - pos;
    if (avail > c->capacity) { /* the tail is a lap ahead already */
        rbus__jump_lap(c, s, h);
        return RBUS__READ_AGAIN;
    }
    const uint64_t off = pos & c->mask;
    const uint64_t to_end = c->capacity - off;
    uint32_t words[2];
    rbus__racy_copy((uint8_t *)words, ring + off, 8); /* C2: the header words, read once */
    uint64_t stride = rbus__record_stride(words[0], words[1], to_end, avail, c->max_record);
    if (stride && words[1] == RBUS_REC_EVENT) rbus__racy_copy(c->scratch, ring + off, stride);
    /* C3: acquire fence, then intent. Pairs with the release fence of L1: if any byte we copied came
     * from a later lap, this load sees that lap's intent. */
    atomic_thread_fence(memory_order_acquire);
    uint64_t intent = atomic_load_explicit(RBUS_A64(&h->intent), memory_order_relaxed);
    if (intent > pos + c->capacity) {
        rbus__jump_lap(c, s, h); /* lapped while (or before) copying: the copy is not delivered */
        return RBUS__READ_AGAIN;
    }
    if (!stride) {
        /* Not a lap, yet not a record: nothing up to this tail can be trusted to parse. Skip to it (a
         * record boundary); the sequence gap at the next record counts what was skipped. */
        c->corrupt++;
        s->position = s->tail_seen;
        s->dirty = 1;
        return RBUS_E_CORRUPT;
    }
    if (words[1] == RBUS_REC_PADDING) {
        s->position = pos + stride;
        s->dirty = 1;
        return RBUS__READ_AGAIN;
    }
    const struct rbus_record_hdr *r = (const struct rbus_record_hdr *)(void *)c->scratch;
    s->position = pos + stride;
    s->dirty = 1;
    if (r->length != words[0] || !rbus__fill_view(r, c->scratch, words[0], v)) {
        c->corrupt++;
        return RBUS_E_CORRUPT;
    }
    if (!rbus__account_sequence(c, s, r->sequence, 1)) return RBUS__READ_AGAIN;
    v->position = pos;
    v->next_position = s->position;
    v->stream = si;
    v->copied = 1;
    return RBUS_OK;
}

/* Gating read: the producer cannot overwrite below our committed cursor (G1/G2), so the record is
 * delivered as a view into the ring. Its header is still read once and validated (never trust). */
static inline int rbus__read_gated(rbus_consumer *c, uint32_t si, rbus_cursor_state *s,
                                   const uint8_t *ring, rbus_event_view *v) {
    const uint64_t pos = s->position;
    const uint64_t avail = s->tail_seen - pos;
    const uint64_t off = pos & c->mask;
    const uint64_t to_end = c->capacity - off;
    struct rbus_record_hdr r;
    /* C2: read once into a local (constant sizes: inlined moves, not a call to memcpy) */
    if (RBUS_LIKELY(to_end >= sizeof r)) memcpy(&r, ring + off, sizeof r);
    else memcpy(&r, ring + off, 8), r.topic_len = 0;
    uint64_t stride = rbus__record_stride(r.length, r.type, to_end, avail, c->max_record);
    if (RBUS_UNLIKELY(!stride)) {
        c->corrupt++;
        s->position = s->tail_seen; /* nothing below this tail can be trusted to parse: skip it */
        s->dirty = 1;
        return RBUS_E_CORRUPT;
    }
    s->position = pos + stride;
    s->dirty = 1;
    if (r.type == RBUS_REC_PADDING) return RBUS__READ_AGAIN;
    if (RBUS_UNLIKELY(!rbus__fill_view(&r, ring + off, r.length, v))) {
        c->corrupt++;
        return RBUS_E_CORRUPT;
    }
    if (!rbus__account_sequence(c, s, r.sequence, 0)) return RBUS__READ_AGAIN;
    v->position = pos;
    v->next_position = s->position;
    v->stream = si;
    v->copied = 0;
    return RBUS_OK;
}

/*
 * The next event of stream `si`: RBUS_OK (*v filled, valid until the next call or commit), RBUS_EMPTY,
 * or RBUS_E_CORRUPT (a record failed validation; the cursor has moved past it, so calling again makes
 * progress). Bounded: every loop iteration advances the position or returns.
 */
static inline rbus_status rbus_consumer_next_in(rbus_consumer *c, uint32_t si, rbus_event_view *v) {
    rbus_cursor_state *s = &c->s[si];
    struct rbus_stream_hdr *h = s->hdr;
    const uint8_t *ring = s->ring;
    for (uint32_t guard = 0; guard < 64; guard++) {
        if (s->position == s->tail_seen) {
            uint64_t t = atomic_load_explicit(RBUS_A64(&h->tail), memory_order_acquire); /* C1, pairs P1 */
            if (t == s->position) {
                /* Caught up: ask for the line the next record will start in, so that when the tail
                 * moves, its header is on its way already (the tail's line and the record's line then
                 * cross together instead of one after the other). Only a prefetch: nothing is read
                 * before C1 sees the tail past it. */
                __builtin_prefetch(ring + (s->position & c->mask), 0, 3);
                return RBUS_EMPTY;
            }
            if (RBUS_UNLIKELY(t < s->position)) { /* a tail never moves back: corrupt segment */
                c->corrupt++;
                s->position = s->tail_seen = t;
                s->have_expected = 0;
                s->dirty = 1;
                return RBUS_E_CORRUPT;
            }
            s->tail_seen = t;
            /* The header and payload lines are misses: request them together now, not one after the
             * other as parsing reaches them (roughly one line transfer instead of three per record). */
            const uint8_t *at = ring + (s->position & c->mask);
            uint64_t ahead = t - s->position < 256 ? t - s->position : 256;
            if (ahead > c->capacity - (s->position & c->mask)) ahead = c->capacity - (s->position & c->mask);
            for (uint64_t k = 0; k < ahead; k += RBUS_CACHE_LINE) __builtin_prefetch(at + k, 0, 3);
        }
        int r;
        if (c->mode == RBUS_MODE_LOSSY || c->demotable || s->position < s->lossy_until ||
            s->tail_seen - s->position > c->capacity) {
            r = rbus__read_lossy(c, si, s, h, ring, v);
        } else {
            r = rbus__read_gated(c, si, s, ring, v);
        }
        if (r != RBUS__READ_AGAIN) return (rbus_status)r;
    }
    return RBUS_EMPTY; /* only reachable on a hostile segment (endless padding); caller polls again */
}

/* The next event of any stream, taking streams round-robin so one busy stream cannot starve others. */
static inline rbus_status rbus_consumer_next(rbus_consumer *c, rbus_event_view *v) {
    if (RBUS_UNLIKELY(c->fork_generation != atomic_load_explicit(&rbus__fork_generation, memory_order_relaxed)))
        return RBUS_E_FORKED;
    uint32_t n = c->streams;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t si = c->next_stream;
        rbus_status st = rbus_consumer_next_in(c, si, v);
        if (st != RBUS_EMPTY) return st; /* stay on this stream while it has data: batching */
        c->next_stream = si + 1 == n ? 0 : si + 1;
    }
    return RBUS_EMPTY;
}

/* Moves stream `si`'s cursor back to the start of a record delivered in this batch (so a handler that
 * failed on it does not commit it). `v` must be a view this consumer returned since its last commit. */
static inline void rbus_consumer_rewind(rbus_consumer *c, const rbus_event_view *v) {
    rbus_cursor_state *s = &c->s[v->stream];
    s->position = v->position;
    s->expected = v->sequence;
    s->have_expected = 1;
    s->dirty = 1;
    if (c->received) c->received--;
}

/* Wakes a producer waiting for space on `stream` (slow half of the swapped-roles rule W). */
void rbus_wake_space(rbus_bus *b, uint32_t stream);

/* Publishes the local counters into the slot (relaxed: display only). */
static inline void rbus__publish_counters(rbus_consumer *c) {
    struct rbus_slot_counters *k = c->shared_counters;
    atomic_store_explicit(RBUS_A64(&k->received), c->received, memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&k->dropped), c->dropped, memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&k->missed), c->missed, memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&k->laps), c->laps, memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&k->corrupt), c->corrupt, memory_order_relaxed);
}

/* After a commit and its fence: if the stream's producer waits for space and this cursor reached the
 * position it waits for, ring it. The flag is loaded with acquire: it pairs with the exchange in
 * rbus_producer_space_register, so the target read next is the one stored before that flag (or later). */
static inline void rbus__maybe_wake_space(rbus_consumer *c, uint32_t si, uint64_t committed) {
    struct rbus_stream_hdr *h = c->s[si].hdr;
    if (RBUS_LIKELY(atomic_load_explicit(RBUS_A32(&h->space_waiter), memory_order_acquire) == 0)) return;
    if (committed >= atomic_load_explicit(RBUS_A64(&h->space_wanted), memory_order_relaxed)) rbus_wake_space(c->bus, si);
}

/*
 * Commits the cursor of every stream read since the last commit (G1): everything handed out so far is
 * consumed, and a gating producer may overwrite it. Then, for gating consumers, wakes a producer that
 * sleeps for space (the fence orders our cursor stores before the space_waiter loads: Dekker with the
 * producer's flag store / rescan in rbus_producer_wait_space).
 */
static inline void rbus_consumer_commit(rbus_consumer *c) {
    uint32_t any = 0;
    for (uint32_t si = 0; si < c->streams; si++) {
        rbus_cursor_state *s = &c->s[si];
        if (!s->dirty) continue;
        s->dirty = 0;
        any = 1;
        struct rbus_slot_cursor *k = &c->cursors[si];
        atomic_store_explicit(RBUS_A64(&k->next_seq), s->have_expected ? s->expected : 0, memory_order_relaxed);
        atomic_store_explicit(RBUS_A64(&k->position), s->position, memory_order_release); /* G1 */
    }
    if (!any) return;
    rbus__publish_counters(c);
    if (c->mode != RBUS_MODE_GATING) return;
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the flag exchange in rbus_producer_space_register */
    for (uint32_t si = 0; si < c->streams; si++) rbus__maybe_wake_space(c, si, c->s[si].position);
}

/* ---- deferred commits (a consumer that hands events to a handler and commits after it) ----------
 *
 * A gating consumer that must not commit an event before its handler succeeded reads ahead with
 * rbus_consumer_next (never calling rbus_consumer_commit), then commits each stream's cursor with
 * rbus_consumer_commit_at as handlers finish. The shared cursor trails the local read position; the
 * producer may only overwrite below the shared one (G1/G2), so records read ahead stay intact too. */

/* Commits stream `si`'s cursor at `position` (a record boundary this consumer read up to), whose record
 * carries sequence `next_seq`. G1: store_release after the last read of the records below it. Then, for
 * a gating consumer, the same space-waiter check as rbus_consumer_commit (Dekker with
 * rbus_producer_space_register: the fence orders the cursor store before the flag load). Never moves
 * a cursor back: a position below the committed one is ignored. */
static inline void rbus_consumer_commit_at(rbus_consumer *c, uint32_t si, uint64_t position, uint64_t next_seq) {
    struct rbus_slot_cursor *k = &c->cursors[si];
    if (position <= atomic_load_explicit(RBUS_A64(&k->position), memory_order_relaxed)) return; /* own word */
    atomic_store_explicit(RBUS_A64(&k->next_seq), next_seq, memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&k->position), position, memory_order_release); /* G1 */
    if (c->mode != RBUS_MODE_GATING) return;
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the flag exchange in rbus_producer_space_register */
    rbus__maybe_wake_space(c, si, position);
}

/* Moves stream `si`'s read position back to `position` (where a record of sequence `seq` starts, at or
 * after the committed cursor), so the records from there are read again: used before closing with
 * events read but not handled, so that close commits only what was handled. */
static inline void rbus_consumer_reposition(rbus_consumer *c, uint32_t si, uint64_t position, uint64_t seq) {
    rbus_cursor_state *s = &c->s[si];
    s->position = position;
    s->tail_seen = position; /* the next read loads the tail again (C1) */
    s->expected = seq;
    s->have_expected = 1;
    s->dirty = 1;
}

/* The local read position of stream `si` (the consumer's own thread only). */
static inline uint64_t rbus_consumer_position(const rbus_consumer *c, uint32_t si) { return c->s[si].position; }

/* The sequence expected at the read position of stream `si` (0 if none was seen yet); own thread only. */
static inline uint64_t rbus_consumer_expected(const rbus_consumer *c, uint32_t si) {
    return c->s[si].have_expected ? c->s[si].expected : 0;
}

/* Stream `si`'s committed cursor (relaxed: this consumer is its only writer). */
static inline uint64_t rbus_consumer_committed(const rbus_consumer *c, uint32_t si) {
    return atomic_load_explicit(RBUS_A64(&c->cursors[si].position), memory_order_relaxed);
}

/* Slow-consumer demotion for a gating consumer: once producers are more than `lag` bytes ahead of its
 * cursor they stop waiting for it, and what they overwrite before it reads is lost (counted in dropped).
 * Every read from now on is a copy validated against the producer's intent (L3), so an overwrite is
 * never delivered torn. The local flag is set before the shared word (release): no producer skips this
 * cursor before its owner reads lossy. Call once, right after opening, from the owner's thread. */
static inline void rbus_consumer_set_demote_lag(rbus_consumer *c, uint64_t lag) {
    if (c->mode != RBUS_MODE_GATING || lag == 0) return;
    c->demotable = 1;
    atomic_store_explicit(RBUS_A64(&c->meta->demote_lag), lag, memory_order_release);
}

/* Stores the owner's heartbeat (CLOCK_MONOTONIC now; display only, relaxed): once per batch or wait. */
static inline void rbus_consumer_heartbeat(rbus_consumer *c) {
    atomic_store_explicit(RBUS_A64(&c->meta->heartbeat_ns), rbus_clock_monotonic_ns(), memory_order_relaxed);
}

/* Publishes the consumer's counters into its slot for observers (relaxed: display only). */
static inline void rbus_consumer_publish_counters(rbus_consumer *c) { rbus__publish_counters(c); }

#endif /* RBUS_RING_H */
