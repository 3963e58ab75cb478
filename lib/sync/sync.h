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
 * LOCKED:   held.
 * WOKEN:    some locker is awake and about to retry (a woken waiter or a
 *           spinner), so unlock need not wake another one.
 * STARVING: handoff mode: unlock passes ownership to the first waiter.
 *           Invariant: STARVING implies LOCKED.
 * PARKED:   someone may be queued on the word's address. May be stale (a
 *           waiter that timed out); the unlock that finds nobody clears it. */
enum {
  GORT__MTX_LOCKED = 1u,
  GORT__MTX_WOKEN = 2u,
  GORT__MTX_STARVING = 4u,
  GORT__MTX_PARKED = 8u,
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
int gort__mtx_unlock_slow(gort__mtx *m);
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
  if (!(s & GORT__MTX_LOCKED) &&
      atomic_compare_exchange_strong_explicit(&m->state, &s,
                                              s | GORT__MTX_LOCKED,
                                              memory_order_acquire,
                                              memory_order_relaxed))
    return 0;
  return gort__mtx_lock_slow(m, deadline, reason, flags);
}

/* Inline likewise: the second CAS is an unlock that has nobody to wake
 * (no PARKED, or a woken locker is already on its way) and no handoff. */
static inline int gort__mtx_unlock(gort__mtx *m) {
  uint32_t s = GORT__MTX_LOCKED;
  if (GORT__LIKELY(atomic_compare_exchange_strong_explicit(
          &m->state, &s, 0, memory_order_release, memory_order_relaxed)))
    return 0;
  if ((s & (GORT__MTX_LOCKED | GORT__MTX_STARVING)) == GORT__MTX_LOCKED &&
      (s & (GORT__MTX_PARKED | GORT__MTX_WOKEN)) != GORT__MTX_PARKED &&
      atomic_compare_exchange_strong_explicit(
          &m->state, &s, s & ~(uint32_t)GORT__MTX_LOCKED,
          memory_order_release, memory_order_relaxed))
    return 0;
  return gort__mtx_unlock_slow(m);
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

/* True when spinning can help: more than one CPU (cached). */
bool gort__sync_can_spin(void);

#endif
