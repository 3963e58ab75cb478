/*
 * runq.c - run queues (Go's runqput/runqget/runqsteal/globrunq*).
 *
 * Each P has a bounded ring of GORT__RUNQ_SIZE goroutines plus runnext, the
 * goroutine to run next (a woken or newly spawned one inherits the rest of
 * the time slice, which keeps producer/consumer pairs on one P). Only the
 * owner writes the tail; the owner and stealers advance the head with CAS,
 * so stealing needs no lock. Slots are atomics (relaxed) because a stealer
 * may read a slot the owner is about to reuse; its CAS on head then fails
 * and the stale read is discarded. The global queue is a linked list under
 * the scheduler lock, for overflow, threads that are not Ms, and fairness.
 *
 * Rejected: a locked deque per P (every local op would pay a lock) and a
 * single global queue (every op would share one cache line).
 */
#include "config.h"

#include "sched/sched.h"

#define RQ_MASK (GORT__RUNQ_SIZE - 1)

bool gort__runqempty(gort__p *p)
{
  for (;;) {
    uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_acquire);
    gort__g *next = atomic_load_explicit(&p->runnext, memory_order_acquire);
    if (t == atomic_load_explicit(&p->runqtail, memory_order_acquire))
      return h == t && next == NULL;
  }
}

/* The ring is full: move half of it and g to the global queue in one
 * batch, so the next GORT__RUNQ_SIZE/2 puts are local again. */
bool gort__runqputslow(gort__p *p, gort__g *g, uint32_t h, uint32_t t)
{
  gort__g *batch[GORT__RUNQ_SIZE / 2 + 1];
  uint32_t n = (t - h) / 2, i;
  gort__sched *s = g->sched;

  for (i = 0; i < n; i++)
    batch[i] = atomic_load_explicit(&p->runq[(h + i) & RQ_MASK],
                                    memory_order_relaxed);
  if (!atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + n,
                                               memory_order_release,
                                               memory_order_relaxed))
    return false; /* a stealer made room */
  batch[n] = g;
  for (i = 0; i < n; i++)
    batch[i]->schedlink = batch[i + 1];
  batch[n]->schedlink = NULL;
  gort__lock_acquire(&s->lock);
  if (s->runqtail)
    s->runqtail->schedlink = batch[0];
  else
    s->runqhead = batch[0];
  s->runqtail = batch[n];
  atomic_fetch_add_explicit(&s->runqsize, n + 1, memory_order_release);
  gort__lock_release(&s->lock);
  return true;
}

/* Grabs half of p2's queue into batch (which is p's ring, starting at
 * its tail). Returns how many. */
static uint32_t runqgrab(gort__p *p2, gort__g *_Atomic *ring, uint32_t start,
                         bool stealnext)
{
  for (;;) {
    uint32_t h = atomic_load_explicit(&p2->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&p2->runqtail, memory_order_acquire);
    uint32_t n = t - h, i;
    n = n - n / 2;
    if (n == 0) {
      gort__g *next;
      if (!stealnext)
        return 0;
      next = atomic_load_explicit(&p2->runnext, memory_order_acquire);
      if (next == NULL)
        return 0;
      /* p2's owner is likely about to run it: sleep 3 us first, as Go
       * does, so a ping-pong or producer/consumer pair stays on one P
       * instead of bouncing between two. The timer slack makes it ~50 us
       * on Linux, which is what keeps a buffered channel's consumer from
       * being stolen while its producer fills the buffer. Spinning 50
       * pauses (~1 us) instead let it be stolen on nearly every wakeup:
       * the pair ran on two Ms at once, contending for the channel lock,
       * at 2.5x the cost per item of one P. */
      /* If p2 has scheduled meanwhile (its schedtick moved), its owner is
       * busy switching between goroutines and takes runnext itself: a
       * ping-pong pair re-fills runnext with the same goroutine every
       * round trip, so "runnext is still next" alone would steal half of
       * the pair and split it across two Ms. */
      if (atomic_load_explicit(&p2->runnext, memory_order_relaxed) == next) {
        uint32_t tick = atomic_load_explicit(&p2->schedtick,
                                             memory_order_relaxed);
        gort__os_usleep(3000);
        if (atomic_load_explicit(&p2->schedtick, memory_order_relaxed) !=
            tick)
          return 0;
      }
      if (!atomic_compare_exchange_strong_explicit(&p2->runnext, &next, NULL,
                                                   memory_order_acq_rel,
                                                   memory_order_relaxed))
        continue;
      atomic_store_explicit(&ring[start & RQ_MASK], next, memory_order_relaxed);
      return 1;
    }
    if (n > GORT__RUNQ_SIZE / 2)
      continue; /* read h and t inconsistently */
    for (i = 0; i < n; i++) {
      gort__g *g = atomic_load_explicit(&p2->runq[(h + i) & RQ_MASK],
                                        memory_order_relaxed);
      atomic_store_explicit(&ring[(start + i) & RQ_MASK], g,
                            memory_order_relaxed);
    }
    if (atomic_compare_exchange_strong_explicit(&p2->runqhead, &h, h + n,
                                                memory_order_acq_rel,
                                                memory_order_relaxed))
      return n;
  }
}

/* Steals half of p2's runnable goroutines into p; returns one to run. */
gort__g *gort__runqsteal(gort__p *p, gort__p *p2, bool stealnext)
{
  uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
  uint32_t n = runqgrab(p2, p->runq, t, stealnext);
  gort__g *g;
  if (n == 0)
    return NULL;
  n--;
  g = atomic_load_explicit(&p->runq[(t + n) & RQ_MASK], memory_order_relaxed);
  if (n > 0)
    atomic_store_explicit(&p->runqtail, t + n, memory_order_release);
  return g;
}

/* sched.lock must be held. */
static gort__g *globrunqpop(gort__sched *s)
{
  gort__g *g = s->runqhead;
  if (g) {
    s->runqhead = g->schedlink;
    if (!s->runqhead)
      s->runqtail = NULL;
    g->schedlink = NULL;
    atomic_fetch_sub_explicit(&s->runqsize, 1, memory_order_relaxed);
  }
  return g;
}

void gort__globrunqput(gort__sched *s, gort__g *g)
{
  gort__lock_acquire(&s->lock);
  g->schedlink = NULL;
  if (s->runqtail)
    s->runqtail->schedlink = g;
  else
    s->runqhead = g;
  s->runqtail = g;
  atomic_fetch_add_explicit(&s->runqsize, 1, memory_order_release);
  gort__lock_release(&s->lock);
}

/* Takes a fair share of the global queue: one to return, the rest into p's
 * ring. Locks sched.lock itself. */
gort__g *gort__globrunqget(gort__sched *s, gort__p *p, int max)
{
  int64_t n, size;
  int nprocs;
  gort__g *g;

  if (atomic_load_explicit(&s->runqsize, memory_order_acquire) == 0)
    return NULL;
  gort__lock_acquire(&s->lock);
  size = atomic_load_explicit(&s->runqsize, memory_order_relaxed);
  nprocs = atomic_load_explicit(&s->nprocs, memory_order_relaxed);
  n = size / (nprocs > 0 ? nprocs : 1) + 1;
  if (n > size)
    n = size;
  if (max > 0 && n > max)
    n = max;
  if (n > GORT__RUNQ_SIZE / 2)
    n = GORT__RUNQ_SIZE / 2;
  g = globrunqpop(s);
  if (g && p) {
    gort__g *chain = NULL, **tail = &chain;
    for (n--; n > 0; n--) {
      gort__g *g2 = globrunqpop(s);
      if (!g2)
        break;
      *tail = g2;
      tail = &g2->schedlink;
    }
    gort__lock_release(&s->lock);
    /* outside the lock: a full ring spills back under it */
    while (chain) {
      gort__g *g2 = chain;
      chain = g2->schedlink;
      g2->schedlink = NULL;
      gort__runqput(p, g2, false);
    }
    return g;
  }
  gort__lock_release(&s->lock);
  return g;
}

/* Moves everything queued on p to the global queue (p is being retired). */
void gort__runqdrain_global(gort__sched *s, gort__p *p)
{
  gort__g *g;
  while ((g = gort__runqget(p)) != NULL)
    gort__globrunqput(s, g);
}
