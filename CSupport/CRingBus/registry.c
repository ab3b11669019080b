/*
 * registry.c: stream and consumer-slot ownership by OFD locks (rule O), durable names, resume.
 *
 * Owns: who holds which stream or slot, and the state a new owner starts from. Must not: touch a ring
 * byte except to read committed records when resuming a sequence (bounds-checked walk).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "include/rbus_registry.h"
#include "include/rbus_wait.h"

enum { REGISTRY_DEADLINE_MS = 5000 };

static rbus_status fail(rbus_error *err, rbus_status s, const char *call, int e) {
    if (err) {
        err->status = s;
        err->sys_errno = e;
        err->call = call;
    }
    return s;
}

/* ---- OFD byte locks ----------------------------------------------------------------------------- */
static int lock_op(int fd, int cmd, short type, int64_t byte, struct flock *out) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)byte;
    fl.l_len = 1;
    if (fcntl(fd, cmd, &fl) != 0) return -errno;
    if (out) *out = fl;
    return 0;
}

/* 0 acquired, -EAGAIN held by another description, else -errno. */
static int lock_try(int fd, int64_t byte) {
    int r = lock_op(fd, F_OFD_SETLK, F_WRLCK, byte, NULL);
    return r == -EACCES ? -EAGAIN : r;
}
static void lock_release(int fd, int64_t byte) { (void)lock_op(fd, F_OFD_SETLK, F_UNLCK, byte, NULL); }

/* 1 held by another description (alive), 0 free (dead), -errno. */
static int lock_held(int fd, int64_t byte) {
    struct flock fl;
    int r = lock_op(fd, F_OFD_GETLK, F_WRLCK, byte, &fl);
    if (r != 0) return r;
    return fl.l_type != F_UNLCK;
}

static int64_t stream_lock_byte(uint32_t i) { return RBUS_LOCK_BASE + i; }
static int64_t slot_lock_byte(uint32_t j) { return RBUS_LOCK_BASE + RBUS_MAX_STREAMS + j; }

int rbus_stream_alive(const rbus_bus *b, uint32_t stream) {
    if (stream >= b->streams) return -EINVAL;
    return lock_held(b->fd, stream_lock_byte(stream));
}
int rbus_slot_alive(const rbus_bus *b, uint32_t slot) {
    if (slot >= b->consumers) return -EINVAL;
    return lock_held(b->fd, slot_lock_byte(slot));
}

/* A participant's own open file description of the same file (not the same name: it may have been
 * removed and recreated), so its locks exclude every other participant, in this process or not. */
static int open_participant_fd(const rbus_bus *b) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", b->fd);
    return open(path, O_RDWR | O_CLOEXEC);
}

static rbus_status registry_lock(int fd, rbus_error *err) {
    for (int waited = 0; waited < REGISTRY_DEADLINE_MS * 10; waited++) {
        int r = lock_try(fd, RBUS_LOCK_REGISTRY);
        if (r == 0) return RBUS_OK;
        if (r != -EAGAIN) return fail(err, RBUS_E_SYSTEM, "fcntl(F_OFD_SETLK)", -r);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return fail(err, RBUS_E_BUSY, "registry lock", 0);
}

static uint64_t make_claim(uint32_t state, uint64_t old) {
    uint64_t gen = ((rbus_claim_generation(old) + 1) & 0xffffff);
    return (uint64_t)state | (gen << 8) | ((uint64_t)(uint32_t)getpid() << 32);
}

/* Copies a shared NUL-padded name into a local string, then compares (never trust: bounded read). */
static int name_equals(const uint8_t shared[RBUS_NAME_MAX], const char *name) {
    char local[RBUS_NAME_MAX + 1];
    memcpy(local, shared, RBUS_NAME_MAX);
    local[RBUS_NAME_MAX] = 0;
    return name && strcmp(local, name) == 0;
}
static int name_empty(const uint8_t shared[RBUS_NAME_MAX]) { return shared[0] == 0; }
static void name_store(uint8_t shared[RBUS_NAME_MAX], const char *name) {
    memset(shared, 0, RBUS_NAME_MAX);
    if (name) memcpy(shared, name, strnlen(name, RBUS_NAME_MAX));
}

/* ---- producer ------------------------------------------------------------------------------------ */

/* Resumes the sequence from committed state only: walk the records from `latest` (or the lap boundary
 * when latest is out of range) up to tail, bounds-checking each; the last event's sequence + 1. */
static rbus_status resume_sequence(const rbus_bus *b, uint32_t si, uint64_t tail, uint64_t latest, uint64_t *next) {
    *next = 0;
    if (tail == 0) return RBUS_OK;
    uint64_t lap_start = (tail - 1) & ~b->mask;
    uint64_t pos = (latest <= tail && latest >= lap_start) ? latest : lap_start;
    const uint8_t *ring = rbus_bus_ring(b, si);
    int found = 0;
    uint64_t last = 0;
    for (int guard = 0; pos < tail && guard < (int)(b->capacity / 8) + 1; guard++) {
        uint64_t off = pos & b->mask;
        struct rbus_record_hdr r = {0};
        memcpy(&r, ring + off, b->capacity - off >= sizeof r ? sizeof r : 8);
        uint64_t stride = rbus__record_stride(r.length, r.type, b->capacity - off, tail - pos, b->max_record);
        if (!stride) return RBUS_E_CORRUPT;
        if (r.type == RBUS_REC_EVENT) {
            found = 1;
            last = r.sequence;
        }
        pos += stride;
    }
    if (pos != tail) return RBUS_E_CORRUPT;
    if (found) *next = last + 1;
    else if (latest < tail) return RBUS_E_CORRUPT; /* committed bytes but no event: not a ring we wrote */
    return RBUS_OK;
}

static rbus_status take_stream(rbus_bus *b, rbus_producer *p, uint32_t si, const char *name, int fd) {
    struct rbus_stream_hdr *h = rbus_bus_stream(b, si);
    uint64_t tail = atomic_load_explicit(RBUS_A64(&h->tail), memory_order_acquire); /* pairs with P1 */
    uint64_t latest = atomic_load_explicit(RBUS_A64(&h->latest), memory_order_relaxed);
    uint64_t intent = atomic_load_explicit(RBUS_A64(&h->intent), memory_order_relaxed);
    uint64_t next = 0;
    rbus_status s = resume_sequence(b, si, tail, latest, &next);
    if (s != RBUS_OK) return s;

    memset(p, 0, sizeof *p);
    p->bus = b;
    p->hdr = h;
    p->ring = rbus_bus_ring(b, si);
    p->capacity = b->capacity;
    p->mask = b->mask;
    p->reserve = b->capacity / 16;
    p->tail = p->pending = p->pending_latest = tail;
    p->intent = intent > tail ? intent : tail; /* L1: intent is monotonic for the segment's life */
    p->gate = tail;
    p->next_seq = next;
    p->published = next;
    p->stream = si;
    p->max_event_size = b->max_event_size;
    p->clock_kind = b->clock_kind;
    p->fork_generation = b->fork_generation;
    p->lock_fd = fd;

    name_store(h->name, name);
    atomic_store_explicit(RBUS_A64(&h->start_time_ns), rbus_clock_realtime_ns(), memory_order_relaxed);
    uint64_t old = atomic_load_explicit(RBUS_A64(&h->claim), memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&h->claim), make_claim(RBUS_STATE_ACTIVE, old), memory_order_release);
    rbus_producer_rescan(p, tail); /* G2: learn the gate before the first claim */
    return RBUS_OK;
}

rbus_status rbus_producer_open(rbus_bus *b, const char *name, rbus_producer *p, rbus_error *err) {
    if (name && rbus_name_validate(name) != RBUS_OK) return fail(err, RBUS_E_NAME, "producer open", 0);
    if (b->fork_generation != rbus_fork_generation()) return fail(err, RBUS_E_FORKED, "producer open", 0);
    if (rbus_bus_is_removed(b)) return fail(err, RBUS_E_REMOVED, "producer open", 0);
    int fd = open_participant_fd(b);
    if (fd < 0) return fail(err, RBUS_E_SYSTEM, "open", errno);
    rbus_status s = registry_lock(fd, err);
    if (s != RBUS_OK) {
        close(fd);
        return s;
    }
    int chosen = -1;
    s = RBUS_E_NO_SLOT;
    if (name) { /* a durable name first looks for its own stream */
        for (uint32_t i = 0; i < b->streams && chosen < 0; i++) {
            if (!name_equals(rbus_bus_stream(b, i)->name, name)) continue;
            int r = lock_try(fd, stream_lock_byte(i));
            if (r == 0) chosen = (int)i;
            else {
                s = r == -EAGAIN ? RBUS_E_NAME_IN_USE : RBUS_E_SYSTEM;
                break;
            }
        }
    }
    for (uint32_t i = 0; i < b->streams && chosen < 0 && s == RBUS_E_NO_SLOT; i++) {
        if (!name_empty(rbus_bus_stream(b, i)->name)) continue; /* reserved for its durable name */
        if (lock_try(fd, stream_lock_byte(i)) == 0) chosen = (int)i;
    }
    if (chosen >= 0) {
        s = take_stream(b, p, (uint32_t)chosen, name, fd);
        if (s != RBUS_OK) lock_release(fd, stream_lock_byte((uint32_t)chosen));
    }
    lock_release(fd, RBUS_LOCK_REGISTRY);
    if (s != RBUS_OK) {
        close(fd);
        return fail(err, s, "producer open", 0);
    }
    return RBUS_OK;
}

void rbus_producer_close(rbus_producer *p) {
    if (p->lock_fd < 0) return;
    struct rbus_stream_hdr *h = p->hdr;
    uint32_t state = name_empty(h->name) ? RBUS_STATE_FREE : RBUS_STATE_DETACHED;
    atomic_store_explicit(RBUS_A32(&h->spinning), 0, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(RBUS_A64(&h->claim), memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&h->claim), make_claim(state, old), memory_order_release);
    close(p->lock_fd); /* the kernel drops the stream lock with the last fd of the description */
    p->lock_fd = -1;
}

/* ---- consumer ------------------------------------------------------------------------------------ */

/* Where LATEST / EARLIEST start on a stream whose tail is `t`. */
static uint64_t start_position(const rbus_bus *b, uint64_t t, rbus_start start) {
    if (start == RBUS_START_EARLIEST) return t <= b->capacity ? 0 : ((t - b->capacity + b->mask) & ~b->mask);
    return t;
}

/* The sequence of the record at `pos` (a record boundary below `tail`), read like a lossy reader reads
 * (copy, acquire fence, intent check: rule L3), stepping over one padding record. 1 if known. */
static int peek_sequence(const rbus_bus *b, uint32_t si, uint64_t pos, uint64_t tail, uint64_t *seq) {
    struct rbus_stream_hdr *h = rbus_bus_stream(b, si);
    const uint8_t *ring = rbus_bus_ring(b, si);
    for (int step = 0; step < 2 && pos < tail; step++) {
        uint64_t off = pos & b->mask;
        struct rbus_record_hdr r = {0};
        rbus__racy_copy((uint8_t *)&r, ring + off, b->capacity - off >= sizeof r ? sizeof r : 8);
        atomic_thread_fence(memory_order_acquire); /* pairs with the producer's L1 release fence */
        uint64_t intent = atomic_load_explicit(RBUS_A64(&h->intent), memory_order_relaxed);
        if (intent > pos + b->capacity) return 0; /* already overwritten: unknown */
        uint64_t stride = rbus__record_stride(r.length, r.type, b->capacity - off, tail - pos, b->max_record);
        if (!stride) return 0;
        if (r.type == RBUS_REC_EVENT) {
            *seq = r.sequence;
            return 1;
        }
        pos += stride;
    }
    return 0;
}

static rbus_status init_cursors(rbus_bus *b, rbus_consumer *c, rbus_start start, const uint64_t *positions,
                                int resume) {
    for (uint32_t si = 0; si < b->streams; si++) {
        rbus_cursor_state *s = &c->s[si];
        s->hdr = rbus_bus_stream(b, si);
        s->ring = rbus_bus_ring(b, si);
        uint64_t t = atomic_load_explicit(RBUS_A64(&rbus_bus_stream(b, si)->tail), memory_order_acquire);
        if (resume) {
            s->position = atomic_load_explicit(RBUS_A64(&c->cursors[si].position), memory_order_relaxed);
            s->expected = atomic_load_explicit(RBUS_A64(&c->cursors[si].next_seq), memory_order_relaxed);
            s->have_expected = 1;
            s->resumed = 1;
            if (s->position > t) { /* never trust: a cursor beyond the tail is corrupt; start at tail */
                s->position = t;
                s->have_expected = 0;
                c->corrupt++;
            }
        } else if (start == RBUS_START_POSITION) {
            if (!positions || positions[si] > t || (positions[si] & 7)) return RBUS_E_PARAM;
            s->position = positions[si];
        } else {
            s->position = start_position(b, t, start);
        }
        if (!resume) {
            /* Know the sequence at the start, so losses before the first read are counted too. */
            if (s->position == 0) s->have_expected = 1; /* a stream's first record has sequence 0 */
            else if (s->position < t && peek_sequence(b, si, s->position, t, &s->expected)) s->have_expected = 1;
        }
        s->tail_seen = s->position;
        atomic_store_explicit(RBUS_A64(&c->cursors[si].next_seq), s->have_expected ? s->expected : 0,
                              memory_order_relaxed);
        atomic_store_explicit(RBUS_A64(&c->cursors[si].position), s->position, memory_order_release);
    }
    return RBUS_OK;
}

static int slot_is_free_for_anonymous(const rbus_bus *b, uint32_t j) {
    struct rbus_slot_meta *m = rbus_bus_slot(b, j);
    uint32_t st = rbus_claim_state(atomic_load_explicit(RBUS_A64(&m->claim), memory_order_acquire));
    return name_empty(m->name) || st == RBUS_STATE_FREE;
}

rbus_status rbus_consumer_open(rbus_bus *b, const char *name, uint32_t mode, rbus_start start,
                               const uint64_t *positions, uint8_t *scratch, rbus_consumer *c,
                               rbus_open_info *info, rbus_error *err) {
    if (name && rbus_name_validate(name) != RBUS_OK) return fail(err, RBUS_E_NAME, "consumer open", 0);
    if ((mode != RBUS_MODE_LOSSY && mode != RBUS_MODE_GATING) || !scratch || start < RBUS_START_LATEST ||
        start > RBUS_START_COMMITTED_OR_EARLIEST)
        return fail(err, RBUS_E_PARAM, "consumer open", 0);
    if (b->fork_generation != rbus_fork_generation()) return fail(err, RBUS_E_FORKED, "consumer open", 0);
    if (rbus_bus_is_removed(b)) return fail(err, RBUS_E_REMOVED, "consumer open", 0);
    int fd = open_participant_fd(b);
    if (fd < 0) return fail(err, RBUS_E_SYSTEM, "open", errno);
    rbus_status s = registry_lock(fd, err);
    if (s != RBUS_OK) {
        close(fd);
        return s;
    }
    rbus_open_info local = {0};
    int chosen = -1;
    s = RBUS_E_NO_SLOT;
    if (name) {
        for (uint32_t j = 0; j < b->consumers && chosen < 0; j++) {
            if (!name_equals(rbus_bus_slot(b, j)->name, name)) continue;
            int r = lock_try(fd, slot_lock_byte(j));
            if (r != 0) {
                s = r == -EAGAIN ? RBUS_E_NAME_IN_USE : RBUS_E_SYSTEM;
                break;
            }
            chosen = (int)j;
            uint64_t w = atomic_load_explicit(RBUS_A64(&rbus_bus_slot(b, j)->claim), memory_order_acquire);
            local.resumed = rbus_claim_state(w) != RBUS_STATE_FREE;
            local.was_evicted = rbus_claim_state(w) == RBUS_STATE_EVICTED;
            local.crashed = rbus_claim_state(w) == RBUS_STATE_ACTIVE; /* we hold its lock: the owner is gone */
        }
    }
    for (uint32_t j = 0; j < b->consumers && chosen < 0 && s == RBUS_E_NO_SLOT; j++) {
        if (!slot_is_free_for_anonymous(b, j)) continue; /* a durable name's place */
        if (lock_try(fd, slot_lock_byte(j)) == 0) chosen = (int)j;
    }
    if (chosen >= 0) {
        uint32_t j = (uint32_t)chosen;
        memset(c, 0, sizeof *c);
        c->bus = b;
        c->meta = rbus_bus_slot(b, j);
        c->cursors = rbus_bus_cursors(b, j);
        c->shared_counters = rbus_bus_counters(b, j);
        c->scratch = scratch;
        c->capacity = b->capacity;
        c->mask = b->mask;
        c->max_record = b->max_record;
        c->slot = j;
        c->mode = mode;
        c->streams = b->streams;
        c->fork_generation = b->fork_generation;
        c->lock_fd = fd;
        c->durable = name != NULL;
        c->sleeper_word = j / 64;
        c->sleeper_bit = (uint64_t)1 << (j % 64);
        int from_committed = start == RBUS_START_COMMITTED || start == RBUS_START_COMMITTED_OR_EARLIEST;
        int resume = local.resumed && from_committed;
        if (local.resumed) { /* carry the durable name's counters forward */
            c->received = c->shared_counters->received;
            c->dropped = c->shared_counters->dropped;
            c->missed = c->shared_counters->missed;
        } else {
            memset(c->shared_counters, 0, sizeof *c->shared_counters);
        }
        rbus_start fresh = start == RBUS_START_COMMITTED            ? RBUS_START_LATEST
                           : start == RBUS_START_COMMITTED_OR_EARLIEST ? RBUS_START_EARLIEST
                                                                       : start;
        s = init_cursors(b, c, fresh, positions, resume);
        if (s == RBUS_OK) {
            struct rbus_slot_meta *m = c->meta;
            name_store(m->name, name);
            atomic_store_explicit(RBUS_A32(&m->mode), mode, memory_order_relaxed);
            atomic_store_explicit(RBUS_A32(&m->spinning), 0, memory_order_relaxed);
            atomic_store_explicit(RBUS_A64(&m->start_time_ns), rbus_clock_realtime_ns(), memory_order_relaxed);
            uint64_t old = atomic_load_explicit(RBUS_A64(&m->claim), memory_order_relaxed);
            uint64_t w = make_claim(RBUS_STATE_ACTIVE, old);
            atomic_store_explicit(RBUS_A64(&m->claim), w, memory_order_release);
            local.generation = rbus_claim_generation(w);
            /* G3: cursor and ACTIVE stored; full fence; read each gate limit. Dekker with the producer's
             * gate_limit store + fence + cursor re-load in rbus_producer_rescan: either it sees our
             * cursor, or we see its limit and read everything below it with lossy validation. */
            atomic_thread_fence(memory_order_seq_cst);
            for (uint32_t si = 0; si < b->streams; si++) {
                c->s[si].lossy_until =
                    atomic_load_explicit(RBUS_A64(&rbus_bus_stream(b, si)->gate_limit), memory_order_relaxed);
            }
        } else {
            lock_release(fd, slot_lock_byte(j));
        }
    }
    lock_release(fd, RBUS_LOCK_REGISTRY);
    if (s != RBUS_OK) {
        close(fd);
        return fail(err, s, "consumer open", 0);
    }
    if (info) *info = local;
    return RBUS_OK;
}

void rbus_consumer_close(rbus_consumer *c) {
    if (c->lock_fd < 0) return;
    rbus_consumer_commit(c);
    rbus__publish_counters(c);
    rbus_wait_unregister(c);
    struct rbus_slot_meta *m = c->meta;
    atomic_store_explicit(RBUS_A32(&m->spinning), 0, memory_order_relaxed);
    uint32_t state = c->durable ? RBUS_STATE_DETACHED : RBUS_STATE_FREE;
    uint64_t old = atomic_load_explicit(RBUS_A64(&m->claim), memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&m->claim), make_claim(state, old), memory_order_release);
    close(c->lock_fd); /* drops the slot lock */
    c->lock_fd = -1;
}

/* ---- operator actions (the CLI's `consumers rm` and `cleanup`) ----------------------------------- */

/* Frees one slot whose lock this description holds: no name, FREE, zeroed cursors (so it gates no one),
 * under the registry lock so no open races it. */
static void free_slot_locked(rbus_bus *b, uint32_t j) {
    struct rbus_slot_meta *m = rbus_bus_slot(b, j);
    atomic_store_explicit(RBUS_A32(&m->mode), 0, memory_order_relaxed);
    atomic_store_explicit(RBUS_A64(&m->demote_lag), 0, memory_order_relaxed);
    name_store(m->name, NULL);
    uint64_t old = atomic_load_explicit(RBUS_A64(&m->claim), memory_order_relaxed);
    /* Release: the cleared mode and name are visible before FREE (pairs with the acquire loads of claim in
     * scan_min and the registry). A FREE slot is skipped by producers whatever its cursors say. */
    atomic_store_explicit(RBUS_A64(&m->claim), make_claim(RBUS_STATE_FREE, old), memory_order_release);
}

rbus_status rbus_consumer_forget(rbus_bus *b, const char *name, rbus_error *err) {
    if (!name || rbus_name_validate(name) != RBUS_OK) return fail(err, RBUS_E_NAME, "forget", 0);
    if (b->fork_generation != rbus_fork_generation()) return fail(err, RBUS_E_FORKED, "forget", 0);
    int fd = open_participant_fd(b);
    if (fd < 0) return fail(err, RBUS_E_SYSTEM, "open", errno);
    rbus_status s = registry_lock(fd, err);
    if (s != RBUS_OK) {
        close(fd);
        return s;
    }
    s = RBUS_E_NOT_FOUND;
    for (uint32_t j = 0; j < b->consumers; j++) {
        if (!name_equals(rbus_bus_slot(b, j)->name, name)) continue;
        int r = lock_try(fd, slot_lock_byte(j));
        if (r != 0) {
            s = r == -EAGAIN ? RBUS_E_NAME_IN_USE : RBUS_E_SYSTEM;
            break;
        }
        free_slot_locked(b, j);
        lock_release(fd, slot_lock_byte(j));
        s = RBUS_OK;
        break;
    }
    lock_release(fd, RBUS_LOCK_REGISTRY);
    close(fd);
    return s == RBUS_OK ? RBUS_OK : fail(err, s, "forget", 0);
}

int rbus_reap_dead_anonymous(rbus_bus *b, uint32_t *slots, uint32_t max, int dry_run) {
    if (b->fork_generation != rbus_fork_generation()) return -ECHILD;
    int fd = open_participant_fd(b);
    if (fd < 0) return -errno;
    if (registry_lock(fd, NULL) != RBUS_OK) {
        close(fd);
        return -EBUSY;
    }
    uint32_t n = 0;
    for (uint32_t j = 0; j < b->consumers && n < max; j++) {
        struct rbus_slot_meta *m = rbus_bus_slot(b, j);
        uint32_t st = rbus_claim_state(atomic_load_explicit(RBUS_A64(&m->claim), memory_order_acquire));
        if (st != RBUS_STATE_ACTIVE || !name_empty(m->name)) continue; /* durable places are kept */
        if (lock_try(fd, slot_lock_byte(j)) != 0) continue;            /* alive */
        if (!dry_run) free_slot_locked(b, j);
        lock_release(fd, slot_lock_byte(j));
        slots[n++] = j;
    }
    lock_release(fd, RBUS_LOCK_REGISTRY);
    close(fd);
    return (int)n;
}
