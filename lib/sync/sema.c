/*
 * sema.c - gort_sema: a fair (FIFO) counting semaphore on the heap.
 *
 * One 64-bit word: units << 1 | QUEUED. acquire takes a unit with one CAS
 * when there is one and nobody is queued. Otherwise it queues on the word's
 * address (setting QUEUED under the bucket lock). release with QUEUED set
 * does not add a unit: it hands its unit to the first queued acquirer
 * (token GRANT) from inside the unpark callback, so a newcomer can never
 * take a unit ahead of those waiting.
 *
 * Invariants:
 *  - QUEUED implies no units: it is set only when the count is 0, and while
 *    it is set release never adds a unit except in the callback that also
 *    clears it (nobody claimable was left).
 *  - QUEUED is cleared only under the bucket lock, when the queue has no
 *    claimable waiter left. It can be stale (an acquirer that timed out);
 *    the next release then finds nobody, clears it and adds its unit.
 *
 * Rejected: Go's semaphore (a count plus a waiter count, released units
 * taken by whoever comes first). It lets newcomers overtake the queue; the
 * contract asks for FIFO.
 */
#include "config.h"

#include <stdlib.h>

#include "sync/sync.h"

struct gort_sema {
  _Atomic uint64_t state;
};

enum { QUEUED = 1u, UNIT = 2u };
enum { TOKEN_GRANT = 1 };
#define SEMA_MAX (INT64_MAX >> 1)

static uint64_t load(gort_sema *s) {
  return atomic_load_explicit(&s->state, memory_order_relaxed);
}

static bool cas(gort_sema *s, uint64_t *old, uint64_t n, memory_order mo) {
  return atomic_compare_exchange_weak_explicit(&s->state, old, n, mo,
                                               memory_order_relaxed);
}

/* Takes a unit unless there is none or someone is queued for one. */
static bool try_take(gort_sema *s) {
  uint64_t v = load(s);
  while (!(v & QUEUED) && v >= UNIT)
    if (cas(s, &v, v - UNIT, memory_order_acquire))
      return true;
  return false;
}

/* Under the bucket lock: queue only when there is no unit to take. */
static bool validate(void *p) {
  gort_sema *s = p;
  uint64_t v = load(s);
  do {
    if (v & QUEUED)
      return true;
    if (v >= UNIT)
      return false;
  } while (!cas(s, &v, v | QUEUED, memory_order_relaxed));
  return true;
}

static int acquire_slow(gort_sema *s, int64_t deadline) {
  for (;;) {
    if (try_take(s))
      return 0;
    int rc = gort__deadline_expired(deadline);
    if (rc != 0)
      return rc;
    gort__park_opts o = {.validate = validate, .ctx = s,
                         .reason = GORT__WR_SEMA};
    uintptr_t tok;
    rc = gort__plot_park(&s->state, &o, deadline, &tok);
    if (rc != GORT_EAGAIN)
      return rc; /* 0: a release granted us its unit */
  }
}

/* Under the bucket lock. Woke: the unit goes to that waiter. Nobody: the
 * queue is empty, so QUEUED goes and the unit is added to the count. */
static uintptr_t hand_over(void *p, bool woke, bool more) {
  gort_sema *s = p;
  if (woke) {
    if (!more)
      atomic_fetch_and_explicit(&s->state, ~(uint64_t)QUEUED,
                                memory_order_relaxed);
    return TOKEN_GRANT;
  }
  uint64_t v = load(s);
  while (!cas(s, &v, (v & ~(uint64_t)QUEUED) + UNIT, memory_order_release))
    ;
  return 0;
}

int gort_sema_new(gort_sema **out, int64_t count) {
  if (out == NULL || count < 0 || count > SEMA_MAX)
    return GORT_EINVAL;
  gort_sema *s = malloc(sizeof *s);
  if (s == NULL)
    return GORT_ENOMEM;
  atomic_init(&s->state, (uint64_t)count * UNIT);
  *out = s;
  return 0;
}

/* Nobody may be using s: as with free(), the caller knows. */
void gort_sema_free(gort_sema *s) { free(s); }

int gort_sema_acquire(gort_sema *s, int64_t deadline) {
  if (GORT__UNLIKELY(s == NULL))
    return GORT_EINVAL;
  int rc = gort__check_cancel();
  if (GORT__UNLIKELY(rc != 0))
    return rc;
  if (GORT__LIKELY(try_take(s)))
    return 0;
  return acquire_slow(s, deadline);
}

int gort_sema_release(gort_sema *s) {
  if (GORT__UNLIKELY(s == NULL))
    return GORT_EINVAL;
  uint64_t v = load(s);
  do {
    if (v & QUEUED) {
      gort__plot_unpark_one(&s->state, hand_over, s);
      return 0;
    }
    if ((v >> 1) >= (uint64_t)SEMA_MAX)
      return GORT_EINVAL;
  } while (!cas(s, &v, v + UNIT, memory_order_release));
  return 0;
}

int64_t gort_sema_value(gort_sema *s) {
  if (s == NULL)
    return GORT_EINVAL;
  return (int64_t)(load(s) >> 1);
}
