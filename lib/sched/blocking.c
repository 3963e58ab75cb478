/*
 * blocking.c - the pool of threads for calls that cannot be made
 * non-blocking (gort_blocking; the netpoll issue's getaddrinfo).
 *
 * The calling goroutine parks; a pool thread runs fn and readies it. The
 * goroutine's M keeps running other goroutines meanwhile. The pool grows on
 * demand up to MAXTHREADS and its threads live as long as the scheduler
 * (as Go's Ms do): re-creating threads per burst costs more than idle
 * threads do. Jobs live on the waiting goroutine's stack, which is safe
 * because the wait cannot end before the job does (it is not
 * cancellable: fn may be using memory the goroutine owns).
 *
 * nblocking counts goroutines waiting here so gort_main's deadlock check
 * knows a wakeup is still coming; it drops only after the ready.
 */
#include "config.h"

#include <stdlib.h>

#include "sched/sched.h"

#define MAXTHREADS 256

struct gort__blockjob {
  void (*fn)(void *);
  void *arg;
  gort__waiter *w;
  gort__blockjob *next;
};

typedef struct worker {
  gort__sched *s;
  gort__os_thread t;
  struct worker *next;
} worker;

static worker *workers_head(gort__sched *s) { return (worker *)s->bpworkers; }

static void *worker_main(void *arg)
{
  worker *wk = arg;
  gort__sched *s = wk->s;
  gort__os_thread_name("gort-blocking");
  gort__lock_acquire(&s->bplock);
  for (;;) {
    gort__blockjob *job;
    while (!s->bphead && !atomic_load(&s->dead)) {
      uint32_t seq = atomic_load(&s->bpseq);
      s->bpidle++;
      gort__lock_release(&s->bplock);
      gort__os_futex_wait((uint32_t *)&s->bpseq, seq, GORT_NEVER);
      gort__lock_acquire(&s->bplock);
      s->bpidle--;
    }
    if (!s->bphead)
      break; /* dead and drained */
    job = s->bphead;
    s->bphead = job->next;
    if (!s->bphead)
      s->bptail = NULL;
    gort__lock_release(&s->bplock);
    job->fn(job->arg);
    /* job is on the goroutine's stack: gone once the waiter is woken */
    gort__waiter_wake(job->w, 0, 0);
    atomic_fetch_sub(&s->nblocking, 1);
    gort__lock_acquire(&s->bplock);
  }
  gort__lock_release(&s->bplock);
  return NULL;
}

/* bplock must be held. */
static bool add_worker(gort__sched *s)
{
  worker *wk = calloc(1, sizeof *wk);
  if (!wk)
    return false;
  wk->s = s;
  if (gort__os_thread_start(&wk->t, worker_main, wk) != 0) {
    free(wk);
    return false;
  }
  wk->next = workers_head(s);
  s->bpworkers = wk;
  s->bpthreads++;
  return true;
}

GORT_API int gort_blocking(void (*fn)(void *), void *arg)
{
  gort__g *g = gort__getg();
  gort__sched *s;
  gort__blockjob job;
  gort__waiter w;
  bool queued = true;
  int r;

  if (!fn)
    return GORT_EINVAL;
  if (!g) {
    fn(arg); /* a plain thread may block itself */
    return 0;
  }
  if ((r = gort__check_cancel()) != 0)
    return r;
  s = g->sched;
  gort__waiter_init(&w);
  job.fn = fn;
  job.arg = arg;
  job.w = &w;
  job.next = NULL;
  atomic_fetch_add(&s->nblocking, 1);
  gort__lock_acquire(&s->bplock);
  if (s->bpidle == 0 && s->bpthreads < MAXTHREADS && !add_worker(s) &&
      s->bpthreads == 0)
    queued = false; /* no thread at all: run it here, as a syscall region */
  if (queued) {
    if (s->bptail)
      s->bptail->next = &job;
    else
      s->bphead = &job;
    s->bptail = &job;
    atomic_fetch_add(&s->bpseq, 1);
  }
  gort__lock_release(&s->bplock);
  if (!queued) {
    atomic_fetch_sub(&s->nblocking, 1);
    gort_syscall_enter();
    fn(arg);
    gort_syscall_exit();
    return 0;
  }
  gort__os_futex_wake((uint32_t *)&s->bpseq, 1);
  gort__wait_nocancel(&w, GORT_NEVER, GORT__WR_BLOCKING, (const void *)fn);
  return 0;
}

void gort__blockpool_stop(gort__sched *s)
{
  worker *wk;
  gort__lock_acquire(&s->bplock);
  atomic_fetch_add(&s->bpseq, 1);
  gort__lock_release(&s->bplock);
  gort__os_futex_wake((uint32_t *)&s->bpseq, INT32_MAX);
  wk = workers_head(s);
  while (wk) {
    worker *n = wk->next;
    gort__os_thread_join(wk->t);
    free(wk);
    wk = n;
  }
  s->bpworkers = NULL;
}
