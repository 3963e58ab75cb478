/*
 * once.c - gort_once: runs a function exactly once; Go's sync.Once.
 *
 * A "done" flag and a lock word. The fast path is one acquire load of done.
 * The slow path takes the lock, runs fn if done is still clear, sets done
 * with release (so every later fast path sees fn's effects) and unlocks;
 * concurrent callers queue on the lock and see done once they get it.
 *
 * Waiting is uncancellable, as in Go: a caller that returned early would
 * run ahead of an initialisation it depends on, and gort_once_do has no
 * error a caller could sensibly handle there.
 *
 * Invariant: done goes 0 -> 1 once, only while the lock is held, and only
 * after fn has returned.
 *
 * Rejected: a 3-state word (idle/running/done) that parks callers on the
 * word directly. It saves nothing measurable (the slow path runs a handful
 * of times per once) and would be a second wait protocol to get right; the
 * lock word already parks, spins and handles wakeups.
 */
#include "config.h"

#include <string.h>

#include "sync/sync.h"

typedef struct once {
  _Atomic uint32_t done;
  gort__mtx m;
} once;

GORT__SYNC_FITS(gort_once, once);

static once *once_of(gort_once *p) { return (once *)(void *)p; }

static void run_slow(once *o, void (*fn)(void *), void *arg) {
  gort__mtx_lock(&o->m, GORT_NEVER, GORT__WR_ONCE, GORT__MTX_NOCANCEL);
  if (atomic_load_explicit(&o->done, memory_order_relaxed) == 0) {
    fn(arg);
    atomic_store_explicit(&o->done, 1, memory_order_release);
  }
  gort__mtx_unlock(&o->m);
}

void gort_once_init(gort_once *p) {
  if (p != NULL)
    memset(p, 0, sizeof *p);
}

int gort_once_do(gort_once *p, void (*fn)(void *), void *arg) {
  if (GORT__UNLIKELY(p == NULL || fn == NULL))
    return GORT_EINVAL;
  once *o = once_of(p);
  if (GORT__LIKELY(atomic_load_explicit(&o->done, memory_order_acquire)))
    return 0;
  run_slow(o, fn, arg);
  return 0;
}

size_t gort_sizeof_once(void) { return sizeof(gort_once); }
