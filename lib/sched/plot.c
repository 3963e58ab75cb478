/*
 * plot.c - the parking lot: wait queues keyed by address.
 *
 * A fixed table of buckets, each a lock and a doubly linked FIFO of
 * waiters; an address hashes to a bucket, and its waiters are the ones in
 * that bucket with w->key == address. Because the queues live here, a
 * gort_mutex or gort_wg is just a word or two of zeroed memory, and waiting
 * on any address needs no allocation (WebKit's ParkingLot, Linux's futex
 * hash, Go's semtable).
 *
 * Invariants: a waiter is linked iff w->queued, both under its bucket's
 * lock. Wakers claim a waiter before unlinking it; a waiter claimed by its
 * deadline or by cancellation unlinks itself (still queued, nobody else
 * will). validate and the unpark callbacks run under the bucket lock, which
 * is what lets the sync types update their state word atomically with
 * respect to the queue.
 *
 * Rejected: a growable hash table (WebKit's), since the bucket count only
 * matters under extreme contention on many addresses; 1024 buckets of one
 * cache line each is 64 KiB and collisions just share a lock.
 */
#include "config.h"

#include <stdint.h>

#include "sched/sched.h"

#define NBUCKETS 1024

typedef struct bucket {
  gort__lock lock;
  gort__waiter *head, *tail;
} __attribute__((aligned(GORT__CACHELINE))) bucket;

static bucket buckets[NBUCKETS] = {
    [0 ... NBUCKETS - 1] = {.lock = GORT__LOCK_INIT(GORT__RANK_PLOT)}};

static bucket *bucket_for(const void *key)
{
  uintptr_t k = (uintptr_t)key;
  k ^= k >> 17;
  k *= 0x9e3779b97f4a7c15ULL;
  return &buckets[(k >> 40) & (NBUCKETS - 1)];
}

static void enqueue(bucket *b, gort__waiter *w)
{
  w->queued = true;
  if (w->lifo) {
    w->prev = NULL;
    w->next = b->head;
    if (b->head)
      b->head->prev = w;
    else
      b->tail = w;
    b->head = w;
  } else {
    w->next = NULL;
    w->prev = b->tail;
    if (b->tail)
      b->tail->next = w;
    else
      b->head = w;
    b->tail = w;
  }
}

static void unlink_w(bucket *b, gort__waiter *w)
{
  if (w->prev)
    w->prev->next = w->next;
  else
    b->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    b->tail = w->prev;
  w->next = w->prev = NULL;
  w->queued = false;
}

/* The first waiter on key at or after w (NULL: none). */
static gort__waiter *find_from(gort__waiter *w, const void *key)
{
  for (; w; w = w->next)
    if (w->key == key)
      return w;
  return NULL;
}

int gort__plot_park(const void *key, const gort__park_opts *o,
                    int64_t deadline, uintptr_t *token)
{
  gort__waiter w;
  bucket *b = bucket_for(key);
  int r;

  gort__waiter_init(&w);
  w.key = key;
  w.lifo = o->lifo;
  gort__lock_acquire(&b->lock);
  if (o->validate && !o->validate(o->ctx)) {
    gort__lock_release(&b->lock);
    return GORT_EAGAIN;
  }
  enqueue(b, &w);
  gort__lock_release(&b->lock);
  if (o->before_sleep)
    o->before_sleep(o->ctx);
  if (o->nocancel)
    r = gort__wait_nocancel(&w, deadline, o->reason, key);
  else
    r = gort__wait(&w, deadline, o->reason, key);
  if (r == GORT_ETIMEDOUT || r == GORT_ECANCELED) {
    /* we claimed ourselves: nobody else unlinks us */
    gort__lock_acquire(&b->lock);
    if (w.queued)
      unlink_w(b, &w);
    gort__lock_release(&b->lock);
    return r;
  }
  if (token)
    *token = w.token;
  return 0;
}

int gort__plot_unpark_one(const void *key,
                          uintptr_t (*cb)(void *ctx, bool woke, bool more),
                          void *ctx)
{
  bucket *b = bucket_for(key);
  gort__waiter *w, *claimed = NULL;
  uintptr_t token = 0;

  gort__lock_acquire(&b->lock);
  for (w = find_from(b->head, key); w;) {
    gort__waiter *next = find_from(w->next, key);
    if (gort__waiter_claim(w)) {
      unlink_w(b, w);
      claimed = w;
      break;
    }
    /* timed out or cancelled: it unlinks itself; skip it */
    w = next;
  }
  if (cb) {
    bool more = false;
    gort__waiter *x;
    for (x = find_from(b->head, key); x; x = find_from(x->next, key)) {
      if (atomic_load_explicit(&x->state, memory_order_acquire) ==
          GORT__W_WAITING) {
        more = true;
        break;
      }
    }
    token = cb(ctx, claimed != NULL, more);
  }
  gort__lock_release(&b->lock);
  if (claimed)
    gort__waiter_finish(claimed, 0, token);
  return claimed != NULL;
}

size_t gort__plot_unpark_n(const void *key, size_t n, uintptr_t token,
                           void (*cb)(void *ctx, size_t woke), void *ctx)
{
  bucket *b = bucket_for(key);
  gort__waiter *w, *list = NULL, **tail = &list;
  size_t woke = 0;

  gort__lock_acquire(&b->lock);
  for (w = find_from(b->head, key); w && woke < n;) {
    gort__waiter *next = find_from(w->next, key);
    if (gort__waiter_claim(w)) {
      unlink_w(b, w);
      *tail = w;
      tail = &w->next;
      woke++;
    }
    w = next;
  }
  *tail = NULL;
  if (cb)
    cb(ctx, woke);
  gort__lock_release(&b->lock);
  /* claimed waiters are ours alone: wake them outside the bucket lock */
  while (list) {
    gort__waiter *x = list;
    list = x->next;
    x->next = NULL;
    gort__waiter_finish(x, 0, token);
  }
  return woke;
}
