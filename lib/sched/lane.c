/*
 * lane.c - lanes: goroutines that run only on one dedicated OS thread.
 *
 * A language runtime with a global lock (CPython's GIL) wants all its
 * goroutines on one thread, so switching between them never moves the
 * lock between threads; other goroutines run anywhere. A lane is an M of
 * its own with a FIFO queue and no P: readying a lane goroutine appends it
 * to that queue and wakes the thread. Lane goroutines may spawn, wake and
 * wait on ordinary ones and vice versa.
 *
 * The lane thread sleeps on l->wake only after announcing l->sleeping and
 * re-checking its queue; readiers push first and then look at sleeping,
 * both seq_cst, so one of them always sees the other (no lost wakeup) and
 * a busy lane costs no syscalls.
 */
#include "config.h"

#include <stdlib.h>

#include "sched/sched.h"

typedef struct lane_x {
  gort__lane l;
  _Atomic int sleeping;
} lane_x;

static gort__g *lane_pop(gort__lane *l)
{
  gort__g *g;
  gort__lock_acquire(&l->lock);
  g = l->qhead;
  if (g) {
    l->qhead = g->schedlink;
    if (!l->qhead)
      l->qtail = NULL;
    g->schedlink = NULL;
  }
  gort__lock_release(&l->lock);
  return g;
}

void gort__lane_ready(gort__lane *l, gort__g *g)
{
  lane_x *x = (lane_x *)l;
  gort__lock_acquire(&l->lock);
  g->schedlink = NULL;
  if (l->qtail)
    l->qtail->schedlink = g;
  else
    l->qhead = g;
  l->qtail = g;
  gort__lock_release(&l->lock);
  if (atomic_load_explicit(&x->sleeping, memory_order_seq_cst)) {
    atomic_fetch_add_explicit(&l->wake, 1, memory_order_seq_cst);
    gort__os_futex_wake((uint32_t *)&l->wake, 1);
  }
}

static bool lane_done(gort__lane *l)
{
  bool done;
  gort__lock_acquire(&l->lock);
  done = l->closing && l->qhead == NULL &&
         atomic_load(&l->ngs) == 0;
  gort__lock_release(&l->lock);
  return done;
}

static void *lane_main(void *arg)
{
  lane_x *x = arg;
  gort__lane *l = &x->l;
  gort__m *m = l->m;
  gort__mstart_common(m);
  gort__os_thread_name("gort-lane");
  for (;;) {
    gort__g *g = lane_pop(l);
    uint32_t seq;
    if (g) {
      gort__execute(m, g);
      continue;
    }
    if (lane_done(l))
      break;
    seq = atomic_load_explicit(&l->wake, memory_order_seq_cst);
    atomic_store_explicit(&x->sleeping, 1, memory_order_seq_cst);
    gort__lock_acquire(&l->lock);
    g = l->qhead;
    gort__lock_release(&l->lock);
    if (!g && !lane_done(l)) {
      /* Our goroutines all wait. If gort_main is watching for deadlock
       * and every P is idle too, no M would look again: start one, so
       * the check runs (findrunnable ends in it when there is no work). */
      if (atomic_load_explicit(&l->sched->mainrec, memory_order_relaxed))
        gort__wakep(l->sched);
      gort__os_futex_wait((uint32_t *)&l->wake, seq, GORT_NEVER);
    }
    atomic_store_explicit(&x->sleeping, 0, memory_order_seq_cst);
  }
  gort__mexit_common(m);
  return NULL;
}

GORT_API int gort_lane_new(gort_sched *h, gort_lane **out)
{
  gort__sched *s = gort__sched_get(h);
  lane_x *x;
  gort__lane *l;
  int r;
  if (!out)
    return GORT_EINVAL;
  if (!s)
    return GORT_ENOMEM;
  x = calloc(1, sizeof *x);
  if (!x)
    return GORT_ENOMEM;
  l = &x->l;
  l->sched = s;
  gort__lock_init(&l->lock, GORT__RANK_LANE);
  l->m = gort__m_alloc(s);
  if (!l->m) {
    free(x);
    return GORT_ENOMEM;
  }
  l->m->lane = l;
  r = gort__os_thread_start(&l->thread, lane_main, x);
  if (r != 0) {
    l->m->dying = true;
    free(x);
    return r;
  }
  gort__lock_acquire(&s->lock);
  l->next = s->lanes;
  s->lanes = l;
  gort__lock_release(&s->lock);
  *out = (gort_lane *)l;
  return 0;
}

GORT_API int gort_lane_spawn(gort_lane *h, void (*fn)(void *), void *arg,
                             size_t stack_size, gort_g **out)
{
  gort__lane *l = (gort__lane *)h;
  bool closing;
  if (!l)
    return GORT_EINVAL;
  gort__lock_acquire(&l->lock);
  closing = l->closing;
  gort__lock_release(&l->lock);
  if (closing)
    return GORT_ECLOSED;
  return gort__spawn_internal(l->sched, l, NULL, fn, arg, stack_size, out);
}

GORT_API gort_lane *gort_lane_current(void)
{
  gort__m *m = gort__getm();
  return m ? (gort_lane *)m->lane : NULL;
}

static bool ngs_validate(void *ctx)
{
  gort__lane *l = ctx;
  return atomic_load(&l->ngs) != 0;
}

GORT_API int gort_lane_close(gort_lane *h, int64_t deadline)
{
  gort__lane *l = (gort__lane *)h;
  lane_x *x = (lane_x *)l;
  gort__sched *s;
  gort__lane **pp;
  gort__m *self = gort__getm();
  if (!l)
    return GORT_EINVAL;
  if (self && self->lane == l)
    return GORT_EDEADLK;
  s = l->sched;
  gort__lock_acquire(&l->lock);
  l->closing = true;
  gort__lock_release(&l->lock);
  while (atomic_load(&l->ngs) != 0) {
    gort__park_opts o = {0};
    int r;
    if (deadline == 0)
      return GORT_EAGAIN;
    o.validate = ngs_validate;
    o.ctx = l;
    o.reason = GORT__WR_JOIN;
    r = gort__plot_park(&l->ngs, &o, deadline, NULL);
    if (r == GORT_ETIMEDOUT || r == GORT_ECANCELED)
      return r;
  }
  atomic_store(&x->sleeping, 1);
  atomic_fetch_add(&l->wake, 1);
  gort__os_futex_wake((uint32_t *)&l->wake, 1);
  gort__os_thread_join(l->thread);
  gort__lock_acquire(&s->lock);
  for (pp = &s->lanes; *pp; pp = &(*pp)->next)
    if (*pp == l) {
      *pp = l->next;
      break;
    }
  l->m->dying = true;
  gort__lock_release(&s->lock);
  free(x);
  return 0;
}

/* sched.lock must be held. */
bool gort__lanes_busy(gort__sched *s)
{
  gort__lane *l;
  for (l = s->lanes; l; l = l->next) {
    bool busy;
    gort__lock_acquire(&l->lock);
    busy = l->qhead != NULL;
    gort__lock_release(&l->lock);
    if (busy)
      return true;
  }
  return false;
}

void gort__lanes_close_all(gort__sched *s, int64_t deadline)
{
  for (;;) {
    gort__lane *l;
    gort__lock_acquire(&s->lock);
    l = s->lanes;
    gort__lock_release(&s->lock);
    if (!l || gort_lane_close((gort_lane *)l, deadline) != 0)
      return;
  }
}
