/*
 * proc.c - the scheduler: Ms finding goroutines to run (Go's proc.go).
 *
 * Each M runs schedule() on its own stack (g0): take a goroutine from the
 * P's runnext or ring (every 61st time from the global queue first, so it
 * cannot starve), run it until it switches back, then do what it asked
 * (park, yield, exit). With nothing local, findrunnable() runs due timers,
 * takes from the global queue, steals half of another P's ring, and only
 * then gives its P back and sleeps.
 *
 * Spinning Ms: an M looking for work to steal is "spinning". At most half
 * the busy Ps' worth of Ms spin at once. Whoever makes a goroutine runnable
 * calls gort__wakep(), which starts one spinning M if there is an idle P
 * and nobody spins; a spinning M that finds work stops spinning and, if it
 * was the last, wakes another (work may remain). An M that stops spinning
 * re-checks every ring after dropping its P, so a goroutine readied while
 * wakep saw "someone spins" is never stranded. Rejected: waking an M for
 * every ready (thundering herd on 2 cores) and never parking (burns CPU).
 *
 * The idle wait: one M at a time (s->polling) blocks in the netpoller
 * without a P until the earliest timer of all Ps, or a descriptor becomes
 * ready; the rest park on their note until handed a P. gort__timer_add
 * breaks the poller's wait when it adds an earlier deadline. An M about to
 * steal looks at the poller first without blocking (Go's findrunnable).
 *
 * Parking and the race with wakeups: a goroutine that parks switches to g0
 * first; g0 publishes PS_PARKED only once the goroutine is off its stack.
 * A gort__ready that comes earlier finds PS_RUNNING, leaves PS_NOTIFIED,
 * and g0 then resumes the goroutine at once instead of parking it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

_Thread_local gort__m *gort__tls_m __attribute__((tls_model("initial-exec")));
_Thread_local const _Atomic uint32_t *gort__tls_cancelled
    __attribute__((tls_model("initial-exec")));
static _Atomic uint64_t mid_gen;

static void schedule(gort__m *m);
static gort__g *findrunnable(gort__m *m);
static void overflow_die(gort__g *g) __attribute__((noreturn));

void gort__fatal(const char *file, int line, const char *what)
{
  char buf[512];
  snprintf(buf, sizeof buf, "libgort: fatal: %s (%s:%d)\n", what, file, line);
  gort__os_die(buf);
}

__attribute__((noinline)) gort__m *gort__getm(void) { return gort__tls_m; }

__attribute__((noinline)) gort__g *gort__getg(void)
{
  gort__m *m = gort__tls_m;
  return m ? atomic_load_explicit(&m->curg, memory_order_relaxed) : NULL;
}

gort__sched *gort__sched_of(gort__g *g) { return g->sched; }

uint32_t gort__fastrand(gort__m *m)
{
  uint32_t x = m->fastrand;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  m->fastrand = x;
  return x;
}

bool gort__can_spin(void)
{
  static _Atomic int ncpu;
  gort__m *m = gort__tls_m;
  gort__sched *s;
  int n = atomic_load_explicit(&ncpu, memory_order_relaxed);
  if (GORT__UNLIKELY(n == 0)) {
    n = gort__os_ncpu();
    atomic_store_explicit(&ncpu, n, memory_order_relaxed);
  }
  if (n <= 1)
    return false;
  if (!m)
    return true; /* a plain thread: the holder may well be running */
  if (!m->p)
    return false;
  s = m->sched;
  if (atomic_load_explicit(&s->nprocs, memory_order_relaxed) <=
      atomic_load_explicit(&s->npidle, memory_order_relaxed) +
          atomic_load_explicit(&s->nmspinning, memory_order_relaxed) + 1)
    return false;
  return gort__runqempty(m->p);
}

/* ---- P ownership -------------------------------------------------------- */

static bool p_cas(gort__p *p, gort__m *m, int from, int to)
{
  uint64_t e = GORT__PSTATE(m->id, from);
  return atomic_compare_exchange_strong_explicit(
      &p->state, &e, GORT__PSTATE(m->id, to), memory_order_acq_rel,
      memory_order_relaxed);
}

static void p_set(gort__p *p, gort__m *m, int st)
{
  atomic_store_explicit(&p->state, GORT__PSTATE(m ? m->id : 0, st),
                        memory_order_release);
}

static void acquirep(gort__m *m, gort__p *p)
{
  gort__assert(m->p == NULL);
  p->m = m;
  m->p = p;
  p_set(p, m, GORT__P_RUNNING);
}

static gort__p *releasep(gort__m *m)
{
  gort__p *p = m->p;
  p->m = NULL;
  m->p = NULL;
  return p;
}

/* sched.lock must be held. */
static void pidleput(gort__sched *s, gort__p *p)
{
  p_set(p, NULL, GORT__P_IDLE);
  p->link = s->pidle;
  s->pidle = p;
  atomic_fetch_add_explicit(&s->npidle, 1, memory_order_seq_cst);
}

/* sched.lock must be held. */
gort__p *gort__pidleget(gort__sched *s)
{
  gort__p *p = s->pidle;
  if (p) {
    s->pidle = p->link;
    p->link = NULL;
    atomic_fetch_sub_explicit(&s->npidle, 1, memory_order_seq_cst);
  }
  return p;
}

/* ---- Ms ------------------------------------------------------------------- */

void gort__notewakeup(gort__m *m)
{
  atomic_store_explicit(&m->note, 1, memory_order_release);
  gort__os_futex_wake((uint32_t *)&m->note, 1);
}

static void notesleep(gort__m *m)
{
  while (atomic_load_explicit(&m->note, memory_order_acquire) == 0)
    gort__os_futex_wait((uint32_t *)&m->note, 0, GORT_NEVER);
  atomic_store_explicit(&m->note, 0, memory_order_relaxed);
}

gort__m *gort__m_alloc(gort__sched *s)
{
  gort__m *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->sched = s;
  m->id = atomic_fetch_add_explicit(&mid_gen, 1, memory_order_relaxed) + 1;
  m->fastrand = (uint32_t)(m->id * 2654435761u) | 1;
  gort__lock_acquire(&s->lock);
  m->alllink = s->allm;
  s->allm = m;
  s->mcount++;
  gort__lock_release(&s->lock);
  return m;
}

void gort__mstart_common(gort__m *m)
{
  gort__tls_m = m;
  m->altstack = gort__os_altstack_init() == 1;
  gort__m_fiber_init(m);
}

void gort__mexit_common(gort__m *m)
{
  gort__handle_cache_flush(m);
  if (m->altstack)
    gort__os_altstack_free();
  gort__tls_m = NULL;
}

static void *mstart(void *arg)
{
  gort__m *m = arg;
  gort__mstart_common(m);
  gort__os_thread_name("gort-m");
  if (m->nextp) {
    acquirep(m, m->nextp);
    m->nextp = NULL;
  }
  schedule(m);
  gort__mexit_common(m);
  return NULL;
}

/* The caller counted itself in s->nstarting; we count it out once the
 * thread handle is stored (under sched.lock, where shutdown reads it). */
static void newm(gort__sched *s, gort__p *p, bool spinning)
{
  gort__m *m = gort__m_alloc(s);
  if (m) {
    gort__os_thread t;
    int r;
    m->nextp = p;
    m->spinning = spinning;
    r = gort__os_thread_start(&t, mstart, m);
    gort__lock_acquire(&s->lock);
    if (r == 0)
      m->thread = t;
    else
      m->dying = true; /* stays on allm, never started: shutdown skips it */
    s->nstarting--;
    gort__lock_release(&s->lock);
    if (r == 0)
      return;
  } else {
    gort__lock_acquire(&s->lock);
    s->nstarting--;
    gort__lock_release(&s->lock);
  }
  /* No thread: give the P back. Work stays queued for the running Ms;
   * a process out of threads degrades, it does not crash. */
  gort__lock_acquire(&s->lock);
  pidleput(s, p);
  gort__lock_release(&s->lock);
  if (spinning)
    atomic_fetch_sub_explicit(&s->nmspinning, 1, memory_order_seq_cst);
}

/* Runs some M with p (an idle P if NULL). */
void gort__startm(gort__sched *s, gort__p *p, bool spinning)
{
  gort__m *m;
  gort__lock_acquire(&s->lock);
  if (!p) {
    p = gort__pidleget(s);
    if (!p) {
      gort__lock_release(&s->lock);
      if (spinning)
        atomic_fetch_sub_explicit(&s->nmspinning, 1, memory_order_seq_cst);
      return;
    }
  }
  if (atomic_load_explicit(&s->dead, memory_order_acquire)) {
    pidleput(s, p); /* shutting down: no new work, no new threads */
    gort__lock_release(&s->lock);
    if (spinning)
      atomic_fetch_sub_explicit(&s->nmspinning, 1, memory_order_seq_cst);
    return;
  }
  m = s->midle;
  if (m) {
    s->midle = m->schedlink;
    s->nmidle--;
  } else {
    s->nstarting++;
  }
  gort__lock_release(&s->lock);
  if (atomic_load_explicit(&s->sysmonwait, memory_order_relaxed))
    gort__sysmon_wake(s);
  if (!m) {
    newm(s, p, spinning);
    return;
  }
  m->spinning = spinning;
  m->nextp = p;
  gort__notewakeup(m);
}

void gort__wakep(gort__sched *s)
{
  int z = 0;
  if (atomic_load_explicit(&s->npidle, memory_order_seq_cst) == 0)
    return;
  if (atomic_load_explicit(&s->nmspinning, memory_order_seq_cst) != 0)
    return;
  if (!atomic_compare_exchange_strong_explicit(&s->nmspinning, &z, 1,
                                               memory_order_seq_cst,
                                               memory_order_relaxed))
    return;
  gort__startm(s, NULL, true);
}

/* Parks m until handed a P. Returns false if the scheduler is going away. */
static bool stopm(gort__m *m)
{
  gort__sched *s = m->sched;
  gort__lock_acquire(&s->lock);
  if (atomic_load_explicit(&s->dead, memory_order_acquire)) {
    m->dying = true;
    gort__lock_release(&s->lock);
    return false;
  }
  m->schedlink = s->midle;
  s->midle = m;
  s->nmidle++;
  gort__lock_release(&s->lock);
  notesleep(m);
  if (m->dying)
    return false;
  acquirep(m, m->nextp);
  m->nextp = NULL;
  return true;
}

static void resetspinning(gort__m *m)
{
  gort__sched *s = m->sched;
  m->spinning = false;
  if (atomic_fetch_sub_explicit(&s->nmspinning, 1, memory_order_seq_cst) == 1)
    gort__wakep(s); /* we were the last to look: there may be more work */
}

bool gort__p_has_work(gort__sched *s, gort__p *p)
{
  return !gort__runqempty(p) ||
         atomic_load_explicit(&s->runqsize, memory_order_acquire) > 0;
}

/* Hands a P whose M is busy elsewhere (sysmon) to an M that can use it. */
void gort__handoffp(gort__sched *s, gort__p *p)
{
  if (gort__p_has_work(s, p) ||
      atomic_load_explicit(&p->timer0, memory_order_acquire) !=
          GORT__NEVER_WHEN) {
    gort__startm(s, p, false);
    return;
  }
  if (atomic_load_explicit(&s->nmspinning, memory_order_seq_cst) == 0 &&
      atomic_load_explicit(&s->npidle, memory_order_seq_cst) == 0) {
    int z = 0;
    if (atomic_compare_exchange_strong(&s->nmspinning, &z, 1)) {
      gort__startm(s, p, true);
      return;
    }
  }
  gort__lock_acquire(&s->lock);
  pidleput(s, p);
  gort__lock_release(&s->lock);
}

/* ---- making goroutines runnable ------------------------------------------ */

/* Queues g to run: on the calling M's P if it has one (as runnext if
 * next), else globally. Works from goroutines, g0 and plain threads. */
int gort__g_start(gort__sched *s, gort__g *g, bool next)
{
  gort__m *m;
  if (g->lane) {
    gort__lane_ready(g->lane, g);
    return 0;
  }
  m = gort__getm();
  if (m && m->sched == s && !m->lane && m->p) {
    gort__p *p = m->p;
    /* g0 owns its P outright; so does a goroutine finishing what the one
     * before it left (an exit's joiners are readied there) */
    if (atomic_load_explicit(&m->curg, memory_order_relaxed) == NULL ||
        atomic_load_explicit(&p->state, memory_order_relaxed) ==
            GORT__PSTATE(m->id, GORT__P_RUNNING)) {
      gort__runqput(p, g, next);
      gort__wakep(s);
      return 0;
    }
    if (p_cas(p, m, GORT__P_USER, GORT__P_RUNNING)) {
      gort__runqput(p, g, next);
      p_set(p, m, GORT__P_USER);
      gort__wakep(s);
      return 0;
    }
  }
  gort__globrunqput(s, g);
  gort__wakep(s);
  return 0;
}

void gort__ready(gort__g *g)
{
  uint32_t old = atomic_exchange_explicit(&g->parkstate, GORT__PS_NOTIFIED,
                                          memory_order_acq_rel);
  if (old == GORT__PS_RUNNING)
    return; /* not parked yet: g0 will see the token and resume it */
  gort__assert(old == GORT__PS_PARKED);
  atomic_store_explicit(&g->parkstate, GORT__PS_RUNNING, memory_order_relaxed);
  atomic_store_explicit(&g->status, GORT__G_RUNNABLE, memory_order_release);
  gort__g_start(g->sched, g, true);
}

/* The inline part of gort__post_switch on the direct path: a yielder's
 * requeue when its ring has room (the calls it saves are a fifth of a
 * yield). False: call gort__finish_deferred instead. */
static inline __attribute__((always_inline)) bool
requeue_direct(gort__m *m, gort__g *d)
{
  gort__p *p = m->p;
  uint32_t h, t;
  if (GORT__UNLIKELY(d->op != GORT__OP_YIELD || !gort__canary_ok(d)))
    return false;
  atomic_store_explicit(&d->status, GORT__G_RUNNABLE, memory_order_release);
  /* full: gort__finish_deferred's runqput spills half to the global queue */
  if (GORT__UNLIKELY(!gort__runqput_ring(p, d, &h, &t)))
    return false;
  p_set(p, m, GORT__P_USER);
  return true;
}

static inline __attribute__((always_inline)) void
post_direct(gort__ctx_pass from)
{
  gort__m *m = from.a;
  gort__g *d = from.b;
  if (m && !requeue_direct(m, d)) /* no m: resumed by g0 */
    gort__finish_deferred(m, d);
}

/* On m, whose P g holds: claims the P for the scheduler and takes the next
 * goroutine of its queue, if one can run now. The scheduler's periodic
 * duties (global queue fairness, due timers, a P to retire) send us the
 * long way instead. With calls false nothing here makes a call (so the
 * caller's fast path need not keep its registers across one): a pending
 * timer then gives NULL too, for the caller to try again with calls. On
 * NULL the P is the goroutine's again. */
static inline __attribute__((always_inline)) gort__g *
direct_next(gort__m *m, gort__p *p, gort__sched *s, bool calls)
{
  gort__g *next;
  uint32_t tick;
  int64_t t0;

  if (!p || !p_cas(p, m, GORT__P_USER, GORT__P_RUNNING))
    return NULL;
  /* the same fairness test schedule() makes before each execute */
  tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
  if ((tick % 61 == 0 &&
       atomic_load_explicit(&s->runqsize, memory_order_relaxed) > 0) ||
      p->id >= atomic_load_explicit(&s->nprocs, memory_order_relaxed))
    goto slow;
  /* our own P's timers every time, every P's every 8th switch */
  t0 = (tick & 7) ? atomic_load_explicit(&p->timer0, memory_order_relaxed)
                  : gort__timers_earliest(s);
  if (t0 != GORT__NEVER_WHEN && (!calls || t0 <= gort__nanotime()))
    goto slow;
  next = gort__runqget(p);
  if (!next)
    goto slow;
  atomic_store_explicit(&p->schedtick, tick + 1, memory_order_relaxed);
  return next;
slow:
  p_set(p, m, GORT__P_USER);
  return NULL;
}

/* Runs next on m in place of g, which direct_next's claim lets us do. The
 * switch hands next m and g in registers; returns what the switch that
 * resumes g hands over. */
static inline __attribute__((always_inline)) gort__ctx_pass
direct_switch(gort__m *m, gort__g *g, gort__g *next)
{
  next->m = m;
  atomic_store_explicit(&next->status, GORT__G_RUNNING, memory_order_relaxed);
  atomic_store_explicit(&m->curg, next, memory_order_release);
  gort__tls_cancelled = &next->cancelled;
#if defined(GORT_ASAN) || defined(GORT_TSAN)
  (void)m;
  gort__switch_g_to_g(g, next); /* with the sanitizers' fiber hooks */
  return (gort__ctx_pass){NULL, NULL}; /* it finished what was left */
#else
  return gort__ctx_switch(&g->ctx, &next->ctx, m, g);
#endif
}

/* On g, running on m and holding its P: if another goroutine of this P can
 * run, switch straight to it and leave g->op for it to finish
 * (gort__post_switch): one context switch instead of two, and no trip
 * through the scheduler. */
static inline __attribute__((always_inline)) bool
switch_direct(gort__m *m, gort__g *g)
{
  gort__g *next = direct_next(m, m->p, g->sched, true);
  if (!next)
    return false;
  post_direct(direct_switch(m, g, next));
  return true;
}

static void g_exited(gort__m *m, gort__p *p, gort__g *g);

void gort__finish_deferred(gort__m *m, gort__g *d)
{
  gort__p *p = m->p;
  int op = d->op;
  if (GORT__UNLIKELY(!gort__canary_ok(d)))
    overflow_die(d);
  if (op == GORT__OP_YIELD) {
    /* a yielder goes to the back of the queue */
    atomic_store_explicit(&d->status, GORT__G_RUNNABLE, memory_order_release);
    gort__runqput(p, d, false);
  } else if (op == GORT__OP_EXIT) {
    g_exited(m, p, d);
  } else {
    atomic_store_explicit(&d->status, GORT__G_WAITING, memory_order_relaxed);
    if (atomic_exchange_explicit(&d->parkstate, GORT__PS_PARKED,
                                 memory_order_acq_rel) == GORT__PS_NOTIFIED) {
      atomic_store_explicit(&d->parkstate, GORT__PS_RUNNING,
                            memory_order_relaxed);
      atomic_store_explicit(&d->status, GORT__G_RUNNABLE,
                            memory_order_release);
      gort__runqput(p, d, true);
    }
  }
  p_set(p, m, GORT__P_USER);
}

/* What gort_yield returns, read through g: we may be on another thread now,
 * so not gort__check_cancel. */
static int yield_result(gort__g *g)
{
  return atomic_load_explicit(&g->cancelled, memory_order_relaxed)
             ? GORT_ECANCELED
             : 0;
}

/* gort_yield's ways out of its fast path, each reached by a tail call so
 * that the fast path keeps next to nothing in registers across its one
 * switch: the whole direct switch, with calls, else through g0 ... */
static __attribute__((noinline)) int yield_slow(gort__m *m, gort__g *g)
{
  if (!switch_direct(m, g))
    gort__switch_to_g0(g);
  return yield_result(g);
}

/* ... and the end of a direct switch that could not requeue inline. */
static __attribute__((noinline)) int yield_finish(gort__ctx_pass from,
                                                  gort__g *g)
{
  gort__finish_deferred(from.a, from.b);
  return yield_result(g);
}

/* Here rather than in goroutine.c, so the direct switch is inlined. The
 * fast path makes two calls, gort__getm and the switch, so that it keeps
 * only g in a register across the switch (one push, not six, in the
 * prologue); everything that needs a call leaves by a tail call. */
GORT_API int gort_yield(void)
{
  gort__m *m = gort__getm();
  gort__g *g = m ? atomic_load_explicit(&m->curg, memory_order_relaxed) : NULL;
  gort__g *next;
  gort__ctx_pass from;
  if (!g) {
    gort__os_yield();
    return 0;
  }
  g->op = GORT__OP_YIELD;
  next = direct_next(m, m->p, g->sched, false);
  if (!next)
    return yield_slow(m, g);
  from = direct_switch(m, g, next);
  if (from.a && !requeue_direct(from.a, from.b))
    return yield_finish(from, g);
  return yield_result(g);
}

/* The end of every goroutine, on its own stack: straight to the next
 * goroutine of its P when there is one (which then frees this one's
 * slot), else through g0. */
void gort__g_exit(gort__g *g)
{
  g->op = GORT__OP_EXIT;
  if (!switch_direct(g->m, g))
    gort__switch_to_g0(g);
  gort__fatal(__FILE__, __LINE__, "dead goroutine resumed");
}

void gort__park(int reason, const void *what)
{
  gort__g *g = gort__getg();
  gort__assert(g != NULL);
  atomic_store_explicit(&g->waitreason, reason, memory_order_relaxed);
  atomic_store_explicit(&g->waitwhat, what, memory_order_relaxed);
  atomic_store_explicit(
      &g->waitsince,
      atomic_load_explicit(&g->sched->coarse_now, memory_order_relaxed),
      memory_order_relaxed);
  g->op = GORT__OP_PARK;
  if (!switch_direct(g->m, g))
    gort__switch_to_g0(g);
  atomic_store_explicit(&g->waitreason, GORT__WR_NONE, memory_order_relaxed);
}

/* ---- running a goroutine ---------------------------------------------------- */

static void requeue(gort__m *m, gort__p *p, gort__g *g, bool next)
{
  atomic_store_explicit(&g->status, GORT__G_RUNNABLE, memory_order_release);
  if (g->lane)
    gort__lane_ready(g->lane, g);
  else if (p)
    gort__runqput(p, g, next);
  else {
    gort__globrunqput(m->sched, g);
    gort__wakep(m->sched);
  }
}

/* The goroutine is gone: the slot goes back to the pool. Its foreign
 * record goes with it unless a handle owns the record. */
static void g_free(gort__sched *s, gort__p *p, gort__g *g, bool own_foreign)
{
  if (own_foreign && g->foreign)
    free(g->foreign);
  GORT__SET_RELAXED(g->foreign, NULL);
  gort__stack_free(s, p, g);
}

/* On g0: the goroutine g finished and is off its stack. */
static void g_exited(gort__m *m, gort__p *p, gort__g *g)
{
  gort__sched *s = g->sched;
  gort__lane *lane = g->lane;
  gort__handle *h = g->handle;
  bool own_foreign;
  atomic_store_explicit(&g->status, GORT__G_DEAD, memory_order_release);
  gort__fiber_destroy(g);
  if (p)
    atomic_store_explicit(
        &p->nexited,
        atomic_load_explicit(&p->nexited, memory_order_relaxed) + 1,
        memory_order_relaxed);
  else
    atomic_fetch_sub_explicit(&s->ng_extra, 1, memory_order_relaxed);
  /* a handle of gort_spawn's owns the foreign record; h may be gone once
   * its end has dropped the goroutine's reference */
  own_foreign = !h || h->embedded;
  if (h)
    gort__handle_end(h, g, m);
  g_free(s, p, g, own_foreign);
  if (lane &&
      atomic_fetch_sub_explicit(&lane->ngs, 1, memory_order_acq_rel) == 1)
    gort__plot_unpark_n(&lane->ngs, SIZE_MAX, 0, NULL, NULL);
  if (atomic_load_explicit(&s->stopping, memory_order_acquire)) {
    atomic_fetch_add_explicit(&s->exitseq, 1, memory_order_release);
    gort__os_futex_wake((uint32_t *)&s->exitseq, 1);
  }
}

static void overflow_die(gort__g *g)
{
  char buf[64];
  snprintf(buf, sizeof buf, "goroutine %llu: stack overflow\n",
           (unsigned long long)g->id);
  gort__os_die(buf);
}

/* On g0: runs g until it switches back, then carries out what it asked. */
void gort__execute(gort__m *m, gort__g *g)
{
  gort__p *p;
again:
  p = m->p;
  g->m = m;
  atomic_store_explicit(&g->status, GORT__G_RUNNING, memory_order_relaxed);
  atomic_store_explicit(&m->curg, g, memory_order_release);
  if (p) {
    atomic_store_explicit(&p->schedtick,
                          atomic_load_explicit(&p->schedtick,
                                               memory_order_relaxed) + 1,
                          memory_order_relaxed);
    p_set(p, m, GORT__P_USER);
  }
  gort__tls_cancelled = &g->cancelled;
  gort__switch_to_g(m, g);
  gort__tls_cancelled = NULL;
  /* whoever switched back: g may have switched straight to others since */
  g = atomic_load_explicit(&m->curg, memory_order_relaxed);
  atomic_store_explicit(&m->curg, NULL, memory_order_release);
  if (GORT__UNLIKELY(!gort__canary_ok(g)))
    overflow_die(g);
  if (p && !p_cas(p, m, GORT__P_USER, GORT__P_RUNNING) &&
      !p_cas(p, m, GORT__P_SYSCALL, GORT__P_RUNNING)) {
    m->p = NULL; /* sysmon gave our P away while g ran */
    p = NULL;
  }
  switch (g->op) {
  case GORT__OP_PARK:
    atomic_store_explicit(&g->status, GORT__G_WAITING, memory_order_relaxed);
    if (atomic_exchange_explicit(&g->parkstate, GORT__PS_PARKED,
                                 memory_order_acq_rel) == GORT__PS_NOTIFIED) {
      /* woken before it finished parking: run it again */
      atomic_store_explicit(&g->parkstate, GORT__PS_RUNNING,
                            memory_order_relaxed);
      if (p || m->lane)
        goto again;
      requeue(m, p, g, false);
    }
    break;
  case GORT__OP_YIELD:
  case GORT__OP_REACQUIRE:
    requeue(m, p, g, false);
    break;
  case GORT__OP_EXIT:
    g_exited(m, p, g);
    break;
  default:
    gort__fatal(__FILE__, __LINE__, "bad goroutine op");
  }
}

/* ---- finding work ------------------------------------------------------------ */

/* p's id is at or beyond maxprocs: hand everything it holds to others. */
static void retirep(gort__m *m)
{
  gort__sched *s = m->sched;
  gort__p *p = m->p;
  gort__runqdrain_global(s, p);
  gort__stack_cache_flush(s, p);
  gort__timers_move(s, p);
  releasep(m);
  gort__lock_acquire(&s->lock);
  if (p->id < atomic_load_explicit(&s->nprocs, memory_order_acquire)) {
    /* maxprocs grew back while we retired it: it is live again */
    gort__lock_acquire(&p->tlock);
    p->tdead = false;
    gort__lock_release(&p->tlock);
    pidleput(s, p);
  } else {
    p_set(p, NULL, GORT__P_DEAD);
  }
  gort__lock_release(&s->lock);
  gort__wakep(s);
}

/* Under sched.lock: is every goroutine blocked with nothing that could
 * wake it (Go's checkdead)? Only asked while gort_main waits. */
static bool deadlocked(gort__sched *s)
{
  gort__m *m;
  int i;
  if (!s->mainrec ||
      atomic_load_explicit(&s->mainrec->state, memory_order_acquire) != 0)
    return false;
  if (atomic_load_explicit(&s->runqsize, memory_order_acquire) != 0 ||
      atomic_load_explicit(&s->nblocking, memory_order_acquire) != 0 ||
      gort__netpoll_waiters(s))
    return false; /* Go too counts a network wait as a possible wake-up */
  for (i = 0; i < s->nallp; i++) {
    gort__p *p = s->allp[i];
    int st = GORT__PSTATE_STATUS(
        atomic_load_explicit(&p->state, memory_order_acquire));
    if (st != GORT__P_IDLE && st != GORT__P_DEAD)
      return false;
    if (!gort__runqempty(p) ||
        atomic_load_explicit(&p->timer0, memory_order_acquire) !=
            GORT__NEVER_WHEN)
      return false;
  }
  for (m = s->allm; m; m = m->alllink)
    if (atomic_load_explicit(&m->curg, memory_order_acquire))
      return false;
  return !gort__lanes_busy(s);
}

/* Goroutines run since: if this moved, something woke one meanwhile. */
static uint64_t ticks_sum(gort__sched *s)
{
  uint64_t t = 0;
  int i;
  for (i = 0; i < s->nallp; i++)
    t += atomic_load_explicit(&s->allp[i]->schedtick, memory_order_acquire);
  return t;
}

/* A plain thread (not a goroutine) may still wake a goroutine, and nothing
 * here can see it coming; so a deadlock is reported only after the world
 * has stayed asleep, with no goroutine run at all, for this long. */
#define DEADLOCK_GRACE (200 * 1000 * 1000LL)

static void report_deadlock(gort__sched *s)
{
  atomic_store_explicit(&s->mainrec->state, 2, memory_order_release);
  gort__os_futex_wake((uint32_t *)&s->mainrec->state, 1);
}

/* Blocks in the poller without a P until the earliest timer (or until2,
 * if earlier and not 0), a ready descriptor, or a gort__timer_add that
 * moves the earliest deadline earlier (it breaks the wait: polluntil 0
 * means "not yet known", which makes it break too). Events are left in b
 * for the caller to dispatch once it holds a P. */
static void pollwait(gort__sched *s, int64_t until2, gort__netbatch *b)
{
  int64_t until, timeout = -1;
  atomic_store_explicit(&s->polluntil, 0, memory_order_seq_cst);
  until = gort__timers_earliest(s);
  if (until2 && until2 < until)
    until = until2;
  atomic_store_explicit(&s->polluntil, until, memory_order_seq_cst);
  b->n = 0;
  if (!atomic_load(&s->dead)) {
    if (until != GORT__NEVER_WHEN) {
      timeout = until - gort__nanotime();
      if (timeout < 0)
        timeout = 0;
    }
    gort__netpoll_fetch(s, timeout, b);
  }
  atomic_store_explicit(&s->polling, 0, memory_order_seq_cst);
}

static gort__g *steal_work(gort__m *m, gort__p *p, int64_t now)
{
  gort__sched *s = m->sched;
  int n = atomic_load_explicit(&s->nprocs, memory_order_acquire);
  int round, i;
  for (round = 0; round < 4; round++) {
    bool last = round == 3;
    uint32_t start = gort__fastrand(m) % (uint32_t)n;
    for (i = 0; i < n; i++) {
      gort__p *p2 = s->allp[(start + (uint32_t)i) % (uint32_t)n];
      gort__g *g;
      if (p2 == p)
        continue;
      if (last) {
        /* run the other P's due timers: its M may be busy */
        gort__timers_run(p2, now);
        if ((g = gort__runqget(p)) != NULL)
          return g;
      }
      if ((g = gort__runqsteal(p, p2, last)) != NULL)
        return g;
    }
  }
  return NULL;
}

/* Finds a goroutine to run, sleeping if there is none. Returns NULL if the
 * scheduler is being shut down (m then has no P). m->p may change. */
static gort__g *findrunnable(gort__m *m)
{
  gort__sched *s = m->sched;
  gort__g *g;
  int i, n;

top:
  {
    gort__p *p = m->p;
    int64_t now = gort__nanotime();
    int busy;
    gort__timers_run(p, now);
    if ((g = gort__runqget(p)) != NULL)
      return g;
    if ((g = gort__globrunqget(s, p, 0)) != NULL)
      return g;
    /* the network, without blocking, unless an M is blocked in it */
    if (!atomic_load_explicit(&s->polling, memory_order_relaxed) &&
        gort__netpoll_nonblock(s) > 0 && (g = gort__runqget(p)) != NULL)
      return g;
    n = atomic_load_explicit(&s->nprocs, memory_order_acquire);
    busy = n - atomic_load_explicit(&s->npidle, memory_order_seq_cst);
    if (m->spinning ||
        2 * atomic_load_explicit(&s->nmspinning, memory_order_seq_cst) <
            busy) {
      if (!m->spinning) {
        m->spinning = true;
        atomic_fetch_add_explicit(&s->nmspinning, 1, memory_order_seq_cst);
      }
      if ((g = steal_work(m, p, now)) != NULL)
        return g;
    }
    /* Nothing. Give the P back, unless the global queue filled meanwhile. */
    gort__lock_acquire(&s->lock);
    if (atomic_load_explicit(&s->runqsize, memory_order_acquire) > 0) {
      gort__lock_release(&s->lock);
      goto top;
    }
    pidleput(s, releasep(m));
    gort__lock_release(&s->lock);
  }

  if (m->spinning) {
    m->spinning = false;
    atomic_fetch_sub_explicit(&s->nmspinning, 1, memory_order_seq_cst);
    /* A ready() that saw us spinning skipped wakep: look once more. */
    n = atomic_load_explicit(&s->nprocs, memory_order_acquire);
    for (i = 0; i < n; i++) {
      if (!gort__runqempty(s->allp[i]) ||
          atomic_load_explicit(&s->runqsize, memory_order_acquire) > 0) {
        gort__p *p;
        gort__lock_acquire(&s->lock);
        p = gort__pidleget(s);
        gort__lock_release(&s->lock);
        if (p) {
          acquirep(m, p);
          m->spinning = true;
          atomic_fetch_add_explicit(&s->nmspinning, 1, memory_order_seq_cst);
          goto top;
        }
        break;
      }
    }
  }

  {
    int64_t grace = 0;
    uint64_t ticks = 0;
    if (gort__timers_earliest(s) == GORT__NEVER_WHEN &&
        atomic_load_explicit(&s->mainrec, memory_order_relaxed)) {
      bool dead;
      gort__lock_acquire(&s->lock);
      dead = deadlocked(s);
      gort__lock_release(&s->lock);
      if (dead) {
        ticks = ticks_sum(s);
        grace = gort__nanotime() + DEADLOCK_GRACE;
      }
    }
    if ((grace || gort__timers_earliest(s) != GORT__NEVER_WHEN ||
         gort__netpoll_waiters(s)) &&
        !atomic_exchange_explicit(&s->polling, 1, memory_order_seq_cst)) {
      gort__p *p;
      gort__netbatch b;
      pollwait(s, grace, &b);
      gort__lock_acquire(&s->lock);
      if (grace && gort__nanotime() >= grace && deadlocked(s) &&
          ticks_sum(s) == ticks)
        report_deadlock(s);
      p = gort__pidleget(s);
      gort__lock_release(&s->lock);
      if (p) {
        int k, n2 = atomic_load_explicit(&s->nprocs, memory_order_acquire);
        int64_t now = gort__nanotime();
        acquirep(m, p);
        /* we slept for the earliest deadline of every P: run them all
         * (whatever their owners are doing), readying onto our P */
        for (k = 0; k < n2; k++)
          gort__timers_run(s->allp[k], now);
        gort__netpoll_dispatch(s, &b); /* onto our P */
        /* we leave the poller's post: if a P sits idle, its timers need
         * a sleeper again, so hand the post on (Go's wakep here) */
        if (atomic_load_explicit(&s->npidle, memory_order_seq_cst) > 0 &&
            (gort__timers_earliest(s) != GORT__NEVER_WHEN ||
             gort__netpoll_waiters(s)))
          gort__wakep(s);
        goto top;
      }
      gort__netpoll_dispatch(s, &b); /* no P: the global queue, wakep */
    }
  }
  if (!stopm(m))
    return NULL;
  goto top;
}

/* Runs every due timer, of every P. A running M does this between
 * goroutines rather than leaving idle Ps' timers to the sleeping poller
 * thread, which on a busy machine may wait milliseconds for a CPU after
 * its deadline; the check is a load a P, and a clock read only when some
 * timer exists. */
static void run_due_timers(gort__sched *s)
{
  int64_t e = gort__timers_earliest(s), now;
  int i, n;
  if (e == GORT__NEVER_WHEN || e > (now = gort__nanotime()))
    return;
  n = atomic_load_explicit(&s->nprocs, memory_order_acquire);
  for (i = 0; i < n; i++)
    gort__timers_run(s->allp[i], now);
}

static void schedule(gort__m *m)
{
  gort__sched *s = m->sched;
  for (;;) {
    gort__g *g = NULL;
    gort__p *p = m->p;
    if (!p) {
      gort__lock_acquire(&s->lock);
      p = gort__pidleget(s);
      gort__lock_release(&s->lock);
      if (p)
        acquirep(m, p);
      else if (!stopm(m))
        return;
      continue;
    }
    if (GORT__UNLIKELY(p->id >= atomic_load_explicit(&s->nprocs,
                                                    memory_order_acquire))) {
      retirep(m);
      continue;
    }
    if (atomic_load_explicit(&p->schedtick, memory_order_relaxed) % 61 == 0 &&
        atomic_load_explicit(&s->runqsize, memory_order_relaxed) > 0)
      g = gort__globrunqget(s, p, 1);
    if (!g)
      run_due_timers(s);
    if (!g)
      g = gort__runqget(p);
    if (!g) {
      g = findrunnable(m);
      if (!g)
        return;
    }
    if (m->spinning)
      resetspinning(m);
    gort__execute(m, g);
  }
}
