/* system.c: CPU count and thread pinning (see rbus_system.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "include/rbus_system.h"

int rbus_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int rbus_pin_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % rbus_online_cpus(), &set);
    return -pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}
