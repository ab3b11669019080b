/*
 * rbus_segment.h: create, attach, validate, detach and remove a bus segment (cold, out of line).
 *
 * A process-local rbus_bus holds the mapping and *validated copies* of every size the header stores;
 * after attach nothing reads a size from shared memory again, so a peer rewriting the header later
 * cannot steer this process outside its mapping. Accessors below compute addresses from those copies.
 *
 * Creation never exposes a half-built segment: it is built under a hidden temporary name, fully
 * allocated with posix_fallocate (a full /dev/shm fails here with RBUS_E_NO_SPACE, not with SIGBUS
 * later), initialised, stamped, and only then renamed into place with renameat2(RENAME_NOREPLACE).
 *
 * Documented non-guarantee: a peer that truncates the object makes this process take SIGBUS on its
 * next access (POSIX shared memory cannot be sealed).
 */
#ifndef RBUS_SEGMENT_H
#define RBUS_SEGMENT_H

#include <stdint.h>

#include "rbus_layout.h"
#include "rbus_status.h"

typedef struct rbus_create_params {
    uint32_t streams;            /* 1..RBUS_MAX_STREAMS producers (one stream each) */
    uint32_t consumers;          /* 1..RBUS_MAX_CONSUMERS consumer slots */
    uint64_t capacity;           /* ring bytes per stream: a power of two, 4 KiB..4 GiB */
    uint32_t max_event_size;     /* max payload bytes per event: 64..capacity / 8 */
    uint32_t mode;               /* file mode bits, e.g. 0600 */
    uint64_t eviction_grace_ns;  /* how long a dead durable gating consumer keeps its place */
} rbus_create_params;

/* A process-local handle. Fields are trusted copies made after validation. */
typedef struct rbus_bus {
    uint8_t *base;
    uint64_t size;
    int32_t fd;
    uint32_t streams;
    uint32_t consumers;
    uint32_t slot_stride;
    uint32_t max_event_size;
    uint32_t clock_kind;
    uint64_t capacity;
    uint64_t mask;
    uint64_t max_record;
    uint64_t stream_stride;
    uint64_t consumers_offset;
    uint64_t streams_offset;
    uint64_t incarnation;
    uint64_t create_time_ns;
    uint64_t eviction_grace_ns;
    uint64_t tsc_base;
    uint64_t realtime_base_ns;
    uint64_t tsc_mult;
    uint32_t creator_uid;
    uint32_t sleeper_words;      /* ceil(consumers / 64) */
    uint32_t online_cpus;        /* set by attach/create (not by rbus_bus_validate) */
    uint32_t fork_generation;    /* rbus_fork_generation() when attached */
    char name[RBUS_NAME_MAX + 1];
} rbus_bus;

/* ---- addresses (computed from the trusted copies only) ----------------------------------------- */
static inline struct rbus_bus_hdr *rbus_bus_header(const rbus_bus *b) {
    return (struct rbus_bus_hdr *)(void *)b->base;
}
static inline struct rbus_stream_hdr *rbus_bus_stream(const rbus_bus *b, uint32_t i) {
    return (struct rbus_stream_hdr *)(void *)(b->base + b->streams_offset + (uint64_t)i * b->stream_stride);
}
static inline uint8_t *rbus_bus_ring(const rbus_bus *b, uint32_t i) {
    return b->base + b->streams_offset + (uint64_t)i * b->stream_stride + RBUS_STREAM_HEADER_SIZE;
}
static inline struct rbus_slot_meta *rbus_bus_slot(const rbus_bus *b, uint32_t j) {
    return (struct rbus_slot_meta *)(void *)(b->base + b->consumers_offset + (uint64_t)j * b->slot_stride);
}
static inline struct rbus_slot_cursor *rbus_bus_cursors(const rbus_bus *b, uint32_t j) {
    return (struct rbus_slot_cursor *)(void *)((uint8_t *)rbus_bus_slot(b, j) + RBUS_SLOT_META_SIZE);
}
static inline struct rbus_slot_counters *rbus_bus_counters(const rbus_bus *b, uint32_t j) {
    return (struct rbus_slot_counters *)(void *)((uint8_t *)rbus_bus_slot(b, j) + b->slot_stride -
                                                 RBUS_SLOT_COUNTERS_SIZE);
}

/* ---- lifecycle ---------------------------------------------------------------------------------- */

/* RBUS_OK if `name` is a valid bus or durable name: [A-Za-z0-9_.-]{1,64}, not "." or "..". */
rbus_status rbus_name_validate(const char *name);

/* Fills `p` with defaults: 1 stream, 16 consumers, 1 MiB rings, 64 KiB events, mode 0600, grace 10 s. */
void rbus_create_params_default(rbus_create_params *p);

/* Total segment bytes for `p`, or 0 if a parameter is out of range (*why set to the status). */
uint64_t rbus_segment_size_for(const rbus_create_params *p, rbus_status *why);

/* Creates /ringbus.<name> and attaches it into *out. RBUS_E_EXISTS if it exists. */
rbus_status rbus_bus_create(const char *name, const rbus_create_params *p, rbus_bus *out, rbus_error *err);

/* Attaches an existing bus, read-write (`writable` = 1) or read-only for observers. */
rbus_status rbus_bus_attach(const char *name, int writable, rbus_bus *out, rbus_error *err);

/* Validates a mapping of `size` bytes whose file is owned by `file_uid`; on success fills the trusted
 * copies in *out (base and size included; fd set to -1). Pure: no system call, no write. */
rbus_status rbus_bus_validate(uint8_t *base, uint64_t size, uint32_t file_uid, rbus_bus *out);

/* Unmaps and closes. Locks held through participant fds are not affected. */
void rbus_bus_detach(rbus_bus *b);

/* Sets the removed flag (release; attached processes see RBUS_E_REMOVED on their slow paths), then
 * unlinks the name. RBUS_E_NOT_FOUND if there is no such bus. */
rbus_status rbus_bus_remove(const char *name, rbus_error *err);

/* Unlinks /dev/shm/ringbus.<name> whatever it holds (a corrupt segment, one of another layout), but
 * only if it is a regular file owned by the caller's effective uid: RBUS_E_NOT_FILE when it is not a
 * regular file, RBUS_E_PERMISSION when another uid owns it, RBUS_E_NOT_FOUND when it is gone. Sets no
 * flag (nothing valid to set it in). For `ringbus rm --force` of what rbus_bus_attach refuses. */
rbus_status rbus_bus_remove_file(const char *name, rbus_error *err);

/* What rbus_temp_reap found at one /dev/shm entry named like a creation temporary. */
typedef enum rbus_temp_state {
    RBUS_TEMP_ABANDONED = 0,   /* a regular file, old enough, its creator's lock free: removed (or would be) */
    RBUS_TEMP_LIVE = 1,        /* its creator holds RBUS_LOCK_CREATOR: a create in progress, kept */
    RBUS_TEMP_YOUNG = 2,       /* changed less than the grace period ago, kept */
    RBUS_TEMP_NOT_FILE = 3,    /* a directory, link or other non-regular entry: never touched */
    RBUS_TEMP_OTHER_OWNER = 4, /* owned by another uid and any_owner was 0: kept */
    RBUS_TEMP_GONE = 5,        /* vanished or replaced while looking: nothing done */
    RBUS_TEMP_NOT_PERMITTED = 6, /* abandoned, but this user may not unlink it (sticky /dev/shm): kept */
} rbus_temp_state;

/* Cleanup of half-built segments (rule: nothing a live process uses is ever removed). `file` is an
 * entry name in /dev/shm of the form ".ringbus-tmp.<bus>.<pid>.<16 hex digits>" (RBUS_E_NAME otherwise).
 * Removes it, unless dry_run, only when it is a regular file (lstat: never a directory or a link),
 * owned by the caller's effective uid (or any uid when any_owner), unchanged for at least grace_ns,
 * and no creator holds its RBUS_LOCK_CREATOR byte (tested on an fd of that very inode). */
rbus_status rbus_temp_reap(const char *file, uint64_t grace_ns, int any_owner, int dry_run, rbus_temp_state *state,
                           rbus_error *err);

/* 1 once the bus's removed flag is set (acquire; pairs with the release in rbus_bus_remove). */
int rbus_bus_is_removed(const rbus_bus *b);

/* Increments in a child after fork(): handles attached before the fork refuse to work there. */
uint32_t rbus_fork_generation(void);

/* Wall-clock nanoseconds of a record timestamp of this bus. */
uint64_t rbus_bus_timestamp_ns(const rbus_bus *b, uint64_t ticks);

#endif /* RBUS_SEGMENT_H */
