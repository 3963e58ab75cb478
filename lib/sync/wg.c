/*
 * wg.c - gort_wg: Go's sync.WaitGroup.
 *
 * Two words: a signed 64-bit counter (the parking-lot key waiters queue
 * on) and the number of queued waiters, so that add/done touch the parking
 * lot only when the counter reaches zero with somebody waiting.
 *
 * The counter reaching zero always goes to the parking lot (one bucket
 * lock per round): reading "waiters" first would read memory a waiter may
 * already have freed.
 *
 * The race to get right is a waiter queueing just as the counter reaches
 * zero. Each side writes its own word and then reads the other's, all
 * sequentially consistent: a waiter raises "waiters" then checks "count"
 * (in validate, under the bucket lock); add lowers "count" then checks
 * "waiters". At least one sees the other: either the waiter sees zero and
 * does not sleep, or add sees a waiter and wakes the queue (taking the
 * bucket lock, so after that waiter is queued or has backed out).
 *
 * Invariants: count >= 0 at all times (an add that would make it negative
 * is refused and changes nothing); "waiters" is raised under the bucket
 * lock by a queueing waiter and lowered once per waiter: by add for the
 * waiters it woke, or by the waiter that backs out or leaves on its own.
 *
 * Reuse follows Go's rule: an add that raises the counter from zero must
 * come after the waits of the previous round have returned. The wake of a
 * round is issued after its counter reached zero, so a waiter that queued
 * for the next round before that wake went out would be woken with it.
 *
 * Rejected: Go's single 64-bit word (count in the high half, waiters in the
 * low half). It caps the counter at 2^31 and needs a sema beside it; we
 * have 16 bytes and the parking lot, and the counter gets 64 bits.
 */
#include "config.h"

#include <string.h>

#include "sync/sync.h"

typedef struct wg {
  _Atomic int64_t count;
  _Atomic uint32_t waiters;
} wg;

GORT__SYNC_FITS(gort_wg, wg);

enum { TOKEN_ZERO = 1 };

static wg *wg_of(gort_wg *p) { return (wg *)(void *)p; }

/* Under the bucket lock, before any woken waiter runs. With nobody woken
 * the wg may already be gone (freed by a waiter that returned through the
 * fast path, as Go allows): touch it only when a woken waiter, still
 * inside gort_wg_wait, keeps it alive. */
static void count_out(void *p, size_t woke) {
  if (woke)
    atomic_fetch_sub_explicit(&((wg *)p)->waiters, (uint32_t)woke,
                              memory_order_relaxed);
}

/* After the counter reached zero, g must not be read: the last waiter may
 * have seen the zero, returned and freed it. So no peek at "waiters"
 * first; the parking lot uses &g->count only as a key. */
static void wake_all(wg *g) {
  gort__plot_unpark_n(&g->count, SIZE_MAX, TOKEN_ZERO, count_out, g);
}

/* Under the bucket lock: sleep only while the counter is not zero. */
static bool validate(void *p) {
  wg *g = p;
  atomic_fetch_add_explicit(&g->waiters, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&g->count, memory_order_seq_cst) != 0)
    return true;
  atomic_fetch_sub_explicit(&g->waiters, 1, memory_order_relaxed);
  return false;
}

void gort_wg_init(gort_wg *p) {
  if (p != NULL)
    memset(p, 0, sizeof *p);
}

int gort_wg_add(gort_wg *p, int64_t n) {
  if (GORT__UNLIKELY(p == NULL))
    return GORT_EINVAL;
  wg *g = wg_of(p);
  int64_t c = atomic_load_explicit(&g->count, memory_order_relaxed), next;
  do {
    if (__builtin_add_overflow(c, n, &next) || next < 0)
      return GORT_EINVAL;
  } while (!atomic_compare_exchange_weak_explicit(
      &g->count, &c, next, memory_order_seq_cst, memory_order_relaxed));
  if (next == 0 && n != 0)
    wake_all(g);
  return 0;
}

int gort_wg_done(gort_wg *p) { return gort_wg_add(p, -1); }

int gort_wg_wait(gort_wg *p, int64_t deadline) {
  if (GORT__UNLIKELY(p == NULL))
    return GORT_EINVAL;
  int rc = gort__check_cancel();
  if (rc != 0)
    return rc;
  wg *g = wg_of(p);
  if (atomic_load_explicit(&g->count, memory_order_acquire) == 0)
    return 0;
  rc = gort__deadline_expired(deadline);
  if (rc != 0)
    return rc;
  gort__park_opts o = {.validate = validate, .ctx = g,
                       .reason = GORT__WR_WG};
  uintptr_t tok;
  rc = gort__plot_park(&g->count, &o, deadline, &tok);
  if (rc == GORT_EAGAIN) /* the counter reached zero before we queued */
    return 0;
  if (rc != 0) /* left on our own: add did not count us out */
    atomic_fetch_sub_explicit(&g->waiters, 1, memory_order_relaxed);
  return rc;
}

size_t gort_sizeof_wg(void) { return sizeof(gort_wg); }
