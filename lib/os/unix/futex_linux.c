/*
 * futex_linux.c - word waits for the M-level locks, parked Ms and threads
 * blocked in gort_* calls, straight on futex(2).
 *
 * Private futexes (FUTEX_PRIVATE_FLAG): the words never live in shared
 * memory, and private ones skip the kernel's mm lookup. Deadlines are
 * absolute CLOCK_MONOTONIC, which FUTEX_WAIT_BITSET takes directly, so a
 * wait that is interrupted and restarted never stretches its deadline.
 */
#include "config.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gort.h"
#include "os/os.h"

int gort__os_futex_wait(uint32_t *addr, uint32_t val, int64_t deadline)
{
  struct timespec ts, *tsp = NULL;
  if (deadline >= 0) {
    if (deadline <= gort__os_now())
      return GORT_ETIMEDOUT;
    ts.tv_sec = deadline / 1000000000;
    ts.tv_nsec = deadline % 1000000000;
    tsp = &ts;
  }
  long r = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
                   val, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
  if (r < 0 && errno == ETIMEDOUT)
    return GORT_ETIMEDOUT;
  return 0; /* woken, value changed (EAGAIN) or EINTR: the caller re-checks */
}

void gort__os_futex_wake(uint32_t *addr, int n)
{
  syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

int64_t gort__os_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
