/*
 * select.c - gort_select (Go's selectgo).
 *
 * 0. In a random order (so among ready cases each is chosen uniformly),
 *    try each buffered channel's case under that channel's lock alone and
 *    take the first that proceeds.
 * 1. Lock every distinct channel in address order (so two selects over
 *    overlapping channels can never deadlock), then look at the cases in
 *    the same random order and take the first that can proceed.
 * 2. If none can and the caller may wait, queue one sudog per case, all
 *    sharing one waiter, unlock, and wait. The first waker to claim the
 *    waiter decides the case and completes it (copying the value) before
 *    waking us; the waiter's token says which case it was.
 * 3. Relock and unlink the sudogs still queued.
 *
 * A NULL channel never proceeds (Go's nil channel). Sends on a closed
 * channel proceed with result GORT_EPIPE (Go panics; we report).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "chan/chan.h"

#define SMALL 8

typedef struct selstate {
  gort__chan **lockorder; /* distinct channels, by address */
  size_t nlock;
  uint16_t *pollorder;
} selstate;

static uint32_t sel_rand(uint32_t *st)
{
  uint32_t x = *st;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *st = x;
}

static int cmp_chan(const void *a, const void *b)
{
  uintptr_t x = (uintptr_t) * (gort__chan *const *)a;
  uintptr_t y = (uintptr_t) * (gort__chan *const *)b;
  return x < y ? -1 : x > y;
}

static void lock_all(selstate *st)
{
  size_t i;
  for (i = 0; i < st->nlock; i++)
    gort__lock_acquire(&st->lockorder[i]->lock);
}

static void unlock_all(selstate *st)
{
  size_t i = st->nlock;
  while (i-- > 0)
    gort__lock_release(&st->lockorder[i]->lock);
}

static _Thread_local uint32_t rand_state;

static uint32_t seed(void)
{
  /* thread-local is fine here: only a seed, never kept across a park */
  uint32_t s = rand_state;
  if (!s)
    s = (uint32_t)gort__nanotime() | 1;
  s ^= (uint32_t)(uintptr_t)&s;
  sel_rand(&s);
  rand_state = s;
  return s | 1;
}

GORT_API int gort_select(gort_case *cases, size_t n, int64_t deadline)
{
  gort__chan *lockbuf[SMALL];
  uint16_t pollbuf[SMALL];
  gort__sudog sgbuf[SMALL], *sgs = sgbuf;
  selstate st;
  gort__waiter w;
  gort__sudog *wake = NULL;
  uint32_t rs;
  size_t i, k;
  int r, chosen = -1;

  if ((!cases && n) || n > 65535)
    return GORT_EINVAL;
  for (i = 0; i < n; i++) {
    gort__chan *c = (gort__chan *)cases[i].chan;
    if (cases[i].op != GORT_RECV && cases[i].op != GORT_SEND)
      return GORT_EINVAL;
    if (c && cases[i].op == GORT_SEND && c->elemsize && !cases[i].elem)
      return GORT_EINVAL;
  }
  if ((r = gort__check_cancel()) != 0)
    return r;
  st.lockorder = lockbuf;
  st.pollorder = pollbuf;
  if (n > SMALL) {
    st.lockorder = malloc(n * sizeof *st.lockorder);
    st.pollorder = malloc(n * sizeof *st.pollorder);
    sgs = malloc(n * sizeof *sgs);
    if (!st.lockorder || !st.pollorder || !sgs) {
      r = GORT_ENOMEM;
      goto out;
    }
  }
  /* a uniformly random permutation (Fisher-Yates, inside out) */
  rs = seed();
  for (i = 0; i < n; i++) {
    size_t j = sel_rand(&rs) % (i + 1);
    st.pollorder[i] = st.pollorder[j];
    st.pollorder[j] = (uint16_t)i;
  }
  st.nlock = 0;
  for (i = 0; i < n; i++)
    if (cases[i].chan)
      st.lockorder[st.nlock++] = (gort__chan *)cases[i].chan;
  if (st.nlock <= SMALL) {
    /* insertion sort: qsort's call overhead dominated small selects */
    for (i = 1; i < st.nlock; i++) {
      gort__chan *c = st.lockorder[i];
      for (k = i; k > 0 && (uintptr_t)st.lockorder[k - 1] > (uintptr_t)c; k--)
        st.lockorder[k] = st.lockorder[k - 1];
      st.lockorder[k] = c;
    }
  } else {
    qsort(st.lockorder, st.nlock, sizeof *st.lockorder, cmp_chan);
  }
  for (i = 0, k = 0; i < st.nlock; i++)
    if (k == 0 || st.lockorder[k - 1] != st.lockorder[i])
      st.lockorder[k++] = st.lockorder[i];
  st.nlock = k;

  /* pass 0: a buffered channel's case is tried under that channel's lock
   * alone, in poll order. Usually one of them proceeds at once, and the
   * select then never holds every lock at the same time, which is what
   * made a select whose senders run on another thread fight them for
   * the locks. Taking the first case that proceeds, in a random order, is
   * still a uniform choice among the ready ones. Unbuffered cases are
   * left to pass 1: they are ready only with a partner queued, and a miss
   * here would cost a lock round trip for nothing. (cap never changes,
   * so it is read without the lock.) */
  for (i = 0; i < n; i++) {
    gort_case *cs = &cases[st.pollorder[i]];
    gort__chan *c = (gort__chan *)cs->chan;
    bool done;
    if (!c || c->cap == 0)
      continue;
    gort__lock_acquire(&c->lock);
    if (cs->op == GORT_SEND)
      done = gort__chan_trysend(c, cs->elem, &cs->result, &wake);
    else
      done = gort__chan_tryrecv(c, cs->elem, &cs->result, &wake);
    gort__lock_release(&c->lock);
    if (done) {
      if (wake)
        gort__sudog_wake(wake);
      r = st.pollorder[i];
      goto out;
    }
  }

  /* pass 1: anything ready? */
  lock_all(&st);
  for (i = 0; i < n; i++) {
    gort_case *cs = &cases[st.pollorder[i]];
    gort__chan *c = (gort__chan *)cs->chan;
    bool done;
    if (!c)
      continue;
    if (cs->op == GORT_SEND)
      done = gort__chan_trysend(c, cs->elem, &cs->result, &wake);
    else
      done = gort__chan_tryrecv(c, cs->elem, &cs->result, &wake);
    if (done) {
      chosen = st.pollorder[i];
      break;
    }
  }
  if (chosen >= 0) {
    unlock_all(&st);
    if (wake)
      gort__sudog_wake(wake);
    r = chosen;
    goto out;
  }
  if ((r = gort__deadline_expired(deadline)) != 0) {
    unlock_all(&st);
    goto out;
  }
  if (st.nlock == 0 && deadline < 0 && !gort__getg()) {
    /* a plain thread selecting on nothing, forever: that is a hang */
    unlock_all(&st);
    r = GORT_EDEADLK;
    goto out;
  }

  /* pass 2: queue on every channel, then wait */
  gort__waiter_init(&w);
  for (i = 0; i < n; i++) {
    gort_case *cs = &cases[i];
    gort__chan *c = (gort__chan *)cs->chan;
    memset(&sgs[i], 0, sizeof sgs[i]);
    if (!c)
      continue;
    sgs[i].w = &w;
    sgs[i].c = c;
    sgs[i].elem = cs->elem;
    sgs[i].caseidx = (int)i;
    gort__sudogq_push(cs->op == GORT_SEND ? &c->sendq : &c->recvq, &sgs[i]);
  }
  unlock_all(&st);
  r = gort__wait(&w, deadline, GORT__WR_SELECT, cases);

  /* pass 3: unlink what is still queued */
  lock_all(&st);
  for (i = 0; i < n; i++) {
    gort_case *cs = &cases[i];
    gort__chan *c = (gort__chan *)cs->chan;
    if (c && sgs[i].queued)
      gort__sudogq_unlink(cs->op == GORT_SEND ? &c->sendq : &c->recvq,
                          &sgs[i]);
  }
  unlock_all(&st);
  if (r == GORT_ETIMEDOUT || r == GORT_ECANCELED)
    goto out;
  chosen = (int)w.token;
  cases[chosen].result = sgs[chosen].success ? 0 : GORT_EPIPE;
  if (!sgs[chosen].success && cases[chosen].op == GORT_RECV &&
      cases[chosen].elem)
    memset(cases[chosen].elem, 0,
           ((gort__chan *)cases[chosen].chan)->elemsize);
  r = chosen;
out:
  if (n > SMALL) {
    free(st.lockorder);
    free(st.pollorder);
    free(sgs);
  }
  return r;
}

GORT_API int gort_case_op_recv(void) { return GORT_RECV; }
GORT_API int gort_case_op_send(void) { return GORT_SEND; }
GORT_API size_t gort_sizeof_case(void) { return sizeof(gort_case); }
