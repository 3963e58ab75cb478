/*
 * mutex.c - gort_mutex, and the slow paths of the lock word ("gort__mtx",
 * bits in sync.h) that gort_bargelock, gort_rwmutex's writers and gort_once
 * share.
 *
 * Go's sync.Mutex on a parking lot. Normal mode: a running locker may
 * barge; it spins a little (only with more than one CPU and P), then parks
 * on the word's address; unlock releases the word and wakes one waiter,
 * which competes with newcomers and, if it loses, re-parks at the front.
 * A waiter that has waited more than 1 ms sets STARVING when it re-parks:
 * from then on unlock hands ownership to the first waiter (setting LOCKED
 * for it under the bucket lock, token HANDOFF), and newcomers neither
 * barge nor spin. The new owner ends handoff mode if it waited less than
 * 1 ms, and the handoff to the last queued waiter ends it too.
 *
 * Invariants:
 *  - Every change of PARKED or STARVING that depends on who is queued is
 *    made under the bucket lock (in "validate" or an unpark callback), so
 *    "nobody is queued" seen there is true.
 *  - STARVING without LOCKED exists only between an unlock's release and
 *    its handoff callback; only that unlocker saw STARVING in its own
 *    release, so exactly one handoff follows.
 *  - WOKEN has exactly one owner while set (set by CAS from clear), and the
 *    owner clears it on every path out: taking the lock, queueing, giving up.
 *  - A waiter that times out or is cancelled leaves PARKED (maybe stale) and
 *    STARVING as they are; the next unlock that finds nobody clears them.
 *
 * Rejected:
 *  - A waiter count in the word (Go's semaphore design): the parking lot
 *    already knows who is queued, and a count cannot be kept right when
 *    waiters leave on timeouts without taking the bucket lock anyway.
 *  - Handoff always (fair lock): every unlock would cost a context switch
 *    while the lock is busy; Go measured normal mode to be much faster.
 *  - Keeping LOCKED set through a handoff (unlock by CAS): the unlock that
 *    finds flags set would then cost a failed CAS plus a second one; the
 *    xadd release costs one RMW in every case.
 *  - Deciding the handoff from a load after the release: another owner's
 *    STARVING could be mistaken for ours and hand off twice.
 */
#include "config.h"

#include <string.h>

#include "sync/sync.h"

#define SPIN_ROUNDS 4       /* rounds of spinning before parking */
#define SPIN_RELAX 30       /* gort__os_relax() calls per round */
#define STARVE_NS 1000000   /* a waiter older than this makes the lock fair */

enum { TOKEN_RETRY = 1, TOKEN_HANDOFF = 2 };

GORT__SYNC_FITS(gort_mutex, gort__mtx);

/* One locker's state across its spins and parks. */
typedef struct waitctx {
  gort__mtx *m;
  int64_t start;  /* when it first parked (valid once parked) */
  bool parked;    /* it has parked before: re-park at the front */
  bool awoke;     /* it owns WOKEN */
  bool starving;  /* it has waited longer than STARVE_NS */
  int spinnable;  /* -1 unknown, else whether spinning can help */
} waitctx;

static uint32_t load(gort__mtx *m) {
  return atomic_load_explicit(&m->state, memory_order_relaxed);
}

static bool cas(gort__mtx *m, uint32_t *old, uint32_t n, memory_order mo) {
  return atomic_compare_exchange_weak_explicit(&m->state, old, n, mo,
                                               memory_order_relaxed);
}

/* Spinning only helps if the holder can be running at the same time and
 * nothing else waits for our P (gort__can_spin: Go's canSpin). */
static bool spinnable(waitctx *w) {
  (void)w;
  return gort__can_spin();
}

static bool should_spin(waitctx *w, uint32_t s, int spins, int64_t deadline) {
  return spins < SPIN_ROUNDS && deadline != 0 &&
         (s & GORT__MTX_HELD) == GORT__MTX_LOCKED && spinnable(w);
}

static void spin(waitctx *w, uint32_t s) {
  /* Claim WOKEN so that unlock does not wake a sleeper to compete with us. */
  if (!w->awoke &&
      (s & (GORT__MTX_WOKEN | GORT__MTX_PARKED)) == GORT__MTX_PARKED &&
      cas(w->m, &s, s | GORT__MTX_WOKEN, memory_order_relaxed))
    w->awoke = true;
  for (int i = 0; i < SPIN_RELAX; i++)
    gort__os_relax();
}

static bool try_take(waitctx *w, uint32_t s) {
  uint32_t n = s | GORT__MTX_LOCKED;
  if (w->awoke)
    n &= ~(uint32_t)GORT__MTX_WOKEN;
  if (!cas(w->m, &s, n, memory_order_acquire))
    return false;
  w->awoke = false;
  return true;
}

static void drop_woken(waitctx *w) {
  if (w->awoke)
    atomic_fetch_and_explicit(&w->m->state, ~(uint32_t)GORT__MTX_WOKEN,
                              memory_order_relaxed);
  w->awoke = false;
}

/* Under the bucket lock: queue only while the lock is held, and say so
 * with PARKED (and STARVING for a starving waiter) before unlock can look. */
static bool park_validate(void *p) {
  waitctx *w = p;
  uint32_t s = load(w->m), n;
  do {
    if (!(s & GORT__MTX_HELD))
      return false;
    n = s | GORT__MTX_PARKED | (w->starving ? GORT__MTX_STARVING : 0u);
    if (w->awoke)
      n &= ~(uint32_t)GORT__MTX_WOKEN;
  } while (n != s && !cas(w->m, &s, n, memory_order_relaxed));
  w->awoke = false;
  return true;
}

/* 0 with *tok when woken, 1 when the lock was free before we could queue,
 * or a negative error (deadline, cancellation). */
static int park(waitctx *w, int64_t deadline, int reason, unsigned flags,
                uintptr_t *tok) {
  int rc = gort__deadline_expired(deadline);
  if (rc != 0) {
    drop_woken(w);
    return rc;
  }
  bool lifo = w->parked;
  if (!(flags & GORT__MTX_NOSTARVE)) {
    int64_t now = gort__nanotime();
    if (!w->parked)
      w->start = now;
    else if (now - w->start > STARVE_NS)
      w->starving = true;
  }
  w->parked = true;
  gort__park_opts o = {.validate = park_validate,
                       .ctx = w,
                       .lifo = lifo,
                       .nocancel = (flags & GORT__MTX_NOCANCEL) != 0,
                       .reason = reason};
  rc = gort__plot_park(&w->m->state, &o, deadline, tok);
  return rc == GORT_EAGAIN ? 1 : rc;
}

/* We own the lock by handoff (LOCKED was set for us); a short wait means
 * the lock need not stay fair (Go's rule): newcomers may compete again. */
static void took_handoff(waitctx *w) {
  if (gort__nanotime() - w->start <= STARVE_NS)
    atomic_fetch_and_explicit(&w->m->state, ~(uint32_t)GORT__MTX_STARVING,
                              memory_order_relaxed);
}

int gort__mtx_lock_slow(gort__mtx *m, int64_t deadline, int reason,
                        unsigned flags) {
  waitctx w = {.m = m, .spinnable = -1};
  int spins = 0;
  for (;;) {
    uint32_t s = load(m);
    if (!(s & GORT__MTX_HELD)) {
      if (try_take(&w, s))
        return 0;
      continue;
    }
    if (should_spin(&w, s, spins, deadline)) {
      spin(&w, s);
      spins++;
      continue;
    }
    uintptr_t tok = 0;
    int rc = park(&w, deadline, reason, flags, &tok);
    if (rc < 0)
      return rc;
    if (rc == 0 && tok == TOKEN_HANDOFF) {
      took_handoff(&w);
      return 0;
    }
    if (rc == 0) { /* TOKEN_RETRY: unlock made us the WOKEN owner */
      w.awoke = true;
      spins = 0;
    }
  }
}

int gort__mtx_trylock(gort__mtx *m) {
  uint32_t s = load(m);
  while (!(s & GORT__MTX_HELD))
    if (cas(m, &s, s | GORT__MTX_LOCKED, memory_order_acquire))
      return 0;
  return GORT_EBUSY;
}

/* Under the bucket lock, after a normal-mode unlock set WOKEN. */
static uintptr_t woke_retry(void *p, bool woke, bool more) {
  gort__mtx *m = p;
  if (!woke) /* nobody to hand WOKEN to, and nobody queued */
    atomic_fetch_and_explicit(
        &m->state, ~(uint32_t)(GORT__MTX_WOKEN | GORT__MTX_PARKED),
        memory_order_relaxed);
  else if (!more)
    atomic_fetch_and_explicit(&m->state, ~(uint32_t)GORT__MTX_PARKED,
                              memory_order_relaxed);
  return TOKEN_RETRY;
}

/* Under the bucket lock, in handoff mode, with LOCKED already released:
 * set it again for the woken waiter before it runs (STARVING kept every
 * newcomer out meanwhile). Nobody left (they timed out): the lock is free
 * and, with nobody queued, so is the mode. */
static uintptr_t woke_handoff(void *p, bool woke, bool more) {
  gort__mtx *m = p;
  const uint32_t queue = GORT__MTX_PARKED | GORT__MTX_STARVING;
  if (!woke) {
    atomic_fetch_and_explicit(&m->state, ~queue, memory_order_release);
    return 0;
  }
  uint32_t s = load(m), n;
  do
    n = (s | GORT__MTX_LOCKED) & (more ? ~0u : ~queue);
  while (!cas(m, &s, n, memory_order_release));
  return TOKEN_HANDOFF;
}

/* Wakes one waiter unless nobody is queued, someone already took the lock
 * (its unlock will wake), a woken locker is still on its way, or another
 * owner's handoff mode is on. Go's unlockSlow, on the parking lot. */
static void wake_one(gort__mtx *m, uint32_t s) {
  const uint32_t busy = GORT__MTX_HELD | GORT__MTX_WOKEN;
  do {
    if (!(s & GORT__MTX_PARKED) || (s & busy))
      return;
  } while (!cas(m, &s, s | GORT__MTX_WOKEN, memory_order_relaxed));
  gort__plot_unpark_one(&m->state, woke_retry, m);
}

void gort__mtx_unlock_slow(gort__mtx *m, uint32_t after) {
  if (after & GORT__MTX_STARVING)
    gort__plot_unpark_one(&m->state, woke_handoff, m);
  else
    wake_one(m, after);
}

/* ---- gort_mutex ---------------------------------------------------------- */

void gort_mutex_init(gort_mutex *m) {
  if (m != NULL)
    memset(m, 0, sizeof *m);
}

int gort_mutex_lock(gort_mutex *m, int64_t deadline) {
  if (GORT__UNLIKELY(m == NULL))
    return GORT_EINVAL;
  int rc = gort__check_cancel();
  if (GORT__UNLIKELY(rc != 0))
    return rc;
  return gort__mtx_lock(gort__mtx_of_mutex(m), deadline, GORT__WR_MUTEX, 0);
}

int gort_mutex_trylock(gort_mutex *m) {
  if (m == NULL)
    return GORT_EINVAL;
  return gort__mtx_trylock(gort__mtx_of_mutex(m));
}

int gort_mutex_unlock(gort_mutex *m) {
  if (GORT__UNLIKELY(m == NULL))
    return GORT_EINVAL;
  return gort__mtx_unlock(gort__mtx_of_mutex(m));
}

int gort__mutex_lock_nocancel(gort_mutex *m) {
  return gort__mtx_lock(gort__mtx_of_mutex(m), GORT_NEVER, GORT__WR_MUTEX,
                        GORT__MTX_NOCANCEL);
}

size_t gort_sizeof_mutex(void) { return sizeof(gort_mutex); }
