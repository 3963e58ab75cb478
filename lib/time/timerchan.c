#include "config.h"
/*
 * timerchan.c - timer channels: gort_timer_* and gort_after (Go's
 * time.Timer, time.Ticker and time.After).
 *
 * Owns the gort_timer object (a channel of int64_t with room for one value,
 * of which the timer holds one reference; a state word; a lock for control
 * calls), the runtime timers it arms (`tnode`s, each one gort__timer of
 * lib/time/timer.c), and the graveyard of tnodes waiting to be freed.
 *
 * State (an atomic word) and who moves it:
 *   IDLE     stopped, or a one-shot that fired: no callback will send.
 *   PENDING  armed: the current tnode is in a heap, or its callback runs
 *            and (a ticker) will arm the next one as its last act.
 *   IDLE -> PENDING   new / reset, just before gort__timer_add.
 *   PENDING -> IDLE   a one-shot's callback (compare-and-swap: it claims
 *                     the firing, then sends); or stop/reset/free
 *                     (exchange: they claim the timer; a callback that
 *                     meets IDLE sends nothing and arms nothing).
 * Stop is "claim, wait until no callback is `inside`, gort__timer_del the
 * current tnode, drain". A callback counts itself `inside` before it looks
 * at the state and leaves as its last use of the timer, so one that saw
 * PENDING before the claim has sent and (a ticker) armed its successor by
 * the time the count reads 0; later ones see IDLE. The successor is then
 * `cur`, and del disarms it or waits for its callback. Afterwards nothing
 * runs or will run, and every value sent before the call is in the
 * channel, so draining it gives Go 1.23's rule: after Stop or Reset no
 * stale value is received. Stop returns what the claim found. (`inside` is
 * a count, not a flag: a ticker's successor may fire on another M before
 * its predecessor's callback has left.)
 *
 * Why a ticker arms a *different* tnode for each tick. The timer loop
 * (gort__timers_run) touches t->running after the callback returns (it
 * clears its firing's token). A callback that re-armed its own
 * gort__timer can see it fire again on another M, be stopped there and
 * freed, all before that touch: a use after free (TSan caught it, when the
 * touch was still a plain store that also cleared the second firing's
 * flag). So a tnode is armed only while quiescent (never ran, or its
 * loop's last touch has been seen: a del returned, or `running` read 0
 * after it ran), and a tick alternates between the tnode that fired (kept
 * as `spare`) and the previous one, allocating only if the previous one is
 * not quiescent yet.
 *
 * Invariants. A callback touches the gort_timer only while counted
 * `inside` (or, once stopped, while its tnode is `cur`, which del waits
 * out); `spare` and `cur` are written only by the one callback that passed
 * the state check, before it arms the successor. Callbacks run on the
 * scheduler stack and never block: they send with the channel's
 * non-blocking half (a full channel drops the tick, as Go's ticker does)
 * and hold no lock of ours, so the send may wake a goroutine (scheduler
 * locks, rank 10). `period` is written only while no callback can run.
 * Control calls (stop, reset, free) hold `oplock` for their whole
 * claim-wait-del-drain-rearm sequence, so two of them on one timer cannot
 * interleave (a reset's arming removed by a concurrent stop's del would
 * leave PENDING with nothing armed). The callback never takes `oplock`:
 * stop waits for callbacks, so they must not wait for it. `oplock` ranks
 * below the scheduler lock (GORT__RANK_SCHED - 2) because under it we
 * drain (channel lock, maybe a wakeup) and re-arm (heap lock, then
 * gort__wakep).
 *
 * gort_after's timer is never seen by the user. Its callback sends, drops
 * the timer's channel reference and frees the gort_timer (the runtime never
 * looks at it); its tnode goes to the graveyard, freed by later calls of
 * this file once `running` reads 0. At most the last few wait there
 * (reachable, never leaked).
 *
 * Rejected: a per-timer lock taken by the callback around a generation
 * check (the send must happen outside it, so the dels are still what makes
 * stop exact; the state word is enough); one gort__timer re-armed from its
 * own callback (the late store above); a goroutine per ticker.
 *
 * A timer lives on the scheduler that created it (gort__sched_get(NULL)):
 * free it before shutting that scheduler down; a gort_after still pending
 * at that shutdown is lost with it.
 */

#include <stdlib.h>

#include "chan/chan.h"
#include "sched/sched.h"

enum { T_IDLE = 0, T_PENDING = 1 };

/* Below gort__sched.lock: held across the drain and the re-arm. */
#define TIMER_OPRANK (GORT__RANK_SCHED - 2)

typedef struct tnode {
  gort__timer rt;             /* rt.arg is this tnode */
  struct gort_timer *t;       /* its timer */
  struct tnode *_Atomic dead; /* graveyard link */
} tnode;

struct gort_timer {
  gort__lock oplock;
  _Atomic uint32_t state;
  bool after;     /* gort_after's: frees itself once fired */
  int64_t period; /* 0: one-shot */
  gort__sched *s;
  gort_chan *ch;           /* int64_t, capacity 1; our reference */
  tnode *_Atomic cur;      /* the armed (or firing) one */
  tnode *spare;            /* the one that fired before: callbacks only */
  _Atomic uint32_t inside; /* callbacks between their check and last use */
};

/* ---- the channel, without ever blocking ---------------------------------- */

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

/* ---- tnodes and the graveyard -------------------------------------------- */

static void timer_fire(void *arg, int64_t now);

/* Done with: its timer loop has stored running = 0 after the callback (or
 * it never ran). seq_cst, to pair with that store before a free or reuse. */
static bool quiescent(tnode *n)
{
  return atomic_load_explicit(&n->rt.running, memory_order_seq_cst) == 0;
}

static tnode *tnode_new(struct gort_timer *t)
{
  tnode *n = malloc(sizeof *n);
  if (n) {
    gort__timer_init(&n->rt, timer_fire, n);
    n->t = t;
  }
  return n;
}

static tnode *_Atomic graveyard;

static void bury(tnode *n)
{
  tnode *head = atomic_load_explicit(&graveyard, memory_order_relaxed);
  do
    atomic_store_explicit(&n->dead, head, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(
      &graveyard, &head, n, memory_order_release, memory_order_relaxed));
}

/* Frees the quiescent buried tnodes. Taking the whole list with one
 * exchange keeps pops free of ABA. */
static void reap(void)
{
  tnode *n, *next;
  if (!atomic_load_explicit(&graveyard, memory_order_relaxed))
    return;
  n = atomic_exchange_explicit(&graveyard, NULL, memory_order_acquire);
  for (; n; n = next) {
    next = atomic_load_explicit(&n->dead, memory_order_relaxed);
    if (quiescent(n))
      free(n);
    else
      bury(n); /* its timer loop has not quite finished with it */
  }
}

/* Frees n now if nothing can touch it any more, else later. */
static void discard(tnode *n)
{
  if (!n)
    return;
  if (quiescent(n))
    free(n);
  else
    bury(n);
}

/* ---- firing -------------------------------------------------------------- */

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

/* A ticker's next tick: on the spare tnode if quiescent, else a new one.
 * The firing tnode becomes the spare. */
static void tick_rearm(struct gort_timer *t, tnode *fired, int64_t now)
{
  tnode *n = t->spare;
  int64_t when = next_tick(fired->rt.when, t->period, now);
  if (n && quiescent(n)) {
    gort__timer_init(&n->rt, timer_fire, n);
  } else {
    if (n)
      bury(n);
    if (!(n = tnode_new(t)))
      gort__fatal(__FILE__, __LINE__, "out of memory re-arming a ticker");
  }
  t->spare = fired;
  atomic_store_explicit(&t->cur, n, memory_order_release);
  gort__timer_add(t->s, &n->rt, when);
}

static void timer_fire(void *arg, int64_t now)
{
  tnode *fired = arg;
  struct gort_timer *t = fired->t;
  (void)now;
  if (t->after) {
    /* nobody else knows this timer: no claim, no count */
    chan_offer(t->ch, gort__nanotime());
    reap();
    gort_chan_release(t->ch); /* the caller may hold the last one */
    free(t);                  /* the runtime knows only the tnode */
    bury(fired);
    return;
  }
  /* seq_cst, before the check: a stopper whose claim comes after our
   * check then sees us counted */
  atomic_fetch_add_explicit(&t->inside, 1, memory_order_seq_cst);
  if (t->period == 0) {
    uint32_t e = T_PENDING;
    if (atomic_compare_exchange_strong_explicit(
            &t->state, &e, T_IDLE, memory_order_seq_cst, memory_order_seq_cst))
      chan_offer(t->ch, gort__nanotime()); /* the firing time, >= when */
  } else if (atomic_load_explicit(&t->state, memory_order_seq_cst) ==
             T_PENDING) {
    now = gort__nanotime();
    chan_offer(t->ch, now);
    tick_rearm(t, fired, now);
  }
  atomic_fetch_sub_explicit(&t->inside, 1, memory_order_release); /* last */
}

/* ---- control ------------------------------------------------------------- */

static bool args_ok(int64_t when, int64_t period)
{
  return period >= 0 && (when >= 0 || when == GORT_NEVER);
}

/* t->oplock must be held. Claims, waits out the callbacks, drains. */
static int stop_locked(struct gort_timer *t)
{
  unsigned spins = 0;
  int was = atomic_exchange_explicit(&t->state, T_IDLE, memory_order_seq_cst) ==
            T_PENDING;
  /* a callback that saw PENDING finishes sending and arming (short) */
  while (atomic_load_explicit(&t->inside, memory_order_seq_cst)) {
    if (++spins < 128)
      gort__os_relax();
    else
      gort__os_yield();
  }
  /* disarm the current tnode, or wait for its callback (which sees IDLE) */
  gort__timer_del(&atomic_load_explicit(&t->cur, memory_order_acquire)->rt);
  chan_drain(t->ch);
  return was;
}

/* t->oplock must be held (or t unpublished); t is IDLE and its current
 * tnode disarmed and quiescent (a del returned, or it never ran). */
static void arm_locked(struct gort_timer *t, int64_t when, int64_t period)
{
  tnode *n = atomic_load_explicit(&t->cur, memory_order_relaxed);
  gort__assert(atomic_load_explicit(&n->rt.heap, memory_order_relaxed) == NULL);
  t->period = period;
  if (when == GORT_NEVER)
    return;
  atomic_store_explicit(&t->state, T_PENDING, memory_order_release);
  gort__timer_add(t->s, &n->rt, when);
}

static int timer_make(struct gort_timer **out, bool after)
{
  struct gort_timer *t;
  tnode *n;
  gort__sched *s = gort__sched_get(NULL);
  int r;
  if (!s)
    return GORT_ENOMEM;
  reap();
  t = calloc(1, sizeof *t);
  if (!t)
    return GORT_ENOMEM;
  if (!(n = tnode_new(t))) {
    free(t);
    return GORT_ENOMEM;
  }
  if ((r = gort_chan_new(&t->ch, sizeof(int64_t), 1)) != 0) {
    free(n);
    free(t);
    return r;
  }
  gort__lock_init(&t->oplock, TIMER_OPRANK);
  atomic_store_explicit(&t->state, T_IDLE, memory_order_relaxed);
  atomic_store_explicit(&t->cur, n, memory_order_relaxed);
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

GORT_API gort_chan *gort_timer_chan(gort_timer *t)
{
  return t ? t->ch : NULL;
}

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
  /* cur: a del returned, so its loop is done with it; the spare's loop may
   * still be about to store `running` */
  free(atomic_load_explicit(&t->cur, memory_order_relaxed));
  discard(t->spare);
  gort_chan_release(t->ch); /* a user's retained reference keeps it */
  free(t);
  reap();
}

/* GORT_NEVER: a channel that never receives (no timer at all). */
GORT_API int gort_after(gort_chan **out, int64_t when)
{
  struct gort_timer *t;
  int r;
  if (!out || !args_ok(when, 0))
    return GORT_EINVAL;
  if (when == GORT_NEVER)
    return gort_chan_new(out, sizeof(int64_t), 1);
  if ((r = timer_make(&t, true)) != 0)
    return r;
  gort_chan_retain(t->ch); /* the caller's, before the timer can drop its own */
  *out = t->ch;
  arm_locked(t, when, 0); /* from here on t belongs to its callback */
  return 0;
}
