/*
 * schedapi.c - creating, resizing and shutting down schedulers.
 *
 * A scheduler starts with its Ps, its sysmon thread and no M: the first
 * goroutine made runnable starts one (gort__wakep). Several schedulers may
 * live in one process; each has its own Ps, Ms, pools and sysmon.
 *
 * maxprocs changes without stopping the world (we have no preemption to
 * stop it with): growing puts new Ps on the idle list; shrinking marks the
 * limit, takes idle Ps beyond it out at once, and a running P beyond it is
 * retired by its own M at its next schedule (its queue, timers and stack
 * cache handed over).
 *
 * Shutdown: refuse new goroutines, cancel every live one (scanning the
 * stack arenas, which double as the list of all goroutines), wait until
 * none is left, stop lanes, Ms, sysmon and the blocking pool, and free
 * everything. A goroutine that ignores cancellation keeps its scheduler
 * alive: shutdown then says GORT_ETIMEDOUT and may be called again.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

static _Atomic(gort__sched *) default_sched;
/* Every live scheduler, for gort_dump. */
static gort__lock all_lock = GORT__LOCK_INIT(GORT__RANK_DEFAULT + 1);
static gort__sched *all_scheds;

void gort__sched_each(void (*fn)(gort__sched *s, void *ctx), void *ctx)
{
  gort__sched *s;
  gort__lock_acquire(&all_lock);
  for (s = all_scheds; s; s = s->alllink)
    fn(s, ctx);
  gort__lock_release(&all_lock);
}
/* Serialises gort_sched_maxprocs calls (of all schedulers: they are rare),
 * so a shrink's retirements never interleave with a grow. */
static gort__lock resize_lock = GORT__LOCK_INIT(GORT__RANK_RESIZE);
static gort__lock default_lock = GORT__LOCK_INIT(GORT__RANK_DEFAULT);

static gort__p *p_new(int id)
{
  gort__p *p = aligned_alloc(GORT__CACHELINE,
                             (sizeof(gort__p) + GORT__CACHELINE - 1) &
                                 ~(size_t)(GORT__CACHELINE - 1));
  if (!p)
    return NULL;
  memset(p, 0, sizeof *p);
  p->id = id;
  gort__timers_init(p);
  atomic_store(&p->state, GORT__PSTATE(0, GORT__P_IDLE));
  return p;
}

/* sched.lock must be held. Makes Ps [0, n) exist and be live. */
static int procs_grow(gort__sched *s, int n)
{
  int i;
  for (i = 0; i < n; i++) {
    gort__p *p = s->allp[i];
    if (!p) {
      p = p_new(i);
      if (!p)
        return GORT_ENOMEM;
      s->allp[i] = p;
      s->nallp = i + 1;
    } else if (GORT__PSTATE_STATUS(atomic_load(&p->state)) == GORT__P_DEAD) {
      gort__lock_acquire(&p->tlock);
      p->tdead = false;
      gort__lock_release(&p->tlock);
    } else {
      continue;
    }
    p->link = s->pidle;
    s->pidle = p;
    atomic_store(&p->state, GORT__PSTATE(0, GORT__P_IDLE));
    atomic_fetch_add(&s->npidle, 1);
  }
  return 0;
}

/* sched.lock must be held. Takes idle Ps at or beyond n off the idle list
 * and returns them linked; the caller retires them after unlocking (moving
 * timers may wake an M, which takes sched.lock). */
static gort__p *procs_shrink_idle(gort__sched *s, int n)
{
  gort__p **pp = &s->pidle, *dead = NULL;
  while (*pp) {
    gort__p *p = *pp;
    if (p->id >= n) {
      *pp = p->link;
      p->link = dead;
      dead = p;
      atomic_fetch_sub(&s->npidle, 1);
      atomic_store(&p->state, GORT__PSTATE(0, GORT__P_DEAD));
    } else {
      pp = &p->link;
    }
  }
  return dead;
}

static int sched_create(gort__sched **out, int maxprocs)
{
  gort__sched *s = calloc(1, sizeof *s);
  int r;
  if (!s)
    return GORT_ENOMEM;
  gort__lock_init(&s->lock, GORT__RANK_SCHED);
  gort__lock_init(&s->bplock, GORT__RANK_BLOCKPOOL);
  s->allp = calloc(GORT__MAXPROCS_LIMIT, sizeof *s->allp);
  if (!s->allp) {
    free(s);
    return GORT_ENOMEM;
  }
  if (maxprocs <= 0)
    maxprocs = gort__os_ncpu();
  if (maxprocs > GORT__MAXPROCS_LIMIT)
    maxprocs = GORT__MAXPROCS_LIMIT;
  gort__stack_init(s);
  if ((r = gort__netpoll_init(s)) != 0) {
    free(s->allp);
    free(s);
    return r;
  }
  atomic_store(&s->coarse_now, gort__nanotime());
  gort__lock_acquire(&s->lock);
  r = procs_grow(s, maxprocs);
  atomic_store(&s->nprocs, maxprocs);
  gort__lock_release(&s->lock);
  gort__debug_init();
  if (r == 0)
    r = gort__sysmon_start(s);
  if (r != 0) {
    int i;
    for (i = 0; i < s->nallp; i++) {
      gort__timers_free(s->allp[i]);
      free(s->allp[i]);
    }
    gort__netpoll_fini(s);
    free(s->allp);
    free(s);
    return r;
  }
  gort__os_fault_init(gort__fault_classify);
  gort__lock_acquire(&all_lock);
  s->alllink = all_scheds;
  all_scheds = s;
  gort__lock_release(&all_lock);
  *out = s;
  return 0;
}

GORT_API int gort_sched_new(gort_sched **out, int maxprocs)
{
  gort__sched *s;
  int r;
  if (!out)
    return GORT_EINVAL;
  r = sched_create(&s, maxprocs);
  if (r == 0)
    *out = (gort_sched *)s;
  return r;
}

GORT_API gort_sched *gort_sched_default(void)
{
  gort__sched *s = atomic_load_explicit(&default_sched, memory_order_acquire);
  if (s)
    return (gort_sched *)s;
  gort__lock_acquire(&default_lock);
  s = atomic_load_explicit(&default_sched, memory_order_acquire);
  if (!s) {
    const char *e = gort__os_getenv("GORT_MAXPROCS");
    int n = e ? atoi(e) : 0;
    if (sched_create(&s, n) == 0) {
      s->is_default = true;
      atomic_store_explicit(&default_sched, s, memory_order_release);
    } else {
      s = NULL;
    }
  }
  gort__lock_release(&default_lock);
  return (gort_sched *)s;
}

gort__sched *gort__sched_get(gort_sched *s)
{
  gort__m *m;
  if (s)
    return (gort__sched *)s;
  m = gort__getm();
  if (m)
    return m->sched;
  return (gort__sched *)gort_sched_default();
}

GORT_API gort_sched *gort_sched_current(void)
{
  return (gort_sched *)gort__sched_get(NULL);
}

GORT_API int gort_sched_maxprocs(gort_sched *h, int n)
{
  gort__sched *s = gort__sched_get(h);
  gort__p *dead = NULL;
  int old, r = 0;
  if (!s)
    return GORT_ENOMEM;
  if (n > GORT__MAXPROCS_LIMIT)
    return GORT_EINVAL;
  old = atomic_load(&s->nprocs);
  if (n <= 0 || n == old)
    return old;
  gort__lock_acquire(&resize_lock);
  gort__lock_acquire(&s->lock);
  old = atomic_load(&s->nprocs);
  if (n > old) {
    r = procs_grow(s, n);
    if (r == 0)
      atomic_store(&s->nprocs, n);
  } else {
    atomic_store(&s->nprocs, n);
    dead = procs_shrink_idle(s, n);
  }
  gort__lock_release(&s->lock);
  while (dead) {
    gort__p *p = dead;
    dead = p->link;
    p->link = NULL;
    gort__stack_cache_flush(s, p);
    gort__timers_move(s, p);
  }
  gort__lock_release(&resize_lock);
  if (r != 0)
    return r;
  gort__wakep(s);
  if (atomic_load(&s->sysmonwait))
    gort__sysmon_wake(s);
  return old;
}

GORT_API int64_t gort_sched_numgoroutine(gort_sched *h)
{
  gort__sched *s = gort__sched_get(h);
  int64_t n;
  int i;
  if (!s)
    return GORT_ENOMEM;
  n = atomic_load_explicit(&s->ng_extra, memory_order_relaxed);
  for (i = 0; i < s->nallp; i++) {
    gort__p *p = s->allp[i];
    n += atomic_load_explicit(&p->nspawned, memory_order_relaxed) -
         atomic_load_explicit(&p->nexited, memory_order_relaxed);
  }
  return n;
}

/* ---- shutdown ---------------------------------------------------------------- */

typedef struct glist {
  gort__g **v;
  size_t n, cap;
} glist;

static void collect_one(gort__g *g, void *ctx)
{
  glist *l = ctx;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    gort__g **v = realloc(l->v, cap * sizeof *v);
    if (!v)
      return; /* the next pass catches it */
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = g;
}

/* Cancels every live goroutine. They are listed under stacklock and
 * cancelled outside it (waking one takes sched.lock, which ranks lower).
 * Slots stay mapped until the scheduler is freed, so a goroutine that ends
 * meanwhile leaves a descriptor that is merely flagged to no effect. */
static void cancel_all(gort__sched *s)
{
  glist l = {0};
  size_t i;
  gort__stack_each_g(s, collect_one, &l);
  for (i = 0; i < l.n; i++) {
    int st = atomic_load_explicit(&l.v[i]->status, memory_order_acquire);
    if (st != GORT__G_FREE && st != GORT__G_DEAD)
      gort__cancel_g(l.v[i]);
  }
  free(l.v);
}

static int wait_goroutines(gort__sched *s, int64_t deadline)
{
  for (;;) {
    uint32_t seq = atomic_load_explicit(&s->exitseq, memory_order_acquire);
    int64_t wake;
    cancel_all(s);
    if (gort_sched_numgoroutine((gort_sched *)s) <= 0)
      return 0;
    if (deadline == 0)
      return GORT_EAGAIN;
    if (deadline > 0 && gort__nanotime() >= deadline)
      return GORT_ETIMEDOUT;
    /* exits bump exitseq; a bounded wait re-cancels goroutines that were
     * being spawned while the first pass ran */
    wake = gort__nanotime() + 10 * 1000 * 1000;
    if (deadline >= 0 && deadline < wake)
      wake = deadline;
    gort__os_futex_wait((uint32_t *)&s->exitseq, seq, wake);
  }
}

static void stop_ms(gort__sched *s)
{
  gort__m *m;
  atomic_store(&s->dead, 1);
  for (;;) {
    bool all_idle;
    gort__lock_acquire(&s->lock);
    while ((m = s->midle) != NULL) {
      s->midle = m->schedlink;
      s->nmidle--;
      m->dying = true;
      gort__notewakeup(m);
    }
    all_idle = s->nstarting == 0;
    for (m = s->allm; m; m = m->alllink)
      if (!m->dying && !m->lane)
        all_idle = false;
    gort__lock_release(&s->lock);
    if (all_idle)
      break;
    /* an M in findrunnable or the poll sleep: nudge it towards stopm */
    gort__netpoll_break(s);
    gort__os_futex_wait((uint32_t *)&s->exitseq,
                        atomic_load(&s->exitseq),
                        gort__nanotime() + 1000 * 1000);
  }
}

static void free_sched(gort__sched *s)
{
  gort__m *m = s->allm;
  int i;
  while (m) {
    gort__m *n = m->alllink;
    gort__handle_cache_flush(m); /* empty unless its thread never ran */
    free(m);
    m = n;
  }
  for (i = 0; i < s->nallp; i++) {
    gort__timers_free(s->allp[i]);
    free(s->allp[i]);
  }
  gort__stack_term(s);
  gort__netpoll_fini(s);
  free(s->allp);
  free(s);
}

GORT_API int gort_sched_shutdown(gort_sched *h, int64_t deadline)
{
  gort__sched *s = (gort__sched *)h;
  gort__m *self = gort__getm();
  gort__m *m;
  int r;
  if (!s)
    return GORT_EINVAL;
  if (self && self->sched == s)
    return GORT_EDEADLK; /* a goroutine cannot wait for itself to end */
  atomic_store(&s->stopping, 1);
  r = wait_goroutines(s, deadline);
  if (r != 0)
    return r;
  gort__lanes_close_all(s, deadline);
  stop_ms(s);
  for (m = s->allm; m; m = m->alllink)
    if (m->thread.h && !m->lane)
      gort__os_thread_join(m->thread);
  atomic_store(&s->sysmonnote, 1);
  gort__os_futex_wake((uint32_t *)&s->sysmonnote, 1);
  gort__os_thread_join(s->sysmon);
  gort__blockpool_stop(s);
  if (s->is_default) {
    gort__lock_acquire(&default_lock);
    atomic_store(&default_sched, NULL);
    gort__lock_release(&default_lock);
  }
  {
    gort__sched **pp;
    gort__lock_acquire(&all_lock);
    for (pp = &all_scheds; *pp; pp = &(*pp)->alllink)
      if (*pp == s) {
        *pp = s->alllink;
        break;
      }
    gort__lock_release(&all_lock);
  }
  free_sched(s);
  return 0;
}
