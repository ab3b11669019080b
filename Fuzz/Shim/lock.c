/* lock.c: the contended halves of rbus_lock.h for the fuzz builds, which compile the event codec's
 * Swift sources on their own (LockedState uses the lock; wait.c, where these live in the library,
 * would pull in the whole segment code). Same system calls as wait.c. */
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

void rbus_lock_wait(uint32_t *word) { (void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0); }
void rbus_lock_wake(uint32_t *word) { (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }
