/*
 * bargelock.c - gort_bargelock: a lock that the running goroutine can
 * re-take ahead of queued ones. It is the gort_mutex lock word with handoff
 * mode switched off (GORT__MTX_NOSTARVE), so ownership is never passed to a
 * waiter: unlock frees the word and wakes the first queued waiter (unless
 * one woken earlier has not retried yet), which then competes like anyone
 * else and, losing, re-parks at the front, so the queue stays FIFO.
 *
 * Who needs it: a binding's per-interpreter lock (Lua). The goroutine
 * running the interpreter unlocks around each blocking call and re-locks
 * right after; with gort_mutex a waiter older than 1 ms would get the lock
 * by handoff at every such unlock, and each short blocking call would cost
 * the running goroutine a full trip through the queue.
 *
 * Rejected: a separate word with only LOCKED|PARKED (WebKit's Lock). It
 * would wake a waiter at every unlock even while an earlier one has not run
 * yet; sharing the mutex word keeps WOKEN's throttling and one slow path.
 */
#include "config.h"

#include <string.h>

#include "sync/sync.h"

GORT__SYNC_FITS(gort_bargelock, gort__mtx);

static gort__mtx *mtx(gort_bargelock *l) { return (gort__mtx *)(void *)l; }

void gort_bargelock_init(gort_bargelock *l) {
  if (l != NULL)
    memset(l, 0, sizeof *l);
}

int gort_bargelock_lock(gort_bargelock *l, int64_t deadline) {
  if (GORT__UNLIKELY(l == NULL))
    return GORT_EINVAL;
  int rc = gort__check_cancel();
  if (GORT__UNLIKELY(rc != 0))
    return rc;
  return gort__mtx_lock(mtx(l), deadline, GORT__WR_BARGELOCK,
                        GORT__MTX_NOSTARVE);
}

int gort_bargelock_trylock(gort_bargelock *l) {
  if (l == NULL)
    return GORT_EINVAL;
  return gort__mtx_trylock(mtx(l));
}

/* STARVING is never set on this word, so the shared unlock never hands
 * off: it frees the word first and then wakes. */
int gort_bargelock_unlock(gort_bargelock *l) {
  if (GORT__UNLIKELY(l == NULL))
    return GORT_EINVAL;
  return gort__mtx_unlock(mtx(l));
}

size_t gort_sizeof_bargelock(void) { return sizeof(gort_bargelock); }
