#include "config.h"
/*
 * timerchan.c - timer channels: gort_timer_* and gort_after (Go's
 * time.Timer, time.Ticker and time.After).
 *
 * Owns the gort_timer object: one runtime gort__timer (lib/time/timer.c),
 * a channel of int64_t with room for one value (the timer holds one
 * reference), a state word and a lock for control calls; and the graveyard
 * of fired gort_after timers.
 *
 * State (an atomic word) and who moves it:
 *   IDLE     stopped, or a one-shot that fired: no callback will send.
 *   PENDING  armed: the gort__timer is in a heap, or its callback is
 *            running and (a ticker) will re-arm it as its last act.
 *   IDLE -> PENDING   new / reset, just before gort__timer_add.
 *   PENDING -> IDLE   a one-shot's callback (compare-and-swap: it claims
 *                     the firing, then sends); or stop/reset/free
 *                     (exchange: they claim the timer; a callback that
 *                     meets IDLE sends nothing and does not re-arm).
 * Stop is "claim, gort__timer_del twice, drain". The first del disarms the
 * timer or waits out a callback in flight; such a callback may have seen
 * PENDING before the claim, so it sends and, for a ticker, re-arms: the
 * second del removes that arming (any later callback sees IDLE). Once both
 * have returned nothing runs or will run, and every value sent before the
 * call is in the channel, so draining it gives Go 1.23's rule: after Stop
 * or Reset no stale value is received. Stop returns what the claim found.
 *
 * Invariants. The callback runs on the scheduler stack and never blocks:
 * it sends with the channel's non-blocking half (a full channel drops the
 * tick, as Go's ticker does) and holds no lock of ours, so the send may
 * wake a goroutine (scheduler locks, rank 10) freely. `period` and
 * `rt.when` are written only while no callback can run (after the dels, or
 * before the first arming). Control calls (stop, reset, free) hold
 * `oplock` for their whole claim-del-drain-rearm sequence, so two of them
 * on one timer cannot interleave (a reset's arming removed by a concurrent
 * stop's second del would leave PENDING with nothing armed). The callback
 * never takes `oplock`: the dels wait for the callback, so it must not wait
 * for them. `oplock` ranks below the scheduler lock (GORT__RANK_SCHED - 2)
 * because under it we drain (channel lock, maybe a wakeup) and re-arm
 * (heap lock, then gort__wakep).
 *
 * gort_after's timer is never seen by the user: its callback sends, drops
 * the timer's channel reference and frees... not itself: the timer loop
 * stores t->running = 0 after the callback returns, so the memory must
 * outlive the call. The callback puts the timer in a graveyard instead,
 * and later gort_after calls and after-callbacks free graveyard timers
 * whose `running` reads 0. At most the last few fired timers wait there
 * (reachable, never leaked).
 *
 * Rejected: a per-timer lock taken by the callback around a generation
 * check (the send must happen outside it, so the dels are still what makes
 * stop exact; the state word is enough); freeing the after-timer from its
 * own callback (use after free in timers_run); a goroutine per ticker.
 *
 * A timer lives on the scheduler that created it (gort__sched_get(NULL)):
 * free it before shutting that scheduler down, and a gort_after timer
 * still pending at that shutdown is lost with it.
 */

#include <stdlib.h>

#include "chan/chan.h"
#include "sched/sched.h"

enum { T_IDLE = 0, T_PENDING = 1 };

/* Below gort__sched.lock: held across the drain and the re-arm. */
#define TIMER_OPRANK (GORT__RANK_SCHED - 2)

struct gort_timer {
  gort__timer rt; /* rt.arg is this */
  gort__lock oplock;
  _Atomic uint32_t state;
  bool after;     /* gort_after's: frees itself once fired */
  int64_t period; /* 0: one-shot */
  gort__sched *s;
  gort_chan *ch;                   /* int64_t, capacity 1; our reference */
  struct gort_timer *_Atomic dead; /* graveyard link */
};

/* ---- the channel, without ever blocking -------------------------------- */

/* Sends v unless the channel is full (the tick is dropped) or closed. */
static void chan_offer(gort_chan *h, int64_t v)
{
  gort__chan *c = (gort__chan *)h;
  gort__sudog *wake;
  int r;
  gort__lock_acquire(&c->lock);
  (void)gort__chan_trysend(c, &v, &r, &wake);
  gort__lock_release(&c->lock);
  if (wake)
    gort__sudog_wake(wake);
}

/* Takes every buffered value. The channel's internals rather than
 * gort_chan_recv(ch, NULL, 0): a cancelled goroutine must still drain. */
static void chan_drain(gort_chan *h)
{
  gort__chan *c = (gort__chan *)h;
  for (;;) {
    gort__sudog *wake;
    int64_t v;
    int r;
    gort__lock_acquire(&c->lock);
    if (c->qcount == 0) {
      gort__lock_release(&c->lock);
      return;
    }
    (void)gort__chan_tryrecv(c, &v, &r, &wake);
    gort__lock_release(&c->lock);
    if (wake)
      gort__sudog_wake(wake);
  }
}

/* ---- the graveyard of fired gort_after timers --------------------------- */

static struct gort_timer *_Atomic graveyard;

static void bury(struct gort_timer *t)
{
  struct gort_timer *head = atomic_load_explicit(&graveyard, memory_order_relaxed);
  do
    atomic_store_explicit(&t->dead, head, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(
      &graveyard, &head, t, memory_order_release, memory_order_relaxed));
}

/* Frees buried timers whose timer loop is done with them. Taking the
 * whole list with one exchange keeps pops free of ABA. */
static void reap(void)
{
  struct gort_timer *t, *next;
  if (!atomic_load_explicit(&graveyard, memory_order_relaxed))
    return;
  t = atomic_exchange_explicit(&graveyard, NULL, memory_order_acquire);
  for (; t; t = next) {
    next = atomic_load_explicit(&t->dead, memory_order_relaxed);
    if (atomic_load_explicit(&t->rt.running, memory_order_seq_cst))
      bury(t); /* its callback has not quite returned */
    else
      free(t);
  }
}

/* ---- firing --------------------------------------------------------------- */

/* The first when + k*period after now (Go's ticker catch-up: missed ticks
 * are skipped, not queued); saturates rather than wrapping. */
static int64_t next_tick(int64_t when, int64_t period, int64_t now)
{
  int64_t k = now >= when ? (now - when) / period + 1 : 1, step, next;
  if (__builtin_mul_overflow(k, period, &step) ||
      __builtin_add_overflow(when, step, &next) || next >= INT64_MAX)
    return INT64_MAX - 1;
  return next;
}

static void timer_fire(void *arg, int64_t now)
{
  struct gort_timer *t = arg;
  (void)now;
  if (t->after)
    reap();
  if (t->period == 0) {
    uint32_t e = T_PENDING;
    if (!atomic_compare_exchange_strong_explicit(&t->state, &e, T_IDLE,
                                                 memory_order_acq_rel,
                                                 memory_order_relaxed))
      return; /* stopped: the stopper is in gort__timer_del, waiting */
  } else if (atomic_load_explicit(&t->state, memory_order_acquire) !=
             T_PENDING) {
    return;
  }
  now = gort__nanotime(); /* the firing time, >= rt.when */
  chan_offer(t->ch, now);
  if (t->after) {
    gort_chan_release(t->ch); /* the caller may hold the last one */
    bury(t);                  /* last touch */
    return;
  }
  if (t->period > 0)
    gort__timer_add(t->s, &t->rt, next_tick(t->rt.when, t->period, now));
}

/* ---- control -------------------------------------------------------------- */

static bool args_ok(int64_t when, int64_t period)
{
  return period >= 0 && (when >= 0 || when == GORT_NEVER);
}

/* t->oplock must be held. Claims, waits out the callback, drains. */
static int stop_locked(struct gort_timer *t)
{
  int was = atomic_exchange_explicit(&t->state, T_IDLE, memory_order_acq_rel) ==
            T_PENDING;
  gort__timer_del(&t->rt); /* disarm, or wait for a callback in flight */
  gort__timer_del(&t->rt); /* ... which may have re-armed a ticker */
  chan_drain(t->ch);
  return was;
}

/* t->oplock must be held (or t unpublished); t is IDLE and disarmed. */
static void arm_locked(struct gort_timer *t, int64_t when, int64_t period)
{
  gort__assert(atomic_load_explicit(&t->rt.heap, memory_order_relaxed) == NULL);
  t->period = period;
  if (when == GORT_NEVER)
    return;
  atomic_store_explicit(&t->state, T_PENDING, memory_order_release);
  gort__timer_add(t->s, &t->rt, when);
}

static int timer_make(struct gort_timer **out, bool after)
{
  struct gort_timer *t;
  gort__sched *s = gort__sched_get(NULL);
  int r;
  if (!s)
    return GORT_ENOMEM;
  t = calloc(1, sizeof *t);
  if (!t)
    return GORT_ENOMEM;
  if ((r = gort_chan_new(&t->ch, sizeof(int64_t), 1)) != 0) {
    free(t);
    return r;
  }
  gort__timer_init(&t->rt, timer_fire, t);
  gort__lock_init(&t->oplock, TIMER_OPRANK);
  atomic_store_explicit(&t->state, T_IDLE, memory_order_relaxed);
  t->after = after;
  t->s = s;
  *out = t;
  return 0;
}

/* GORT_NEVER as `when` (new, reset): the timer is created or left stopped. */
GORT_API int gort_timer_new(gort_timer **out, int64_t when, int64_t period)
{
  struct gort_timer *t;
  int r;
  if (!out || !args_ok(when, period))
    return GORT_EINVAL;
  if ((r = timer_make(&t, false)) != 0)
    return r;
  arm_locked(t, when, period); /* unpublished: nobody else can see it */
  *out = t;
  return 0;
}

GORT_API gort_chan *gort_timer_chan(gort_timer *t) { return t ? t->ch : NULL; }

GORT_API int gort_timer_stop(gort_timer *t)
{
  int r;
  if (!t)
    return GORT_EINVAL;
  gort__lock_acquire(&t->oplock);
  r = stop_locked(t);
  gort__lock_release(&t->oplock);
  return r;
}

GORT_API int gort_timer_reset(gort_timer *t, int64_t when, int64_t period)
{
  int r;
  if (!t || !args_ok(when, period))
    return GORT_EINVAL;
  gort__lock_acquire(&t->oplock);
  r = stop_locked(t);
  arm_locked(t, when, period);
  gort__lock_release(&t->oplock);
  return r;
}

GORT_API void gort_timer_free(gort_timer *t)
{
  if (!t)
    return;
  gort__lock_acquire(&t->oplock);
  (void)stop_locked(t);
  gort__lock_release(&t->oplock);
  gort_chan_release(t->ch); /* a user's retained reference keeps it */
  free(t);
}

/* GORT_NEVER: a channel that never receives (no timer at all). */
GORT_API int gort_after(gort_chan **out, int64_t when)
{
  struct gort_timer *t;
  int r;
  if (!out || !args_ok(when, 0))
    return GORT_EINVAL;
  reap();
  if (when == GORT_NEVER)
    return gort_chan_new(out, sizeof(int64_t), 1);
  if ((r = timer_make(&t, true)) != 0)
    return r;
  gort_chan_retain(t->ch); /* the caller's, before the timer can drop its own */
  *out = t->ch;
  arm_locked(t, when, 0); /* from here on t belongs to its callback */
  return 0;
}
