/*
 * cond.c - gort_cond: a condition variable for gort_mutex.
 *
 * A waiter queues itself on the cond's address and only then, in the
 * parking lot's before_sleep, unlocks the mutex: a signal sent after that
 * unlock finds it queued, so no wakeup is lost. It re-locks the mutex
 * (ignoring cancellation, since it must return with the mutex held) before
 * returning whatever the wait gave: 0, GORT_ETIMEDOUT or GORT_ECANCELED.
 *
 * The word counts the queued waiters so that signal and broadcast with
 * nobody waiting cost one load and never touch the parking lot.
 * Invariant: the count is raised under the bucket lock as a waiter queues,
 * and lowered exactly once per waiter: by the waker for each waiter it
 * claimed (in the unpark callback, under the bucket lock), or by the waiter
 * itself when it leaves on its own (deadline, cancellation). It can exceed
 * the number of claimable waiters only briefly, which costs a signal one
 * empty unpark, never a lost wakeup.
 *
 * Rejected:
 *  - Go's notifyList tickets: they exist to wake in order without a queue;
 *    the parking lot's queue is already FIFO.
 *  - Requeueing broadcast's waiters onto the mutex (futex requeue): the
 *    parking lot offers no requeue yet; broadcast wakes everyone and they
 *    contend for the mutex, which normal mode handles well.
 *  - Unlocking before queueing: a signal in between would be lost.
 */
#include "config.h"

#include <string.h>

#include "sync/sync.h"

typedef struct cv {
  _Atomic uint32_t waiters;
} cv;

GORT__SYNC_FITS(gort_cond, cv);

enum { TOKEN_SIGNAL = 1 };

static cv *cv_of(gort_cond *c) { return (cv *)(void *)c; }

typedef struct waitctx {
  cv *c;
  gort_mutex *m;
} waitctx;

/* Under the bucket lock, right before we are queued. */
static bool count_me(void *p) {
  waitctx *w = p;
  atomic_fetch_add_explicit(&w->c->waiters, 1, memory_order_seq_cst);
  return true;
}

/* After we are queued: now the mutex can go. */
static void unlock_mutex(void *p) {
  waitctx *w = p;
  gort__mtx_unlock(gort__mtx_of_mutex(w->m));
}

void gort_cond_init(gort_cond *c) {
  if (c != NULL)
    memset(c, 0, sizeof *c);
}

int gort_cond_wait(gort_cond *c, gort_mutex *m, int64_t deadline) {
  if (c == NULL || m == NULL)
    return GORT_EINVAL;
  /* m must be held (by the caller, which we cannot check more cheaply). */
  if (!gort__mtx_is_locked(gort__mtx_of_mutex(m)))
    return GORT_EINVAL;
  /* Refusals leave m held and untouched. */
  int rc = gort__check_cancel();
  if (rc == 0)
    rc = gort__deadline_expired(deadline);
  if (rc != 0)
    return rc;
  waitctx w = {cv_of(c), m};
  gort__park_opts o = {.validate = count_me,
                       .before_sleep = unlock_mutex,
                       .ctx = &w,
                       .reason = GORT__WR_COND};
  uintptr_t tok;
  rc = gort__plot_park(&w.c->waiters, &o, deadline, &tok);
  if (rc != 0) /* left on our own: the waker did not count us out */
    atomic_fetch_sub_explicit(&w.c->waiters, 1, memory_order_relaxed);
  gort__mutex_lock_nocancel(m);
  return rc;
}

/* Under the bucket lock, before the woken run. */
static uintptr_t count_out_one(void *p, bool woke, bool more) {
  (void)more;
  if (woke)
    atomic_fetch_sub_explicit(&((cv *)p)->waiters, 1, memory_order_relaxed);
  return TOKEN_SIGNAL;
}

static void count_out(void *p, size_t woke) {
  atomic_fetch_sub_explicit(&((cv *)p)->waiters, (uint32_t)woke,
                            memory_order_relaxed);
}

static bool nobody_waits(cv *c) {
  return atomic_load_explicit(&c->waiters, memory_order_seq_cst) == 0;
}

int gort_cond_signal(gort_cond *c) {
  if (c == NULL)
    return GORT_EINVAL;
  cv *v = cv_of(c);
  if (!nobody_waits(v))
    gort__plot_unpark_one(&v->waiters, count_out_one, v);
  return 0;
}

int gort_cond_broadcast(gort_cond *c) {
  if (c == NULL)
    return GORT_EINVAL;
  cv *v = cv_of(c);
  if (!nobody_waits(v))
    gort__plot_unpark_n(&v->waiters, SIZE_MAX, TOKEN_SIGNAL, count_out, v);
  return 0;
}

size_t gort_sizeof_cond(void) { return sizeof(gort_cond); }
