/* status.c: English descriptions of rbus_status values. */
#include "include/rbus_status.h"

const char *rbus_status_describe(int32_t status) {
    switch ((rbus_status)status) {
    case RBUS_OK: return "ok";
    case RBUS_EMPTY: return "no event available";
    case RBUS_FULL: return "ring full: gating consumers have not consumed enough";
    case RBUS_TIMEOUT: return "timed out";
    case RBUS_E_SYSTEM: return "system call failed";
    case RBUS_E_NAME: return "invalid name (allowed: 1-64 of A-Z a-z 0-9 _ . -, not . or ..)";
    case RBUS_E_PARAM: return "parameter out of range";
    case RBUS_E_EXISTS: return "bus already exists";
    case RBUS_E_NOT_FOUND: return "no such bus";
    case RBUS_E_TOO_SMALL: return "segment smaller than a bus header";
    case RBUS_E_MAGIC: return "not a RingBus segment (bad magic)";
    case RBUS_E_VERSION: return "segment has another layout version";
    case RBUS_E_LAYOUT_HASH: return "segment layout hash differs (built by an incompatible RingBus)";
    case RBUS_E_GEOMETRY: return "segment size fields are out of range or inconsistent";
    case RBUS_E_SIZE: return "segment size differs from the size its header declares";
    case RBUS_E_OWNER: return "segment owner differs from the creator stamped in its header";
    case RBUS_E_REMOVED: return "bus was removed";
    case RBUS_E_CORRUPT: return "corrupt record or cursor";
    case RBUS_E_TOO_LARGE: return "event larger than the bus's maximum event size or topic length";
    case RBUS_E_NO_SLOT: return "no free stream or consumer slot";
    case RBUS_E_NAME_IN_USE: return "durable name in use by a live participant";
    case RBUS_E_BUSY: return "registry lock held too long by another participant";
    case RBUS_E_FORKED: return "handle inherited across fork(); open the bus again in the child";
    case RBUS_E_NO_SPACE: return "no space left in /dev/shm";
    case RBUS_E_PERMISSION: return "permission denied";
    case RBUS_E_NOT_FILE: return "not a regular file (a directory, link, FIFO or device): not a bus";
    }
    return "unknown status";
}
