/*
 * timer.c - per-P timer heaps (Go's 4-ary heap in time.go).
 *
 * Every goroutine has one embedded timer (g.timer) for gort_sleep and for
 * the deadline of whatever it blocks on, so arming a deadline allocates
 * nothing. A timer lives in the heap of one P, under that heap's lock;
 * p->timer0 mirrors the earliest deadline so the scheduler can skip the
 * lock when nothing is due. Ms run due timers of their own P at every
 * schedule and, when idle, of every P while looking for work; the M that
 * sleeps for the scheduler (the poll waiter) sleeps until the earliest
 * deadline of all heaps.
 *
 * Deleting a timer whose callback is running waits for the callback: the
 * callback may touch the waiter on its goroutine's stack, which must stay
 * valid until it returns. Callbacks only claim and ready, so the wait is
 * short. t->running is set before t->heap is cleared (both seq_cst), so a
 * deleter that sees "not in a heap" also sees "running".
 *
 * 4-ary rather than binary: half the depth, and the four children share a
 * cache line of pointers.
 */
#include "config.h"

#include <stdlib.h>

#include "sched/sched.h"

void gort__timers_init(gort__p *p)
{
  gort__lock_init(&p->tlock, GORT__RANK_TIMERS);
  p->theap = NULL;
  p->tlen = p->tcap = 0;
  p->tdead = false;
  atomic_store_explicit(&p->timer0, GORT__NEVER_WHEN, memory_order_relaxed);
}

void gort__timers_free(gort__p *p)
{
  free(p->theap);
  p->theap = NULL;
  p->tlen = p->tcap = 0;
}

static void heap_set(gort__p *p, uint32_t i, gort__timer *t)
{
  p->theap[i] = t;
  t->index = i;
}

static void siftup(gort__p *p, uint32_t i)
{
  gort__timer *t = p->theap[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 4;
    if (p->theap[parent]->when <= t->when)
      break;
    heap_set(p, i, p->theap[parent]);
    i = parent;
  }
  heap_set(p, i, t);
}

static void siftdown(gort__p *p, uint32_t i)
{
  gort__timer *t = p->theap[i];
  for (;;) {
    uint32_t c = i * 4 + 1, best = c, k;
    if (c >= p->tlen)
      break;
    for (k = c + 1; k < c + 4 && k < p->tlen; k++)
      if (p->theap[k]->when < p->theap[best]->when)
        best = k;
    if (p->theap[best]->when >= t->when)
      break;
    heap_set(p, i, p->theap[best]);
    i = best;
  }
  heap_set(p, i, t);
}

static void publish_timer0(gort__p *p)
{
  atomic_store_explicit(&p->timer0,
                        p->tlen ? p->theap[0]->when : GORT__NEVER_WHEN,
                        memory_order_seq_cst);
}

/* p->tlock must be held. */
static bool heap_push(gort__p *p, gort__timer *t)
{
  if (p->tlen == p->tcap) {
    uint32_t cap = p->tcap ? p->tcap * 2 : 64;
    gort__timer **n = realloc(p->theap, cap * sizeof *n);
    if (!n)
      return false;
    p->theap = n;
    p->tcap = cap;
  }
  p->theap[p->tlen] = t;
  t->index = p->tlen++;
  atomic_store_explicit(&t->heap, p, memory_order_seq_cst);
  siftup(p, t->index);
  return true;
}

/* p->tlock must be held; t is in p's heap. */
static void heap_remove(gort__p *p, gort__timer *t)
{
  uint32_t i = t->index, last = --p->tlen;
  if (i != last) {
    heap_set(p, i, p->theap[last]);
    if (i > 0 && p->theap[i]->when < p->theap[(i - 1) / 4]->when)
      siftup(p, i);
    else
      siftdown(p, i);
  }
  atomic_store_explicit(&t->heap, NULL, memory_order_seq_cst);
}

static gort__p *pick_p(gort__sched *s, uint32_t attempt)
{
  gort__m *m = gort__getm();
  int n = atomic_load_explicit(&s->nprocs, memory_order_acquire);
  if (attempt == 0 && m && m->sched == s && m->p)
    return m->p;
  return s->allp[(m ? gort__fastrand(m) : attempt * 7919u) % (uint32_t)n];
}

/* Makes sure somebody wakes up for a new earliest deadline. */
static void timer_notify(gort__sched *s, int64_t when)
{
  if (atomic_load_explicit(&s->polling, memory_order_seq_cst)) {
    int64_t until = atomic_load_explicit(&s->polluntil, memory_order_seq_cst);
    if (until == 0 || when < until)
      gort__netpoll_break(s);
  } else {
    gort__wakep(s);
  }
}

void gort__timer_add(gort__sched *s, gort__timer *t, int64_t when)
{
  uint32_t attempt = 0;
  bool first;
  gort__assert(atomic_load_explicit(&t->heap, memory_order_relaxed) == NULL);
  t->when = when;
  for (;;) {
    gort__p *p = pick_p(s, attempt++);
    gort__lock_acquire(&p->tlock);
    if (p->tdead) {
      gort__lock_release(&p->tlock);
      continue;
    }
    if (!heap_push(p, t)) {
      gort__lock_release(&p->tlock);
      gort__fatal(__FILE__, __LINE__, "out of memory growing a timer heap");
    }
    first = t->index == 0;
    if (first)
      publish_timer0(p);
    gort__lock_release(&p->tlock);
    break;
  }
  if (first)
    timer_notify(s, when);
}

bool gort__timer_del(gort__timer *t)
{
  for (;;) {
    gort__p *p = atomic_load_explicit(&t->heap, memory_order_seq_cst);
    if (!p) {
      int spins = 0;
      /* the callback is short, but its thread can be preempted */
      while (atomic_load_explicit(&t->running, memory_order_seq_cst))
        gort__spin_step(&spins);
      return false;
    }
    gort__lock_acquire(&p->tlock);
    if (atomic_load_explicit(&t->heap, memory_order_relaxed) == p) {
      bool was_first = t->index == 0;
      heap_remove(p, t);
      if (was_first)
        publish_timer0(p);
      gort__lock_release(&p->tlock);
      return true;
    }
    gort__lock_release(&p->tlock); /* moved or fired meanwhile: look again */
  }
}

/* Runs p's due timers. Returns the next deadline (GORT__NEVER_WHEN: none). */
int64_t gort__timers_run(gort__p *p, int64_t now)
{
  int64_t next = atomic_load_explicit(&p->timer0, memory_order_acquire);
  if (next > now)
    return next;
  gort__lock_acquire(&p->tlock);
  while (p->tlen && p->theap[0]->when <= now) {
    gort__timer *t = p->theap[0];
    uint64_t tok = (++p->tfired << 12) | (uint64_t)(p->id + 1);
    atomic_store_explicit(&t->running, tok, memory_order_seq_cst);
    heap_remove(p, t);
    publish_timer0(p);
    gort__lock_release(&p->tlock);
    t->fn(t->arg, now);
    /* unless the callback released it early and it fired again since */
    atomic_compare_exchange_strong_explicit(&t->running, &tok, 0,
                                            memory_order_seq_cst,
                                            memory_order_relaxed);
    gort__lock_acquire(&p->tlock);
  }
  next = p->tlen ? p->theap[0]->when : GORT__NEVER_WHEN;
  gort__lock_release(&p->tlock);
  return next;
}

void gort__timer_release(gort__timer *t)
{
  atomic_store_explicit(&t->running, 0, memory_order_seq_cst);
}

/* Moves every timer of from (being retired) into live Ps' heaps. Holds both
 * heap locks so a concurrent gort__timer_del always finds its timer. Only
 * one retirement runs at a time (under sched.lock). */
void gort__timers_move(gort__sched *s, gort__p *from)
{
  int n = atomic_load_explicit(&s->nprocs, memory_order_acquire);
  gort__p *to = s->allp[0];
  uint32_t i;
  gort__assert(n > 0 && from != to);
  gort__lock_acquire(&from->tlock);
  gort__lock_acquire(&to->tlock);
  for (i = 0; i < from->tlen; i++) {
    gort__timer *t = from->theap[i];
    if (!heap_push(to, t))
      gort__fatal(__FILE__, __LINE__, "out of memory moving timers");
  }
  from->tlen = 0;
  from->tdead = true;
  publish_timer0(from);
  publish_timer0(to);
  gort__lock_release(&to->tlock);
  gort__lock_release(&from->tlock);
  timer_notify(s, atomic_load_explicit(&to->timer0, memory_order_relaxed));
}
