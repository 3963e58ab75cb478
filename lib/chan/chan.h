/*
 * chan.h - channel internals shared by chan.c and select.c (Go's hchan
 * and sudog).
 *
 * A channel is a lock, a ring buffer and two FIFO queues of sudogs: the
 * goroutines (or threads) waiting to send and to receive. Invariant (Go's):
 * at least one of sendq and recvq holds no claimable sudog; and if the
 * buffer holds values, recvq has no claimable sudog, and if it has room,
 * sendq has none.
 *
 * A sudog is one queue entry of one wait. A plain send or receive has one;
 * a select has one per case, all pointing at the same gort__waiter, so
 * whoever claims that waiter first decides which case proceeds; the other
 * entries become dead and are skipped (and unlinked) by anyone who meets
 * them, then by the select's own cleanup.
 */
#ifndef GORT_CHAN_CHAN_H
#define GORT_CHAN_CHAN_H

#include "sched/runtime.h"

typedef struct gort__chan gort__chan;

typedef struct gort__sudog {
  gort__waiter *w;
  struct gort__sudog *next, *prev;
  gort__chan *c;
  void *elem;   /* the sender's value / the receiver's destination */
  int caseidx;  /* the select case (0 for plain sends and receives) */
  bool success; /* set by the waker: a value moved (false: closed) */
  bool queued;  /* linked into c's queue, under c->lock */
} gort__sudog;

typedef struct gort__sudogq {
  gort__sudog *head, *tail;
} gort__sudogq;

struct gort__chan {
  gort__lock lock;
  size_t elemsize;
  size_t cap;
  size_t qcount; /* values in buf */
  size_t sendx, recvx;
  char *buf;
  bool closed;
  gort__sudogq recvq, sendq;
  _Atomic int64_t refs;
};

/* The queue operations are inline: every channel operation makes one or
 * two of them. c->lock must be held for all three. */
static inline void gort__sudogq_push(gort__sudogq *q, gort__sudog *sg)
{
  sg->next = NULL;
  sg->prev = q->tail;
  if (q->tail)
    q->tail->next = sg;
  else
    q->head = sg;
  q->tail = sg;
  sg->queued = true;
}

static inline void gort__sudogq_unlink(gort__sudogq *q, gort__sudog *sg)
{
  if (sg->prev)
    sg->prev->next = sg->next;
  else
    q->head = sg->next;
  if (sg->next)
    sg->next->prev = sg->prev;
  else
    q->tail = sg->prev;
  sg->next = sg->prev = NULL;
  sg->queued = false;
}

/* Dequeues the first sudog whose wait can still be claimed, and claims it.
 * Dead ones met on the way (timed out, cancelled, or another case of their
 * select won) are unlinked. */
static inline gort__sudog *gort__sudogq_take(gort__sudogq *q)
{
  gort__sudog *sg;
  while ((sg = q->head) != NULL) {
    gort__sudogq_unlink(q, sg);
    if (gort__waiter_claim(sg->w))
      return sg;
  }
  return NULL;
}

/* With c->lock held: try to complete a send/receive without waiting.
 * Returns true if it completed (*res: 0 or GORT_EPIPE); then *wake is a
 * claimed waiter's sudog (or NULL) that the caller must hand to
 * gort__sudog_wake once it has released every channel lock. */
bool gort__chan_trysend(gort__chan *c, const void *elem, int *res,
                        gort__sudog **wake);
bool gort__chan_tryrecv(gort__chan *c, void *elem, int *res,
                        gort__sudog **wake);
void gort__sudog_wake(gort__sudog *sg);

#endif
