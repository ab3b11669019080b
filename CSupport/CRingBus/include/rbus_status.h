/*
 * rbus_status.h: outcomes and errors of the C layer.
 *
 * Expected outcomes (empty, full, timeout) are small non-negative values and never errors. Validation
 * failures are negative rbus_status values. A failing system call is RBUS_E_SYSTEM with the errno and
 * the name of the call in an rbus_error, so no function returns both an errno and a status, and Swift
 * never reads the global errno after a C call.
 */
#ifndef RBUS_STATUS_H
#define RBUS_STATUS_H

#include <stdint.h>

typedef enum rbus_status {
    RBUS_OK = 0,
    RBUS_EMPTY = 1,            /* nothing committed past the cursor */
    RBUS_FULL = 2,             /* gating consumers hold the space the claim needs */
    RBUS_TIMEOUT = 3,          /* a bounded wait ran out */

    RBUS_E_SYSTEM = -1,        /* a system call failed: see rbus_error.sys_errno and .call */
    RBUS_E_NAME = -2,          /* bus or durable name not [A-Za-z0-9_.-]{1,64}, or "." / ".." */
    RBUS_E_PARAM = -3,         /* a create or open parameter is out of range */
    RBUS_E_EXISTS = -4,        /* create: the bus already exists */
    RBUS_E_NOT_FOUND = -5,     /* attach: no such bus */
    RBUS_E_TOO_SMALL = -6,     /* attach: the object is smaller than a bus header */
    RBUS_E_MAGIC = -7,         /* attach: not a RingBus segment */
    RBUS_E_VERSION = -8,       /* attach: another layout version */
    RBUS_E_LAYOUT_HASH = -9,   /* attach: same version, different layout (build drift) */
    RBUS_E_GEOMETRY = -10,     /* attach: size fields out of range or inconsistent with each other */
    RBUS_E_SIZE = -11,         /* attach: total size differs from the object's fstat size */
    RBUS_E_OWNER = -12,        /* attach: the object's owner is not the creator stamped inside */
    RBUS_E_REMOVED = -13,      /* the bus was removed (its removed flag is set) */
    RBUS_E_CORRUPT = -14,      /* a record or cursor failed validation */
    RBUS_E_TOO_LARGE = -15,    /* the event exceeds the bus's maximum event size or topic length */
    RBUS_E_NO_SLOT = -16,      /* every stream or consumer slot is taken */
    RBUS_E_NAME_IN_USE = -17,  /* a live participant holds that durable name */
    RBUS_E_BUSY = -18,         /* the registry lock stayed held past its deadline */
    RBUS_E_FORKED = -19,       /* the handle was inherited across fork(); open a new one */
    RBUS_E_NO_SPACE = -20,     /* create: /dev/shm has no room for the segment */
    RBUS_E_PERMISSION = -21,   /* the segment's mode refuses this user */
    RBUS_E_NOT_FILE = -22,     /* /dev/shm/ringbus.<name> is not a regular file (a directory, FIFO, device) */
} rbus_status;

/* Details of a failure. `call` points at a static string (never freed); `sys_errno` is 0 unless
 * status is RBUS_E_SYSTEM or a status derived from an errno (NOT_FOUND, EXISTS, NO_SPACE, PERMISSION). */
typedef struct rbus_error {
    int32_t status;
    int32_t sys_errno;
    const char *call;
} rbus_error;

/* A short English description of a status, for messages. Never NULL. */
const char *rbus_status_describe(int32_t status);

#endif /* RBUS_STATUS_H */
