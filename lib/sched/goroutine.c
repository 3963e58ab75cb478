/*
 * goroutine.c - the goroutine API: spawn, join, cancel, yield, gort_main,
 * and syscall regions.
 *
 * A handle is a small object apart from the goroutine (gort__handle in
 * sched.h): the slot (stack and descriptor) goes back to the pool as soon
 * as the goroutine ends, and the handle lives on until gort_g_release, so
 * joining after the end returns 0 as often as asked and costs no stack.
 *
 * Spawning from a goroutine takes the P for the few instructions it needs
 * (stack cache, id cache, run queue) with one CAS on the P's state word; a
 * P taken by sysmon meanwhile sends the spawn down the global path, and the
 * spawner then yields to get a P back. Handles come from a pool of the
 * process's, cached per M (below).
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

#define GOID_BATCH 16

/* Ids are unique in the process, across schedulers, as Go's are. */
static _Atomic uint64_t goidgen;

static uint64_t next_goid(gort__p *p)
{
  if (p) {
    if (p->goidcache == p->goidcacheend) {
      p->goidcache = atomic_fetch_add_explicit(&goidgen, GOID_BATCH,
                                               memory_order_relaxed) +
                     1;
      p->goidcacheend = p->goidcache + GOID_BATCH;
    }
    return p->goidcache++;
  }
  return atomic_fetch_add_explicit(&goidgen, 1, memory_order_relaxed) + 1;
}

/* The P the calling goroutine may use for a moment, entered with a CAS;
 * NULL if it has none (plain thread, lane, P retaken). */
static gort__p *p_enter(gort__sched *s, gort__m *m)
{
  gort__p *p;
  uint64_t e;
  if (!m || m->sched != s || m->lane || !m->p)
    return NULL;
  p = m->p;
  if (atomic_load_explicit(&m->curg, memory_order_relaxed) == NULL)
    return p;
  e = GORT__PSTATE(m->id, GORT__P_USER);
  if (atomic_compare_exchange_strong_explicit(
          &p->state, &e, GORT__PSTATE(m->id, GORT__P_RUNNING),
          memory_order_acq_rel, memory_order_relaxed))
    return p;
  return NULL;
}

/* After p_enter failed: true if m runs a goroutine whose P sysmon handed
 * away (it ran 10 ms without a scheduling point while work waited). It
 * runs on without one until its next switch, which finds it a P. */
static bool p_lost(gort__sched *s, gort__m *m)
{
  if (!m || m->sched != s || m->lane || !m->p ||
      atomic_load_explicit(&m->curg, memory_order_relaxed) == NULL)
    return false;
  /* in gort_syscall_enter's region the P is still ours */
  return atomic_load_explicit(&m->p->state, memory_order_relaxed) !=
         GORT__PSTATE(m->id, GORT__P_SYSCALL);
}

static void p_leave(gort__m *m, gort__p *p)
{
  if (p && atomic_load_explicit(&m->curg, memory_order_relaxed) != NULL)
    atomic_store_explicit(&p->state, GORT__PSTATE(m->id, GORT__P_USER),
                          memory_order_release);
}

/* ---- handle memory --------------------------------------------------------
 * Handles outlive their goroutines and their schedulers, so their memory
 * is the process's: chunks of HANDLE_CHUNK from malloc, never given back
 * (as the netpoller's descriptors are not), and a cache in each M that a
 * spawn, a goroutine's end and a release use with no lock and no atomic
 * (only the M's own thread touches it). Between the caches, handles move
 * in batches of HBATCH through a pool under hpool_lock. An M's cache is a
 * list it pushes and pops, and one spare full batch: the list becomes the
 * spare when it fills (the old spare goes to the pool), and the spare
 * becomes the list when it empties (else a batch comes from the pool).
 * Nothing walks a list: moving a batch costs the same whatever its
 * length. Handles freed by threads that are not Ms gather in a loose list
 * that becomes a batch when full. Under ASan and valgrind each handle is
 * its own malloc instead, so that they see a handle used after its
 * release; TSan runs the pool, to watch the caches. bench/spawn join at
 * 1 P, medians: 89-90 ns with one malloc and free per handle, 58.5 with
 * caches per P, 51.2 with caches per M (a release then needs no CAS to
 * enter its P); 49.2 -> 48.0 with the spare batch, where a full cache
 * used to walk half its list to give it back. */
#define HANDLE_CHUNK 64
#define HBATCH 64

static gort__lock hpool_lock = GORT__LOCK_INIT(GORT__RANK_LEAF);
static gort__handle *hbatches; /* linked through free.batch */
static gort__handle *hloose;   /* linked through free.link */
static int nhloose;

static bool handle_pooled(void)
{
#if defined(GORT_ASAN)
  return false;
#else
  static _Atomic int mode; /* 0 not known yet, 1 pooled, 2 one malloc each */
  int v = atomic_load_explicit(&mode, memory_order_relaxed);
  if (GORT__UNLIKELY(v == 0)) {
    v = gort__stack_ids_kept() ? 2 : 1; /* that is: under valgrind */
    atomic_store_explicit(&mode, v, memory_order_relaxed);
  }
  return v == 1;
#endif
}

/* hpool_lock held: the list first (n long, linked through free.link)
 * becomes a batch of the pool. */
static void hbatch_push(gort__handle *first, int n)
{
  first->free.n = n;
  first->free.batch = hbatches;
  hbatches = first;
}

static __attribute__((noinline)) gort__handle *handle_alloc_slow(gort__m *m)
{
  gort__handle *h;
  int n;
  if (!handle_pooled())
    return malloc(sizeof *h);
  if (m && m->hspare) { /* m's list is empty: its spare takes over */
    h = m->hspare;
    m->hspare = NULL;
    m->hcache = h->free.link;
    m->nhcache = HBATCH - 1;
    return h;
  }
  gort__lock_acquire(&hpool_lock);
  if (hbatches) {
    h = hbatches;
    hbatches = h->free.batch;
    n = h->free.n;
  } else if (hloose) {
    h = hloose;
    n = nhloose;
    hloose = NULL;
    nhloose = 0;
  } else {
    gort__handle *chunk;
    int i;
    gort__lock_release(&hpool_lock);
    if (!(chunk = malloc(HANDLE_CHUNK * sizeof *chunk)))
      return NULL;
    for (i = 0; i < HANDLE_CHUNK - 1; i++)
      chunk[i].free.link = &chunk[i + 1];
    chunk[HANDLE_CHUNK - 1].free.link = NULL;
    h = chunk;
    n = HANDLE_CHUNK;
    goto have;
  }
  gort__lock_release(&hpool_lock);
have:
  /* h heads a list of n: keep h, the rest is m's (or the pool's). m's
   * list is empty, and n - 1 < HBATCH. */
  if (n > 1) {
    if (m) {
      m->hcache = h->free.link;
      m->nhcache = n - 1;
    } else {
      gort__lock_acquire(&hpool_lock);
      hbatch_push(h->free.link, n - 1);
      gort__lock_release(&hpool_lock);
    }
  }
  return h;
}

/* m: the calling thread's M, or NULL. */
static inline gort__handle *handle_alloc(gort__m *m)
{
  gort__handle *h;
  if (m && m->hcache) {
    h = m->hcache;
    m->hcache = h->free.link;
    m->nhcache--;
    return h;
  }
  return handle_alloc_slow(m);
}

static __attribute__((noinline)) void handle_free_slow(gort__handle *h,
                                                       gort__m *m)
{
  if (!handle_pooled()) {
    free(h);
    return;
  }
  if (!m) {
    gort__lock_acquire(&hpool_lock);
    h->free.link = hloose;
    hloose = h;
    if (++nhloose == HBATCH) {
      hbatch_push(hloose, nhloose);
      hloose = NULL;
      nhloose = 0;
    }
    gort__lock_release(&hpool_lock);
    return;
  }
  /* m's list is full with h: it becomes the spare (just freed, so warm),
   * and the spare before it goes to the pool */
  h->free.link = m->hcache;
  if (m->hspare) {
    gort__lock_acquire(&hpool_lock);
    hbatch_push(m->hspare, HBATCH);
    gort__lock_release(&hpool_lock);
  }
  m->hspare = h;
  m->hcache = NULL;
  m->nhcache = 0;
}

static inline void handle_free(gort__handle *h, gort__m *m)
{
  if (m && m->nhcache < HBATCH - 1 && handle_pooled()) {
    h->free.link = m->hcache;
    m->hcache = h;
    m->nhcache++;
    return;
  }
  handle_free_slow(h, m);
}

void gort__handle_cache_flush(gort__m *m)
{
  if (!m->hcache && !m->hspare)
    return;
  gort__lock_acquire(&hpool_lock);
  if (m->hcache)
    hbatch_push(m->hcache, m->nhcache);
  if (m->hspare)
    hbatch_push(m->hspare, HBATCH);
  gort__lock_release(&hpool_lock);
  m->hcache = NULL;
  m->hspare = NULL;
  m->nhcache = 0;
}

/* A handle for g: the goroutine's reference and, unless it is embedded
 * (g's selfh, which nobody releases), the caller's. */
static void handle_init(gort__handle *h, gort__g *g, bool embedded,
                        gort__foreign *foreign)
{
  atomic_init(&h->done, embedded ? GORT__HDONE_GREF
                                 : GORT__HDONE_GREF | GORT__HDONE_CREF);
  atomic_init(&h->cancelled, 0);
  h->embedded = embedded;
  atomic_init(&h->g, g);
  h->id = g->id;
  h->foreign = foreign;
}

/* Creates and queues a goroutine. m is the calling thread's M or NULL;
 * lane/foreign may be NULL. */
static int spawn(gort__sched *s, gort__m *m, gort__lane *lane,
                 gort__foreign *foreign, void (*fn)(void *), void *arg,
                 size_t stack_size, gort_g **out)
{
  gort__p *p;
  gort__g *g;
  gort__handle *h = NULL;
  size_t size;

  if (!fn || stack_size > GORT__STACK_MAX)
    return GORT_EINVAL;
  if (atomic_load_explicit(&s->stopping, memory_order_acquire))
    return GORT_ECLOSED;
  size = stack_size ? gort__stack_round(stack_size) : s->default_stack;
  p = p_enter(s, m);
  if (out && !(h = handle_alloc(m))) {
    p_leave(m, p);
    return GORT_ENOMEM;
  }
  g = gort__stack_alloc(s, p, size);
  if (!g) {
    if (h)
      handle_free(h, m);
    p_leave(m, p);
    return GORT_ENOMEM;
  }
  GORT__SET_RELAXED(g->id, next_goid(p));
  GORT__SET_RELAXED(g->fn, fn);
  g->arg = arg;
  GORT__SET_RELAXED(g->lane, lane);
  GORT__SET_RELAXED(g->foreign, foreign);
  g->handle = h;
  if (h) /* the caller's reference and the goroutine's */
    handle_init(h, g, false, foreign);
  gort__lock_init(&g->cancel_lock, GORT__RANK_LEAF - 1);
  gort__timer_init(&g->timer, NULL, NULL);
  gort__ctx_init(&g->ctx, g->stack_lo, g->stack_size, gort__g_bootstrap, g);
  gort__fiber_create(g);
  if (lane)
    atomic_fetch_add_explicit(&lane->ngs, 1, memory_order_relaxed);
  if (p)
    atomic_store_explicit(
        &p->nspawned,
        atomic_load_explicit(&p->nspawned, memory_order_relaxed) + 1,
        memory_order_relaxed);
  else
    atomic_fetch_add_explicit(&s->ng_extra, 1, memory_order_relaxed);
  atomic_store_explicit(&g->status, GORT__G_RUNNABLE, memory_order_release);
  if (out)
    *out = (gort_g *)h;
  if (lane) {
    p_leave(m, p);
    gort__lane_ready(lane, g);
  } else if (p) {
    uint32_t queued;
    gort__runqput(p, g, true);
    queued = atomic_load_explicit(&p->runqtail, memory_order_relaxed) -
             atomic_load_explicit(&p->runqhead, memory_order_relaxed);
    p_leave(m, p);
    gort__wakep(s);
    /* Backpressure: a goroutine spawning in a loop lets its queue run once
     * it holds 16, so finished stacks come back hot instead of a million
     * fresh ones being faulted in (Go can afford the backlog: its stacks
     * start at 2 KiB of heap). Small batches also leave little for another
     * P to steal, whose running them costs cache misses on both sides:
     * 16 rather than the 64 this was, spawn then wg_done at 2 Ps went from
     * 89-96 to 63 ns a goroutine, and at 1 P from 64 to 59 (bench/spawn).
     * The price: a spawner whose children run long without a scheduling
     * point waits for 16 of them at a time, not 64. */
    if (queued >= GORT__SPAWN_BATCH &&
        atomic_load_explicit(&m->curg, memory_order_relaxed) != NULL)
      gort_yield();
  } else {
    gort__globrunqput(s, g);
    gort__wakep(s);
    /* A goroutine that lost its P yields to get one back: spawning on
     * without one would put every goroutine on the global queue, each
     * spawn taking the scheduler's and the stack pools' locks against
     * the M that runs them. At 1 P, 200,000 spawns right after 30 ms
     * without a scheduling point took 212-324 ns each that way, 42-60
     * with this yield. */
    if (p_lost(s, m))
      gort_yield();
  }
  return 0;
}

int gort__spawn_internal(gort__sched *s, gort__lane *lane,
                         gort__foreign *foreign, void (*fn)(void *),
                         void *arg, size_t stack_size, gort_g **out)
{
  return spawn(s, gort__getm(), lane, foreign, fn, arg, stack_size, out);
}

/* gort__sched_get, with the M it read kept for spawn */
static inline int spawn_on(gort_sched *h, void (*fn)(void *), void *arg,
                           size_t stack_size, gort_g **out)
{
  gort__m *m = gort__getm();
  gort__sched *s = (gort__sched *)h;
  if (!s)
    s = m ? m->sched : (gort__sched *)gort_sched_default();
  if (!s)
    return GORT_ENOMEM;
  return spawn(s, m, NULL, NULL, fn, arg, stack_size, out);
}

GORT_API int gort_spawn(gort_sched *s, void (*fn)(void *), void *arg,
                        size_t stack_size, gort_g **out)
{
  return spawn_on(s, fn, arg, stack_size, out);
}

GORT_API int gort_go(void (*fn)(void *), void *arg)
{
  return spawn_on(NULL, fn, arg, 0, NULL);
}

/* Keeps h's goroutine from ending (its end waits) while the caller reaches
 * into h->g; false if it ended already. Each true needs a handle_unpin. */
static bool handle_pin(gort__handle *h)
{
  uint32_t v = atomic_load_explicit(&h->done, memory_order_acquire);
  while (!(v & GORT__HDONE_ENDED))
    if (atomic_compare_exchange_weak_explicit(&h->done, &v,
                                              v + GORT__HDONE_PIN,
                                              memory_order_acq_rel,
                                              memory_order_acquire))
      return true;
  return false;
}

static void handle_unpin(gort__handle *h)
{
  uint32_t v = atomic_fetch_sub_explicit(&h->done, GORT__HDONE_PIN,
                                         memory_order_acq_rel);
  if ((v & GORT__HDONE_ENDED) && v / GORT__HDONE_PIN == 1)
    gort__os_futex_wake((uint32_t *)&h->done, INT_MAX);
}

/* h's last reference is gone. */
static void handle_destroy(gort__handle *h, gort__m *m)
{
  if (h->foreign)
    free(h->foreign);
  handle_free(h, m);
}

/* The references live in the done word with the ended bit, so an end that
 * nobody waits for or reaches into is one CAS: it sets the bit and drops
 * the goroutine's reference together, and a release after it needs no
 * atomic. bench/spawn join at 1 P, medians: 59.1 ns with a lock taken and
 * dropped on every end and a separate reference count; 56.2 with pins in
 * place of the lock; 54.0 with the references in the done word. */
void gort__handle_end(gort__handle *h, gort__g *g, gort__m *m)
{
  bool embedded = h->embedded; /* h may be gone after our last CAS */
  uint32_t v;
  /* before the ended bit, which publishes them to joiners */
  if (atomic_load_explicit(&g->cancelled, memory_order_relaxed))
    atomic_store_explicit(&h->cancelled, 1, memory_order_relaxed);
  atomic_store_explicit(&h->g, NULL, memory_order_relaxed);
  v = atomic_load_explicit(&h->done, memory_order_relaxed);
  while (!(v & GORT__HDONE_JOINWAIT) && v / GORT__HDONE_PIN == 0) {
    if (atomic_compare_exchange_weak_explicit(
            &h->done, &v, (v | GORT__HDONE_ENDED) & ~GORT__HDONE_GREF,
            memory_order_acq_rel, memory_order_relaxed)) {
      if (!embedded && !(v & GORT__HDONE_CREF))
        handle_destroy(h, m); /* released before its goroutine ended */
      return;
    }
  }
  /* joiners to wake, or callers inside g */
  v = atomic_fetch_or_explicit(&h->done, GORT__HDONE_ENDED,
                               memory_order_acq_rel);
  /* callers pinned before the bit are inside g: its slot must outlive
   * them. They hold no lock the end needs, and only unpin now. */
  while (v / GORT__HDONE_PIN) {
    gort__os_futex_wait((uint32_t *)&h->done, v, GORT_NEVER);
    v = atomic_load_explicit(&h->done, memory_order_acquire);
  }
  if (v & GORT__HDONE_JOINWAIT)
    gort__plot_unpark_n(&h->done, SIZE_MAX, 0, NULL, NULL);
  /* the unpark keys on h: only now may it go */
  v = atomic_fetch_and_explicit(&h->done, ~GORT__HDONE_GREF,
                                memory_order_acq_rel);
  if (!embedded && !(v & GORT__HDONE_CREF))
    handle_destroy(h, m);
}

/* Under the bucket lock: announce a joiner unless the goroutine ended. */
static bool join_validate(void *ctx)
{
  gort__handle *h = ctx;
  uint32_t v = atomic_load_explicit(&h->done, memory_order_acquire);
  while (!(v & GORT__HDONE_ENDED)) {
    if (v & GORT__HDONE_JOINWAIT ||
        atomic_compare_exchange_weak_explicit(&h->done, &v,
                                              v | GORT__HDONE_JOINWAIT,
                                              memory_order_acq_rel,
                                              memory_order_acquire))
      return true;
  }
  return false;
}

GORT_API int gort_join(gort_g *gh, int64_t deadline)
{
  gort__handle *h = (gort__handle *)gh;
  gort__park_opts o = {0};
  gort__g *self;
  int r;
  if (!h)
    return GORT_EINVAL;
  /* a finished goroutine joins with 0, always, even for a cancelled caller */
  if (atomic_load_explicit(&h->done, memory_order_acquire) &
      GORT__HDONE_ENDED)
    return 0;
  if ((r = gort__check_cancel()) != 0)
    return r;
  /* h->g is ours only if we are running, so reading it races no end */
  self = gort__getg();
  if (self && atomic_load_explicit(&h->g, memory_order_relaxed) == self)
    return GORT_EDEADLK;
  if ((r = gort__deadline_expired(deadline)) != 0)
    return r;
  o.validate = join_validate;
  o.ctx = h;
  o.reason = GORT__WR_JOIN;
  r = gort__plot_park(&h->done, &o, deadline, NULL);
  return r == GORT_EAGAIN ? 0 : r;
}

GORT_API int gort_cancel(gort_g *gh)
{
  gort__handle *h = (gort__handle *)gh;
  gort__g *g;
  if (!h)
    return GORT_EINVAL;
  atomic_store_explicit(&h->cancelled, 1, memory_order_relaxed);
  /* the pin keeps the goroutine from ending (and its slot from being
   * reused) while we reach into it */
  if (handle_pin(h)) {
    g = atomic_load_explicit(&h->g, memory_order_relaxed);
    if (g)
      gort__cancel_g(g);
    handle_unpin(h);
  }
  return 0;
}

GORT_API void gort_g_release(gort_g *gh)
{
  gort__handle *h = (gort__handle *)gh;
  uint32_t v;
  if (!h || h->embedded)
    return; /* gort_self's is borrowed: there is nothing to give back */
  if (h->foreign)
    gort__foreign_release(h->foreign);
  /* Ended and its end done with h (the goroutine's reference gone): ours
   * is the last, and no atomic is needed to drop it. */
  v = atomic_load_explicit(&h->done, memory_order_acquire);
  if ((v & (GORT__HDONE_ENDED | GORT__HDONE_GREF)) != GORT__HDONE_ENDED) {
    v = atomic_fetch_and_explicit(&h->done, ~GORT__HDONE_CREF,
                                  memory_order_acq_rel);
    if (v & GORT__HDONE_GREF)
      return; /* the end frees it */
  }
  handle_destroy(h, gort__getm());
}

GORT_API gort_g *gort_self(void)
{
  gort__g *g = gort__getg();
  gort__handle *h;
  if (!g)
    return NULL;
  if (g->handle)
    return (gort_g *)g->handle;
  /* only g writes g->handle from here on, and its end reads it after g
   * is off its stack */
  h = &g->selfh;
  /* one reference, the goroutine's, which its end drops; no foreign
   * record: a detached foreign goroutine owns its own */
  handle_init(h, g, true, NULL);
  g->handle = h;
  return (gort_g *)h;
}

GORT_API uint64_t gort_g_id(const gort_g *gh)
{
  return gh ? ((const gort__handle *)gh)->id : 0;
}

GORT_API int gort_g_cancelled(const gort_g *gh)
{
  gort__handle *h = (gort__handle *)gh;
  gort__g *g;
  int c;
  if (!h)
    return GORT_EINVAL;
  if (atomic_load_explicit(&h->cancelled, memory_order_acquire))
    return 1;
  /* cancelled some other way (shutdown cancels every goroutine)? */
  if (!handle_pin(h))
    return atomic_load_explicit(&h->cancelled, memory_order_acquire) != 0;
  g = atomic_load_explicit(&h->g, memory_order_relaxed);
  c = g ? atomic_load_explicit(&g->cancelled, memory_order_acquire) != 0
        : atomic_load_explicit(&h->cancelled, memory_order_relaxed) != 0;
  handle_unpin(h);
  return c;
}

GORT_API size_t gort_stack_size_default(void)
{
  gort__sched *s = gort__sched_get(NULL);
  return s ? s->default_stack : GORT__STACK_DEFAULT;
}

/* ---- syscall regions ---------------------------------------------------- */

GORT_API void gort_syscall_enter(void)
{
  gort__g *g = gort__getg();
  gort__m *m;
  gort__p *p;
  uint64_t e;
  if (!g)
    return;
  m = g->m;
  p = m->p;
  if (!p)
    return;
  e = GORT__PSTATE(m->id, GORT__P_USER);
  if (atomic_compare_exchange_strong_explicit(
          &p->state, &e, GORT__PSTATE(m->id, GORT__P_SYSCALL),
          memory_order_acq_rel, memory_order_relaxed)) {
    atomic_fetch_add_explicit(&p->syscalltick, 1, memory_order_relaxed);
    if (atomic_load_explicit(&g->sched->sysmonwait, memory_order_relaxed))
      gort__sysmon_wake(g->sched);
  }
}

GORT_API void gort_syscall_exit(void)
{
  gort__g *g = gort__getg();
  gort__m *m;
  gort__p *p;
  gort__sched *s;
  uint64_t e;
  if (!g)
    return;
  m = g->m;
  s = g->sched;
  p = m->p;
  if (!p)
    return;
  e = GORT__PSTATE(m->id, GORT__P_SYSCALL);
  if (atomic_compare_exchange_strong_explicit(
          &p->state, &e, GORT__PSTATE(m->id, GORT__P_USER),
          memory_order_acq_rel, memory_order_relaxed))
    return;
  if (GORT__PSTATE_STATUS(e) == GORT__P_USER && (e >> 8) == m->id)
    return; /* exit without enter */
  /* sysmon handed our P on. Take an idle one, or queue ourselves and let
   * this M go idle: maxprocs goroutines run at once, not more. */
  m->p = NULL;
  gort__lock_acquire(&s->lock);
  p = gort__pidleget(s);
  gort__lock_release(&s->lock);
  if (p) {
    p->m = m;
    m->p = p;
    atomic_store_explicit(&p->state, GORT__PSTATE(m->id, GORT__P_USER),
                          memory_order_release);
    return;
  }
  g->op = GORT__OP_REACQUIRE;
  gort__switch_to_g0(g);
}

/* ---- gort_main ------------------------------------------------------------- */

typedef struct mainarg {
  void (*fn)(void *);
  void *arg;
  gort__mainrec *rec;
  uint64_t gen;
} mainarg;

static void main_body(void *arg)
{
  /* Copy everything first: after a deadlock report gort_main has returned
   * and *arg is gone; the record is then found only by (address, gen). */
  mainarg ma = *(mainarg *)arg;
  gort__sched *s = gort__getg()->sched;
  ma.fn(ma.arg);
  gort__lock_acquire(&s->lock);
  if (s->mainrec == ma.rec && s->mainrec->gen == ma.gen) {
    uint32_t z = 0;
    if (atomic_compare_exchange_strong(&ma.rec->state, &z, 1))
      gort__os_futex_wake((uint32_t *)&ma.rec->state, 1);
  }
  gort__lock_release(&s->lock);
}

GORT_API int gort_main(void (*fn)(void *), void *arg)
{
  gort__sched *s;
  gort__mainrec rec;
  mainarg ma = {fn, arg, &rec, 0};
  gort_g *h = NULL;
  int r;
  uint32_t st;

  if (!fn)
    return GORT_EINVAL;
  if (gort__getm())
    return GORT_EBUSY; /* from inside the runtime: just call fn */
  s = gort__sched_get(NULL);
  if (!s)
    return GORT_ENOMEM;
  atomic_store(&rec.state, 0);
  gort__lock_acquire(&s->lock);
  if (s->mainrec) {
    gort__lock_release(&s->lock);
    return GORT_EBUSY;
  }
  rec.gen = ma.gen = ++s->maingen;
  s->mainrec = &rec;
  gort__lock_release(&s->lock);
  r = spawn(s, gort__getm(), NULL, NULL, main_body, &ma, 0, &h);
  if (r != 0) {
    gort__lock_acquire(&s->lock);
    s->mainrec = NULL;
    gort__lock_release(&s->lock);
    return r;
  }
  while ((st = atomic_load_explicit(&rec.state, memory_order_acquire)) == 0)
    gort__os_futex_wait((uint32_t *)&rec.state, 0, GORT_NEVER);
  gort__lock_acquire(&s->lock);
  s->mainrec = NULL;
  gort__lock_release(&s->lock);
  if (st == 1) {
    gort_join(h, GORT_NEVER); /* it is past fn: only its exit remains */
    gort_g_release(h);
    return 0;
  }
  /* Deadlock: the main goroutine stays parked; its handle is dropped. */
  gort_g_release(h);
  return GORT_EDEADLK;
}
