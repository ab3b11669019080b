/* CRingBus.h: umbrella header of the C shim. Includes only. */
#ifndef CRINGBUS_H
#define CRINGBUS_H
#ifndef __linux__
#error "RingBus supports Linux only: it needs futexes, OFD locks and POSIX shared memory (see README, Requirements)"
#endif
#include "rbus_layout.h"
#include "rbus_status.h"
#include "rbus_clock.h"
#include "rbus_segment.h"
#include "rbus_ring.h"
#include "rbus_wait.h"
#include "rbus_registry.h"
#include "rbus_system.h"
#include "rbus_lock.h"
#include "rbus_json.h"
#include "rbus_snapshot.h"
#include "rbus_testing.h"
#endif
