#include "config.h"
/*
 * context.c - contexts (Go's context package): a tree of cancellation
 * scopes, each with a done channel closed when it is cancelled.
 *
 * Owns gort_context: its lock, reference count, error, children list,
 * done channel (elem_size 0, cap 0) and deadline timer; and the static
 * background context with its lazily made, never closed done channel.
 *
 * States. A context is live (err 0) or done (err set, once, under its lock,
 * then done closed by the same party: the winner, which then sets closed).
 * Whoever sets err wins: gort_context_cancel, the last release, the
 * deadline timer, or an ancestor's cancellation; the losers do nothing, so
 * done is closed exactly once and err is the winner's reason. Done-ness is
 * closed downwards: the winner detaches the children list under the lock
 * and cancels each child with its own err, and a child made under a done
 * parent is born done.
 *
 * gort_context_err, and the birth of a child under a done parent, wait
 * out the moment between err and closed (the winner has only its close
 * left to do). So, as in Go, an err seen means done is closed, and an
 * ancestor's done closes before ours. Without the wait, a child born done
 * while the winner's thread was preempted between its parent's err and
 * its parent's close had its done closed first (check_context's race test
 * saw it once under TSan).
 *
 * Locks. A context's lock guards its err transition, its children list and
 * its children's sibling links and `linked` flags. Nobody holds two context
 * locks: a canceller takes c's, detaches the children, drops it, then takes
 * the parent's to unlink c. No lock of ours is held across a channel close
 * (it wakes goroutines) or gort__timer_del (it waits for a callback), so
 * the lock is a leaf.
 *
 * Propagation without recursion. Detached children go onto an explicit
 * work list (the `work` link, owned by the one propagator that detached
 * them), so a chain 10,000 deep is cancelled in constant C stack, also from
 * a timer callback on the scheduler stack.
 *
 * Lifetime. with_* returns one reference. A child holds one on its parent
 * from registration until the child is freed (not only while registered):
 * then a parent pointer never dangles and nothing but a release ever drops
 * a reference. That matters because a context's memory must not be freed
 * inside its own timer callback (the timer loop writes t->running after
 * the callback returns, and gort__timer_del from inside would wait for
 * itself): callbacks and propagation never drop references, so frees only
 * happen in gort_context_release, outside any callback. A child detached by
 * a propagator that still has to visit it is `pinned`; the free of a
 * context waits for its pins to drop (propagation never blocks, so this is
 * short) and then for its timer callback (gort__timer_del), and only then
 * gives the memory back. A free releases the parent's reference, and the
 * frees that cascade up a chain run in a loop, not by recursion.
 *
 * Deadlines. The effective deadline is min(own, parent's), fixed at
 * creation. Only a child whose own deadline is earlier than its parent's
 * arms a timer (Go's WithDeadline does the same): otherwise the parent's
 * cancellation reaches it first. The timer's callback cancels with
 * GORT_ETIMEDOUT. A winner disarms the timers of the contexts it cancelled
 * (never its own from inside its own callback).
 *
 * Rejected: one lock for a whole tree held across the closes (closing wakes
 * goroutines under it, and a root that everything derives from would make
 * it a global lock); references taken on children while propagating (their
 * release inside a timer callback could free the context whose callback is
 * running); recursion (unbounded C stack on g0).
 *
 * A context with a deadline lives on the scheduler that created it (its
 * timer is there): release it before shutting that scheduler down.
 */

#include <stdlib.h>

#include "sched/sched.h"

struct gort_context {
  gort__lock lock;
  _Atomic int64_t refs;   /* every reference: users' and children's */
  _Atomic int64_t urefs;  /* users' only: the last one gone cancels c */
  _Atomic int err;        /* 0 live; else the winner's reason; set under lock */
  _Atomic bool closed;    /* done is closed: set by the winner after err */
  gort_context *parent;   /* NULL: a child of background, or born done */
  gort_context *children; /* under lock */
  gort_context *prev, *next; /* siblings: under parent->lock */
  bool linked;               /* in parent->children: under parent->lock */
  _Atomic uint32_t pins;     /* propagators that detached us, not yet done */
  gort_context *work;        /* work list link, owned by the pinning one */
  int64_t deadline;          /* effective; GORT_NEVER: none */
  bool timed;                /* we arm our own timer (set before linking) */
  gort_chan *done;
  gort__timer timer;
};

static gort_context background;
static gort_chan *_Atomic background_done;

static bool is_bg(const gort_context *c)
{
  return c == &background;
}

/* ---- cancellation -------------------------------------------------------- */

/* Sets c's err if nobody has; then detaches (and pins) its children onto
 * *work and closes done. Returns whether we won. c must stay valid for the
 * call: the caller holds a reference, runs c's own timer callback, or has
 * pinned c. */
static bool cancel_one(gort_context *c, int err, gort_context **work)
{
  gort_context *k;
  gort__lock_acquire(&c->lock);
  if (atomic_load_explicit(&c->err, memory_order_relaxed)) {
    gort__lock_release(&c->lock);
    return false;
  }
  atomic_store_explicit(&c->err, err, memory_order_release);
  for (k = c->children; k; k = k->next) {
    k->linked = false;
    atomic_fetch_add_explicit(&k->pins, 1, memory_order_relaxed);
    k->work = *work;
    *work = k;
  }
  c->children = NULL;
  gort__lock_release(&c->lock);
  gort_chan_close(c->done); /* err is set before anyone sees done closed */
  atomic_store_explicit(&c->closed, true, memory_order_release);
  return true;
}

/* c's err is set: returns once its winner has closed done too. The winner
 * is running (between its unlock and its close nothing parks), so this is
 * a short wait unless its thread is preempted, hence the OS yield. */
static void wait_closed(gort_context *c)
{
  int n = 0;
  while (!atomic_load_explicit(&c->closed, memory_order_acquire)) {
    if (++n < 64)
      gort__os_relax();
    else
      gort__os_yield();
  }
}

/* Removes c from its parent's children if it is still there. */
static void unlink_from_parent(gort_context *c)
{
  gort_context *p = c->parent;
  if (!p)
    return;
  gort__lock_acquire(&p->lock);
  if (c->linked) {
    if (c->prev)
      c->prev->next = c->next;
    else
      p->children = c->next;
    if (c->next)
      c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->linked = false;
  }
  gort__lock_release(&p->lock);
}

/* Cancels c and its subtree with err. in_own_callback: we run as c's timer
 * callback, whose timer must not (and need not) be deleted. */
static void cancel_tree(gort_context *c, int err, bool in_own_callback)
{
  gort_context *work = NULL;
  if (!cancel_one(c, err, &work))
    return;
  unlink_from_parent(c);
  if (c->timed && !in_own_callback)
    gort__timer_del(&c->timer);
  while (work) {
    gort_context *k = work;
    work = k->work;
    /* a child that lost was cancelled by its own timer, by a user, or by a
     * release: that winner handles its subtree */
    if (cancel_one(k, err, &work) && k->timed)
      gort__timer_del(&k->timer); /* its callback, if running, loses */
    atomic_fetch_sub_explicit(&k->pins, 1, memory_order_release);
    /* k may be freed from here on */
  }
}

static void deadline_fire(void *arg, int64_t now)
{
  (void)now;
  cancel_tree(arg, GORT_ETIMEDOUT, true);
}

/* ---- life cycle ---------------------------------------------------------- */

static void wait_unpinned(gort_context *c)
{
  int spins = 0;
  while (atomic_load_explicit(&c->pins, memory_order_acquire))
    gort__spin_step(&spins);
}

/* c's last reference is gone. Frees it and every ancestor whose last
 * reference was c's. Never called from a timer callback. */
static void free_chain(gort_context *c)
{
  while (c) {
    gort_context *p = c->parent;
    /* Whoever cancelled c has unlinked it from its parent, or will before
     * it is done: a propagator detached it (and pinned it), a winning
     * timer callback is waited out below, and a user's cancel holds a
     * reference, so cannot be in progress now. */
    cancel_tree(c, GORT_ECANCELED, false);
    wait_unpinned(c); /* an ancestor's propagation still holding c */
    if (c->timed)
      gort__timer_del(&c->timer); /* waits out our callback if it won */
    gort_chan_release(c->done);
    free(c);
    c = p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1
            ? p
            : NULL;
  }
}

/* The earlier of two deadlines, GORT_NEVER being the latest. */
static int64_t earlier(int64_t a, int64_t b)
{
  if (a == GORT_NEVER)
    return b;
  if (b == GORT_NEVER)
    return a;
  return a < b ? a : b;
}

static int make_child(gort_context *parent, int64_t deadline,
                      gort_context **out)
{
  gort_context *c;
  gort__sched *s = NULL;
  int64_t pdl, now;
  bool own, expired;
  int perr = 0, r;

  if (!parent || !out || (deadline < 0 && deadline != GORT_NEVER))
    return GORT_EINVAL;
  pdl = is_bg(parent) ? GORT_NEVER : parent->deadline;
  own = deadline != GORT_NEVER && (pdl == GORT_NEVER || deadline < pdl);
  if (own && !(s = gort__sched_get(NULL)))
    return GORT_ENOMEM;
  c = calloc(1, sizeof *c);
  if (!c)
    return GORT_ENOMEM;
  if ((r = gort_chan_new(&c->done, 0, 0)) != 0) {
    free(c);
    return r;
  }
  gort__lock_init(&c->lock, GORT__RANK_LEAF);
  atomic_store_explicit(&c->refs, 1, memory_order_relaxed);
  atomic_store_explicit(&c->urefs, 1, memory_order_relaxed);
  c->deadline = earlier(deadline, pdl);
  gort__timer_init(&c->timer, deadline_fire, c);
  /* Our own deadline already past: born done. Not an ancestor's whose
   * timer has not run yet: its firing reaches us like any cancellation,
   * and we must not be done before it is (Go's WithDeadline agrees). */
  now = own ? gort__nanotime() : 0;
  expired = own && deadline <= now;

  /* before c can be reached: a propagator that wins c reads it (and may
   * then del the timer before we add it: harmless, c is done and its
   * release dels it again) */
  c->timed = own && !expired;
  if (!is_bg(parent)) {
    gort__lock_acquire(&parent->lock);
    perr = atomic_load_explicit(&parent->err, memory_order_relaxed);
    if (!perr && !expired) {
      c->next = parent->children;
      if (c->next)
        c->next->prev = c;
      parent->children = c;
      c->linked = true;
      c->parent = parent;
      atomic_fetch_add_explicit(&parent->refs, 1, memory_order_relaxed);
    }
    gort__lock_release(&parent->lock);
  }
  if (perr || expired) {
    /* born done; nobody else can see c yet. Our done closes after the
     * parent's, as it would had we been its child when it was cancelled */
    if (perr)
      wait_closed(parent);
    c->timed = false;
    atomic_store_explicit(&c->err, perr ? perr : GORT_ETIMEDOUT,
                          memory_order_relaxed);
    gort_chan_close(c->done);
    atomic_store_explicit(&c->closed, true, memory_order_relaxed);
  } else if (c->timed) {
    gort__timer_add(s, &c->timer, deadline);
  }
  *out = c;
  return 0;
}

/* ---- public -------------------------------------------------------------- */

GORT_API gort_context *gort_context_background(void)
{
  return &background;
}

GORT_API int gort_context_with_cancel(gort_context *parent, gort_context **out)
{
  return make_child(parent, GORT_NEVER, out);
}

/* deadline GORT_NEVER: no deadline of its own (as with_cancel). */
GORT_API int gort_context_with_deadline(gort_context *parent, int64_t deadline,
                                        gort_context **out)
{
  return make_child(parent, deadline, out);
}

/* 0, also when already done; background cannot be cancelled: GORT_EINVAL. */
GORT_API int gort_context_cancel(gort_context *c)
{
  if (!c || is_bg(c))
    return GORT_EINVAL;
  cancel_tree(c, GORT_ECANCELED, false);
  return 0;
}

GORT_API gort_chan *gort_context_done(gort_context *c)
{
  gort_chan *ch, *none = NULL;
  if (!c)
    return NULL;
  if (!is_bg(c))
    return c->done;
  ch = atomic_load_explicit(&background_done, memory_order_acquire);
  if (ch)
    return ch;
  if (gort_chan_new(&ch, 0, 0) != 0)
    return NULL;
  if (!atomic_compare_exchange_strong_explicit(&background_done, &none, ch,
                                               memory_order_acq_rel,
                                               memory_order_acquire)) {
    gort_chan_release(ch); /* another caller made it first */
    return none;
  }
  return ch;
}

GORT_API int gort_context_err(gort_context *c)
{
  int err;
  if (!c)
    return GORT_EINVAL;
  if (is_bg(c))
    return 0;
  err = atomic_load_explicit(&c->err, memory_order_acquire);
  if (err)
    wait_closed(c);
  return err;
}

GORT_API int64_t gort_context_deadline(gort_context *c)
{
  if (!c)
    return GORT_EINVAL;
  return is_bg(c) ? GORT_NEVER : c->deadline;
}

/* GORT_ETIMEDOUT at the deadline (GORT_EAGAIN for deadline 0),
 * GORT_ECANCELED if the calling goroutine is cancelled, else c's err. */
GORT_API int gort_context_wait(gort_context *c, int64_t deadline)
{
  gort_chan *done;
  int r;
  if (!c)
    return GORT_EINVAL;
  if (!(done = gort_context_done(c)))
    return GORT_ENOMEM;
  r = gort_chan_recv(done, NULL, deadline);
  if (r == 0 || r == GORT_EPIPE)
    return gort_context_err(c);
  return r;
}

GORT_API void gort_context_retain(gort_context *c)
{
  if (c && !is_bg(c)) {
    atomic_fetch_add_explicit(&c->urefs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  }
}

/* The users' last reference cancels c and its subtree at once, as Go's
 * `defer cancel()` does, even while children keep its memory alive. */
GORT_API void gort_context_release(gort_context *c)
{
  if (!c || is_bg(c))
    return;
  if (atomic_fetch_sub_explicit(&c->urefs, 1, memory_order_acq_rel) == 1)
    cancel_tree(c, GORT_ECANCELED, false);
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
    free_chain(c);
}
