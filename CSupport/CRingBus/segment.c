/*
 * segment.c: create / attach / validate / detach / remove a bus segment.
 *
 * Owns: the segment's life cycle and the validation of its header. Must not: run any protocol step
 * (that is ring.c, wait.c, registry.c) or trust a header field that validation has not checked.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "include/rbus_clock.h"
#include "include/rbus_ring.h"
#include "include/rbus_segment.h"
#include "include/rbus_system.h"
#include "include/rbus_wait.h"

#define RBUS_SHM_DIR "/dev/shm"

static rbus_status fail_sys(rbus_error *err, const char *call, int e) {
    if (err) {
        err->status = RBUS_E_SYSTEM;
        err->sys_errno = e;
        err->call = call;
    }
    return RBUS_E_SYSTEM;
}

static rbus_status fail(rbus_error *err, rbus_status s, const char *call, int e) {
    if (err) {
        err->status = s;
        err->sys_errno = e;
        err->call = call;
    }
    return s;
}

/* ---- fork generation: a child must not act through handles it inherited (rule O) ------------ */
_Atomic uint32_t rbus__fork_generation = 0;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void) { atomic_fetch_add(&rbus__fork_generation, 1); }
static void install_fork_handler(void) { pthread_atfork(NULL, NULL, on_fork_child); }

uint32_t rbus_fork_generation(void) {
    pthread_once(&fork_once, install_fork_handler);
    return atomic_load(&rbus__fork_generation);
}

/* ---- names -------------------------------------------------------------------------------------- */
rbus_status rbus_name_validate(const char *name) {
    if (!name) return RBUS_E_NAME;
    size_t n = strnlen(name, RBUS_NAME_MAX + 1);
    if (n == 0 || n > RBUS_NAME_MAX) return RBUS_E_NAME;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return RBUS_E_NAME;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                 ch == '.' || ch == '-';
        if (!ok) return RBUS_E_NAME;
    }
    return RBUS_OK;
}

/* ---- layout hash: FNV-1a over every offset and size the layout defines ------------------------- */
uint32_t rbus_layout_hash(void) {
    const uint64_t facts[] = {
        RBUS_LAYOUT_VERSION, RBUS_BLOCK, RBUS_HEADER_SIZE, RBUS_STREAM_HEADER_SIZE, RBUS_SLOT_META_SIZE,
        RBUS_SLOT_CURSOR_SIZE, RBUS_SLOT_COUNTERS_SIZE, RBUS_REC_HEADER_SIZE, RBUS_NAME_MAX, RBUS_TOPIC_MAX,
        RBUS_MAX_STREAMS, RBUS_MAX_CONSUMERS, RBUS_HDR_REMOVED_OFFSET, RBUS_HDR_SLEEPERS_OFFSET,
        RBUS_HDR_DOORBELL_OFFSET, offsetof(struct rbus_bus_hdr, capacity), offsetof(struct rbus_bus_hdr, total_size),
        offsetof(struct rbus_bus_hdr, tsc_mult), offsetof(struct rbus_bus_hdr, creator_uid),
        RBUS_STREAM_TAIL_OFFSET, RBUS_STREAM_INTENT_OFFSET, RBUS_STREAM_LATEST_OFFSET, RBUS_STREAM_SPACE_OFFSET,
        offsetof(struct rbus_stream_hdr, gate_limit), offsetof(struct rbus_stream_hdr, space_wanted),
        offsetof(struct rbus_slot_meta, name),
        offsetof(struct rbus_slot_meta, mode), offsetof(struct rbus_slot_meta, demote_lag),
        offsetof(struct rbus_slot_counters, futex_waits),
        offsetof(struct rbus_record_hdr, topic_len), offsetof(struct rbus_record_hdr, flags),
        RBUS_REC_EVENT, RBUS_REC_PADDING, RBUS_LOCK_BASE,
    };
    return rbus_topic_hash((const uint8_t *)facts, sizeof facts);
}

/* ---- sizes -------------------------------------------------------------------------------------- */
void rbus_create_params_default(rbus_create_params *p) {
    p->streams = 1;
    p->consumers = 16;
    p->capacity = 1u << 20;
    p->max_event_size = 64u << 10;
    p->mode = 0600;
    p->eviction_grace_ns = 10ull * 1000000000ull;
}

static int is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

uint64_t rbus_segment_size_for(const rbus_create_params *p, rbus_status *why) {
    rbus_status bad = RBUS_E_PARAM;
    if (why) *why = bad;
    if (p->streams < 1 || p->streams > RBUS_MAX_STREAMS) return 0;
    if (p->consumers < 1 || p->consumers > RBUS_MAX_CONSUMERS) return 0;
    if (!is_pow2(p->capacity) || p->capacity < RBUS_MIN_CAPACITY || p->capacity > RBUS_MAX_CAPACITY) return 0;
    if (p->max_event_size < RBUS_MIN_EVENT_SIZE || p->max_event_size > p->capacity / 8) return 0;
    if (p->mode & ~0777u) return 0; /* a plain file mode: no setuid, setgid or sticky bits */
    uint64_t slots = (uint64_t)p->consumers * rbus_slot_stride_for(p->streams);
    uint64_t stream_stride = RBUS_STREAM_HEADER_SIZE + p->capacity;
    if (why) *why = RBUS_OK;
    return RBUS_HEADER_SIZE + slots + (uint64_t)p->streams * stream_stride;
}

/* ---- validation: the only reader of the untrusted header at attach ----------------------------- */
rbus_status rbus_bus_validate(uint8_t *base, uint64_t size, uint32_t file_uid, rbus_bus *out) {
    if (size < RBUS_HEADER_SIZE) return RBUS_E_TOO_SMALL;
    const struct rbus_bus_hdr *h = (const struct rbus_bus_hdr *)(void *)base;
    /* Read each field once into a local; validate the locals; never look at the header again. */
    uint64_t magic = atomic_load_explicit(RBUS_A64(&h->magic), memory_order_acquire);
    if (magic != RBUS_MAGIC) return RBUS_E_MAGIC;
    uint32_t version = h->layout_version;
    if (version != RBUS_LAYOUT_VERSION) return RBUS_E_VERSION;
    if (h->layout_hash != rbus_layout_hash()) return RBUS_E_LAYOUT_HASH;
    rbus_create_params p = {
        .streams = h->stream_count,
        .consumers = h->consumer_count,
        .capacity = h->capacity,
        .max_event_size = h->max_event_size,
        .mode = 0,
        .eviction_grace_ns = h->eviction_grace_ns,
    };
    uint32_t header_size = h->header_size, slot_stride = h->slot_stride, clock_kind = h->clock_kind;
    uint64_t stream_stride = h->stream_stride, consumers_offset = h->consumers_offset;
    uint64_t streams_offset = h->streams_offset, total = h->total_size;
    rbus_status why;
    uint64_t expect = rbus_segment_size_for(&p, &why);
    if (!expect || header_size != RBUS_HEADER_SIZE || slot_stride != rbus_slot_stride_for(p.streams) ||
        stream_stride != RBUS_STREAM_HEADER_SIZE + p.capacity || consumers_offset != RBUS_HEADER_SIZE ||
        streams_offset != RBUS_HEADER_SIZE + (uint64_t)p.consumers * slot_stride || total != expect ||
        (clock_kind != RBUS_CLOCK_TSC && clock_kind != RBUS_CLOCK_REALTIME))
        return RBUS_E_GEOMETRY;
    if (total != size) return RBUS_E_SIZE;
    uint32_t creator_uid = h->creator_uid;
    if (creator_uid != file_uid) return RBUS_E_OWNER;

    memset(out, 0, sizeof *out);
    out->base = base;
    out->size = size;
    out->fd = -1;
    out->streams = p.streams;
    out->consumers = p.consumers;
    out->slot_stride = slot_stride;
    out->max_event_size = p.max_event_size;
    out->clock_kind = clock_kind;
    out->capacity = p.capacity;
    out->mask = p.capacity - 1;
    out->max_record = rbus_max_record_for(p.max_event_size);
    out->stream_stride = stream_stride;
    out->consumers_offset = consumers_offset;
    out->streams_offset = streams_offset;
    out->incarnation = h->incarnation;
    out->create_time_ns = h->create_time_ns;
    out->eviction_grace_ns = p.eviction_grace_ns;
    out->tsc_base = h->tsc_base;
    out->realtime_base_ns = h->realtime_base_ns;
    out->tsc_mult = h->tsc_mult;
    out->creator_uid = creator_uid;
    out->sleeper_words = (p.consumers + 63) / 64;
    return RBUS_OK;
}

/* RBUS_OK when `fd` is a regular file (a bus can only be one), else RBUS_E_NOT_FILE. */
static rbus_status regular_file(int fd, rbus_error *err) {
    struct stat st;
    if (fstat(fd, &st) != 0) return fail_sys(err, "fstat", errno);
    return S_ISREG(st.st_mode) ? RBUS_OK : fail(err, RBUS_E_NOT_FILE, "attach", 0);
}

/* ---- attach ------------------------------------------------------------------------------------- */
static rbus_status map_and_validate(int fd, int writable, const char *name, rbus_bus *out, rbus_error *err) {
    struct stat st;
    if (fstat(fd, &st) != 0) return fail_sys(err, "fstat", errno);
    if ((uint64_t)st.st_size < RBUS_HEADER_SIZE) return fail(err, RBUS_E_TOO_SMALL, "attach", 0);
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *m = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return fail_sys(err, "mmap", errno);
    rbus_status s = rbus_bus_validate(m, (uint64_t)st.st_size, (uint32_t)st.st_uid, out);
    if (s == RBUS_OK && atomic_load_explicit(RBUS_A32(&((struct rbus_bus_hdr *)m)->removed), memory_order_acquire))
        s = RBUS_E_REMOVED;
    if (s != RBUS_OK) {
        munmap(m, (size_t)st.st_size);
        return fail(err, s, "attach", 0);
    }
    out->fd = fd;
    snprintf(out->name, sizeof out->name, "%s", name);
    out->online_cpus = (uint32_t)rbus_online_cpus();
    out->fork_generation = rbus_fork_generation();
    /* A fresh, process-local anchor for converting TSC ticks (the rate stays the creator's): the rate's
     * calibration error then grows with the time since this attach, not with the bus's age. */
    if (out->clock_kind == RBUS_CLOCK_TSC) {
        out->tsc_base = rbus_clock_ticks(RBUS_CLOCK_TSC);
        out->realtime_base_ns = rbus_clock_realtime_ns();
    }
    return RBUS_OK;
}

static rbus_status open_errno(rbus_error *err, const char *call, int e) {
    switch (e) {
    case EISDIR:
    case ENXIO: return fail(err, RBUS_E_NOT_FILE, call, e);
    case ENOENT: return fail(err, RBUS_E_NOT_FOUND, call, e);
    case EACCES:
    case EPERM: return fail(err, RBUS_E_PERMISSION, call, e);
    case EEXIST: return fail(err, RBUS_E_EXISTS, call, e);
    case ENOSPC: return fail(err, RBUS_E_NO_SPACE, call, e);
    default: return fail_sys(err, call, e);
    }
}

/* After shm_open("/ringbus.<name>") failed with `e`: RBUS_E_NOT_FILE when something that is not a
 * regular file has that name (a directory gives EINVAL or EISDIR, a link ELOOP under O_NOFOLLOW), so
 * the answer names what is there instead of the errno; else the errno's status. */
static rbus_status open_failure(const char *name, int e, rbus_error *err) {
    if (e != ENOENT && e != EACCES && e != EPERM) {
        char path[160];
        struct stat st;
        snprintf(path, sizeof path, RBUS_SHM_DIR "/ringbus.%s", name);
        if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) return fail(err, RBUS_E_NOT_FILE, "shm_open", e);
    }
    return open_errno(err, "shm_open", e);
}

rbus_status rbus_bus_attach(const char *name, int writable, rbus_bus *out, rbus_error *err) {
    if (rbus_name_validate(name) != RBUS_OK) return fail(err, RBUS_E_NAME, "attach", 0);
    char path[128];
    snprintf(path, sizeof path, "/ringbus.%s", name);
    /* O_NONBLOCK: a FIFO planted under a bus name must not hang the opener (it is refused below). */
    int fd = shm_open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0) return open_failure(name, errno, err);
    rbus_status s = regular_file(fd, err);
    if (s == RBUS_OK) s = map_and_validate(fd, writable, name, out, err);
    if (s != RBUS_OK) close(fd);
    return s;
}

/* ---- create ------------------------------------------------------------------------------------- */
static void init_header(struct rbus_bus_hdr *h, const rbus_create_params *p, uint64_t total) {
    /* The mapping is fresh zeroes from posix_fallocate; only non-zero fields are written. */
    h->layout_version = RBUS_LAYOUT_VERSION;
    h->layout_hash = rbus_layout_hash();
    h->header_size = RBUS_HEADER_SIZE;
    h->stream_count = p->streams;
    h->consumer_count = p->consumers;
    h->slot_stride = rbus_slot_stride_for(p->streams);
    h->capacity = p->capacity;
    h->max_event_size = p->max_event_size;
    h->clock_kind = rbus_clock_pick_kind();
    h->stream_stride = RBUS_STREAM_HEADER_SIZE + p->capacity;
    h->consumers_offset = RBUS_HEADER_SIZE;
    h->streams_offset = RBUS_HEADER_SIZE + (uint64_t)p->consumers * h->slot_stride;
    h->total_size = total;
    uint64_t inc = 0;
    while (getrandom(&inc, sizeof inc, 0) != sizeof inc || inc == 0) {
    }
    h->incarnation = inc;
    h->create_time_ns = rbus_clock_realtime_ns();
    if (h->clock_kind == RBUS_CLOCK_TSC) rbus_clock_calibrate(&h->tsc_base, &h->realtime_base_ns, &h->tsc_mult);
    h->eviction_grace_ns = p->eviction_grace_ns;
    h->creator_uid = (uint32_t)geteuid();
    h->creator_pid = (uint32_t)getpid();
    /* Stamp the magic last (release): a reader that sees it sees a finished header. The rename below
     * is the real publication; this only protects readers of the temporary name. */
    atomic_store_explicit(RBUS_A64(&h->magic), RBUS_MAGIC, memory_order_release);
}

rbus_status rbus_bus_create(const char *name, const rbus_create_params *p, rbus_bus *out, rbus_error *err) {
    if (rbus_name_validate(name) != RBUS_OK) return fail(err, RBUS_E_NAME, "create", 0);
    rbus_status why;
    uint64_t total = rbus_segment_size_for(p, &why);
    if (!total) return fail(err, why, "create", 0);
    /* The owner must read and write its bus: one it cannot open again could only be removed by hand. */
    if ((p->mode & 0600u) != 0600u) return fail(err, RBUS_E_PARAM, "create", 0);

    char final_path[160];
    snprintf(final_path, sizeof final_path, RBUS_SHM_DIR "/ringbus.%s", name);
    /* Cheap answers before building anything: the name is taken (concurrent creators of one name then
     * mostly hear "exists", not a transient "no space" from each other's half-built copies), or
     * /dev/shm cannot hold the segment (fail before filling it). The rename below stays the real test. */
    struct stat existing;
    if (lstat(final_path, &existing) == 0) return fail(err, RBUS_E_EXISTS, "create", EEXIST);
    struct statvfs fs;
    if (statvfs(RBUS_SHM_DIR, &fs) == 0 && (uint64_t)fs.f_bavail * fs.f_frsize < total)
        return fail(err, RBUS_E_NO_SPACE, "statvfs", ENOSPC);

    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd) rnd = (uint64_t)rbus_clock_monotonic_ns();
    char tmp[160], tmp_path[176];
    /* Hidden temporary name: never matches the "ringbus." prefix that attach and listings use. */
    snprintf(tmp, sizeof tmp, "/.ringbus-tmp.%s.%d.%016llx", name, (int)getpid(), (unsigned long long)rnd);
    snprintf(tmp_path, sizeof tmp_path, RBUS_SHM_DIR "%s", tmp);

    int fd = shm_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, p->mode & 0777);
    if (fd < 0) return open_errno(err, "shm_open", errno);
    rbus_status s = RBUS_OK;
    void *m = MAP_FAILED;
    /* Mark the temporary as ours while we build it: cleanup removes only temporaries whose creator lock
     * is free. Then re-check that the name still points at our inode: a cleanup that ran between the
     * create and the lock (possible only with a zero grace period) may have removed it. */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)RBUS_LOCK_CREATOR, .l_len = 1};
    if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        s = fail_sys(err, "fcntl(F_OFD_SETLK)", errno);
        goto undo;
    }
    struct stat mine, named;
    if (fstat(fd, &mine) != 0 || lstat(tmp_path, &named) != 0 || mine.st_ino != named.st_ino ||
        mine.st_dev != named.st_dev) {
        close(fd); /* not ours under that name any more: nothing to unlink */
        return fail_sys(err, "create (temporary removed by a cleanup)", EAGAIN);
    }
    if (fchmod(fd, p->mode) != 0) { /* the umask must not narrow or widen what was asked */
        s = fail_sys(err, "fchmod", errno);
        goto undo;
    }
    int e = posix_fallocate(fd, 0, (off_t)total); /* returns the error; does not set errno */
    if (e != 0) {
        s = e == ENOSPC ? fail(err, RBUS_E_NO_SPACE, "posix_fallocate", e) : fail_sys(err, "posix_fallocate", e);
        goto undo;
    }
    m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        s = fail_sys(err, "mmap", errno);
        goto undo;
    }
    init_header(m, p, total);
    munmap(m, total);
    if (renameat2(AT_FDCWD, tmp_path, AT_FDCWD, final_path, RENAME_NOREPLACE) != 0) {
        s = open_errno(err, "renameat2", errno);
        goto undo;
    }
    fl.l_type = F_UNLCK; /* the bus is in place: the creator lock has done its job */
    (void)fcntl(fd, F_OFD_SETLK, &fl);
    s = map_and_validate(fd, 1, name, out, err);
    if (s != RBUS_OK) close(fd);
    return s;
undo:
    shm_unlink(tmp);
    close(fd);
    return s;
}

/* ---- detach / remove ---------------------------------------------------------------------------- */
void rbus_bus_detach(rbus_bus *b) {
    if (b->base) munmap(b->base, b->size);
    if (b->fd >= 0) close(b->fd);
    b->base = NULL;
    b->fd = -1;
}

int rbus_bus_is_removed(const rbus_bus *b) {
    /* acquire: pairs with the release store in rbus_bus_remove */
    return atomic_load_explicit(RBUS_A32(&rbus_bus_header(b)->removed), memory_order_acquire) != 0;
}

rbus_status rbus_bus_remove(const char *name, rbus_error *err) {
    if (rbus_name_validate(name) != RBUS_OK) return fail(err, RBUS_E_NAME, "remove", 0);
    char path[128];
    snprintf(path, sizeof path, "/ringbus.%s", name);
    /* Keep the object open across the unlink, so the flag lands in the inode that was removed. */
    int fd = shm_open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0 && (errno == EACCES || errno == EPERM)) fd = shm_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0) return open_failure(name, errno, err);
    rbus_status kind = regular_file(fd, err);
    if (kind != RBUS_OK) {
        close(fd); /* a FIFO or device under a bus name is not ours to remove as a bus */
        return kind;
    }
    /* Unlink first: only once the kernel has allowed and done it may attached processes be told the bus
     * is gone. Marking first let a user who may write but not unlink (a mode-666 bus in the sticky
     * /dev/shm) brick the bus for its owner (issue 11 item 3). */
    if (shm_unlink(path) != 0) {
        int e = errno;
        close(fd);
        return open_errno(err, "shm_unlink", e);
    }
    struct stat st;
    /* Set the flag only on something that is really a bus and that we may write; anything else is just
     * unlinked (a read-only opener cannot tell attached processes: they notice at their next attach). */
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= RBUS_HEADER_SIZE) {
        void *m = mmap(NULL, RBUS_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            struct rbus_bus_hdr *h = m;
            if (atomic_load_explicit(RBUS_A64(&h->magic), memory_order_acquire) == RBUS_MAGIC) {
                /* release: pairs with the acquire in rbus_bus_is_removed and map_and_validate */
                atomic_store_explicit(RBUS_A32(&h->removed), 1, memory_order_release);
                /* wake every sleeper so it notices the flag now rather than at its timeout */
                atomic_fetch_add_explicit(RBUS_A32(&h->doorbell), 1, memory_order_release);
                rbus_futex_wake(&h->doorbell, 0x7fffffff);
            }
            munmap(m, RBUS_HEADER_SIZE);
        }
    }
    close(fd);
    return RBUS_OK;
}

rbus_status rbus_bus_remove_file(const char *name, rbus_error *err) {
    if (rbus_name_validate(name) != RBUS_OK) return fail(err, RBUS_E_NAME, "remove", 0);
    char path[160];
    snprintf(path, sizeof path, RBUS_SHM_DIR "/ringbus.%s", name);
    struct stat st;
    if (lstat(path, &st) != 0) return open_errno(err, "lstat", errno);
    if (!S_ISREG(st.st_mode)) return fail(err, RBUS_E_NOT_FILE, "remove", 0);
    if (st.st_uid != geteuid()) return fail(err, RBUS_E_PERMISSION, "remove (owned by another user)", EPERM);
    if (unlink(path) != 0) return open_errno(err, "unlink", errno);
    return RBUS_OK;
}

/* ---- cleanup of half-built segments ------------------------------------------------------------ */
/* True for ".ringbus-tmp.<bus>.<pid>.<16 hex digits>" with a valid bus name: what rbus_bus_create names
 * its temporaries, and nothing else. */
static int is_temporary_name(const char *file) {
    static const char prefix[] = ".ringbus-tmp.";
    if (!file || strncmp(file, prefix, sizeof prefix - 1) != 0 || strchr(file, '/')) return 0;
    size_t n = strlen(file);
    if (n > 200) return 0;
    const char *dot_rand = strrchr(file, '.');
    if (!dot_rand || (size_t)(file + n - dot_rand - 1) != 16) return 0;
    for (const char *c = dot_rand + 1; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return 0;
    const char *dot_pid = dot_rand - 1;
    while (dot_pid > file && *dot_pid != '.') dot_pid--;
    if (dot_pid == dot_rand - 1 || *dot_pid != '.') return 0;
    for (const char *c = dot_pid + 1; c < dot_rand; c++)
        if (*c < '0' || *c > '9') return 0;
    const char *bus = file + sizeof prefix - 1;
    size_t bus_len = (size_t)(dot_pid - bus);
    if (bus_len == 0 || bus_len > RBUS_NAME_MAX) return 0;
    char name[RBUS_NAME_MAX + 1];
    memcpy(name, bus, bus_len);
    name[bus_len] = 0;
    return rbus_name_validate(name) == RBUS_OK;
}

static uint64_t stat_change_ns(const struct stat *st) {
    uint64_t m = (uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec;
    uint64_t c = (uint64_t)st->st_ctim.tv_sec * 1000000000ull + (uint64_t)st->st_ctim.tv_nsec;
    return m > c ? m : c;
}

rbus_status rbus_temp_reap(const char *file, uint64_t grace_ns, int any_owner, int dry_run, rbus_temp_state *state,
                           rbus_error *err) {
    *state = RBUS_TEMP_GONE;
    if (!is_temporary_name(file)) return fail(err, RBUS_E_NAME, "cleanup", 0);
    char path[256];
    snprintf(path, sizeof path, RBUS_SHM_DIR "/%s", file);
    struct stat named;
    if (lstat(path, &named) != 0) return errno == ENOENT ? RBUS_OK : fail_sys(err, "lstat", errno);
    if (!S_ISREG(named.st_mode)) {
        *state = RBUS_TEMP_NOT_FILE;
        return RBUS_OK;
    }
    if (!any_owner && named.st_uid != geteuid()) {
        *state = RBUS_TEMP_OTHER_OWNER;
        return RBUS_OK;
    }
    uint64_t now = rbus_clock_realtime_ns(), changed = stat_change_ns(&named);
    if (now < changed || now - changed < grace_ns) {
        *state = RBUS_TEMP_YOUNG;
        return RBUS_OK;
    }
    /* O_NONBLOCK|O_NOFOLLOW: never follow a link or block on a FIFO swapped in since the lstat. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return errno == ENOENT ? RBUS_OK : fail_sys(err, "open", errno);
    struct stat opened;
    if (fstat(fd, &opened) != 0 || opened.st_ino != named.st_ino || opened.st_dev != named.st_dev) {
        close(fd); /* replaced between the lstat and the open */
        return RBUS_OK;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)RBUS_LOCK_CREATOR, .l_len = 1};
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) {
        int e = errno;
        close(fd);
        return fail_sys(err, "fcntl(F_OFD_GETLK)", e);
    }
    close(fd);
    if (fl.l_type != F_UNLCK) {
        *state = RBUS_TEMP_LIVE;
        return RBUS_OK;
    }
    /* In the sticky /dev/shm only root, the file's owner or the directory's owner may unlink it: say so
     * (a dry run too) instead of failing the whole cleanup. */
    struct stat dir;
    int may = geteuid() == 0 || named.st_uid == geteuid() || (stat(RBUS_SHM_DIR, &dir) == 0 && dir.st_uid == geteuid());
    if (!may) {
        *state = RBUS_TEMP_NOT_PERMITTED;
        return RBUS_OK;
    }
    *state = RBUS_TEMP_ABANDONED;
    if (!dry_run && unlink(path) != 0) {
        if (errno == ENOENT) *state = RBUS_TEMP_GONE;
        else if (errno == EPERM || errno == EACCES) *state = RBUS_TEMP_NOT_PERMITTED;
        else return fail_sys(err, "unlink", errno);
    }
    return RBUS_OK;
}

uint64_t rbus_bus_timestamp_ns(const rbus_bus *b, uint64_t ticks) {
    return rbus_clock_convert(b->clock_kind, ticks, b->tsc_base, b->realtime_base_ns, b->tsc_mult);
}
