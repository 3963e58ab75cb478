/*
 * netpoll.c - descriptors under the scheduler's poller (contract:
 * netpoll.h; the backend behind poll.h).
 *
 * A gort__pd is registered once, edge-triggered, for both directions. Per
 * direction it keeps, under pd->lock:
 *   ready   an edge arrived while nobody waited: the next wait returns at
 *           once (the I/O call then tells whether it was real);
 *   w       the one parked waiter. An edge claims it (the waiter consumes
 *           the edge) and wakes it after the lock is dropped.
 * Invariant: ready and w are never both set. A waiter whose deadline or
 * cancellation ended the wait removes itself, under the lock; an edge that
 * finds a waiter it cannot claim (its timer got there first) leaves ready
 * set for the next one. Further users of one direction queue on that
 * direction's gort_mutex before they get that far, so the kernel object is
 * read by one goroutine at a time and a reader never waits for a writer.
 *
 * Rejected: Go's lock-free rg/wg words. Go never frees a G, so a poller may
 * touch a waiter that has already left; our waiters live on the waiting
 * stack, and the pd lock (uncontended but for the poller, one CAS each way)
 * is what lets the poller know the waiter is still there.
 *
 * Lifetime: refs counts the owner (until gort__pd_close) plus each user
 * inside a lock/unlock bracket; the last one out closes the descriptor and
 * recycles the pd. pds are never freed: the kernel may still report an
 * event for a recycled pd, so the cookie carries the pd's address and a
 * 16-bit sequence number bumped at every recycle, and a mismatch is
 * dropped (Go's taggedPointer).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/netpoll.h"
#include "sched/sched.h"

/* The kernel orders epoll_ctl before the wait that reports the fd, but
 * TSan only knows that for the calls it intercepts (not epoll_pwait2):
 * tell it that registering a pd happens before dispatching its events. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NP_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define NP_TSAN 1
#endif
#ifdef NP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_acquire(p) __tsan_acquire(p)
#define tsan_release(p) __tsan_release(p)
#else
#define tsan_acquire(p) ((void)(p))
#define tsan_release(p) ((void)(p))
#endif

struct gort__netpoller {
  gort__pb *pb;
  _Atomic int nwaiters;     /* parked on a pd of this scheduler */
  _Atomic int64_t lastpoll; /* when anyone last looked (ns) */
};

/* The public handle is the scheduler's netpoller. */
struct gort_poller {
  struct gort__netpoller np;
};

enum { RD = 0, WR = 1 };

typedef struct pdir {
  gort_mutex iolock; /* one reader (writer) at a time */
  gort__waiter *w;   /* parked waiter, under pd->lock */
  bool ready;        /* an unconsumed edge, under pd->lock */
} pdir;

struct gort__pd {
  gort__lock lock;
  int fd;
  uint16_t seq; /* bumped at each recycle, under lock */
  bool closing; /* under lock; mirrored in aclosing for fast paths */
  bool keepfd;  /* gort_fd_wait: the fd stays the caller's */
  _Atomic int aclosing;
  _Atomic int hup; /* GORT__EV_HUP seen: sticky until recycled */
  _Atomic int refs;
  gort__sched *s;
  void (*fin)(void *arg);
  void *arg;
  pdir d[2];
  gort__pd *next; /* free list */
};

/* ---- the pd cache ---------------------------------------------------- */

#define PD_CHUNK 128
static gort__lock pdcache_lock = GORT__LOCK_INIT(GORT__RANK_PDCACHE);
static gort__pd *pdcache;

static gort__pd *pd_alloc(void)
{
  gort__pd *pd;
  gort__lock_acquire(&pdcache_lock);
  if (!pdcache) {
    gort__pd *chunk = calloc(PD_CHUNK, sizeof *chunk);
    int i;
    if (!chunk) {
      gort__lock_release(&pdcache_lock);
      return NULL;
    }
    /* never freed: stale kernel events may still name these */
    for (i = 0; i < PD_CHUNK; i++) {
      gort__lock_init(&chunk[i].lock, GORT__RANK_NETFD);
      chunk[i].next = pdcache;
      pdcache = &chunk[i];
    }
  }
  pd = pdcache;
  pdcache = pd->next;
  gort__lock_release(&pdcache_lock);
  return pd;
}

static void pd_free(gort__pd *pd)
{
  gort__lock_acquire(&pd->lock);
  pd->seq++;
  pd->fd = -1;
  gort__lock_release(&pd->lock);
  gort__lock_acquire(&pdcache_lock);
  pd->next = pdcache;
  pdcache = pd;
  gort__lock_release(&pdcache_lock);
}

/* 48 bits of address (user space on every 64-bit kernel we run on) and
 * the sequence number above them. */
static uint64_t pd_cookie(gort__pd *pd)
{
  uint64_t a = (uint64_t)(uintptr_t)pd;
  gort__assert((a >> 48) == 0);
  return a | ((uint64_t)pd->seq << 48);
}

/* ---- scheduler side -------------------------------------------------- */

int gort__netpoll_init(gort__sched *s)
{
  struct gort_poller *p = calloc(1, sizeof *p);
  int r;
  if (!p)
    return GORT_ENOMEM;
  if ((r = gort__pb_new(&p->np.pb)) != 0) {
    free(p);
    return r;
  }
  atomic_store(&p->np.lastpoll, gort__nanotime());
  s->netpoll = &p->np;
  return 0;
}

void gort__netpoll_fini(gort__sched *s)
{
  if (!s->netpoll)
    return;
  gort__pb_free(s->netpoll->pb);
  free((struct gort_poller *)s->netpoll);
  s->netpoll = NULL;
}

bool gort__netpoll_waiters(gort__sched *s)
{
  return atomic_load_explicit(&s->netpoll->nwaiters, memory_order_seq_cst) > 0;
}

int64_t gort__netpoll_lastpoll(gort__sched *s)
{
  return atomic_load_explicit(&s->netpoll->lastpoll, memory_order_relaxed);
}

void gort__netpoll_break(gort__sched *s)
{
  gort__pb_wake(s->netpoll->pb);
}

int gort__netpoll_fetch(gort__sched *s, int64_t timeout, gort__netbatch *b)
{
  int n = gort__pb_poll(s->netpoll->pb, timeout, b->ev,
                        (int)(sizeof b->ev / sizeof b->ev[0]));
  atomic_store_explicit(&s->netpoll->lastpoll, gort__nanotime(),
                        memory_order_relaxed);
  b->n = n > 0 ? n : 0;
  return b->n;
}

/* One edge for pd: claims the parked waiter of each direction it names,
 * or leaves the edge for the next wait. Returns the claimed waiters. */
static int pd_edge(gort__pd *pd, uint16_t seq, uint32_t ev,
                   gort__waiter *claimed[2])
{
  int k, n = 0;
  gort__lock_acquire(&pd->lock);
  if (pd->seq != seq || pd->fd < 0) {
    gort__lock_release(&pd->lock); /* a recycled pd: stale event */
    return 0;
  }
  if (ev & GORT__EV_HUP) /* before any waiter wakes: it may look */
    atomic_store_explicit(&pd->hup, 1, memory_order_release);
  if (pd->keepfd)
    ev = GORT__EV_READ; /* gort_fd_wait parks one waiter for any edge */
  for (k = 0; k < 2; k++) {
    pdir *d = &pd->d[k];
    if (!(ev & (k == RD ? GORT__EV_READ : GORT__EV_WRITE)))
      continue;
    if (d->w && gort__waiter_claim(d->w)) {
      claimed[n++] = d->w;
      d->w->queued = false;
      d->w = NULL;
    } else {
      d->ready = true;
    }
  }
  gort__lock_release(&pd->lock);
  return n;
}

int gort__netpoll_dispatch(gort__sched *s, gort__netbatch *b)
{
  int i, k, woke = 0;
  (void)s;
  for (i = 0; i < b->n; i++) {
    gort__waiter *claimed[2];
    gort__pd *pd =
        (gort__pd *)(uintptr_t)(b->ev[i].cookie & (((uint64_t)1 << 48) - 1));
    int n;
    tsan_acquire(pd);
    n = pd_edge(pd, (uint16_t)(b->ev[i].cookie >> 48), b->ev[i].events,
                claimed);
    for (k = 0; k < n; k++)
      gort__waiter_finish(claimed[k], 0, 0);
    woke += n;
  }
  b->n = 0;
  return woke;
}

int gort__netpoll_nonblock(gort__sched *s)
{
  gort__netbatch b;
  if (!gort__netpoll_waiters(s))
    return 0;
  if (gort__netpoll_fetch(s, 0, &b) == 0)
    return 0;
  return gort__netpoll_dispatch(s, &b);
}

/* ---- descriptor side ------------------------------------------------- */

/* A waiter no M of s will look after when it goes idle (a plain thread, a
 * lane goroutine): if nobody sits in the poller, start an M that will. */
static void kick(gort__sched *s)
{
  if (!atomic_load_explicit(&s->polling, memory_order_seq_cst))
    gort__wakep(s);
}

gort__sched *gort__net_sched(void)
{
  return (gort__sched *)gort_sched_current();
}

int gort__pd_open(gort__pd **out, gort__sched *s, int fd,
                  void (*fin)(void *arg), void *arg)
{
  gort__pd *pd;
  int r, k;
  if (!out || !s || fd < 0)
    return GORT_EINVAL;
  if (!(pd = pd_alloc()))
    return GORT_ENOMEM;
  gort__lock_acquire(&pd->lock);
  pd->fd = fd;
  pd->closing = false;
  pd->keepfd = false;
  atomic_store_explicit(&pd->aclosing, 0, memory_order_relaxed);
  atomic_store_explicit(&pd->hup, 0, memory_order_relaxed);
  pd->s = s;
  pd->fin = fin;
  pd->arg = arg;
  for (k = 0; k < 2; k++) {
    gort_mutex_init(&pd->d[k].iolock);
    pd->d[k].w = NULL;
    pd->d[k].ready = false;
  }
  /* last, with release: a late gort__pd_lock that takes a reference on
   * this incarnation then sees its arg (and everything above) */
  atomic_store_explicit(&pd->refs, 1, memory_order_release);
  gort__lock_release(&pd->lock);
  /* registered last: an event may arrive the moment this returns */
  tsan_release(pd);
  if ((r = gort__pb_open(s->netpoll->pb, fd, pd_cookie(pd))) != 0) {
    pd_free(pd);
    return r == -ENOSPC ? GORT_EMFILE : r; /* max_user_watches */
  }
  *out = pd;
  return 0;
}

/* The last reference: deregister, close, recycle, then tell the owner. */
static void pd_finalize(gort__pd *pd)
{
  void (*fin)(void *) = pd->fin;
  void *arg = pd->arg;
  gort__pb_close(pd->s->netpoll->pb, pd->fd);
  if (!pd->keepfd)
    close(pd->fd);
  pd_free(pd);
  if (fin)
    fin(arg);
}

static void pd_unref(gort__pd *pd)
{
  if (atomic_fetch_sub_explicit(&pd->refs, 1, memory_order_acq_rel) == 1)
    pd_finalize(pd);
}

int gort__pd_lock(gort__pd *pd, const void *owner, int mode, int64_t deadline)
{
  int r = atomic_load_explicit(&pd->refs, memory_order_relaxed);
  do {
    if (r == 0)
      return GORT_ECLOSED; /* finished: waiting in the cache */
  } while (!atomic_compare_exchange_weak_explicit(
      &pd->refs, &r, r + 1, memory_order_acquire, memory_order_relaxed));
  if (owner && pd->arg != owner) {
    pd_unref(pd); /* recycled and open again for someone else */
    return GORT_ECLOSED;
  }
  if (atomic_load_explicit(&pd->aclosing, memory_order_acquire)) {
    pd_unref(pd);
    return GORT_ECLOSED;
  }
  if (!mode)
    return 0;
  r = gort_mutex_lock(&pd->d[mode == GORT_WRITE].iolock, deadline);
  if (r == 0 && atomic_load_explicit(&pd->aclosing, memory_order_acquire)) {
    gort_mutex_unlock(&pd->d[mode == GORT_WRITE].iolock);
    r = GORT_ECLOSED;
  }
  if (r != 0)
    pd_unref(pd);
  return r;
}

void gort__pd_unlock(gort__pd *pd, int mode)
{
  if (mode)
    gort_mutex_unlock(&pd->d[mode == GORT_WRITE].iolock);
  pd_unref(pd);
}

int gort__pd_wait(gort__pd *pd, int mode, int64_t deadline)
{
  pdir *d = &pd->d[mode == GORT_WRITE];
  struct gort__netpoller *np = pd->s->netpoll;
  gort__waiter w;
  int r;
  if ((r = gort__check_cancel()) != 0)
    return r;
  if ((r = gort__deadline_expired(deadline)) != 0)
    return r;
  gort__waiter_init(&w);
  gort__lock_acquire(&pd->lock);
  if (pd->closing) {
    gort__lock_release(&pd->lock);
    return GORT_ECLOSED;
  }
  if (d->ready) {
    d->ready = false;
    gort__lock_release(&pd->lock);
    return 0;
  }
  gort__assert(d->w == NULL); /* the direction's iolock is held */
  d->w = &w;
  w.queued = true;
  atomic_fetch_add_explicit(&np->nwaiters, 1, memory_order_seq_cst);
  gort__lock_release(&pd->lock);
  if (!w.g || w.g->lane)
    kick(pd->s);
  /* gort_dump shows "IO wait fd N": what is fd + 1, as 0 means nothing */
  r = gort__wait(&w, deadline, GORT__WR_IO,
                 (const void *)(intptr_t)(pd->fd + 1));
  atomic_fetch_sub_explicit(&np->nwaiters, 1, memory_order_seq_cst);
  if (r == GORT_ETIMEDOUT || r == GORT_ECANCELED) {
    /* we claimed ourselves: we may still be the parked waiter */
    gort__lock_acquire(&pd->lock);
    if (d->w == &w)
      d->w = NULL;
    gort__lock_release(&pd->lock);
  }
  return r;
}

int gort__pd_close(gort__pd *pd)
{
  gort__waiter *claimed[2];
  int k, n = 0;
  gort__lock_acquire(&pd->lock);
  if (pd->closing) {
    gort__lock_release(&pd->lock);
    return GORT_ECLOSED;
  }
  pd->closing = true;
  atomic_store_explicit(&pd->aclosing, 1, memory_order_release);
  for (k = 0; k < 2; k++) {
    pdir *d = &pd->d[k];
    if (d->w && gort__waiter_claim(d->w)) {
      claimed[n++] = d->w;
      d->w->queued = false;
      d->w = NULL;
    }
  }
  gort__lock_release(&pd->lock);
  for (k = 0; k < n; k++)
    gort__waiter_finish(claimed[k], GORT_ECLOSED, 0);
  /* Users queued on an iolock get it in turn, see closing and leave with
   * GORT_ECLOSED; the last one out closes the descriptor. */
  pd_unref(pd);
  return 0;
}

void gort__pd_discard(gort__pd *pd)
{
  gort__lock_acquire(&pd->lock);
  pd->closing = true;
  atomic_store_explicit(&pd->aclosing, 1, memory_order_release);
  gort__lock_release(&pd->lock);
  pd_unref(pd);
}

bool gort__pd_hup(gort__pd *pd)
{
  return atomic_load_explicit(&pd->hup, memory_order_acquire) != 0;
}

int gort__pd_fd(const gort__pd *pd)
{
  return pd->fd;
}
gort__sched *gort__pd_sched(const gort__pd *pd)
{
  return pd->s;
}

/* ---- public ---------------------------------------------------------- */

GORT_API gort_poller *gort_sched_poller(gort_sched *s)
{
  gort__sched *ss = s ? (gort__sched *)s : gort__net_sched();
  if (!ss || !ss->netpoll)
    return NULL;
  return (gort_poller *)ss->netpoll;
}

GORT_API const char *gort_poller_backend(const gort_poller *p)
{
  return p ? gort__pb_name : "";
}

/* A plain thread waits with poll(2): nothing of ours to clean up. */
static int fd_wait_thread(int fd, int events, int64_t deadline)
{
  struct pollfd pfd = {0};
  pfd.fd = fd;
  pfd.events = (short)(((events & GORT_READ) ? POLLIN : 0) |
                       ((events & GORT_WRITE) ? POLLOUT : 0));
  for (;;) {
    int ms = -1, n, r = 0;
    if (deadline > 0) {
      int64_t left = deadline - gort__nanotime();
      if (left <= 0)
        return GORT_ETIMEDOUT;
      ms = left > (int64_t)1 << 40 ? INT32_MAX
                                   : (int)((left + 999999) / 1000000);
    } else if (deadline == 0) {
      ms = 0;
    }
    n = poll(&pfd, 1, ms);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0) {
      if (deadline == 0)
        return GORT_EAGAIN;
      continue;
    }
    if (pfd.revents & POLLNVAL)
      return GORT_EBADF;
    if (pfd.revents & (POLLERR | POLLHUP))
      return events & (GORT_READ | GORT_WRITE);
    if (pfd.revents & POLLIN)
      r |= GORT_READ;
    if (pfd.revents & POLLOUT)
      r |= GORT_WRITE;
    if (r & events)
      return r & events;
  }
}

typedef struct fdjob {
  int fd, events, r;
  int64_t deadline;
} fdjob;

static void fd_wait_job(void *arg)
{
  fdjob *j = arg;
  j->r = fd_wait_thread(j->fd, j->events, j->deadline);
}

/* Readiness right now, without blocking (0 if none). */
static int fd_ready_now(int fd, int events)
{
  int r = fd_wait_thread(fd, events, 0);
  return r == GORT_EAGAIN ? 0 : r;
}

GORT_API int gort_fd_wait(intptr_t fd, int events, int64_t deadline)
{
  gort__pd *pd;
  gort__sched *s;
  int r;
  if (fd < 0 || fd > INT32_MAX || !(events & (GORT_READ | GORT_WRITE)) ||
      (events & ~(GORT_READ | GORT_WRITE)))
    return GORT_EINVAL;
  events &= GORT_READ | GORT_WRITE;
  if ((r = gort__check_cancel()) != 0)
    return r;
  if (deadline != 0 && (r = gort__deadline_expired(deadline)) != 0)
    return r;
  if (fcntl((int)fd, F_GETFD) < 0)
    return GORT_EBADF;
  if (!gort__getg() || deadline == 0)
    return fd_wait_thread((int)fd, events, deadline);
  /* already ready: no registration needed */
  if ((r = fd_ready_now((int)fd, events)) != 0)
    return r;
  s = gort__net_sched();
  if ((r = gort__pd_open(&pd, s, (int)fd, NULL, NULL)) != 0) {
    fdjob j = {(int)fd, events, 0, deadline};
    if (r == -EPERM)
      return events; /* a regular file: always ready, as poll(2) says */
    if (r != -EEXIST)
      return r;
    /* fd is already under the poller (a conn's): wait with poll(2) on
     * the blocking pool, so that this thread goes on running goroutines */
    gort_blocking(fd_wait_job, &j);
    return j.r;
  }
  gort__lock_acquire(&pd->lock);
  pd->keepfd = true;
  gort__lock_release(&pd->lock);
  /* every edge wakes the read side (pd_edge); poll(2) tells what it was */
  for (;;) {
    if ((r = fd_ready_now((int)fd, events)) != 0)
      break;
    if ((r = gort__pd_wait(pd, GORT_READ, deadline)) < 0)
      break;
  }
  gort__pd_discard(pd);
  return r;
}
