/*
 * sync.h - what the files of lib/sync share: the internal lock word
 * ("gort__mtx") behind gort_mutex, gort_bargelock, the writer side of
 * gort_rwmutex and gort_once, and the casts from public storage.
 *
 * Why one internal word and not gort_mutex itself: rwmutex and once embed a
 * lock inside their own storage, and bargelock is the same lock minus the
 * starvation mode, so the slow paths take a "gort__mtx" plus flags and the
 * public types are thin casts. The fast paths are inline here so that every
 * user gets the single CAS without a call.
 *
 * All-zero bytes are the unlocked state of every type here: GORT_*_INIT and
 * the *_init functions (memset) give the same thing.
 */
#ifndef GORT_SYNC_SYNC_H
#define GORT_SYNC_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sched/runtime.h"

/* Casts public storage to an internal struct, checking at compile time that
 * it fits and that the public type is aligned at least as strictly. */
#define GORT__SYNC_FITS(pub, priv)                                            \
  _Static_assert(sizeof(priv) <= sizeof(pub), #priv " outgrew " #pub);       \
  _Static_assert(_Alignof(priv) <= _Alignof(pub), #priv " alignment")

/* ---- the lock word -------------------------------------------------------
 * LOCKED:   held by an owner.
 * WOKEN:    some locker is awake and about to retry (a woken waiter or a
 *           spinner), so unlock need not wake another one.
 * STARVING: handoff mode. Unlock clears LOCKED and passes ownership to the
 *           first waiter, setting LOCKED for it; meanwhile STARVING alone
 *           keeps newcomers out. So the lock is free only when neither
 *           LOCKED nor STARVING is set (GORT__MTX_HELD).
 * PARKED:   someone may be queued on the word's address. May be stale (a
 *           waiter that timed out); the unlock that finds nobody clears it. */
enum {
  GORT__MTX_LOCKED = 1u,
  GORT__MTX_WOKEN = 2u,
  GORT__MTX_STARVING = 4u,
  GORT__MTX_PARKED = 8u,
  GORT__MTX_HELD = GORT__MTX_LOCKED | GORT__MTX_STARVING,
};

/* Flags for gort__mtx_lock_slow. */
enum {
  GORT__MTX_NOCANCEL = 1u, /* cancellation does not end the wait */
  GORT__MTX_NOSTARVE = 2u, /* never enter handoff mode (bargelock) */
};

typedef struct gort__mtx {
  _Atomic uint32_t state;
} gort__mtx;

int gort__mtx_lock_slow(gort__mtx *m, int64_t deadline, int reason,
                        unsigned flags);
/* After an unlock whose release left "after" in the word: wakes or hands
 * off as that word says. */
void gort__mtx_unlock_slow(gort__mtx *m, uint32_t after);
/* 0 or GORT_EBUSY; never parks, never spins. */
int gort__mtx_trylock(gort__mtx *m);

/* Does not check cancellation: callers that take a deadline have done so.
 * Inline: the first CAS is the uncontended case; the second takes a free
 * word that still carries PARKED/WOKEN (waiters exist but the lock is free,
 * common under contention), so that case needs no call either. */
static inline int gort__mtx_lock(gort__mtx *m, int64_t deadline, int reason,
                                 unsigned flags) {
  uint32_t s = 0;
  if (GORT__LIKELY(atomic_compare_exchange_strong_explicit(
          &m->state, &s, GORT__MTX_LOCKED, memory_order_acquire,
          memory_order_relaxed)))
    return 0;
  if (!(s & GORT__MTX_HELD) &&
      atomic_compare_exchange_strong_explicit(&m->state, &s,
                                              s | GORT__MTX_LOCKED,
                                              memory_order_acquire,
                                              memory_order_relaxed))
    return 0;
  return gort__mtx_lock_slow(m, deadline, reason, flags);
}

/* One RMW whatever the other bits say (fetch_sub is a single xadd, which
 * returns the whole word: what to do next is decided from that snapshot,
 * as Go does). The load before it refuses to unlock an unlocked word
 * without changing it; it is exact for the owner, because only the owner
 * clears LOCKED. Two unlocks racing with each other are undefined, as for
 * any lock. */
static inline int gort__mtx_unlock(gort__mtx *m) {
  if (GORT__UNLIKELY(!(atomic_load_explicit(&m->state, memory_order_relaxed) &
                       GORT__MTX_LOCKED)))
    return GORT_EINVAL;
  uint32_t old = atomic_fetch_sub_explicit(&m->state, GORT__MTX_LOCKED,
                                           memory_order_release);
  if (GORT__UNLIKELY(old != GORT__MTX_LOCKED))
    gort__mtx_unlock_slow(m, old - GORT__MTX_LOCKED);
  return 0;
}

static inline bool gort__mtx_is_locked(gort__mtx *m) {
  return atomic_load_explicit(&m->state, memory_order_relaxed) &
         GORT__MTX_LOCKED;
}

static inline gort__mtx *gort__mtx_of_mutex(gort_mutex *m) {
  return (gort__mtx *)(void *)m;
}

/* Locks m ignoring cancellation and without deadline: for gort_cond_wait,
 * which must return with m held whatever happened, and gort_once_do, which
 * waits uncancellably as Go's sync.Once does. Always returns 0. */
int gort__mutex_lock_nocancel(gort_mutex *m);


#endif
