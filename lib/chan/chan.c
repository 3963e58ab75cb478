/*
 * chan.c - channels with Go's semantics (Go's chan.go).
 *
 * A send to a waiting receiver copies straight into the receiver's
 * destination (Go's direct send) and a receive from a waiting sender
 * straight from the sender's value; only when nobody waits does a value go
 * through the ring. A woken goroutine finds its value already in place, so
 * the wakeup is the whole cost, and with runnext and the direct switch a
 * ping-pong pair never leaves its P.
 *
 * The lock is the runtime's M-level lock, never held across a park: a
 * waiter queues its sudog, unlocks, then waits (gort__wait), and whoever
 * completes it claims the waiter under the lock and wakes it after
 * unlocking. Deadlines and cancellation claim the waiter too and the
 * waiter unlinks its own sudog, so a timed-out sudog is never completed.
 *
 * Rejected: lock-free channels (Go rejected them too: select needs the
 * queues of several channels consistent at once, and the lock is
 * uncontended in the common one-sender-one-receiver case).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "chan/chan.h"

/* ---- sudog queues ---------------------------------------------------------- */

void gort__sudog_wake(gort__sudog *sg)
{
  gort__waiter_finish(sg->w, 0, (uintptr_t)sg->caseidx);
}

/* ---- the ring --------------------------------------------------------------- */

static void *slot(gort__chan *c, size_t i) { return c->buf + i * c->elemsize; }

/* Elements of 1, 2, 4, 8 or 16 bytes (ints, pointers, handles: nearly all
 * of them) are copied with fixed-size memcpy, which the compiler turns into
 * one load and one store; a call to the general memcpy cost a buffered
 * send plus receive about 2 ns of ~23. */
static void copy_elem(gort__chan *c, void *dst, const void *src)
{
  if (!dst)
    return;
  switch (c->elemsize) {
  case 0:
    break;
  case 1:
    memcpy(dst, src, 1);
    break;
  case 2:
    memcpy(dst, src, 2);
    break;
  case 4:
    memcpy(dst, src, 4);
    break;
  case 8:
    memcpy(dst, src, 8);
    break;
  case 16:
    memcpy(dst, src, 16);
    break;
  default:
    memcpy(dst, src, c->elemsize);
  }
}

static void zero_elem(gort__chan *c, void *dst)
{
  if (c->elemsize && dst)
    memset(dst, 0, c->elemsize);
}

/* ---- non-blocking halves, shared with select ----------------------------- */

bool gort__chan_trysend(gort__chan *c, const void *elem, int *res,
                        gort__sudog **wake)
{
  gort__sudog *sg;
  *wake = NULL;
  if (c->closed) {
    *res = GORT_EPIPE;
    return true;
  }
  if ((sg = gort__sudogq_take(&c->recvq)) != NULL) {
    /* direct send: into the receiver's destination */
    copy_elem(c, sg->elem, elem);
    sg->success = true;
    *wake = sg;
    *res = 0;
    return true;
  }
  if (c->qcount < c->cap) {
    copy_elem(c, slot(c, c->sendx), elem);
    if (++c->sendx == c->cap)
      c->sendx = 0;
    c->qcount++;
    *res = 0;
    return true;
  }
  return false;
}

bool gort__chan_tryrecv(gort__chan *c, void *elem, int *res,
                        gort__sudog **wake)
{
  gort__sudog *sg;
  *wake = NULL;
  if ((sg = gort__sudogq_take(&c->sendq)) != NULL) {
    if (c->cap == 0) {
      copy_elem(c, elem, sg->elem); /* straight from the sender */
    } else {
      /* the buffer is full: take its head, put the sender's value at the
       * tail (the same slot), so FIFO order holds */
      copy_elem(c, elem, slot(c, c->recvx));
      copy_elem(c, slot(c, c->recvx), sg->elem);
      if (++c->recvx == c->cap)
        c->recvx = 0;
      c->sendx = c->recvx;
    }
    sg->success = true;
    *wake = sg;
    *res = 0;
    return true;
  }
  if (c->qcount > 0) {
    copy_elem(c, elem, slot(c, c->recvx));
    if (++c->recvx == c->cap)
      c->recvx = 0;
    c->qcount--;
    *res = 0;
    return true;
  }
  if (c->closed) {
    zero_elem(c, elem);
    *res = GORT_EPIPE;
    return true;
  }
  return false;
}

/* ---- blocking operations ------------------------------------------------------- */

static int chan_wait(gort__chan *c, gort__sudogq *q, void *elem,
                     int64_t deadline, int reason)
{
  gort__waiter w;
  gort__sudog sg;
  int r;

  gort__waiter_init(&w);
  memset(&sg, 0, sizeof sg);
  sg.w = &w;
  sg.c = c;
  sg.elem = elem;
  gort__sudogq_push(q, &sg);
  gort__lock_release(&c->lock);
  r = gort__wait(&w, deadline, reason, c);
  if (r == GORT_ETIMEDOUT || r == GORT_ECANCELED) {
    gort__lock_acquire(&c->lock);
    if (sg.queued)
      gort__sudogq_unlink(q, &sg);
    gort__lock_release(&c->lock);
    return r;
  }
  return sg.success ? 0 : GORT_EPIPE;
}

GORT_API int gort_chan_send(gort_chan *h, const void *elem, int64_t deadline)
{
  gort__chan *c = (gort__chan *)h;
  gort__sudog *wake;
  int r;
  if (!c || (!elem && c->elemsize))
    return GORT_EINVAL;
  if ((r = gort__check_cancel()) != 0)
    return r;
  gort__lock_acquire(&c->lock);
  if (gort__chan_trysend(c, elem, &r, &wake)) {
    gort__lock_release(&c->lock);
    if (wake)
      gort__sudog_wake(wake);
    return r;
  }
  if ((r = gort__deadline_expired(deadline)) != 0) {
    gort__lock_release(&c->lock);
    return r;
  }
  return chan_wait(c, &c->sendq, (void *)elem, deadline, GORT__WR_CHAN_SEND);
}

GORT_API int gort_chan_recv(gort_chan *h, void *elem, int64_t deadline)
{
  gort__chan *c = (gort__chan *)h;
  gort__sudog *wake;
  int r;
  if (!c)
    return GORT_EINVAL;
  if ((r = gort__check_cancel()) != 0)
    return r;
  gort__lock_acquire(&c->lock);
  if (gort__chan_tryrecv(c, elem, &r, &wake)) {
    gort__lock_release(&c->lock);
    if (wake)
      gort__sudog_wake(wake);
    return r;
  }
  if ((r = gort__deadline_expired(deadline)) != 0) {
    gort__lock_release(&c->lock);
    return r;
  }
  r = chan_wait(c, &c->recvq, elem, deadline, GORT__WR_CHAN_RECV);
  if (r == GORT_EPIPE)
    zero_elem(c, elem);
  return r;
}

GORT_API int gort_chan_close(gort_chan *h)
{
  gort__chan *c = (gort__chan *)h;
  gort__sudog *list = NULL, *sg;
  if (!c)
    return GORT_EINVAL;
  gort__lock_acquire(&c->lock);
  if (c->closed) {
    gort__lock_release(&c->lock);
    return GORT_EPIPE;
  }
  c->closed = true;
  /* every waiter fails: receivers with a zeroed value, senders EPIPE */
  while ((sg = gort__sudogq_take(&c->recvq)) != NULL) {
    zero_elem(c, sg->elem);
    sg->success = false;
    sg->next = list;
    list = sg;
  }
  while ((sg = gort__sudogq_take(&c->sendq)) != NULL) {
    sg->success = false;
    sg->next = list;
    list = sg;
  }
  gort__lock_release(&c->lock);
  while (list) {
    sg = list;
    list = sg->next;
    gort__sudog_wake(sg);
  }
  return 0;
}

/* ---- life cycle ---------------------------------------------------------------- */

GORT_API int gort_chan_new(gort_chan **out, size_t elem_size, size_t cap)
{
  gort__chan *c;
  if (!out || elem_size > ((size_t)1 << 30) ||
      (elem_size && cap > ((size_t)1 << 40) / elem_size))
    return GORT_EINVAL;
  c = calloc(1, sizeof *c);
  if (!c)
    return GORT_ENOMEM;
  if (elem_size && cap) {
    c->buf = calloc(cap, elem_size);
    if (!c->buf) {
      free(c);
      return GORT_ENOMEM;
    }
  }
  gort__lock_init(&c->lock, GORT__RANK_CHAN);
  c->elemsize = elem_size;
  c->cap = cap;
  atomic_store_explicit(&c->refs, 1, memory_order_relaxed);
  *out = (gort_chan *)c;
  return 0;
}

GORT_API void gort_chan_retain(gort_chan *h)
{
  gort__chan *c = (gort__chan *)h;
  if (c)
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

GORT_API void gort_chan_release(gort_chan *h)
{
  gort__chan *c = (gort__chan *)h;
  if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
    free(c->buf);
    free(c);
  }
}

GORT_API size_t gort_chan_len(gort_chan *h)
{
  gort__chan *c = (gort__chan *)h;
  size_t n;
  if (!c)
    return 0;
  gort__lock_acquire(&c->lock);
  n = c->qcount;
  gort__lock_release(&c->lock);
  return n;
}

GORT_API size_t gort_chan_cap(gort_chan *h)
{
  return h ? ((gort__chan *)h)->cap : 0;
}

GORT_API size_t gort_chan_elem_size(gort_chan *h)
{
  return h ? ((gort__chan *)h)->elemsize : 0;
}
