/*
 * wait.c - one wait, ended exactly once (see runtime.h for the protocol).
 *
 * A waiter is claimed by one CAS (WAITING -> CLAIMED); the claimant writes
 * the result and then wakes: a goroutine through gort__ready, a thread by
 * storing DONE to the futex word. Deadlines arm the goroutine's own timer;
 * gort_cancel claims the waiter published in g->curwaiter. Both are raced
 * by the ordinary waker and lose harmlessly.
 *
 * gort_cancel must not touch a waiter after its goroutine has moved on.
 * The goroutine publishes the waiter with an exchange on g->curwaiter and
 * takes it back with another; a canceller takes it with an exchange too,
 * under g->cancelbusy. If the goroutine's take-back finds the pointer gone,
 * a canceller holds it, and the goroutine waits (briefly: a claim and a
 * ready) for cancelbusy to drop before its stack frame goes away. Two
 * atomic exchanges a wait, where a lock would cost four.
 */
#include "config.h"

#include "sched/sched.h"

void gort__waiter_init(gort__waiter *w)
{
  atomic_store_explicit(&w->state, GORT__W_WAITING, memory_order_relaxed);
  w->result = 0;
  w->token = 0;
  w->g = gort__getg();
  w->next = w->prev = NULL;
  w->key = NULL;
  w->queued = false;
  w->lifo = false;
  w->data = NULL;
}

void gort__waiter_finish(gort__waiter *w, int result, uintptr_t token)
{
  gort__g *g = w->g;
  w->result = result;
  w->token = token;
  if (g) {
    atomic_store_explicit(&w->state, GORT__W_DONE, memory_order_release);
    gort__ready(g);
  } else {
    atomic_store_explicit(&w->state, GORT__W_DONE, memory_order_release);
    /* w may be gone once DONE is visible; a wake of a stale address is at
     * worst a spurious wakeup for whoever reuses it, and waits loop. */
    gort__os_futex_wake((uint32_t *)&w->state, 1);
  }
}

bool gort__waiter_wake(gort__waiter *w, int result, uintptr_t token)
{
  if (!gort__waiter_claim(w))
    return false;
  gort__waiter_finish(w, result, token);
  return true;
}

static int thread_wait(gort__waiter *w, int64_t deadline)
{
  for (;;) {
    uint32_t st = atomic_load_explicit(&w->state, memory_order_acquire);
    if (st == GORT__W_DONE)
      return w->result;
    if (gort__os_futex_wait((uint32_t *)&w->state, st, deadline) ==
        GORT_ETIMEDOUT) {
      if (gort__waiter_claim(w)) {
        w->result = GORT_ETIMEDOUT;
        return GORT_ETIMEDOUT;
      }
      deadline = GORT_NEVER; /* claimed by a waker: DONE is moments away */
    }
  }
}

static void wait_timer_fire(void *arg, int64_t now)
{
  gort__g *g = arg;
  gort__waiter *w = g->timerwaiter;
  (void)now;
  if (!gort__waiter_claim(w))
    return;
  w->result = GORT_ETIMEDOUT;
  w->token = 0;
  atomic_store_explicit(&w->state, GORT__W_DONE, memory_order_release);
  /* done with w: g's gort__timer_del need not wait for the wakeup */
  gort__timer_release(&g->timer);
  gort__ready(g);
}

static int g_wait(gort__g *g, gort__waiter *w, int64_t deadline, int reason,
                  const void *what, bool cancellable)
{
  bool armed = false;
  if (cancellable) {
    /* seq_cst exchange, then the flag: gort__cancel_g stores the flag,
     * then exchanges; one of us sees the other */
    atomic_exchange_explicit(&g->curwaiter, w, memory_order_seq_cst);
    if (atomic_load_explicit(&g->cancelled, memory_order_seq_cst) &&
        gort__waiter_claim(w)) {
      w->result = GORT_ECANCELED;
      atomic_store_explicit(&w->state, GORT__W_DONE, memory_order_relaxed);
      goto out;
    }
  }
  if (deadline >= 0) {
    g->timerwaiter = w;
    g->timer.fn = wait_timer_fire;
    g->timer.arg = g;
    gort__timer_add(g->sched, &g->timer, deadline);
    armed = true;
  }
  gort__park(reason, what);
  if (armed)
    gort__timer_del(&g->timer);
out:
  if (cancellable &&
      atomic_exchange_explicit(&g->curwaiter, NULL, memory_order_seq_cst) ==
          NULL) {
    /* a canceller took w: it may still be touching it */
    int spins = 0;
    while (atomic_load_explicit(&g->cancelbusy, memory_order_acquire))
      gort__spin_step(&spins);
  }
  return w->result;
}

int gort__wait(gort__waiter *w, int64_t deadline, int reason,
               const void *what)
{
  if (!w->g)
    return thread_wait(w, deadline);
  return g_wait(w->g, w, deadline, reason, what, true);
}

int gort__wait_nocancel(gort__waiter *w, int64_t deadline, int reason,
                        const void *what)
{
  if (!w->g)
    return thread_wait(w, deadline);
  return g_wait(w->g, w, deadline, reason, what, false);
}

/* Sets the sticky flag, then ends the wait in progress, if any. */
void gort__cancel_g(gort__g *g)
{
  gort__waiter *w;
  atomic_store_explicit(&g->cancelled, 1, memory_order_seq_cst);
  /* one canceller at a time holds a taken waiter */
  gort__lock_acquire(&g->cancel_lock);
  atomic_store_explicit(&g->cancelbusy, 1, memory_order_seq_cst);
  w = atomic_exchange_explicit(&g->curwaiter, NULL, memory_order_seq_cst);
  if (w && gort__waiter_claim(w)) {
    /* the goroutine cannot leave its wait before this wakes it */
    atomic_store_explicit(&g->cancelbusy, 0, memory_order_release);
    gort__lock_release(&g->cancel_lock);
    gort__waiter_finish(w, GORT_ECANCELED, 0);
    return;
  }
  atomic_store_explicit(&g->cancelbusy, 0, memory_order_release);
  gort__lock_release(&g->cancel_lock);
}

int gort__deadline_expired(int64_t deadline)
{
  if (deadline == 0)
    return GORT_EAGAIN;
  if (deadline > 0 && deadline <= gort__nanotime())
    return GORT_ETIMEDOUT;
  return 0;
}

int64_t gort__nanotime(void) { return gort__os_now(); }

const char *gort__waitreason_str(int reason)
{
  static const char *const names[GORT__WR_COUNT] = {
      [GORT__WR_NONE] = "running",
      [GORT__WR_SLEEP] = "sleep",
      [GORT__WR_JOIN] = "join",
      [GORT__WR_MUTEX] = "mutex",
      [GORT__WR_RWMUTEX_R] = "rwmutex rlock",
      [GORT__WR_RWMUTEX_W] = "rwmutex lock",
      [GORT__WR_COND] = "cond wait",
      [GORT__WR_WG] = "wait group",
      [GORT__WR_ONCE] = "once",
      [GORT__WR_SEMA] = "semaphore",
      [GORT__WR_BARGELOCK] = "bargelock",
      [GORT__WR_BLOCKING] = "blocking call",
      [GORT__WR_CHAN_SEND] = "chan send",
      [GORT__WR_CHAN_RECV] = "chan receive",
      [GORT__WR_SELECT] = "select",
      [GORT__WR_IO] = "IO wait",
  };
  if (reason < 0 || reason >= GORT__WR_COUNT || !names[reason])
    return "unknown";
  return names[reason];
}
