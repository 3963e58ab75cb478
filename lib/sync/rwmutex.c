/*
 * rwmutex.c - gort_rwmutex: many readers or one writer, writer preference.
 *
 * Three words inside the 32 bytes, each its own parking-lot key:
 *   w      the writers' lock (a gort__mtx): writers take turns here first;
 *   state  WRITER | RPARKED | active reader count; readers park on it;
 *   rwait  how many of the readers active when the writer announced itself
 *          have still to leave; the announced writer parks on it.
 * A writer, holding w, sets WRITER (fetch_or, which also snapshots the
 * readers), adds that count to rwait and waits until rwait is back to 0.
 * While WRITER is set new readers park, so writers cannot starve. The
 * writer's unlock clears WRITER and wakes every parked reader with token
 * HOLD, counting them into state in the unpark callback (under the bucket
 * lock, before any of them runs), and only then releases w: the readers
 * that waited get in before the next writer, as in Go.
 *
 * Invariants:
 *  - Only the holder of w sets WRITER; WRITER implies w is held.
 *  - The reader count is the number of readers holding the lock: parked
 *    readers are not counted until a writer admits them. While WRITER is
 *    set the count only falls, and every fall whose CAS saw WRITER is
 *    matched by one decrement of rwait.
 *  - A writer that gives up (deadline, cancellation) clears WRITER and
 *    subtracts the readers still counted (they will now leave without
 *    touching rwait); decrements already in flight then bring rwait back to
 *    exactly 0, not below, so a later writer is never let in early.
 *  - rwait reaching 0 is what lets the writer in; the unpark that follows
 *    is only a hint (it may arrive late, at the next writer), so a woken
 *    writer re-checks rwait.
 *  - RPARKED is set under the bucket lock while WRITER is set, and cleared
 *    together with WRITER; the clearer then wakes everyone queued. A stale
 *    RPARKED (a reader that timed out) costs one empty unpark.
 *
 * Rejected:
 *  - Go's readerCount trick (readers fetch_add first and count themselves
 *    as waiting): a reader that times out would have to un-count itself
 *    against a writer's unlock that already released it, and misuse
 *    (runlock of a lock nobody holds) could not be refused without change.
 *    The CAS loop costs readers a retry under contention instead.
 *  - Waking readers and letting them increment the count themselves: a
 *    writer could announce between the wake and the increment and the
 *    readers that waited would wait again.
 */
#include "config.h"

#include <string.h>

#include "sync/sync.h"

enum {
  RW_WRITER = 1u << 31,
  RW_RPARKED = 1u << 30,
  RW_READERS = RW_RPARKED - 1, /* mask of the reader count */
};
enum { TOKEN_HOLD = 1 };

typedef struct rw {
  gort__mtx w;
  _Atomic uint32_t state;
  _Atomic int32_t rwait;
} rw;

GORT__SYNC_FITS(gort_rwmutex, rw);

static rw *rw_of(gort_rwmutex *p) { return (rw *)(void *)p; }

static uint32_t load(rw *l) {
  return atomic_load_explicit(&l->state, memory_order_relaxed);
}

static bool cas(rw *l, uint32_t *old, uint32_t n, memory_order mo) {
  return atomic_compare_exchange_weak_explicit(&l->state, old, n, mo,
                                               memory_order_relaxed);
}

/* 0, GORT_EBUSY while a writer is announced, GORT_EAGAIN if the reader
 * count would overflow. */
static int try_rlock(rw *l) {
  uint32_t s = load(l);
  while (!(s & RW_WRITER)) {
    if ((s & RW_READERS) == RW_READERS)
      return GORT_EAGAIN;
    if (cas(l, &s, s + 1, memory_order_acquire))
      return 0;
  }
  return GORT_EBUSY;
}

/* Under the bucket lock: queue only behind an announced writer, and tell
 * it (RPARKED) that its unlock must wake us. */
static bool reader_validate(void *p) {
  rw *l = p;
  uint32_t s = load(l);
  do {
    if (!(s & RW_WRITER))
      return false;
    if (s & RW_RPARKED)
      return true;
  } while (!cas(l, &s, s | RW_RPARKED, memory_order_relaxed));
  return true;
}

static int rlock_slow(rw *l, int64_t deadline) {
  for (;;) {
    int rc = try_rlock(l);
    if (rc != GORT_EBUSY)
      return rc;
    rc = gort__deadline_expired(deadline);
    if (rc != 0)
      return rc;
    gort__park_opts o = {.validate = reader_validate,
                         .ctx = l,
                         .reason = GORT__WR_RWMUTEX_R};
    uintptr_t tok;
    rc = gort__plot_park(&l->state, &o, deadline, &tok);
    if (rc != GORT_EAGAIN)
      return rc; /* 0: admitted (counted in) by the writer's unlock */
  }
}

/* Under the bucket lock, before any woken reader runs. */
static void count_in(void *p, size_t woke) {
  rw *l = p;
  atomic_fetch_add_explicit(&l->state, (uint32_t)woke, memory_order_relaxed);
}

static void admit_readers(rw *l) {
  gort__plot_unpark_n(&l->state, SIZE_MAX, TOKEN_HOLD, count_in, l);
}

/* A writer that will not get the lock undoes its announcement (see the
 * invariants above for why subtracting the remaining readers is exact). */
static void retract(rw *l) {
  uint32_t old = atomic_fetch_and_explicit(
      &l->state, ~(uint32_t)(RW_WRITER | RW_RPARKED), memory_order_acq_rel);
  atomic_fetch_sub_explicit(&l->rwait, (int32_t)(old & RW_READERS),
                            memory_order_acq_rel);
  if (old & RW_RPARKED)
    admit_readers(l);
  gort__mtx_unlock(&l->w);
}

static bool readers_gone(rw *l) {
  return atomic_load_explicit(&l->rwait, memory_order_acquire) == 0;
}

/* Under the bucket lock: sleep only while readers remain. */
static bool writer_validate(void *p) { return !readers_gone(p); }

/* A wake is only a hint: the reader that took rwait to 0 unparks after its
 * decrement, not atomically with it, so its unpark can arrive late and
 * find the next writer parked for other readers. Hence the re-check. */
static int wait_readers(rw *l, int64_t deadline) {
  for (;;) {
    int rc = gort__deadline_expired(deadline);
    if (rc == 0) {
      gort__park_opts o = {.validate = writer_validate,
                           .ctx = l,
                           .reason = GORT__WR_RWMUTEX_W};
      uintptr_t tok;
      rc = gort__plot_park(&l->rwait, &o, deadline, &tok);
      if (rc == GORT_EAGAIN || (rc == 0 && readers_gone(l)))
        return 0;
      if (rc == 0)
        continue;
    }
    retract(l);
    return rc;
  }
}

/* ---- gort_rwmutex -------------------------------------------------------- */

void gort_rwmutex_init(gort_rwmutex *p) {
  if (p != NULL)
    memset(p, 0, sizeof *p);
}

int gort_rwmutex_rlock(gort_rwmutex *p, int64_t deadline) {
  if (GORT__UNLIKELY(p == NULL))
    return GORT_EINVAL;
  int rc = gort__check_cancel();
  if (GORT__UNLIKELY(rc != 0))
    return rc;
  if (GORT__LIKELY(try_rlock(rw_of(p)) == 0))
    return 0;
  return rlock_slow(rw_of(p), deadline);
}

int gort_rwmutex_tryrlock(gort_rwmutex *p) {
  if (p == NULL)
    return GORT_EINVAL;
  return try_rlock(rw_of(p)) == 0 ? 0 : GORT_EBUSY;
}

int gort_rwmutex_runlock(gort_rwmutex *p) {
  if (GORT__UNLIKELY(p == NULL))
    return GORT_EINVAL;
  rw *l = rw_of(p);
  uint32_t s = load(l);
  do {
    if ((s & RW_READERS) == 0)
      return GORT_EINVAL;
  } while (!cas(l, &s, s - 1, memory_order_release));
  /* One of the readers an announced writer waits for: the last one out
   * wakes it (if it has not parked yet, its validate sees 0). */
  if ((s & RW_WRITER) &&
      atomic_fetch_sub_explicit(&l->rwait, 1, memory_order_acq_rel) == 1)
    gort__plot_unpark_one(&l->rwait, NULL, NULL);
  return 0;
}

int gort_rwmutex_lock(gort_rwmutex *p, int64_t deadline) {
  if (GORT__UNLIKELY(p == NULL))
    return GORT_EINVAL;
  int rc = gort__check_cancel();
  if (GORT__UNLIKELY(rc != 0))
    return rc;
  rw *l = rw_of(p);
  rc = gort__mtx_lock(&l->w, deadline, GORT__WR_RWMUTEX_W, 0);
  if (rc != 0)
    return rc;
  int32_t r = (int32_t)(atomic_fetch_or_explicit(&l->state, RW_WRITER,
                                                 memory_order_acq_rel) &
                        RW_READERS);
  if (r == 0 ||
      atomic_fetch_add_explicit(&l->rwait, r, memory_order_acq_rel) + r == 0)
    return 0;
  return wait_readers(l, deadline);
}

int gort_rwmutex_trylock(gort_rwmutex *p) {
  if (p == NULL)
    return GORT_EINVAL;
  rw *l = rw_of(p);
  if (gort__mtx_trylock(&l->w) != 0)
    return GORT_EBUSY;
  uint32_t s = load(l);
  do {
    if (s & RW_READERS) {
      gort__mtx_unlock(&l->w);
      return GORT_EBUSY;
    }
  } while (!cas(l, &s, s | RW_WRITER, memory_order_acquire));
  return 0;
}

int gort_rwmutex_unlock(gort_rwmutex *p) {
  if (GORT__UNLIKELY(p == NULL))
    return GORT_EINVAL;
  rw *l = rw_of(p);
  uint32_t s = load(l);
  do {
    /* Not held by a writer, or a writer still waiting for readers. */
    if (!(s & RW_WRITER) || (s & RW_READERS))
      return GORT_EINVAL;
  } while (!cas(l, &s, s & ~(uint32_t)(RW_WRITER | RW_RPARKED),
                memory_order_release));
  if (s & RW_RPARKED)
    admit_readers(l);
  gort__mtx_unlock(&l->w);
  return 0;
}

size_t gort_sizeof_rwmutex(void) { return sizeof(gort_rwmutex); }
