/*
 * sleep.c - gort_now and sleeping.
 *
 * A sleep is a wait nobody but the deadline ends: the goroutine's embedded
 * timer claims it. From a plain thread it is a futex wait with a deadline
 * on a word nobody wakes, so both paths share gort__wait and its
 * cancellation handling.
 */
#include "config.h"

#include "sched/sched.h"

GORT_API int64_t gort_now(void) { return gort__os_now(); }

GORT_API int64_t gort_never(void) { return GORT_NEVER; }

GORT_API int gort_sleep_until(int64_t deadline)
{
  gort__waiter w;
  int r = gort__check_cancel();
  if (r)
    return r;
  if (deadline < 0 && deadline != GORT_NEVER)
    return GORT_EINVAL;
  /* GORT_NEVER sleeps until cancelled (Go's empty select) */
  if (deadline >= 0 && deadline <= gort__nanotime())
    return 0;
  gort__waiter_init(&w);
  r = gort__wait(&w, deadline, GORT__WR_SLEEP, NULL);
  return r == GORT_ETIMEDOUT ? 0 : r;
}

GORT_API int gort_sleep(int64_t ns)
{
  int r = gort__check_cancel();
  if (r)
    return r;
  if (ns <= 0)
    return 0;
  {
    /* a huge duration is "a very long time", never a wrap into the past */
    int64_t now = gort__nanotime();
    return gort_sleep_until(ns > INT64_MAX - 1 - now ? INT64_MAX - 1
                                                      : now + ns);
  }
}
